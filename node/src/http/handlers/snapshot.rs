//! `GET /snapshot` (backup of the whole state) and `POST /snapshot` (restore one): what
//! `raftwire snapshot save|restore` call. The backup is the state machine's versioned
//! snapshot encoding, so a newer node reads an older backup.
//!
//! A restore is checked here first (decoded, and the consistency check the apply runs), so
//! a bad backup is refused before anything reaches the log. A backup of up to
//! [`RESTORE_PART_LEN`] travels as one `RestoreState` entry; a larger one is staged in parts
//! of that size (`StageRestore`, one entry each: openraft 0.9 gives one AppendEntries round
//! the heartbeat interval, too short for an entry of many megabytes) and restored by one
//! `CommitRestore`. See "Backup and restore" in `docs/operations.md`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use raftwire_api::{DomainError, ErrorCode};
use raftwire_raft_store::apply::restored_state;
use raftwire_raft_store::codec::{decode_snapshot, encode_snapshot};
use raftwire_raft_store::command::{RESTORE_MAX_LEN, RESTORE_PART_LEN};
use raftwire_raft_store::{AdminToken, Command, StateData};
use sha2::{Digest, Sha256};

use super::{Read, ReadQuery};
use crate::app::App;
use crate::consensus::{propose, ConsensusResult, IDEMPOTENCY_KEY};
use crate::http::error::{ApiError, ApiResult};
use crate::http::openapi::{Common, Conflict, TooLarge};

#[utoipa::path(
    get,
    path = "/api/v1/snapshot",
    tag = "cluster",
    operation_id = "save_snapshot",
    params(ReadQuery),
    responses(
        (status = 200, description = "A backup of the whole state (the versioned snapshot encoding)", body = inline(crate::http::openapi::Binary), content_type = "application/octet-stream"),
        Common,
    ),
)]
pub async fn save(read: Read) -> ApiResult<impl IntoResponse> {
    let app = read.barrier().await?;
    // Encoded outside the lock and off the runtime (100,000 peers take a few hundred ms).
    let (applied, membership, state) = app
        .sm
        .copy()
        .map_err(|e| ApiError::internal(format!("state machine unavailable: {e}")))?;
    let bytes = tokio::task::spawn_blocking(move || encode_snapshot(&applied, &membership, &state))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"raftwire.snapshot\"",
            ),
        ],
        bytes,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/snapshot",
    tag = "cluster",
    operation_id = "restore_snapshot",
    request_body(content = inline(crate::http::openapi::Binary), content_type = "application/octet-stream", description = "A backup from `GET /snapshot` (up to 512 MiB)"),
    responses(
        (status = 204, description = "The state is replaced by the backup"),
        Common, Conflict, TooLarge,
    ),
)]
pub async fn restore(
    State(app): State<App>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let body = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "a backup to restore is limited to {} MiB",
                RESTORE_MAX_LEN >> 20
            ),
        ),
        _ => ApiError::new(ErrorCode::MalformedBody, r.body_text()),
    })?;
    let tokens: Vec<AdminToken> = app
        .sm
        .read(|d| d.state.admin_tokens().cloned().collect())
        .map_err(|e| ApiError::internal(format!("state machine unavailable: {e}")))?;
    // Decoding and checking 100,000 peers takes a while: not on the async workers.
    let checked = body.clone();
    let data = tokio::task::spawn_blocking(move || check(&checked, &tokens))
        .await
        .map_err(ApiError::internal)??;
    match data {
        Some(data) => propose(
            &app,
            Command::RestoreState {
                data: Box::new(data),
            },
        )
        .await
        .map(drop)?,
        None => staged(&app, &body).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses a backup that is no backup or that the apply would refuse as inconsistent. A
/// backup small enough for one entry comes back as its data.
fn check(backup: &[u8], tokens: &[AdminToken]) -> ApiResult<Option<StateData>> {
    let payload = decode_snapshot(backup).map_err(|e| {
        ApiError::from(DomainError::new(
            ErrorCode::MalformedBody,
            format!("not a Raftwire backup: {e}"),
        ))
    })?;
    let data = payload.state.into_data();
    let small = (backup.len() <= RESTORE_PART_LEN).then(|| data.clone());
    restored_state(tokens, data)?;
    Ok(small)
}

/// Restores a large backup: its parts one entry after the other, then the commit (which
/// alone carries the request's `Idempotency-Key`, if any).
async fn staged(app: &App, backup: &[u8]) -> ConsensusResult<()> {
    let key = IDEMPOTENCY_KEY.try_with(Clone::clone).ok().flatten();
    let replayed = match &key {
        // Already restored under this key: the commit alone answers the remembered result
        // (staging the parts again would leave them behind).
        Some(key) => app
            .sm
            .read(|d| d.state.remembered(key).is_some())
            .unwrap_or(false),
        None => false,
    };
    let id = upload_id();
    let parts = backup.chunks(RESTORE_PART_LEN);
    let count = parts.len() as u32;
    if !replayed {
        for (part, bytes) in parts.enumerate() {
            let stage = Command::StageRestore {
                id,
                part: part as u32,
                bytes: bytes.to_vec(),
            };
            if let Err(e) = IDEMPOTENCY_KEY.scope(None, propose(app, stage)).await {
                abandon(app, id).await;
                return Err(e);
            }
        }
    }
    let commit = Command::CommitRestore {
        id,
        parts: count,
        len: backup.len() as u64,
        sha256: Sha256::digest(backup).into(),
    };
    propose(app, commit).await.map(drop)
}

/// Drops the parts of a failed upload (best effort), so they do not linger in the state and
/// its snapshots: a commit that cannot match clears the staging, if it is still this one's.
async fn abandon(app: &App, id: u64) {
    let drop_parts = Command::CommitRestore {
        id,
        parts: 0,
        len: 0,
        sha256: [0; 32],
    };
    let _ = IDEMPOTENCY_KEY.scope(None, propose(app, drop_parts)).await;
}

/// A fresh id for an upload: random, so uploads through different nodes never share one.
fn upload_id() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the operating system's random number generator failed");
    u64::from_le_bytes(b)
}

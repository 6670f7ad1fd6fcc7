//! `GET /snapshot` (backup of the whole state) and `POST /snapshot` (restore one): what
//! `raftwire snapshot save|restore` call. The backup is the state machine's versioned
//! snapshot encoding, so a newer node reads an older backup.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use raftwire_api::{DomainError, ErrorCode};
use raftwire_raft_store::codec::{decode_snapshot, encode_snapshot};
use raftwire_raft_store::Command;

use super::{Read, ReadQuery};
use crate::app::App;
use crate::consensus::propose;
use crate::http::error::{ApiError, ApiResult};
use crate::http::openapi::{Common, Conflict, TooLarge};

/// Largest backup accepted by a restore (about 16,000 peers). The whole backup travels as
/// one Raft log entry, and openraft 0.9 gives one AppendEntries round the heartbeat
/// interval: an 11 MB entry was measured to never reach the followers (the cluster then
/// stalls on it), 3.6 MB went through. Larger restores need a chunked or snapshot-based
/// path (not built yet).
pub const RESTORE_LIMIT: usize = 4 * 1024 * 1024;

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
    let bytes = app
        .sm
        .read(|d| encode_snapshot(&d.last_applied, &d.last_membership, &d.state))
        .map_err(|e| ApiError::internal(format!("state machine unavailable: {e}")))?
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
    request_body(content = inline(crate::http::openapi::Binary), content_type = "application/octet-stream", description = "A backup from `GET /snapshot`"),
    responses(
        (status = 204, description = "The state is replaced by the backup"),
        Common, Conflict, TooLarge,
    ),
)]
pub async fn restore(State(app): State<App>, body: Bytes) -> ApiResult<StatusCode> {
    let payload = decode_snapshot(&body).map_err(|e| {
        ApiError::from(DomainError::new(
            ErrorCode::MalformedBody,
            format!("not a Raftwire backup: {e}"),
        ))
    })?;
    let data = Box::new(payload.state.into_data());
    propose(&app, Command::RestoreState { data }).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Restoring a backup: in one `RestoreState` entry, or staged in parts (`StageRestore`)
//! and restored by `CommitRestore` (see "Backup and restore" in `docs/operations.md`).

use raftwire_api::*;
use sha2::{Digest, Sha256};

use crate::command::{ApplyResult, Response, RESTORE_MAX_LEN};
use crate::state::{AdminToken, StagedRestore, State, StateData};

/// The state a backup restores to, if it proves consistent: the backup's data plus the
/// cluster's own admin tokens (`tokens`) it lacks, so whoever restores is not locked out.
/// The node checks a backup with this before proposing it; the apply checks it again.
pub fn restored_state<'a>(
    tokens: impl IntoIterator<Item = &'a AdminToken>,
    mut data: StateData,
) -> DomainResult<State> {
    for t in tokens {
        let known = data
            .admin_tokens
            .iter()
            .any(|b| b.token_hash == t.token_hash || b.id == t.id);
        if !known {
            data.seq += 1;
            data.admin_tokens.insert(data.seq, t.clone());
        }
    }
    let restored = State::from(data);
    restored.check_consistency().map_err(|why| {
        DomainError::new(
            ErrorCode::InvalidValue,
            format!("inconsistent backup: {why}"),
        )
    })?;
    Ok(restored)
}

/// Replaces the data with a backup once it proved consistent. The cluster's bookkeeping
/// ([`crate::StateMeta`]) is not part of a backup and stays; `apply_entry` then sets the
/// revisions and drops the status of agents whose peers are gone.
pub(super) fn restore(state: &mut State, data: StateData) -> ApplyResult {
    let mut restored = restored_state(state.data.admin_tokens.iter(), data)?;
    restored.meta = std::mem::take(&mut state.meta);
    *state = restored;
    Ok(Response::Done)
}

/// A refusal about a field of a staging command.
fn refused(code: ErrorCode, field: &str, detail: String) -> DomainError {
    DomainError::field(code, field, detail)
}

/// Stages part `part` of upload `id`. On `Err` the staging is unchanged.
pub(super) fn stage(state: &mut State, id: u64, part: u32, bytes: Vec<u8>) -> ApplyResult {
    let staged_len = match &state.staged {
        Some(s) if part > 0 && s.id == id => s.bytes.len(),
        _ => 0,
    };
    if staged_len.saturating_add(bytes.len()) > RESTORE_MAX_LEN {
        return Err(refused(
            ErrorCode::PayloadTooLarge,
            "bytes",
            format!("a staged backup is limited to {RESTORE_MAX_LEN} bytes"),
        ));
    }
    if part == 0 {
        state.staged = Some(StagedRestore {
            id,
            parts: 1,
            bytes,
        });
        return Ok(Response::Done);
    }
    let Some(staged) = state.staged.as_mut().filter(|s| s.id == id) else {
        let detail = match &state.staged {
            None => format!("no restore is staged: part {part} of upload {id} has no part 0"),
            Some(s) => format!(
                "upload {id} was replaced by upload {} (another restore started); send the \
                 backup again",
                s.id
            ),
        };
        return Err(refused(ErrorCode::ChangeInProgress, "id", detail));
    };
    if part != staged.parts {
        return Err(refused(
            ErrorCode::InvalidValue,
            "part",
            format!(
                "upload {id} expects part {}, not part {part} (parts go in order)",
                staged.parts
            ),
        ));
    }
    staged.bytes.extend_from_slice(&bytes);
    staged.parts += 1;
    Ok(Response::Done)
}

/// Restores upload `id` if it is complete and intact. The staging of upload `id` is dropped
/// whether it restores or not; on `Err` nothing else changed. A commit of an upload that is
/// not the one staged (another restore replaced it) changes nothing.
pub(super) fn commit(
    state: &mut State,
    id: u64,
    parts: u32,
    len: u64,
    sha256: [u8; 32],
) -> ApplyResult {
    let staged = match state.staged.take() {
        Some(s) if s.id == id => s,
        other => {
            let detail = match &other {
                None => format!("upload {id} is not staged (nothing is)"),
                Some(s) => format!(
                    "upload {id} was replaced by upload {} (another restore started)",
                    s.id
                ),
            };
            state.staged = other;
            return Err(refused(ErrorCode::ChangeInProgress, "id", detail));
        }
    };
    if staged.parts != parts {
        return Err(refused(
            ErrorCode::InvalidValue,
            "parts",
            format!("upload {id} has {} parts staged, not {parts}", staged.parts),
        ));
    }
    if staged.bytes.len() as u64 != len {
        return Err(refused(
            ErrorCode::InvalidValue,
            "len",
            format!(
                "upload {id} has {} bytes staged, not {len}",
                staged.bytes.len()
            ),
        ));
    }
    let staged_hash: [u8; 32] = Sha256::digest(&staged.bytes).into();
    if staged_hash != sha256 {
        return Err(refused(
            ErrorCode::InvalidValue,
            "sha256",
            format!("the SHA-256 of the {len} bytes staged for upload {id} does not match"),
        ));
    }
    let payload = crate::codec::decode_snapshot(&staged.bytes).map_err(|e| {
        DomainError::new(
            ErrorCode::MalformedBody,
            format!("not a Raftwire backup: {e}"),
        )
    })?;
    drop(staged);
    restore(state, payload.state.into_data())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_snapshot;
    use crate::command::Command;

    use crate::command::test_token as token;

    fn with_tokens(ns: &[u128]) -> State {
        let mut s = State::new();
        for n in ns {
            crate::apply(&mut s, token(*n)).unwrap();
        }
        s
    }

    /// A backup (of a state with tokens 7 and 8) in three parts.
    fn backup() -> (Vec<u8>, Vec<Vec<u8>>) {
        let bytes = encode_snapshot(&None, &Default::default(), &with_tokens(&[7, 8])).unwrap();
        let parts = bytes
            .chunks(bytes.len() / 3 + 1)
            .map(<[u8]>::to_vec)
            .collect();
        (bytes, parts)
    }

    fn stage_cmd(id: u64, part: u32, bytes: &[u8]) -> Command {
        Command::StageRestore {
            id,
            part,
            bytes: bytes.to_vec(),
        }
    }

    fn commit_cmd(id: u64, bytes: &[u8], parts: u32) -> Command {
        Command::CommitRestore {
            id,
            parts,
            len: bytes.len() as u64,
            sha256: Sha256::digest(bytes).into(),
        }
    }

    /// The cluster's state with parts 0 and 1 of upload 5 staged.
    fn half_staged() -> (State, Vec<u8>, Vec<Vec<u8>>) {
        let (bytes, parts) = backup();
        let mut s = with_tokens(&[1]);
        crate::apply(&mut s, stage_cmd(5, 0, &parts[0])).unwrap();
        crate::apply(&mut s, stage_cmd(5, 1, &parts[1])).unwrap();
        (s, bytes, parts)
    }

    #[track_caller]
    fn refused_unchanged(s: &mut State, c: Command, code: ErrorCode, field: &str) -> String {
        let before = s.clone();
        let e = crate::apply(s, c).expect_err("refused");
        assert_eq!((e.code, e.field.as_deref()), (code, Some(field)), "{e}");
        assert_eq!(*s, before, "a refused part changed the state");
        e.detail
    }

    /// A refused commit drops the staging and changes nothing else.
    #[track_caller]
    fn commit_refused(s: &mut State, c: Command, code: ErrorCode) -> DomainError {
        let mut expected = s.clone();
        expected.staged = None;
        let e = crate::apply(s, c).expect_err("refused");
        assert_eq!(e.code, code, "{e}");
        assert_eq!(
            *s, expected,
            "a refused commit changed more than the staging"
        );
        e
    }

    #[test]
    fn parts_in_order_then_a_commit_restore_the_backup() {
        let (mut s, bytes, parts) = half_staged();
        crate::apply(&mut s, stage_cmd(5, 2, &parts[2])).unwrap();
        let staged = s.staged_restore().unwrap();
        assert_eq!(
            (staged.parts, staged.bytes.as_slice()),
            (3, bytes.as_slice())
        );
        assert_eq!(
            crate::apply(&mut s, commit_cmd(5, &bytes, 3)),
            Ok(Response::Done)
        );
        assert!(s.staged_restore().is_none());
        let names: Vec<&str> = s.admin_tokens().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["t7", "t8", "t1"],
            "the backup's, then the cluster's own"
        );
    }

    #[test]
    fn a_part_out_of_order_or_of_another_upload_changes_nothing() {
        let (mut s, _, parts) = half_staged();
        let d = refused_unchanged(
            &mut s,
            stage_cmd(5, 3, &parts[2]),
            ErrorCode::InvalidValue,
            "part",
        );
        assert!(d.contains("expects part 2"), "{d}");
        refused_unchanged(
            &mut s,
            stage_cmd(5, 1, &parts[1]),
            ErrorCode::InvalidValue,
            "part",
        );
        let d = refused_unchanged(
            &mut s,
            stage_cmd(6, 2, &parts[2]),
            ErrorCode::ChangeInProgress,
            "id",
        );
        assert!(d.contains("replaced by upload 5"), "{d}");
        let mut empty = with_tokens(&[1]);
        refused_unchanged(
            &mut empty,
            stage_cmd(5, 1, &parts[1]),
            ErrorCode::ChangeInProgress,
            "id",
        );
        // Part 0 of another upload starts over.
        crate::apply(&mut s, stage_cmd(6, 0, b"abc")).unwrap();
        let staged = s.staged_restore().unwrap();
        assert_eq!((staged.id, staged.parts, staged.bytes.len()), (6, 1, 3));
    }

    #[test]
    fn a_commit_of_another_upload_or_of_wrong_bytes_restores_nothing() {
        let (bytes, _) = backup();
        let complete = || {
            let (mut s, _, parts) = half_staged();
            crate::apply(&mut s, stage_cmd(5, 2, &parts[2])).unwrap();
            s
        };
        // Not the upload staged: that one stays, nothing changes.
        let mut s = complete();
        let before = s.clone();
        let e = crate::apply(&mut s, commit_cmd(6, &bytes, 3)).expect_err("refused");
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::ChangeInProgress, Some("id"))
        );
        assert_eq!(s, before, "a commit of another upload changed the state");
        commit_refused(
            &mut State::new(),
            commit_cmd(5, &bytes, 3),
            ErrorCode::ChangeInProgress,
        );
        let e = commit_refused(
            &mut complete(),
            commit_cmd(5, &bytes, 2),
            ErrorCode::InvalidValue,
        );
        assert_eq!(e.field.as_deref(), Some("parts"));
        let e = commit_refused(
            &mut half_staged().0,
            commit_cmd(5, &bytes, 2),
            ErrorCode::InvalidValue,
        );
        assert_eq!(e.field.as_deref(), Some("len"));
        let mut other = bytes.clone();
        *other.last_mut().unwrap() ^= 1;
        let e = commit_refused(
            &mut complete(),
            commit_cmd(5, &other, 3),
            ErrorCode::InvalidValue,
        );
        assert_eq!(e.field.as_deref(), Some("sha256"));
        // The same twice: the first refusal dropped the staging.
        let mut s = complete();
        commit_refused(&mut s, commit_cmd(5, &other, 3), ErrorCode::InvalidValue);
        commit_refused(
            &mut s,
            commit_cmd(5, &bytes, 3),
            ErrorCode::ChangeInProgress,
        );
    }

    #[test]
    fn a_commit_of_intact_bytes_that_are_no_consistent_backup_restores_nothing() {
        let mut s = with_tokens(&[1]);
        crate::apply(&mut s, stage_cmd(9, 0, b"not a backup")).unwrap();
        let e = commit_refused(
            &mut s,
            commit_cmd(9, b"not a backup", 1),
            ErrorCode::MalformedBody,
        );
        assert!(e.detail.contains("not a Raftwire backup"), "{e}");

        // Two admin tokens sharing a hash: decodes, but is inconsistent.
        let mut bad = with_tokens(&[7, 8]).into_data();
        let hash = bad.admin_tokens.iter().next().unwrap().token_hash.clone();
        let second = bad.admin_tokens.iter().nth(1).unwrap().id;
        bad.admin_tokens.get_mut(second).unwrap().token_hash = hash;
        let bytes = encode_snapshot(&None, &Default::default(), &State::from(bad)).unwrap();
        crate::apply(&mut s, stage_cmd(9, 0, &bytes)).unwrap();
        let e = commit_refused(&mut s, commit_cmd(9, &bytes, 1), ErrorCode::InvalidValue);
        assert!(e.detail.contains("inconsistent backup"), "{e}");
    }
}

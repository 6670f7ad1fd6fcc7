//! Versioned binary encodings of what Raftwire keeps on disk and sends between nodes: log
//! entries, snapshots and the small storage records (vote, committed, purged).
//!
//! Every encoding starts with the schema version, so a newer node can read what an older one
//! wrote (rolling upgrade) and an older node refuses, with a clear error, what a newer one
//! wrote instead of misreading it.
//!
//! | what | layout |
//! |---|---|
//! | log entry | `u16` schema version (big-endian) · bincode of `Entry<TypeConfig>` |
//! | snapshot | `RWSNAP` · `u16` schema version (big-endian) · bincode of [`SnapshotPayload`] |
//! | records | `u16` schema version (big-endian) · bincode of the value |
//!
//! bincode is 2.0.1 through serde with `bincode::config::standard()` (little-endian,
//! variable-length integers). Its serde serializer is not human readable, so
//! `raftwire_api::Timestamp` is a `u64` of milliseconds here (tested below).
//!
//! Evolution: a new schema version adds a branch to the `match` in the decoders that
//! converts the old layout; decoding a version newer than [`NEWEST_SCHEMA_VERSION`] is an
//! [`CodecError::UnsupportedVersion`] error.
//!
//! The rule for writing: **write the oldest version that can hold the value**, so a node of
//! the previous release keeps reading what a new node writes during a rolling upgrade.
//! Version 4 is a snapshot whose state holds a [`StagedRestore`] (a large backup being
//! uploaded in parts): the v3 payload followed by the staging. A snapshot without one — every
//! snapshot except those taken during such an upload — is written as version 3, byte for
//! byte as before. Log entries and records have the same layout in versions 3 and 4 and are
//! written as version 3 (the `StageRestore` and `CommitRestore` commands are appended
//! variants; a node of the previous release cannot decode those two entries, so upgrade
//! every node before restoring a backup larger than one part, see `docs/operations.md`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::state::{StagedRestore, State, StateData, StateMeta};
use crate::types::{Entry, LogId, StoredMembership};

/// The schema version this build writes log entries, records and snapshots without a staged
/// restore in (the oldest that holds them, see the module docs).
///
/// - 1: the first release.
/// - 2: `StateData` gained `idempotency` (in snapshots and in `RestoreState` backups);
///   `Command` gained `Idempotent` (appended, so the other v1 variants decode unchanged).
/// - 3: snapshots carry the [`StateMeta`] (per-network revisions) after the state; backups
///   in `RestoreState` entries are unchanged, so v2 entries decode as they are. Later
///   appended, within version 3: `StageRestore` and `CommitRestore`.
/// - 4 ([`STAGED_SCHEMA_VERSION`]): snapshots whose state holds a [`StagedRestore`].
/// - 5 ([`BATCH_SCHEMA_VERSION`]): log entries holding a `Command::Batch` (an appended
///   variant; every other entry keeps version 3).
pub const SCHEMA_VERSION: u16 = 3;

/// The schema version of a snapshot holding a [`StagedRestore`]: the version 3 payload, then
/// the staging.
pub const STAGED_SCHEMA_VERSION: u16 = 4;

/// The schema version of a log entry holding a `Command::Batch`: the version 3 layout, with
/// the appended variant. A node reads batches if it reads this version; the leader writes
/// them only while every member does.
pub const BATCH_SCHEMA_VERSION: u16 = 5;

/// The newest schema version this build reads.
pub const NEWEST_SCHEMA_VERSION: u16 = BATCH_SCHEMA_VERSION;

/// The first bytes of every snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 6] = b"RWSNAP";

const VERSION_LEN: usize = 2;

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{what}: {len} bytes are too few for the header")]
    Truncated { what: &'static str, len: usize },
    #[error("{what}: not a Raftwire snapshot (the magic bytes are missing)")]
    BadMagic { what: &'static str },
    #[error(
        "{what}: schema version {found} is not supported by this node (it reads versions 1 to \
         {supported}); a newer Raftwire wrote it, upgrade this node"
    )]
    UnsupportedVersion {
        what: &'static str,
        found: u16,
        supported: u16,
    },
    #[error("{what}: cannot encode: {message}")]
    Encode { what: &'static str, message: String },
    /// The bytes end in the middle of the value: a prefix of a valid encoding (a torn
    /// write) looks like this.
    #[error("{what}: the bytes end in the middle of a schema version {version} value")]
    Incomplete { what: &'static str, version: u16 },
    #[error("{what}: cannot decode schema version {version}: {message}")]
    Decode {
        what: &'static str,
        version: u16,
        message: String,
    },
    #[error("{what}: {extra} unexpected bytes after the value")]
    TrailingBytes { what: &'static str, extra: usize },
}

impl CodecError {
    /// Whether the bytes are a cut-off value (what a torn write leaves), as opposed to
    /// bytes of another version or layout.
    pub fn is_truncation(&self) -> bool {
        matches!(
            self,
            CodecError::Truncated { .. } | CodecError::Incomplete { .. }
        )
    }
}

/// What a snapshot holds: the whole state machine.
///
/// `last_applied` and `last_membership` are the snapshot's openraft metadata; the snapshot
/// id is not part of the bytes, so the same log prefix gives byte-identical snapshots on
/// every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPayload {
    pub last_applied: Option<LogId>,
    pub last_membership: StoredMembership,
    pub state: State,
}

/// A snapshot as schema version 3 writes it: the data, then the cluster's bookkeeping.
#[derive(Deserialize)]
struct SnapshotPayloadV3 {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    state: StateData,
    meta: StateMeta,
}

impl From<SnapshotPayloadV3> for SnapshotPayload {
    fn from(v3: SnapshotPayloadV3) -> SnapshotPayload {
        SnapshotPayload {
            last_applied: v3.last_applied,
            last_membership: v3.last_membership,
            state: State::with_meta(v3.state, v3.meta),
        }
    }
}

/// A snapshot as schema version 4 writes it: version 3's, then the staged restore.
#[derive(Deserialize)]
struct SnapshotPayloadV4 {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    state: StateData,
    meta: StateMeta,
    staged: StagedRestore,
}

impl From<SnapshotPayloadV4> for SnapshotPayload {
    fn from(v4: SnapshotPayloadV4) -> SnapshotPayload {
        let mut state = State::with_meta(v4.state, v4.meta);
        state.staged = Some(v4.staged);
        SnapshotPayload {
            last_applied: v4.last_applied,
            last_membership: v4.last_membership,
            state,
        }
    }
}

/// A snapshot as schema version 2 wrote it (no bookkeeping).
#[derive(Deserialize)]
struct SnapshotPayloadV2 {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    state: StateData,
}

impl From<SnapshotPayloadV2> for SnapshotPayload {
    /// Version 2 kept no revisions. Every network gets the snapshot's own index: the same
    /// on every node that converts this snapshot, never below the index that really last
    /// changed the network (so versions an agent holds stay ordered), and replaced by the
    /// next change of the network.
    fn from(v2: SnapshotPayloadV2) -> SnapshotPayload {
        let index = v2.last_applied.map_or(0, |l| l.index);
        let meta = StateMeta {
            revisions: v2
                .state
                .networks
                .iter()
                .map(|ns| (ns.network.id, index))
                .collect(),
            agents: Default::default(),
        };
        SnapshotPayload {
            last_applied: v2.last_applied,
            last_membership: v2.last_membership,
            state: State::with_meta(v2.state, meta),
        }
    }
}

/// The state as schema version 1 wrote it (before `idempotency`), in snapshots and in the
/// backups `RestoreState` entries carry.
#[derive(Deserialize)]
pub(crate) struct StateDataV1 {
    seq: u64,
    networks: crate::table::Table<crate::state::NetworkState>,
    admin_tokens: crate::table::Table<crate::state::AdminToken>,
}

impl From<StateDataV1> for StateData {
    fn from(v1: StateDataV1) -> StateData {
        StateData {
            seq: v1.seq,
            networks: v1.networks,
            admin_tokens: v1.admin_tokens,
            idempotency: Default::default(),
        }
    }
}

/// A snapshot as schema version 1 wrote it.
#[derive(Deserialize)]
struct SnapshotPayloadV1 {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    state: StateDataV1,
}

impl From<SnapshotPayloadV1> for SnapshotPayload {
    fn from(v1: SnapshotPayloadV1) -> SnapshotPayload {
        SnapshotPayload::from(SnapshotPayloadV2 {
            last_applied: v1.last_applied,
            last_membership: v1.last_membership,
            state: StateData::from(v1.state),
        })
    }
}

/// The serialised form of [`SnapshotPayload`], borrowing (so encoding does not clone the
/// state). The field order and types must match `SnapshotPayloadV3`, then (version 4 only)
/// the staging of `SnapshotPayloadV4`.
#[derive(Serialize)]
struct SnapshotPayloadRef<'a> {
    last_applied: &'a Option<LogId>,
    last_membership: &'a StoredMembership,
    state: &'a StateData,
    meta: &'a StateMeta,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "inner")]
    staged: Option<&'a StagedRestore>,
}

/// Writes the value of a present `Option` field without the tag of `Some` (version 4 holds a
/// staging, never the absence of one).
fn inner<S: serde::Serializer>(v: &Option<&StagedRestore>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(staged) => staged.serialize(s),
        None => s.serialize_none(),
    }
}

/// Serde of a `Vec<u8>` as one byte string: the same bincode bytes as the default (a
/// length, then one byte per element), written and read in one copy instead of byte by byte.
pub(crate) mod bytes {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(Bytes)
    }
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

fn bincode_encode<T: Serialize + ?Sized>(
    what: &'static str,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    // Straight into `out`: `encode_to_vec` grows a buffer of its own, then `out` takes a
    // copy (for a 20 MB snapshot, a dozen reallocations and 40 MB copied for nothing).
    bincode::serde::encode_into_std_write(value, out, config())
        .map(drop)
        .map_err(|e| CodecError::Encode {
            what,
            message: e.to_string(),
        })
}

fn bincode_decode<T: DeserializeOwned>(
    what: &'static str,
    version: u16,
    bytes: &[u8],
) -> Result<T, CodecError> {
    let (value, read) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| match e {
            bincode::error::DecodeError::UnexpectedEnd { .. } => {
                CodecError::Incomplete { what, version }
            }
            e => CodecError::Decode {
                what,
                version,
                message: e.to_string(),
            },
        })?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes {
            what,
            extra: bytes.len() - read,
        });
    }
    Ok(value)
}

/// Splits off the version prefix.
fn split_version<'a>(what: &'static str, bytes: &'a [u8]) -> Result<(u16, &'a [u8]), CodecError> {
    match bytes {
        [hi, lo, rest @ ..] => Ok((u16::from_be_bytes([*hi, *lo]), rest)),
        _ => Err(CodecError::Truncated {
            what,
            len: bytes.len(),
        }),
    }
}

fn unsupported(what: &'static str, found: u16) -> CodecError {
    CodecError::UnsupportedVersion {
        what,
        found,
        supported: NEWEST_SCHEMA_VERSION,
    }
}

/// Encodes a value with the version prefix (storage records).
pub(crate) fn encode_versioned<T: Serialize>(
    what: &'static str,
    value: &T,
) -> Result<Vec<u8>, CodecError> {
    encode_as(what, SCHEMA_VERSION, value)
}

/// `version` (big-endian) followed by the bincode of `value`.
fn encode_as<T: Serialize>(
    what: &'static str,
    version: u16,
    value: &T,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&version.to_be_bytes());
    bincode_encode(what, value, &mut out)?;
    Ok(out)
}

/// Decodes a value written by [`encode_versioned`].
pub(crate) fn decode_versioned<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, CodecError> {
    let (version, body) = split_version(what, bytes)?;
    match version {
        // Records (vote, committed, purged) have the same layout in every version.
        1..=5 => bincode_decode(what, version, body),
        v => Err(unsupported(what, v)),
    }
}

/// Encodes a log entry: version prefix, then bincode.
pub fn encode_entry(entry: &Entry) -> Result<Vec<u8>, CodecError> {
    let version = match &entry.payload {
        openraft::EntryPayload::Normal(crate::Command::Batch { .. }) => BATCH_SCHEMA_VERSION,
        _ => SCHEMA_VERSION,
    };
    encode_as("log entry", version, entry)
}

/// Decodes a log entry written by this or an older schema version.
pub fn decode_entry(bytes: &[u8]) -> Result<Entry, CodecError> {
    let what = "log entry";
    let (version, body) = split_version(what, bytes)?;
    match version {
        // Version 1 commands lack `Idempotent` (appended in 2, so indexes agree) and their
        // `RestoreState` backup has the version 1 state layout.
        1 => bincode_decode::<crate::command::v1::EntryV1>(what, version, body).map(Entry::from),
        // Version 3 appended variants only and kept the backup layout; version 4 changed
        // only the snapshot layout; version 5 is an entry holding the appended `Batch`.
        2..=5 => bincode_decode(what, version, body),
        v => Err(unsupported(what, v)),
    }
}

/// Encodes a snapshot of the state machine: magic, version, bincode of [`SnapshotPayload`].
/// Version 3 unless the state holds a staged restore (then version 4).
pub fn encode_snapshot(
    last_applied: &Option<LogId>,
    last_membership: &StoredMembership,
    state: &State,
) -> Result<Vec<u8>, CodecError> {
    encode_snapshot_sized(4096, last_applied, last_membership, state)
}

/// [`encode_snapshot`] into a buffer of `capacity` bytes to begin with (the size of the
/// previous snapshot, say, so that a large one is not grown by reallocation).
pub fn encode_snapshot_sized(
    capacity: usize,
    last_applied: &Option<LogId>,
    last_membership: &StoredMembership,
    state: &State,
) -> Result<Vec<u8>, CodecError> {
    let what = "snapshot";
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    let staged = state.staged_restore();
    let version = match staged {
        None => SCHEMA_VERSION,
        Some(_) => STAGED_SCHEMA_VERSION,
    };
    out.extend_from_slice(&version.to_be_bytes());
    let payload = SnapshotPayloadRef {
        last_applied,
        last_membership,
        state: state.data(),
        meta: state.meta(),
        staged,
    };
    bincode_encode(what, &payload, &mut out)?;
    Ok(out)
}

/// Decodes a snapshot written by this or an older schema version.
pub fn decode_snapshot(bytes: &[u8]) -> Result<SnapshotPayload, CodecError> {
    let what = "snapshot";
    let rest = match bytes.strip_prefix(SNAPSHOT_MAGIC.as_slice()) {
        Some(rest) => rest,
        None if bytes.len() < SNAPSHOT_MAGIC.len() + VERSION_LEN => {
            return Err(CodecError::Truncated {
                what,
                len: bytes.len(),
            })
        }
        None => return Err(CodecError::BadMagic { what }),
    };
    let (version, body) = split_version(what, rest)?;
    match version {
        1 => bincode_decode::<SnapshotPayloadV1>(what, version, body).map(SnapshotPayload::from),
        2 => bincode_decode::<SnapshotPayloadV2>(what, version, body).map(SnapshotPayload::from),
        3 => bincode_decode::<SnapshotPayloadV3>(what, version, body).map(SnapshotPayload::from),
        4 => bincode_decode::<SnapshotPayloadV4>(what, version, body).map(SnapshotPayload::from),
        v => Err(unsupported(what, v)),
    }
}

/// The canonical bytes of a state's data (bincode, no header, without the [`StateMeta`]):
/// equal states give equal bytes. For comparing the state machines of different nodes or
/// runs.
pub fn encode_state(state: &State) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    bincode_encode("state", state.data(), &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::{CommittedLeaderId, EntryPayload, Membership};
    use raftwire_api::{Timestamp, TokenId};

    use super::*;
    use crate::command::Command;
    use crate::state::AdminToken;

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn token_command(n: u128) -> Command {
        Command::CreateAdminToken {
            token: AdminToken {
                id: TokenId::from_u128(n),
                name: format!("t{n}"),
                token_hash: format!("hash{n}"),
                created_at: Timestamp(1_700_000_000_000 + n as u64),
            },
        }
    }

    fn membership() -> Membership<u64, openraft::BasicNode> {
        let nodes = BTreeMap::from([
            (1, openraft::BasicNode::new("10.0.0.1:7071")),
            (2, openraft::BasicNode::new("10.0.0.2:7071")),
        ]);
        Membership::new(vec![BTreeSet::from([1, 2])], nodes)
    }

    #[test]
    fn bincode_serde_is_not_human_readable() {
        struct Probe;
        impl Serialize for Probe {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let human = s.is_human_readable();
                s.serialize_bool(human)
            }
        }
        let bytes = bincode::serde::encode_to_vec(Probe, config()).unwrap();
        let (human, _): (bool, usize) =
            bincode::serde::decode_from_slice(&bytes, config()).unwrap();
        assert!(
            !human,
            "bincode's serde serializer must not be human readable"
        );

        // So a Timestamp is its u64 of milliseconds, not RFC 3339 text.
        let t = Timestamp(1_764_000_000_123);
        assert_eq!(
            bincode::serde::encode_to_vec(t, config()).unwrap(),
            bincode::serde::encode_to_vec(1_764_000_000_123u64, config()).unwrap()
        );
        let (back, _): (Timestamp, usize) = bincode::serde::decode_from_slice(
            &bincode::serde::encode_to_vec(t, config()).unwrap(),
            config(),
        )
        .unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn entries_round_trip_with_version_prefix() {
        let entries = vec![
            Entry {
                log_id: log_id(1, 0),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(1, 1),
                payload: EntryPayload::Membership(membership()),
            },
            Entry {
                log_id: log_id(2, 7),
                payload: EntryPayload::Normal(token_command(7)),
            },
        ];
        for e in entries {
            let bytes = encode_entry(&e).unwrap();
            assert_eq!(&bytes[..2], &SCHEMA_VERSION.to_be_bytes());
            let back = decode_entry(&bytes).unwrap();
            assert_eq!(back.log_id, e.log_id);
            assert_eq!(format!("{:?}", back.payload), format!("{:?}", e.payload));
        }
    }

    #[test]
    fn future_versions_are_refused_with_a_clear_error() {
        let e = Entry {
            log_id: log_id(1, 3),
            payload: EntryPayload::Blank,
        };
        let mut bytes = encode_entry(&e).unwrap();
        bytes[..2].copy_from_slice(&(NEWEST_SCHEMA_VERSION + 1).to_be_bytes());
        let err = decode_entry(&bytes).unwrap_err();
        assert_eq!(err, unsupported("log entry", NEWEST_SCHEMA_VERSION + 1));
        assert!(err.to_string().contains("upgrade this node"), "{err}");

        let mut snap = encode_snapshot(&None, &StoredMembership::default(), &State::new()).unwrap();
        snap[6..8].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(
            decode_snapshot(&snap).unwrap_err(),
            unsupported("snapshot", u16::MAX)
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let e = Entry {
            log_id: log_id(4, 9),
            payload: EntryPayload::Normal(token_command(9)),
        };
        let bytes = encode_entry(&e).unwrap();
        for cut in 0..bytes.len() {
            match decode_entry(&bytes[..cut]) {
                Err(e) => assert!(e.is_truncation(), "prefix of {cut} bytes: {e}"),
                Ok(_) => panic!("prefix of {cut} bytes decoded"),
            }
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode_entry(&longer),
            Err(CodecError::TrailingBytes { extra: 1, .. })
        ));
        assert!(matches!(
            decode_snapshot(b"NOTASNAPSHOT"),
            Err(CodecError::BadMagic { .. })
        ));
        assert!(matches!(
            decode_snapshot(b"RW"),
            Err(CodecError::Truncated { .. })
        ));
    }

    #[test]
    fn snapshots_round_trip() {
        let mut state = State::new();
        for n in 1..=3 {
            crate::apply(&mut state, token_command(n)).unwrap();
        }
        let applied = Some(log_id(3, 42));
        let mem = StoredMembership::new(Some(log_id(1, 1)), membership());
        let bytes = encode_snapshot(&applied, &mem, &state).unwrap();
        assert_eq!(&bytes[..6], SNAPSHOT_MAGIC);
        let back = decode_snapshot(&bytes).unwrap();
        assert_eq!(back.last_applied, applied);
        assert_eq!(back.last_membership, mem);
        assert_eq!(back.state, state);
        assert_eq!(
            encode_state(&back.state).unwrap(),
            encode_state(&state).unwrap()
        );
    }

    #[test]
    fn records_round_trip() {
        let vote = openraft::Vote::<u64>::new_committed(5, 2);
        let bytes = encode_versioned("vote", &vote).unwrap();
        assert_eq!(
            decode_versioned::<openraft::Vote<u64>>("vote", &bytes).unwrap(),
            vote
        );
        let committed = Some(log_id(5, 100));
        let bytes = encode_versioned("committed", &committed).unwrap();
        assert_eq!(
            decode_versioned::<Option<LogId>>("committed", &bytes).unwrap(),
            committed
        );
    }
}

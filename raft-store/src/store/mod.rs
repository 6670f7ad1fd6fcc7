//! Durable storage for openraft on one RocksDB database.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `logs` | log index, big-endian `u64` | [`crate::codec::encode_entry`] |
//! | `meta` | `vote`, `committed`, `last_purged_log_id` | versioned bincode |
//! | `snapshot` | `meta`, `data` | versioned bincode of the `SnapshotMeta`; [`crate::codec::encode_snapshot`] |
//!
//! Votes, truncation, purges and snapshots are written with `sync = true` before they are
//! reported done; log appends are reported flushed only after the write-ahead log holding
//! them was synced (group commit: one fsync for the appends that arrived meanwhile, see
//! `log`). The state machine lives in memory and is persisted as
//! snapshots: a restart loads the last snapshot and openraft re-applies the committed log
//! after it (the committed log id is saved for that).

// openraft's storage traits return `StorageError` (224 bytes); the helpers here return it too
// rather than boxing and unboxing at every trait method.
#![allow(clippy::result_large_err)]

pub mod durability;
pub mod log;
pub mod state_machine;

use std::path::Path;
use std::sync::Arc;

use openraft::AnyError;
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteOptions, DB};

pub use self::durability::Durability;
pub use self::log::LogStore;
pub use self::state_machine::{StateMachineData, StateMachineStore};
use crate::types::{StorageError, StorageIOError};

/// Column family of the log entries.
pub const CF_LOGS: &str = "logs";
/// Column family of the vote, committed log id and last purged log id.
pub const CF_META: &str = "meta";
/// Column family of the current snapshot.
pub const CF_SNAPSHOT: &str = "snapshot";
/// Every column family the store uses.
pub const COLUMN_FAMILIES: [&str; 3] = [CF_LOGS, CF_META, CF_SNAPSHOT];

/// Opens (creating if missing) the database in `dir` and returns its log store and state
/// machine, which share it.
///
/// Opening repairs a torn tail of the log (entries that do not decode, which were never
/// acknowledged) and loads the state machine from the last snapshot.
pub fn open(dir: &Path) -> Result<(LogStore, StateMachineStore), StorageError> {
    let db = Arc::new(open_db(dir)?);
    let durability = Arc::new(Durability::default());
    let log = LogStore::open(db.clone(), durability.clone())?;
    let sm = StateMachineStore::open(db, durability)?;
    Ok((log, sm))
}

/// The RocksDB options the store opens its database with.
pub fn db_options() -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts
}

/// Opens the raw database with the store's column families (for tools and tests; the
/// stores are what the node uses).
pub fn open_db(dir: &Path) -> Result<DB, StorageError> {
    let cfs = COLUMN_FAMILIES
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
    DB::open_cf_descriptors(&db_options(), dir, cfs).map_err(|e| {
        StorageIOError::read(AnyError::error(format!(
            "cannot open the RocksDB database in {}: {e}",
            dir.display()
        )))
        .into()
    })
}

pub(crate) fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, StorageError> {
    db.cf_handle(name).ok_or_else(|| {
        StorageIOError::read(AnyError::error(format!(
            "column family '{name}' is missing"
        )))
        .into()
    })
}

pub(crate) fn sync_write() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

/// An openraft error from anything displayable (RocksDB, codec, join errors).
pub(crate) fn any_error(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e)
}

/// Runs blocking storage work (a synced write) off the async worker threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(StorageIOError::write(any_error(format!("storage task failed: {e}"))).into()),
    }
}

//! The Raft log and vote on RocksDB: openraft's `RaftLogStorage` (storage-v2).
//!
//! Every write that openraft must be able to rely on after a crash (votes, truncation,
//! purges) is one `WriteBatch` written with `sync = true`. An append writes its entries (a
//! memtable insert and a write-ahead log append, readable by replication straight away),
//! then:
//! - a follower's append syncs the write-ahead log in place and only then reports itself
//!   flushed, so no follower's entry is counted towards a quorum before it is on disk. A
//!   leader sends a follower one append at a time and waits for its answer, so a follower's
//!   appends never overlap and there is nothing to group; handing the sync to a thread and
//!   back cost two thread wake-ups, ~90 µs of every write's latency on a loaded 2-core
//!   machine;
//! - the leader's appends of its own entries are reported flushed at once and synced by the
//!   log's syncer thread, in parallel with the followers' appends, once for every append
//!   that arrived meanwhile; nothing applies them before that sync (see `durability`).
//!
//! The committed log id is
//! written without an fsync of its own: it sits in the same write-ahead log, behind the
//! entries it refers to, and losing it only means re-applying less after a power failure.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use rocksdb::{Direction, IteratorMode, WriteBatch, DB};
use tokio::sync::watch;

use super::durability::Durability;
use super::{any_error, blocking, cf, sync_write, CF_LOGS, CF_META};
use crate::codec::{self, CodecError};
use crate::types::{Entry, LogId, LogState, StorageError, StorageIOError, TypeConfig, Vote};

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged_log_id";

/// The key of the log entry at `index`: big-endian, so keys sort like indexes.
pub fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn key_index(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

/// Why a stored entry could not be read.
struct BadEntry {
    /// The value is a cut-off encoding: what a torn write leaves behind.
    torn: bool,
    message: String,
}

impl std::fmt::Display for BadEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Decodes the entry stored under `key`, checking that it is the entry of that index.
fn entry_at(key: &[u8], value: &[u8]) -> Result<Entry, BadEntry> {
    let index = key_index(key).ok_or_else(|| BadEntry {
        torn: false,
        message: format!("log key {key:?} is not 8 bytes"),
    })?;
    let entry = codec::decode_entry(value).map_err(|e| BadEntry {
        torn: e.is_truncation(),
        message: format!("log entry {index}: {e}"),
    })?;
    if entry.log_id.index != index {
        return Err(BadEntry {
            torn: false,
            message: format!(
                "log key {index} holds the entry of index {}",
                entry.log_id.index
            ),
        });
    }
    Ok(entry)
}

/// Reports `e` to openraft through an append's `callback`, and gives it back.
fn failed(callback: LogFlushed<TypeConfig>, e: StorageError) -> StorageError {
    callback.log_io_completed(Err(io::Error::other(e.to_string())));
    e
}

fn read_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_logs(any_error(e)).into()
}

fn write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_logs(any_error(e)).into()
}

/// The Raft log, vote and log pointers. Cheap to clone (it is a handle to the shared
/// database); a clone is the log reader openraft's replication tasks use.
#[derive(Clone)]
pub struct LogStore {
    // Dropped first: the last clone stops the syncer (which lets go of its database handle)
    // before its own handle goes, so the database closes where the stores are dropped.
    syncer: Arc<Syncer>,
    db: Arc<DB>,
    committed: Arc<watch::Sender<u64>>,
    durability: Arc<Durability>,
}

/// The thread that makes the leader's early-counted appends durable: it syncs the
/// write-ahead log once per group of waiting appends (by their sequence numbers), then
/// reports the group durable. Dropping it closes its channel and waits for the thread to end.
struct Syncer {
    tx: Option<std::sync::mpsc::Sender<u64>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    fn start(db: &Arc<DB>, durability: &Arc<Durability>) -> Result<Syncer, StorageError> {
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let db = db.clone();
        let durability = durability.clone();
        let thread = std::thread::Builder::new()
            .name("raft-log-sync".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Sequence numbers arrive in order: the last one covers the group.
                    let last = rx.try_iter().last().unwrap_or(first);
                    let synced = db.flush_wal(true).map_err(|e| e.to_string());
                    durability.synced(last, synced.err());
                }
            })
            .map_err(write_err)?;
        Ok(Syncer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues the early append `seq` for the next sync; false if the thread is gone.
    fn flush(&self, seq: u64) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(seq).is_ok())
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            // The thread ends once the queued syncs are done (the channel is closed).
            let _ = thread.join();
        }
    }
}

impl LogStore {
    /// Wraps the shared database and repairs a torn log tail (see [`super::open`]).
    pub fn open(db: Arc<DB>, durability: Arc<Durability>) -> Result<LogStore, StorageError> {
        let (committed, _) = watch::channel(0);
        let syncer = Arc::new(Syncer::start(&db, &durability)?);
        let store = LogStore {
            syncer,
            db,
            committed: Arc::new(committed),
            durability,
        };
        store.repair_tail()?;
        let saved = store.read_committed_sync()?;
        store.committed.send_replace(saved.map_or(0, |c| c.index));
        store.durability.set_vote(store.read_vote_sync()?);
        Ok(store)
    }

    /// Which of this log's appends were counted as flushed before their sync (shared with
    /// the state machine and the network, which wait for them).
    pub fn durability(&self) -> &Arc<Durability> {
        &self.durability
    }

    /// The shared database (diagnostics and tests).
    pub fn db(&self) -> &Arc<DB> {
        &self.db
    }

    /// The index of the last committed log entry as openraft saves it (before applying
    /// it); 0 before anything was committed.
    pub fn subscribe_committed(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Deletes a torn last entry (a cut-off value: the write never completed, so it was
    /// never acknowledged) and clamps the saved committed log id to what is left.
    ///
    /// Only the last entry, only a cut-off value, and only when the entry before it (if
    /// any) is intact: anything else is not a torn write but data this build cannot read
    /// (a newer schema, a broken deploy), and opening fails instead of deleting it.
    fn repair_tail(&self) -> Result<(), StorageError> {
        let logs = cf(&self.db, CF_LOGS)?;
        let mut torn = Vec::new();
        let mut last_good = None;
        for item in self.db.iterator_cf(logs, IteratorMode::End) {
            let (key, value) = item.map_err(read_err)?;
            match entry_at(&key, &value) {
                Ok(entry) => {
                    last_good = Some(entry.log_id);
                    break;
                }
                Err(bad) if bad.torn && torn.is_empty() => {
                    tracing::warn!(
                        "discarding a torn log entry at the end of the log ({bad}); it was \
                         never acknowledged"
                    );
                    torn.push(key);
                }
                Err(bad) => {
                    return Err(read_err(format!(
                        "the log cannot be read ({bad}); refusing to open rather than \
                         discard it"
                    )))
                }
            }
        }
        let mut batch = WriteBatch::default();
        for key in &torn {
            batch.delete_cf(logs, key);
        }
        let last = std::cmp::max(last_good, self.read_last_purged()?);
        if let Some(committed) = self.read_committed_sync()? {
            if last.map(|l| l.index) < Some(committed.index) {
                tracing::warn!(
                    "the saved committed log id {committed} is past the last log entry; \
                     lowering it to {}",
                    last.map(|l| l.to_string()).unwrap_or_else(|| "none".into())
                );
                let value = codec::encode_versioned("committed", &last).map_err(write_err)?;
                batch.put_cf(cf(&self.db, CF_META)?, KEY_COMMITTED, value);
            }
        }
        if !batch.is_empty() {
            self.db.write_opt(batch, &sync_write()).map_err(write_err)?;
        }
        Ok(())
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, CodecOrDb> {
        let meta = cf(&self.db, CF_META).map_err(CodecOrDb::Storage)?;
        match self.db.get_cf(meta, key) {
            Ok(Some(bytes)) => codec::decode_versioned(what, &bytes)
                .map(Some)
                .map_err(CodecOrDb::Codec),
            Ok(None) => Ok(None),
            Err(e) => Err(CodecOrDb::Db(e)),
        }
    }

    fn read_last_purged(&self) -> Result<Option<LogId>, StorageError> {
        self.get_meta::<LogId>(KEY_LAST_PURGED, "last purged log id")
            .map_err(|e| e.into_storage(read_err))
    }

    fn read_vote_sync(&self) -> Result<Option<Vote>, StorageError> {
        self.get_meta::<Vote>(KEY_VOTE, "vote")
            .map_err(|e| e.into_storage(|m| StorageIOError::read_vote(any_error(m)).into()))
    }

    fn read_committed_sync(&self) -> Result<Option<LogId>, StorageError> {
        self.get_meta::<Option<LogId>>(KEY_COMMITTED, "committed log id")
            .map(Option::flatten)
            .map_err(|e| e.into_storage(read_err))
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, StorageError> {
        let logs = cf(&self.db, CF_LOGS)?;
        match self.db.iterator_cf(logs, IteratorMode::End).next() {
            None => Ok(None),
            Some(item) => {
                let (key, value) = item.map_err(read_err)?;
                entry_at(&key, &value)
                    .map(|e| Some(e.log_id))
                    .map_err(read_err)
            }
        }
    }

    fn append_batch(
        &self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<WriteBatch, StorageError> {
        let logs = cf(&self.db, CF_LOGS)?;
        let mut batch = WriteBatch::default();
        for entry in entries {
            let value = codec::encode_entry(&entry).map_err(|e| {
                StorageError::from(StorageIOError::write_log_entry(entry.log_id, any_error(e)))
            })?;
            batch.put_cf(logs, log_key(entry.log_id.index), value);
        }
        Ok(batch)
    }

    fn read_range(&self, start: u64, end: Option<u64>) -> Result<Vec<Entry>, StorageError> {
        let logs = cf(&self.db, CF_LOGS)?;
        let from = log_key(start);
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(logs, IteratorMode::From(&from, Direction::Forward))
        {
            let (key, value) = item.map_err(read_err)?;
            let index = key_index(&key).ok_or_else(|| read_err("log key is not 8 bytes"))?;
            if end.is_some_and(|end| index >= end) {
                break;
            }
            let entry = entry_at(&key, &value).map_err(|e| {
                StorageError::from(StorageIOError::read_log_at_index(index, any_error(e)))
            })?;
            out.push(entry);
        }
        Ok(out)
    }
}

/// A read failure: the database, or bytes that do not decode.
enum CodecOrDb {
    Db(rocksdb::Error),
    Codec(CodecError),
    Storage(StorageError),
}

impl CodecOrDb {
    fn into_storage(self, f: impl Fn(String) -> StorageError) -> StorageError {
        match self {
            CodecOrDb::Db(e) => f(e.to_string()),
            CodecOrDb::Codec(e) => f(e.to_string()),
            CodecOrDb::Storage(e) => e,
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => match s.checked_add(1) {
                Some(s) => s,
                None => return Ok(Vec::new()),
            },
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => e.checked_add(1),
            Bound::Excluded(e) => Some(*e),
            Bound::Unbounded => None,
        };
        if end.is_some_and(|end| end <= start) {
            return Ok(Vec::new());
        }
        self.read_range(start, end)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState, StorageError> {
        let last_purged_log_id = self.read_last_purged()?;
        let last_log_id = std::cmp::max(self.last_entry_log_id()?, last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let value = codec::encode_versioned("vote", vote)
            .map_err(|e| StorageError::from(StorageIOError::write_vote(any_error(e))))?;
        let db = self.db.clone();
        blocking(move || {
            let meta = cf(&db, CF_META)?;
            let mut batch = WriteBatch::default();
            batch.put_cf(meta, KEY_VOTE, value);
            db.write_opt(batch, &sync_write())
                .map_err(|e| StorageIOError::write_vote(any_error(e)).into())
        })
        .await?;
        self.durability.set_vote(Some(*vote));
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_vote_sync()
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let value = codec::encode_versioned("committed", &committed).map_err(write_err)?;
        let meta = cf(&self.db, CF_META)?;
        // In the write-ahead log behind the entries it covers; the next synced write (or
        // a clean close) makes it durable.
        self.db
            .put_cf(meta, KEY_COMMITTED, value)
            .map_err(write_err)?;
        if let Some(c) = committed {
            self.committed.send_replace(c.index);
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        self.read_committed_sync()
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let early = match entries.first() {
            Some(first) if self.durability.counts_early(&entries) => Some(first.log_id.index),
            _ => None,
        };
        let batch = self.append_batch(entries)?;
        // Written now (a memtable insert and a write-ahead log append, no fsync). A
        // follower's entries are reported flushed only once synced here: only then may
        // openraft count them toward a quorum. The leader's own are reported at once, synced
        // by the syncer thread, and held back from taking effect until then.
        if let Err(e) = self.db.write(batch).map_err(write_err) {
            return Err(failed(callback, e));
        }
        match early {
            Some(first) => {
                let seq = self.durability.record_early(first);
                if !self.syncer.flush(seq) {
                    let e = write_err("the log's sync thread has stopped");
                    self.durability.synced(seq, Some(e.to_string()));
                    return Err(failed(callback, e));
                }
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            // In place, on openraft's core task: a short block (one fdatasync) that saves
            // two thread hand-offs on every write's path.
            None => match self.db.flush_wal(true) {
                Ok(()) => {
                    callback.log_io_completed(Ok(()));
                    Ok(())
                }
                Err(e) => Err(failed(callback, write_err(e))),
            },
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!("truncating the log from {log_id}");
        let db = self.db.clone();
        blocking(move || {
            let logs = cf(&db, CF_LOGS)?;
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(logs, log_key(log_id.index), log_key(u64::MAX));
            batch.delete_cf(logs, log_key(u64::MAX));
            db.write_opt(batch, &sync_write()).map_err(write_err)
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!("purging the log up to {log_id}");
        if self
            .read_last_purged()?
            .is_some_and(|p| p.index >= log_id.index)
        {
            return Ok(());
        }
        let value = codec::encode_versioned("last purged log id", &log_id).map_err(write_err)?;
        let db = self.db.clone();
        blocking(move || {
            let logs = cf(&db, CF_LOGS)?;
            let meta = cf(&db, CF_META)?;
            // One atomic batch: the purge point is recorded first, then the range goes.
            let mut batch = WriteBatch::default();
            batch.put_cf(meta, KEY_LAST_PURGED, value);
            match log_id.index.checked_add(1) {
                Some(end) => batch.delete_range_cf(logs, log_key(0), log_key(end)),
                None => {
                    batch.delete_range_cf(logs, log_key(0), log_key(u64::MAX));
                    batch.delete_cf(logs, log_key(u64::MAX));
                }
            }
            db.write_opt(batch, &sync_write()).map_err(write_err)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::store::{open, open_db};

    fn blank(index: u64) -> Vec<u8> {
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        };
        codec::encode_entry(&entry).unwrap()
    }

    fn write_raw(dir: &Path, entries: &[(u64, Vec<u8>)]) {
        let db = open_db(dir).unwrap();
        let logs = db.cf_handle(CF_LOGS).unwrap();
        for (index, value) in entries {
            db.put_cf(logs, log_key(*index), value).unwrap();
        }
    }

    fn raw_keys(dir: &Path) -> Vec<u64> {
        let db = open_db(dir).unwrap();
        let logs = db.cf_handle(CF_LOGS).unwrap();
        db.iterator_cf(logs, IteratorMode::Start)
            .map(|item| key_index(&item.unwrap().0).unwrap())
            .collect()
    }

    fn cut(mut bytes: Vec<u8>) -> Vec<u8> {
        bytes.truncate(bytes.len() - 1);
        bytes
    }

    #[tokio::test]
    async fn a_torn_last_entry_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries: Vec<_> = (0..5).map(|i| (i, blank(i))).collect();
        entries.push((5, cut(blank(5))));
        write_raw(dir.path(), &entries);

        let (mut log, _sm) = open(dir.path()).unwrap();
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id.map(|l| l.index), Some(4));
        assert_eq!(log.try_get_log_entries(0..).await.unwrap().len(), 5);
    }

    #[tokio::test]
    async fn committed_is_saved_and_published() {
        let dir = tempfile::tempdir().unwrap();
        write_raw(
            dir.path(),
            &(0..4).map(|i| (i, blank(i))).collect::<Vec<_>>(),
        );
        {
            let (mut log, _sm) = open(dir.path()).unwrap();
            let rx = log.subscribe_committed();
            assert_eq!(*rx.borrow(), 0);
            let c = LogId::new(CommittedLeaderId::new(1, 1), 3);
            log.save_committed(Some(c)).await.unwrap();
            assert_eq!(*rx.borrow(), 3);
            assert_eq!(log.read_committed().await.unwrap(), Some(c));
        }
        let (log, _sm) = open(dir.path()).unwrap();
        assert_eq!(*log.subscribe_committed().borrow(), 3);
    }

    #[tokio::test]
    async fn a_torn_only_entry_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        write_raw(dir.path(), &[(0, cut(blank(0)))]);
        let (mut log, _sm) = open(dir.path()).unwrap();
        assert_eq!(log.get_log_state().await.unwrap().last_log_id, None);
    }

    #[test]
    fn two_unreadable_entries_are_not_a_torn_write() {
        let dir = tempfile::tempdir().unwrap();
        let entries = [(0, blank(0)), (1, cut(blank(1))), (2, cut(blank(2)))];
        write_raw(dir.path(), &entries);
        let err = open(dir.path()).err().expect("open refuses");
        assert!(err.to_string().contains("refusing to open"), "{err}");
        assert_eq!(raw_keys(dir.path()), vec![0, 1, 2], "nothing was deleted");
    }

    #[test]
    fn an_entry_of_a_newer_schema_is_not_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let mut newer = blank(1);
        newer[..2].copy_from_slice(&(codec::NEWEST_SCHEMA_VERSION + 1).to_be_bytes());
        write_raw(dir.path(), &[(0, blank(0)), (1, newer)]);
        let err = open(dir.path()).err().expect("open refuses");
        assert!(err.to_string().contains("upgrade this node"), "{err}");
        assert_eq!(raw_keys(dir.path()), vec![0, 1], "nothing was deleted");
    }

    #[test]
    fn an_entry_under_the_wrong_key_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        write_raw(dir.path(), &[(0, blank(0)), (1, blank(7))]);
        assert!(open(dir.path()).is_err());
    }
}

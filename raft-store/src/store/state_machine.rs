//! The replicated state machine: openraft's `RaftStateMachine` and `RaftSnapshotBuilder`.
//!
//! The domain state lives in memory behind a `RwLock` that the node reads concurrently.
//! Its durable form is the snapshot (column family `snapshot`): a restart loads the last
//! snapshot and openraft re-applies the committed log after it.
//!
//! A snapshot of 100,000 peers is ~23 MB, and the Raft log shares the database. Written
//! through the write-ahead log with `sync = true`, it put 23 MB in front of the log's next
//! sync: writes stalled for up to 775 ms. The data therefore bypasses the write-ahead log,
//! under a key of its own (`data/<snapshot id>`), and is flushed to its own table file
//! before the meta that names it is written (synced) and the previous data deleted: a
//! crash at any point leaves the meta naming data that is on disk. (Data dirs written
//! before keep the snapshot under `data`, which is still read.) The state is copied under
//! the read lock (rows are shared, so this is cheap) and encoded outside it, so applies do
//! not wait for the encoding either.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use rocksdb::{WriteBatch, DB};
use tokio::sync::watch;

use super::durability::Durability;
use super::{any_error, blocking, cf, sync_write, CF_SNAPSHOT};
use crate::codec;
use crate::command::{ApplyResult, Response};
use crate::state::State;
use crate::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
    TypeConfig,
};

const KEY_SNAPSHOT_META: &[u8] = b"meta";
/// Where data dirs written before per-snapshot keys hold the snapshot data.
const KEY_SNAPSHOT_DATA_LEGACY: &[u8] = b"data";

/// The key of the data of the snapshot `meta` describes.
fn data_key(meta: &SnapshotMeta) -> Vec<u8> {
    format!("data/{}", meta.snapshot_id).into_bytes()
}

/// The in-memory state machine: the domain state and the Raft bookkeeping that goes with
/// it. Every write lock covers one applied entry, so a reader always sees a state together
/// with the log id it corresponds to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateMachineData {
    /// The last log entry applied to `state`.
    pub last_applied: Option<LogId>,
    /// The last membership config applied.
    pub last_membership: StoredMembership,
    /// The domain state.
    pub state: State,
}

/// The state machine store. Cheap to clone: clones share the state, the applied-index
/// channel and the database. A clone is also the snapshot builder.
#[derive(Clone)]
pub struct StateMachineStore {
    db: Arc<DB>,
    data: Arc<RwLock<StateMachineData>>,
    applied: Arc<watch::Sender<u64>>,
    snapshot_counter: Arc<AtomicU64>,
    /// The size of the last snapshot built: the next one's buffer starts a little larger.
    last_snapshot_len: Arc<AtomicUsize>,
    /// Serialises writes of the current snapshot (a build racing an install).
    snapshot_write: Arc<Mutex<()>>,
    /// Which of the leader's own log entries are not on its disk yet: they are applied
    /// only once they are.
    durability: Arc<Durability>,
}

fn poisoned(what: &str) -> StorageError {
    StorageIOError::read_state_machine(any_error(format!(
        "the state machine lock is poisoned ({what}): an apply panicked"
    )))
    .into()
}

fn snapshot_read_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_snapshot(None, any_error(e)).into()
}

fn snapshot_write_err(meta: &SnapshotMeta, e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_snapshot(Some(meta.signature()), any_error(e)).into()
}

/// Reads the stored snapshot's meta and bytes.
fn read_stored_snapshot(db: &DB) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StorageError> {
    let snap = cf(db, CF_SNAPSHOT)?;
    let Some(meta) = db
        .get_cf(snap, KEY_SNAPSHOT_META)
        .map_err(snapshot_read_err)?
    else {
        return Ok(None);
    };
    let meta: SnapshotMeta =
        codec::decode_versioned("snapshot meta", &meta).map_err(snapshot_read_err)?;
    let data = match db
        .get_cf(snap, data_key(&meta))
        .map_err(snapshot_read_err)?
    {
        Some(data) => Some(data),
        None => db
            .get_cf(snap, KEY_SNAPSHOT_DATA_LEGACY)
            .map_err(snapshot_read_err)?,
    };
    match data {
        Some(data) => Ok(Some((meta, data))),
        None => Err(snapshot_read_err(format!(
            "the stored snapshot {meta} is incomplete (its data is missing)"
        ))),
    }
}

/// Whether the stored snapshot should be replaced by one up to `new`.
fn replaces(stored: &SnapshotMeta, new: &SnapshotMeta) -> bool {
    stored.last_log_id.map(|l| l.index) <= new.last_log_id.map(|l| l.index)
}

impl StateMachineStore {
    /// Wraps the shared database and loads the state machine from the stored snapshot.
    pub fn open(
        db: Arc<DB>,
        durability: Arc<Durability>,
    ) -> Result<StateMachineStore, StorageError> {
        let (data, counter) = match read_stored_snapshot(&db)? {
            None => (StateMachineData::default(), 0),
            Some((meta, bytes)) => {
                let payload = codec::decode_snapshot(&bytes).map_err(snapshot_read_err)?;
                if payload.last_applied != meta.last_log_id
                    || payload.last_membership != meta.last_membership
                {
                    return Err(snapshot_read_err(format!(
                        "the stored snapshot's data does not match its meta {meta}"
                    )));
                }
                let counter = meta
                    .snapshot_id
                    .rsplit('-')
                    .next()
                    .and_then(|c| c.parse::<u64>().ok())
                    .unwrap_or(0);
                tracing::info!("loaded the state machine from snapshot {meta}");
                let data = StateMachineData {
                    last_applied: payload.last_applied,
                    last_membership: payload.last_membership,
                    state: payload.state,
                };
                (data, counter)
            }
        };
        let (applied, _) = watch::channel(data.last_applied.map_or(0, |l| l.index));
        Ok(StateMachineStore {
            db,
            data: Arc::new(RwLock::new(data)),
            applied: Arc::new(applied),
            snapshot_counter: Arc::new(AtomicU64::new(counter)),
            last_snapshot_len: Arc::new(AtomicUsize::new(0)),
            snapshot_write: Arc::new(Mutex::new(())),
            durability,
        })
    }

    /// The shared in-memory state machine. Hold its read lock briefly: `apply` waits on it.
    pub fn data(&self) -> Arc<RwLock<StateMachineData>> {
        self.data.clone()
    }

    /// A copy of the state and the meta a snapshot of it carries, taken under the read lock
    /// (cheap: the rows are shared) so that it can be encoded outside it: `apply` waits for
    /// the lock, and encoding a large state takes hundreds of milliseconds.
    pub fn copy(&self) -> Result<(Option<LogId>, StoredMembership, State), StorageError> {
        self.read(|d| (d.last_applied, d.last_membership.clone(), d.state.clone()))
    }

    /// Runs `f` on a consistent view of the state machine (under the read lock).
    pub fn read<R>(&self, f: impl FnOnce(&StateMachineData) -> R) -> Result<R, StorageError> {
        Ok(f(&*self.read_guard()?))
    }

    /// The index of the last applied log entry, updated after every applied batch and
    /// installed snapshot (0 before anything was applied).
    pub fn subscribe_applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Result<Option<LogId>, StorageError> {
        self.read(|d| d.last_applied)
    }

    /// The shared database (diagnostics and tests).
    pub fn db(&self) -> &Arc<DB> {
        &self.db
    }

    fn read_guard(&self) -> Result<RwLockReadGuard<'_, StateMachineData>, StorageError> {
        self.data.read().map_err(|_| poisoned("read"))
    }

    fn write_guard(&self) -> Result<RwLockWriteGuard<'_, StateMachineData>, StorageError> {
        self.data.write().map_err(|_| poisoned("write"))
    }

    /// Copies the state ([`Self::copy`]) and encodes the copy on a thread of its own at a lowered priority: encoding a
    /// large state takes hundreds of milliseconds of CPU, which neither holds a runtime
    /// worker nor competes on equal terms with the write path (on a small machine, with
    /// every node building its snapshot at the same log index, it did both: writes in
    /// flight meanwhile took 5–10 times their usual time).
    ///
    /// The copy is taken here, at the caller's priority, not on the encoding thread: `apply`
    /// waits for the read lock to be released, and a low-priority thread holding it on a
    /// busy machine stalled every write for 30–40 ms.
    async fn encode_in_background(&self) -> Result<Encoded, StorageError> {
        let started = std::time::Instant::now();
        let (last_applied, last_membership, state) = self.copy()?;
        let copied = started.elapsed();
        let membership = last_membership.clone();
        let last_len = self.last_snapshot_len.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("snapshot-encode".into())
            .spawn(move || {
                lower_this_threads_priority();
                let previous = last_len.load(Ordering::Relaxed);
                let capacity = (previous + previous / 8).max(4096);
                let bytes =
                    codec::encode_snapshot_sized(capacity, &last_applied, &membership, &state)
                        .inspect(|b| last_len.store(b.len(), Ordering::Relaxed))
                        .map_err(encode_err);
                let _ = tx.send(bytes);
                // `state` (the copy) is dropped here, off the runtime too.
            })
            .map_err(encode_err)?;
        let bytes = rx.await.map_err(encode_err)??;
        Ok(Encoded {
            bytes,
            last_applied,
            last_membership,
            copied,
        })
    }

    /// Writes `meta` and `bytes` as the current snapshot (synced). With `only_if_newer`, a
    /// stored snapshot of a later log id is kept and returned instead.
    async fn persist_snapshot(
        &self,
        meta: SnapshotMeta,
        bytes: Vec<u8>,
        only_if_newer: bool,
    ) -> Result<(SnapshotMeta, Vec<u8>), StorageError> {
        let db = self.db.clone();
        let lock = self.snapshot_write.clone();
        blocking(move || {
            let _guard = lock
                .lock()
                .map_err(|_| snapshot_write_err(&meta, "the snapshot write lock is poisoned"))?;
            if only_if_newer {
                if let Some((stored, stored_bytes)) = read_stored_snapshot(&db)? {
                    if !replaces(&stored, &meta) {
                        tracing::info!("keeping the stored snapshot {stored}, newer than {meta}");
                        return Ok((stored, stored_bytes));
                    }
                }
            }
            let meta_bytes = codec::encode_versioned("snapshot meta", &meta)
                .map_err(|e| snapshot_write_err(&meta, e))?;
            let snap = cf(&db, CF_SNAPSHOT)?;
            let previous = db
                .get_cf(snap, KEY_SNAPSHOT_META)
                .map_err(|e| snapshot_write_err(&meta, e))?
                .and_then(|m| codec::decode_versioned::<SnapshotMeta>("snapshot meta", &m).ok())
                .map(|m| data_key(&m))
                .filter(|k| *k != data_key(&meta));
            // The data: not through the write-ahead log the Raft log syncs, but flushed to a
            // table file of its own before anything names it.
            let mut no_wal = rocksdb::WriteOptions::default();
            no_wal.disable_wal(true);
            db.put_cf_opt(snap, data_key(&meta), &bytes, &no_wal)
                .map_err(|e| snapshot_write_err(&meta, e))?;
            db.flush_cf(snap)
                .map_err(|e| snapshot_write_err(&meta, e))?;
            // Then the meta naming it (synced), and the data no meta names any more.
            let mut batch = WriteBatch::default();
            batch.put_cf(snap, KEY_SNAPSHOT_META, meta_bytes);
            batch.delete_cf(snap, KEY_SNAPSHOT_DATA_LEGACY);
            if let Some(previous) = previous {
                batch.delete_cf(snap, previous);
            }
            db.write_opt(batch, &sync_write())
                .map_err(|e| snapshot_write_err(&meta, e))?;
            Ok((meta, bytes))
        })
        .await
    }

    /// Applies a batch of committed entries (sync: no await while a lock is held).
    fn apply_entries(
        &self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Vec<ApplyResult>, StorageError> {
        let mut replies = Vec::new();
        let mut last = None;
        for entry in entries {
            let log_id = entry.log_id;
            let reply = match entry.payload {
                EntryPayload::Normal(command) if replaces_the_state(&command) => {
                    self.apply_restore(log_id, command)?
                }
                payload => {
                    let mut d = self.write_guard()?;
                    d.last_applied = Some(log_id);
                    match payload {
                        EntryPayload::Blank => Ok(Response::Done),
                        EntryPayload::Normal(command) => {
                            crate::apply_entry(&mut d.state, command, log_id.index)
                        }
                        EntryPayload::Membership(m) => {
                            d.last_membership = StoredMembership::new(Some(log_id), m);
                            Ok(Response::Done)
                        }
                    }
                }
            };
            replies.push(reply);
            last = Some(log_id.index);
        }
        if let Some(index) = last {
            self.applied.send_replace(index);
        }
        Ok(replies)
    }
}

impl StateMachineStore {
    /// Applies a restore to a copy of the state (its rows are shared, so a copy is cheap)
    /// and swaps the result in: decoding and checking a large backup takes long, and readers
    /// keep the state as it was meanwhile instead of waiting on the lock. Only this store's
    /// apply and install change the state, one call at a time, so the copy stays current.
    fn apply_restore(
        &self,
        log_id: LogId,
        command: crate::Command,
    ) -> Result<ApplyResult, StorageError> {
        let mut next = self.read_guard()?.state.clone();
        let reply = off_the_runtime(|| crate::apply_entry(&mut next, command, log_id.index));
        let mut d = self.write_guard()?;
        d.last_applied = Some(log_id);
        // Also on a refusal: a refused commit drops its staged parts.
        d.state = next;
        Ok(reply)
    }
}

/// A snapshot's bytes, the meta they correspond to, and how long copying the state took.
struct Encoded {
    bytes: Vec<u8>,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    copied: std::time::Duration,
}

/// A snapshot that could not be encoded (or whose encoding thread failed).
fn encode_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::from(StorageIOError::write_snapshot(None, any_error(e)))
}

/// The nice value of a snapshot's encoding thread: the write path's threads (nice 0) get
/// about ten times its share of a contended core. (SCHED_IDLE, tried, did not shorten the
/// write path's tail on this machine, and under a sustained full load it could starve the
/// build while the log grows.)
const SNAPSHOT_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`SNAPSHOT_NICE`] (on Linux the nice value is
/// per thread); if refused, the thread runs at its inherited priority.
fn lower_this_threads_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), SNAPSHOT_NICE) {
        tracing::debug!("could not lower the snapshot thread's priority: {e}");
    }
}

/// Whether `command` restores a backup: decoding and checking 100,000 peers takes a while
/// (about a second in a release build).
fn replaces_the_state(command: &crate::Command) -> bool {
    matches!(
        command,
        crate::Command::RestoreState { .. } | crate::Command::CommitRestore { .. }
    )
}

/// Runs the long, synchronous `f` so that the tasks queued on this runtime worker (Raft's
/// heartbeats among them) move to another one meanwhile, on a multi-threaded runtime.
fn off_the_runtime<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let started = std::time::Instant::now();
        let Encoded {
            bytes,
            last_applied,
            last_membership,
            copied,
        } = self.encode_in_background().await?;
        let encoded = started.elapsed();
        let counter = self.snapshot_counter.fetch_add(1, Ordering::SeqCst) + 1;
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, counter),
            None => format!("0-0-{counter}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership,
            snapshot_id,
        };
        tracing::info!(
            "built snapshot {meta} ({} bytes) in {:.1} ms, the state copied in {:.2} ms",
            bytes.len(),
            encoded.as_secs_f64() * 1e3,
            copied.as_secs_f64() * 1e3
        );
        let (meta, bytes) = self.persist_snapshot(meta, bytes, true).await?;
        tracing::info!(
            "stored snapshot {} in {:.1} ms",
            meta.snapshot_id,
            (started.elapsed() - encoded).as_secs_f64() * 1e3
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        self.read(|d| (d.last_applied, d.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        // Nothing takes effect before this node's copy is on disk (the leader reports its
        // own appends flushed before they are).
        if let Some(last) = entries.last() {
            self.durability
                .durable_through(last.log_id.index)
                .await
                .map_err(|e| StorageIOError::write_logs(any_error(e)))?;
        }
        self.apply_entries(entries)
    }

    async fn get_snapshot_builder(&mut self) -> StateMachineStore {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let payload = codec::decode_snapshot(&bytes).map_err(|e| {
            StorageError::from(StorageIOError::read_snapshot(
                Some(meta.signature()),
                any_error(e),
            ))
        })?;
        if payload.last_applied != meta.last_log_id
            || payload.last_membership != meta.last_membership
        {
            return Err(snapshot_write_err(
                meta,
                "the received snapshot's data does not match its meta",
            ));
        }
        tracing::info!("installing snapshot {meta}");
        self.persist_snapshot(meta.clone(), bytes, false).await?;
        {
            let mut d = self.write_guard()?;
            *d = StateMachineData {
                last_applied: payload.last_applied,
                last_membership: payload.last_membership,
                state: payload.state,
            };
        }
        self.applied
            .send_replace(meta.last_log_id.map_or(0, |l| l.index));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let db = self.db.clone();
        let stored = blocking(move || read_stored_snapshot(&db)).await?;
        Ok(stored.map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::{BasicNode, CommittedLeaderId, Membership};

    use super::*;
    use crate::store::open;
    use crate::Command;

    /// A snapshot of `sm` now, as openraft has one built.
    async fn build(sm: &mut StateMachineStore) -> Snapshot {
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap()
    }

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    use crate::command::test_token as token;

    fn membership() -> Membership<u64, BasicNode> {
        Membership::new(
            vec![BTreeSet::from([1])],
            BTreeMap::from([(1, BasicNode::new("a:1"))]),
        )
    }

    fn entries() -> Vec<Entry> {
        vec![
            Entry {
                log_id: log_id(1, 0),
                payload: EntryPayload::Membership(membership()),
            },
            Entry {
                log_id: log_id(1, 1),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(1, 2),
                payload: EntryPayload::Normal(token(1)),
            },
            Entry {
                log_id: log_id(1, 3),
                payload: EntryPayload::Normal(token(1)),
            },
        ]
    }

    #[tokio::test]
    async fn apply_answers_every_entry_and_advances_the_applied_index() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, mut sm) = open(dir.path()).unwrap();
        let mut applied = sm.subscribe_applied();
        assert_eq!(*applied.borrow_and_update(), 0);

        let replies = sm.apply(entries()).await.unwrap();
        assert_eq!(replies.len(), 4);
        assert_eq!(replies[0], Ok(Response::Done));
        assert_eq!(replies[1], Ok(Response::Done));
        assert!(matches!(replies[2], Ok(Response::AdminToken(_))));
        assert!(replies[3].is_err(), "a duplicate token is a domain error");

        assert!(applied.has_changed().unwrap());
        assert_eq!(*applied.borrow_and_update(), 3);
        let (last, mem) = sm.applied_state().await.unwrap();
        assert_eq!(last, Some(log_id(1, 3)));
        assert_eq!(mem, StoredMembership::new(Some(log_id(1, 0)), membership()));
        assert_eq!(sm.read(|d| d.state.admin_tokens().count()).unwrap(), 1);
    }

    #[tokio::test]
    async fn an_entry_the_leader_counted_before_its_sync_is_applied_only_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (log, sm) = open(dir.path()).unwrap();
        let durability = log.durability().clone();
        // Entries 0..=1 were synced; 2..=3 were appended, counted at once, not synced yet.
        let seq = durability.record_early(2);
        let mut all = entries();
        let late = all.split_off(2);
        let mut sm1 = sm.clone();
        sm1.apply(all).await.unwrap();
        assert_eq!(*sm.subscribe_applied().borrow(), 1);

        let applying = {
            let mut sm = sm.clone();
            tokio::spawn(async move { sm.apply(late).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!applying.is_finished(), "applied before the leader's sync");
        assert_eq!(*sm.subscribe_applied().borrow(), 1);
        assert_eq!(sm.read(|d| d.state.admin_tokens().count()).unwrap(), 0);

        durability.synced(seq, None);
        let replies = applying.await.unwrap().unwrap();
        assert_eq!(replies.len(), 2);
        assert_eq!(*sm.subscribe_applied().borrow(), 3);
        assert_eq!(sm.read(|d| d.state.admin_tokens().count()).unwrap(), 1);
    }

    #[tokio::test]
    async fn the_last_snapshot_is_loaded_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let (meta, data) = {
            let (_log, mut sm) = open(dir.path()).unwrap();
            sm.apply(entries()).await.unwrap();
            let snap = build(&mut sm).await;
            assert_eq!(snap.meta.snapshot_id, "1-3-1");
            (snap.meta, sm.read(|d| d.clone()).unwrap())
        };
        let (_log, mut sm) = open(dir.path()).unwrap();
        assert_eq!(sm.read(|d| d.clone()).unwrap(), data);
        assert_eq!(*sm.subscribe_applied().borrow(), 3);
        let current = sm
            .get_current_snapshot()
            .await
            .unwrap()
            .expect("a snapshot");
        assert_eq!(current.meta, meta);
        // Ids stay unique across restarts.
        let again = build(&mut sm).await;
        assert_eq!(again.meta.snapshot_id, "1-3-2");
    }

    /// The keys of the snapshot column family, in order.
    fn snapshot_keys(sm: &StateMachineStore) -> Vec<String> {
        let snap = cf(&sm.db, CF_SNAPSHOT).unwrap();
        sm.db
            .iterator_cf(snap, rocksdb::IteratorMode::Start)
            .map(|kv| String::from_utf8_lossy(&kv.unwrap().0).into_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_data_dir_with_the_snapshot_under_the_old_key_loads_and_moves_to_per_snapshot_keys() {
        let dir = tempfile::tempdir().unwrap();
        let data = {
            let (_log, mut sm) = open(dir.path()).unwrap();
            sm.apply(entries()).await.unwrap();
            let snap = build(&mut sm).await;
            assert_eq!(snapshot_keys(&sm), ["data/1-3-1", "meta"]);
            // Rewrite it as builds before per-snapshot keys stored it.
            let bytes = snap.snapshot.into_inner();
            let cf = cf(&sm.db, CF_SNAPSHOT).unwrap();
            sm.db.delete_cf(cf, b"data/1-3-1").unwrap();
            sm.db.put_cf(cf, KEY_SNAPSHOT_DATA_LEGACY, &bytes).unwrap();
            assert_eq!(snapshot_keys(&sm), ["data", "meta"]);
            sm.read(|d| d.clone()).unwrap()
        };
        let (log, mut sm) = open(dir.path()).unwrap();
        assert_eq!(sm.read(|d| d.clone()).unwrap(), data);
        let next = build(&mut sm).await;
        // The new data under its own key; neither the old key nor an earlier snapshot's data
        // is left.
        assert_eq!(
            snapshot_keys(&sm),
            [format!("data/{}", next.meta.snapshot_id), "meta".into()]
        );
        drop((log, sm));
        let (_log, sm) = open(dir.path()).unwrap();
        assert_eq!(sm.read(|d| d.clone()).unwrap(), data);
    }

    #[tokio::test]
    async fn an_older_snapshot_does_not_replace_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, mut sm) = open(dir.path()).unwrap();
        sm.apply(entries()).await.unwrap();
        let newer = build(&mut sm).await;

        let older = SnapshotMeta {
            last_log_id: Some(log_id(1, 1)),
            last_membership: newer.meta.last_membership.clone(),
            snapshot_id: "1-1-9".into(),
        };
        let (kept, _) = sm
            .persist_snapshot(older, b"older".to_vec(), true)
            .await
            .unwrap();
        assert_eq!(kept, newer.meta);
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, newer.meta);
    }

    #[tokio::test]
    async fn install_replaces_the_state_and_rejects_mismatched_meta() {
        let dir_a = tempfile::tempdir().unwrap();
        let (_la, mut a) = open(dir_a.path()).unwrap();
        a.apply(entries()).await.unwrap();
        let snap = build(&mut a).await;

        let dir_b = tempfile::tempdir().unwrap();
        let (_lb, mut b) = open(dir_b.path()).unwrap();
        let mut wrong = snap.meta.clone();
        wrong.last_log_id = Some(log_id(1, 2));
        assert!(b
            .install_snapshot(&wrong, snap.snapshot.clone())
            .await
            .is_err());

        b.install_snapshot(&snap.meta, snap.snapshot.clone())
            .await
            .unwrap();
        assert_eq!(
            b.read(|d| d.clone()).unwrap(),
            a.read(|d| d.clone()).unwrap()
        );
        assert_eq!(*b.subscribe_applied().borrow(), 3);
    }

    #[tokio::test]
    async fn a_snapshot_taken_mid_upload_finishes_the_restore_like_the_log_does() {
        use sha2::Digest;
        let normal = |index: u64, c: Command| Entry {
            log_id: log_id(2, index),
            payload: EntryPayload::Normal(c),
        };
        let mut source = crate::State::new();
        for n in 10..14 {
            crate::apply(&mut source, token(n)).unwrap();
        }
        let backup = codec::encode_snapshot(&None, &Default::default(), &source).unwrap();
        let parts: Vec<&[u8]> = backup.chunks(backup.len() / 3 + 1).collect();
        let stage = |part: usize| Command::StageRestore {
            id: 77,
            part: part as u32,
            bytes: parts[part].to_vec(),
        };

        let dir_a = tempfile::tempdir().unwrap();
        let (_la, mut a) = open(dir_a.path()).unwrap();
        a.apply(entries()).await.unwrap();
        a.apply([normal(4, stage(0)), normal(5, stage(1))])
            .await
            .unwrap();
        let snap = build(&mut a).await;
        assert_eq!(&snap.snapshot.get_ref()[6..8], &4u16.to_be_bytes());

        // A follower installs it; node a restarts from it.
        let dir_b = tempfile::tempdir().unwrap();
        let (_lb, mut b) = open(dir_b.path()).unwrap();
        b.install_snapshot(&snap.meta, snap.snapshot.clone())
            .await
            .unwrap();
        let dir_c = tempfile::tempdir().unwrap();
        std::fs::remove_dir(dir_c.path()).unwrap();
        let (_lc, mut c) = {
            // A copy of a's data dir, reopened: a restart.
            let checkpoint = rocksdb::checkpoint::Checkpoint::new(a.db()).unwrap();
            checkpoint.create_checkpoint(dir_c.path()).unwrap();
            open(dir_c.path()).unwrap()
        };

        let rest = [
            normal(6, stage(2)),
            normal(
                7,
                Command::CommitRestore {
                    id: 77,
                    parts: 3,
                    len: backup.len() as u64,
                    sha256: sha2::Sha256::digest(&backup).into(),
                },
            ),
        ];
        let ra = a.apply(rest.clone()).await.unwrap();
        let rb = b.apply(rest.clone()).await.unwrap();
        let rc = c.apply(rest).await.unwrap();
        assert_eq!(ra, [Ok(Response::Done), Ok(Response::Done)]);
        assert_eq!((&rb, &rc), (&ra, &ra));
        let state = a.read(|d| d.clone()).unwrap();
        assert_eq!(b.read(|d| d.clone()).unwrap(), state);
        assert_eq!(c.read(|d| d.clone()).unwrap(), state);
        assert!(state.state.staged_restore().is_none());
        assert_eq!(
            state.state.admin_tokens().count(),
            5,
            "4 restored + the cluster's"
        );
    }
}

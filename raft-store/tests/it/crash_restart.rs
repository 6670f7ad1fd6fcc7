//! A single-node Raft on the RocksDB store survives crashes: the state after a restart equals
//! the state before it, with and without snapshots and purged logs, with a torn last log
//! entry, and when the process is killed with SIGKILL in the middle of writing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, Config, RaftLogReader, SnapshotPolicy};
use raftwire_api::requests::{CreateNetwork, CreatePeer};
use raftwire_api::{GroupId, NetworkId, PeerId, PolicyId, RuleId, Timestamp};
use raftwire_raft_store::codec::encode_state;
use raftwire_raft_store::store::{self, log::log_key, StateMachineStore, CF_LOGS};
use raftwire_raft_store::types::{Raft, TypeConfig};
use raftwire_raft_store::{Command, NetworkDefaults, PeerSecretsInput, State};
use rocksdb::{IteratorMode, DB};

const NODE: u64 = 1;
const WAIT: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------ a network that is not

/// A single voter never sends an RPC; if it did, the peer is unreachable.
struct NoNetwork;

fn unreachable<E: std::error::Error>() -> RPCError<u64, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(
        "single-node test cluster",
    )))
}

impl RaftNetworkFactory<TypeConfig> for NoNetwork {
    type Network = NoNetwork;
    async fn new_client(&mut self, _target: u64, _node: &BasicNode) -> NoNetwork {
        NoNetwork
    }
}

impl RaftNetwork<TypeConfig> for NoNetwork {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        Err(unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(unreachable())
    }
}

// ------------------------------------------------------------------ deterministic commands

fn network_id() -> NetworkId {
    NetworkId::from_u128(1)
}

/// Command number 0 creates a dual-stack network; command `i > 0` creates peer `p{i}`.
fn command(i: u64) -> Command {
    if i == 0 {
        let spec = CreateNetwork {
            name: Some("crashnet".into()),
            ip_stack_mode: Some("dual".into()),
            ipv4_cidr: Some("10.42.0.0/16".into()),
            ipv6_cidr: Some("fd42::/64".into()),
            ..Default::default()
        }
        .validate()
        .expect("valid network");
        return Command::CreateNetwork {
            id: network_id(),
            at: Timestamp(0),
            spec: spec.into(),
            defaults: NetworkDefaults {
                group_id: GroupId::from_u128(0xA1),
                policy_id: PolicyId::from_u128(0xB1),
                rule_ids: [RuleId::from_u128(0xC1), RuleId::from_u128(0xC2)],
            },
        };
    }
    let spec = CreatePeer {
        name: Some(format!("p{i}")),
        ..Default::default()
    }
    .validate()
    .expect("valid peer");
    Command::CreatePeer {
        network_id: network_id(),
        id: PeerId::from_u128(i as u128),
        at: Timestamp(i),
        spec: spec.into(),
        secrets: PeerSecretsInput::default(),
    }
}

/// The state after commands `0..n`, computed without Raft.
fn expected_state(n: u64) -> State {
    let mut state = State::new();
    for i in 0..n {
        raftwire_raft_store::apply(&mut state, command(i)).expect("command applies");
    }
    state
}

fn state_bytes(sm: &StateMachineStore) -> Vec<u8> {
    sm.read(|d| encode_state(&d.state).expect("state encodes"))
        .expect("state machine readable")
}

// ------------------------------------------------------------------ running a node

fn config(snapshots: Option<u64>) -> Arc<Config> {
    let mut c = Config {
        cluster_name: "crash-test".into(),
        heartbeat_interval: 50,
        election_timeout_min: 150,
        election_timeout_max: 300,
        ..Default::default()
    };
    match snapshots {
        Some(every) => {
            c.snapshot_policy = SnapshotPolicy::LogsSinceLast(every);
            c.max_in_snapshot_log_to_keep = 0;
        }
        None => c.snapshot_policy = SnapshotPolicy::Never,
    }
    Arc::new(c.validate().expect("valid config"))
}

struct Node {
    raft: Raft,
    sm: StateMachineStore,
    db: Weak<DB>,
}

/// Opens the store in `dir` and starts a node on it; initializes a fresh cluster.
async fn start(dir: &Path, snapshots: Option<u64>) -> Node {
    let (log, sm) = store::open(dir).expect("store opens");
    start_on(log, sm, snapshots).await
}

async fn start_on(log: store::LogStore, sm: StateMachineStore, snapshots: Option<u64>) -> Node {
    let db = Arc::downgrade(log.db());
    let raft = Raft::new(NODE, config(snapshots), NoNetwork, log, sm.clone())
        .await
        .expect("raft starts");
    if !raft.is_initialized().await.expect("raft answers") {
        raft.initialize(BTreeMap::from([(NODE, BasicNode::new("127.0.0.1:1"))]))
            .await
            .expect("initialize");
    }
    raft.wait(Some(WAIT))
        .current_leader(NODE, "the single node leads")
        .await
        .expect("leader elected");
    Node { raft, sm, db }
}

impl Node {
    /// Writes command `i`; returns its log index.
    async fn write(&self, i: u64) -> u64 {
        let resp = self
            .raft
            .client_write(command(i))
            .await
            .expect("client_write");
        if let Err(e) = &resp.data {
            panic!("command {i} failed in apply: {e}");
        }
        resp.log_id.index
    }

    /// Drops everything without `shutdown()` and waits until the database is closed.
    async fn crash(self) {
        let Node { raft, sm, db } = self;
        drop(raft);
        drop(sm);
        let deadline = Instant::now() + WAIT;
        while db.strong_count() > 0 {
            assert!(
                Instant::now() < deadline,
                "the dropped node still holds the database"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn wait_applied(&self, index: u64) {
        self.raft
            .wait(Some(WAIT))
            .applied_index_at_least(Some(index), "re-applied after restart")
            .await
            .expect("applied index reached");
    }
}

// ------------------------------------------------------------------ tests

const WRITES: u64 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_crash_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), None).await;
    let mut last = 0;
    for i in 0..WRITES {
        last = node.write(i).await;
    }
    let before = state_bytes(&node.sm);
    assert_eq!(before, encode_state(&expected_state(WRITES)).unwrap());
    node.crash().await;

    let node = start(dir.path(), None).await;
    node.wait_applied(last).await;
    assert_eq!(state_bytes(&node.sm), before, "state after restart differs");
    node.crash().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_crash_after_snapshot_and_purge() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Some(50)).await;
    let mut last = 0;
    for i in 0..WRITES {
        last = node.write(i).await;
    }
    // Snapshots are built every 50 entries and the log is purged up to them.
    let m = node
        .raft
        .wait(Some(WAIT))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index + 50 > last) && m.purged.is_some(),
            "snapshot near the end and purged log",
        )
        .await
        .expect("snapshot and purge happen");
    let snap_index = m.snapshot.expect("snapshot").index;
    // A few writes after the last snapshot: the restart needs snapshot + log replay.
    for i in WRITES..WRITES + 7 {
        last = node.write(i).await;
    }
    let before = state_bytes(&node.sm);
    node.crash().await;

    let (mut log, sm) = store::open(dir.path()).expect("store reopens");
    let loaded = sm
        .last_applied()
        .unwrap()
        .expect("loaded from snapshot")
        .index;
    assert!(
        loaded >= snap_index,
        "loaded {loaded}, snapshot was {snap_index}"
    );
    assert!(
        loaded < last,
        "the tail after the snapshot must come from the log"
    );
    let state = log.get_log_state().await.unwrap();
    let purged = state.last_purged_log_id.expect("log purged").index;
    assert!(
        purged > 0 && purged <= loaded,
        "purged {purged}, snapshot {loaded}"
    );
    assert!(
        log.try_get_log_entries(0..=purged)
            .await
            .unwrap()
            .is_empty(),
        "purged entries are gone"
    );

    let node = start_on(log, sm, Some(50)).await;
    node.wait_applied(last).await;
    assert_eq!(state_bytes(&node.sm), before, "state after restart differs");
    assert_eq!(before, encode_state(&expected_state(WRITES + 7)).unwrap());
    node.crash().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_last_log_entry_is_discarded_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), None).await;
    let mut last = 0;
    for i in 0..WRITES - 1 {
        last = node.write(i).await;
    }
    let before_last_write = state_bytes(&node.sm);
    let torn = node.write(WRITES - 1).await;
    assert_eq!(torn, last + 1);
    node.crash().await;

    // Tear the last entry: keep only the first half of its bytes.
    {
        let db = store::open_db(dir.path()).expect("raw open");
        let logs = db.cf_handle(CF_LOGS).expect("logs cf");
        let (key, value) = db
            .iterator_cf(logs, IteratorMode::End)
            .next()
            .expect("a last entry")
            .expect("readable");
        assert_eq!(&*key, &log_key(torn), "the last entry is the last write");
        db.put_cf(logs, key, &value[..value.len() / 2])
            .expect("overwrite");
    }

    let (mut log, sm) = store::open(dir.path()).expect("store opens despite the torn entry");
    let state = log.get_log_state().await.unwrap();
    assert_eq!(
        state.last_log_id.map(|l| l.index),
        Some(last),
        "torn entry removed"
    );
    assert!(log.try_get_log_entries(torn..).await.unwrap().is_empty());
    let intact = log.try_get_log_entries(0..torn).await.unwrap();
    assert_eq!(
        intact.len() as u64,
        torn,
        "everything before the torn entry is intact"
    );
    assert_eq!(
        log.read_committed().await.unwrap().map(|c| c.index),
        Some(last)
    );

    let node = start_on(log, sm, None).await;
    node.wait_applied(last).await;
    assert_eq!(
        state_bytes(&node.sm),
        before_last_write,
        "the state is the state up to the entry before the torn one"
    );
    // The node keeps working: the index of the torn entry is reused by new entries.
    let next = node.write(WRITES - 1).await;
    assert!(next >= torn);
    assert_eq!(
        state_bytes(&node.sm),
        encode_state(&expected_state(WRITES)).unwrap()
    );
    node.crash().await;
}

// ------------------------------------------------------------------ SIGKILL

const CHILD_DIR_ENV: &str = "RAFTWIRE_CRASH_CHILD_DIR";
const ACKS_BEFORE_KILL: u64 = 120;

/// Helper process for `acknowledged_writes_survive_sigkill`: writes commands forever and
/// prints `acked <i>` after each acknowledged write, until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process of acknowledged_writes_survive_sigkill"]
async fn sigkill_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let node = start(Path::new(&dir), Some(40)).await;
    for i in 0..100_000 {
        node.write(i).await;
        println!("acked {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Process::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_restart::sigkill_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("child stdout");
    let acked = tokio::task::spawn_blocking(move || {
        let mut acked = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("child output");
            if let Some(i) = line.strip_prefix("acked ") {
                let i: u64 = i.trim().parse().expect("ack number");
                acked = Some(i);
                if i + 1 >= ACKS_BEFORE_KILL {
                    break;
                }
            }
        }
        acked
    });
    let acked = tokio::time::timeout(Duration::from_secs(120), acked)
        .await
        .expect("child acknowledged writes in time")
        .unwrap()
        .expect("child acknowledged writes");
    // SIGKILL while it keeps writing: no destructor, no RocksDB close.
    child.kill().expect("kill child");
    child.wait().expect("reap child");

    let node = start(dir.path(), Some(40)).await;
    // The new leader's blank entry commits whatever the log holds; wait until it is applied.
    node.raft
        .wait(Some(WAIT))
        .metrics(
            |m| {
                m.last_applied
                    .is_some_and(|l| l.leader_id.term == m.current_term)
                    && m.last_applied.map(|l| l.index) == m.last_log_index
            },
            "the whole log is applied",
        )
        .await
        .expect("caught up");
    let commands = node
        .sm
        .read(|d| {
            d.state
                .network(network_id())
                .map_or(0, |n| n.peers.len() as u64 + 1)
        })
        .unwrap();
    eprintln!(
        "acknowledged {} writes before SIGKILL; {commands} survived",
        acked + 1
    );
    assert!(
        commands > acked,
        "acknowledged write {acked} was lost: only {commands} commands survived"
    );
    assert_eq!(
        state_bytes(&node.sm),
        encode_state(&expected_state(commands)).unwrap(),
        "the recovered state is exactly a prefix of the written commands"
    );
    node.crash().await;
}

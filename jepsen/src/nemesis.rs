//! Faults, each injected for a while and then healed:
//!
//! | name | fault |
//! |---|---|
//! | `partition-halves` | the nodes cut into two random halves |
//! | `partition-leader` | the leader cut off from every other node |
//! | `partition-majority` | a random minority cut off from the majority (the leader's side at random) |
//! | `bridge` | two halves that cannot see each other, and one node that sees both |
//! | `one-way` | a random node hears nobody, while everybody still hears it |
//! | `kill` / `kill-leader` | SIGKILL of a random node / the leader, restarted at heal |
//! | `pause` | SIGSTOP of a random node or the leader, SIGCONT at heal |
//! | `slow` | `tc netem` delay on a node's underlay link; where the kernel has no netem, the node's process paused 200 ms of every 300 ms instead |
//! | `membership` | a non-leader removed from the cluster, its data wiped, re-added as a learner through `--join` and promoted |
//!
//! `all` picks at random among them; a list (`kill,pause`) takes them in turn.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use tokio::sync::Mutex;

use raftwire_tests::probe::poll_async;

use crate::cluster::{url, Cluster};
use crate::history::Recorder;
use crate::workload::{Api, Reply};

pub const ALL: [&str; 10] = [
    "partition-halves",
    "partition-leader",
    "partition-majority",
    "bridge",
    "one-way",
    "kill",
    "kill-leader",
    "pause",
    "slow",
    "membership",
];

/// A fault as `results.json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub kind: String,
    pub detail: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// `false` when it could not be injected (said why in `detail`).
    pub injected: bool,
}

/// What is to be undone at heal.
enum Undo {
    Network,
    Restart(u64),
    Resume(u64),
    Undelay(u64),
    /// The duty-cycle task pausing the node, and the node.
    Slowed(tokio::task::JoinHandle<()>, u64),
    Nothing,
}

/// The leader as any node sees it.
pub async fn leader(api: &Api, nodes: &[u64]) -> Option<u64> {
    for n in nodes {
        if let Reply::Answer(200, v) = api.get(*n, "/cluster").await {
            if let Some(l) = v["leader_id"].as_u64() {
                return Some(l);
            }
        }
    }
    None
}

fn shuffled(ids: &[u64]) -> Vec<u64> {
    let mut v = ids.to_vec();
    fastrand::shuffle(&mut v);
    v
}

fn set(ids: &[u64]) -> BTreeSet<u64> {
    ids.iter().copied().collect()
}

/// Injects `kind`; returns what it did and how to undo it.
async fn inject(kind: &str, cluster: &Mutex<Cluster>, api: &Api) -> anyhow::Result<(String, Undo)> {
    let mut c = cluster.lock().await;
    let ids = c.ids();
    let leader = leader(api, &ids).await;
    let random = ids[fastrand::usize(..ids.len())];
    let n = ids.len();
    Ok(match kind {
        "partition-halves" => {
            let s = shuffled(&ids);
            let (a, b) = s.split_at(n / 2);
            c.partition(&[set(a), set(b)])?;
            (format!("{a:?} | {b:?}"), Undo::Network)
        }
        "partition-leader" => {
            let l = leader.unwrap_or(random);
            let rest: Vec<u64> = ids.iter().copied().filter(|i| *i != l).collect();
            c.partition(&[set(&[l]), set(&rest)])?;
            (format!("leader {l} | {rest:?}"), Undo::Network)
        }
        "partition-majority" => {
            // The minority holds the leader half of the time.
            let mut s = shuffled(&ids);
            if let (Some(l), true) = (leader, fastrand::bool()) {
                s.retain(|i| *i != l);
                s.insert(0, l);
            }
            let (minority, majority) = s.split_at((n - 1) / 2);
            c.partition(&[set(minority), set(majority)])?;
            (
                format!("minority {minority:?} | majority {majority:?}"),
                Undo::Network,
            )
        }
        "bridge" => {
            let s = shuffled(&ids);
            let (b, rest) = s.split_first().ok_or_else(|| anyhow::anyhow!("no nodes"))?;
            let (x, y) = rest.split_at(rest.len() / 2);
            let mut left = set(x);
            left.insert(*b);
            let mut right = set(y);
            right.insert(*b);
            c.partition(&[left, right])?;
            (format!("{x:?} | {y:?}, node {b} sees both"), Undo::Network)
        }
        "one-way" => {
            c.drop_from(random, &set(&ids))?;
            (
                format!("node {random} hears nobody; all hear it"),
                Undo::Network,
            )
        }
        "kill" | "kill-leader" => {
            let v = if kind == "kill" {
                random
            } else {
                leader.unwrap_or(random)
            };
            c.kill(v);
            (format!("SIGKILL node {v}"), Undo::Restart(v))
        }
        "pause" => {
            let v = if fastrand::bool() {
                leader.unwrap_or(random)
            } else {
                random
            };
            c.signal(v, "STOP");
            (format!("SIGSTOP node {v}"), Undo::Resume(v))
        }
        "slow" => {
            if c.delay(random, 150) {
                (
                    format!("netem delay 150±75 ms on node {random}'s link"),
                    Undo::Undelay(random),
                )
            } else {
                let pid = c.node(random).proc.as_ref().and_then(|p| p.pid());
                let task = tokio::spawn(async move {
                    let Some(pid) = pid else { return };
                    loop {
                        signal_pid(pid, "STOP");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        signal_pid(pid, "CONT");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
                (
                    format!("no netem in this kernel: node {random} paused 200 ms of every 300 ms"),
                    Undo::Slowed(task, random),
                )
            }
        }
        "membership" => {
            let Some(l) = leader else {
                return Ok(("no leader: nothing removed".into(), Undo::Nothing));
            };
            let victims: Vec<u64> = ids.iter().copied().filter(|i| *i != l).collect();
            let v = victims[fastrand::usize(..victims.len())];
            drop(c);
            api.until_ok(
                &[l],
                Method::DELETE,
                &format!("/cluster/members/{v}"),
                None,
                None,
                Duration::from_secs(10),
            )
            .await?;
            let mut c = cluster.lock().await;
            c.kill(v);
            c.wipe(v)?;
            c.spawn(v, Some(&url(l)));
            (
                format!("node {v} removed, wiped, re-joining via node {l}"),
                Undo::Nothing,
            )
        }
        other => anyhow::bail!("unknown nemesis {other}"),
    })
}

fn signal_pid(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

async fn heal(undo: Undo, cluster: &Mutex<Cluster>) -> anyhow::Result<()> {
    let mut c = cluster.lock().await;
    match undo {
        Undo::Network => c.heal_network()?,
        Undo::Restart(v) => c.spawn(v, None),
        Undo::Resume(v) => c.signal(v, "CONT"),
        Undo::Undelay(v) => c.undelay(v),
        Undo::Slowed(task, v) => {
            task.abort();
            let _ = task.await;
            c.signal(v, "CONT");
        }
        Undo::Nothing => {}
    }
    Ok(())
}

/// How the faults are scheduled.
pub struct Schedule {
    pub kinds: Vec<String>,
    /// At random among `kinds`, else in turn.
    pub random: bool,
    /// Recorder time (ns) after which no fault starts that would outlast it.
    pub until: u64,
    /// How long each fault lasts.
    pub hold: Duration,
    /// Calm before the first fault and between faults.
    pub quiet: Duration,
}

/// Injects faults as `schedule` says; every fault is healed before it returns.
pub async fn run(
    schedule: Schedule,
    cluster: &Mutex<Cluster>,
    api: &Api,
    rec: &Recorder,
) -> Vec<Fault> {
    let Schedule {
        kinds,
        random,
        until,
        hold,
        quiet,
    } = schedule;
    let mut faults = Vec::new();
    let mut turn = 0;
    tokio::time::sleep(quiet).await;
    while rec.now() + hold.as_nanos() as u64 <= until && !kinds.is_empty() {
        let kind = if random {
            kinds[fastrand::usize(..kinds.len())].clone()
        } else {
            kinds[turn % kinds.len()].clone()
        };
        turn += 1;
        let start_ns = rec.now();
        let (detail, undo, injected) = match inject(&kind, cluster, api).await {
            Ok((d, u)) => (d, u, true),
            Err(e) => (format!("not injected: {e:#}"), Undo::Nothing, false),
        };
        eprintln!("nemesis: {kind}: {detail}");
        tokio::time::sleep(hold).await;
        let healed = heal(undo, cluster).await;
        let detail = match healed {
            Ok(()) => detail,
            Err(e) => format!("{detail}; heal failed: {e:#}"),
        };
        faults.push(Fault {
            kind,
            detail,
            start_ns,
            end_ns: rec.now(),
            injected,
        });
        tokio::time::sleep(quiet).await;
    }
    faults
}

/// Heals everything there could be (a last safety net), then waits until every node is
/// ready and a voter again, and all have applied the same index.
pub async fn recover(cluster: &Mutex<Cluster>, api: &Api, limit: Duration) -> anyhow::Result<u64> {
    let ids = {
        let c = cluster.lock().await;
        c.heal_network()?;
        for id in c.ids() {
            c.signal(id, "CONT");
            c.undelay(id);
        }
        c.ids()
    };
    let api = api.clone();
    poll_async(limit, || {
        let api = api.clone();
        let ids = ids.clone();
        async move {
            let mut applied = BTreeSet::new();
            for id in &ids {
                let Reply::Answer(200, v) = api.get(*id, "/cluster").await else {
                    return None;
                };
                let voters = v["members"]
                    .as_array()?
                    .iter()
                    .filter(|m| m["voter"] == true)
                    .count();
                if voters != ids.len() || v["leader_id"].is_null() {
                    return None;
                }
                applied.insert((v["last_applied"].as_u64()?, v["commit_index"].as_u64()?));
            }
            // Everyone applied what everyone knows to be committed.
            (applied.len() == 1)
                .then(|| applied.first().map(|a| a.0))
                .flatten()
        }
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("the cluster did not recover within {limit:?}"))
}

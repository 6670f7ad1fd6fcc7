//! W4: a large state. In process: the throughput of `apply` filling an IPv6 /64 network
//! with peers, and the snapshot of that state (size, encode and decode time). Through a
//! 3-node cluster of real processes: the write rate on the empty network and at the full
//! size, the latency of writes in flight while a node built a snapshot, resident memory per
//! peer (from `/proc`), and the restart time of a SIGKILLed node holding the state.

use std::time::{Duration, Instant, SystemTime};

use raftwire_api::requests::{CreateNetwork, CreatePeer};
use raftwire_api::{GroupId, NetworkId, PeerId, PolicyId, RuleId, Timestamp};
use raftwire_raft_store::types::{LogId, StoredMembership};
use raftwire_raft_store::{codec, Command, NetworkDefaults, PeerSecretsInput, State};
use serde_json::json;

use crate::load::{self, Run, Until};
use crate::procs::dir_size;
use crate::raftwire::{Cluster, PeerTarget};
use crate::report::Section;
use crate::stats::{bytes, ms, ratio, secs, Latencies};
use crate::Params;

const NETWORK_V6: &str = "fd64::/64";
/// Clients of the rate measurements (empty and full) and of the fill.
const RATE_CLIENTS: usize = 16;
const FILL_CLIENTS: usize = 64;

pub async fn run(p: Params) -> anyhow::Result<Section> {
    let peers = p.w4_peers;
    let mut s = Section::new(
        "W4",
        "a large state: an IPv6 /64 network with many peers",
        &["measure", "value", "goal"],
    );
    s.params.push(format!(
        "an IPv6-only network {NETWORK_V6} filled to {peers} peers; rates with {RATE_CLIENTS} clients for {:.0} s each, the fill with {FILL_CLIENTS}",
        p.w4_duration.as_secs_f64()
    ));

    let local = tokio::task::spawn_blocking(move || in_process(peers)).await??;
    s.row(vec![
        format!("`apply` throughput, {peers} peer creations in process"),
        format!("{:.0} /s", local.apply_rate),
        "–".into(),
    ]);
    s.row(vec![
        format!("snapshot of {peers} peers: size"),
        bytes(local.snapshot_len as u64),
        "–".into(),
    ]);
    s.row(vec![
        "snapshot: copy of the state / encode (build) / decode".into(),
        format!(
            "{} / {} / {}",
            ms(local.clone),
            ms(local.encode),
            ms(local.decode)
        ),
        "off the write path".into(),
    ]);

    let (fill, churn) = tokio::task::spawn_blocking(million_addresses).await??;
    s.row(vec![
        format!("IPAM: {MILLION} addresses allocated in one /64 pool"),
        format!(
            "{} ({:.1} M/s)",
            ms(fill),
            MILLION as f64 / fill.as_secs_f64() / 1e6
        ),
        "–".into(),
    ]);
    s.row(vec![
        format!("IPAM at {MILLION}: every 10th address released, then as many allocated again (holes first)"),
        ms(churn),
        "–".into(),
    ]);

    let mut cluster = Cluster::start(3).await?;
    let network = cluster
        .create_network(json!({"name": "w4", "ip_stack_mode": "ipv6", "ipv6_cidr": NETWORK_V6}))
        .await?;
    let leader = cluster.leader().await?;
    let follower = cluster.other_than(leader)?;
    let rss_leader_empty = cluster.rss(leader)?;
    let rss_follower_empty = cluster.rss(follower)?;
    let target = |prefix: &str| -> anyhow::Result<PeerTarget> {
        Ok(PeerTarget {
            base: cluster.base(leader)?,
            token: cluster.token.clone(),
            network: network.clone(),
            prefix: prefix.into(),
        })
    };
    let create = |t: PeerTarget| {
        move |http: reqwest::Client, n: usize| {
            let t = t.clone();
            async move { t.create(&http, n).await }
        }
    };

    // Warm connections and caches first, so the empty rate is not a cold start.
    let warm = load::run(
        RATE_CLIENTS,
        Until::Requests(20 * RATE_CLIENTS),
        create(target("w")?),
    )
    .await?;
    let measured_from = SystemTime::now();
    let empty = load::run(
        RATE_CLIENTS,
        Until::Elapsed(p.w4_duration),
        create(target("e")?),
    )
    .await?;
    let fill = load::run(
        FILL_CLIENTS,
        Until::Requests(peers.saturating_sub(warm.ok() + empty.ok())),
        create(target("f")?),
    )
    .await?;
    let full = load::run(
        RATE_CLIENTS,
        Until::Elapsed(p.w4_duration),
        create(target("g")?),
    )
    .await?;
    let filled = warm.ok() + empty.ok() + fill.ok();
    let total = filled + full.ok();
    for (what, run) in [("empty", &empty), ("fill", &fill), ("full", &full)] {
        if run.errors() > 0 {
            s.notes.push(format!(
                "{what} run: {} failed writes, first: {}",
                run.errors(),
                run.first_error.as_deref().unwrap_or("?")
            ));
        }
    }
    let (el, fl) = (empty.latencies(), full.latencies());
    s.row(vec![
        "write rate, empty network: creations/s (p50 / p99 / p99.9)".into(),
        format!(
            "{:.0} ({} / {} / {})",
            empty.rate(),
            ms(el.p50()),
            ms(el.p99()),
            ms(el.p999())
        ),
        "–".into(),
    ]);
    s.row(vec![
        format!("fill to {filled} peers, {FILL_CLIENTS} clients: creations/s"),
        format!("{:.0} in {}", fill.rate(), secs(fill.elapsed)),
        "–".into(),
    ]);
    s.row(vec![
        format!("write rate from {filled} to {total} peers (p50 / p99 / p99.9)"),
        format!(
            "{:.0} ({} / {} / {})",
            full.rate(),
            ms(fl.p50()),
            ms(fl.p99()),
            ms(fl.p999())
        ),
        "–".into(),
    ]);
    s.row(vec![
        "rate at full size / rate empty".into(),
        ratio(full.rate(), empty.rate()),
        "≥ 0.80".into(),
    ]);

    let log = cluster.log(leader)?;
    let builds = snapshot_builds(&log, measured_from);
    let during = in_flight(&[&empty, &fill, &full], &builds);
    let last_size = builds.last().map(|b| b.size).unwrap_or(0);
    s.row(vec![
        format!(
            "writes in flight while the leader encoded one of its {} snapshots (p50 / p99 / max)",
            builds.len()
        ),
        if during.len() == 0 {
            "none overlapped".into()
        } else {
            format!(
                "{} writes ({} / {} / {})",
                during.len(),
                ms(during.p50()),
                ms(during.p99()),
                ms(during.max())
            )
        },
        "no stall".into(),
    ]);
    s.row(vec![
        "the leader's last snapshot / its data directory".into(),
        format!(
            "{} / {}",
            bytes(last_size as u64),
            bytes(dir_size(&cluster.node(leader)?.data))
        ),
        "–".into(),
    ]);

    let per_peer =
        |now: u64, before: u64| (now.saturating_sub(before)) as f64 / total.max(1) as f64;
    let leader_pp = per_peer(cluster.rss(leader)?, rss_leader_empty);
    let follower_pp = per_peer(cluster.rss(follower)?, rss_follower_empty);
    cluster.kill(follower)?;
    let restart = cluster.restart(follower).await?;
    let restarted_pp = per_peer(cluster.rss(follower)?, rss_follower_empty);
    s.row(vec![
        "resident memory per peer: leader / follower live / follower after restart".into(),
        format!(
            "{:.2} / {:.2} / {:.2} KiB",
            leader_pp / 1024.0,
            follower_pp / 1024.0,
            restarted_pp / 1024.0
        ),
        "< 2 KiB".into(),
    ]);
    s.row(vec![
        format!("restart of a SIGKILLed follower holding {total} peers, until ready"),
        secs(restart),
        "< 3 s".into(),
    ]);
    s.notes.push(
        "Memory per peer is the growth of VmRSS over the node's own after the network was created, divided by the peers. \
         A write \"in flight while a snapshot was encoded\" was in flight at some moment between the start and the end of the encoding the leader logged (on a thread of its own at a lowered priority, while applies go on)."
            .into(),
    );
    s.notes.push(
        "The 1,000,000 addresses are allocated in one /64 pool in process (the IPAM rows): 1,000,000 peers through the cluster would need several GiB per node at the memory per peer measured (three nodes and the bench on one machine). IPv6 allocation never enumerates the /64 (a property tested in the api crate).".into(),
    );
    Ok(s)
}

struct Local {
    apply_rate: f64,
    snapshot_len: usize,
    clone: Duration,
    encode: Duration,
    decode: Duration,
}

/// Applies a network and `peers` peer creations to a fresh state, then encodes and decodes
/// its snapshot.
/// Addresses in the IPAM case: the "1,000,000 addresses in a /64" of the workload.
const MILLION: usize = 1_000_000;

/// One IPv6 /64 pool: how long `MILLION` allocations take, and how long releasing every
/// 10th address and allocating as many again take (the allocator fills the holes first).
fn million_addresses() -> anyhow::Result<(Duration, Duration)> {
    use raftwire_api::ipam::AddressPool;
    let mut pool = AddressPool::new(NETWORK_V6.parse()?);
    let t = Instant::now();
    let mut addrs = Vec::with_capacity(MILLION);
    for _ in 0..MILLION {
        addrs.push(pool.allocate().map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    let fill = t.elapsed();
    let t = Instant::now();
    for a in addrs.iter().step_by(10) {
        pool.release(*a).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    for _ in addrs.iter().step_by(10) {
        pool.allocate().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let churn = t.elapsed();
    anyhow::ensure!(
        pool.allocated() == MILLION as u128,
        "the pool holds {} addresses, not {MILLION}",
        pool.allocated()
    );
    Ok((fill, churn))
}

fn in_process(peers: usize) -> anyhow::Result<Local> {
    let mut state = State::new();
    let network = NetworkId::from_u128(1);
    let req: CreateNetwork = serde_json::from_value(
        json!({"name": "w4", "ip_stack_mode": "ipv6", "ipv6_cidr": NETWORK_V6}),
    )?;
    let spec = req.validate().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let create = Command::CreateNetwork {
        id: network,
        at: Timestamp(1),
        spec: spec.into(),
        defaults: NetworkDefaults {
            group_id: GroupId::from_u128(2),
            policy_id: PolicyId::from_u128(3),
            rule_ids: [RuleId::from_u128(4), RuleId::from_u128(5)],
        },
    };
    raftwire_raft_store::apply_entry(&mut state, create, 1)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let commands = (0..peers)
        .map(|i| {
            let req: CreatePeer = serde_json::from_value(json!({
                "name": format!("p{i}"),
                "public_key": raftwire_api::testkit::test_key(i as u128 + 1),
            }))?;
            let spec = req.validate().map_err(|e| anyhow::anyhow!("{e:?}"))?;
            Ok(Command::CreatePeer {
                network_id: network,
                id: PeerId::from_u128(0x1000 + i as u128),
                at: Timestamp(2),
                spec: spec.into(),
                secrets: PeerSecretsInput::default(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = Instant::now();
    for (i, c) in commands.into_iter().enumerate() {
        raftwire_raft_store::apply_entry(&mut state, c, i as u64 + 2)
            .map_err(|e| anyhow::anyhow!("peer {i}: {e:?}"))?;
    }
    let apply = start.elapsed();
    let start = Instant::now();
    let copy = state.clone();
    let clone = start.elapsed();
    drop(copy);
    let last = LogId::new(openraft::CommittedLeaderId::new(1, 1), peers as u64 + 1);
    let start = Instant::now();
    let bytes = codec::encode_snapshot(&Some(last), &StoredMembership::default(), &state)?;
    let encode = start.elapsed();
    let start = Instant::now();
    let decoded = codec::decode_snapshot(&bytes)?;
    let decode = start.elapsed();
    drop(decoded);
    Ok(Local {
        apply_rate: peers as f64 / apply.as_secs_f64().max(1e-9),
        snapshot_len: bytes.len(),
        clone,
        encode,
        decode,
    })
}

/// A snapshot the node built: when encoding began and ended, and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Build {
    started: SystemTime,
    finished: SystemTime,
    size: usize,
}

/// The snapshots the node logged as built ("built snapshot … (N bytes) in X ms") after
/// `from`; the log line is written when encoding ends, and X is how long it took.
fn snapshot_builds(log: &str, from: SystemTime) -> Vec<Build> {
    log.lines()
        .filter(|l| l.contains("built snapshot"))
        .filter_map(|l| {
            let finished = humantime::parse_rfc3339(l.split_whitespace().next()?).ok()?;
            let (before, after) = l.split_once(" bytes) in ")?;
            let size = before.rsplit_once('(')?.1.parse().ok()?;
            let took: f64 = after.split_whitespace().next()?.parse().ok()?;
            let started = finished.checked_sub(Duration::from_secs_f64(took / 1e3))?;
            Some(Build {
                started,
                finished,
                size,
            })
        })
        .filter(|b| b.started >= from)
        .collect()
}

/// Latencies of the successful writes in flight at some moment while one of `builds` was
/// being encoded.
fn in_flight(runs: &[&Run], builds: &[Build]) -> Latencies {
    Latencies::new(
        runs.iter()
            .flat_map(|r| r.samples.iter())
            .filter(|s| {
                s.ok && builds
                    .iter()
                    .any(|b| s.sent <= b.finished && b.started <= s.sent + s.took)
            })
            .map(|s| s.took)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_builds_are_read_from_the_node_log_after_a_moment() {
        let log = "2025-12-01T21:38:25.123456Z  INFO raftwire_raft_store::store::state_machine: built snapshot {snapshot_id: 1-10000-1, last_log:T1-N1-10000, last_membership: {log_id:T1-N1-8, {voters:[{1:Basic}]}}} (1234 bytes) in 20.0 ms, the state copied in 0.01 ms\n\
                   2025-12-01T21:38:27.000000Z  INFO raftwire_node: other line\n\
                   2025-12-01T21:39:00.5Z  INFO raftwire_raft_store::store::state_machine: built snapshot {snapshot_id: 1-20000-2} (99 bytes) in 250.0 ms, the state copied in 0.01 ms\n";
        let from = humantime::parse_rfc3339("2025-12-01T21:38:30Z").expect("time");
        let builds = snapshot_builds(log, from);
        assert_eq!(
            builds,
            vec![Build {
                started: humantime::parse_rfc3339("2025-12-01T21:39:00.25Z").expect("time"),
                finished: humantime::parse_rfc3339("2025-12-01T21:39:00.5Z").expect("time"),
                size: 99,
            }]
        );
        assert_eq!(snapshot_builds(log, SystemTime::UNIX_EPOCH).len(), 2);
    }
}

//! `apply` throughput and snapshot cost at 100,000 peers (issue 3's speed goals):
//! - creating peers in one dual-stack network growing to 100,000, without Raft;
//! - encoding and decoding a snapshot of that state, and a write right after the copy a
//!   snapshot takes.
//!
//! Run: `cargo bench -p raftwire-raft-store --bench apply`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use raftwire_api::requests::CreateNetwork;
use raftwire_api::*;
use raftwire_raft_store::command::payload::PeerSpec;
use raftwire_raft_store::*;

const PEERS: u128 = 100_000;

fn network_cmd() -> Command {
    let spec = CreateNetwork {
        name: Some("bench".into()),
        ip_stack_mode: Some("dual".into()),
        ipv4_cidr: Some("10.0.0.0/8".into()),
        ipv6_cidr: Some("fd00::/64".into()),
        ..Default::default()
    }
    .validate()
    .expect("valid");
    Command::CreateNetwork {
        id: NetworkId::from_u128(1),
        at: Timestamp(1),
        spec: spec.into(),
        defaults: NetworkDefaults {
            group_id: GroupId::from_u128(1),
            policy_id: PolicyId::from_u128(1),
            rule_ids: [RuleId::from_u128(1), RuleId::from_u128(2)],
        },
    }
}

fn peer_cmd(i: u128) -> Command {
    Command::CreatePeer {
        network_id: NetworkId::from_u128(1),
        id: PeerId::from_u128(1_000 + i),
        at: Timestamp(i as u64),
        spec: PeerSpec {
            name: format!("peer-{i}"),
            is_jump: false,
            use_agent: true,
            ipv4_address: None,
            ipv6_address: None,
            public_key: Some(raftwire_api::testkit::test_key(i)),
            endpoint: None,
            listen_port: None,
            additional_allowed_ips: vec![],
            group_ids: None,
            ipv6_nat: false,
        },
        secrets: PeerSecretsInput {
            generated_keypair: None,
            agent_token_hash: Some(format!("{i:064x}")),
        },
    }
}

fn state_with_peers(n: u128) -> State {
    let mut s = State::new();
    apply(&mut s, network_cmd()).expect("network");
    for i in 0..n {
        apply(&mut s, peer_cmd(i)).expect("peer");
    }
    s
}

fn bench_apply(c: &mut Criterion) {
    let mut g = c.benchmark_group("apply");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(PEERS as u64));
    let cmds: Vec<Command> = (0..PEERS).map(peer_cmd).collect();
    g.bench_function("create_100k_peers_dual_stack", |b| {
        b.iter_batched(
            || {
                let mut s = State::new();
                apply(&mut s, network_cmd()).expect("network");
                (s, cmds.clone())
            },
            |(mut s, cmds)| {
                for c in cmds {
                    apply(&mut s, c).expect("peer");
                }
                s
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_snapshot(c: &mut Criterion) {
    let state = state_with_peers(PEERS);
    let bytes = bincode::serde::encode_to_vec(&state, bincode::config::standard()).expect("encode");
    eprintln!(
        "snapshot of {PEERS} peers: {} bytes ({} per peer)",
        bytes.len(),
        bytes.len() as u128 / PEERS
    );
    let mut g = c.benchmark_group("snapshot_100k_peers");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.bench_function("build", |b| {
        b.iter(|| {
            bincode::serde::encode_to_vec(&state, bincode::config::standard()).expect("encode")
        })
    });
    // A snapshot copies the state and encodes the copy while writes go on: the first write
    // after the copy pays for whatever the copy shares (with persistent trees, its path).
    g.bench_function("copy_then_first_write", |b| {
        let mut s = state.clone();
        let mut i = PEERS;
        b.iter(|| {
            let copy = s.clone();
            i += 1;
            apply(&mut s, peer_cmd(i)).expect("peer");
            copy
        })
    });
    g.bench_function("load", |b| {
        b.iter(|| {
            let (s, _): (State, usize) =
                bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
                    .expect("decode");
            s
        })
    });
    g.finish();
}

criterion_group!(benches, bench_apply, bench_snapshot);
criterion_main!(benches);

//! WireGuard config derivation in a large network: the jump of a dual-stack network with
//! 10,000 peers must get its structured config and wg-quick text in well under 10 ms
//! (O(peers + routes), no pairwise prefix comparison).
//!
//! The network is built once, outside the timed loop: 1 jump (with an endpoint and a few
//! routes) and 10,000 regular peers, every 10th with a site-to-site subnet behind it.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use raftwire_api::endpoint::Endpoint;
use raftwire_api::testkit::Builder;
use raftwire_api::view::NetworkData;
use raftwire_api::wireguard::{peer_config, render_wg_quick};
use raftwire_api::{IpStackMode, PeerId};

const PEERS: usize = 10_000;

fn network() -> (NetworkData, PeerId, PeerId) {
    let mut b = Builder::new(
        "bench",
        IpStackMode::Dual,
        Some("10.0.0.0/16"),
        Some("fd00::/64"),
    );
    let jump = b.jump("jump");
    b.peer_mut(jump).endpoint = Some(Endpoint::parse("[2001:db8::1]:51820").expect("endpoint"));
    for (i, cidr) in ["192.168.10.0/24", "2001:db8:10::/48", "172.16.0.0/12"]
        .into_iter()
        .enumerate()
    {
        let r = b.route(&format!("r{i}"), cidr, jump);
        b.attach_route(b.default_group(), r);
    }
    let mut regular = jump;
    for i in 0..PEERS {
        let p = b.peer(&format!("p{i}"));
        if i % 10 == 0 {
            let site = format!("10.{}.{}.0/24", 100 + i / 2560, (i / 10) % 256);
            b.peer_mut(p).additional_allowed_ips = vec![site.parse().expect("site")];
        }
        if i == PEERS / 2 {
            regular = p;
        }
    }
    (b.build(), jump, regular)
}

fn bench(c: &mut Criterion) {
    let (data, jump, regular) = network();
    let view = data.view();
    let idx = view.index();
    let mut group = c.benchmark_group("wireguard_10k_peers");

    // Sanity outside the timed loop: every peer has a section in the jump's config.
    let cfg = peer_config(&view, &idx, jump).expect("jump in view");
    assert_eq!(cfg.peers.len(), PEERS);

    group.bench_function("jump_config_and_render", |b| {
        b.iter(|| {
            let cfg = peer_config(&view, &idx, black_box(jump)).expect("jump in view");
            black_box(render_wg_quick(&cfg, None))
        })
    });

    group.bench_function("jump_config_only", |b| {
        b.iter(|| peer_config(&view, &idx, black_box(jump)).expect("jump in view"))
    });

    group.bench_function("jump_render_only", |b| {
        b.iter(|| black_box(render_wg_quick(black_box(&cfg), None)))
    });

    group.bench_function("jump_index_config_and_render", |b| {
        b.iter(|| {
            let idx = view.index();
            let cfg = peer_config(&view, &idx, black_box(jump)).expect("jump in view");
            black_box(render_wg_quick(&cfg, None))
        })
    });

    group.bench_function("regular_peer_config_and_render", |b| {
        b.iter(|| {
            let cfg = peer_config(&view, &idx, black_box(regular)).expect("peer in view");
            black_box(render_wg_quick(&cfg, None))
        })
    });

    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! IPAM cost with a large, fragmented pool: every timed operation must stay O(log n)
//! (target: well under 5 µs) however big the prefix and however many addresses are held.
//!
//! Each pool holds 1,000,000 allocations and then releases every 7th address, leaving
//! ~142,857 holes (and as many intervals). It is built once, outside the timed loop; every
//! timed iteration restores the state it found.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use ipnet::IpNet;
use raftwire_api::ipam::AddressPool;

const ALLOCATIONS: usize = 1_000_000;
const HOLE_EVERY: usize = 7;

/// A pool of `prefix` with `ALLOCATIONS` addresses allocated and every `HOLE_EVERY`-th
/// released again. Returns the pool and an allocated address in the middle.
fn fragmented_pool(prefix: &str) -> (AddressPool, IpAddr) {
    let prefix: IpNet = prefix.parse().expect("bench prefix");
    let mut pool = AddressPool::new(prefix);
    let addrs: Vec<IpAddr> = (0..ALLOCATIONS)
        .map(|_| pool.allocate().expect("pool large enough"))
        .collect();
    for addr in addrs.iter().step_by(HOLE_EVERY) {
        pool.release(*addr).expect("allocated");
    }
    // ALLOCATIONS / 2 + 1 is not a multiple of HOLE_EVERY, so it is still allocated.
    let middle = addrs[ALLOCATIONS / 2 + 1];
    assert!(pool.is_allocated(middle));
    (pool, middle)
}

fn bench_pool(c: &mut Criterion, name: &str, prefix: &str) {
    let (mut pool, middle) = fragmented_pool(prefix);
    let before = pool.clone();
    let mut group = c.benchmark_group(name);

    // The lowest free address is the first hole; allocate it and give it back.
    group.bench_function("allocate_then_release_lowest_hole", |b| {
        b.iter(|| {
            let addr = pool.allocate().expect("free");
            pool.release(black_box(addr)).expect("allocated");
        })
    });

    // Splits the interval holding `middle`, then merges it back.
    group.bench_function("release_then_claim_middle", |b| {
        b.iter(|| {
            pool.release(black_box(middle)).expect("allocated");
            pool.claim(black_box(middle)).expect("free");
        })
    });

    group.bench_function("is_allocated_middle", |b| {
        b.iter(|| black_box(pool.is_allocated(black_box(middle))))
    });

    group.finish();
    assert_eq!(
        pool, before,
        "benchmarks must leave the pool as they found it"
    );
}

fn ipam(c: &mut Criterion) {
    bench_pool(c, "ipam_ipv6_slash64_1m_with_holes", "fd00:1:2:3::/64");
    bench_pool(c, "ipam_ipv4_slash8_1m_with_holes", "10.0.0.0/8");
}

criterion_group!(benches, ipam);
criterion_main!(benches);

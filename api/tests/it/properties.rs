//! Property tests of the pure domain core, named after the properties of `docs/properties.md`.
//!
//! Expected outcomes are computed independently of the code under test (prefix bounds,
//! host bits and containment are recomputed with plain integer masks).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use proptest::test_runner::Config;
use raftwire_api::ipam::{allocate_all, AddressPool, IpamError};
use raftwire_api::requests::{check_mapping_in_route, check_route_family, CreateNetwork};
use raftwire_api::testkit::Builder;
use raftwire_api::*;
use serde_json::{json, Map, Value};

/// 256 cases, and no regression files written next to the tests.
fn config() -> Config {
    Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------- independent bit helpers

fn v4_mask(len: u8) -> u32 {
    match len {
        0 => 0,
        l if l >= 32 => u32::MAX,
        l => u32::MAX << (32 - l),
    }
}

fn v6_mask(len: u8) -> u128 {
    match len {
        0 => 0,
        l if l >= 128 => u128::MAX,
        l => u128::MAX << (128 - l),
    }
}

fn v4_bits(a: Ipv4Addr) -> u32 {
    u32::from(a)
}

fn v6_bits(a: Ipv6Addr) -> u128 {
    u128::from(a)
}

/// Whether `ip` lies in `net`, by masks.
fn contains(net: IpNet, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpNet::V4(n), IpAddr::V4(a)) => {
            let m = v4_mask(n.prefix_len());
            v4_bits(a) & m == v4_bits(n.network()) & m
        }
        (IpNet::V6(n), IpAddr::V6(a)) => {
            let m = v6_mask(n.prefix_len());
            v6_bits(a) & m == v6_bits(n.network()) & m
        }
        _ => false,
    }
}

// ---------------------------------------------------------------- prefix text generators

/// A prefix as a client might write it, valid or not.
#[derive(Debug, Clone)]
enum PrefixText {
    V4 { bits: u32, len: u8 },
    V6 { bits: u128, len: u8 },
    Garbage(String),
}

impl PrefixText {
    fn text(&self) -> String {
        match self {
            PrefixText::V4 { bits, len } => format!("{}/{len}", Ipv4Addr::from(*bits)),
            PrefixText::V6 { bits, len } => format!("{}/{len}", Ipv6Addr::from(*bits)),
            PrefixText::Garbage(s) => s.clone(),
        }
    }

    /// The network prefix this text denotes when it is a valid IPv4 network prefix
    /// (IPv4, /8–/30, no host bits).
    fn as_ipv4_network(&self) -> Option<Ipv4Net> {
        match *self {
            PrefixText::V4 { bits, len }
                if (8..=30).contains(&len) && bits & !v4_mask(len) == 0 =>
            {
                Some(Ipv4Net::new(Ipv4Addr::from(bits), len).unwrap())
            }
            _ => None,
        }
    }

    /// Likewise for an IPv6 network prefix (IPv6, /32–/126, no host bits).
    fn as_ipv6_network(&self) -> Option<Ipv6Net> {
        match *self {
            PrefixText::V6 { bits, len }
                if (32..=126).contains(&len) && bits & !v6_mask(len) == 0 =>
            {
                Some(Ipv6Net::new(Ipv6Addr::from(bits), len).unwrap())
            }
            _ => None,
        }
    }
}

/// IPv4 prefixes around the allowed bounds, half of them with host bits cleared, plus some
/// lengths no IPv4 CIDR can have.
fn v4_prefix_text() -> impl Strategy<Value = PrefixText> {
    let len = prop_oneof![6 => 5u8..=33, 1 => 0u8..=40];
    (any::<u32>(), len, any::<bool>()).prop_map(|(bits, len, clear)| PrefixText::V4 {
        bits: if clear { bits & v4_mask(len) } else { bits },
        len,
    })
}

fn v6_prefix_text() -> impl Strategy<Value = PrefixText> {
    let len = prop_oneof![6 => 29u8..=129, 1 => 0u8..=140];
    (any::<u128>(), len, any::<bool>()).prop_map(|(bits, len, clear)| PrefixText::V6 {
        bits: if clear { bits & v6_mask(len) } else { bits },
        len,
    })
}

fn garbage_text() -> impl Strategy<Value = PrefixText> {
    prop_oneof![
        Just(String::new()),
        Just("10.0.0.0".to_string()),
        Just("fd00::".to_string()),
        "[g-z]{1,8}",
        "[0-9./:]{0,12}",
    ]
    .prop_map(PrefixText::Garbage)
}

/// Mostly IPv4, sometimes IPv6 (the wrong field) or garbage.
fn text_for_ipv4_field() -> impl Strategy<Value = PrefixText> {
    prop_oneof![6 => v4_prefix_text(), 2 => v6_prefix_text(), 1 => garbage_text()]
}

/// Mostly IPv6, sometimes IPv4 (the wrong field) or garbage.
fn text_for_ipv6_field() -> impl Strategy<Value = PrefixText> {
    prop_oneof![6 => v6_prefix_text(), 2 => v4_prefix_text(), 1 => garbage_text()]
}

fn mode_strategy() -> impl Strategy<Value = IpStackMode> {
    prop_oneof![
        Just(IpStackMode::Ipv4),
        Just(IpStackMode::Ipv6),
        Just(IpStackMode::Dual)
    ]
}

fn network_body(
    mode: Option<&str>,
    v4: Option<&PrefixText>,
    v4_legacy: bool,
    v6: Option<&PrefixText>,
) -> CreateNetwork {
    let mut body = Map::new();
    body.insert("name".into(), json!("corp"));
    if let Some(mode) = mode {
        body.insert("ip_stack_mode".into(), json!(mode));
    }
    if let Some(v4) = v4 {
        let field = if v4_legacy { "cidr" } else { "ipv4_cidr" };
        body.insert(field.into(), json!(v4.text()));
    }
    if let Some(v6) = v6 {
        body.insert("ipv6_cidr".into(), json!(v6.text()));
    }
    serde_json::from_value(Value::Object(body)).expect("body deserializes")
}

const CIDR_FIELDS: [&str; 3] = ["ipv4_cidr", "cidr", "ipv6_cidr"];
const CIDR_CODES: [ErrorCode; 6] = [
    ErrorCode::MissingField,
    ErrorCode::FieldNotAllowed,
    ErrorCode::InvalidCidr,
    ErrorCode::WrongFamily,
    ErrorCode::PrefixLength,
    ErrorCode::HostBitsSet,
];

// ---------------------------------------------------------------- P2, P12: network requests

proptest! {
    #![proptest_config(config())]

    /// P2 (R1, R2): a network request is accepted exactly when every family of the mode has
    /// a well-formed network prefix of that family and no other family is given; the
    /// accepted spec carries the given prefixes unchanged.
    #[test]
    fn prop_p2_cidrs_that_do_not_fit_the_mode_are_rejected(
        mode in mode_strategy(),
        v4 in proptest::option::of(text_for_ipv4_field()),
        v4_legacy in any::<bool>(),
        v6 in proptest::option::of(text_for_ipv6_field()),
    ) {
        let body = network_body(Some(mode.as_str()), v4.as_ref(), v4_legacy, v6.as_ref());
        let want_v4 = v4.as_ref().and_then(PrefixText::as_ipv4_network);
        let want_v6 = v6.as_ref().and_then(PrefixText::as_ipv6_network);
        let fits = |has: bool, given: bool, valid: bool| if has { given && valid } else { !given };
        let accept = fits(mode.has(IpFamily::Ipv4), v4.is_some(), want_v4.is_some())
            && fits(mode.has(IpFamily::Ipv6), v6.is_some(), want_v6.is_some());

        match body.validate() {
            Ok(spec) => {
                prop_assert!(accept, "accepted {:?}", body);
                prop_assert_eq!(spec.ip_stack_mode, mode);
                prop_assert_eq!(spec.ipv4_cidr, want_v4);
                prop_assert_eq!(spec.ipv6_cidr, want_v6);
            }
            Err(e) => {
                prop_assert!(!accept, "rejected {:?}: {:?}", body, e);
                prop_assert!(CIDR_CODES.contains(&e.code), "{:?}", e);
                prop_assert!(CIDR_FIELDS.contains(&e.field.as_deref().unwrap_or("")), "{:?}", e);
                prop_assert_eq!(e.http_status(), 400);
            }
        }
    }

    /// P12 (R1, R14): without `ip_stack_mode` a body behaves exactly as the same body with
    /// `"ip_stack_mode": "ipv4"`, whether the IPv4 prefix comes as `ipv4_cidr` or `cidr`.
    #[test]
    fn prop_p12_requests_without_a_mode_behave_as_ipv4_only(
        v4 in text_for_ipv4_field(),
        v4_legacy in any::<bool>(),
        v6 in proptest::option::of(text_for_ipv6_field()),
    ) {
        let without = network_body(None, Some(&v4), v4_legacy, v6.as_ref()).validate();
        let with = network_body(Some("ipv4"), Some(&v4), v4_legacy, v6.as_ref()).validate();
        prop_assert_eq!(&without, &with);
        let want_v4 = v4.as_ipv4_network();
        match without {
            Ok(spec) => {
                prop_assert!(v6.is_none(), "an IPv6 prefix was accepted without a mode");
                prop_assert_eq!(spec.ip_stack_mode, IpStackMode::Ipv4);
                prop_assert_eq!(spec.ipv4_cidr, want_v4);
                prop_assert_eq!(spec.ipv6_cidr, None);
            }
            Err(_) => prop_assert!(want_v4.is_none() || v6.is_some()),
        }
    }

    /// P12: a body without a mode but with only an IPv6 prefix is not silently an IPv6
    /// network: it is rejected (the IPv4 prefix is missing, or the IPv6 one is malformed).
    #[test]
    fn prop_p12_requests_without_a_mode_and_only_ipv6_cidr_are_rejected(
        v6 in text_for_ipv6_field(),
    ) {
        let e = network_body(None, None, false, Some(&v6)).validate().unwrap_err();
        if v6.as_ipv6_network().is_some() {
            prop_assert_eq!((e.code, e.field.as_deref()), (ErrorCode::MissingField, Some("ipv4_cidr")));
        } else {
            prop_assert_eq!(e.field.as_deref(), Some("ipv6_cidr"));
        }
    }
}

// ---------------------------------------------------------------- P1: peers and modes

fn ipv4_network_prefix() -> impl Strategy<Value = Ipv4Net> {
    (any::<u32>(), 16u8..=28)
        .prop_map(|(bits, len)| Ipv4Net::new(Ipv4Addr::from(bits & v4_mask(len)), len).unwrap())
}

fn ipv6_network_prefix() -> impl Strategy<Value = Ipv6Net> {
    (
        any::<u128>(),
        prop_oneof![Just(48u8), Just(64u8), 96u8..=124],
    )
        .prop_map(|(bits, len)| Ipv6Net::new(Ipv6Addr::from(bits & v6_mask(len)), len).unwrap())
}

proptest! {
    #![proptest_config(config())]

    /// P1 (R3): every peer of a network has an address of exactly the families of the
    /// network's mode (at least one), each inside the network's prefix of that family and
    /// never its network (or IPv4 broadcast) address.
    #[test]
    fn prop_p1_peers_get_exactly_the_modes_families(
        mode in mode_strategy(),
        v4 in ipv4_network_prefix(),
        v6 in ipv6_network_prefix(),
        jumps in 0usize..3,
        peers in 0usize..10,
    ) {
        let v4 = mode.has(IpFamily::Ipv4).then_some(v4);
        let v6 = mode.has(IpFamily::Ipv6).then_some(v6);
        let (v4_text, v6_text) = (v4.map(|n| n.to_string()), v6.map(|n| n.to_string()));
        let mut b = Builder::new("corp", mode, v4_text.as_deref(), v6_text.as_deref());
        for i in 0..jumps {
            b.jump(&format!("jump{i}"));
        }
        for i in 0..peers {
            b.peer(&format!("peer{i}"));
        }
        let data = b.build();
        prop_assert_eq!(data.peers.len(), jumps + peers);
        let families: Vec<IpFamily> = mode.families().collect();
        for p in &data.peers {
            prop_assert_eq!(p.has_ipv4(), mode.has(IpFamily::Ipv4), "{:?}", p);
            prop_assert_eq!(p.has_ipv6(), mode.has(IpFamily::Ipv6), "{:?}", p);
            let addrs = p.addresses();
            prop_assert!(!addrs.is_empty());
            prop_assert_eq!(
                addrs.iter().map(IpFamily::of_addr).collect::<Vec<_>>(),
                families.clone()
            );
            if let (Some(a), Some(n)) = (p.ipv4_address, v4) {
                prop_assert!(contains(IpNet::V4(n), IpAddr::V4(a)), "{} not in {}", a, n);
                prop_assert!(a != n.network() && a != n.broadcast(), "{} reserved in {}", a, n);
            }
            if let (Some(a), Some(n)) = (p.ipv6_address, v6) {
                prop_assert!(contains(IpNet::V6(n), IpAddr::V6(a)), "{} not in {}", a, n);
                prop_assert!(a != n.network(), "{} reserved in {}", a, n);
            }
        }
        // And within each family no two peers share an address.
        let v4s: BTreeSet<_> = data.peers.iter().filter_map(|p| p.ipv4_address).collect();
        let v6s: BTreeSet<_> = data.peers.iter().filter_map(|p| p.ipv6_address).collect();
        prop_assert_eq!(v4s.len(), if v4.is_some() { data.peers.len() } else { 0 });
        prop_assert_eq!(v6s.len(), if v6.is_some() { data.peers.len() } else { 0 });
    }
}

// ---------------------------------------------------------------- P3: IPAM across two pools

#[derive(Debug, Clone)]
enum PoolOp {
    /// A dual-stack peer: `allocate_all` over both pools, IPv6 pool first when `swapped`.
    AllocateBoth { swapped: bool },
    /// A single-family peer.
    Allocate { v6: bool },
    /// Release the n-th held address of a family (then try once more, which must fail).
    Release { v6: bool, nth: usize },
}

fn pool_op() -> impl Strategy<Value = PoolOp> {
    prop_oneof![
        4 => any::<bool>().prop_map(|swapped| PoolOp::AllocateBoth { swapped }),
        2 => any::<bool>().prop_map(|v6| PoolOp::Allocate { v6 }),
        3 => (any::<bool>(), any::<usize>()).prop_map(|(v6, nth)| PoolOp::Release { v6, nth }),
    ]
}

/// Small pools (so exhaustion happens) and some large ones.
fn small_or_large_v4() -> impl Strategy<Value = Ipv4Net> {
    let len = prop_oneof![3 => 27u8..=30, 1 => 8u8..=24];
    (any::<u32>(), len)
        .prop_map(|(bits, len)| Ipv4Net::new(Ipv4Addr::from(bits & v4_mask(len)), len).unwrap())
}

fn small_or_large_v6() -> impl Strategy<Value = Ipv6Net> {
    let len = prop_oneof![3 => 123u8..=127, 1 => prop_oneof![Just(48u8), Just(64u8), Just(96u8)]];
    (any::<u128>(), len)
        .prop_map(|(bits, len)| Ipv6Net::new(Ipv6Addr::from(bits & v6_mask(len)), len).unwrap())
}

/// The model of one pool: its prefix and the held addresses, as offsets from the network
/// address.
struct Held {
    net: IpNet,
    offsets: BTreeSet<u128>,
}

impl Held {
    fn network_bits(&self) -> u128 {
        match self.net {
            IpNet::V4(n) => u128::from(v4_bits(n.network())),
            IpNet::V6(n) => v6_bits(n.network()),
        }
    }

    /// Usable offsets are `1..=last`: IPv4 skips network and broadcast, IPv6 only the
    /// all-zero address.
    fn last_usable(&self) -> u128 {
        let host_bits = u32::from(self.net.max_prefix_len() - self.net.prefix_len());
        let size = 1u128 << host_bits;
        match self.net {
            IpNet::V4(_) => size - 2,
            IpNet::V6(_) => size - 1,
        }
    }

    fn expected_lowest_free(&self) -> Option<u128> {
        let mut o = 1;
        while self.offsets.contains(&o) {
            o += 1;
        }
        (o <= self.last_usable()).then_some(o)
    }

    fn offset_of(&self, addr: IpAddr) -> Option<u128> {
        if !contains(self.net, addr) {
            return None;
        }
        let bits = match addr {
            IpAddr::V4(a) => u128::from(v4_bits(a)),
            IpAddr::V6(a) => v6_bits(a),
        };
        Some(bits - self.network_bits())
    }

    fn addr_at(&self, offset: u128) -> IpAddr {
        match self.net {
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from((self.network_bits() + offset) as u32)),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(self.network_bits() + offset)),
        }
    }

    /// Records a freshly allocated address, checking it is usable, new and lowest-free.
    fn take(&mut self, addr: IpAddr) -> Result<(), TestCaseError> {
        let offset = self.offset_of(addr);
        prop_assert!(offset.is_some(), "{} outside {}", addr, self.net);
        let offset = offset.unwrap();
        prop_assert!(
            (1..=self.last_usable()).contains(&offset),
            "{} is reserved in {}",
            addr,
            self.net
        );
        prop_assert_eq!(
            Some(offset),
            self.expected_lowest_free(),
            "{} is not lowest-free",
            addr
        );
        prop_assert!(self.offsets.insert(offset), "{} handed out twice", addr);
        Ok(())
    }

    fn check(&self, pool: &AddressPool) -> Result<(), TestCaseError> {
        prop_assert_eq!(pool.allocated(), self.offsets.len() as u128);
        let listed: Vec<IpAddr> = pool.iter().collect();
        let want: Vec<IpAddr> = self.offsets.iter().map(|&o| self.addr_at(o)).collect();
        prop_assert_eq!(listed, want);
        Ok(())
    }
}

proptest! {
    #![proptest_config(config())]

    /// P3 / P11 (R3, R11): across random interleavings of dual-stack (`allocate_all`) and
    /// single-family allocations and releases, held addresses are unique per family, lie in
    /// the prefix (never a reserved address), are lowest-free, and a failed `allocate_all`
    /// leaves both pools exactly as they were.
    #[test]
    fn prop_p3_addresses_are_unique_per_family_and_in_prefix(
        v4 in small_or_large_v4(),
        v6 in small_or_large_v6(),
        ops in proptest::collection::vec(pool_op(), 1..80),
    ) {
        let mut p4 = AddressPool::new(IpNet::V4(v4));
        let mut p6 = AddressPool::new(IpNet::V6(v6));
        let mut h4 = Held { net: IpNet::V4(v4), offsets: BTreeSet::new() };
        let mut h6 = Held { net: IpNet::V6(v6), offsets: BTreeSet::new() };
        prop_assert_eq!(p4.capacity(), h4.last_usable());
        prop_assert_eq!(p6.capacity(), h6.last_usable());

        for op in &ops {
            match *op {
                PoolOp::AllocateBoth { swapped } => {
                    let before = (p4.clone(), p6.clone());
                    let both_free = h4.expected_lowest_free().is_some() && h6.expected_lowest_free().is_some();
                    let result = if swapped {
                        allocate_all(&mut [&mut p6, &mut p4]).map(|a| a.into_iter().rev().collect::<Vec<_>>())
                    } else {
                        allocate_all(&mut [&mut p4, &mut p6])
                    };
                    match result {
                        Ok(addrs) => {
                            prop_assert!(both_free, "allocated {:?} from a full pool", addrs);
                            prop_assert_eq!(addrs.len(), 2);
                            prop_assert!(addrs[0].is_ipv4() && addrs[1].is_ipv6(), "{:?}", addrs);
                            h4.take(addrs[0])?;
                            h6.take(addrs[1])?;
                        }
                        Err(e) => {
                            prop_assert!(!both_free, "{:?} with room in both pools", e);
                            prop_assert!(matches!(e, IpamError::Exhausted { .. }), "{:?}", e);
                            prop_assert_eq!(&p4, &before.0, "failed allocate_all changed the IPv4 pool");
                            prop_assert_eq!(&p6, &before.1, "failed allocate_all changed the IPv6 pool");
                        }
                    }
                }
                PoolOp::Allocate { v6 } => {
                    let (pool, held) = if v6 { (&mut p6, &mut h6) } else { (&mut p4, &mut h4) };
                    let before = pool.clone();
                    match pool.allocate() {
                        Ok(addr) => held.take(addr)?,
                        Err(e) => {
                            prop_assert_eq!(held.expected_lowest_free(), None, "{:?}", e);
                            prop_assert_eq!(e, IpamError::Exhausted { prefix: held.net });
                            prop_assert_eq!(&*pool, &before);
                        }
                    }
                }
                PoolOp::Release { v6, nth } => {
                    let (pool, held) = if v6 { (&mut p6, &mut h6) } else { (&mut p4, &mut h4) };
                    if let Some(&offset) = held.offsets.iter().nth(nth % held.offsets.len().max(1)) {
                        let addr = held.addr_at(offset);
                        prop_assert_eq!(pool.release(addr), Ok(()));
                        held.offsets.remove(&offset);
                        prop_assert!(!pool.is_allocated(addr));
                        let before = pool.clone();
                        prop_assert_eq!(pool.release(addr), Err(IpamError::NotAllocated { addr }));
                        prop_assert_eq!(&*pool, &before);
                    }
                }
            }
            h4.check(&p4)?;
            h6.check(&p6)?;
        }
    }
}

// ---------------------------------------------------------------- P7, P8: routes and mappings

fn any_prefix() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 0u8..=32)
            .prop_map(|(b, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(b & v4_mask(l)), l).unwrap())),
        (any::<u128>(), 0u8..=128)
            .prop_map(|(b, l)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(b & v6_mask(l)), l).unwrap())),
    ]
}

fn network_of_mode(mode: IpStackMode) -> Network {
    Network {
        id: NetworkId::from_u128(1),
        name: "corp".into(),
        ip_stack_mode: mode,
        ipv4_cidr: mode
            .has(IpFamily::Ipv4)
            .then(|| "10.0.0.0/24".parse().unwrap()),
        ipv6_cidr: mode
            .has(IpFamily::Ipv6)
            .then(|| "fd00::/64".parse().unwrap()),
        domain: "corp.internal".into(),
        dns_servers: vec![],
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
        version: 1,
    }
}

/// An address relative to `net`: inside it, just before or after it, anywhere, or of the
/// other family.
fn address_near(net: IpNet) -> impl Strategy<Value = IpAddr> {
    (0u8..5, any::<u128>()).prop_map(move |(how, r)| match net {
        IpNet::V4(n) => {
            let base = v4_bits(n.network());
            let host = !v4_mask(n.prefix_len());
            let bits = match how {
                0 => base | (r as u32 & host),
                1 => base.wrapping_sub(1 + (r as u32 & 3)),
                2 => (base | host).wrapping_add(1 + (r as u32 & 3)),
                3 => r as u32,
                _ => return IpAddr::V6(Ipv6Addr::from(r)),
            };
            IpAddr::V4(Ipv4Addr::from(bits))
        }
        IpNet::V6(n) => {
            let base = v6_bits(n.network());
            let host = !v6_mask(n.prefix_len());
            let bits = match how {
                0 => base | (r & host),
                1 => base.wrapping_sub(1 + (r & 3)),
                2 => (base | host).wrapping_add(1 + (r & 3)),
                3 => r,
                // An IPv4 address, from the low or the high bits.
                _ if r & 1 == 0 => return IpAddr::V4(Ipv4Addr::from(r as u32)),
                _ => return IpAddr::V4(Ipv4Addr::from((r >> 64) as u32)),
            };
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    })
}

fn route_and_address() -> impl Strategy<Value = (IpNet, IpAddr)> {
    any_prefix().prop_flat_map(|net| (Just(net), address_near(net)))
}

proptest! {
    #![proptest_config(config())]

    /// P7 (R7): a route is accepted iff its destination's family is carried by the mode.
    #[test]
    fn prop_p7_route_family_must_be_supported_by_the_mode(
        mode in mode_strategy(),
        destination in any_prefix(),
    ) {
        let network = network_of_mode(mode);
        let supported = matches!(
            (mode, destination),
            (IpStackMode::Dual, _)
                | (IpStackMode::Ipv4, IpNet::V4(_))
                | (IpStackMode::Ipv6, IpNet::V6(_))
        );
        match check_route_family(&network, &destination) {
            Ok(()) => prop_assert!(supported, "{} accepted in a {} network", destination, mode),
            Err(e) => {
                prop_assert!(!supported, "{} rejected in a {} network: {:?}", destination, mode, e);
                prop_assert_eq!(e.code, ErrorCode::RouteFamilyUnsupported);
                prop_assert_eq!(e.field.as_deref(), Some("destination_cidr"));
            }
        }
    }

    /// P8 (R8): a mapping's address is accepted iff the route's destination contains it;
    /// an address of the other family is always rejected as such.
    #[test]
    fn prop_p8_mapping_ip_lies_in_route_cidr_same_family(
        (destination, ip) in route_and_address(),
    ) {
        let same_family = destination.addr().is_ipv4() == ip.is_ipv4();
        let inside = contains(destination, ip);
        match check_mapping_in_route(&destination, &ip) {
            Ok(()) => {
                prop_assert!(inside, "{} accepted outside {}", ip, destination);
                prop_assert!(same_family);
            }
            Err(e) => {
                prop_assert!(!inside, "{} rejected inside {}: {:?}", ip, destination, e);
                let code = if same_family { ErrorCode::MappingOutsideRoute } else { ErrorCode::WrongFamily };
                prop_assert_eq!(e.code, code);
                prop_assert_eq!(e.field.as_deref(), Some("ip_address"));
            }
        }
    }

    /// P8: an IPv4-mapped IPv6 address never lies in an IPv4 route, whatever the route.
    #[test]
    fn prop_p8_ipv4_mapped_address_is_wrong_family_for_an_ipv4_route(
        b in any::<u32>(),
        len in 0u8..=32,
    ) {
        let route = IpNet::V4(Ipv4Net::new(Ipv4Addr::from(b & v4_mask(len)), len).unwrap());
        let mapped = IpAddr::V6(Ipv4Addr::from(b).to_ipv6_mapped());
        let e = check_mapping_in_route(&route, &mapped).unwrap_err();
        prop_assert_eq!(e.code, ErrorCode::WrongFamily);
    }
}

// ---------------------------------------------------------------- R13: detected IP version

/// Text for `detect_ip_version`, with the family it denotes (`None`: not an address or CIDR).
fn ip_text() -> impl Strategy<Value = (String, Option<IpFamily>)> {
    let v4 = IpFamily::Ipv4;
    let v6 = IpFamily::Ipv6;
    let texts = prop_oneof![
        any::<u32>().prop_map(move |b| (Ipv4Addr::from(b).to_string(), Some(v4))),
        any::<u128>().prop_map(move |b| (Ipv6Addr::from(b).to_string(), Some(v6))),
        // Fully expanded IPv6, the form no formatter produces.
        any::<[u16; 8]>().prop_map(move |g| {
            let groups: Vec<String> = g.iter().map(|x| format!("{x:04x}")).collect();
            (groups.join(":"), Some(v6))
        }),
        // IPv4 CIDRs, host bits or not; only /0–/32 are CIDRs.
        (any::<u32>(), 0u8..=40).prop_map(move |(b, l)| {
            (
                format!("{}/{l}", Ipv4Addr::from(b)),
                (l <= 32).then_some(v4),
            )
        }),
        (any::<u128>(), 0u8..=140).prop_map(move |(b, l)| {
            (
                format!("{}/{l}", Ipv6Addr::from(b)),
                (l <= 128).then_some(v6),
            )
        }),
        // IPv4-mapped IPv6, written with a dotted quad: IPv6 as written.
        (any::<[u8; 4]>(), proptest::option::of(0u8..=140)).prop_map(move |(q, l)| {
            let addr = format!("::ffff:{}.{}.{}.{}", q[0], q[1], q[2], q[3]);
            match l {
                None => (addr, Some(v6)),
                Some(l) => (format!("{addr}/{l}"), (l <= 128).then_some(v6)),
            }
        }),
        // Words and hostnames are neither.
        "[g-z][a-z.-]{0,15}".prop_map(|s| (s, None)),
        Just((String::new(), None)),
        Just(("10.0.0".to_string(), None)),
        Just(("10.0.0.0/".to_string(), None)),
        Just(("fd00:::1".to_string(), None)),
        Just(("[fd00::1]".to_string(), None)),
    ];
    let pad = prop_oneof![Just(""), Just(" "), Just("\t"), Just(" \n ")];
    (texts, pad.clone(), pad).prop_map(|((t, f), a, b)| (format!("{a}{t}{b}"), f))
}

proptest! {
    #![proptest_config(config())]

    /// R13: the family detected from an address or CIDR written as text is the family it
    /// denotes (IPv4-mapped IPv6 is IPv6 as written); anything else is `None`.
    #[test]
    fn prop_detect_ip_version_matches_the_parsed_family((text, family) in ip_text()) {
        prop_assert_eq!(detect_ip_version(&text), family, "{:?}", text);
        // And it agrees with the parsers the rest of the code uses.
        let trimmed = text.trim();
        let parsed = trimmed
            .parse::<IpNet>()
            .map(|n| IpFamily::of_net(&n))
            .or_else(|_| trimmed.parse::<IpAddr>().map(|a| IpFamily::of_addr(&a)))
            .ok();
        prop_assert_eq!(parsed, family, "{:?}", text);
    }
}

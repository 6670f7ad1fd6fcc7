//! IP address management: deterministic lowest-free allocation inside one prefix.
//!
//! # Design
//!
//! An [`AddressPool`] manages the addresses of one root prefix of one family. Every address
//! is handled as its **offset** from the prefix's network address, a `u128` (an IPv4 offset
//! fits in 32 bits, an IPv6 one in up to 128), so both families share one code path.
//!
//! * **Usable range.** IPv4 excludes the network (offset 0) and broadcast (last offset)
//!   addresses; IPv6 excludes only the all-zero subnet-router anycast address (offset 0).
//!   The usable offsets are therefore one contiguous range `[1, last]`, computed from the
//!   prefix length on demand and never stored. Degenerate prefixes that validation would
//!   reject anyway simply have fewer usable addresses: IPv4 /31 and /32 and IPv6 /128 have
//!   none, IPv6 /127 has one.
//! * **Allocated set.** Allocated offsets are kept as a `BTreeMap<u128, u128>` of inclusive
//!   intervals `start → end` that are disjoint, *non-adjacent* (there is at least one free
//!   offset between two intervals) and lie inside the usable range, plus a counter of
//!   allocated addresses. The representation is canonical: a set of offsets has exactly one
//!   interval map, so two pools holding the same addresses compare equal whatever the order
//!   of operations that produced them, and a rolled-back allocation leaves no trace.
//! * **Cost.** Memory is proportional to the number of intervals (at most the number of
//!   allocated addresses, usually far fewer), never to the size of the prefix, so a /64 or
//!   /48 costs the same as a /24. Every operation is O(log n) in the number of intervals:
//!   - the lowest free usable offset is the first usable offset unless the *first* interval
//!     starts there, in which case it is one past that interval's end (if still usable);
//!   - `claim` inserts a single offset and merges it with the neighbour on either side;
//!   - `release` removes a single offset, shrinking or splitting the interval holding it;
//!   - `is_allocated` looks up the interval starting at or before the offset.
//!
//!   Because allocation always takes the lowest free offset, released addresses are reused
//!   lowest first.
//! * **Determinism.** The module is pure: no I/O, no clock, no randomness. Applying the same
//!   operations to equal pools yields equal pools and equal results, which is what the
//!   replicated state machine needs (allocation happens while applying a Raft log entry).
//! * **Serialisation.** A pool serialises as its prefix and its interval map only; the
//!   counter is recomputed, and the intervals re-validated, on deserialisation, so a corrupt
//!   snapshot is rejected instead of producing a pool that hands out an address twice. With
//!   bincode's variable-length integers a densely allocated pool of any size is a few bytes.
//!
//! [`allocate_all`] gives a dual-stack peer one address per family atomically: all of them
//! or none.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::family::IpFamily;

/// Why an IPAM operation was refused. A refused operation never changes the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("address pool {prefix} is exhausted")]
    Exhausted { prefix: IpNet },
    #[error("{addr} is outside {prefix}")]
    OutsidePrefix { addr: IpAddr, prefix: IpNet },
    #[error("{addr} is reserved in {prefix} (network, broadcast or subnet-router address)")]
    Reserved { addr: IpAddr, prefix: IpNet },
    #[error("{addr} is already allocated")]
    AlreadyAllocated { addr: IpAddr },
    #[error("{addr} is not allocated")]
    NotAllocated { addr: IpAddr },
}

/// The allocated addresses of one prefix. See the [module documentation](self) for the design.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AddressPoolRepr")]
pub struct AddressPool {
    /// The root prefix, host bits cleared.
    prefix: IpNet,
    /// Allocated offsets from the network address: inclusive intervals `start → end`,
    /// disjoint, non-adjacent and inside the usable range.
    intervals: BTreeMap<u128, u128>,
    /// Number of allocated addresses (sum of the interval lengths); derived, not serialised.
    #[serde(skip_serializing)]
    allocated: u128,
}

/// The serialised form of an [`AddressPool`]; must match its serialised fields in order.
#[derive(Deserialize)]
#[serde(rename = "AddressPool")]
struct AddressPoolRepr {
    prefix: IpNet,
    intervals: BTreeMap<u128, u128>,
}

/// A deserialised pool whose intervals break the pool's invariants.
#[derive(Debug)]
struct InvalidPool(String);

impl fmt::Display for InvalidPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid address pool: {}", self.0)
    }
}

impl TryFrom<AddressPoolRepr> for AddressPool {
    type Error = InvalidPool;

    fn try_from(repr: AddressPoolRepr) -> Result<Self, Self::Error> {
        let mut pool = AddressPool::new(repr.prefix);
        if pool.prefix != repr.prefix {
            return Err(InvalidPool(format!("prefix {} has host bits", repr.prefix)));
        }
        let mut allocated: u128 = 0;
        let mut previous_end: Option<u128> = None;
        for (&start, &end) in &repr.intervals {
            let in_usable_range = pool
                .usable_range()
                .is_some_and(|(first, last)| first <= start && start <= end && end <= last);
            if !in_usable_range {
                return Err(InvalidPool(format!(
                    "interval [{start}, {end}] is empty or not usable in {}",
                    pool.prefix
                )));
            }
            // Intervals are sorted by start; each must begin at least two past the previous
            // end, otherwise they overlap or touch (and should have been merged).
            if let Some(prev) = previous_end {
                if start <= prev.saturating_add(1) {
                    return Err(InvalidPool(format!(
                        "interval starting at {start} overlaps or touches the previous one"
                    )));
                }
            }
            previous_end = Some(end);
            allocated = (end - start)
                .checked_add(1)
                .and_then(|len| allocated.checked_add(len))
                .ok_or_else(|| InvalidPool("allocated count overflows".to_owned()))?;
        }
        pool.intervals = repr.intervals;
        pool.allocated = allocated;
        Ok(pool)
    }
}

/// The address bits of `addr` as an unsigned integer.
fn addr_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

impl AddressPool {
    /// An empty pool for `prefix`. Any host bits are cleared. Never panics: prefixes without
    /// usable addresses (IPv4 /31 and /32, IPv6 /128) give a pool of capacity 0.
    pub fn new(prefix: IpNet) -> Self {
        AddressPool {
            prefix: prefix.trunc(),
            intervals: BTreeMap::new(),
            allocated: 0,
        }
    }

    /// The pool's prefix.
    pub fn prefix(&self) -> IpNet {
        self.prefix
    }

    /// The pool's family.
    pub fn family(&self) -> IpFamily {
        IpFamily::of_net(&self.prefix)
    }

    /// Number of usable addresses: IPv4 excludes network and broadcast, IPv6 excludes the
    /// all-zero subnet-router anycast address. `::/0` reports `u128::MAX` (2^128 − 1).
    pub fn capacity(&self) -> u128 {
        self.usable_range()
            .map_or(0, |(first, last)| last - first + 1)
    }

    /// Number of allocated addresses.
    pub fn allocated(&self) -> u128 {
        self.allocated
    }

    /// Number of usable addresses not allocated.
    pub fn available(&self) -> u128 {
        self.capacity().saturating_sub(self.allocated)
    }

    /// Allocates the lowest free usable address. On [`IpamError::Exhausted`] the pool is
    /// unchanged.
    pub fn allocate(&mut self) -> Result<IpAddr, IpamError> {
        let offset = self.lowest_free_offset().ok_or(IpamError::Exhausted {
            prefix: self.prefix,
        })?;
        self.insert_offset(offset);
        Ok(self.addr_at(offset))
    }

    /// The address [`allocate`](Self::allocate) would return, without allocating it.
    pub fn peek_lowest_free(&self) -> Option<IpAddr> {
        self.lowest_free_offset().map(|o| self.addr_at(o))
    }

    /// Allocates the specific address `addr` (an explicitly requested address).
    ///
    /// Errors: [`IpamError::OutsidePrefix`] (including the other family),
    /// [`IpamError::Reserved`], [`IpamError::AlreadyAllocated`]. The pool is unchanged on error.
    pub fn claim(&mut self, addr: IpAddr) -> Result<(), IpamError> {
        let offset = self.usable_offset(addr)?;
        if self.covering_interval(offset).is_some() {
            return Err(IpamError::AlreadyAllocated { addr });
        }
        self.insert_offset(offset);
        Ok(())
    }

    /// Releases the allocated address `addr`; it becomes the lowest free address again if
    /// nothing lower is free.
    ///
    /// Errors: [`IpamError::OutsidePrefix`] (including the other family),
    /// [`IpamError::Reserved`], [`IpamError::NotAllocated`]. The pool is unchanged on error.
    pub fn release(&mut self, addr: IpAddr) -> Result<(), IpamError> {
        let offset = self.usable_offset(addr)?;
        if self.remove_offset(offset) {
            Ok(())
        } else {
            Err(IpamError::NotAllocated { addr })
        }
    }

    /// Whether `addr` is allocated in this pool (false for any address outside it).
    pub fn is_allocated(&self, addr: IpAddr) -> bool {
        self.offset_of(addr)
            .is_some_and(|o| self.covering_interval(o).is_some())
    }

    /// The allocated addresses in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.intervals
            .iter()
            .flat_map(|(&start, &end)| start..=end)
            .map(move |offset| self.addr_at(offset))
    }

    /// Whether `addr` could be allocated in this pool, ignoring whether it already is:
    /// [`IpamError::OutsidePrefix`] if it lies outside the prefix or is of the other family,
    /// [`IpamError::Reserved`] if it is the network, broadcast or subnet-router address.
    pub fn check_usable(&self, addr: IpAddr) -> Result<(), IpamError> {
        self.usable_offset(addr).map(|_| ())
    }

    // ---- offsets ------------------------------------------------------------------------

    /// Host bits of the prefix: 0..=32 for IPv4, 0..=128 for IPv6.
    fn host_bits(&self) -> u32 {
        u32::from(
            self.prefix
                .max_prefix_len()
                .saturating_sub(self.prefix.prefix_len()),
        )
    }

    /// The largest offset inside the prefix (the size of the prefix minus one).
    fn last_offset(&self) -> u128 {
        match self.host_bits() {
            bits if bits >= 128 => u128::MAX,
            bits => (1u128 << bits) - 1,
        }
    }

    /// The inclusive range of usable offsets, `None` if the prefix has no usable address.
    fn usable_range(&self) -> Option<(u128, u128)> {
        let last_offset = self.last_offset();
        match self.prefix {
            // Network (offset 0) and broadcast (last offset) are reserved.
            IpNet::V4(_) if self.host_bits() >= 2 => Some((1, last_offset - 1)),
            // Only the subnet-router anycast address (offset 0) is reserved.
            IpNet::V6(_) if self.host_bits() >= 1 => Some((1, last_offset)),
            _ => None,
        }
    }

    /// The offset of `addr` from the network address, `None` if `addr` is outside the prefix
    /// or of the other family.
    fn offset_of(&self, addr: IpAddr) -> Option<u128> {
        if IpFamily::of_addr(&addr) != self.family() {
            return None;
        }
        addr_bits(addr)
            .checked_sub(addr_bits(self.prefix.network()))
            .filter(|&o| o <= self.last_offset())
    }

    /// The offset of `addr` if it is usable in this pool.
    fn usable_offset(&self, addr: IpAddr) -> Result<u128, IpamError> {
        let prefix = self.prefix;
        let offset = self
            .offset_of(addr)
            .ok_or(IpamError::OutsidePrefix { addr, prefix })?;
        match self.usable_range() {
            Some((first, last)) if first <= offset && offset <= last => Ok(offset),
            _ => Err(IpamError::Reserved { addr, prefix }),
        }
    }

    /// The address at `offset` (which lies inside the prefix).
    fn addr_at(&self, offset: u128) -> IpAddr {
        let bits = addr_bits(self.prefix.network()).wrapping_add(offset);
        match self.prefix {
            // In-prefix offsets of an IPv4 prefix keep `bits` within 32 bits.
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(bits as u32)),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
        }
    }

    // ---- interval set -------------------------------------------------------------------

    /// The lowest usable offset not allocated.
    fn lowest_free_offset(&self) -> Option<u128> {
        let (first, last) = self.usable_range()?;
        // Every interval lies in the usable range, so only the first one can cover `first`.
        let candidate = match self.intervals.first_key_value() {
            Some((&start, &end)) if start <= first => end.checked_add(1)?,
            _ => first,
        };
        (candidate <= last).then_some(candidate)
    }

    /// The interval `(start, end)` containing `offset`, if it is allocated.
    fn covering_interval(&self, offset: u128) -> Option<(u128, u128)> {
        self.intervals
            .range(..=offset)
            .next_back()
            .filter(|&(_, &end)| end >= offset)
            .map(|(&start, &end)| (start, end))
    }

    /// Marks the free usable `offset` allocated, merging with adjacent intervals.
    fn insert_offset(&mut self, offset: u128) {
        debug_assert!(self.covering_interval(offset).is_none());
        let prev = self
            .intervals
            .range(..offset)
            .next_back()
            .filter(|&(_, &end)| end.checked_add(1) == Some(offset))
            .map(|(&start, _)| start);
        let next_end = offset
            .checked_add(1)
            .and_then(|next_start| self.intervals.remove(&next_start));
        let end = next_end.unwrap_or(offset);
        match prev {
            Some(start) => self.intervals.insert(start, end),
            None => self.intervals.insert(offset, end),
        };
        self.allocated += 1;
    }

    /// Marks `offset` free, shrinking or splitting the interval holding it. Returns false
    /// (and changes nothing) if it was not allocated.
    fn remove_offset(&mut self, offset: u128) -> bool {
        let Some((start, end)) = self.covering_interval(offset) else {
            return false;
        };
        // `start <= offset <= end`, so `offset - 1` and `offset + 1` below cannot overflow.
        if start == offset {
            self.intervals.remove(&start);
        } else {
            self.intervals.insert(start, offset - 1);
        }
        if end > offset {
            self.intervals.insert(offset + 1, end);
        }
        self.allocated -= 1;
        true
    }
}

/// All-or-nothing allocation for a dual-stack peer: allocates the lowest free address from
/// each pool; if any pool fails, releases what was taken (leaving every pool exactly as it
/// was) and returns that error.
///
/// Pools are tried IPv4 first, then IPv6 (in the given order within a family), so when both
/// families are exhausted the IPv4 error is reported. The returned addresses are in the
/// order of `pools`.
pub fn allocate_all(pools: &mut [&mut AddressPool]) -> Result<Vec<IpAddr>, IpamError> {
    let mut order: Vec<usize> = (0..pools.len()).collect();
    order.sort_by_key(|&i| pools[i].family());
    let mut taken: Vec<Option<IpAddr>> = vec![None; pools.len()];
    for i in order {
        match pools[i].allocate() {
            Ok(addr) => taken[i] = Some(addr),
            Err(err) => {
                for (pool, addr) in pools.iter_mut().zip(&taken) {
                    if let Some(addr) = addr {
                        let released = pool.release(*addr);
                        debug_assert!(released.is_ok(), "rollback of {addr} failed");
                    }
                }
                return Err(err);
            }
        }
    }
    Ok(taken.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use ipnet::{Ipv4Net, Ipv6Net};
    use proptest::prelude::*;

    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    /// Checks the representation invariants: intervals non-empty, inside the usable range,
    /// disjoint and non-adjacent, and the counter equal to their total length.
    fn assert_canonical(pool: &AddressPool) {
        let mut total = 0u128;
        let mut prev_end: Option<u128> = None;
        for (&start, &end) in &pool.intervals {
            let (first, last) = pool.usable_range().expect("intervals imply usable range");
            assert!(
                first <= start && start <= end && end <= last,
                "[{start}, {end}]"
            );
            if let Some(prev) = prev_end {
                assert!(
                    start > prev + 1,
                    "interval at {start} touches the previous one"
                );
            }
            prev_end = Some(end);
            total += end - start + 1;
        }
        assert_eq!(total, pool.allocated);
    }

    #[test]
    fn ipv4_skips_network_and_broadcast() {
        let mut pool = AddressPool::new(net("10.0.0.0/29"));
        assert_eq!(pool.capacity(), 6);
        let got: Vec<IpAddr> = (0..6).map(|_| pool.allocate().expect("free")).collect();
        let want: Vec<IpAddr> = (1..=6).map(|i| ip(&format!("10.0.0.{i}"))).collect();
        assert_eq!(got, want);
        assert!(!pool.is_allocated(ip("10.0.0.0")));
        assert!(!pool.is_allocated(ip("10.0.0.7")));
        assert_eq!(
            pool.allocate(),
            Err(IpamError::Exhausted {
                prefix: net("10.0.0.0/29")
            })
        );
        assert_canonical(&pool);
    }

    #[test]
    fn ipv6_skips_subnet_router_anycast() {
        let mut pool = AddressPool::new(net("fd00:1:2:3::/64"));
        assert_eq!(pool.allocate(), Ok(ip("fd00:1:2:3::1")));
        assert_eq!(pool.allocate(), Ok(ip("fd00:1:2:3::2")));
        assert_eq!(
            pool.check_usable(ip("fd00:1:2:3::")),
            Err(IpamError::Reserved {
                addr: ip("fd00:1:2:3::"),
                prefix: net("fd00:1:2:3::/64")
            })
        );
        // The all-ones address is an ordinary host address in IPv6.
        assert_eq!(pool.claim(ip("fd00:1:2:3:ffff:ffff:ffff:ffff")), Ok(()));
        // A /126 has 3 usable addresses: ::1, ::2, ::3.
        let mut small = AddressPool::new(net("fd00::/126"));
        assert_eq!(small.capacity(), 3);
        let got: Vec<IpAddr> = (0..3).map(|_| small.allocate().expect("free")).collect();
        assert_eq!(got, vec![ip("fd00::1"), ip("fd00::2"), ip("fd00::3")]);
        assert!(small.allocate().is_err());
    }

    #[test]
    fn released_address_is_reused_lowest_first() {
        let mut pool = AddressPool::new(net("192.168.1.0/24"));
        for _ in 0..10 {
            pool.allocate().expect("free");
        }
        pool.release(ip("192.168.1.7")).expect("held");
        pool.release(ip("192.168.1.3")).expect("held");
        pool.release(ip("192.168.1.5")).expect("held");
        assert_eq!(pool.peek_lowest_free(), Some(ip("192.168.1.3")));
        assert_eq!(pool.allocate(), Ok(ip("192.168.1.3")));
        assert_eq!(pool.allocate(), Ok(ip("192.168.1.5")));
        assert_eq!(pool.allocate(), Ok(ip("192.168.1.7")));
        assert_eq!(pool.allocate(), Ok(ip("192.168.1.11")));
        assert_eq!(pool.allocated(), 11);
        assert_canonical(&pool);
    }

    #[test]
    fn exhausted_pool_is_typed_error_and_changes_nothing() {
        let mut pool = AddressPool::new(net("10.9.0.0/29"));
        while pool.allocate().is_ok() {}
        let before = pool.clone();
        let err = pool.allocate().expect_err("exhausted");
        assert_eq!(
            err,
            IpamError::Exhausted {
                prefix: net("10.9.0.0/29")
            }
        );
        assert_eq!(err.to_string(), "address pool 10.9.0.0/29 is exhausted");
        assert_eq!(pool, before);
        assert_eq!(pool.available(), 0);
        assert_eq!(pool.peek_lowest_free(), None);
    }

    #[test]
    fn slash_30_has_two_usable_addresses_then_exhausts() {
        let mut pool = AddressPool::new(net("172.16.0.4/30"));
        assert_eq!(pool.capacity(), 2);
        assert_eq!(pool.allocate(), Ok(ip("172.16.0.5")));
        assert_eq!(pool.allocate(), Ok(ip("172.16.0.6")));
        assert!(matches!(pool.allocate(), Err(IpamError::Exhausted { .. })));
        assert_eq!((pool.allocated(), pool.available()), (2, 0));
        pool.release(ip("172.16.0.5")).expect("held");
        assert_eq!(pool.allocate(), Ok(ip("172.16.0.5")));
    }

    #[test]
    fn claim_outside_prefix_is_rejected() {
        let prefix = net("10.1.0.0/24");
        let mut pool = AddressPool::new(prefix);
        for addr in [
            "10.1.1.1",
            "10.0.255.255",
            "0.0.0.0",
            "255.255.255.255",
            "fd00::1",
        ] {
            let addr = ip(addr);
            assert_eq!(
                pool.claim(addr),
                Err(IpamError::OutsidePrefix { addr, prefix })
            );
            assert_eq!(
                pool.release(addr),
                Err(IpamError::OutsidePrefix { addr, prefix })
            );
            assert!(!pool.is_allocated(addr));
        }
        let v6 = net("fd00:1::/64");
        let mut pool6 = AddressPool::new(v6);
        for addr in [
            "fd00:1:0:1::",
            "fd00:0:ffff:ffff:ffff:ffff:ffff:ffff",
            "10.1.0.1",
        ] {
            let addr = ip(addr);
            assert_eq!(
                pool6.claim(addr),
                Err(IpamError::OutsidePrefix { addr, prefix: v6 })
            );
        }
        assert_eq!(pool.allocated() + pool6.allocated(), 0);
        assert_eq!(
            IpamError::OutsidePrefix {
                addr: ip("10.1.1.1"),
                prefix
            }
            .to_string(),
            "10.1.1.1 is outside 10.1.0.0/24"
        );
    }

    #[test]
    fn claim_reserved_is_rejected() {
        let prefix = net("10.2.0.0/16");
        let mut pool = AddressPool::new(prefix);
        for addr in ["10.2.0.0", "10.2.255.255"] {
            let addr = ip(addr);
            assert_eq!(pool.claim(addr), Err(IpamError::Reserved { addr, prefix }));
            assert_eq!(
                pool.release(addr),
                Err(IpamError::Reserved { addr, prefix })
            );
        }
        assert_eq!(pool.claim(ip("10.2.255.254")), Ok(()));
        assert_eq!(pool.claim(ip("10.2.0.1")), Ok(()));
        assert_eq!(pool.allocated(), 2);
    }

    #[test]
    fn double_claim_is_rejected() {
        let mut pool = AddressPool::new(net("fd00:42::/48"));
        let addr = ip("fd00:42::1:2:3");
        assert_eq!(pool.claim(addr), Ok(()));
        let before = pool.clone();
        assert_eq!(pool.claim(addr), Err(IpamError::AlreadyAllocated { addr }));
        assert_eq!(pool, before);
        // An allocated address cannot be claimed either.
        let first = pool.allocate().expect("free");
        assert_eq!(
            pool.claim(first),
            Err(IpamError::AlreadyAllocated { addr: first })
        );
    }

    #[test]
    fn release_of_unallocated_is_rejected() {
        let mut pool = AddressPool::new(net("10.3.0.0/24"));
        let addr = ip("10.3.0.9");
        assert_eq!(pool.release(addr), Err(IpamError::NotAllocated { addr }));
        pool.claim(addr).expect("free");
        pool.release(addr).expect("held");
        assert_eq!(pool.release(addr), Err(IpamError::NotAllocated { addr }));
        assert_eq!(pool, AddressPool::new(net("10.3.0.0/24")));
    }

    #[test]
    fn capacity_of_slash_64_is_2_pow_64_minus_1() {
        let mut pool = AddressPool::new(net("fd00:1:2:3::/64"));
        assert_eq!(pool.capacity(), (1u128 << 64) - 1);
        assert_eq!(pool.available(), (1u128 << 64) - 1);
        pool.allocate().expect("free");
        assert_eq!(pool.available(), (1u128 << 64) - 2);
        assert_eq!(
            AddressPool::new(net("fd00:1::/48")).capacity(),
            (1u128 << 80) - 1
        );
        assert_eq!(
            AddressPool::new(net("10.0.0.0/8")).capacity(),
            (1u128 << 24) - 2
        );
    }

    #[test]
    fn degenerate_prefixes_do_not_panic() {
        for (prefix, capacity) in [
            ("10.0.0.0/31", 0),
            ("10.0.0.1/32", 0),
            ("fd00::/127", 1),
            ("fd00::1/128", 0),
            ("0.0.0.0/0", (1u128 << 32) - 2),
            ("::/0", u128::MAX),
        ] {
            let mut pool = AddressPool::new(net(prefix));
            assert_eq!(pool.capacity(), capacity, "{prefix}");
            match pool.allocate() {
                Ok(addr) => {
                    assert!(capacity > 0);
                    assert!(pool.is_allocated(addr));
                    pool.release(addr).expect("held");
                }
                Err(err) => {
                    assert_eq!(capacity, 0);
                    assert_eq!(
                        err,
                        IpamError::Exhausted {
                            prefix: net(prefix)
                        }
                    );
                }
            }
            let network = pool.prefix().network();
            assert!(pool.claim(network).is_err());
            assert!(pool.release(pool.prefix().broadcast()).is_err());
        }
        // The very top of the IPv6 space: offset u128::MAX must not overflow.
        let mut all = AddressPool::new(net("::/0"));
        let top = ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        all.claim(top).expect("free");
        all.claim(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"))
            .expect("free");
        assert_eq!(all.iter().last(), Some(top));
        all.release(top).expect("held");
        assert_canonical(&all);
        // A /127 holds ::1 only.
        let mut p127 = AddressPool::new(net("fd00::/127"));
        assert_eq!(p127.allocate(), Ok(ip("fd00::1")));
        assert!(p127.allocate().is_err());
    }

    #[test]
    fn host_bits_are_cleared() {
        let pool = AddressPool::new(net("10.0.0.77/24"));
        assert_eq!(pool.prefix(), net("10.0.0.0/24"));
        assert_eq!(pool.family(), IpFamily::Ipv4);
        assert_eq!(AddressPool::new(net("fd00::5/64")).family(), IpFamily::Ipv6);
    }

    #[test]
    fn claim_merges_neighbours_and_release_splits() {
        let mut pool = AddressPool::new(net("10.4.0.0/24"));
        pool.claim(ip("10.4.0.10")).expect("free");
        pool.claim(ip("10.4.0.12")).expect("free");
        assert_eq!(pool.intervals.len(), 2);
        pool.claim(ip("10.4.0.11")).expect("free");
        assert_eq!(pool.intervals.len(), 1);
        assert_eq!(pool.intervals.get(&10), Some(&12));
        pool.release(ip("10.4.0.11")).expect("held");
        assert_eq!(pool.intervals.len(), 2);
        pool.release(ip("10.4.0.10")).expect("held");
        pool.release(ip("10.4.0.12")).expect("held");
        assert!(pool.intervals.is_empty());
        assert_eq!(pool, AddressPool::new(net("10.4.0.0/24")));
    }

    #[test]
    fn lowest_free_skips_a_claimed_run() {
        let mut pool = AddressPool::new(net("10.5.0.0/24"));
        for i in 1..=5 {
            pool.claim(ip(&format!("10.5.0.{i}"))).expect("free");
        }
        pool.claim(ip("10.5.0.7")).expect("free");
        assert_eq!(pool.allocate(), Ok(ip("10.5.0.6")));
        assert_eq!(pool.allocate(), Ok(ip("10.5.0.8")));
        assert_eq!(pool.intervals.len(), 1);
    }

    #[test]
    fn iter_lists_allocated_addresses_ascending() {
        let mut pool = AddressPool::new(net("fd00:9::/64"));
        pool.claim(ip("fd00:9::ffff:0:0:1")).expect("free");
        pool.claim(ip("fd00:9::3")).expect("free");
        pool.allocate().expect("free");
        pool.allocate().expect("free");
        assert_eq!(
            pool.iter().collect::<Vec<_>>(),
            vec![
                ip("fd00:9::1"),
                ip("fd00:9::2"),
                ip("fd00:9::3"),
                ip("fd00:9::ffff:0:0:1")
            ]
        );
        assert_eq!(pool.allocate(), Ok(ip("fd00:9::4")));
    }

    #[test]
    fn allocate_all_is_all_or_nothing() {
        let mut v4 = AddressPool::new(net("10.6.0.0/30"));
        let mut v6 = AddressPool::new(net("fd00:6::/64"));
        let got = allocate_all(&mut [&mut v4, &mut v6]).expect("both free");
        assert_eq!(got, vec![ip("10.6.0.1"), ip("fd00:6::1")]);

        // IPv6 exhausted: the IPv4 address taken first is given back.
        let mut full6 = AddressPool::new(net("fd00:7::/127"));
        full6.allocate().expect("free");
        let (v4_before, full6_before) = (v4.clone(), full6.clone());
        let err = allocate_all(&mut [&mut v4, &mut full6]).expect_err("v6 exhausted");
        assert_eq!(
            err,
            IpamError::Exhausted {
                prefix: net("fd00:7::/127")
            }
        );
        assert_eq!((&v4, &full6), (&v4_before, &full6_before));

        // IPv4 exhausted: reported even when passed second, nothing taken from IPv6.
        v4.allocate().expect("free");
        let v6_before = v6.clone();
        let err = allocate_all(&mut [&mut v6, &mut v4]).expect_err("v4 exhausted");
        assert_eq!(
            err,
            IpamError::Exhausted {
                prefix: net("10.6.0.0/30")
            }
        );
        assert_eq!(v6, v6_before);

        // Results follow the order of the pools; an empty list allocates nothing.
        let mut v4b = AddressPool::new(net("10.7.0.0/24"));
        let got = allocate_all(&mut [&mut v6, &mut v4b]).expect("both free");
        assert_eq!(got, vec![ip("fd00:6::2"), ip("10.7.0.1")]);
        assert_eq!(allocate_all(&mut []), Ok(vec![]));
    }

    #[test]
    fn serde_round_trip_keeps_pool_and_rejects_corrupt_intervals() {
        let mut pool = AddressPool::new(net("fd00:8::/64"));
        for _ in 0..20 {
            pool.allocate().expect("free");
        }
        pool.release(ip("fd00:8::7")).expect("held");
        pool.claim(ip("fd00:8::1:0:0:0")).expect("free");
        let json = serde_json::to_string(&pool).expect("serialise");
        assert!(!json.contains("allocated"), "{json}");
        let back: AddressPool = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, pool);
        assert_eq!(back.allocated(), 20);

        for corrupt in [
            r#"{"prefix":"10.0.0.0/24","intervals":{"1":5,"5":9}}"#, // overlap
            r#"{"prefix":"10.0.0.0/24","intervals":{"1":5,"6":9}}"#, // adjacent
            r#"{"prefix":"10.0.0.0/24","intervals":{"0":5}}"#,       // network address
            r#"{"prefix":"10.0.0.0/24","intervals":{"250":255}}"#,   // broadcast
            r#"{"prefix":"10.0.0.0/24","intervals":{"9":5}}"#,       // empty
            r#"{"prefix":"10.0.0.1/24","intervals":{}}"#,            // host bits
            r#"{"prefix":"10.0.0.0/31","intervals":{"1":1}}"#,       // no usable range
        ] {
            assert!(
                serde_json::from_str::<AddressPool>(corrupt).is_err(),
                "{corrupt}"
            );
        }
        let ok: AddressPool =
            serde_json::from_str(r#"{"prefix":"10.0.0.0/24","intervals":{"1":5,"7":254}}"#)
                .expect("valid");
        assert_eq!(ok.allocated(), 5 + 248);
        assert_eq!(ok.peek_lowest_free(), Some(ip("10.0.0.6")));
    }

    // ---- property tests -----------------------------------------------------------------

    /// One operation on a pool. Addresses for `Claim`/`ReleaseAny` are derived from the
    /// pool's prefix by `target` so they hit the interesting places.
    #[derive(Debug, Clone)]
    enum Op {
        Allocate,
        /// Release the n-th held address (modulo the number held).
        ReleaseHeld(usize),
        Claim(u8, u64),
        /// Release an arbitrary address (often not held, reserved or outside).
        ReleaseAny(u8, u64),
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Allocate),
            2 => any::<usize>().prop_map(Op::ReleaseHeld),
            2 => (any::<u8>(), any::<u64>()).prop_map(|(s, r)| Op::Claim(s, r)),
            1 => (any::<u8>(), any::<u64>()).prop_map(|(s, r)| Op::ReleaseAny(s, r)),
        ]
    }

    fn prefix_strategy() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            (any::<u32>(), 24u8..=30).prop_map(|(bits, len)| {
                IpNet::V4(
                    Ipv4Net::new(Ipv4Addr::from(bits), len)
                        .expect("valid length")
                        .trunc(),
                )
            }),
            (any::<u128>(), prop_oneof![Just(64u8), Just(120u8)]).prop_map(|(bits, len)| {
                IpNet::V6(
                    Ipv6Net::new(Ipv6Addr::from(bits), len)
                        .expect("valid length")
                        .trunc(),
                )
            }),
        ]
    }

    /// A deliberately naive model: the set of held addresses and the usable rules written
    /// directly in terms of addresses.
    struct Model {
        prefix: IpNet,
        held: BTreeSet<IpAddr>,
    }

    impl Model {
        fn size(&self) -> u128 {
            1u128 << (self.prefix.max_prefix_len() - self.prefix.prefix_len())
        }

        fn addr_with_bits(&self, bits: u128) -> IpAddr {
            match self.prefix {
                IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from((bits & 0xffff_ffff) as u32)),
                IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
            }
        }

        fn is_usable(&self, addr: IpAddr) -> bool {
            self.prefix.contains(&addr)
                && addr != self.prefix.network()
                && !(matches!(self.prefix, IpNet::V4(_)) && addr == self.prefix.broadcast())
        }

        fn lowest_free(&self) -> Option<IpAddr> {
            let base = addr_bits(self.prefix.network());
            (1..self.size())
                .map(|o| self.addr_with_bits(base + o))
                .take_while(|a| self.is_usable(*a))
                .find(|a| !self.held.contains(a))
        }

        /// An address near the start, near the end, just past the end, anywhere in the
        /// prefix, or of the other family.
        fn target(&self, selector: u8, raw: u64) -> IpAddr {
            let size = self.size();
            let raw = u128::from(raw);
            let offset = match selector % 5 {
                0 => raw % (size.min(256) + 4),
                1 => size - 1 - raw % 4,
                2 => size + raw % 4,
                3 => raw % size,
                _ => {
                    return match self.prefix {
                        IpNet::V4(_) => IpAddr::V6(Ipv6Addr::from(raw)),
                        IpNet::V6(_) => IpAddr::V4(Ipv4Addr::from(raw as u32)),
                    }
                }
            };
            self.addr_with_bits(addr_bits(self.prefix.network()).wrapping_add(offset))
        }

        fn expected_usable(&self, addr: IpAddr) -> Result<(), IpamError> {
            let prefix = self.prefix;
            if !prefix.contains(&addr) {
                Err(IpamError::OutsidePrefix { addr, prefix })
            } else if !self.is_usable(addr) {
                Err(IpamError::Reserved { addr, prefix })
            } else {
                Ok(())
            }
        }
    }

    /// Applies `op` to `pool`, returning a comparable trace of what happened.
    fn apply(
        pool: &mut AddressPool,
        op: &Op,
        held: &[IpAddr],
    ) -> Result<Option<IpAddr>, IpamError> {
        let model = Model {
            prefix: pool.prefix(),
            held: BTreeSet::new(),
        };
        match *op {
            Op::Allocate => pool.allocate().map(Some),
            Op::ReleaseHeld(i) if !held.is_empty() => {
                let addr = held[i % held.len()];
                pool.release(addr).map(|()| Some(addr))
            }
            Op::ReleaseHeld(_) => Ok(None),
            Op::Claim(s, r) => pool.claim(model.target(s, r)).map(|()| None),
            Op::ReleaseAny(s, r) => pool.release(model.target(s, r)).map(|()| None),
        }
    }

    proptest! {
        #[test]
        fn prop_p11_allocated_addresses_lie_in_prefix_and_are_never_handed_out_twice(
            prefix in prefix_strategy(),
            ops in prop::collection::vec(op_strategy(), 0..64),
        ) {
            let mut pool = AddressPool::new(prefix);
            let mut model = Model { prefix, held: BTreeSet::new() };
            let capacity = pool.capacity();
            prop_assert_eq!(capacity, model.size() - if prefix.addr().is_ipv4() { 2 } else { 1 });
            for op in &ops {
                match *op {
                    Op::Allocate => {
                        let want = model.lowest_free();
                        prop_assert_eq!(pool.peek_lowest_free(), want);
                        match want {
                            Some(addr) => {
                                prop_assert_eq!(pool.allocate(), Ok(addr));
                                prop_assert!(model.held.insert(addr), "{} handed out twice", addr);
                            }
                            None => {
                                let before = pool.clone();
                                prop_assert_eq!(pool.allocate(), Err(IpamError::Exhausted { prefix }));
                                prop_assert_eq!(&pool, &before);
                            }
                        }
                    }
                    Op::ReleaseHeld(i) => {
                        if let Some(&addr) = model.held.iter().nth(i % model.held.len().max(1)) {
                            prop_assert_eq!(pool.release(addr), Ok(()));
                            model.held.remove(&addr);
                        }
                    }
                    Op::Claim(s, r) => {
                        let addr = model.target(s, r);
                        let want = model.expected_usable(addr).and_then(|()| {
                            if model.held.contains(&addr) {
                                Err(IpamError::AlreadyAllocated { addr })
                            } else {
                                Ok(())
                            }
                        });
                        let before = pool.clone();
                        let got = pool.claim(addr);
                        prop_assert_eq!(&got, &want);
                        if got.is_ok() {
                            model.held.insert(addr);
                        } else {
                            prop_assert_eq!(&pool, &before);
                        }
                    }
                    Op::ReleaseAny(s, r) => {
                        let addr = model.target(s, r);
                        let want = model.expected_usable(addr).and_then(|()| {
                            if model.held.contains(&addr) {
                                Ok(())
                            } else {
                                Err(IpamError::NotAllocated { addr })
                            }
                        });
                        prop_assert_eq!(pool.release(addr), want.clone());
                        if want.is_ok() {
                            model.held.remove(&addr);
                        }
                    }
                }
                assert_canonical(&pool);
                let held = model.held.len() as u128;
                prop_assert_eq!(pool.allocated(), held);
                prop_assert_eq!(pool.available(), capacity - held);
                let listed: Vec<IpAddr> = pool.iter().collect();
                prop_assert_eq!(&listed, &model.held.iter().copied().collect::<Vec<_>>());
                for addr in &listed {
                    prop_assert!(prefix.contains(addr));
                    prop_assert_eq!(pool.check_usable(*addr), Ok(()));
                    prop_assert!(pool.is_allocated(*addr));
                }
            }
        }

        #[test]
        fn prop_allocation_is_deterministic(
            prefix in prefix_strategy(),
            ops in prop::collection::vec(op_strategy(), 0..64),
        ) {
            let mut a = AddressPool::new(prefix);
            let mut b = AddressPool::new(prefix);
            for op in &ops {
                let held_a: Vec<IpAddr> = a.iter().collect();
                let held_b: Vec<IpAddr> = b.iter().collect();
                prop_assert_eq!(apply(&mut a, op, &held_a), apply(&mut b, op, &held_b));
                prop_assert_eq!(&a, &b);
            }
        }

        #[test]
        fn prop_serde_round_trip_preserves_pool_and_future_allocations(
            prefix in prefix_strategy(),
            ops in prop::collection::vec(op_strategy(), 0..64),
        ) {
            let mut pool = AddressPool::new(prefix);
            for op in &ops {
                let held: Vec<IpAddr> = pool.iter().collect();
                let _ = apply(&mut pool, op, &held);
            }
            let json = serde_json::to_string(&pool).expect("serialise");
            let mut back: AddressPool = serde_json::from_str(&json).expect("deserialise");
            prop_assert_eq!(&back, &pool);
            prop_assert_eq!(back.allocate(), pool.allocate());
        }
    }
}

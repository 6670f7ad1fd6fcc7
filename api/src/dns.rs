//! The DNS record set of a network and the lookup semantics of its zone
//! (`docs/properties.md`: R5, R8, P5, P8).
//!
//! [`network_records`] derives every record of a network from a [`NetworkView`]: what
//! `GET /networks/{nid}/dns` lists and what a jump's `AgentConfig.dns.records` carries.
//! [`lookup`] (and its indexed form, [`ZoneIndex`]) defines what the jump's DNS server
//! answers for a query, so the server itself stays a thin adapter and the semantics are
//! property-testable here:
//!
//! 1. a name outside the zone is [`Answer::NotInZone`] (the server forwards it upstream);
//! 2. an exact owner name answers its records of the asked type, or [`Answer::NoData`];
//! 3. otherwise the most specific wildcard answers (`*.svc` matches one *or more* labels in
//!    front of `svc`; `*` matches every name below the apex), or `NoData`;
//! 4. otherwise the apex, and any name that exists only because a record lies below it
//!    (an empty non-terminal, e.g. `svc` when `db.svc` exists), is `NoData`;
//! 5. anything else in the zone is [`Answer::NxDomain`].
//!
//! Names compare ASCII case-insensitively and may carry a trailing dot.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::family::IpFamily;
use crate::view::NetworkView;

/// The record types the zone serves.
// `AAAA` is the DNS mnemonic; the wire form of the API uses it verbatim.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RecordType {
    /// An IPv4 address.
    A,
    /// An IPv6 address.
    AAAA,
}

impl RecordType {
    /// The record type that carries an address of `family`.
    pub fn for_family(family: IpFamily) -> RecordType {
        match family {
            IpFamily::Ipv4 => RecordType::A,
            IpFamily::Ipv6 => RecordType::AAAA,
        }
    }

    /// The record type that carries `addr`.
    pub fn of_addr(addr: &IpAddr) -> RecordType {
        RecordType::for_family(IpFamily::of_addr(addr))
    }

    /// The address family the record type carries.
    pub fn family(self) -> IpFamily {
        match self {
            RecordType::A => IpFamily::Ipv4,
            RecordType::AAAA => IpFamily::Ipv6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a record comes from: a peer's own address, or a DNS mapping on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RecordSource {
    Peer,
    Route,
}

/// One record of a network's zone, as `GET /networks/{nid}/dns` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DnsRecord {
    /// Relative to the zone, e.g. `laptop`, `db` or `*.svc`.
    pub name: String,
    /// Fully qualified without the trailing dot, e.g. `laptop.corp.internal`.
    pub fqdn: String,
    #[serde(rename = "type")]
    pub record_type: RecordType,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub value: IpAddr,
    pub source: RecordSource,
}

impl DnsRecord {
    fn new(name: &str, domain: &str, value: IpAddr, source: RecordSource) -> DnsRecord {
        DnsRecord {
            name: name.to_string(),
            fqdn: fqdn(name, domain),
            record_type: RecordType::of_addr(&value),
            value,
            source,
        }
    }
}

/// `name` qualified with `domain` (no trailing dot).
fn fqdn(name: &str, domain: &str) -> String {
    let domain = domain.trim_end_matches('.');
    if domain.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{domain}")
    }
}

/// Every record of the network: for each peer (creation order) an A for its IPv4 and an
/// AAAA for its IPv6 (only the families it has); then for each DNS mapping whose route
/// exists in the view (creation order) an A or AAAA per its IP. Deterministic.
///
/// A mapping whose route is gone yields nothing, so records disappear with their peer,
/// mapping or route (R5). Records are not deduplicated: a peer and a mapping sharing a
/// name both appear (the lookup answers with both addresses).
pub fn network_records(view: &NetworkView) -> Vec<DnsRecord> {
    let domain = view.network.domain.as_str();
    let routes: HashSet<_> = view.routes.iter().map(|r| r.id).collect();
    let peers = view.peers.iter().flat_map(|p| {
        p.addresses()
            .into_iter()
            .map(|a| DnsRecord::new(&p.name, domain, a, RecordSource::Peer))
    });
    let mappings = view
        .dns_mappings
        .iter()
        .filter(|m| routes.contains(&m.route_id))
        .map(|m| DnsRecord::new(&m.name, domain, m.ip_address, RecordSource::Route));
    peers.chain(mappings).collect()
}

/// What the zone answers for a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// NOERROR with these addresses (never empty, no duplicates, record order).
    Records(Vec<IpAddr>),
    /// NOERROR without answers: the name exists, but has no record of the asked type.
    NoData,
    /// The name is in the zone but does not exist.
    NxDomain,
    /// The name is outside the zone: the server forwards it to the network's upstreams.
    NotInZone,
}

/// What the zone answers for `qname` (case-insensitive, optional trailing dot) and `qtype`.
///
/// Exact name match first; else the most specific wildcard (`*.svc` matches one or more
/// labels in front of `svc`; `*` alone matches any name below the apex; longer suffix =
/// more specific); a matched name without records of `qtype` → `NoData`; the apex and
/// empty non-terminals → `NoData`; no name in the zone matches → `NxDomain`; a name
/// outside `zone` → `NotInZone`.
///
/// Builds a [`ZoneIndex`] per call; a server answering many queries keeps one instead.
pub fn lookup(zone: &str, records: &[DnsRecord], qname: &str, qtype: RecordType) -> Answer {
    ZoneIndex::new(zone, records).lookup(qname, qtype)
}

/// The records of one owner name, in record order.
type RecordSet = Vec<(RecordType, IpAddr)>;

/// A zone's records indexed for [`ZoneIndex::lookup`] in O(labels of the query name)
/// hash lookups, whatever the number of records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneIndex {
    /// Lowercase, without a trailing dot.
    zone: String,
    /// Exact owner names (lowercase fqdn, wildcard owners such as `*.svc.zone` included).
    names: HashMap<String, RecordSet>,
    /// Wildcards by the lowercase fqdn they stand in front of: `*.svc` in zone `corp.internal`
    /// is keyed `svc.corp.internal`; `*` is keyed by the apex.
    wildcards: HashMap<String, RecordSet>,
    /// Names in the zone that own no record but lie above one (empty non-terminals).
    ancestors: HashSet<String>,
}

/// `name` lowercased without one trailing dot.
fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Where the part of `name` in front of `zone` ends (`name[..i]`), if `name` lies strictly
/// below `zone`; both normalized.
fn below(zone: &str, name: &str) -> Option<usize> {
    if zone.is_empty() {
        return (!name.is_empty()).then_some(name.len());
    }
    let prefix = name.strip_suffix(zone)?.strip_suffix('.')?;
    (!prefix.is_empty()).then_some(prefix.len())
}

/// The proper ancestors of `name` that lie strictly below `zone`, nearest first, followed
/// by the apex; empty if `name` is not strictly below `zone`. Slices of `name`.
fn ancestors<'n>(zone: &str, name: &'n str) -> Vec<&'n str> {
    let Some(end) = below(zone, name) else {
        return Vec::new();
    };
    let mut out: Vec<&str> = name[..end]
        .match_indices('.')
        .map(|(i, _)| &name[i + 1..])
        .collect();
    // The apex: what follows the relative part (and its separating dot, if any).
    out.push(name.get(end + 1..).unwrap_or(""));
    out
}

impl ZoneIndex {
    /// Indexes `records` for the zone `zone` (case-insensitive, optional trailing dot).
    /// Records outside the zone are kept but can never answer.
    pub fn new(zone: &str, records: &[DnsRecord]) -> ZoneIndex {
        let zone = normalize(zone);
        let mut index = ZoneIndex {
            zone,
            ..ZoneIndex::default()
        };
        // An RRset is a set: a value repeated under one name and type answers once.
        let mut seen: HashSet<(String, RecordType, IpAddr)> = HashSet::new();
        for r in records {
            let owner = normalize(&r.fqdn);
            let rr = (r.record_type, r.value);
            if !seen.insert((owner.clone(), r.record_type, r.value)) {
                continue;
            }
            for a in ancestors(&index.zone, &owner) {
                index.ancestors.insert(a.to_string());
            }
            if let Some(suffix) = owner.strip_prefix("*.") {
                index
                    .wildcards
                    .entry(suffix.to_string())
                    .or_default()
                    .push(rr);
            } else if owner == "*" {
                // A wildcard in the root zone.
                index.wildcards.entry(String::new()).or_default().push(rr);
            }
            index.names.entry(owner).or_default().push(rr);
        }
        index
    }

    /// The zone, lowercase and without a trailing dot.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// Whether `qname` is the apex or lies below it.
    pub fn contains(&self, qname: &str) -> bool {
        let q = normalize(qname);
        q == self.zone || below(&self.zone, &q).is_some()
    }

    /// What the zone answers for `qname` and `qtype`; see [`lookup`].
    pub fn lookup(&self, qname: &str, qtype: RecordType) -> Answer {
        let q = normalize(qname);
        let apex = q == self.zone;
        if !apex && below(&self.zone, &q).is_none() {
            return Answer::NotInZone;
        }
        if let Some(set) = self.names.get(&q) {
            return answer(set, qtype);
        }
        if apex {
            return Answer::NoData;
        }
        // Nearest ancestor first: the longest wildcard suffix is the most specific.
        if let Some(set) = ancestors(&self.zone, &q)
            .into_iter()
            .find_map(|a| self.wildcards.get(a))
        {
            return answer(set, qtype);
        }
        if self.ancestors.contains(&q) {
            Answer::NoData
        } else {
            Answer::NxDomain
        }
    }
}

/// The answer of a matched owner name (its set holds no duplicates): its addresses of
/// `qtype`, or `NoData`.
fn answer(set: &RecordSet, qtype: RecordType) -> Answer {
    let out: Vec<IpAddr> = set
        .iter()
        .filter(|(t, _)| *t == qtype)
        .map(|(_, v)| *v)
        .collect();
    if out.is_empty() {
        Answer::NoData
    } else {
        Answer::Records(out)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::family::IpStackMode;
    use crate::ids::PeerId;
    use crate::testkit::Builder;
    use crate::view::NetworkData;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn records_json(data: &NetworkData) -> serde_json::Value {
        serde_json::to_value(network_records(&data.view())).expect("records serialise")
    }

    fn a(addrs: &[&str]) -> Answer {
        Answer::Records(addrs.iter().map(|s| ip(s)).collect())
    }

    /// A dual-stack `corp` network: jump `jump`, regular `laptop` (IPv4 only) and `phone`,
    /// routes `lan` (192.168.10.0/24) and `svc6` (fd10::/64) with mappings `db`, `*.svc`,
    /// `*` and `api.svc`.
    fn corp() -> NetworkData {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let j = b.jump("jump");
        let laptop = b.peer("laptop");
        b.peer_mut(laptop).ipv6_address = None;
        b.peer("phone");
        let lan = b.route("lan", "192.168.10.0/24", j);
        let svc6 = b.route("svc6", "fd10::/64", j);
        b.mapping(lan, "db", "192.168.10.5");
        b.mapping(svc6, "*.svc", "fd10::5");
        b.mapping(lan, "*", "192.168.10.99");
        b.mapping(svc6, "api.svc", "fd10::a");
        b.build()
    }

    fn corp_lookup(qname: &str, qtype: RecordType) -> Answer {
        let data = corp();
        lookup(
            "corp.internal",
            &network_records(&data.view()),
            qname,
            qtype,
        )
    }

    // ------------------------------------------------------------ the record set (R5, R8)

    #[test]
    fn ipv4_only_network_has_only_a_records() {
        let mut b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let j = b.jump("jump");
        b.peer("laptop");
        let lan = b.route("lan", "192.168.10.0/24", j);
        b.mapping(lan, "db", "192.168.10.5");
        assert_eq!(
            records_json(&b.build()),
            json!([
                {"name": "jump", "fqdn": "jump.corp.internal", "type": "A", "value": "10.0.0.1", "source": "peer"},
                {"name": "laptop", "fqdn": "laptop.corp.internal", "type": "A", "value": "10.0.0.2", "source": "peer"},
                {"name": "db", "fqdn": "db.corp.internal", "type": "A", "value": "192.168.10.5", "source": "route"},
            ])
        );
    }

    #[test]
    fn ipv6_only_network_has_only_aaaa_records() {
        let mut b = Builder::new("lab", IpStackMode::Ipv6, None, Some("fd00:1::/64"));
        let j = b.jump("jump");
        b.peer("laptop");
        let svc6 = b.route("svc6", "fd10::/64", j);
        b.mapping(svc6, "*.svc", "fd10::5");
        assert_eq!(
            records_json(&b.build()),
            json!([
                {"name": "jump", "fqdn": "jump.lab.internal", "type": "AAAA", "value": "fd00:1::1", "source": "peer"},
                {"name": "laptop", "fqdn": "laptop.lab.internal", "type": "AAAA", "value": "fd00:1::2", "source": "peer"},
                {"name": "*.svc", "fqdn": "*.svc.lab.internal", "type": "AAAA", "value": "fd10::5", "source": "route"},
            ])
        );
    }

    #[test]
    fn dual_stack_network_has_both_per_peer_then_mappings() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let j = b.jump("jump");
        b.peer("laptop");
        let lan = b.route("lan", "192.168.10.0/24", j);
        let svc6 = b.route("svc6", "fd10::/64", j);
        b.mapping(lan, "db", "192.168.10.5");
        b.mapping(svc6, "*.svc", "fd10::5");
        assert_eq!(
            records_json(&b.build()),
            json!([
                {"name": "jump", "fqdn": "jump.corp.internal", "type": "A", "value": "10.0.0.1", "source": "peer"},
                {"name": "jump", "fqdn": "jump.corp.internal", "type": "AAAA", "value": "fd00::1", "source": "peer"},
                {"name": "laptop", "fqdn": "laptop.corp.internal", "type": "A", "value": "10.0.0.2", "source": "peer"},
                {"name": "laptop", "fqdn": "laptop.corp.internal", "type": "AAAA", "value": "fd00::2", "source": "peer"},
                {"name": "db", "fqdn": "db.corp.internal", "type": "A", "value": "192.168.10.5", "source": "route"},
                {"name": "*.svc", "fqdn": "*.svc.corp.internal", "type": "AAAA", "value": "fd10::5", "source": "route"},
            ])
        );
    }

    #[test]
    fn records_round_trip_through_json() {
        let data = corp();
        let records = network_records(&data.view());
        let text = serde_json::to_string(&records).expect("serialise");
        let back: Vec<DnsRecord> = serde_json::from_str(&text).expect("deserialise");
        assert_eq!(back, records);
    }

    // R5: records go with their source.
    #[test]
    fn records_disappear_with_peer_and_mapping() {
        let mut data = corp();
        let zone = "corp.internal";
        let before = network_records(&data.view());
        assert_eq!(
            lookup(zone, &before, "phone.corp.internal", RecordType::A),
            a(&["10.0.0.3"])
        );
        assert_eq!(
            lookup(zone, &before, "db.corp.internal", RecordType::A),
            a(&["192.168.10.5"])
        );

        // The peer goes: its A and AAAA go; with the `*` mapping in place its name now
        // falls to the wildcard, so drop that mapping too to see NXDOMAIN.
        data.peers.retain(|p| p.name != "phone");
        data.dns_mappings.retain(|m| m.name != "*");
        let after = network_records(&data.view());
        assert!(after.iter().all(|r| r.name != "phone"));
        assert_eq!(after.len(), before.len() - 3);
        assert_eq!(
            lookup(zone, &after, "phone.corp.internal", RecordType::A),
            Answer::NxDomain
        );

        // The route goes: the mappings on it go, even though the mapping objects remain.
        let lan = data.routes.iter().find(|r| r.name == "lan").map(|r| r.id);
        data.routes.retain(|r| Some(r.id) != lan);
        let after = network_records(&data.view());
        assert!(after.iter().all(|r| r.name != "db"));
        assert_eq!(
            lookup(zone, &after, "db.corp.internal", RecordType::A),
            Answer::NxDomain
        );

        // The mapping goes.
        data.dns_mappings.retain(|m| m.name != "api.svc");
        let after = network_records(&data.view());
        assert!(after.iter().all(|r| r.name != "api.svc"));
        // `api.svc` now falls to `*.svc`.
        assert_eq!(
            lookup(zone, &after, "api.svc.corp.internal", RecordType::AAAA),
            a(&["fd10::5"])
        );
        let names: Vec<&str> = after.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["jump", "jump", "laptop", "*.svc"]);
    }

    // ------------------------------------------------------------ lookup semantics

    // The contract: "a query for a name in the zone with no record of that type answers NODATA".
    #[test]
    fn aaaa_query_for_ipv4_only_peer_is_nodata() {
        assert_eq!(
            corp_lookup("laptop.corp.internal", RecordType::A),
            a(&["10.0.0.2"])
        );
        assert_eq!(
            corp_lookup("laptop.corp.internal", RecordType::AAAA),
            Answer::NoData
        );
        // And in an IPv4-only network.
        let mut b = Builder::new("v4", IpStackMode::Ipv4, Some("10.1.0.0/24"), None);
        b.peer("host");
        let data = b.build();
        let records = network_records(&data.view());
        assert_eq!(
            lookup(
                "v4.internal",
                &records,
                "host.v4.internal",
                RecordType::AAAA
            ),
            Answer::NoData
        );
    }

    // The contract: "an unknown name in the zone answers NXDOMAIN".
    #[test]
    fn unknown_name_in_zone_is_nxdomain() {
        let mut b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        b.peer("laptop");
        let data = b.build();
        let records = network_records(&data.view());
        for qtype in [RecordType::A, RecordType::AAAA] {
            assert_eq!(
                lookup("corp.internal", &records, "printer.corp.internal", qtype),
                Answer::NxDomain
            );
            assert_eq!(
                lookup("corp.internal", &records, "x.laptop.corp.internal", qtype),
                Answer::NxDomain
            );
        }
    }

    // The contract: "names outside the zone are forwarded to the network's dns_servers".
    #[test]
    fn outside_zone_is_not_in_zone() {
        for q in [
            "example.com",
            "internal",
            "corp.internal.evil",
            "xcorp.internal",
            "",
            ".",
        ] {
            assert_eq!(corp_lookup(q, RecordType::A), Answer::NotInZone, "{q}");
        }
        // Even when a wildcard `*` is in the zone, it never reaches outside.
        assert_eq!(
            corp_lookup("laptop.other.internal", RecordType::A),
            Answer::NotInZone
        );
    }

    // The contract: "Names are case-insensitive"; the DNS sends fully qualified names with a dot.
    #[test]
    fn names_are_case_insensitive() {
        let want = a(&["10.0.0.2"]);
        for q in [
            "laptop.corp.internal",
            "LAPTOP.Corp.INTERNAL",
            "Laptop.corp.internal.",
        ] {
            assert_eq!(corp_lookup(q, RecordType::A), want, "{q}");
        }
        let data = corp();
        let records = network_records(&data.view());
        assert_eq!(
            lookup(
                "CORP.Internal.",
                &records,
                "laptop.corp.internal",
                RecordType::A
            ),
            want
        );
        assert_eq!(
            lookup(
                "corp.internal",
                &records,
                "X.Y.SVC.corp.internal.",
                RecordType::AAAA
            ),
            a(&["fd10::5"])
        );
    }

    // The contract: "Wildcards match one or more labels".
    #[test]
    fn wildcard_matches_one_or_more_labels() {
        for q in ["x.svc.corp.internal", "a.b.c.svc.corp.internal"] {
            assert_eq!(corp_lookup(q, RecordType::AAAA), a(&["fd10::5"]), "{q}");
        }
        // Zero labels is not a match: `svc` itself exists only as the parent of `*.svc`.
        assert_eq!(
            corp_lookup("svc.corp.internal", RecordType::AAAA),
            Answer::NoData
        );
        // A matched wildcard without records of the type is NODATA, like any name.
        assert_eq!(
            corp_lookup("x.svc.corp.internal", RecordType::A),
            Answer::NoData
        );
        // `*` alone matches any name below the apex, at any depth.
        for q in ["printer.corp.internal", "a.b.corp.internal"] {
            assert_eq!(corp_lookup(q, RecordType::A), a(&["192.168.10.99"]), "{q}");
        }
    }

    // The contract: "the most specific wins" (longer suffix).
    #[test]
    fn most_specific_wildcard_wins() {
        let mut b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let j = b.jump("jump");
        let lan = b.route("lan", "192.168.0.0/16", j);
        b.mapping(lan, "*", "192.168.0.1");
        b.mapping(lan, "*.svc", "192.168.0.2");
        b.mapping(lan, "*.eu.svc", "192.168.0.3");
        let data = b.build();
        let records = network_records(&data.view());
        let q = |name: &str, t| lookup("corp.internal", &records, name, t);
        assert_eq!(
            q("db.eu.svc.corp.internal", RecordType::A),
            a(&["192.168.0.3"])
        );
        assert_eq!(
            q("x.db.eu.svc.corp.internal", RecordType::A),
            a(&["192.168.0.3"])
        );
        assert_eq!(
            q("db.us.svc.corp.internal", RecordType::A),
            a(&["192.168.0.2"])
        );
        assert_eq!(
            q("eu.svc.corp.internal", RecordType::A),
            a(&["192.168.0.2"])
        );
        assert_eq!(q("db.corp.internal", RecordType::A), a(&["192.168.0.1"]));
        // The most specific wildcard decides even when it lacks the type: no fallback.
        assert_eq!(
            q("db.eu.svc.corp.internal", RecordType::AAAA),
            Answer::NoData
        );
        // The order of the records does not matter.
        let mut reversed = records.clone();
        reversed.reverse();
        assert_eq!(
            lookup(
                "corp.internal",
                &reversed,
                "db.eu.svc.corp.internal",
                RecordType::A
            ),
            a(&["192.168.0.3"])
        );
    }

    // DNS convention: an existing name is answered by its own records, never a wildcard.
    #[test]
    fn exact_name_beats_wildcard() {
        assert_eq!(
            corp_lookup("api.svc.corp.internal", RecordType::AAAA),
            a(&["fd10::a"])
        );
        assert_eq!(
            corp_lookup("db.corp.internal", RecordType::A),
            a(&["192.168.10.5"])
        );
        // Even with no record of the asked type (the wildcard `*` has an A).
        assert_eq!(
            corp_lookup("db.corp.internal", RecordType::AAAA),
            Answer::NoData
        );
        assert_eq!(
            corp_lookup("phone.corp.internal", RecordType::AAAA),
            a(&["fd00::3"])
        );
        // Below an exact name, wildcards apply again.
        assert_eq!(
            corp_lookup("x.api.svc.corp.internal", RecordType::AAAA),
            a(&["fd10::5"])
        );
        // The wildcard owner asked literally answers its own records.
        assert_eq!(
            corp_lookup("*.svc.corp.internal", RecordType::AAAA),
            a(&["fd10::5"])
        );
    }

    #[test]
    fn apex_and_empty_non_terminals_are_nodata() {
        let mut b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let j = b.jump("jump");
        let lan = b.route("lan", "192.168.10.0/24", j);
        b.mapping(lan, "db.eu.svc", "192.168.10.5");
        let data = b.build();
        let records = network_records(&data.view());
        let q = |name: &str| lookup("corp.internal", &records, name, RecordType::A);
        assert_eq!(q("corp.internal"), Answer::NoData);
        assert_eq!(q("corp.internal."), Answer::NoData);
        assert_eq!(q("eu.svc.corp.internal"), Answer::NoData);
        assert_eq!(q("svc.corp.internal"), Answer::NoData);
        assert_eq!(q("us.svc.corp.internal"), Answer::NxDomain);
        // An empty zone has an apex too.
        assert_eq!(
            lookup("corp.internal", &[], "corp.internal", RecordType::A),
            Answer::NoData
        );
        assert_eq!(
            lookup("corp.internal", &[], "x.corp.internal", RecordType::A),
            Answer::NxDomain
        );
    }

    #[test]
    fn records_sharing_a_name_all_answer_once_each() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let j = b.jump("jump");
        b.peer("db");
        let lan = b.route("lan", "192.168.10.0/24", j);
        b.mapping(lan, "db", "192.168.10.5");
        b.mapping(lan, "db", "192.168.10.6");
        b.mapping(lan, "db", "192.168.10.5");
        let data = b.build();
        let records = network_records(&data.view());
        assert_eq!(records.iter().filter(|r| r.name == "db").count(), 5);
        let q = |t| lookup("corp.internal", &records, "db.corp.internal", t);
        assert_eq!(
            q(RecordType::A),
            a(&["10.0.0.2", "192.168.10.5", "192.168.10.6"])
        );
        assert_eq!(q(RecordType::AAAA), a(&["fd00::2"]));
    }

    #[test]
    fn index_answers_over_ten_thousand_records() {
        let records: Vec<DnsRecord> = (0..10_000u32)
            .map(|i| {
                let v = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
                DnsRecord::new(
                    &format!("h{i}.rack{}", i % 100),
                    "corp.internal",
                    v,
                    RecordSource::Route,
                )
            })
            .collect();
        let idx = ZoneIndex::new("corp.internal", &records);
        for r in records.iter().step_by(997) {
            assert_eq!(
                idx.lookup(&r.fqdn, RecordType::A),
                Answer::Records(vec![r.value])
            );
            assert_eq!(idx.lookup(&r.fqdn, RecordType::AAAA), Answer::NoData);
        }
        assert_eq!(
            idx.lookup("rack7.corp.internal", RecordType::A),
            Answer::NoData
        );
        assert_eq!(
            idx.lookup("h7.rack8.corp.internal", RecordType::A),
            Answer::NxDomain
        );
    }

    #[test]
    fn zone_index_reports_its_zone_and_membership() {
        let idx = ZoneIndex::new("Corp.Internal.", &[]);
        assert_eq!(idx.zone(), "corp.internal");
        assert!(idx.contains("corp.internal"));
        assert!(idx.contains("A.corp.internal."));
        assert!(!idx.contains("xcorp.internal"));
        assert!(!idx.contains("internal"));
    }

    #[test]
    fn record_type_serialises_as_its_mnemonic() {
        assert_eq!(json!(RecordType::A), json!("A"));
        assert_eq!(json!(RecordType::AAAA), json!("AAAA"));
        assert_eq!(RecordType::of_addr(&ip("fd00::1")), RecordType::AAAA);
        assert_eq!(RecordType::AAAA.family(), IpFamily::Ipv6);
        assert_eq!(RecordType::A.to_string(), "A");
    }

    // ------------------------------------------------------------ properties (P5, P8)

    fn mode_strategy() -> impl Strategy<Value = IpStackMode> {
        prop_oneof![
            Just(IpStackMode::Ipv4),
            Just(IpStackMode::Ipv6),
            Just(IpStackMode::Dual)
        ]
    }

    fn builder(mode: IpStackMode) -> Builder {
        let v4 = mode.has(IpFamily::Ipv4).then_some("10.20.0.0/24");
        let v6 = mode.has(IpFamily::Ipv6).then_some("fd20::/64");
        Builder::new("net", mode, v4, v6)
    }

    /// A network of `mode` with one peer per entry of `peers` (`is_jump`, which family to
    /// drop: 0 none, 1 IPv4, 2 IPv6; dropped only if the peer keeps the other, R3).
    fn peers_network(mode: IpStackMode, peers: &[(bool, u8)]) -> (Builder, Vec<PeerId>) {
        let mut b = builder(mode);
        let mut ids = Vec::new();
        for (i, (is_jump, drop)) in peers.iter().enumerate() {
            let name = format!("p{i}");
            let id = if *is_jump {
                b.jump(&name)
            } else {
                b.peer(&name)
            };
            let p = b.peer_mut(id);
            match drop {
                1 if p.has_ipv6() => p.ipv4_address = None,
                2 if p.has_ipv4() => p.ipv6_address = None,
                _ => {}
            }
            ids.push(id);
        }
        (b, ids)
    }

    const MAPPING_NAMES: [&str; 6] = ["db", "web", "*.svc", "*", "api.svc", "p0"];

    /// A linear reading of the lookup rules, to check the index against.
    fn reference_lookup(
        zone: &str,
        records: &[DnsRecord],
        qname: &str,
        qtype: RecordType,
    ) -> Answer {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let q = qname.trim_end_matches('.').to_ascii_lowercase();
        let dotted = format!(".{zone}");
        if q != zone && !q.ends_with(&dotted) {
            return Answer::NotInZone;
        }
        let pick = |owner: &str| -> Answer {
            let mut v: Vec<IpAddr> = Vec::new();
            for r in records
                .iter()
                .filter(|r| r.fqdn.eq_ignore_ascii_case(owner))
            {
                if r.record_type == qtype && !v.contains(&r.value) {
                    v.push(r.value);
                }
            }
            if v.is_empty() {
                Answer::NoData
            } else {
                Answer::Records(v)
            }
        };
        if records.iter().any(|r| r.fqdn.eq_ignore_ascii_case(&q)) {
            return pick(&q);
        }
        let best = records
            .iter()
            .filter_map(|r| r.fqdn.strip_prefix("*."))
            .filter(|suffix| q.ends_with(&format!(".{suffix}")))
            .max_by_key(|suffix| suffix.len());
        if let Some(suffix) = best {
            return pick(&format!("*.{suffix}"));
        }
        if q == zone || records.iter().any(|r| r.fqdn.ends_with(&format!(".{q}"))) {
            return Answer::NoData;
        }
        Answer::NxDomain
    }

    proptest! {
        /// P5: for every peer exactly one A iff it has IPv4 (its address) and exactly one
        /// AAAA iff it has IPv6; no A carries an IPv6 value and no AAAA an IPv4 one.
        #[test]
        fn prop_p5_one_a_per_ipv4_and_one_aaaa_per_ipv6(
            mode in mode_strategy(),
            peers in prop::collection::vec((any::<bool>(), 0u8..3), 0..20),
        ) {
            let (b, _) = peers_network(mode, &peers);
            let data = b.build();
            let view = data.view();
            let records = network_records(&view);
            prop_assert_eq!(&records, &network_records(&view), "deterministic");
            for r in &records {
                prop_assert_eq!(r.record_type, RecordType::of_addr(&r.value), "{:?}", r);
                prop_assert_eq!(&r.fqdn, &format!("{}.net.internal", r.name));
            }
            for p in &data.peers {
                prop_assert!(mode.has(IpFamily::Ipv4) || !p.has_ipv4());
                prop_assert!(mode.has(IpFamily::Ipv6) || !p.has_ipv6());
                let of = |t: RecordType| -> Vec<IpAddr> {
                    records
                        .iter()
                        .filter(|r| r.source == RecordSource::Peer && r.name == p.name && r.record_type == t)
                        .map(|r| r.value)
                        .collect()
                };
                let want_a: Vec<IpAddr> = p.ipv4_address.map(IpAddr::V4).into_iter().collect();
                let want_aaaa: Vec<IpAddr> = p.ipv6_address.map(IpAddr::V6).into_iter().collect();
                prop_assert_eq!(of(RecordType::A), want_a.clone());
                prop_assert_eq!(of(RecordType::AAAA), want_aaaa.clone());
                let fq = format!("{}.net.internal", p.name);
                let answer = |w: Vec<IpAddr>| if w.is_empty() { Answer::NoData } else { Answer::Records(w) };
                prop_assert_eq!(lookup("net.internal", &records, &fq, RecordType::A), answer(want_a));
                prop_assert_eq!(lookup("net.internal", &records, &fq, RecordType::AAAA), answer(want_aaaa));
            }
            let peer_records = records.iter().filter(|r| r.source == RecordSource::Peer).count();
            prop_assert_eq!(peer_records, data.peers.iter().map(|p| p.addresses().len()).sum::<usize>());
        }

        /// P8: a mapping on an existing route gives exactly one record, A for an IPv4
        /// address and AAAA for an IPv6 one, carrying that address; lookups find it.
        #[test]
        fn prop_p8_mapping_records_match_their_address_family(
            mode in mode_strategy(),
            peers in prop::collection::vec((any::<bool>(), 0u8..3), 1..8),
            mappings in prop::collection::vec((any::<bool>(), 0..MAPPING_NAMES.len(), 1u8..250), 0..12),
            drop_route in any::<Option<bool>>(),
        ) {
            let (mut b, ids) = peers_network(mode, &peers);
            let jump = ids[0];
            let r4 = mode.has(IpFamily::Ipv4).then(|| b.route("lan", "192.168.0.0/24", jump));
            let r6 = mode.has(IpFamily::Ipv6).then(|| b.route("lan6", "fd30::/64", jump));
            for (v6, n, host) in &mappings {
                let (route, addr) = match (*v6, r4, r6) {
                    (true, _, Some(r)) | (false, None, Some(r)) => (r, format!("fd30::{host:x}")),
                    (_, Some(r), _) => (r, format!("192.168.0.{host}")),
                    (_, None, None) => unreachable!("every mode has a family"),
                };
                b.mapping(route, MAPPING_NAMES[*n], &addr);
            }
            let mut data = b.build();
            // Optionally drop one route: its mappings' records must go.
            if let Some(v6) = drop_route {
                let gone = if v6 { r6 } else { r4 };
                data.routes.retain(|r| Some(r.id) != gone);
            }
            let view = data.view();
            let records = network_records(&view);
            let route_records: Vec<&DnsRecord> =
                records.iter().filter(|r| r.source == RecordSource::Route).collect();
            let live: Vec<_> = data
                .dns_mappings
                .iter()
                .filter(|m| data.routes.iter().any(|r| r.id == m.route_id))
                .collect();
            prop_assert_eq!(route_records.len(), live.len());
            for (m, r) in live.iter().zip(&route_records) {
                prop_assert_eq!(&r.name, &m.name);
                prop_assert_eq!(&r.fqdn, &format!("{}.net.internal", m.name));
                prop_assert_eq!(r.value, m.ip_address);
                prop_assert_eq!(r.record_type, RecordType::for_family(m.family()));
                prop_assert_eq!(r.record_type.family(), m.ip_version);
                let q = match m.name.strip_prefix('*') {
                    Some(rest) => format!("zz-unmatched{rest}.net.internal"),
                    None => r.fqdn.clone(),
                };
                match lookup("net.internal", &records, &q, r.record_type) {
                    Answer::Records(v) => prop_assert!(v.contains(&m.ip_address), "{} {:?}", q, v),
                    other => prop_assert!(false, "{} answered {:?}", q, other),
                }
            }
            // The index agrees with a linear reading of the rules on assorted names.
            let mut queries: Vec<String> = records.iter().map(|r| r.fqdn.to_ascii_uppercase()).collect();
            queries.extend(
                ["net.internal", "svc.net.internal", "x.svc.net.internal", "a.b.api.svc.net.internal",
                 "nope.net.internal", "x.p0.net.internal", "example.com", "net.internal.", "internal"]
                .map(String::from),
            );
            let index = ZoneIndex::new("net.internal", &records);
            for q in &queries {
                for t in [RecordType::A, RecordType::AAAA] {
                    prop_assert_eq!(index.lookup(q, t), reference_lookup("net.internal", &records, q, t), "{} {}", q, t);
                }
            }
        }
    }
}

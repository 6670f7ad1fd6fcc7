//! Firewall rules of jump peers: structured per family, rendered for `iptables-restore` and
//! `ip6tables-restore` (docs/properties.md: R6, R9, P6, P9).
//!
//! A firewall rule is a [`FirewallRule`] value: the derivations below build lists of them and
//! only [`render_restore`] (through the rule's `Display`) turns them into text, so the
//! iptables syntax lives in exactly one place and the structured rules the API returns are
//! exactly the ones the agent applies.
//!
//! # Chains
//!
//! Raftwire owns three chains per family and never touches any other; the agent installs the
//! jumps into them:
//!
//! * [`JUMP_CHAIN`] (filter table), jumped to from `FORWARD` for traffic on the WireGuard
//!   interface: `ESTABLISHED,RELATED` accept, then every member peer's policy rules, then a
//!   default `DROP`.
//! * [`INPUT_CHAIN`] (filter table), jumped to from `INPUT` for the WireGuard interface: DNS
//!   (UDP and TCP 53) from the overlay. No final drop: the host's other input is untouched.
//! * [`NAT_CHAIN`] (nat table), jumped to from `POSTROUTING`: `MASQUERADE` of overlay traffic
//!   towards routes whose destination lies outside the overlay. The agent should jump to it
//!   only for traffic leaving through another interface than the WireGuard one
//!   (`! -o wg0`), since a route's destination may contain the overlay prefix.
//!
//! # Families
//!
//! A family gets rules only if the network's mode carries it **and** the jump holds an
//! address of it; otherwise it is `None` (the agent then flushes our chains of that family).
//! A policy rule lands only in the family of its target (P6): a CIDR target in its own
//! family, a peer/group target in each family its peers have addresses of, `any` in both.
//! It is emitted for a member peer only if that peer has an address of the family.
//! Forwarding is switched on exactly for the families that have filter rules (P9).
//!
//! # Rendering
//!
//! [`render_restore`] produces `iptables-restore --noflush` input: declaring our chains
//! (`:CHAIN - [0:0]`) flushes just those chains, the rules follow, and `COMMIT` applies the
//! whole table atomically, so a failed restore leaves the previous rule set in place.
//!
//! # Cost
//!
//! Linear in the number of emitted rules: target resolution is a constant-time lookup for
//! CIDR, peer and `any` targets; a group target is expanded once per family and cached, and
//! then costs one rule per member of the group, which is inherent to its meaning.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::family::IpFamily;
use crate::hash::FastMap;
use crate::ids::{GroupId, PeerId};
use crate::model::{Action, Direction, Peer, RuleTarget};
use crate::view::{NetworkView, ViewIndex};

/// Filter-table chain jumped to from `FORWARD` for traffic on the WireGuard interface.
pub const JUMP_CHAIN: &str = "RAFTWIRE_JUMP";
/// Filter-table chain jumped to from `INPUT` for traffic on the WireGuard interface.
pub const INPUT_CHAIN: &str = "RAFTWIRE_INPUT";
/// Nat-table chain jumped to from `POSTROUTING`.
pub const NAT_CHAIN: &str = "RAFTWIRE_NAT";
/// The table holding [`JUMP_CHAIN`] and [`INPUT_CHAIN`].
pub const FILTER_TABLE: &str = "filter";
/// The table holding [`NAT_CHAIN`].
pub const NAT_TABLE: &str = "nat";
/// The port the jump's DNS server listens on, opened in [`INPUT_CHAIN`].
pub const DNS_PORT: u16 = 53;
/// iptables' limit on the length of a comment.
const MAX_COMMENT_LEN: usize = 256;

/// One of the chains Raftwire owns. Serialises as the chain's name (`"RAFTWIRE_JUMP"`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Chain {
    #[serde(rename = "RAFTWIRE_JUMP")]
    Jump,
    #[serde(rename = "RAFTWIRE_INPUT")]
    Input,
    #[serde(rename = "RAFTWIRE_NAT")]
    Nat,
}

impl Chain {
    /// The chain's name in iptables.
    pub fn as_str(self) -> &'static str {
        match self {
            Chain::Jump => JUMP_CHAIN,
            Chain::Input => INPUT_CHAIN,
            Chain::Nat => NAT_CHAIN,
        }
    }

    /// The table the chain lives in.
    pub fn table(self) -> &'static str {
        match self {
            Chain::Jump | Chain::Input => FILTER_TABLE,
            Chain::Nat => NAT_TABLE,
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a matching packet (`-j` target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Drop,
    Masquerade,
    /// Leave this chain (back to the one that jumped here).
    Return,
}

impl Verdict {
    /// The iptables target: `ACCEPT`, `DROP`, `MASQUERADE`, `RETURN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accept => "ACCEPT",
            Verdict::Drop => "DROP",
            Verdict::Masquerade => "MASQUERADE",
            Verdict::Return => "RETURN",
        }
    }
}

impl From<Action> for Verdict {
    fn from(a: Action) -> Self {
        match a {
            Action::Allow => Verdict::Accept,
            Action::Deny => Verdict::Drop,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Transport protocol of a rule (`-p`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One iptables rule, appended (`-A`) to `chain`.
///
/// `Display` renders it as one `iptables-restore` line without the newline, matches in the
/// order `-s`, `-d`, `-p … -m … --dport`, conntrack, comment, then `-j`. `dport` is only
/// meaningful with a `protocol`; a rule with a port but no protocol renders `--dport`
/// without `-p`, which iptables rejects, so the whole restore fails and the previous rule
/// set stays in place rather than a rule silently matching every port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FirewallRule {
    pub chain: Chain,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub source: Option<IpNet>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub destination: Option<IpNet>,
    pub protocol: Option<Protocol>,
    pub dport: Option<u16>,
    /// Matches conntrack state `ESTABLISHED,RELATED`.
    pub established: bool,
    pub verdict: Verdict,
    /// Rendered as `-m comment --comment "…"` with unsafe characters replaced by `_`.
    pub comment: Option<String>,
}

impl FirewallRule {
    /// A rule matching everything in `chain`, e.g. the final `-j DROP`.
    pub fn all(chain: Chain, verdict: Verdict) -> Self {
        FirewallRule {
            chain,
            source: None,
            destination: None,
            protocol: None,
            dport: None,
            established: false,
            verdict,
            comment: None,
        }
    }

    /// `-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`.
    pub fn established(chain: Chain) -> Self {
        FirewallRule {
            established: true,
            ..FirewallRule::all(chain, Verdict::Accept)
        }
    }

    /// `-s source -d destination -j verdict`.
    pub fn between(chain: Chain, source: IpNet, destination: IpNet, verdict: Verdict) -> Self {
        FirewallRule {
            source: Some(source),
            destination: Some(destination),
            ..FirewallRule::all(chain, verdict)
        }
    }

    /// `-s source -p proto -m proto --dport port -j verdict`.
    pub fn service(
        chain: Chain,
        source: IpNet,
        protocol: Protocol,
        port: u16,
        verdict: Verdict,
    ) -> Self {
        FirewallRule {
            source: Some(source),
            protocol: Some(protocol),
            dport: Some(port),
            ..FirewallRule::all(chain, verdict)
        }
    }

    /// The family of the rule's addresses, if it has any (source first).
    pub fn family(&self) -> Option<IpFamily> {
        self.source
            .as_ref()
            .or(self.destination.as_ref())
            .map(IpFamily::of_net)
    }
}

impl FirewallRule {
    /// Appends the rule's `iptables-restore` line, without the newline, to `out`.
    ///
    /// Writes bytes directly rather than through `core::fmt`: a large jump renders
    /// hundreds of thousands of lines and formatting dominated the cost.
    pub fn render_into(&self, out: &mut String) {
        out.push_str("-A ");
        out.push_str(self.chain.as_str());
        if let Some(s) = &self.source {
            out.push_str(" -s ");
            push_net(out, s);
        }
        if let Some(d) = &self.destination {
            out.push_str(" -d ");
            push_net(out, d);
        }
        if let Some(p) = self.protocol {
            out.push_str(" -p ");
            out.push_str(p.as_str());
            out.push_str(" -m ");
            out.push_str(p.as_str());
        }
        if let Some(port) = self.dport {
            out.push_str(" --dport ");
            push_decimal(out, u32::from(port));
        }
        if self.established {
            out.push_str(" -m conntrack --ctstate ESTABLISHED,RELATED");
        }
        if let Some(c) = &self.comment {
            let c = sanitize_comment(c);
            if !c.is_empty() {
                out.push_str(" -m comment --comment \"");
                out.push_str(&c);
                out.push('"');
            }
        }
        out.push_str(" -j ");
        out.push_str(self.verdict.as_str());
    }
}

impl fmt::Display for FirewallRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = String::with_capacity(96);
        self.render_into(&mut line);
        f.write_str(&line)
    }
}

/// Appends `v` in decimal.
fn push_decimal(out: &mut String, v: u32) {
    let mut digits = [0u8; 10];
    let mut n = v;
    let mut i = digits.len();
    loop {
        i -= 1;
        // `n % 10` is below 10.
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for d in &digits[i..] {
        out.push(char::from(*d));
    }
}

/// Appends `v` in lowercase hexadecimal without leading zeros.
fn push_hex(out: &mut String, v: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12u32, 8, 4, 0] {
        let nibble = usize::from((v >> shift) & 0xf);
        if nibble != 0 || started || shift == 0 {
            started = true;
            out.push(char::from(HEX[nibble]));
        }
    }
}

fn push_ipv4(out: &mut String, a: Ipv4Addr) {
    for (i, octet) in a.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_decimal(out, u32::from(octet));
    }
}

/// Appends the address exactly as `Ipv6Addr`'s `Display` writes it (RFC 5952: the first
/// longest run of two or more zero groups becomes `::`; IPv4-mapped as `::ffff:a.b.c.d`).
fn push_ipv6(out: &mut String, a: Ipv6Addr) {
    if let Some(v4) = a.to_ipv4_mapped() {
        out.push_str("::ffff:");
        push_ipv4(out, v4);
        return;
    }
    let segments = a.segments();
    let (mut best_start, mut best_len, mut cur_start, mut cur_len) = (0, 0, 0, 0);
    for (i, s) in segments.iter().enumerate() {
        if *s == 0 {
            if cur_len == 0 {
                cur_start = i;
            }
            cur_len += 1;
            if cur_len > best_len {
                (best_start, best_len) = (cur_start, cur_len);
            }
        } else {
            cur_len = 0;
        }
    }
    let push_groups = |out: &mut String, groups: &[u16]| {
        for (i, s) in groups.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            push_hex(out, *s);
        }
    };
    if best_len > 1 {
        push_groups(out, &segments[..best_start]);
        out.push_str("::");
        push_groups(out, &segments[best_start + best_len..]);
    } else {
        push_groups(out, &segments);
    }
}

/// Appends the prefix as `IpNet`'s `Display` writes it: `addr/len`. Written by hand: the
/// prefixes are most of a large jump's rules and WireGuard config, and the formatting
/// machinery would cost more than everything else.
pub(crate) fn push_net(out: &mut String, net: &IpNet) {
    match net {
        IpNet::V4(n) => push_ipv4(out, n.addr()),
        IpNet::V6(n) => push_ipv6(out, n.addr()),
    }
    out.push('/');
    push_decimal(out, u32::from(net.prefix_len()));
}

/// Keeps a comment inside the double quotes of an `iptables-restore` line: letters, digits
/// and ` _.,:/=+@-` pass, anything else becomes `_`; at most 256 bytes.
fn sanitize_comment(c: &str) -> String {
    c.chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || " _.,:/=+@-".contains(ch) {
                ch
            } else {
                '_'
            }
        })
        .take(MAX_COMMENT_LEN)
        .collect()
}

/// The rules of one family and their `iptables-restore` (or `ip6tables-restore`) rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FamilyRules {
    pub rules: Vec<FirewallRule>,
    pub restore: String,
}

impl FamilyRules {
    fn new(table: &str, chains: &[&str], rules: Vec<FirewallRule>) -> Self {
        let restore = render_restore(table, chains, &rules);
        FamilyRules { rules, restore }
    }
}

/// Which IP forwarding sysctls the agent switches on; `false` means "leave alone".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Forwarding {
    /// `net.ipv4.ip_forward=1`.
    pub ipv4: bool,
    /// `net.ipv6.conf.all.forwarding=1`.
    pub ipv6: bool,
}

/// The filter rules of one jump (`GET …/peers/{pid}/firewall`, AgentConfig `firewall` and
/// `forwarding`). A `None` family is absent from the network or from the jump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JumpFirewall {
    pub ipv4: Option<FamilyRules>,
    pub ipv6: Option<FamilyRules>,
    pub forwarding: Forwarding,
}

/// The NAT rules of one jump (AgentConfig `nat`). A separate restore per family, so a kernel
/// without IPv6 NAT fails only the IPv6 one, which the agent reports. `None`: no rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JumpNat {
    pub ipv4: Option<FamilyRules>,
    pub ipv6: Option<FamilyRules>,
}

/// The jump peer `jump` of the view, if it is one.
fn jump_of<'a>(idx: &ViewIndex<'a>, jump: PeerId) -> Option<&'a Peer> {
    idx.peer(jump).filter(|p| p.is_jump)
}

/// Whether the jump gets rules of `family`: the network carries it and the jump holds it.
fn active(view: &NetworkView, jump: &Peer, family: IpFamily) -> bool {
    view.network.ip_stack_mode.has(family) && jump.has(family)
}

fn slot(family: IpFamily) -> usize {
    match family {
        IpFamily::Ipv4 => 0,
        IpFamily::Ipv6 => 1,
    }
}

/// Resolves rule targets to prefixes of one family, caching group expansions.
struct Resolver<'i, 'a> {
    idx: &'i ViewIndex<'a>,
    any: [IpNet; 2],
    groups: FastMap<GroupId, [Vec<IpNet>; 2]>,
}

impl<'i, 'a> Resolver<'i, 'a> {
    fn new(idx: &'i ViewIndex<'a>) -> Self {
        Resolver {
            idx,
            any: IpFamily::ALL.map(IpFamily::any_net),
            groups: FastMap::default(),
        }
    }

    /// The prefixes of `family` that `target` stands for, in a deterministic order.
    fn resolve(&mut self, target: &RuleTarget, family: IpFamily) -> Resolved<'_> {
        match target {
            RuleTarget::Cidr(net) if IpFamily::of_net(net) == family => Resolved::One(*net),
            RuleTarget::Cidr(_) => Resolved::Many(&[]),
            RuleTarget::Peer(id) => match self.idx.peer(*id).and_then(|p| p.host_net(family)) {
                Some(net) => Resolved::One(net),
                None => Resolved::Many(&[]),
            },
            RuleTarget::Any => Resolved::One(self.any[slot(family)]),
            RuleTarget::Group(id) => {
                let idx = self.idx;
                let nets = self.groups.entry(*id).or_insert_with(|| {
                    IpFamily::ALL.map(|f| {
                        idx.members(*id)
                            .iter()
                            .filter_map(|p| p.host_net(f))
                            .collect()
                    })
                });
                Resolved::Many(&nets[slot(family)])
            }
        }
    }
}

enum Resolved<'r> {
    One(IpNet),
    Many(&'r [IpNet]),
}

impl Resolved<'_> {
    fn as_slice(&self) -> &[IpNet] {
        match self {
            Resolved::One(net) => std::slice::from_ref(net),
            Resolved::Many(nets) => nets,
        }
    }
}

/// Filter rules of a jump; `None` if `jump` is not a jump peer of the view.
///
/// Per family present in the network's mode and held by the jump:
/// [`JUMP_CHAIN`] = conntrack accept; for each other peer of the view in creation order, the
/// rules of the policies of its groups (priority, then policy order, then rule order), each
/// rule once per prefix its target resolves to in that family (`output`: `-s peer -d
/// target`, `input`: `-s target -d peer`); a final `DROP`. [`INPUT_CHAIN`] = DNS over UDP and
/// TCP from the network's prefix of that family.
pub fn jump_firewall(view: &NetworkView, idx: &ViewIndex, jump: PeerId) -> Option<JumpFirewall> {
    let jump = jump_of(idx, jump)?;
    let on = IpFamily::ALL.map(|f| active(view, jump, f));
    let mut sets: [Vec<FirewallRule>; 2] = Default::default();
    for family in IpFamily::ALL.into_iter().filter(|f| on[slot(*f)]) {
        let rules = &mut sets[slot(family)];
        // A guess of a few rules per peer: regrowing copies every rule so far, while
        // capacity never written to costs no memory traffic.
        rules.reserve(8 * view.peers.len() + 4);
        rules.push(FirewallRule::established(Chain::Jump));
    }

    let mut resolver = Resolver::new(idx);
    for member in view.peers.iter().filter(|p| p.id != jump.id) {
        let mine = IpFamily::ALL.map(|f| {
            if on[slot(f)] {
                member.host_net(f)
            } else {
                None
            }
        });
        if mine.iter().all(Option::is_none) {
            continue;
        }
        for group in idx.groups_by_priority(member) {
            for policy in group.policy_ids.iter().filter_map(|id| idx.policy(*id)) {
                for rule in &policy.rules {
                    let verdict = Verdict::from(rule.action);
                    for family in IpFamily::ALL {
                        let Some(me) = mine[slot(family)] else {
                            continue;
                        };
                        let out = &mut sets[slot(family)];
                        for target in resolver.resolve(&rule.target, family).as_slice() {
                            let (source, destination) = match rule.direction {
                                Direction::Output => (me, *target),
                                Direction::Input => (*target, me),
                            };
                            out.push(FirewallRule::between(
                                Chain::Jump,
                                source,
                                destination,
                                verdict,
                            ));
                        }
                    }
                }
            }
        }
    }

    let [v4, v6] = sets;
    let finish = |family: IpFamily, mut rules: Vec<FirewallRule>| -> Option<FamilyRules> {
        if !on[slot(family)] {
            return None;
        }
        rules.push(FirewallRule::all(Chain::Jump, Verdict::Drop));
        if let Some(overlay) = view.network.cidr(family) {
            for protocol in [Protocol::Udp, Protocol::Tcp] {
                rules.push(FirewallRule::service(
                    Chain::Input,
                    overlay,
                    protocol,
                    DNS_PORT,
                    Verdict::Accept,
                ));
            }
        }
        Some(FamilyRules::new(
            FILTER_TABLE,
            &[JUMP_CHAIN, INPUT_CHAIN],
            rules,
        ))
    };
    let ipv4 = finish(IpFamily::Ipv4, v4);
    let ipv6 = finish(IpFamily::Ipv6, v6);
    let forwarding = Forwarding {
        ipv4: ipv4.is_some(),
        ipv6: ipv6.is_some(),
    };
    Some(JumpFirewall {
        ipv4,
        ipv6,
        forwarding,
    })
}

/// NAT rules of a jump; `None` if `jump` is not a jump peer of the view.
///
/// Per family present and held by the jump (IPv6 only if the jump has `ipv6_nat`): for each
/// route through this jump, in creation order, whose destination is of that family and not
/// inside the network's prefix, `-s <network prefix> -d <destination> -j MASQUERADE` (once
/// per destination). A family without such routes is `None`.
pub fn jump_nat(view: &NetworkView, idx: &ViewIndex, jump: PeerId) -> Option<JumpNat> {
    let jump = jump_of(idx, jump)?;
    let family_nat = |family: IpFamily| -> Option<FamilyRules> {
        if !active(view, jump, family) || (family == IpFamily::Ipv6 && !jump.ipv6_nat) {
            return None;
        }
        let overlay = view.network.cidr(family)?;
        // Traffic between peers of the overlay is never masqueraded, even under a route as
        // broad as `0.0.0.0/0`: it leaves the chain first.
        let keep_overlay = FirewallRule {
            destination: Some(overlay),
            ..FirewallRule::all(Chain::Nat, Verdict::Return)
        };
        let mut rules: Vec<FirewallRule> = vec![keep_overlay];
        for route in view.routes.iter().filter(|r| r.jump_peer_id == jump.id) {
            let dest = route.destination_cidr;
            if IpFamily::of_net(&dest) != family || overlay.contains(&dest) {
                continue;
            }
            let rule = FirewallRule::between(Chain::Nat, overlay, dest, Verdict::Masquerade);
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        (rules.len() > 1).then(|| FamilyRules::new(NAT_TABLE, &[NAT_CHAIN], rules))
    };
    Some(JumpNat {
        ipv4: family_nat(IpFamily::Ipv4),
        ipv6: family_nat(IpFamily::Ipv6),
    })
}

/// `iptables-restore --noflush` text for one family's rules of one table.
///
/// `*table`, one `:CHAIN - [0:0]` line per chain in `chains` (which, under `--noflush`,
/// creates the chain or flushes it, leaving every other chain alone), the rules in the order
/// given, and `COMMIT`. The text ends with `"COMMIT\n"`. The same text serves
/// `ip6tables-restore`.
pub fn render_restore(table: &str, chains: &[&str], rules: &[FirewallRule]) -> String {
    // An IPv4 policy line is ~60 bytes, an IPv6 one ~80; over-reserving costs nothing
    // until written, growing copies the whole text.
    let per_rule = match rules.iter().find_map(FirewallRule::family) {
        Some(IpFamily::Ipv6) => 96,
        _ => 72,
    };
    let mut out = String::with_capacity(16 + 32 * chains.len() + per_rule * rules.len());
    out.push('*');
    out.push_str(table);
    out.push('\n');
    for chain in chains {
        out.push(':');
        out.push_str(chain);
        out.push_str(" - [0:0]\n");
    }
    for rule in rules {
        rule.render_into(&mut out);
        out.push('\n');
    }
    out.push_str("COMMIT\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::IpStackMode;
    use crate::testkit::Builder;
    use crate::view::NetworkData;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test CIDR")
    }

    /// `-A RAFTWIRE_JUMP -s src -d dst -j verdict`.
    fn jump_rule(src: &str, dst: &str, verdict: Verdict) -> FirewallRule {
        FirewallRule::between(Chain::Jump, net(src), net(dst), verdict)
    }

    fn dns_rules(overlay: &str) -> [FirewallRule; 2] {
        [Protocol::Udp, Protocol::Tcp]
            .map(|p| FirewallRule::service(Chain::Input, net(overlay), p, 53, Verdict::Accept))
    }

    fn firewall(data: &NetworkData, jump: PeerId) -> Option<JumpFirewall> {
        let view = data.view();
        let idx = view.index();
        jump_firewall(&view, &idx, jump)
    }

    fn nat(data: &NetworkData, jump: PeerId) -> Option<JumpNat> {
        let view = data.view();
        let idx = view.index();
        jump_nat(&view, &idx, jump)
    }

    use Verdict::{Accept, Drop};

    #[test]
    fn ipv4_network_with_the_default_policy() {
        let mut b = Builder::new("office", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let jump = b.jump("gw"); // 10.0.0.1
        b.peer("laptop"); // 10.0.0.2
        b.peer("phone"); // 10.0.0.3
        let data = b.build();
        let fw = firewall(&data, jump).expect("a jump");

        assert_eq!(fw.ipv6, None);
        assert_eq!(
            fw.forwarding,
            Forwarding {
                ipv4: true,
                ipv6: false
            }
        );
        let v4 = fw.ipv4.expect("IPv4 rules");
        let mut expected = vec![
            FirewallRule::established(Chain::Jump),
            jump_rule("10.0.0.2/32", "10.0.0.0/24", Accept),
            jump_rule("10.0.0.3/32", "10.0.0.0/24", Accept),
            FirewallRule::all(Chain::Jump, Drop),
        ];
        expected.extend(dns_rules("10.0.0.0/24"));
        assert_eq!(v4.rules, expected);
        assert_eq!(
            v4.restore,
            "*filter
:RAFTWIRE_JUMP - [0:0]
:RAFTWIRE_INPUT - [0:0]
-A RAFTWIRE_JUMP -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A RAFTWIRE_JUMP -s 10.0.0.2/32 -d 10.0.0.0/24 -j ACCEPT
-A RAFTWIRE_JUMP -s 10.0.0.3/32 -d 10.0.0.0/24 -j ACCEPT
-A RAFTWIRE_JUMP -j DROP
-A RAFTWIRE_INPUT -s 10.0.0.0/24 -p udp -m udp --dport 53 -j ACCEPT
-A RAFTWIRE_INPUT -s 10.0.0.0/24 -p tcp -m tcp --dport 53 -j ACCEPT
COMMIT
"
        );
        // No routes, no NAT.
        assert_eq!(
            nat(&data, jump),
            Some(JumpNat {
                ipv4: None,
                ipv6: None
            })
        );
    }

    #[test]
    fn ipv6_network_has_only_ip6tables_rules() {
        let mut b = Builder::new("lab", IpStackMode::Ipv6, None, Some("fd00:1::/64"));
        let jump = b.jump("gw"); // fd00:1::1
        b.peer("box"); // fd00:1::2
        let data = b.build();
        let fw = firewall(&data, jump).expect("a jump");

        assert_eq!(fw.ipv4, None);
        assert_eq!(
            fw.forwarding,
            Forwarding {
                ipv4: false,
                ipv6: true
            }
        );
        let v6 = fw.ipv6.expect("IPv6 rules");
        let mut expected = vec![
            FirewallRule::established(Chain::Jump),
            jump_rule("fd00:1::2/128", "fd00:1::/64", Accept),
            FirewallRule::all(Chain::Jump, Drop),
        ];
        expected.extend(dns_rules("fd00:1::/64"));
        assert_eq!(v6.rules, expected);
        assert_eq!(
            v6.restore,
            "*filter
:RAFTWIRE_JUMP - [0:0]
:RAFTWIRE_INPUT - [0:0]
-A RAFTWIRE_JUMP -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A RAFTWIRE_JUMP -s fd00:1::2/128 -d fd00:1::/64 -j ACCEPT
-A RAFTWIRE_JUMP -j DROP
-A RAFTWIRE_INPUT -s fd00:1::/64 -p udp -m udp --dport 53 -j ACCEPT
-A RAFTWIRE_INPUT -s fd00:1::/64 -p tcp -m tcp --dport 53 -j ACCEPT
COMMIT
"
        );
    }

    /// A dual-stack network where `laptop` is also in `admins` (priority 10, before the
    /// default group's 1000) whose policy shows every kind of target and both directions.
    #[test]
    fn dual_stack_network_with_a_custom_policy_shows_the_order() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let jump = b.jump("gw"); // 10.0.0.1, fd00::1
        let laptop = b.peer("laptop"); // 10.0.0.2, fd00::2
        let web = b.peer("web"); // 10.0.0.3, fd00::3
        let db = b.peer("db"); // 10.0.0.4, fd00::4
        let admins = b.group("admins", 10);
        let servers = b.group("servers", 100);
        b.join(laptop, admins);
        b.join(web, servers);
        b.join(db, servers);
        let admin = b.policy(
            "admin",
            &[
                (Direction::Output, Action::Allow, RuleTarget::Peer(db)),
                (Direction::Output, Action::Allow, RuleTarget::Group(servers)),
                (Direction::Input, Action::Allow, RuleTarget::Peer(web)),
                (
                    Direction::Output,
                    Action::Allow,
                    RuleTarget::Cidr(net("2001:db8::/32")),
                ),
                (Direction::Output, Action::Deny, RuleTarget::Any),
            ],
        );
        b.attach_policy(admins, admin);
        let data = b.build();
        let fw = firewall(&data, jump).expect("a jump");
        assert_eq!(
            fw.forwarding,
            Forwarding {
                ipv4: true,
                ipv6: true
            }
        );

        let v4 = fw.ipv4.expect("IPv4 rules");
        let mut expected = vec![
            FirewallRule::established(Chain::Jump),
            // laptop, group admins: peer db, group servers (web, db), input from web,
            // (the IPv6 CIDR is not here), deny any ...
            jump_rule("10.0.0.2/32", "10.0.0.4/32", Accept),
            jump_rule("10.0.0.2/32", "10.0.0.3/32", Accept),
            jump_rule("10.0.0.2/32", "10.0.0.4/32", Accept),
            jump_rule("10.0.0.3/32", "10.0.0.2/32", Accept),
            jump_rule("10.0.0.2/32", "0.0.0.0/0", Drop),
            // ... then group default (shadowed by the deny above).
            jump_rule("10.0.0.2/32", "10.0.0.0/24", Accept),
            // web and db: group servers has no policy, group default.
            jump_rule("10.0.0.3/32", "10.0.0.0/24", Accept),
            jump_rule("10.0.0.4/32", "10.0.0.0/24", Accept),
            FirewallRule::all(Chain::Jump, Drop),
        ];
        expected.extend(dns_rules("10.0.0.0/24"));
        assert_eq!(v4.rules, expected);
        assert_eq!(
            v4.restore,
            "*filter
:RAFTWIRE_JUMP - [0:0]
:RAFTWIRE_INPUT - [0:0]
-A RAFTWIRE_JUMP -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A RAFTWIRE_JUMP -s 10.0.0.2/32 -d 10.0.0.4/32 -j ACCEPT
-A RAFTWIRE_JUMP -s 10.0.0.2/32 -d 10.0.0.3/32 -j ACCEPT
-A RAFTWIRE_JUMP -s 10.0.0.2/32 -d 10.0.0.4/32 -j ACCEPT
-A RAFTWIRE_JUMP -s 10.0.0.3/32 -d 10.0.0.2/32 -j ACCEPT
-A RAFTWIRE_JUMP -s 10.0.0.2/32 -d 0.0.0.0/0 -j DROP
-A RAFTWIRE_JUMP -s 10.0.0.2/32 -d 10.0.0.0/24 -j ACCEPT
-A RAFTWIRE_JUMP -s 10.0.0.3/32 -d 10.0.0.0/24 -j ACCEPT
-A RAFTWIRE_JUMP -s 10.0.0.4/32 -d 10.0.0.0/24 -j ACCEPT
-A RAFTWIRE_JUMP -j DROP
-A RAFTWIRE_INPUT -s 10.0.0.0/24 -p udp -m udp --dport 53 -j ACCEPT
-A RAFTWIRE_INPUT -s 10.0.0.0/24 -p tcp -m tcp --dport 53 -j ACCEPT
COMMIT
"
        );

        let v6 = fw.ipv6.expect("IPv6 rules");
        let mut expected = vec![
            FirewallRule::established(Chain::Jump),
            jump_rule("fd00::2/128", "fd00::4/128", Accept),
            jump_rule("fd00::2/128", "fd00::3/128", Accept),
            jump_rule("fd00::2/128", "fd00::4/128", Accept),
            jump_rule("fd00::3/128", "fd00::2/128", Accept),
            jump_rule("fd00::2/128", "2001:db8::/32", Accept),
            jump_rule("fd00::2/128", "::/0", Drop),
            jump_rule("fd00::2/128", "fd00::/64", Accept),
            jump_rule("fd00::3/128", "fd00::/64", Accept),
            jump_rule("fd00::4/128", "fd00::/64", Accept),
            FirewallRule::all(Chain::Jump, Drop),
        ];
        expected.extend(dns_rules("fd00::/64"));
        assert_eq!(v6.rules, expected);
        assert_eq!(
            v6.restore,
            "*filter
:RAFTWIRE_JUMP - [0:0]
:RAFTWIRE_INPUT - [0:0]
-A RAFTWIRE_JUMP -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A RAFTWIRE_JUMP -s fd00::2/128 -d fd00::4/128 -j ACCEPT
-A RAFTWIRE_JUMP -s fd00::2/128 -d fd00::3/128 -j ACCEPT
-A RAFTWIRE_JUMP -s fd00::2/128 -d fd00::4/128 -j ACCEPT
-A RAFTWIRE_JUMP -s fd00::3/128 -d fd00::2/128 -j ACCEPT
-A RAFTWIRE_JUMP -s fd00::2/128 -d 2001:db8::/32 -j ACCEPT
-A RAFTWIRE_JUMP -s fd00::2/128 -d ::/0 -j DROP
-A RAFTWIRE_JUMP -s fd00::2/128 -d fd00::/64 -j ACCEPT
-A RAFTWIRE_JUMP -s fd00::3/128 -d fd00::/64 -j ACCEPT
-A RAFTWIRE_JUMP -s fd00::4/128 -d fd00::/64 -j ACCEPT
-A RAFTWIRE_JUMP -j DROP
-A RAFTWIRE_INPUT -s fd00::/64 -p udp -m udp --dport 53 -j ACCEPT
-A RAFTWIRE_INPUT -s fd00::/64 -p tcp -m tcp --dport 53 -j ACCEPT
COMMIT
"
        );
    }

    #[test]
    fn structured_rules_serialise_with_iptables_names() {
        let rule = jump_rule("10.0.0.2/32", "0.0.0.0/0", Drop);
        assert_eq!(
            serde_json::to_value(&rule).expect("json"),
            serde_json::json!({
                "chain": "RAFTWIRE_JUMP",
                "source": "10.0.0.2/32",
                "destination": "0.0.0.0/0",
                "protocol": null,
                "dport": null,
                "established": false,
                "verdict": "drop",
                "comment": null,
            })
        );
        let dns = FirewallRule::service(Chain::Input, net("fd00::/64"), Protocol::Tcp, 53, Accept);
        let back: FirewallRule =
            serde_json::from_str(&serde_json::to_string(&dns).expect("json")).expect("parse");
        assert_eq!(back, dns);
        assert_eq!(
            serde_json::to_value(dns).expect("json")["protocol"],
            serde_json::json!("tcp")
        );
    }

    #[test]
    fn comments_are_rendered_with_safe_characters_only() {
        let rule = FirewallRule {
            comment: Some("rule \"x\"; $(rm -rf /)\n`y`".into()),
            ..jump_rule("10.0.0.2/32", "10.0.0.3/32", Accept)
        };
        assert_eq!(
            rule.to_string(),
            "-A RAFTWIRE_JUMP -s 10.0.0.2/32 -d 10.0.0.3/32 \
             -m comment --comment \"rule _x__ __rm -rf /___y_\" -j ACCEPT"
        );
        let long = FirewallRule {
            comment: Some("a".repeat(1000)),
            ..FirewallRule::all(Chain::Jump, Drop)
        };
        assert!(long
            .to_string()
            .contains(&format!("\"{}\"", "a".repeat(256))));
        assert!(!long.to_string().contains(&"a".repeat(257)));
    }

    #[test]
    fn render_restore_with_no_rules_still_flushes_the_chains() {
        assert_eq!(
            render_restore(NAT_TABLE, &[NAT_CHAIN], &[]),
            "*nat\n:RAFTWIRE_NAT - [0:0]\nCOMMIT\n"
        );
    }

    #[test]
    fn ipv6_cidr_rule_lands_only_in_ip6tables() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let jump = b.jump("gw");
        b.peer("laptop"); // 10.0.0.2, fd00::2
        let d = b.default_group();
        b.clear_policies(d);
        let p = b.policy(
            "v6 only",
            &[(
                Direction::Output,
                Action::Allow,
                RuleTarget::Cidr(net("2001:db8:1::/48")),
            )],
        );
        b.attach_policy(d, p);
        let fw = firewall(&b.build(), jump).expect("a jump");

        let v4 = fw.ipv4.expect("IPv4 rules");
        assert_eq!(
            v4.rules[..2],
            [
                FirewallRule::established(Chain::Jump),
                FirewallRule::all(Chain::Jump, Drop)
            ]
        );
        assert!(!v4.restore.contains("2001:db8"));
        let v6 = fw.ipv6.expect("IPv6 rules");
        assert_eq!(
            v6.rules[1],
            jump_rule("fd00::2/128", "2001:db8:1::/48", Accept)
        );
        assert!(v6
            .restore
            .contains("-A RAFTWIRE_JUMP -s fd00::2/128 -d 2001:db8:1::/48 -j ACCEPT\n"));

        // In an IPv4-only network the IPv6 rule has nowhere to go.
        let mut b = Builder::new("office", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let jump = b.jump("gw");
        b.peer("laptop");
        let d = b.default_group();
        let p = b.policy(
            "v6 only",
            &[(
                Direction::Input,
                Action::Deny,
                RuleTarget::Cidr(net("2001:db8:1::/48")),
            )],
        );
        b.attach_policy(d, p);
        let fw = firewall(&b.build(), jump).expect("a jump");
        assert_eq!(fw.ipv6, None);
        assert!(!fw.ipv4.expect("IPv4 rules").restore.contains("2001:db8"));
    }

    #[test]
    fn rule_skipped_when_member_lacks_family() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let jump = b.jump("gw");
        let v4_only = b.peer("old"); // 10.0.0.2 (its IPv6 address removed below)
        let both = b.peer("new"); // 10.0.0.3, fd00::3
        b.peer_mut(v4_only).ipv6_address = None;
        let d = b.default_group();
        b.clear_policies(d);
        let p = b.policy(
            "mixed",
            &[
                (Direction::Output, Action::Allow, RuleTarget::Any),
                (Direction::Input, Action::Allow, RuleTarget::Peer(both)),
            ],
        );
        b.attach_policy(d, p);
        let fw = firewall(&b.build(), jump).expect("a jump");

        let v4 = fw.ipv4.expect("IPv4 rules");
        assert_eq!(
            v4.rules[..6],
            [
                FirewallRule::established(Chain::Jump),
                jump_rule("10.0.0.2/32", "0.0.0.0/0", Accept),
                jump_rule("10.0.0.3/32", "10.0.0.2/32", Accept),
                jump_rule("10.0.0.3/32", "0.0.0.0/0", Accept),
                jump_rule("10.0.0.3/32", "10.0.0.3/32", Accept),
                FirewallRule::all(Chain::Jump, Drop),
            ]
        );
        // `old` has no IPv6 address: none of its rules appear in ip6tables.
        let v6 = fw.ipv6.expect("IPv6 rules");
        assert_eq!(
            v6.rules[..4],
            [
                FirewallRule::established(Chain::Jump),
                jump_rule("fd00::3/128", "::/0", Accept),
                jump_rule("fd00::3/128", "fd00::3/128", Accept),
                FirewallRule::all(Chain::Jump, Drop),
            ]
        );

        // A peer target without an address of the family resolves to nothing.
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let jump = b.jump("gw");
        let v4_only = b.peer("old");
        b.peer("new"); // 10.0.0.3, fd00::3
        b.peer_mut(v4_only).ipv6_address = None;
        let d = b.default_group();
        b.clear_policies(d);
        let p = b.policy(
            "to old",
            &[(Direction::Output, Action::Allow, RuleTarget::Peer(v4_only))],
        );
        b.attach_policy(d, p);
        let fw = firewall(&b.build(), jump).expect("a jump");
        let v6 = fw.ipv6.expect("IPv6 rules");
        assert_eq!(v6.rules.len(), 2 + 2, "conntrack, drop and DNS only");
        let v4 = fw.ipv4.expect("IPv4 rules");
        assert_eq!(v4.rules[2], jump_rule("10.0.0.3/32", "10.0.0.2/32", Accept));
    }

    #[test]
    fn jump_without_an_address_of_a_family_gets_no_rules_or_forwarding_for_it() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let jump = b.jump("gw");
        b.peer("laptop");
        b.peer_mut(jump).ipv4_address = None;
        let fw = firewall(&b.build(), jump).expect("a jump");
        assert_eq!(fw.ipv4, None);
        assert!(fw.ipv6.is_some());
        assert_eq!(
            fw.forwarding,
            Forwarding {
                ipv4: false,
                ipv6: true
            }
        );
    }

    #[test]
    fn unknown_targets_and_policies_are_ignored() {
        let mut b = Builder::new("office", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let jump = b.jump("gw");
        b.peer("laptop");
        let d = b.default_group();
        b.clear_policies(d);
        let p = b.policy(
            "dangling",
            &[
                (
                    Direction::Output,
                    Action::Allow,
                    RuleTarget::Peer(PeerId::from_u128(0xDEAD)),
                ),
                (
                    Direction::Output,
                    Action::Allow,
                    RuleTarget::Group(GroupId::from_u128(0xBEEF)),
                ),
            ],
        );
        b.attach_policy(d, p);
        b.attach_policy(d, crate::ids::PolicyId::from_u128(0xFEED));
        let fw = firewall(&b.build(), jump).expect("a jump");
        assert_eq!(fw.ipv4.expect("IPv4 rules").rules.len(), 2 + 2);
    }

    #[test]
    fn nat_masquerades_routes_outside_overlay_only() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let jump = b.jump("gw");
        let other = b.jump("gw2");
        b.peer("laptop");
        b.route("lan", "192.168.10.0/24", jump);
        b.route("slice", "10.0.0.128/25", jump); // inside the overlay: no NAT
        b.route("elsewhere", "172.16.0.0/12", other); // another jump's route
        b.route("lan again", "192.168.10.0/24", jump); // same destination: one rule
        b.route("v6 lan", "2001:db8::/48", jump); // ipv6_nat is off
        b.route("internet", "0.0.0.0/0", jump);
        let data = b.build();

        let n = nat(&data, jump).expect("a jump");
        assert_eq!(n.ipv6, None);
        let v4 = n.ipv4.expect("IPv4 NAT");
        assert_eq!(
            v4.rules,
            vec![
                FirewallRule {
                    destination: Some(net("10.0.0.0/24")),
                    ..FirewallRule::all(Chain::Nat, Verdict::Return)
                },
                FirewallRule::between(
                    Chain::Nat,
                    net("10.0.0.0/24"),
                    net("192.168.10.0/24"),
                    Verdict::Masquerade
                ),
                FirewallRule::between(
                    Chain::Nat,
                    net("10.0.0.0/24"),
                    net("0.0.0.0/0"),
                    Verdict::Masquerade
                ),
            ]
        );
        assert_eq!(
            v4.restore,
            "*nat
:RAFTWIRE_NAT - [0:0]
-A RAFTWIRE_NAT -d 10.0.0.0/24 -j RETURN
-A RAFTWIRE_NAT -s 10.0.0.0/24 -d 192.168.10.0/24 -j MASQUERADE
-A RAFTWIRE_NAT -s 10.0.0.0/24 -d 0.0.0.0/0 -j MASQUERADE
COMMIT
"
        );
        let n2 = nat(&data, other).expect("a jump");
        assert_eq!(
            n2.ipv4.expect("IPv4 NAT").rules,
            vec![
                FirewallRule {
                    destination: Some(net("10.0.0.0/24")),
                    ..FirewallRule::all(Chain::Nat, Verdict::Return)
                },
                FirewallRule::between(
                    Chain::Nat,
                    net("10.0.0.0/24"),
                    net("172.16.0.0/12"),
                    Verdict::Masquerade
                )
            ]
        );

        // Only routes inside the overlay: nothing to masquerade.
        let mut b = Builder::new("office", IpStackMode::Ipv4, Some("10.0.0.0/16"), None);
        let jump = b.jump("gw");
        b.route("inside", "10.0.5.0/24", jump);
        assert_eq!(
            nat(&b.build(), jump),
            Some(JumpNat {
                ipv4: None,
                ipv6: None
            })
        );
    }

    #[test]
    fn ipv6_nat_only_when_enabled_on_the_jump() {
        let build = |ipv6_nat: bool| {
            let mut b = Builder::new(
                "corp",
                IpStackMode::Dual,
                Some("10.0.0.0/24"),
                Some("fd00::/64"),
            );
            let jump = b.jump("gw");
            b.peer_mut(jump).ipv6_nat = ipv6_nat;
            b.route("v6 lan", "2001:db8::/48", jump);
            b.route("v6 slice", "fd00::8000/113", jump); // inside the overlay
            (b.build(), jump)
        };
        let (data, jump) = build(false);
        assert_eq!(
            nat(&data, jump),
            Some(JumpNat {
                ipv4: None,
                ipv6: None
            })
        );

        let (data, jump) = build(true);
        let n = nat(&data, jump).expect("a jump");
        assert_eq!(n.ipv4, None);
        let v6 = n.ipv6.expect("IPv6 NAT");
        assert_eq!(
            v6.restore,
            "*nat
:RAFTWIRE_NAT - [0:0]
-A RAFTWIRE_NAT -d fd00::/64 -j RETURN
-A RAFTWIRE_NAT -s fd00::/64 -d 2001:db8::/48 -j MASQUERADE
COMMIT
"
        );
        // The filter rules do not depend on NAT.
        assert_eq!(
            firewall(&data, jump),
            firewall(&build(false).0, build(false).1)
        );
    }

    #[test]
    fn non_jump_has_no_firewall() {
        let mut b = Builder::new("office", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        b.jump("gw");
        let laptop = b.peer("laptop");
        b.route("lan", "192.168.10.0/24", laptop);
        let data = b.build();
        assert_eq!(firewall(&data, laptop), None);
        assert_eq!(nat(&data, laptop), None);
        let unknown = PeerId::from_u128(0xDEAD);
        assert_eq!(firewall(&data, unknown), None);
        assert_eq!(nat(&data, unknown), None);
    }

    #[test]
    fn every_other_jump_is_a_member_peer() {
        let mut b = Builder::new("office", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let a = b.jump("a"); // 10.0.0.1
        b.jump("b"); // 10.0.0.2
        let v4 = firewall(&b.build(), a)
            .and_then(|f| f.ipv4)
            .expect("IPv4 rules");
        assert_eq!(v4.rules[1], jump_rule("10.0.0.2/32", "10.0.0.0/24", Accept));
        assert_eq!(v4.rules.len(), 1 + 1 + 1 + 2);
    }

    // ---- properties ----------------------------------------------------------------------

    #[derive(Debug, Clone)]
    enum TargetSpec {
        Cidr4(u32, u8),
        Cidr6(u128, u8),
        Peer(usize),
        UnknownPeer,
        Group(usize),
        Any,
    }

    #[derive(Debug, Clone)]
    struct RuleSpec {
        output: bool,
        allow: bool,
        target: TargetSpec,
    }

    #[derive(Debug, Clone)]
    struct GroupSpec {
        priority: i32,
        members: u16,
        policies: Vec<usize>,
    }

    #[derive(Debug, Clone)]
    struct NetSpec {
        mode: IpStackMode,
        peers: usize,
        jumps: (usize, Option<usize>),
        /// Per peer, dual-stack only: 1 drops its IPv4 address, 2 its IPv6 one.
        strip: Vec<u8>,
        keep_default_policy: bool,
        leave_default: u16,
        policies: Vec<Vec<RuleSpec>>,
        groups: Vec<GroupSpec>,
    }

    fn target_spec() -> impl Strategy<Value = TargetSpec> {
        prop_oneof![
            (any::<u32>(), 0u8..=32).prop_map(|(a, l)| TargetSpec::Cidr4(a, l)),
            (any::<u128>(), 0u8..=128).prop_map(|(a, l)| TargetSpec::Cidr6(a, l)),
            (0usize..16).prop_map(TargetSpec::Peer),
            Just(TargetSpec::UnknownPeer),
            (0usize..8).prop_map(TargetSpec::Group),
            Just(TargetSpec::Any),
        ]
    }

    fn net_spec() -> impl Strategy<Value = NetSpec> {
        let mode = prop_oneof![
            Just(IpStackMode::Ipv4),
            Just(IpStackMode::Ipv6),
            Just(IpStackMode::Dual)
        ];
        let rule =
            (any::<bool>(), any::<bool>(), target_spec()).prop_map(|(output, allow, target)| {
                RuleSpec {
                    output,
                    allow,
                    target,
                }
            });
        let group = (
            -5i32..5,
            any::<u16>(),
            prop::collection::vec(0usize..8, 0..3),
        )
            .prop_map(|(priority, members, policies)| GroupSpec {
                priority,
                members,
                policies,
            });
        (
            mode,
            1usize..=15,
            (0usize..15, prop::option::of(0usize..15)),
            prop::collection::vec(0u8..3, 15),
            any::<bool>(),
            any::<u16>(),
            prop::collection::vec(prop::collection::vec(rule, 0..6), 0..4),
            prop::collection::vec(group, 0..5),
        )
            .prop_map(
                |(mode, peers, jumps, strip, keep, leave, policies, groups)| NetSpec {
                    mode,
                    peers,
                    jumps,
                    strip,
                    keep_default_policy: keep,
                    leave_default: leave,
                    policies,
                    groups,
                },
            )
    }

    /// Builds the network; returns it and its jumps.
    fn build(spec: &NetSpec) -> (NetworkData, Vec<PeerId>) {
        let (v4, v6) = match spec.mode {
            IpStackMode::Ipv4 => (Some("10.0.0.0/24"), None),
            IpStackMode::Ipv6 => (None, Some("fd00::/64")),
            IpStackMode::Dual => (Some("10.0.0.0/24"), Some("fd00::/64")),
        };
        let mut b = Builder::new("prop", spec.mode, v4, v6);
        let is_jump = |i: usize| {
            i == spec.jumps.0 % spec.peers || spec.jumps.1.map(|j| j % spec.peers) == Some(i)
        };
        let mut peers = Vec::new();
        let mut jumps = Vec::new();
        for i in 0..spec.peers {
            let id = if is_jump(i) {
                let id = b.jump(&format!("j{i}"));
                jumps.push(id);
                id
            } else {
                b.peer(&format!("p{i}"))
            };
            if spec.mode == IpStackMode::Dual {
                match spec.strip[i] {
                    1 => b.peer_mut(id).ipv4_address = None,
                    2 => b.peer_mut(id).ipv6_address = None,
                    _ => {}
                }
            }
            if spec.leave_default & (1 << i) != 0 {
                let d = b.default_group();
                b.leave(id, d);
            }
            peers.push(id);
        }
        let default = b.default_group();
        if !spec.keep_default_policy {
            b.clear_policies(default);
        }
        let groups: Vec<GroupId> = spec
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| b.group(&format!("g{i}"), g.priority))
            .collect();
        let pick_group = |i: usize| groups.get(i).copied().unwrap_or(default);
        let policies: Vec<_> = spec
            .policies
            .iter()
            .enumerate()
            .map(|(i, rules)| {
                let rules: Vec<_> = rules
                    .iter()
                    .map(|r| {
                        let target = match r.target {
                            TargetSpec::Cidr4(a, l) => RuleTarget::Cidr(IpNet::V4(
                                ipnet::Ipv4Net::new(a.into(), l).expect("len").trunc(),
                            )),
                            TargetSpec::Cidr6(a, l) => RuleTarget::Cidr(IpNet::V6(
                                ipnet::Ipv6Net::new(a.into(), l).expect("len").trunc(),
                            )),
                            TargetSpec::Peer(p) => RuleTarget::Peer(peers[p % peers.len()]),
                            TargetSpec::UnknownPeer => RuleTarget::Peer(PeerId::from_u128(0xDEAD)),
                            TargetSpec::Group(g) => RuleTarget::Group(pick_group(g)),
                            TargetSpec::Any => RuleTarget::Any,
                        };
                        let d = if r.output {
                            Direction::Output
                        } else {
                            Direction::Input
                        };
                        let a = if r.allow { Action::Allow } else { Action::Deny };
                        (d, a, target)
                    })
                    .collect();
                b.policy(&format!("pol{i}"), &rules)
            })
            .collect();
        for (g, spec_g) in groups.iter().zip(&spec.groups) {
            for (i, p) in peers.iter().enumerate() {
                if spec_g.members & (1 << i) != 0 {
                    b.join(*p, *g);
                }
            }
            if !policies.is_empty() {
                for pi in &spec_g.policies {
                    b.attach_policy(*g, policies[pi % policies.len()]);
                }
            }
        }
        (b.build(), jumps)
    }

    /// The addresses after `-s` and `-d` in a restore text.
    fn rendered_addresses(restore: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in restore.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            for w in words.windows(2) {
                if w[0] == "-s" || w[0] == "-d" {
                    out.push(w[1].to_string());
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn prop_p6_rule_lands_only_in_its_targets_family(spec in net_spec()) {
            let (data, jumps) = build(&spec);
            let view = data.view();
            let idx = view.index();
            for jump in jumps {
                let fw = jump_firewall(&view, &idx, jump).expect("a jump");
                let jump_peer = idx.peer(jump).expect("jump");
                for (family, set) in [(IpFamily::Ipv4, &fw.ipv4), (IpFamily::Ipv6, &fw.ipv6)] {
                    let Some(set) = set else { continue };
                    for r in &set.rules {
                        for n in r.source.iter().chain(&r.destination) {
                            prop_assert_eq!(IpFamily::of_net(n), family, "{}", r);
                        }
                    }
                    for a in rendered_addresses(&set.restore) {
                        prop_assert_eq!(crate::family::detect_ip_version(&a), Some(family), "{}", a);
                    }
                    prop_assert_eq!(set.restore.matches("\n-A ").count(), set.rules.len());
                    prop_assert!(set.restore.ends_with("\nCOMMIT\n"));
                }
                // Every CIDR-target rule of a member with an address of its family appears in
                // that family's set, and never in the other one.
                for member in view.peers.iter().filter(|p| p.id != jump) {
                    for g in idx.groups_by_priority(member) {
                        for pol in g.policy_ids.iter().filter_map(|p| idx.policy(*p)) {
                            for rule in &pol.rules {
                                let RuleTarget::Cidr(n) = rule.target else { continue };
                                let f = IpFamily::of_net(&n);
                                let (own, other) = match f {
                                    IpFamily::Ipv4 => (&fw.ipv4, &fw.ipv6),
                                    IpFamily::Ipv6 => (&fw.ipv6, &fw.ipv4),
                                };
                                if let Some(other) = other {
                                    prop_assert!(!other.rules.iter().any(|r| r.source == Some(n) || r.destination == Some(n)));
                                }
                                let expect_present = view.network.ip_stack_mode.has(f) && jump_peer.has(f) && member.has(f);
                                prop_assert_eq!(own.is_some(), view.network.ip_stack_mode.has(f) && jump_peer.has(f));
                                if let (true, Some(own), Some(me)) = (expect_present, own, member.host_net(f)) {
                                    let (s, d) = match rule.direction {
                                        Direction::Output => (me, n),
                                        Direction::Input => (n, me),
                                    };
                                    let want = FirewallRule::between(Chain::Jump, s, d, rule.action.into());
                                    prop_assert!(own.rules.contains(&want), "missing {}", want);
                                }
                            }
                        }
                    }
                }
            }
        }

        /// The byte-level renderer writes addresses exactly as `Display` does.
        #[test]
        fn prop_addresses_render_like_display(
            v4 in any::<u32>(),
            v6 in prop_oneof![
                any::<u128>(),
                // Sparse addresses: runs of zero groups of every length and position.
                (any::<u8>(), any::<u128>()).prop_map(|(mask, x)| {
                    (0..8).fold(0u128, |acc, i| {
                        let group = if mask & (1 << i) != 0 { (x >> (16 * i)) & 0xffff } else { 0 };
                        acc | (group << (16 * i))
                    })
                }),
                any::<u32>().prop_map(|a| u128::from(std::net::Ipv4Addr::from(a).to_ipv6_mapped())),
                any::<u32>().prop_map(u128::from),
            ],
            len4 in 0u8..=32,
            len6 in 0u8..=128,
            port in any::<u16>(),
        ) {
            for n in [
                IpNet::V4(ipnet::Ipv4Net::new(v4.into(), len4).expect("len")),
                IpNet::V6(ipnet::Ipv6Net::new(v6.into(), len6).expect("len")),
            ] {
                let mut out = String::new();
                push_net(&mut out, &n);
                prop_assert_eq!(out, n.to_string());
            }
            let mut out = String::new();
            push_decimal(&mut out, u32::from(port));
            prop_assert_eq!(out, port.to_string());
        }

        #[test]
        fn prop_p9_forwarding_enabled_exactly_for_families_present(spec in net_spec()) {
            let (data, jumps) = build(&spec);
            let view = data.view();
            let idx = view.index();
            for jump in jumps {
                let fw = jump_firewall(&view, &idx, jump).expect("a jump");
                let p = idx.peer(jump).expect("jump");
                let mode = view.network.ip_stack_mode;
                prop_assert_eq!(fw.forwarding.ipv4, mode.has(IpFamily::Ipv4) && p.has_ipv4());
                prop_assert_eq!(fw.forwarding.ipv6, mode.has(IpFamily::Ipv6) && p.has_ipv6());
                prop_assert_eq!(fw.forwarding.ipv4, fw.ipv4.is_some());
                prop_assert_eq!(fw.forwarding.ipv6, fw.ipv6.is_some());
            }
            // Regular peers have none.
            for p in view.peers.iter().filter(|p| !p.is_jump) {
                prop_assert!(jump_firewall(&view, &idx, p.id).is_none());
            }
        }
    }
}

//! Configuration deltas: what changed between two [`AgentConfig`]s of one agent, small enough
//! to push when a jump's configuration of tens of megabytes changes by one peer.
//!
//! A jump of a 10,000-peer network holds ~10 MB of configuration (WireGuard peers, rule sets
//! in both forms, DNS records); a new regular peer changes only its own entries in each list. Sending
//! (and serialising, and parsing) the whole of it for every change is what bounds how fast a
//! change reaches the jumps, so the node sends agents that accept them a [`ConfigDelta`]
//! against the configuration the agent holds instead.
//!
//! Every list (and every large text, by lines) changes as a [`Splice`]: the items kept at its
//! head and tail, and what goes between. One peer added, removed or changed is one splice of
//! one item per list; changes spread over a list send the span between the first and the last
//! change (always correct, only larger). Small fields are sent whole when they change.
//!
//! [`ConfigDelta::between`] and [`ConfigDelta::apply`] are exact inverses:
//! `delta.apply(old) == new` for every `old`, `new` (the property test below). Applying a
//! delta to a configuration other than its base is detected where the shapes disagree (a
//! splice longer than the list), never guaranteed: the protocol therefore names the base by
//! version and the node sends deltas only against the configuration it knows the agent holds.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::agent::{AgentConfig, DnsConfig, FirewallConfig};
use crate::dns::DnsRecord;
use crate::firewall::{FamilyRules, FirewallRule, Forwarding, JumpNat};
use crate::wireguard::{WgInterface, WgPeer};

/// A delta that does not fit the configuration it is applied to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the delta does not fit the configuration held: {0}")]
pub struct Mismatch(&'static str);

/// Turns a list into another: keep `head` items from its start and `tail` from its end, and
/// put `middle` between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Splice<T> {
    pub head: usize,
    pub tail: usize,
    pub middle: Vec<T>,
}

/// How many leading and trailing items `old` and `new` share (never overlapping).
fn common_ends<T: PartialEq>(old: &[T], new: &[T]) -> (usize, usize) {
    let head = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let rest = old.len().min(new.len()) - head;
    let tail = old[head..]
        .iter()
        .rev()
        .zip(new[head..].iter().rev())
        .take(rest)
        .take_while(|(a, b)| a == b)
        .count();
    (head, tail)
}

impl<T: Clone + PartialEq> Splice<T> {
    /// The splice from `old` to `new`, `None` when they are equal (one pass over each end).
    pub fn between(old: &[T], new: &[T]) -> Option<Splice<T>> {
        let (head, tail) = common_ends(old, new);
        if head == old.len() && head == new.len() {
            return None;
        }
        Some(Splice {
            head,
            tail,
            middle: new[head..new.len() - tail].to_vec(),
        })
    }

    pub fn apply(&self, old: &[T]) -> Result<Vec<T>, Mismatch> {
        if self.head + self.tail > old.len() {
            return Err(Mismatch("a list is shorter than the splice keeps"));
        }
        let mut out = Vec::with_capacity(self.head + self.middle.len() + self.tail);
        out.extend_from_slice(&old[..self.head]);
        out.extend_from_slice(&self.middle);
        out.extend_from_slice(&old[old.len() - self.tail..]);
        Ok(out)
    }
}

/// A [`Splice`] of a text's lines (each with its `\n`): `middle` is the text put between the
/// `head` lines kept at the start and the `tail` lines kept at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSplice {
    pub head: usize,
    pub tail: usize,
    pub middle: String,
}

/// Whether a line starts at byte `at` of `text`.
fn line_starts_at(text: &[u8], at: usize) -> bool {
    at == 0 || text[at - 1] == b'\n'
}

/// The length of the blocks [`common_prefix`] and [`common_suffix`] compare whole: each
/// comparison is one `memcmp`, and a jump's texts are megabytes.
const BLOCK: usize = 256;

/// How many bytes `a` and `b` share at the start: whole blocks first, then byte by byte
/// within the first block that differs.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= n && a[i..i + BLOCK] == b[i..i + BLOCK] {
        i += BLOCK;
    }
    i + a[i..n]
        .iter()
        .zip(&b[i..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// How many bytes `a` and `b` share at the end, at most `limit`.
fn common_suffix(a: &[u8], b: &[u8], limit: usize) -> usize {
    let n = limit.min(a.len()).min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut i = 0;
    while i + BLOCK <= n && a[n - i - BLOCK..n - i] == b[n - i - BLOCK..n - i] {
        i += BLOCK;
    }
    i + a[..n - i]
        .iter()
        .rev()
        .zip(b[..n - i].iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

fn count_lines(text: &[u8]) -> usize {
    // Summed in bytes over blocks of 255, which the compiler turns into vector code.
    let mut blocks = text.chunks_exact(255);
    let mut newlines = 0;
    for block in &mut blocks {
        newlines += usize::from(block.iter().map(|&c| u8::from(c == b'\n')).sum::<u8>());
    }
    newlines += blocks.remainder().iter().filter(|&&c| c == b'\n').count();
    newlines + usize::from(text.last().is_some_and(|&c| c != b'\n'))
}

impl TextSplice {
    /// The splice from `old` to `new` by lines, `None` when they are equal: the whole lines
    /// of their common prefix are kept at the head, the whole lines of their common suffix
    /// (beyond the head) at the tail. Computed on bytes, without splitting either text: the
    /// same splice as comparing them line by line (a property test checks it), in a fraction
    /// of the time for the megabytes of a jump's configuration.
    pub fn between(old: &str, new: &str) -> Option<TextSplice> {
        if old == new {
            return None;
        }
        let (a, b) = (old.as_bytes(), new.as_bytes());
        let prefix = common_prefix(a, b);
        let head_bytes = a[..prefix]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        let room = a.len().min(b.len()) - head_bytes;
        let suffix = common_suffix(a, b, room);
        // The tail starts at the first line start (in both texts) of the common suffix.
        let common = &a[a.len() - suffix..];
        let skip = if line_starts_at(a, a.len() - suffix) && line_starts_at(b, b.len() - suffix) {
            0
        } else {
            common
                .iter()
                .position(|&c| c == b'\n')
                .map_or(common.len(), |i| i + 1)
        };
        let tail_bytes = suffix - skip;
        Some(TextSplice {
            head: count_lines(&a[..head_bytes]),
            tail: count_lines(&a[a.len() - tail_bytes..]),
            middle: new[head_bytes..new.len() - tail_bytes].to_string(),
        })
    }

    pub fn apply(&self, old: &str) -> Result<String, Mismatch> {
        let lines: Vec<&str> = old.split_inclusive('\n').collect();
        if self.head + self.tail > lines.len() {
            return Err(Mismatch("a text has fewer lines than the splice keeps"));
        }
        let mut out = lines[..self.head].concat();
        out.push_str(&self.middle);
        out.push_str(&lines[lines.len() - self.tail..].concat());
        Ok(out)
    }
}

/// A field's change: a new value, or an edit of the one held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change<T, E> {
    Set(T),
    Edit(E),
}

/// An edit of one family's rules (`rules` and their `restore` rendering).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesEdit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Splice<FirewallRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<TextSplice>,
}

/// A family's rules: set (also to none) or edited.
pub type RulesChange = Change<Option<FamilyRules>, RulesEdit>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallEdit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<RulesChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<RulesChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsEdit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<Vec<IpAddr>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Splice<DnsRecord>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstreams: Option<Vec<IpAddr>>,
}

/// What changed from one configuration of an agent to the next; absent fields are unchanged.
/// (A configuration of another peer or network is never a delta: it is sent whole.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<WgInterface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<Splice<WgPeer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wg_quick: Option<TextSplice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<Change<Option<FirewallConfig>, FirewallEdit>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding: Option<Forwarding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Change<Option<DnsConfig>, DnsEdit>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<Option<JumpNat>>,
}

/// The new value if it differs from the old.
fn replaced<T: Clone + PartialEq>(old: &T, new: &T) -> Option<T> {
    (old != new).then(|| new.clone())
}

/// An optional section: edited when present on both sides, else set; `None` when unchanged
/// (an edit that changes nothing, the default, means equal sections).
fn section<T: Clone + PartialEq, E: Default + PartialEq>(
    old: &Option<T>,
    new: &Option<T>,
    edit: impl FnOnce(&T, &T) -> E,
) -> Option<Change<Option<T>, E>> {
    match (old, new) {
        (None, None) => None,
        (Some(a), Some(b)) => {
            let e = edit(a, b);
            (e != E::default()).then_some(Change::Edit(e))
        }
        _ => Some(Change::Set(new.clone())),
    }
}

fn apply_section<T: Clone, E>(
    held: &Option<T>,
    change: &Option<Change<Option<T>, E>>,
    edit: impl FnOnce(&T, &E) -> Result<T, Mismatch>,
) -> Result<Option<T>, Mismatch> {
    match change {
        None => Ok(held.clone()),
        Some(Change::Set(v)) => Ok(v.clone()),
        Some(Change::Edit(e)) => match held {
            Some(h) => edit(h, e).map(Some),
            None => Err(Mismatch("an edit of a section the configuration lacks")),
        },
    }
}

fn rules_edit(a: &FamilyRules, b: &FamilyRules) -> RulesEdit {
    RulesEdit {
        rules: Splice::between(&a.rules, &b.rules),
        restore: TextSplice::between(&a.restore, &b.restore),
    }
}

fn apply_rules(held: &FamilyRules, e: &RulesEdit) -> Result<FamilyRules, Mismatch> {
    Ok(FamilyRules {
        rules: match &e.rules {
            Some(s) => s.apply(&held.rules)?,
            None => held.rules.clone(),
        },
        restore: match &e.restore {
            Some(s) => s.apply(&held.restore)?,
            None => held.restore.clone(),
        },
    })
}

fn firewall_edit(a: &FirewallConfig, b: &FirewallConfig) -> FirewallEdit {
    FirewallEdit {
        ipv4: section(&a.ipv4, &b.ipv4, rules_edit),
        ipv6: section(&a.ipv6, &b.ipv6, rules_edit),
    }
}

fn apply_firewall(held: &FirewallConfig, e: &FirewallEdit) -> Result<FirewallConfig, Mismatch> {
    Ok(FirewallConfig {
        ipv4: apply_section(&held.ipv4, &e.ipv4, apply_rules)?,
        ipv6: apply_section(&held.ipv6, &e.ipv6, apply_rules)?,
    })
}

fn dns_edit(a: &DnsConfig, b: &DnsConfig) -> DnsEdit {
    DnsEdit {
        listen: replaced(&a.listen, &b.listen),
        zone: replaced(&a.zone, &b.zone),
        records: Splice::between(&a.records, &b.records),
        upstreams: replaced(&a.upstreams, &b.upstreams),
    }
}

fn apply_dns(held: &DnsConfig, e: &DnsEdit) -> Result<DnsConfig, Mismatch> {
    Ok(DnsConfig {
        listen: e.listen.clone().unwrap_or_else(|| held.listen.clone()),
        zone: e.zone.clone().unwrap_or_else(|| held.zone.clone()),
        records: match &e.records {
            Some(s) => s.apply(&held.records)?.into(),
            None => held.records.clone(),
        },
        upstreams: e
            .upstreams
            .clone()
            .unwrap_or_else(|| held.upstreams.clone()),
    })
}

impl ConfigDelta {
    /// The delta from `old` to `new`, `None` when `new` is another peer's or network's
    /// configuration (send it whole). An empty delta means equal configurations.
    pub fn between(old: &AgentConfig, new: &AgentConfig) -> Option<ConfigDelta> {
        if old.peer_id != new.peer_id || old.network_id != new.network_id {
            return None;
        }
        Some(ConfigDelta {
            interface: replaced(&old.interface, &new.interface),
            peers: Splice::between(&old.peers, &new.peers),
            wg_quick: TextSplice::between(&old.wg_quick, &new.wg_quick),
            firewall: section(&old.firewall, &new.firewall, firewall_edit),
            forwarding: replaced(&old.forwarding, &new.forwarding),
            dns: section(&old.dns, &new.dns, dns_edit),
            nat: replaced(&old.nat, &new.nat),
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == ConfigDelta::default()
    }

    /// The configuration `held` becomes.
    pub fn apply(&self, held: &AgentConfig) -> Result<AgentConfig, Mismatch> {
        Ok(AgentConfig {
            peer_id: held.peer_id,
            network_id: held.network_id,
            interface: self
                .interface
                .clone()
                .unwrap_or_else(|| held.interface.clone()),
            peers: match &self.peers {
                Some(s) => s.apply(&held.peers)?,
                None => held.peers.clone(),
            },
            wg_quick: match &self.wg_quick {
                Some(s) => s.apply(&held.wg_quick)?,
                None => held.wg_quick.clone(),
            },
            firewall: apply_section(&held.firewall, &self.firewall, apply_firewall)?,
            forwarding: self
                .forwarding
                .clone()
                .unwrap_or_else(|| held.forwarding.clone()),
            dns: apply_section(&held.dns, &self.dns, apply_dns)?,
            nat: self.nat.clone().unwrap_or_else(|| held.nat.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::agent::agent_config;
    use crate::endpoint::Endpoint;
    use crate::family::IpStackMode;
    use crate::testkit::Builder;

    proptest! {
        #[test]
        fn applying_the_splice_between_two_lists_to_the_first_yields_the_second(
            old in proptest::collection::vec(0u8..4, 0..40),
            new in proptest::collection::vec(0u8..4, 0..40),
        ) {
            let s = Splice::between(&old, &new);
            prop_assert_eq!(s.is_none(), old == new);
            if let Some(s) = s {
                prop_assert_eq!(s.apply(&old).unwrap(), new);
            }
        }

        #[test]
        fn applying_the_text_splice_between_two_texts_to_the_first_yields_the_second(
            old in "([ab]{0,2}\n?){0,12}",
            new in "([ab]{0,2}\n?){0,12}",
        ) {
            let s = TextSplice::between(&old, &new);
            prop_assert_eq!(s.is_none(), old == new);
            if let Some(s) = s {
                prop_assert_eq!(s.apply(&old).unwrap(), new);
            }
        }

        #[test]
        fn the_text_splice_keeps_exactly_the_lines_a_line_by_line_comparison_keeps(
            old in "([ab]{0,2}\n?){0,12}",
            new in "([ab]{0,2}\n?){0,12}",
        ) {
            let a: Vec<&str> = old.split_inclusive('\n').collect();
            let b: Vec<&str> = new.split_inclusive('\n').collect();
            let (head, tail) = common_ends(&a, &b);
            let s = TextSplice::between(&old, &new);
            if let Some(s) = s {
                prop_assert_eq!((s.head, s.tail), (head, tail));
                prop_assert_eq!(s.middle, b[head..b.len() - tail].concat());
            }
        }

        #[test]
        fn the_text_splice_of_long_texts_keeps_exactly_the_lines_a_line_by_line_comparison_keeps(
            filler in "([ab]{0,7}\n){1,6}",
            reps in 0usize..120,
            old_mid in "([ab]{0,2}\n?){0,6}",
            new_mid in "([ab]{0,2}\n?){0,6}",
            tail_reps in 0usize..120,
        ) {
            // Long common ends, so the block-wise comparison is what finds them.
            let old = format!("{}{old_mid}{}", filler.repeat(reps), filler.repeat(tail_reps));
            let new = format!("{}{new_mid}{}", filler.repeat(reps), filler.repeat(tail_reps));
            let a: Vec<&str> = old.split_inclusive('\n').collect();
            let b: Vec<&str> = new.split_inclusive('\n').collect();
            let (head, tail) = common_ends(&a, &b);
            match TextSplice::between(&old, &new) {
                Some(s) => {
                    prop_assert_eq!((s.head, s.tail), (head, tail));
                    prop_assert_eq!(&s.middle, &b[head..b.len() - tail].concat());
                    prop_assert_eq!(s.apply(&old).unwrap(), new);
                }
                None => prop_assert_eq!(old, new),
            }
        }

        #[test]
        fn applying_the_delta_between_two_configs_of_a_jump_yields_the_second(
            mode in prop_oneof![Just(0u8), Just(1u8), Just(2u8)],
            before in 0usize..6,
            changes in proptest::collection::vec((0u8..4, 0usize..8), 1..4),
        ) {
            let (v4, v6) = match mode {
                0 => (Some("10.9.0.0/24"), None),
                1 => (None, Some("fd09::/64")),
                _ => (Some("10.9.0.0/24"), Some("fd09::/64")),
            };
            let stack = [IpStackMode::Ipv4, IpStackMode::Ipv6, IpStackMode::Dual][mode as usize];
            let mut b = Builder::new("delta", stack, v4, v6);
            let jump = b.jump("jump");
            let mut peers: Vec<_> = (0..before).map(|i| b.peer(&format!("p{i}"))).collect();
            let old_data = b.clone().build();
            for (i, (what, at)) in changes.into_iter().enumerate() {
                match what {
                    0 => peers.push(b.peer(&format!("new{i}"))),
                    1 if !peers.is_empty() => {
                        let p = peers.remove(at % peers.len());
                        b.remove_peer(p);
                    }
                    2 => { b.jump(&format!("jump{i}")); }
                    _ => {
                        let e = Endpoint::parse(&format!("moved{i}.example.net")).unwrap();
                        b.peer_mut(jump).endpoint = Some(e);
                    }
                }
            }
            let new_data = b.build();
            let (old_view, new_view) = (old_data.view(), new_data.view());
            let old = agent_config(&old_view, &old_view.index(), jump).unwrap();
            let new = agent_config(&new_view, &new_view.index(), jump).unwrap();
            let delta = ConfigDelta::between(&old, &new).unwrap();
            prop_assert_eq!(delta.is_empty(), old == new);
            // Through JSON, as the node sends it.
            let wire: ConfigDelta = serde_json::from_str(&serde_json::to_string(&delta).unwrap()).unwrap();
            prop_assert_eq!(wire.apply(&old).unwrap(), new);
        }
    }

    #[test]
    fn one_new_peer_in_a_large_network_is_a_small_delta_for_the_jump() {
        let mut b = Builder::new(
            "big",
            IpStackMode::Dual,
            Some("10.8.0.0/16"),
            Some("fd08::/64"),
        );
        let jump = b.jump("jump");
        for i in 0..500 {
            b.peer(&format!("p{i}"));
        }
        let old_data = b.clone().build();
        b.peer("newcomer");
        let new_data = b.build();
        let (ov, nv) = (old_data.view(), new_data.view());
        let old = agent_config(&ov, &ov.index(), jump).unwrap();
        let new = agent_config(&nv, &nv.index(), jump).unwrap();
        let delta = serde_json::to_string(&ConfigDelta::between(&old, &new).unwrap()).unwrap();
        let whole = serde_json::to_string(&new).unwrap();
        assert!(
            delta.len() * 50 < whole.len(),
            "delta {} bytes vs config {} bytes: {delta}",
            delta.len(),
            whole.len()
        );
        assert!(delta.contains("newcomer"), "{delta}");
    }

    #[test]
    fn a_splice_longer_than_the_list_held_is_a_mismatch() {
        let s = Splice {
            head: 2,
            tail: 2,
            middle: vec![9],
        };
        assert!(s.apply(&[1, 2, 3]).is_err());
        let t = TextSplice {
            head: 1,
            tail: 1,
            middle: "x\n".into(),
        };
        assert!(t.apply("only\n").is_err());
    }

    #[test]
    fn a_delta_between_configs_of_different_peers_is_refused() {
        let mut b = Builder::new("n", IpStackMode::Ipv4, Some("10.7.0.0/24"), None);
        let j = b.jump("j");
        let p = b.peer("p");
        let data = b.build();
        let v = data.view();
        let idx = v.index();
        let a = agent_config(&v, &idx, j).unwrap();
        let c = agent_config(&v, &idx, p).unwrap();
        assert!(ConfigDelta::between(&a, &c).is_none());
    }
}

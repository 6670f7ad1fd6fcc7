//! The IPAM uniqueness checker.
//!
//! Operations (`workload = ipam`): `create` (value `{name, key}`, answered `{name, id, v4,
//! v6, key}`), `delete` (`{id, name}`), `read`/`read-local` (answered `{peers: [{name, id,
//! v4, v6}]}`). The final state is a linearizable read after every fault healed.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{text, Anomaly};
use crate::history::{Op, Outcome};

/// A peer as a read shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRow {
    pub name: String,
    pub id: String,
    pub v4: Option<String>,
    pub v6: Option<String>,
}

/// The peers of a read's answer.
pub fn rows(v: &serde_json::Value) -> Vec<PeerRow> {
    v.get("peers")
        .cloned()
        .and_then(|p| serde_json::from_value(p).ok())
        .unwrap_or_default()
}

/// What the checker needs to know besides the history.
pub struct Setup<'a> {
    /// Peers created before the clients started (present throughout, never deleted).
    pub preexisting: &'a [String],
    /// How many peers the network holds at most (the smaller family's usable addresses).
    pub capacity: usize,
}

pub fn check(ops: &[Op], final_peers: &[PeerRow], setup: &Setup) -> Vec<Anomaly> {
    let ops: Vec<&Op> = ops.iter().filter(|o| o.workload == "ipam").collect();
    let mut found = Vec::new();
    // Every read, then the final state: no address of a family twice.
    for op in ops
        .iter()
        .filter(|o| o.f.starts_with("read") && o.outcome == Outcome::Ok)
    {
        duplicates(&rows(&op.value), &[op.id], &mut found);
    }
    duplicates(final_peers, &[], &mut found);

    let invoked: HashSet<&str> = ops
        .iter()
        .filter(|o| o.f == "create")
        .filter_map(|o| text(&o.value, "name"))
        .chain(setup.preexisting.iter().map(String::as_str))
        .collect();
    // Nothing in any read or at the end that no client asked for.
    for op in ops
        .iter()
        .filter(|o| o.f.starts_with("read") && o.outcome == Outcome::Ok)
    {
        for p in rows(&op.value) {
            if !invoked.contains(p.name.as_str()) {
                found.push(Anomaly::new(
                    "phantom-peer",
                    format!(
                        "read {} shows peer {} that no client created",
                        op.id, p.name
                    ),
                    vec![op.id],
                ));
            }
        }
    }
    for p in final_peers {
        if !invoked.contains(p.name.as_str()) {
            found.push(Anomaly::new(
                "phantom-peer",
                format!(
                    "the final state holds peer {} that no client created",
                    p.name
                ),
                vec![],
            ));
        }
    }

    // Deletions that may have happened (acknowledged or unknown), by peer name.
    let mut maybe_deleted: HashMap<&str, Vec<u64>> = HashMap::new();
    let mut deleted: HashMap<&str, u64> = HashMap::new();
    for op in ops.iter().filter(|o| o.f == "delete") {
        let Some(name) = text(&op.value, "name") else {
            continue;
        };
        if op.outcome != Outcome::Fail {
            maybe_deleted.entry(name).or_default().push(op.id);
        }
        if op.outcome == Outcome::Ok {
            deleted.insert(name, op.id);
        }
    }
    let present: HashSet<&str> = final_peers.iter().map(|p| p.name.as_str()).collect();
    for op in ops.iter().filter(|o| o.is("create", Outcome::Ok)) {
        let Some(name) = text(&op.value, "name") else {
            continue;
        };
        if !present.contains(name) && !maybe_deleted.contains_key(name) {
            found.push(Anomaly::new(
                "lost-write",
                format!("peer {name} was created (acknowledged) and never deleted, but is gone"),
                vec![op.id],
            ));
        }
    }
    for (name, del) in &deleted {
        if present.contains(name) {
            found.push(Anomaly::new(
                "deleted-peer-present",
                format!("peer {name} was deleted (acknowledged) but is in the final state"),
                vec![*del],
            ));
        }
    }
    pool_exhaustion(&ops, setup, &mut found);
    idempotency(&ops, &mut found);
    found
}

/// Two peers with one address of a family, in one read.
fn duplicates(peers: &[PeerRow], ops: &[u64], found: &mut Vec<Anomaly>) {
    for (family, addr) in [("IPv4", 0), ("IPv6", 1)] {
        let mut holders: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for p in peers {
            let a = if addr == 0 { &p.v4 } else { &p.v6 };
            if let Some(a) = a {
                holders.entry(a).or_default().push(&p.name);
            }
        }
        for (a, names) in holders.into_iter().filter(|(_, n)| n.len() > 1) {
            let what = if ops.is_empty() {
                "the final state".to_string()
            } else {
                format!("read {}", ops[0])
            };
            found.push(Anomaly::new(
                "duplicate-address",
                format!("{what}: {family} address {a} held by {}", names.join(", ")),
                ops.to_vec(),
            ));
        }
    }
}

/// A `pool_exhausted` refusal while fewer peers could possibly exist than the pool holds.
/// A peer could exist during the refusal if its creation was invoked before the refusal
/// completed (and not refused), and no acknowledged deletion of it completed before the
/// refusal was invoked.
fn pool_exhaustion(ops: &[&Op], setup: &Setup, found: &mut Vec<Anomaly>) {
    let deleted_at: HashMap<&str, u64> = ops
        .iter()
        .filter(|o| o.is("delete", Outcome::Ok))
        .filter_map(|o| Some((text(&o.value, "name")?, o.complete_ns)))
        .collect();
    for refusal in ops.iter().filter(|o| {
        o.f == "create"
            && o.outcome == Outcome::Fail
            && o.error.as_deref() == Some("pool_exhausted")
    }) {
        let possible: HashSet<&str> = ops
            .iter()
            .filter(|o| o.f == "create" && o.outcome != Outcome::Fail && o.id != refusal.id)
            .filter(|o| o.invoke_ns < refusal.complete_ns)
            .filter_map(|o| text(&o.value, "name"))
            .filter(|n| deleted_at.get(n).is_none_or(|t| *t > refusal.invoke_ns))
            .collect();
        let possible = possible.len() + setup.preexisting.len();
        if possible < setup.capacity {
            found.push(Anomaly::new(
                "spurious-pool-exhausted",
                format!(
                    "create {} was refused with pool_exhausted while at most {possible} of \
                     {} addresses could be taken",
                    refusal.id, setup.capacity
                ),
                vec![refusal.id],
            ));
        }
    }
}

/// Attempts under one `Idempotency-Key` (a retry after an unknown outcome) must answer as
/// the first one did: the same peer, never `name_taken` for the peer the key created.
fn idempotency(ops: &[&Op], found: &mut Vec<Anomaly>) {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.f == "create") {
        if let Some(k) = text(&op.value, "key") {
            by_key.entry(k).or_default().push(op);
        }
    }
    for (key, attempts) in by_key {
        let ids: HashSet<&str> = attempts
            .iter()
            .filter(|o| o.outcome == Outcome::Ok)
            .filter_map(|o| text(&o.value, "id"))
            .collect();
        let taken: Vec<u64> = attempts
            .iter()
            .filter(|o| o.error.as_deref() == Some("name_taken"))
            .map(|o| o.id)
            .collect();
        if ids.len() > 1 || !taken.is_empty() {
            found.push(Anomaly::new(
                "idempotency-violated",
                format!(
                    "retries under key {key} were applied again: {} different peers, {} \
                     answered name_taken",
                    ids.len(),
                    taken.len()
                ),
                attempts.iter().map(|o| o.id).collect(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ipam(mut op: Op) -> Op {
        op.workload = "ipam".into();
        op
    }

    fn create(id: u64, name: &str, v4: &str, v6: &str, outcome: Outcome, t: (u64, u64)) -> Op {
        ipam(Op::new(
            id,
            "create",
            json!({"name": name, "id": format!("id-{name}"), "v4": v4, "v6": v6, "key": format!("k-{name}")}),
            outcome,
            t,
        ))
    }

    fn read(id: u64, peers: &[PeerRow], t: (u64, u64)) -> Op {
        ipam(Op::new(
            id,
            "read",
            json!({ "peers": peers }),
            Outcome::Ok,
            t,
        ))
    }

    fn row(name: &str, v4: &str, v6: &str) -> PeerRow {
        PeerRow {
            name: name.into(),
            id: format!("id-{name}"),
            v4: Some(v4.into()),
            v6: Some(v6.into()),
        }
    }

    const SETUP: Setup = Setup {
        preexisting: &[],
        capacity: 2,
    };

    fn kinds(found: &[Anomaly]) -> Vec<&str> {
        found.iter().map(|a| a.kind.as_str()).collect()
    }

    #[test]
    fn a_valid_history_with_reuse_of_a_deleted_address_passes() {
        let ops = vec![
            create(0, "a", "10.0.0.1", "fd::1", Outcome::Ok, (0, 10)),
            ipam(Op::new(
                1,
                "delete",
                json!({"id": "id-a", "name": "a"}),
                Outcome::Ok,
                (11, 20),
            )),
            create(2, "b", "10.0.0.1", "fd::1", Outcome::Ok, (21, 30)),
            // Unknown outcome, then absent: allowed.
            create(3, "c", "", "", Outcome::Unknown, (31, 40)),
            read(4, &[row("b", "10.0.0.1", "fd::1")], (41, 50)),
        ];
        assert_eq!(
            check(&ops, &[row("b", "10.0.0.1", "fd::1")], &SETUP),
            vec![]
        );
    }

    #[test]
    fn a_duplicate_address_in_a_read_or_the_final_state_is_flagged() {
        let ops = vec![
            create(0, "a", "10.0.0.1", "fd::1", Outcome::Ok, (0, 10)),
            create(1, "b", "10.0.0.1", "fd::2", Outcome::Ok, (0, 10)),
            read(
                2,
                &[row("a", "10.0.0.1", "fd::1"), row("b", "10.0.0.1", "fd::2")],
                (11, 12),
            ),
        ];
        let end = [row("a", "10.0.0.1", "fd::1"), row("b", "10.0.0.1", "fd::2")];
        let found = check(&ops, &end, &SETUP);
        assert_eq!(kinds(&found), ["duplicate-address", "duplicate-address"]);
        assert_eq!(found[0].ops, [2]);
    }

    #[test]
    fn an_acknowledged_creation_missing_at_the_end_is_a_lost_write() {
        let ops = vec![create(0, "a", "10.0.0.1", "fd::1", Outcome::Ok, (0, 10))];
        let found = check(&ops, &[], &SETUP);
        assert_eq!(kinds(&found), ["lost-write"]);
        assert_eq!(found[0].ops, [0]);
    }

    #[test]
    fn a_peer_nobody_created_is_a_phantom() {
        let ops = vec![read(0, &[row("ghost", "10.0.0.9", "fd::9")], (0, 1))];
        let found = check(&ops, &[row("ghost", "10.0.0.9", "fd::9")], &SETUP);
        assert_eq!(kinds(&found), ["phantom-peer", "phantom-peer"]);
    }

    #[test]
    fn pool_exhausted_with_free_addresses_is_flagged_and_with_a_full_pool_is_not() {
        let full = vec![
            create(0, "a", "10.0.0.1", "fd::1", Outcome::Ok, (0, 10)),
            create(1, "b", "10.0.0.2", "fd::2", Outcome::Unknown, (0, 10)),
            create(2, "c", "", "", Outcome::Fail, (11, 20)).with_error("pool_exhausted"),
        ];
        let end = [row("a", "10.0.0.1", "fd::1"), row("b", "10.0.0.2", "fd::2")];
        assert_eq!(check(&full, &end, &SETUP), vec![]);
        // One address was free (b's deletion was acknowledged before c was asked).
        let mut free = full.clone();
        free.insert(
            2,
            ipam(Op::new(
                5,
                "delete",
                json!({"id": "id-b", "name": "b"}),
                Outcome::Ok,
                (10, 10),
            )),
        );
        let found = check(&free, &end[..1], &SETUP);
        assert_eq!(kinds(&found), ["spurious-pool-exhausted"]);
        assert_eq!(found[0].ops, [2]);
    }

    #[test]
    fn a_retry_under_the_same_key_that_creates_again_is_flagged() {
        let first = create(0, "a", "", "", Outcome::Unknown, (0, 10));
        let retry = create(1, "a", "", "", Outcome::Fail, (11, 20)).with_error("name_taken");
        let found = check(&[first, retry], &[row("a", "10.0.0.1", "fd::1")], &SETUP);
        assert_eq!(kinds(&found), ["idempotency-violated"]);
        assert_eq!(found[0].ops, [0, 1]);
    }
}

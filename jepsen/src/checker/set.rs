//! The set checker: concurrent rule additions to one policy. Operations (`workload = set`):
//! `add` (value `{element, key}`; a retry after an unknown outcome repeats the key). The
//! final read (after every fault healed) lists each rule's element.

use std::collections::{BTreeMap, HashSet};

use super::{text, Anomaly};
use crate::history::{Op, Outcome};

pub fn check(ops: &[Op], final_elements: &[String]) -> Vec<Anomaly> {
    let ops: Vec<&Op> = ops.iter().filter(|o| o.workload == "set").collect();
    let mut found = Vec::new();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for e in final_elements {
        *count.entry(e).or_default() += 1;
    }
    let attempted: HashSet<&str> = ops
        .iter()
        .filter_map(|o| text(&o.value, "element"))
        .collect();
    for op in ops.iter().filter(|o| o.is("add", Outcome::Ok)) {
        let Some(e) = text(&op.value, "element") else {
            continue;
        };
        if !count.contains_key(e) {
            found.push(Anomaly::new(
                "lost-write",
                format!("rule {e} was added (acknowledged) but is not in the final read"),
                vec![op.id],
            ));
        }
    }
    for (e, n) in count {
        if !attempted.contains(e) {
            found.push(Anomaly::new(
                "phantom-element",
                format!("the final read holds rule {e} that no client added"),
                vec![],
            ));
        } else if n > 1 {
            // Each element is added under one Idempotency-Key: twice means applied twice.
            let involved = ops
                .iter()
                .filter(|o| text(&o.value, "element") == Some(e))
                .map(|o| o.id)
                .collect();
            found.push(Anomaly::new(
                "applied-twice",
                format!("rule {e} is in the final read {n} times (one Idempotency-Key)"),
                involved,
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn add(id: u64, e: &str, outcome: Outcome) -> Op {
        let mut op = Op::new(
            id,
            "add",
            json!({"element": e, "key": e}),
            outcome,
            (id, id + 1),
        );
        op.workload = "set".into();
        op
    }

    #[test]
    fn every_acknowledged_addition_present_once_passes() {
        let ops = [
            add(0, "a", Outcome::Ok),
            add(1, "b", Outcome::Unknown),
            add(2, "c", Outcome::Fail),
        ];
        assert_eq!(check(&ops, &["a".into(), "b".into()]), vec![]);
    }

    #[test]
    fn a_lost_addition_a_phantom_and_a_double_application_are_flagged() {
        let ops = [
            add(0, "a", Outcome::Ok),
            add(1, "b", Outcome::Unknown),
            add(2, "b", Outcome::Ok),
        ];
        let found = check(&ops, &["b".into(), "b".into(), "ghost".into()]);
        let kinds: Vec<&str> = found.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["lost-write", "applied-twice", "phantom-element"]);
        assert_eq!(found[1].ops, [1, 2]);
    }
}

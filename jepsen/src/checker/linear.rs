//! The register checker: is the history of compare-and-set operations and reads on one
//! register linearizable? A Wing–Gong search with Lowe's memoisation of (linearized set,
//! register value): at each step, any operation may take effect next that was invoked before
//! every not-yet-placed acknowledged operation completed; the search succeeds when every
//! acknowledged operation has a place. Operations of unknown outcome may take effect at
//! any time after their invocation, or never.
//!
//! Operations (`workload = register`): `read` (answered `{value}`), `cas` (`{expect, new}`;
//! refused with `version_mismatch` when the register did not hold `expect`). Local reads
//! (`read-local`) promise no recency, only a value some write put there; [`local_reads`]
//! checks that.

use std::collections::HashSet;

use super::{text, Anomaly};
use crate::history::{Op, Outcome};

/// What an operation requires of the register and does to it.
#[derive(Debug, Clone)]
enum Effect {
    /// Requires the value.
    Read(String),
    /// Requires `expect`, then holds `new`.
    Cas { expect: String, new: String },
    /// Requires anything but the value (a refused compare-and-set).
    Not(String),
}

#[derive(Debug, Clone)]
struct Entry {
    op: u64,
    effect: Effect,
    invoke: u64,
    /// `u64::MAX` for an unknown outcome.
    complete: u64,
    /// Acknowledged: must be placed.
    required: bool,
}

/// The verdict of [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order exists; the anomaly names the operations that could not be placed.
    Not(Anomaly),
    /// The search gave up after this many states (reported, not counted as an anomaly).
    GaveUp(usize),
}

/// Checks the `register` operations of `ops`, starting from `initial`, exploring at most
/// `limit` states.
pub fn check(ops: &[Op], initial: &str, limit: usize) -> Verdict {
    let entries: Vec<Entry> = ops
        .iter()
        .filter(|o| o.workload == "register")
        .filter_map(entry)
        .collect();
    search(&entries, initial, limit)
}

fn entry(o: &Op) -> Option<Entry> {
    let complete = if o.outcome == Outcome::Unknown {
        u64::MAX
    } else {
        o.complete_ns
    };
    let effect = match (o.f.as_str(), o.outcome) {
        ("read", Outcome::Ok) => Effect::Read(text(&o.value, "value")?.into()),
        ("cas", Outcome::Ok | Outcome::Unknown) => Effect::Cas {
            expect: text(&o.value, "expect")?.into(),
            new: text(&o.value, "new")?.into(),
        },
        ("cas", Outcome::Fail) if o.error.as_deref() == Some("version_mismatch") => {
            Effect::Not(text(&o.value, "expect")?.into())
        }
        // Anything else certainly did nothing, or is a read that told nothing.
        _ => return None,
    };
    Some(Entry {
        op: o.id,
        effect,
        invoke: o.invoke_ns,
        complete,
        required: o.outcome != Outcome::Unknown,
    })
}

fn search(entries: &[Entry], initial: &str, limit: usize) -> Verdict {
    let n = entries.len();
    let required = entries.iter().filter(|e| e.required).count();
    let words = n.div_ceil(64);
    // Depth-first: each frame is (placed set, value, placed required count, next candidate).
    let mut seen: HashSet<(Vec<u64>, String)> = HashSet::new();
    let mut stack: Vec<(Vec<u64>, String, usize, usize)> =
        vec![(vec![0; words], initial.to_string(), 0, 0)];
    let mut deepest: (usize, Vec<u64>) = (0, vec![0; words]);
    let placed = |set: &[u64], i: usize| set[i / 64] & (1 << (i % 64)) != 0;
    while let Some((set, value, done, from)) = stack.pop() {
        if done == required {
            return Verdict::Linearizable;
        }
        if seen.len() >= limit {
            return Verdict::GaveUp(seen.len());
        }
        // Nothing may be placed that was invoked after an unplaced acknowledged op completed.
        let horizon = (0..n)
            .filter(|i| entries[*i].required && !placed(&set, *i))
            .map(|i| entries[i].complete)
            .min()
            .unwrap_or(u64::MAX);
        let mut next = None;
        for i in from..n {
            let e = &entries[i];
            if placed(&set, i) || e.invoke > horizon {
                continue;
            }
            let after = match &e.effect {
                Effect::Read(v) if *v == value => value.clone(),
                Effect::Cas { expect, new } if *expect == value => new.clone(),
                Effect::Not(v) if *v != value => value.clone(),
                _ => continue,
            };
            let mut child = set.clone();
            child[i / 64] |= 1 << (i % 64);
            if seen.insert((child.clone(), after.clone())) {
                next = Some((i, child, after));
                break;
            }
        }
        if let Some((i, child, after)) = next {
            let d = done + usize::from(entries[i].required);
            if d > deepest.0 {
                deepest = (d, child.clone());
            }
            // Come back to this frame for its other candidates.
            stack.push((set, value, done, i + 1));
            stack.push((child, after, d, 0));
        }
    }
    // The acknowledged operations the longest order could not place, earliest first.
    let mut stuck: Vec<&Entry> = (0..n)
        .filter(|i| entries[*i].required && !placed(&deepest.1, *i))
        .map(|i| &entries[i])
        .collect();
    stuck.sort_by_key(|e| e.complete);
    let ops: Vec<u64> = stuck.iter().take(5).map(|e| e.op).collect();
    Verdict::Not(Anomaly::new(
        "not-linearizable",
        format!(
            "no order of the register operations fits: {} of {required} acknowledged \
             operations placed at best; the first that could not be placed: {:?}",
            deepest.0,
            stuck.first().map(|e| &e.effect)
        ),
        ops,
    ))
}

/// Local reads return stale values by design, but only values some write put there (or the
/// initial one), and never a value whose write was invoked after the read completed.
pub fn local_reads(ops: &[Op], initial: &str) -> Vec<Anomaly> {
    let ops: Vec<&Op> = ops.iter().filter(|o| o.workload == "register").collect();
    let mut found = Vec::new();
    for read in ops.iter().filter(|o| o.is("read-local", Outcome::Ok)) {
        let Some(v) = text(&read.value, "value") else {
            continue;
        };
        let written = v == initial
            || ops.iter().any(|w| {
                w.f == "cas"
                    && w.outcome != Outcome::Fail
                    && text(&w.value, "new") == Some(v)
                    && w.invoke_ns <= read.complete_ns
            });
        if !written {
            found.push(Anomaly::new(
                "local-read-of-unwritten-value",
                format!(
                    "local read {} returned {v:?}, which no write had put there",
                    read.id
                ),
                vec![read.id],
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reg(mut op: Op) -> Op {
        op.workload = "register".into();
        op
    }

    fn cas(id: u64, expect: &str, new: &str, outcome: Outcome, t: (u64, u64)) -> Op {
        reg(Op::new(
            id,
            "cas",
            json!({"expect": expect, "new": new}),
            outcome,
            t,
        ))
    }

    fn read(id: u64, f: &str, v: &str, t: (u64, u64)) -> Op {
        reg(Op::new(id, f, json!({ "value": v }), Outcome::Ok, t))
    }

    #[test]
    fn concurrent_writes_and_reads_in_some_valid_order_are_linearizable() {
        let ops = vec![
            cas(0, "init", "a", Outcome::Ok, (0, 10)),
            // Overlaps the first write: may read either value.
            read(1, "read", "init", (1, 5)),
            cas(2, "a", "b", Outcome::Ok, (11, 20)),
            // Refused: the register held b, not a... after 2, before 4.
            cas(3, "init", "x", Outcome::Fail, (12, 22)).with_error("version_mismatch"),
            // Unknown, and it did happen: the read sees it.
            cas(4, "b", "c", Outcome::Unknown, (21, 22)),
            read(5, "read", "c", (30, 40)),
            // Unknown, never happened.
            cas(6, "zzz", "y", Outcome::Unknown, (41, 42)),
        ];
        assert_eq!(check(&ops, "init", 100_000), Verdict::Linearizable);
        assert_eq!(local_reads(&ops, "init"), vec![]);
    }

    #[test]
    fn a_stale_linearizable_read_is_flagged() {
        // The write of b completed before the read began, yet the read saw a.
        let ops = vec![
            cas(0, "init", "a", Outcome::Ok, (0, 10)),
            cas(1, "a", "b", Outcome::Ok, (11, 20)),
            read(2, "read", "a", (21, 30)),
        ];
        match check(&ops, "init", 100_000) {
            Verdict::Not(a) => {
                assert_eq!(a.kind, "not-linearizable");
                assert!(a.ops.contains(&2), "{a:?}");
            }
            other => panic!("expected an anomaly, got {other:?}"),
        }
    }

    #[test]
    fn two_acknowledged_swaps_from_the_same_value_are_not_linearizable() {
        let ops = vec![
            cas(0, "init", "a", Outcome::Ok, (0, 10)),
            cas(1, "init", "b", Outcome::Ok, (0, 10)),
        ];
        assert!(matches!(check(&ops, "init", 100_000), Verdict::Not(_)));
    }

    #[test]
    fn the_search_reports_when_it_gives_up() {
        let ops: Vec<Op> = (0..20)
            .map(|i| cas(i, "init", &format!("v{i}"), Outcome::Unknown, (0, 1)))
            .chain([read(99, "read", "never", (2, 3))])
            .collect();
        assert!(matches!(check(&ops, "init", 5), Verdict::GaveUp(_)));
    }

    #[test]
    fn a_local_read_of_a_value_never_written_is_flagged_and_a_stale_one_is_not() {
        let ops = vec![
            cas(0, "init", "a", Outcome::Ok, (0, 10)),
            cas(1, "a", "b", Outcome::Ok, (11, 20)),
            read(2, "read-local", "a", (21, 30)),
            read(3, "read-local", "made-up", (21, 30)),
        ];
        let found = local_reads(&ops, "init");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].ops, [3]);
    }
}

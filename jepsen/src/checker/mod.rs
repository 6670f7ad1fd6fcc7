//! Checkers: each reads a history (and the state read back after every fault healed) and
//! returns the anomalies it found, each naming the operations involved.
//!
//! - [`ipam`]: no address of a family held twice in any read or at the end, nothing
//!   acknowledged lost, nothing nobody created, `pool_exhausted` only when it was full, and
//!   retries under one `Idempotency-Key` answered as the first attempt.
//! - [`linear`]: the register history is linearizable (a Wing–Gong/Lowe search); local
//!   reads return only values some write put there.
//! - [`set`]: every acknowledged addition is in the final read, exactly once; nothing else.

pub mod ipam;
pub mod linear;
pub mod set;

use serde::Serialize;

/// Something a correct system never shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// A stable name (`duplicate-address`, `lost-write`, `phantom-peer`, …).
    pub kind: String,
    pub detail: String,
    /// The ids of the operations involved (in `history.jsonl`).
    pub ops: Vec<u64>,
}

impl Anomaly {
    pub fn new(kind: &str, detail: impl Into<String>, ops: Vec<u64>) -> Anomaly {
        Anomaly {
            kind: kind.into(),
            detail: detail.into(),
            ops,
        }
    }
}

/// The string at `key` of an operation's value.
pub(crate) fn text<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(serde_json::Value::as_str)
}

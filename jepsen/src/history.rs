//! The history of a run: every operation a client invoked, how it completed, when (monotonic
//! nanoseconds since the run began) and which node it asked. Written as `history.jsonl`: an
//! `invoke` line when the operation starts, and an `ok`, `fail` or `info` (outcome unknown)
//! line when it completes, as Jepsen does.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened (a 2xx, or a read's answer).
    Ok,
    /// It certainly did not happen (a refusal, or a request never sent).
    Fail,
    /// It may or may not have happened (a timeout, a lost connection, `outcome_unknown`).
    Unknown,
}

/// One completed operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Unique in the run, in invocation order.
    pub id: u64,
    /// The client that ran it (each client runs one operation at a time).
    pub client: u64,
    /// The node asked (1-based).
    pub node: u64,
    /// The workload (`ipam`, `register`, `set`).
    pub workload: String,
    /// What it does (`create`, `delete`, `read`, `read-local`, `cas`, `add`, …).
    pub f: String,
    /// What it was asked to do, and for `ok` reads what it read.
    pub value: Value,
    pub outcome: Outcome,
    /// The error code of a refusal, or why the outcome is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub invoke_ns: u64,
    pub complete_ns: u64,
}

impl Op {
    /// A made-up operation, for the checkers' tests and for readers of this module.
    pub fn new(id: u64, f: &str, value: Value, outcome: Outcome, times: (u64, u64)) -> Op {
        Op {
            id,
            client: 0,
            node: 1,
            workload: String::new(),
            f: f.into(),
            value,
            outcome,
            error: None,
            invoke_ns: times.0,
            complete_ns: times.1,
        }
    }

    pub fn with_error(mut self, code: &str) -> Op {
        self.error = Some(code.into());
        self
    }

    pub fn is(&self, f: &str, outcome: Outcome) -> bool {
        self.f == f && self.outcome == outcome
    }
}

/// The recorder every client shares: operations in memory for the checkers, and each event
/// appended to `history.jsonl` as it happens (so a run that dies still leaves its history).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    start: Instant,
}

struct Inner {
    next: u64,
    ops: Vec<Op>,
    out: Option<std::io::BufWriter<std::fs::File>>,
}

/// An operation in flight: completed with [`Recorder::complete`].
pub struct Pending {
    op: Op,
}

impl Pending {
    pub fn node(&self) -> u64 {
        self.op.node
    }
}

impl Recorder {
    /// A recorder writing to `path` (or only keeping the history in memory).
    pub fn new(path: Option<&std::path::Path>) -> std::io::Result<Recorder> {
        let out = match path {
            Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
            None => None,
        };
        Ok(Recorder {
            inner: Arc::new(Mutex::new(Inner {
                next: 0,
                ops: Vec::new(),
                out,
            })),
            start: Instant::now(),
        })
    }

    /// Nanoseconds since the run began (monotonic).
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A client that panicked while holding the lock leaves a history still worth keeping.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the invocation of `f(value)` by `client` against `node`.
    pub fn invoke(&self, workload: &str, client: u64, node: u64, f: &str, value: Value) -> Pending {
        let now = self.now();
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        let op = Op {
            id,
            client,
            node,
            workload: workload.into(),
            f: f.into(),
            value,
            outcome: Outcome::Unknown,
            error: None,
            invoke_ns: now,
            complete_ns: now,
        };
        inner.write(&op, "invoke");
        Pending { op }
    }

    /// Records how `p` completed; `value` replaces the invoked value when given (a read's
    /// answer, a created peer's addresses).
    pub fn complete(
        &self,
        p: Pending,
        outcome: Outcome,
        value: Option<Value>,
        error: Option<String>,
    ) -> Op {
        let mut op = p.op;
        op.complete_ns = self.now();
        op.outcome = outcome;
        op.error = error;
        if let Some(v) = value {
            op.value = v;
        }
        let mut inner = self.lock();
        let kind = match outcome {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Unknown => "info",
        };
        inner.write(&op, kind);
        inner.ops.push(op.clone());
        op
    }

    /// Every completed operation, in invocation order.
    pub fn ops(&self) -> Vec<Op> {
        let mut ops = self.lock().ops.clone();
        ops.sort_by_key(|o| o.id);
        ops
    }

    pub fn flush(&self) {
        if let Some(out) = self.lock().out.as_mut() {
            let _ = out.flush();
        }
    }
}

impl Inner {
    fn write(&mut self, op: &Op, kind: &str) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let mut line = serde_json::to_value(op).unwrap_or(Value::Null);
        line["type"] = Value::String(kind.into());
        if kind == "invoke" {
            if let Some(o) = line.as_object_mut() {
                for k in ["outcome", "error", "complete_ns"] {
                    o.remove(k);
                }
            }
        }
        let _ = writeln!(out, "{line}");
    }
}

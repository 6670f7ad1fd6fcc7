//! What a person would check on a host (can it ping, what does DNS answer), and waiting for
//! a condition with a deadline.

use std::time::{Duration, Instant};

use crate::netns::Netns;

/// Pings `addr` from `ns` until one reply comes back or `limit` passes; whether it did.
pub fn ping_within(ns: &Netns, addr: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if pings(ns, addr) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// One ping (IPv4 or IPv6 by the address), one second to answer.
pub fn pings(ns: &Netns, addr: &str) -> bool {
    ns.try_exec("ping", &["-c", "1", "-W", "1", addr]).0
}

/// Pings `addr` a few times over `window`; true when none came back (a blocked path is
/// checked this way only after the same path was seen open, so the check can fail).
pub fn blocked_for(ns: &Netns, addr: &str, window: Duration) -> bool {
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        if pings(ns, addr) {
            return false;
        }
    }
    true
}

/// A DNS answer as `dig` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dig {
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`…
    pub rcode: String,
    /// The answer section's values (addresses), in order.
    pub answers: Vec<String>,
}

/// `dig @server -p port name type` from `ns`, over TCP when `tcp`.
pub fn dig(ns: &Netns, server: &str, port: u16, name: &str, rtype: &str, tcp: bool) -> Dig {
    let at = format!("@{server}");
    let port = port.to_string();
    let mut args = vec![
        at.as_str(),
        "-p",
        port.as_str(),
        name,
        rtype,
        "+tries=1",
        "+time=2",
        "+noall",
        "+comments",
        "+answer",
    ];
    if tcp {
        args.push("+tcp");
    }
    let (_, out) = ns.try_exec("dig", &args);
    let rcode = out
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("NO ANSWER")
        .to_string();
    let answers = out
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect();
    Dig { rcode, answers }
}

/// How often the waiting helpers check again.
const POLL: Duration = Duration::from_millis(50);

/// Polls `f` until it returns `Some`; `None` once `limit` has passed.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Whether `cond` holds within `limit` — for waits that must not panic (cleanup in `Drop`)
/// or whose caller says best what went wrong.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    poll(limit, || cond().then_some(())).is_some()
}

/// Polls `f` until it returns `Some`, or panics with `what` after `limit`.
#[track_caller]
pub fn wait_until<T>(limit: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
    match poll(limit, f) {
        Some(v) => v,
        None => panic!("timed out after {limit:?}: {what}"),
    }
}

/// [`wait_until`] for async tests: `f` may await (a request to a node running in the test's
/// own runtime), and the runtime goes on running while it waits.
pub async fn wait_until_async<T, F, Fut>(limit: Duration, what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    match poll_async(limit, f).await {
        Some(v) => v,
        None => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Polls `f` until it returns `Some`, or `None` after `limit` (for callers that must not
/// panic, such as the fault-injection harness).
pub async fn poll_async<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

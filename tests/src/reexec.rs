//! Running a test inside a network namespace, without unsafe code: the test re-executes its
//! own binary inside a fresh namespace (`ip netns exec`), restricted to itself, and the
//! parent only checks that the child passed. Inside, the test talks to nodes and agents that
//! live in namespaces it creates, with ordinary sockets.

use std::process::Command;

use crate::netns::Netns;

/// Set in the child: the namespace it runs in.
pub const INSIDE: &str = "RAFTWIRE_TEST_IN_NETNS";

/// Called first by a test (through [`in_netns!`](crate::in_netns)): in the parent, creates a
/// namespace, runs the test again inside it, asserts it passed, removes the namespace and
/// returns `None` (the parent's work is done); in the child, returns the namespace's name.
/// Also `None`, after a loud message, where namespaces are not available (see `root`).
pub fn inside(module_path: &str, test: &str) -> Option<String> {
    if let Ok(ns) = std::env::var(INSIDE) {
        return Some(ns);
    }
    // The test's name as the harness knows it: the module path without the crate.
    let path = match module_path.split_once("::") {
        Some((_, rest)) => format!("{rest}::{test}"),
        None => test.to_string(),
    };
    if !crate::root::netns_available(&path) {
        return None;
    }
    let ns = Netns::new("c");
    let exe = std::env::current_exe().expect("the test executable");
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(&exe)
        .args(["--exact", &path, "--nocapture", "--test-threads", "1"])
        .env(INSIDE, &ns.name)
        .output()
        .expect("run the test inside its namespace");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{path} failed inside namespace {}:\n{text}",
        ns.name
    );
    assert!(
        text.contains("1 passed"),
        "{path} did not run inside its namespace:\n{text}"
    );
    None
}

/// The first line of a test that runs inside its own network namespace:
/// `let Some(ctl) = in_netns!(my_test) else { return };` — `ctl` names the namespace.
#[macro_export]
macro_rules! in_netns {
    ($test:ident) => {
        $crate::reexec::inside(module_path!(), stringify!($test))
    };
}

//! Running a test inside a network namespace, without unsafe code: the test re-executes its
//! own binary inside a namespace (`ip netns exec`), restricted to itself, and the parent only
//! checks that the child ran that one test and that it passed. Inside, the test changes
//! addresses, routes, iptables and sysctls that belong to the namespace alone.

use std::process::Command;

use crate::netns::Netns;

/// Set in the child: the namespace it runs in.
pub const INSIDE: &str = "RAFTWIRE_TEST_IN_NETNS";

/// In a re-executed child, the namespace it runs in — checked against the kernel, so a test
/// about to change iptables or sysctls never does so in the host's own namespace. `None` in
/// the parent.
pub fn current() -> Option<String> {
    let ns = std::env::var(INSIDE).ok()?;
    let out = Command::new("ip")
        .args(["netns", "identify", &std::process::id().to_string()])
        .output()
        .expect("ip netns identify");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        ns,
        "{INSIDE}={ns}, but this process is not inside that namespace"
    );
    Some(ns)
}

/// A test's name as the test harness knows it: its module path without the crate's name
/// (`module_path!()` in the test), then the test function's name. It changes when a test
/// moves to another module, so it is always computed, never written out.
pub fn test_path(module_path: &str, test: &str) -> String {
    match module_path.split_once("::") {
        Some((_, rest)) => format!("{rest}::{test}"),
        None => test.to_string(),
    }
}

/// Runs the test `path` of this binary alone inside namespace `ns`, with `env` set (and
/// [`INSIDE`]), and asserts that it passed — and that it ran at all: `--exact` with a name
/// that matches nothing runs zero tests and still succeeds. Its output, which the parent also
/// prints (shown with `--nocapture` or when the parent fails).
pub fn run_inside(ns: &str, path: &str, env: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().expect("the test executable");
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(&exe)
        .args(["--exact", path, "--nocapture", "--test-threads", "1"])
        .env(INSIDE, ns)
        .envs(env.iter().copied())
        .output()
        .expect("run the test inside its namespace");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{path} failed inside namespace {ns} ({}):\n{text}",
        out.status
    );
    assert!(
        text.contains("test result: ok. 1 passed;"),
        "{path} did not run inside namespace {ns}:\n{text}"
    );
    print!("{text}");
    text
}

/// Called first by a test (through [`in_netns!`](crate::in_netns)): in the parent, creates a
/// namespace, runs the test again inside it, asserts it passed, removes the namespace and
/// returns `None` (the parent's work is done); in the child, returns the namespace's name.
/// Also `None`, after a loud message, where namespaces are not available (see `root`).
pub fn inside(module_path: &str, test: &str) -> Option<String> {
    if let Some(ns) = current() {
        return Some(ns);
    }
    let path = test_path(module_path, test);
    if !crate::root::netns_available(&path) {
        return None;
    }
    let ns = Netns::new("c");
    run_inside(&ns.name, &path, &[]);
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

//! Tests that need root and network namespaces: run them for real, or skip them loudly.
//!
//! Without root such a test prints why it skips and passes — unless `RAFTWIRE_REQUIRE_NETNS=1`
//! (set by CI), under which a skip is a failure: CI must never go green by skipping them.

/// Whether this test may run; `false` (after a loud message) means skip it.
#[track_caller]
pub fn netns_available(test: &str) -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let tools = ["ip", "iptables", "wg", "wireguard-go", "dig", "ping"]
        .iter()
        .all(|t| which(t));
    if root && tools {
        return true;
    }
    let why = if root {
        "needs ip, iptables, wg, wireguard-go, dig and ping"
    } else {
        "needs root (network namespaces, iptables, WireGuard)"
    };
    if std::env::var("RAFTWIRE_REQUIRE_NETNS").is_ok_and(|v| v == "1") {
        panic!("{test}: {why}, and RAFTWIRE_REQUIRE_NETNS=1 forbids skipping it");
    }
    eprintln!("\n*** SKIPPED {test}: {why} (RAFTWIRE_REQUIRE_NETNS=1 makes this a failure) ***\n");
    false
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .any(|dir| dir.join(tool).is_file())
    })
}

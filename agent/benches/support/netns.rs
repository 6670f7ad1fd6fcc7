//! What every agent benchmark that needs the real kernel shares: it runs itself again
//! inside a network namespace of its own (root only; a skip message otherwise), and the
//! namespace is deleted however the run ends.

use std::process::Command;

use raftwire_agent::host;

const IN_NETNS: &str = "RAFTWIRE_BENCH_IN_NETNS";

/// Deletes the namespace however the benchmark ends.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Runs `inside` in a fresh namespace (re-executing this benchmark there); exits non-zero
/// when it fails.
pub fn run(bench: &str, inside: fn() -> Result<(), String>) {
    if std::env::var_os(IN_NETNS).is_some() {
        if let Err(e) = inside() {
            eprintln!("{bench}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let root = host::run("id", &["-u"]).is_ok_and(|u| u.trim() == "0");
    if !root {
        println!("!!!!! {bench} SKIPPED: needs root for a network namespace !!!!!");
        return;
    }
    let ns = Netns(format!("rwbench{}", std::process::id()));
    if let Err(e) = host::run("ip", &["netns", "add", &ns.0]) {
        eprintln!("{bench}: {e}");
        std::process::exit(1);
    }
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let status = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(IN_NETNS, &ns.0)
        .status();
    drop(ns);
    match status {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("{bench} failed: {other:?}");
            std::process::exit(1);
        }
    }
}

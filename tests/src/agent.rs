//! `raftwire-agent` processes inside host namespaces.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::Netns;
use crate::procs::{binary, Proc};

/// How to start an agent.
pub struct AgentArgs<'a> {
    pub servers: Vec<String>,
    pub token: &'a str,
    /// Its state dir (keys, last config) and log live under here.
    pub dir: &'a Path,
    pub interface: &'a str,
    pub dns_port: u16,
    pub resync: Duration,
    /// `--down-on-exit`: remove everything the agent made when it stops.
    pub down_on_exit: bool,
}

/// An agent process in a namespace.
pub struct AgentProc {
    pub proc: Proc,
    pub state_dir: PathBuf,
}

impl AgentProc {
    pub fn start(ns: &Netns, args: AgentArgs) -> AgentProc {
        let state_dir = args.dir.join("agent-state");
        let token_file = args.dir.join("agent-token");
        std::fs::write(&token_file, args.token).expect("write the agent token");
        let mut cmd = ns.command(binary("raftwire-agent").to_str().expect("utf-8 path"));
        cmd.args(["--server", &args.servers.join(",")])
            .arg("--token-file")
            .arg(&token_file)
            .arg("--state-dir")
            .arg(&state_dir)
            .args(["--interface", args.interface])
            .args(["--wg-backend", "userspace"])
            .args(["--dns-port", &args.dns_port.to_string()])
            .args([
                "--resync-interval",
                &format!("{}s", args.resync.as_secs().max(1)),
            ])
            .env("RUST_LOG", "info");
        if args.down_on_exit {
            cmd.arg("--down-on-exit");
        }
        let log = args.dir.join(format!("agent-{}.log", ns.name));
        AgentProc {
            proc: Proc::spawn(&format!("agent in {}", ns.name), cmd, log),
            state_dir,
        }
    }

    /// The version of the configuration the agent persisted as applied, if any.
    pub fn persisted_version(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.state_dir.join("config.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["version"].as_u64()
    }
}

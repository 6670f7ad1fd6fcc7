//! `raftwire-node` processes for end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::api::Api;
use crate::probe::wait_until;
use crate::procs::{binary, Proc};

/// A node process in the current namespace, its data in `dir`.
pub struct NodeProc {
    pub id: u64,
    pub proc: Proc,
    pub api: Api,
    pub dir: PathBuf,
}

impl NodeProc {
    /// Starts node `id` on `ip` (a free port), with its data in `dir/n<id>` and the cluster
    /// secret in `dir/secret`; node 1 bootstraps, the others join `join`.
    pub fn start(dir: &Path, id: u64, ip: &str, join: Option<&str>) -> NodeProc {
        let data = dir.join(format!("n{id}"));
        let mut cmd = Command::new(binary("raftwire-node"));
        cmd.args(["--id", &id.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", &format!("{ip}:0")])
            .arg("--cluster-secret-file")
            .arg(dir.join("secret"))
            .env("RUST_LOG", "info,openraft=warn");
        if let Some(j) = join {
            cmd.args(["--join", j]);
        }
        let log = dir.join(format!("n{id}.log"));
        let proc = Proc::spawn(&format!("node {id}"), cmd, log);
        let base = wait_until(Duration::from_secs(30), "the node's startup line", || {
            let text = proc.output();
            let (_, rest) = text.split_once(" listening on ")?;
            Some(rest.split_whitespace().next()?.to_string())
        });
        let token_file = data.join("admin-token");
        let token = wait_until(Duration::from_secs(30), "the node's admin token", || {
            std::fs::read_to_string(&token_file)
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        let api = Api { base, token };
        wait_until(Duration::from_secs(30), "the node to be ready", || {
            api.ready().then_some(())
        });
        NodeProc {
            id,
            proc,
            api,
            dir: data,
        }
    }
}

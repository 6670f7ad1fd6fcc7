//! An etcd cluster of 3 members on loopback (the system's `etcd` binary, fsync on as
//! shipped), started in a temporary directory and killed on drop, and puts through its v3
//! JSON gateway (`POST /v3/kv/put`, base64 key and value).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use raftwire_tests::procs::Proc;
use serde_json::{json, Value};

use crate::procs::{free_ports, system_binary, wait_for};

/// The value every put writes: 300 bytes, as in the comparison the issue made.
pub const VALUE_LEN: usize = 300;

pub struct Etcd {
    members: Vec<(Proc, String)>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Etcd {
    /// The etcd binary, if installed.
    pub fn binary() -> Option<PathBuf> {
        system_binary("etcd")
    }

    /// `etcd --version`'s first line.
    pub fn version() -> String {
        Self::binary()
            .and_then(|b| Command::new(b).arg("--version").output().ok())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "etcd not installed".into())
    }

    pub async fn start() -> anyhow::Result<Etcd> {
        let bin = Self::binary().context("etcd is not installed (Debian package etcd-server)")?;
        let dir = tempfile::Builder::new().prefix("rwbench-etcd").tempdir()?;
        let ports = free_ports(6)?;
        let peer = |i: usize| format!("http://127.0.0.1:{}", ports[3 + i]);
        let client = |i: usize| format!("http://127.0.0.1:{}", ports[i]);
        let initial: Vec<String> = (0..3).map(|i| format!("e{i}={}", peer(i))).collect();
        let mut members = Vec::new();
        for i in 0..3 {
            let mut cmd = Command::new(&bin);
            cmd.args(["--name", &format!("e{i}")])
                .arg("--data-dir")
                .arg(dir.path().join(format!("e{i}")))
                .args(["--listen-client-urls", &client(i)])
                .args(["--advertise-client-urls", &client(i)])
                .args(["--listen-peer-urls", &peer(i)])
                .args(["--initial-advertise-peer-urls", &peer(i)])
                .args(["--initial-cluster", &initial.join(",")])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "rwbench"])
                .args(["--log-level", "warn"]);
            let log = dir.path().join(format!("e{i}.log"));
            members.push((Proc::spawn(&format!("etcd {i}"), cmd, log), client(i)));
        }
        let etcd = Etcd {
            members,
            http: crate::load::http_client()?,
            _dir: dir,
        };
        for (_, url) in &etcd.members {
            let health = format!("{url}/health");
            let http = &etcd.http;
            wait_for(Duration::from_secs(60), "etcd to be healthy", || {
                let health = health.clone();
                async move {
                    let v: Value = http.get(health).send().await.ok()?.json().await.ok()?;
                    (v["health"] == "true").then_some(())
                }
            })
            .await?;
        }
        Ok(etcd)
    }

    /// The client URL of the current leader.
    pub async fn leader(&self) -> anyhow::Result<String> {
        let this = self;
        wait_for(Duration::from_secs(30), "an etcd leader", || async move {
            for (_, url) in &this.members {
                let v: Value = this
                    .http
                    .post(format!("{url}/v3/maintenance/status"))
                    .json(&json!({}))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                if v["header"]["member_id"] == v["leader"] {
                    return Some(url.clone());
                }
            }
            None
        })
        .await
    }
}

/// Puts key `<prefix>-<n>` with a 300-byte value.
pub async fn put(http: &reqwest::Client, url: &str, prefix: &str, n: usize) -> Result<(), String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = json!({
        "key": b64.encode(format!("{prefix}-{n}")),
        "value": b64.encode([b'v'; VALUE_LEN]),
    });
    let r = http
        .post(format!("{url}/v3/kv/put"))
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let text = r.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{status}: {}", String::from_utf8_lossy(&text)))
    }
}

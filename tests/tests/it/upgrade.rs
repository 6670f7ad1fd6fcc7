//! A rolling upgrade between the previous release (`scripts/previous-release`, built once by
//! `scripts/build-previous.sh`) and this build, as real processes on loopback:
//!
//! 1. three nodes of the previous release form a cluster and take writes;
//! 2. a node of this build joins it (a newer node in an older cluster) and serves what it
//!    has caught up on, and writes through it commit;
//! 3. the three old nodes are replaced one at a time by this build on their data dirs,
//!    each taking writes right after its restart, sequential and concurrent (the cluster is
//!    mixed all along, so its leader must not batch them);
//! 4. the upgraded cluster batches concurrent writes; then a node of the previous release
//!    joins it (an older node in a newer cluster) and serves everything written before and
//!    after: it is never sent a batch entry, which it could not read.
//!
//! Every node answers with exactly the peers written, in every phase. The nodes of this
//! build snapshot every 20 entries and purge their logs, so the old node joining at the end
//! can only catch up by installing a snapshot a new leader made. The schema-version
//! fixtures of `raftwire-raft-store` prove each format on its own; this proves the mixed
//! cluster. Loopback only, no root.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use raftwire_tests::api::{id_of, Api};
use raftwire_tests::probe::wait_until;
use raftwire_tests::procs::{binary, Proc};
use serde_json::{json, Value};

const READY: Duration = Duration::from_secs(60);

/// The previous release's `raftwire-node`, built (once, cached) by the script.
fn previous_node() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-previous.sh");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "building the previous release failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One node: a fixed port and data dir, so a restart (with another binary) keeps its
/// identity and its address in the membership.
struct Node {
    id: u64,
    port: u16,
    proc: Option<Proc>,
    api: Api,
}

struct Cluster {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

impl Cluster {
    fn url(port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }

    /// Starts node `id` from `bin` (joining node 1 unless it is node 1), with `extra` flags.
    fn start(&mut self, id: u64, bin: &Path, extra: &[&str]) {
        let port = match self.nodes.iter().find(|n| n.id == id) {
            Some(n) => n.port,
            None => free_port(),
        };
        let data = self.dir.path().join(format!("n{id}"));
        let mut cmd = Command::new(bin);
        cmd.args(["--id", &id.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--cluster-secret-file")
            .arg(self.dir.path().join("secret"))
            .args(extra)
            .env("RUST_LOG", "info,openraft=warn");
        if id != 1 {
            cmd.args(["--join", &Self::url(self.nodes[0].port)]);
        }
        let name = format!("node {id} ({})", bin.display());
        let log = self
            .dir
            .path()
            .join(format!("n{id}-{}.log", self.nodes.len()));
        let proc = Proc::spawn(&name, cmd, log);
        let token_file = data.join("admin-token");
        let token = wait_until(READY, "the node's admin token", || {
            std::fs::read_to_string(&token_file)
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        let api = Api {
            base: Self::url(port),
            token,
        };
        wait_until(READY, &format!("node {id} to be ready"), || {
            api.ready().then_some(())
        });
        match self.nodes.iter_mut().find(|n| n.id == id) {
            Some(n) => {
                n.proc = Some(proc);
                n.api = api;
            }
            None => self.nodes.push(Node {
                id,
                port,
                proc: Some(proc),
                api,
            }),
        }
    }

    /// Stops node `id` gracefully (SIGTERM), as an upgrade does.
    fn stop(&mut self, id: u64) {
        let n = self.nodes.iter_mut().find(|n| n.id == id).expect("node");
        let mut proc = n.proc.take().expect("a running node");
        proc.signal("TERM");
        let status = proc.wait_exit(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "node {id} did not stop cleanly: {status:?}\n{}",
            proc.output()
        );
    }

    fn api(&self, id: u64) -> &Api {
        &self.nodes.iter().find(|n| n.id == id).expect("node").api
    }

    /// Waits until `id` is a voter as every running node sees it.
    fn wait_voter(&self, id: u64) {
        for n in self.nodes.iter().filter(|n| n.proc.is_some()) {
            wait_until(
                READY,
                &format!("node {id} a voter on node {}", n.id),
                || {
                    let c = n.api.get("/cluster").body;
                    c["members"]
                        .as_array()?
                        .iter()
                        .any(|m| m["id"].as_u64() == Some(id) && m["voter"] == true)
                        .then_some(())
                },
            );
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            if let Some(p) = &n.proc {
                out.push_str(&format!("--- {}\n{}\n", p.name, p.output()));
            }
        }
        out
    }
}

/// Creates peer `name` through node `id` (retried while the cluster elects: 503).
fn write(c: &Cluster, id: u64, nid: &str, name: &str) {
    let api = c.api(id);
    let path = format!("/networks/{nid}/peers");
    let key = format!("upgrade-{}-{name}", std::process::id());
    let body = json!({"name": name});
    let created = wait_until(
        READY,
        &format!("peer {name} written through node {id}"),
        || {
            let a = api.call_with("POST", &path, Some(&body), &[("Idempotency-Key", &key)]);
            match a.status {
                201 => Some(a.body),
                500..=599 | 0 => None,
                _ => panic!("write {name} through node {id}: {} {}", a.status, a.body),
            }
        },
    );
    assert_eq!(created["name"], name);
}

/// Creates the peers `names` through node `id`, 16 at a time: concurrent writes the
/// leader may batch, which it must not do while any member is of the previous release.
fn write_concurrently(c: &Cluster, id: u64, nid: &str, names: &[String]) {
    for chunk in names.chunks(16) {
        std::thread::scope(|s| {
            for name in chunk {
                s.spawn(move || write(c, id, nid, name));
            }
        });
    }
}

/// The peer names node `id` holds (a linearizable read through it).
fn names_on(c: &Cluster, id: u64, nid: &str) -> Vec<String> {
    let a = c.api(id).get(&format!("/networks/{nid}/peers"));
    assert_eq!(a.status, 200, "list on node {id}: {}", a.body);
    let items: &Vec<Value> = a.body["items"]
        .as_array()
        .or(a.body.as_array())
        .unwrap_or_else(|| panic!("a peer list: {}", a.body));
    let mut names: Vec<String> = items
        .iter()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

/// The value of the Prometheus counter `name` on node `id`.
fn metric(c: &Cluster, id: u64, name: &str) -> u64 {
    let api = c.api(id);
    let out = Command::new("curl")
        .args(["-sS", "-m", "20", &format!("{}/metrics", api.base)])
        .args(["-H", &format!("Authorization: Bearer {}", api.token)])
        .output()
        .expect("curl runs");
    let a = String::from_utf8_lossy(&out.stdout);
    a.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in node {id}'s metrics:\n{a}"))
}

fn assert_every_node_holds(c: &Cluster, nid: &str, written: &[String], phase: &str) {
    let mut expected = written.to_vec();
    expected.sort();
    for n in c.nodes.iter().filter(|n| n.proc.is_some()) {
        assert_eq!(
            names_on(c, n.id, nid),
            expected,
            "{phase}: node {} holds other peers than were written\n{}",
            n.id,
            c.logs()
        );
    }
}

#[test]
fn a_rolling_upgrade_from_the_previous_release_keeps_every_write_and_mixed_clusters_work() {
    let old = previous_node();
    let new = binary("raftwire-node");
    let mut c = Cluster {
        dir: tempfile::tempdir().expect("a temp dir"),
        nodes: Vec::new(),
    };
    // The operator writes the cluster secret before starting any node (see the README).
    std::fs::write(
        c.dir.path().join("secret"),
        "upgrade-test-cluster-secret-0123456789\n",
    )
    .expect("write the secret");

    // 1. Three nodes of the previous release.
    for id in 1..=3 {
        c.start(id, &old, &[]);
        c.wait_voter(id);
    }
    let net = c.api(1).create(
        "/networks",
        json!({"name": "up", "ip_stack_mode": "dual", "ipv4_cidr": "10.60.0.0/24", "ipv6_cidr": "fd60::/64"}),
    );
    let nid = id_of(&net);
    let mut written = Vec::new();
    for i in 0..5 {
        let name = format!("old{i}");
        write(&c, 1 + i % 3, &nid, &name);
        written.push(name);
    }
    assert_every_node_holds(&c, &nid, &written, "previous release");

    // 2. A node of this build joins the old cluster.
    // Snapshots (and log purges) every 20 entries on the nodes of this build; the previous
    // release has no such flag (it snapshots every 10,000).
    let snapshots = ["--snapshot-every", "20"];
    c.start(4, &new, &snapshots);
    c.wait_voter(4);
    for i in 0..3 {
        let name = format!("via-new{i}");
        write(&c, 4, &nid, &name);
        written.push(name);
    }
    assert_every_node_holds(&c, &nid, &written, "a new node in an old cluster");

    // 3. The old nodes, one at a time, restarted on their data by this build.
    for id in 1..=3 {
        c.stop(id);
        let name = format!("while-{id}-down");
        write(&c, if id == 3 { 1 } else { 3 }, &nid, &name);
        written.push(name);
        c.start(id, &new, &snapshots);
        let name = format!("after-{id}-upgraded");
        write(&c, id, &nid, &name);
        written.push(name);
        let burst: Vec<String> = (0..16).map(|i| format!("burst-{id}-{i}")).collect();
        write_concurrently(&c, id, &nid, &burst);
        written.extend(burst);
        assert_every_node_holds(&c, &nid, &written, &format!("node {id} upgraded"));
    }

    // More writes than two snapshot intervals: the new leader's log no longer reaches back
    // to the start, so the old node below must install its snapshot. Concurrent, so the
    // upgraded cluster writes batch entries, which the old node must never be sent.
    for i in 0..45 {
        let name = format!("bulk{i}");
        write(&c, 1 + i % 4, &nid, &name);
        written.push(name);
    }
    let batched: Vec<String> = (0..48).map(|i| format!("batched{i}")).collect();
    write_concurrently(&c, 4, &nid, &batched);
    written.extend(batched);
    let batches: u64 = (1..=4)
        .map(|id| metric(&c, id, "raftwire_write_batches_total"))
        .sum();
    assert!(batches > 0, "the upgraded cluster wrote no batch entry");

    // 4. A node of the previous release joins the upgraded cluster.
    c.start(5, &old, &[]);
    c.wait_voter(5);
    let log = c
        .nodes
        .last()
        .and_then(|n| n.proc.as_ref())
        .map(Proc::output);
    assert!(
        log.as_deref()
            .is_some_and(|l| l.contains("installing snapshot")),
        "the old node caught up without installing the new leader's snapshot:\n{}",
        c.logs()
    );
    let name = "via-old-node".to_string();
    write(&c, 5, &nid, &name);
    written.push(name);
    assert_every_node_holds(&c, &nid, &written, "an old node in a new cluster");
}

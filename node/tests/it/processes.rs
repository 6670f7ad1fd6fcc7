//! A 3-node cluster of real `raftwire-node` processes on loopback: the leader is killed
//! with SIGKILL mid-stream, and every write that was acknowledged before or after survives
//! on every node once the killed one restarts ("SIGKILL loses nothing that was
//! acknowledged").

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::wait_for;
use serde_json::{json, Value};

/// A node process; killed and reaped on drop, so no test leaves one behind.
struct Proc {
    child: Option<Child>,
}

impl Proc {
    fn spawn(args: Vec<String>, log: &Path) -> Proc {
        Proc::spawn_with_env(args, log, &[])
    }

    fn spawn_with_env(args: Vec<String>, log: &Path, env: &[(&str, &str)]) -> Proc {
        let child = Command::new(env!("CARGO_BIN_EXE_raftwire-node"))
            .args(&args)
            .envs(env.iter().copied())
            .stdout(Stdio::from(
                std::fs::File::create(log.with_extension("out")).unwrap(),
            ))
            .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
            .spawn()
            .expect("raftwire-node starts");
        Proc { child: Some(child) }
    }

    fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.sigkill();
    }
}

struct Nodes {
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    procs: Vec<Proc>,
    http: reqwest::Client,
    token: String,
}

impl Nodes {
    fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    fn args(dir: &Path, id: usize, ports: &[u16]) -> Vec<String> {
        let mut a = vec![
            "--id".into(),
            (id + 1).to_string(),
            "--data-dir".into(),
            dir.join(format!("n{}", id + 1)).display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{}", ports[id]),
            "--cluster-secret-file".into(),
            dir.join("secret").display().to_string(),
        ];
        if id > 0 {
            a.push("--join".into());
            a.push(format!("http://127.0.0.1:{}", ports[0]));
        }
        a
    }

    async fn post(&self, i: usize, path: &str, body: Value) -> Option<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}/api/v1{path}", self.url(i)))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, i: usize, path: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}/api/v1{path}", self.url(i)))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())?;
        r.json().await.ok()
    }
}

/// The port a node started with `--listen 127.0.0.1:0` was given, from its startup line.
async fn bound_port(log: &Path) -> u16 {
    let out = log.with_extension("out");
    wait_for(Duration::from_secs(30), || async {
        let text = std::fs::read_to_string(&out).ok()?;
        let (_, rest) = text.split_once("listening on http://127.0.0.1:")?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
    .await
}

/// Creates a peer through node `i`; its name if the write was acknowledged.
async fn create(n: &Nodes, nid: &str, i: usize, name: String) -> Option<String> {
    match n
        .post(
            i,
            &format!("/networks/{nid}/peers"),
            json!({ "name": name }),
        )
        .await
    {
        Some((201, _)) => Some(name),
        _ => None,
    }
}

fn log_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("n{}.log", i + 1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_of_the_leader_process() {
    let dir = tempfile::tempdir().unwrap();
    // Port 0: every node binds a free port and reports it (no pick-then-rebind race).
    let mut ports = vec![0, 0, 0];
    let mut procs = vec![Proc::spawn(
        Nodes::args(dir.path(), 0, &ports),
        &log_path(dir.path(), 0),
    )];
    ports[0] = bound_port(&log_path(dir.path(), 0)).await;
    let token_file = dir.path().join("n1/admin-token");
    let token = wait_for(Duration::from_secs(30), || async {
        std::fs::read_to_string(&token_file)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    })
    .await;
    for i in 1..3 {
        procs.push(Proc::spawn(
            Nodes::args(dir.path(), i, &ports),
            &log_path(dir.path(), i),
        ));
        ports[i] = bound_port(&log_path(dir.path(), i)).await;
    }
    let mut n = Nodes {
        dir,
        ports,
        procs,
        http: raftwire_node::tls::http_client(None, Duration::from_secs(2)).unwrap(),
        token,
    };
    // All three are voters.
    wait_for(Duration::from_secs(60), || async {
        let c = n.get(0, "/cluster").await?;
        let voters = c["members"]
            .as_array()?
            .iter()
            .filter(|m| m["voter"] == true)
            .count();
        (voters == 3).then_some(())
    })
    .await;
    // Node 1's admin token is registered through the log: a follower accepts it once it
    // applied that entry.
    for i in 1..3 {
        wait_for(Duration::from_secs(30), || async {
            n.get(i, "/cluster").await.map(|_| ())
        })
        .await;
    }
    // A normal join is not an error: no ERROR or WARN line, and no colour codes in a file.
    for i in 0..3 {
        let log = std::fs::read_to_string(log_path(n.dir.path(), i)).unwrap();
        assert!(
            !log.contains('\x1b'),
            "ANSI colours in node {}'s log:\n{log}",
            i + 1
        );
        let noisy: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
            .collect();
        assert!(
            noisy.is_empty(),
            "node {} logged on a normal join: {noisy:#?}",
            i + 1
        );
    }
    let (status, net) = n
        .post(1, "/networks", json!({"name": "kill", "ip_stack_mode": "dual", "ipv4_cidr": "10.40.0.0/16", "ipv6_cidr": "fd40::/64"}))
        .await
        .unwrap();
    assert_eq!(status, 201, "{net}");
    let nid = net["id"].as_str().unwrap().to_string();

    let mut acknowledged: Vec<String> = Vec::new();
    for k in 0..30 {
        if let Some(name) = create(&n, &nid, k % 3, format!("before-{k}")).await {
            acknowledged.push(name);
        }
    }
    assert_eq!(
        acknowledged.len(),
        30,
        "a healthy cluster acknowledges every write"
    );

    // SIGKILL the leader: no graceful shutdown, no flush beyond what was fsynced.
    let leader = n.get(0, "/cluster").await.unwrap()["leader_id"]
        .as_u64()
        .unwrap() as usize
        - 1;
    n.procs[leader].sigkill();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for k in 0..30 {
        let i = survivors[k % 2];
        // Writes during the election may be refused (503); only acknowledged ones count.
        if let Some(name) = create(&n, &nid, i, format!("after-{k}")).await {
            acknowledged.push(name);
        }
    }
    wait_for(Duration::from_secs(30), || async {
        let (s, _) = n
            .post(
                survivors[0],
                &format!("/networks/{nid}/peers"),
                json!({"name": "probe"}),
            )
            .await?;
        (s == 201).then_some(())
    })
    .await;
    acknowledged.push("probe".into());

    // The killed node restarts from its data dir, on the port it had, and catches up.
    let args = Nodes::args(n.dir.path(), leader, &n.ports);
    n.procs[leader] = Proc::spawn(
        args,
        &log_path(n.dir.path(), leader).with_extension("restart.log"),
    );
    for i in 0..3 {
        let names: Vec<String> = wait_for(Duration::from_secs(60), || async {
            let peers = n
                .get(i, &format!("/networks/{nid}/peers?consistency=local"))
                .await?;
            let names: Vec<String> = peers["items"]
                .as_array()?
                .iter()
                .map(|p| p["name"].as_str().unwrap_or("").to_string())
                .collect();
            acknowledged
                .iter()
                .all(|a| names.contains(a))
                .then_some(names)
        })
        .await;
        let mut v4: Vec<&str> = Vec::new();
        let peers = n
            .get(i, &format!("/networks/{nid}/peers?consistency=local"))
            .await
            .unwrap();
        for p in peers["items"].as_array().unwrap() {
            v4.push(p["ipv4_address"].as_str().unwrap());
        }
        let before = v4.len();
        v4.sort();
        v4.dedup();
        assert_eq!(v4.len(), before, "node {} holds a duplicate address", i + 1);
        assert!(names.len() >= acknowledged.len());
    }
    drop(n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_admin_token_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let args = Nodes::args(dir.path(), 0, &[0]);
    let token = "rw_from-the-environment-0123456789";
    let _node = Proc::spawn_with_env(
        args,
        &log_path(dir.path(), 0),
        &[("RAFTWIRE_ADMIN_TOKEN", token)],
    );
    let port = bound_port(&log_path(dir.path(), 0)).await;
    let http = raftwire_node::tls::http_client(None, Duration::from_secs(2)).unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/networks");
    wait_for(Duration::from_secs(30), || async {
        let r = http.get(&url).bearer_auth(token).send().await.ok()?;
        (r.status().as_u16() == 200).then_some(())
    })
    .await;
    let wrong = http
        .get(&url)
        .bearer_auth("rw_something-else")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(
        !dir.path().join("n1/admin-token").exists(),
        "no token file is written when the environment gives one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_node_without_the_cluster_secret_refuses_to_start_and_says_to_copy_it() {
    let dir = tempfile::tempdir().unwrap();
    // Node 2 joining a cluster: its secret file (dir/secret) does not exist.
    let args = Nodes::args(dir.path(), 1, &[1, 0]);
    let log = log_path(dir.path(), 1);
    let mut node = Proc::spawn(args, &log);
    let child = node.child.as_mut().unwrap();
    let status = wait_for(Duration::from_secs(30), || {
        let exited = child.try_wait().ok().flatten();
        async move { exited }
    })
    .await;
    assert!(!status.success(), "it must not start");
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        stderr.contains("does not exist") && stderr.contains("copy it here"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("secret").exists(),
        "a joining node must not make a secret of its own"
    );
}

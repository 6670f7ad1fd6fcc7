//! The deploy files and the load-balanced cluster (`deploy/`).
//!
//! - `deploy/local-cluster.sh` starts three nodes on loopback behind HAProxy
//!   (`deploy/haproxy.cfg`); the leader is SIGKILLed (or SIGTERMed) under a steady write
//!   load sent through HAProxy, retried under an `Idempotency-Key` as a client would: every
//!   write succeeds exactly once, and the longest stretch without a successful write is
//!   printed (the goal is under 2 s; timing is reported, not asserted).
//! - An agent's WebSocket through HAProxy comes back on a live node after its node is killed.
//! - No engine runs Docker or Kubernetes here, so every flag, variable, port and path the
//!   unit files, env files, Dockerfile, compose file, Kubernetes manifests and the script
//!   use is checked against the binaries' `--help`, `haproxy.cfg` and a running node.
//!
//! All of it runs on loopback and needs no root; HAProxy (the Debian package) must be
//! installed (`scripts/install-deps.sh` does).

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use raftwire_tests::api::{id_of, Api};
use raftwire_tests::local_cluster::{alive, deploy_dir, LocalCluster};
use raftwire_tests::node::NodeProc;
use raftwire_tests::probe::{eventually, wait_until};
use raftwire_tests::procs::binary;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// How long one write may be retried before the test gives up on it (the CLI's default).
const WRITE_RETRY: Duration = Duration::from_secs(30);
/// How long the cluster may take to serve again after losing its leader (the shared,
/// loaded machine makes elections slow).
const RECOVER: Duration = Duration::from_secs(60);

/// One write through the load balancer, retried under the same `Idempotency-Key` while
/// no answer comes or the answer is a 5xx (no leader yet, node gone): the created peer.
/// Every failed attempt's status (0: no answer) and problem code is added to `failed`.
fn write_until_done(lb: &Api, nid: &str, i: usize, failed: &mut Vec<String>) -> Value {
    let key = format!("deploy-{}-{i}", std::process::id());
    let body = json!({ "name": format!("w{i}") });
    let path = format!("/networks/{nid}/peers");
    let deadline = Instant::now() + WRITE_RETRY;
    loop {
        let a = lb.call_with("POST", &path, Some(&body), &[("Idempotency-Key", &key)]);
        match a.status {
            201 => return a.body,
            0 | 500..=599 if Instant::now() < deadline => {
                let code = a.body["code"].as_str().unwrap_or("-");
                failed.push(format!("{} {code}", a.status));
                std::thread::sleep(Duration::from_millis(100))
            }
            _ => panic!("write {i} (key {key}): {} {}", a.status, a.body),
        }
    }
}

/// The longest stretch between successive instants (sorted).
fn longest_gap(times: &[Instant]) -> Duration {
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// Writes through HAProxy; the leader gets `signal` after 3 s of them, writes go on for 8 s
/// more. Writes succeeded before and after, each exactly once; the longest gap between
/// successful writes is printed.
fn writes_survive_the_loss_of_the_leader(signal: &str) {
    let c = LocalCluster::start();
    let network = c.lb.create(
        "/networks",
        json!({"name": "load", "ip_stack_mode": "ipv4", "ipv4_cidr": "10.30.0.0/16"}),
    );
    let nid = id_of(&network);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (lb, nid, stop) = (c.lb.clone(), nid.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut done, mut failed) = (Vec::new(), Vec::new());
            while !stop.load(Ordering::Relaxed) {
                write_until_done(&lb, &nid, done.len(), &mut failed);
                done.push(Instant::now());
            }
            (done, failed)
        })
    };
    std::thread::sleep(Duration::from_secs(3));
    let leader = wait_until(RECOVER, "a leader", || c.leader());
    c.signal(leader, signal);
    let lost = Instant::now();
    std::thread::sleep(Duration::from_secs(8));
    stop.store(true, Ordering::Relaxed);
    let (done, failed) = writer.join().expect("the writer thread");
    let mut by_status = std::collections::BTreeMap::new();
    for status in &failed {
        *by_status.entry(status.as_str()).or_insert(0) += 1;
    }

    let before = done.iter().filter(|t| **t < lost).count();
    let after = done.len() - before;
    let gap = longest_gap(&done);
    println!(
        "SIG{signal} of leader node {leader} under load through HAProxy: {} writes ({before} before, {after} after), \
         longest gap between successful writes {:.3} s (goal: under 2 s); \
         attempts retried, by status and code (0: no answer): {by_status:?}",
        done.len(),
        gap.as_secs_f64()
    );
    assert!(before > 0, "no write succeeded before the leader was lost");
    assert!(
        after > 0,
        "no write succeeded after the leader was lost\n{}",
        c.logs()
    );
    // Exactly once each: one peer per name, none missing, none doubled by a retry.
    let peers = c.lb.get(&format!("/networks/{nid}/peers")).body;
    let items = peers["items"]
        .as_array()
        .or(peers.as_array())
        .unwrap_or_else(|| panic!("a peer list: {peers}"))
        .clone();
    let names: Vec<&str> = items.iter().filter_map(|p| p["name"].as_str()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    let expected: BTreeSet<String> = (0..done.len()).map(|i| format!("w{i}")).collect();
    assert_eq!(
        names.len(),
        unique.len(),
        "a write applied twice: {names:?}"
    );
    assert_eq!(
        unique,
        expected.iter().map(String::as_str).collect(),
        "the peers are exactly the acknowledged writes"
    );
}

#[test]
fn writes_through_haproxy_keep_succeeding_when_the_leader_is_sigkilled() {
    writes_survive_the_loss_of_the_leader("KILL");
}

#[test]
fn writes_through_haproxy_keep_succeeding_when_the_leader_is_stopped_gracefully() {
    // openraft 0.9 has no leadership transfer: a stopped leader's followers elect a new
    // one after the election timeout, as after a crash. The gap is printed.
    writes_survive_the_loss_of_the_leader("TERM");
}

/// Opens an agent WebSocket to `base` with `token`, says hello and returns it once the
/// first configuration came; `None` when the upgrade is refused or no config comes.
async fn agent_session(
    base: &str,
    token: &str,
    public_key: &str,
) -> Option<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let url = base.replace("http://", "ws://") + "/api/v1/agent/ws";
    let mut req = url.as_str().into_client_request().ok()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().ok()?);
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(req),
    )
    .await
    .ok()?
    .ok()?;
    let hello = json!({"type": "hello", "public_key": public_key, "hostname": "lb-test", "applied_version": 0});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .ok()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).ok()?;
            if v["type"] == "config" {
                return Some(ws);
            }
        }
    }
}

/// The node the cluster records the peer's agent as connected to.
fn connected_node(lb: &Api, nid: &str, pid: &str) -> Option<u64> {
    let peer = lb.get(&format!("/networks/{nid}/peers/{pid}")).body;
    (peer["agent"]["connected"] == true)
        .then(|| peer["agent"]["node_id"].as_u64())
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_websocket_through_haproxy_reconnects_to_a_live_node_after_its_node_is_killed() {
    let c = tokio::task::spawn_blocking(LocalCluster::start)
        .await
        .unwrap();
    let lb = c.lb.clone();
    let (nid, pid, token) = tokio::task::spawn_blocking(move || {
        let network = lb.create(
            "/networks",
            json!({"name": "agents", "ip_stack_mode": "ipv4", "ipv4_cidr": "10.31.0.0/24"}),
        );
        let nid = id_of(&network);
        let jump = lb.create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "jump", "is_jump": true, "endpoint": "198.51.100.1:51820"}),
        );
        let token = jump["agent_token"]
            .as_str()
            .expect("an agent token")
            .to_string();
        (nid, id_of(&jump), token)
    })
    .await
    .unwrap();
    let (public_key, _) = raftwire_node::secrets::wireguard_keypair();

    let mut ws = agent_session(&c.lb.base, &token, &public_key)
        .await
        .expect("an agent session through HAProxy");
    let lb = c.lb.clone();
    let (n, p) = (nid.clone(), pid.clone());
    let first = tokio::task::spawn_blocking(move || {
        wait_until(RECOVER, "the agent recorded as connected", || {
            connected_node(&lb, &n, &p)
        })
    })
    .await
    .unwrap();

    c.signal(first, "KILL");
    // The socket to the killed node ends (HAProxy closes it when the node is gone).
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the socket to killed node {first} stayed open"
    );

    // Reconnect through HAProxy as an agent would, until a live node serves the session.
    let deadline = Instant::now() + RECOVER;
    let _ws = loop {
        if let Some(ws) = agent_session(&c.lb.base, &token, &public_key).await {
            break ws;
        }
        assert!(
            Instant::now() < deadline,
            "no live node took the agent back\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let lb = c.lb.clone();
    let now_on = tokio::task::spawn_blocking(move || {
        let mut seen = None;
        eventually(RECOVER, || {
            seen = connected_node(&lb, &nid, &pid).filter(|n| *n != first);
            seen.is_some()
        });
        seen
    })
    .await
    .unwrap();
    let now_on =
        now_on.unwrap_or_else(|| panic!("the agent is not recorded on a live node\n{}", c.logs()));
    println!("agent moved from killed node {first} to node {now_on} through HAProxy");

    // `stop` ends everything `start` started; `status` then says so.
    let pids: Vec<u32> = ["haproxy", "n1", "n2", "n3"]
        .iter()
        .filter_map(|n| c.pid(n))
        .collect();
    let running = c.script("status");
    assert!(
        String::from_utf8_lossy(&running.stdout).contains("haproxy: running"),
        "{}",
        String::from_utf8_lossy(&running.stdout)
    );
    let stopped = c.script("stop");
    assert!(stopped.status.success());
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "local-cluster.sh stop left processes running: {pids:?}"
    );
    let status = c.script("status");
    assert_eq!(status.status.code(), Some(3), "status of a stopped cluster");
}

#[test]
fn local_cluster_start_prints_the_url_and_an_admin_token_valid_through_haproxy() {
    let c = LocalCluster::start();
    assert!(
        c.start_output.contains(&c.lb.base),
        "no URL in: {}",
        c.start_output
    );
    assert!(
        c.start_output.contains(&c.lb.token),
        "no admin token in: {}",
        c.start_output
    );
    let cluster = c.lb.get("/cluster");
    assert_eq!(cluster.status, 200, "{}", cluster.body);
    // Every node serves the whole API with that one token.
    for id in 1..=3 {
        assert_eq!(c.node(id).get("/cluster").status, 200, "node {id}");
    }
}

// ---- the deploy files cannot rot ----

/// The text of `deploy/<name>`.
fn deploy_file(name: &str) -> String {
    let path = deploy_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `--help` of a workspace binary.
fn help(bin: &str) -> String {
    let out = Command::new(binary(bin))
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success(), "{bin} --help");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every `--flag` (letters, digits, dashes) in `text`.
fn flags(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let tail = &rest[at + 2..];
        let name: String = tail
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let before = rest[..at].chars().last();
        if name.starts_with(|c: char| c.is_ascii_lowercase())
            && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            out.insert(format!("--{name}"));
        }
        rest = &tail[name.len()..];
    }
    out
}

/// Every `RAFTWIRE_…` variable named in `text` (not the `RAFTWIRE_*` prefixes of prose).
fn variables(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices("RAFTWIRE_") {
        let name: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        // `RAFTWIRE_AGENT_*` names a prefix, not a variable.
        if !name.ends_with('_') {
            out.insert(name);
        }
    }
    out
}

/// The lines of `text` that run the node (or set its arguments), by a marker each holds.
fn lines_with(text: &str, markers: &[&str]) -> String {
    text.lines()
        .filter(|l| markers.iter().any(|m| l.contains(m)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `help` names `word` as a whole word (a flag, or a variable in `[env: …]`).
fn names(help: &str, word: &str) -> bool {
    help.match_indices(word).any(|(at, _)| {
        let next = help[at + word.len()..].chars().next();
        !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

#[test]
fn every_flag_and_variable_the_deploy_files_use_exists_in_the_binaries_help() {
    let node = help("raftwire-node");
    let cli = help("raftwire");
    let agent = help("raftwire-agent");
    // (file, the node's command lines in it, the help its names must be in, at least this
    // many flags found — so that a parser gone blind fails too)
    let compose = deploy_file("docker-compose.yml");
    let k8s = deploy_file("k8s/raftwire.yaml");
    let script = deploy_file("local-cluster.sh");
    let cases: Vec<(&str, String, String, &str, usize)> = vec![
        (
            "docker-compose.yml",
            lines_with(&compose, &["command:"]),
            compose.clone(),
            &node,
            3,
        ),
        (
            "k8s/raftwire.yaml",
            lines_with(&k8s, &["set -- "]),
            k8s.clone(),
            &node,
            3,
        ),
        (
            "local-cluster.sh",
            lines_with(&script, &["args=(", "args+=(", "  --cluster-secret-file"]),
            script.clone(),
            &node,
            5,
        ),
        (
            "raftwire-node.service",
            lines_with(&deploy_file("raftwire-node.service"), &["ExecStart="]),
            deploy_file("raftwire-node.service") + &deploy_file("node.env.example"),
            &node,
            0,
        ),
        (
            "Dockerfile",
            lines_with(&deploy_file("Dockerfile"), &["ENTRYPOINT"]),
            deploy_file("Dockerfile"),
            &node,
            0,
        ),
        (
            "raftwire-agent.service",
            lines_with(&deploy_file("raftwire-agent.service"), &["ExecStart="]),
            deploy_file("raftwire-agent.service") + &deploy_file("agent.env.example"),
            &agent,
            0,
        ),
    ];
    let mut missing = Vec::new();
    for (file, command_lines, whole, help, at_least) in &cases {
        let found = flags(command_lines);
        assert!(
            found.len() >= *at_least,
            "{file}: only {found:?} found on the node's command lines"
        );
        for flag in found {
            if !names(help, &flag) {
                missing.push(format!("{file}: flag {flag}"));
            }
        }
        // The variables: the node's or the agent's; the CLI's where the script prints how
        // to point it at the cluster.
        for var in variables(whole) {
            if !names(help, &var) && !names(&cli, &var) {
                missing.push(format!("{file}: variable {var}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in the binaries' --help: {missing:#?}"
    );
}

/// The `${VAR}` names a config expands, outside its comments.
fn expansions(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| {
            l.match_indices("${").filter_map(move |(at, _)| {
                let rest = &l[at + 2..];
                Some(rest[..rest.find('}')?].to_string())
            })
        })
        .collect()
}

#[test]
fn haproxy_cfg_is_valid_with_the_addresses_compose_and_the_script_give_it() {
    let cfg = deploy_dir().join("haproxy.cfg");
    let wanted = expansions(&std::fs::read_to_string(&cfg).unwrap());
    assert!(wanted.contains("LB_BIND") && wanted.contains("LB_NODE1"));
    let compose = deploy_file("docker-compose.yml");
    let script = deploy_file("local-cluster.sh");
    for var in &wanted {
        assert!(
            compose.contains(&format!("{var}:")),
            "docker-compose.yml does not set {var}"
        );
        assert!(
            script.contains(&format!("{var}=")),
            "local-cluster.sh does not set {var}"
        );
    }
    // The values compose gives, with names HAProxy can resolve here.
    let out = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(&cfg)
        .env("LB_BIND", "127.0.0.1:7070")
        .env("LB_NODE1", "localhost:7070")
        .env("LB_NODE2", "localhost:7071")
        .env("LB_NODE3", "localhost:7072")
        .output()
        .expect("haproxy is installed (scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "haproxy -c: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of `NAME=value` (env files) or `NAME: value` / `{name: NAME, value: …}` lines.
fn setting<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches("- ");
            if let Some(v) = l.strip_prefix(&format!("{name}=")) {
                return Some(v.trim_end_matches(" \\").trim());
            }
            if let Some(v) = l.strip_prefix(&format!("{name}: ")) {
                return Some(v.trim_matches('"'));
            }
            let rest = l.strip_prefix(&format!("{{name: {name}, value: "))?;
            Some(rest.trim_end_matches('}').trim_matches('"'))
        })
        .collect()
}

/// The port of `host:port`.
fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or_default()
}

#[test]
fn the_ports_and_paths_the_deploy_files_use_are_the_ones_the_node_serves() {
    let compose = deploy_file("docker-compose.yml");
    let k8s = deploy_file("k8s/raftwire.yaml");
    let docker = deploy_file("Dockerfile");
    let haproxy = deploy_file("haproxy.cfg");
    let unit = deploy_file("raftwire-node.service");
    let env = deploy_file("node.env.example");

    // One port everywhere: where the node listens is what is exposed, probed and balanced.
    let listen: BTreeSet<&str> = [&compose, &k8s, &docker, &env]
        .iter()
        .flat_map(|t| setting(t, "RAFTWIRE_LISTEN"))
        .map(port_of)
        .collect();
    assert_eq!(listen, BTreeSet::from(["7070"]), "RAFTWIRE_LISTEN ports");
    assert!(docker.contains("EXPOSE 7070"));
    assert!(k8s.contains("containerPort: 7070"));
    for n in ["LB_NODE1", "LB_NODE2", "LB_NODE3"] {
        let v = setting(&compose, n);
        assert_eq!(v.len(), 1, "{n} in compose");
        assert_eq!(port_of(v[0]), "7070", "{n} in compose");
    }

    // The data dir is what the unit makes writable and the image declares a volume.
    assert_eq!(setting(&env, "RAFTWIRE_DATA_DIR"), ["/var/lib/raftwire"]);
    assert!(unit.contains("StateDirectory=raftwire\n"));
    assert!(unit.contains("ReadWritePaths=/var/lib/raftwire\n"));
    assert!(docker.contains("VOLUME /var/lib/raftwire"));
    assert!(k8s.contains("mountPath: /var/lib/raftwire"));
    assert_eq!(setting(&k8s, "RAFTWIRE_DATA_DIR"), ["/var/lib/raftwire"]);
    // The secret path the manifests set is where they mount the secret.
    let secret = setting(&k8s, "RAFTWIRE_CLUSTER_SECRET_FILE");
    assert_eq!(secret.len(), 1);
    let mount = secret[0].rsplit_once('/').expect("a file in a dir").0;
    assert!(k8s.contains(&format!("mountPath: {mount}, readOnly: true")));

    // The paths probed and routed exist on a real node: /readyz and /healthz answer 200,
    // the agent socket refuses a plain request without a token, rather than 404.
    let mut paths: BTreeSet<String> = BTreeSet::new();
    for text in [&haproxy, &k8s, &docker] {
        for word in text.split(|c: char| c.is_whitespace() || "\",{}[]".contains(c)) {
            if word.starts_with("/readyz")
                || word.starts_with("/healthz")
                || word.starts_with("/api/v1/")
            {
                paths.insert(word.to_string());
            }
        }
    }
    assert!(
        paths.contains("/readyz") && paths.contains("/api/v1/agent/ws"),
        "{paths:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(dir.path(), 1, "127.0.0.1", None);
    for path in &paths {
        let code = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5"])
            .arg(format!("{}{path}", node.api.base))
            .output()
            .expect("curl");
        let code = String::from_utf8_lossy(&code.stdout).into_owned();
        if path.starts_with("/api/") {
            // Refused (no token, no upgrade), but routed: neither 404 nor a failure.
            assert!(
                code.starts_with('4') && code != "404",
                "GET {path} on a node: {code}"
            );
        } else {
            assert_eq!(code, "200", "GET {path} on a node");
        }
    }
}

#[test]
fn the_systemd_units_verify_and_the_node_unit_is_hardened() {
    // The units name /usr/bin/…; verify copies that run the binaries built here.
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for (unit, bin) in [
        ("raftwire-node.service", "raftwire-node"),
        ("raftwire-agent.service", "raftwire-agent"),
    ] {
        let text = deploy_file(unit);
        let exec = format!("ExecStart=/usr/bin/{bin}\n");
        assert!(text.contains(&exec), "{unit} runs {exec}");
        let built = format!("ExecStart={}\n", binary(bin).display());
        let path = dir.path().join(unit);
        std::fs::write(&path, text.replace(&exec, &built)).unwrap();
        units.push(path);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect("systemd-analyze (systemd) is installed");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // systemd's own exposure score, shown as 0.0 (locked down) to 10.0 and compared as
    // 0 to 100: the node needs nothing, so it must stay near the bottom (1.4 when this was
    // written); the agent is root with network capabilities (4.4).
    for (unit, limit) in [(&units[0], 20), (&units[1], 50)] {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", &format!("--threshold={limit}")])
            .arg(unit)
            .output()
            .expect("systemd-analyze security");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} scores above {limit}/100:\n{text}",
            unit.display()
        );
    }
}

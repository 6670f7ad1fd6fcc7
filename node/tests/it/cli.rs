//! The `raftwire` CLI against a real node started in-process on a free loopback port.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use raftwire_node::{start, NodeArgs, NodeHandle};
use serde_json::Value;

/// A jump's WireGuard public key (any 32 bytes in base64), so that regular peers' configs
/// get a `[Peer]` section for it without an agent registering one.
const JUMP_KEY: &str = "YWJjZGVmZ2hpamFiY2RlZmdoaWphYmNkZWZnaGlqYWI=";

struct Node {
    handle: NodeHandle,
    url: String,
    token: String,
    dir: tempfile::TempDir,
}

impl Node {
    async fn start() -> Node {
        Node::start_with(None).await
    }

    /// A node serving HTTPS with a self-signed certificate (written to `<dir>/cert.pem`).
    async fn start_tls() -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let cert =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
        let (cert_pem, key_pem) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_pem, cert.cert.pem()).expect("write cert");
        std::fs::write(&key_pem, cert.signing_key.serialize_pem()).expect("write key");
        Node::start_in(dir, Some((cert_pem, key_pem))).await
    }

    async fn start_with(tls: Option<(PathBuf, PathBuf)>) -> Node {
        Node::start_in(tempfile::tempdir().expect("temp dir"), tls).await
    }

    async fn start_in(dir: tempfile::TempDir, tls: Option<(PathBuf, PathBuf)>) -> Node {
        // Port 0: the node binds a free port and advertises it.
        let listen: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let ca = tls.as_ref().map(|(cert, _)| cert.clone());
        let (tls_cert, tls_key) = tls.map_or((None, None), |(c, k)| (Some(c), Some(k)));
        let cfg = NodeArgs {
            id: 1,
            data_dir: dir.path().join("data"),
            listen,
            advertise: None,
            admin_token_file: None,
            cluster_secret_file: None,
            bootstrap: true,
            join: None,
            tls_cert,
            tls_key,
            tls_ca: None,
            snapshot_every: 10_000,
        }
        .resolve();
        let handle = start(cfg).await.expect("node starts");
        let url = handle.app.advertise.clone();
        let token = handle.admin_token.clone();
        wait_ready(&url, ca.as_deref()).await;
        Node {
            handle,
            url,
            token,
            dir,
        }
    }

    /// The CLI with this node's URL and admin token.
    async fn cli(&self, args: &[&str]) -> Run {
        let envs = vec![
            ("RAFTWIRE_SERVER", self.url.clone()),
            ("RAFTWIRE_TOKEN", self.token.clone()),
        ];
        run_cli(args, envs, self.dir.path().join("elsewhere")).await
    }

    async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

async fn wait_ready(url: &str, ca: Option<&std::path::Path>) {
    let client =
        raftwire_node::tls::http_client(ca, std::time::Duration::from_secs(5)).expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node at {url} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> String {
        assert_eq!(
            self.code,
            Some(0),
            "CLI failed: stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self.stdout
    }

    fn json(self) -> Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }
}

/// Runs the CLI binary with only the given `RAFTWIRE_*` variables, in `cwd` (created).
async fn run_cli(args: &[&str], envs: Vec<(&'static str, String)>, cwd: PathBuf) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&cwd).expect("cwd");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftwire"));
        cmd.args(&args).current_dir(&cwd);
        for var in [
            "RAFTWIRE_SERVER",
            "RAFTWIRE_TOKEN",
            "RAFTWIRE_TOKEN_FILE",
            "RAFTWIRE_OUTPUT",
            "RAFTWIRE_CA_CERT",
            "RAFTWIRE_RETRY_TIMEOUT",
            "http_proxy",
            "HTTP_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(envs);
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().expect("run the raftwire binary");
        Run {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    })
    .await
    .expect("CLI task")
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().expect("items array")
}

fn by_name<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no '{name}' in {list:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manages_a_dual_stack_network_and_prints_configs() {
    let node = Node::start().await;

    let created = node
        .cli(&[
            "-o",
            "json",
            "network",
            "create",
            "corp",
            "--mode",
            "dual",
            "--ipv4-cidr",
            "10.40.0.0/24",
            "--ipv6-cidr",
            "fd00:40::/64",
            "--dns-server",
            "9.9.9.9",
        ])
        .await
        .json();
    assert_eq!(created["ip_stack_mode"], "dual");
    assert_eq!(created["domain"], "corp.internal");

    // The table shows the network; `show` works by name and by id.
    let table = node.cli(&["network", "list"]).await.ok();
    let mut lines = table.lines();
    let header = lines.next().expect("header");
    for col in ["NAME", "MODE", "IPV4 CIDR", "IPV6 CIDR", "DOMAIN", "ID"] {
        assert!(header.contains(col), "{header}");
    }
    let row = lines.next().expect("a row");
    assert!(row.starts_with("corp"), "{row}");
    assert!(
        row.contains("10.40.0.0/24") && row.contains("fd00:40::/64"),
        "{row}"
    );
    let id = created["id"].as_str().expect("id");
    let shown = node.cli(&["network", "show", id]).await.ok();
    assert!(shown.contains("name:") && shown.contains("corp"), "{shown}");
    assert!(shown.contains("9.9.9.9"), "{shown}");

    // A jump (with a key, as if its agent had registered) and two peers.
    let jump = node
        .cli(&[
            "peer",
            "add",
            "corp",
            "hub",
            "--jump",
            "--public-key",
            JUMP_KEY,
            "--endpoint",
            "hub.example.com",
        ])
        .await
        .ok();
    assert!(jump.contains("agent_token:"), "{jump}");
    assert!(jump.contains("shown only once"), "{jump}");
    node.cli(&["peer", "add", "corp", "laptop"]).await.ok();
    let agent = node
        .cli(&["-o", "json", "peer", "add", "corp", "server", "--agent"])
        .await
        .json();
    assert!(agent["agent_token"].as_str().is_some_and(|t| !t.is_empty()));

    // Listing as JSON: the server's answer, parsed.
    let peers = node
        .cli(&["-o", "json", "peer", "list", "corp"])
        .await
        .json();
    let list = items(&peers);
    assert_eq!(list.len(), 3);
    let hub = by_name(list, "hub");
    assert_eq!(hub["is_jump"], true);
    let laptop = by_name(list, "laptop");
    let v4 = laptop["ipv4_address"].as_str().expect("laptop ipv4");
    let v6 = laptop["ipv6_address"].as_str().expect("laptop ipv6");
    assert!(v4.starts_with("10.40.0."), "{v4}");
    assert!(v6.starts_with("fd00:40::"), "{v6}");

    // Listing as a table.
    let table = node.cli(&["peer", "list", "corp"]).await.ok();
    let header = table.lines().next().expect("header");
    for col in ["NAME", "JUMP", "AGENT", "IPV4", "IPV6", "ENDPOINT", "ID"] {
        assert!(header.contains(col), "{header}");
    }
    let hub_row = table
        .lines()
        .find(|l| l.starts_with("hub "))
        .expect("hub row");
    assert!(hub_row.contains("yes") && hub_row.contains("hub.example.com"));
    let laptop_row = table
        .lines()
        .find(|l| l.starts_with("laptop "))
        .expect("laptop row");
    assert!(
        laptop_row.contains(v4) && laptop_row.contains(v6),
        "{laptop_row}"
    );
    assert!(
        laptop_row.contains(" - "),
        "null endpoint shows '-': {laptop_row}"
    );

    // The wg-quick config, printed as is.
    let config = node.cli(&["peer", "config", "corp", "laptop"]).await.ok();
    assert!(config.contains("[Interface]"), "{config}");
    assert!(config.contains(&format!("{v4}/32")), "{config}");
    assert!(config.contains(&format!("{v6}/128")), "{config}");
    assert!(config.contains("[Peer]"), "{config}");
    assert!(config.contains(JUMP_KEY), "{config}");

    // Show and update by name.
    let shown = node.cli(&["peer", "show", "corp", "laptop"]).await.ok();
    assert!(
        shown.contains("endpoint:") && shown.contains(" -\n"),
        "{shown}"
    );
    let updated = node
        .cli(&[
            "-o",
            "json",
            "peer",
            "update",
            "corp",
            "laptop",
            "--endpoint",
            "198.51.100.7:51820",
        ])
        .await
        .json();
    assert_eq!(updated["endpoint"], "198.51.100.7:51820");
    assert_eq!(updated["ipv4_address"], v4, "other fields are kept");

    // Removing a peer, then the network.
    node.cli(&["peer", "remove", "corp", "server"]).await.ok();
    let peers = node
        .cli(&["-o", "json", "peer", "list", "corp"])
        .await
        .json();
    assert_eq!(items(&peers).len(), 2);
    node.cli(&["network", "delete", "corp"]).await.ok();
    let nets = node.cli(&["-o", "json", "network", "list"]).await.json();
    assert!(items(&nets).is_empty());

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_errors_with_exit_codes() {
    let node = Node::start().await;
    node.cli(&["network", "create", "a", "--ipv4-cidr", "10.50.0.0/24"])
        .await
        .ok();

    // A conflict: the problem's code, field and detail on stderr, exit 1.
    let overlap = node
        .cli(&["network", "create", "b", "--ipv4-cidr", "10.50.0.0/25"])
        .await;
    assert_eq!(overlap.code, Some(1), "{overlap:?}");
    assert!(
        overlap.stderr.contains("error: cidr_overlap (ipv4_cidr):"),
        "{overlap:?}"
    );
    assert!(overlap.stdout.is_empty(), "{overlap:?}");

    // Invalid input.
    let bad = node
        .cli(&["network", "create", "c", "--ipv4-cidr", "fd00::/64"])
        .await;
    assert_eq!(bad.code, Some(1), "{bad:?}");
    assert!(bad.stderr.contains("(ipv4_cidr)"), "{bad:?}");

    // A wrong token.
    let wrong = run_cli(
        &["network", "list"],
        vec![
            ("RAFTWIRE_SERVER", node.url.clone()),
            ("RAFTWIRE_TOKEN", "rw_not-a-real-token".into()),
        ],
        node.dir.path().join("elsewhere"),
    )
    .await;
    assert_eq!(wrong.code, Some(1), "{wrong:?}");
    assert!(wrong.stderr.contains("unauthorized"), "{wrong:?}");

    // An unknown name.
    let unknown = node.cli(&["network", "show", "nope"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    assert!(
        unknown.stderr.contains("no network named 'nope'"),
        "{unknown:?}"
    );

    // An unknown id: the server's 404.
    let missing = node
        .cli(&["network", "show", "00000000-0000-4000-8000-000000000000"])
        .await;
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert!(missing.stderr.contains("not_found"), "{missing:?}");

    // A stale If-Match.
    let stale = node
        .cli(&[
            "network",
            "update",
            "a",
            "--domain",
            "a.example",
            "--if-match",
            "99",
        ])
        .await;
    assert_eq!(stale.code, Some(1), "{stale:?}");
    assert!(stale.stderr.contains("version_mismatch"), "{stale:?}");

    // A usage mistake is an error too (1), not a connection failure.
    let usage = node.cli(&["network", "create"]).await;
    assert_eq!(usage.code, Some(1), "{usage:?}");

    // Nothing listening: exit 2 with a clear message.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let down = run_cli(
        &["network", "list"],
        vec![
            ("RAFTWIRE_SERVER", format!("http://127.0.0.1:{port}")),
            ("RAFTWIRE_TOKEN", node.token.clone()),
        ],
        node.dir.path().join("elsewhere"),
    )
    .await;
    assert_eq!(down.code, Some(2), "{down:?}");
    assert!(down.stderr.contains("cannot reach"), "{down:?}");

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_sources_and_the_default_token_file() {
    let node = Node::start().await;
    let token_file = node.dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", node.token)).expect("write token");

    // --token-file.
    let run = run_cli(
        &[
            "--server",
            &node.url,
            "--token-file",
            token_file.to_str().expect("utf-8 path"),
            "network",
            "list",
        ],
        vec![],
        node.dir.path().join("elsewhere"),
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");

    // No token given, run from the directory holding `data/admin-token`: it is used.
    let run = run_cli(
        &["--server", &node.url, "-o", "json", "token", "list"],
        vec![],
        node.dir.path().to_path_buf(),
    )
    .await;
    // (The bootstrap token may not be listed yet: the node registers it in the background.)
    let tokens = run.json();
    assert!(tokens["items"].is_array(), "{tokens}");

    // No token anywhere: 401.
    let run = run_cli(
        &["--server", &node.url, "network", "list"],
        vec![],
        node.dir.path().join("elsewhere"),
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("unauthorized"), "{run:?}");

    // A missing token file is an error before any request.
    let run = run_cli(
        &[
            "--server",
            &node.url,
            "--token-file",
            "/nonexistent/token",
            "network",
            "list",
        ],
        vec![],
        node.dir.path().join("elsewhere"),
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("token file"), "{run:?}");

    // An admin token created through the CLI works, and can be deleted by name.
    let created = node
        .cli(&["-o", "json", "token", "create", "ci"])
        .await
        .json();
    let ci_token = created["token"].as_str().expect("token").to_string();
    let run = run_cli(
        &["network", "list"],
        vec![
            ("RAFTWIRE_SERVER", node.url.clone()),
            ("RAFTWIRE_TOKEN", ci_token),
        ],
        node.dir.path().join("elsewhere"),
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    node.cli(&["token", "delete", "ci"]).await.ok();

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_policies_routes_and_dns() {
    let node = Node::start().await;
    node.cli(&[
        "network",
        "create",
        "lab",
        "--mode",
        "dual",
        "--ipv4-cidr",
        "10.60.0.0/24",
        "--ipv6-cidr",
        "fd00:60::/64",
    ])
    .await
    .ok();
    node.cli(&[
        "peer",
        "add",
        "lab",
        "gw",
        "--jump",
        "--public-key",
        JUMP_KEY,
    ])
    .await
    .ok();
    node.cli(&["peer", "add", "lab", "dev"]).await.ok();

    // Groups and membership, by name.
    node.cli(&["group", "create", "lab", "devs", "--priority", "10"])
        .await
        .ok();
    node.cli(&["group", "add-peer", "lab", "devs", "dev"])
        .await
        .ok();
    let group = node
        .cli(&["-o", "json", "group", "show", "lab", "devs"])
        .await
        .json();
    assert_eq!(group["peer_ids"].as_array().map(Vec::len), Some(1));

    // A policy with rules in the CLI syntax; peer and group targets by name.
    let policy = node
        .cli(&[
            "-o",
            "json",
            "policy",
            "create",
            "lab",
            "web",
            "--rule",
            "output allow cidr 192.168.70.0/24",
            "--rule",
            "input deny peer gw",
        ])
        .await
        .json();
    let rules = policy["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["ip_version"], "ipv4");
    assert_eq!(rules[1]["target_type"], "peer");
    let after = node
        .cli(&[
            "-o", "json", "policy", "add-rule", "lab", "web", "output", "allow", "group", "devs",
        ])
        .await
        .json();
    let rules = after["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 3);
    let first = rules[0]["id"].as_str().expect("rule id").to_string();
    node.cli(&["policy", "remove-rule", "lab", "web", &first])
        .await
        .ok();
    let shown = node.cli(&["policy", "show", "lab", "web"]).await.ok();
    assert!(!shown.contains(&first), "{shown}");
    assert!(shown.contains("DIRECTION"), "{shown}");
    let bad_rule = node
        .cli(&["policy", "add-rule", "lab", "web", "output allow"])
        .await;
    assert_eq!(bad_rule.code, Some(1), "{bad_rule:?}");
    node.cli(&["group", "attach-policy", "lab", "devs", "web"])
        .await
        .ok();

    // A route through the jump, attached to the group; the dev's config routes it.
    node.cli(&[
        "route",
        "create",
        "lab",
        "office",
        "--destination",
        "192.168.70.0/24",
        "--via",
        "gw",
    ])
    .await
    .ok();
    node.cli(&["group", "attach-route", "lab", "devs", "office"])
        .await
        .ok();
    let routes = node.cli(&["route", "list", "lab"]).await.ok();
    assert!(routes.contains("office") && routes.contains("192.168.70.0/24"));
    assert!(
        routes
            .lines()
            .any(|l| l.contains("office") && l.contains(" gw ")),
        "VIA shows the jump's name: {routes}"
    );
    let config = node.cli(&["peer", "config", "lab", "dev"]).await.ok();
    assert!(config.contains("192.168.70.0/24"), "{config}");

    // DNS mappings of the route, and every record of the network.
    node.cli(&["dns", "add", "lab", "office", "printer", "192.168.70.9"])
        .await
        .ok();
    let mappings = node
        .cli(&["-o", "json", "dns", "list", "lab", "office"])
        .await
        .json();
    assert_eq!(items(&mappings).len(), 1);
    let records = node.cli(&["dns", "list", "lab"]).await.ok();
    assert!(records.contains("printer.lab.internal"), "{records}");
    assert!(records.contains("dev.lab.internal"), "{records}");
    assert!(records.contains("AAAA"), "{records}");
    node.cli(&["dns", "delete", "lab", "office", "printer"])
        .await
        .ok();
    let mappings = node
        .cli(&["-o", "json", "dns", "list", "lab", "office"])
        .await
        .json();
    assert!(items(&mappings).is_empty());

    // The jump's firewall, IPAM, cluster status.
    let fw = node.cli(&["peer", "firewall", "lab", "gw"]).await.ok();
    assert!(fw.contains("RAFTWIRE_JUMP"), "{fw}");
    let not_jump = node.cli(&["peer", "firewall", "lab", "dev"]).await;
    assert_eq!(not_jump.code, Some(1));
    assert!(not_jump.stderr.contains("not_a_jump"), "{not_jump:?}");
    let ipam = node.cli(&["network", "ipam", "lab"]).await.ok();
    assert!(
        ipam.contains("10.60.0.0/24") && ipam.contains("fd00:60::/64"),
        "{ipam}"
    );
    let status = node.cli(&["-o", "json", "cluster", "status"]).await.json();
    assert_eq!(status["leader_id"], 1);
    let status = node.cli(&["cluster", "status"]).await.ok();
    assert!(status.contains("leader"), "{status}");

    // Detach and delete in reverse.
    node.cli(&["group", "detach-route", "lab", "devs", "office"])
        .await
        .ok();
    node.cli(&["group", "detach-policy", "lab", "devs", "web"])
        .await
        .ok();
    node.cli(&["group", "remove-peer", "lab", "devs", "dev"])
        .await
        .ok();
    node.cli(&["route", "delete", "lab", "office"]).await.ok();
    node.cli(&["policy", "delete", "lab", "web"]).await.ok();
    node.cli(&["group", "delete", "lab", "devs"]).await.ok();
    let groups = node
        .cli(&["-o", "json", "group", "list", "lab"])
        .await
        .json();
    assert_eq!(items(&groups).len(), 1, "only the default group is left");

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_save_and_restore() {
    let node = Node::start().await;
    node.cli(&["network", "create", "keep", "--ipv4-cidr", "10.70.0.0/24"])
        .await
        .ok();
    node.cli(&["peer", "add", "keep", "box"]).await.ok();

    let backup = node.dir.path().join("backup.snap");
    let backup_arg = backup.to_str().expect("utf-8 path");
    let saved = node.cli(&["snapshot", "save", backup_arg]).await.ok();
    assert!(saved.contains("saved"), "{saved}");
    assert!(std::fs::metadata(&backup).map(|m| m.len()).unwrap_or(0) > 0);

    node.cli(&["network", "delete", "keep"]).await.ok();
    let nets = node.cli(&["-o", "json", "network", "list"]).await.json();
    assert!(items(&nets).is_empty());

    node.cli(&["snapshot", "restore", backup_arg]).await.ok();
    let peers = node
        .cli(&["-o", "json", "peer", "list", "keep"])
        .await
        .json();
    assert_eq!(items(&peers).len(), 1);

    // Something that is not a backup is refused.
    let junk = node.dir.path().join("junk");
    std::fs::write(&junk, b"not a backup").expect("write junk");
    let bad = node
        .cli(&["snapshot", "restore", junk.to_str().expect("utf-8 path")])
        .await;
    assert_eq!(bad.code, Some(1), "{bad:?}");

    node.shutdown().await;
}

// ---------------------------------------------------------------- a faulty proxy

/// What the proxy does to one write (a request other than GET).
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Forward it, then close the connection without answering: the write is applied but
    /// the CLI does not know it (a lost answer, as in a leader failover).
    DropAnswer,
    /// Answer 503 `no_leader` without forwarding.
    Unavailable,
}

/// An HTTP proxy in front of a node that injects faults into writes and records the
/// `Idempotency-Key` of every write it sees. GETs are forwarded as they are.
struct Proxy {
    url: String,
    keys: Arc<Mutex<Vec<Option<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// `fault(n)`: what to do to the n-th write (0-based); `None` forwards it.
    async fn start(
        target: &str,
        fault: impl Fn(usize) -> Option<Fault> + Send + Sync + 'static,
    ) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let keys: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let fault = Arc::new(fault);
        let target = target.to_string();
        let client = raftwire_node::tls::http_client(None, Duration::from_secs(5)).expect("client");
        let recorded = keys.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (keys, fault, target, client) = (
                    recorded.clone(),
                    fault.clone(),
                    target.clone(),
                    client.clone(),
                );
                tokio::spawn(async move {
                    let _ = proxy_one(conn, &target, &client, &keys, &*fault).await;
                });
            }
        });
        Proxy { url, keys, task }
    }

    fn keys(&self) -> Vec<Option<String>> {
        self.keys.lock().expect("keys").clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proxy_one(
    mut conn: tokio::net::TcpStream,
    target: &str,
    client: &reqwest::Client,
    keys: &Mutex<Vec<Option<String>>>,
    fault: &(dyn Fn(usize) -> Option<Fault> + Send + Sync),
) -> std::io::Result<()> {
    // The request head, then as many body bytes as Content-Length says.
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let path = request_line.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let what = if method == "GET" {
        None
    } else {
        let mut keys = keys.lock().expect("keys");
        keys.push(header("idempotency-key"));
        fault(keys.len() - 1)
    };
    if let Some(Fault::Unavailable) = what {
        let problem = r#"{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"forwarding to the leader failed: connection refused","code":"no_leader"}"#;
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
             retry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{problem}",
            problem.len()
        );
        conn.write_all(answer.as_bytes()).await?;
        return conn.shutdown().await;
    }
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, format!("{target}{path}")).body(body);
    for name in [
        "authorization",
        "content-type",
        "idempotency-key",
        "if-match",
    ] {
        if let Some(v) = header(name) {
            req = req.header(name, v);
        }
    }
    let resp = req.send().await.expect("the node answers the proxy");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let bytes = resp.bytes().await.expect("the node's answer");
    if let Some(Fault::DropAnswer) = what {
        return conn.shutdown().await;
    }
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("OK"),
        bytes.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(&bytes).await?;
    conn.shutdown().await
}

impl Node {
    /// The CLI through `server` (e.g. a proxy) with this node's admin token.
    async fn cli_via(&self, server: &str, args: &[&str]) -> Run {
        let envs = vec![
            ("RAFTWIRE_SERVER", server.to_string()),
            ("RAFTWIRE_TOKEN", self.token.clone()),
        ];
        run_cli(args, envs, self.dir.path().join("elsewhere")).await
    }
}

// ---------------------------------------------------------------- retries and idempotency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_retry_under_one_idempotency_key_through_a_failover() {
    let node = Node::start().await;

    // The first attempt is applied but its answer is lost, the second meets a cluster
    // without a leader; the third gets the first attempt's answer: one network, exit 0.
    let proxy = Proxy::start(&node.url, |n| match n {
        0 => Some(Fault::DropAnswer),
        1 => Some(Fault::Unavailable),
        _ => None,
    })
    .await;
    let created = node
        .cli_via(
            &proxy.url,
            &[
                "-o",
                "json",
                "network",
                "create",
                "corp",
                "--ipv4-cidr",
                "10.80.0.0/24",
            ],
        )
        .await
        .json();
    assert_eq!(created["name"], "corp");
    let keys = proxy.keys();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys[0].is_some(), "{keys:?}");
    assert!(keys.iter().all(|k| *k == keys[0]), "one key: {keys:?}");
    let nets = node.cli(&["-o", "json", "network", "list"]).await.json();
    assert_eq!(items(&nets).len(), 1, "applied once: {nets}");
    assert_eq!(items(&nets)[0]["id"], created["id"]);
    drop(proxy);

    // A cluster that stays without a leader: the CLI gives up after --retry-timeout, says
    // the outcome is unknown, how to check, and the key to repeat the write with.
    let proxy = Proxy::start(&node.url, |_| Some(Fault::Unavailable)).await;
    let started = Instant::now();
    let gave_up = node
        .cli_via(
            &proxy.url,
            &["--retry-timeout", "2", "peer", "add", "corp", "laptop"],
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(20), "{gave_up:?}");
    assert_eq!(gave_up.code, Some(1), "{gave_up:?}");
    let keys = proxy.keys();
    assert!(keys.len() >= 2, "retried: {keys:?}");
    let key = keys[0].clone().expect("a key");
    assert!(keys.iter().all(|k| k.as_deref() == Some(&key)), "{keys:?}");
    let err = &gave_up.stderr;
    assert!(err.contains("may or may not have been applied"), "{err}");
    assert!(err.contains("raftwire peer show corp laptop"), "{err}");
    assert!(err.contains(&format!("--idempotency-key {key}")), "{err}");

    // The same with -o json: one JSON object on stderr.
    let gave_up = node
        .cli_via(
            &proxy.url,
            &[
                "-o",
                "json",
                "--retry-timeout",
                "1",
                "peer",
                "add",
                "corp",
                "laptop",
            ],
        )
        .await;
    assert_eq!(gave_up.code, Some(1), "{gave_up:?}");
    let err: Value = serde_json::from_str(&gave_up.stderr).expect("JSON on stderr");
    assert_eq!(err["code"], "outcome_unknown", "{err}");
    assert!(err["idempotency_key"].is_string(), "{err}");
    assert_eq!(err["last_error"]["code"], "no_leader", "{err}");
    drop(proxy);

    // Repeating the write with the printed key applies it (once).
    let added = node
        .cli(&[
            "-o",
            "json",
            "--idempotency-key",
            &key,
            "peer",
            "add",
            "corp",
            "laptop",
        ])
        .await
        .json();
    assert_eq!(added["name"], "laptop");

    // --retry-timeout 0 tries once.
    let proxy = Proxy::start(&node.url, |_| Some(Fault::Unavailable)).await;
    let once = node
        .cli_via(
            &proxy.url,
            &[
                "--retry-timeout",
                "0",
                "network",
                "create",
                "x",
                "--ipv4-cidr",
                "10.81.0.0/24",
            ],
        )
        .await;
    assert_eq!(once.code, Some(1), "{once:?}");
    assert_eq!(proxy.keys().len(), 1);
    drop(proxy);

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_repeating_a_write_with_one_key_gets_the_first_answer() {
    let node = Node::start().await;
    let args = [
        "-o",
        "json",
        "--idempotency-key",
        "deploy-42",
        "network",
        "create",
        "once",
        "--ipv4-cidr",
        "10.82.0.0/24",
    ];
    let first = node.cli(&args).await.json();
    let again = node.cli(&args).await.json();
    assert_eq!(first["id"], again["id"], "{first} / {again}");
    let nets = node.cli(&["-o", "json", "network", "list"]).await.json();
    assert_eq!(items(&nets).len(), 1);

    // Without the key the repeat is a new write (and a conflict).
    let dup = node
        .cli(&["network", "create", "once", "--ipv4-cidr", "10.83.0.0/24"])
        .await;
    assert_eq!(dup.code, Some(1), "{dup:?}");

    // A key the server would refuse is refused before any request.
    let bad = node
        .cli(&[
            "--idempotency-key",
            "has space",
            "network",
            "delete",
            "once",
        ])
        .await;
    assert_eq!(bad.code, Some(1), "{bad:?}");
    assert!(bad.stderr.contains("--idempotency-key"), "{bad:?}");

    node.shutdown().await;
}

// ---------------------------------------------------------------- a new user's trip points

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_without_a_jump_says_why() {
    let node = Node::start().await;
    node.cli(&["network", "create", "solo", "--ipv4-cidr", "10.84.0.0/24"])
        .await
        .ok();
    node.cli(&["peer", "add", "solo", "laptop"]).await.ok();
    let run = node.cli(&["peer", "config", "solo", "laptop"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let config = &run.stdout;
    assert!(config.starts_with("[Interface]"), "{config}");
    assert!(!config.contains("[Peer]\n"), "{config}");
    assert!(
        config
            .lines()
            .any(|l| l.starts_with('#') && l.contains("no jump peer with a public key")),
        "{config}"
    );
    assert!(config.contains("nothing to connect to"), "{config}");
    assert!(run.stderr.contains("warning:"), "{run:?}");

    // Once a jump with a key exists, the config connects to it and nothing is added.
    node.cli(&[
        "peer",
        "add",
        "solo",
        "hub",
        "--jump",
        "--public-key",
        JUMP_KEY,
    ])
    .await
    .ok();
    let run = node.cli(&["peer", "config", "solo", "laptop"]).await;
    assert!(run.stdout.contains("[Peer]"), "{run:?}");
    assert!(!run.stdout.contains("No [Peer] section"), "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_create_infers_the_mode_from_the_cidrs() {
    let node = Node::start().await;
    let dual = node
        .cli(&[
            "-o",
            "json",
            "network",
            "create",
            "both",
            "--ipv4-cidr",
            "10.85.0.0/24",
            "--ipv6-cidr",
            "fd00:85::/64",
        ])
        .await
        .json();
    assert_eq!(dual["ip_stack_mode"], "dual");
    let v6 = node
        .cli(&[
            "-o",
            "json",
            "network",
            "create",
            "six",
            "--ipv6-cidr",
            "fd00:86::/64",
        ])
        .await
        .json();
    assert_eq!(v6["ip_stack_mode"], "ipv6");
    let v4 = node
        .cli(&[
            "-o",
            "json",
            "network",
            "create",
            "four",
            "--ipv4-cidr",
            "10.87.0.0/24",
        ])
        .await
        .json();
    assert_eq!(v4["ip_stack_mode"], "ipv4");

    // An explicit --mode wins, and the server checks it.
    let refused = node
        .cli(&[
            "network",
            "create",
            "mixed",
            "--mode",
            "ipv4",
            "--ipv4-cidr",
            "10.88.0.0/24",
            "--ipv6-cidr",
            "fd00:88::/64",
        ])
        .await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("ipv6_cidr"), "{refused:?}");

    // The mode's names are the api's; others are a usage error listing them.
    let bad = node
        .cli(&["network", "create", "m", "--mode", "ipv5"])
        .await;
    assert_eq!(bad.code, Some(1), "{bad:?}");
    assert!(bad.stderr.contains("ipv4, ipv6, dual"), "{bad:?}");

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_named_by_its_source_never_shown() {
    let node = Node::start().await;
    let elsewhere = node.dir.path().join("elsewhere");
    let wrong = "rw_not-a-real-token";
    let list = |extra: &[&str]| {
        let mut args: Vec<String> = vec!["--server".into(), node.url.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["network".to_string(), "list".to_string()]);
        args
    };
    let check = |run: &Run, source: &str| {
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stderr.contains("unauthorized"), "{run:?}");
        assert!(
            run.stderr.contains(&format!("from {source}")),
            "names {source}: {run:?}"
        );
        assert!(
            !run.stderr.contains(wrong),
            "the token is never printed: {run:?}"
        );
        assert!(run.stderr.contains("rw_n…, 19 characters"), "{run:?}");
    };

    // RAFTWIRE_TOKEN.
    let args = list(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_cli(
        &args,
        vec![("RAFTWIRE_TOKEN", wrong.into())],
        elsewhere.clone(),
    )
    .await;
    check(&run, "RAFTWIRE_TOKEN");

    // --token.
    let args = list(&["--token", wrong]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_cli(&args, vec![], elsewhere.clone()).await;
    check(&run, "--token");

    // --token-file, and RAFTWIRE_TOKEN_FILE.
    let file = node.dir.path().join("wrong-token");
    std::fs::write(&file, wrong).expect("write token");
    let file_arg = file.to_str().expect("utf-8 path");
    let args = list(&["--token-file", file_arg]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_cli(&args, vec![], elsewhere.clone()).await;
    check(&run, &format!("--token-file {file_arg}"));
    let args = list(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_cli(
        &args,
        vec![("RAFTWIRE_TOKEN_FILE", file_arg.to_string())],
        elsewhere.clone(),
    )
    .await;
    check(
        &run,
        &format!("--token-file {file_arg} (RAFTWIRE_TOKEN_FILE)"),
    );

    // ./data/admin-token.
    let cwd = node.dir.path().join("with-default");
    std::fs::create_dir_all(cwd.join("data")).expect("mkdir");
    std::fs::write(cwd.join("data/admin-token"), wrong).expect("write token");
    let run = run_cli(&args, vec![], cwd).await;
    check(&run, "./data/admin-token");

    // No token at all.
    let run = run_cli(&args, vec![], elsewhere.clone()).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("no admin token was sent"), "{run:?}");

    // --token on the command line wins over RAFTWIRE_TOKEN.
    let args = list(&["--token", &node.token]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_cli(
        &args,
        vec![("RAFTWIRE_TOKEN", wrong.into())],
        elsewhere.clone(),
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");

    // --help lists every variable the CLI reads, and not a token's value.
    let help = run_cli(
        &["--help"],
        vec![("RAFTWIRE_TOKEN", wrong.into())],
        elsewhere,
    )
    .await;
    let text = help.ok();
    for var in [
        "RAFTWIRE_SERVER",
        "RAFTWIRE_TOKEN",
        "RAFTWIRE_TOKEN_FILE",
        "RAFTWIRE_CA_CERT",
        "RAFTWIRE_OUTPUT",
        "RAFTWIRE_RETRY_TIMEOUT",
    ] {
        assert!(text.contains(&format!("[env: {var}")), "{var}: {text}");
    }
    assert!(!text.contains(wrong), "{text}");
    assert!(
        text.contains("RAFTWIRE_ADMIN_TOKEN"),
        "tells the two apart: {text}"
    );

    node.shutdown().await;
}

/// The options of a `--help` text, each with whether a description follows it.
fn described_options(help: &str) -> Vec<(String, bool)> {
    help.lines()
        .filter(|l| l.starts_with(' ') && (l.trim_start().starts_with('-') || l.starts_with("  <")))
        .map(|l| {
            let l = l.trim_start();
            match l.split_once("  ") {
                Some((flag, rest)) => (flag.to_string(), !rest.trim().is_empty()),
                None => (l.to_string(), false),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_separates_global_options_and_describes_everything() {
    let cwd = std::env::temp_dir();
    for cmd in [
        vec!["--help"],
        vec!["network", "create", "--help"],
        vec!["network", "update", "--help"],
        vec!["peer", "add", "--help"],
        vec!["peer", "update", "--help"],
        vec!["group", "create", "--help"],
        vec!["policy", "create", "--help"],
        vec!["route", "create", "--help"],
        vec!["dns", "add", "--help"],
        vec!["cluster", "add", "--help"],
        vec!["token", "create", "--help"],
        vec!["snapshot", "save", "--help"],
    ] {
        let help = run_cli(&cmd, vec![], cwd.clone()).await.ok();
        let (own, global) = help
            .split_once("Global options:")
            .unwrap_or_else(|| panic!("{cmd:?}: no 'Global options' heading:\n{help}"));
        assert!(
            !own.contains("--server"),
            "{cmd:?}: --server among own options:\n{help}"
        );
        for flag in [
            "--server",
            "--token",
            "--token-file",
            "--output",
            "--retry-timeout",
        ] {
            assert!(global.contains(flag), "{cmd:?}: {flag} not global:\n{help}");
        }
        assert!(global.contains("--idempotency-key"), "{cmd:?}:\n{help}");
        for (flag, described) in described_options(&help) {
            assert!(described, "{cmd:?}: '{flag}' has no description:\n{help}");
        }
    }
    // Every subcommand has a description.
    for cmd in [
        vec!["--help"],
        vec!["network", "--help"],
        vec!["peer", "--help"],
        vec!["group", "--help"],
        vec!["policy", "--help"],
        vec!["dns", "--help"],
    ] {
        let help = run_cli(&cmd, vec![], cwd.clone()).await.ok();
        let commands = help
            .split_once("Commands:")
            .map(|(_, rest)| rest.split("\n\n").next().unwrap_or_default().to_string())
            .unwrap_or_default();
        assert!(!commands.is_empty(), "{cmd:?}:\n{help}");
        for line in commands.lines().filter(|l| !l.trim().is_empty()) {
            let line = line.trim_start();
            let described = line
                .split_once("  ")
                .is_some_and(|(_, d)| !d.trim().is_empty());
            assert!(described, "{cmd:?}: '{line}' has no description:\n{help}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_with_o_json() {
    let node = Node::start().await;
    node.cli(&["network", "create", "a", "--ipv4-cidr", "10.90.0.0/24"])
        .await
        .ok();
    let parse = |run: &Run| -> Value {
        serde_json::from_str(&run.stderr)
            .unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {run:?}"))
    };

    // The server's problem+json.
    let overlap = node
        .cli(&[
            "-o",
            "json",
            "network",
            "create",
            "b",
            "--ipv4-cidr",
            "10.90.0.0/25",
        ])
        .await;
    assert_eq!(overlap.code, Some(1), "{overlap:?}");
    assert!(overlap.stdout.is_empty(), "{overlap:?}");
    let problem = parse(&overlap);
    assert_eq!(problem["code"], "cidr_overlap");
    assert_eq!(problem["field"], "ipv4_cidr");
    assert_eq!(problem["status"], 409);

    // A local error: {"error", "code"}.
    let unknown = node.cli(&["-o", "json", "network", "show", "nope"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    let err = parse(&unknown);
    assert_eq!(err["code"], "not_found");
    assert!(
        err["error"].as_str().is_some_and(|e| e.contains("nope")),
        "{err}"
    );

    // A 401 keeps the server's problem and adds the CLI's hint.
    let run = run_cli(
        &["-o", "json", "network", "list"],
        vec![
            ("RAFTWIRE_SERVER", node.url.clone()),
            ("RAFTWIRE_TOKEN", "rw_not-a-real-token".into()),
        ],
        node.dir.path().join("elsewhere"),
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let err = parse(&run);
    assert_eq!(err["code"], "unauthorized");
    assert!(
        err["hint"]
            .as_str()
            .is_some_and(|h| h.contains("RAFTWIRE_TOKEN")),
        "{err}"
    );

    // A usage mistake.
    let usage = node.cli(&["-o", "json", "network", "create"]).await;
    assert_eq!(usage.code, Some(1), "{usage:?}");
    assert_eq!(parse(&usage)["code"], "usage");

    // Nothing listening: exit 2 still.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let down = run_cli(
        &["-o", "json", "network", "create", "z"],
        vec![
            ("RAFTWIRE_SERVER", format!("http://127.0.0.1:{port}")),
            ("RAFTWIRE_TOKEN", node.token.clone()),
        ],
        node.dir.path().join("elsewhere"),
    )
    .await;
    assert_eq!(down.code, Some(2), "{down:?}");
    assert_eq!(parse(&down)["code"], "unreachable");

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_force_hint_names_the_cli_flag() {
    let node = Node::start().await;
    node.cli(&["network", "create", "renum", "--ipv4-cidr", "10.91.0.0/24"])
        .await
        .ok();
    node.cli(&["peer", "add", "renum", "laptop"]).await.ok();
    let refused = node
        .cli(&["network", "update", "renum", "--ipv4-cidr", "10.92.0.0/24"])
        .await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains("static_peers_affected"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("--force"), "{refused:?}");
    assert!(!refused.stderr.contains("\"force\""), "{refused:?}");
    let forced = node
        .cli(&[
            "-o",
            "json",
            "network",
            "update",
            "renum",
            "--ipv4-cidr",
            "10.92.0.0/24",
            "--force",
        ])
        .await
        .json();
    assert_eq!(forced["ipv4_cidr"], "10.92.0.0/24");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_needs_the_ca_cert_and_says_so() {
    let node = Node::start_tls().await;
    assert!(node.url.starts_with("https://"), "{}", node.url);
    let untrusted = node.cli(&["network", "list"]).await;
    assert_eq!(untrusted.code, Some(2), "{untrusted:?}");
    assert!(untrusted.stderr.contains("--ca-cert"), "{untrusted:?}");
    assert!(
        !untrusted.stderr.contains("plain http only"),
        "{untrusted:?}"
    );

    let cert = node.dir.path().join("cert.pem");
    let trusted = node
        .cli(&[
            "--ca-cert",
            cert.to_str().expect("utf-8 path"),
            "-o",
            "json",
            "network",
            "list",
        ])
        .await
        .json();
    assert!(trusted["items"].is_array(), "{trusted}");

    // Plain http to a node that serves https: the hint says to use https://.
    let plain = run_cli(
        &["network", "list"],
        vec![
            (
                "RAFTWIRE_SERVER",
                node.url.replacen("https://", "http://", 1),
            ),
            ("RAFTWIRE_TOKEN", node.token.clone()),
        ],
        node.dir.path().join("elsewhere"),
    )
    .await;
    assert_ne!(plain.code, Some(0), "{plain:?}");
    assert!(plain.stderr.contains("https://"), "{plain:?}");
    node.shutdown().await;
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_changes_nothing() {
    let node = Node::start().await;
    node.cli(&["network", "create", "corp", "--ipv4-cidr", "10.45.0.0/24"])
        .await
        .ok();
    node.cli(&["peer", "add", "corp", "phone"]).await.ok();
    let plan = node
        .cli(&[
            "network",
            "update",
            "corp",
            "--mode",
            "dual",
            "--ipv6-cidr",
            "fd00:45::/64",
            "--force",
            "--dry-run",
        ])
        .await
        .ok();
    assert!(plan.contains("dry run: nothing was changed"), "{plan}");
    assert!(plan.contains("+ fd00:45::1"), "{plan}");
    assert!(
        plan.contains("static peers needing their config again: phone"),
        "{plan}"
    );
    let shown = node
        .cli(&["-o", "json", "network", "show", "corp"])
        .await
        .json();
    assert_eq!(shown["ip_stack_mode"], "ipv4");
    node.shutdown().await;
}

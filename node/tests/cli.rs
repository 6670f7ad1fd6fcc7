//! The `raftwire` CLI against a real node started in-process on a free loopback port.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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
        let dir = tempfile::tempdir().expect("temp dir");
        // The advertised URL must be known before the node starts: take a free port first.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let listen: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let url = format!("http://{listen}");
        let cfg = NodeArgs {
            id: 1,
            data_dir: dir.path().join("data"),
            listen,
            advertise: Some(url.clone()),
            admin_token_file: None,
            cluster_secret_file: None,
            bootstrap: true,
            join: None,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
        }
        .resolve();
        let handle = start(cfg).await.expect("node starts");
        let token = handle.admin_token.clone();
        wait_ready(&url).await;
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

async fn wait_ready(url: &str) {
    let client =
        raftwire_node::tls::http_client(None, std::time::Duration::from_secs(5)).expect("client");
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

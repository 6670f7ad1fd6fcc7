//! The agent WebSocket: hello → config, pushes after changes that alter the agent's
//! configuration and only then, key registration, reconnects with the current version, and
//! a second connection replacing the first.

use std::time::Duration;

use crate::common::*;
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long "no message" has to hold.
/// How long a push may take.
const PUSH: Duration = Duration::from_secs(5);

async fn connect(c: &Cluster, token: &str) -> Ws {
    connect_to(c, 1, token).await
}

/// Opens the agent socket on node `node`.
async fn connect_to(c: &Cluster, node: u64, token: &str) -> Ws {
    let url = c.node(node).url.replace("http://", "ws://") + "/api/v1/agent/ws";
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, resp) = tokio::time::timeout(PUSH, tokio_tungstenite::connect_async(req))
        .await
        .expect("connect in time")
        .expect("upgrade accepted");
    assert_eq!(resp.status().as_u16(), 101);
    ws
}

async fn hello(ws: &mut Ws, key: &str, applied_version: u64) {
    let msg = json!({"type": "hello", "public_key": key, "hostname": "h", "applied_version": applied_version});
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .unwrap();
}

/// The fingerprint an agent holding the config of `msg` names in its hello.
fn fingerprint(msg: &Value) -> String {
    let cfg: raftwire_api::agent::AgentConfig =
        serde_json::from_value(msg["config"].clone()).expect("an agent config");
    raftwire_api::protocol::config_fingerprint(&cfg)
}

/// Hello from an agent that holds the config of `msg` (its version and fingerprint).
async fn hello_holding(ws: &mut Ws, key: &str, msg: &Value) {
    let hello = json!({
        "type": "hello", "public_key": key, "hostname": "h",
        "applied_version": version(msg), "config_hash": fingerprint(msg),
    });
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
}

/// What the socket does next.
#[derive(Debug)]
enum Next {
    Text(Value),
    Closed,
    Silent,
}

async fn next(ws: &mut Ws, within: Duration) -> Next {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Next::Silent,
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return Next::Closed,
            Ok(Some(Ok(Message::Text(t)))) => {
                return Next::Text(serde_json::from_str(t.as_str()).expect("JSON text frame"))
            }
            Ok(Some(Ok(_))) => continue, // pings, pongs
        }
    }
}

/// The next message, which must be a config.
async fn config(ws: &mut Ws) -> Value {
    match next(ws, PUSH).await {
        Next::Text(v) => {
            assert_eq!(v["type"], "config", "{v}");
            assert!(v["version"].as_u64().is_some(), "{v}");
            assert!(v["config"].is_object(), "{v}");
            v
        }
        other => panic!("expected a config, got {other:?}"),
    }
}

/// "Nothing was sent" without waiting on a silence window: `mark` makes a change that does
/// alter this agent's config, and the very next message must be that change (the hub pushes
/// in log order, so anything sent before the marker would arrive first).
async fn nothing_sent_before<F, Fut>(ws: &mut Ws, why: &str, mark: F, seen: impl Fn(&Value) -> bool)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    mark().await;
    let msg = config(ws).await;
    assert!(
        seen(&msg),
        "{why}: a config was sent before the marker change: {msg}"
    );
}

/// A marker for a jump agent: the network's upstream resolvers become `marker`.
async fn mark_upstreams(c: &Cluster, nid: &str, marker: &str) {
    let (status, body) = c
        .patch(
            1,
            &format!("/networks/{nid}"),
            json!({"dns_servers": [marker]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn has_upstream(msg: &Value, marker: &str) -> bool {
    msg["config"]["dns"]["upstreams"] == json!([marker])
}

/// The config sent at connect.
async fn config_at_connect(ws: &mut Ws) -> Value {
    config(ws).await
}

fn version(msg: &Value) -> u64 {
    msg["version"].as_u64().unwrap()
}

struct Net {
    nid: String,
    jump: String,
    token: String,
}

/// A dual-stack network with one jump agent.
async fn jump_network(c: &Cluster) -> Net {
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ip_stack_mode": "dual", "ipv4_cidr": "10.1.0.0/24", "ipv6_cidr": "fd01::/64"}),
        )
        .await;
    let nid = id_of(&net);
    let jump = c
        .create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "jump", "is_jump": true, "endpoint": "vpn.example.com"}),
        )
        .await;
    Net {
        nid,
        jump: id_of(&jump),
        token: jump["agent_token"].as_str().unwrap().to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_is_answered_with_the_config_and_registers_the_agents_public_key() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let mut ws = connect(&c, &n.token).await;
    hello(&mut ws, &wg_key(7), 0).await;
    let msg = config_at_connect(&mut ws).await;
    assert!(version(&msg) > 0, "{msg}");
    let cfg = &msg["config"];
    assert_eq!(cfg["peer_id"], n.jump.as_str());
    assert_eq!(cfg["network_id"], n.nid.as_str());
    assert_eq!(
        cfg["interface"]["addresses"],
        json!(["10.1.0.1/32", "fd01::1/128"])
    );
    assert_eq!(cfg["interface"]["listen_port"], 51820);
    assert!(
        cfg["wg_quick"]
            .as_str()
            .unwrap()
            .contains("ListenPort = 51820"),
        "{cfg}"
    );
    assert!(cfg["firewall"]["ipv4"]["restore"]
        .as_str()
        .unwrap()
        .starts_with("*filter"));
    assert!(cfg["firewall"]["ipv6"]["restore"]
        .as_str()
        .unwrap()
        .starts_with("*filter"));
    assert_eq!(cfg["forwarding"], json!({"ipv4": true, "ipv6": true}));
    assert_eq!(cfg["dns"]["zone"], "corp.internal");
    assert_eq!(cfg["dns"]["listen"], json!(["10.1.0.1", "fd01::1"]));

    // The key the agent said hello with is the peer's public key now.
    let (_, peer) = c
        .get(1, &format!("/networks/{}/peers/{}", n.nid, n.jump))
        .await;
    assert_eq!(peer["public_key"], wg_key(7).as_str(), "{peer}");

    // The same configuration is served over HTTP.
    let a = c
        .send(
            1,
            Method::GET,
            "/api/v1/agent/config",
            Some(&format!("Bearer {}", n.token)),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{a}");
    assert_eq!(a.json()["config"], msg["config"]);
    assert!(version(&a.json()) >= version(&msg));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_alters_the_agents_config_is_pushed_with_a_higher_version() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let mut ws = connect(&c, &n.token).await;
    hello(&mut ws, &wg_key(7), 0).await;
    let first = config_at_connect(&mut ws).await;

    // A new peer in the network: the jump gets a section for it.
    c.create(
        &format!("/networks/{}/peers", n.nid),
        json!({"name": "laptop", "public_key": wg_key(8)}),
    )
    .await;
    let second = config(&mut ws).await;
    assert!(version(&second) > version(&first), "{first}\n{second}");
    let keys: Vec<&str> = second["config"]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["public_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, [wg_key(8).as_str()], "{second}");
    assert!(second["config"]["firewall"]["ipv4"]["restore"]
        .as_str()
        .unwrap()
        .contains("10.1.0.2"));

    // New upstream resolvers reach the jump's DNS.
    let (status, _) = c
        .patch(
            1,
            &format!("/networks/{}", n.nid),
            json!({"dns_servers": ["9.9.9.9"]}),
        )
        .await;
    assert_eq!(status, 200);
    let third = config(&mut ws).await;
    assert!(version(&third) > version(&second));
    assert_eq!(third["config"]["dns"]["upstreams"], json!(["9.9.9.9"]));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_does_not_alter_the_agents_config_is_not_pushed() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let mut ws = connect(&c, &n.token).await;
    hello(&mut ws, &wg_key(7), 0).await;
    let first = config_at_connect(&mut ws).await;

    // Another network with a peer, an empty group here, an admin token: nothing for this jump.
    let other = c
        .create(
            "/networks",
            json!({"name": "other", "ipv4_cidr": "10.2.0.0/24"}),
        )
        .await;
    c.create(
        &format!("/networks/{}/peers", id_of(&other)),
        json!({"name": "x", "is_jump": true}),
    )
    .await;
    c.create(
        &format!("/networks/{}/groups", n.nid),
        json!({"name": "empty"}),
    )
    .await;
    c.create("/tokens", json!({"name": "ci"})).await;
    nothing_sent_before(
        &mut ws,
        "unrelated changes",
        || mark_upstreams(&c, &n.nid, "192.0.2.53"),
        |m| has_upstream(m, "192.0.2.53") && version(m) > version(&first),
    )
    .await;

    // A relevant change arrives.
    c.create(
        &format!("/networks/{}/peers", n.nid),
        json!({"name": "laptop", "public_key": wg_key(8)}),
    )
    .await;
    let second = config(&mut ws).await;
    assert!(version(&second) > version(&first));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_the_current_config_gets_nothing_and_an_older_one_gets_the_current() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let mut ws = connect(&c, &n.token).await;
    hello(&mut ws, &wg_key(7), 0).await;
    let first = config_at_connect(&mut ws).await;
    ws.close(None).await.ok();
    drop(ws);

    let mut ws = connect(&c, &n.token).await;
    hello_holding(&mut ws, &wg_key(7), &first).await;
    mark_upstreams(&c, &n.nid, "192.0.2.54").await;
    let marked = config(&mut ws).await;
    assert!(
        has_upstream(&marked, "192.0.2.54"),
        "the agent already had the current version, yet a config came before the change: {marked}"
    );
    ws.close(None).await.ok();
    drop(ws);

    let mut ws = connect(&c, &n.token).await;
    hello_holding(&mut ws, &wg_key(7), &first).await;
    let again = config_at_connect(&mut ws).await;
    assert_eq!(again["config"], marked["config"]);
    assert_eq!(version(&again), version(&marked));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_for_the_same_peer_closes_the_first() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let mut first = connect(&c, &n.token).await;
    hello(&mut first, &wg_key(7), 0).await;
    config_at_connect(&mut first).await;

    let mut second = connect(&c, &n.token).await;
    hello(&mut second, &wg_key(7), 0).await;
    let got = config_at_connect(&mut second).await;
    match next(&mut first, PUSH).await {
        Next::Closed => {}
        other => panic!("the first connection should close, got {other:?}"),
    }

    // Pushes go to the newer connection.
    c.create(
        &format!("/networks/{}/peers", n.nid),
        json!({"name": "laptop", "public_key": wg_key(8)}),
    )
    .await;
    let pushed = config(&mut second).await;
    assert!(version(&pushed) > version(&got));
    let metrics = c.send(1, Method::GET, "/metrics", None, &[], None).await;
    assert!(
        metrics.text.contains("raftwire_agents_connected 1"),
        "{}",
        metrics.text
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regular_agent_gets_no_firewall_or_dns_and_is_told_about_a_new_jump() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "six", "ip_stack_mode": "ipv6", "ipv6_cidr": "fd02::/64"}),
        )
        .await;
    let nid = id_of(&net);
    let agent = c
        .create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "agent", "use_agent": true}),
        )
        .await;
    let mut ws = connect(&c, agent["agent_token"].as_str().unwrap()).await;
    hello(&mut ws, &wg_key(5), 0).await;
    let first = config_at_connect(&mut ws).await;
    let cfg = &first["config"];
    assert_eq!(cfg["firewall"], Value::Null, "{cfg}");
    assert_eq!(cfg["dns"], Value::Null, "{cfg}");
    assert_eq!(cfg["nat"], Value::Null, "{cfg}");
    assert_eq!(cfg["forwarding"], json!({"ipv4": false, "ipv6": false}));
    assert_eq!(cfg["interface"]["addresses"], json!(["fd02::1/128"]));
    assert_eq!(cfg["peers"], json!([]));

    c.create(
        &format!("/networks/{nid}/peers"),
        json!({"name": "jump", "is_jump": true, "public_key": wg_key(6), "endpoint": "[2001:db8::1]"}),
    )
    .await;
    let second = config(&mut ws).await;
    assert!(version(&second) > version(&first));
    let peers = second["config"]["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1, "{second}");
    assert_eq!(peers[0]["public_key"], wg_key(6).as_str());
    assert_eq!(peers[0]["endpoint"], "[2001:db8::1]:51820");
    assert_eq!(peers[0]["persistent_keepalive"], 25);
    let allowed: Vec<&str> = peers[0]["allowed_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(allowed, ["fd02::2/128", "fd02::/64"]);
    c.shutdown().await;
}

/// The hub leaves regular agents alone when only other regular peers change (their configs
/// cannot change), but still sends a regular agent what its own row changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regular_agent_gets_changes_of_its_own_row_but_nothing_for_other_regular_peers() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let agent = c
        .create(
            &format!("/networks/{}/peers", n.nid),
            json!({"name": "agent", "use_agent": true}),
        )
        .await;
    let mut ws = connect(&c, agent["agent_token"].as_str().unwrap()).await;
    hello(&mut ws, &wg_key(5), 0).await;
    let first = config_at_connect(&mut ws).await;
    assert_eq!(first["config"]["interface"]["listen_port"], Value::Null);

    // Other regular peers come, change and go: nothing for this agent, and the next message
    // is the change of its own row.
    let other = c
        .create(
            &format!("/networks/{}/peers", n.nid),
            json!({"name": "laptop", "public_key": wg_key(8)}),
        )
        .await;
    let (status, _) = c
        .patch(
            1,
            &format!("/networks/{}/peers/{}", n.nid, id_of(&other)),
            json!({"endpoint": "laptop.example.net"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = c
        .delete(1, &format!("/networks/{}/peers/{}", n.nid, id_of(&other)))
        .await;
    assert_eq!(status, 204);
    let path = format!("/networks/{}/peers/{}", n.nid, id_of(&agent));
    nothing_sent_before(
        &mut ws,
        "other regular peers' changes",
        || async {
            let (status, body) = c.patch(1, &path, json!({"listen_port": 41000})).await;
            assert_eq!(status, 200, "{body}");
        },
        |m| m["config"]["interface"]["listen_port"] == 41000 && version(m) > version(&first),
    )
    .await;
    c.shutdown().await;
}

/// An agent that holds a newer config than its node has rendered (it came from a node
/// further ahead) gets nothing until the node caught up, then its config, even when what the
/// node applied meanwhile changed only other regular peers (so its config did not change).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_ahead_of_its_node_gets_its_config_once_the_node_caught_up() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let agent = c
        .create(
            &format!("/networks/{}/peers", n.nid),
            json!({"name": "agent", "use_agent": true, "public_key": wg_key(5)}),
        )
        .await;
    let token = agent["agent_token"].as_str().unwrap().to_string();
    let v = version(&http_config(&c, 1, &token).await);
    let mut ws = connect(&c, &token).await;
    hello(&mut ws, &wg_key(5), v + 2).await;
    for (i, name) in ["laptop", "phone"].into_iter().enumerate() {
        c.create(
            &format!("/networks/{}/peers", n.nid),
            json!({"name": name, "public_key": wg_key(8 + i as u8)}),
        )
        .await;
    }
    let msg = config(&mut ws).await;
    assert!(
        version(&msg) >= v + 2,
        "sent before the node caught up: {msg}"
    );
    assert_eq!(msg["config"]["peer_id"], agent["id"]);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_does_not_start_with_hello_is_closed() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let mut ws = connect(&c, &n.token).await;
    ws.send(Message::Text(
        json!({"type": "status", "applied_version": 1, "ok": true, "errors": []})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    match next(&mut ws, PUSH).await {
        Next::Closed => {}
        other => panic!("expected the socket to close, got {other:?}"),
    }
    let (_, peer) = c
        .get(1, &format!("/networks/{}/peers/{}", n.nid, n.jump))
        .await;
    assert_eq!(peer["public_key"], Value::Null);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_mode_change_pushes_the_new_addresses_to_every_connected_agent() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let nid = id_of(&net);
    let jump = c
        .create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "jump", "is_jump": true}),
        )
        .await;
    let agent = c
        .create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "agent", "use_agent": true}),
        )
        .await;
    let mut wj = connect(&c, jump["agent_token"].as_str().unwrap()).await;
    hello(&mut wj, &wg_key(1), 0).await;
    let j1 = config_at_connect(&mut wj).await;
    let mut wa = connect(&c, agent["agent_token"].as_str().unwrap()).await;
    hello(&mut wa, &wg_key(2), 0).await;
    let a1 = config_at_connect(&mut wa).await;
    assert_eq!(j1["config"]["firewall"]["ipv6"], Value::Null);
    // The agent registering its key altered the jump's config.
    let j1 = config(&mut wj).await;

    let (status, body) = c
        .patch(
            1,
            &format!("/networks/{nid}"),
            json!({"ip_stack_mode": "dual", "ipv6_cidr": "fd01::/64"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let j2 = config(&mut wj).await;
    let a2 = config(&mut wa).await;
    assert!(version(&j2) > version(&j1) && version(&a2) > version(&a1));
    assert_eq!(
        j2["config"]["interface"]["addresses"],
        json!(["10.1.0.1/32", "fd01::1/128"])
    );
    assert!(
        j2["config"]["firewall"]["ipv6"]["restore"].is_string(),
        "{j2}"
    );
    assert_eq!(
        j2["config"]["forwarding"],
        json!({"ipv4": true, "ipv6": true})
    );
    assert_eq!(
        a2["config"]["interface"]["addresses"],
        json!(["10.1.0.2/32", "fd01::2/128"])
    );
    let wg = a2["config"]["wg_quick"].as_str().unwrap();
    assert!(wg.contains("fd01::/64"), "{wg}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_config_is_sent_at_connect() {
    let c = std::sync::Arc::new(Cluster::single().await);
    let n = jump_network(&c).await;
    // Many fresh agent peers connecting at once, each committing its key registration: every
    // applied entry wakes the hub's push loop while other connections are being set up.
    let mut tokens = Vec::new();
    for i in 0..40u8 {
        let agent = c
            .create(
                &format!("/networks/{}/peers", n.nid),
                json!({"name": format!("agent{i}"), "use_agent": true}),
            )
            .await;
        tokens.push((
            i,
            id_of(&agent),
            agent["agent_token"].as_str().unwrap().to_string(),
        ));
    }
    // Once every agent holds its first config, each one's own marker change (its listen
    // port) must be the very next message: anything sent in between was one config too many.
    let all_connected = std::sync::Arc::new(tokio::sync::Barrier::new(tokens.len()));
    let mut tasks = Vec::new();
    for (i, pid, token) in tokens {
        let c = c.clone();
        let nid = n.nid.clone();
        let all_connected = all_connected.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = connect(&c, &token).await;
            hello(&mut ws, &wg_key(100 + i), 0).await;
            let first = config(&mut ws).await;
            all_connected.wait().await;
            let port = 40_000 + u16::from(i);
            let (status, body) = c
                .patch(
                    1,
                    &format!("/networks/{nid}/peers/{pid}"),
                    json!({"listen_port": port}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            let extra = next(&mut ws, PUSH).await;
            ws.close(None).await.ok();
            match extra {
                // Later agents' registrations do not alter this regular peer's config.
                Next::Text(m) if m["config"]["interface"]["listen_port"] == port => None,
                other => Some(format!("agent{i}: {first}\nthen {other:?}")),
            }
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.unwrap());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let c = std::sync::Arc::into_inner(c).unwrap();
    c.shutdown().await;
}

// ------------------------------------------------------------------ versions across nodes

async fn three_nodes() -> Cluster {
    let mut c = Cluster::new();
    c.start(1).await;
    c.leader().await;
    c.start(2).await;
    c.start(3).await;
    c.wait_voter(2).await;
    c.wait_voter(3).await;
    c
}

/// `GET /agent/config` through node `node`.
async fn http_config(c: &Cluster, node: u64, token: &str) -> Value {
    let a = c
        .send(
            node,
            Method::GET,
            "/api/v1/agent/config",
            Some(&format!("Bearer {token}")),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{a}");
    a.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_labels_the_same_config_with_the_same_version() {
    let mut c = Cluster::single().await;
    let n = jump_network(&c).await;
    let mut ws = connect(&c, &n.token).await;
    hello(&mut ws, &wg_key(7), 0).await;
    config_at_connect(&mut ws).await;
    // More entries than a snapshot holds (the test nodes snapshot every 20), so the nodes
    // added next start from a snapshot, not from the entries that set the revision.
    for i in 0..25u8 {
        c.create(
            &format!("/networks/{}/peers", n.nid),
            json!({"name": format!("p{i}"), "public_key": wg_key(20 + i)}),
        )
        .await;
    }
    c.start(2).await;
    c.start(3).await;
    c.wait_voter(2).await;
    c.wait_voter(3).await;
    // Unrelated writes move the applied index, not the network's version.
    c.create("/tokens", json!({"name": "ci"})).await;
    c.create(
        "/networks",
        json!({"name": "other", "ipv4_cidr": "10.9.0.0/24"}),
    )
    .await;

    let on_1 = http_config(&c, 1, &n.token).await;
    for node in [2, 3] {
        let other = http_config(&c, node, &n.token).await;
        assert_eq!(other["config"], on_1["config"], "node {node}");
        assert_eq!(version(&other), version(&on_1), "node {node}");
    }
    let (_, cluster) = c.get(1, "/cluster").await;
    assert!(
        version(&on_1) < cluster["last_applied"].as_u64().unwrap(),
        "the version is the network's last change, not the applied index: {on_1} {cluster}"
    );
    // What the agent was pushed is labelled alike.
    let pushed = loop {
        let m = config(&mut ws).await;
        if m["config"] == on_1["config"] {
            break m;
        }
    };
    assert_eq!(version(&pushed), version(&on_1));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_failing_over_gets_nothing_if_current_and_exactly_the_current_config_if_not() {
    let c = three_nodes().await;
    let n = jump_network(&c).await;
    let mut ws = connect_to(&c, 1, &n.token).await;
    hello(&mut ws, &wg_key(7), 0).await;
    let first = config_at_connect(&mut ws).await;
    ws.close(None).await.ok();
    drop(ws);

    // Node 2 renders the same config: it sends nothing before the marker change.
    let mut ws = connect_to(&c, 2, &n.token).await;
    hello_holding(&mut ws, &wg_key(7), &first).await;
    nothing_sent_before(
        &mut ws,
        "failover holding the current config",
        || mark_upstreams(&c, &n.nid, "192.0.2.60"),
        |m| has_upstream(m, "192.0.2.60"),
    )
    .await;
    ws.close(None).await.ok();
    drop(ws);

    // Holding the first (older) config, the agent gets exactly the current one from node 3.
    let mut ws = connect_to(&c, 3, &n.token).await;
    hello_holding(&mut ws, &wg_key(7), &first).await;
    let got = config_at_connect(&mut ws).await;
    let current = http_config(&c, 3, &n.token).await;
    assert_eq!(got, current);
    assert!(has_upstream(&got, "192.0.2.60"), "{got}");
    nothing_sent_before(
        &mut ws,
        "after the current config",
        || mark_upstreams(&c, &n.nid, "192.0.2.61"),
        |m| has_upstream(m, "192.0.2.61"),
    )
    .await;
    c.shutdown().await;
}

// ------------------------------------------------------------------ status on every node

async fn status(ws: &mut Ws, applied_version: u64, errors: Value) {
    let msg = json!({"type": "status", "applied_version": applied_version, "ok": errors == json!([]), "errors": errors});
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .unwrap();
}

/// The peer's `agent` field as node `node` shows it, once `pred` holds.
async fn agent_on(
    c: &Cluster,
    node: u64,
    nid: &str,
    pid: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(Duration::from_secs(10), || async {
        let (status, peer) = c.get(node, &format!("/networks/{nid}/peers/{pid}")).await;
        assert_eq!(status, 200, "{peer}");
        pred(&peer["agent"]).then(|| peer["agent"].clone())
    })
    .await
}

fn last_applied(v: &Value) -> u64 {
    v["last_applied"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agents_status_is_visible_from_any_node() {
    let c = three_nodes().await;
    let n = jump_network(&c).await;
    let laptop = c
        .create(
            &format!("/networks/{}/peers", n.nid),
            json!({"name": "laptop", "public_key": wg_key(8)}),
        )
        .await;
    let (_, list) = c.get(2, &format!("/networks/{}/peers", n.nid)).await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["agent"].is_null()),
        "never connected, or static: {list}"
    );

    let mut ws = connect_to(&c, 1, &n.token).await;
    hello(&mut ws, &wg_key(7), 0).await;
    let cfg = config_at_connect(&mut ws).await;
    let agent = agent_on(&c, 2, &n.nid, &n.jump, |a| a["connected"] == true).await;
    assert_eq!(agent["node_id"], 1, "{agent}");
    assert!(agent["since"].is_string(), "{agent}");
    assert_eq!(agent["errors"], json!([]), "{agent}");

    status(
        &mut ws,
        version(&cfg),
        json!([{"module": "firewall", "message": "iptables-restore failed"}]),
    )
    .await;
    let agent = agent_on(&c, 3, &n.nid, &n.jump, |a| {
        a["applied_version"] == version(&cfg)
    })
    .await;
    assert_eq!(
        agent["errors"],
        json!([{"module": "firewall", "message": "iptables-restore failed"}])
    );
    let (_, static_peer) = c
        .get(3, &format!("/networks/{}/peers/{}", n.nid, id_of(&laptop)))
        .await;
    assert_eq!(static_peer["agent"], Value::Null);

    ws.close(None).await.ok();
    drop(ws);
    let agent = agent_on(&c, 2, &n.nid, &n.jump, |a| a["connected"] == false).await;
    assert_eq!(agent["node_id"], 1);
    assert_eq!(
        agent["applied_version"],
        version(&cfg),
        "kept after the disconnect"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_status_messages_are_written_once() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let mut ws = connect(&c, &n.token).await;
    hello(&mut ws, &wg_key(7), 0).await;
    let cfg = config_at_connect(&mut ws).await;
    let v = version(&cfg);
    status(&mut ws, v, json!([])).await;
    agent_on(&c, 1, &n.nid, &n.jump, |a| a["applied_version"] == v).await;
    // The node's own one background write (its bootstrap admin token) is done first.
    wait_for(Duration::from_secs(10), || async {
        let pending = &c.node(1).handle.app.admin_pending;
        (!pending.load(std::sync::atomic::Ordering::Acquire)).then_some(())
    })
    .await;
    let (_, before) = c.get(1, "/cluster").await;

    for _ in 0..100 {
        status(&mut ws, v, json!([])).await;
    }
    // The connection handles its messages in order: once this change is visible, the 100
    // identical ones before it were handled.
    status(&mut ws, v, json!([{"module": "dns", "message": "marker"}])).await;
    agent_on(&c, 1, &n.nid, &n.jump, |a| {
        a["errors"][0]["message"] == "marker"
    })
    .await;
    let (_, after) = c.get(1, "/cluster").await;
    assert!(
        last_applied(&after) - last_applied(&before) <= 1,
        "100 identical statuses wrote entries: {before} -> {after}"
    );
    c.shutdown().await;
}

/// Three nodes and a jump whose agent connected to node 3, which then stopped (writing
/// nothing of the connection's end).
async fn jump_agent_on_stopped_node_3() -> (Cluster, Net) {
    let mut c = three_nodes().await;
    let n = jump_network(&c).await;
    let mut ws = connect_to(&c, 3, &n.token).await;
    hello(&mut ws, &wg_key(7), 0).await;
    config_at_connect(&mut ws).await;
    agent_on(&c, 1, &n.nid, &n.jump, |a| {
        a["connected"] == true && a["node_id"] == 3
    })
    .await;

    c.stop(3).await;
    drop(ws);
    (c, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_node_marks_the_agents_it_lost_disconnected() {
    let (mut c, n) = jump_agent_on_stopped_node_3().await;
    let (_, peer) = c
        .get(1, &format!("/networks/{}/peers/{}", n.nid, n.jump))
        .await;
    assert_eq!(
        peer["agent"]["connected"], true,
        "a stopped node writes nothing: the state still shows the agent on it"
    );
    c.start(3).await;
    let agent = agent_on(&c, 1, &n.nid, &n.jump, |a| a["connected"] == false).await;
    assert_eq!(agent["node_id"], 3);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removing_a_stopped_node_marks_its_agents_disconnected() {
    let (c, n) = jump_agent_on_stopped_node_3().await;
    let (status, body) = c.delete(1, "/cluster/members/3").await;
    assert!((200..300).contains(&status), "{status} {body}");
    // Node 3 never comes back to sweep its sessions: the cluster does it on its behalf.
    let agent = agent_on(&c, 2, &n.nid, &n.jump, |a| a["connected"] == false).await;
    assert_eq!(agent["node_id"], 3, "{agent}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_without_a_leader_for_the_limit_sends_its_agents_away() {
    let mut c = Cluster::new();
    c.timing.leaderless_limit_ms = 2000;
    c.start(1).await;
    c.leader().await;
    c.start(2).await;
    c.start(3).await;
    c.wait_voter(2).await;
    c.wait_voter(3).await;
    let leader = c.leader().await;
    let lonely = [1, 2, 3].into_iter().find(|i| *i != leader).unwrap();
    let n = jump_network(&c).await;
    let mut ws = connect_to(&c, lonely, &n.token).await;
    hello(&mut ws, &wg_key(7), 0).await;
    config_at_connect(&mut ws).await;

    for id in [1, 2, 3].into_iter().filter(|i| *i != lonely) {
        c.stop(id).await;
    }
    let cut = tokio::time::Instant::now();
    // No leader after the election timeout (at most 0.6 s here), then 2 s more.
    match next(&mut ws, Duration::from_secs(15)).await {
        Next::Closed => {}
        other => panic!("the agent should be sent away, got {other:?}"),
    }
    assert!(
        cut.elapsed() >= Duration::from_secs(2),
        "sent away after {:?}, before the limit",
        cut.elapsed()
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_agent_status_of_a_peer() {
    let c = Cluster::single().await;
    let doc = c
        .send(1, Method::GET, "/api/v1/openapi.json", None, &[], None)
        .await
        .json();
    let schemas = &doc["components"]["schemas"];
    // The peer's own fields, and the agent's status next to them.
    let view = schemas["PeerView"].to_string();
    assert!(
        view.contains("#/components/schemas/Peer\"") && view.contains("\"agent\""),
        "{view}"
    );
    let status = &schemas["AgentView"]["properties"];
    for field in ["connected", "node_id", "since", "applied_version", "errors"] {
        assert!(!status[field].is_null(), "AgentView.{field}: {status}");
    }
    let get = &doc["paths"]["/api/v1/networks/{nid}/peers/{pid}"]["get"]["responses"]["200"];
    assert!(get.to_string().contains("PeerView"), "{get}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_through_another_jump_is_not_pushed_to_this_jump() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let other = c
        .create(
            &format!("/networks/{}/peers", n.nid),
            json!({"name": "jump-b", "is_jump": true, "public_key": wg_key(30), "endpoint": "b.example.com"}),
        )
        .await;
    let laptop = c
        .create(
            &format!("/networks/{}/peers", n.nid),
            json!({"name": "laptop", "public_key": wg_key(31)}),
        )
        .await;
    let group = c
        .create(
            &format!("/networks/{}/groups", n.nid),
            json!({"name": "lan"}),
        )
        .await;
    let gid = id_of(&group);
    let (status, body) = c
        .put(
            1,
            &format!("/networks/{}/groups/{gid}/peers/{}", n.nid, id_of(&laptop)),
        )
        .await;
    assert!(status == 204 || status == 200, "{body}");
    let mut ws = connect(&c, &n.token).await;
    hello(&mut ws, &wg_key(7), 0).await;
    config_at_connect(&mut ws).await;

    // A route through jump B for the laptop's group: B's and the laptop's configs change.
    let route = c
        .create(
            &format!("/networks/{}/routes", n.nid),
            json!({"name": "office", "destination_cidr": "192.168.60.0/24", "jump_peer_id": id_of(&other)}),
        )
        .await;
    let (status, body) = c
        .put(
            1,
            &format!("/networks/{}/groups/{gid}/routes/{}", n.nid, id_of(&route)),
        )
        .await;
    assert!(status == 204 || status == 200, "{body}");
    nothing_sent_before(
        &mut ws,
        "another jump's route",
        || mark_upstreams(&c, &n.nid, "192.0.2.70"),
        |m| has_upstream(m, "192.0.2.70"),
    )
    .await;
    c.shutdown().await;
}

/// Hello from an agent that accepts deltas.
async fn hello_with_deltas(ws: &mut Ws, key: &str) {
    let msg = json!({"type": "hello", "public_key": key, "hostname": "h", "applied_version": 0,
        "features": ["delta"]});
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .unwrap();
}

fn agent_config(msg: &Value) -> raftwire_api::agent::AgentConfig {
    serde_json::from_value(msg["config"].clone()).expect("an agent config")
}

/// The next message, which must be a delta: applied to `held`, with its version.
async fn delta_onto(
    ws: &mut Ws,
    held: &(u64, raftwire_api::agent::AgentConfig),
) -> (u64, raftwire_api::agent::AgentConfig) {
    let msg = match next(ws, PUSH).await {
        Next::Text(v) => v,
        other => panic!("expected a delta, got {other:?}"),
    };
    assert_eq!(msg["type"], "delta", "{msg}");
    assert_eq!(
        msg["base"].as_u64(),
        Some(held.0),
        "the base is what the agent holds: {msg}"
    );
    let delta: raftwire_api::delta::ConfigDelta =
        serde_json::from_value(msg["delta"].clone()).expect("a config delta");
    (
        version(&msg),
        delta
            .apply(&held.1)
            .expect("the delta fits the config held"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_accepting_deltas_gets_changes_as_deltas_that_yield_exactly_the_whole_config() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let mut ws = connect(&c, &n.token).await;
    hello_with_deltas(&mut ws, &wg_key(7)).await;
    // The first config is whole: the node knows nothing the agent holds.
    let first = config_at_connect(&mut ws).await;
    let mut held = (version(&first), agent_config(&first));
    for i in 0..3u8 {
        c.create(
            &format!("/networks/{}/peers", n.nid),
            json!({"name": format!("laptop{i}"), "public_key": wg_key(20 + i)}),
        )
        .await;
        held = delta_onto(&mut ws, &held).await;
        // What the node would send whole is the same config, under the same version.
        let whole = http_config(&c, 1, &n.token).await;
        assert_eq!((version(&whole), agent_config(&whole)), held);
    }
    // Reconnecting while holding the current config (as after a failover): nothing is sent.
    ws = connect(&c, &n.token).await;
    let hello = json!({"type": "hello", "public_key": wg_key(7), "hostname": "h",
        "applied_version": held.0, "features": ["delta"],
        "config_hash": raftwire_api::protocol::config_fingerprint(&held.1)});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    // The hub takes a new connection within milliseconds, and sends nothing to an agent that
    // holds the current config: nothing to wait on but time. (A change before that would be
    // sent whole, which is correct too, but not what this test is about.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Deltas build on the config the hello proved the agent holds.
    c.patch(
        1,
        &format!("/networks/{}", n.nid),
        json!({"dns_servers": ["9.9.9.9"]}),
    )
    .await;
    let after = delta_onto(&mut ws, &held).await;
    assert_eq!(
        after.1.dns.as_ref().unwrap().upstreams,
        ["9.9.9.9".parse::<std::net::IpAddr>().unwrap()]
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_asking_for_a_resync_gets_its_whole_config() {
    let c = Cluster::single().await;
    let n = jump_network(&c).await;
    let mut ws = connect(&c, &n.token).await;
    hello_with_deltas(&mut ws, &wg_key(7)).await;
    let first = config_at_connect(&mut ws).await;
    ws.send(Message::Text(json!({"type": "resync"}).to_string().into()))
        .await
        .unwrap();
    let again = config(&mut ws).await;
    assert_eq!(agent_config(&again), agent_config(&first));
    // And the next change is a delta against that whole config again.
    c.create(
        &format!("/networks/{}/peers", n.nid),
        json!({"name": "laptop", "public_key": wg_key(30)}),
    )
    .await;
    let held = (version(&again), agent_config(&again));
    let (_, cfg) = delta_onto(&mut ws, &held).await;
    assert!(cfg.peers.iter().any(|p| p.public_key == wg_key(30)));
    c.shutdown().await;
}

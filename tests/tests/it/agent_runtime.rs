//! The real `raftwire-agent` binary against real nodes (in process, loopback): it registers
//! its key, reports its status, follows configuration changes, fails over when its node
//! stops, and converges from its persisted configuration when no node is reachable.
//!
//! They test the runtime (protocol, persistence, failover), not the host modules — but the
//! agent runs all of its modules, so it configures WireGuard, addresses and routes: each test
//! runs inside a network namespace of its own (nodes and agent on its loopback), and so needs
//! root like the other namespace tests.
//!
//! Build the binary first: `cargo build -p raftwire-agent` (same target dir and profile);
//! the tests fail with that hint when it is missing.

use std::time::Duration;

use raftwire_agent::runner::CONVERGED_FROM_PERSISTED;
use raftwire_tests::in_netns;
use raftwire_tests::probe::wait_until_async;
use reqwest::Method;
use serde_json::json;

use crate::common::*;

/// The peer's public key as the API shows it, once it is `expected`.
async fn wait_public_key(c: &Cluster, id: u64, peer: &AgentPeer, expected: &str) {
    wait_until_async(LIMIT, "the agent's public key on its peer", || async {
        let (status, body) = c.request(id, Method::GET, &peer.path(), None).await;
        (status == 200 && body["public_key"] == expected).then_some(())
    })
    .await
}

/// Waits until the persisted config has `listen_port`; its version.
async fn wait_persisted_port(files: &AgentFiles, agent: &mut Agent, port: u16) -> u64 {
    let what = format!("listen_port {port} in the persisted config");
    wait_until_async(LIMIT, &what, || {
        agent.assert_running();
        let applied = files.persisted();
        async move {
            let applied = applied?;
            (applied.config.interface.listen_port == Some(port)).then_some(applied.version)
        }
    })
    .await
}

/// Waits until node `id`'s replicated state has a status from the agent for `version`,
/// connected, without errors.
async fn wait_status(c: &Cluster, id: u64, peer: &AgentPeer, version: u64) {
    let app = c.node(id).handle.app.clone();
    let pid = peer.peer_id();
    wait_until_async(LIMIT, "the agent's status for the version", || async {
        let s = app.with_state(|s| s.agent(pid).cloned()).ok()??;
        (s.applied_version == version && s.connected).then_some(())?;
        assert!(s.errors.is_empty(), "{s:?}");
        Some(())
    })
    .await
}

async fn set_listen_port(c: &Cluster, id: u64, peer: &AgentPeer, port: u16) {
    c.write(
        id,
        Method::PATCH,
        &peer.path(),
        json!({"listen_port": port}),
        200,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_registers_its_key_reports_its_status_and_follows_config_changes() {
    let Some(_ns) =
        in_netns!(an_agent_registers_its_key_reports_its_status_and_follows_config_changes)
    else {
        return;
    };
    let c = Cluster::single().await;
    let peer = agent_peer(&c, 1).await;
    let files = AgentFiles::new(&peer.token);
    let mut agent = files.start(&c.urls(), &[]);

    // The first config arrives and is persisted; the key the agent generated is the peer's.
    let first = wait_until_async(LIMIT, "a persisted config", || async { files.persisted() }).await;
    assert_eq!(first.config.peer_id.to_string(), peer.pid);
    let public = files.public_key().expect("private.key in the state dir");
    wait_public_key(&c, 1, &peer, &public).await;
    assert_eq!(c.node(1).handle.app.hub.connected(), 1);

    // Its status reached the node.
    wait_status(&c, 1, &peer, first.version).await;

    // A change through the API reaches the host.
    set_listen_port(&c, 1, &peer, 51999).await;
    let second = wait_persisted_port(&files, &mut agent, 51999).await;
    assert!(second > first.version, "{second} <= {}", first.version);
    wait_status(&c, 1, &peer, second).await;

    // The private key never appears in what the agent logs.
    let private = std::fs::read_to_string(
        files
            .state_dir()
            .join(raftwire_agent::keys::PRIVATE_KEY_FILE),
    )
    .unwrap();
    let log = agent.log();
    assert!(!log.contains(private.trim()), "the private key was logged");
    assert!(log.contains(&public), "the public key is logged:\n{log}");

    // SIGTERM stops it cleanly; the configuration stays on disk.
    let status = agent.terminate().await;
    assert!(status.success(), "{status}:\n{}", agent.log());
    assert!(agent.log().contains("SIGTERM: stopping"), "{}", agent.log());
    assert_eq!(files.persisted().unwrap().version, second);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_fails_over_when_its_node_stops_and_still_gets_the_next_change() {
    let Some(_ns) =
        in_netns!(an_agent_fails_over_when_its_node_stops_and_still_gets_the_next_change)
    else {
        return;
    };
    let mut c = Cluster::three().await;
    let peer = agent_peer(&c, 1).await;
    let files = AgentFiles::new(&peer.token);
    let mut agent = files.start(&c.urls(), &[]);
    let first = wait_until_async(LIMIT, "a persisted config", || async { files.persisted() }).await;
    let public = files.public_key().unwrap();
    wait_public_key(&c, 1, &peer, &public).await;

    let connected_to = |c: &Cluster| {
        c.running()
            .filter(|n| n.handle.app.hub.connected() == 1)
            .map(|n| n.id)
            .collect::<Vec<_>>()
    };
    let before = wait_until_async(LIMIT, "the agent connected to one node", || async {
        let ids = connected_to(&c);
        (ids.len() == 1).then(|| ids[0])
    })
    .await;
    wait_status(&c, before, &peer, first.version).await;

    c.stop(before).await;
    let after = wait_until_async(LIMIT, "the agent connected to another node", || async {
        let ids = connected_to(&c);
        (ids.len() == 1).then(|| ids[0])
    })
    .await;
    assert_ne!(after, before);
    agent.assert_running();

    // The next change, written through the node it is connected to now, reaches it.
    set_listen_port(&c, after, &peer, 52001).await;
    let version = wait_persisted_port(&files, &mut agent, 52001).await;
    assert!(version > first.version);
    wait_status(&c, after, &peer, version).await;
    assert!(
        agent.log().contains("reconnecting to"),
        "the failover is logged:\n{}",
        agent.log()
    );
    drop(agent);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_started_while_no_node_is_reachable_converges_to_its_persisted_config() {
    let Some(_ns) =
        in_netns!(an_agent_started_while_no_node_is_reachable_converges_to_its_persisted_config)
    else {
        return;
    };
    let c = Cluster::single().await;
    let urls = c.urls();
    let peer = agent_peer(&c, 1).await;
    let files = AgentFiles::new(&peer.token);
    let mut agent = files.start(&urls, &[]);
    let held = wait_until_async(LIMIT, "a persisted config", || async { files.persisted() }).await;
    assert!(agent.terminate().await.success(), "{}", agent.log());
    // The whole control plane goes away.
    c.shutdown().await;

    let mut again = files.start(&urls, &[]);
    again
        .wait_log(
            &format!("{CONVERGED_FROM_PERSISTED} (version {})", held.version),
            LIMIT,
        )
        .await;
    // It keeps running and keeps trying the (dead) node.
    again.wait_log("reconnecting to", LIMIT).await;
    again.assert_running();
    assert_eq!(files.persisted().unwrap(), held, "the state is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_given_the_clusters_ca_connects_over_wss() {
    let Some(_ns) = in_netns!(an_agent_given_the_clusters_ca_connects_over_wss) else {
        return;
    };
    let mut c = Cluster::new();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert_pem = c.dir.path().join("cert.pem");
    let key_pem = c.dir.path().join("key.pem");
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.signing_key.serialize_pem()).unwrap();
    c.tls = Some((cert_pem.clone(), key_pem));
    c.http = raftwire_node::tls::http_client(Some(&cert_pem), Duration::from_secs(5)).unwrap();
    c.start(1).await;
    c.leader().await;
    let urls = c.urls();
    assert!(urls[0].starts_with("https://"), "{urls:?}");
    let peer = agent_peer(&c, 1).await;
    let files = AgentFiles::new(&peer.token);
    let _agent = files.start(&urls, &["--ca-cert", cert_pem.to_str().unwrap()]);
    let applied =
        wait_until_async(LIMIT, "a persisted config", || async { files.persisted() }).await;
    wait_public_key(&c, 1, &peer, &files.public_key().unwrap()).await;
    wait_status(&c, 1, &peer, applied.version).await;
    c.shutdown().await;
}

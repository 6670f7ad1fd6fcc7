//! HTTPS for the API and node-to-node traffic (`--tls-cert`/`--tls-key`/`--tls-ca`): a
//! two-node cluster whose Raft, forwarded writes and join all run over TLS with a
//! self-signed certificate, and a client that does not trust it is refused.

use std::time::Duration;

use crate::common::{test_timing, wait_for};
use raftwire_node::{start, NodeArgs};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_runs_over_https_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let (cert_pem, key_pem) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.signing_key.serialize_pem()).unwrap();

    // Port 0: each node advertises the port it was given.
    let config = |id: u64, join: Option<String>| {
        let mut cfg = NodeArgs {
            id,
            data_dir: dir.path().join(format!("node{id}")),
            listen: "127.0.0.1:0".parse().unwrap(),
            advertise: None,
            admin_token_file: None,
            cluster_secret_file: Some(dir.path().join("secret")),
            bootstrap: join.is_none(),
            join,
            tls_cert: Some(cert_pem.clone()),
            tls_key: Some(key_pem.clone()),
            tls_ca: None,
            snapshot_every: 10_000,
        }
        .resolve();
        cfg.raft = test_timing();
        cfg
    };
    let n1 = start(config(1, None)).await.unwrap();
    assert!(
        n1.app.advertise.starts_with("https://"),
        "{}",
        n1.app.advertise
    );
    assert_eq!(n1.app.advertise, format!("https://{}", n1.local_addr));
    let n2 = start(config(2, Some(n1.app.advertise.clone())))
        .await
        .unwrap();
    wait_for(Duration::from_secs(20), || async {
        let m = n1.app.raft.metrics().borrow().membership_config.clone();
        m.membership().voter_ids().any(|v| v == 2).then_some(())
    })
    .await;

    let ports = [n1.local_addr.port(), n2.local_addr.port()];
    let client = raftwire_node::tls::http_client(Some(&cert_pem), Duration::from_secs(2)).unwrap();
    let token = n1.admin_token.clone();
    // Written through node 2 (forwarded to the leader over HTTPS), read back from node 1.
    let created: Value = wait_for(Duration::from_secs(10), || async {
        let r = client
            .post(format!("https://127.0.0.1:{}/api/v1/networks", ports[1]))
            .bearer_auth(&token)
            .json(&json!({"name": "tls", "ipv4_cidr": "10.30.0.0/24"}))
            .send()
            .await
            .ok()?;
        (r.status().as_u16() == 201).then_some(())?;
        r.json().await.ok()
    })
    .await;
    let nid = created["id"].as_str().unwrap();
    let got: Value = client
        .get(format!(
            "https://127.0.0.1:{}/api/v1/networks/{nid}",
            ports[0]
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["name"], "tls");

    // A client that does not trust the certificate gets no answer; plain HTTP neither.
    let untrusting = raftwire_node::tls::http_client(None, Duration::from_secs(2)).unwrap();
    assert!(untrusting
        .get(format!("https://127.0.0.1:{}/healthz", ports[0]))
        .send()
        .await
        .is_err());
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", ports[0]))
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    n2.shutdown().await;
    n1.shutdown().await;
}

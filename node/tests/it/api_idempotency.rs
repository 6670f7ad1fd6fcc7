//! `Idempotency-Key`: a write retried with the same key (say, after a 503 whose outcome was
//! unknown) applies once and answers what the first one did — through any node.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn write(
    c: &Cluster,
    node: u64,
    method: Method,
    path: &str,
    key: &str,
    body: Value,
) -> Answer {
    let auth = format!("Bearer {}", c.token);
    let body = serde_json::to_vec(&body).unwrap();
    c.send(
        node,
        method,
        &format!("/api/v1{path}"),
        Some(&auth),
        &[("idempotency-key", key)],
        Some(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_creation_applies_once_and_answers_the_first_result() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "idem", "ipv4_cidr": "10.7.0.0/24"}),
        )
        .await;
    let peers = format!("/networks/{}/peers", id_of(&net));

    let first = write(
        &c,
        1,
        Method::POST,
        &peers,
        "create-laptop-1",
        json!({"name": "laptop", "use_agent": true}),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = write(
        &c,
        1,
        Method::POST,
        &peers,
        "create-laptop-1",
        json!({"name": "laptop", "use_agent": true}),
    )
    .await;
    assert_eq!(
        again.status, 201,
        "a retry is not a name_taken: {}",
        again.text
    );
    let (a, b) = (first.json(), again.json());
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["ipv4_address"], b["ipv4_address"]);
    assert!(
        a["agent_token"].is_string(),
        "the first answer shows the token"
    );
    assert!(
        b.get("agent_token").is_none(),
        "the token is shown once, not again: {b}"
    );
    let (_, list) = c.get(1, &peers).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // The first agent token is the one that works.
    let token = a["agent_token"].as_str().unwrap();
    let cfg = c
        .send(
            1,
            Method::GET,
            "/api/v1/agent/config",
            Some(&format!("Bearer {token}")),
            &[],
            None,
        )
        .await;
    assert_eq!(cfg.status, 200, "{}", cfg.text);

    // A rule added under one key is added once.
    let policy = c
        .create(
            &format!("/networks/{}/policies", id_of(&net)),
            json!({"name": "web"}),
        )
        .await;
    let rules = format!(
        "/networks/{}/policies/{}/rules",
        id_of(&net),
        id_of(&policy)
    );
    let rule = json!({"direction": "output", "action": "allow", "target_type": "any"});
    for _ in 0..3 {
        let r = write(&c, 1, Method::POST, &rules, "add-any", rule.clone()).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let (_, p) = c
        .get(
            1,
            &format!("/networks/{}/policies/{}", id_of(&net), id_of(&policy)),
        )
        .await;
    assert_eq!(p["rules"].as_array().unwrap().len(), 1, "{p}");

    // The key is per method and path: the same key elsewhere is another write.
    let other = write(
        &c,
        1,
        Method::POST,
        &peers,
        "add-any",
        json!({"name": "phone"}),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.text);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_secret_is_not_shown_again_and_bad_keys_are_refused() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "idem", "ipv4_cidr": "10.7.0.0/24"}),
        )
        .await;
    let jump = c
        .create(
            &format!("/networks/{}/peers", id_of(&net)),
            json!({"name": "jump", "is_jump": true}),
        )
        .await;
    let rotate = format!("/networks/{}/peers/{}/token", id_of(&net), id_of(&jump));
    let first = write(&c, 1, Method::POST, &rotate, "rotate-1", json!({})).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = write(&c, 1, Method::POST, &rotate, "rotate-1", json!({})).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.json()["code"], "in_use");
    let token = first.json()["agent_token"].as_str().unwrap().to_string();
    let cfg = c
        .send(
            1,
            Method::GET,
            "/api/v1/agent/config",
            Some(&format!("Bearer {token}")),
            &[],
            None,
        )
        .await;
    assert_eq!(
        cfg.status, 200,
        "the first rotation's token stays valid: {}",
        cfg.text
    );

    for bad in ["", "has space", &"k".repeat(256)] {
        let r = write(
            &c,
            1,
            Method::POST,
            "/networks",
            bad,
            json!({"name": "x", "ipv4_cidr": "10.8.0.0/24"}),
        )
        .await;
        assert_eq!(r.status, 400, "{bad:?}: {}", r.text);
        assert_eq!(r.json()["field"], "Idempotency-Key");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_through_another_node_answers_the_same() {
    let mut c = Cluster::new();
    c.start(1).await;
    c.leader().await;
    c.start(2).await;
    c.wait_voter(2).await;
    let (_, net) = c
        .post(
            1,
            "/networks",
            json!({"name": "idem", "ipv4_cidr": "10.7.0.0/24"}),
        )
        .await;
    let peers = format!("/networks/{}/peers", id_of(&net));
    let a = write(&c, 2, Method::POST, &peers, "k", json!({"name": "laptop"})).await;
    let b = write(&c, 1, Method::POST, &peers, "k", json!({"name": "laptop"})).await;
    assert_eq!((a.status, b.status), (201, 201), "{} / {}", a.text, b.text);
    assert_eq!(a.json()["id"], b.json()["id"]);
    c.shutdown().await;
}

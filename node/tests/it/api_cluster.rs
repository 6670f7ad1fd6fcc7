//! `/cluster` status and membership administration, and `/snapshot` backup and restore,
//! through the HTTP API of a single node (multi-node behaviour is in `cluster.rs`).

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn member_ids(status: &Value) -> Vec<u64> {
    status["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members: {status}"))
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_status_names_this_node_the_leader_and_its_members() {
    let c = Cluster::single().await;
    c.create(
        "/networks",
        json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
    )
    .await;
    let (status, s) = c.get(1, "/cluster").await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["node_id"], 1);
    assert_eq!(s["leader_id"], 1);
    assert!(s["term"].as_u64().unwrap() >= 1, "{s}");
    let commit = s["commit_index"].as_u64().unwrap();
    let applied = s["last_applied"].as_u64().unwrap();
    assert!(applied >= 2 && applied <= commit, "{s}");
    assert_eq!(
        s["members"],
        json!([{"id": 1, "addr": c.node(1).url, "voter": true}])
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_member_makes_it_a_learner_listed_in_the_status() {
    let c = Cluster::single().await;
    let a = c
        .admin(
            Method::POST,
            "/cluster/members",
            Some(json!({"id": 9, "addr": "http://127.0.0.1:9/"})),
        )
        .await;
    assert_eq!(a.status, 202, "{a}");
    let (_, s) = c.get(1, "/cluster").await;
    let nine = s["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == 9)
        .unwrap_or_else(|| panic!("{s}"))
        .clone();
    assert_eq!(
        nine,
        json!({"id": 9, "addr": "http://127.0.0.1:9", "voter": false})
    );
    // The cluster keeps serving writes with an unreachable learner.
    c.create(
        "/networks",
        json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
    )
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_learner_removes_it_from_the_members() {
    let c = Cluster::single().await;
    let a = c
        .admin(
            Method::POST,
            "/cluster/members",
            Some(json!({"id": 9, "addr": "http://127.0.0.1:9"})),
        )
        .await;
    assert_eq!(a.status, 202, "{a}");
    let (status, body) = c.delete(1, "/cluster/members/9").await;
    assert_eq!(status, 204, "{body}");
    let (_, s) = c.get(1, "/cluster").await;
    assert_eq!(member_ids(&s), [1], "{s}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promoting_an_unknown_node_is_a_4xx_problem_and_changes_nothing() {
    let c = Cluster::single().await;
    let a = c
        .admin(Method::POST, "/cluster/members/77/promote", None)
        .await;
    assert!(a.status == 400 || a.status == 404, "{a}");
    assert!(
        a.content_type().starts_with("application/problem+json"),
        "{a}"
    );
    let (_, s) = c.get(1, "/cluster").await;
    assert_eq!(member_ids(&s), [1]);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_unknown_node_is_404() {
    let c = Cluster::single().await;
    let a = c.admin(Method::DELETE, "/cluster/members/77", None).await;
    assert_problem(&a, 404, "not_found", None);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_last_voter_is_refused_and_the_cluster_keeps_working() {
    let c = Cluster::single().await;
    let a = c.admin(Method::DELETE, "/cluster/members/1", None).await;
    assert!((400..500).contains(&a.status), "{a}");
    assert!(
        a.content_type().starts_with("application/problem+json"),
        "{a}"
    );
    let (_, s) = c.get(1, "/cluster").await;
    assert_eq!(
        s["members"],
        json!([{"id": 1, "addr": c.node(1).url, "voter": true}])
    );
    c.create(
        "/networks",
        json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
    )
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_saved_over_http_restores_the_state_it_was_taken_from() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ip_stack_mode": "dual", "ipv4_cidr": "10.1.0.0/24", "ipv6_cidr": "fd01::/64"}),
        )
        .await;
    let nid = id_of(&net);
    c.create(&format!("/networks/{nid}/peers"), json!({"name": "laptop"}))
        .await;
    let saved = c.admin(Method::GET, "/snapshot", None).await;
    assert_eq!(saved.status, 200, "{}", saved.status);
    assert!(
        saved.content_type().starts_with("application/octet-stream"),
        "{}",
        saved.content_type()
    );
    // `text` is lossy for binary; fetch the bytes themselves.
    let bytes = c
        .http
        .get(format!("{}/api/v1/snapshot", c.node(1).url))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert!(!bytes.is_empty());
    let (_, before) = c.get(1, &format!("/networks/{nid}/peers")).await;

    // Changes after the backup...
    c.create(
        "/networks",
        json!({"name": "later", "ipv4_cidr": "10.2.0.0/24"}),
    )
    .await;
    c.delete(
        1,
        &format!("/networks/{nid}/peers/{}", id_of(&before["items"][0])),
    )
    .await;
    // ...are undone by the restore.
    let auth = format!("Bearer {}", c.token);
    let a = c
        .send(
            1,
            Method::POST,
            "/api/v1/snapshot",
            Some(&auth),
            &[],
            Some(bytes),
        )
        .await;
    assert_eq!(a.status, 204, "{a}");
    let (_, list) = c.get(1, "/networks").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["corp"]);
    let (_, after) = c.get(1, &format!("/networks/{nid}/peers")).await;
    assert_eq!(after, before);

    // Garbage is not a backup.
    let a = c
        .send(
            1,
            Method::POST,
            "/api/v1/snapshot",
            Some(&auth),
            &[],
            Some(b"not a backup".to_vec()),
        )
        .await;
    assert_problem(&a, 400, "malformed_body", None);
    c.shutdown().await;
}

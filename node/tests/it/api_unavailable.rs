//! 503 `no_leader` with `Retry-After` when a node cannot reach a quorum, and local
//! reads that still work without one.

use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::Method;
use serde_json::json;

/// A problem answer must arrive within this time instead of the request hanging.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

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

async fn answer(
    c: &Cluster,
    id: u64,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Answer {
    let auth = format!("Bearer {}", c.token);
    let body = body.map(|b| serde_json::to_vec(&b).unwrap());
    let started = Instant::now();
    let a = tokio::time::timeout(
        ANSWER_WITHIN,
        c.send(
            id,
            method.clone(),
            &format!("/api/v1{path}"),
            Some(&auth),
            &[],
            body,
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("{method} {path} on node {id}: no answer within {ANSWER_WITHIN:?}"));
    eprintln!(
        "{method} {path} on node {id}: {} after {:?}",
        a.status,
        started.elapsed()
    );
    a
}

#[track_caller]
fn assert_503(a: &Answer) {
    assert_503_code(a, "no_leader");
}

fn assert_503_code(a: &Answer, code: &str) {
    assert_problem(a, 503, code, None);
    assert!(
        a.header("retry-after").parse::<u64>().is_ok(),
        "Retry-After: {a}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_peers_are_gone_answers_503_no_leader_and_still_serves_local_reads() {
    let mut c = three_nodes().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let nid = id_of(&net);
    let leader = c.leader().await;
    let survivor = [1, 2, 3].into_iter().find(|i| *i != leader).unwrap();
    // Wait until the survivor has the network, then take the others away.
    wait_for(Duration::from_secs(10), || async {
        let a = c
            .send(
                survivor,
                Method::GET,
                &format!("/api/v1/networks/{nid}?consistency=local"),
                Some(&format!("Bearer {}", c.token)),
                &[],
                None,
            )
            .await;
        (a.status == 200).then_some(())
    })
    .await;
    for id in [1, 2, 3] {
        if id != survivor {
            c.stop(id).await;
        }
    }

    let a = answer(
        &c,
        survivor,
        Method::POST,
        &format!("/networks/{nid}/peers"),
        Some(json!({"name": "laptop"})),
    )
    .await;
    assert_503(&a);
    let a = answer(&c, survivor, Method::GET, &format!("/networks/{nid}"), None).await;
    assert_503(&a);
    let a = answer(
        &c,
        survivor,
        Method::GET,
        &format!("/networks/{nid}?consistency=local"),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{a}");
    assert_eq!(a.json()["name"], "corp");
    // Once its election timeout passes it knows no leader: not ready.
    wait_for(Duration::from_secs(10), || async {
        let ready = c
            .send(survivor, Method::GET, "/readyz", None, &[], None)
            .await;
        (ready.status == 503).then_some(())
    })
    .await;
    c.shutdown().await;
}

/// A cluster whose leader is the only node left running: (cluster, leader, network id).
async fn isolated_leader() -> (Cluster, u64, String) {
    let mut c = three_nodes().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let leader = c.leader().await;
    for id in [1, 2, 3] {
        if id != leader {
            c.stop(id).await;
        }
    }
    (c, leader, id_of(&net))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_lost_its_quorum_answers_linearizable_reads_with_503() {
    let (c, leader, nid) = isolated_leader().await;
    let a = answer(&c, leader, Method::GET, &format!("/networks/{nid}"), None).await;
    assert_503(&a);
    let a = answer(&c, leader, Method::GET, "/networks?consistency=local", None).await;
    assert_eq!(a.status, 200, "{a}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_lost_its_quorum_answers_writes_with_503_instead_of_hanging() {
    let (c, leader, nid) = isolated_leader().await;
    let a = answer(
        &c,
        leader,
        Method::POST,
        &format!("/networks/{nid}/peers"),
        Some(json!({"name": "laptop"})),
    )
    .await;
    // The entry is in the isolated leader's log and may yet commit (should the others come
    // back): the outcome is unknown, which a client must know before it retries.
    assert_503_code(&a, "outcome_unknown");
    c.shutdown().await;
}

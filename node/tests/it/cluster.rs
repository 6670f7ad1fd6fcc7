//! A 3-node cluster on loopback in one process (issue 4): writes through followers, reads
//! from any node, leader loss, restart and catch-up, snapshot install for a node added after
//! a log purge, removal, and address uniqueness under concurrent creation on every node.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

const V4: &str = "10.20.0.0/16";
const V6: &str = "fd20::/64";

async fn three_nodes() -> Cluster {
    start_three(Cluster::new()).await
}

/// Starts nodes 1 to 3 of `c` and waits until all are voters.
async fn start_three(mut c: Cluster) -> Cluster {
    c.start(1).await;
    c.leader().await;
    c.start(2).await;
    c.start(3).await;
    c.wait_voter(2).await;
    c.wait_voter(3).await;
    c
}

/// Creates an IPv4 network named `name` and `peers` peers in it, one write at a time through
/// nodes 1, 2 and 3 in turn; the network's id.
async fn network_with_peers(c: &Cluster, name: &str, peers: u64) -> String {
    let (status, net) = c
        .post(1, "/networks", json!({"name": name, "ipv4_cidr": V4}))
        .await;
    assert_eq!(status, 201);
    let nid = net["id"].as_str().unwrap().to_string();
    for i in 0..peers {
        let (status, body) = c
            .post(
                1 + i % 3,
                &format!("/networks/{nid}/peers"),
                json!({"name": format!("p{i}")}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    nid
}

fn state_bytes(c: &Cluster, id: u64) -> Vec<u8> {
    c.node(id)
        .handle
        .app
        .with_state(|s| bincode::serde::encode_to_vec(s, bincode::config::standard()).unwrap())
        .unwrap()
}

async fn same_state_everywhere(c: &Cluster, ids: &[u64]) {
    wait_for(Duration::from_secs(20), || async {
        let first = state_bytes(c, ids[0]);
        ids.iter()
            .all(|id| state_bytes(c, *id) == first)
            .then_some(())
    })
    .await
}

fn follower_of(leader: u64, ids: &[u64]) -> u64 {
    *ids.iter().find(|i| **i != leader).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_node_cluster_serves_writes_from_any_node_and_survives_leader_loss() {
    let mut c = three_nodes().await;
    let leader = c.leader().await;
    let follower = follower_of(leader, &[1, 2, 3]);
    let third = [1, 2, 3]
        .into_iter()
        .find(|i| *i != leader && *i != follower)
        .unwrap();

    // A write through a follower, read back from the third node (linearizable by default).
    let (status, net) = c
        .post(
            follower,
            "/networks",
            json!({"name": "corp", "ip_stack_mode": "dual", "ipv4_cidr": V4, "ipv6_cidr": V6}),
        )
        .await;
    assert_eq!(status, 201, "{net}");
    let nid = net["id"].as_str().unwrap().to_string();
    let (status, got) = c.get(third, &format!("/networks/{nid}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "corp");
    // A domain error travels back through the forwarding node intact.
    let (status, err) = c
        .post(
            follower,
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.99.0.0/24"}),
        )
        .await;
    assert_eq!((status, err["code"].as_str()), (409, Some("name_taken")));

    // Kill the leader: another is elected and writes continue through the survivors.
    c.stop(leader).await;
    let survivors: Vec<u64> = [1, 2, 3].into_iter().filter(|i| *i != leader).collect();
    let new_leader = c.leader().await;
    assert_ne!(new_leader, leader);
    for (i, id) in survivors.iter().enumerate() {
        let (status, body) = c
            .post(
                *id,
                &format!("/networks/{nid}/peers"),
                json!({"name": format!("after-{i}")}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // The killed node restarts from its data dir and catches up.
    c.start(leader).await;
    same_state_everywhere(&c, &[1, 2, 3]).await;
    let (status, peers) = c.get(leader, &format!("/networks/{nid}/peers")).await;
    assert_eq!(status, 200);
    assert_eq!(peers["items"].as_array().unwrap().len(), 2);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_peer_creation_through_every_node_never_duplicates_an_address() {
    let c = three_nodes().await;
    let (status, net) = c
        .post(
            1,
            "/networks",
            json!({"name": "race", "ip_stack_mode": "dual", "ipv4_cidr": V4, "ipv6_cidr": V6}),
        )
        .await;
    assert_eq!(status, 201);
    let nid = net["id"].as_str().unwrap().to_string();
    let c = std::sync::Arc::new(c);
    let mut tasks = Vec::new();
    for worker in 0..12u64 {
        let c = c.clone();
        let nid = nid.clone();
        tasks.push(tokio::spawn(async move {
            let mut created = Vec::new();
            for i in 0..10 {
                let node = 1 + (worker + i) % 3;
                let (status, body) = c
                    .post(
                        node,
                        &format!("/networks/{nid}/peers"),
                        json!({"name": format!("w{worker}-{i}")}),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
                created.push(body);
            }
            created
        }));
    }
    let mut v4 = HashSet::new();
    let mut v6 = HashSet::new();
    for t in tasks {
        for p in t.await.unwrap() {
            assert!(
                v4.insert(p["ipv4_address"].as_str().unwrap().to_string()),
                "duplicate IPv4 {p}"
            );
            assert!(
                v6.insert(p["ipv6_address"].as_str().unwrap().to_string()),
                "duplicate IPv6 {p}"
            );
        }
    }
    assert_eq!(v4.len(), 120);
    // Lowest-free under concurrency still means a dense block: .0.1 … .0.120.
    let (_, ipam) = c.get(2, &format!("/networks/{nid}/ipam")).await;
    assert_eq!(ipam["ipv4"]["allocated"], "120");
    let c = std::sync::Arc::into_inner(c).unwrap();
    c.shutdown().await;
}

/// How many requests node `id` answered on `route` (from its `/metrics`).
fn requests_on(c: &Cluster, id: u64, route: &str) -> u64 {
    let label = format!("route=\"{route}\"");
    c.node(id)
        .handle
        .app
        .metrics
        .render()
        .lines()
        .filter(|l| {
            l.starts_with("raftwire_http_request_duration_seconds_count") && l.contains(&label)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replication_and_heartbeats_run_over_a_few_persistent_streams_not_a_request_each() {
    let c = three_nodes().await;
    let leader = c.leader().await;
    let (status, net) = c
        .post(
            leader,
            "/networks",
            json!({"name": "streams", "ipv4_cidr": V4}),
        )
        .await;
    assert_eq!(status, 201);
    let nid = net["id"].as_str().unwrap().to_string();
    for i in 0..60 {
        let (status, body) = c
            .post(
                leader,
                &format!("/networks/{nid}/peers"),
                json!({"name": format!("s{i}")}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    same_state_everywhere(&c, &[1, 2, 3]).await;
    for id in [1, 2, 3] {
        assert_eq!(
            requests_on(&c, id, "/internal/raft/append"),
            0,
            "node {id} was sent append-entries by POST"
        );
    }
    // Every follower got 60 entries and their commit indexes (and heartbeats) on a handful
    // of connections opened once.
    for id in [1, 2, 3].into_iter().filter(|id| *id != leader) {
        let opened = requests_on(&c, id, "/internal/raft/stream");
        assert!(
            (1..=8).contains(&opened),
            "node {id}: {opened} streams opened"
        );
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_share_batch_entries_and_each_gets_its_own_answer() {
    let c = three_nodes().await;
    let leader = c.leader().await;
    let app = &c.node(leader).handle.app;
    wait_for(Duration::from_secs(10), || async {
        app.features.batches().then_some(())
    })
    .await;
    let (status, net) = c
        .post(
            leader,
            "/networks",
            json!({"name": "batched", "ip_stack_mode": "dual", "ipv4_cidr": V4, "ipv6_cidr": V6}),
        )
        .await;
    assert_eq!(status, 201);
    let nid = net["id"].as_str().unwrap().to_string();
    // 64 writers, two per name: of every pair exactly one creation succeeds, even when both
    // land in the same batch entry.
    let c = std::sync::Arc::new(c);
    let mut tasks = Vec::new();
    for writer in 0..64u64 {
        let (c, nid) = (c.clone(), nid.clone());
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in 0..4 {
                let name = format!("b{}-{i}", writer / 2);
                let path = format!("/networks/{nid}/peers");
                let (status, body) = c.post(leader, &path, json!({ "name": name })).await;
                answers.push((name, status, body));
            }
            answers
        }));
    }
    let mut created = std::collections::HashMap::new();
    let mut v4 = HashSet::new();
    let mut refused = 0;
    for t in tasks {
        for (name, status, body) in t.await.unwrap() {
            match status {
                201 => {
                    assert_eq!(body["name"], name.as_str());
                    assert!(
                        v4.insert(body["ipv4_address"].to_string()),
                        "duplicate {body}"
                    );
                    assert!(created.insert(name, body).is_none(), "a name created twice");
                }
                409 => {
                    assert_eq!(body["code"], "name_taken", "{body}");
                    refused += 1;
                }
                other => panic!("{name}: {other} {body}"),
            }
        }
    }
    assert_eq!((created.len(), refused), (128, 128));
    let app = &c.node(leader).handle.app;
    let (batches, batched) = (
        app.metrics.write_batches.get(),
        app.metrics.batched_writes.get(),
    );
    assert!(
        batches > 0 && batched > batches,
        "no batches: {batches} entries held {batched} writes"
    );
    same_state_everywhere(&c, &[1, 2, 3]).await;
    let (_, listed) = c
        .get(leader, &format!("/networks/{nid}/peers?limit=1000"))
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 128);
    let c = std::sync::Arc::into_inner(c).unwrap();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_three_nodes_build_their_snapshots_at_staggered_log_indexes() {
    let c = three_nodes().await;
    // One write at a time, so every node applies the entries nearly one by one.
    network_with_peers(&c, "stagger", 50).await;
    // Every 20 entries (the test timing), node 1 at 6 modulo 20, node 2 at 12, node 3 at 0:
    // each snapshot lies within a few entries after its node's own index, so no two nodes
    // build at the same one.
    let every = 20;
    let snapshots = wait_for(Duration::from_secs(10), || async {
        let at: Vec<u64> = [1, 2, 3]
            .iter()
            .filter_map(|&id| c.node(id).handle.app.raft.metrics().borrow().snapshot)
            .map(|s| s.index)
            .collect();
        (at.len() == 3 && at.iter().all(|&i| i >= every)).then_some(at)
    })
    .await;
    for (id, index) in [1u64, 2, 3].into_iter().zip(&snapshots) {
        let phase = raftwire_node::snapshots::phase(id, every);
        let after = (index + every - phase) % every;
        assert!(
            after < every / 3,
            "node {id} built its snapshot at {index}, not just after {phase} modulo {every}: {snapshots:?}"
        );
    }
    let distinct: HashSet<u64> = snapshots.iter().copied().collect();
    assert_eq!(distinct.len(), 3, "{snapshots:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_added_after_log_purge_catches_up_by_snapshot_and_nodes_can_be_removed() {
    let mut c = three_nodes().await;
    // Enough writes for several snapshots (every 20 entries) and a purge of the early log.
    let nid = network_with_peers(&c, "snap", 70).await;
    let leader = c.leader().await;
    wait_for(Duration::from_secs(10), || async {
        c.node(leader)
            .handle
            .app
            .raft
            .metrics()
            .borrow()
            .purged
            .is_some()
            .then_some(())
    })
    .await;

    // Node 4 joins; the log it would need is gone, so it must be sent a snapshot.
    c.start(4).await;
    c.wait_voter(4).await;
    same_state_everywhere(&c, &[1, 2, 3, 4]).await;
    let snap = c.node(4).handle.app.raft.metrics().borrow().snapshot;
    assert!(snap.is_some(), "node 4 installed a snapshot");
    let (status, peers) = c
        .get(4, &format!("/networks/{nid}/peers?consistency=local"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(peers["items"].as_array().unwrap().len(), 70);

    // Remove node 2 through node 3's API; the cluster keeps working with the rest.
    let (status, body) = c
        .request(3, reqwest::Method::DELETE, "/cluster/members/2", None)
        .await;
    assert_eq!(status, 204, "{body}");
    c.stop(2).await;
    let (_, cluster) = c.get(3, "/cluster").await;
    let ids: Vec<u64> = cluster["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert!(!ids.contains(&2), "{cluster}");
    let (status, _) = c
        .post(
            4,
            &format!("/networks/{nid}/peers"),
            json!({"name": "after-removal"}),
        )
        .await;
    assert_eq!(status, 201);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_and_health_endpoints_report_the_node_state() {
    let mut c = Cluster::new();
    c.start(1).await;
    c.leader().await;
    let url = c.node(1).url.clone();
    let health = c.http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    wait_for(Duration::from_secs(10), || async {
        let r = c.http.get(format!("{url}/readyz")).send().await.ok()?;
        (r.status().as_u16() == 200).then_some(())
    })
    .await;
    let metrics = c
        .http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("raftwire_raft_is_leader 1"), "{metrics}");
    assert!(metrics.contains("raftwire_agents_connected 0"));
    let (status, cluster): (u16, Value) = c.get(1, "/cluster").await;
    assert_eq!(status, 200);
    assert_eq!(cluster["leader_id"], 1);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_one_cluster_restores_into_another() {
    let mut a = Cluster::new();
    a.start(1).await;
    a.leader().await;
    let (status, net) = a
        .post(
            1,
            "/networks",
            json!({"name": "corp", "ip_stack_mode": "dual", "ipv4_cidr": V4, "ipv6_cidr": V6}),
        )
        .await;
    assert_eq!(status, 201);
    let nid = net["id"].as_str().unwrap().to_string();
    for i in 0..3 {
        a.post(
            1,
            &format!("/networks/{nid}/peers"),
            json!({"name": format!("p{i}")}),
        )
        .await;
    }
    let backup = a
        .http
        .get(format!("{}/api/v1/snapshot", a.node(1).url))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(backup.status().as_u16(), 200);
    let bytes = backup.bytes().await.unwrap();

    let mut b = Cluster::new();
    b.start(1).await;
    b.leader().await;
    let restore = |body: Vec<u8>| {
        b.http
            .post(format!("{}/api/v1/snapshot", b.node(1).url))
            .bearer_auth(&b.token)
            .body(body)
            .send()
    };
    // Garbage is refused as a 400 and changes nothing.
    let r = restore(b"not a backup".to_vec()).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = restore(bytes.to_vec()).await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (_, peers_a) = a.get(1, &format!("/networks/{nid}/peers")).await;
    let (status, peers_b) = b.get(1, &format!("/networks/{nid}/peers")).await;
    assert_eq!(status, 200);
    assert_eq!(peers_a, peers_b);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_created_through_one_node_works_on_every_node_at_once() {
    let c = three_nodes().await;
    for via in 1..=3u64 {
        let (status, created) = c
            .post(via, "/tokens", json!({"name": format!("ops{via}")}))
            .await;
        assert_eq!(status, 201, "{created}");
        let token = created["token"].as_str().unwrap().to_string();
        // Straight away, on every node (a node that has not applied it yet catches up first).
        for on in 1..=3u64 {
            let r = c
                .http
                .get(format!("{}/api/v1/networks", c.node(on).url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status().as_u16(),
                200,
                "token made via {via}, used on {on}"
            );
        }
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_membership_refusal_by_the_leader_keeps_its_status_and_code_through_a_learner() {
    let mut c = Cluster::single().await;
    c.start_unjoined(2).await;
    let url = c.node(2).url.clone();
    let (status, body) = c
        .post(1, "/cluster/members", json!({"id": 2, "addr": url}))
        .await;
    assert_eq!(status, 202, "{body}");
    // The learner knows the leader and node 1's admin token once it has caught up.
    wait_for(Duration::from_secs(20), || async {
        (c.get(2, "/cluster").await.0 == 200).then_some(())
    })
    .await;
    // Removing the only voter is refused by the leader's Raft (an empty voter set); asked
    // through the learner, the client sees the leader's answer, not a retryable 503.
    let (status, err) = c.delete(2, "/cluster/members/1").await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("invalid_value")),
        "{err}"
    );
    let (status, err) = c.delete(1, "/cluster/members/1").await;
    assert_eq!((status, err["code"].as_str()), (400, Some("invalid_value")));
    // An unknown member is a 404 on either node.
    let (status, err) = c.post(2, "/cluster/members/77/promote", json!({})).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("not_found")));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_bearer_tokens_through_a_follower_leave_the_leaders_read_rate_flat() {
    let c = three_nodes().await;
    let leader = c.leader().await;
    let follower = follower_of(leader, &[1, 2, 3]);
    let rounds = || c.node(leader).handle.app.metrics.read_index.get();
    let get_with = |token: String| {
        let c = &c;
        async move {
            c.send(
                follower,
                reqwest::Method::GET,
                "/api/v1/networks",
                Some(&format!("Bearer {token}")),
                &[],
                None,
            )
            .await
            .status
        }
    };

    // One bad token, sent 100 times: one catch-up, then refused from memory.
    let before = rounds();
    for _ in 0..100 {
        assert_eq!(get_with("not-a-token".into()).await, 401);
    }
    let same_token_rounds = rounds() - before;
    assert!(same_token_rounds <= 2, "{same_token_rounds} quorum rounds");

    // 200 different bad tokens, 20 at a time: at most one round per interval.
    let before = rounds();
    let started = std::time::Instant::now();
    for batch in 0..10 {
        let answers =
            futures::future::join_all((0..20).map(|i| get_with(format!("bad-{batch}-{i}")))).await;
        assert!(answers.iter().all(|s| *s == 401), "{answers:?}");
    }
    let elapsed = started.elapsed();
    let distinct_rounds = rounds() - before;
    let bound = (elapsed.as_millis() / 200) as u64 + 2;
    assert!(
        distinct_rounds <= bound,
        "{distinct_rounds} quorum rounds for 200 bad tokens in {elapsed:?} (bound {bound})"
    );

    // A token created through the leader a moment ago still works on the follower at once.
    let (status, created) = c.post(leader, "/tokens", json!({"name": "fresh"})).await;
    assert_eq!(status, 201, "{created}");
    let fresh = created["token"].as_str().unwrap().to_string();
    assert_eq!(get_with(fresh).await, 200);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_from_its_quorum_reports_not_ready_and_refuses_writes_at_once() {
    let mut c = three_nodes().await;
    let leader = c.leader().await;
    let (status, net) = c
        .post(
            leader,
            "/networks",
            json!({"name": "cut", "ip_stack_mode": "dual", "ipv4_cidr": V4, "ipv6_cidr": V6}),
        )
        .await;
    assert_eq!(status, 201, "{net}");
    let nid = net["id"].as_str().unwrap().to_string();

    // Both followers gone: the leader hears from no quorum, and openraft alone would keep it
    // leading (and ready) for as long as that lasts.
    for id in [1, 2, 3].into_iter().filter(|i| *i != leader) {
        c.stop(id).await;
    }
    let why = wait_for(Duration::from_secs(10), || async {
        let a = c
            .send(leader, reqwest::Method::GET, "/readyz", None, &[], None)
            .await;
        (a.status == 503).then_some(a.text)
    })
    .await;
    assert!(why.contains("no quorum"), "{why}");

    // A write is refused as never written (not left to time out as of unknown outcome).
    let auth = format!("Bearer {}", c.token);
    let body = serde_json::to_vec(&json!({"name": "late"})).unwrap();
    let a = c
        .send(
            leader,
            reqwest::Method::POST,
            &format!("/api/v1/networks/{nid}/peers"),
            Some(&auth),
            &[],
            Some(body),
        )
        .await;
    assert_problem(&a, 503, "no_leader", None);
    assert_eq!(a.header("retry-after"), "1");
    // A linearizable read needs the quorum too; a local read does not.
    let (status, err) = c.get(leader, &format!("/networks/{nid}")).await;
    assert_eq!((status, err["code"].as_str()), (503, Some("no_leader")));
    let (status, got) = c
        .get(leader, &format!("/networks/{nid}?consistency=local"))
        .await;
    assert_eq!((status, got["name"].as_str()), (200, Some("cut")));

    // The followers come back: a leader with a quorum serves writes again.
    for id in [1, 2, 3].into_iter().filter(|i| *i != leader) {
        c.start(id).await;
    }
    let now = c.leader().await;
    let (status, body) = c
        .post(
            now,
            &format!("/networks/{nid}/peers"),
            json!({"name": "back"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    wait_for(Duration::from_secs(10), || async {
        let a = c
            .send(leader, reqwest::Method::GET, "/readyz", None, &[], None)
            .await;
        (a.status == 200).then_some(())
    })
    .await;
    c.shutdown().await;
}

// ------------------------------------------------------------ restoring large backups

/// Three nodes for large restores. The heartbeat stays the tests' 50 ms (it bounds every
/// AppendEntries round, which each 1 MiB part must fit in); leader-loss detection gets the
/// production election timeouts and more, because a debug build takes seconds to decode and
/// check a large backup on each of three nodes sharing the machine's cores.
async fn restore_cluster() -> Cluster {
    let mut c = Cluster::new();
    c.timing.election_min_ms = 2000;
    c.timing.election_max_ms = 4000;
    start_three(c).await
}

/// The network of [`big_backup`].
const BIG: u128 = 0xb16;

/// A backup of one network, `big`, with `peers` agent peers, as `GET /snapshot` encodes it:
/// built by applying commands to a `State` (as many API calls would take minutes).
fn big_backup(peers: u128) -> Vec<u8> {
    use raftwire_api::*;
    use raftwire_raft_store::{apply, Command, NetworkDefaults, PeerSecretsInput, State};
    let mut s = State::new();
    let spec = raftwire_api::requests::CreateNetwork {
        name: Some("big".into()),
        ipv4_cidr: Some("10.64.0.0/14".into()),
        ..Default::default()
    };
    let create = Command::CreateNetwork {
        id: NetworkId::from_u128(BIG),
        at: Timestamp(1),
        spec: spec.validate().unwrap().into(),
        defaults: NetworkDefaults {
            group_id: GroupId::from_u128(BIG + 1),
            policy_id: PolicyId::from_u128(BIG + 2),
            rule_ids: [RuleId::from_u128(BIG + 3), RuleId::from_u128(BIG + 4)],
        },
    };
    apply(&mut s, create).unwrap();
    for i in 0..peers {
        let spec = raftwire_api::requests::CreatePeer {
            name: Some(format!("peer-{i}")),
            use_agent: Some(true),
            public_key: Some(raftwire_api::testkit::test_key(i)),
            endpoint: Some("host.example.com:51820".into()),
            ..Default::default()
        };
        let peer = Command::CreatePeer {
            network_id: NetworkId::from_u128(BIG),
            id: PeerId::from_u128(0x1_0000_0000 + i),
            at: Timestamp(2 + i as u64),
            spec: spec.validate().unwrap().into(),
            secrets: PeerSecretsInput {
                generated_keypair: None,
                agent_token_hash: Some(format!("{i:064x}")),
            },
        };
        apply(&mut s, peer).unwrap();
    }
    raftwire_raft_store::codec::encode_snapshot(&None, &Default::default(), &s).unwrap()
}

fn big_id() -> String {
    raftwire_api::NetworkId::from_u128(BIG).to_string()
}

async fn post_backup(c: &Cluster, via: u64, backup: Vec<u8>) -> (u16, Value) {
    let r = c
        .http
        .post(format!("{}/api/v1/snapshot", c.node(via).url))
        .bearer_auth(&c.token)
        .body(backup)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Every peer of network `nid` as node `id` lists them, page by page.
async fn all_peers(c: &Cluster, id: u64, nid: &str) -> Vec<Value> {
    let mut peers = Vec::new();
    let mut after = String::new();
    loop {
        let (status, page) = c
            .get(id, &format!("/networks/{nid}/peers?limit=10000{after}"))
            .await;
        assert_eq!(status, 200, "node {id}: {page}");
        peers.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => return peers,
        }
    }
}

fn staged_anywhere(c: &Cluster, ids: &[u64]) -> bool {
    ids.iter().any(|id| {
        c.node(*id)
            .handle
            .app
            .with_state(|s| s.staged_restore().is_some())
            .unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_of_100k_peers_restores_on_every_node_of_a_three_node_cluster() {
    let built = std::time::Instant::now();
    let backup = big_backup(100_000);
    let len = backup.len();
    println!(
        "backup of 100,000 peers: {len} bytes ({:.1} MiB), built in {:.1?}",
        len as f64 / (1024.0 * 1024.0),
        built.elapsed()
    );
    let c = restore_cluster().await;
    let (status, old) = c
        .post(1, "/networks", json!({"name": "old", "ipv4_cidr": V4}))
        .await;
    assert_eq!(status, 201, "{old}");
    // Through a follower: every part is forwarded to the leader.
    let via = follower_of(c.leader().await, &[1, 2, 3]);
    let started = std::time::Instant::now();
    let (status, body) = post_backup(&c, via, backup).await;
    assert_eq!(status, 204, "{body}");
    println!(
        "restore of {len} bytes through node {via}: {:.1?}",
        started.elapsed()
    );

    let nid = big_id();
    let mut restored = HashSet::new();
    for id in 1..=3 {
        let (_, nets) = c.get(id, "/networks").await;
        assert_eq!(
            nets["items"].as_array().unwrap().len(),
            1,
            "node {id}: {nets}"
        );
        assert_eq!(nets["items"][0]["name"], "big", "node {id}");
        let peers = all_peers(&c, id, &nid).await;
        assert_eq!(peers.len(), 100_000, "node {id}");
        let addresses: HashSet<String> = peers
            .iter()
            .map(|p| p["ipv4_address"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(addresses.len(), 100_000, "node {id}: addresses not unique");
        restored = addresses;
    }
    assert!(!staged_anywhere(&c, &[1, 2, 3]));

    // The restored cluster takes writes: a new peer gets an address no restored peer has.
    let (status, peer) = c
        .post(
            via,
            &format!("/networks/{nid}/peers"),
            json!({"name": "after"}),
        )
        .await;
    assert_eq!(status, 201, "{peer}");
    assert!(
        !restored.contains(peer["ipv4_address"].as_str().unwrap()),
        "{peer}"
    );
    let pid = id_of(&peer);
    for id in 1..=3 {
        let (status, p) = c.get(id, &format!("/networks/{nid}/peers/{pid}")).await;
        assert_eq!(status, 200, "node {id}: {p}");
    }
    same_state_everywhere(&c, &[1, 2, 3]).await;
    c.shutdown().await;
}

/// Proposes `command` through node `id`'s consensus, as a handler does.
async fn propose_on(
    c: &Cluster,
    id: u64,
    command: raftwire_raft_store::Command,
) -> Result<(), raftwire_api::DomainError> {
    match raftwire_node::consensus::propose(&c.node(id).handle.app, command).await {
        Ok(_) => Ok(()),
        Err(raftwire_node::consensus::ConsensusError::Refused(e)) => Err(e),
        Err(e) => panic!("proposal failed: {e}"),
    }
}

fn stage(id: u64, part: usize, bytes: &[u8]) -> raftwire_raft_store::Command {
    raftwire_raft_store::Command::StageRestore {
        id,
        part: part as u32,
        bytes: bytes.to_vec(),
    }
}

fn commit(id: u64, parts: usize, backup: &[u8]) -> raftwire_raft_store::Command {
    use sha2::Digest;
    raftwire_raft_store::Command::CommitRestore {
        id,
        parts: parts as u32,
        len: backup.len() as u64,
        sha256: sha2::Sha256::digest(backup).into(),
    }
}

const PART: usize = raftwire_raft_store::command::RESTORE_PART_LEN;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_down_during_an_upload_catches_up_by_a_snapshot_holding_the_staged_parts() {
    let backup = big_backup(20_000);
    let parts: Vec<&[u8]> = backup.chunks(PART).collect();
    assert!(parts.len() >= 3, "{} bytes", backup.len());
    let mut c = restore_cluster().await;
    let leader = c.leader().await;
    let down = follower_of(leader, &[1, 2, 3]);
    let up = *[1, 2, 3]
        .iter()
        .find(|i| **i != leader && **i != down)
        .unwrap();
    c.stop(down).await;

    // All parts but the last, then enough writes for a snapshot (every 20 entries here) and
    // a purge of the log past the first part: the node that was down can only catch up from
    // a snapshot taken mid-upload.
    for (i, p) in parts[..parts.len() - 1].iter().enumerate() {
        propose_on(&c, leader, stage(7, i, p)).await.unwrap();
    }
    let first_part = c
        .node(leader)
        .handle
        .app
        .raft
        .metrics()
        .borrow()
        .last_applied
        .unwrap()
        .index;
    for i in 0..45 {
        let (status, t) = c
            .post(leader, "/tokens", json!({"name": format!("t{i}")}))
            .await;
        assert_eq!(status, 201, "{t}");
    }
    wait_for(Duration::from_secs(20), || async {
        let m = c.node(leader).handle.app.raft.metrics().borrow().clone();
        m.purged
            .is_some_and(|p| p.index >= first_part)
            .then_some(())
    })
    .await;
    c.start(down).await;
    wait_for(Duration::from_secs(30), || async {
        let m = c.node(down).handle.app.raft.metrics().borrow().clone();
        let at = c
            .node(leader)
            .handle
            .app
            .raft
            .metrics()
            .borrow()
            .last_applied;
        (m.last_applied == at).then_some(())
    })
    .await;
    assert!(
        staged_anywhere(&c, &[down]),
        "the snapshot carried the staging"
    );
    same_state_everywhere(&c, &[1, 2, 3]).await;

    // The upload finishes through the node that was not down; every node restores alike.
    let last = parts.len() - 1;
    propose_on(&c, up, stage(7, last, parts[last]))
        .await
        .unwrap();
    propose_on(&c, up, commit(7, parts.len(), &backup))
        .await
        .unwrap();
    same_state_everywhere(&c, &[1, 2, 3]).await;
    assert!(!staged_anywhere(&c, &[1, 2, 3]));
    for id in 1..=3 {
        assert_eq!(
            all_peers(&c, id, &big_id()).await.len(),
            20_000,
            "node {id}"
        );
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_large_backup_is_refused_and_changes_nothing_on_any_node() {
    let backup = big_backup(20_000);
    assert!(backup.len() > PART, "large enough to be staged");
    let c = restore_cluster().await;
    let (status, net) = c
        .post(1, "/networks", json!({"name": "old", "ipv4_cidr": V4}))
        .await;
    assert_eq!(status, 201, "{net}");
    let (status, p) = c
        .post(
            2,
            &format!("/networks/{}/peers", id_of(&net)),
            json!({"name": "keep"}),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    same_state_everywhere(&c, &[1, 2, 3]).await;
    // The networks, not the whole state: joined nodes may still register admin tokens.
    let networks = |id: u64| {
        c.node(id)
            .handle
            .app
            .with_state(|s| {
                bincode::serde::encode_to_vec(&s.data().networks, bincode::config::standard())
                    .unwrap()
            })
            .unwrap()
    };
    let before = networks(1);
    let unchanged = |what: &str| {
        for id in 1..=3u64 {
            assert!(networks(id) == before, "{what}: node {id} changed");
        }
        assert!(
            !staged_anywhere(&c, &[1, 2, 3]),
            "{what}: parts left staged"
        );
    };

    // Cut short, or with bytes after it: refused before anything is proposed.
    let (status, e) = post_backup(&c, 1, backup[..backup.len() - 1000].to_vec()).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("malformed_body")),
        "{e}"
    );
    let mut longer = backup.clone();
    longer.extend_from_slice(b"trailing");
    let (status, e) = post_backup(&c, 3, longer).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("malformed_body")),
        "{e}"
    );
    unchanged("a truncated backup");

    // Decodes, but two peers share an address: the consistency check refuses it.
    let mut payload = raftwire_raft_store::codec::decode_snapshot(&backup).unwrap();
    let state = payload.state.clone();
    let ns = state
        .network(raftwire_api::NetworkId::from_u128(BIG))
        .unwrap();
    let mut data = state.clone().into_data();
    let mut peers = ns.peers.iter();
    let (a, b) = (peers.next().unwrap().clone(), peers.next().unwrap().id);
    let net = data
        .networks
        .get_mut(raftwire_api::NetworkId::from_u128(BIG))
        .unwrap();
    net.peers.get_mut(b).unwrap().ipv4_address = a.ipv4_address;
    payload.state = raftwire_raft_store::State::from(data);
    let broken =
        raftwire_raft_store::codec::encode_snapshot(&None, &Default::default(), &payload.state)
            .unwrap();
    let (status, e) = post_backup(&c, 2, broken).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("invalid_value")),
        "{e}"
    );
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("inconsistent backup"),
        "{e}"
    );
    unchanged("an inconsistent backup");

    // Staged parts whose hash does not match the commit (what a part lost or altered on the
    // way would give): refused by every node's apply, the staging dropped everywhere.
    let parts: Vec<&[u8]> = backup.chunks(PART).collect();
    for (i, p) in parts.iter().enumerate() {
        propose_on(&c, 1, stage(9, i, p)).await.unwrap();
    }
    assert!(staged_anywhere(&c, &[1]));
    let mut other = backup.clone();
    other[100] ^= 0xff;
    let e = propose_on(&c, 1, commit(9, parts.len(), &other))
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("sha256"), "{e}");
    wait_for(Duration::from_secs(10), || async {
        (!staged_anywhere(&c, &[1, 2, 3])).then_some(())
    })
    .await;
    unchanged("a commit with the wrong hash");

    // The cluster still works, and the intact backup restores.
    let (status, body) = post_backup(&c, 1, backup).await;
    assert_eq!(status, 204, "{body}");
    same_state_everywhere(&c, &[1, 2, 3]).await;
    c.shutdown().await;
}

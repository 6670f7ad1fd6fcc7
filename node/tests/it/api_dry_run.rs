//! `?dry_run=true`: the plan of a change, served by any node, nothing written; a change the
//! real write refuses is refused with the same status, code and field.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

/// A 3-node cluster with an IPv4-only network holding a jump and a static peer.
async fn setup() -> (Cluster, String, String, String) {
    let mut c = Cluster::new();
    for id in 1..=3 {
        c.start(id).await;
    }
    c.wait_voter(2).await;
    c.wait_voter(3).await;
    let n = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.30.0.0/24"}),
        )
        .await;
    let nid = id_of(&n);
    let jump = c
        .create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "jump", "is_jump": true, "endpoint": "192.0.2.1:51820"}),
        )
        .await;
    let phone = c
        .create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "phone", "use_agent": false}),
        )
        .await;
    (c, nid, id_of(&jump), id_of(&phone))
}

fn names(plan: &Value, key: &str) -> Vec<String> {
    plan["networks"][0][key]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// The problem of an answer without what differs between two requests (`detail` may name
/// nothing request-specific here, but compare only the stable parts).
fn problem(a: &Answer) -> (u16, Value, Value, Value) {
    let v = a.json();
    (
        a.status,
        v["code"].clone(),
        v["field"].clone(),
        v["items"].clone(),
    )
}

#[tokio::test]
async fn a_dry_run_on_a_follower_plans_the_mode_change_writes_nothing_and_matches_the_real_change()
{
    let (c, nid, jump, phone) = setup().await;
    let leader = c.leader().await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let path = format!("/networks/{nid}");
    let change = json!({"ip_stack_mode": "dual", "ipv6_cidr": "fd00:30::/64", "force": true});

    let (status, plan) = c
        .patch(follower, &format!("{path}?dry_run=true"), change.clone())
        .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["result"]["ip_stack_mode"], "dual");
    let addresses = plan["networks"][0]["addresses"].as_array().unwrap();
    let planned: Vec<(String, Value)> = addresses
        .iter()
        .map(|a| {
            (
                a["peer_id"].as_str().unwrap().to_string(),
                a["ipv6"].clone(),
            )
        })
        .collect();
    assert_eq!(
        planned,
        vec![
            (
                jump.clone(),
                json!({"change": "added", "address": "fd00:30::1"})
            ),
            (
                phone.clone(),
                json!({"change": "added", "address": "fd00:30::2"})
            ),
        ]
    );
    assert!(
        addresses.iter().all(|a| a["ipv4"].is_null()),
        "IPv4 addresses stay"
    );
    assert_eq!(names(&plan, "static_peers_affected"), ["phone"]);
    assert_eq!(names(&plan, "agents_updated"), ["jump"]);

    // Nothing was written, on any node.
    for id in 1..=3 {
        let (_, n) = c.get(id, &path).await;
        assert_eq!(
            (n["ip_stack_mode"].clone(), n["version"].clone()),
            (json!("ipv4"), json!(1))
        );
    }

    // The real change does what the plan said.
    let (status, written) = c.patch(follower, &path, change).await;
    assert_eq!(status, 200, "{written}");
    assert_eq!(written["ipv6_cidr"], plan["result"]["ipv6_cidr"]);
    assert_eq!(written["version"], plan["result"]["version"]);
    for (pid, v6) in [(&jump, "fd00:30::1"), (&phone, "fd00:30::2")] {
        let (_, p) = c.get(follower, &format!("{path}/peers/{pid}")).await;
        assert_eq!(p["ipv6_address"], v6);
    }
    c.shutdown().await;
}

#[tokio::test]
async fn a_refused_dry_run_answers_what_the_real_change_answers() {
    let (c, nid, jump, _) = setup().await;
    let path = format!("/api/v1/networks/{nid}");
    let auth = format!("Bearer {}", c.token);
    let send = |query: &'static str, body: Value, if_match: Option<&'static str>| {
        let (path, auth) = (path.clone(), auth.clone());
        let c = &c;
        async move {
            let headers: Vec<(&str, &str)> =
                if_match.map(|v| ("if-match", v)).into_iter().collect();
            c.send(
                2,
                Method::PATCH,
                &format!("{path}{query}"),
                Some(&auth),
                &headers,
                Some(serde_json::to_vec(&body).unwrap()),
            )
            .await
        }
    };
    // A static peer would be renumbered and force is not given.
    let unforced = json!({"ip_stack_mode": "dual", "ipv6_cidr": "fd00:31::/64"});
    let dry = send("?dry_run=true", unforced.clone(), None).await;
    let real = send("", unforced, None).await;
    assert_eq!(problem(&dry), problem(&real));
    assert_eq!(problem(&dry).1, "static_peers_affected");
    // A stale If-Match.
    let stale = json!({"name": "renamed"});
    let dry = send("?dry_run=true", stale.clone(), Some("7")).await;
    let real = send("", stale, Some("7")).await;
    assert_eq!(problem(&dry), problem(&real));
    assert_eq!(dry.status, 409);
    // Not a boolean.
    let bad = send("?dry_run=maybe", json!({"name": "x"}), None).await;
    assert_problem(&bad, 400, "invalid_value", Some("dry_run"));

    // A peer's and a policy's dry run: the jump renumbered, the agents to be updated.
    let (status, plan) = c
        .patch(
            3,
            &format!("/networks/{nid}/peers/{jump}?dry_run=true"),
            json!({"ipv4_address": "10.30.0.9"}),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        plan["networks"][0]["addresses"][0]["ipv4"],
        json!({"change": "renumbered", "from": "10.30.0.1", "to": "10.30.0.9"})
    );
    assert_eq!(
        names(&plan, "agents_updated"),
        ["jump"],
        "its own interface address moves"
    );
    // The static peer routes the whole prefix through the jump: its config stays as it is.
    assert!(names(&plan, "static_peers_affected").is_empty());
    let (_, policies) = c.get(1, &format!("/networks/{nid}/policies")).await;
    let polid = id_of(&policies["items"][0]);
    let rules = json!({"rules": [{"direction": "output", "action": "deny", "target_type": "cidr", "target": "10.30.0.0/24"}]});
    let (status, plan) = c
        .patch(
            2,
            &format!("/networks/{nid}/policies/{polid}?dry_run=true"),
            rules,
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(names(&plan, "agents_updated"), ["jump"]);
    let (_, p) = c.get(1, &format!("/networks/{nid}/peers/{jump}")).await;
    assert_eq!(p["ipv4_address"], "10.30.0.1", "nothing was written");
    c.shutdown().await;
}

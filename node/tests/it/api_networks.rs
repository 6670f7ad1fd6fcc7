//! The `/networks` API: creation per stack mode, listing in creation order,
//! reads (linearizable and `?consistency=local`), PATCH including the stack-mode change,
//! `If-Match`, deletion, and the IPAM usage report.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_without_mode_is_ipv4_only_with_default_domain_and_version_1() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    assert!(
        uuid::Uuid::parse_str(net["id"].as_str().unwrap()).is_ok(),
        "{net}"
    );
    assert_eq!(net["name"], "corp");
    assert_eq!(net["ip_stack_mode"], "ipv4");
    assert_eq!(net["ipv4_cidr"], "10.1.0.0/24");
    assert_eq!(net["ipv6_cidr"], Value::Null);
    assert_eq!(net["domain"], "corp.internal");
    assert_eq!(net["dns_servers"], json!([]));
    assert_eq!(net["version"], 1);
    assert!(
        net["created_at"].is_string() || net["created_at"].is_number(),
        "{net}"
    );
    assert!(net.get("updated_at").is_some(), "{net}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_cidr_field_is_accepted_as_ipv4_cidr() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "legacy", "cidr": "10.2.0.0/16"}),
        )
        .await;
    assert_eq!(net["ip_stack_mode"], "ipv4");
    assert_eq!(net["ipv4_cidr"], "10.2.0.0/16");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networks_of_every_mode_are_listed_in_creation_order_and_readable_locally() {
    let c = Cluster::single().await;
    let v6 = c
        .create(
            "/networks",
            json!({"name": "zz-six", "ip_stack_mode": "ipv6", "ipv6_cidr": "fd10::/64"}),
        )
        .await;
    assert_eq!(v6["ipv4_cidr"], Value::Null);
    assert_eq!(v6["ipv6_cidr"], "fd10::/64");
    let dual = c
        .create(
            "/networks",
            json!({
                "name": "aa-dual", "ip_stack_mode": "dual", "ipv4_cidr": "10.3.0.0/24",
                "ipv6_cidr": "fd11::/64", "domain": "dual.example", "dns_servers": ["1.1.1.1", "2606:4700::1111"]
            }),
        )
        .await;
    assert_eq!(dual["ip_stack_mode"], "dual");
    assert_eq!(dual["domain"], "dual.example");
    assert_eq!(dual["dns_servers"], json!(["1.1.1.1", "2606:4700::1111"]));
    c.create(
        "/networks",
        json!({"name": "mm-four", "ip_stack_mode": "ipv4", "ipv4_cidr": "10.4.0.0/24"}),
    )
    .await;

    // Creation order, not name order.
    let (status, list) = c.get(1, "/networks").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(names(&list), ["zz-six", "aa-dual", "mm-four"]);
    let (status, local) = c.get(1, "/networks?consistency=local").await;
    assert_eq!(status, 200, "{local}");
    assert_eq!(names(&local), ["zz-six", "aa-dual", "mm-four"]);

    let nid = id_of(&dual);
    let (status, got) = c.get(1, &format!("/networks/{nid}")).await;
    assert_eq!(status, 200);
    assert_eq!(got, dual);
    let (status, got) = c
        .get(1, &format!("/networks/{nid}?consistency=local"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, dual);
    let (status, got) = c
        .get(1, &format!("/networks/{nid}?consistency=linearizable"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, dual);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_changes_name_domain_and_dns_servers_and_bumps_the_version() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let nid = id_of(&net);
    let (status, patched) = c
        .patch(
            1,
            &format!("/networks/{nid}"),
            json!({"name": "corp2", "domain": "corp.example", "dns_servers": ["9.9.9.9"]}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "corp2");
    assert_eq!(patched["domain"], "corp.example");
    assert_eq!(patched["dns_servers"], json!(["9.9.9.9"]));
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["ipv4_cidr"], "10.1.0.0/24");
    let (_, got) = c.get(1, &format!("/networks/{nid}")).await;
    assert_eq!(got, patched);
    // The old name is free again.
    c.create(
        "/networks",
        json!({"name": "corp", "ipv4_cidr": "10.9.0.0/24"}),
    )
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_with_the_current_version_succeeds_and_a_stale_one_is_409_version_mismatch() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let nid = id_of(&net);
    let path = format!("/api/v1/networks/{nid}");
    let auth = format!("Bearer {}", c.token);
    let body = |v: Value| Some(serde_json::to_vec(&v).unwrap());

    let ok = c
        .send(
            1,
            Method::PATCH,
            &path,
            Some(&auth),
            &[("if-match", "1")],
            body(json!({"domain": "a.example"})),
        )
        .await;
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(ok.json()["version"], 2);

    // Version 1 is stale now: nothing changes.
    let stale = c
        .send(
            1,
            Method::PATCH,
            &path,
            Some(&auth),
            &[("if-match", "1")],
            body(json!({"domain": "b.example"})),
        )
        .await;
    assert_problem(&stale, 409, "version_mismatch", None);
    let (_, got) = c.get(1, &format!("/networks/{nid}")).await;
    assert_eq!(got["domain"], "a.example");
    assert_eq!(got["version"], 2);

    // ETag-style quoting is accepted.
    let quoted = c
        .send(
            1,
            Method::PATCH,
            &path,
            Some(&auth),
            &[("if-match", "\"2\"")],
            body(json!({"domain": "c.example"})),
        )
        .await;
    assert_eq!(quoted.status, 200, "{quoted}");

    // A stale DELETE is refused too, and the network stays.
    let del = c
        .send(
            1,
            Method::DELETE,
            &path,
            Some(&auth),
            &[("if-match", "2")],
            None,
        )
        .await;
    assert_problem(&del, 409, "version_mismatch", None);
    let (status, _) = c.get(1, &format!("/networks/{nid}")).await;
    assert_eq!(status, 200);
    let del = c
        .send(
            1,
            Method::DELETE,
            &path,
            Some(&auth),
            &[("if-match", "3")],
            None,
        )
        .await;
    assert_eq!(del.status, 204, "{del}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_network_is_204_then_404_and_removes_its_peers_and_prefix() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let nid = id_of(&net);
    let peer = c
        .create(&format!("/networks/{nid}/peers"), json!({"name": "laptop"}))
        .await;
    let pid = id_of(&peer);

    let (status, body) = c.delete(1, &format!("/networks/{nid}")).await;
    assert_eq!(status, 204, "{body}");
    let gone = c
        .admin(Method::GET, &format!("/networks/{nid}"), None)
        .await;
    assert_problem(&gone, 404, "not_found", None);
    let gone = c
        .admin(Method::GET, &format!("/networks/{nid}/peers/{pid}"), None)
        .await;
    assert_problem(&gone, 404, "not_found", None);
    let again = c
        .admin(Method::DELETE, &format!("/networks/{nid}"), None)
        .await;
    assert_problem(&again, 404, "not_found", None);
    let (_, list) = c.get(1, "/networks").await;
    assert_eq!(list, json!({"items": [], "next": null}));
    // The prefix is free for a new network.
    c.create(
        "/networks",
        json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
    )
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipam_reports_decimal_string_usage_and_a_64_holds_two_to_the_64_minus_one() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ip_stack_mode": "dual", "ipv4_cidr": "10.1.0.0/24", "ipv6_cidr": "fd01::/64"}),
        )
        .await;
    let nid = id_of(&net);
    let a = c
        .create(&format!("/networks/{nid}/peers"), json!({"name": "a"}))
        .await;
    let b = c
        .create(&format!("/networks/{nid}/peers"), json!({"name": "b"}))
        .await;

    let (status, ipam) = c.get(1, &format!("/networks/{nid}/ipam")).await;
    assert_eq!(status, 200, "{ipam}");
    assert_eq!(
        ipam["ipv4"],
        json!({"cidr": "10.1.0.0/24", "capacity": "254", "allocated": "2", "available": "252"})
    );
    assert_eq!(
        ipam["ipv6"],
        json!({
            "cidr": "fd01::/64",
            "capacity": "18446744073709551615",
            "allocated": "2",
            "available": "18446744073709551613"
        })
    );
    let allocs = ipam["allocations"].as_array().unwrap();
    assert_eq!(allocs.len(), 4, "{ipam}");
    let expected = [
        (id_of(&a), "ipv4", "10.1.0.1"),
        (id_of(&a), "ipv6", "fd01::1"),
        (id_of(&b), "ipv4", "10.1.0.2"),
        (id_of(&b), "ipv6", "fd01::2"),
    ];
    for (pid, family, address) in expected {
        assert!(
            allocs.contains(&json!({"peer_id": pid, "family": family, "address": address})),
            "missing {pid} {family} {address} in {ipam}"
        );
    }

    // An IPv4-only network reports no IPv6 usage.
    let v4 = c
        .create(
            "/networks",
            json!({"name": "four", "ipv4_cidr": "10.2.0.0/30"}),
        )
        .await;
    let (status, ipam) = c
        .get(
            1,
            &format!("/networks/{}/ipam?consistency=local", id_of(&v4)),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ipam["ipv6"], Value::Null);
    assert_eq!(ipam["ipv4"]["capacity"], "2");
    assert_eq!(ipam["ipv4"]["available"], "2");
    assert_eq!(ipam["allocations"], json!([]));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patching_stack_mode_from_ipv4_to_dual_gives_every_peer_an_ipv6_address() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let nid = id_of(&net);
    let mut pids = Vec::new();
    for (name, body) in [
        ("jump", json!({"name": "jump", "is_jump": true})),
        ("agent", json!({"name": "agent", "use_agent": true})),
    ] {
        let p = c.create(&format!("/networks/{nid}/peers"), body).await;
        assert_eq!(p["ipv6_address"], Value::Null, "{name}: {p}");
        pids.push(id_of(&p));
    }

    let (status, patched) = c
        .patch(
            1,
            &format!("/networks/{nid}"),
            json!({"ip_stack_mode": "dual", "ipv6_cidr": "fd01::/64"}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["ip_stack_mode"], "dual");
    assert_eq!(patched["ipv4_cidr"], "10.1.0.0/24");
    assert_eq!(patched["ipv6_cidr"], "fd01::/64");

    let (_, peers) = c.get(1, &format!("/networks/{nid}/peers")).await;
    let peers = peers["items"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
    let v6: Vec<&str> = peers
        .iter()
        .map(|p| p["ipv6_address"].as_str().unwrap_or_else(|| panic!("{p}")))
        .collect();
    assert_eq!(v6, ["fd01::1", "fd01::2"]);
    assert_eq!(peers[0]["ipv4_address"], "10.1.0.1");
    assert_eq!(peers[1]["ipv4_address"], "10.1.0.2");

    // And back to ipv4: the IPv6 addresses are released.
    let (status, patched) = c
        .patch(
            1,
            &format!("/networks/{nid}"),
            json!({"ip_stack_mode": "ipv4"}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["ipv6_cidr"], Value::Null);
    let (_, ipam) = c.get(1, &format!("/networks/{nid}/ipam")).await;
    assert_eq!(ipam["ipv6"], Value::Null);
    let (_, peer) = c
        .get(1, &format!("/networks/{nid}/peers/{}", pids[0]))
        .await;
    assert_eq!(peer["ipv6_address"], Value::Null);
    assert_eq!(peer["ipv4_address"], "10.1.0.1");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_a_cidr_with_force_renumbers_static_peers_lowest_free() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let nid = id_of(&net);
    let p = c
        .create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "laptop", "ipv4_address": "10.1.0.77"}),
        )
        .await;
    assert_eq!(p["ipv4_address"], "10.1.0.77");
    let (status, patched) = c
        .patch(
            1,
            &format!("/networks/{nid}"),
            json!({"ipv4_cidr": "10.7.0.0/24", "force": true}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["ipv4_cidr"], "10.7.0.0/24");
    let (_, peer) = c
        .get(1, &format!("/networks/{nid}/peers/{}", id_of(&p)))
        .await;
    assert_eq!(peer["ipv4_address"], "10.7.0.1");
    assert_eq!(
        peer["version"], 2,
        "a renumbered peer is a changed peer: {peer}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotted_network_names_are_accepted_and_give_a_dotted_default_domain() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp.eu-1", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    assert_eq!(net["name"], "corp.eu-1");
    assert_eq!(net["domain"], "corp.eu-1.internal");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipam_capacity_is_exact_for_large_prefixes_of_both_families() {
    let c = Cluster::single().await;
    for (name, body, family, capacity) in [
        (
            "v48",
            json!({"ip_stack_mode": "ipv6", "ipv6_cidr": "fd48::/48"}),
            "ipv6",
            // 2^80 - 1 (the all-zero address is skipped)
            "1208925819614629174706175",
        ),
        (
            "v32",
            json!({"ip_stack_mode": "ipv6", "ipv6_cidr": "2001:db8::/32"}),
            "ipv6",
            // 2^96 - 1
            "79228162514264337593543950335",
        ),
        (
            "v8",
            json!({"ipv4_cidr": "10.0.0.0/8"}),
            "ipv4",
            // 2^24 - 2 (network and broadcast are skipped)
            "16777214",
        ),
    ] {
        let mut body = body;
        body["name"] = json!(name);
        let net = c.create("/networks", body).await;
        let nid = id_of(&net);
        c.create(&format!("/networks/{nid}/peers"), json!({"name": "p"}))
            .await;
        let (status, ipam) = c.get(1, &format!("/networks/{nid}/ipam")).await;
        assert_eq!(status, 200, "{ipam}");
        assert_eq!(ipam[family]["capacity"], capacity, "{name}: {ipam}");
        assert_eq!(ipam[family]["allocated"], "1", "{name}: {ipam}");
        let available: u128 = ipam[family]["available"].as_str().unwrap().parse().unwrap();
        assert_eq!(available, capacity.parse::<u128>().unwrap() - 1, "{name}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_from_ipv4_to_ipv6_leaves_every_peer_with_only_an_ipv6_address() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let nid = id_of(&net);
    for i in 0..3 {
        c.create(
            &format!("/networks/{nid}/peers"),
            json!({"name": format!("a{i}"), "use_agent": true}),
        )
        .await;
    }
    let (status, patched) = c
        .patch(
            1,
            &format!("/networks/{nid}"),
            json!({"ip_stack_mode": "ipv6", "ipv6_cidr": "fd05::/64"}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["ipv4_cidr"], Value::Null);
    let (_, peers) = c.get(1, &format!("/networks/{nid}/peers")).await;
    let got: Vec<(Value, Value)> = peers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["ipv4_address"].clone(), p["ipv6_address"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            (Value::Null, json!("fd05::1")),
            (Value::Null, json!("fd05::2")),
            (Value::Null, json!("fd05::3")),
        ]
    );
    let (_, ipam) = c.get(1, &format!("/networks/{nid}/ipam")).await;
    assert_eq!(ipam["ipv4"], Value::Null);
    assert_eq!(ipam["ipv6"]["allocated"], "3");
    // The old IPv4 prefix is free for another network.
    c.create(
        "/networks",
        json!({"name": "other", "ipv4_cidr": "10.1.0.0/24"}),
    )
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_patches_with_the_same_if_match_exactly_one_wins() {
    let c = std::sync::Arc::new(Cluster::single().await);
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let path = format!("/api/v1/networks/{}", id_of(&net));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (c, path) = (c.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let auth = format!("Bearer {}", c.token);
            let body = serde_json::to_vec(&json!({"domain": format!("d{i}.example")})).unwrap();
            let a = c
                .send(
                    1,
                    Method::PATCH,
                    &path,
                    Some(&auth),
                    &[("if-match", "1")],
                    Some(body),
                )
                .await;
            (a.status, a.json())
        }));
    }
    let mut ok = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => ok.push(body),
            409 => assert_eq!(body["code"], "version_mismatch", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(ok.len(), 1, "{ok:?}");
    let (_, got) = c.get(1, &format!("/networks/{}", id_of(&net))).await;
    assert_eq!(got["version"], 2);
    assert_eq!(got["domain"], ok[0]["domain"]);
    let c = std::sync::Arc::into_inner(c).unwrap();
    c.shutdown().await;
}

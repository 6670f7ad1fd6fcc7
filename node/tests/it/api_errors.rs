//! Every error the API documents, through the HTTP API: status, `application/problem+json`, the
//! stable `code` and the offending `field`; and no request body, however wrong, is a 500.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

struct Fixture {
    nid: String,
    jump: String,
    laptop: String,
    group: String,
    policy: String,
    rule: String,
    route: String,
    mapping: String,
}

/// A dual-stack network with a jump, a static peer, a group, a policy, a route and a mapping.
async fn fixture(c: &Cluster) -> Fixture {
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
            json!({"name": "jump", "is_jump": true}),
        )
        .await;
    let laptop = c
        .create(&format!("/networks/{nid}/peers"), json!({"name": "laptop"}))
        .await;
    let group = c
        .create(&format!("/networks/{nid}/groups"), json!({"name": "ops"}))
        .await;
    let policy = c
        .create(
            &format!("/networks/{nid}/policies"),
            json!({"name": "web", "rules": [{"direction": "output", "action": "allow", "target_type": "any"}]}),
        )
        .await;
    let route = c
        .create(
            &format!("/networks/{nid}/routes"),
            json!({"name": "lan", "destination_cidr": "192.168.10.0/24", "jump_peer_id": id_of(&jump)}),
        )
        .await;
    let mapping = c
        .create(
            &format!("/networks/{nid}/routes/{}/dns", id_of(&route)),
            json!({"name": "db", "ip_address": "192.168.10.5"}),
        )
        .await;
    Fixture {
        nid,
        jump: id_of(&jump),
        laptop: id_of(&laptop),
        group: id_of(&group),
        rule: policy["rules"][0]["id"].as_str().unwrap().to_string(),
        policy: id_of(&policy),
        route: id_of(&route),
        mapping: id_of(&mapping),
    }
}

/// Each case: (body, expected code, expected field).
async fn expect_400s(
    c: &Cluster,
    method: Method,
    path: &str,
    cases: &[(Value, &str, Option<&str>)],
) {
    for (body, code, field) in cases {
        let a = c.admin(method.clone(), path, Some(body.clone())).await;
        assert!(a.status == 400, "{method} {path} {body} -> {a}");
        assert_problem(&a, 400, code, *field);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_networks_are_400_with_the_code_and_the_field() {
    let c = Cluster::single().await;
    let cases = [
        (
            json!({"ipv4_cidr": "10.0.0.0/24"}),
            "missing_field",
            Some("name"),
        ),
        (
            json!({"name": "Corp", "ipv4_cidr": "10.0.0.0/24"}),
            "invalid_name",
            Some("name"),
        ),
        (
            json!({"name": "a_b", "ipv4_cidr": "10.0.0.0/24"}),
            "invalid_name",
            Some("name"),
        ),
        (
            json!({"name": "n", "ipv4_cidr": "nope"}),
            "invalid_cidr",
            Some("ipv4_cidr"),
        ),
        (
            json!({"name": "n", "ipv4_cidr": "10.0.0.0"}),
            "invalid_cidr",
            Some("ipv4_cidr"),
        ),
        (
            json!({"name": "n", "ipv4_cidr": "fd00::/64"}),
            "wrong_family",
            Some("ipv4_cidr"),
        ),
        (
            json!({"name": "n", "cidr": "fd00::/64"}),
            "wrong_family",
            Some("cidr"),
        ),
        (
            json!({"name": "n", "ip_stack_mode": "ipv6", "ipv6_cidr": "10.0.0.0/24"}),
            "wrong_family",
            Some("ipv6_cidr"),
        ),
        (
            json!({"name": "n", "ipv4_cidr": "10.0.0.0/31"}),
            "prefix_length",
            Some("ipv4_cidr"),
        ),
        (
            json!({"name": "n", "ipv4_cidr": "10.0.0.0/7"}),
            "prefix_length",
            Some("ipv4_cidr"),
        ),
        (
            json!({"name": "n", "ip_stack_mode": "ipv6", "ipv6_cidr": "fd00::/127"}),
            "prefix_length",
            Some("ipv6_cidr"),
        ),
        (
            json!({"name": "n", "ipv4_cidr": "10.0.0.1/24"}),
            "host_bits_set",
            Some("ipv4_cidr"),
        ),
        (
            json!({"name": "n", "ipv4_cidr": "10.0.0.0/24", "ipv6_cidr": "fd00::/64"}),
            "field_not_allowed",
            Some("ipv6_cidr"),
        ),
        (
            json!({"name": "n", "ip_stack_mode": "ipv6", "ipv4_cidr": "10.0.0.0/24", "ipv6_cidr": "fd00::/64"}),
            "field_not_allowed",
            Some("ipv4_cidr"),
        ),
        (
            json!({"name": "n", "ip_stack_mode": "dual", "ipv4_cidr": "10.0.0.0/24"}),
            "missing_field",
            Some("ipv6_cidr"),
        ),
        // No mode means IPv4-only, which needs its prefix (P12).
        (json!({"name": "n"}), "missing_field", Some("ipv4_cidr")),
        (
            json!({"name": "n", "ip_stack_mode": "ipv5", "ipv4_cidr": "10.0.0.0/24"}),
            "invalid_value",
            Some("ip_stack_mode"),
        ),
        (
            json!({"name": "n", "ipv4_cidr": "10.0.0.0/24", "dns_servers": ["dns.google"]}),
            "invalid_address",
            Some("dns_servers[0]"),
        ),
        (
            json!({"name": "n", "ipv4_cidr": "10.0.0.0/24", "domain": "Bad Domain"}),
            "invalid_name",
            Some("domain"),
        ),
        (
            json!({"name": "n", "ipv4_cidr": "10.0.0.0/24", "color": "red"}),
            "malformed_body",
            Some("color"),
        ),
        (
            json!({"name": 5, "ipv4_cidr": "10.0.0.0/24"}),
            "malformed_body",
            Some("name"),
        ),
        (
            json!({"name": "n", "ipv4_cidr": "10.0.0.0/24", "dns_servers": "1.1.1.1"}),
            "malformed_body",
            Some("dns_servers"),
        ),
    ];
    expect_400s(&c, Method::POST, "/networks", &cases).await;

    // Invalid JSON.
    let a = c
        .admin_raw(Method::POST, "/networks", br#"{"name": "n", "#.to_vec())
        .await;
    assert_problem(&a, 400, "malformed_body", None);
    let (_, list) = c.get(1, "/networks").await;
    assert_eq!(
        list,
        json!({"items": [], "next": null}),
        "nothing was created"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_network_changes_are_400_with_the_code_and_the_field() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let path = format!("/networks/{}", f.nid);
    let cases = [
        (json!({"name": "UPPER"}), "invalid_name", Some("name")),
        (
            json!({"ipv4_cidr": "fd02::/64"}),
            "wrong_family",
            Some("ipv4_cidr"),
        ),
        (
            json!({"ipv6_cidr": "10.2.0.0/24"}),
            "wrong_family",
            Some("ipv6_cidr"),
        ),
        (
            json!({"ip_stack_mode": "both"}),
            "invalid_value",
            Some("ip_stack_mode"),
        ),
        (json!({"force": "yes"}), "malformed_body", Some("force")),
        (json!({"version": 3}), "malformed_body", Some("version")),
    ];
    expect_400s(&c, Method::PATCH, &path, &cases).await;
    let (_, net) = c.get(1, &path).await;
    assert_eq!(net["version"], 1, "nothing changed: {net}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_peers_are_400_with_the_code_and_the_field() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let path = format!("/networks/{}/peers", f.nid);
    let cases = [
        (json!({}), "missing_field", Some("name")),
        (json!({"name": "Laptop"}), "invalid_name", Some("name")),
        (json!({"name": "a.b"}), "invalid_name", Some("name")),
        (
            json!({"name": "p", "ipv4_address": "banana"}),
            "invalid_address",
            Some("ipv4_address"),
        ),
        (
            json!({"name": "p", "ipv4_address": "fd01::5"}),
            "wrong_family",
            Some("ipv4_address"),
        ),
        (
            json!({"name": "p", "ipv6_address": "10.1.0.5"}),
            "wrong_family",
            Some("ipv6_address"),
        ),
        (
            json!({"name": "p", "ipv4_address": "10.9.9.9"}),
            "address_outside_prefix",
            Some("ipv4_address"),
        ),
        (
            json!({"name": "p", "ipv4_address": "10.1.0.0"}),
            "reserved_address",
            Some("ipv4_address"),
        ),
        (
            json!({"name": "p", "ipv4_address": "10.1.0.255"}),
            "reserved_address",
            Some("ipv4_address"),
        ),
        (
            json!({"name": "p", "ipv6_address": "fd01::"}),
            "reserved_address",
            Some("ipv6_address"),
        ),
        (
            json!({"name": "p", "endpoint": "a:b:c"}),
            "invalid_endpoint",
            Some("endpoint"),
        ),
        (
            json!({"name": "p", "endpoint": "host:99999"}),
            "invalid_endpoint",
            Some("endpoint"),
        ),
        (
            json!({"name": "p", "listen_port": 70000}),
            "invalid_port",
            Some("listen_port"),
        ),
        (
            json!({"name": "p", "listen_port": 0}),
            "invalid_port",
            Some("listen_port"),
        ),
        (
            json!({"name": "p", "public_key": "abc"}),
            "invalid_value",
            Some("public_key"),
        ),
        (
            json!({"name": "p", "is_jump": true, "use_agent": false}),
            "invalid_value",
            Some("use_agent"),
        ),
        (
            json!({"name": "p", "ipv6_nat": true}),
            "field_not_allowed",
            Some("ipv6_nat"),
        ),
        (
            json!({"name": "p", "additional_allowed_ips": ["192.168.0.0/16", "10.0.0.1/8"]}),
            "host_bits_set",
            Some("additional_allowed_ips[1]"),
        ),
        (
            json!({"name": "p", "additional_allowed_ips": ["nope"]}),
            "invalid_cidr",
            Some("additional_allowed_ips[0]"),
        ),
        (
            json!({"name": "p", "group_ids": ["nope"]}),
            "invalid_value",
            Some("group_ids[0]"),
        ),
        (
            json!({"name": "p", "group_ids": [uuid::Uuid::new_v4().to_string()]}),
            "unknown_reference",
            Some("group_ids"),
        ),
        (
            json!({"name": "p", "is_jump": "yes"}),
            "malformed_body",
            Some("is_jump"),
        ),
        (
            json!({"name": "p", "private_key": wg_key(9)}),
            "malformed_body",
            Some("private_key"),
        ),
    ];
    for (body, code, field) in &cases {
        let a = c.admin(Method::POST, &path, Some(body.clone())).await;
        // `unknown_reference` may name the list or its element.
        if *code == "unknown_reference" {
            assert_problem(&a, 400, code, None);
            assert!(
                a.json()["field"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("group_ids"),
                "{a}"
            );
        } else {
            assert_problem(&a, 400, code, *field);
        }
    }
    let (_, ipam) = c.get(1, &format!("/networks/{}/ipam", f.nid)).await;
    assert_eq!(ipam["ipv4"]["allocated"], "2", "nothing allocated: {ipam}");

    // Changes of a peer.
    let ppath = format!("{path}/{}", f.laptop);
    let cases = [
        (json!({"is_jump": true}), "immutable_field", Some("is_jump")),
        (
            json!({"ipv6_address": "10.1.0.9"}),
            "wrong_family",
            Some("ipv6_address"),
        ),
        (
            json!({"listen_port": -1}),
            "invalid_port",
            Some("listen_port"),
        ),
        (json!({"name": ""}), "invalid_name", Some("name")),
    ];
    expect_400s(&c, Method::PATCH, &ppath, &cases).await;
    let jpath = format!("{path}/{}", f.jump);
    expect_400s(
        &c,
        Method::PATCH,
        &jpath,
        &[(
            json!({"is_jump": false}),
            "immutable_field",
            Some("is_jump"),
        )],
    )
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_groups_policies_and_rules_are_400_with_the_code_and_the_field() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    expect_400s(
        &c,
        Method::POST,
        &format!("/networks/{}/groups", f.nid),
        &[
            (json!({}), "missing_field", Some("name")),
            (json!({"name": "Ops"}), "invalid_name", Some("name")),
            (
                json!({"name": "g", "priority": 99999999999i64}),
                "invalid_value",
                Some("priority"),
            ),
            (
                json!({"name": "g", "priority": "high"}),
                "malformed_body",
                Some("priority"),
            ),
        ],
    )
    .await;
    let policies = format!("/networks/{}/policies", f.nid);
    let rule = |r: Value| json!({"name": "p", "rules": [r]});
    expect_400s(
        &c,
        Method::POST,
        &policies,
        &[
            (json!({"rules": []}), "missing_field", Some("name")),
            (
                rule(json!({"direction": "sideways", "action": "allow", "target_type": "any"})),
                "invalid_value",
                Some("rules[0].direction"),
            ),
            (
                rule(json!({"direction": "output", "action": "maybe", "target_type": "any"})),
                "invalid_value",
                Some("rules[0].action"),
            ),
            (
                rule(json!({"direction": "output", "action": "allow", "target_type": "host"})),
                "invalid_value",
                Some("rules[0].target_type"),
            ),
            (
                rule(json!({"direction": "output", "action": "allow", "target_type": "cidr", "target": "nope"})),
                "invalid_cidr",
                Some("rules[0].target"),
            ),
            (
                rule(json!({"direction": "output", "action": "allow", "target_type": "cidr"})),
                "missing_field",
                Some("rules[0].target"),
            ),
            (
                rule(json!({"direction": "output", "action": "allow", "target_type": "any", "target": "10.0.0.0/8"})),
                "field_not_allowed",
                Some("rules[0].target"),
            ),
            (
                rule(json!({"action": "allow", "target_type": "any"})),
                "missing_field",
                Some("rules[0].direction"),
            ),
            (
                rule(json!({"direction": "output", "action": "allow", "target_type": "peer", "target": "nope"})),
                "invalid_value",
                Some("rules[0].target"),
            ),
        ],
    )
    .await;
    // A peer target that is not in the network.
    let a = c
        .admin(
            Method::POST,
            &policies,
            Some(rule(json!({"direction": "output", "action": "allow", "target_type": "peer", "target": uuid::Uuid::new_v4().to_string()}))),
        )
        .await;
    assert_problem(&a, 400, "unknown_reference", None);

    let rules = format!("{policies}/{}/rules", f.policy);
    expect_400s(
        &c,
        Method::POST,
        &rules,
        &[
            (json!({"action": "allow", "target_type": "any"}), "missing_field", Some("direction")),
            (
                json!({"direction": "input", "action": "allow", "target_type": "cidr", "target": "10.0.0.1/8"}),
                "host_bits_set",
                Some("target"),
            ),
            (
                json!({"direction": "input", "action": "allow", "target_type": "any", "ip_version": "ipv4"}),
                "malformed_body",
                Some("ip_version"),
            ),
        ],
    )
    .await;
    let (_, p) = c.get(1, &format!("{policies}/{}", f.policy)).await;
    assert_eq!(p["rules"].as_array().unwrap().len(), 1, "unchanged: {p}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_routes_and_dns_mappings_are_400_with_the_code_and_the_field() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let routes = format!("/networks/{}/routes", f.nid);
    expect_400s(
        &c,
        Method::POST,
        &routes,
        &[
            (json!({"name": "r", "jump_peer_id": f.jump}), "missing_field", Some("destination_cidr")),
            (
                json!({"name": "r", "destination_cidr": "192.168.1.1/24", "jump_peer_id": f.jump}),
                "host_bits_set",
                Some("destination_cidr"),
            ),
            (
                json!({"name": "r", "destination_cidr": "192.168.20.0/24", "jump_peer_id": f.laptop}),
                "not_a_jump",
                Some("jump_peer_id"),
            ),
            (
                json!({"name": "r", "destination_cidr": "192.168.20.0/24", "jump_peer_id": uuid::Uuid::new_v4()}),
                "unknown_reference",
                Some("jump_peer_id"),
            ),
            (
                json!({"name": "r", "destination_cidr": "192.168.20.0/24", "jump_peer_id": "jump"}),
                "invalid_value",
                Some("jump_peer_id"),
            ),
        ],
    )
    .await;

    // A route of a family the network lacks (R7, P7).
    let v4 = c
        .create(
            "/networks",
            json!({"name": "four", "ipv4_cidr": "10.2.0.0/24"}),
        )
        .await;
    let j4 = c
        .create(
            &format!("/networks/{}/peers", id_of(&v4)),
            json!({"name": "jump", "is_jump": true}),
        )
        .await;
    expect_400s(
        &c,
        Method::POST,
        &format!("/networks/{}/routes", id_of(&v4)),
        &[(
            json!({"name": "r6", "destination_cidr": "fd99::/64", "jump_peer_id": id_of(&j4)}),
            "route_family_unsupported",
            Some("destination_cidr"),
        )],
    )
    .await;

    let dns = format!("{routes}/{}/dns", f.route);
    expect_400s(
        &c,
        Method::POST,
        &dns,
        &[
            (
                json!({"ip_address": "192.168.10.9"}),
                "missing_field",
                Some("name"),
            ),
            (
                json!({"name": "a_b", "ip_address": "192.168.10.9"}),
                "invalid_name",
                Some("name"),
            ),
            (
                json!({"name": "x", "ip_address": "db"}),
                "invalid_address",
                Some("ip_address"),
            ),
            (
                json!({"name": "x", "ip_address": "192.168.11.9"}),
                "mapping_outside_route",
                Some("ip_address"),
            ),
            (
                json!({"name": "x", "ip_address": "fd99::9"}),
                "wrong_family",
                Some("ip_address"),
            ),
        ],
    )
    .await;
    expect_400s(
        &c,
        Method::PATCH,
        &format!("{dns}/{}", f.mapping),
        &[(
            json!({"ip_address": "192.168.99.1"}),
            "mapping_outside_route",
            Some("ip_address"),
        )],
    )
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tokens_and_cluster_members_are_400_with_the_code_and_the_field() {
    let c = Cluster::single().await;
    expect_400s(
        &c,
        Method::POST,
        "/tokens",
        &[
            (json!({}), "missing_field", Some("name")),
            (json!({"name": "Not A Label"}), "invalid_name", Some("name")),
            (
                json!({"name": "ci", "token": "mine"}),
                "malformed_body",
                Some("token"),
            ),
        ],
    )
    .await;
    expect_400s(
        &c,
        Method::POST,
        "/cluster/members",
        &[
            (
                json!({"addr": "http://127.0.0.1:1"}),
                "missing_field",
                Some("id"),
            ),
            (json!({"id": 2}), "missing_field", Some("addr")),
            (
                json!({"id": 2, "addr": "ftp://127.0.0.1:1"}),
                "invalid_value",
                Some("addr"),
            ),
            (
                json!({"id": -2, "addr": "http://127.0.0.1:1"}),
                "malformed_body",
                Some("id"),
            ),
        ],
    )
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_id_that_is_not_a_uuid_is_400_invalid_value_naming_the_parameter() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let nid = &f.nid;
    let cases = [
        (Method::GET, "/networks/not-a-uuid".to_string(), "nid"),
        (Method::DELETE, "/networks/42".to_string(), "nid"),
        (Method::GET, "/networks/xyz/peers".to_string(), "nid"),
        (Method::GET, format!("/networks/{nid}/peers/xyz"), "pid"),
        (
            Method::GET,
            format!("/networks/{nid}/peers/xyz/config"),
            "pid",
        ),
        (Method::GET, format!("/networks/{nid}/groups/xyz"), "gid"),
        (
            Method::PUT,
            format!("/networks/{nid}/groups/{}/peers/xyz", f.group),
            "pid",
        ),
        (
            Method::GET,
            format!("/networks/{nid}/policies/xyz"),
            "polid",
        ),
        (
            Method::DELETE,
            format!("/networks/{nid}/policies/{}/rules/xyz", f.policy),
            "rule_id",
        ),
        (Method::GET, format!("/networks/{nid}/routes/xyz"), "rid"),
        (
            Method::GET,
            format!("/networks/{nid}/routes/{}/dns/xyz", f.route),
            "mid",
        ),
        (Method::DELETE, "/tokens/xyz".to_string(), "id"),
    ];
    for (method, path, field) in cases {
        let a = c.admin(method.clone(), &path, None).await;
        assert_problem(&a, 400, "invalid_value", Some(field));
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_member_id_that_is_not_a_number_is_400_invalid_value_naming_the_parameter() {
    let c = Cluster::single().await;
    let a = c
        .admin(Method::POST, "/cluster/members/abc/promote", None)
        .await;
    assert_problem(&a, 400, "invalid_value", Some("id"));
    let a = c.admin(Method::DELETE, "/cluster/members/abc", None).await;
    assert_problem(&a, 400, "invalid_value", Some("id"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_and_if_match_headers_are_400_invalid_value() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let a = c
        .admin(Method::GET, "/networks?consistency=eventual", None)
        .await;
    assert_problem(&a, 400, "invalid_value", Some("consistency"));
    let a = c
        .admin(
            Method::GET,
            &format!("/networks/{}?colour=red", f.nid),
            None,
        )
        .await;
    assert_problem(&a, 400, "invalid_value", Some("colour"));
    let auth = format!("Bearer {}", c.token);
    let a = c
        .send(
            1,
            Method::PATCH,
            &format!("/api/v1/networks/{}", f.nid),
            Some(&auth),
            &[("if-match", "latest")],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_problem(&a, 400, "invalid_value", Some("If-Match"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_credentials_are_401_and_an_agent_token_on_admin_routes_is_403() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let agent = c
        .create(
            &format!("/networks/{}/peers", id_of(&net)),
            json!({"name": "agent", "use_agent": true}),
        )
        .await;
    let token = agent["agent_token"].as_str().unwrap();
    let none = c
        .send(1, Method::GET, "/api/v1/networks", None, &[], None)
        .await;
    assert_problem(&none, 401, "unauthorized", None);
    let wrong = c
        .send(
            1,
            Method::GET,
            "/api/v1/networks",
            Some("Bearer nope"),
            &[],
            None,
        )
        .await;
    assert_problem(&wrong, 401, "unauthorized", None);
    let agent = c
        .send(
            1,
            Method::POST,
            "/api/v1/networks",
            Some(&format!("Bearer {token}")),
            &[],
            Some(br#"{"name": "x", "ipv4_cidr": "10.9.0.0/24"}"#.to_vec()),
        )
        .await;
    assert_problem(&agent, 403, "forbidden", None);
    let (_, list) = c.get(1, "/networks").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing created"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_and_unknown_paths_are_404_not_found() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let nid = &f.nid;
    let other = uuid::Uuid::new_v4();
    for path in [
        format!("/networks/{other}"),
        format!("/networks/{other}/peers"),
        format!("/networks/{other}/ipam"),
        format!("/networks/{other}/dns"),
        format!("/networks/{nid}/peers/{other}"),
        format!("/networks/{nid}/peers/{other}/firewall"),
        format!("/networks/{nid}/groups/{other}"),
        format!("/networks/{nid}/policies/{other}"),
        format!("/networks/{nid}/routes/{other}"),
        format!("/networks/{nid}/routes/{other}/dns"),
        format!("/networks/{nid}/routes/{}/dns/{other}", f.route),
    ] {
        let a = c.admin(Method::GET, &path, None).await;
        assert_problem(&a, 404, "not_found", None);
    }
    for (method, path) in [
        (Method::DELETE, format!("/networks/{nid}/peers/{other}")),
        (Method::PATCH, format!("/networks/{nid}/groups/{other}")),
        (
            Method::PUT,
            format!("/networks/{nid}/groups/{}/peers/{other}", f.group),
        ),
        (
            Method::PUT,
            format!("/networks/{nid}/groups/{}/routes/{other}", f.group),
        ),
        (Method::POST, format!("/networks/{nid}/peers/{other}/token")),
        (Method::DELETE, format!("/tokens/{other}")),
    ] {
        let body = (method == Method::PATCH).then(|| json!({}));
        let a = c.admin(method.clone(), &path, body).await;
        assert_problem(&a, 404, "not_found", None);
    }
    // A peer of another network is not found under this one.
    let net2 = c
        .create(
            "/networks",
            json!({"name": "other", "ipv4_cidr": "10.2.0.0/24"}),
        )
        .await;
    let a = c
        .admin(
            Method::GET,
            &format!("/networks/{}/peers/{}", id_of(&net2), f.laptop),
            None,
        )
        .await;
    assert_problem(&a, 404, "not_found", None);

    let auth = format!("Bearer {}", c.token);
    for path in [
        "/api/v1/nope",
        "/nope",
        "/api/v1/networks/x/y/z/w",
        "/api/v2/networks",
        "/ui/nope",
    ] {
        let a = c.send(1, Method::GET, path, Some(&auth), &[], None).await;
        assert_problem(&a, 404, "not_found", None);
    }
    let a = c
        .send(
            1,
            Method::GET,
            &format!("/api/v1/networks/{nid}/bogus"),
            None,
            &[],
            None,
        )
        .await;
    assert!(a.status == 404 || a.status == 401, "{a}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_on_a_known_path_is_405() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let auth = format!("Bearer {}", c.token);
    for (method, path) in [
        (Method::DELETE, "/api/v1/networks".to_string()),
        (Method::PUT, format!("/api/v1/networks/{}", f.nid)),
        (Method::POST, format!("/api/v1/networks/{}/ipam", f.nid)),
        (
            Method::GET,
            format!("/api/v1/networks/{}/peers/{}/token", f.nid, f.jump),
        ),
        (Method::POST, "/healthz".to_string()),
    ] {
        let a = c
            .send(1, method.clone(), &path, Some(&auth), &[], None)
            .await;
        assert_eq!(a.status, 405, "{method} {path}: {a}");
        assert!(
            a.content_type().starts_with("application/problem+json"),
            "{a}"
        );
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_405_with_code_method_not_allowed() {
    let c = Cluster::single().await;
    let a = c.admin(Method::DELETE, "/networks", None).await;
    assert_problem(&a, 405, "method_not_allowed", None);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_prefixes_are_409_cidr_overlap_per_family() {
    let c = Cluster::single().await;
    c.create(
        "/networks",
        json!({"name": "a", "ip_stack_mode": "dual", "ipv4_cidr": "10.0.0.0/16", "ipv6_cidr": "fd00::/48"}),
    )
    .await;
    let cases = [
        (
            json!({"name": "b", "ipv4_cidr": "10.0.5.0/24"}),
            "ipv4_cidr",
        ),
        (json!({"name": "b", "ipv4_cidr": "10.0.0.0/8"}), "ipv4_cidr"),
        (json!({"name": "b", "cidr": "10.0.0.0/16"}), "ipv4_cidr"),
        (
            json!({"name": "b", "ip_stack_mode": "ipv6", "ipv6_cidr": "fd00:0:0:1::/64"}),
            "ipv6_cidr",
        ),
    ];
    for (body, field) in cases {
        let a = c.admin(Method::POST, "/networks", Some(body.clone())).await;
        assert_problem(&a, 409, "cidr_overlap", Some(field));
    }
    // The same IPv6 prefix in an IPv4-only network is no overlap; an IPv4 one disjoint is fine.
    c.create(
        "/networks",
        json!({"name": "b", "ipv4_cidr": "10.1.0.0/16"}),
    )
    .await;
    // Moving a network onto another's prefix is an overlap too.
    let (_, list) = c.get(1, "/networks").await;
    let b = id_of(&list["items"][1]);
    let a = c
        .admin(
            Method::PATCH,
            &format!("/networks/{b}"),
            Some(json!({"ipv4_cidr": "10.0.128.0/17"})),
        )
        .await;
    assert_problem(&a, 409, "cidr_overlap", Some("ipv4_cidr"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_names_are_409_name_taken() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let nid = &f.nid;
    let cases = [
        (
            "/networks".to_string(),
            json!({"name": "corp", "ipv4_cidr": "10.50.0.0/24"}),
        ),
        (format!("/networks/{nid}/peers"), json!({"name": "laptop"})),
        (format!("/networks/{nid}/groups"), json!({"name": "ops"})),
        (
            format!("/networks/{nid}/groups"),
            json!({"name": "default"}),
        ),
        (format!("/networks/{nid}/policies"), json!({"name": "web"})),
        (
            format!("/networks/{nid}/routes"),
            json!({"name": "lan", "destination_cidr": "192.168.99.0/24", "jump_peer_id": f.jump}),
        ),
        (
            format!("/networks/{nid}/routes/{}/dns", f.route),
            json!({"name": "db", "ip_address": "192.168.10.8"}),
        ),
    ];
    for (path, body) in cases {
        let a = c.admin(Method::POST, &path, Some(body)).await;
        assert_problem(&a, 409, "name_taken", Some("name"));
    }
    let a = c
        .admin(
            Method::PATCH,
            &format!("/networks/{nid}/peers/{}", f.laptop),
            Some(json!({"name": "jump"})),
        )
        .await;
    assert_problem(&a, 409, "name_taken", Some("name"));
    c.create("/tokens", json!({"name": "ci"})).await;
    let a = c
        .admin(Method::POST, "/tokens", Some(json!({"name": "ci"})))
        .await;
    assert_problem(&a, 409, "name_taken", None);
    // A peer name is unique per network only.
    let other = c
        .create(
            "/networks",
            json!({"name": "other", "ipv4_cidr": "10.2.0.0/24"}),
        )
        .await;
    c.create(
        &format!("/networks/{}/peers", id_of(&other)),
        json!({"name": "laptop"}),
    )
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_slash_30_is_409_pool_exhausted_and_changes_nothing() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "tiny", "ip_stack_mode": "dual", "ipv4_cidr": "10.1.0.0/30", "ipv6_cidr": "fd01::/64"}),
        )
        .await;
    let nid = id_of(&net);
    let peers = format!("/networks/{nid}/peers");
    let a = c.create(&peers, json!({"name": "a"})).await;
    let b = c.create(&peers, json!({"name": "b"})).await;
    assert_eq!(
        (a["ipv4_address"].as_str(), b["ipv4_address"].as_str()),
        (Some("10.1.0.1"), Some("10.1.0.2"))
    );
    let full = c
        .admin(Method::POST, &peers, Some(json!({"name": "c"})))
        .await;
    assert_problem(&full, 409, "pool_exhausted", None);
    // Dual-stack allocation is atomic: no IPv6 address was taken either.
    let (_, ipam) = c.get(1, &format!("/networks/{nid}/ipam")).await;
    assert_eq!(ipam["ipv4"]["available"], "0");
    assert_eq!(ipam["ipv6"]["allocated"], "2", "{ipam}");
    assert_eq!(ipam["allocations"].as_array().unwrap().len(), 4);
    let (_, list) = c.get(1, &peers).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    // Freeing one makes room again.
    let (status, _) = c.delete(1, &format!("{peers}/{}", id_of(&a))).await;
    assert_eq!(status, 204);
    let again = c.create(&peers, json!({"name": "c"})).await;
    assert_eq!(again["ipv4_address"], "10.1.0.1");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_family_still_used_by_routes_is_409_family_in_use() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let route6 = c
        .create(
            &format!("/networks/{}/routes", f.nid),
            json!({"name": "lan6", "destination_cidr": "fd99::/64", "jump_peer_id": f.jump}),
        )
        .await;
    let a = c
        .admin(
            Method::PATCH,
            &format!("/networks/{}", f.nid),
            Some(json!({"ip_stack_mode": "ipv4", "force": true})),
        )
        .await;
    assert_problem(&a, 409, "family_in_use", None);
    let body = a.json();
    let items: Vec<&str> = body["items"]
        .as_array()
        .map(|v| v.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    assert!(items.contains(&id_of(&route6).as_str()), "{a}");
    let (_, net) = c.get(1, &format!("/networks/{}", f.nid)).await;
    assert_eq!(net["ip_stack_mode"], "dual");
    // Removing the IPv4 family is refused as well: a route and a mapping use it.
    let a = c
        .admin(
            Method::PATCH,
            &format!("/networks/{}", f.nid),
            Some(json!({"ip_stack_mode": "ipv6", "force": true})),
        )
        .await;
    assert_problem(&a, 409, "family_in_use", None);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renumbering_static_peers_is_409_static_peers_affected_listing_them_unless_forced() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let nid = id_of(&net);
    let peers = format!("/networks/{nid}/peers");
    c.create(&peers, json!({"name": "jump", "is_jump": true}))
        .await;
    let s1 = c.create(&peers, json!({"name": "static1"})).await;
    c.create(&peers, json!({"name": "agent", "use_agent": true}))
        .await;
    let s2 = c
        .create(&peers, json!({"name": "static2", "public_key": wg_key(4)}))
        .await;

    let a = c
        .admin(
            Method::PATCH,
            &format!("/networks/{nid}"),
            Some(json!({"ipv4_cidr": "10.8.0.0/24"})),
        )
        .await;
    assert_problem(&a, 409, "static_peers_affected", None);
    let mut items: Vec<String> = a.json()["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {a}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    items.sort();
    let mut expected = vec![id_of(&s1), id_of(&s2)];
    expected.sort();
    assert_eq!(items, expected, "exactly the static peers: {a}");
    let (_, got) = c.get(1, &format!("{peers}/{}", id_of(&s1))).await;
    assert_eq!(got["ipv4_address"], "10.1.0.2", "unchanged");
    let (_, n) = c.get(1, &format!("/networks/{nid}")).await;
    assert_eq!(n["ipv4_cidr"], "10.1.0.0/24");

    // Adding a family alters static peers too (they gain an address).
    let a = c
        .admin(
            Method::PATCH,
            &format!("/networks/{nid}"),
            Some(json!({"ip_stack_mode": "dual", "ipv6_cidr": "fd08::/64"})),
        )
        .await;
    assert_problem(&a, 409, "static_peers_affected", None);

    let (status, body) = c
        .patch(
            1,
            &format!("/networks/{nid}"),
            json!({"ipv4_cidr": "10.8.0.0/24", "force": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, got) = c.get(1, &format!("{peers}/{}", id_of(&s1))).await;
    assert_eq!(got["ipv4_address"], "10.8.0.2");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_if_match_is_409_version_mismatch_on_every_versioned_object() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let nid = &f.nid;
    let auth = format!("Bearer {}", c.token);
    let objects = [
        (
            format!("/networks/{nid}/peers/{}", f.laptop),
            json!({"endpoint": "h.example.com"}),
        ),
        (
            format!("/networks/{nid}/groups/{}", f.group),
            json!({"priority": 7}),
        ),
        (
            format!("/networks/{nid}/policies/{}", f.policy),
            json!({"description": "d"}),
        ),
        (
            format!("/networks/{nid}/routes/{}", f.route),
            json!({"description": "d"}),
        ),
        (
            format!("/networks/{nid}/routes/{}/dns/{}", f.route, f.mapping),
            json!({"ip_address": "192.168.10.6"}),
        ),
    ];
    for (path, body) in objects {
        let (_, before) = c.get(1, &path).await;
        let v = before["version"].as_u64().unwrap();
        let stale = (v + 5).to_string();
        let a = c
            .send(
                1,
                Method::PATCH,
                &format!("/api/v1{path}"),
                Some(&auth),
                &[("if-match", stale.as_str())],
                Some(serde_json::to_vec(&body).unwrap()),
            )
            .await;
        assert_problem(&a, 409, "version_mismatch", None);
        let (_, after) = c.get(1, &path).await;
        assert_eq!(after, before, "unchanged");
        let current = v.to_string();
        let a = c
            .send(
                1,
                Method::PATCH,
                &format!("/api/v1{path}"),
                Some(&auth),
                &[("if-match", current.as_str())],
                Some(serde_json::to_vec(&body).unwrap()),
            )
            .await;
        assert_eq!(a.status, 200, "{path}: {a}");
        assert_eq!(a.json()["version"].as_u64(), Some(v + 1), "{a}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_jump_that_carries_routes_is_409_in_use() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let a = c
        .admin(
            Method::DELETE,
            &format!("/networks/{}/peers/{}", f.nid, f.jump),
            None,
        )
        .await;
    assert_eq!(a.status, 409, "{a}");
    assert!(
        a.content_type().starts_with("application/problem+json"),
        "{a}"
    );
    let (status, _) = c
        .get(1, &format!("/networks/{}/peers/{}", f.nid, f.jump))
        .await;
    assert_eq!(status, 200);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_1_mib_is_413_payload_too_large_and_one_just_under_is_not() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let big = format!(
        r#"{{"name": "{}", "ipv4_cidr": "10.9.0.0/24"}}"#,
        "a".repeat(1024 * 1024 + 10)
    );
    let a = c
        .admin_raw(Method::POST, "/networks", big.into_bytes())
        .await;
    assert_problem(&a, 413, "payload_too_large", None);
    let big = format!(r#"{{"name": "{}"}}"#, "a".repeat(2 * 1024 * 1024));
    let a = c
        .admin_raw(
            Method::POST,
            &format!("/networks/{}/peers", f.nid),
            big.into_bytes(),
        )
        .await;
    assert_problem(&a, 413, "payload_too_large", None);
    // Just under the limit: an ordinary validation error.
    let under = format!(
        r#"{{"name": "{}", "ipv4_cidr": "10.9.0.0/24"}}"#,
        "a".repeat(1000 * 1024)
    );
    let a = c
        .admin_raw(Method::POST, "/networks", under.into_bytes())
        .await;
    assert_problem(&a, 400, "invalid_name", Some("name"));
    c.shutdown().await;
}

/// Bodies no endpoint accepts (every request type rejects unknown fields).
fn garbage() -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = [
        "",
        " ",
        "[]",
        "[1, 2, 3]",
        "42",
        "-1",
        "1e400",
        "\"text\"",
        "null",
        "true",
        "{",
        "}",
        "{\"name\": }",
        "{'name': 'single'}",
        "{\"name\": \"x\",}",
        "{\"name\": {\"a\": null}}",
        "{\"name\": [null]}",
        "{\"name\": 1}",
        "{\"name\": \"\\u0000\"}",
        "{\"name\": \"\\ud800\"}",
        "{\"zzz\": 1}",
        "{\"rules\": [null]}",
        "{\"rules\": {\"direction\": null, \"target\": []}}",
        "{\"rules\": [{\"direction\": null, \"target\": []}]}",
        "{\"priority\": \"high\"}",
        "{\"priority\": 1e300}",
        "{\"listen_port\": 1.5}",
        "{\"listen_port\": 99999999999999999999999}",
        "{\"group_ids\": [null]}",
        "{\"group_ids\": \"x\"}",
        "{\"dns_servers\": [1]}",
        "{\"additional_allowed_ips\": [{}]}",
        "{\"ipv4_cidr\": {\"x\": [null, {}]}}",
        "{\"force\": \"yes\"}",
        "{\"id\": \"1\", \"addr\": 5}",
        "{\"name\": null, \"name\": 5}",
        "{\"ip_stack_mode\": [\"dual\"]}",
        "{\"public_key\": false}",
        "{\"endpoint\": {\"host\": \"x\"}}",
        "{\"destination_cidr\": 10}",
        "{\"ip_address\": [127, 0, 0, 1]}",
        "{\"direction\": 1, \"action\": 2}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    bodies.push(b"\xff\xfe{\"name\": \"\xff\"}".to_vec());
    bodies.push(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes());
    bodies.push(format!("{}1{}", "{\"a\":".repeat(3000), "}".repeat(3000)).into_bytes());
    bodies.push(format!("{{\"name\": \"{}\", \"zzz\": 1}}", "x".repeat(300_000)).into_bytes());
    bodies.push(format!("{{\"name\": {}}}", "9".repeat(5000)).into_bytes());
    bodies
}

/// Bodies some endpoints accept; they must never be a 5xx.
fn odd_but_maybe_valid(f: &Fixture) -> Vec<Value> {
    vec![
        json!({}),
        json!({"name": null}),
        json!({"name": "x".repeat(70)}),
        json!({"name": "x".repeat(100_000)}),
        json!({"name": "ok", "description": "\u{0000}\u{202e}ünïcødé\n[Peer]\nAllowedIPs = 0.0.0.0/0"}),
        json!({"name": "ok2", "ipv4_cidr": "0.0.0.0/8"}),
        json!({"name": "ok3", "ip_stack_mode": "ipv6", "ipv6_cidr": "::/32"}),
        json!({"name": "ok4", "ipv4_address": "255.255.255.255"}),
        json!({"name": "ok5", "ipv6_address": "::ffff:10.1.0.9"}),
        json!({"name": "ok6", "endpoint": "[::1]:0"}),
        json!({"name": "ok7", "endpoint": ""}),
        json!({"name": "ok8", "additional_allowed_ips": ["0.0.0.0/0", "::/0"]}),
        json!({"name": "ok9", "group_ids": []}),
        json!({"name": "oka", "group_ids": [f.group, f.group]}),
        json!({"priority": i64::MIN}),
        json!({"priority": i64::MAX}),
        json!({"dns_servers": []}),
        json!({"force": true}),
        json!({"rules": []}),
        json!({"rules": [{"direction": "output", "action": "allow", "target_type": "group", "target": f.group}]}),
        json!({"rules": [{"direction": "output", "action": "allow", "target_type": "peer", "target": f.nid}]}),
        json!({"direction": "output", "action": "allow", "target_type": "cidr", "target": "::/0"}),
        json!({"destination_cidr": "0.0.0.0/0"}),
        json!({"jump_peer_id": f.laptop}),
        json!({"ip_address": "0.0.0.0"}),
        json!({"name": "*", "ip_address": "192.168.10.1"}),
        json!({"name": "*.*", "ip_address": "192.168.10.1"}),
        json!({"listen_port": null, "endpoint": null, "public_key": null}),
        json!({"id": 0, "addr": "http://"}),
        json!({"id": u64::MAX, "addr": "https://[::1]:99999"}),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bodies_on_every_post_and_patch_endpoint_are_4xx_problems_never_5xx() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let nid = &f.nid;
    let endpoints = [
        (Method::POST, "/networks".to_string()),
        (Method::PATCH, format!("/networks/{nid}")),
        (Method::POST, format!("/networks/{nid}/peers")),
        (Method::PATCH, format!("/networks/{nid}/peers/{}", f.laptop)),
        (Method::PATCH, format!("/networks/{nid}/peers/{}", f.jump)),
        (Method::POST, format!("/networks/{nid}/groups")),
        (Method::PATCH, format!("/networks/{nid}/groups/{}", f.group)),
        (Method::POST, format!("/networks/{nid}/policies")),
        (
            Method::PATCH,
            format!("/networks/{nid}/policies/{}", f.policy),
        ),
        (
            Method::POST,
            format!("/networks/{nid}/policies/{}/rules", f.policy),
        ),
        (Method::POST, format!("/networks/{nid}/routes")),
        (Method::PATCH, format!("/networks/{nid}/routes/{}", f.route)),
        (
            Method::POST,
            format!("/networks/{nid}/routes/{}/dns", f.route),
        ),
        (
            Method::PATCH,
            format!("/networks/{nid}/routes/{}/dns/{}", f.route, f.mapping),
        ),
        (Method::POST, "/tokens".to_string()),
        (Method::POST, "/cluster/members".to_string()),
    ];
    let mut failures = Vec::new();
    for (method, path) in &endpoints {
        for body in garbage() {
            let a = c.admin_raw(method.clone(), path, body.clone()).await;
            let ok = (400..500).contains(&a.status)
                && a.content_type().starts_with("application/problem+json")
                && a.json()["code"].is_string();
            if !ok {
                let shown: String = String::from_utf8_lossy(&body).chars().take(80).collect();
                failures.push(format!("{method} {path} {shown:?} -> {a}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_but_well_formed_bodies_and_state_edge_cases_are_never_5xx() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let nid = &f.nid;
    let endpoints = [
        (Method::POST, "/networks".to_string()),
        (Method::PATCH, format!("/networks/{nid}")),
        (Method::POST, format!("/networks/{nid}/peers")),
        (Method::PATCH, format!("/networks/{nid}/peers/{}", f.laptop)),
        (Method::PATCH, format!("/networks/{nid}/peers/{}", f.jump)),
        (Method::POST, format!("/networks/{nid}/groups")),
        (Method::PATCH, format!("/networks/{nid}/groups/{}", f.group)),
        (Method::POST, format!("/networks/{nid}/policies")),
        (
            Method::PATCH,
            format!("/networks/{nid}/policies/{}", f.policy),
        ),
        (
            Method::POST,
            format!("/networks/{nid}/policies/{}/rules", f.policy),
        ),
        (Method::POST, format!("/networks/{nid}/routes")),
        (Method::PATCH, format!("/networks/{nid}/routes/{}", f.route)),
        (
            Method::POST,
            format!("/networks/{nid}/routes/{}/dns", f.route),
        ),
        (
            Method::PATCH,
            format!("/networks/{nid}/routes/{}/dns/{}", f.route, f.mapping),
        ),
        (Method::POST, "/tokens".to_string()),
    ];
    let mut failures = Vec::new();
    let mut check = |what: String, a: &Answer| {
        let problem_ok = a.status < 400 || a.content_type().starts_with("application/problem+json");
        if a.status >= 500 || !problem_ok {
            failures.push(format!("{what} -> {a}"));
        }
    };
    for (method, path) in &endpoints {
        for body in odd_but_maybe_valid(&f) {
            let a = c.admin(method.clone(), path, Some(body.clone())).await;
            let shown: String = body.to_string().chars().take(80).collect();
            check(format!("{method} {path} {shown}"), &a);
        }
    }
    // State edge cases: repeated and reversed membership changes, deleting defaults,
    // removing what is not there, rotating a static peer's token.
    let g = format!("/networks/{nid}/groups/{}", f.group);
    let (_, groups) = c.get(1, &format!("/networks/{nid}/groups")).await;
    let default_group = id_of(&groups["items"][0]);
    let (_, policies) = c.get(1, &format!("/networks/{nid}/policies")).await;
    let default_policy = id_of(&policies["items"][0]);
    let edge = [
        (Method::PUT, format!("{g}/peers/{}", f.laptop)),
        (Method::PUT, format!("{g}/peers/{}", f.laptop)),
        (Method::DELETE, format!("{g}/peers/{}", f.laptop)),
        (Method::DELETE, format!("{g}/peers/{}", f.laptop)),
        (
            Method::DELETE,
            format!("/networks/{nid}/groups/{default_group}/peers/{}", f.laptop),
        ),
        (
            Method::DELETE,
            format!("/networks/{nid}/groups/{default_group}/peers/{}", f.jump),
        ),
        (Method::PUT, format!("{g}/policies/{}", f.policy)),
        (Method::PUT, format!("{g}/policies/{}", f.policy)),
        (Method::DELETE, format!("{g}/policies/{default_policy}")),
        (Method::PUT, format!("{g}/routes/{}", f.route)),
        (Method::PUT, format!("{g}/routes/{}", f.route)),
        (Method::DELETE, format!("{g}/routes/{}", f.route)),
        (Method::DELETE, format!("{g}/routes/{}", f.route)),
        (Method::PUT, format!("{g}/peers/{}", f.nid)),
        (
            Method::DELETE,
            format!("/networks/{nid}/policies/{}/rules/{}", f.policy, f.rule),
        ),
        (
            Method::DELETE,
            format!("/networks/{nid}/policies/{}/rules/{}", f.policy, f.rule),
        ),
        (
            Method::DELETE,
            format!(
                "/networks/{nid}/policies/{}/rules/{}",
                default_policy, f.rule
            ),
        ),
        (
            Method::POST,
            format!("/networks/{nid}/peers/{}/token", f.laptop),
        ),
        (
            Method::DELETE,
            format!("/networks/{nid}/groups/{default_group}"),
        ),
        (
            Method::DELETE,
            format!("/networks/{nid}/policies/{default_policy}"),
        ),
        (
            Method::DELETE,
            format!("/networks/{nid}/policies/{}", f.policy),
        ),
        (Method::DELETE, format!("/networks/{nid}/peers/{}", f.jump)),
        (Method::POST, "/cluster/members/1/promote".to_string()),
        (Method::POST, "/cluster/members/77/promote".to_string()),
        (Method::DELETE, "/cluster/members/77".to_string()),
        (
            Method::DELETE,
            format!("/networks/{nid}/routes/{}", f.route),
        ),
        (Method::DELETE, format!("/networks/{nid}/peers/{}", f.jump)),
        (
            Method::GET,
            format!("/networks/{nid}/peers/{}/config", f.laptop),
        ),
        (Method::GET, format!("/networks/{nid}/dns")),
        (Method::DELETE, format!("/networks/{nid}")),
        (Method::DELETE, format!("/networks/{nid}")),
    ];
    for (method, path) in edge {
        let a = c.admin(method.clone(), &path, None).await;
        check(format!("{method} {path}"), &a);
    }
    for (i, (method, path, body)) in [
        (
            Method::PATCH,
            "/networks/{nid}",
            json!({"ip_stack_mode": "ipv6", "ipv6_cidr": "fd01::/126", "force": true}),
        ),
        (
            Method::PATCH,
            "/networks/{nid}",
            json!({"ip_stack_mode": "ipv4", "force": true}),
        ),
        (
            Method::PATCH,
            "/networks/{nid}",
            json!({"ip_stack_mode": "dual", "ipv6_cidr": "fd07::/126", "force": true}),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let net = c
            .create(
                "/networks",
                json!({
                    "name": format!("mode{i}"), "ip_stack_mode": "dual",
                    "ipv4_cidr": format!("10.{}.0.0/30", 100 + i),
                    "ipv6_cidr": format!("fd{:02x}::/64", 0x40 + i)
                }),
            )
            .await;
        let id = id_of(&net);
        for i in 0..2 {
            c.create(
                &format!("/networks/{id}/peers"),
                json!({"name": format!("p{i}")}),
            )
            .await;
        }
        let path = path.replace("{nid}", &id);
        let a = c.admin(method.clone(), &path, Some(body.clone())).await;
        check(format!("{method} {path} {body}"), &a);
        let (_, _) = c.delete(1, &format!("/networks/{id}")).await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_an_address_of_a_family_the_network_lacks_is_400() {
    let c = Cluster::single().await;
    let v4 = c
        .create(
            "/networks",
            json!({"name": "four", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let v6 = c
        .create(
            "/networks",
            json!({"name": "six", "ip_stack_mode": "ipv6", "ipv6_cidr": "fd06::/64"}),
        )
        .await;
    for (nid, body, field) in [
        (
            id_of(&v4),
            json!({"name": "p", "ipv6_address": "fd06::5"}),
            "ipv6_address",
        ),
        (
            id_of(&v6),
            json!({"name": "p", "ipv4_address": "10.1.0.5"}),
            "ipv4_address",
        ),
    ] {
        let a = c
            .admin(
                Method::POST,
                &format!("/networks/{nid}/peers"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(a.status, 400, "{body}: {a}");
        assert!(
            a.content_type().starts_with("application/problem+json"),
            "{a}"
        );
        assert_eq!(a.json()["field"], field, "{a}");
        let (_, peers) = c.get(1, &format!("/networks/{nid}/peers")).await;
        assert_eq!(peers["items"], json!([]));
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mode_change_whose_new_prefix_is_too_small_is_409_pool_exhausted_and_changes_nothing() {
    let c = Cluster::single().await;
    let net = c
        .create(
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.1.0.0/24"}),
        )
        .await;
    let nid = id_of(&net);
    for i in 0..4 {
        c.create(
            &format!("/networks/{nid}/peers"),
            json!({"name": format!("a{i}"), "use_agent": true}),
        )
        .await;
    }
    // A /126 holds three addresses (::1, ::2, ::3); four peers need four.
    let a = c
        .admin(
            Method::PATCH,
            &format!("/networks/{nid}"),
            Some(json!({"ip_stack_mode": "dual", "ipv6_cidr": "fd01::/126"})),
        )
        .await;
    assert_problem(&a, 409, "pool_exhausted", None);
    let (_, n) = c.get(1, &format!("/networks/{nid}")).await;
    assert_eq!(n["ip_stack_mode"], "ipv4");
    assert_eq!(n["version"], 1);
    let (_, peers) = c.get(1, &format!("/networks/{nid}/peers")).await;
    for p in peers["items"].as_array().unwrap() {
        assert_eq!(p["ipv6_address"], Value::Null, "{p}");
        assert_eq!(p["version"], 1, "{p}");
    }
    let (_, ipam) = c.get(1, &format!("/networks/{nid}/ipam")).await;
    assert_eq!(ipam["ipv6"], Value::Null);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_1_mib_is_413_on_routes_that_take_no_body_too() {
    let c = Cluster::single().await;
    let f = fixture(&c).await;
    let big = format!("\"{}\"", "x".repeat(2 * 1024 * 1024)).into_bytes();
    let path = format!("/networks/{}/groups/{}/peers/{}", f.nid, f.group, f.laptop);
    let a = c.admin_raw(Method::PUT, &path, big.clone()).await;
    assert_problem(&a, 413, "payload_too_large", None);
    let (_, g) = c
        .get(1, &format!("/networks/{}/groups/{}", f.nid, f.group))
        .await;
    assert_eq!(g["peer_ids"], json!([]), "nothing changed: {g}");
    let a = c
        .admin_raw(
            Method::POST,
            &format!("/networks/{}/peers/{}/token", f.nid, f.jump),
            big,
        )
        .await;
    assert_problem(&a, 413, "payload_too_large", None);
    c.shutdown().await;
}

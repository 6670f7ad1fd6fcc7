//! The peer API: allocation per mode, agent tokens, the wg-quick
//! config, the jump firewall, PATCH and DELETE with address release.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn network(c: &Cluster, body: Value) -> String {
    id_of(&c.create("/networks", body).await)
}

async fn dual(c: &Cluster) -> String {
    network(
        c,
        json!({"name": "corp", "ip_stack_mode": "dual", "ipv4_cidr": "10.1.0.0/24", "ipv6_cidr": "fd01::/64"}),
    )
    .await
}

async fn default_group(c: &Cluster, nid: &str) -> String {
    let (status, groups) = c.get(1, &format!("/networks/{nid}/groups")).await;
    assert_eq!(status, 200, "{groups}");
    let g = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "default")
        .unwrap_or_else(|| panic!("no default group: {groups}"));
    id_of(g)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_stack_peer_gets_lowest_free_ipv4_and_ipv6_and_joins_the_default_group() {
    let c = Cluster::single().await;
    let nid = dual(&c).await;
    let p = c
        .create(&format!("/networks/{nid}/peers"), json!({"name": "laptop"}))
        .await;
    assert_eq!(p["network_id"], nid.as_str());
    assert_eq!(p["name"], "laptop");
    assert_eq!(p["ipv4_address"], "10.1.0.1");
    assert_eq!(p["ipv6_address"], "fd01::1");
    assert_eq!(p["is_jump"], false);
    assert_eq!(p["use_agent"], false);
    assert_eq!(p["version"], 1);
    assert_eq!(p["group_ids"], json!([default_group(&c, &nid).await]));
    // A static peer without a key gets a server-generated key pair; no agent token.
    let key = p["public_key"].as_str().unwrap_or_else(|| panic!("{p}"));
    assert_eq!(key.len(), 44, "{p}");
    assert!(p.get("agent_token").is_none(), "{p}");
    assert!(p.get("private_key").is_none(), "{p}");

    let second = c
        .create(&format!("/networks/{nid}/peers"), json!({"name": "phone"}))
        .await;
    assert_eq!(second["ipv4_address"], "10.1.0.2");
    assert_eq!(second["ipv6_address"], "fd01::2");
    let (status, list) = c.get(1, &format!("/networks/{nid}/peers")).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["laptop", "phone"]);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_only_network_peers_have_a_null_ipv4_address() {
    let c = Cluster::single().await;
    let nid = network(
        &c,
        json!({"name": "six", "ip_stack_mode": "ipv6", "ipv6_cidr": "fd02::/64"}),
    )
    .await;
    let p = c
        .create(&format!("/networks/{nid}/peers"), json!({"name": "laptop"}))
        .await;
    assert_eq!(p["ipv4_address"], Value::Null, "{p}");
    assert_eq!(p["ipv6_address"], "fd02::1");
    let (_, got) = c
        .get(1, &format!("/networks/{nid}/peers/{}", id_of(&p)))
        .await;
    assert_eq!(got["ipv4_address"], Value::Null, "{got}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_only_network_peers_have_a_null_ipv6_address_and_can_ask_for_a_free_address() {
    let c = Cluster::single().await;
    let nid = network(&c, json!({"name": "four", "ipv4_cidr": "10.5.0.0/24"})).await;
    let p = c
        .create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "fixed", "ipv4_address": "10.5.0.50"}),
        )
        .await;
    assert_eq!(p["ipv4_address"], "10.5.0.50");
    assert_eq!(p["ipv6_address"], Value::Null);
    let taken = c
        .admin(
            Method::POST,
            &format!("/networks/{nid}/peers"),
            Some(json!({"name": "other", "ipv4_address": "10.5.0.50"})),
        )
        .await;
    assert_problem(&taken, 409, "address_taken", Some("ipv4_address"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_peer_creation_shows_its_agent_token_only_in_the_201() {
    let c = Cluster::single().await;
    let nid = dual(&c).await;
    let p = c
        .create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "agent", "use_agent": true}),
        )
        .await;
    assert_eq!(p["use_agent"], true);
    let token = p["agent_token"].as_str().unwrap_or_else(|| panic!("{p}"));
    assert!(token.len() >= 20, "{p}");
    assert_eq!(
        p["public_key"],
        Value::Null,
        "the agent registers its key: {p}"
    );
    let pid = id_of(&p);
    let (_, got) = c.get(1, &format!("/networks/{nid}/peers/{pid}")).await;
    assert!(got.get("agent_token").is_none(), "{got}");
    let (_, list) = c.get(1, &format!("/networks/{nid}/peers")).await;
    assert!(!list.to_string().contains(token), "{list}");

    // A jump is always an agent peer with the default listen port.
    let j = c
        .create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "jump", "is_jump": true}),
        )
        .await;
    assert_eq!(j["is_jump"], true);
    assert_eq!(j["use_agent"], true);
    assert_eq!(j["listen_port"], 51820);
    assert!(j["agent_token"].is_string(), "{j}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_config_is_text_plain_with_host_addresses_and_one_peer_section_per_jump() {
    let c = Cluster::single().await;
    let nid = dual(&c).await;
    let peers = format!("/networks/{nid}/peers");
    let j1 = c
        .create(
            &peers,
            json!({"name": "jump1", "is_jump": true, "public_key": wg_key(1), "endpoint": "vpn1.example.com"}),
        )
        .await;
    let j2 = c
        .create(
            &peers,
            json!({"name": "jump2", "is_jump": true, "public_key": wg_key(2), "endpoint": "[2001:db8::2]:51000"}),
        )
        .await;
    let laptop = c.create(&peers, json!({"name": "laptop"})).await;

    let cfg = c
        .admin(
            Method::GET,
            &format!("{peers}/{}/config", id_of(&laptop)),
            None,
        )
        .await;
    assert_eq!(cfg.status, 200, "{cfg}");
    assert!(cfg.content_type().starts_with("text/plain"), "{cfg}");
    let text = &cfg.text;
    assert!(text.starts_with("[Interface]\n"), "{text}");
    assert!(
        text.contains("Address = 10.1.0.3/32, fd01::3/128\n"),
        "{text}"
    );
    assert!(
        text.contains("PrivateKey = "),
        "a generated key pair: {text}"
    );
    assert!(
        text.contains("DNS = 10.1.0.1, fd01::1, corp.internal\n"),
        "{text}"
    );
    assert_eq!(text.matches("[Peer]").count(), 2, "{text}");
    assert!(
        text.contains(&format!("PublicKey = {}\n", wg_key(1))),
        "{text}"
    );
    assert!(
        text.contains(&format!("PublicKey = {}\n", wg_key(2))),
        "{text}"
    );
    assert!(
        text.contains("Endpoint = vpn1.example.com:51820\n"),
        "{text}"
    );
    assert!(text.contains("Endpoint = [2001:db8::2]:51000\n"), "{text}");
    assert!(text.contains("PersistentKeepalive = 25"), "{text}");
    // The network prefixes go to the primary (oldest) jump only.
    let first = &text[text.find("[Peer]").unwrap()..];
    let second_at = first[1..].find("[Peer]").unwrap() + 1;
    assert!(
        first[..second_at].contains("10.1.0.0/24") && first[..second_at].contains("fd01::/64"),
        "{text}"
    );
    assert!(!first[second_at..].contains("10.1.0.0/24"), "{text}");

    // A jump has one section per other peer and a ListenPort; its key is held by the agent.
    let jcfg = c
        .admin(Method::GET, &format!("{peers}/{}/config", id_of(&j1)), None)
        .await;
    assert_eq!(jcfg.status, 200, "{jcfg}");
    assert!(jcfg.text.contains("ListenPort = 51820"), "{jcfg}");
    assert!(
        jcfg.text.contains("Address = 10.1.0.1/32, fd01::1/128"),
        "{jcfg}"
    );
    assert_eq!(jcfg.text.matches("[Peer]").count(), 2, "{jcfg}");
    assert!(!jcfg.text.contains("PrivateKey = "), "{jcfg}");
    let _ = j2;

    let missing = c
        .admin(
            Method::GET,
            &format!("{peers}/{}/config", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_problem(&missing, 404, "not_found", None);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_only_peer_config_has_no_ipv4_anywhere() {
    let c = Cluster::single().await;
    let nid = network(
        &c,
        json!({"name": "six", "ip_stack_mode": "ipv6", "ipv6_cidr": "fd02::/64"}),
    )
    .await;
    let peers = format!("/networks/{nid}/peers");
    c.create(
        &peers,
        json!({"name": "jump", "is_jump": true, "public_key": wg_key(3), "endpoint": "203.0.113.5"}),
    )
    .await;
    let laptop = c.create(&peers, json!({"name": "laptop"})).await;
    let cfg = c
        .admin(
            Method::GET,
            &format!("{peers}/{}/config", id_of(&laptop)),
            None,
        )
        .await;
    assert_eq!(cfg.status, 200, "{cfg}");
    assert!(cfg.text.contains("Address = fd02::2/128\n"), "{cfg}");
    assert!(
        cfg.text.contains("AllowedIPs = fd02::1/128, fd02::/64"),
        "{cfg}"
    );
    // The endpoint is the jump's public IPv4 address; no overlay IPv4 appears.
    let without_endpoint: String = cfg
        .text
        .lines()
        .filter(|l| !l.starts_with("Endpoint"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!without_endpoint.contains("/32"), "{cfg}");
    assert!(!without_endpoint.contains("0.0.0.0"), "{cfg}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jump_firewall_has_rules_and_restore_per_family_and_forwarding_flags() {
    let c = Cluster::single().await;
    let nid = dual(&c).await;
    let peers = format!("/networks/{nid}/peers");
    let jump = c
        .create(&peers, json!({"name": "jump", "is_jump": true}))
        .await;
    let laptop = c.create(&peers, json!({"name": "laptop"})).await;

    let (status, fw) = c
        .get(1, &format!("{peers}/{}/firewall", id_of(&jump)))
        .await;
    assert_eq!(status, 200, "{fw}");
    for family in ["ipv4", "ipv6"] {
        let rules = fw[family]["rules"]
            .as_array()
            .unwrap_or_else(|| panic!("{family}: {fw}"));
        assert!(!rules.is_empty(), "{fw}");
        let restore = fw[family]["restore"].as_str().unwrap();
        assert!(restore.starts_with("*filter"), "{restore}");
        assert!(restore.contains("RAFTWIRE_JUMP"), "{restore}");
        assert!(restore.trim_end().ends_with("COMMIT"), "{restore}");
        assert!(
            rules
                .iter()
                .any(|r| r["chain"] == "RAFTWIRE_JUMP" && r["verdict"] == "drop"),
            "a final drop: {fw}"
        );
    }
    assert!(
        fw["ipv4"]["restore"].as_str().unwrap().contains("10.1.0.2"),
        "{fw}"
    );
    assert!(
        fw["ipv6"]["restore"].as_str().unwrap().contains("fd01::2"),
        "{fw}"
    );
    assert!(
        !fw["ipv4"]["restore"].as_str().unwrap().contains("fd01::"),
        "{fw}"
    );
    assert_eq!(fw["forwarding"], json!({"ipv4": true, "ipv6": true}));

    // A regular peer has no firewall.
    let regular = c
        .admin(
            Method::GET,
            &format!("{peers}/{}/firewall", id_of(&laptop)),
            None,
        )
        .await;
    assert_problem(&regular, 400, "not_a_jump", None);

    // An IPv4-only network: no IPv6 rules, IPv6 forwarding left alone.
    let v4 = network(&c, json!({"name": "four", "ipv4_cidr": "10.2.0.0/24"})).await;
    let j4 = c
        .create(
            &format!("/networks/{v4}/peers"),
            json!({"name": "jump", "is_jump": true}),
        )
        .await;
    let (status, fw) = c
        .get(
            1,
            &format!(
                "/networks/{v4}/peers/{}/firewall?consistency=local",
                id_of(&j4)
            ),
        )
        .await;
    assert_eq!(status, 200, "{fw}");
    assert_eq!(fw["ipv6"], Value::Null, "{fw}");
    assert!(fw["ipv4"]["restore"]
        .as_str()
        .unwrap()
        .starts_with("*filter"));
    assert_eq!(fw["forwarding"], json!({"ipv4": true, "ipv6": false}));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_updates_a_peer_and_bumps_its_version() {
    let c = Cluster::single().await;
    let nid = dual(&c).await;
    let p = c
        .create(&format!("/networks/{nid}/peers"), json!({"name": "laptop"}))
        .await;
    let path = format!("/networks/{nid}/peers/{}", id_of(&p));
    let (status, patched) = c
        .patch(
            1,
            &path,
            json!({
                "name": "laptop2", "endpoint": "laptop.example.com:51900",
                "additional_allowed_ips": ["192.168.50.0/24", "fd50::/64"],
                "ipv4_address": "10.1.0.9"
            }),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "laptop2");
    assert_eq!(patched["endpoint"], "laptop.example.com:51900");
    assert_eq!(
        patched["additional_allowed_ips"],
        json!(["192.168.50.0/24", "fd50::/64"])
    );
    assert_eq!(patched["ipv4_address"], "10.1.0.9");
    assert_eq!(patched["ipv6_address"], "fd01::1");
    assert_eq!(patched["version"], 2);
    let (_, mut got) = c.get(1, &path).await;
    // A read adds the agent's connection status (none for a static peer).
    assert_eq!(got["agent"], Value::Null, "{got}");
    got.as_object_mut().unwrap().remove("agent");
    assert_eq!(got, patched);
    // `null` clears a nullable field.
    let (status, cleared) = c.patch(1, &path, json!({"endpoint": null})).await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["endpoint"], Value::Null);
    // The old address is free again: the next peer gets the lowest free one.
    let next = c
        .create(&format!("/networks/{nid}/peers"), json!({"name": "next"}))
        .await;
    assert_eq!(next["ipv4_address"], "10.1.0.1", "{next}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_peer_is_204_then_404_and_releases_its_addresses() {
    let c = Cluster::single().await;
    let nid = dual(&c).await;
    let peers = format!("/networks/{nid}/peers");
    let a = c.create(&peers, json!({"name": "a"})).await;
    c.create(&peers, json!({"name": "b"})).await;
    let (status, body) = c.delete(1, &format!("{peers}/{}", id_of(&a))).await;
    assert_eq!(status, 204, "{body}");
    let gone = c
        .admin(Method::GET, &format!("{peers}/{}", id_of(&a)), None)
        .await;
    assert_problem(&gone, 404, "not_found", None);
    let (_, ipam) = c.get(1, &format!("/networks/{nid}/ipam")).await;
    assert_eq!(ipam["ipv4"]["allocated"], "1");
    assert_eq!(ipam["ipv6"]["allocated"], "1");
    let (_, dns) = c.get(1, &format!("/networks/{nid}/dns")).await;
    assert!(!dns.to_string().contains("\"a.corp.internal\""), "{dns}");
    // Released addresses are reused, lowest first.
    let c2 = c.create(&peers, json!({"name": "c"})).await;
    assert_eq!(c2["ipv4_address"], "10.1.0.1");
    assert_eq!(c2["ipv6_address"], "fd01::1");
    c.shutdown().await;
}

/// The `AllowedIPs` of each `[Peer]` section of a wg-quick config, in order.
fn allowed_ips(config: &str) -> Vec<Vec<String>> {
    config
        .split("[Peer]")
        .skip(1)
        .map(|section| {
            section
                .lines()
                .find_map(|l| l.strip_prefix("AllowedIPs = "))
                .map(|v| v.split(", ").map(str::to_string).collect())
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_ips_carry_additional_subnets_and_never_a_prefix_twice_or_of_a_missing_family() {
    let c = Cluster::single().await;
    // Sites behind peers in both families, in a dual-stack network that then drops IPv6:
    // the IPv6 subnets stay on the peers but no config may carry them any more.
    let nid = network(
        &c,
        json!({"name": "four", "ip_stack_mode": "dual", "ipv4_cidr": "10.1.0.0/24", "ipv6_cidr": "fd01::/64"}),
    )
    .await;
    let peers = format!("/networks/{nid}/peers");
    let jump = c
        .create(
            &peers,
            json!({"name": "jump", "is_jump": true, "public_key": wg_key(1),
                   "additional_allowed_ips": ["192.168.50.0/24", "fd50::/64"]}),
        )
        .await;
    let jump2 = c
        .create(
            &peers,
            json!({"name": "jump2", "is_jump": true, "public_key": wg_key(2)}),
        )
        .await;
    let site = c
        .create(
            &peers,
            json!({"name": "site", "public_key": wg_key(3),
                   "additional_allowed_ips": ["192.168.60.0/24", "fd60::/64"]}),
        )
        .await;
    let (status, body) = c
        .request(
            1,
            Method::PATCH,
            &format!("/networks/{nid}"),
            Some(json!({"ip_stack_mode": "ipv4", "force": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A subnet of a family the network lacks is refused from now on (like a route, R7).
    let (status, body) = c
        .post(
            1,
            &peers,
            json!({"name": "late", "additional_allowed_ips": ["fd70::/64"]}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (400, Some("wrong_family"), Some("additional_allowed_ips[0]")),
        "{body}"
    );
    // The same destination routed through both jumps, both visible to every peer.
    let (_, groups) = c.get(1, &format!("/networks/{nid}/groups")).await;
    let dg = id_of(&groups["items"][0]);
    for (name, j) in [("via1", &jump), ("via2", &jump2)] {
        let r = c
            .create(
                &format!("/networks/{nid}/routes"),
                json!({"name": name, "destination_cidr": "172.16.0.0/16", "jump_peer_id": id_of(j)}),
            )
            .await;
        let (status, _) = c
            .put(
                1,
                &format!("/networks/{nid}/groups/{dg}/routes/{}", id_of(&r)),
            )
            .await;
        assert_eq!(status, 204);
    }

    let cfg = c
        .admin(
            Method::GET,
            &format!("{peers}/{}/config", id_of(&site)),
            None,
        )
        .await;
    assert_eq!(cfg.status, 200, "{cfg}");
    let sections = allowed_ips(&cfg.text);
    assert_eq!(sections.len(), 2, "{cfg}");
    assert!(
        sections[0].contains(&"192.168.50.0/24".to_string()),
        "{cfg}"
    );
    assert!(
        !cfg.text.contains("fd50::") && !cfg.text.contains("fd60::"),
        "{cfg}"
    );
    let all: Vec<&String> = sections.iter().flatten().collect();
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(all.len(), unique.len(), "a prefix in two sections: {cfg}");
    assert!(all.contains(&&"172.16.0.0/16".to_string()), "{cfg}");

    // In the jump's config, the site's section carries its subnets of the jump's families.
    let jcfg = c
        .admin(
            Method::GET,
            &format!("{peers}/{}/config", id_of(&jump)),
            None,
        )
        .await;
    assert_eq!(jcfg.status, 200, "{jcfg}");
    let sections = allowed_ips(&jcfg.text);
    assert!(
        sections.contains(&vec![
            "10.1.0.3/32".to_string(),
            "192.168.60.0/24".to_string()
        ]),
        "{jcfg}"
    );
    assert!(
        !jcfg.text.contains("fd60::") && !jcfg.text.contains("fd50::"),
        "{jcfg}"
    );
    c.shutdown().await;
}

/// PATCH goes through the checks POST does: `additional_allowed_ips` inside the overlay
/// (409 `cidr_overlap`) or of a family the network lacks (400 `wrong_family`), and a name a
/// DNS mapping answers for (409 `name_taken`). A refused PATCH changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_refuses_what_create_refuses_allowed_ips_and_mapping_names() {
    let c = Cluster::single().await;
    let nid = network(
        &c,
        json!({"name": "v4", "ip_stack_mode": "ipv4", "ipv4_cidr": "10.3.0.0/24"}),
    )
    .await;
    let peers = format!("/networks/{nid}/peers");
    let p = c.create(&peers, json!({"name": "laptop"})).await;
    let path = format!("{peers}/{}", id_of(&p));
    for (body, status, code, field) in [
        (
            json!({"additional_allowed_ips": ["192.168.9.0/24", "10.3.0.7/32"]}),
            409,
            "cidr_overlap",
            "additional_allowed_ips[1]",
        ),
        (
            json!({"additional_allowed_ips": ["fd99::/64"]}),
            400,
            "wrong_family",
            "additional_allowed_ips[0]",
        ),
    ] {
        let mut create = body.clone();
        create["name"] = json!("other");
        let a = c.admin(Method::POST, &peers, Some(create)).await;
        assert_problem(&a, status, code, Some(field));
        let a = c.admin(Method::PATCH, &path, Some(body)).await;
        assert_problem(&a, status, code, Some(field));
    }

    // A name a DNS mapping answers for.
    let jump = c
        .create(&peers, json!({"name": "gw", "is_jump": true}))
        .await;
    let route = c
        .create(
            &format!("/networks/{nid}/routes"),
            json!({"name": "lan", "destination_cidr": "192.168.9.0/24", "jump_peer_id": id_of(&jump)}),
        )
        .await;
    c.create(
        &format!("/networks/{nid}/routes/{}/dns", id_of(&route)),
        json!({"name": "nas", "ip_address": "192.168.9.10"}),
    )
    .await;
    let a = c
        .admin(Method::POST, &peers, Some(json!({"name": "nas"})))
        .await;
    assert_problem(&a, 409, "name_taken", Some("name"));
    let a = c
        .admin(Method::PATCH, &path, Some(json!({"name": "nas"})))
        .await;
    assert_problem(&a, 409, "name_taken", Some("name"));

    // Nothing changed.
    let (status, got) = c.get(1, &path).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["version"], 1, "{got}");
    assert_eq!(got["name"], "laptop");
    assert_eq!(got["additional_allowed_ips"], json!([]));
    c.shutdown().await;
}

//! Groups, policies and rules, routes, DNS mappings and the network's DNS records through the
//! HTTP API.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

struct Net {
    nid: String,
    jump: String,
    laptop: String,
}

/// A dual-stack network with a keyed jump and a regular peer.
async fn setup(c: &Cluster) -> Net {
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
            json!({"name": "jump", "is_jump": true, "public_key": wg_key(1), "endpoint": "vpn.example.com"}),
        )
        .await;
    let laptop = c
        .create(&format!("/networks/{nid}/peers"), json!({"name": "laptop"}))
        .await;
    Net {
        nid,
        jump: id_of(&jump),
        laptop: id_of(&laptop),
    }
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_network_starts_with_a_default_group_holding_its_peers_and_the_default_policy() {
    let c = Cluster::single().await;
    let n = setup(&c).await;
    let (status, groups) = c.get(1, &format!("/networks/{}/groups", n.nid)).await;
    assert_eq!(status, 200, "{groups}");
    let groups = items(&groups);
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["name"], "default");
    assert_eq!(
        ids(&groups[0]["peer_ids"]),
        [n.jump.clone(), n.laptop.clone()]
    );

    let (status, policies) = c.get(1, &format!("/networks/{}/policies", n.nid)).await;
    assert_eq!(status, 200, "{policies}");
    let policies = items(&policies);
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0]["name"], "default");
    assert_eq!(ids(&groups[0]["policy_ids"]), [id_of(&policies[0])]);
    // Both families are allowed within the network.
    let targets: Vec<(&str, &str)> = policies[0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap(),
                r["ip_version"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(targets.contains(&("10.1.0.0/24", "ipv4")), "{targets:?}");
    assert!(targets.contains(&("fd01::/64", "ipv6")), "{targets:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_crud_and_membership_put_delete_are_reflected_in_peer_ids() {
    let c = Cluster::single().await;
    let n = setup(&c).await;
    let base = format!("/networks/{}/groups", n.nid);
    let g = c
        .create(
            &base,
            json!({"name": "ops", "description": "operators", "priority": 10}),
        )
        .await;
    assert_eq!(g["name"], "ops");
    assert_eq!(g["description"], "operators");
    assert_eq!(g["priority"], 10);
    assert_eq!(g["peer_ids"], json!([]));
    assert_eq!(g["policy_ids"], json!([]));
    assert_eq!(g["route_ids"], json!([]));
    assert_eq!(g["version"], 1);
    let gid = id_of(&g);
    let gpath = format!("{base}/{gid}");

    let (status, body) = c.put(1, &format!("{gpath}/peers/{}", n.laptop)).await;
    assert_eq!(status, 204, "{body}");
    let (_, got) = c.get(1, &gpath).await;
    assert_eq!(ids(&got["peer_ids"]), vec![n.laptop.to_string()]);
    let (_, peer) = c
        .get(1, &format!("/networks/{}/peers/{}", n.nid, n.laptop))
        .await;
    assert!(ids(&peer["group_ids"]).contains(&gid), "{peer}");

    let (status, body) = c.delete(1, &format!("{gpath}/peers/{}", n.laptop)).await;
    assert_eq!(status, 204, "{body}");
    let (_, got) = c.get(1, &gpath).await;
    assert_eq!(got["peer_ids"], json!([]));

    let (status, patched) = c
        .patch(1, &gpath, json!({"name": "ops2", "priority": 5}))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "ops2");
    assert_eq!(patched["priority"], 5);
    assert!(patched["version"].as_u64().unwrap() > 1, "{patched}");

    let second = c.create(&base, json!({"name": "devs"})).await;
    assert_eq!(second["priority"], 100, "default priority: {second}");
    let (_, list) = c.get(1, &base).await;
    let names: Vec<&str> = items(&list)
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "ops2", "devs"]);

    let (status, body) = c.delete(1, &gpath).await;
    assert_eq!(status, 204, "{body}");
    let gone = c.admin(Method::GET, &gpath, None).await;
    assert_problem(&gone, 404, "not_found", None);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_and_route_attachments_put_delete_are_reflected_in_the_group() {
    let c = Cluster::single().await;
    let n = setup(&c).await;
    let g = c
        .create(
            &format!("/networks/{}/groups", n.nid),
            json!({"name": "ops"}),
        )
        .await;
    let gpath = format!("/networks/{}/groups/{}", n.nid, id_of(&g));
    let p1 = c
        .create(
            &format!("/networks/{}/policies", n.nid),
            json!({"name": "one"}),
        )
        .await;
    let p2 = c
        .create(
            &format!("/networks/{}/policies", n.nid),
            json!({"name": "two"}),
        )
        .await;
    let r = c
        .create(
            &format!("/networks/{}/routes", n.nid),
            json!({"name": "lan", "destination_cidr": "192.168.10.0/24", "jump_peer_id": n.jump}),
        )
        .await;

    for p in [&p1, &p2] {
        let (status, body) = c.put(1, &format!("{gpath}/policies/{}", id_of(p))).await;
        assert_eq!(status, 204, "{body}");
    }
    let (status, body) = c.put(1, &format!("{gpath}/routes/{}", id_of(&r))).await;
    assert_eq!(status, 204, "{body}");
    let (_, got) = c.get(1, &gpath).await;
    assert_eq!(
        ids(&got["policy_ids"]),
        [id_of(&p1), id_of(&p2)],
        "in order"
    );
    assert_eq!(ids(&got["route_ids"]), [id_of(&r)]);

    let (status, body) = c
        .delete(1, &format!("{gpath}/policies/{}", id_of(&p1)))
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = c.delete(1, &format!("{gpath}/routes/{}", id_of(&r))).await;
    assert_eq!(status, 204, "{body}");
    let (_, got) = c.get(1, &gpath).await;
    assert_eq!(ids(&got["policy_ids"]), [id_of(&p2)]);
    assert_eq!(got["route_ids"], json!([]));

    // Attaching something that does not exist is a 404.
    let missing = c
        .admin(
            Method::PUT,
            &format!("{gpath}/policies/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_problem(&missing, 404, "not_found", None);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_attached_to_a_group_reaches_its_members_configs_through_the_jump() {
    let c = Cluster::single().await;
    let n = setup(&c).await;
    let r4 = c
        .create(
            &format!("/networks/{}/routes", n.nid),
            json!({"name": "lan", "destination_cidr": "192.168.10.0/24", "jump_peer_id": n.jump}),
        )
        .await;
    let (_, groups) = c.get(1, &format!("/networks/{}/groups", n.nid)).await;
    let default = id_of(&items(&groups)[0]);
    let cfg_path = format!("/networks/{}/peers/{}/config", n.nid, n.laptop);
    let before = c.admin(Method::GET, &cfg_path, None).await;
    assert!(!before.text.contains("192.168.10.0/24"), "{before}");
    let (status, _) = c
        .put(
            1,
            &format!("/networks/{}/groups/{default}/routes/{}", n.nid, id_of(&r4)),
        )
        .await;
    assert_eq!(status, 204);
    let after = c.admin(Method::GET, &cfg_path, None).await;
    assert!(after.text.contains("192.168.10.0/24"), "{after}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_crud_with_inline_rules_detects_the_ip_version_of_each_rule() {
    let c = Cluster::single().await;
    let n = setup(&c).await;
    let base = format!("/networks/{}/policies", n.nid);
    let p = c
        .create(
            &base,
            json!({
                "name": "web", "description": "web access",
                "rules": [
                    {"direction": "output", "action": "allow", "target_type": "cidr", "target": "10.9.0.0/16"},
                    {"direction": "input", "action": "deny", "target_type": "cidr", "target": "fd09::/64"},
                    {"direction": "output", "action": "allow", "target_type": "any"},
                    {"direction": "output", "action": "allow", "target_type": "peer", "target": n.jump},
                ]
            }),
        )
        .await;
    assert_eq!(p["name"], "web");
    assert_eq!(p["description"], "web access");
    let rules = p["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4, "{p}");
    let versions: Vec<&str> = rules
        .iter()
        .map(|r| r["ip_version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["ipv4", "ipv6", "both", "both"]);
    assert_eq!(rules[0]["direction"], "output");
    assert_eq!(rules[0]["action"], "allow");
    assert_eq!(rules[0]["target_type"], "cidr");
    assert_eq!(rules[0]["target"], "10.9.0.0/16");
    assert_eq!(rules[1]["direction"], "input");
    assert_eq!(rules[1]["action"], "deny");
    assert_eq!(rules[2]["target_type"], "any");
    assert_eq!(rules[2]["target"], Value::Null);
    assert_eq!(rules[3]["target_type"], "peer");
    assert_eq!(rules[3]["target"], n.jump.as_str());
    for r in rules {
        assert!(r["id"].is_string(), "{r}");
    }
    let polid = id_of(&p);
    let ppath = format!("{base}/{polid}");
    let (status, got) = c.get(1, &ppath).await;
    assert_eq!(status, 200);
    assert_eq!(got, p);

    let (status, patched) = c
        .patch(
            1,
            &ppath,
            json!({"name": "web2", "rules": [
                {"direction": "output", "action": "deny", "target_type": "cidr", "target": "192.0.2.0/24"}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "web2");
    assert_eq!(patched["rules"].as_array().unwrap().len(), 1);
    assert_eq!(patched["rules"][0]["ip_version"], "ipv4");
    assert!(patched["version"].as_u64().unwrap() > 1);

    let (_, list) = c.get(1, &base).await;
    let names: Vec<&str> = items(&list)
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "web2"]);

    let (status, body) = c.delete(1, &ppath).await;
    assert_eq!(status, 204, "{body}");
    let gone = c.admin(Method::GET, &ppath, None).await;
    assert_problem(&gone, 404, "not_found", None);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_appended_with_201_and_removed_with_204() {
    let c = Cluster::single().await;
    let n = setup(&c).await;
    let p = c
        .create(
            &format!("/networks/{}/policies", n.nid),
            json!({"name": "web", "rules": [
                {"direction": "output", "action": "allow", "target_type": "cidr", "target": "10.9.0.0/16"}
            ]}),
        )
        .await;
    let ppath = format!("/networks/{}/policies/{}", n.nid, id_of(&p));
    let (_, groups) = c.get(1, &format!("/networks/{}/groups", n.nid)).await;
    let group_target = id_of(&items(&groups)[0]);
    let (status, after) = c
        .post(
            1,
            &format!("{ppath}/rules"),
            json!({"direction": "input", "action": "allow", "target_type": "group", "target": group_target, "description": "from the group"}),
        )
        .await;
    assert_eq!(status, 201, "{after}");
    let rules = after["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2, "appended: {after}");
    assert_eq!(rules[1]["target_type"], "group");
    assert_eq!(rules[1]["target"], group_target.as_str());
    assert_eq!(rules[1]["ip_version"], "both");
    assert_eq!(rules[1]["description"], "from the group");
    let first = rules[0]["id"].as_str().unwrap().to_string();

    let (status, body) = c.delete(1, &format!("{ppath}/rules/{first}")).await;
    assert_eq!(status, 204, "{body}");
    let (_, got) = c.get(1, &ppath).await;
    let left = got["rules"].as_array().unwrap();
    assert_eq!(left.len(), 1, "{got}");
    assert_eq!(left[0]["target_type"], "group");

    let missing = c
        .admin(Method::DELETE, &format!("{ppath}/rules/{first}"), None)
        .await;
    assert_problem(&missing, 404, "not_found", None);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_crud_detects_the_ip_version_of_the_destination() {
    let c = Cluster::single().await;
    let n = setup(&c).await;
    let base = format!("/networks/{}/routes", n.nid);
    let r4 = c
        .create(
            &base,
            json!({"name": "lan", "description": "office", "destination_cidr": "192.168.10.0/24", "jump_peer_id": n.jump}),
        )
        .await;
    assert_eq!(r4["name"], "lan");
    assert_eq!(r4["description"], "office");
    assert_eq!(r4["destination_cidr"], "192.168.10.0/24");
    assert_eq!(r4["ip_version"], "ipv4");
    assert_eq!(r4["jump_peer_id"], n.jump.as_str());
    assert_eq!(r4["network_id"], n.nid.as_str());
    let r6 = c
        .create(
            &base,
            json!({"name": "lan6", "destination_cidr": "fd99::/64", "jump_peer_id": n.jump}),
        )
        .await;
    assert_eq!(r6["ip_version"], "ipv6");

    let (status, list) = c.get(1, &base).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = items(&list)
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lan", "lan6"]);

    let rpath = format!("{base}/{}", id_of(&r4));
    let (status, got) = c.get(1, &rpath).await;
    assert_eq!(status, 200);
    assert_eq!(got, r4);
    let (status, patched) = c
        .patch(
            1,
            &rpath,
            json!({"name": "lan-b", "destination_cidr": "192.168.20.0/24"}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "lan-b");
    assert_eq!(patched["destination_cidr"], "192.168.20.0/24");
    assert_eq!(patched["version"], 2);

    let (status, body) = c.delete(1, &rpath).await;
    assert_eq!(status, 204, "{body}");
    let gone = c.admin(Method::GET, &rpath, None).await;
    assert_problem(&gone, 404, "not_found", None);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_mapping_crud_and_network_records_have_a_and_aaaa_per_peer_and_route_records() {
    let c = Cluster::single().await;
    let n = setup(&c).await;
    let route = c
        .create(
            &format!("/networks/{}/routes", n.nid),
            json!({"name": "lan", "destination_cidr": "192.168.10.0/24", "jump_peer_id": n.jump}),
        )
        .await;
    let route6 = c
        .create(
            &format!("/networks/{}/routes", n.nid),
            json!({"name": "lan6", "destination_cidr": "fd99::/64", "jump_peer_id": n.jump}),
        )
        .await;
    let base = format!("/networks/{}/routes/{}/dns", n.nid, id_of(&route));
    let m = c
        .create(&base, json!({"name": "db", "ip_address": "192.168.10.5"}))
        .await;
    assert_eq!(m["name"], "db");
    assert_eq!(m["ip_address"], "192.168.10.5");
    assert_eq!(m["ip_version"], "ipv4");
    assert_eq!(m["route_id"], id_of(&route).as_str());
    let w = c
        .create(
            &base,
            json!({"name": "*.svc", "ip_address": "192.168.10.6"}),
        )
        .await;
    assert_eq!(w["name"], "*.svc");
    let m6 = c
        .create(
            &format!("/networks/{}/routes/{}/dns", n.nid, id_of(&route6)),
            json!({"name": "db6", "ip_address": "fd99::5"}),
        )
        .await;
    assert_eq!(m6["ip_version"], "ipv6");

    let (status, list) = c.get(1, &base).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = items(&list)
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["db", "*.svc"],
        "only this route's mappings, in order"
    );

    let mpath = format!("{base}/{}", id_of(&m));
    let (status, got) = c.get(1, &mpath).await;
    assert_eq!(status, 200);
    assert_eq!(got, m);
    let (status, patched) = c
        .patch(1, &mpath, json!({"ip_address": "192.168.10.7"}))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["ip_address"], "192.168.10.7");
    assert_eq!(patched["version"], 2);

    let (status, records) = c.get(1, &format!("/networks/{}/dns", n.nid)).await;
    assert_eq!(status, 200, "{records}");
    let records = items(&records);
    let has = |name: &str, kind: &str, value: &str, source: &str| {
        records.iter().any(|r| {
            r["name"] == name
                && r["fqdn"] == format!("{name}.corp.internal").as_str()
                && r["type"] == kind
                && r["value"] == value
                && r["source"] == source
        })
    };
    assert!(has("laptop", "A", "10.1.0.2", "peer"), "{records:?}");
    assert!(has("laptop", "AAAA", "fd01::2", "peer"), "{records:?}");
    assert!(has("jump", "A", "10.1.0.1", "peer"), "{records:?}");
    assert!(has("jump", "AAAA", "fd01::1", "peer"), "{records:?}");
    assert!(has("db", "A", "192.168.10.7", "route"), "{records:?}");
    assert!(has("*.svc", "A", "192.168.10.6", "route"), "{records:?}");
    assert!(has("db6", "AAAA", "fd99::5", "route"), "{records:?}");
    assert_eq!(records.len(), 7, "{records:?}");

    let (status, body) = c.delete(1, &mpath).await;
    assert_eq!(status, 204, "{body}");
    let gone = c.admin(Method::GET, &mpath, None).await;
    assert_problem(&gone, 404, "not_found", None);
    // Deleting the route takes its mappings and their records with it.
    let (status, _) = c
        .delete(1, &format!("/networks/{}/routes/{}", n.nid, id_of(&route)))
        .await;
    assert_eq!(status, 204);
    let (_, records) = c
        .get(1, &format!("/networks/{}/dns?consistency=local", n.nid))
        .await;
    let text = records.to_string();
    assert!(!text.contains("192.168.10."), "{text}");
    assert!(text.contains("fd99::5"), "{text}");
    c.shutdown().await;
}

/// A rule of a family the network lacks is refused whichever write brings it (400
/// `wrong_family`, with the field path); a rule left behind when its family is removed
/// stays, and its view says `"active": false` until the family comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_of_a_missing_family_are_refused_and_left_behind_ones_are_inactive() {
    let c = Cluster::single().await;
    let n = setup(&c).await;
    let base = format!("/networks/{}/policies", n.nid);
    let v4 = json!({"direction": "output", "action": "allow", "target_type": "cidr", "target": "10.9.0.0/16"});
    let v6 = json!({"direction": "output", "action": "allow", "target_type": "cidr", "target": "fd09::/64"});
    let any = json!({"direction": "output", "action": "allow", "target_type": "any"});
    let p = c
        .create(&base, json!({"name": "web", "rules": [v4, v6, any]}))
        .await;
    let ppath = format!("{base}/{}", id_of(&p));
    let active = |p: &Value| -> Vec<bool> {
        p["rules"]
            .as_array()
            .unwrap_or_else(|| panic!("no rules: {p}"))
            .iter()
            .map(|r| r["active"].as_bool().expect("active is a boolean"))
            .collect()
    };
    assert_eq!(active(&p), [true, true, true], "{p}");

    // The network drops IPv6: the IPv6 rule stays, inactive.
    let (status, body) = c
        .patch(
            1,
            &format!("/networks/{}", n.nid),
            json!({"ip_stack_mode": "ipv4", "force": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, got) = c.get(1, &ppath).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(active(&got), [true, false, true], "{got}");
    let (_, list) = c.get(1, &base).await;
    let web = items(&list).iter().find(|p| p["name"] == "web").unwrap();
    assert_eq!(active(web), [true, false, true]);

    // Writing a rule of the missing family is refused on every write.
    let a = c
        .admin(
            Method::POST,
            &base,
            Some(json!({"name": "web6", "rules": [v4, v6]})),
        )
        .await;
    assert_problem(&a, 400, "wrong_family", Some("rules[1].target"));
    let a = c
        .admin(Method::POST, &format!("{ppath}/rules"), Some(v6.clone()))
        .await;
    assert_problem(&a, 400, "wrong_family", Some("target"));
    let a = c
        .admin(Method::PATCH, &ppath, Some(json!({"rules": [v6]})))
        .await;
    assert_problem(&a, 400, "wrong_family", Some("rules[0].target"));

    // A write answers with the flags too.
    let (status, added) = c.post(1, &format!("{ppath}/rules"), any).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(active(&added), [true, false, true, true], "{added}");
    c.shutdown().await;
}

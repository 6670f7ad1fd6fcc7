//! Authentication and authorization on every route of `http/mod.rs`: no or bad
//! credentials are 401, an agent token is 403 everywhere except its own peer's config and
//! socket, rotation revokes the old agent token, admin tokens can be created and revoked, and
//! the health endpoints need no token.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::*;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Every API route: (method, path template under `/api/v1`).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/networks"),
    ("POST", "/networks"),
    ("GET", "/networks/{nid}"),
    ("PATCH", "/networks/{nid}"),
    ("DELETE", "/networks/{nid}"),
    ("GET", "/networks/{nid}/ipam"),
    ("GET", "/networks/{nid}/peers"),
    ("POST", "/networks/{nid}/peers"),
    ("GET", "/networks/{nid}/peers/{pid}"),
    ("PATCH", "/networks/{nid}/peers/{pid}"),
    ("DELETE", "/networks/{nid}/peers/{pid}"),
    ("GET", "/networks/{nid}/peers/{pid}/config"),
    ("POST", "/networks/{nid}/peers/{pid}/token"),
    ("GET", "/networks/{nid}/peers/{pid}/firewall"),
    ("GET", "/networks/{nid}/groups"),
    ("POST", "/networks/{nid}/groups"),
    ("GET", "/networks/{nid}/groups/{gid}"),
    ("PATCH", "/networks/{nid}/groups/{gid}"),
    ("DELETE", "/networks/{nid}/groups/{gid}"),
    ("PUT", "/networks/{nid}/groups/{gid}/peers/{pid}"),
    ("DELETE", "/networks/{nid}/groups/{gid}/peers/{pid}"),
    ("PUT", "/networks/{nid}/groups/{gid}/policies/{polid}"),
    ("DELETE", "/networks/{nid}/groups/{gid}/policies/{polid}"),
    ("PUT", "/networks/{nid}/groups/{gid}/routes/{rid}"),
    ("DELETE", "/networks/{nid}/groups/{gid}/routes/{rid}"),
    ("GET", "/networks/{nid}/policies"),
    ("POST", "/networks/{nid}/policies"),
    ("GET", "/networks/{nid}/policies/{polid}"),
    ("PATCH", "/networks/{nid}/policies/{polid}"),
    ("DELETE", "/networks/{nid}/policies/{polid}"),
    ("POST", "/networks/{nid}/policies/{polid}/rules"),
    ("DELETE", "/networks/{nid}/policies/{polid}/rules/{rule_id}"),
    ("GET", "/networks/{nid}/routes"),
    ("POST", "/networks/{nid}/routes"),
    ("GET", "/networks/{nid}/routes/{rid}"),
    ("PATCH", "/networks/{nid}/routes/{rid}"),
    ("DELETE", "/networks/{nid}/routes/{rid}"),
    ("GET", "/networks/{nid}/routes/{rid}/dns"),
    ("POST", "/networks/{nid}/routes/{rid}/dns"),
    ("GET", "/networks/{nid}/routes/{rid}/dns/{mid}"),
    ("PATCH", "/networks/{nid}/routes/{rid}/dns/{mid}"),
    ("DELETE", "/networks/{nid}/routes/{rid}/dns/{mid}"),
    ("GET", "/networks/{nid}/dns"),
    ("GET", "/tokens"),
    ("POST", "/tokens"),
    ("DELETE", "/tokens/{id}"),
    ("GET", "/agent/config"),
    ("GET", "/agent/ws"),
    ("GET", "/snapshot"),
    ("POST", "/snapshot"),
    ("GET", "/cluster"),
    ("POST", "/cluster/members"),
    ("DELETE", "/cluster/members/{id}"),
    ("POST", "/cluster/members/{id}/promote"),
];

/// Routes that need no token: (path as `http/mod.rs` declares it, full path).
const PUBLIC: &[(&str, &str)] = &[
    ("/healthz", "/healthz"),
    ("/readyz", "/readyz"),
    ("/metrics", "/metrics"),
    ("/openapi.json", "/api/v1/openapi.json"),
];

/// What an agent token may reach: its own peer's config, its agent config and socket.
const AGENT_OWN: &[(&str, &str)] = &[
    ("GET", "/networks/{nid}/peers/{pid}/config"),
    ("GET", "/agent/config"),
    ("GET", "/agent/ws"),
];

/// The (method, path) pairs `http/mod.rs` declares, read from its source, so a route added
/// there without being added to [`ROUTES`] fails this suite.
fn declared_routes() -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
            .join("src/http/mod.rs"),
    )
    .expect("read http/mod.rs");
    let mut out = BTreeSet::new();
    for chunk in src.split(".route(").skip(1) {
        let Some(start) = chunk.find('"') else {
            continue;
        };
        let rest = &chunk[start + 1..];
        let Some(end) = rest.find('"') else { continue };
        let path = rest[..end].to_string();
        // The handlers of this route: up to the end of the `.route(...)` call.
        let body = &rest[end..];
        let body = &body[..body
            .find("\n        .")
            .or(body.find("\n}"))
            .unwrap_or(body.len())];
        for method in ["get", "post", "put", "patch", "delete"] {
            let pat = format!("{method}(");
            let found = body.match_indices(&pat).any(|(i, _)| {
                i == 0 || {
                    let c = body.as_bytes()[i - 1];
                    !(c.is_ascii_alphanumeric() || c == b'_')
                }
            });
            if found {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_route_table_of_this_suite_matches_http_mod_rs() {
    let declared = declared_routes();
    let mut ours: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    for (p, _) in PUBLIC {
        ours.insert(("GET".into(), p.to_string()));
    }
    assert_eq!(
        declared, ours,
        "declared (left) vs covered (right): update ROUTES"
    );
}

struct World {
    nid: String,
    jump: String,
    jump_token: String,
    other_token: String,
    ids: Vec<(&'static str, String)>,
}

impl World {
    fn path(&self, template: &str) -> String {
        let mut p = template.to_string();
        for (k, v) in &self.ids {
            p = p.replace(&format!("{{{k}}}"), v);
        }
        format!("/api/v1{p}")
    }
}

async fn world(c: &Cluster) -> World {
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
    let other = c
        .create(
            &format!("/networks/{nid}/peers"),
            json!({"name": "other", "use_agent": true}),
        )
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
    let token = c.create("/tokens", json!({"name": "ci"})).await;
    World {
        nid: nid.clone(),
        jump: id_of(&jump),
        jump_token: jump["agent_token"].as_str().unwrap().to_string(),
        other_token: other["agent_token"].as_str().unwrap().to_string(),
        ids: vec![
            ("nid", nid),
            ("pid", id_of(&jump)),
            ("gid", id_of(&group)),
            ("polid", id_of(&policy)),
            (
                "rule_id",
                policy["rules"][0]["id"].as_str().unwrap().to_string(),
            ),
            ("rid", id_of(&route)),
            ("mid", id_of(&mapping)),
            // `/tokens/{id}` takes a token id, `/cluster/members/{id}` a node id: the
            // token's id fails to parse as a node id only after authorization.
            ("id", id_of(&token)),
        ],
    }
}

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap()
}

/// A body for methods that take one (its content does not matter before authorization).
fn body_for(m: &str) -> Option<Vec<u8>> {
    matches!(m, "POST" | "PATCH").then(|| b"{}".to_vec())
}

fn fill(w: &World, template: &str) -> String {
    // Cluster member ids are numbers.
    if template.starts_with("/cluster/members/") {
        return w.path(&template.replace("{id}", "2"));
    }
    w.path(template)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_401_without_or_with_a_bad_authorization_header() {
    let c = Cluster::single().await;
    let w = world(&c).await;
    let bad = [
        None,
        Some("Bearer wrong-token".to_string()),
        Some("Bearer ".to_string()),
        Some(format!("Basic {}", c.token)),
        Some(c.token.clone()),
        Some(format!("Bearer {}x", c.token)),
        Some(format!("Bearer {}x", w.jump_token)),
    ];
    let mut failures = Vec::new();
    for (m, template) in ROUTES {
        let path = fill(&w, template);
        for auth in &bad {
            let a = c
                .send(1, method(m), &path, auth.as_deref(), &[], body_for(m))
                .await;
            let ok = a.status == 401
                && a.content_type().starts_with("application/problem+json")
                && a.json()["code"] == "unauthorized";
            if !ok {
                failures.push(format!("{m} {path} with {auth:?} -> {a}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing was changed by any of them.
    let (_, peers) = c.get(1, &format!("/networks/{}/peers", w.nid)).await;
    assert_eq!(peers["items"].as_array().unwrap().len(), 2);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_token_of_another_peer_is_403_on_every_route_but_its_own() {
    let c = Cluster::single().await;
    let w = world(&c).await;
    let auth = format!("Bearer {}", w.other_token);
    let mut failures = Vec::new();
    for (m, template) in ROUTES {
        if *template == "/agent/config" || *template == "/agent/ws" {
            continue; // the other peer's own endpoints
        }
        let path = fill(&w, template);
        let a = c
            .send(1, method(m), &path, Some(&auth), &[], body_for(m))
            .await;
        let ok = a.status == 403
            && a.content_type().starts_with("application/problem+json")
            && a.json()["code"] == "forbidden";
        if !ok {
            failures.push(format!("{m} {path} -> {a}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_token_reaches_exactly_its_own_config_agent_config_and_socket() {
    let c = Cluster::single().await;
    let w = world(&c).await;
    let auth = format!("Bearer {}", w.jump_token);
    let mut failures = Vec::new();
    for (m, template) in ROUTES {
        if AGENT_OWN.contains(&(*m, *template)) {
            continue;
        }
        let path = fill(&w, template);
        let a = c
            .send(1, method(m), &path, Some(&auth), &[], body_for(m))
            .await;
        if !(a.status == 403 && a.json()["code"] == "forbidden") {
            failures.push(format!("{m} {path} -> {a}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Its own wg-quick config.
    let cfg = c
        .send(
            1,
            Method::GET,
            &w.path("/networks/{nid}/peers/{pid}/config"),
            Some(&auth),
            &[],
            None,
        )
        .await;
    assert_eq!(cfg.status, 200, "{cfg}");
    assert!(cfg.content_type().starts_with("text/plain"), "{cfg}");
    assert!(
        cfg.text.contains("Address = 10.1.0.1/32, fd01::1/128"),
        "{cfg}"
    );

    // Its agent configuration.
    let a = c
        .send(
            1,
            Method::GET,
            "/api/v1/agent/config",
            Some(&auth),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{a}");
    let msg = a.json();
    assert_eq!(msg["type"], "config", "{msg}");
    assert!(msg["version"].as_u64().unwrap() > 0, "{msg}");
    assert_eq!(msg["config"]["peer_id"], w.jump.as_str());
    assert_eq!(msg["config"]["network_id"], w.nid.as_str());
    assert!(msg["config"]["wg_quick"]
        .as_str()
        .unwrap()
        .contains("[Interface]"));
    assert!(
        msg["config"]["firewall"]["ipv4"]["restore"].is_string(),
        "{msg}"
    );

    // Its socket: the upgrade succeeds.
    let url = c.node(1).url.replace("http://", "ws://") + "/api/v1/agent/ws";
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
    let (ws, resp) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(req),
    )
    .await
    .expect("connect in time")
    .expect("upgrade accepted");
    assert_eq!(resp.status().as_u16(), 101);
    drop(ws);

    // The socket refuses a bad token at the handshake.
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), 401)
        }
        other => panic!("expected a 401 handshake, got {:?}", other.map(|(_, r)| r)),
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_an_agent_token_revokes_the_old_one_and_the_new_one_works() {
    let c = Cluster::single().await;
    let w = world(&c).await;
    let old = format!("Bearer {}", w.jump_token);
    let before = c
        .send(
            1,
            Method::GET,
            "/api/v1/agent/config",
            Some(&old),
            &[],
            None,
        )
        .await;
    assert_eq!(before.status, 200, "{before}");

    let (status, rotated) = c
        .post(
            1,
            &format!("/networks/{}/peers/{}/token", w.nid, w.jump),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_token = rotated["agent_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{rotated}"));
    assert_ne!(new_token, w.jump_token);
    let new = format!("Bearer {new_token}");

    let a = c
        .send(
            1,
            Method::GET,
            "/api/v1/agent/config",
            Some(&old),
            &[],
            None,
        )
        .await;
    assert_problem(&a, 401, "unauthorized", None);
    let a = c
        .send(
            1,
            Method::GET,
            &w.path("/networks/{nid}/peers/{pid}/config"),
            Some(&old),
            &[],
            None,
        )
        .await;
    assert_problem(&a, 401, "unauthorized", None);
    let a = c
        .send(
            1,
            Method::GET,
            "/api/v1/agent/config",
            Some(&new),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{a}");
    assert_eq!(a.json()["config"]["peer_id"], w.jump.as_str());
    let a = c
        .send(
            1,
            Method::GET,
            &w.path("/networks/{nid}/peers/{pid}/config"),
            Some(&new),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{a}");
    // The other peer's token is untouched.
    let a = c
        .send(
            1,
            Method::GET,
            "/api/v1/agent/config",
            Some(&format!("Bearer {}", w.other_token)),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{a}");
    // Only an admin rotates, and only agent peers have tokens.
    let a = c
        .send(
            1,
            Method::POST,
            &w.path("/networks/{nid}/peers/{pid}/token"),
            Some(&new),
            &[],
            None,
        )
        .await;
    assert_problem(&a, 403, "forbidden", None);
    let laptop = c
        .create(
            &format!("/networks/{}/peers", w.nid),
            json!({"name": "laptop"}),
        )
        .await;
    let a = c
        .admin(
            Method::POST,
            &format!("/networks/{}/peers/{}/token", w.nid, id_of(&laptop)),
            None,
        )
        .await;
    assert!(
        (400..500).contains(&a.status),
        "a static peer has no agent token: {a}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_peer_revokes_its_agent_token() {
    let c = Cluster::single().await;
    let w = world(&c).await;
    let (status, _) = c
        .delete(1, &format!("/networks/{}/routes/{}", w.nid, w.ids[5].1))
        .await;
    assert_eq!(status, 204);
    let (status, body) = c
        .delete(1, &format!("/networks/{}/peers/{}", w.nid, w.jump))
        .await;
    assert_eq!(status, 204, "{body}");
    let a = c
        .send(
            1,
            Method::GET,
            "/api/v1/agent/config",
            Some(&format!("Bearer {}", w.jump_token)),
            &[],
            None,
        )
        .await;
    assert_problem(&a, 401, "unauthorized", None);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_tokens_are_created_listed_used_and_revoked() {
    let c = Cluster::single().await;
    let created = c.create("/tokens", json!({"name": "ci"})).await;
    assert_eq!(created["name"], "ci");
    assert!(
        created["id"].is_string() && created.get("created_at").is_some(),
        "{created}"
    );
    let token = created["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"));
    assert!(token.len() >= 20);
    let second = c.create("/tokens", json!({"name": "backup"})).await;

    let (status, list) = c.get(1, "/tokens").await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ci", "backup"]);
    for t in items {
        let keys: BTreeSet<&str> = t.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["id", "name", "created_at"]),
            "no secret listed: {t}"
        );
    }
    assert!(!list.to_string().contains(token));

    // The new token is an admin token.
    let auth = format!("Bearer {token}");
    let a = c
        .send(
            1,
            Method::POST,
            "/api/v1/networks",
            Some(&auth),
            &[],
            Some(
                serde_json::to_vec(&json!({"name": "made-by-ci", "ipv4_cidr": "10.1.0.0/24"}))
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(a.status, 201, "{a}");

    let (status, body) = c.delete(1, &format!("/tokens/{}", id_of(&created))).await;
    assert_eq!(status, 204, "{body}");
    let a = c
        .send(1, Method::GET, "/api/v1/networks", Some(&auth), &[], None)
        .await;
    assert_problem(&a, 401, "unauthorized", None);
    let (_, list) = c.get(1, "/tokens").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], second["id"]);
    // The bootstrap token still works.
    let (status, _) = c.get(1, "/networks").await;
    assert_eq!(status, 200);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_and_the_openapi_document_need_no_token() {
    let c = Cluster::single().await;
    let health = c.send(1, Method::GET, "/healthz", None, &[], None).await;
    assert_eq!(health.status, 200, "{health}");
    let bogus = c
        .send(1, Method::GET, "/healthz", Some("Bearer nope"), &[], None)
        .await;
    assert_eq!(bogus.status, 200, "{bogus}");
    wait_for(Duration::from_secs(10), || async {
        let r = c.send(1, Method::GET, "/readyz", None, &[], None).await;
        (r.status == 200).then_some(())
    })
    .await;
    let metrics = c.send(1, Method::GET, "/metrics", None, &[], None).await;
    assert_eq!(metrics.status, 200, "{metrics}");
    assert!(metrics.text.contains("raftwire_"), "{metrics}");
    for (_, path) in PUBLIC {
        let a = c.send(1, Method::GET, path, None, &[], None).await;
        assert_eq!(a.status, 200, "{path}: {a}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_network_revokes_the_agent_tokens_of_its_peers() {
    let c = Cluster::single().await;
    let w = world(&c).await;
    let (status, body) = c.delete(1, &format!("/networks/{}", w.nid)).await;
    assert_eq!(status, 204, "{body}");
    for token in [&w.jump_token, &w.other_token] {
        let a = c
            .send(
                1,
                Method::GET,
                "/api/v1/agent/config",
                Some(&format!("Bearer {token}")),
                &[],
                None,
            )
            .await;
        assert_problem(&a, 401, "unauthorized", None);
    }
    c.shutdown().await;
}

/// The content type of an HTML form's POST (the tokens and values here need no escaping
/// beyond the `%2F` written out).
const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn the_web_ui_signs_in_with_an_admin_token_only_and_checks_each_forms_csrf_token() {
    let c = Cluster::single().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = &c.node(1).url;
    // Anonymous: sent to sign in.
    let r = client.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/sign-in");
    // A wrong token is refused; the admin token gets an HttpOnly, SameSite=Strict cookie.
    let r = client
        .post(format!("{url}/ui/sign-in"))
        .header("content-type", FORM)
        .body("token=rw_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    let r = client
        .post(format!("{url}/ui/sign-in"))
        .header("content-type", FORM)
        .body(format!("token={}", c.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let page = client
        .get(format!("{url}/ui/networks/new"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let create = |token: String| {
        let (client, url, session) = (client.clone(), url.clone(), session.clone());
        async move {
            client
                .post(format!("{url}/ui/networks/new"))
                .header("cookie", session)
                .header("content-type", FORM)
                .body(format!(
                    "csrf={token}&name=web&ip_stack_mode=ipv4&ipv4_cidr=10.80.0.0%2F24"
                ))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // A form without this session's token changes nothing.
    assert_eq!(create("forged".into()).await, 403);
    assert_eq!(
        c.get(1, "/networks").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(create(csrf).await, 303);
    let (_, nets) = c.get(1, "/networks").await;
    assert_eq!(nets["items"][0]["name"], "web");
    c.shutdown().await;
}

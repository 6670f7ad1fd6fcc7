//! The OpenAPI document at `/api/v1/openapi.json`: served without a token, and in step with
//! the router — every route of `src/http/mod.rs` is documented with its method, and every
//! documented operation is routed and guarded as the document says.

use std::collections::BTreeSet;

use crate::common::Cluster;
use serde_json::Value;

/// The router's source: the routes are read from it, so a route added there without a
/// `#[utoipa::path]` (and an entry in `ApiDoc`) fails this test.
const ROUTER_SRC: &str = include_str!("../../src/http/mod.rs");

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(METHOD, path)` of every `.route(...)` in `src`; routes inside `fn api()` are nested
/// under `/api/v1`.
fn router_routes(src: &str) -> BTreeSet<(String, String)> {
    let api_start = src.find("fn api()").expect("http/mod.rs has fn api()");
    let api_end = api_start + src[api_start..].find("\n}\n").expect("end of fn api()");
    let mut out = BTreeSet::new();
    let mut from = 0;
    while let Some(at) = src[from..].find(".route(") {
        let start = from + at + ".route(".len();
        // The call's argument list, up to its closing parenthesis.
        let mut depth = 1;
        let mut end = start;
        for (i, ch) in src[start..].char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = start + i;
                break;
            }
        }
        let args = &src[start..end];
        from = end;
        let path = args
            .split('"')
            .nth(1)
            .unwrap_or_else(|| panic!("a .route( without a literal path: {args}"));
        let full = if start > api_start && start < api_end {
            format!("/api/v1{path}")
        } else {
            path.to_string()
        };
        let bytes = args.as_bytes();
        let mut found = 0;
        for m in METHODS {
            let needle = format!("{m}(");
            let mut i = 0;
            while let Some(k) = args[i..].find(&needle) {
                let pos = i + k;
                let before = if pos == 0 { b' ' } else { bytes[pos - 1] };
                if !(before.is_ascii_alphanumeric() || before == b'_') {
                    out.insert((m.to_uppercase(), full.clone()));
                    found += 1;
                }
                i = pos + needle.len();
            }
        }
        assert!(found > 0, "no method found in .route({args})");
    }
    out
}

/// `(METHOD, path)` of every operation of the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Every `$ref` anywhere in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

fn resolve<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    let pointer = r.strip_prefix('#')?;
    doc.pointer(pointer)
}

/// The operation's response for `status`, following a `$ref`.
fn response<'a>(doc: &'a Value, op: &'a Value, status: &str) -> Option<&'a Value> {
    let r = op["responses"].get(status)?;
    match r.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolve(doc, reference),
        None => Some(r),
    }
}

#[test]
fn the_router_source_parser_sees_every_route_form() {
    let routes = router_routes(ROUTER_SRC);
    for expected in [
        ("GET", "/api/v1/networks"),
        ("POST", "/api/v1/networks"),
        ("PATCH", "/api/v1/networks/{nid}"),
        ("PUT", "/api/v1/networks/{nid}/groups/{gid}/peers/{pid}"),
        (
            "DELETE",
            "/api/v1/networks/{nid}/policies/{polid}/rules/{rule_id}",
        ),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
    ] {
        assert!(
            routes.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} not found in {routes:#?}"
        );
    }
    // Handler names such as `networks::get` are not methods.
    assert!(!routes.iter().any(|(_, p)| p.contains("::")));

    let synthetic = r#"
fn api() -> Router<App> {
    Router::new()
        .route("/a/{id}", get(a::get).delete(a::delete))
        .route(
            "/b",
            axum::routing::put(b::put).layer(DefaultBodyLimit::max(b::LIMIT)),
        )
}

pub fn router(app: App) -> Router {
    Router::new().nest("/api/v1", api()).route("/c", post(c::post))
}
"#;
    let want: BTreeSet<(String, String)> = [
        ("GET", "/api/v1/a/{id}"),
        ("DELETE", "/api/v1/a/{id}"),
        ("PUT", "/api/v1/b"),
        ("POST", "/c"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(router_routes(synthetic), want);
}

#[tokio::test]
async fn openapi_document_covers_every_route_and_matches_the_server() {
    let mut c = Cluster::new();
    c.start(1).await;
    c.leader().await;
    let url = c.node(1).url.clone();

    // Served without a token.
    let resp = c
        .http
        .get(format!("{url}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    let doc: Value = resp.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"], serde_json::json!([{ "bearer": [] }]));

    // Router and document list the same operations.
    let routed = router_routes(ROUTER_SRC);
    let docs = documented(&doc);
    let undocumented: Vec<_> = routed.difference(&docs).collect();
    let unrouted: Vec<_> = docs.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes without a #[utoipa::path] in ApiDoc: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not in the router: {unrouted:?}"
    );
    assert!(routed.len() >= 50, "only {} routes found", routed.len());

    // Every reference resolves.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in &all {
        assert!(resolve(&doc, r).is_some(), "dangling $ref {r}");
    }

    let mut op_ids = BTreeSet::new();
    let fresh = "9b2f0c1e-58a4-4a57-9d0e-3c7b1c9a0d11";
    for (method, path) in &docs {
        let op = &doc["paths"][path][method.to_lowercase()];
        let op_id = op["operationId"].as_str().expect("operationId");
        assert!(
            op_ids.insert(op_id.to_string()),
            "duplicate operationId {op_id}"
        );
        let ok = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .any(|s| s.starts_with('2') || s == "101");
        assert!(ok, "{method} {path}: no success response");

        // Every path parameter is declared.
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(declared, in_path, "{method} {path}: path parameters");

        // Reads take ?consistency.
        if method == "GET" && path.starts_with("/api/v1/networks") {
            let has = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["in"] == "query" && p["name"] == "consistency");
            assert!(has, "{method} {path}: no consistency parameter");
        }

        // Probe the live node without a token: a guarded operation answers 401 as
        // problem+json (so it is routed, and guarded as documented); an open one answers.
        let open = op["security"] == serde_json::json!([{}]);
        let concrete: String = path
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    let name = &s[1..s.len() - 1];
                    let p = op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|p| p["name"] == name)
                        .unwrap();
                    if p["schema"]["type"] == "integer" {
                        "7".to_string()
                    } else {
                        fresh.to_string()
                    }
                } else {
                    s.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let a = c
            .http
            .request(m, format!("{url}{concrete}"))
            .send()
            .await
            .unwrap();
        let status = a.status().as_u16();
        let ct = a
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = a.text().await.unwrap();
        if open {
            assert_eq!(status, 200, "{method} {concrete}: {body}");
        } else {
            assert_eq!(status, 401, "{method} {concrete}: {body}");
            assert!(ct.starts_with("application/problem+json"), "{ct}");
            let r = response(&doc, op, "401").expect("401 documented");
            assert!(
                r["content"]["application/problem+json"]["schema"]["$ref"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("/Problem")),
                "{method} {path}: 401 is not a Problem"
            );
            for s in ["400", "403", "503"] {
                assert!(response(&doc, op, s).is_some(), "{method} {path}: no {s}");
            }
            if !in_path.is_empty() && !path.starts_with("/api/v1/cluster") {
                assert!(
                    response(&doc, op, "404").is_some(),
                    "{method} {path}: no 404"
                );
            }
        }
    }

    // A policy's rules show whether they are active (computed, not stored).
    let rule = &doc["components"]["schemas"]["Rule"];
    assert_eq!(rule["properties"]["active"]["type"], "boolean", "{rule}");
    assert!(
        rule["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|f| f == "active")),
        "{rule}"
    );
    let policy_rules = &doc["components"]["schemas"]["Policy"]["properties"]["rules"];
    assert_eq!(
        policy_rules["items"]["$ref"], "#/components/schemas/Rule",
        "{policy_rules}"
    );

    // The Problem schema describes the errors the server sends.
    let problem = &doc["components"]["schemas"]["Problem"];
    let props: BTreeSet<&str> = problem["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let required: BTreeSet<&str> = problem["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for path in [
        "/api/v1/networks/not-an-id".to_string(),
        format!("/api/v1/networks/{fresh}"),
        "/api/v1/networks?consistency=sometimes".to_string(),
    ] {
        let a = c
            .http
            .get(format!("{url}{path}"))
            .bearer_auth(&c.token)
            .send()
            .await
            .unwrap();
        assert!(a.status().is_client_error(), "{path}: {}", a.status());
        let body: Value = a.json().await.unwrap();
        let keys: BTreeSet<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            keys.is_subset(&props),
            "{path}: {keys:?} not all in {props:?}"
        );
        assert!(
            required.is_subset(&keys),
            "{path}: {required:?} not all in {keys:?}"
        );
        assert!(codes.contains(&body["code"].as_str().unwrap()), "{body}");
    }

    c.shutdown().await;
}

/// Every string of `v` under one of `keys`, with where it is.
fn texts<'a>(v: &'a Value, keys: &[&str], at: &str, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let here = format!("{at}/{k}");
                match x {
                    Value::String(s) if keys.contains(&k.as_str()) => out.push((here, s)),
                    _ => texts(x, keys, &here, out),
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                texts(x, keys, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The spellings the document may use for the API's entities, per stem. A word of the
/// document's prose (descriptions, summaries, titles, tag names) that starts with a stem must
/// be one of them: a plural made by a macro ("policie", "policys") or a typo fails here.
const ENTITY_WORDS: &[(&str, &[&str])] = &[
    ("network", &["network", "networks", "network's"]),
    ("peer", &["peer", "peers", "peer's", "peers'"]),
    ("group", &["group", "groups", "group's"]),
    ("polic", &["policy", "policies", "policy's"]),
    ("route", &["route", "routes", "route's"]),
    ("rule", &["rule", "rules", "rule's"]),
    ("token", &["token", "tokens", "token's"]),
    ("mapping", &["mapping", "mappings", "mapping's", "mapped"]),
    ("member", &["member", "members", "membership"]),
    ("jump", &["jump", "jumps", "jump's", "jump-ness"]),
    ("agent", &["agent", "agent's"]),
];

#[test]
fn entity_words_of_the_document_are_spelled_from_a_fixed_list() {
    let doc: Value = serde_json::from_str(raftwire_node::http::openapi::document()).unwrap();
    let mut prose = Vec::new();
    texts(&doc, &["description", "summary", "title"], "", &mut prose);
    for tag in doc["tags"].as_array().expect("tags") {
        prose.push(("/tags/name".into(), tag["name"].as_str().unwrap()));
    }
    assert!(prose.len() > 100, "only {} texts found", prose.len());
    let mut odd = Vec::new();
    for (at, text) in &prose {
        let words = text
            .split(|c: char| !(c.is_ascii_alphabetic() || c == '\'' || c == '-'))
            .map(|w| w.trim_matches(|c| c == '\'' || c == '-'))
            // Type names (`AgentConfig`) are spelled by the code, not here.
            .filter(|w| !w.is_empty() && !w.chars().skip(1).any(|c| c.is_ascii_uppercase()))
            .map(str::to_lowercase);
        for word in words {
            for (stem, allowed) in ENTITY_WORDS {
                if word.starts_with(stem) && !allowed.contains(&word.as_str()) {
                    odd.push(format!("{at}: '{word}' in {text:?}"));
                }
            }
        }
    }
    assert!(odd.is_empty(), "odd spellings:\n{}", odd.join("\n"));
}

/// Each handler reads its path parameters by the names its type documents; a handler whose
/// parameters disagree with its route would answer 500 (or name a parameter in a 400). So an
/// admin request with well-formed ids on every documented operation gets an ordinary answer
/// (mostly 404: the ids name nothing), never one about the path.
#[tokio::test]
async fn every_operation_reads_the_path_parameters_its_route_has() {
    let doc: Value = serde_json::from_str(raftwire_node::http::openapi::document()).unwrap();
    let mut c = Cluster::new();
    c.start(1).await;
    c.leader().await;
    let fresh = "9b2f0c1e-58a4-4a57-9d0e-3c7b1c9a0d11";
    let mut probed = 0;
    let mut failures = Vec::new();
    for (method, path) in documented(&doc) {
        let Some(template) = path.strip_prefix("/api/v1") else {
            continue;
        };
        let op = &doc["paths"][&path][method.to_lowercase()];
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter(|p| p["in"] == "path").collect())
            .unwrap_or_default();
        if params.is_empty() {
            continue;
        }
        let mut concrete = template.to_string();
        for p in &params {
            let value = if p["schema"]["type"] == "integer" {
                "7"
            } else {
                fresh
            };
            concrete = concrete.replace(&format!("{{{}}}", p["name"].as_str().unwrap()), value);
        }
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let body = matches!(method.as_str(), "POST" | "PATCH").then(|| serde_json::json!({}));
        let a = c.admin(m, &concrete, body).await;
        probed += 1;
        let field = a.json()["field"].as_str().unwrap_or_default().to_string();
        if a.status == 500 || params.iter().any(|p| p["name"] == field.as_str()) {
            failures.push(format!("{method} {concrete}: {a}"));
        }
    }
    assert!(
        probed >= 35,
        "only {probed} operations with path parameters"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    c.shutdown().await;
}

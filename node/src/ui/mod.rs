//! The web UI every node serves at `/`: server-rendered HTML (maud), one embedded
//! stylesheet and a little embedded JavaScript, so the node binary is all it takes.
//!
//! The UI has no rules of its own. Every page and form calls the node's own `/api/v1`
//! router in process ([`Ui::call`]), with the signed-in admin token as the bearer, so a
//! request from the UI goes through exactly what an API client's does: the admin check,
//! the same handlers and validation, the read barrier, forwarding of writes to the leader.
//! What the API refuses, the UI shows next to the field the error names. Pages therefore
//! work through any node, and show what that node's API would answer.
//!
//! Signing in, sessions and CSRF: see [`session`]. Pages: [`pages`].

mod pages;
pub mod session;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::app::App;
use crate::secrets::constant_time_eq;
pub use session::Sessions;

/// The most an in-process API answer may hold (a backup is never read through the UI).
const ANSWER_LIMIT: usize = 16 * 1024 * 1024;
/// How long the dashboard waits for another node's status.
const PEER_NODE_TIMEOUT: Duration = Duration::from_secs(2);

const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("app.js");

/// The UI's routes: `/` and everything under `/ui/`.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(dashboard))
        .route("/ui/style.css", get(style))
        .route("/ui/app.js", get(script))
        .route("/ui/sign-in", get(sign_in_page).post(sign_in))
        .route("/ui/sign-out", post(sign_out))
        .route("/ui/networks", get(networks))
        .route("/ui/networks/new", get(new_network).post(create_network))
        .route("/ui/networks/{nid}", get(network))
        .route(
            "/ui/networks/{nid}/edit",
            get(edit_network).post(update_network),
        )
        .route("/ui/networks/{nid}/peers", post(create_peer))
        .route("/ui/networks/{nid}/policies/{polid}/rules", post(add_rule))
        .route("/ui/networks/{nid}/peers/{pid}", get(peer))
        .route("/ui/networks/{nid}/peers/{pid}/config", get(peer_config))
        .route("/ui/networks/{nid}/peers/{pid}/token", post(rotate_token))
        .route("/ui/cluster", get(cluster))
        .route("/ui/cluster/members", post(add_member))
        .route("/ui/cluster/members/{id}/{op}", post(change_member))
}

// ---------------------------------------------------------------- the API, in process

/// An API refusal as the UI shows it: the problem document's fields.
#[derive(Debug, Clone, Default)]
pub struct Problem {
    pub status: u16,
    pub code: String,
    pub detail: String,
    pub field: Option<String>,
    pub items: Vec<String>,
}

impl Problem {
    fn of(status: u16, body: &Value) -> Problem {
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        Problem {
            status,
            code: s("code").unwrap_or_else(|| "error".into()),
            detail: s("detail").unwrap_or_else(|| format!("the API answered {status}")),
            field: s("field"),
            items: body
                .get("items")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The error, when it names `field`.
    pub fn on(&self, field: &str) -> Option<&str> {
        (self.field.as_deref() == Some(field)).then_some(self.detail.as_str())
    }
}

/// An answer of the API: status, content type, body.
struct Raw {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

/// Runs one request through this node's API router, as a client's would go.
async fn api_call(
    app: &App,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
    if_match: Option<u64>,
) -> Raw {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/api/v1{path}"))
        .header(AUTHORIZATION, format!("Bearer {token}"));
    if let Some(v) = if_match {
        req = req.header("if-match", v.to_string());
    }
    let body = match body {
        Some(b) => {
            req = req.header(CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let failed = |detail: String| Raw {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        content_type: "application/json".into(),
        body: json!({ "code": "internal", "detail": detail })
            .to_string()
            .into_bytes(),
    };
    let req = match req.body(body) {
        Ok(r) => r,
        Err(e) => return failed(format!("building the request: {e}")),
    };
    let resp = match crate::http::router(app.clone()).oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    match axum::body::to_bytes(resp.into_body(), ANSWER_LIMIT).await {
        Ok(b) => Raw {
            status,
            content_type,
            body: b.to_vec(),
        },
        Err(e) => failed(format!("reading the answer: {e}")),
    }
}

fn json_of(raw: Raw) -> Result<Value, Problem> {
    let v: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
    if raw.status.is_success() {
        Ok(v)
    } else {
        Err(Problem::of(raw.status.as_u16(), &v))
    }
}

/// A signed-in request: the node, the session and its id.
pub struct Ui {
    app: App,
    session: session::Session,
}

fn cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == session::COOKIE)
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<App> for Ui {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        match cookie(parts).and_then(|sealed| app.ui.get(&sealed)) {
            Some(session) => Ok(Ui {
                app: app.clone(),
                session,
            }),
            None => Err(Redirect::to("/ui/sign-in").into_response()),
        }
    }
}

impl Ui {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<u64>,
    ) -> Result<Value, Problem> {
        json_of(api_call(&self.app, &self.session.token, method, path, body, if_match).await)
    }

    async fn get(&self, path: &str) -> Result<Value, Problem> {
        self.call(Method::GET, path, None, None).await
    }

    /// The `items` of a list answer.
    async fn list(&self, path: &str) -> Result<Vec<Value>, Problem> {
        Ok(items(self.get(path).await?))
    }

    /// A form's CSRF token must be this session's.
    fn check(&self, form: &Fields) -> Result<(), Forged> {
        match form.get("csrf") {
            Some(t) if constant_time_eq(t, &self.session.csrf) => Ok(()),
            _ => Err(Forged),
        }
    }

    fn csrf(&self) -> &str {
        &self.session.csrf
    }
}

/// A POST without this session's CSRF token: refused (403) with a page saying why.
pub struct Forged;

impl From<Forged> for Response {
    fn from(_: Forged) -> Response {
        (
            StatusCode::FORBIDDEN,
            html(pages::message(
                "Form expired",
                "The form did not carry this session's token (opened before signing in \
                 again?). Go back, reload and send it again.",
            )),
        )
            .into_response()
    }
}

fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Array(a)) => a,
            _ => vec![],
        },
        _ => vec![],
    }
}

/// A submitted form, its fields in order (a name may repeat).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first non-empty value of `name`, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .find(|v| !v.is_empty())
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// A page, or the error page of an API refusal that leaves nothing to show.
type Page = Result<Response, Response>;

fn refused(p: Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_GATEWAY);
    (
        status,
        html(pages::message(
            &format!("The API refused: {}", p.code),
            &format!(
                "{}{}",
                p.detail,
                if p.items.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", p.items.join(", "))
                }
            ),
        )),
    )
        .into_response()
}

/// A page shown again with the API's refusal on it, under the refusal's status.
fn again(p: &Problem, page: maud::Markup) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, html(page)).into_response()
}

fn html(m: maud::Markup) -> Response {
    axum::response::Html(m.into_string()).into_response()
}

// ---------------------------------------------------------------- assets

async fn style() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

async fn script() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT)
}

// ---------------------------------------------------------------- sign-in

async fn sign_in_page() -> Response {
    html(pages::sign_in(None))
}

async fn sign_in(State(app): State<App>, Form(form): Form<Fields>) -> Response {
    let Some(token) = form.get("token") else {
        return html(pages::sign_in(Some("Enter an admin token.")));
    };
    // The API decides what an admin token is: the cluster status needs one.
    let raw = api_call(&app, token, Method::GET, "/cluster", None, None).await;
    if !raw.status.is_success() {
        let why = match raw.status {
            StatusCode::UNAUTHORIZED => "That is not a token this cluster knows.".to_string(),
            StatusCode::FORBIDDEN => {
                "That is an agent token; sign in with an admin token.".to_string()
            }
            s => format!("The node could not check the token ({s})."),
        };
        return (StatusCode::UNAUTHORIZED, html(pages::sign_in(Some(&why)))).into_response();
    }
    let sid = app.ui.create(token.to_string());
    // A node serving HTTPS advertises an https:// URL: its cookie is then never sent in clear.
    let secure = if app.advertise.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={sid}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        session::COOKIE,
        session::LIFETIME.as_secs()
    );
    let mut resp = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}

async fn sign_out(ui: Ui, Form(form): Form<Fields>) -> Page {
    ui.check(&form)?;
    let mut resp = Redirect::to("/ui/sign-in").into_response();
    let gone = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        session::COOKIE
    );
    if let Ok(v) = HeaderValue::from_str(&gone) {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(resp)
}

// ---------------------------------------------------------------- dashboard and cluster

/// One member as the dashboard shows it, with that node's own view of the log.
pub struct NodeRow {
    pub id: u64,
    pub addr: String,
    pub voter: bool,
    pub leader: bool,
    pub this: bool,
    /// `(term, commit, applied)` as that node answers, `None` if it did not.
    pub status: Option<(u64, u64, u64)>,
}

/// Every member, each asked for its own status (this node in process, the others over
/// HTTP with the session's token).
async fn nodes(ui: &Ui) -> Result<(Value, Vec<NodeRow>), Problem> {
    let here = ui.get("/cluster").await?;
    let leader = here["leader_id"].as_u64();
    let this = here["node_id"].as_u64();
    let members = here["members"].as_array().cloned().unwrap_or_default();
    let asks = members.iter().map(|m| {
        let id = m["id"].as_u64().unwrap_or(0);
        let addr = m["addr"].as_str().unwrap_or("").to_string();
        let here = here.clone();
        async move {
            let v = if Some(id) == this {
                Some(here)
            } else {
                let url = format!("{}/api/v1/cluster", addr.trim_end_matches('/'));
                let sent = ui
                    .app
                    .http
                    .get(url)
                    .bearer_auth(&ui.session.token)
                    .timeout(PEER_NODE_TIMEOUT)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
                    _ => None,
                }
            };
            let status = v.and_then(|v| {
                Some((
                    v["term"].as_u64()?,
                    v["commit_index"].as_u64()?,
                    v["last_applied"].as_u64()?,
                ))
            });
            NodeRow {
                id,
                voter: m["voter"].as_bool().unwrap_or(false),
                leader: Some(id) == leader,
                this: Some(id) == this,
                addr,
                status,
            }
        }
    });
    let rows = futures::future::join_all(asks).await;
    Ok((here, rows))
}

async fn dashboard(ui: Ui) -> Page {
    let (status, rows) = nodes(&ui).await.map_err(refused)?;
    let nets = ui.list("/networks").await.map_err(refused)?;
    let mut peers = Vec::new();
    for n in &nets {
        let id = n["id"].as_str().unwrap_or("");
        let list = ui
            .list(&format!("/networks/{id}/peers"))
            .await
            .map_err(refused)?;
        peers.extend(list.into_iter().map(|p| (n.clone(), p)));
    }
    Ok(html(pages::dashboard(
        ui.csrf(),
        &status,
        &rows,
        &nets,
        &peers,
    )))
}

async fn cluster(ui: Ui) -> Page {
    let (status, rows) = nodes(&ui).await.map_err(refused)?;
    Ok(html(pages::cluster(ui.csrf(), &status, &rows, None)))
}

async fn add_member(ui: Ui, Form(form): Form<Fields>) -> Page {
    ui.check(&form)?;
    let id = form
        .get("id")
        .map(|s| s.parse::<u64>().map_err(|_| s.to_string()));
    let body = json!({
        "id": match id { Some(Ok(n)) => json!(n), Some(Err(s)) => json!(s), None => Value::Null },
        "addr": form.get("addr"),
    });
    member_result(
        &ui,
        ui.call(Method::POST, "/cluster/members", Some(&body), None)
            .await,
    )
    .await
}

async fn change_member(
    ui: Ui,
    Path((id, op)): Path<(u64, String)>,
    Form(form): Form<Fields>,
) -> Page {
    ui.check(&form)?;
    let (method, path) = match op.as_str() {
        "promote" => (Method::POST, format!("/cluster/members/{id}/promote")),
        "remove" if form.has("confirm") => (Method::DELETE, format!("/cluster/members/{id}")),
        "remove" => {
            let p = Problem {
                status: 400,
                code: "confirm".into(),
                detail: format!("tick the box to confirm removing node {id}"),
                field: Some("confirm".into()),
                items: vec![],
            };
            return member_result(&ui, Err(p)).await;
        }
        _ => {
            return Err(refused(Problem {
                status: 404,
                code: "not_found".into(),
                detail: "no such operation".into(),
                ..Default::default()
            }))
        }
    };
    member_result(&ui, ui.call(method, &path, None, None).await).await
}

async fn member_result(ui: &Ui, r: Result<Value, Problem>) -> Page {
    match r {
        Ok(_) => Ok(Redirect::to("/ui/cluster").into_response()),
        Err(p) => {
            let (status, rows) = nodes(ui).await.map_err(refused)?;
            Ok(again(
                &p,
                pages::cluster(ui.csrf(), &status, &rows, Some(&p)),
            ))
        }
    }
}

// ---------------------------------------------------------------- networks

/// A network with its address usage per family (the IPAM answer).
async fn networks(ui: Ui) -> Page {
    let nets = ui.list("/networks").await.map_err(refused)?;
    let mut rows = Vec::with_capacity(nets.len());
    for n in nets {
        let ipam = ui
            .get(&format!(
                "/networks/{}/ipam",
                n["id"].as_str().unwrap_or("")
            ))
            .await
            .map_err(refused)?;
        rows.push((n, ipam));
    }
    Ok(html(pages::networks(ui.csrf(), &rows)))
}

/// What a network form holds, as typed (kept to show it again with errors).
#[derive(Debug, Default, Clone)]
pub struct NetworkForm {
    pub name: String,
    pub mode: String,
    pub ipv4_cidr: String,
    pub ipv6_cidr: String,
    pub domain: String,
}

impl NetworkForm {
    fn from_fields(f: &Fields) -> NetworkForm {
        let s = |k: &str| f.get(k).unwrap_or("").to_string();
        NetworkForm {
            name: s("name"),
            mode: f.get("ip_stack_mode").unwrap_or("ipv4").to_string(),
            ipv4_cidr: s("ipv4_cidr"),
            ipv6_cidr: s("ipv6_cidr"),
            domain: s("domain"),
        }
    }

    fn from_network(n: &Value) -> NetworkForm {
        let s = |k: &str| n[k].as_str().unwrap_or("").to_string();
        NetworkForm {
            name: s("name"),
            mode: s("ip_stack_mode"),
            ipv4_cidr: s("ipv4_cidr"),
            ipv6_cidr: s("ipv6_cidr"),
            domain: s("domain"),
        }
    }

    /// The request body: every field given (the API decides what fits the mode).
    fn body(&self) -> Value {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                m.insert(k.into(), json!(v));
            }
        };
        put("name", &self.name);
        put("ip_stack_mode", &self.mode);
        put("ipv4_cidr", &self.ipv4_cidr);
        put("ipv6_cidr", &self.ipv6_cidr);
        put("domain", &self.domain);
        Value::Object(m)
    }
}

/// A random RFC 4193 unique local /64 and an IPv4 /24 in 10.0.0.0/8 that no network uses.
async fn suggest(ui: &Ui, form: &mut NetworkForm) {
    let nets = ui.list("/networks").await.unwrap_or_default();
    let used: Vec<ipnet::IpNet> = nets
        .iter()
        .flat_map(|n| [n["ipv4_cidr"].as_str(), n["ipv6_cidr"].as_str()])
        .flatten()
        .filter_map(|c| c.parse().ok())
        .collect();
    let r = crate::secrets::random_bytes::<16>();
    // fd00::/8, a random 40-bit global id and a random 16-bit subnet id.
    let v6 = format!(
        "fd{:02x}:{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}::/64",
        r[0], r[1], r[2], r[3], r[4], r[5], r[6]
    );
    let start = u16::from_be_bytes([r[7], r[8]]);
    let free = (0..=u16::MAX).map(|i| start.wrapping_add(i)).find_map(|i| {
        let [a, b] = i.to_be_bytes();
        let net: ipnet::IpNet = format!("10.{a}.{b}.0/24").parse().ok()?;
        let clash = used
            .iter()
            .any(|u| u.contains(&net.network()) || net.contains(&u.network()));
        (!clash).then(|| net.to_string())
    });
    if form.mode != "ipv4" {
        form.ipv6_cidr = v6;
    }
    if form.mode != "ipv6" {
        if let Some(v4) = free {
            form.ipv4_cidr = v4;
        }
    }
}

async fn new_network(ui: Ui) -> Response {
    let form = NetworkForm {
        mode: "dual".into(),
        ..Default::default()
    };
    html(pages::network_form(ui.csrf(), None, &form, None))
}

async fn create_network(ui: Ui, Form(fields): Form<Fields>) -> Page {
    ui.check(&fields)?;
    let mut form = NetworkForm::from_fields(&fields);
    if fields.get("action") == Some("suggest") {
        suggest(&ui, &mut form).await;
        return Ok(html(pages::network_form(ui.csrf(), None, &form, None)));
    }
    match ui
        .call(Method::POST, "/networks", Some(&form.body()), None)
        .await
    {
        Ok(n) => Ok(
            Redirect::to(&format!("/ui/networks/{}", n["id"].as_str().unwrap_or("")))
                .into_response(),
        ),
        Err(p) => Ok(again(
            &p,
            pages::network_form(ui.csrf(), None, &form, Some(&p)),
        )),
    }
}

async fn edit_network(ui: Ui, Path(nid): Path<String>) -> Page {
    let n = ui.get(&format!("/networks/{nid}")).await.map_err(refused)?;
    let form = NetworkForm::from_network(&n);
    Ok(html(pages::network_form(ui.csrf(), Some(&n), &form, None)))
}

/// An edit: a change of mode or prefixes is first shown as its plan (a dry run of the very
/// same PATCH); confirming sends it under `If-Match` of the version the plan was made from,
/// so what is applied is what was shown, or the API refuses it as changed meanwhile.
async fn update_network(ui: Ui, Path(nid): Path<String>, Form(fields): Form<Fields>) -> Page {
    ui.check(&fields)?;
    let path = format!("/networks/{nid}");
    let current = ui.get(&path).await.map_err(refused)?;
    let mut form = NetworkForm::from_fields(&fields);
    if fields.get("action") == Some("suggest") {
        suggest(&ui, &mut form).await;
        return Ok(html(pages::network_form(
            ui.csrf(),
            Some(&current),
            &form,
            None,
        )));
    }
    let before = NetworkForm::from_network(&current);
    // Only what changed goes in the patch.
    let mut body = serde_json::Map::new();
    for (k, new, old) in [
        ("name", &form.name, &before.name),
        ("domain", &form.domain, &before.domain),
    ] {
        if new != old && !new.is_empty() {
            body.insert(k.into(), json!(new));
        }
    }
    let addressing = form.mode != before.mode
        || form.ipv4_cidr != before.ipv4_cidr
        || form.ipv6_cidr != before.ipv6_cidr;
    if addressing {
        body.insert("ip_stack_mode".into(), json!(form.mode));
        for (k, v) in [
            ("ipv4_cidr", &form.ipv4_cidr),
            ("ipv6_cidr", &form.ipv6_cidr),
        ] {
            if !v.is_empty() {
                body.insert(k.into(), json!(v));
            }
        }
        // The plan names the static peers affected instead of refusing because of them.
        body.insert("force".into(), json!(true));
    }
    let body = Value::Object(body);
    let version = current["version"].as_u64();
    let confirmed = fields
        .get("confirm_version")
        .and_then(|v| v.parse::<u64>().ok());
    let answer = if addressing && confirmed.is_none() {
        match ui
            .call(
                Method::PATCH,
                &format!("{path}?dry_run=true"),
                Some(&body),
                version,
            )
            .await
        {
            Ok(plan) => {
                return Ok(html(pages::plan(ui.csrf(), &current, &form, &plan)));
            }
            Err(p) => Err(p),
        }
    } else {
        ui.call(Method::PATCH, &path, Some(&body), confirmed.or(version))
            .await
    };
    match answer {
        Ok(_) => Ok(Redirect::to(&format!("/ui/networks/{nid}")).into_response()),
        Err(p) => Ok(again(
            &p,
            pages::network_form(ui.csrf(), Some(&current), &form, Some(&p)),
        )),
    }
}

/// Everything a network's page shows.
pub struct NetworkPage {
    pub network: Value,
    pub peers: Vec<Value>,
    pub groups: Vec<Value>,
    pub policies: Vec<Value>,
    pub routes: Vec<Value>,
    pub records: Vec<Value>,
    pub ipam: Value,
}

async fn network_page(ui: &Ui, nid: &str) -> Result<NetworkPage, Problem> {
    let base = format!("/networks/{nid}");
    Ok(NetworkPage {
        network: ui.get(&base).await?,
        peers: ui.list(&format!("{base}/peers")).await?,
        groups: ui.list(&format!("{base}/groups")).await?,
        policies: ui.list(&format!("{base}/policies")).await?,
        routes: ui.list(&format!("{base}/routes")).await?,
        records: ui.list(&format!("{base}/dns")).await?,
        ipam: ui.get(&format!("{base}/ipam")).await?,
    })
}

async fn network(ui: Ui, Path(nid): Path<String>) -> Page {
    let page = network_page(&ui, &nid).await.map_err(refused)?;
    Ok(html(pages::network(
        ui.csrf(),
        &page,
        None,
        &Fields::default(),
        None,
    )))
}

/// A rule added to a policy from the network's page. A `peer` or `group` target is named
/// by id (the form's selects offer the network's peers and groups by name).
async fn add_rule(
    ui: Ui,
    Path((nid, polid)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Page {
    ui.check(&fields)?;
    let target_type = fields.get("target_type").unwrap_or("cidr");
    let target = match target_type {
        "peer" => fields.get("target_peer"),
        "group" => fields.get("target_group"),
        "any" => None,
        _ => fields.get("target"),
    };
    let body = json!({
        "direction": fields.get("direction"),
        "action": fields.get("action"),
        "target_type": target_type,
        "target": target,
        "description": fields.get("description"),
    });
    let path = format!("/networks/{nid}/policies/{polid}/rules");
    match ui.call(Method::POST, &path, Some(&body), None).await {
        Ok(_) => Ok(Redirect::to(&format!("/ui/networks/{nid}")).into_response()),
        Err(p) => {
            let page = network_page(&ui, &nid).await.map_err(refused)?;
            let form = RuleForm {
                policy: polid,
                fields,
            };
            Ok(again(
                &p,
                pages::network(ui.csrf(), &page, Some(&p), &Fields::default(), Some(&form)),
            ))
        }
    }
}

/// A rule form sent back with its refusal: the policy it was for and what was typed.
pub struct RuleForm {
    pub policy: String,
    pub fields: Fields,
}

// ---------------------------------------------------------------- peers

async fn create_peer(ui: Ui, Path(nid): Path<String>, Form(fields): Form<Fields>) -> Page {
    ui.check(&fields)?;
    let kind = fields.get("kind").unwrap_or("agent");
    let mut body = json!({
        "name": fields.get("name"),
        "is_jump": kind == "jump",
        "use_agent": kind != "static",
    });
    for k in ["public_key", "endpoint", "ipv4_address", "ipv6_address"] {
        if let Some(v) = fields.get(k) {
            body[k] = json!(v);
        }
    }
    match ui
        .call(
            Method::POST,
            &format!("/networks/{nid}/peers"),
            Some(&body),
            None,
        )
        .await
    {
        Ok(p) => {
            let pid = p["id"].as_str().unwrap_or("").to_string();
            match p["agent_token"].as_str() {
                // Shown once, on this answer; never again.
                Some(token) => peer_view(&ui, &nid, &pid, Some(token)).await,
                None => {
                    Ok(Redirect::to(&format!("/ui/networks/{nid}/peers/{pid}")).into_response())
                }
            }
        }
        Err(p) => {
            let page = network_page(&ui, &nid).await.map_err(refused)?;
            Ok(again(
                &p,
                pages::network(ui.csrf(), &page, Some(&p), &fields, None),
            ))
        }
    }
}

/// Everything a peer's page shows.
pub struct PeerPage {
    pub network: Value,
    pub peer: Value,
    /// The wg-quick text (static peers), for the QR code.
    pub config: Option<String>,
    /// A jump's rule sets per family.
    pub firewall: Option<Value>,
}

async fn peer_view(ui: &Ui, nid: &str, pid: &str, token: Option<&str>) -> Page {
    let base = format!("/networks/{nid}/peers/{pid}");
    let network = ui.get(&format!("/networks/{nid}")).await.map_err(refused)?;
    let peer = ui.get(&base).await.map_err(refused)?;
    let is_static = !peer["is_jump"].as_bool().unwrap_or(false)
        && !peer["use_agent"].as_bool().unwrap_or(false);
    let config = if is_static {
        let raw = api_call(
            &ui.app,
            &ui.session.token,
            Method::GET,
            &format!("{base}/config"),
            None,
            None,
        )
        .await;
        raw.status
            .is_success()
            .then(|| String::from_utf8_lossy(&raw.body).into_owned())
    } else {
        None
    };
    let firewall = if peer["is_jump"].as_bool().unwrap_or(false) {
        ui.get(&format!("{base}/firewall")).await.ok()
    } else {
        None
    };
    let page = PeerPage {
        network,
        peer,
        config,
        firewall,
    };
    Ok(html(pages::peer(ui.csrf(), &page, token)))
}

async fn peer(ui: Ui, Path((nid, pid)): Path<(String, String)>) -> Page {
    peer_view(&ui, &nid, &pid, None).await
}

/// The peer's `.conf`, as the API renders it, as a download.
async fn peer_config(ui: Ui, Path((nid, pid)): Path<(String, String)>) -> Page {
    let raw = api_call(
        &ui.app,
        &ui.session.token,
        Method::GET,
        &format!("/networks/{nid}/peers/{pid}/config"),
        None,
        None,
    )
    .await;
    if !raw.status.is_success() {
        let v: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
        return Err(refused(Problem::of(raw.status.as_u16(), &v)));
    }
    let name: String = pid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let disposition = format!("attachment; filename=\"{name}.conf\"");
    let mut resp = (StatusCode::OK, raw.body).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&raw.content_type) {
        h.insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

async fn rotate_token(
    ui: Ui,
    Path((nid, pid)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Page {
    ui.check(&fields)?;
    let answer = ui
        .call(
            Method::POST,
            &format!("/networks/{nid}/peers/{pid}/token"),
            None,
            None,
        )
        .await
        .map_err(refused)?;
    let token = answer["agent_token"].as_str().unwrap_or("").to_string();
    peer_view(&ui, &nid, &pid, Some(&token)).await
}

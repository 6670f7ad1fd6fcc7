//! The HTTP surface: the `/api/v1` API, health and metrics, and the internal cluster RPC.

pub mod error;
pub mod extract;
pub mod handlers;
pub mod openapi;
pub mod params;
pub mod token_catch_up;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use raftwire_api::ErrorCode;

use crate::app::App;
use crate::metrics::RouteLabels;
use error::ApiError;
use extract::{Caller, BODY_LIMIT};
use handlers::*;

/// The `/api/v1` routes. Those that need an admin token sit behind [`admin_only`]; the rest
/// are public (the document) or reachable by an agent token, and check the caller themselves.
fn api() -> Router<App> {
    let admin = Router::new()
        .route("/networks", get(networks::list).post(networks::create))
        .route(
            "/networks/{nid}",
            get(networks::get)
                .patch(networks::update)
                .delete(networks::delete),
        )
        .route("/networks/{nid}/ipam", get(networks::ipam))
        .route(
            "/networks/{nid}/peers",
            get(peers::list).post(peers::create),
        )
        .route(
            "/networks/{nid}/peers/{pid}",
            get(peers::get).patch(peers::update).delete(peers::delete),
        )
        .route(
            "/networks/{nid}/peers/{pid}/token",
            post(peers::rotate_token),
        )
        .route("/networks/{nid}/peers/{pid}/firewall", get(peers::firewall))
        .route(
            "/networks/{nid}/groups",
            get(groups::list).post(groups::create),
        )
        .route(
            "/networks/{nid}/groups/{gid}",
            get(groups::get)
                .patch(groups::update)
                .delete(groups::delete),
        )
        .route(
            "/networks/{nid}/groups/{gid}/peers/{pid}",
            axum::routing::put(groups::add_member).delete(groups::remove_member),
        )
        .route(
            "/networks/{nid}/groups/{gid}/policies/{polid}",
            axum::routing::put(groups::attach_policy).delete(groups::detach_policy),
        )
        .route(
            "/networks/{nid}/groups/{gid}/routes/{rid}",
            axum::routing::put(groups::attach_route).delete(groups::detach_route),
        )
        .route(
            "/networks/{nid}/policies",
            get(policies::list).post(policies::create),
        )
        .route(
            "/networks/{nid}/policies/{polid}",
            get(policies::get)
                .patch(policies::update)
                .delete(policies::delete),
        )
        .route(
            "/networks/{nid}/policies/{polid}/rules",
            post(policies::add_rule),
        )
        .route(
            "/networks/{nid}/policies/{polid}/rules/{rule_id}",
            axum::routing::delete(policies::remove_rule),
        )
        .route(
            "/networks/{nid}/routes",
            get(routes::list).post(routes::create),
        )
        .route(
            "/networks/{nid}/routes/{rid}",
            get(routes::get)
                .patch(routes::update)
                .delete(routes::delete),
        )
        .route(
            "/networks/{nid}/routes/{rid}/dns",
            get(dns::list).post(dns::create),
        )
        .route(
            "/networks/{nid}/routes/{rid}/dns/{mid}",
            get(dns::get).patch(dns::update).delete(dns::delete),
        )
        .route("/networks/{nid}/dns", get(dns::records))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", axum::routing::delete(tokens::delete))
        .route(
            "/snapshot",
            get(snapshot::save)
                .post(snapshot::restore)
                .layer(DefaultBodyLimit::max(
                    raftwire_raft_store::command::RESTORE_MAX_LEN,
                )),
        )
        .route("/cluster", get(cluster::status))
        .route("/cluster/members", post(cluster::add))
        .route(
            "/cluster/members/{id}",
            axum::routing::delete(cluster::remove),
        )
        .route("/cluster/members/{id}/promote", post(cluster::promote))
        .route_layer(middleware::from_fn(admin_only));
    Router::new()
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/networks/{nid}/peers/{pid}/config", get(peers::config))
        .route("/agent/config", get(agent::config))
        .route("/agent/ws", get(agent::ws))
        .merge(admin)
}

/// Lets only admin tokens through: no or an unknown token is 401, an agent token 403. It
/// runs before the handler's extractors, so nothing of a refused request (path, query,
/// body) is looked at. The node comes from the `Extension` that [`router`] adds.
async fn admin_only(Extension(app): Extension<App>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let admin = Caller::from_request_parts(&mut parts, &app)
        .await
        .and_then(|caller| caller.require_admin());
    match admin {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(e) => e.into_response(),
    }
}

async fn not_found() -> Response {
    ApiError::new(ErrorCode::NotFound, "no such endpoint").into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this endpoint",
    )
    .into_response()
}

/// Refuses API bodies over the limit by their declared length, on every route — also those
/// that never read a body (a JSON extractor enforces the limit on the rest).
/// Oversized bodies up to this size are read and dropped before the 413 is sent.
const DRAIN_LIMIT: usize = 8 * BODY_LIMIT;

async fn limit_body(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let path = req.uri().path();
    let exempt = path == "/api/v1/snapshot" || path.starts_with("/internal/");
    if let Some(n) = declared.filter(|n| !exempt && *n > BODY_LIMIT) {
        // Read (and drop) a moderately oversized body first, so the client, which is still
        // sending, gets to read the 413 instead of a reset connection. A huge one is not
        // worth reading: the answer goes out at once and the connection closes.
        if n <= DRAIN_LIMIT {
            let _ = axum::body::to_bytes(req.into_body(), DRAIN_LIMIT).await;
        }
        return ApiError::new(
            ErrorCode::PayloadTooLarge,
            "request bodies are limited to 1 MiB",
        )
        .into_response();
    }
    next.run(req).await
}

/// `Idempotency-Key: <key>` on a write makes it apply once: a retry with the same key (and
/// the same method and path) answers what the first one did. Keys are 1–255 visible ASCII
/// characters; the state remembers the latest 10,000.
async fn idempotency(req: Request, next: Next) -> Response {
    let key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => {
            let valid = v.to_str().ok().filter(|k| {
                !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic())
            });
            match valid {
                Some(k) => Some(format!("{} {} {k}", req.method(), req.uri().path())),
                None => {
                    return ApiError::from(raftwire_api::DomainError::field(
                        ErrorCode::InvalidValue,
                        "Idempotency-Key",
                        "an Idempotency-Key is 1 to 255 visible ASCII characters",
                    ))
                    .into_response()
                }
            }
        }
    };
    crate::consensus::IDEMPOTENCY_KEY
        .scope(key, next.run(req))
        .await
}

/// Records request latency by matched route.
async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    app.metrics
        .requests
        .get_or_create(&RouteLabels {
            method,
            route,
            status: resp.status().as_u16(),
        })
        .observe(start.elapsed().as_secs_f64());
    resp
}

pub fn router(app: App) -> Router {
    Router::new()
        .nest("/api/v1", api())
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(crate::ui::routes())
        .merge(crate::cluster::internal::routes(app.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(idempotency))
        .layer(middleware::from_fn(limit_body))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(Extension(app.clone()))
        .with_state(app)
}

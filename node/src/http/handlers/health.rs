//! `/healthz`, `/readyz`, `/metrics` (no prefix, no token).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::app::App;

/// 200 while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    operation_id = "healthz",
    responses(
        (status = 200, description = "The process runs", body = String, content_type = "text/plain"),
    ),
    security(()),
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when this node knows a leader it can reach (as a leader: one a quorum acknowledged
/// within an election timeout; as a follower: one it heard from within it) and has applied
/// every entry it knows to be committed.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    operation_id = "readyz",
    responses(
        (status = 200, description = "This node knows a leader and has applied what it knows to be committed", body = String, content_type = "text/plain"),
        (status = 503, description = "No reachable leader (none known, a leader without a quorum, a follower cut off from its leader), or catching up", body = String, content_type = "text/plain"),
    ),
    security(()),
)]
pub async fn readyz(State(app): State<App>) -> impl IntoResponse {
    let leader = app.raft.metrics().borrow().current_leader;
    let applied = app.applied_index();
    let committed = app.committed_index();
    if let Some(why) = crate::consensus::leader_unreachable(&app) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        );
    }
    match leader {
        Some(leader) if applied >= committed => (
            StatusCode::OK,
            format!("ready: leader {leader}, applied {applied}\n"),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("catching up: applied {applied} of {committed}\n"),
        ),
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus metrics", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    ),
    security(()),
)]
pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    app.refresh_raft_metrics();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
}

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

/// 200 when this node knows a leader and has applied every entry it knows to be committed.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    operation_id = "readyz",
    responses(
        (status = 200, description = "This node knows a leader and has applied what it knows to be committed", body = String, content_type = "text/plain"),
        (status = 503, description = "No leader known, or catching up", body = String, content_type = "text/plain"),
    ),
    security(()),
)]
pub async fn readyz(State(app): State<App>) -> impl IntoResponse {
    let m = app.raft.metrics().borrow().clone();
    let applied = app.applied_index();
    let committed = app.committed_index();
    match m.current_leader {
        Some(leader) if applied >= committed => (
            StatusCode::OK,
            format!("ready: leader {leader}, applied {applied}\n"),
        ),
        Some(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("catching up: applied {applied} of {committed}\n"),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no leader known\n".to_string(),
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

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

/// How long `/readyz` gives a node to apply what it knows to be committed.
const CATCH_UP_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// 200 when this node knows a leader it can reach (as a leader: one a quorum acknowledged
/// within an election timeout; as a follower: one it heard from within it) and applies,
/// within [`CATCH_UP_GRACE`], every entry it knew to be committed when asked.
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
    if let Some(why) = crate::consensus::leader_unreachable(&app) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        );
    }
    let committed = app.committed_index();
    // An entry committed a moment ago is applied a moment later (on the leader after its
    // own log sync): a node is catching up only if it does not apply what it knew to be
    // committed within a short while, not when a probe falls between the two.
    let mut applied = app.applied.clone();
    let _ = tokio::time::timeout(CATCH_UP_GRACE, applied.wait_for(|a| *a >= committed)).await;
    let applied = app.applied_index();
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

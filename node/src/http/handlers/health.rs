//! `/healthz`, `/readyz`, `/metrics` (no prefix, no token).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::app::App;

/// 200 while the process runs.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when this node knows a leader and has applied every entry it knows to be committed.
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

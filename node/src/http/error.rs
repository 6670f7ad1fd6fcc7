//! API errors as `application/problem+json` (RFC 9457) with Raftwire's stable `code`.
//! Domain errors map to HTTP status in `raftwire_api::ErrorCode::http_status` — the one
//! place that mapping lives.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use raftwire_api::{DomainError, ErrorCode};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub error: DomainError,
    /// Seconds, for 503s.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    items: &'a [String],
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        DomainError::new(code, detail).into()
    }

    pub fn no_leader(detail: impl Into<String>) -> Self {
        ApiError {
            error: DomainError::new(ErrorCode::NoLeader, detail),
            retry_after: Some(1),
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        ApiError::new(ErrorCode::Internal, detail.to_string())
    }

    pub fn unauthorized() -> Self {
        ApiError::new(ErrorCode::Unauthorized, "missing or invalid bearer token")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, detail)
    }

    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        DomainError::not_found(what, id).into()
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn code(&self) -> ErrorCode {
        self.error.code
    }
}

/// The one place consensus failures become HTTP: 503 with `Retry-After` for what a retry may
/// fix, 500 for a node whose Raft failed, and a refusal keeps the status and code the leader
/// gave it (through any number of forwarding nodes).
impl From<crate::consensus::ConsensusError> for ApiError {
    fn from(e: crate::consensus::ConsensusError) -> Self {
        use crate::consensus::ConsensusError::*;
        match e {
            NoLeader(detail) => ApiError::no_leader(detail),
            OutcomeUnknown(detail) => ApiError {
                error: DomainError::new(ErrorCode::OutcomeUnknown, detail),
                retry_after: Some(1),
            },
            Fatal(detail) => ApiError::internal(detail),
            Refused(error) => ApiError::from(error),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let retry_after = (error.http_status() == 503).then_some(1);
        ApiError { error, retry_after }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.error.code.as_str();
        let body = Problem {
            kind: format!("urn:raftwire:error:{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: &self.error.detail,
            code,
            field: self.error.field.as_deref(),
            items: &self.error.items,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = (status, json).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::ConsensusError;

    #[test]
    fn consensus_errors_become_503_500_or_keep_the_refusals_status() {
        let cases = [
            (ConsensusError::NoLeader("x".into()), 503, "no_leader", true),
            (
                ConsensusError::OutcomeUnknown("x".into()),
                503,
                "outcome_unknown",
                true,
            ),
            (ConsensusError::Fatal("x".into()), 500, "internal", false),
            (
                ConsensusError::Refused(DomainError::field(ErrorCode::NameTaken, "name", "x")),
                409,
                "name_taken",
                false,
            ),
            (
                ConsensusError::Refused(DomainError::new(ErrorCode::InvalidValue, "x")),
                400,
                "invalid_value",
                false,
            ),
        ];
        for (e, status, code, retry) in cases {
            let api = ApiError::from(e.clone());
            assert_eq!(api.status().as_u16(), status, "{e:?}");
            assert_eq!(api.code().as_str(), code, "{e:?}");
            assert_eq!(api.retry_after.is_some(), retry, "{e:?}");
        }
    }

    #[test]
    fn consensus_errors_survive_the_trip_between_nodes() {
        let cfg = bincode::config::standard();
        let e: Result<u64, ConsensusError> = Err(ConsensusError::Refused(DomainError::field(
            ErrorCode::ChangeInProgress,
            "id",
            "busy",
        )));
        let bytes = bincode::serde::encode_to_vec(&e, cfg).unwrap();
        let (back, _): (Result<u64, ConsensusError>, usize) =
            bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
        assert_eq!(back, e);
    }
}

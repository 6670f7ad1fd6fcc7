//! The OpenAPI 3.1 document of the HTTP API, served without a token at
//! `GET /api/v1/openapi.json`.
//!
//! It is generated, not written: every handler carries a `#[utoipa::path]` annotation naming
//! its method, path, parameters, body and answers, and the body types derive `ToSchema` from
//! their Rust definitions (`raftwire-api`'s `openapi` feature). `tests/openapi.rs` checks that
//! every route of the router is in the document and the other way round; `scripts/schemathesis.sh`
//! checks a live node against it.
//!
//! Errors are shared response components (`BadRequest`, `Unauthorized`, …) whose body is the
//! `Problem` schema, grouped for the annotations into [`Common`], [`Missing`], [`Conflict`]
//! and [`TooLarge`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use raftwire_api::ErrorCode;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::response::{Response as OaResponse, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{KnownFormat, Ref, RefOr, SchemaFormat};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};

use super::handlers::{
    agent, cluster, dns, groups, health, networks, peers, policies, routes, snapshot, tokens,
};
use crate::consensus::Consistency;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The name of the security scheme: `Authorization: Bearer <token>`.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Raftwire control plane",
        description = "The HTTP API of a Raftwire node. Every node serves every \
            endpoint; writes are forwarded to the leader and answered once applied on the \
            answering node. Errors are `application/problem+json` with a stable `code`."
    ),
    paths(
        openapi_json,
        health::healthz,
        health::readyz,
        health::metrics,
        networks::list,
        networks::create,
        networks::get,
        networks::update,
        networks::delete,
        networks::ipam,
        peers::list,
        peers::create,
        peers::get,
        peers::update,
        peers::delete,
        peers::config,
        peers::rotate_token,
        peers::firewall,
        groups::list,
        groups::create,
        groups::get,
        groups::update,
        groups::delete,
        groups::add_member,
        groups::remove_member,
        groups::attach_policy,
        groups::detach_policy,
        groups::attach_route,
        groups::detach_route,
        policies::list,
        policies::create,
        policies::get,
        policies::update,
        policies::delete,
        policies::add_rule,
        policies::remove_rule,
        routes::list,
        routes::create,
        routes::get,
        routes::update,
        routes::delete,
        dns::list,
        dns::create,
        dns::get,
        dns::update,
        dns::delete,
        dns::records,
        tokens::list,
        tokens::create,
        tokens::delete,
        agent::config,
        agent::ws,
        snapshot::save,
        snapshot::restore,
        cluster::status,
        cluster::add,
        cluster::remove,
        cluster::promote,
    ),
    components(schemas(
        Problem,
        raftwire_api::NetworkId,
        raftwire_api::PeerId,
        raftwire_api::GroupId,
        raftwire_api::PolicyId,
        raftwire_api::RuleId,
        raftwire_api::RouteId,
        raftwire_api::DnsMappingId,
        raftwire_api::TokenId,
    )),
    modifiers(&Components),
    security(("bearer" = [])),
    tags(
        (name = "meta", description = "Health, readiness, metrics and this document (no token)"),
        (name = "networks"),
        (name = "peers"),
        (name = "groups"),
        (name = "policies"),
        (name = "routes"),
        (name = "dns"),
        (name = "tokens", description = "Admin API tokens"),
        (name = "agent", description = "What an agent token reaches: its peer's configuration and socket"),
        (name = "cluster", description = "Raft membership, backup and restore"),
    )
)]
pub struct ApiDoc;

/// The document, rendered once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serialises")
    })
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = inline(serde_json::Value)))
)]
pub async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}

/// Opaque bytes (`application/octet-stream`): a backup.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}

/// The answers of the list endpoints: `{"items": [...], "next": …}`, in creation order.
macro_rules! lists {
    ($($list:ident of $item:ty),* $(,)?) => {$(
        /// A list answer: the items in creation order (one page with `?limit=`).
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $list {
            items: Vec<$item>,
            /// When more items follow this page: the `after` of the next page; else null.
            next: Option<String>,
        }
    )*};
}

lists!(
    NetworkList of raftwire_api::Network,
    PeerList of peers::PeerView,
    GroupList of groups::GroupView,
    PolicyList of raftwire_api::PolicyView,
    RouteList of raftwire_api::Route,
    DnsMappingList of raftwire_api::DnsMapping,
    DnsRecordList of raftwire_api::dns::DnsRecord,
    TokenList of tokens::TokenInfo,
);

/// An error: RFC 9457 problem details with Raftwire's stable `code` (mirrors the body
/// `ApiError` renders in `http/error.rs`; `tests/openapi.rs` compares the two).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Problem {
    /// `urn:raftwire:error:<code>`.
    #[schema(rename = "type", example = "urn:raftwire:error:not_found")]
    kind: String,
    /// The HTTP status's reason phrase.
    #[schema(example = "Not Found")]
    title: String,
    /// The HTTP status.
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    /// A sentence for a person.
    detail: String,
    /// What went wrong, stable: clients match on this.
    code: ErrorCode,
    /// The offending field, as a JSON path (`rules[2].target`), path parameter (`nid`),
    /// query parameter or header; absent when the error is not about one field.
    #[schema(value_type = String, required = false)]
    field: Option<String>,
    /// The ids the error is about, when there are several (the static peers a
    /// renumbering would break); absent when empty.
    #[schema(required = false)]
    items: Vec<String>,
}

/// `?consistency=…` of reads.
impl PartialSchema for Consistency {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(CONSISTENCY))
            .default(Some("linearizable".into()))
            .description(Some(
                "`linearizable` (the default) reads after a read-index round with a quorum; \
                 `local` serves this node's applied state at once.",
            ))
            .into()
    }
}

impl ToSchema for Consistency {}

/// The values of [`Consistency`], as its `Deserialize` accepts them.
const CONSISTENCY: [&str; 2] = ["linearizable", "local"];

/// The error answers, by component name: status, description.
const PROBLEMS: [(&str, u16, &str); 7] = [
    (
        "BadRequest",
        400,
        "Invalid input: a malformed or unknown body field, a bad path or query parameter \
         or header, or a value the domain rejects. `field` names it.",
    ),
    ("Unauthorized", 401, "No or an unknown bearer token."),
    (
        "Forbidden",
        403,
        "The token may not do this (an agent token outside its own peer, or an admin token \
         on an agent endpoint).",
    ),
    ("NotFound", 404, "An id of the path names nothing."),
    (
        "Conflict",
        409,
        "The change conflicts with the current state (`cidr_overlap`, `name_taken`, \
         `address_taken`, `pool_exhausted`, `family_in_use`, `static_peers_affected`, \
         `version_mismatch`, `in_use`).",
    ),
    (
        "PayloadTooLarge",
        413,
        "The body is over the limit (1 MiB; 512 MiB for a restore).",
    ),
    (
        "Unavailable",
        503,
        "No quorum or no known leader right now; retry after `Retry-After` seconds.",
    ),
];

fn problem_response(status: u16, description: &str) -> OaResponse {
    let mut r = ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(Problem::name())))
            .build(),
    );
    if status == 503 {
        r = r.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ))
                .description(Some("Seconds"))
                .build(),
        );
    }
    r.build()
}

/// References to the shared error responses with these statuses.
fn refs(statuses: &[u16]) -> BTreeMap<String, RefOr<OaResponse>> {
    PROBLEMS
        .iter()
        .filter(|(_, s, _)| statuses.contains(s))
        .map(|(name, s, _)| (s.to_string(), Ref::from_response_name(*name).into()))
        .collect()
}

/// 400, 401, 403 and 503: what every endpoint that takes a token can answer.
pub struct Common;
impl IntoResponses for Common {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        refs(&[400, 401, 403, 503])
    }
}

/// 404: an id of the path names nothing.
pub struct Missing;
impl IntoResponses for Missing {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        refs(&[404])
    }
}

/// 409: conflicts with the state.
pub struct Conflict;
impl IntoResponses for Conflict {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        refs(&[409])
    }
}

/// 413: the body is over the limit.
pub struct TooLarge;
impl IntoResponses for TooLarge {
    fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
        refs(&[413])
    }
}

/// The bearer security scheme and the shared error responses.
struct Components;

impl Modify for Components {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin token (the bootstrap token or one from `POST /tokens`), or \
                         a peer's agent token, which reaches only that peer's configuration \
                         and socket.",
                    ))
                    .build(),
            ),
        );
        for (name, status, description) in PROBLEMS {
            components.responses.insert(
                name.to_string(),
                problem_response(status, description).into(),
            );
        }
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                op.parameters
                    .iter_mut()
                    .flatten()
                    .for_each(optional_header_is_not_null);
            }
        }
    }
}

/// utoipa types an optional header (`Option<u64>`) as `[integer, null]`; a header is absent
/// or a value, never `null`.
fn optional_header_is_not_null(param: &mut RefOr<Parameter>) {
    let RefOr::T(p) = param else { return };
    if p.parameter_in != ParameterIn::Header {
        return;
    }
    if let Some(RefOr::T(Schema::Object(o))) = &mut p.schema {
        if let SchemaType::Array(types) = &o.schema_type {
            let types: Vec<Type> = types
                .iter()
                .filter(|t| **t != Type::Null)
                .cloned()
                .collect();
            if let [only] = types.as_slice() {
                o.schema_type = SchemaType::Type(only.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistency_schema_lists_exactly_what_the_query_accepts() {
        for v in CONSISTENCY {
            serde_json::from_value::<Consistency>(serde_json::json!(v))
                .unwrap_or_else(|e| panic!("{v}: {e}"));
        }
        assert_eq!(
            serde_json::from_value::<Consistency>(serde_json::json!("linearizable")).unwrap(),
            Consistency::default()
        );
    }

    #[test]
    fn the_413_description_states_the_limits_the_server_applies() {
        let (_, _, text) = PROBLEMS.iter().find(|(_, s, _)| *s == 413).unwrap();
        let mib = |n: usize| format!("{} MiB", n / (1024 * 1024));
        assert!(
            text.contains(&mib(crate::http::extract::BODY_LIMIT)),
            "{text}"
        );
        assert!(
            text.contains(&mib(raftwire_raft_store::command::RESTORE_MAX_LEN)),
            "{text}"
        );
    }

    #[test]
    fn every_error_status_has_a_component_and_codes_map_into_them() {
        let documented: Vec<u16> = PROBLEMS.iter().map(|(_, s, _)| *s).collect();
        // Every code the API can answer with (500 and 405 aside: never documented).
        let doc: serde_json::Value = serde_json::from_str(document()).unwrap();
        let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .expect("ErrorCode is an enum of strings");
        assert!(codes.len() > 30);
        for c in codes {
            let code: ErrorCode = serde_json::from_value(c.clone()).unwrap();
            let s = code.http_status();
            assert!(
                documented.contains(&s) || s == 500 || s == 405,
                "{code} answers {s}, which has no problem response"
            );
        }
    }
}

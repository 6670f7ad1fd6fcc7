//! Typed request parameters, each defined once for both the handler and the OpenAPI document.
//!
//! **Path parameters.** Every id type that appears in a route implements [`PathParam`]: the
//! name the routes give it (`{nid}`, `{pid}`, …), its description, its schema. A handler
//! takes [`Ids<T>`] where `T` is one id type or a tuple of them, usually through one of the
//! aliases below (`Ids((nid, pid)): PeerPath`), and the same alias documents the route:
//! `params(PeerPath, ReadQuery)`. There are no parameter names to spell in a handler, so a
//! typo cannot become a run-time 500, and the document cannot disagree with what is parsed.
//!
//! The extractor is our own, built on [`RawPathParams`], rather than axum's `Path`: `Path`
//! reports a custom (uuid) parse error without the key it was parsing, while the API answers
//! a value that does not parse with a 400 `invalid_value` whose `field` is the route's
//! parameter name. Each value is looked up by that name (not by position), so a route and a
//! handler that disagree about a parameter fail loudly rather than parse the wrong segment.
//!
//! **Headers.** [`IfMatch`] documents `If-Match` once; [`if_match`] reads it.

use std::str::FromStr;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use raftwire_api::{
    DnsMappingId, DomainError, ErrorCode, GroupId, NetworkId, PeerId, PolicyId, RouteId, RuleId,
    TokenId,
};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{Ref, RefOr, Required, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::error::{ApiError, ApiResult};

/// A value the routes carry in their path, under one fixed name.
pub trait PathParam: FromStr {
    /// The parameter's name in the routes (`nid` for `/networks/{nid}`).
    const NAME: &'static str;
    /// Its description in the OpenAPI document.
    const DESCRIPTION: &'static str;
    /// Its schema in the OpenAPI document.
    fn schema() -> RefOr<Schema>;
}

/// The id types with a named schema component (`#/components/schemas/NetworkId`, …).
macro_rules! path_params {
    ($($ty:ty => $name:literal, $description:literal;)*) => {$(
        impl PathParam for $ty {
            const NAME: &'static str = $name;
            const DESCRIPTION: &'static str = $description;
            fn schema() -> RefOr<Schema> {
                Ref::from_schema_name(<$ty as ToSchema>::name()).into()
            }
        }
    )*};
}

path_params! {
    NetworkId => "nid", "The network's id";
    PeerId => "pid", "The peer's id";
    GroupId => "gid", "The group's id";
    PolicyId => "polid", "The policy's id";
    RuleId => "rule_id", "The rule's id";
    RouteId => "rid", "The route's id";
    DnsMappingId => "mid", "The DNS mapping's id";
    TokenId => "id", "The admin token's id";
}

/// A Raft node id in `/cluster/members/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeId(pub u64);

impl FromStr for NodeId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(NodeId)
    }
}

impl PathParam for NodeId {
    const NAME: &'static str = "id";
    const DESCRIPTION: &'static str = "The Raft node id";
    fn schema() -> RefOr<Schema> {
        u64::schema()
    }
}

/// The parameter `P` of the request's path; a value that does not parse is a 400
/// `invalid_value` naming the parameter.
fn parse<P: PathParam>(raw: &RawPathParams) -> ApiResult<P> {
    let value = raw
        .iter()
        .find(|(k, _)| *k == P::NAME)
        .map(|(_, v)| v)
        .ok_or_else(|| {
            ApiError::internal(format!("the route has no path parameter '{}'", P::NAME))
        })?;
    value.parse().map_err(|_| {
        let shown: String = value.chars().take(64).collect();
        DomainError::field(
            ErrorCode::InvalidValue,
            P::NAME,
            format!("'{shown}' is not a valid id"),
        )
        .into()
    })
}

fn document<P: PathParam>() -> Parameter {
    ParameterBuilder::new()
        .name(P::NAME)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(P::DESCRIPTION))
        .schema(Some(P::schema()))
        .build()
}

/// One path parameter or a tuple of them, in the order the route has them.
pub trait PathParams: Sized {
    fn from_raw(raw: &RawPathParams) -> ApiResult<Self>;
    fn document() -> Vec<Parameter>;
}

impl<P: PathParam> PathParams for P {
    fn from_raw(raw: &RawPathParams) -> ApiResult<Self> {
        parse(raw)
    }
    fn document() -> Vec<Parameter> {
        vec![document::<P>()]
    }
}

macro_rules! tuples {
    ($(($($p:ident),+);)*) => {$(
        impl<$($p: PathParam),+> PathParams for ($($p,)+) {
            fn from_raw(raw: &RawPathParams) -> ApiResult<Self> {
                Ok(($(parse::<$p>(raw)?,)+))
            }
            fn document() -> Vec<Parameter> {
                vec![$(document::<$p>()),+]
            }
        }
    )*};
}

tuples! {
    (A, B);
    (A, B, C);
}

/// The typed path parameters of a request (see the module documentation).
pub struct Ids<T>(pub T);

impl<T: PathParams, S: Send + Sync> FromRequestParts<S> for Ids<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|r| ApiError::new(ErrorCode::InvalidValue, r.body_text()))?;
        T::from_raw(&raw).map(Ids)
    }
}

impl<T: PathParams> IntoParams for Ids<T> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        T::document()
    }
}

/// `/networks/{nid}`
pub type NetworkPath = Ids<NetworkId>;
/// `/networks/{nid}/peers/{pid}`
pub type PeerPath = Ids<(NetworkId, PeerId)>;
/// `/networks/{nid}/groups/{gid}`
pub type GroupPath = Ids<(NetworkId, GroupId)>;
/// `/networks/{nid}/groups/{gid}/peers/{pid}`
pub type MemberPath = Ids<(NetworkId, GroupId, PeerId)>;
/// `/networks/{nid}/groups/{gid}/policies/{polid}`
pub type GroupPolicyPath = Ids<(NetworkId, GroupId, PolicyId)>;
/// `/networks/{nid}/groups/{gid}/routes/{rid}`
pub type GroupRoutePath = Ids<(NetworkId, GroupId, RouteId)>;
/// `/networks/{nid}/policies/{polid}`
pub type PolicyPath = Ids<(NetworkId, PolicyId)>;
/// `/networks/{nid}/policies/{polid}/rules/{rule_id}`
pub type RulePath = Ids<(NetworkId, PolicyId, RuleId)>;
/// `/networks/{nid}/routes/{rid}`
pub type RoutePath = Ids<(NetworkId, RouteId)>;
/// `/networks/{nid}/routes/{rid}/dns/{mid}`
pub type MappingPath = Ids<(NetworkId, RouteId, DnsMappingId)>;
/// `/tokens/{id}`
pub type TokenPath = Ids<TokenId>;
/// `/cluster/members/{id}`
pub type NodePath = Ids<NodeId>;

/// The `If-Match` header of a change, for the OpenAPI document: `params(PeerPath, IfMatch)`.
pub struct IfMatch;

impl IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("If-Match")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Only if the object is still at this version (quotes, as for an ETag, are \
                 accepted); else 409 `version_mismatch`",
            ))
            .schema(Some(u64::schema()))
            .build()]
    }
}

/// `If-Match: <version>` (quotes allowed, as for an ETag).
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(v) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            DomainError::field(
                ErrorCode::InvalidValue,
                "If-Match",
                "If-Match must be the object's version number",
            )
            .into()
        })
}

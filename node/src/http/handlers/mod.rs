//! HTTP handlers, one file per entity. Shared helpers live here.
//!
//! How a handler is put together:
//! - **Who may call** is settled before it runs: the routes that need an admin token sit
//!   behind the admin-only layer of `http/mod.rs`, so their handlers take no caller. Only
//!   the agent-reachable ones (`peers::config`, `agent::*`) take a [`Caller`] or
//!   [`agent::AgentPeer`] and check it themselves.
//! - **Path ids** come typed from [`Ids`] (see `http/params.rs`), and the same alias
//!   documents them: `Ids((nid, pid)): PeerPath` with `params(PeerPath, …)`.
//! - **Reads** take a [`Read`] (the `?consistency=` of the request) and run one closure on
//!   the state after the read barrier: [`Read::network`] for what a network holds (an
//!   unknown network is a 404), with [`find`] for the object an id names in it.
//! - **Writes** build a `Command` and hand it to `propose_for` / `propose_done`.
//!
//! [`Caller`]: crate::http::extract::Caller
//! [`Ids`]: crate::http::params::Ids

pub mod agent;
pub mod cluster;
pub mod dns;
pub mod dry_run;
pub mod groups;
pub mod health;
pub mod networks;
pub mod peers;
pub mod policies;
pub mod routes;
pub mod snapshot;
pub mod tokens;

use std::fmt::Display;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::Json;
use raftwire_api::{
    DomainError, ErrorCode, Group, GroupId, NetworkId, Peer, PeerId, Policy, PolicyId, Route,
    RouteId, Timestamp,
};
use raftwire_raft_store::{NetworkState, State as RwState};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::App;
use crate::consensus::{read_barrier, Consistency};
use crate::http::error::{ApiError, ApiResult};
pub use crate::http::params::if_match;

/// `?consistency=local|linearizable` on reads.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    #[serde(default)]
    #[param(inline)]
    pub consistency: Consistency,
}

/// A read: the node and the consistency of `?consistency=…` (bad input is 400
/// `invalid_value`, `field` = the offending parameter). [`Read::state`] and
/// [`Read::network`] run the read barrier, then look at this node's applied state.
pub struct Read {
    app: App,
    consistency: Consistency,
}

impl FromRequestParts<App> for Read {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let q: ReadQuery = query(parts, app, "consistency").await?;
        Ok(Read {
            app: app.clone(),
            consistency: q.consistency,
        })
    }
}

/// The query string as `T`; a parameter it does not know, or a value that does not parse,
/// is a 400 `invalid_value` naming the parameter (`fallback` when serde does not say).
async fn query<T: serde::de::DeserializeOwned + Send>(
    parts: &mut Parts,
    app: &App,
    fallback: &str,
) -> Result<T, ApiError> {
    match Query::<T>::from_request_parts(parts, app).await {
        Ok(Query(q)) => Ok(q),
        Err(r) => Err(query_rejection(r, fallback)),
    }
}

/// A query string that does not parse: 400 `invalid_value`, `field` = the unknown
/// parameter it names, else `default_field` (the parameter the extractor reads).
pub fn query_rejection(r: QueryRejection, default_field: &str) -> ApiError {
    let msg = r.body_text();
    let field = msg
        .split_once("unknown field `")
        .and_then(|(_, rest)| rest.split('`').next())
        .unwrap_or(default_field)
        .to_string();
    DomainError::field(ErrorCode::InvalidValue, field, msg).into()
}

/// The most items one page may hold (`?limit=`).
pub const MAX_PAGE: usize = 10_000;

/// `?consistency=…&limit=…&after=…` on lists.
///
/// Without `limit` a list answers every item, as before pagination existed, so old clients
/// keep working; a client that pages asks for `limit` items and follows `next`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[serde(default)]
    #[param(inline)]
    pub consistency: Consistency,
    /// At most this many items (1 to 10000); every item when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub limit: Option<String>,
    /// Continue after the item with this key: the `next` of the previous page.
    pub after: Option<String>,
}

/// A read of one page of a list: [`Read`] and the page asked for.
pub struct List {
    pub read: Read,
    pub page: Page,
}

/// Which items of a list an answer holds: at most `limit`, after the item `after`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    limit: Option<usize>,
    after: Option<String>,
}

impl FromRequestParts<App> for List {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let q: ListQuery = query(parts, app, "consistency").await?;
        let limit = match q.limit.as_deref() {
            None => None,
            Some(l) => match l.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => Some(n),
                _ => {
                    return Err(DomainError::field(
                        ErrorCode::InvalidValue,
                        "limit",
                        format!("limit must be a whole number from 1 to {MAX_PAGE}, not {l:?}"),
                    )
                    .into())
                }
            },
        };
        Ok(List {
            read: Read {
                app: app.clone(),
                consistency: q.consistency,
            },
            page: Page {
                limit,
                after: q.after,
            },
        })
    }
}

impl Page {
    /// The page of `all` (in list order) as `{"items": [...], "next": key | null}`: the
    /// items after the one whose `key` is `after`, at most `limit` of them, each shown by
    /// `view`. `next` is the last item's key when more follow. Only the page's items are
    /// rendered. A cursor that names no item (deleted since the previous page) is a 400
    /// `invalid_value` on `after`: the list is read again from the start.
    pub fn answer<'a, S: 'a, T: Serialize>(
        &self,
        all: impl IntoIterator<Item = &'a S>,
        key: impl Fn(&S) -> String,
        mut view: impl FnMut(&S) -> T,
    ) -> ApiResult<Json<serde_json::Value>> {
        let mut all = all.into_iter().peekable();
        if let Some(after) = &self.after {
            if !all.by_ref().any(|s| key(s) == *after) {
                return Err(DomainError::field(
                    ErrorCode::InvalidValue,
                    "after",
                    format!("no item has the key {after:?} (deleted since the previous page?): list again from the start"),
                )
                .into());
            }
        }
        let limit = self.limit.unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last = None;
        while items.len() < limit {
            match all.next() {
                Some(s) => {
                    items.push(view(s));
                    last = Some(s);
                }
                None => break,
            }
        }
        let next = match (all.peek(), last) {
            (Some(_), Some(l)) => Some(key(l)),
            _ => None,
        };
        Ok(Json(serde_json::json!({ "items": items, "next": next })))
    }
}

impl Read {
    /// The read barrier alone, for reads that do not go through [`RwState`].
    pub async fn barrier(self) -> ApiResult<App> {
        read_barrier(&self.app, self.consistency).await?;
        Ok(self.app)
    }

    /// `f` on the whole state.
    pub async fn state<T>(self, f: impl FnOnce(&RwState) -> ApiResult<T>) -> ApiResult<T> {
        read(&self.app, self.consistency, f).await
    }

    /// `f` on the network `nid`; an unknown network is a 404.
    pub async fn network<T>(
        self,
        nid: NetworkId,
        f: impl FnOnce(&NetworkState) -> ApiResult<T>,
    ) -> ApiResult<T> {
        self.state(|s| f(network_of(s, nid)?)).await
    }
}

/// Waits for the read barrier `consistency` asks for, then runs `f` on the applied state.
pub async fn read<T>(
    app: &App,
    consistency: Consistency,
    f: impl FnOnce(&RwState) -> ApiResult<T>,
) -> ApiResult<T> {
    read_barrier(app, consistency).await?;
    app.with_state(f)?
}

/// The network `nid` of the state, or a 404.
fn network_of(s: &RwState, nid: NetworkId) -> ApiResult<&NetworkState> {
    s.network(nid)
        .ok_or_else(|| ApiError::not_found("network", nid))
}

/// The ids of what a network holds, each with where it is held and what a 404 calls it.
pub trait InNetwork: Copy + Display {
    type Item;
    const WHAT: &'static str;
    fn lookup(self, ns: &NetworkState) -> Option<&Self::Item>;
}

macro_rules! in_network {
    ($($id:ty => $field:ident: $item:ty, $what:literal;)*) => {$(
        impl InNetwork for $id {
            type Item = $item;
            const WHAT: &'static str = $what;
            fn lookup(self, ns: &NetworkState) -> Option<&$item> {
                ns.$field.get(self)
            }
        }
    )*};
}

in_network! {
    PeerId => peers: Peer, "peer";
    GroupId => groups: Group, "group";
    PolicyId => policies: Policy, "policy";
    RouteId => routes: Route, "route";
}

/// The object `id` of the network, or a 404.
pub fn find<I: InNetwork>(ns: &NetworkState, id: I) -> ApiResult<&I::Item> {
    id.lookup(ns)
        .ok_or_else(|| ApiError::not_found(I::WHAT, id))
}

/// The wall clock, read here (at the edge) and carried into commands.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Timestamp(ms)
}

pub fn new_id() -> Uuid {
    Uuid::new_v4()
}

/// Every list endpoint answers `{"items": [...]}` (fields keep their declared order:
/// serde_json's `preserve_order`).
pub fn items<T: Serialize>(list: Vec<T>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "items": list }))
}

/// [`crate::consensus::propose`] for a deletion, membership or attachment change:
/// `204 No Content`.
pub async fn propose_done(
    app: &crate::app::App,
    cmd: raftwire_raft_store::Command,
) -> ApiResult<axum::http::StatusCode> {
    crate::consensus::propose(app, cmd).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A retried secret-minting write: its secret was shown once, by the first write.
pub fn replayed_secret() -> ApiError {
    ApiError::new(
        ErrorCode::InUse,
        "this write already happened under this Idempotency-Key; its secret was shown only \
         once, by the first answer (rotate it if it was lost)",
    )
}

//! `/tokens[/{id}]`: admin API tokens. The token itself is shown once, at creation; the
//! state keeps only its hash, and no answer ever contains the hash.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use raftwire_api::validate as v;
use raftwire_api::{Timestamp, TokenId};
use raftwire_raft_store::{AdminToken, Command, Response};
use serde::{Deserialize, Serialize};

use super::{new_id, now, List, ListQuery};
use crate::app::App;
use crate::consensus::{propose, propose_for, unexpected};
use crate::http::error::ApiResult;
use crate::http::extract::JsonBody;
use crate::http::openapi::{Common, Conflict, Missing, TooLarge};
use crate::http::params::{Ids, TokenPath};
use crate::secrets::{hash_token, new_token};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    #[schema(value_type = String, required = true, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub name: Option<String>,
}

/// An admin token as the API lists it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    id: TokenId,
    name: String,
    created_at: Timestamp,
}

impl From<&AdminToken> for TokenInfo {
    fn from(t: &AdminToken) -> Self {
        TokenInfo {
            id: t.id,
            name: t.name.clone(),
            created_at: t.created_at,
        }
    }
}

/// The 201 body: the listing fields plus the token, shown only here.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenCreated {
    #[serde(flatten)]
    info: TokenInfo,
    token: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "tokens",
    operation_id = "list_tokens",
    params(ListQuery),
    responses(
        (status = 200, description = "Every admin token (never the token itself); all of them, or one page with `limit` and `after`", body = crate::http::openapi::TokenList),
        Common,
    ),
)]
pub async fn list(List { read, page }: List) -> ApiResult<Json<serde_json::Value>> {
    read.state(|s| {
        page.answer(
            s.admin_tokens(),
            |t| t.id.to_string(),
            |t| TokenInfo::from(t),
        )
    })
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    operation_id = "create_token",
    request_body = CreateToken,
    responses(
        (status = 201, description = "The new admin token, shown only here", body = TokenCreated),
        Common, Conflict, TooLarge,
    ),
)]
pub async fn create(
    State(app): State<App>,
    JsonBody(body): JsonBody<CreateToken>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    let name = v::label("name", v::required("name", &body.name)?)?;
    let token = new_token();
    let cmd = Command::CreateAdminToken {
        token: AdminToken {
            id: TokenId(new_id()),
            name,
            token_hash: hash_token(&token),
            created_at: now(),
        },
    };
    let t = propose_for::<AdminToken>(&app, cmd).await?;
    let hash = hash_token(&token);
    if app.with_state(|s| s.admin_token_by_hash(&hash).map(|k| k.id))? != Some(t.id) {
        // A retried write (same Idempotency-Key): the token was shown once already.
        return Err(super::replayed_secret());
    }
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            info: TokenInfo::from(&t),
            token,
        }),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "tokens",
    operation_id = "delete_token",
    params(TokenPath),
    responses(
        (status = 204, description = "Revoked"),
        Common, Missing, Conflict,
    ),
)]
pub async fn delete(State(app): State<App>, Ids(id): TokenPath) -> ApiResult<StatusCode> {
    match propose(&app, Command::DeleteAdminToken { id }).await? {
        Response::Deleted => Ok(StatusCode::NO_CONTENT),
        other => Err(unexpected(other).into()),
    }
}

//! Admin tokens (hashes only).

use raftwire_api::*;

use crate::command::{ApplyResult, Response};
use crate::state::{AdminToken, State};

pub(super) fn create(state: &mut State, token: AdminToken) -> ApplyResult {
    if state.data.admin_tokens.contains(token.id)
        || state.idx.admin_tokens.contains_key(&token.token_hash)
    {
        return Err(DomainError::new(
            ErrorCode::InUse,
            "this admin token already exists",
        ));
    }
    crate::invariants::check_token_hash_free(state, &token.token_hash, None)?;
    if state.admin_tokens().any(|t| t.name == token.name) {
        return Err(DomainError::field(
            ErrorCode::NameTaken,
            "name",
            format!("an admin token named '{}' already exists", token.name),
        ));
    }
    let seq = state.next_seq();
    state
        .idx
        .admin_tokens
        .insert(token.token_hash.clone(), token.id);
    state.data.admin_tokens.insert(seq, token.clone());
    Ok(Response::AdminToken(token))
}

pub(super) fn delete(state: &mut State, id: TokenId) -> ApplyResult {
    let t = state
        .data
        .admin_tokens
        .remove(id)
        .ok_or_else(|| DomainError::not_found("admin token", id))?;
    state.idx.admin_tokens.remove(&t.token_hash);
    Ok(Response::Deleted)
}

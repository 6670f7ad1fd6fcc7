//! Policies and their rules. A rule a command writes must target a peer or group of the
//! network, or a CIDR of a family the network has; the policy as it would be goes through
//! the same checks whichever command writes it.

use raftwire_api::*;

use super::{check_version, network_mut, network_ref};
use crate::command::{ApplyResult, Response};
use crate::invariants::{check_new_rules, check_policy};
use crate::state::{NetworkState, State};

fn policy_ref(ns: &NetworkState, id: PolicyId) -> DomainResult<&Policy> {
    ns.policies
        .get(id)
        .ok_or_else(|| DomainError::not_found("policy", id))
}

/// Where the target of the `i`-th rule of a policy's rule list is in a request body.
fn rule_target_field(i: usize) -> String {
    format!("rules[{i}].target")
}

/// Replaces the stored policy by its checked next version.
fn commit(state: &mut State, network_id: NetworkId, next: Policy) -> ApplyResult {
    if let Some(p) = network_mut(state, network_id)?.policies.get_mut(next.id) {
        *p = next.clone();
    }
    Ok(Response::Policy(next))
}

pub(super) fn create(
    state: &mut State,
    network_id: NetworkId,
    id: PolicyId,
    at: Timestamp,
    name: String,
    description: String,
    rules: Vec<Rule>,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    if ns.policies.contains(id) {
        return Err(DomainError::new(
            ErrorCode::InUse,
            format!("policy id {id} is taken"),
        ));
    }
    let policy = Policy {
        id,
        network_id,
        name,
        description,
        rules,
        created_at: at,
        updated_at: at,
        version: 1,
    };
    check_policy(ns, &policy)?;
    check_new_rules(ns, &policy.rules, rule_target_field)?;
    let seq = state.next_seq();
    network_mut(state, network_id)?
        .policies
        .insert(seq, policy.clone());
    Ok(Response::Policy(policy))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn update(
    state: &mut State,
    network_id: NetworkId,
    id: PolicyId,
    at: Timestamp,
    if_match: Option<u64>,
    name: Option<String>,
    description: Option<String>,
    rules: Option<Vec<Rule>>,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let current = policy_ref(ns, id)?;
    check_version(current.version, if_match)?;
    if let Some(n) = &name {
        if current.name == DEFAULT_GROUP && n != DEFAULT_GROUP {
            return Err(DomainError::field(
                ErrorCode::ImmutableField,
                "name",
                "the default policy keeps its name",
            ));
        }
    }
    let mut next = current.clone();
    if let Some(n) = name {
        next.name = n;
    }
    if let Some(d) = description {
        next.description = d;
    }
    if let Some(r) = &rules {
        next.rules = r.clone();
    }
    check_policy(ns, &next)?;
    if let Some(r) = &rules {
        check_new_rules(ns, r, rule_target_field)?;
    }
    next.touch(at);
    commit(state, network_id, next)
}

pub(super) fn delete(
    state: &mut State,
    network_id: NetworkId,
    id: PolicyId,
    if_match: Option<u64>,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let policy = policy_ref(ns, id)?;
    check_version(policy.version, if_match)?;
    if policy.name == DEFAULT_GROUP {
        return Err(DomainError::new(
            ErrorCode::InUse,
            "the default policy cannot be deleted: it follows the network's prefixes",
        ));
    }
    let ns = network_mut(state, network_id)?;
    ns.policies.remove(id);
    ns.groups
        .for_each_mut(|g| g.policy_ids.retain(|p| *p != id));
    Ok(Response::Deleted)
}

pub(super) fn add_rule(
    state: &mut State,
    network_id: NetworkId,
    policy_id: PolicyId,
    at: Timestamp,
    rule: Rule,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let mut next = policy_ref(ns, policy_id)?.clone();
    next.rules.push(rule);
    check_policy(ns, &next)?;
    check_new_rules(ns, &next.rules[next.rules.len() - 1..], |_| "target".into())?;
    next.touch(at);
    commit(state, network_id, next)
}

pub(super) fn remove_rule(
    state: &mut State,
    network_id: NetworkId,
    policy_id: PolicyId,
    rule_id: RuleId,
    at: Timestamp,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let p = policy_ref(ns, policy_id)?;
    if !p.rules.iter().any(|r| r.id == rule_id) {
        return Err(DomainError::not_found("rule", rule_id));
    }
    let ns = network_mut(state, network_id)?;
    let p = ns
        .policies
        .get_mut(policy_id)
        .ok_or_else(|| DomainError::not_found("policy", policy_id))?;
    p.rules.retain(|r| r.id != rule_id);
    p.touch(at);
    Ok(Response::Policy(p.clone()))
}

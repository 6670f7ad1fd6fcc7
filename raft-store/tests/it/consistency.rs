//! `State::check_consistency`, which a restore demands of a backup: a state built through
//! `apply` passes, and each kind of broken invariant is refused with a message naming it.

use crate::variants;

use raftwire_api::*;
use raftwire_raft_store::codec::SCHEMA_VERSION;
use raftwire_raft_store::{
    apply, AdminToken, Command, NetworkState, PeerSecrets, Remembered, Response, State, StateData,
};
use variants::*;

/// A state with every kind of object, built through `apply`.
fn built() -> State {
    let mut state = State::new();
    for c in sequence(SCHEMA_VERSION) {
        let name = fixture_name(&c);
        if let Err(e) = apply(&mut state, c) {
            panic!("{name}: {e}");
        }
    }
    state
}

fn second_mut(data: &mut StateData) -> &mut NetworkState {
    data.networks.get_mut(second()).expect("second")
}

fn restored_mut(data: &mut StateData) -> &mut NetworkState {
    data.networks.get_mut(restored()).expect("restored")
}

fn peer_mut(data: &mut StateData, id: PeerId) -> &mut Peer {
    second_mut(data).peers.get_mut(id).expect("peer")
}

/// Breaks the built state with `corrupt` and expects the check (and a restore of it) to
/// refuse it with a message containing `expect`.
#[track_caller]
fn refused(expect: &str, corrupt: impl FnOnce(&mut StateData)) {
    let mut data = built().into_data();
    corrupt(&mut data);
    let err = State::from(data.clone())
        .check_consistency()
        .expect_err("the corrupted state passed the check");
    assert!(err.contains(expect), "expected '{expect}' in: {err}");

    let mut state = State::new();
    let before = state.clone();
    let refused = apply(
        &mut state,
        Command::RestoreState {
            data: Box::new(data),
        },
    )
    .expect_err("the corrupted backup was restored");
    assert_eq!(refused.code, ErrorCode::InvalidValue);
    assert!(
        refused.detail.contains("inconsistent backup") && refused.detail.contains(expect),
        "{}",
        refused.detail
    );
    assert_eq!(state, before, "a refused restore changed the state");
}

#[test]
fn a_state_built_through_apply_passes_and_restores() {
    let state = built();
    state.check_consistency().expect("consistent");
    let mut fresh = State::new();
    assert_eq!(
        apply(
            &mut fresh,
            Command::RestoreState {
                data: Box::new(state.clone().into_data()),
            },
        ),
        Ok(Response::Done)
    );
    fresh.check_consistency().expect("consistent after restore");
}

#[test]
fn the_sequence_counter_is_at_least_every_rows_sequence() {
    refused("sequence counter", |d| d.seq = 3);
    // The highest sequence in use is the last idempotent write's.
    refused("sequence counter", |d| {
        let last = d
            .idempotency
            .values()
            .map(|r| r.seq)
            .max()
            .expect("a write");
        d.seq = last - 1;
    });
}

#[test]
fn rows_belong_to_their_network() {
    refused("belongs to network", |d| {
        peer_mut(d, alice()).network_id = restored()
    });
    refused("belongs to network", |d| {
        let g = second_mut(d).groups.get_mut(ops()).expect("ops");
        g.network_id = restored();
    });
}

#[test]
fn group_members_are_groups_of_the_same_network() {
    refused("is a member of group", |d| {
        peer_mut(d, alice()).group_ids.push(GroupId::from_u128(999))
    });
    // A group of another network is no better.
    refused("is a member of group", |d| {
        peer_mut(d, alice()).group_ids.push(r_default_group())
    });
    refused("lists group", |d| {
        peer_mut(d, alice()).group_ids.push(ops())
    });
}

#[test]
fn attached_policies_and_routes_exist() {
    refused("has policy", |d| {
        let g = second_mut(d).groups.get_mut(ops()).expect("ops");
        g.policy_ids.push(r_default_policy());
    });
    refused("has route", |d| {
        let g = second_mut(d).groups.get_mut(ops()).expect("ops");
        g.route_ids.push(lan());
    });
}

#[test]
fn routes_go_through_a_jump_peer_of_the_network() {
    refused("(jump_peer_id): peer", |d| {
        restored_mut(d)
            .routes
            .get_mut(lan())
            .expect("lan")
            .jump_peer_id = alice();
    });
    refused("not a jump peer", |d| {
        restored_mut(d).peers.get_mut(r_gw()).expect("r-gw").is_jump = false;
    });
}

#[test]
fn dns_mappings_lie_in_an_existing_route() {
    refused("(route_id): route", |d| {
        restored_mut(d)
            .dns_mappings
            .get_mut(nas())
            .expect("nas")
            .route_id = RouteId::from_u128(999);
    });
    refused("outside", |d| {
        restored_mut(d)
            .dns_mappings
            .get_mut(nas())
            .expect("nas")
            .ip_address = "192.168.99.1".parse().expect("ip");
    });
}

#[test]
fn rules_may_target_deleted_peers_and_groups() {
    let mut data = built().into_data();
    let p = second_mut(&mut data)
        .policies
        .get_mut(policy())
        .expect("policy");
    for (n, target) in [
        (901, RuleTarget::Peer(PeerId::from_u128(999))),
        (902, RuleTarget::Group(GroupId::from_u128(999))),
    ] {
        p.rules.push(Rule {
            id: RuleId::from_u128(n),
            direction: Direction::Output,
            action: Action::Allow,
            target,
            description: String::new(),
        });
    }
    State::from(data)
        .check_consistency()
        .expect("a dangling rule target matches nothing, and is allowed");
}

#[test]
fn names_addresses_and_keys_are_unique_per_network() {
    refused("peer name 'alice' appears twice", |d| {
        peer_mut(d, bob()).name = "alice".into()
    });
    refused("public key of peer", |d| {
        let key = peer_mut(d, alice()).public_key.clone();
        peer_mut(d, bob()).public_key = key;
    });
    refused("is shared with another peer", |d| {
        let a = peer_mut(d, alice()).ipv4_address;
        peer_mut(d, bob()).ipv4_address = a;
    });
}

#[test]
fn pools_hold_exactly_the_peers_addresses_inside_the_prefix() {
    refused("which no peer has", |d| {
        let pool = second_mut(d).pools.ipv4.as_mut().expect("v4 pool");
        pool.claim("10.82.0.200".parse().expect("ip"))
            .expect("free");
    });
    refused("is not held for it", |d| {
        let a = peer_mut(d, alice()).ipv6_address.expect("v6");
        let pool = second_mut(d).pools.ipv6.as_mut().expect("v6 pool");
        pool.release(a.into()).expect("held");
    });
    refused("outside the prefix", |d| {
        peer_mut(d, alice()).ipv4_address = Some("10.99.0.5".parse().expect("ip"))
    });
    refused("exactly the ipv6 of its mode", |d| {
        peer_mut(d, alice()).ipv6_address = None
    });
    refused("pool does not match its mode", |d| {
        second_mut(d).pools.ipv6 = None
    });
}

#[test]
fn token_hashes_are_unique_and_secrets_belong_to_peers() {
    refused("shares its hash", |d| {
        d.seq += 1;
        d.admin_tokens.insert(
            d.seq,
            AdminToken {
                id: TokenId::from_u128(999),
                name: "copy".into(),
                token_hash: "hash-ops".into(),
                created_at: Timestamp(1),
            },
        );
    });
    refused("agent token of peer", |d| {
        let s = std::sync::Arc::make_mut(second_mut(d).secrets.entry(bob()).or_default());
        s.agent_token_hash = Some("hash-alice-2".into());
    });
    refused("keeps secrets for peer", |d| {
        second_mut(d)
            .secrets
            .insert(PeerId::from_u128(999), PeerSecrets::default().into());
    });
}

#[test]
fn remembered_writes_have_distinct_sequences() {
    refused("idempotency order", |d| {
        let (seq, result) = {
            let r = d.idempotency.values().next().expect("a write");
            (r.seq, r.result.clone())
        };
        d.idempotency
            .insert("another".into(), Remembered { seq, result });
    });
}

#[test]
fn routes_fit_the_mode_and_stay_outside_the_overlay() {
    refused(
        "route 'lan' of network 'restored' (destination_cidr)",
        |d| {
            let r = restored_mut(d).routes.get_mut(lan()).expect("lan");
            r.set_destination("fd99::/64".parse().expect("cidr"));
        },
    );
    refused("inside the network's own prefix", |d| {
        let r = restored_mut(d).routes.get_mut(lan()).expect("lan");
        r.set_destination("10.81.0.128/25".parse().expect("cidr"));
    });
}

#[test]
fn additional_allowed_ips_stay_outside_the_overlay() {
    refused("(additional_allowed_ips[0])", |d| {
        peer_mut(d, bob()).additional_allowed_ips = vec!["10.82.0.0/28".parse().expect("cidr")];
    });
    // One of a family the network lacks is an inert leftover of a removed family.
    let mut data = built().into_data();
    let p = restored_mut(&mut data).peers.get_mut(r_gw()).expect("r-gw");
    p.additional_allowed_ips = vec!["fd99::/64".parse().expect("cidr")];
    State::from(data)
        .check_consistency()
        .expect("an inert subnet is allowed");
}

#[test]
fn every_network_keeps_its_default_group_and_policy() {
    refused("has no default group", |d| {
        let g = restored_mut(d)
            .groups
            .get_mut(r_default_group())
            .expect("group");
        g.name = "renamed".into();
    });
    refused("has no default policy", |d| {
        let p = restored_mut(d)
            .policies
            .get_mut(r_default_policy())
            .expect("policy");
        p.name = "renamed".into();
    });
}

#[test]
fn rule_ids_are_unique_within_a_policy() {
    refused("rule ids must be unique", |d| {
        let p = second_mut(d).policies.get_mut(policy()).expect("policy");
        let copy = p.rules[0].clone();
        p.rules.push(copy);
    });
}

#[test]
fn names_of_groups_policies_and_routes_are_unique_and_dns_names_have_one_owner() {
    refused("a group named 'default'", |d| {
        second_mut(d).groups.get_mut(ops()).expect("ops").name = "default".into();
    });
    refused("a policy named 'default'", |d| {
        second_mut(d)
            .policies
            .get_mut(policy())
            .expect("policy")
            .name = "default".into();
    });
    refused("a DNS mapping named 'r-gw'", |d| {
        let m = restored_mut(d).dns_mappings.get_mut(nas()).expect("nas");
        m.name = "r-gw".into();
    });
}

#[test]
fn jumps_run_the_agent_and_only_jumps_masquerade() {
    refused("jump peers always run the agent", |d| {
        restored_mut(d)
            .peers
            .get_mut(r_gw())
            .expect("r-gw")
            .use_agent = false;
    });
    refused("only jump peers masquerade", |d| {
        peer_mut(d, bob()).ipv6_nat = true;
    });
}

#[test]
fn rules_of_a_family_the_network_lost_stay_and_are_inactive() {
    let mut data = built().into_data();
    let p = restored_mut(&mut data)
        .policies
        .get_mut(r_default_policy())
        .expect("policy");
    let rule = Rule {
        id: RuleId::from_u128(903),
        direction: Direction::Output,
        action: Action::Allow,
        target: RuleTarget::Cidr("fd99::/64".parse().expect("cidr")),
        description: String::new(),
    };
    assert!(!rule.is_active(IpStackMode::Ipv4));
    p.rules.push(rule);
    State::from(data)
        .check_consistency()
        .expect("an inert rule is allowed");
}

//! Command builders shared by the apply tests: fixed ids and timestamps so failures are
//! reproducible, and named constants for the prefixes used.
#![allow(dead_code)]

use raftwire_api::requests::*;
use raftwire_api::*;
use raftwire_raft_store::*;

pub const V4: &str = "10.10.0.0/24";
pub const V6: &str = "fd00:10::/64";

pub fn net_id(n: u128) -> NetworkId {
    NetworkId::from_u128(0x1000 + n)
}

pub fn peer_id(n: u128) -> PeerId {
    PeerId::from_u128(0x2000 + n)
}

pub fn group_id(n: u128) -> GroupId {
    GroupId::from_u128(0x3000 + n)
}

pub fn route_id(n: u128) -> RouteId {
    RouteId::from_u128(0x4000 + n)
}

pub fn defaults(n: u128) -> NetworkDefaults {
    NetworkDefaults {
        group_id: GroupId::from_u128(0x5000 + n),
        policy_id: PolicyId::from_u128(0x6000 + n),
        rule_ids: [
            RuleId::from_u128(0x7000 + 2 * n),
            RuleId::from_u128(0x7001 + 2 * n),
        ],
    }
}

pub fn create_network(n: u128, body: serde_json::Value) -> Command {
    let req: CreateNetwork = serde_json::from_value(body).expect("request body");
    Command::CreateNetwork {
        id: net_id(n),
        at: Timestamp(1),
        spec: req.validate().expect("valid network").into(),
        defaults: defaults(n),
    }
}

pub fn update_network(n: u128, body: serde_json::Value) -> Command {
    let req: UpdateNetwork = serde_json::from_value(body).expect("request body");
    Command::UpdateNetwork {
        id: net_id(n),
        at: Timestamp(2),
        if_match: None,
        patch: req.validate().expect("valid patch").into(),
        new_rule_ids: [RuleId::from_u128(0x8000 + n), RuleId::from_u128(0x8100 + n)],
    }
}

pub fn create_peer(n: u128, p: u128, body: serde_json::Value) -> Command {
    let req: CreatePeer = serde_json::from_value(body).expect("request body");
    Command::CreatePeer {
        network_id: net_id(n),
        id: peer_id(p),
        at: Timestamp(3),
        spec: req.validate().expect("valid peer").into(),
        secrets: PeerSecretsInput::default(),
    }
}

pub fn peer(n: u128, p: u128, name: &str) -> Command {
    create_peer(n, p, serde_json::json!({ "name": name }))
}

pub fn jump(n: u128, p: u128, name: &str) -> Command {
    create_peer(n, p, serde_json::json!({ "name": name, "is_jump": true }))
}

pub fn delete_peer(n: u128, p: u128) -> Command {
    Command::DeletePeer {
        network_id: net_id(n),
        id: peer_id(p),
        if_match: None,
    }
}

pub fn create_route(n: u128, r: u128, cidr: &str, via: u128) -> Command {
    let req = CreateRoute {
        name: Some(format!("r{r}")),
        description: None,
        destination_cidr: Some(cidr.into()),
        jump_peer_id: Some(peer_id(via).to_string()),
    };
    Command::CreateRoute {
        network_id: net_id(n),
        id: route_id(r),
        at: Timestamp(4),
        spec: req.validate().expect("valid route").into(),
    }
}

/// Applies and expects success.
pub fn ok(state: &mut State, cmd: Command) -> Response {
    match apply(state, cmd.clone()) {
        Ok(r) => r,
        Err(e) => panic!("{cmd:?} failed: {e}"),
    }
}

/// Applies, expects failure with `code`, and checks the state did not change.
pub fn fails(state: &mut State, cmd: Command, code: ErrorCode) -> DomainError {
    let before = encode(state);
    let err = apply(state, cmd.clone()).expect_err("command should fail");
    assert_eq!(err.code, code, "{cmd:?}: {err}");
    assert_eq!(
        encode(state),
        before,
        "a failed command changed the state: {cmd:?}"
    );
    err
}

pub fn encode(state: &State) -> Vec<u8> {
    bincode::serde::encode_to_vec(state, bincode::config::standard()).expect("encode")
}

pub fn decode(bytes: &[u8]) -> State {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .expect("decode")
        .0
}

pub fn the_peer(r: Response) -> Peer {
    match r {
        Response::Peer(p) => p,
        other => panic!("expected a peer, got {other:?}"),
    }
}

pub fn the_network(r: Response) -> Network {
    match r {
        Response::Network(n) => n,
        other => panic!("expected a network, got {other:?}"),
    }
}

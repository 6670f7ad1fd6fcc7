//! The log layout of schema version 1, for reading entries a v1 node wrote.
//!
//! Version 1 commands are version 2's minus `Idempotent`, with one difference in layout: a
//! `RestoreState` backup is a [`StateDataV1`] (no idempotency keys). Every other variant's
//! payload is unchanged, so it reuses today's types; a future change to one of those types
//! must give it a frozen copy here.

use raftwire_api::*;
use serde::Deserialize;

use super::payload::{
    DnsMappingPatch, DnsMappingSpec, GroupPatch, GroupSpec, NetworkPatch, NetworkSpec, PeerPatch,
    PeerSpec, RoutePatch, RouteSpec,
};
use super::{Command, NetworkDefaults, PeerSecretsInput};
use crate::codec::StateDataV1;
use crate::state::{AdminToken, StateData};
use crate::types::{Entry, EntryPayload, LogId, Membership};

/// A `Command` as schema version 1 wrote it: the same variants in the same order.
#[derive(Deserialize)]
pub(crate) enum CommandV1 {
    CreateNetwork {
        id: NetworkId,
        at: Timestamp,
        spec: NetworkSpec,
        defaults: NetworkDefaults,
    },
    UpdateNetwork {
        id: NetworkId,
        at: Timestamp,
        if_match: Option<u64>,
        patch: NetworkPatch,
        new_rule_ids: [RuleId; 2],
    },
    DeleteNetwork {
        id: NetworkId,
        if_match: Option<u64>,
    },
    CreatePeer {
        network_id: NetworkId,
        id: PeerId,
        at: Timestamp,
        spec: PeerSpec,
        secrets: PeerSecretsInput,
    },
    UpdatePeer {
        network_id: NetworkId,
        id: PeerId,
        at: Timestamp,
        if_match: Option<u64>,
        patch: PeerPatch,
    },
    DeletePeer {
        network_id: NetworkId,
        id: PeerId,
        if_match: Option<u64>,
    },
    RotateAgentToken {
        network_id: NetworkId,
        peer_id: PeerId,
        at: Timestamp,
        token_hash: String,
    },
    RegisterAgentKey {
        peer_id: PeerId,
        at: Timestamp,
        public_key: String,
    },
    CreateGroup {
        network_id: NetworkId,
        id: GroupId,
        at: Timestamp,
        spec: GroupSpec,
    },
    UpdateGroup {
        network_id: NetworkId,
        id: GroupId,
        at: Timestamp,
        if_match: Option<u64>,
        patch: GroupPatch,
    },
    DeleteGroup {
        network_id: NetworkId,
        id: GroupId,
        if_match: Option<u64>,
    },
    AddGroupMember {
        network_id: NetworkId,
        group_id: GroupId,
        peer_id: PeerId,
        at: Timestamp,
    },
    RemoveGroupMember {
        network_id: NetworkId,
        group_id: GroupId,
        peer_id: PeerId,
        at: Timestamp,
    },
    AttachPolicy {
        network_id: NetworkId,
        group_id: GroupId,
        policy_id: PolicyId,
        at: Timestamp,
    },
    DetachPolicy {
        network_id: NetworkId,
        group_id: GroupId,
        policy_id: PolicyId,
        at: Timestamp,
    },
    AttachRoute {
        network_id: NetworkId,
        group_id: GroupId,
        route_id: RouteId,
        at: Timestamp,
    },
    DetachRoute {
        network_id: NetworkId,
        group_id: GroupId,
        route_id: RouteId,
        at: Timestamp,
    },
    CreatePolicy {
        network_id: NetworkId,
        id: PolicyId,
        at: Timestamp,
        name: String,
        description: String,
        rules: Vec<Rule>,
    },
    UpdatePolicy {
        network_id: NetworkId,
        id: PolicyId,
        at: Timestamp,
        if_match: Option<u64>,
        name: Option<String>,
        description: Option<String>,
        rules: Option<Vec<Rule>>,
    },
    DeletePolicy {
        network_id: NetworkId,
        id: PolicyId,
        if_match: Option<u64>,
    },
    AddRule {
        network_id: NetworkId,
        policy_id: PolicyId,
        at: Timestamp,
        rule: Rule,
    },
    RemoveRule {
        network_id: NetworkId,
        policy_id: PolicyId,
        rule_id: RuleId,
        at: Timestamp,
    },
    CreateRoute {
        network_id: NetworkId,
        id: RouteId,
        at: Timestamp,
        spec: RouteSpec,
    },
    UpdateRoute {
        network_id: NetworkId,
        id: RouteId,
        at: Timestamp,
        if_match: Option<u64>,
        patch: RoutePatch,
    },
    DeleteRoute {
        network_id: NetworkId,
        id: RouteId,
        if_match: Option<u64>,
    },
    CreateDnsMapping {
        network_id: NetworkId,
        route_id: RouteId,
        id: DnsMappingId,
        at: Timestamp,
        spec: DnsMappingSpec,
    },
    UpdateDnsMapping {
        network_id: NetworkId,
        route_id: RouteId,
        id: DnsMappingId,
        at: Timestamp,
        if_match: Option<u64>,
        patch: DnsMappingPatch,
    },
    DeleteDnsMapping {
        network_id: NetworkId,
        route_id: RouteId,
        id: DnsMappingId,
        if_match: Option<u64>,
    },
    CreateAdminToken {
        token: AdminToken,
    },
    DeleteAdminToken {
        id: TokenId,
    },
    RestoreState {
        data: Box<StateDataV1>,
    },
}

impl From<CommandV1> for Command {
    fn from(c: CommandV1) -> Command {
        use CommandV1 as V1;
        match c {
            V1::CreateNetwork {
                id,
                at,
                spec,
                defaults,
            } => Command::CreateNetwork {
                id,
                at,
                spec,
                defaults,
            },
            V1::UpdateNetwork {
                id,
                at,
                if_match,
                patch,
                new_rule_ids,
            } => Command::UpdateNetwork {
                id,
                at,
                if_match,
                patch,
                new_rule_ids,
            },
            V1::DeleteNetwork { id, if_match } => Command::DeleteNetwork { id, if_match },
            V1::CreatePeer {
                network_id,
                id,
                at,
                spec,
                secrets,
            } => Command::CreatePeer {
                network_id,
                id,
                at,
                spec,
                secrets,
            },
            V1::UpdatePeer {
                network_id,
                id,
                at,
                if_match,
                patch,
            } => Command::UpdatePeer {
                network_id,
                id,
                at,
                if_match,
                patch,
            },
            V1::DeletePeer {
                network_id,
                id,
                if_match,
            } => Command::DeletePeer {
                network_id,
                id,
                if_match,
            },
            V1::RotateAgentToken {
                network_id,
                peer_id,
                at,
                token_hash,
            } => Command::RotateAgentToken {
                network_id,
                peer_id,
                at,
                token_hash,
            },
            V1::RegisterAgentKey {
                peer_id,
                at,
                public_key,
            } => Command::RegisterAgentKey {
                peer_id,
                at,
                public_key,
            },
            V1::CreateGroup {
                network_id,
                id,
                at,
                spec,
            } => Command::CreateGroup {
                network_id,
                id,
                at,
                spec,
            },
            V1::UpdateGroup {
                network_id,
                id,
                at,
                if_match,
                patch,
            } => Command::UpdateGroup {
                network_id,
                id,
                at,
                if_match,
                patch,
            },
            V1::DeleteGroup {
                network_id,
                id,
                if_match,
            } => Command::DeleteGroup {
                network_id,
                id,
                if_match,
            },
            V1::AddGroupMember {
                network_id,
                group_id,
                peer_id,
                at,
            } => Command::AddGroupMember {
                network_id,
                group_id,
                peer_id,
                at,
            },
            V1::RemoveGroupMember {
                network_id,
                group_id,
                peer_id,
                at,
            } => Command::RemoveGroupMember {
                network_id,
                group_id,
                peer_id,
                at,
            },
            V1::AttachPolicy {
                network_id,
                group_id,
                policy_id,
                at,
            } => Command::AttachPolicy {
                network_id,
                group_id,
                policy_id,
                at,
            },
            V1::DetachPolicy {
                network_id,
                group_id,
                policy_id,
                at,
            } => Command::DetachPolicy {
                network_id,
                group_id,
                policy_id,
                at,
            },
            V1::AttachRoute {
                network_id,
                group_id,
                route_id,
                at,
            } => Command::AttachRoute {
                network_id,
                group_id,
                route_id,
                at,
            },
            V1::DetachRoute {
                network_id,
                group_id,
                route_id,
                at,
            } => Command::DetachRoute {
                network_id,
                group_id,
                route_id,
                at,
            },
            V1::CreatePolicy {
                network_id,
                id,
                at,
                name,
                description,
                rules,
            } => Command::CreatePolicy {
                network_id,
                id,
                at,
                name,
                description,
                rules,
            },
            V1::UpdatePolicy {
                network_id,
                id,
                at,
                if_match,
                name,
                description,
                rules,
            } => Command::UpdatePolicy {
                network_id,
                id,
                at,
                if_match,
                name,
                description,
                rules,
            },
            V1::DeletePolicy {
                network_id,
                id,
                if_match,
            } => Command::DeletePolicy {
                network_id,
                id,
                if_match,
            },
            V1::AddRule {
                network_id,
                policy_id,
                at,
                rule,
            } => Command::AddRule {
                network_id,
                policy_id,
                at,
                rule,
            },
            V1::RemoveRule {
                network_id,
                policy_id,
                rule_id,
                at,
            } => Command::RemoveRule {
                network_id,
                policy_id,
                rule_id,
                at,
            },
            V1::CreateRoute {
                network_id,
                id,
                at,
                spec,
            } => Command::CreateRoute {
                network_id,
                id,
                at,
                spec,
            },
            V1::UpdateRoute {
                network_id,
                id,
                at,
                if_match,
                patch,
            } => Command::UpdateRoute {
                network_id,
                id,
                at,
                if_match,
                patch,
            },
            V1::DeleteRoute {
                network_id,
                id,
                if_match,
            } => Command::DeleteRoute {
                network_id,
                id,
                if_match,
            },
            V1::CreateDnsMapping {
                network_id,
                route_id,
                id,
                at,
                spec,
            } => Command::CreateDnsMapping {
                network_id,
                route_id,
                id,
                at,
                spec,
            },
            V1::UpdateDnsMapping {
                network_id,
                route_id,
                id,
                at,
                if_match,
                patch,
            } => Command::UpdateDnsMapping {
                network_id,
                route_id,
                id,
                at,
                if_match,
                patch,
            },
            V1::DeleteDnsMapping {
                network_id,
                route_id,
                id,
                if_match,
            } => Command::DeleteDnsMapping {
                network_id,
                route_id,
                id,
                if_match,
            },
            V1::CreateAdminToken { token } => Command::CreateAdminToken { token },
            V1::DeleteAdminToken { id } => Command::DeleteAdminToken { id },
            V1::RestoreState { data } => Command::RestoreState {
                data: Box::new(StateData::from(*data)),
            },
        }
    }
}

/// openraft's `EntryPayload` with a version 1 command (same variants, same order). Only
/// lives while an entry is converted, so its size does not matter.
#[derive(Deserialize)]
#[allow(clippy::large_enum_variant)]
enum EntryPayloadV1 {
    Blank,
    Normal(CommandV1),
    Membership(Membership),
}

/// openraft's `Entry` with a version 1 command (same fields, same order).
#[derive(Deserialize)]
pub(crate) struct EntryV1 {
    log_id: LogId,
    payload: EntryPayloadV1,
}

impl From<EntryV1> for Entry {
    fn from(e: EntryV1) -> Entry {
        Entry {
            log_id: e.log_id,
            payload: match e.payload {
                EntryPayloadV1::Blank => EntryPayload::Blank,
                EntryPayloadV1::Normal(c) => EntryPayload::Normal(c.into()),
                EntryPayloadV1::Membership(m) => EntryPayload::Membership(m),
            },
        }
    }
}

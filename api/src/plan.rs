//! What a change would do to a network: the difference between the network before and
//! after it, as a dry run answers it (`?dry_run=true`).
//!
//! The caller computes the "after" side by running the real change on a copy of the state;
//! this module only compares the two views, so a plan never describes a change in its own
//! words: it is exactly what the state machine would have done. Per peer and family it
//! lists the addresses added, renumbered and released; it names the static peers whose
//! WireGuard config changes (their operators must download it again) and the agent peers
//! whose agent config changes (the node pushes them the new one).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::agent::agent_config;
use crate::family::IpFamily;
use crate::ids::{NetworkId, PeerId};
use crate::model::Peer;
use crate::view::NetworkView;
use crate::wireguard::peer_config;

/// How one family's address of one peer changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum AddressChange {
    /// The peer gets an address of a family it had none of.
    Added {
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        address: IpAddr,
    },
    /// The peer's address of the family moves.
    Renumbered {
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        from: IpAddr,
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        to: IpAddr,
    },
    /// The peer loses its address of the family (back to the pool).
    Released {
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        address: IpAddr,
    },
}

impl AddressChange {
    /// The change between two addresses of one family, `None` if they are the same.
    pub fn between(before: Option<IpAddr>, after: Option<IpAddr>) -> Option<AddressChange> {
        match (before, after) {
            (None, Some(address)) => Some(AddressChange::Added { address }),
            (Some(address), None) => Some(AddressChange::Released { address }),
            (Some(from), Some(to)) if from != to => Some(AddressChange::Renumbered { from, to }),
            _ => None,
        }
    }
}

/// A peer whose addresses change, per family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerAddressChange {
    pub peer_id: PeerId,
    pub name: String,
    /// `true`: a static peer (its operator must install the new config by hand).
    #[serde(rename = "static")]
    pub is_static: bool,
    pub ipv4: Option<AddressChange>,
    pub ipv6: Option<AddressChange>,
}

/// A peer named by a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedPeer {
    pub peer_id: PeerId,
    pub name: String,
}

/// What a change does to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkPlan {
    pub network_id: NetworkId,
    /// The network's name after the change (before it, if the change deletes it).
    pub name: String,
    /// Peers whose addresses change, in peer creation order.
    pub addresses: Vec<PeerAddressChange>,
    /// Static peers whose WireGuard config changes: they need the new config by hand.
    pub static_peers_affected: Vec<PlannedPeer>,
    /// Agent peers whose agent config changes: the node pushes them the new one.
    pub agents_updated: Vec<PlannedPeer>,
}

impl NetworkPlan {
    /// `true` when the change leaves every peer's addresses and configs as they were.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
            && self.static_peers_affected.is_empty()
            && self.agents_updated.is_empty()
    }
}

fn planned(p: &Peer) -> PlannedPeer {
    PlannedPeer {
        peer_id: p.id,
        name: p.name.clone(),
    }
}

/// The plan of one network: `before` and `after` are the network's views on either side of
/// the change (`None`: it does not exist on that side). Peers are listed in creation order,
/// those of `before` first, then those only `after` has.
pub fn network_plan(before: Option<&NetworkView>, after: Option<&NetworkView>) -> NetworkPlan {
    let Some(any) = after.or(before) else {
        return NetworkPlan {
            network_id: NetworkId(uuid::Uuid::nil()),
            name: String::new(),
            addresses: vec![],
            static_peers_affected: vec![],
            agents_updated: vec![],
        };
    };
    let before_idx = before.map(|v| v.index());
    let after_idx = after.map(|v| v.index());
    let mut peers: Vec<&Peer> = before.map(|v| v.peers.clone()).unwrap_or_default();
    if let Some(a) = after {
        let known: std::collections::HashSet<PeerId> = peers.iter().map(|p| p.id).collect();
        peers.extend(a.peers.iter().copied().filter(|p| !known.contains(&p.id)));
    }
    let mut plan = NetworkPlan {
        network_id: any.network.id,
        name: any.network.name.clone(),
        addresses: vec![],
        static_peers_affected: vec![],
        agents_updated: vec![],
    };
    for p in peers {
        let old = before_idx.as_ref().and_then(|i| i.peer(p.id));
        let new = after_idx.as_ref().and_then(|i| i.peer(p.id));
        // The side the peer is on after the change decides what kind it is.
        let now = new.or(old).unwrap_or(p);
        let change = |f: IpFamily| {
            AddressChange::between(
                old.and_then(|o| o.address(f)),
                new.and_then(|n| n.address(f)),
            )
        };
        let (ipv4, ipv6) = (change(IpFamily::Ipv4), change(IpFamily::Ipv6));
        if ipv4.is_some() || ipv6.is_some() {
            plan.addresses.push(PeerAddressChange {
                peer_id: p.id,
                name: now.name.clone(),
                is_static: now.is_static(),
                ipv4,
                ipv6,
            });
        }
        let (Some(bv), Some(bi), Some(av), Some(ai)) =
            (before, before_idx.as_ref(), after, after_idx.as_ref())
        else {
            continue;
        };
        // A peer created or deleted by the change is not "updated": it starts or stops.
        if old.is_none() || new.is_none() {
            continue;
        }
        if now.is_static() {
            if peer_config(bv, bi, p.id) != peer_config(av, ai, p.id) {
                plan.static_peers_affected.push(planned(now));
            }
        } else if agent_config(bv, bi, p.id) != agent_config(av, ai, p.id) {
            plan.agents_updated.push(planned(now));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::IpStackMode;
    use crate::testkit::Builder;

    #[test]
    fn address_change_names_added_renumbered_released_and_nothing_for_equal() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            AddressChange::between(None, Some(a)),
            Some(AddressChange::Added { address: a })
        );
        assert_eq!(
            AddressChange::between(Some(a), None),
            Some(AddressChange::Released { address: a })
        );
        assert_eq!(
            AddressChange::between(Some(a), Some(b)),
            Some(AddressChange::Renumbered { from: a, to: b })
        );
        assert_eq!(AddressChange::between(Some(a), Some(a)), None);
        assert_eq!(AddressChange::between(None, None), None);
    }

    #[test]
    fn identical_views_plan_nothing() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        b.jump("jump");
        b.peer("laptop");
        let data = b.build();
        let view = data.view();
        let plan = network_plan(Some(&view), Some(&view));
        assert!(plan.is_empty(), "{plan:?}");
        assert_eq!(plan.name, "corp");
    }
}

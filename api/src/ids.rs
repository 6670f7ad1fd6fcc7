//! Typed identifiers. Every entity id is a UUID chosen by the node that accepted the request
//! (never inside `apply`), wrapped in its own type so a peer id cannot be passed as a group id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn from_u128(v: u128) -> Self {
                Self(Uuid::from_u128(v))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

id_type!(
    /// A network.
    NetworkId,
    /// A peer of a network.
    PeerId,
    /// A group of peers.
    GroupId,
    /// A firewall policy.
    PolicyId,
    /// One rule inside a policy.
    RuleId,
    /// A route through a jump peer.
    RouteId,
    /// A DNS name mapped to an address inside a route.
    DnsMappingId,
    /// An admin API token.
    TokenId,
);

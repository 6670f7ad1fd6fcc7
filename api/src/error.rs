//! The one domain error type: a stable machine-readable code, the offending field when there
//! is one, and a human-readable detail. The HTTP status of each code is decided here too, so
//! the mapping lives in exactly one place.

use serde::{Deserialize, Serialize};

use crate::ipam::IpamError;

/// Stable error codes. The string form (`as_str`) is part of the API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    // 400: the request itself is wrong, whatever the state.
    /// A required field is missing.
    MissingField,
    /// A field is present that the request (or the chosen mode) forbids.
    FieldNotAllowed,
    /// A name is not a valid DNS label (or list of labels).
    InvalidName,
    /// Text that should be a CIDR is not one.
    InvalidCidr,
    /// Text that should be an IP address is not one.
    InvalidAddress,
    /// A CIDR or address of the wrong family for its field or for the network's mode.
    WrongFamily,
    /// A prefix length outside the allowed bounds.
    PrefixLength,
    /// A CIDR with host bits set (`10.0.0.1/24`).
    HostBitsSet,
    /// An address that lies outside the prefix it must belong to.
    AddressOutsidePrefix,
    /// A network, broadcast or subnet-router address asked for explicitly.
    ReservedAddress,
    /// An endpoint that is not `host`, `host:port` or `[v6]:port`.
    InvalidEndpoint,
    /// A port outside 1..=65535.
    InvalidPort,
    /// A value outside its allowed set or range (enum strings, priorities, key format…).
    InvalidValue,
    /// A field that cannot change after creation.
    ImmutableField,
    /// A reference in the body (a policy target, a group id) names nothing in this network.
    UnknownReference,
    /// A route whose family the network's mode does not carry (R7, P7).
    RouteFamilyUnsupported,
    /// A DNS mapping whose address lies outside its route's destination (R8, P8).
    MappingOutsideRoute,
    /// The route's gateway is not a jump peer.
    NotAJump,
    // 404
    NotFound,
    // 409: conflicts with the current state.
    CidrOverlap,
    NameTaken,
    AddressTaken,
    PoolExhausted,
    FamilyInUse,
    StaticPeersAffected,
    VersionMismatch,
    /// The object is still referenced (a jump that routes carry, a group's last default…).
    InUse,
    // Edge errors, produced by the node, listed here so every code has one home.
    Unauthorized,
    Forbidden,
    NoLeader,
    PayloadTooLarge,
    MethodNotAllowed,
    MalformedBody,
    Internal,
    // Appended (the enum is bincode-encoded in remembered results and between nodes).
    /// 409: another cluster membership change is still in flight, or another restore
    /// replaced the parts of this one; try again shortly.
    ChangeInProgress,
    /// 503: the write was handed to Raft but not seen committed in time: it may still apply.
    OutcomeUnknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            MissingField => "missing_field",
            FieldNotAllowed => "field_not_allowed",
            InvalidName => "invalid_name",
            InvalidCidr => "invalid_cidr",
            InvalidAddress => "invalid_address",
            WrongFamily => "wrong_family",
            PrefixLength => "prefix_length",
            HostBitsSet => "host_bits_set",
            AddressOutsidePrefix => "address_outside_prefix",
            ReservedAddress => "reserved_address",
            InvalidEndpoint => "invalid_endpoint",
            InvalidPort => "invalid_port",
            InvalidValue => "invalid_value",
            ImmutableField => "immutable_field",
            UnknownReference => "unknown_reference",
            RouteFamilyUnsupported => "route_family_unsupported",
            MappingOutsideRoute => "mapping_outside_route",
            NotAJump => "not_a_jump",
            NotFound => "not_found",
            CidrOverlap => "cidr_overlap",
            NameTaken => "name_taken",
            AddressTaken => "address_taken",
            PoolExhausted => "pool_exhausted",
            FamilyInUse => "family_in_use",
            StaticPeersAffected => "static_peers_affected",
            VersionMismatch => "version_mismatch",
            InUse => "in_use",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            NoLeader => "no_leader",
            PayloadTooLarge => "payload_too_large",
            MethodNotAllowed => "method_not_allowed",
            MalformedBody => "malformed_body",
            Internal => "internal",
            ChangeInProgress => "change_in_progress",
            OutcomeUnknown => "outcome_unknown",
        }
    }

    /// The HTTP status of the code: the single mapping from domain errors to HTTP.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            NotFound => 404,
            CidrOverlap | NameTaken | AddressTaken | PoolExhausted | FamilyInUse
            | StaticPeersAffected | VersionMismatch | InUse | ChangeInProgress => 409,
            Unauthorized => 401,
            Forbidden => 403,
            NoLeader | OutcomeUnknown => 503,
            PayloadTooLarge => 413,
            MethodNotAllowed => 405,
            Internal => 500,
            _ => 400,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A domain error: what went wrong (`code`), where (`field`, a JSON path such as
/// `rules[2].target`), and a sentence for a person (`detail`). `items` lists ids when the
/// error is about several objects (the static peers a renumbering would break).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct DomainError {
    pub code: ErrorCode,
    pub field: Option<String>,
    pub detail: String,
    /// Always encoded (bincode carries domain errors between nodes and is not self-describing).
    #[serde(default)]
    pub items: Vec<String>,
}

impl DomainError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            field: None,
            detail: detail.into(),
            items: Vec::new(),
        }
    }

    pub fn field(code: ErrorCode, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            code,
            field: Some(field.into()),
            detail: detail.into(),
            items: Vec::new(),
        }
    }

    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} {id} does not exist"))
    }

    /// Prefixes the field path, so nested validators can report `rules[1].target`.
    pub fn in_field(mut self, parent: &str) -> Self {
        self.field = Some(match self.field {
            Some(f) if f.starts_with('[') => format!("{parent}{f}"),
            Some(f) => format!("{parent}.{f}"),
            None => parent.to_string(),
        });
        self
    }

    pub fn with_items(mut self, items: Vec<String>) -> Self {
        self.items = items;
        self
    }

    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    pub fn is_not_found(&self) -> bool {
        self.code == ErrorCode::NotFound
    }

    pub fn is_conflict(&self) -> bool {
        self.http_status() == 409
    }
}

impl IpamError {
    /// The domain error for this IPAM error, attributed to `field`.
    pub fn into_domain(self, field: &str) -> DomainError {
        let code = match &self {
            IpamError::Exhausted { .. } => ErrorCode::PoolExhausted,
            IpamError::OutsidePrefix { .. } => ErrorCode::AddressOutsidePrefix,
            IpamError::Reserved { .. } => ErrorCode::ReservedAddress,
            IpamError::AlreadyAllocated { .. } => ErrorCode::AddressTaken,
            IpamError::NotAllocated { .. } => ErrorCode::Internal,
        };
        DomainError::field(code, field, self.to_string())
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_errors_survive_a_bincode_round_trip() {
        // Forwarded writes carry domain errors between nodes in bincode, which is not
        // self-describing: every field must be encoded, even an empty `items`.
        let cfg = bincode::config::standard();
        for e in [
            DomainError::new(ErrorCode::NotFound, "x"),
            DomainError::field(ErrorCode::NameTaken, "name", "y").with_items(vec!["a".into()]),
        ] {
            let bytes = bincode::serde::encode_to_vec(&e, cfg).unwrap();
            let (back, _): (DomainError, usize) =
                bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
            assert_eq!(back, e);
        }
    }
}

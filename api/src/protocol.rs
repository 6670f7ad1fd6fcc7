//! The agent protocol: JSON text frames on the agent WebSocket (`/api/v1/agent/ws`), shared by
//! the node (which serves it) and the agent (which speaks it). The agent never links the
//! node: this module is the whole contract between them.
//!
//! 1. The agent speaks first: [`AgentMessage::Hello`] with its public key, its host name, the
//!    version it last applied and the [`config_fingerprint`] of the configuration it holds.
//! 2. The node answers with [`ServerMessage::Config`] unless the agent already holds exactly
//!    the configuration the node would send (same fingerprint), and sends a new one after
//!    every applied change that alters this agent's configuration, and only then.
//!    An agent whose hello lists [`FEATURE_DELTA`] is sent, once it holds a configuration
//!    the node knows, [`ServerMessage::Delta`]s instead: only what changed, so one new peer
//!    costs a jump that peer's entries rather than its whole configuration.
//! 3. After each apply the agent reports [`AgentMessage::Status`]: the version it applied,
//!    and the errors of each module that failed. It pings while idle; either side closes a
//!    connection silent for [`SILENCE_LIMIT_SECS`].
//!
//! `version` is the Raft log index of the state a config was rendered from, so it orders
//! the configs one node sends; whether the agent needs a config at all is decided by the
//! fingerprint, which is the same on every node for the same configuration (configs are
//! rendered deterministically). So an agent that fails over to another node while holding
//! the current configuration is sent nothing.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::agent::AgentConfig;
use crate::delta::ConfigDelta;

/// Either side closes a connection it has heard nothing on for this long.
pub const SILENCE_LIMIT_SECS: u64 = 30;

/// The WebSocket close code a node sends when it cannot serve the agent because it knows no
/// leader (1013, "Try Again Later"): the agent moves on to another node at once, without
/// letting its backoff grow as for a failure, so agents find the new leader's cluster within
/// about a second of an election.
pub const CLOSE_NO_LEADER: u16 = 1013;

/// Node → agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    Config {
        version: u64,
        config: Box<AgentConfig>,
    },
    /// The configuration of `version`, as a [`ConfigDelta`] against the one of `base` the
    /// agent holds. Sent only to agents whose hello lists [`FEATURE_DELTA`], and only against
    /// the configuration the node last sent it on this connection (or the one its hello
    /// proved it holds). An agent that holds another version, or finds that the delta does
    /// not fit, answers [`AgentMessage::Resync`].
    Delta {
        version: u64,
        base: u64,
        delta: Box<ConfigDelta>,
    },
}

/// The hello feature by which an agent accepts [`ServerMessage::Delta`].
pub const FEATURE_DELTA: &str = "delta";

/// Agent → node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum AgentMessage {
    Hello {
        #[serde(default)]
        public_key: Option<String>,
        #[serde(default)]
        hostname: Option<String>,
        /// The version of the configuration the agent holds (0: none).
        #[serde(default)]
        applied_version: u64,
        /// [`config_fingerprint`] of the configuration the agent holds, if any.
        #[serde(default)]
        config_hash: Option<String>,
        /// What the agent understands beyond full configs (e.g. [`FEATURE_DELTA`]); older
        /// agents send none and get only full configs.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<String>,
    },
    Status {
        applied_version: u64,
        ok: bool,
        #[serde(default)]
        errors: Vec<ModuleError>,
    },
    Ping,
    /// The agent cannot use what it was sent (a delta against a configuration it does not
    /// hold): the node sends the whole configuration next.
    Resync,
}

/// One module of the agent that failed to converge the host (`wireguard`, `addresses`,
/// `firewall`, `forwarding`, `dns`), and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModuleError {
    pub module: String,
    pub message: String,
}

impl std::fmt::Display for ModuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.module, self.message)
    }
}

/// The fingerprint of a configuration: SHA-256 (hex) of its JSON encoding. Serialisation is
/// deterministic (struct fields in declaration order, lists in their rendered order), so the
/// same configuration has the same fingerprint on every node and in the agent that holds it.
pub fn config_fingerprint(cfg: &AgentConfig) -> String {
    let json = serde_json::to_vec(cfg).unwrap_or_default();
    let digest = Sha256::digest(&json);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(feature = "openapi")]
mod openapi {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::{KnownFormat, Ref, RefOr, SchemaFormat};
    use utoipa::{PartialSchema, ToSchema};

    use super::ServerMessage;
    use crate::agent::AgentConfig;

    /// `GET /agent/config`: the message the node also pushes over the WebSocket.
    impl PartialSchema for ServerMessage {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .description(Some(
                    "The agent's desired configuration, with the log index it was rendered at.",
                ))
                .property(
                    "type",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["config"])),
                )
                .required("type")
                .property(
                    "version",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                        .minimum(Some(0)),
                )
                .required("version")
                .property("config", Ref::from_schema_name(AgentConfig::name()))
                .required("config")
                .into()
        }
    }

    impl ToSchema for ServerMessage {
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.push((AgentConfig::name().into(), AgentConfig::schema()));
            AgentConfig::schemas(schemas);
        }
    }
}

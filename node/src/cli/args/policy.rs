//! `raftwire policy …`.

use clap::Subcommand;

use super::IfMatch;

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Create a policy.
    Create {
        /// The network (id or name).
        network: String,
        /// Name of the policy.
        name: String,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
        /// "<direction> <action> <target_type> [target]", e.g. "output allow cidr 10.0.0.0/24"
        /// (repeatable; peer and group targets may be names).
        #[arg(long = "rule", value_name = "RULE")]
        rules: Vec<String>,
    },
    /// List the policies of a network.
    #[command(alias = "ls")]
    List {
        /// The network (id or name).
        network: String,
    },
    /// Show one policy and its rules.
    Show {
        /// The network (id or name).
        network: String,
        /// The policy (id or name).
        policy: String,
    },
    /// Change a policy (--rule replaces every rule).
    Update {
        /// The network (id or name).
        network: String,
        /// The policy (id or name).
        policy: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// Replace every rule: "<direction> <action> <target_type> [target]" (repeatable).
        #[arg(long = "rule", value_name = "RULE", conflicts_with = "clear_rules")]
        rules: Vec<String>,
        /// Remove every rule.
        #[arg(long = "clear-rules")]
        clear_rules: bool,
        /// Show what the change would do (addresses per peer and family, static peers that
        /// need their config again, agents sent a new one) and change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Delete a policy.
    #[command(alias = "rm")]
    Delete {
        /// The network (id or name).
        network: String,
        /// The policy (id or name).
        policy: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Append a rule: "<direction> <action> <target_type> [target]".
    AddRule {
        /// The network (id or name).
        network: String,
        /// The policy (id or name).
        policy: String,
        /// The rule, quoted or as separate words.
        #[arg(required = true, num_args = 1.., value_name = "RULE")]
        rule: Vec<String>,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
    },
    /// Remove a rule by id.
    RemoveRule {
        /// The network (id or name).
        network: String,
        /// The policy (id or name).
        policy: String,
        /// The rule's id (see `policy show`).
        rule_id: String,
    },
}

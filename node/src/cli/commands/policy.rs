//! `raftwire policy …`.

use std::collections::HashMap;

use raftwire_api::requests::{CreatePolicy, CreateRule, UpdatePolicy};
use reqwest::Method;
use serde_json::Value;

use super::super::args::{IfMatch, PolicyCmd};
use super::super::output::{field, key_values, object_table, table};
use super::{body, count, nonempty, nothing_to_change, seg, with_names, CliError, CliResult, Ctx};

const POLICY_KEYS: &[&str] = &[
    "name",
    "id",
    "network_id",
    "description",
    "version",
    "created_at",
    "updated_at",
];
const RULE_COLUMNS: &[(&str, &str)] = &[
    ("DIRECTION", "direction"),
    ("ACTION", "action"),
    ("TARGET TYPE", "target_type"),
    ("TARGET", "target"),
    ("IP VERSION", "ip_version"),
    ("ACTIVE", "active"),
    ("DESCRIPTION", "description"),
    ("ID", "id"),
];

fn policy_table(list: &[Value]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                field(p, "name"),
                count(p, "rules"),
                field(p, "description"),
                field(p, "id"),
            ]
        })
        .collect();
    table(&["NAME", "RULES", "DESCRIPTION", "ID"], &rows)
}

/// A policy and its rules; peer and group targets by name when `names` knows them.
fn policy_details(p: &Value, names: &HashMap<String, String>) -> String {
    let mut text = key_values(p, POLICY_KEYS, &["rules"]);
    let rules: Vec<Value> = p
        .get("rules")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .map(|r| with_names(r, &[("target", "target")], names))
                .collect()
        })
        .unwrap_or_default();
    if rules.is_empty() {
        text.push_str("rules:  -\n");
    } else {
        text.push_str("\nrules (in order):\n");
        text.push_str(&object_table(RULE_COLUMNS, &rules));
    }
    text
}

pub(super) async fn run(ctx: &Ctx, cmd: PolicyCmd) -> CliResult<()> {
    match cmd {
        PolicyCmd::Create {
            network,
            name,
            description,
            rules,
        } => {
            let net = ctx.network(&network).await?;
            let req = CreatePolicy {
                name: Some(name),
                description,
                rules: nonempty(ctx.rules(&net, &rules).await?),
            };
            let reply = ctx.post(&format!("{net}/policies"), &body(&req)?).await?;
            let names = ctx.names(&net, &["peers", "groups"]).await;
            ctx.show(&reply, |v| policy_details(v, &names))
        }
        PolicyCmd::List { network } => {
            let net = ctx.network(&network).await?;
            let reply = ctx.get_list(&format!("{net}/policies")).await?;
            ctx.show_list(&reply, policy_table)
        }
        PolicyCmd::Show { network, policy } => {
            let net = ctx.network(&network).await?;
            let path = ctx.policy(&net, &policy).await?;
            let reply = ctx.get(&path).await?;
            let names = ctx.names(&net, &["peers", "groups"]).await;
            ctx.show(&reply, |v| policy_details(v, &names))
        }
        PolicyCmd::Update {
            network,
            policy,
            name,
            description,
            rules,
            clear_rules,
            dry_run,
            if_match,
        } => {
            let net = ctx.network(&network).await?;
            let rules = if clear_rules {
                Some(Vec::new())
            } else {
                nonempty(ctx.rules(&net, &rules).await?)
            };
            let b = body(&UpdatePolicy {
                name,
                description,
                rules,
            })?;
            nothing_to_change(&b)?;
            let path = ctx.policy(&net, &policy).await?;
            if dry_run {
                return ctx.dry_run(&path, &b, &if_match).await;
            }
            let reply = ctx.send(Method::PATCH, &path, Some(&b), &if_match).await?;
            let names = ctx.names(&net, &["peers", "groups"]).await;
            ctx.show(&reply, |v| policy_details(v, &names))
        }
        PolicyCmd::Delete {
            network,
            policy,
            if_match,
        } => {
            let net = ctx.network(&network).await?;
            let path = ctx.policy(&net, &policy).await?;
            ctx.send(Method::DELETE, &path, None, &if_match).await?;
            ctx.done(&format!("deleted policy '{policy}'"));
            Ok(())
        }
        PolicyCmd::AddRule {
            network,
            policy,
            rule,
            description,
        } => {
            let net = ctx.network(&network).await?;
            let path = ctx.policy(&net, &policy).await?;
            let rule = ctx.rule(&net, &rule.join(" "), description).await?;
            let reply = ctx.post(&format!("{path}/rules"), &body(&rule)?).await?;
            let names = ctx.names(&net, &["peers", "groups"]).await;
            ctx.show(&reply, |v| policy_details(v, &names))
        }
        PolicyCmd::RemoveRule {
            network,
            policy,
            rule_id,
        } => {
            let net = ctx.network(&network).await?;
            let path = ctx.policy(&net, &policy).await?;
            let path = format!("{path}/rules/{}", seg(rule_id.trim()));
            ctx.send(Method::DELETE, &path, None, &IfMatch::NONE)
                .await?;
            ctx.done(&format!("removed rule {rule_id} from policy '{policy}'"));
            Ok(())
        }
    }
}

impl Ctx {
    /// A rule written as `<direction> <action> <target_type> [target]`; peer and group
    /// targets may be names.
    pub(super) async fn rule(
        &self,
        net: &str,
        text: &str,
        description: Option<String>,
    ) -> CliResult<CreateRule> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (direction, action, target_type, target) = match words.as_slice() {
            [d, a, t] => (*d, *a, *t, None),
            [d, a, t, x] => (*d, *a, *t, Some(*x)),
            _ => {
                return Err(CliError::other(format!(
                "invalid rule '{text}': a rule is '<direction> <action> <target_type> [target]', \
                     e.g. 'output allow cidr 10.0.0.0/24' or 'input deny peer laptop'"
            )))
            }
        };
        let target_type = target_type.to_ascii_lowercase();
        let target = match (target_type.as_str(), target) {
            ("peer", Some(t)) => Some(self.child_id(net, "peer", "peers", t).await?),
            ("group", Some(t)) => Some(self.child_id(net, "group", "groups", t).await?),
            (_, t) => t.map(str::to_string),
        };
        Ok(CreateRule {
            direction: Some(direction.to_ascii_lowercase()),
            action: Some(action.to_ascii_lowercase()),
            target_type: Some(target_type),
            target,
            description,
        })
    }

    pub(super) async fn rules(&self, net: &str, texts: &[String]) -> CliResult<Vec<CreateRule>> {
        let mut rules = Vec::with_capacity(texts.len());
        for t in texts {
            rules.push(self.rule(net, t, None).await?);
        }
        Ok(rules)
    }
}

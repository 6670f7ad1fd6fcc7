//! One function per command: resolve names to ids, make the call, print the answer. One
//! module per entity, as the HTTP handlers are.

mod cluster;
mod dns;
mod group;
mod network;
mod peer;
mod policy;
mod route;
mod snapshot;
mod token;

use std::collections::HashMap;
use std::io::Write;

use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use super::args::{Command, IfMatch, Output};
use super::client::{items, seg, CliError, CliResult, Client, Reply};
use super::output::{field, pretty_json, table};

/// Writes to stdout; a closed pipe (`raftwire … | head`) is not an error.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    if !text.is_empty() && !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
    let _ = stdout.flush();
}

/// A request body without the fields left unset (`null`), so that the server keeps them.
fn body<T: Serialize>(req: &T) -> CliResult<Value> {
    let mut v = serde_json::to_value(req)
        .map_err(|e| CliError::other(format!("cannot encode the request: {e}")))?;
    if let Value::Object(m) = &mut v {
        m.retain(|_, v| !v.is_null());
    }
    Ok(v)
}

fn nonempty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn nothing_to_change(body: &Value) -> CliResult<()> {
    if body.as_object().is_some_and(Map::is_empty) {
        Err(CliError::other(
            "nothing to change: give at least one option (see --help)",
        ))
    } else {
        Ok(())
    }
}

/// `obj` with `name_key` added beside each `id_key`: the names `names` knows for the id(s).
fn with_names(obj: &Value, keys: &[(&str, &str)], names: &HashMap<String, String>) -> Value {
    let mut obj = obj.clone();
    if names.is_empty() {
        return obj;
    }
    let name = |id: &Value| {
        id.as_str()
            .map(|id| names.get(id).cloned().unwrap_or_else(|| id.to_string()))
    };
    if let Value::Object(m) = &mut obj {
        for (id_key, name_key) in keys {
            let named = match m.get(*id_key) {
                Some(Value::Array(ids)) => {
                    Value::from(ids.iter().filter_map(name).collect::<Vec<_>>())
                }
                Some(id @ Value::String(_)) => name(id).map_or(Value::Null, Value::from),
                _ => continue,
            };
            m.insert(name_key.to_string(), named);
        }
    }
    obj
}

fn count(obj: &Value, key: &str) -> String {
    obj.get(key)
        .and_then(Value::as_array)
        .map_or_else(|| "-".to_string(), |a| a.len().to_string())
}

/// A dry run's plan as text: per network, the address changes per peer and family, the
/// static peers that need their config again and the agents that get a new one.
fn plan_text(v: &Value) -> String {
    let mut text = String::from("dry run: nothing was changed\n");
    let change = |c: Option<&Value>| match c.filter(|c| !c.is_null()) {
        None => "-".to_string(),
        Some(c) => match field(c, "change").as_str() {
            "renumbered" => format!("{} -> {}", field(c, "from"), field(c, "to")),
            "added" => format!("+ {}", field(c, "address")),
            "released" => format!("- {}", field(c, "address")),
            other => other.to_string(),
        },
    };
    let names = |n: &Value, key: &str| match n.get(key).and_then(Value::as_array) {
        Some(l) if !l.is_empty() => l
            .iter()
            .map(|p| field(p, "name"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".to_string(),
    };
    for n in v
        .get("networks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        text.push_str(&format!("\nnetwork '{}':\n", field(n, "name")));
        let rows: Vec<Vec<String>> = n
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                let kind = if c.get("static") == Some(&Value::Bool(true)) {
                    "static"
                } else {
                    "agent"
                };
                vec![
                    field(c, "name"),
                    kind.into(),
                    change(c.get("ipv4")),
                    change(c.get("ipv6")),
                ]
            })
            .collect();
        if rows.is_empty() {
            text.push_str("no address changes\n");
        } else {
            text.push_str(&table(&["PEER", "KIND", "IPV4", "IPV6"], &rows));
        }
        text.push_str(&format!(
            "static peers needing their config again: {}\nagents sent a new config: {}\n",
            names(n, "static_peers_affected"),
            names(n, "agents_updated")
        ));
    }
    text
}

// ---------------------------------------------------------------- context

pub struct Ctx {
    pub client: Client,
    pub output: Output,
}

impl Ctx {
    /// Prints an answer: the server's JSON in `-o json`, else `render` of it.
    fn show(&self, reply: &Reply, render: impl FnOnce(&Value) -> String) -> CliResult<()> {
        match self.output {
            Output::Json => out(&pretty_json(&reply.text)),
            Output::Table => out(&render(&reply.json()?)),
        }
        Ok(())
    }

    /// Prints a list answer's items with `render`.
    fn show_list(&self, reply: &Reply, render: impl FnOnce(&[Value]) -> String) -> CliResult<()> {
        match self.output {
            Output::Json => out(&pretty_json(&reply.text)),
            Output::Table => out(&render(&items(reply.json()?)?)),
        }
        Ok(())
    }

    /// Confirms an answer without a body (204/202); nothing in `-o json`.
    fn done(&self, msg: &str) {
        if self.output == Output::Table {
            out(msg);
        }
    }

    async fn get(&self, path: &str) -> CliResult<Reply> {
        self.client.get(path).await
    }

    /// A whole list, read page by page.
    async fn get_list(&self, path: &str) -> CliResult<Reply> {
        self.client.get_list(path).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: &IfMatch,
    ) -> CliResult<Reply> {
        self.client
            .request(method, path, body, if_match.if_match)
            .await
    }

    /// `--dry-run` of an update: the PATCH with `?dry_run=true`, printing the plan (what the
    /// change would do); nothing is changed.
    async fn dry_run(&self, path: &str, body: &Value, if_match: &IfMatch) -> CliResult<()> {
        let path = format!("{path}?dry_run=true");
        let reply = self
            .send(Method::PATCH, &path, Some(body), if_match)
            .await?;
        self.show(&reply, plan_text)
    }

    async fn post(&self, path: &str, body: &Value) -> CliResult<Reply> {
        self.client
            .request(Method::POST, path, Some(body), None)
            .await
    }

    // ------------------------------------------------------------ name resolution

    async fn network(&self, key: &str) -> CliResult<String> {
        let id = self.client.resolve("/networks", "network", key).await?;
        Ok(format!("/networks/{}", seg(&id)))
    }

    async fn child(&self, parent: &str, kind: &str, plural: &str, key: &str) -> CliResult<String> {
        let list = format!("{parent}/{plural}");
        let id = self.client.resolve(&list, kind, key).await?;
        Ok(format!("{list}/{}", seg(&id)))
    }

    async fn child_id(
        &self,
        parent: &str,
        kind: &str,
        plural: &str,
        key: &str,
    ) -> CliResult<String> {
        self.client
            .resolve(&format!("{parent}/{plural}"), kind, key)
            .await
    }

    async fn peer(&self, net: &str, key: &str) -> CliResult<String> {
        self.child(net, "peer", "peers", key).await
    }

    async fn group(&self, net: &str, key: &str) -> CliResult<String> {
        self.child(net, "group", "groups", key).await
    }

    async fn policy(&self, net: &str, key: &str) -> CliResult<String> {
        self.child(net, "policy", "policies", key).await
    }

    async fn route(&self, net: &str, key: &str) -> CliResult<String> {
        self.child(net, "route", "routes", key).await
    }

    async fn group_ids(&self, net: &str, keys: &[String]) -> CliResult<Vec<String>> {
        let mut ids = Vec::with_capacity(keys.len());
        for k in keys {
            ids.push(self.child_id(net, "group", "groups", k).await?);
        }
        Ok(ids)
    }

    /// Id → name of the objects in `plurals` (`peers`, `groups`, …) of a network, to show
    /// names beside ids in tables. Best effort, and only for table output.
    async fn names(&self, net: &str, plurals: &[&str]) -> HashMap<String, String> {
        let mut names = HashMap::new();
        if self.output != Output::Table {
            return names;
        }
        for plural in plurals {
            if let Ok(list) = self.client.list(&format!("{net}/{plural}")).await {
                names.extend(
                    list.iter().filter_map(|p| {
                        Some((field(p, "id"), p.get("name")?.as_str()?.to_string()))
                    }),
                );
            }
        }
        names
    }
}

// ---------------------------------------------------------------- dispatch

pub async fn run(ctx: &Ctx, cmd: Command) -> CliResult<()> {
    let check = check_command(&cmd);
    let result = match cmd {
        Command::Network(c) => network::run(ctx, c).await,
        Command::Peer(c) => peer::run(ctx, c).await,
        Command::Group(c) => group::run(ctx, c).await,
        Command::Policy(c) => policy::run(ctx, c).await,
        Command::Route(c) => route::run(ctx, c).await,
        Command::Dns(c) => dns::run(ctx, c).await,
        Command::Cluster(c) => cluster::run(ctx, c).await,
        Command::Token(c) => token::run(ctx, c).await,
        Command::Snapshot(c) => snapshot::run(ctx, c).await,
    };
    result.map_err(|e| e.with_check(check))
}

/// The command that shows whether a write of `cmd` was applied, for a write given up on.
fn check_command(cmd: &Command) -> Option<String> {
    use super::args::{
        ClusterCmd as C, DnsCmd as D, GroupCmd as G, NetworkCmd as N, PeerCmd as P,
        PolicyCmd as Po, RouteCmd as R, TokenCmd as T,
    };
    let q = shell_word;
    Some(match cmd {
        Command::Network(N::Create { name: n, .. }) => format!("raftwire network show {}", q(n)),
        Command::Network(N::Update { network: n, .. } | N::Delete { network: n, .. }) => {
            format!("raftwire network show {}", q(n))
        }
        Command::Peer(P::Add { network, name, .. }) => {
            format!("raftwire peer show {} {}", q(network), q(name))
        }
        Command::Peer(
            P::Update { network, peer, .. }
            | P::Remove { network, peer, .. }
            | P::Token { network, peer },
        ) => format!("raftwire peer show {} {}", q(network), q(peer)),
        Command::Group(G::Create { network, name, .. }) => {
            format!("raftwire group show {} {}", q(network), q(name))
        }
        Command::Group(
            G::Update { network, group, .. }
            | G::Delete { network, group, .. }
            | G::AddPeer { network, group, .. }
            | G::RemovePeer { network, group, .. }
            | G::AttachPolicy { network, group, .. }
            | G::DetachPolicy { network, group, .. }
            | G::AttachRoute { network, group, .. }
            | G::DetachRoute { network, group, .. },
        ) => format!("raftwire group show {} {}", q(network), q(group)),
        Command::Policy(Po::Create { network, name, .. }) => {
            format!("raftwire policy show {} {}", q(network), q(name))
        }
        Command::Policy(
            Po::Update {
                network, policy, ..
            }
            | Po::Delete {
                network, policy, ..
            }
            | Po::AddRule {
                network, policy, ..
            }
            | Po::RemoveRule {
                network, policy, ..
            },
        ) => format!("raftwire policy show {} {}", q(network), q(policy)),
        Command::Route(R::Create { network, name, .. }) => {
            format!("raftwire route show {} {}", q(network), q(name))
        }
        Command::Route(R::Update { network, route, .. } | R::Delete { network, route, .. }) => {
            format!("raftwire route show {} {}", q(network), q(route))
        }
        Command::Dns(
            D::Add { network, route, .. }
            | D::Update { network, route, .. }
            | D::Delete { network, route, .. },
        ) => format!("raftwire dns list {} {}", q(network), q(route)),
        Command::Cluster(C::Add { .. } | C::Promote { .. } | C::Remove { .. }) => {
            "raftwire cluster status".to_string()
        }
        Command::Token(T::Create { .. } | T::Delete { .. }) => "raftwire token list".to_string(),
        _ => return None,
    })
}

/// `s` as one shell word: as is when it needs no quoting, else in single quotes.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@%+=,".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftwire_api::requests::{CreateNetwork, UpdateGroup};
    use serde_json::json;

    #[test]
    fn writes_name_the_command_that_checks_them() {
        use clap::Parser;
        let check = |args: &[&str]| {
            let cli = super::super::args::Cli::try_parse_from(args).expect("parses");
            check_command(&cli.command)
        };
        assert_eq!(
            check(&["raftwire", "peer", "add", "corp", "my laptop"]).as_deref(),
            Some("raftwire peer show corp 'my laptop'")
        );
        assert_eq!(
            check(&["raftwire", "network", "create", "corp"]).as_deref(),
            Some("raftwire network show corp")
        );
        assert_eq!(check(&["raftwire", "network", "list"]), None);
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }

    #[test]
    fn bodies_drop_unset_fields() {
        let b = body(&CreateNetwork {
            name: Some("n".into()),
            ..Default::default()
        })
        .unwrap_or(Value::Null);
        assert_eq!(b, json!({"name": "n"}));
        assert!(nothing_to_change(&body(&UpdateGroup::default()).unwrap_or(Value::Null)).is_err());
    }
}

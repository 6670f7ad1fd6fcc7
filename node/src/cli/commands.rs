//! One function per command: resolve names to ids, make the call, print the answer.

use std::collections::HashMap;
use std::io::Write;

use raftwire_api::requests::{
    CreateDnsMapping, CreateGroup, CreateNetwork, CreatePeer, CreatePolicy, CreateRoute,
    CreateRule, UpdateDnsMapping, UpdateGroup, UpdateNetwork, UpdatePolicy, UpdateRoute,
};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::args::*;
use super::client::{items, seg, CliError, CliResult, Client, Reply};
use super::output::{cell, field, key_values, object_table, pairs, pretty_json, table};

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

// ---------------------------------------------------------------- columns and key orders

const NETWORK_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("MODE", "ip_stack_mode"),
    ("IPV4 CIDR", "ipv4_cidr"),
    ("IPV6 CIDR", "ipv6_cidr"),
    ("DOMAIN", "domain"),
    ("ID", "id"),
];
const NETWORK_KEYS: &[&str] = &[
    "name",
    "id",
    "ip_stack_mode",
    "ipv4_cidr",
    "ipv6_cidr",
    "domain",
    "dns_servers",
    "version",
    "created_at",
    "updated_at",
];
const PEER_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("JUMP", "is_jump"),
    ("AGENT", "use_agent"),
    ("IPV4", "ipv4_address"),
    ("IPV6", "ipv6_address"),
    ("ENDPOINT", "endpoint"),
    ("ID", "id"),
];
const PEER_KEYS: &[&str] = &[
    "name",
    "id",
    "network_id",
    "is_jump",
    "use_agent",
    "ipv4_address",
    "ipv6_address",
    "public_key",
    "endpoint",
    "listen_port",
    "additional_allowed_ips",
    "groups",
    "group_ids",
    "ipv6_nat",
    "version",
    "created_at",
    "updated_at",
];
const GROUP_KEYS: &[&str] = &[
    "name",
    "id",
    "network_id",
    "priority",
    "description",
    "peers",
    "peer_ids",
    "policies",
    "policy_ids",
    "routes",
    "route_ids",
    "version",
    "created_at",
    "updated_at",
];
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
    ("DESCRIPTION", "description"),
    ("ID", "id"),
];
const ROUTE_KEYS: &[&str] = &[
    "name",
    "id",
    "network_id",
    "destination_cidr",
    "ip_version",
    "jump_peer",
    "jump_peer_id",
    "description",
    "version",
    "created_at",
    "updated_at",
];
const MAPPING_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("IP", "ip_address"),
    ("IP VERSION", "ip_version"),
    ("ID", "id"),
];
const MAPPING_KEYS: &[&str] = &[
    "name",
    "id",
    "network_id",
    "route_id",
    "ip_address",
    "ip_version",
    "version",
    "created_at",
    "updated_at",
];
const RECORD_COLUMNS: &[(&str, &str)] = &[
    ("FQDN", "fqdn"),
    ("TYPE", "type"),
    ("VALUE", "value"),
    ("SOURCE", "source"),
];
const TOKEN_COLUMNS: &[(&str, &str)] = &[("NAME", "name"), ("CREATED", "created_at"), ("ID", "id")];

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

fn group_table(list: &[Value]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|g| {
            vec![
                field(g, "name"),
                field(g, "priority"),
                count(g, "peer_ids"),
                count(g, "policy_ids"),
                count(g, "route_ids"),
                field(g, "description"),
                field(g, "id"),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "PRIORITY",
            "PEERS",
            "POLICIES",
            "ROUTES",
            "DESCRIPTION",
            "ID",
        ],
        &rows,
    )
}

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

/// Routes, with the jump's name beside its id when `names` knows it.
fn route_table(list: &[Value], names: &HashMap<String, String>) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            let jump = field(r, "jump_peer_id");
            vec![
                field(r, "name"),
                field(r, "destination_cidr"),
                field(r, "ip_version"),
                names.get(&jump).cloned().unwrap_or(jump),
                field(r, "description"),
                field(r, "id"),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "DESTINATION",
            "IP VERSION",
            "VIA",
            "DESCRIPTION",
            "ID",
        ],
        &rows,
    )
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

    /// A rule written as `<direction> <action> <target_type> [target]`; peer and group
    /// targets may be names.
    async fn rule(
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

    async fn rules(&self, net: &str, texts: &[String]) -> CliResult<Vec<CreateRule>> {
        let mut rules = Vec::with_capacity(texts.len());
        for t in texts {
            rules.push(self.rule(net, t, None).await?);
        }
        Ok(rules)
    }
}

// ---------------------------------------------------------------- dispatch

pub async fn run(ctx: &Ctx, cmd: Command) -> CliResult<()> {
    match cmd {
        Command::Network(c) => network(ctx, c).await,
        Command::Peer(c) => peer(ctx, c).await,
        Command::Group(c) => group(ctx, c).await,
        Command::Policy(c) => policy(ctx, c).await,
        Command::Route(c) => route(ctx, c).await,
        Command::Dns(c) => dns(ctx, c).await,
        Command::Cluster(c) => cluster(ctx, c).await,
        Command::Token(c) => token(ctx, c).await,
        Command::Snapshot(c) => snapshot(ctx, c).await,
    }
}

fn show_network(v: &Value) -> String {
    key_values(v, NETWORK_KEYS, &[])
}

async fn network(ctx: &Ctx, cmd: NetworkCmd) -> CliResult<()> {
    match cmd {
        NetworkCmd::Create {
            name,
            mode,
            ipv4_cidr,
            ipv6_cidr,
            domain,
            dns_servers,
        } => {
            let req = CreateNetwork {
                name: Some(name),
                ip_stack_mode: mode.map(|m| m.as_str().to_string()),
                ipv4_cidr,
                cidr: None,
                ipv6_cidr,
                domain,
                dns_servers: nonempty(dns_servers),
            };
            let reply = ctx.post("/networks", &body(&req)?).await?;
            ctx.show(&reply, show_network)
        }
        NetworkCmd::List => {
            let reply = ctx.get("/networks").await?;
            ctx.show_list(&reply, |l| object_table(NETWORK_COLUMNS, l))
        }
        NetworkCmd::Show { network } => {
            let path = ctx.network(&network).await?;
            ctx.show(&ctx.get(&path).await?, show_network)
        }
        NetworkCmd::Update {
            network,
            name,
            mode,
            ipv4_cidr,
            ipv6_cidr,
            domain,
            dns_servers,
            clear_dns_servers,
            force,
            if_match,
        } => {
            let req = UpdateNetwork {
                name,
                ip_stack_mode: mode.map(|m| m.as_str().to_string()),
                ipv4_cidr,
                cidr: None,
                ipv6_cidr,
                domain,
                dns_servers: if clear_dns_servers {
                    Some(Vec::new())
                } else {
                    nonempty(dns_servers)
                },
                force: force.then_some(true),
            };
            let b = body(&req)?;
            nothing_to_change(&b)?;
            let path = ctx.network(&network).await?;
            let reply = ctx.send(Method::PATCH, &path, Some(&b), &if_match).await?;
            ctx.show(&reply, show_network)
        }
        NetworkCmd::Delete { network, if_match } => {
            let path = ctx.network(&network).await?;
            ctx.send(Method::DELETE, &path, None, &if_match).await?;
            ctx.done(&format!("deleted network '{network}'"));
            Ok(())
        }
        NetworkCmd::Ipam { network } => {
            let path = ctx.network(&network).await?;
            let reply = ctx.get(&format!("{path}/ipam")).await?;
            let names = ctx.names(&path, &["peers"]).await;
            ctx.show(&reply, |v| ipam_text(v, &names))
        }
    }
}

fn ipam_text(v: &Value, names: &HashMap<String, String>) -> String {
    let usage: Vec<Vec<String>> = ["ipv4", "ipv6"]
        .iter()
        .map(|f| match v.get(*f).filter(|u| !u.is_null()) {
            Some(u) => vec![
                f.to_string(),
                field(u, "cidr"),
                field(u, "capacity"),
                field(u, "allocated"),
                field(u, "available"),
            ],
            None => vec![
                f.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        })
        .collect();
    let mut text = table(
        &["FAMILY", "CIDR", "CAPACITY", "ALLOCATED", "AVAILABLE"],
        &usage,
    );
    let allocations: Vec<Vec<String>> = v
        .get("allocations")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    let pid = field(x, "peer_id");
                    vec![
                        field(x, "address"),
                        field(x, "family"),
                        names.get(&pid).cloned().unwrap_or_else(|| "-".into()),
                        pid,
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    text.push('\n');
    text.push_str(&table(
        &["ADDRESS", "FAMILY", "PEER", "PEER ID"],
        &allocations,
    ));
    text
}

fn show_peer(v: &Value, names: &HashMap<String, String>) -> String {
    key_values(
        &with_names(v, &[("group_ids", "groups")], names),
        PEER_KEYS,
        &["agent_token"],
    )
}

async fn peer(ctx: &Ctx, cmd: PeerCmd) -> CliResult<()> {
    match cmd {
        PeerCmd::Add {
            network,
            name,
            jump,
            agent,
            ipv4,
            ipv6,
            public_key,
            endpoint,
            listen_port,
            allowed_ips,
            groups,
            ipv6_nat,
        } => {
            let net = ctx.network(&network).await?;
            let group_ids = if groups.is_empty() {
                None
            } else {
                Some(ctx.group_ids(&net, &groups).await?)
            };
            let req = CreatePeer {
                name: Some(name.clone()),
                is_jump: jump.then_some(true),
                use_agent: agent.then_some(true),
                ipv4_address: ipv4,
                ipv6_address: ipv6,
                public_key,
                endpoint,
                listen_port: listen_port.map(i64::from),
                additional_allowed_ips: nonempty(allowed_ips),
                group_ids,
                ipv6_nat: ipv6_nat.then_some(true),
            };
            let reply = ctx.post(&format!("{net}/peers"), &body(&req)?).await?;
            let names = ctx.names(&net, &["groups"]).await;
            ctx.show(&reply, |v| {
                let mut text = show_peer(v, &names);
                match v.get("agent_token").and_then(Value::as_str) {
                    Some(token) => {
                        text.push_str(&format!(
                            "\nagent_token: {token}\n\
                             note: the agent token is shown only once; store it now \
                             (`raftwire peer token` rotates it).\n"
                        ));
                    }
                    None if v.get("use_agent") == Some(&Value::Bool(false)) => {
                        text.push_str(&format!(
                            "\nDownload its WireGuard configuration with: \
                             raftwire peer config {network} {name}\n"
                        ));
                    }
                    None => {}
                }
                text
            })
        }
        PeerCmd::List { network } => {
            let net = ctx.network(&network).await?;
            let reply = ctx.get(&format!("{net}/peers")).await?;
            ctx.show_list(&reply, |l| object_table(PEER_COLUMNS, l))
        }
        PeerCmd::Show { network, peer } => {
            let net = ctx.network(&network).await?;
            let path = ctx.peer(&net, &peer).await?;
            let reply = ctx.get(&path).await?;
            let names = ctx.names(&net, &["groups"]).await;
            ctx.show(&reply, |v| show_peer(v, &names))
        }
        PeerCmd::Update {
            network,
            peer,
            name,
            agent,
            no_agent,
            ipv4,
            ipv6,
            public_key,
            clear_public_key,
            endpoint,
            clear_endpoint,
            listen_port,
            clear_listen_port,
            allowed_ips,
            clear_allowed_ips,
            groups,
            ipv6_nat,
            no_ipv6_nat,
            if_match,
        } => {
            let net = ctx.network(&network).await?;
            // Built by hand: in this body `null` means "clear", absent means "keep".
            let mut m = Map::new();
            let mut set = |k: &str, v: Value| {
                m.insert(k.to_string(), v);
            };
            if let Some(n) = name {
                set("name", json!(n));
            }
            if agent || no_agent {
                set("use_agent", json!(agent));
            }
            if let Some(a) = ipv4 {
                set("ipv4_address", json!(a));
            }
            if let Some(a) = ipv6 {
                set("ipv6_address", json!(a));
            }
            if clear_public_key {
                set("public_key", Value::Null);
            } else if let Some(k) = public_key {
                set("public_key", json!(k));
            }
            if clear_endpoint {
                set("endpoint", Value::Null);
            } else if let Some(e) = endpoint {
                set("endpoint", json!(e));
            }
            if clear_listen_port {
                set("listen_port", Value::Null);
            } else if let Some(p) = listen_port {
                set("listen_port", json!(p));
            }
            if clear_allowed_ips {
                set("additional_allowed_ips", json!([]));
            } else if !allowed_ips.is_empty() {
                set("additional_allowed_ips", json!(allowed_ips));
            }
            if ipv6_nat || no_ipv6_nat {
                set("ipv6_nat", json!(ipv6_nat));
            }
            if !groups.is_empty() {
                let ids = ctx.group_ids(&net, &groups).await?;
                m.insert("group_ids".into(), json!(ids));
            }
            let b = Value::Object(m);
            nothing_to_change(&b)?;
            let path = ctx.peer(&net, &peer).await?;
            let reply = ctx.send(Method::PATCH, &path, Some(&b), &if_match).await?;
            let names = ctx.names(&net, &["groups"]).await;
            ctx.show(&reply, |v| show_peer(v, &names))
        }
        PeerCmd::Remove {
            network,
            peer,
            if_match,
        } => {
            let net = ctx.network(&network).await?;
            let path = ctx.peer(&net, &peer).await?;
            ctx.send(Method::DELETE, &path, None, &if_match).await?;
            ctx.done(&format!("removed peer '{peer}' from network '{network}'"));
            Ok(())
        }
        PeerCmd::Config { network, peer } => {
            let net = ctx.network(&network).await?;
            let path = ctx.peer(&net, &peer).await?;
            // wg-quick text, printed as is whatever the output format.
            out(&ctx.get(&format!("{path}/config")).await?.text);
            Ok(())
        }
        PeerCmd::Token { network, peer } => {
            let net = ctx.network(&network).await?;
            let path = ctx.peer(&net, &peer).await?;
            let reply = ctx
                .send(
                    Method::POST,
                    &format!("{path}/token"),
                    None,
                    &IfMatch { if_match: None },
                )
                .await?;
            ctx.show(&reply, |v| {
                format!(
                    "agent_token: {}\nnote: the agent token is shown only once; the previous one \
                     no longer works.\n",
                    field(v, "agent_token")
                )
            })
        }
        PeerCmd::Firewall { network, peer } => {
            let net = ctx.network(&network).await?;
            let path = ctx.peer(&net, &peer).await?;
            let reply = ctx.get(&format!("{path}/firewall")).await?;
            ctx.show(&reply, firewall_text)
        }
    }
}

fn firewall_text(v: &Value) -> String {
    let fwd = v.get("forwarding").cloned().unwrap_or(Value::Null);
    let onoff = |f: &str| match fwd.get(f).and_then(Value::as_bool) {
        Some(true) => "on",
        Some(false) => "off (left alone)",
        None => "-",
    };
    let mut text = pairs(&[
        ("ipv4 forwarding", onoff("ipv4").to_string()),
        ("ipv6 forwarding", onoff("ipv6").to_string()),
    ]);
    for (family, tool) in [("ipv4", "iptables-restore"), ("ipv6", "ip6tables-restore")] {
        match v.get(family).filter(|r| !r.is_null()) {
            Some(rules) => {
                let n = rules
                    .get("rules")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                text.push_str(&format!("\n# {family}: {n} rules ({tool} input)\n"));
                text.push_str(rules.get("restore").and_then(Value::as_str).unwrap_or(""));
                if !text.ends_with('\n') {
                    text.push('\n');
                }
            }
            None => text.push_str(&format!("\n# {family}: none (family absent)\n")),
        }
    }
    text
}

fn show_group(v: &Value, names: &HashMap<String, String>) -> String {
    let named = with_names(
        v,
        &[
            ("peer_ids", "peers"),
            ("policy_ids", "policies"),
            ("route_ids", "routes"),
        ],
        names,
    );
    key_values(&named, GROUP_KEYS, &[])
}

async fn group(ctx: &Ctx, cmd: GroupCmd) -> CliResult<()> {
    match cmd {
        GroupCmd::Create {
            network,
            name,
            priority,
            description,
        } => {
            let net = ctx.network(&network).await?;
            let req = CreateGroup {
                name: Some(name),
                description,
                priority,
            };
            let reply = ctx.post(&format!("{net}/groups"), &body(&req)?).await?;
            ctx.show(&reply, |v| show_group(v, &HashMap::new()))
        }
        GroupCmd::List { network } => {
            let net = ctx.network(&network).await?;
            let reply = ctx.get(&format!("{net}/groups")).await?;
            ctx.show_list(&reply, group_table)
        }
        GroupCmd::Show { network, group } => {
            let net = ctx.network(&network).await?;
            let path = ctx.group(&net, &group).await?;
            let reply = ctx.get(&path).await?;
            let names = ctx.names(&net, &["peers", "policies", "routes"]).await;
            ctx.show(&reply, |v| show_group(v, &names))
        }
        GroupCmd::Update {
            network,
            group,
            name,
            priority,
            description,
            if_match,
        } => {
            let b = body(&UpdateGroup {
                name,
                description,
                priority,
            })?;
            nothing_to_change(&b)?;
            let net = ctx.network(&network).await?;
            let path = ctx.group(&net, &group).await?;
            let reply = ctx.send(Method::PATCH, &path, Some(&b), &if_match).await?;
            let names = ctx.names(&net, &["peers", "policies", "routes"]).await;
            ctx.show(&reply, |v| show_group(v, &names))
        }
        GroupCmd::Delete {
            network,
            group,
            if_match,
        } => {
            let net = ctx.network(&network).await?;
            let path = ctx.group(&net, &group).await?;
            ctx.send(Method::DELETE, &path, None, &if_match).await?;
            ctx.done(&format!("deleted group '{group}'"));
            Ok(())
        }
        GroupCmd::AddPeer {
            network,
            group,
            peer,
        } => attach(ctx, &network, &group, Link::Peer, &peer, true).await,
        GroupCmd::RemovePeer {
            network,
            group,
            peer,
        } => attach(ctx, &network, &group, Link::Peer, &peer, false).await,
        GroupCmd::AttachPolicy {
            network,
            group,
            policy,
        } => attach(ctx, &network, &group, Link::Policy, &policy, true).await,
        GroupCmd::DetachPolicy {
            network,
            group,
            policy,
        } => attach(ctx, &network, &group, Link::Policy, &policy, false).await,
        GroupCmd::AttachRoute {
            network,
            group,
            route,
        } => attach(ctx, &network, &group, Link::Route, &route, true).await,
        GroupCmd::DetachRoute {
            network,
            group,
            route,
        } => attach(ctx, &network, &group, Link::Route, &route, false).await,
    }
}

#[derive(Clone, Copy)]
enum Link {
    Peer,
    Policy,
    Route,
}

/// `PUT`/`DELETE /networks/{nid}/groups/{gid}/{peers|policies|routes}/{id}`.
async fn attach(
    ctx: &Ctx,
    network: &str,
    group: &str,
    link: Link,
    key: &str,
    add: bool,
) -> CliResult<()> {
    let (kind, plural) = match link {
        Link::Peer => ("peer", "peers"),
        Link::Policy => ("policy", "policies"),
        Link::Route => ("route", "routes"),
    };
    let net = ctx.network(network).await?;
    let group_path = ctx.group(&net, group).await?;
    let id = ctx.child_id(&net, kind, plural, key).await?;
    let path = format!("{group_path}/{plural}/{}", seg(&id));
    let method = if add { Method::PUT } else { Method::DELETE };
    ctx.send(method, &path, None, &IfMatch { if_match: None })
        .await?;
    let msg = match (link, add) {
        (Link::Peer, true) => format!("added peer '{key}' to group '{group}'"),
        (Link::Peer, false) => format!("removed peer '{key}' from group '{group}'"),
        (_, true) => format!("attached {kind} '{key}' to group '{group}'"),
        (_, false) => format!("detached {kind} '{key}' from group '{group}'"),
    };
    ctx.done(&msg);
    Ok(())
}

async fn policy(ctx: &Ctx, cmd: PolicyCmd) -> CliResult<()> {
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
            let reply = ctx.get(&format!("{net}/policies")).await?;
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
            ctx.send(Method::DELETE, &path, None, &IfMatch { if_match: None })
                .await?;
            ctx.done(&format!("removed rule {rule_id} from policy '{policy}'"));
            Ok(())
        }
    }
}

fn show_route(v: &Value, names: &HashMap<String, String>) -> String {
    key_values(
        &with_names(v, &[("jump_peer_id", "jump_peer")], names),
        ROUTE_KEYS,
        &[],
    )
}

async fn route(ctx: &Ctx, cmd: RouteCmd) -> CliResult<()> {
    match cmd {
        RouteCmd::Create {
            network,
            name,
            destination,
            via,
            description,
        } => {
            let net = ctx.network(&network).await?;
            let jump = ctx.child_id(&net, "peer", "peers", &via).await?;
            let req = CreateRoute {
                name: Some(name),
                description,
                destination_cidr: Some(destination),
                jump_peer_id: Some(jump),
            };
            let reply = ctx.post(&format!("{net}/routes"), &body(&req)?).await?;
            let names = ctx.names(&net, &["peers"]).await;
            ctx.show(&reply, |v| show_route(v, &names))
        }
        RouteCmd::List { network } => {
            let net = ctx.network(&network).await?;
            let reply = ctx.get(&format!("{net}/routes")).await?;
            let names = ctx.names(&net, &["peers"]).await;
            ctx.show_list(&reply, |l| route_table(l, &names))
        }
        RouteCmd::Show { network, route } => {
            let net = ctx.network(&network).await?;
            let path = ctx.route(&net, &route).await?;
            let reply = ctx.get(&path).await?;
            let names = ctx.names(&net, &["peers"]).await;
            ctx.show(&reply, |v| show_route(v, &names))
        }
        RouteCmd::Update {
            network,
            route,
            name,
            destination,
            via,
            description,
            if_match,
        } => {
            let net = ctx.network(&network).await?;
            let jump_peer_id = match via {
                Some(v) => Some(ctx.child_id(&net, "peer", "peers", &v).await?),
                None => None,
            };
            let b = body(&UpdateRoute {
                name,
                description,
                destination_cidr: destination,
                jump_peer_id,
            })?;
            nothing_to_change(&b)?;
            let path = ctx.route(&net, &route).await?;
            let reply = ctx.send(Method::PATCH, &path, Some(&b), &if_match).await?;
            let names = ctx.names(&net, &["peers"]).await;
            ctx.show(&reply, |v| show_route(v, &names))
        }
        RouteCmd::Delete {
            network,
            route,
            if_match,
        } => {
            let net = ctx.network(&network).await?;
            let path = ctx.route(&net, &route).await?;
            ctx.send(Method::DELETE, &path, None, &if_match).await?;
            ctx.done(&format!("deleted route '{route}'"));
            Ok(())
        }
    }
}

fn show_mapping(v: &Value) -> String {
    key_values(v, MAPPING_KEYS, &[])
}

async fn dns(ctx: &Ctx, cmd: DnsCmd) -> CliResult<()> {
    match cmd {
        DnsCmd::Add {
            network,
            route,
            name,
            ip,
        } => {
            let net = ctx.network(&network).await?;
            let path = ctx.route(&net, &route).await?;
            let req = CreateDnsMapping {
                name: Some(name),
                ip_address: Some(ip),
            };
            let reply = ctx.post(&format!("{path}/dns"), &body(&req)?).await?;
            ctx.show(&reply, show_mapping)
        }
        DnsCmd::List {
            network,
            route: None,
        } => {
            let net = ctx.network(&network).await?;
            let reply = ctx.get(&format!("{net}/dns")).await?;
            ctx.show_list(&reply, |l| object_table(RECORD_COLUMNS, l))
        }
        DnsCmd::List {
            network,
            route: Some(route),
        } => {
            let net = ctx.network(&network).await?;
            let path = ctx.route(&net, &route).await?;
            let reply = ctx.get(&format!("{path}/dns")).await?;
            ctx.show_list(&reply, |l| object_table(MAPPING_COLUMNS, l))
        }
        DnsCmd::Show {
            network,
            route,
            mapping,
        } => {
            let net = ctx.network(&network).await?;
            let route_path = ctx.route(&net, &route).await?;
            let path = ctx
                .child(&route_path, "DNS mapping", "dns", &mapping)
                .await?;
            ctx.show(&ctx.get(&path).await?, show_mapping)
        }
        DnsCmd::Update {
            network,
            route,
            mapping,
            name,
            ip,
            if_match,
        } => {
            let b = body(&UpdateDnsMapping {
                name,
                ip_address: ip,
            })?;
            nothing_to_change(&b)?;
            let net = ctx.network(&network).await?;
            let route_path = ctx.route(&net, &route).await?;
            let path = ctx
                .child(&route_path, "DNS mapping", "dns", &mapping)
                .await?;
            let reply = ctx.send(Method::PATCH, &path, Some(&b), &if_match).await?;
            ctx.show(&reply, show_mapping)
        }
        DnsCmd::Delete {
            network,
            route,
            mapping,
            if_match,
        } => {
            let net = ctx.network(&network).await?;
            let route_path = ctx.route(&net, &route).await?;
            let path = ctx
                .child(&route_path, "DNS mapping", "dns", &mapping)
                .await?;
            ctx.send(Method::DELETE, &path, None, &if_match).await?;
            ctx.done(&format!("deleted DNS mapping '{mapping}'"));
            Ok(())
        }
    }
}

fn cluster_text(v: &Value) -> String {
    let mut text = key_values(
        v,
        &[
            "node_id",
            "leader_id",
            "term",
            "commit_index",
            "last_applied",
        ],
        &["members"],
    );
    let leader = v.get("leader_id").and_then(Value::as_u64);
    let rows: Vec<Vec<String>> = v
        .get("members")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|m| {
                    let id = m.get("id").and_then(Value::as_u64);
                    let voter = m.get("voter").and_then(Value::as_bool).unwrap_or(false);
                    let role = if id.is_some() && id == leader {
                        "leader"
                    } else if voter {
                        "follower"
                    } else {
                        "learner"
                    };
                    vec![
                        field(m, "id"),
                        field(m, "addr"),
                        cell(m.get("voter")),
                        role.to_string(),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    text.push('\n');
    text.push_str(&table(&["ID", "ADDR", "VOTER", "ROLE"], &rows));
    text
}

async fn cluster(ctx: &Ctx, cmd: ClusterCmd) -> CliResult<()> {
    let none = IfMatch { if_match: None };
    match cmd {
        ClusterCmd::Status => ctx.show(&ctx.get("/cluster").await?, cluster_text),
        ClusterCmd::Add { id, url } => {
            let reply = ctx
                .post("/cluster/members", &json!({ "id": id, "addr": url }))
                .await?;
            if ctx.output == Output::Json && !reply.text.trim().is_empty() {
                out(&pretty_json(&reply.text));
            }
            ctx.done(&format!(
                "node {id} ({url}) added as a learner; once it has caught up, promote it with \
                 `raftwire cluster promote {id}`"
            ));
            Ok(())
        }
        ClusterCmd::Promote { id } => {
            let path = format!("/cluster/members/{id}/promote");
            ctx.send(Method::POST, &path, None, &none).await?;
            ctx.done(&format!("node {id} is now a voter"));
            Ok(())
        }
        ClusterCmd::Remove { id } => {
            let path = format!("/cluster/members/{id}");
            ctx.send(Method::DELETE, &path, None, &none).await?;
            ctx.done(&format!("node {id} removed from the cluster"));
            Ok(())
        }
    }
}

async fn token(ctx: &Ctx, cmd: TokenCmd) -> CliResult<()> {
    match cmd {
        TokenCmd::Create { name } => {
            let reply = ctx.post("/tokens", &json!({ "name": name })).await?;
            ctx.show(&reply, |v| {
                let mut text = key_values(v, &["name", "id", "created_at"], &["token"]);
                text.push_str(&format!(
                    "\ntoken: {}\nnote: the token is shown only once; store it now.\n",
                    field(v, "token")
                ));
                text
            })
        }
        TokenCmd::List => {
            let reply = ctx.get("/tokens").await?;
            ctx.show_list(&reply, |l| object_table(TOKEN_COLUMNS, l))
        }
        TokenCmd::Delete { token } => {
            let id = ctx.client.resolve("/tokens", "token", &token).await?;
            let path = format!("/tokens/{}", seg(&id));
            ctx.send(Method::DELETE, &path, None, &IfMatch { if_match: None })
                .await?;
            ctx.done(&format!("deleted token '{token}'"));
            Ok(())
        }
    }
}

/// Backups can be large and slow to produce; they get more time than other calls.
const SNAPSHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

async fn snapshot(ctx: &Ctx, cmd: SnapshotCmd) -> CliResult<()> {
    match cmd {
        SnapshotCmd::Save { file } => {
            let bytes = ctx
                .client
                .request_bytes(Method::GET, "/snapshot", None, SNAPSHOT_TIMEOUT)
                .await?;
            if file.as_os_str() == "-" {
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(&bytes)
                    .and_then(|()| stdout.flush())
                    .map_err(|e| CliError::other(format!("cannot write the backup: {e}")))?;
                return Ok(());
            }
            // Written next to the target, then renamed: no half-written backup under its name.
            let mut part = file.clone().into_os_string();
            part.push(".part");
            let part = std::path::PathBuf::from(part);
            std::fs::write(&part, &bytes)
                .and_then(|()| std::fs::rename(&part, &file))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&part);
                    CliError::other(format!("cannot write {}: {e}", file.display()))
                })?;
            ctx.done(&format!(
                "saved a backup of {} bytes to {}",
                bytes.len(),
                file.display()
            ));
            Ok(())
        }
        SnapshotCmd::Restore { file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| CliError::other(format!("cannot read {}: {e}", file.display())))?;
            ctx.client
                .request_bytes(Method::POST, "/snapshot", Some(&bytes), SNAPSHOT_TIMEOUT)
                .await?;
            ctx.done(&format!(
                "restored the cluster state from {}",
                file.display()
            ));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn firewall_rendering() {
        let v = json!({
            "ipv4": {"rules": [{}], "restore": "*filter\nCOMMIT\n"},
            "ipv6": null,
            "forwarding": {"ipv4": true, "ipv6": false}
        });
        let t = firewall_text(&v);
        assert!(t.contains("ipv4 forwarding: on"));
        assert!(t.contains("# ipv4: 1 rules"));
        assert!(t.contains("*filter\nCOMMIT\n"));
        assert!(t.contains("# ipv6: none"));
    }
}

//! `raftwire peer …`.

use std::collections::HashMap;

use raftwire_api::requests::CreatePeer;
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::super::args::{IfMatch, PeerCmd};
use super::super::output::{field, key_values, object_table, pairs};
use super::{body, nonempty, nothing_to_change, out, with_names, CliResult, Ctx};

const PEER_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("JUMP", "is_jump"),
    ("AGENT", "use_agent"),
    ("IPV4", "ipv4_address"),
    ("IPV6", "ipv6_address"),
    ("ENDPOINT", "endpoint"),
    ("CONNECTED", "connected"),
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

fn show_peer(v: &Value, names: &HashMap<String, String>) -> String {
    let mut text = key_values(
        &with_names(v, &[("group_ids", "groups")], names),
        PEER_KEYS,
        &["agent_token", "agent"],
    );
    text.push_str(&agent_lines(v));
    text
}

/// The agent's connection status in one cell: `node N` (connected), `no`, or `-` (none).
fn connected_cell(peer: &Value) -> String {
    let agent = &peer["agent"];
    if agent.is_null() {
        return "-".into();
    }
    if agent["connected"] == Value::Bool(true) {
        format!("node {}", field(agent, "node_id"))
    } else {
        "no".into()
    }
}

/// `peer show`'s lines about the agent: connected or not, to which node and since when,
/// the version applied, and the last error of each module.
fn agent_lines(peer: &Value) -> String {
    let agent = &peer["agent"];
    if agent.is_null() {
        return match peer.get("agent") {
            Some(_) if peer["use_agent"] == Value::Bool(true) => {
                pairs(&[("agent", "never connected".to_string())])
            }
            _ => String::new(),
        };
    }
    let state = if agent["connected"] == Value::Bool(true) {
        format!(
            "connected to node {} since {}",
            field(agent, "node_id"),
            field(agent, "since")
        )
    } else {
        format!(
            "disconnected (last node {}) since {}",
            field(agent, "node_id"),
            field(agent, "since")
        )
    };
    let mut lines = vec![
        ("agent", state),
        ("applied_version", field(agent, "applied_version")),
    ];
    let errors = agent["errors"].as_array().cloned().unwrap_or_default();
    if errors.is_empty() {
        lines.push(("errors", "-".into()));
    }
    for e in &errors {
        lines.push((
            "error",
            format!("{}: {}", field(e, "module"), field(e, "message")),
        ));
    }
    pairs(&lines)
}

pub(super) async fn run(ctx: &Ctx, cmd: PeerCmd) -> CliResult<()> {
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
            let reply = ctx.get_list(&format!("{net}/peers")).await?;
            ctx.show_list(&reply, |l| {
                let rows: Vec<Value> = l
                    .iter()
                    .map(|p| {
                        let cell = connected_cell(p);
                        let mut p = p.clone();
                        if let Some(obj) = p.as_object_mut() {
                            obj.insert("connected".into(), Value::String(cell));
                        }
                        p
                    })
                    .collect();
                object_table(PEER_COLUMNS, &rows)
            })
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
            dry_run,
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
            if dry_run {
                return ctx.dry_run(&path, &b, &if_match).await;
            }
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
            let mut config = ctx.get(&format!("{path}/config")).await?.text;
            if !has_peer_section(&config) {
                let is_jump = ctx
                    .get(&path)
                    .await
                    .ok()
                    .and_then(|r| r.json().ok())
                    .and_then(|v| v.get("is_jump").and_then(Value::as_bool))
                    .unwrap_or(false);
                let why = no_peer_reason(is_jump, &network);
                if !config.ends_with('\n') {
                    config.push('\n');
                }
                config.push('\n');
                for line in why.lines() {
                    config.push_str("# ");
                    config.push_str(line);
                    config.push('\n');
                }
                eprintln!(
                    "warning: the configuration of peer '{peer}' has no [Peer] section: {}",
                    why.lines().next().unwrap_or_default()
                );
            }
            out(&config);
            Ok(())
        }
        PeerCmd::Token { network, peer } => {
            let net = ctx.network(&network).await?;
            let path = ctx.peer(&net, &peer).await?;
            let reply = ctx
                .send(Method::POST, &format!("{path}/token"), None, &IfMatch::NONE)
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

/// Whether a wg-quick text has a `[Peer]` section (peer names are DNS labels: no comment
/// line is `[Peer]`).
fn has_peer_section(config: &str) -> bool {
    config.lines().any(|l| l.trim() == "[Peer]")
}

/// Why a peer's config has nothing to connect to, and what to do (comment lines).
fn no_peer_reason(is_jump: bool, network: &str) -> String {
    if is_jump {
        "No [Peer] section: no other peer of this network has a public key yet, so this\n\
         jump has nobody to accept. Add peers (`raftwire peer add`) and download it again."
            .to_string()
    } else {
        format!(
            "No [Peer] section: no jump peer with a public key exists yet in network '{network}',\n\
             so there is nothing to connect to. Add a jump with\n\
             `raftwire peer add {network} <name> --jump` and let its agent register its key\n\
             (or give the jump --public-key), then download this configuration again."
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn peer_sections_are_found() {
        assert!(has_peer_section(
            "[Interface]\nAddress = 10.0.0.2/32\n\n[Peer]\n# hub\n"
        ));
        assert!(!has_peer_section("[Interface]\nAddress = 10.0.0.2/32\n"));
        assert!(no_peer_reason(false, "corp").contains("no jump peer with a public key"));
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

#[cfg(test)]
mod agent_status_tests {
    use super::*;

    #[test]
    fn peer_show_and_list_tell_the_agents_connection_and_errors() {
        let peer = json!({
            "name": "gw", "use_agent": true,
            "agent": {"connected": true, "node_id": 2, "since": "2025-01-02T03:04:05Z",
                      "applied_version": 41,
                      "errors": [{"module": "firewall", "message": "restore failed"}]},
        });
        assert_eq!(connected_cell(&peer), "node 2");
        let text = agent_lines(&peer);
        assert!(
            text.contains("connected to node 2 since 2025-01-02T03:04:05Z"),
            "{text}"
        );
        assert!(text.contains("applied_version: 41"), "{text}");
        assert!(text.contains("firewall: restore failed"), "{text}");

        let gone = json!({"use_agent": true, "agent": {"connected": false, "node_id": 3,
            "since": "2025-01-02T04:00:00Z", "applied_version": 41, "errors": []}});
        assert_eq!(connected_cell(&gone), "no");
        assert!(agent_lines(&gone).contains("disconnected (last node 3)"));
        let never = json!({"use_agent": true, "agent": null});
        assert_eq!(connected_cell(&never), "-");
        assert!(agent_lines(&never).contains("never connected"));
        let static_peer = json!({"use_agent": false, "agent": null});
        assert_eq!(agent_lines(&static_peer), "");
    }
}

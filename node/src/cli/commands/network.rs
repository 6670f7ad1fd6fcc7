//! `raftwire network …`.

use std::collections::HashMap;

use raftwire_api::requests::{CreateNetwork, UpdateNetwork};
use raftwire_api::IpStackMode;
use reqwest::Method;
use serde_json::Value;

use super::super::args::NetworkCmd;
use super::super::output::{field, key_values, object_table, table};
use super::{body, nonempty, nothing_to_change, CliResult, Ctx};

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

fn show_network(v: &Value) -> String {
    key_values(v, NETWORK_KEYS, &[])
}

/// The stack mode the CIDRs given imply: both families → dual, only IPv6 → ipv6, only
/// IPv4 → ipv4; none → the server's default. An explicit `--mode` wins (and the server
/// checks it against the CIDRs); the API itself takes no implied mode.
fn infer_mode(ipv4: bool, ipv6: bool) -> Option<IpStackMode> {
    match (ipv4, ipv6) {
        (true, true) => Some(IpStackMode::Dual),
        (false, true) => Some(IpStackMode::Ipv6),
        (true, false) => Some(IpStackMode::Ipv4),
        (false, false) => None,
    }
}

pub(super) async fn run(ctx: &Ctx, cmd: NetworkCmd) -> CliResult<()> {
    match cmd {
        NetworkCmd::Create {
            name,
            mode,
            ipv4_cidr,
            ipv6_cidr,
            domain,
            dns_servers,
        } => {
            let mode = mode.or_else(|| infer_mode(ipv4_cidr.is_some(), ipv6_cidr.is_some()));
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
            let reply = ctx.get_list("/networks").await?;
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
            dry_run,
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
            if dry_run {
                return ctx.dry_run(&path, &b, &if_match).await;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_follows_the_cidrs_given() {
        assert_eq!(infer_mode(true, true), Some(IpStackMode::Dual));
        assert_eq!(infer_mode(false, true), Some(IpStackMode::Ipv6));
        assert_eq!(infer_mode(true, false), Some(IpStackMode::Ipv4));
        assert_eq!(infer_mode(false, false), None);
    }
}

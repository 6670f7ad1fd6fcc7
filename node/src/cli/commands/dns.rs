//! `raftwire dns …`.

use raftwire_api::requests::{CreateDnsMapping, UpdateDnsMapping};
use reqwest::Method;
use serde_json::Value;

use super::super::args::DnsCmd;
use super::super::output::{key_values, object_table};
use super::{body, nothing_to_change, CliResult, Ctx};

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

fn show_mapping(v: &Value) -> String {
    key_values(v, MAPPING_KEYS, &[])
}

pub(super) async fn run(ctx: &Ctx, cmd: DnsCmd) -> CliResult<()> {
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
            let reply = ctx.get_list(&format!("{net}/dns")).await?;
            ctx.show_list(&reply, |l| object_table(RECORD_COLUMNS, l))
        }
        DnsCmd::List {
            network,
            route: Some(route),
        } => {
            let net = ctx.network(&network).await?;
            let path = ctx.route(&net, &route).await?;
            let reply = ctx.get_list(&format!("{path}/dns")).await?;
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

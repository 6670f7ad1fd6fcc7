//! `raftwire route …`.

use std::collections::HashMap;

use raftwire_api::requests::{CreateRoute, UpdateRoute};
use reqwest::Method;
use serde_json::Value;

use super::super::args::RouteCmd;
use super::super::output::{field, key_values, table};
use super::{body, nothing_to_change, with_names, CliResult, Ctx};

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

fn show_route(v: &Value, names: &HashMap<String, String>) -> String {
    key_values(
        &with_names(v, &[("jump_peer_id", "jump_peer")], names),
        ROUTE_KEYS,
        &[],
    )
}

pub(super) async fn run(ctx: &Ctx, cmd: RouteCmd) -> CliResult<()> {
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
            let reply = ctx.get_list(&format!("{net}/routes")).await?;
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

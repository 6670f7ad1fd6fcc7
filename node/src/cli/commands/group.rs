//! `raftwire group …`.

use std::collections::HashMap;

use raftwire_api::requests::{CreateGroup, UpdateGroup};
use reqwest::Method;
use serde_json::Value;

use super::super::args::{GroupCmd, IfMatch};
use super::super::output::{field, key_values, table};
use super::{body, count, nothing_to_change, seg, with_names, CliResult, Ctx};

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

pub(super) async fn run(ctx: &Ctx, cmd: GroupCmd) -> CliResult<()> {
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
            let reply = ctx.get_list(&format!("{net}/groups")).await?;
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
    ctx.send(method, &path, None, &IfMatch::NONE).await?;
    let msg = match (link, add) {
        (Link::Peer, true) => format!("added peer '{key}' to group '{group}'"),
        (Link::Peer, false) => format!("removed peer '{key}' from group '{group}'"),
        (_, true) => format!("attached {kind} '{key}' to group '{group}'"),
        (_, false) => format!("detached {kind} '{key}' from group '{group}'"),
    };
    ctx.done(&msg);
    Ok(())
}

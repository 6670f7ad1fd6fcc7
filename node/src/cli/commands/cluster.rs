//! `raftwire cluster …`.

use reqwest::Method;
use serde_json::{json, Value};

use super::super::args::{ClusterCmd, IfMatch, Output};
use super::super::output::{cell, field, key_values, pretty_json, table};
use super::{out, CliResult, Ctx};

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

pub(super) async fn run(ctx: &Ctx, cmd: ClusterCmd) -> CliResult<()> {
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

//! `raftwire token …`.

use reqwest::Method;
use serde_json::json;

use super::super::args::{IfMatch, TokenCmd};
use super::super::output::{field, key_values, object_table};
use super::{seg, CliResult, Ctx};

const TOKEN_COLUMNS: &[(&str, &str)] = &[("NAME", "name"), ("CREATED", "created_at"), ("ID", "id")];

pub(super) async fn run(ctx: &Ctx, cmd: TokenCmd) -> CliResult<()> {
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
            let reply = ctx.get_list("/tokens").await?;
            ctx.show_list(&reply, |l| object_table(TOKEN_COLUMNS, l))
        }
        TokenCmd::Delete { token } => {
            let id = ctx.client.resolve("/tokens", "token", &token).await?;
            let path = format!("/tokens/{}", seg(&id));
            ctx.send(Method::DELETE, &path, None, &IfMatch::NONE)
                .await?;
            ctx.done(&format!("deleted token '{token}'"));
            Ok(())
        }
    }
}

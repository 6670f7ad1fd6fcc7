//! `raftwire snapshot …`.

use std::io::Write;

use reqwest::Method;

use super::super::args::SnapshotCmd;
use super::{CliError, CliResult, Ctx};

/// Backups can be large and slow to produce; they get more time than other calls.
const SNAPSHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

pub(super) async fn run(ctx: &Ctx, cmd: SnapshotCmd) -> CliResult<()> {
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
            // The node answers once the restore is committed and applied on it (a large
            // backup goes through the log in 1 MiB parts first): no progress to show.
            ctx.done(&format!(
                "restored the cluster state from {} ({} bytes, committed through the Raft log)",
                file.display(),
                bytes.len()
            ));
            Ok(())
        }
    }
}

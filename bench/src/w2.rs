//! W2: propagation to agents. The hub harness of the node (`node/benches/hub_fanout.rs`: one
//! node, one dual-stack network with 3 jumps and N agents, the agents as WebSocket clients in
//! a child process of their own) is run here for each size, in this run, and its figures
//! are reported: time from a write's acknowledgement until the last affected agent holds
//! the new config, for a new regular peer (only the jumps change) and for a change every
//! agent sees (the primary jump's endpoint).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

use crate::report::Section;
use crate::Params;

const TITLE: &str = "propagation to simulated agents";

/// One row of the harness's markdown table: `| measure | median | p99 / max | goal |`.
fn cells(line: &str) -> Option<Vec<String>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    Some(inner.split('|').map(|c| c.trim().to_string()).collect())
}

/// The harness's figures for `agents` agents and `rounds` new-peer rounds.
fn harness(agents: usize, rounds: usize) -> anyhow::Result<Vec<Vec<String>>> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "bench",
            "--quiet",
            "-p",
            "raftwire-node",
            "--bench",
            "hub_fanout",
        ])
        .current_dir(&workspace)
        .env("AGENTS", agents.to_string())
        .env("ROUNDS", rounds.to_string())
        .output()
        .context("run cargo bench -p raftwire-node --bench hub_fanout")?;
    if !out.status.success() {
        bail!(
            "the hub harness failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter_map(cells)
        .filter(|c| c.len() == 4 && c[0] != "measure" && !c[0].starts_with("---"))
        .collect();
    if rows.is_empty() {
        bail!("the hub harness printed no figures:\n{text}");
    }
    Ok(rows)
}

pub async fn run(p: Params) -> anyhow::Result<Section> {
    let mut s = Section::new(
        "W2",
        TITLE,
        &["agents", "measure", "median", "p99 / max", "goal"],
    );
    s.params.push(format!(
        "`node/benches/hub_fanout.rs`: 1 node (in the harness's process, the shipped allocator), a dual-stack network with 3 jumps; agents accept deltas; {} new-regular-peer rounds after 5 unmeasured ones, 5 endpoint rounds",
        p.w2_rounds
    ));
    for &agents in &p.w2_agents {
        let rounds = p.w2_rounds;
        let rows = tokio::task::spawn_blocking(move || harness(agents, rounds)).await??;
        for r in rows {
            let mut row = vec![agents.to_string()];
            row.extend(r);
            s.row(row);
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_row_splits_into_its_cells_and_other_lines_do_not() {
        assert_eq!(
            cells("| new regular peer → last jump holds it (30 rounds) | 20.9ms | 42.9ms | p99 < 50 ms |"),
            Some(vec![
                "new regular peer → last jump holds it (30 rounds)".to_string(),
                "20.9ms".into(),
                "42.9ms".into(),
                "p99 < 50 ms".into()
            ])
        );
        assert_eq!(cells("hub_fanout: 1 node, 3 jumps"), None);
    }
}

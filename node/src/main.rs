//! `raftwire-node`: runs one control-plane node. With no arguments: a single-node cluster
//! in `./data`, API on http://127.0.0.1:7070 (see the README).

use std::io::IsTerminal;

use clap::Parser;
use raftwire_node::{start, NodeArgs};
use tokio::signal::unix::{signal, SignalKind};

/// See the workspace's `Cargo.toml`: large configs render much faster with mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn,openraft::core::raft_core=error".into()),
        )
        // Colours only for a person at a terminal, never into a file or a journal.
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let cfg = NodeArgs::parse().resolve();
    let node = start(cfg.clone()).await?;
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    println!(
        "raftwire-node {} listening on {scheme}://{} (advertised as {})",
        cfg.id, node.local_addr, cfg.advertise
    );
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    println!("raftwire-node {}: shutting down", cfg.id);
    node.shutdown().await;
    Ok(())
}

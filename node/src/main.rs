//! `raftwire-node`: runs one control-plane node (SPEC §10). With no arguments: a
//! single-node cluster in `./data`, API on http://127.0.0.1:7070.

use clap::Parser;
use raftwire_node::{start, NodeArgs};
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .init();
    let cfg = NodeArgs::parse().resolve();
    let node = start(cfg.clone()).await?;
    println!(
        "raftwire-node {} listening on http://{} (advertised as {})",
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

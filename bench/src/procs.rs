//! Starting the processes a workload measures: where the binaries are, free loopback ports,
//! waiting for a condition with a deadline, and resident memory from `/proc`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The workspace binary `name` built next to this one (`target/<profile>/`). When it is
/// missing and the bench runs under cargo, it is built first with the same profile.
pub fn workspace_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("the bench's own path")?;
    let dir = exe.parent().context("the target directory")?;
    let path = dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    let cargo = std::env::var_os("CARGO").with_context(|| {
        format!(
            "{} is missing: cargo build --release -p {name}",
            path.display()
        )
    })?;
    let release = dir.file_name().is_some_and(|p| p == "release");
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "-p", name, "--bin", name]);
    if release {
        cmd.arg("--release");
    }
    eprintln!(
        "building {name} ({})",
        if release { "release" } else { "debug" }
    );
    let status = cmd.status().context("run cargo build")?;
    if !status.success() || !path.is_file() {
        bail!("could not build {name} ({status}); build it with cargo build --release -p {name}");
    }
    Ok(path)
}

/// A binary on `PATH` (the system's etcd, haproxy).
pub fn system_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `n` distinct loopback ports free right now (all bound at once, then released).
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Polls `check` every 20 ms until it gives a value, for at most `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Resident memory of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS line")?
        .parse()?;
    Ok(kib * 1024)
}

/// The total size of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

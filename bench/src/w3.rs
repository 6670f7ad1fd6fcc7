//! W3: failover. A steady write load runs while the leader is SIGKILLed; the longest time
//! without a successful write after the kill, once with the clients on one surviving node
//! and once through HAProxy (config generated here, health check `GET /readyz`). The killed
//! node is restarted between the two, so the second kill also leaves a 2-of-3 majority.

use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use raftwire_tests::procs::Proc;

use crate::load::{self, Until};
use crate::procs::{free_ports, system_binary, wait_for};
use crate::raftwire::{dual_stack_network, Cluster, PeerTarget};
use crate::report::Section;
use crate::stats::{ms, secs};
use crate::Params;

/// A failed write is retried after this pause (a client would back off too).
const RETRY_PAUSE: Duration = Duration::from_millis(10);

pub async fn run(p: Params) -> anyhow::Result<Section> {
    let mut cluster = Cluster::start(3).await?;
    let network = cluster.create_network(dual_stack_network("w3")).await?;
    let mut s = Section::new(
        "W3",
        "failover: the leader SIGKILLed under write load",
        &[
            "through",
            "longest write gap",
            "failed writes",
            "writes p50",
            "writes p99",
            "new leader",
        ],
    );
    s.params.push(format!(
        "{} clients creating peers for {:.0} s; the leader is SIGKILLed after {:.0} s; election timeout 0.6–1.2 s, heartbeat 150 ms, followers asking for an election once the lease ran out (as shipped)",
        p.w3_clients,
        p.w3_duration.as_secs_f64(),
        p.w3_kill_after.as_secs_f64()
    ));

    // Through one node: a follower that survives.
    let leader = cluster.leader().await?;
    let via = cluster.other_than(leader)?;
    let base = cluster.base(via)?;
    let (gap, failed, run) = under_kill(&mut cluster, &p, base, &network, "one").await?;
    let new_leader = cluster.leader().await?;
    let l = run.latencies();
    s.row(vec![
        format!("node {via} (a follower)"),
        secs(gap),
        failed.to_string(),
        ms(l.p50()),
        ms(l.p99()),
        format!("{leader} → {new_leader}"),
    ]);
    let restart = cluster.restart(leader).await?;
    s.notes.push(format!(
        "The killed node {leader} restarted and was ready again in {} before the HAProxy round.",
        secs(restart)
    ));

    match system_binary("haproxy") {
        Some(bin) => {
            let proxy = Haproxy::start(&bin, &cluster.ports()).await?;
            let leader = cluster.leader().await?;
            let (gap, failed, run) =
                under_kill(&mut cluster, &p, proxy.base(), &network, "proxy").await?;
            let new_leader = cluster.leader().await?;
            let l = run.latencies();
            s.row(vec![
                "HAProxy (round robin over ready nodes)".into(),
                secs(gap),
                failed.to_string(),
                ms(l.p50()),
                ms(l.p99()),
                format!("{leader} → {new_leader}"),
            ]);
            s.params.push(format!(
                "HAProxy {}: `option httpchk GET /readyz`, checks every {CHECK_INTERVAL}, down after 1 failure, `retries 3` with `option redispatch`",
                proxy.version
            ));
        }
        None => s.notes.push(
            "HAProxy is not installed (Debian package haproxy): its row was not measured.".into(),
        ),
    }
    Ok(s)
}

/// Runs the load against `base`, kills the leader into it; the longest gap after the kill,
/// the failed writes, and the run.
async fn under_kill(
    cluster: &mut Cluster,
    p: &Params,
    base: String,
    network: &str,
    tag: &str,
) -> anyhow::Result<(Duration, usize, load::Run)> {
    let leader = cluster.leader().await?;
    let target = PeerTarget {
        base,
        token: cluster.token.clone(),
        network: network.to_string(),
        prefix: format!("w3{tag}"),
    };
    let load = tokio::spawn(load::run(
        p.w3_clients,
        Until::Elapsed(p.w3_duration),
        move |http, n| {
            let t = target.clone();
            async move {
                let r = t.create(&http, n).await;
                if r.is_err() {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                r
            }
        },
    ));
    tokio::time::sleep(p.w3_kill_after).await;
    let killed_at: SystemTime = cluster.kill(leader)?;
    let run = load.await??;
    let gap = load::longest_gap(&run, killed_at);
    Ok((gap, run.errors(), run))
}

const CHECK_INTERVAL: &str = "200ms";

/// An HAProxy process in front of the nodes, its config in a temporary directory.
struct Haproxy {
    _proc: Proc,
    port: u16,
    version: String,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    async fn start(bin: &std::path::Path, nodes: &[u16]) -> anyhow::Result<Haproxy> {
        let dir = tempfile::Builder::new()
            .prefix("rwbench-haproxy")
            .tempdir()?;
        let port = free_ports(1)?[0];
        let mut cfg = format!(
            "global\n  maxconn 4096\n\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  retries 3\n  option redispatch\n\nfrontend api\n  bind 127.0.0.1:{port}\n  default_backend nodes\n\nbackend nodes\n  balance roundrobin\n  option httpchk GET /readyz\n  default-server inter {CHECK_INTERVAL} fall 1 rise 1\n"
        );
        for (i, p) in nodes.iter().enumerate() {
            cfg.push_str(&format!("  server n{} 127.0.0.1:{p} check\n", i + 1));
        }
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, cfg)?;
        let mut cmd = Command::new(bin);
        cmd.arg("-db").arg("-f").arg(&path);
        let version = Command::new(bin)
            .arg("-v")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .nth(2)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let proc = Proc::spawn("haproxy", cmd, dir.path().join("haproxy.log"));
        let url = format!("http://127.0.0.1:{port}/readyz");
        let http = load::http_client()?;
        let http = &http;
        wait_for(
            Duration::from_secs(20),
            "HAProxy to forward to a ready node",
            || {
                let url = url.clone();
                async move {
                    let r = http.get(url).send().await.ok()?;
                    r.status().is_success().then_some(())
                }
            },
        )
        .await
        .with_context(|| proc.output())?;
        Ok(Haproxy {
            _proc: proc,
            port,
            version,
            _dir: dir,
        })
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

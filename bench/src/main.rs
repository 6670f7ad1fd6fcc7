//! `raftwire-bench`: one command that measures Raftwire side by side with etcd in the same
//! run and prints one table — the machine, the parameters, and per workload its figures
//! (every latency as median and tail percentiles):
//!
//! - W1 peer creations through a 3-node cluster of real node processes against etcd puts
//!   with the same HTTP clients (1, 16, 64 concurrent), and their ratios;
//! - W3 failover: the longest write gap when the leader is SIGKILLed under load, through
//!   one node and through HAProxy;
//! - W4 a large state: apply throughput, snapshot size and build time, restart time,
//!   resident memory per peer, writes while a snapshot is built, write rate full vs empty;
//! - W5 agent convergence on a real host (WireGuard, a 5,000-rule firewall, DNS), in a
//!   network namespace of its own (root only).
//!
//! Each workload is one entry of [`WORKLOADS`] producing one [`report::Section`]. `--quick` uses
//! smaller sizes and shorter runs (under 5 minutes in all). The report is also written to
//! `bench/results/<date>.md` (see `bench/README.md`).

mod etcd;
mod load;
mod procs;
mod raftwire;
mod report;
mod stats;
mod w1;
mod w2;
mod w3;
mod w4;
mod w5;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use clap::Parser;
use report::Section;

#[derive(Debug, Parser)]
#[command(
    name = "raftwire-bench",
    about = "Raftwire side by side with etcd, in one run"
)]
struct Args {
    /// Smaller sizes and shorter runs (CI).
    #[arg(long)]
    quick: bool,
    /// Run only these workloads (W1, W2, W3, W4, W5); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where the report goes; default `bench/results/<date>.md` (`<date>-quick.md` with --quick).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Internal: run W5's measurement here (the bench re-runs itself inside a namespace).
    #[arg(long, hide = true)]
    w5_inside: Option<String>,
}

/// Sizes and durations of a run.
#[derive(Debug, Clone)]
pub struct Params {
    pub quick: bool,
    /// How long each W1 load runs, per side and client count.
    pub w1_duration: Duration,
    pub w1_clients: Vec<usize>,
    /// W2: simulated agents per case, and the new-peer rounds of each.
    pub w2_agents: Vec<usize>,
    pub w2_rounds: usize,
    /// W3: the load's length, and when the leader is killed into it.
    pub w3_duration: Duration,
    pub w3_kill_after: Duration,
    pub w3_clients: usize,
    /// W4: peers in the large network.
    pub w4_peers: usize,
    pub w4_duration: Duration,
    /// W5: regular peers of the jump's network, and the firewall rules wanted.
    pub w5_peers: usize,
    pub w5_rules: usize,
    pub w5_rounds: usize,
}

impl Params {
    fn new(quick: bool) -> Params {
        if quick {
            Params {
                quick,
                w1_duration: Duration::from_secs(4),
                w1_clients: vec![1, 16, 64],
                w2_agents: vec![1_000],
                w2_rounds: 20,
                w3_duration: Duration::from_secs(7),
                w3_kill_after: Duration::from_secs(2),
                w3_clients: 8,
                w4_peers: 12_000,
                w4_duration: Duration::from_secs(4),
                w5_peers: 500,
                w5_rules: 5_000,
                w5_rounds: 1,
            }
        } else {
            Params {
                quick,
                w1_duration: Duration::from_secs(15),
                w1_clients: vec![1, 16, 64],
                w2_agents: vec![1_000, 10_000],
                w2_rounds: 100,
                w3_duration: Duration::from_secs(10),
                w3_kill_after: Duration::from_secs(3),
                w3_clients: 8,
                w4_peers: 100_000,
                w4_duration: Duration::from_secs(10),
                w5_peers: 1_000,
                w5_rules: 5_000,
                w5_rounds: 3,
            }
        }
    }

    fn describe(&self) -> Vec<String> {
        vec![
            format!("mode: {}", if self.quick { "--quick" } else { "full" }),
            "Raftwire: 3 `raftwire-node` processes on loopback, RocksDB on disk, fsync on, shipped Raft timing (snapshot every 10,000 entries)".into(),
            "etcd: 3 members of the system's etcd on loopback, defaults (fsync on)".into(),
            "clients: closed loop, one keep-alive HTTP/1.1 connection each (reqwest), the same driver for both systems".into(),
        ]
    }
}

type RunFn = fn(Params) -> Pin<Box<dyn Future<Output = anyhow::Result<Section>>>>;

/// One workload: its id, its heading and how to run it.
struct Workload {
    id: &'static str,
    title: &'static str,
    run: RunFn,
}

/// Every workload of a run, in order.
const WORKLOADS: &[Workload] = &[
    Workload {
        id: "W1",
        title: "writes: peer creations vs etcd puts",
        run: |p| Box::pin(w1::run(p)),
    },
    Workload {
        id: "W2",
        title: "propagation to simulated agents",
        run: |p| Box::pin(w2::run(p)),
    },
    Workload {
        id: "W3",
        title: "failover: the leader SIGKILLed under write load",
        run: |p| Box::pin(w3::run(p)),
    },
    Workload {
        id: "W4",
        title: "a large state: an IPv6 /64 network with many peers",
        run: |p| Box::pin(w4::run(p)),
    },
    Workload {
        id: "W5",
        title: "agent convergence on a real host",
        run: |p| Box::pin(w5::run(p)),
    },
];

fn today() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..10].to_string()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(spec) = args.w5_inside {
        return w5::inside(&spec);
    }
    // reqwest is built without a crypto provider of its own (plain HTTP here, but its
    // client wants one): ring, as everywhere in the workspace. Already installed is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let params = Params::new(args.quick);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let machine = report::machine();
    let started = Instant::now();
    let mut sections = Vec::new();
    let mut failed = false;
    for w in WORKLOADS {
        if !args.only.is_empty() && !args.only.iter().any(|o| o.eq_ignore_ascii_case(w.id)) {
            continue;
        }
        eprintln!("== {} {} …", w.id, w.title);
        let t = Instant::now();
        let section = match runtime.block_on((w.run)(params.clone())) {
            Ok(s) => s,
            Err(e) => {
                failed = true;
                Section::failed(w.id, w.title, format!("FAILED: {e:#}"))
            }
        };
        eprintln!("== {} done in {:.1} s", w.id, t.elapsed().as_secs_f64());
        eprintln!("{}", section.markdown());
        sections.push(section);
    }
    let mut run_params = params.describe();
    if let Some(node) = std::env::var_os(raftwire::NODE_ENV) {
        run_params.push(format!("node binary: {}", node.to_string_lossy()));
    }
    run_params.push(format!(
        "run time: {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    let date = today();
    let text = report::render(
        &format!("raftwire-bench {date}"),
        &machine,
        &run_params,
        &sections,
    );
    println!("{text}");
    let out = args.out.unwrap_or_else(|| {
        let name = if params.quick {
            format!("{date}-quick.md")
        } else {
            format!("{date}.md")
        };
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("results")
            .join(name)
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &text)?;
    eprintln!("report written to {}", out.display());
    if failed {
        anyhow::bail!("a workload failed (see its section)");
    }
    Ok(())
}

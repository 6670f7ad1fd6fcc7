//! `raftwire-jepsen`: runs a cluster of real nodes in network namespaces, clients and faults
//! against it, and checks the history (see `jepsen/README.md`).
//!
//! The harness re-executes itself inside a network namespace of its own (which holds the
//! bridge the nodes hang off), so nothing of the host's own network is touched; the parent
//! only waits for it and removes the namespace, and whatever still runs in it, afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use raftwire_jepsen::checker::{ipam, linear, set, Anomaly};
use raftwire_jepsen::cluster::Cluster;
use raftwire_jepsen::history::{Op, Outcome, Recorder};
use raftwire_jepsen::nemesis::{self, Fault};
use raftwire_jepsen::workload::{self, Api, Client, Fixture, Reply};
use serde_json::{json, Value};
use tokio::sync::Mutex;

const INSIDE: &str = "RAFTWIRE_JEPSEN_NETNS";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "raftwire-jepsen",
    about = "Fault injection against a real Raftwire cluster"
)]
struct Args {
    /// Cluster size.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Seconds of clients and faults (recovery and final reads come after).
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// `all` (a random mix), `none`, or a comma-separated list taken in turn.
    #[arg(long, default_value = "all")]
    nemesis: String,
    /// `all`, or a comma-separated list of ipam, register, set.
    #[arg(long, default_value = "all")]
    workload: String,
    /// Where history.jsonl, results.json and the node logs go.
    #[arg(long, default_value = "jepsen-out")]
    out: PathBuf,
    /// The node binary; default: raftwire-node next to this binary.
    #[arg(long)]
    node_bin: Option<PathBuf>,
    /// Concurrent clients per workload.
    #[arg(long, default_value_t = 3)]
    clients: u64,
    /// Seconds each fault lasts.
    #[arg(long, default_value_t = 8)]
    hold: u64,
    /// Seconds of calm between faults.
    #[arg(long, default_value_t = 4)]
    quiet: u64,
    /// Fewest acknowledged operations per workload for the run to mean anything.
    #[arg(long, default_value_t = 20)]
    min_ok: usize,
    /// Random seed (default: from the clock); printed so a run can be repeated.
    #[arg(long)]
    seed: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match std::env::var(INSIDE) {
        Ok(ns) => match inside(&ns, args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("raftwire-jepsen: {e:#}");
                ExitCode::from(2)
            }
        },
        Err(_) => outside(),
    }
}

/// In the host's namespace: make a namespace, run again inside it, remove it.
fn outside() -> ExitCode {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        eprintln!("raftwire-jepsen needs root (network namespaces, iptables)");
        return ExitCode::from(2);
    }
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("raftwire-jepsen: cannot find its own executable");
        return ExitCode::from(2);
    };
    let ctl = raftwire_tests::netns::Netns::new("j");
    let status = std::process::Command::new("ip")
        .args(["netns", "exec", &ctl.name])
        .arg(&exe)
        .args(std::env::args_os().skip(1))
        .env(INSIDE, &ctl.name)
        .status();
    match status {
        Ok(s) => ExitCode::from(s.code().unwrap_or(2).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("raftwire-jepsen: running inside {}: {e}", ctl.name);
            ExitCode::from(2)
        }
    }
}

fn inside(ns: &str, args: Args) -> anyhow::Result<ExitCode> {
    // Never change a namespace other than the one made for this run.
    let here = current_netns()?;
    anyhow::ensure!(
        here == ns,
        "{INSIDE}={ns}, but this process runs in {here:?}"
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    fastrand::seed(seed);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(args, seed))
}

fn current_netns() -> anyhow::Result<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "identify", &std::process::id().to_string()])
        .output()
        .context("ip netns identify")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn list(arg: &str, all: &[&str]) -> anyhow::Result<Vec<String>> {
    if arg == "all" {
        return Ok(all.iter().map(|s| s.to_string()).collect());
    }
    if arg == "none" {
        return Ok(Vec::new());
    }
    let items: Vec<String> = arg.split(',').map(|s| s.trim().to_string()).collect();
    for i in &items {
        anyhow::ensure!(
            all.contains(&i.as_str()),
            "unknown {i:?}: one of {}",
            all.join(", ")
        );
    }
    Ok(items)
}

async fn run(args: Args, seed: u64) -> anyhow::Result<ExitCode> {
    let nemeses = list(&args.nemesis, &nemesis::ALL)?;
    let workloads = list(&args.workload, &workload::WORKLOADS)?;
    anyhow::ensure!(args.nodes >= 3, "--nodes must be at least 3");
    let bin = match &args.node_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("raftwire-node"))
            .context("the binary's directory")?,
    };
    anyhow::ensure!(
        bin.is_file(),
        "{} is missing: cargo build -p raftwire-node",
        bin.display()
    );
    std::fs::create_dir_all(&args.out)?;
    let out = std::fs::canonicalize(&args.out)?;
    let data = out.join("cluster");
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    std::fs::create_dir_all(&data)?;
    let token = format!("jepsen-{seed:x}-admin-token");
    let rec = Recorder::new(Some(&out.join("history.jsonl")))?;
    let api = Api::new(&token)?;
    println!(
        "raftwire-jepsen: {} nodes, {} s, nemesis {}, workloads {}, seed {seed}",
        args.nodes,
        args.time_limit,
        args.nemesis,
        workloads.join(",")
    );
    let cluster = Arc::new(Mutex::new(Cluster::start(args.nodes, &data, &bin, &token)?));
    let ids = cluster.lock().await.ids();
    nemesis::recover(&cluster, &api, Duration::from_secs(90)).await?;
    let fixture = Fixture::create(&api, &ids).await?;

    let until = rec.now() + args.time_limit * 1_000_000_000;
    let mut clients = Vec::new();
    let mut n = 0;
    for w in &workloads {
        let w: &'static str = workload::WORKLOADS
            .iter()
            .find(|x| *x == w)
            .copied()
            .unwrap_or("ipam");
        for _ in 0..args.clients {
            n += 1;
            let mut c = Client::new(n, w, api.clone(), rec.clone(), fixture.clone(), ids.clone());
            clients.push(tokio::spawn(async move {
                c.run(until).await;
                c
            }));
        }
    }
    let schedule = nemesis::Schedule {
        kinds: nemeses,
        random: args.nemesis == "all",
        until,
        hold: Duration::from_secs(args.hold),
        quiet: Duration::from_secs(args.quiet),
    };
    let faults = nemesis::run(schedule, &cluster, &api, &rec).await;
    let mut done = Vec::new();
    for c in clients {
        done.push(c.await?);
    }
    let recovered = nemesis::recover(&cluster, &api, Duration::from_secs(120)).await;
    for c in &mut done {
        c.settle(Duration::from_secs(30)).await;
    }
    let mut anomalies = Vec::new();
    let mut notes = Vec::new();
    match recovered {
        Ok(_) => {}
        Err(e) => anomalies.push(Anomaly::new("no-recovery", format!("{e:#}"), vec![])),
    }
    let applied = nemesis::recover(&cluster, &api, Duration::from_secs(60)).await;
    let finals = final_reads(&api, &ids, &fixture, &rec).await;
    let ops = rec.ops();
    match finals {
        Ok((peers, elements)) => {
            if workloads.iter().any(|w| w == "ipam") {
                let setup = ipam::Setup {
                    preexisting: &["jump".to_string()],
                    capacity: workload::CAPACITY,
                };
                anomalies.extend(ipam::check(&ops, &peers, &setup));
            }
            if workloads.iter().any(|w| w == "set") {
                anomalies.extend(set::check(&ops, &elements));
            }
            if applied.is_ok() {
                anomalies.extend(convergence(&api, &ids, &fixture, &peers).await);
            }
        }
        Err(e) => anomalies.push(Anomaly::new("no-final-read", format!("{e:#}"), vec![])),
    }
    if workloads.iter().any(|w| w == "register") {
        match linear::check(&ops, workload::REGISTER_INITIAL, 5_000_000) {
            linear::Verdict::Linearizable => {}
            linear::Verdict::Not(a) => anomalies.push(a),
            linear::Verdict::GaveUp(states) => anomalies.push(Anomaly::new(
                "linearizability-unchecked",
                format!("the search gave up after {states} states"),
                vec![],
            )),
        }
        anomalies.extend(linear::local_reads(&ops, workload::REGISTER_INITIAL));
    }
    // Too few acknowledged operations mean the run tested nothing.
    for w in &workloads {
        let ok = ops
            .iter()
            .filter(|o| &o.workload == w && o.outcome == Outcome::Ok)
            .count();
        if ok < args.min_ok {
            notes.push(format!(
                "workload {w}: only {ok} acknowledged operations (< {})",
                args.min_ok
            ));
        }
    }
    rec.flush();
    write_results(&out, &ops, &faults, &anomalies, &notes, seed)?;
    summary(&ops, &faults, &anomalies, &notes, &out);
    drop(cluster);
    // The data dirs are large and of no use afterwards; the logs stay.
    let _ = remove_data(&data);
    Ok(if anomalies.is_empty() && notes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn remove_data(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        if e.path().is_dir() {
            std::fs::remove_dir_all(e.path())?;
        }
    }
    Ok(())
}

/// The final linearizable reads: the network's peers (recorded as an ipam read), the
/// register (recorded as a read), the set's elements.
async fn final_reads(
    api: &Api,
    ids: &[u64],
    f: &Fixture,
    rec: &Recorder,
) -> anyhow::Result<(Vec<ipam::PeerRow>, Vec<String>)> {
    let limit = Duration::from_secs(30);
    let get = reqwest::Method::GET;
    let peers = api
        .until_ok(
            ids,
            get.clone(),
            &format!("/networks/{}/peers", f.network),
            None,
            None,
            limit,
        )
        .await?;
    let rows: Vec<ipam::PeerRow> = peers["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| ipam::PeerRow {
            name: p["name"].as_str().unwrap_or_default().into(),
            id: p["id"].as_str().unwrap_or_default().into(),
            v4: p["ipv4_address"].as_str().map(Into::into),
            v6: p["ipv6_address"].as_str().map(Into::into),
        })
        .collect();
    let p = rec.invoke("register", 0, ids[0], "read", Value::Null);
    let path = format!("/networks/{}/policies/{}", f.network, f.register);
    match api.get(ids[0], &path).await {
        Reply::Answer(200, v) => {
            rec.complete(
                p,
                Outcome::Ok,
                Some(json!({"value": v["description"]})),
                None,
            );
        }
        other => {
            rec.complete(p, Outcome::Fail, None, other.write_outcome().1);
        }
    }
    let set = api
        .until_ok(
            ids,
            get,
            &format!("/networks/{}/policies/{}", f.network, f.set),
            None,
            None,
            limit,
        )
        .await?;
    let elements = set["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["description"].as_str().map(str::to_string))
        .collect();
    Ok((rows, elements))
}

/// After healing, every node renders the same bytes (read locally on each) for every
/// peer's WireGuard config and firewall rule sets, the network's DNS records and its peers.
async fn convergence(api: &Api, ids: &[u64], f: &Fixture, peers: &[ipam::PeerRow]) -> Vec<Anomaly> {
    let net = &f.network;
    let mut paths = vec![
        format!("/networks/{net}/dns?consistency=local"),
        format!("/networks/{net}/peers?consistency=local"),
        format!("/networks/{net}/policies?consistency=local"),
    ];
    for p in peers {
        paths.push(format!(
            "/networks/{net}/peers/{}/config?consistency=local",
            p.id
        ));
    }
    paths.push(format!(
        "/networks/{net}/peers/{}/firewall?consistency=local",
        f.jump
    ));
    let mut found = Vec::new();
    for path in paths {
        let mut renders: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for id in ids {
            let text = match api.get(*id, &path).await {
                Reply::Answer(s, v) => format!("{s} {v}"),
                Reply::NotSent(e) | Reply::Lost(e) => format!("no answer: {e}"),
            };
            renders.entry(text).or_default().push(*id);
        }
        if renders.len() > 1 {
            let groups: Vec<String> = renders.values().map(|n| format!("{n:?}")).collect();
            found.push(Anomaly::new(
                "divergent-render",
                format!("{path}: nodes answer differently: {}", groups.join(" vs ")),
                vec![],
            ));
        }
    }
    found
}

fn counts(ops: &[Op]) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut m: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for o in ops {
        let outcome = match o.outcome {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Unknown => "unknown",
        };
        *m.entry(format!("{} {}", o.workload, o.f))
            .or_default()
            .entry(outcome.into())
            .or_default() += 1;
    }
    m
}

fn write_results(
    out: &Path,
    ops: &[Op],
    faults: &[Fault],
    anomalies: &[Anomaly],
    notes: &[String],
    seed: u64,
) -> anyhow::Result<()> {
    let by_outcome: BTreeMap<&str, usize> = [Outcome::Ok, Outcome::Fail, Outcome::Unknown]
        .iter()
        .map(|k| {
            let name = match k {
                Outcome::Ok => "ok",
                Outcome::Fail => "fail",
                Outcome::Unknown => "unknown",
            };
            (name, ops.iter().filter(|o| o.outcome == *k).count())
        })
        .collect();
    let involved: BTreeSet<u64> = anomalies
        .iter()
        .flat_map(|a| a.ops.iter().copied())
        .collect();
    let results = json!({
        "valid": anomalies.is_empty() && notes.is_empty(),
        "seed": seed,
        "ops": {"total": ops.len(), "by_outcome": by_outcome, "by_operation": counts(ops)},
        "faults": faults,
        "anomalies": anomalies,
        "anomalous_ops": ops.iter().filter(|o| involved.contains(&o.id)).collect::<Vec<_>>(),
        "too_few_ok": notes,
    });
    std::fs::write(
        out.join("results.json"),
        serde_json::to_vec_pretty(&results)?,
    )?;
    Ok(())
}

fn summary(ops: &[Op], faults: &[Fault], anomalies: &[Anomaly], notes: &[String], out: &Path) {
    println!("\n== raftwire-jepsen results ({})", out.display());
    println!("operations: {}", ops.len());
    for (op, by) in counts(ops) {
        let parts: Vec<String> = by.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("  {op:<22} {}", parts.join(", "));
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for f in faults.iter().filter(|f| f.injected) {
        *kinds.entry(&f.kind).or_default() += 1;
    }
    let parts: Vec<String> = kinds.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "faults: {} ({})",
        faults.iter().filter(|f| f.injected).count(),
        parts.join(", ")
    );
    for f in faults.iter().filter(|f| !f.injected) {
        println!("  not injected: {} ({})", f.kind, f.detail);
    }
    if anomalies.is_empty() && notes.is_empty() {
        println!("anomalies: none — valid");
        return;
    }
    println!("anomalies: {}", anomalies.len());
    for a in anomalies.iter().take(15) {
        println!("  {}: {} (ops {:?})", a.kind, a.detail, a.ops);
    }
    for n in notes {
        println!("  too few: {n}");
    }
    println!("INVALID: see results.json and history.jsonl");
}

//! A closed-loop load generator: `clients` tasks, each with its own keep-alive HTTP
//! connection, sending one request after the other for a fixed time. The same driver runs
//! against Raftwire and etcd, so their figures compare.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::stats::Latencies;

/// One request's outcome: when it was sent and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub sent: SystemTime,
    pub took: Duration,
    pub ok: bool,
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct Run {
    pub elapsed: Duration,
    pub samples: Vec<Sample>,
    /// The first failure seen, if any.
    pub first_error: Option<String>,
}

impl Run {
    pub fn ok(&self) -> usize {
        self.samples.iter().filter(|s| s.ok).count()
    }

    pub fn errors(&self) -> usize {
        self.samples.len() - self.ok()
    }

    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latencies of the successful requests.
    pub fn latencies(&self) -> Latencies {
        Latencies::new(
            self.samples
                .iter()
                .filter(|s| s.ok)
                .map(|s| s.took)
                .collect(),
        )
    }
}

/// The environment variable naming a directory to write every run's raw samples to (one
/// CSV per run: sent, in ms since the Unix epoch; took, in ms; ok), to look at a tail in
/// time (which requests were slow, and when).
pub const SAMPLES_ENV: &str = "RAFTWIRE_BENCH_SAMPLES";

/// The directory [`SAMPLES_ENV`] names, created, if it is set.
fn samples_dir() -> anyhow::Result<Option<std::path::PathBuf>> {
    let Some(dir) = std::env::var_os(SAMPLES_ENV) else {
        return Ok(None);
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    Ok(Some(dir))
}

/// Writes `text` as `name` into the directory [`SAMPLES_ENV`] names, if set (the nodes' logs
/// beside the samples, to match a slow request with what the nodes did then).
pub fn save_beside_samples(name: &str, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = samples_dir()? {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// Writes `run`'s samples as `<name>.csv` into the directory [`SAMPLES_ENV`] names, if set.
pub fn save_samples(run: &Run, name: &str) -> anyhow::Result<()> {
    let Some(dir) = samples_dir()? else {
        return Ok(());
    };
    let mut csv = String::from("sent_ms,took_ms,ok\n");
    for s in &run.samples {
        let sent = s
            .sent
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        csv.push_str(&format!(
            "{:.3},{:.3},{}\n",
            sent.as_secs_f64() * 1e3,
            s.took.as_secs_f64() * 1e3,
            s.ok
        ));
    }
    std::fs::write(dir.join(format!("{name}.csv")), csv)?;
    Ok(())
}

/// When a load run stops.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this long (requests in flight finish).
    Elapsed(Duration),
    /// After this many requests in total.
    Requests(usize),
}

/// A new HTTP client holding its connection open between requests.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(15))
        .build()?)
}

/// Runs `request(client, n)` from `clients` concurrent clients until `until`; `n` numbers
/// the requests of the whole run (unique names), `client` is the task's own HTTP client.
pub async fn run<F, Fut>(clients: usize, until: Until, request: F) -> anyhow::Result<Run>
where
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let http = http_client()?;
        let request = request.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut first_error = None;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let more = match until {
                    Until::Elapsed(d) => start.elapsed() < d,
                    Until::Requests(total) => n < total,
                };
                if !more {
                    break;
                }
                let sent = SystemTime::now();
                let t = Instant::now();
                let outcome = request(http.clone(), n).await;
                let took = t.elapsed();
                if let Err(e) = &outcome {
                    first_error.get_or_insert_with(|| e.clone());
                }
                samples.push(Sample {
                    sent,
                    took,
                    ok: outcome.is_ok(),
                });
            }
            (samples, first_error)
        }));
    }
    let mut samples = Vec::new();
    let mut first_error = None;
    for t in tasks {
        let (s, e) = t.await?;
        samples.extend(s);
        if first_error.is_none() {
            first_error = e;
        }
    }
    Ok(Run {
        elapsed: start.elapsed(),
        samples,
        first_error,
    })
}

/// The longest time without a successful answer between `from` and the end of the run:
/// gaps between consecutive successful completions, and from `from` to the first one.
pub fn longest_gap(run: &Run, from: SystemTime) -> Duration {
    let mut done: Vec<SystemTime> = run
        .samples
        .iter()
        .filter(|s| s.ok)
        .map(|s| s.sent + s.took)
        .filter(|t| *t >= from)
        .collect();
    done.sort_unstable();
    let mut longest = Duration::ZERO;
    let mut last = from;
    for t in done {
        longest = longest.max(t.duration_since(last).unwrap_or_default());
        last = t;
    }
    longest
}

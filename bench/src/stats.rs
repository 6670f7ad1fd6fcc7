//! Latency samples and their percentiles (nearest rank on the sorted samples).

use std::time::Duration;

/// Sorted latency samples of one measurement.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Latencies {
        samples.sort_unstable();
        Latencies(samples)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`-quantile (0 ≤ p ≤ 1); zero without samples.
    pub fn quantile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.0.len() as f64) * p).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    pub fn p50(&self) -> Duration {
        self.quantile(0.50)
    }

    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    pub fn p999(&self) -> Duration {
        self.quantile(0.999)
    }

    pub fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Seconds with two decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `a / b` with two decimals, or "–" when `b` is zero.
pub fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "–".into()
    }
}

/// A byte count in KiB or MiB.
pub fn bytes(n: u64) -> String {
    if n >= 10 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_of_the_sorted_samples() {
        let l = Latencies::new((1..=1000).rev().map(Duration::from_millis).collect());
        assert_eq!(l.p50(), Duration::from_millis(500));
        assert_eq!(l.p99(), Duration::from_millis(990));
        assert_eq!(l.p999(), Duration::from_millis(999));
        assert_eq!(l.max(), Duration::from_millis(1000));
        assert_eq!(Latencies::default().p99(), Duration::ZERO);
    }
}

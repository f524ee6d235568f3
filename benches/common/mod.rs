//! Timing helpers shared by the benchmarks.

#![allow(dead_code, reason = "each benchmark uses a different subset")]

use std::time::{Duration, Instant};

/// A duration in the unit that reads best.
pub fn show(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1e-3 {
        format!("{:.1} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{secs:.2} s")
    }
}

/// The median of `samples` (which must not be empty).
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The `q` quantile (0 to 1) of `samples` (which must not be empty).
pub fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    let at = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[at.min(samples.len() - 1)]
}

/// Times `n` runs of an async closure.
pub async fn sample<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f().await;
        out.push(started.elapsed());
    }
    out
}

/// Times `n` runs of a blocking closure.
pub fn sample_blocking(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect()
}

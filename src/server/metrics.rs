//! Prometheus text-format metrics: runs, errors by kind, limit hits, run latency,
//! live and expired sessions.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::budget::MemoryBudget;
use crate::model::RunResult;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 5.0, 30.0];

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    runs: AtomicU64,
    /// `exception` (the code raised), `limit` (a limit stopped it), `internal` (codemode failed).
    errors: Mutex<BTreeMap<&'static str, u64>>,
    limits: Mutex<BTreeMap<String, u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_sum_us: AtomicU64,
    sessions_created: AtomicU64,
    sessions_expired: AtomicU64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default() += 1;
}

impl Metrics {
    /// Counts one run and its outcome (`None`: codemode itself failed).
    pub(crate) fn record_run(&self, outcome: Option<&RunResult>, took: Duration) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_sum_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        match outcome {
            None => bump(&self.errors, "internal"),
            Some(result) => {
                if result.interrupted {
                    bump(&self.errors, "interrupted");
                } else if let Some(limit) = &result.limit {
                    bump(&self.errors, "limit");
                    bump(&self.limits, format!("{limit:?}").to_lowercase());
                } else if result.error.is_some() {
                    bump(&self.errors, "exception");
                }
            }
        }
    }

    pub(crate) fn session_created(&self) {
        self.sessions_created.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn session_expired(&self) {
        self.sessions_expired.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text, with the current number of live sessions and the memory
    /// they reserve.
    pub(crate) fn render(&self, live_sessions: usize, budget: &MemoryBudget) -> String {
        let mut out = String::new();
        let runs = self.runs.load(Ordering::Relaxed);
        let _ =
            writeln!(out, "# HELP codemode_runs_total Code runs, finished or not.\n# TYPE codemode_runs_total counter");
        let _ = writeln!(out, "codemode_runs_total {runs}");
        let _ = writeln!(out, "# HELP codemode_run_errors_total Runs that ended in an error, by kind.");
        let _ = writeln!(out, "# TYPE codemode_run_errors_total counter");
        let errors = self.errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for kind in ["exception", "limit", "interrupted", "internal"] {
            let _ = writeln!(out, "codemode_run_errors_total{{kind=\"{kind}\"}} {}", errors.get(kind).unwrap_or(&0));
        }
        let _ = writeln!(out, "# HELP codemode_limit_hits_total Runs stopped by a limit, by limit.");
        let _ = writeln!(out, "# TYPE codemode_limit_hits_total counter");
        for (limit, n) in self.limits.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "codemode_limit_hits_total{{limit=\"{limit}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP codemode_run_duration_seconds Wall time of runs, as served.");
        let _ = writeln!(out, "# TYPE codemode_run_duration_seconds histogram");
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "codemode_run_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "codemode_run_duration_seconds_bucket{{le=\"+Inf\"}} {runs}");
        let sum = self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "codemode_run_duration_seconds_sum {sum}\ncodemode_run_duration_seconds_count {runs}");
        let _ = writeln!(out, "# HELP codemode_sessions_live Sessions open now.\n# TYPE codemode_sessions_live gauge");
        let _ = writeln!(out, "codemode_sessions_live {live_sessions}");
        let _ = writeln!(out, "# HELP codemode_sessions_created_total Sessions created.");
        let _ = writeln!(out, "# TYPE codemode_sessions_created_total counter");
        let _ = writeln!(out, "codemode_sessions_created_total {}", self.sessions_created.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP codemode_sessions_expired_total Sessions closed after their idle TTL.");
        let _ = writeln!(out, "# TYPE codemode_sessions_expired_total counter");
        let _ = writeln!(out, "codemode_sessions_expired_total {}", self.sessions_expired.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP codemode_memory_reserved_bytes Memory caps of the live sessions, summed.");
        let _ = writeln!(out, "# TYPE codemode_memory_reserved_bytes gauge");
        let _ = writeln!(out, "codemode_memory_reserved_bytes {}", budget.reserved());
        let _ = writeln!(out, "# HELP codemode_memory_budget_bytes Most the live sessions' memory caps may sum to.");
        let _ = writeln!(out, "# TYPE codemode_memory_budget_bytes gauge");
        let _ = writeln!(out, "codemode_memory_budget_bytes {}", budget.total());
        out
    }
}

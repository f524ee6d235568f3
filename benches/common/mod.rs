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

/// The path of the `python3` interpreter on `PATH`, resolved through any wrapper.
pub fn python3() -> String {
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Times `code` `n` times inside one native python3 process, after `setup`.
pub fn native_times(python: &str, setup: &str, code: &str, n: usize) -> Vec<Duration> {
    let script = "import sys, time, json\nsetup, code, n = json.loads(sys.stdin.read())\ng = {}\nexec(setup, g)\n\
        c = compile(code, '<bench>', 'exec')\nout = []\nfor _ in range(n):\n    t = time.perf_counter()\n    exec(c, g)\n    \
        out.append(time.perf_counter() - t)\nprint(json.dumps(out))\n";
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let input = serde_json::to_vec(&(setup, code, n)).expect("json");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &input).expect("write");
    let output = child.wait_with_output().expect("python3 finishes");
    let secs: Vec<f64> = serde_json::from_slice(&output.stdout).expect("timings");
    secs.into_iter().map(Duration::from_secs_f64).collect()
}

/// Private (anonymous) resident memory of this process, in bytes.
pub fn private_memory() -> u64 {
    memory_of("/proc/self/status")
}

/// [`private_memory`] of process `pid`.
pub fn private_memory_of(pid: u32) -> u64 {
    memory_of(&format!("/proc/{pid}/status"))
}

fn memory_of(status: &str) -> u64 {
    let status = std::fs::read_to_string(status).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// One durable 1 KiB write: create, write, fsync (the baseline of the write rows).
pub fn plain_durable_write(path: &std::path::Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).expect("create");
    file.write_all(&[b'x'; 1024]).expect("write");
    file.sync_all().expect("fsync");
}

//! Progress shown on the CLI: while the sandbox compiles (once per machine and engine
//! config), and while a count of things is worked through.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use codemode::{CompileEvent, Metering};
use indicatif::{ProgressBar, ProgressStyle};

/// A callback for [`codemode::SandboxBuilder::on_compile`]: a spinner on a terminal,
/// plain lines otherwise.
pub fn compile_progress() -> impl Fn(CompileEvent) + Send + Sync + 'static {
    let spinner: Mutex<Option<ProgressBar>> = Mutex::new(None);
    move |event| {
        let mut spinner = spinner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let started = match event {
            CompileEvent::Started { metering } => {
                Some(format!("compiling the Python sandbox{} (first use only, 10-30 s)", label(metering)))
            }
            CompileEvent::DataStarted => Some(
                "compiling the data profile's interpreter (once per codemode version: minutes, up to 2.6 GB of memory)"
                    .to_owned(),
            ),
            CompileEvent::DataSnapshotStarted => Some(
                "making the data profile's snapshot with numpy, pandas and matplotlib imported (once: minutes, up to 2.6 GB of memory)"
                    .to_owned(),
            ),
            CompileEvent::Finished { .. }
            | CompileEvent::DataFinished { .. }
            | CompileEvent::DataSnapshotFinished { .. } => None,
        };
        let finished = match event {
            CompileEvent::Finished { metering, elapsed } => {
                Some(format!("compiled the Python sandbox{} in {:.1} s", label(metering), elapsed.as_secs_f64()))
            }
            CompileEvent::DataFinished { elapsed } => {
                Some(format!("compiled the data profile's interpreter in {:.1} s", elapsed.as_secs_f64()))
            }
            CompileEvent::DataSnapshotFinished { elapsed } => {
                Some(format!("made the data profile's snapshot in {:.1} s", elapsed.as_secs_f64()))
            }
            CompileEvent::Started { .. } | CompileEvent::DataStarted | CompileEvent::DataSnapshotStarted => None,
        };
        if let Some(message) = started {
            if std::io::stderr().is_terminal() {
                let bar = ProgressBar::new_spinner().with_message(message);
                if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
                    bar.set_style(style);
                }
                bar.enable_steady_tick(Duration::from_millis(100));
                *spinner = Some(bar);
            } else {
                eprintln!("codemode: {message}...");
            }
        }
        if let Some(message) = finished {
            match spinner.take() {
                Some(bar) => bar.finish_with_message(message),
                None => eprintln!("codemode: {message}"),
            }
        }
    }
}

fn label(metering: Metering) -> &'static str {
    match metering {
        Metering::Off => "",
        Metering::Fuel => " with fuel metering",
    }
}

/// Progress through a count of items: a bar on a terminal, a line per tenth otherwise.
pub struct CountProgress {
    bar: Option<ProgressBar>,
    what: &'static str,
    /// The tenth last printed, without a terminal.
    last: Mutex<Option<usize>>,
}

/// A [`CountProgress`] for `what` ("embedding skills").
pub fn count_progress(what: &'static str) -> CountProgress {
    CountProgress { bar: None, what, last: Mutex::new(None) }.on_terminal()
}

impl CountProgress {
    fn on_terminal(mut self) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0).with_message(self.what);
            if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}") {
                bar.set_style(style);
            }
            self.bar = Some(bar);
        }
        self
    }

    /// `done` of `total` items are finished.
    pub fn update(&self, done: usize, total: usize) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            None => {
                // A line at each tenth: a log, not a flood.
                let tenth = (done * 10).checked_div(total).unwrap_or(10);
                let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if *last != Some(tenth) {
                    eprintln!("codemode: {}: {done}/{total}", self.what);
                    *last = Some(tenth);
                }
            }
        }
    }

    /// Ends the progress with `message`.
    pub fn finish(self, message: &str) {
        match self.bar {
            Some(bar) => bar.finish_with_message(message.to_owned()),
            None => eprintln!("codemode: {message}"),
        }
    }
}

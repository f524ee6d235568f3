//! The attack corpus: every hostile program in `tests/attacks/` (one per file, format
//! in `tests/attacks/README.md`) run through the three surfaces an agent reaches
//! codemode by, with the real binary: `codemode run` (a process per cell), `codemode
//! mcp` over stdio (one long-lived server, raw JSON-RPC lines) and `codemode serve`
//! (one server, an HTTP session per program).
//!
//! Each surface gets its own directory: the storage (`base/`), a canary directory
//! beside it (a file and a skill-shaped `victim.py`), the tools, and nothing else; it
//! is the working directory of every process the surface starts. Two secrets are in
//! the host environment (one plain, one with `"` and `\`), and the HTTP tool sends
//! them to a loopback server that reflects them. For every program and surface the
//! runner asserts: no secret (not even 8 characters of one) and no canary text in
//! any output; no host path (the surface's directory, the cache) in what the client
//! sees; the canary unchanged and nothing created, changed or deleted outside the
//! storage; no process left behind; the expected error or limit named; the server
//! alive; no panic; and the next run in the same session (`1 + 1`) working.
//!
//! `CODEMODE_ATTACKS=word` runs only the programs whose file name contains `word`;
//! `CODEMODE_ATTACK_SURFACES=cli,mcp` only those surfaces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

const BIN: &str = env!("CARGO_BIN_EXE_codemode");
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/attacks");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/attacks");

/// Bytes of stdout and of stderr a run keeps (`--max-output`).
const MAX_OUTPUT: usize = 64 << 10;
/// Fuel per run: about two seconds of compute here, so a busy loop is stopped by
/// fuel and a sleep by the clock.
const FUEL: u64 = 12_000_000_000;
/// The largest answer any run may give on any surface: every guest-originated text
/// (stdout, stderr, value, error, traceback, tool-call trace) within the caps, and an
/// MCP answer repeats most of it (text and structured content).
const MAX_ANSWER: usize = 16 * MAX_OUTPUT + (256 << 10);
/// A surface that has not answered in this long is hung.
const DEADLINE: Duration = Duration::from_secs(120);
/// How many characters of a secret count as a leak.
const SECRET_WINDOW: usize = 8;
/// Variables of the test's own environment that would steer the children.
const STEERING_VARS: &[&str] =
    &["CODEMODE_BASE", "CODEMODE_TOOLS", "CODEMODE_REDIS", "CODEMODE_PREFIX", "CODEMODE_TOKEN"];

// ---------------------------------------------------------------------------------
// The corpus format

/// What a cell must end with; a cell lists one or more alternatives.
#[derive(Debug, Clone)]
enum Outcome {
    /// No error.
    Ok,
    /// Anything: only the invariants every run has are checked.
    Any,
    /// An error of one of these kinds (exception class names).
    Error(Vec<String>),
    /// One of these limits (`timeout`, `fuel`, `memory`, `stack`, or `output`: stdout
    /// or stderr was cut at its cap).
    Limit(Vec<String>),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Any => f.write_str("any"),
            Outcome::Error(kinds) => write!(f, "error {}", kinds.join("|")),
            Outcome::Limit(limits) => write!(f, "limit {}", limits.join("|")),
        }
    }
}

/// One cell of a program, with its expectations.
#[derive(Debug, Default)]
struct Cell {
    code: String,
    /// The runner resets the session before this cell (`# --- reset ---`).
    reset_before: bool,
    expect: Vec<Outcome>,
    value: Option<Value>,
    lacks: Vec<String>,
    contains: Vec<String>,
    max_answer: Option<usize>,
}

/// One hostile program.
#[derive(Debug)]
struct Program {
    name: String,
    attack: String,
    held: String,
    cells: Vec<Cell>,
    /// The program wrecks its own interpreter on purpose: reset before the next run.
    reset_after: bool,
    /// Peak resident memory the serving process may reach while this program runs.
    host_memory_mib: Option<u64>,
    /// It runs on the data profile (`# profile: data`): its servers run without fuel,
    /// which that profile refuses.
    data: bool,
}

fn parse_outcomes(text: &str) -> Result<Vec<Outcome>, String> {
    text.split(" or ")
        .map(|alternative| {
            let mut words = alternative.split_whitespace();
            let list = |rest: Option<&str>| -> Result<Vec<String>, String> {
                let rest = rest.ok_or_else(|| format!("`{alternative}` names nothing"))?;
                Ok(rest.split('|').map(str::to_owned).collect())
            };
            match words.next() {
                Some("ok") => Ok(Outcome::Ok),
                Some("any") => Ok(Outcome::Any),
                Some("error") => Ok(Outcome::Error(list(words.next())?)),
                Some("limit") => {
                    let limits = list(words.next())?;
                    match limits
                        .iter()
                        .find(|l| !["timeout", "fuel", "memory", "stack", "output"].contains(&l.as_str()))
                    {
                        Some(unknown) => Err(format!("unknown limit {unknown:?}")),
                        None => Ok(Outcome::Limit(limits)),
                    }
                }
                _ => Err(format!("cannot read the expectation {alternative:?}")),
            }
        })
        .collect()
}

fn parse_program(name: &str, text: &str) -> Result<Program, String> {
    let mut program = Program {
        name: name.to_owned(),
        attack: String::new(),
        held: String::new(),
        cells: vec![Cell::default()],
        reset_after: false,
        host_memory_mib: None,
        data: false,
    };
    for line in text.lines() {
        match line.trim_end() {
            "# --- cell ---" => {
                program.cells.push(Cell::default());
                continue;
            }
            "# --- reset ---" => {
                program.cells.push(Cell { reset_before: true, ..Cell::default() });
                continue;
            }
            _ => {}
        }
        let cell = program.cells.last_mut().expect("at least one cell");
        cell.code.push_str(line);
        cell.code.push('\n');
        let Some((key, value)) = line.strip_prefix("# ").and_then(|l| l.split_once(": ")) else { continue };
        if !key.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            continue;
        }
        let value = value.trim();
        let number = |what: &str| value.parse::<u64>().map_err(|e| format!("{what}: {e}"));
        match key {
            "attack" => program.attack = value.to_owned(),
            "held" => program.held = value.to_owned(),
            "expect" => cell.expect = parse_outcomes(value)?,
            "value" => cell.value = Some(serde_json::from_str(value).map_err(|e| format!("value: {e}"))?),
            "output-lacks" => cell.lacks.push(value.to_owned()),
            "output-contains" => cell.contains.push(value.to_owned()),
            "max-result-bytes" => cell.max_answer = Some(number(key)? as usize),
            "host-memory-max-mib" => program.host_memory_mib = Some(number(key)?),
            "next" if value == "reset" => program.reset_after = true,
            "profile" if value == "data" => program.data = true,
            other => return Err(format!("unknown directive `# {other}:`")),
        }
    }
    if program.attack.is_empty() || program.held.is_empty() {
        return Err("the header needs `# attack:` and `# held:`".into());
    }
    if let Some(i) = program.cells.iter().position(|c| c.expect.is_empty()) {
        return Err(format!("cell {} has no `# expect:`", i + 1));
    }
    Ok(program)
}

fn load_corpus() -> Vec<Program> {
    let filter = std::env::var("CODEMODE_ATTACKS").unwrap_or_default();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .expect("tests/attacks exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    paths.sort();
    let mut errors = Vec::new();
    let programs: Vec<Program> = paths
        .iter()
        .filter_map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            match parse_program(&name, &std::fs::read_to_string(path).unwrap()) {
                Ok(program) => Some(program),
                Err(e) => {
                    errors.push(format!("{name}: {e}"));
                    None
                }
            }
        })
        .collect();
    assert!(errors.is_empty(), "malformed programs:\n{}", errors.join("\n"));
    programs.into_iter().filter(|p| p.name.contains(&filter)).collect()
}

// ---------------------------------------------------------------------------------
// Each surface's world: its directory, secrets and canary

/// Values that must never come back, and where things are.
struct Secrets {
    /// Host secrets: the two the HTTP tool sends, and the serve token.
    values: Vec<String>,
    /// Written into every canary file: seeing it means something outside the storage was read.
    marker: String,
    /// Where the loopback echo server listens.
    echo_url: String,
}

/// A random string of letters and digits (62 symbols, so 8 characters do not occur by chance).
fn random_text(len: usize) -> String {
    const SYMBOLS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::new();
    while out.len() < len {
        for byte in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < len {
                out.push(SYMBOLS[*byte as usize % SYMBOLS.len()] as char);
            }
        }
    }
    out
}

/// One surface's directory and the checks that depend on it.
#[derive(Clone)]
struct World {
    surface: &'static str,
    /// The surface's directory: the working directory of every process it starts.
    root: PathBuf,
    base: PathBuf,
    secrets: Arc<Secrets>,
    /// The serve token, for that surface only.
    token: Option<String>,
    /// Host paths no client may see.
    host_paths: Vec<String>,
    /// Its servers run the data profile.
    data: bool,
}

impl World {
    fn create(parent: &Path, surface: &'static str, secrets: Arc<Secrets>) -> Self {
        let root = parent.join(surface);
        std::fs::create_dir_all(&root).unwrap();
        let root = root.canonicalize().unwrap();
        let base = root.join("base");
        let token = (surface == "serve").then(|| format!("tok{}", random_text(29)));
        let cache = codemode::default_cache_dir().map(|d| d.to_string_lossy().into_owned());
        let host_paths = [Some(root.to_string_lossy().into_owned()), cache].into_iter().flatten().collect();
        let world = Self { surface, root, base, secrets, token, host_paths, data: false };
        copy_tree(&Path::new(FIXTURES).join("skills"), &world.base.join("skills"), &[]);
        std::fs::create_dir_all(world.base.join("artifacts")).unwrap();
        world.lay_out();
        world
    }

    /// (Re)creates everything of the surface's directory outside the storage.
    fn lay_out(&self) {
        for entry in std::fs::read_dir(&self.root).unwrap() {
            let path = entry.unwrap().path();
            if path != self.base {
                remove_path(&path);
            }
        }
        let marker = self.secrets.marker.as_str();
        copy_tree(&Path::new(FIXTURES).join("canary"), &self.root.join("canary"), &[("@MARKER@", marker)]);
        let tools = self.root.join("tools");
        let tools_dir = tools.to_string_lossy().into_owned();
        let substitutions = [("@ECHO_URL@", self.secrets.echo_url.as_str()), ("@TOOLS_DIR@", tools_dir.as_str())];
        copy_tree(&Path::new(FIXTURES).join("tools"), &tools, &substitutions);
    }

    /// Every secret this surface's outputs must not contain.
    fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.secrets.values.iter().map(String::as_str).chain(self.token.as_deref())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        // Modest limits, so the whole corpus runs in minutes; the timeout leaves room for
        // a loaded CI machine (busy loops stop on fuel, only sleeps wait for it).
        let (output, fuel) = (MAX_OUTPUT.to_string(), FUEL.to_string());
        command.args(["--timeout", "8", "--memory", "256", "--max-output", &output]);
        // The data profile refuses fuel: its busy loops stop on the clock.
        if self.data {
            command.args(["--profile", "data"]);
        } else {
            command.args(["--fuel", &fuel]);
        }
        command
            .arg("--base")
            .arg(&self.base)
            .arg("--tools")
            .arg(self.root.join("tools"))
            // deps programs must never reach an index: pip has nowhere to look.
            .arg("--no-index")
            // Every fixture tool but `forbidden`, which the allowlist programs try to reach.
            .args(["--allow-tools", "api,cat,date,echo,env,grandchild,quote,seq"])
            .args(args)
            .current_dir(&self.root)
            .env("CODEMODE_ATTACK_SECRET", &self.secrets.values[0])
            .env("CODEMODE_ATTACK_SECRET_QUOTED", &self.secrets.values[1])
            .kill_on_drop(true);
        for var in STEERING_VARS {
            command.env_remove(var);
        }
        if let Some(token) = &self.token {
            command.env("CODEMODE_TOKEN", token);
        }
        command
    }

    /// Every file and directory outside the storage, with a digest of its contents.
    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut files = BTreeMap::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path == self.base {
                    continue;
                }
                let relative = path.strip_prefix(&self.root).unwrap().to_path_buf();
                match std::fs::symlink_metadata(&path) {
                    Ok(meta) if meta.is_dir() => {
                        files.insert(relative, "dir".into());
                        stack.push(path);
                    }
                    Ok(meta) if meta.is_file() => {
                        let digest = Sha256::digest(std::fs::read(&path).unwrap_or_default());
                        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
                        files.insert(relative, format!("{digest:x} {mode:o}"));
                    }
                    _ => {
                        files.insert(relative, "other".into());
                    }
                }
            }
        }
        files
    }

    /// Stray processes that are still there a few seconds later (a pip that was
    /// finishing when its run ended goes by itself; a detached grandchild does not).
    async fn lingering_processes(&self, except: Option<u32>) -> Vec<(u32, String)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let strays = self.stray_processes(except);
            if strays.is_empty() || Instant::now() > deadline {
                return strays;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Processes other than `except` whose working directory is this surface's: a
    /// tool's descendants that outlived it.
    fn stray_processes(&self, except: Option<u32>) -> Vec<(u32, String)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if Some(pid) == except || std::fs::read_link(entry.path().join("cwd")).ok().as_deref() != Some(&self.root) {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ").trim().to_owned();
            // A `codemode run` of this surface still exiting is not a stray.
            if !cmdline.starts_with(BIN) {
                found.push((pid, cmdline));
            }
        }
        found
    }
}

fn copy_tree(from: &Path, to: &Path, substitutions: &[(&str, &str)]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target, substitutions);
            continue;
        }
        let mut text = std::fs::read_to_string(entry.path()).unwrap();
        for (from, to) in substitutions {
            text = text.replace(from, to);
        }
        std::fs::write(&target, text).unwrap();
        std::fs::set_permissions(&target, entry.metadata().unwrap().permissions()).unwrap();
    }
}

fn remove_path(path: &Path) {
    let _ = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
}

/// Peak resident memory of a live process, in MiB.
fn peak_rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

/// The loopback server the HTTP tool calls: `/fail?pad=N` answers 418 with N filler
/// characters and then the secret-bearing headers; anything else answers 200 with the
/// request headers as JSON.
fn echo_server() -> String {
    common::http_server(usize::MAX, |request| {
        let header = |name: &str| request.headers.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
        if request.path.starts_with("/fail") {
            let pad = request
                .path
                .split_once("pad=")
                .and_then(|(_, n)| n.split('&').next()?.parse::<usize>().ok())
                .unwrap_or(0)
                .min(100_000);
            let body = format!(
                "{}secret={};quoted={};end",
                "x".repeat(pad),
                header("x-attack-secret"),
                header("x-attack-quoted")
            );
            (418, body)
        } else {
            (200, json!({"path": request.path, "headers": request.headers}).to_string())
        }
    })
}

// ---------------------------------------------------------------------------------
// What a surface answered

/// One answer from a surface.
#[derive(Default)]
struct Answer {
    /// Every byte the client received for the call.
    raw: Vec<u8>,
    /// Every JSON document in it, parsed (their strings are checked unescaped).
    documents: Vec<Value>,
    /// The run's result (the `RunResult` JSON), when there is one.
    result: Option<Value>,
    /// Why there is no result.
    problem: Option<String>,
}

impl Answer {
    fn failed(raw: Vec<u8>, problem: String) -> Self {
        Self { raw, problem: Some(problem), ..Self::default() }
    }

    /// The texts to search: the raw bytes and every string inside the JSON.
    fn texts(&self) -> Vec<String> {
        let mut texts = vec![String::from_utf8_lossy(&self.raw).into_owned()];
        fn strings(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::String(s) => out.push(s.clone()),
                Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
                Value::Object(map) => map.iter().for_each(|(k, v)| {
                    out.push(k.clone());
                    strings(v, out);
                }),
                _ => {}
            }
        }
        self.documents.iter().for_each(|d| strings(d, &mut texts));
        texts
    }

    /// What the run printed and raised, for `output-contains`.
    fn result_text(&self) -> String {
        let Some(result) = &self.result else { return String::new() };
        let field = |path: &[&str]| {
            path.iter().try_fold(result, |v, k| v.get(*k)).and_then(Value::as_str).unwrap_or_default().to_owned()
        };
        [
            field(&["stdout"]),
            field(&["stderr"]),
            field(&["value", "repr"]),
            field(&["error", "kind"]),
            field(&["error", "message"]),
            field(&["error", "traceback"]),
        ]
        .join("\n")
    }

    /// A short description of the result, for failure messages.
    fn summary(&self) -> String {
        let Some(result) = &self.result else { return self.problem.clone().unwrap_or_default() };
        let cut = |text: &str| text.chars().take(160).collect::<String>();
        if let Some(limit) = result["limit"].as_str() {
            return format!("limit {limit}: {}", cut(result["error"]["message"].as_str().unwrap_or_default()));
        }
        match result["error"].as_object() {
            Some(error) => format!(
                "error {}: {}",
                cut(error["kind"].as_str().unwrap_or_default()),
                cut(error["message"].as_str().unwrap_or_default())
            ),
            None => format!("ok, value {}", cut(result["value"]["repr"].as_str().unwrap_or("None"))),
        }
    }

    fn matches(&self, outcome: &Outcome) -> bool {
        let Some(result) = &self.result else { return false };
        match outcome {
            Outcome::Any => true,
            Outcome::Ok => result["error"].is_null(),
            Outcome::Error(kinds) => result["error"]["kind"].as_str().is_some_and(|k| kinds.iter().any(|e| e == k)),
            Outcome::Limit(limits) => limits.iter().any(|limit| match limit.as_str() {
                "output" => result["stdout_truncated"] == true || result["stderr_truncated"] == true,
                other => result["limit"].as_str() == Some(other),
            }),
        }
    }
}

/// What a client sees, and the one part of it that is only the host's own log.
struct Seen<'a> {
    answer: &'a Answer,
    /// Shown to whoever runs the command (the CLI's stderr), so it is checked for
    /// secrets and canary text but may name host paths.
    host_log: &'a [u8],
}

/// The checks every answer gets, whatever the program expected.
fn check_invariants(world: &World, seen: &Seen<'_>, what: &str, failures: &mut Vec<String>) {
    let mut texts = seen.answer.texts();
    let visible = texts.len();
    texts.push(String::from_utf8_lossy(seen.host_log).into_owned());
    for secret in world.secret_values() {
        // As written, and as it appears inside a JSON string.
        let escaped = serde_json::to_string(secret).unwrap();
        let forms = [secret, &escaped[1..escaped.len() - 1]];
        if texts.iter().any(|t| forms.iter().any(|f| t.contains(f))) {
            failures.push(format!("{what}: a host secret leaked whole"));
            continue;
        }
        // A part of one: an answer that is already too large is searched only whole.
        let searched: Vec<&String> = texts.iter().filter(|t| t.len() <= 4 * MAX_ANSWER).collect();
        let part = forms
            .iter()
            .flat_map(|f| {
                (0..=f.len().saturating_sub(SECRET_WINDOW)).map(move |i| &f[i..(i + SECRET_WINDOW).min(f.len())])
            })
            .find(|window| searched.iter().any(|t| t.contains(window)));
        if let Some(part) = part {
            failures.push(format!("{what}: part of a host secret leaked (`{part}`)"));
        }
    }
    if texts.iter().any(|t| t.contains(&world.secrets.marker)) {
        failures.push(format!("{what}: text of the canary outside the storage came back"));
    }
    for path in &world.host_paths {
        if let Some(text) = texts[..visible].iter().find(|t| t.contains(path.as_str())) {
            let at = text.find(path.as_str()).unwrap();
            let start = (0..=at.saturating_sub(60)).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            let context: String = text[start..].chars().take(160).collect::<String>().replace('\n', " ");
            failures.push(format!("{what}: a host path reached the client: …{context}…"));
        }
    }
    // The guest's own bindings may panic (a trap the host survives) and say so on the
    // guest's stderr; a panic on the host side is what must never happen.
    if String::from_utf8_lossy(seen.host_log).contains("panicked at") {
        failures.push(format!("{what}: codemode panicked"));
    }
    if seen.answer.raw.len() > MAX_ANSWER {
        failures.push(format!("{what}: an answer of {} bytes, over {MAX_ANSWER}", seen.answer.raw.len()));
    }
}

/// The program's own expectations for one cell.
fn check_cell(cell: &Cell, answer: &Answer, what: &str, failures: &mut Vec<String>) {
    if answer.result.is_none() {
        failures.push(format!("{what}: no result: {}", answer.problem.as_deref().unwrap_or("?")));
        return;
    }
    if !cell.expect.iter().any(|o| answer.matches(o)) {
        let expected: Vec<String> = cell.expect.iter().map(Outcome::to_string).collect();
        failures.push(format!("{what}: expected {}, got {}", expected.join(" or "), answer.summary()));
    }
    let result = answer.result.as_ref().unwrap();
    if let Some(expected) = &cell.value {
        let got = &result["value"]["json"];
        if got != expected {
            failures.push(format!("{what}: value {got} instead of {expected} ({})", answer.summary()));
        }
    }
    let texts = answer.texts();
    for lacks in &cell.lacks {
        if texts.iter().any(|t| t.contains(lacks.as_str())) {
            failures.push(format!("{what}: the output contains {lacks:?}"));
        }
    }
    let text = answer.result_text();
    for contains in &cell.contains {
        if !text.contains(contains.as_str()) {
            failures.push(format!("{what}: the output lacks {contains:?} ({})", answer.summary()));
        }
    }
    if let Some(max) = cell.max_answer
        && answer.raw.len() > max
    {
        failures.push(format!("{what}: an answer of {} bytes, over {max}", answer.raw.len()));
    }
}

// ---------------------------------------------------------------------------------
// The three surfaces

/// `codemode run`: a process per cell; there is no session, so a reset is a new process.
struct Cli;

impl Cli {
    async fn run(world: &World, code: &str) -> (Answer, Vec<u8>, Option<u64>) {
        let mut child = world
            .command(&["run", "--json", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("codemode run starts");
        let pid = child.id().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let code = code.to_owned();
        tokio::spawn(async move {
            let _ = stdin.write_all(code.as_bytes()).await;
        });
        let stdout = tokio::spawn(read_all(child.stdout.take().unwrap()));
        let stderr = tokio::spawn(read_all(child.stderr.take().unwrap()));
        let started = Instant::now();
        let mut peak = None;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status.ok(),
                () = tokio::time::sleep(Duration::from_millis(20)) => {
                    peak = peak.max(peak_rss_mib(pid));
                    if started.elapsed() > DEADLINE {
                        let _ = child.kill().await;
                        break None;
                    }
                }
            }
        };
        let (stdout, stderr) = (stdout.await.unwrap(), stderr.await.unwrap());
        let answer = match status {
            None => Answer::failed(stdout, format!("codemode run did not finish within {DEADLINE:?}")),
            Some(status) => match serde_json::from_slice::<Value>(&stdout) {
                Ok(result) if status.code().is_some_and(|c| c <= 1) => {
                    Answer { raw: stdout, documents: vec![result.clone()], result: Some(result), problem: None }
                }
                _ => {
                    let problem = format!("codemode run exited with {status}: {}", excerpt(&stderr));
                    Answer::failed(stdout, problem)
                }
            },
        };
        (answer, stderr, peak)
    }
}

async fn read_all(mut pipe: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut bytes = Vec::new();
    let _ = pipe.read_to_end(&mut bytes).await;
    bytes
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let start = text.char_indices().rev().nth(400).map_or(0, |(i, _)| i);
    text[start..].replace('\n', " | ")
}

/// A server's standard error, collected as it comes.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<String>>);

impl Log {
    fn follow(&self, stderr: tokio::process::ChildStderr) {
        let log = self.0.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn since(&self, offset: usize) -> String {
        self.0.lock().unwrap().get(offset..).unwrap_or_default().to_owned()
    }
}

/// `codemode mcp` over stdio, driven with raw JSON-RPC lines; its one MCP session
/// is reset between programs.
struct Mcp {
    child: Child,
    stdin: ChildStdin,
    lines: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    next_id: u64,
    log: Log,
}

impl Mcp {
    async fn start(world: &World) -> Self {
        let mut child = world
            .command(&["mcp", "--max-request-bytes", "1048576"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("codemode mcp starts");
        let log = Log::default();
        log.follow(child.stderr.take().unwrap());
        let (send, lines) = tokio::sync::mpsc::unbounded_channel();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        tokio::spawn(async move {
            loop {
                let mut line = Vec::new();
                match stdout.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if send.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stdin = child.stdin.take().unwrap();
        let mut server = Self { child, stdin, lines, next_id: 1, log };
        let init = json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "attacks", "version": "1"}});
        let answer = server.request("initialize", init).await;
        assert!(answer.problem.is_none(), "codemode mcp did not initialize: {:?}", answer.problem);
        server.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        server
    }

    async fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).unwrap();
        line.push(b'\n');
        let _ = self.stdin.write_all(&line).await;
        let _ = self.stdin.flush().await;
    }

    /// Sends a request and collects every line up to its answer; `result` is the
    /// JSON-RPC result.
    async fn request(&mut self, method: &str, params: Value) -> Answer {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        let mut answer = Answer::default();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => return Answer { problem: Some("codemode mcp closed its output".into()), ..answer },
                Err(_) => return Answer { problem: Some(format!("no answer within {DEADLINE:?}")), ..answer },
            };
            answer.raw.extend_from_slice(&line);
            let Ok(message) = serde_json::from_slice::<Value>(&line) else {
                answer.problem = Some(format!("a line that is not JSON: {}", excerpt(&line)));
                continue;
            };
            answer.documents.push(message.clone());
            if message["id"] != json!(id) {
                continue;
            }
            if message.get("error").is_some() {
                answer.problem = Some(format!("JSON-RPC error: {}", message["error"]));
            } else {
                answer.result = Some(message["result"].clone());
            }
            return answer;
        }
    }

    /// Calls an MCP tool; `result` becomes its structured content.
    async fn call(&mut self, tool: &str, arguments: Value) -> Answer {
        let mut answer = self.request("tools/call", json!({"name": tool, "arguments": arguments})).await;
        if let Some(result) = answer.result.take() {
            match result.get("structuredContent") {
                Some(data) => answer.result = Some(data.clone()),
                None => answer.problem = Some(format!("a tool error: {}", result["content"][0]["text"])),
            }
        }
        answer
    }

    async fn run(&mut self, code: &str) -> Answer {
        self.call("run_code", json!({"code": code})).await
    }

    async fn reset(&mut self) -> Answer {
        let mut answer = self.call("reset", json!({})).await;
        if answer.result.as_ref().is_some_and(|r| r["reset"] != true) {
            answer.problem = Some(format!("reset answered {}", answer.result.take().unwrap()));
        }
        answer
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `codemode serve` on loopback with a token; one HTTP session per program.
struct Serve {
    child: Child,
    url: String,
    token: String,
    client: reqwest::Client,
    log: Log,
}

impl Serve {
    async fn start(world: &World) -> Self {
        let mut child = world
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("codemode serve starts");
        let log = Log::default();
        log.follow(child.stderr.take().unwrap());
        let started = Instant::now();
        let url = loop {
            let text = log.since(0);
            if let Some(line) = text.lines().find(|l| l.contains("listening on http://")) {
                break line.trim().rsplit(' ').next().unwrap().to_owned();
            }
            assert!(child.try_wait().unwrap().is_none(), "codemode serve exited: {text}");
            assert!(started.elapsed() < DEADLINE, "codemode serve did not listen: {text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let client = reqwest::Client::builder().timeout(DEADLINE).build().unwrap();
        Self { child, url, token: world.token.clone().unwrap(), client, log }
    }

    /// One request; `result` is the JSON body of a 2xx answer.
    async fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Answer::failed(Vec::new(), format!("HTTP request failed: {e}")),
        };
        let status = response.status();
        let raw = response.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        let document = serde_json::from_slice::<Value>(&raw).ok();
        let documents = document.clone().into_iter().collect();
        if !status.is_success() {
            return Answer { problem: Some(format!("HTTP {status}: {}", excerpt(&raw))), documents, raw, result: None };
        }
        let result = document.or_else(|| raw.is_empty().then_some(Value::Null));
        let problem = result.is_none().then(|| format!("HTTP {status} with a body that is not JSON"));
        Answer { raw, documents, result, problem }
    }

    async fn open_session(&self) -> Result<String, String> {
        let answer = self.request(reqwest::Method::POST, "/v1/sessions", None).await;
        answer
            .result
            .and_then(|r| r["id"].as_str().map(str::to_owned))
            .ok_or_else(|| answer.problem.unwrap_or_default())
    }

    async fn run(&self, session: &str, code: &str) -> Answer {
        self.request(reqwest::Method::POST, &format!("/v1/sessions/{session}/run"), Some(json!({"code": code}))).await
    }

    async fn reset(&self, session: &str) -> Answer {
        self.request(reqwest::Method::POST, &format!("/v1/sessions/{session}/reset"), None).await
    }

    async fn close_session(&self, session: &str) {
        let _ = self.request(reqwest::Method::DELETE, &format!("/v1/sessions/{session}"), None).await;
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A long-lived server, or none for the CLI.
enum Server {
    Cli,
    Mcp(Mcp),
    Serve(Serve),
}

impl Server {
    async fn start(world: &World) -> Self {
        match world.surface {
            "cli" => Server::Cli,
            "mcp" => Server::Mcp(Mcp::start(world).await),
            "serve" => Server::Serve(Serve::start(world).await),
            other => unreachable!("no surface {other}"),
        }
    }

    fn child(&mut self) -> Option<&mut Child> {
        match self {
            Server::Cli => None,
            Server::Mcp(mcp) => Some(&mut mcp.child),
            Server::Serve(serve) => Some(&mut serve.child),
        }
    }

    fn pid(&mut self) -> Option<u32> {
        self.child().and_then(|c| c.id())
    }

    fn log(&self) -> Option<&Log> {
        match self {
            Server::Cli => None,
            Server::Mcp(mcp) => Some(&mcp.log),
            Server::Serve(serve) => Some(&serve.log),
        }
    }

    /// Whether the server died; `false` for the CLI.
    fn exited(&mut self) -> Option<String> {
        let child = self.child()?;
        match child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(status.to_string()),
            Err(e) => Some(e.to_string()),
        }
    }

    async fn stop(self) {
        match self {
            Server::Cli => {}
            Server::Mcp(mcp) => mcp.stop().await,
            Server::Serve(serve) => serve.stop().await,
        }
    }
}

/// One program's session on a server.
enum Session {
    Cli,
    Mcp,
    Serve(String),
}

impl Server {
    async fn open(&mut self) -> Result<Session, String> {
        match self {
            Server::Cli => Ok(Session::Cli),
            Server::Mcp(_) => Ok(Session::Mcp),
            Server::Serve(serve) => serve.open_session().await.map(Session::Serve),
        }
    }

    /// Runs one cell: the answer, the host's log of it, and the serving process's peak memory.
    async fn run(&mut self, world: &World, session: &Session, code: &str) -> (Answer, Vec<u8>, Option<u64>) {
        match (self, session) {
            (Server::Cli, _) => Cli::run(world, code).await,
            (Server::Mcp(mcp), _) => {
                let answer = mcp.run(code).await;
                let pid = mcp.child.id();
                (answer, Vec::new(), pid.and_then(peak_rss_mib))
            }
            (Server::Serve(serve), Session::Serve(id)) => {
                let answer = serve.run(id, code).await;
                let pid = serve.child.id();
                (answer, Vec::new(), pid.and_then(peak_rss_mib))
            }
            (Server::Serve(_), _) => unreachable!("a serve session has an id"),
        }
    }

    /// Resets the session; `None` when there is nothing to check (the CLI).
    async fn reset(&mut self, session: &Session) -> Option<Answer> {
        match (self, session) {
            (Server::Cli, _) => None,
            (Server::Mcp(mcp), _) => Some(mcp.reset().await),
            (Server::Serve(serve), Session::Serve(id)) => Some(serve.reset(id).await),
            (Server::Serve(_), _) => unreachable!("a serve session has an id"),
        }
    }

    async fn close(&mut self, session: Session) {
        if let (Server::Serve(serve), Session::Serve(id)) = (self, session) {
            serve.close_session(&id).await;
        }
    }
}

// ---------------------------------------------------------------------------------
// Running the corpus on one surface

/// One program's failures on one surface.
struct Verdict {
    program: String,
    failures: Vec<String>,
}

async fn run_surface(world: World, programs: Arc<Vec<Program>>) -> Vec<Verdict> {
    // A server per profile, the data profile's started for its first program.
    let worlds = [world.clone(), World { data: true, ..world }];
    let mut servers: [Option<Server>; 2] = [None, None];
    let mut verdicts = Vec::new();
    for program in programs.iter() {
        let (world, slot) = (&worlds[usize::from(program.data)], &mut servers[usize::from(program.data)]);
        let server = match slot {
            Some(server) => server,
            None => slot.insert(Server::start(world).await),
        };
        let failures = run_program(world, server, program).await;
        let wrecked = !failures.is_empty();
        verdicts.push(Verdict { program: program.name.clone(), failures });
        if wrecked && !matches!(server, Server::Cli) {
            // Whatever went wrong stays with this program: the next gets a new server.
            if let Some(server) = slot.take() {
                server.stop().await;
            }
        }
    }
    for server in servers.into_iter().flatten() {
        server.stop().await;
    }
    verdicts
}

async fn run_program(world: &World, server: &mut Server, program: &Program) -> Vec<String> {
    let mut failures = Vec::new();
    let before = world.snapshot();
    let log_offset = server.log().map_or(0, Log::len);
    let memory_before = server.pid().and_then(peak_rss_mib);
    let mut memory_peak = memory_before;
    let session = match server.open().await {
        Ok(session) => session,
        Err(e) => return vec![format!("cannot open a session: {e}")],
    };
    for (i, cell) in program.cells.iter().enumerate() {
        let what = if program.cells.len() == 1 { "the run".to_owned() } else { format!("cell {}", i + 1) };
        if cell.reset_before
            && let Some(answer) = server.reset(&session).await
        {
            check_reset(world, &answer, &format!("the reset before {what}"), &mut failures);
        }
        let (answer, host_log, peak) = server.run(world, &session, &cell.code).await;
        memory_peak = memory_peak.max(peak);
        check_invariants(world, &Seen { answer: &answer, host_log: &host_log }, &what, &mut failures);
        check_cell(cell, &answer, &what, &mut failures);
    }
    if program.reset_after
        && let Some(answer) = server.reset(&session).await
    {
        check_reset(world, &answer, "the reset after the program", &mut failures);
    }
    let (answer, host_log, _) = server.run(world, &session, "1 + 1").await;
    check_invariants(world, &Seen { answer: &answer, host_log: &host_log }, "the next run", &mut failures);
    if answer.result.as_ref().map(|r| &r["value"]["json"]) != Some(&json!(2)) {
        failures.push(format!("the next run (`1 + 1`) did not give 2: {}", answer.summary()));
    }
    // The MCP session is shared by the programs: each starts with clean globals.
    if matches!(server, Server::Mcp(_))
        && let Some(answer) = server.reset(&session).await
    {
        check_reset(world, &answer, "the reset between programs", &mut failures);
    }
    server.close(session).await;

    if let Some(status) = server.exited() {
        failures.push(format!("the server process died ({status})"));
    }
    if let Some(log) = server.log() {
        let text = log.since(log_offset);
        if let Some(line) = text.lines().find(|l| l.contains("panicked")) {
            failures.push(format!("the server panicked: {line}"));
        }
    }
    if let (Some(limit), Some(peak)) = (program.host_memory_mib, memory_peak)
        && peak > limit
        && memory_before.is_none_or(|b| b <= limit)
    {
        failures.push(format!("the host process reached {peak} MiB of resident memory, over {limit} MiB"));
    }
    let strays = world.lingering_processes(server.pid()).await;
    if !strays.is_empty() {
        failures.push(format!("processes were left running on the host: {strays:?}"));
        for (pid, _) in &strays {
            // Descendants of the server this test started.
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
    let after = world.snapshot();
    if after != before {
        failures.push(format!("outside the storage, {}", describe_changes(&before, &after)));
        world.lay_out();
    }
    failures
}

fn check_reset(world: &World, answer: &Answer, what: &str, failures: &mut Vec<String>) {
    check_invariants(world, &Seen { answer, host_log: &[] }, what, failures);
    if let Some(problem) = &answer.problem {
        failures.push(format!("{what} failed: {problem}"));
    }
}

fn describe_changes(before: &BTreeMap<PathBuf, String>, after: &BTreeMap<PathBuf, String>) -> String {
    let mut out = String::new();
    for (path, digest) in before {
        match after.get(path) {
            None => write!(out, "{} was deleted; ", path.display()).unwrap(),
            Some(now) if now != digest => write!(out, "{} was changed; ", path.display()).unwrap(),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        write!(out, "{} was created; ", path.display()).unwrap();
    }
    out.trim_end_matches("; ").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_attack_corpus_holds_on_every_surface() {
    let programs = Arc::new(load_corpus());
    let total = std::fs::read_dir(CORPUS)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "py"))
        .count();
    assert!(total >= 85, "the corpus has {total} programs; it should have at least 85");
    let wanted = std::env::var("CODEMODE_ATTACK_SURFACES").unwrap_or_else(|_| "cli,mcp,serve".into());
    let surfaces: Vec<&'static str> =
        ["cli", "mcp", "serve"].into_iter().filter(|s| wanted.split(',').any(|w| w == *s)).collect();

    let secrets = Arc::new(Secrets {
        values: vec![format!("Atk{}", random_text(29)), format!("q{}\"\\{}", random_text(12), random_text(12))],
        marker: format!("CANARY{}", random_text(24)),
        echo_url: echo_server(),
    });
    let parent = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for surface in &surfaces {
        let world = World::create(parent.path(), surface, secrets.clone());
        let programs = programs.clone();
        tasks.spawn(async move { (world.surface, run_surface(world, programs).await) });
    }
    let mut results = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (surface, verdicts) = done.expect("a surface's runner panicked");
        results.insert(surface, verdicts);
    }

    let runs: usize = results.values().map(Vec::len).sum();
    let held = results.values().flatten().filter(|v| v.failures.is_empty()).count();
    let mut report = String::new();
    for (i, program) in programs.iter().enumerate() {
        for (surface, verdicts) in &results {
            for failure in &verdicts[i].failures {
                writeln!(report, "  {} [{surface}]: {failure}", verdicts[i].program).unwrap();
            }
        }
        let failed_somewhere = results.values().any(|v| !v[i].failures.is_empty());
        if failed_somewhere {
            writeln!(report, "    (attack: {}; held means: {})", program.attack, program.held).unwrap();
        }
    }
    // Straight to the terminal, past the test harness's capture: shown when it passes too.
    let _ = writeln!(
        std::io::stderr(),
        "attack corpus: {} programs x {} surfaces, {held} of {runs} held ({:.0} s)",
        programs.len(),
        surfaces.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(report.is_empty(), "{} of {runs} runs did not hold:\n{report}", runs - held);
}

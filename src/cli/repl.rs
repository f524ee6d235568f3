//! `codemode repl`: an interactive session with line editing and history.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use codemode::names::SessionId;
use codemode::{RunResult, Session, SessionBuilder, SessionError};
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::SessionArgs;
use super::run::print_result;

const HELP: &str = "Python on WASI. State persists between inputs; `tools`, `skills`, \
`artifacts` and `deps` are predefined.\nA block ends with an empty line. %reset clears \
the session, %help shows this, Ctrl-C interrupts a running cell, Ctrl-D quits.";

/// Flags of `codemode repl`.
#[derive(Debug, Args)]
pub struct ReplArgs {
    /// Keep the session's journal in the storage under NAME (letters, digits, `-`,
    /// `_`; at most 64; not 32 hex digits, the shape of a server's ids) and resume
    /// it if one is stored there already.
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
}

pub async fn repl(context: &SessionArgs<'_>, args: &ReplArgs) -> anyhow::Result<ExitCode> {
    let named = match &args.session {
        None => None,
        Some(name) => Some(Named { name: SessionId::named(name)?, factory: context.session_factory().await? }),
    };
    let mut session = match &named {
        None => context.session().await?,
        Some(named) => named.open().await?,
    };
    let mut editor = DefaultEditor::new().context("cannot start line editing")?;
    let history = codemode::default_cache_dir().map(|dir| dir.join("repl_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!("codemode {} (CPython on WASI). {HELP}", env!("CARGO_PKG_VERSION"));
    let mut cell = String::new();
    loop {
        let prompt = if cell.is_empty() { ">>> " } else { "... " };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                cell.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(err) => return Err(err).context("cannot read input"),
        };
        if cell.is_empty() {
            match line.trim() {
                "" => continue,
                "%reset" => {
                    perform(&mut session, named.as_ref(), Input::Reset).await?;
                    continue;
                }
                "%help" => {
                    println!("{HELP}");
                    continue;
                }
                "exit" | "quit" | "exit()" | "quit()" => break,
                _ => {}
            }
        }
        let _ = editor.add_history_entry(line.as_str());
        cell.push_str(&line);
        cell.push('\n');
        if needs_more(&cell, &line) {
            continue;
        }
        let input = Input::Cell(&cell);
        perform(&mut session, named.as_ref(), input).await?;
        cell.clear();
    }
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(path);
    }
    session.close().await;
    Ok(ExitCode::SUCCESS)
}

/// A session kept in the storage under a name (`--session`), and what builds it.
struct Named<F> {
    name: SessionId,
    factory: F,
}

impl<F: Fn() -> SessionBuilder> Named<F> {
    /// The session stored under the name, resumed; or a new one stored under it.
    async fn open(&self) -> anyhow::Result<Session> {
        let name = &self.name;
        match (self.factory)().resume(name.clone(), None).build().await {
            Ok(session) => {
                eprintln!("(resumed session {name})");
                Ok(session)
            }
            Err(SessionError::NotFound(_)) => {
                let session = (self.factory)().durable(name.clone(), None).build().await;
                eprintln!("(new session {name}, kept in the storage)");
                session.context("cannot start the session")
            }
            Err(err) => Err(err).context(format!("cannot resume session {name}")),
        }
    }

    /// Replaces `session`, a copy out of date, with the stored session resumed.
    async fn resume_into(&self, session: &mut Session, why: &str) -> anyhow::Result<()> {
        session.close().await;
        let name = &self.name;
        let resumed = (self.factory)().resume(name.clone(), None).build().await;
        *session = resumed.with_context(|| format!("cannot resume session {name}"))?;
        eprintln!("(resumed session {name}: {why})");
        Ok(())
    }
}

/// One input the REPL performs on its session.
#[derive(Clone, Copy)]
enum Input<'a> {
    Cell(&'a str),
    Reset,
}

impl Input<'_> {
    /// Performs it on `session` and prints what it gave.
    async fn on(self, session: &Session) -> anyhow::Result<()> {
        match self {
            Input::Cell(cell) => {
                let result = run_until_ctrl_c(session, cell).await?;
                print_result(&result)?;
                if let Some(note) = result.state_note() {
                    println!("({note})");
                }
            }
            Input::Reset => {
                session.reset().await?;
                println!("(session reset)");
            }
        }
        Ok(())
    }
}

/// Performs `input` on `session`. Another process (a second `repl --session` on
/// the same name) went on with a named session since: it is resumed from the
/// storage and `input` performed once more (nothing ran: the version check comes
/// first). Out of date still (yet another went on meanwhile), or taken over by
/// another process while `input` ran (it ran, effects included, but is not
/// stored: never retried): the error is printed and the session resumed for the
/// next input.
async fn perform<F: Fn() -> SessionBuilder>(
    session: &mut Session,
    named: Option<&Named<F>>,
    input: Input<'_>,
) -> anyhow::Result<()> {
    let Some(named) = named else { return input.on(session).await };
    let mut outcome = input.on(session).await;
    if let Some(SessionError::Superseded(_)) = session_error(&outcome) {
        named.resume_into(session, "another process went on with it").await?;
        outcome = input.on(session).await;
    }
    let why = match session_error(&outcome) {
        Some(SessionError::Superseded(_)) => "another process went on with it",
        Some(SessionError::TakenOver(_)) => "another process took it over while the cell ran",
        _ => return outcome,
    };
    if let Err(err) = outcome {
        eprintln!("error: {err}");
    }
    named.resume_into(session, why).await
}

fn session_error(outcome: &anyhow::Result<()>) -> Option<&SessionError> {
    outcome.as_ref().err()?.downcast_ref()
}

/// Runs `cell`; Ctrl-C meanwhile interrupts it (and only it: the REPL goes on).
/// At the prompt Ctrl-C is the line editor's, which clears the line as before.
async fn run_until_ctrl_c(session: &Session, cell: &str) -> anyhow::Result<RunResult> {
    let run = session.run(cell);
    tokio::pin!(run);
    loop {
        tokio::select! {
            result = &mut run => return Ok(result?),
            signal = tokio::signal::ctrl_c() => {
                signal.context("cannot listen for Ctrl-C")?;
                session.interrupt().await?;
            }
        }
    }
}

/// Whether the cell continues on the next line, as in the Python REPL: after a
/// line ending in `:` or `\`, inside open brackets, or inside an indented block
/// until an empty line.
fn needs_more(cell: &str, line: &str) -> bool {
    let trimmed = line.trim_end();
    if trimmed.ends_with(':') || trimmed.ends_with('\\') || open_brackets(cell) > 0 {
        return true;
    }
    let in_block = cell.lines().count() > 1 && cell.lines().any(|l| l.trim_end().ends_with(':'));
    in_block && !line.trim().is_empty()
}

/// Brackets opened and not closed, ignoring those inside string literals and comments.
fn open_brackets(code: &str) -> i64 {
    let mut depth = 0i64;
    let mut quote: Option<char> = None;
    let mut chars = code.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            _ => {}
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert!(!needs_more("x = 1\n", "x = 1"));
        assert!(needs_more("def f():\n", "def f():"));
        assert!(needs_more("def f():\n    return 1\n", "    return 1"));
        assert!(!needs_more("def f():\n    return 1\n\n", ""));
        assert!(needs_more("d = {\n", "d = {"));
        assert!(!needs_more("d = {'a': '{'}\n", "d = {'a': '{'}"));
        assert!(!needs_more("x = 1  # (\n", "x = 1  # ("));
    }
}

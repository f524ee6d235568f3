//! A [`Response`] as an MCP tool result: text a model reads, and the same data
//! structured for programs, both within the server's [`OutputLimits`].
//!
//! Which carries what (the README's "MCP server" section says the same):
//! - A run (`run_code`, `invoke_skill`): the text is the labelled transcript
//!   (`Stdout:`, `Stderr:`, `Result:`, `Error:`), cut to the budget keeping its head
//!   and tail. The structured result has every field, but its strings get an eighth
//!   of the budget (at least 1 KiB): the output travels whole once, in the text.
//! - `list_tools`, `search_tools`: the text is one signature per line, as agent code
//!   calls them; the structured result is the listing within the budget.
//! - `get_skill`, `describe` and a text artifact: the text is the source, the stub
//!   or the text; the structured result, as for a run, keeps its strings to an eighth.
//! - Everything else: the text is the structured result serialised as JSON (what
//!   the MCP specification asks of tools with structured results), both within the
//!   budget.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::Value;

use super::output::{fit_text, json_len, shrink};
use crate::model::describe::{ShownParam, Signature};
use crate::model::ops::Response;
use crate::model::{RunResult, ToolInfo};

/// How large a result may be.
#[derive(Debug, Clone, Copy)]
pub struct OutputLimits {
    /// Characters of a result's text (its structured content gets as much, or an
    /// eighth when the text already carries its payload).
    pub max_chars: usize,
}

impl Default for OutputLimits {
    fn default() -> Self {
        Self { max_chars: super::output::DEFAULT_MAX_OUTPUT_CHARS }
    }
}

/// What the model reads when a run's output was cut.
const GET_ALL_OF_A_RUN: &str = "to read all of it, keep the output in a variable and print it in parts, or save \
                                 it with artifacts.save(name, text) and read it from there";
/// What the model reads when stored data was cut.
const GET_ALL_OF_DATA: &str = "to read all of it, load it in run_code and print it in parts";

/// The budget of a structured result whose payload the text carries: an eighth of
/// the text's, but room for a run's fixed fields.
pub(crate) fn preview_budget(max_chars: usize) -> usize {
    (max_chars / 8).max(1024)
}

/// How a response's text relates to its structured content.
enum Text {
    /// The text carries the payload: the structured content keeps its strings short.
    Payload(String),
    /// A listing in the text; the structured content gets the whole budget.
    Listing(String),
    /// The text is the structured content as JSON.
    Json,
}

/// A response as an MCP tool result within `limits`.
pub(crate) fn render(op: &str, response: Response, limits: OutputLimits) -> CallToolResult {
    let max = limits.max_chars;
    let (text, is_error) = match &response {
        Response::Run(result) => (Text::Payload(run_text(result)), result.error.is_some()),
        Response::Tools { tools } => (Text::Listing(tools_text(tools)), false),
        Response::Skill(skill) => (Text::Payload(skill.source.clone()), false),
        Response::Described { stub } => (Text::Payload(stub.clone()), false),
        Response::Artifact { data: Value::String(text), .. } => (Text::Payload(text.clone()), false),
        _ => (Text::Json, false),
    };
    let mut data = serde_json::to_value(&response).unwrap_or(Value::Null);
    let mut content = Vec::new();
    match text {
        Text::Payload(text) => {
            let hint = if op == "run" || op == "invoke_skill" { GET_ALL_OF_A_RUN } else { GET_ALL_OF_DATA };
            content.push(ContentBlock::text(fit_text(text, max, hint)));
            shrink(&mut data, preview_budget(max));
        }
        Text::Listing(text) => {
            content.push(ContentBlock::text(fit_text(text, max, "search with search_tools to narrow it")));
            shrink(&mut data, max);
        }
        Text::Json => {
            let cut = shrink(&mut data, max);
            content.push(ContentBlock::text(data.to_string()));
            if let Some(original) = cut {
                content.push(ContentBlock::text(format!(
                    "[the result was {original} characters, cut to {} (long strings and lists shortened); \
                     {GET_ALL_OF_DATA}]",
                    json_len(&data)
                )));
            }
        }
    }
    let mut result = if is_error { CallToolResult::structured_error(data) } else { CallToolResult::structured(data) };
    result.content = content;
    result
}

/// A run as a model reads it: each part labelled, as py-code-mode's `Stdout:` and
/// `Error:` framing did, so `print('43'); 43` is not "43\n43".
pub(crate) fn run_text(result: &RunResult) -> String {
    let mut parts = Vec::new();
    if !result.stdout.is_empty() || result.stdout_truncated {
        let cut = if result.stdout_truncated { "\n[stdout was cut at the session's limit]" } else { "" };
        parts.push(format!("Stdout:\n{}{cut}", result.stdout.trim_end_matches('\n')));
    }
    if !result.stderr.is_empty() || result.stderr_truncated {
        let cut = if result.stderr_truncated { "\n[stderr was cut at the session's limit]" } else { "" };
        parts.push(format!("Stderr:\n{}{cut}", result.stderr.trim_end_matches('\n')));
    }
    if let Some(value) = &result.value {
        parts.push(format!("Result:\n{}", value.repr));
    }
    if let Some(error) = &result.error {
        parts.push(format!("Error:\n{}", error.traceback.trim_end_matches('\n')));
    }
    if let Some(note) = result.state_note() {
        parts.push(format!("[{note}]"));
    }
    if parts.is_empty() {
        return "(no output)".to_owned();
    }
    parts.join("\n\n")
}

/// One line per callable, the signature agent code calls and its description:
/// `tools.jq.query(filter: str, stdin: str | None = None)  # Run a jq filter`.
pub(crate) fn tools_text(tools: &[ToolInfo]) -> String {
    if tools.is_empty() {
        return "(no tools)".to_owned();
    }
    let mut lines = Vec::new();
    for tool in tools {
        let unavailable = tool.unavailable.as_deref().map(|why| format!(" (unavailable: {why})")).unwrap_or_default();
        lines.push(format!("tools.{}: {}{unavailable}", tool.name, one_line(&tool.description)));
        for callable in &tool.callables {
            let path = match &callable.name {
                Some(recipe) => format!("tools.{}.{recipe}", tool.name),
                None => format!("tools.{}", tool.name),
            };
            let params = Signature::new(callable.params.iter().map(ShownParam::of_tool)).listed();
            let description = one_line(&callable.description);
            let comment = if description.is_empty() { String::new() } else { format!("  # {description}") };
            lines.push(format!("  {path}({params}){comment}"));
        }
    }
    lines.join("\n")
}

/// The first line of `text`.
fn one_line(text: &str) -> &str {
    text.trim().lines().next().unwrap_or_default()
}

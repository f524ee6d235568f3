//! A minimal agent: an LLM behind an OpenAI-compatible chat-completions API, given
//! one tool, `run_code`, backed by a codemode session.
//!
//! ```sh
//! OPENAI_API_KEY=... cargo run --release --example agent -- "What is the 20th Fibonacci number?"
//! ```
//!
//! `OPENAI_BASE_URL` (default `https://api.openai.com/v1`) and `OPENAI_MODEL`
//! (default `gpt-4o-mini`) point it elsewhere: any server that speaks the same
//! API (vLLM, Ollama, LiteLLM, ...). `CODEMODE_BASE` gives the session its storage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use codemode::Session;
use serde_json::{Value, json};

const SYSTEM: &str = "You solve tasks by writing Python. Call run_code with code to run in a persistent \
session; the value of the last expression is returned. `tools`, `skills`, `artifacts` and `deps` are \
predefined. When you have the answer, reply with it in plain text.";

/// Rounds of tool calls before the agent gives up.
const MAX_TURNS: usize = 12;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let task = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    anyhow::ensure!(!task.is_empty(), "usage: agent TASK");
    let base_url = std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".into());
    let key = std::env::var("OPENAI_API_KEY").map_err(|_| anyhow::anyhow!("set OPENAI_API_KEY"))?;
    let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into());

    let mut session = Session::builder();
    if let Ok(base) = std::env::var("CODEMODE_BASE") {
        session = session.base_dir(base);
    }
    let session = session.build().await?;
    let tools = json!([{
        "type": "function",
        "function": {
            "name": "run_code",
            "description": "Run Python in a persistent sandboxed session; returns stdout, the last value and any error.",
            "parameters": {
                "type": "object",
                "properties": {"code": {"type": "string", "description": "Python source"}},
                "required": ["code"],
            },
        },
    }]);
    let mut messages = vec![json!({"role": "system", "content": SYSTEM}), json!({"role": "user", "content": task})];
    let http = reqwest::Client::new();

    for _ in 0..MAX_TURNS {
        let body = json!({"model": model, "messages": messages, "tools": tools});
        let response: Value = http
            .post(format!("{}/chat/completions", base_url.trim_end_matches('/')))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let message = response["choices"][0]["message"].clone();
        messages.push(message.clone());
        let Some(calls) = message["tool_calls"].as_array().filter(|c| !c.is_empty()) else {
            println!("{}", message["content"].as_str().unwrap_or_default());
            return Ok(());
        };
        for call in calls {
            let arguments: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or("{}"))?;
            let code = arguments["code"].as_str().unwrap_or_default();
            eprintln!(">>> run_code\n{code}");
            let output = session.run(code).await?.transcript();
            eprintln!("<<< {output}");
            messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": output}));
        }
    }
    anyhow::bail!("no answer after {MAX_TURNS} turns")
}

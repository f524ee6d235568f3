//! Verified skills: what runs a skill's examples (the sandbox implements
//! [`Verifier`]; the trait lives here so skills sit below the sandbox), how a
//! result is compared with what an example expects, and what `skills.test` reports.

use serde_json::{Map, Value};

use crate::model::{SkillExample, Verification};
use crate::names::SkillName;

/// How one example ran.
#[derive(Debug, Clone, PartialEq)]
pub enum ExampleRun {
    /// `run` returned: its value as JSON (`None` when it is not JSON), and its repr.
    Returned {
        /// The value as JSON, when it has a JSON form.
        json: Option<Value>,
        /// `repr()` of the value, capped.
        repr: String,
    },
    /// `run` raised, or a limit stopped it: the error's kind and message.
    Failed {
        /// The exception's class, or `LimitExceeded` and the like.
        kind: String,
        /// Its message.
        message: String,
    },
}

/// Runs one example of a skill that may not be saved yet.
#[async_trait::async_trait]
pub trait Verifier: Send + Sync + std::fmt::Debug {
    /// How long all the examples of one skill may take together: one run's timeout,
    /// so a skill with many slow examples costs no more than one slow cell.
    fn budget(&self) -> std::time::Duration;

    /// Runs `source`'s `run(**args)` as the skill `name`, in a fresh interpreter
    /// with the session's tools and limits, where nothing it writes persists,
    /// stopped after `within` at the latest.
    async fn run_example(
        &self,
        name: &SkillName,
        source: &str,
        args: &Map<String, Value>,
        within: std::time::Duration,
    ) -> Result<ExampleRun, Box<dyn std::error::Error + Send + Sync>>;
}

/// Runs `examples` one by one within the verifier's [`budget`](Verifier::budget),
/// stopping at the first that fails (a failed one already rejects the skill; the
/// rest would only spend the session's time).
pub(crate) async fn run_examples(
    verifier: &dyn Verifier,
    name: &SkillName,
    source: &str,
    examples: &[SkillExample],
) -> Result<Verification, Box<dyn std::error::Error + Send + Sync>> {
    let budget = verifier.budget();
    let deadline = std::time::Instant::now() + budget;
    let mut failures = Vec::new();
    for (i, example) in examples.iter().enumerate() {
        let within = deadline.saturating_duration_since(std::time::Instant::now());
        let run = match within.is_zero() {
            true => ExampleRun::Failed {
                kind: "LimitExceeded".into(),
                message: format!(
                    "the examples together exceeded their time, one run's timeout of {}",
                    crate::text::humanize(budget)
                ),
            },
            false => verifier.run_example(name, source, &example.args, within).await?,
        };
        if let Some(failure) = judge(&example.expect, &run) {
            failures.push(format!("example {}: {failure}", i + 1));
            break;
        }
    }
    Ok(Verification {
        passed: failures.is_empty(),
        at: crate::storage::now_iso8601(),
        examples: u32::try_from(examples.len()).unwrap_or(u32::MAX),
        failures,
    })
}

/// Why `run` does not meet `expect`; `None` when it does.
pub(crate) fn judge(expect: &Value, run: &ExampleRun) -> Option<String> {
    match run {
        ExampleRun::Failed { kind, message } => Some(format!("raised {kind}: {}", crate::text::shown(message))),
        ExampleRun::Returned { json: None, repr } => {
            Some(format!("expected {}, got {} (not JSON)", short(&expect.to_string()), short(repr)))
        }
        ExampleRun::Returned { json: Some(got), .. } => diff(expect, got, "$"),
    }
}

/// The first place `got` differs from `expect`, as `at $.a[2]: expected 3, got 4`.
/// Numbers compare by value (`1` equals `1.0`), as Python's `==` does.
pub(crate) fn diff(expect: &Value, got: &Value, at: &str) -> Option<String> {
    let differs = || {
        let place = if at == "$" { String::new() } else { format!("at {}: ", short(at)) };
        Some(format!("{place}expected {}, got {}", short(&expect.to_string()), short(&got.to_string())))
    };
    match (expect, got) {
        (Value::Number(a), Value::Number(b)) => {
            let same = a == b || a.as_f64().zip(b.as_f64()).is_some_and(|(a, b)| a == b);
            if same { None } else { differs() }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!(
                    "at {}: expected {} items, got {} ({})",
                    short(at),
                    a.len(),
                    b.len(),
                    short(&got.to_string())
                ));
            }
            a.iter().zip(b).enumerate().find_map(|(i, (a, b))| diff(a, b, &format!("{at}[{i}]")))
        }
        (Value::Object(a), Value::Object(b)) => {
            if let Some(key) = a.keys().find(|k| !b.contains_key(*k)) {
                return Some(format!("at {}: missing key {:?}", short(at), crate::text::shown(key)));
            }
            if let Some(key) = b.keys().find(|k| !a.contains_key(*k)) {
                return Some(format!("at {}: unexpected key {:?}", short(at), crate::text::shown(key)));
            }
            a.iter().find_map(|(k, v)| diff(v, &b[k], &format!("{at}.{k}")))
        }
        (a, b) if a == b => None,
        _ => differs(),
    }
}

/// Longest text of a value shown in a failure.
const SHOWN: usize = 200;

fn short(text: &str) -> String {
    let shown = crate::text::shown(text);
    if shown.chars().count() <= SHOWN {
        return shown;
    }
    let cut: String = shown.chars().take(SHOWN).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn diffs_name_the_first_difference() {
        assert_eq!(diff(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]}), "$"), None);
        assert_eq!(
            diff(&json!({"a": [1, 2]}), &json!({"a": [1, 3]}), "$").as_deref(),
            Some("at $.a[1]: expected 2, got 3")
        );
        assert!(diff(&json!({"a": 1}), &json!({}), "$").unwrap().contains("missing key \"a\""));
        assert!(diff(&json!([1]), &json!([1, 2]), "$").unwrap().contains("expected 1 items, got 2"));
        assert!(diff(&json!("1"), &json!(1), "$").is_some());
        let raised = ExampleRun::Failed { kind: "ValueError".into(), message: "bad".into() };
        assert_eq!(judge(&json!(1), &raised).as_deref(), Some("raised ValueError: bad"));
        let long = "x".repeat(1000);
        assert!(diff(&json!(long), &json!(1), "$").unwrap().len() < 600);
    }
}

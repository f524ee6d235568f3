//! Host secrets in tool definitions: `${VAR}` references expanded from the host
//! environment, and scrubbed from everything that goes back to the guest.

use serde_json::Value;

use super::ToolError;

/// Shortest expanded value that is scrubbed (shorter ones would mangle ordinary text).
const MIN_SECRET_LEN: usize = 4;

/// The values a tool's definition pulled from the host environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

impl Secrets {
    /// Expands every `${VAR}` in `text` from the host environment and remembers the
    /// values. An unset variable is an error naming it.
    pub(crate) fn expand(&mut self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            out.push_str(&rest[..start]);
            let var = &rest[start + 2..start + end];
            let value = std::env::var(var).map_err(|_| var.to_owned())?;
            out.push_str(&value);
            if value.len() >= MIN_SECRET_LEN {
                self.0.push(value);
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `text` with every remembered value replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.0.iter().fold(text.to_owned(), |acc, secret| acc.replace(secret.as_str(), "***"))
    }

    /// `value` with every remembered value replaced by `***`, wherever it occurs.
    pub(crate) fn scrub_value(&self, value: Value) -> Value {
        if self.0.is_empty() {
            return value;
        }
        let text = value.to_string();
        let scrubbed = self.scrub(&text);
        if scrubbed == text { value } else { serde_json::from_str(&scrubbed).unwrap_or(Value::String(scrubbed)) }
    }

    /// A call's outcome with nothing secret left in it.
    pub(crate) fn scrub_result(&self, result: Result<Value, ToolError>) -> Result<Value, ToolError> {
        match result {
            Ok(value) => Ok(self.scrub_value(value)),
            Err(ToolError::Failed { tool, message }) => Err(ToolError::Failed { tool, message: self.scrub(&message) }),
            Err(other) => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_and_are_scrubbed() {
        let mut secrets = Secrets::default();
        let path = std::env::var("PATH").unwrap();
        let text = secrets.expand("Bearer ${PATH}").unwrap();
        assert_eq!(text, format!("Bearer {path}"));
        assert_eq!(secrets.scrub(&format!("echo: {path}!")), "echo: ***!");
        assert_eq!(secrets.scrub_value(Value::String(path)), Value::String("***".into()));
        assert_eq!(secrets.expand("${CODEMODE_SURELY_UNSET_VAR}").unwrap_err(), "CODEMODE_SURELY_UNSET_VAR");
        assert_eq!(secrets.expand("plain ${unterminated").unwrap(), "plain ${unterminated");
    }
}

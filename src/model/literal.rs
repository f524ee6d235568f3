//! Python literals (as `ast.unparse` writes a skill's defaults) to JSON and back,
//! so listings give typed defaults while signatures keep Python's spelling.
//!
//! The text comes from agent code: the reader is bounded in depth and gives `None`
//! for anything that is not a plain literal JSON can hold.

use serde_json::{Map, Number, Value};

/// Nesting deeper than this is not read (a hostile default must not exhaust the stack).
const MAX_DEPTH: usize = 32;

/// The JSON value of a Python literal: `None`, booleans, numbers, strings, and lists,
/// tuples and dicts (with string keys) of them. `None` for anything else.
pub(crate) fn to_json(source: &str) -> Option<Value> {
    let mut reader = Reader { chars: source.chars().collect(), at: 0 };
    let value = reader.value(0)?;
    reader.blank();
    (reader.at == reader.chars.len()).then_some(value)
}

/// `value` written as a Python literal, e.g. `{'a': [1, None, True]}`.
pub(crate) fn to_python(value: &Value) -> String {
    let mut out = String::new();
    write_python(value, &mut out);
    out
}

fn write_python(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(key, out);
                out.push_str(": ");
                write_python(item, out);
            }
            out.push('}');
        }
    }
}

/// Python's `repr` of a str: single quotes unless the text holds one and no double quote.
fn write_str(text: &str, out: &mut String) {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let code = c as u32;
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else {
                    out.push_str(&format!("\\u{code:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

struct Reader {
    chars: Vec<char>,
    at: usize,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn blank(&mut self) {
        while self.peek().is_some_and(|c| c == ' ') {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.blank();
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.blank();
        match self.peek()? {
            '\'' | '"' => self.string().map(Value::String),
            '[' => self.sequence(']', depth).map(Value::Array),
            '(' => self.sequence(')', depth).map(Value::Array),
            '{' => self.dict(depth),
            '-' | '0'..='9' => self.number(),
            _ => self.word(),
        }
    }

    fn word(&mut self) -> Option<Value> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.at += 1;
        }
        match self.chars[start..self.at].iter().collect::<String>().as_str() {
            "None" => Some(Value::Null),
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.at;
        if self.peek() == Some('-') {
            self.at += 1;
        }
        let mut float = false;
        while let Some(c) = self.peek() {
            match c {
                '0'..='9' => {}
                '.' | 'e' | 'E' => float = true,
                '+' | '-' if matches!(self.chars.get(self.at - 1), Some('e' | 'E')) => {}
                _ => break,
            }
            self.at += 1;
        }
        let text: String = self.chars[start..self.at].iter().collect();
        if !float {
            if let Ok(n) = text.parse::<i64>() {
                return Some(Value::Number(n.into()));
            }
            // Beyond 64 bits JSON readers lose it; not a default to pass around.
            return text.parse::<u64>().ok().map(|n| Value::Number(n.into()));
        }
        text.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number)
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        self.at += 1;
        let mut text = String::new();
        loop {
            let c = self.peek()?;
            self.at += 1;
            match c {
                c if c == quote => return Some(text),
                '\\' => {
                    let escaped = self.peek()?;
                    self.at += 1;
                    match escaped {
                        'n' => text.push('\n'),
                        'r' => text.push('\r'),
                        't' => text.push('\t'),
                        '\\' | '\'' | '"' => text.push(escaped),
                        'x' => text.push(self.hex(2)?),
                        'u' => text.push(self.hex(4)?),
                        'U' => text.push(self.hex(8)?),
                        _ => return None,
                    }
                }
                c => text.push(c),
            }
        }
    }

    fn hex(&mut self, digits: usize) -> Option<char> {
        let end = self.at.checked_add(digits)?;
        let text: String = self.chars.get(self.at..end)?.iter().collect();
        self.at = end;
        char::from_u32(u32::from_str_radix(&text, 16).ok()?)
    }

    fn sequence(&mut self, close: char, depth: usize) -> Option<Vec<Value>> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.value(depth + 1)?);
            if !self.eat(',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Option<Value> {
        self.at += 1;
        let mut map = Map::new();
        loop {
            if self.eat('}') {
                return Some(Value::Object(map));
            }
            self.blank();
            if !matches!(self.peek(), Some('\'' | '"')) {
                return None;
            }
            let key = self.string()?;
            if !self.eat(':') {
                return None;
            }
            map.insert(key, self.value(depth + 1)?);
            if !self.eat(',') {
                return self.eat('}').then_some(Value::Object(map));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn literals_read_as_json() {
        let cases = [
            ("10", json!(10)),
            ("-3", json!(-3)),
            ("1.5", json!(1.5)),
            ("1e-05", json!(1e-05)),
            ("None", json!(null)),
            ("True", json!(true)),
            ("'utf-8'", json!("utf-8")),
            ("\"it's\"", json!("it's")),
            ("'a\\nb\\x00\\u00e9\\\\'", json!("a\nb\u{0}\u{e9}\\")),
            ("[1, 'x', None]", json!([1, "x", null])),
            ("(1, 2)", json!([1, 2])),
            ("(1,)", json!([1])),
            ("()", json!([])),
            ("{'a': {'b': [True]}}", json!({"a": {"b": [true]}})),
            ("{}", json!({})),
        ];
        for (source, expected) in cases {
            assert_eq!(to_json(source), Some(expected), "{source}");
        }
    }

    #[test]
    fn anything_else_is_none() {
        let too_deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        for source in [
            "os.getcwd()",
            "b'x'",
            "1j",
            "{1, 2}",
            "{1: 2}",
            "'open",
            "[1,",
            "1 + 2",
            "99999999999999999999999",
            "1e999",
            "'\\q'",
            "'\\ud800'",
            "",
            too_deep.as_str(),
        ] {
            assert_eq!(to_json(source), None, "{source:.40}");
        }
    }

    #[test]
    fn json_values_are_written_as_repr_would() {
        assert_eq!(to_python(&json!(null)), "None");
        assert_eq!(to_python(&json!([true, 1, 2.5])), "[True, 1, 2.5]");
        assert_eq!(to_python(&json!("it's")), "\"it's\"");
        assert_eq!(to_python(&json!("a'\"b\n")), "'a\\'\"b\\n'");
        assert_eq!(to_python(&json!({"k": "v"})), "{'k': 'v'}");
    }

    #[test]
    fn python_spelling_round_trips() {
        for source in ["None", "True", "10", "-2.5", "'utf-8'", "\"it's\"", "'a\\nb\\\\'", "[1, {'k': None}]"] {
            assert_eq!(to_python(&to_json(source).unwrap()), source);
        }
    }
}

//! The tools and skills agent code can call, as one compact `.pyi`-style stub a
//! model reads in its prompt: typed keyword-only signatures, defaults, and the
//! first line of each description.
//!
//! Every surface renders it here (`tools.describe()` and `skills.describe()` in the
//! guest, the `describe` operation, so MCP, HTTP and the CLI), and the MCP server's
//! one-line-per-callable listing takes its parameters from [`Signature`] too.
//!
//! What is rendered comes from outside: tool definitions and MCP servers' schemas
//! (names, types, descriptions) and skill sources (annotations, defaults). The stub
//! must stay valid Python whatever they hold, and small: names that are not
//! identifiers are left out (and said so), types outside a plain annotation grammar
//! become `object`, defaults are re-written from their parsed value or shown as
//! `...`, descriptions are cut to their first line and escaped.

use serde::{Deserialize, Serialize};

use super::{SkillInfo, ToolInfo, literal};
use crate::names::{PYTHON_KEYWORDS, is_python_identifier};

/// Characters of a one-line description kept in a stub.
const MAX_DOC_CHARS: usize = 120;
/// Characters of a default shown; a longer one is `...`.
const MAX_DEFAULT_CHARS: usize = 60;
/// Characters of a type annotation shown; a longer one is `object`.
const MAX_TYPE_CHARS: usize = 120;
/// Brackets nested deeper than this in a type make it `object`.
const MAX_TYPE_DEPTH: usize = 8;
/// The longest name shown; a longer one is left out.
const MAX_NAME_CHARS: usize = 128;

/// What [`stub`] describes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The `tools` namespace.
    Tools,
    /// The `skills` namespace.
    Skills,
    /// Both.
    #[default]
    All,
}

impl Scope {
    /// Whether the tools are described.
    pub fn tools(self) -> bool {
        matches!(self, Scope::Tools | Scope::All)
    }

    /// Whether the skills are described.
    pub fn skills(self) -> bool {
        matches!(self, Scope::Skills | Scope::All)
    }
}

/// One parameter as a signature shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownParam<'a> {
    /// The keyword.
    pub name: &'a str,
    /// The annotation; `None`: none.
    pub type_name: Option<&'a str>,
    /// Whether it must be given.
    pub required: bool,
    /// The default as a Python literal (from [`literal`]), or `...` when it has one
    /// no literal holds.
    pub default: Option<String>,
}

impl<'a> ShownParam<'a> {
    /// A tool's parameter: untyped ones are `str` (what a CLI argument is).
    pub fn of_tool(param: &'a super::ParamInfo) -> Self {
        let type_name = if param.type_name.is_empty() { "str" } else { param.type_name.as_str() };
        Self {
            name: &param.name,
            type_name: Some(type_name),
            required: param.required,
            default: param.default.as_ref().map(literal::to_python),
        }
    }

    /// A skill's parameter: its default re-written from its parsed value, never
    /// the source as written (which may be any expression).
    pub fn of_skill(param: &'a super::Param) -> Self {
        let default = param.default.as_ref().map(|_| match param.default_value() {
            Some(value) => literal::to_python(&value),
            None => "...".to_owned(),
        });
        Self { name: &param.name, type_name: param.type_name.as_deref(), required: param.required, default }
    }
}

/// A callable's keyword parameters, ready to print: required ones first, as the
/// guest's `signature()` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signature {
    /// `name: type`, `name: type = default`, `name: type | None = None`.
    keywords: Vec<String>,
    /// Some parameters cannot be written as Python keywords (or the callable takes
    /// `**kwargs`): the signature ends with `**kwargs`.
    kwargs: bool,
}

impl Signature {
    /// The signature of `params`.
    pub fn new<'a>(params: impl IntoIterator<Item = ShownParam<'a>>) -> Self {
        let mut params: Vec<_> = params.into_iter().collect();
        params.sort_by_key(|p| !p.required);
        let mut signature = Self::default();
        for param in params {
            if param.name.starts_with("**") {
                signature.kwargs = true;
                continue;
            }
            // Calls take keywords only: `*args` cannot be passed.
            if param.name.starts_with('*') {
                continue;
            }
            if param.name.len() > MAX_NAME_CHARS || !is_python_identifier(param.name) {
                signature.kwargs = true;
                continue;
            }
            let annotation = param.type_name.filter(|t| !t.trim().is_empty()).map(shown_type);
            let default =
                param.default.map(|d| if d.chars().count() > MAX_DEFAULT_CHARS { "...".to_owned() } else { d });
            let name = param.name;
            signature.keywords.push(match (annotation, param.required, default) {
                (Some(kind), true, _) => format!("{name}: {kind}"),
                (None, true, _) => name.to_owned(),
                (Some(kind), false, Some(default)) => format!("{name}: {kind} = {default}"),
                (Some(kind), false, None) => format!("{name}: {kind} | None = None"),
                (None, false, default) => format!("{name}={}", default.as_deref().unwrap_or("None")),
            });
        }
        signature
    }

    /// As listings show it: `q: str, limit: int = 10`.
    pub fn listed(&self) -> String {
        let mut parts = self.keywords.clone();
        if self.kwargs {
            parts.push("**kwargs".to_owned());
        }
        parts.join(", ")
    }

    /// As a stub declares it, keyword-only: `*, q: str, limit: int = 10`.
    pub fn keyword_only(&self) -> String {
        if self.keywords.is_empty() {
            return if self.kwargs { "**kwargs".to_owned() } else { String::new() };
        }
        format!("*, {}", self.listed())
    }
}

/// The stub of `tools` and `skills`; `None` leaves that namespace out.
pub fn stub(tools: Option<&[ToolInfo]>, skills: Option<&[SkillInfo]>) -> String {
    let mut out = String::new();
    if let Some(tools) = tools {
        out.push_str(&tools_stub(tools));
    }
    if let Some(skills) = skills {
        out.push_str(&skills_stub(skills));
    }
    out
}

/// `class tools:` with one nested class per tool, one method per recipe and
/// `__call__` for the tool itself.
pub fn tools_stub(tools: &[ToolInfo]) -> String {
    let mut out =
        String::from("class tools:\n    \"tools.<tool>.<recipe>(**kw), tools.<tool>(**kw); keywords only.\"\n");
    let mut hidden = 0;
    for tool in tools {
        let Some(name) = identifier(&tool.name) else {
            hidden += 1;
            continue;
        };
        out.push_str(&format!("    class {name}:\n"));
        let doc = doc_of(&tool.description, tool.unavailable.as_deref());
        if !doc.is_empty() {
            out.push_str(&format!("        {}\n", quoted(&doc)));
        }
        let mut hidden_callables = 0;
        let mut body = false;
        for callable in &tool.callables {
            let method = match &callable.name {
                Some(recipe) => match identifier(recipe) {
                    Some(recipe) => recipe,
                    None => {
                        hidden_callables += 1;
                        continue;
                    }
                },
                None => "__call__".to_owned(),
            };
            let signature = Signature::new(callable.params.iter().map(ShownParam::of_tool));
            // The tool itself is described by the class's docstring already.
            let own = first_line(&callable.description);
            let doc = if callable.name.is_none() && own == first_line(&tool.description) { String::new() } else { own };
            out.push_str(&format!("        def {method}({}): {}\n", signature.keyword_only(), body_of(&doc)));
            body = true;
        }
        if hidden_callables > 0 {
            out.push_str(&format!("        # {hidden_callables} more: names that are not Python identifiers\n"));
        }
        if !body && doc.is_empty() {
            out.push_str("        ...\n");
        }
    }
    if hidden > 0 {
        out.push_str(&format!("    # {hidden} more: names that are not Python identifiers\n"));
    }
    out
}

/// `class skills:` with one function per skill (awaited for the caller when async,
/// so shown as plain `def`).
pub fn skills_stub(skills: &[SkillInfo]) -> String {
    let mut out = String::from("class skills:\n    \"skills.<name>(**kw); keywords only.\"\n");
    let mut hidden = 0;
    for skill in skills {
        let Some(name) = identifier(&skill.name) else {
            hidden += 1;
            continue;
        };
        let signature = Signature::new(skill.caller_params().map(ShownParam::of_skill));
        let doc = doc_of(&skill.description, skill.unavailable.as_deref());
        out.push_str(&format!("    def {name}({}): {}\n", signature.keyword_only(), body_of(&doc)));
    }
    if hidden > 0 {
        out.push_str(&format!("    # {hidden} more: names that are not Python identifiers\n"));
    }
    out
}

/// The one-line doc of a tool or skill: its description's first line, and why this
/// session cannot call it, if it cannot (so a model does not plan with it).
fn doc_of(description: &str, unavailable: Option<&str>) -> String {
    let doc = first_line(description);
    match unavailable {
        Some(why) => format!("{doc} (unavailable: {})", first_line(why)).trim_start().to_owned(),
        None => doc,
    }
}

/// The body of a one-line `def`: its docstring, or `...`.
fn body_of(doc: &str) -> String {
    if doc.is_empty() { "...".to_owned() } else { quoted(doc) }
}

/// `name` as agent code writes it (`get-sum` is `get_sum`, as the guest looks it
/// up), or `None` if it cannot be written after a dot.
fn identifier(name: &str) -> Option<String> {
    let name = name.replace('-', "_");
    (name.len() <= MAX_NAME_CHARS && is_python_identifier(&name)).then_some(name)
}

/// The first non-blank line of `text`, cut to [`MAX_DOC_CHARS`].
fn first_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    match line.char_indices().nth(MAX_DOC_CHARS) {
        Some((end, _)) => format!("{}…", line[..end].trim_end()),
        None => line.to_owned(),
    }
}

/// `text` as a one-line double-quoted Python string: quotes and backslashes
/// escaped, control characters and line separators as spaces.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `kind` if it is a plain annotation (names, subscripts, `|`, `None`, `...`,
/// simple strings and integers, as in `dict[str, list[int]] | None` or
/// `Literal['a', 1]`), else `object`: it is printed unquoted into the stub.
fn shown_type(kind: &str) -> String {
    let kind = kind.trim();
    let mut reader = TypeReader { text: kind.as_bytes(), at: 0 };
    let plain = kind.len() <= MAX_TYPE_CHARS && kind.is_ascii() && reader.union(0) && {
        reader.blank();
        reader.at == kind.len()
    };
    if plain { kind.to_owned() } else { "object".to_owned() }
}

/// A recogniser for the annotation grammar [`shown_type`] accepts.
struct TypeReader<'a> {
    text: &'a [u8],
    at: usize,
}

impl TypeReader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn blank(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.blank();
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    /// `atom ('|' atom)*`.
    fn union(&mut self, depth: usize) -> bool {
        if depth > MAX_TYPE_DEPTH {
            return false;
        }
        loop {
            if !self.atom(depth) {
                return false;
            }
            if !self.eat(b'|') {
                return true;
            }
        }
    }

    fn atom(&mut self, depth: usize) -> bool {
        self.blank();
        match self.peek() {
            // `Callable[[int], str]`.
            Some(b'[') => {
                self.at += 1;
                self.items(depth)
            }
            Some(quote @ (b'\'' | b'"')) => {
                self.at += 1;
                while let Some(c) = self.peek() {
                    self.at += 1;
                    if c == quote {
                        return true;
                    }
                    if c == b'\\' || c.is_ascii_control() {
                        return false;
                    }
                }
                false
            }
            Some(b'.') => {
                let dots = self.text.get(self.at..self.at + 3) == Some(b"...");
                self.at += 3;
                dots
            }
            Some(b'-' | b'0'..=b'9') => {
                self.at += 1;
                let start = self.at;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.at += 1;
                }
                self.at > start || self.text[start - 1].is_ascii_digit()
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                loop {
                    let start = self.at;
                    while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                        self.at += 1;
                    }
                    let word = std::str::from_utf8(&self.text[start..self.at]).unwrap_or_default();
                    let value = matches!(word, "None" | "True" | "False");
                    if word.is_empty()
                        || word.as_bytes()[0].is_ascii_digit()
                        || (!value && PYTHON_KEYWORDS.contains(&word))
                    {
                        return false;
                    }
                    if self.peek() != Some(b'.') {
                        break;
                    }
                    self.at += 1;
                }
                if self.eat(b'[') { self.items(depth) } else { true }
            }
            _ => false,
        }
    }

    /// `union (',' union)* ','? ']'`, after the `[`.
    fn items(&mut self, depth: usize) -> bool {
        if self.eat(b']') {
            return true;
        }
        loop {
            if !self.union(depth + 1) {
                return false;
            }
            if !self.eat(b',') {
                return self.eat(b']');
            }
            if self.eat(b']') {
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::{CallableInfo, Param, ParamInfo};

    fn tool_param(name: &str, kind: &str, required: bool, default: Option<Value>) -> ParamInfo {
        ParamInfo { name: name.into(), type_name: kind.into(), required, default, description: String::new() }
    }

    #[test]
    fn signatures_put_required_parameters_first() {
        let params = [
            tool_param("limit", "int", false, Some(json!(10))),
            tool_param("q", "", true, None),
            tool_param("x", "bool", false, None),
        ];
        let signature = Signature::new(params.iter().map(ShownParam::of_tool));
        assert_eq!(signature.listed(), "q: str, limit: int = 10, x: bool | None = None");
        assert_eq!(signature.keyword_only(), "*, q: str, limit: int = 10, x: bool | None = None");
        assert_eq!(Signature::new([]).keyword_only(), "");
    }

    #[test]
    fn plain_types_are_kept_and_others_are_object() {
        for kind in [
            "int",
            "list[str]",
            "dict[str, list[int]] | None",
            "Literal['a', \"b\", -1]",
            "Callable[[int], str]",
            "typing.Any",
            "tuple[int, ...]",
        ] {
            assert_eq!(shown_type(kind), kind);
        }
        let deep = format!("{}int{}", "list[".repeat(20), "]".repeat(20));
        for kind in [
            "int int",
            "list[",
            "lambda: 1",
            "'a\\n'",
            "x; import os",
            "int)\ndef f(",
            "\"\"\"",
            "list[def]",
            "é",
            "1.5",
            "-",
            "a..b",
            deep.as_str(),
        ] {
            assert_eq!(shown_type(kind), "object", "{kind:?}");
        }
    }

    #[test]
    fn skill_defaults_come_from_their_value_never_their_source() {
        let param = |default: &str| Param {
            name: "x".into(),
            type_name: Some("str".into()),
            required: false,
            default: Some(default.into()),
        };
        let shown = |default: &str| Signature::new([ShownParam::of_skill(&param(default))]).listed();
        assert_eq!(shown("'utf-8'"), "x: str = 'utf-8'");
        assert_eq!(shown("os.getcwd()"), "x: str = ...");
        assert_eq!(shown(&format!("'{}'", "a".repeat(500))), "x: str = ...");
    }

    #[test]
    fn hostile_text_keeps_the_stub_one_line_per_callable() {
        let long = "x".repeat(100 * 1024);
        let tool = ToolInfo {
            name: "get-sum".into(),
            description: format!("\"\"\" oops\\ \u{0}\r\n{long}"),
            tags: vec![],
            callables: vec![
                CallableInfo {
                    name: Some("run".into()),
                    description: format!("{long}\"\"\""),
                    params: vec![tool_param("file-path", "str", true, None), tool_param("class", "str", false, None)],
                },
                CallableInfo { name: Some("not ok".into()), description: String::new(), params: vec![] },
            ],
            unavailable: Some("down\nhard".into()),
        };
        let text = tools_stub(&[tool]);
        assert!(text.len() < 1024, "{}", text.len());
        assert!(
            text.contains("    class get_sum:\n        \"\\\"\\\"\\\" oops\\\\   (unavailable: down)\"\n"),
            "{text}"
        );
        assert!(text.contains("        def run(**kwargs): \"xxx"), "{text}");
        assert!(text.contains("        # 1 more: names that are not Python identifiers\n"), "{text}");
        assert_eq!(text.lines().count(), 6, "{text}");
    }
}

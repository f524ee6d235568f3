//! CLI tools: argv built as py-code-mode builds it from values checked against the
//! schema, the process spawned directly (never through a shell) with a cleared
//! environment in its own process group, with a timeout that kills the group and a
//! cap on what it may print.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::definition::{OptionYaml, ParamType, PositionalYaml, RecipeParamYaml, RecipeYaml, ToolFile};
use super::process::{self, ProcessGroup};
use super::secrets::Secrets;
use super::{CallableInfo, ParamInfo, ToolError, reject_unknown};

/// Default per-call timeout, as py-code-mode's.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes of stdout a call may return; more is an error rather than a silent cut.
const MAX_OUTPUT: usize = 16 << 20;
/// Characters of stderr quoted in an error.
const STDERR_EXCERPT: usize = 2048;
/// Bytes of stderr read for that excerpt (more than it shows, so it is scrubbed
/// before it is cut).
const STDERR_READ: usize = 16 << 10;
/// The argument every CLI callable accepts: text for the process's stdin.
const STDIN_ARG: &str = "stdin";
/// py-code-mode's documented name for it (`tools.jq.query(filter=".a", input=data)`),
/// accepted too unless the schema has a parameter of that name.
const INPUT_ARG: &str = "input";

#[derive(Debug, Clone)]
struct Opt {
    name: String,
    kind: ParamType,
    flag: String,
    description: String,
    allow_dash: bool,
}

#[derive(Debug, Clone)]
struct Positional {
    name: String,
    kind: ParamType,
    required: bool,
    description: String,
    default: Option<Value>,
    allow_dash: bool,
}

#[derive(Debug, Clone)]
struct Recipe {
    name: String,
    description: String,
    preset: Map<String, Value>,
    /// Exposed parameters; empty means all of the schema's.
    params: Vec<(String, RecipeParam)>,
}

/// A recipe parameter, its type read.
#[derive(Debug, Clone)]
struct RecipeParam {
    /// `None`: the schema parameter's type.
    kind: Option<ParamType>,
    yaml: RecipeParamYaml,
}

/// Longest `short` flag text (`sS` in py-code-mode's nmap example).
const MAX_SHORT: usize = 8;

/// A CLI tool definition, validated.
#[derive(Debug, Clone)]
pub(crate) struct CliTool {
    name: String,
    command: String,
    timeout: Duration,
    options: Vec<Opt>,
    positionals: Vec<Positional>,
    recipes: Vec<Recipe>,
    /// Put `--` before the positionals.
    end_of_options: bool,
    /// The YAML `env`, expanded.
    env: BTreeMap<String, String>,
    /// What `env` pulled from the host, scrubbed from stderr excerpts (and, by the
    /// registry, from everything else the guest sees).
    secrets: Secrets,
    /// What the file should fix, though it loads (an unknown `type`).
    warnings: Vec<String>,
}

/// A YAML `type` (absent: string); an unknown one is read as a string, with a
/// warning, as py-code-mode reads it.
fn param_type(what: &str, name: Option<&str>, warnings: &mut Vec<String>) -> ParamType {
    let Some(name) = name else { return ParamType::String };
    ParamType::parse(name).unwrap_or_else(|| {
        warnings.push(format!(
            "{what}: unknown type {:?}, read as a string (expected string, integer, number, boolean or array, \
             or str, int, float, bool or list)",
            crate::text::shown(name)
        ));
        ParamType::String
    })
}

/// `-<short>`: one or a few ASCII letters and digits (`-r`, `-sS`), so a `short`
/// cannot smuggle anything else (`=`, spaces, a second option) into the argv.
fn short_flag(option: &str, short: &str) -> Result<String, String> {
    if short.is_empty() || short.len() > MAX_SHORT || !short.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "option {option:?}: `short` must be 1 to {MAX_SHORT} ASCII letters or digits (as `r` or `sS`), not {:?}",
            crate::text::shown(short)
        ));
    }
    Ok(format!("-{short}"))
}

fn yaml_to_json(value: &yaml_serde::Value) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| format!("value not representable as JSON: {e}"))
}

fn mapping_key(key: &yaml_serde::Value) -> Result<String, String> {
    key.as_str().map(str::to_owned).ok_or_else(|| format!("expected a name, found {key:?}"))
}

impl CliTool {
    pub(crate) fn from_file(file: &ToolFile) -> Result<Self, String> {
        let schema = file.schema.as_ref();
        let mut warnings = Vec::new();
        let mut options = Vec::new();
        if let Some(schema) = schema {
            for (key, value) in &schema.options {
                let name = mapping_key(key)?;
                let option: OptionYaml =
                    yaml_serde::from_value(value.clone()).map_err(|e| format!("option {name:?}: {e}"))?;
                let flag = match &option.short {
                    Some(short) => short_flag(&name, short)?,
                    None => format!("--{name}"),
                };
                let kind = param_type(&format!("option {name:?}"), option.kind.as_deref(), &mut warnings);
                options.push(Opt { name, kind, flag, description: option.description, allow_dash: option.allow_dash });
            }
        }
        let positionals: Vec<Positional> = schema
            .map(|s| &s.positional)
            .into_iter()
            .flatten()
            .map(|p: &PositionalYaml| {
                Ok(Positional {
                    name: p.name.clone(),
                    kind: param_type(&format!("positional {:?}", p.name), p.kind.as_deref(), &mut warnings),
                    required: p.required,
                    description: p.description.clone(),
                    default: p.default.as_ref().map(yaml_to_json).transpose()?,
                    allow_dash: p.allow_dash,
                })
            })
            .collect::<Result<_, String>>()?;
        let mut recipes = Vec::new();
        let Some(recipe_map) = file.recipes.as_ref().filter(|r| !r.is_empty()) else {
            return Err("no recipes defined (py-code-mode requires at least one)".into());
        };
        let known = |name: &str| options.iter().any(|o| o.name == name) || positionals.iter().any(|p| p.name == name);
        for (key, value) in recipe_map {
            let name = mapping_key(key)?;
            let recipe: RecipeYaml = if value.is_null() {
                RecipeYaml::default()
            } else {
                yaml_serde::from_value(value.clone()).map_err(|e| format!("recipe {name:?}: {e}"))?
            };
            let mut preset = Map::new();
            for (k, v) in &recipe.preset {
                let k = mapping_key(k)?;
                if !known(&k) {
                    return Err(format!("recipe {name:?}: preset {k:?} is not in the schema"));
                }
                preset.insert(k, yaml_to_json(v)?);
            }
            let mut params = Vec::new();
            for (k, v) in &recipe.params {
                let k = mapping_key(k)?;
                if !known(&k) {
                    return Err(format!("recipe {name:?}: parameter {k:?} is not in the schema"));
                }
                let yaml: RecipeParamYaml = if v.is_null() {
                    RecipeParamYaml::default()
                } else {
                    yaml_serde::from_value(v.clone()).map_err(|e| format!("recipe {name:?}, parameter {k:?}: {e}"))?
                };
                let kind = yaml
                    .kind
                    .as_deref()
                    .map(|t| param_type(&format!("recipe {name:?}, parameter {k:?}"), Some(t), &mut warnings));
                params.push((k, RecipeParam { kind, yaml }));
            }
            recipes.push(Recipe { name, description: recipe.description, preset, params });
        }
        let timeout = file.timeout()?.unwrap_or(DEFAULT_TIMEOUT);
        let command = file.command.clone().unwrap_or_else(|| file.name.clone());
        if command.trim().is_empty() {
            return Err("command is empty".into());
        }
        let mut secrets = Secrets::default();
        let env = secrets.expand_env(file.env.as_ref())?;
        Ok(Self {
            name: file.name.clone(),
            command,
            timeout,
            options,
            positionals,
            recipes,
            end_of_options: file.end_of_options,
            env,
            secrets,
            warnings,
        })
    }

    /// What the file should fix, though it loaded.
    pub(crate) fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// What the YAML `env` pulled from the host environment.
    pub(crate) fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// What agents can call: each recipe, then the tool itself (every schema
    /// parameter); each ends with the optional standard input.
    pub(crate) fn callables(&self, description: &str) -> Vec<CallableInfo> {
        let with_stdin = |mut params: Vec<ParamInfo>| {
            params.push(self.stdin_param());
            params
        };
        let mut callables: Vec<CallableInfo> = self
            .recipes
            .iter()
            .map(|r| CallableInfo {
                name: Some(r.name.clone()),
                description: r.description.clone(),
                params: with_stdin(self.recipe_params(r)),
            })
            .collect();
        callables.push(CallableInfo {
            name: None,
            description: description.to_owned(),
            params: with_stdin(self.all_params()),
        });
        callables
    }

    /// The names the standard input may be given under: `stdin`, and `input` unless
    /// the schema takes an `input` of its own.
    fn stdin_names(&self) -> &'static [&'static str] {
        let schema_input =
            self.options.iter().any(|o| o.name == INPUT_ARG) || self.positionals.iter().any(|p| p.name == INPUT_ARG);
        if schema_input { &[STDIN_ARG] } else { &[STDIN_ARG, INPUT_ARG] }
    }

    /// The standard input as listed: under py-code-mode's name, `input`, when it is free.
    fn stdin_param(&self) -> ParamInfo {
        let names = self.stdin_names();
        let description = if names.len() > 1 {
            "Text fed to the program's standard input (`stdin=` is the same)"
        } else {
            "Text fed to the program's standard input"
        };
        ParamInfo {
            name: names[names.len() - 1].to_owned(),
            type_name: "str".into(),
            required: false,
            default: None,
            description: description.into(),
        }
    }

    fn all_params(&self) -> Vec<ParamInfo> {
        let positionals = self.positionals.iter().map(|p| ParamInfo {
            name: p.name.clone(),
            type_name: p.kind.python_name().into(),
            required: p.required,
            default: p.default.clone(),
            description: p.description.clone(),
        });
        let options = self.options.iter().map(|o| ParamInfo {
            name: o.name.clone(),
            type_name: o.kind.python_name().into(),
            required: false,
            default: None,
            description: o.description.clone(),
        });
        positionals.chain(options).collect()
    }

    fn recipe_params(&self, recipe: &Recipe) -> Vec<ParamInfo> {
        if recipe.params.is_empty() {
            return self.all_params();
        }
        recipe
            .params
            .iter()
            .map(|(name, p)| {
                let base = self.all_params().into_iter().find(|b| b.name == *name);
                // A parameter given as `{}` is optional and has its schema type (the
                // type its values are checked against).
                let kind = match (p.kind, &base) {
                    (Some(kind), _) => kind.python_name().to_owned(),
                    (None, Some(base)) => base.type_name.clone(),
                    (None, None) => "str".to_owned(),
                };
                ParamInfo {
                    name: name.clone(),
                    type_name: kind,
                    required: p.yaml.required.unwrap_or(false),
                    default: p.yaml.default.as_ref().and_then(|d| yaml_to_json(d).ok()),
                    description: if p.yaml.description.is_empty() {
                        base.map(|b| b.description).unwrap_or_default()
                    } else {
                        p.yaml.description.clone()
                    },
                }
            })
            .collect()
    }

    fn recipe(&self, name: &str) -> Option<&Recipe> {
        self.recipes.iter().find(|r| r.name == name)
    }

    /// argv for `callable` (a recipe, or the tool itself) with keyword `args`, and
    /// the text to feed to stdin, if any. The caller's values are checked against
    /// the schema first ([`check_value`]); presets and defaults come from the YAML.
    pub(crate) fn argv(
        &self,
        callable: Option<&str>,
        args: &Map<String, Value>,
    ) -> Result<(Vec<String>, Option<String>), ToolError> {
        let invalid = |message: String| ToolError::InvalidArguments { tool: self.name.clone(), message };
        // `tools.curl(...)` uses a recipe named like the tool when there is one.
        let recipe = match callable {
            Some(name) => Some(self.recipe(name).ok_or_else(|| ToolError::UnknownCallable {
                tool: self.name.clone(),
                callable: crate::text::shown(name),
                available: self.recipes.iter().map(|r| r.name.clone()).collect(),
            })?),
            None => self.recipe(&self.name),
        };
        let stdin_names = self.stdin_names();
        let mut accepted: Vec<&str> = self.positionals.iter().map(|p| p.name.as_str()).collect();
        accepted.extend(self.options.iter().map(|o| o.name.as_str()));
        accepted.extend(stdin_names);
        reject_unknown(args, &accepted).map_err(invalid)?;
        for (key, value) in args {
            self.check_arg(key, value).map_err(invalid)?;
        }
        let mut given = stdin_names.iter().filter_map(|name| args.get(*name).filter(|v| !v.is_null()));
        let stdin = match (given.next(), given.next()) {
            (Some(_), Some(_)) => {
                return Err(invalid("give the standard input once, as `stdin` or as `input`, not both".into()));
            }
            (Some(Value::String(text)), None) => Some(text.clone()),
            (Some(other), None) => Some(other.to_string()),
            (None, _) => None,
        };
        // Preset, then recipe defaults for what is still missing, then the caller's.
        let mut merged = Map::new();
        if let Some(recipe) = recipe {
            merged.extend(recipe.preset.clone());
            for (name, param) in &recipe.params {
                if !merged.contains_key(name)
                    && !args.contains_key(name)
                    && let Some(default) = param.yaml.default.as_ref().and_then(|d| yaml_to_json(d).ok())
                {
                    merged.insert(name.clone(), default);
                }
            }
        }
        for (key, value) in args {
            if !stdin_names.contains(&key.as_str()) {
                merged.insert(key.clone(), value.clone());
            }
        }
        let mut argv = vec![self.command.clone()];
        for option in &self.options {
            let Some(value) = merged.get(&option.name).filter(|v| !v.is_null()) else { continue };
            let rendered = |v: &Value| scalar(v).map_err(|e| invalid(format!("{}: {e}", option.name)));
            match (option.kind, value) {
                (ParamType::Boolean, Value::Bool(true)) => argv.push(option.flag.clone()),
                (ParamType::Boolean, Value::Bool(false)) => {}
                (ParamType::Boolean, other) => return Err(invalid(not_a_flag(&option.name, other))),
                (ParamType::Array, Value::Array(items)) => {
                    for item in items {
                        argv.push(option.flag.clone());
                        argv.push(rendered(item)?);
                    }
                }
                (_, other) => {
                    argv.push(option.flag.clone());
                    argv.push(rendered(other)?);
                }
            }
        }
        let mut positionals = Vec::new();
        for positional in &self.positionals {
            let rendered = |v: &Value| scalar(v).map_err(|e| invalid(format!("{}: {e}", positional.name)));
            match merged.get(&positional.name).filter(|v| !v.is_null()).or(positional.default.as_ref()) {
                Some(Value::Array(items)) if positional.kind == ParamType::Array => {
                    for item in items {
                        positionals.push(rendered(item)?);
                    }
                }
                Some(value) => positionals.push(rendered(value)?),
                None if positional.required => {
                    return Err(invalid(format!("required parameter {:?} is missing", positional.name)));
                }
                None => {}
            }
        }
        if self.end_of_options && !positionals.is_empty() {
            argv.push("--".into());
        }
        argv.extend(positionals);
        Ok((argv, stdin))
    }

    /// Checks one of the caller's values against its schema parameter.
    fn check_arg(&self, name: &str, value: &Value) -> Result<(), String> {
        if let Some(option) = self.options.iter().find(|o| o.name == name) {
            return check_value(name, option.kind, option.allow_dash, value);
        }
        if let Some(positional) = self.positionals.iter().find(|p| p.name == name) {
            // After `--` nothing is read as an option.
            return check_value(name, positional.kind, positional.allow_dash || self.end_of_options, value);
        }
        Ok(())
    }

    /// Runs `argv` (from [`argv`](Self::argv)) and returns its stdout.
    ///
    /// The process starts with a cleared environment (the allow-list and the YAML
    /// `env`) as the leader of its own process group. The call ends when the leader
    /// exits; then whatever it left running in the group is killed, so the pipes
    /// close and the output is complete. On timeout, or when this future is
    /// dropped, the whole group is killed.
    pub(crate) async fn run(&self, argv: &[String], stdin: Option<String>) -> Result<String, ToolError> {
        let failed = |message: String| ToolError::Failed { tool: self.name.clone(), message };
        let mut command = process::command(&argv[0], &self.env);
        command
            .args(&argv[1..])
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (mut child, mut group) =
            ProcessGroup::spawn(&mut command).map_err(|e| failed(format!("cannot start {:?}: {e}", argv[0])))?;
        let (stdin_pipe, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        // Fed concurrently with reading, so a large input cannot deadlock the pipes;
        // the pipe is closed when done (the process sees end of input).
        let feed = async move {
            if let (Some(text), Some(mut pipe)) = (stdin, stdin_pipe) {
                let _ = pipe.write_all(text.as_bytes()).await;
            }
        };
        let leader = async {
            let status = child.wait().await;
            group.kill();
            status
        };
        let work =
            async { tokio::join!(leader, read_capped(stdout, MAX_OUTPUT), read_capped(stderr, STDERR_READ), feed) };
        let Ok((status, (stdout, stdout_cut), (stderr, stderr_cut), ())) =
            tokio::time::timeout(self.timeout, work).await
        else {
            group.kill();
            return Err(ToolError::Timeout { tool: self.name.clone(), seconds: self.timeout.as_secs_f64() });
        };
        let status = status.map_err(|e| failed(format!("waiting for the process failed: {e}")))?;
        if !status.success() {
            // Scrubbed before it is trimmed and cut, so no cut shows part of a secret.
            let stderr = self.secrets.scrub_read(&stderr, false, stderr_cut);
            let stderr = self.secrets.excerpt(stderr.trim(), STDERR_EXCERPT);
            let code = status.code().map_or_else(|| "a signal".to_owned(), |c| format!("exit code {c}"));
            return Err(failed(if stderr.is_empty() {
                format!("command failed with {code}")
            } else {
                format!("command failed with {code}: {stderr}")
            }));
        }
        if stdout_cut {
            return Err(failed(format!("the output exceeded {MAX_OUTPUT} bytes")));
        }
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    }
}

/// Refuses a value the parameter's type does not take (only `array` takes a list;
/// `integer` and `number` take numbers; `string` takes text or a number; `boolean`
/// True or False), text with NUL, and text starting with `-` unless `allow_dash`:
/// the program would read it as an option (`format="-f/etc/passwd"`). Numbers of
/// `integer` and `number` parameters may be negative.
fn check_value(name: &str, kind: ParamType, allow_dash: bool, value: &Value) -> Result<(), String> {
    let text_ok = |text: &str| {
        if text.contains('\0') {
            Err(format!("{name}: a value cannot contain a NUL character"))
        } else if text.starts_with('-') && !allow_dash {
            Err(format!(
                "{name}: a value starting with `-` would be read as an option, so it is refused \
                 (the tool's YAML can allow it with `allow_dash: true`)"
            ))
        } else {
            Ok(())
        }
    };
    let text_or_number = |v: &Value| match v {
        Value::String(s) => text_ok(s),
        Value::Number(n) => text_ok(&n.to_string()),
        other => Err(format!("{name} takes strings or numbers, not {}", describe(other))),
    };
    match (kind, value) {
        (_, Value::Null) | (ParamType::Boolean, Value::Bool(_)) | (ParamType::Number, Value::Number(_)) => Ok(()),
        (ParamType::Boolean, other) => Err(not_a_flag(name, other)),
        (ParamType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
        (ParamType::String, v @ (Value::String(_) | Value::Number(_))) => text_or_number(v),
        (ParamType::Array, Value::Array(items)) => items.iter().try_for_each(text_or_number),
        (ParamType::Array, v) => text_or_number(v),
        (kind, other) => {
            let expected = match kind {
                ParamType::Integer => "an integer",
                ParamType::Number => "a number",
                _ => "a string",
            };
            Err(format!("{name} must be {expected}, not {}", describe(other)))
        }
    }
}

fn not_a_flag(name: &str, value: &Value) -> String {
    format!("{name} is a boolean flag (True or False), not {}", describe(value))
}

/// A value as agents think of it, for errors (never the whole value: it may be huge).
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() <= 40 => format!("the string {s:?}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a dict".into(),
    }
}

fn scalar(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        // As py-code-mode's str(True).
        Value::Bool(b) => Ok(if *b { "True" } else { "False" }.to_owned()),
        other => Err(format!("expected a string, number or boolean, not {}", describe(other))),
    }
}

/// Reads everything, keeping at most `cap` bytes; the flag says whether more came.
async fn read_capped(reader: Option<impl AsyncRead + Unpin>, cap: usize) -> (Vec<u8>, bool) {
    let Some(mut reader) = reader else { return (Vec::new(), false) };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buffer = [0u8; 8192];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
    (kept, truncated)
}

//! CLI tools: argv built exactly as py-code-mode builds it, the process spawned
//! directly (never through a shell), with a timeout that kills it and a cap on what
//! it may print.

use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::definition::{OptionYaml, ParamType, PositionalYaml, RecipeParamYaml, RecipeYaml, ToolFile};
use super::{CallableInfo, ParamInfo, ToolError, reject_unknown};

/// Default per-call timeout, as py-code-mode's.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes of stdout a call may return; more is an error rather than a silent cut.
const MAX_OUTPUT: usize = 16 << 20;
/// Bytes of stderr quoted in an error.
const STDERR_EXCERPT: usize = 2048;
/// The argument every CLI callable accepts: text for the process's stdin.
const STDIN_ARG: &str = "stdin";

#[derive(Debug, Clone)]
struct Opt {
    name: String,
    kind: ParamType,
    flag: String,
    description: String,
}

#[derive(Debug, Clone)]
struct Positional {
    name: String,
    kind: ParamType,
    required: bool,
    description: String,
    default: Option<Value>,
}

#[derive(Debug, Clone)]
struct Recipe {
    name: String,
    description: String,
    preset: Map<String, Value>,
    /// Exposed parameters; empty means all of the schema's.
    params: Vec<(String, RecipeParamYaml)>,
}

/// A CLI tool definition, validated.
#[derive(Debug, Clone)]
pub(crate) struct CliTool {
    name: String,
    command: String,
    timeout: Duration,
    options: Vec<Opt>,
    positionals: Vec<Positional>,
    recipes: Vec<Recipe>,
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
        let mut options = Vec::new();
        if let Some(schema) = schema {
            for (key, value) in &schema.options {
                let name = mapping_key(key)?;
                let option: OptionYaml =
                    yaml_serde::from_value(value.clone()).map_err(|e| format!("option {name:?}: {e}"))?;
                let flag = match &option.short {
                    Some(short) if short.chars().count() == 1 => format!("-{short}"),
                    Some(short) => {
                        return Err(format!("option {name:?}: `short` must be one character, not {short:?}"));
                    }
                    None => format!("--{name}"),
                };
                options.push(Opt { name, kind: option.kind, flag, description: option.description });
            }
        }
        let positionals: Vec<Positional> = schema
            .map(|s| &s.positional)
            .into_iter()
            .flatten()
            .map(|p: &PositionalYaml| {
                Ok(Positional {
                    name: p.name.clone(),
                    kind: p.kind,
                    required: p.required,
                    description: p.description.clone(),
                    default: p.default.as_ref().map(yaml_to_json).transpose()?,
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
                let param: RecipeParamYaml = if v.is_null() {
                    RecipeParamYaml::default()
                } else {
                    yaml_serde::from_value(v.clone()).map_err(|e| format!("recipe {name:?}, parameter {k:?}: {e}"))?
                };
                params.push((k, param));
            }
            recipes.push(Recipe { name, description: recipe.description, preset, params });
        }
        let timeout = file.timeout()?.unwrap_or(DEFAULT_TIMEOUT);
        let command = file.command.clone().unwrap_or_else(|| file.name.clone());
        if command.trim().is_empty() {
            return Err("command is empty".into());
        }
        Ok(Self { name: file.name.clone(), command, timeout, options, positionals, recipes })
    }

    /// What agents can call: each recipe, then the tool itself (every schema parameter).
    pub(crate) fn callables(&self, description: &str) -> Vec<CallableInfo> {
        let mut callables: Vec<CallableInfo> = self
            .recipes
            .iter()
            .map(|r| CallableInfo {
                name: Some(r.name.clone()),
                description: r.description.clone(),
                params: self.recipe_params(r),
            })
            .collect();
        callables.push(CallableInfo { name: None, description: description.to_owned(), params: self.all_params() });
        callables
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
                // A parameter given as `{}` is an optional string, as in py-code-mode.
                let kind = p.kind.map(ParamType::python_name).unwrap_or("str");
                ParamInfo {
                    name: name.clone(),
                    type_name: kind.into(),
                    required: p.required.unwrap_or(false),
                    default: p.default.as_ref().and_then(|d| yaml_to_json(d).ok()),
                    description: if p.description.is_empty() {
                        base.map(|b| b.description).unwrap_or_default()
                    } else {
                        p.description.clone()
                    },
                }
            })
            .collect()
    }

    fn recipe(&self, name: &str) -> Option<&Recipe> {
        self.recipes.iter().find(|r| r.name == name)
    }

    /// argv for `callable` (a recipe, or the tool itself) with keyword `args`, and
    /// the text to feed to stdin, if any.
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
                callable: name.to_owned(),
                available: self.recipes.iter().map(|r| r.name.clone()).collect(),
            })?),
            None => self.recipe(&self.name),
        };
        let mut accepted: Vec<&str> = self.positionals.iter().map(|p| p.name.as_str()).collect();
        accepted.extend(self.options.iter().map(|o| o.name.as_str()));
        accepted.push(STDIN_ARG);
        reject_unknown(args, &accepted).map_err(invalid)?;
        let stdin = args.get(STDIN_ARG).map(|value| match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        // Preset, then recipe defaults for what is still missing, then the caller's.
        let mut merged = Map::new();
        if let Some(recipe) = recipe {
            merged.extend(recipe.preset.clone());
            for (name, param) in &recipe.params {
                if !merged.contains_key(name)
                    && !args.contains_key(name)
                    && let Some(default) = param.default.as_ref().and_then(|d| yaml_to_json(d).ok())
                {
                    merged.insert(name.clone(), default);
                }
            }
        }
        for (key, value) in args {
            if key != STDIN_ARG {
                merged.insert(key.clone(), value.clone());
            }
        }
        let mut argv = vec![self.command.clone()];
        for option in &self.options {
            let Some(value) = merged.get(&option.name).filter(|v| !v.is_null()) else { continue };
            match (option.kind, value) {
                (ParamType::Boolean, Value::Bool(true)) => argv.push(option.flag.clone()),
                (ParamType::Boolean, Value::Bool(false)) => {}
                (ParamType::Boolean, other) => {
                    return Err(invalid(format!("{} is a boolean flag, not {other}", option.name)));
                }
                (ParamType::Array, Value::Array(items)) => {
                    for item in items {
                        argv.push(option.flag.clone());
                        argv.push(scalar(item).map_err(|e| invalid(format!("{}: {e}", option.name)))?);
                    }
                }
                (ParamType::Array, other) => {
                    argv.push(option.flag.clone());
                    argv.push(scalar(other).map_err(|e| invalid(format!("{}: {e}", option.name)))?);
                }
                (_, other) => {
                    argv.push(option.flag.clone());
                    argv.push(scalar(other).map_err(|e| invalid(format!("{}: {e}", option.name)))?);
                }
            }
        }
        for positional in &self.positionals {
            match merged.get(&positional.name).filter(|v| !v.is_null()).or(positional.default.as_ref()) {
                Some(Value::Array(items)) => {
                    for item in items {
                        argv.push(scalar(item).map_err(|e| invalid(format!("{}: {e}", positional.name)))?);
                    }
                }
                Some(value) => argv.push(scalar(value).map_err(|e| invalid(format!("{}: {e}", positional.name)))?),
                None if positional.required => {
                    return Err(invalid(format!("required parameter {:?} is missing", positional.name)));
                }
                None => {}
            }
        }
        Ok((argv, stdin))
    }

    /// Runs `argv` (from [`argv`](Self::argv)) and returns its stdout.
    pub(crate) async fn run(&self, argv: &[String], stdin: Option<String>) -> Result<String, ToolError> {
        let failed = |message: String| ToolError::Failed { tool: self.name.clone(), message };
        let mut command = tokio::process::Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| failed(format!("cannot start {:?}: {e}", argv[0])))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // Fed concurrently with reading, so a large input cannot deadlock the pipes.
            tokio::spawn(async move {
                let _ = pipe.write_all(text.as_bytes()).await;
            });
        }
        let stdout = child.stdout.take().map(|out| tokio::spawn(read_capped(out, MAX_OUTPUT)));
        let stderr = child.stderr.take().map(|err| tokio::spawn(read_capped(err, STDERR_EXCERPT)));
        let status = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(status) => status.map_err(|e| failed(format!("waiting for the process failed: {e}")))?,
            Err(_) => {
                let _ = child.kill().await;
                return Err(ToolError::Timeout { tool: self.name.clone(), seconds: self.timeout.as_secs_f64() });
            }
        };
        let (stdout, stdout_truncated) = match stdout {
            Some(task) => task.await.unwrap_or_default(),
            None => (Vec::new(), false),
        };
        let (stderr, _) = match stderr {
            Some(task) => task.await.unwrap_or_default(),
            None => (Vec::new(), false),
        };
        if !status.success() {
            let stderr = String::from_utf8_lossy(&stderr).trim().to_owned();
            let code = status.code().map_or_else(|| "a signal".to_owned(), |c| format!("exit code {c}"));
            return Err(failed(if stderr.is_empty() {
                format!("command failed with {code}")
            } else {
                format!("command failed with {code}: {stderr}")
            }));
        }
        if stdout_truncated {
            return Err(failed(format!("the output exceeded {MAX_OUTPUT} bytes")));
        }
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    }
}

fn scalar(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        // As py-code-mode's str(True).
        Value::Bool(b) => Ok(if *b { "True" } else { "False" }.to_owned()),
        other => Err(format!("expected a string, number or boolean, not {other}")),
    }
}

/// Reads everything, keeping at most `cap` bytes; the flag says whether more came.
async fn read_capped(mut reader: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, bool) {
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

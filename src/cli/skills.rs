//! `codemode skills`: the skill library agent code sees, from the shell.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use codemode::model::{Operations, SkillExample};

use super::SessionArgs;
use super::run::print_result;

#[derive(Debug, Subcommand)]
pub enum SkillsCommand {
    /// List skills (name, async, parameters, description).
    List {
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Check every skill in the storage: prints `ok` or `skip` with the reason for
    /// each entry; exit 1 if anything is skipped (agents would not see it).
    Check {
        /// Print JSON instead: `[{name, ok, description | reason}]`.
        #[arg(long)]
        json: bool,
    },
    /// Print a skill's source.
    Show {
        /// The skill's name.
        name: String,
    },
    /// Validate a Python file and save it as a skill (replacing one of the same name).
    Add {
        /// The file; it must define `def run(...)` or `async def run(...)`.
        #[arg(value_parser = super::paths::path())]
        file: PathBuf,
        /// The skill's name [default: the file's stem].
        #[arg(long)]
        name: Option<String>,
        /// The description [default: the module docstring, else run's docstring].
        #[arg(short, long)]
        description: Option<String>,
        /// An example the skill must pass before it is saved, as JSON
        /// `{"args": {...}, "expect": value}`; repeatable (at most 16).
        #[arg(long = "example", value_name = "JSON")]
        examples: Vec<String>,
    },
    /// Run the examples of one skill, or of every skill, again: prints `pass`,
    /// `FAIL` or `skip` per skill and a summary; exit 1 if any failed.
    Test {
        /// The skill to test [default: every skill].
        name: Option<String>,
        /// Print the report as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Delete a skill.
    Rm {
        /// The skill's name.
        name: String,
    },
    /// List a skill's versions, oldest first, the current one last (saving over a
    /// skill keeps the one replaced; at most 20 are kept).
    History {
        /// The skill's name.
        name: String,
        /// Print JSON instead: `[{version, created_at, description, current, untrusted}]`.
        #[arg(long)]
        json: bool,
    },
    /// Restore an earlier version of a skill (a number from `history`) as its new
    /// current version; the one replaced stays in the history.
    Rollback {
        /// The skill's name.
        name: String,
        /// The version to restore (named `number`: `version` is clap's `--version`).
        #[arg(value_name = "VERSION")]
        number: u32,
        /// Print JSON instead: the skill with `rolled_back_to` and its new `version`.
        #[arg(long)]
        json: bool,
    },
    /// Find skills by meaning (keywords if the model is not installed).
    Search {
        /// What the skill should do.
        query: String,
        /// How many results.
        #[arg(short, long, default_value_t = 5)]
        limit: usize,
        #[command(flatten)]
        format: super::Format,
    },
    /// Embed every skill that has no vectors yet, with progress (searches otherwise
    /// do it in the background and rank those skills by keywords until then).
    Index,
    /// Run a skill: prints its output and return value like `codemode run`.
    Invoke {
        /// The skill's name.
        name: String,
        /// A keyword argument, `key=value`; the value is read as JSON when it parses, else as a string.
        #[arg(long = "arg", value_name = "KEY=VALUE")]
        args: Vec<String>,
    },
}

pub async fn run(context: &SessionArgs<'_>, command: &SkillsCommand) -> anyhow::Result<ExitCode> {
    let library = || async { context.services().await };
    match command {
        SkillsCommand::List { json } => {
            let skills = library().await?.list_skills().await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&skills)?);
            } else {
                for skill in &skills {
                    let params: Vec<&str> = skill.params.iter().map(|p| p.name.as_str()).collect();
                    let kind = if skill.is_async { "async " } else { "" };
                    let unavailable =
                        skill.unavailable.as_ref().map(|why| format!(" (unavailable: {why})")).unwrap_or_default();
                    let verified = match skill.verified {
                        codemode::model::Verified::Passed => " [verified]",
                        codemode::model::Verified::Failed => " [FAILS its examples]",
                        codemode::model::Verified::Never => "",
                    };
                    println!(
                        "{kind}{}({})\t{}{verified}{unavailable}",
                        skill.name,
                        params.join(", "),
                        skill.description
                    );
                }
                eprintln!("{} skill(s)", skills.len());
            }
        }
        SkillsCommand::Check { json } => {
            let services = library().await?;
            let checks = services.skills()?.check().await?;
            let skipped = checks.iter().filter(|c| c.loaded.is_err()).count();
            if *json {
                let entries: Vec<serde_json::Value> = checks
                    .iter()
                    .map(|c| match &c.loaded {
                        Ok(info) => serde_json::json!({"name": c.name, "ok": true, "description": info.description}),
                        Err(reason) => serde_json::json!({"name": c.name, "ok": false, "reason": reason}),
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                for check in &checks {
                    match &check.loaded {
                        Ok(info) => println!("ok    {}: {}", check.name, info.description),
                        Err(reason) => println!("skip  {}: {reason}", check.name),
                    }
                }
                eprintln!("{} skill(s) ok, {skipped} skipped", checks.len() - skipped);
            }
            return Ok(if skipped > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS });
        }
        SkillsCommand::Show { name } => print!("{}", library().await?.get_skill(name).await?.source),
        SkillsCommand::Add { file, name, description, examples } => {
            let source = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = match name {
                Some(name) => name.clone(),
                None => file.file_stem().and_then(|s| s.to_str()).context("the file has no usable name")?.to_owned(),
            };
            let examples = examples
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    serde_json::from_str::<SkillExample>(text)
                        .with_context(|| format!("--example {} is not {{\"args\": {{...}}, \"expect\": value}}", i + 1))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let services = if examples.is_empty() { library().await? } else { context.verifying_services().await? };
            let (skill, replaced) =
                services.create_verified_skill(&name, &source, description.as_deref(), &examples).await?;
            let verified = match &skill.verification {
                Some(v) => format!(" ({} example(s) passed)", v.examples),
                None => String::new(),
            };
            let what = if replaced { "replaced" } else { "added" };
            eprintln!("{what} skill {}: {}{verified}", skill.info.name, skill.info.description);
        }
        SkillsCommand::Test { name, json } => {
            let services = context.verifying_services().await?;
            let bar = super::progress::count_progress("testing skills");
            let report = services.skills()?.test(name.as_deref(), |done, total| bar.update(done, total)).await?;
            bar.finish(&report.summary);
            if *json {
                super::print_json(&report)?;
            } else {
                for test in &report.results {
                    let (status, detail) = match (&test.skipped, test.failures.is_empty()) {
                        (Some(why), _) => ("skip", why.clone()),
                        (None, true) => ("pass", format!("{} example(s)", test.examples)),
                        (None, false) => ("FAIL", test.failures.join("; ")),
                    };
                    println!("{status}  {}: {detail}", test.name);
                }
                eprintln!("{}", report.summary);
            }
            return Ok(if report.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS });
        }
        SkillsCommand::Rm { name } => {
            if !library().await?.delete_skill(name).await? {
                eprintln!("no skill named {name:?}");
                return Ok(ExitCode::from(1));
            }
        }
        SkillsCommand::History { name, json } => {
            let versions = library().await?.skill_history(name).await?;
            if *json {
                super::print_json(&versions)?;
            } else {
                for v in &versions {
                    let current = if v.current { " (current)" } else { "" };
                    let untrusted = v.untrusted.as_ref().map(|why| format!(" (untrusted: {why})")).unwrap_or_default();
                    println!("{}\t{}\t{}{current}{untrusted}", v.version, v.created_at, v.description);
                }
            }
        }
        SkillsCommand::Rollback { name, number: version, json } => {
            let (skill, now) = library().await?.rollback_skill(name, *version).await?;
            if *json {
                let mut value = serde_json::to_value(&skill)?;
                value["rolled_back_to"] = (*version).into();
                value["version"] = now.into();
                super::print_json(&value)?;
            } else {
                eprintln!("skill {}: version {version} restored as version {now}", skill.info.name);
            }
        }
        SkillsCommand::Index => {
            let services = library().await?;
            let bar = super::progress::count_progress("embedding skills");
            let embedded = services.skills()?.index(|done, total| bar.update(done, total)).await?;
            bar.finish(&format!("{embedded} text(s) embedded; every skill is indexed"));
        }
        SkillsCommand::Search { query, limit, format } => {
            let results = library().await?.search_skills(query, *limit).await?;
            if format.json {
                super::print_json(&results)?;
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(notice) = &results.notice {
                eprintln!("note: {notice}");
            }
            for m in &results.matches {
                println!("{:.3}\t{}\t{}", m.score, m.info.name, m.info.description);
            }
        }
        SkillsCommand::Invoke { name, args } => {
            let mut kwargs = serde_json::Map::new();
            for arg in args {
                let (key, value) = arg.split_once('=').with_context(|| format!("--arg {arg:?} is not KEY=VALUE"))?;
                let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
                kwargs.insert(key.to_owned(), value);
            }
            let session = context.session().await?;
            let result = session.invoke_skill(name, &kwargs).await?;
            print_result(&result)?;
            return Ok(if result.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `codemode store`: copy skills and artifacts between a directory and Redis, as
//! py-code-mode's store CLI does (bootstrap a shared Redis from a checked-in
//! directory, pull what agents created back for review).

use std::collections::BTreeMap;
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use codemode::artifacts::ArtifactName;
use codemode::deps::{Deps, PipOptions};
use codemode::storage::{FileStorage, RedisStorage, Snapshot, Storage};
use sha2::{Digest, Sha256};

use super::storage::StorageArgs;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy skills, artifacts and deps from the directory (--base) into Redis (--redis),
    /// in one transaction: all of it is written, or nothing.
    Push {
        /// Copy skills only.
        #[arg(long)]
        skills_only: bool,
        /// Make Redis match the directory: delete skills, artifacts and deps it does
        /// not have (with --skills-only, skills only), in the same transaction.
        #[arg(long)]
        clear: bool,
    },
    /// Copy skills and artifacts from Redis (--redis) into the directory (--base).
    Pull {
        /// Copy skills only.
        #[arg(long)]
        skills_only: bool,
    },
    /// Show what differs: `+` only in Redis, `-` only in the directory, `~` changed, `=` same.
    Diff {
        /// Print JSON instead: `{skills: {NAME: STATE}, artifacts: {NAME: STATE}}`, STATE
        /// one of `only_in_redis`, `only_in_directory`, `differs`, `same`.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: &StorageArgs, command: &StoreCommand) -> anyhow::Result<ExitCode> {
    let url = args.redis.as_deref().context("`codemode store` needs --redis URL (and --base DIR)")?;
    let dir = args.open_dir().await?;
    let redis = args.open_redis(url).await?;
    match command {
        StoreCommand::Push { skills_only, clear } => push(&dir, &redis, *skills_only, *clear).await?,
        StoreCommand::Pull { skills_only } => copy(&redis, &dir, *skills_only, "the directory").await?,
        StoreCommand::Diff { json } => diff(&dir, &redis, *json).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads everything first, then writes it to Redis in one transaction: a file that
/// cannot be read, or Redis refusing a write, leaves Redis as it was.
async fn push(dir: &FileStorage, redis: &RedisStorage, skills_only: bool, clear: bool) -> anyhow::Result<()> {
    let (skills, skipped) = dir.scan_skills().await?;
    for skip in &skipped {
        eprintln!("warning: skipped skill file {}: {}", skip.entry, skip.reason);
    }
    let mut snapshot = Snapshot { skills: Some(skills), ..Snapshot::default() };
    if !skills_only {
        let mut artifacts = Vec::new();
        for info in dir.list_artifacts().await? {
            let name = ArtifactName::new(&info.name)?;
            let artifact = dir.load_artifact(&name).await?.with_context(|| format!("artifact {name} vanished"))?;
            artifacts.push((name, artifact));
        }
        snapshot.artifacts = Some(artifacts);
        // The recorded deps and the read-only requirements.txt, as sessions see them.
        let deps = Deps::new(Arc::new(dir.clone()), false, PipOptions::default());
        snapshot.deps = Some(deps.list().await?);
    }
    let cleared = redis.import(&snapshot, clear).await?;
    for skill in snapshot.skills.iter().flatten() {
        println!("  skill: {}", skill.name);
    }
    for (name, _) in snapshot.artifacts.iter().flatten() {
        println!("  artifact: {name}");
    }
    for spec in snapshot.deps.iter().flatten() {
        println!("  dep: {spec}");
    }
    for (what, names) in [("skill", &cleared.skills), ("artifact", &cleared.artifacts), ("dep", &cleared.deps)] {
        for name in names {
            println!("  deleted {what}: {name}");
        }
    }
    println!(
        "copied {} skill(s) and {} artifact(s) to Redis, with {} dep(s)",
        snapshot.skills.as_ref().map_or(0, Vec::len),
        snapshot.artifacts.as_ref().map_or(0, Vec::len),
        snapshot.deps.as_ref().map_or(0, Vec::len)
    );
    Ok(())
}

async fn copy(from: &dyn Storage, to: &dyn Storage, skills_only: bool, target: &str) -> anyhow::Result<()> {
    let skills = from.list_skills().await?;
    for skill in &skills {
        to.save_skill(skill).await?;
        println!("  skill: {}", skill.name);
    }
    let mut artifacts = 0;
    if !skills_only {
        for info in from.list_artifacts().await? {
            let name = ArtifactName::new(&info.name)?;
            let Some(artifact) = from.load_artifact(&name).await? else { continue };
            to.save_artifact(&name, &artifact.info, &artifact.data).await?;
            println!("  artifact: {}", info.name);
            artifacts += 1;
        }
    }
    println!("copied {} skill(s) and {artifacts} artifact(s) to {target}", skills.len());
    Ok(())
}

async fn diff(dir: &dyn Storage, redis: &dyn Storage, json: bool) -> anyhow::Result<()> {
    let skill_hashes = |skills: Vec<codemode::storage::StoredSkill>| -> BTreeMap<String, String> {
        skills.into_iter().map(|s| (s.name.to_string(), hash(&[s.name.as_str(), &s.description, &s.source]))).collect()
    };
    let skills = compare(&skill_hashes(dir.list_skills().await?), &skill_hashes(redis.list_skills().await?));

    let mut artifact_hashes = Vec::new();
    for storage in [dir, redis] {
        let mut hashes = BTreeMap::new();
        for info in storage.list_artifacts().await? {
            let name = ArtifactName::new(&info.name)?;
            if let Some(artifact) = storage.load_artifact(&name).await? {
                let data = String::from_utf8_lossy(&artifact.data);
                hashes.insert(info.name.clone(), hash(&[&info.name, &info.description, &data]));
            }
        }
        artifact_hashes.push(hashes);
    }
    let artifacts = compare(&artifact_hashes[0], &artifact_hashes[1]);
    if json {
        return super::print_json(&serde_json::json!({"skills": skills, "artifacts": artifacts}));
    }
    for (what, states) in [("skill", &skills), ("artifact", &artifacts)] {
        for (name, state) in states {
            match state {
                Diff::OnlyInRedis => println!("+ {what} {name} (only in Redis)"),
                Diff::OnlyInDirectory => println!("- {what} {name} (only in the directory)"),
                Diff::Differs => println!("~ {what} {name} (differs)"),
                Diff::Same => println!("= {what} {name}"),
            }
        }
    }
    Ok(())
}

fn hash(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join(":"));
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Where an entry is, compared by content hash.
#[derive(serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum Diff {
    OnlyInRedis,
    OnlyInDirectory,
    Differs,
    Same,
}

/// Every name in either map, in order, with where it is.
fn compare(local: &BTreeMap<String, String>, remote: &BTreeMap<String, String>) -> BTreeMap<String, Diff> {
    let names: std::collections::BTreeSet<&String> = local.keys().chain(remote.keys()).collect();
    names
        .into_iter()
        .map(|name| {
            let state = match (local.get(name), remote.get(name)) {
                (None, _) => Diff::OnlyInRedis,
                (_, None) => Diff::OnlyInDirectory,
                (Some(a), Some(b)) if a != b => Diff::Differs,
                _ => Diff::Same,
            };
            (name.clone(), state)
        })
        .collect()
}

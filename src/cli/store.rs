//! `codemode store`: copy skills and artifacts between a directory and Redis, as
//! py-code-mode's store CLI does (bootstrap a shared Redis from a checked-in
//! directory, pull what agents created back for review).

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use codemode::artifacts::ArtifactName;
use codemode::storage::Storage;
use sha2::{Digest, Sha256};

use super::storage::StorageArgs;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy skills and artifacts from the directory (--base) into Redis (--redis).
    Push {
        /// Copy skills only.
        #[arg(long)]
        skills_only: bool,
    },
    /// Copy skills and artifacts from Redis (--redis) into the directory (--base).
    Pull {
        /// Copy skills only.
        #[arg(long)]
        skills_only: bool,
    },
    /// Show what differs: `+` only in Redis, `-` only in the directory, `~` changed, `=` same.
    Diff,
}

pub async fn run(args: &StorageArgs, command: &StoreCommand) -> anyhow::Result<ExitCode> {
    let url = args.redis.as_deref().context("`codemode store` needs --redis URL (and --base DIR)")?;
    let dir = args.open_dir().await?;
    let redis = args.open_redis(url).await?;
    match command {
        StoreCommand::Push { skills_only } => copy(&dir, &redis, *skills_only, "Redis").await?,
        StoreCommand::Pull { skills_only } => copy(&redis, &dir, *skills_only, "the directory").await?,
        StoreCommand::Diff => diff(&dir, &redis).await?,
    }
    Ok(ExitCode::SUCCESS)
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

async fn diff(dir: &dyn Storage, redis: &dyn Storage) -> anyhow::Result<()> {
    let skill_hashes = |skills: Vec<codemode::storage::StoredSkill>| -> BTreeMap<String, String> {
        skills.into_iter().map(|s| (s.name.to_string(), hash(&[s.name.as_str(), &s.description, &s.source]))).collect()
    };
    let local = skill_hashes(dir.list_skills().await?);
    let remote = skill_hashes(redis.list_skills().await?);
    print_diff("skill", &local, &remote);

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
    print_diff("artifact", &artifact_hashes[0], &artifact_hashes[1]);
    Ok(())
}

fn hash(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join(":"));
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn print_diff(what: &str, local: &BTreeMap<String, String>, remote: &BTreeMap<String, String>) {
    let names: std::collections::BTreeSet<&String> = local.keys().chain(remote.keys()).collect();
    for name in names {
        match (local.get(name), remote.get(name)) {
            (None, Some(_)) => println!("+ {what} {name} (only in Redis)"),
            (Some(_), None) => println!("- {what} {name} (only in the directory)"),
            (Some(a), Some(b)) if a != b => println!("~ {what} {name} (differs)"),
            _ => println!("= {what} {name}"),
        }
    }
}

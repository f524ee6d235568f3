//! Sessions on a `codemode serve`: a remote server, or one spawned as a child.
//!
//! ```sh
//! CODEMODE_URL=http://127.0.0.1:8080 CODEMODE_TOKEN=... cargo run --example remote
//! cargo run --example remote -- --spawn target/release/codemode   # a child on loopback
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use codemode::model::Operations;
use codemode::remote::{Remote, Subprocess};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let remote = match args.as_slice() {
        [flag, binary] if flag == "--spawn" => Subprocess::spawn(Path::new(binary), &[]).await?,
        _ => {
            let url = std::env::var("CODEMODE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
            Remote::new(&url, std::env::var("CODEMODE_TOKEN").ok().as_deref())?
        }
    };
    let session = remote.session().await?;
    session.run("import statistics\ndata = [3, 1, 4, 1, 5, 9, 2, 6]").await?;
    let result = session.run("statistics.median(data)").await?;
    println!("median = {}", result.value.map(|v| v.repr).unwrap_or_default());
    println!("skills on the server: {}", remote.list_skills().await?.len());
    session.close().await?;
    Ok(())
}

//! `inquest runbooks sync DIR`: every `*.md` under DIR becomes the runbook of its
//! relative path (front matter `title`, `service`, `tags`, `source_url`), chunked by
//! section into the semantic store; runbooks an earlier sync of the same folder wrote
//! whose file is gone are deleted. Unchanged files are not embedded again.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use inquest_config::Settings;
use inquest_domain::ProjectId;
use inquest_feeds::runbooks;

#[derive(Subcommand)]
pub enum RunbooksCommand {
    /// Sync a folder of markdown runbooks into the project's `runbooks` collection.
    Sync {
        dir: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(settings: &Settings, project: &ProjectId, command: RunbooksCommand) -> Result<()> {
    match command {
        RunbooksCommand::Sync { dir, json } => sync(settings, project, &dir, json).await,
    }
}

async fn sync(settings: &Settings, project: &ProjectId, dir: &Path, json: bool) -> Result<()> {
    let canonical = dir.canonicalize().with_context(|| format!("runbook folder {}", dir.display()))?;
    if !canonical.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    let files = read_folder(&canonical).with_context(|| format!("reading {}", canonical.display()))?;
    let stores = crate::stores::project_stores(settings, project).await?;
    let origin = runbooks::folder_origin(&canonical);
    let s = runbooks::sync(&stores, &origin, &files).await.context("syncing runbooks")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        for (label, ids) in [("created", &s.created), ("updated", &s.updated), ("deleted", &s.deleted)] {
            for id in ids {
                println!("{label:<9} {id}");
            }
        }
        for (file, why) in &s.failed {
            println!("failed    {file}: {why}");
        }
        println!(
            "{} file(s) in {}: {} created, {} updated, {} unchanged, {} deleted, {} failed",
            files.len(),
            canonical.display(),
            s.created.len(),
            s.updated.len(),
            s.unchanged.len(),
            s.deleted.len(),
            s.failed.len()
        );
    }
    if !s.failed.is_empty() {
        bail!("{} runbook file(s) not synced", s.failed.len());
    }
    Ok(())
}

/// Every `*.md` under `dir` (recursively, hidden entries skipped) as `(relative path, text)`,
/// in path order.
fn read_folder(dir: &Path) -> std::io::Result<Vec<(std::path::PathBuf, String)>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(std::path::PathBuf, String)>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("md")) {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                out.push((path.strip_prefix(root).unwrap_or(&path).to_path_buf(), text));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

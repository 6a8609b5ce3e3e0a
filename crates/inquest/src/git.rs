//! `inquest git sync`: the new commits of a clone (or of every `[[feeds.git]]` clone)
//! into the stores of the project, with a progress bar and a summary line; and the
//! pieces `serve` shares: the configured clones and the LLM-backed commit summarizer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use inquest_config::Settings;
use inquest_domain::ProjectId;
use inquest_git::{CloneSpec, GitRepositories, Summarizer, SummaryInput, SyncOptions};
use inquest_llm::LlmClient;

#[derive(Subcommand)]
pub enum GitCommand {
    /// Sync new commits: `--repo owner/name --path DIR`, or every `[[feeds.git]]` clone.
    Sync {
        /// The repository's name (`owner/name`), as webhooks and deployments name it.
        #[arg(long, requires = "path")]
        repo: Option<String>,
        /// The clone to read.
        #[arg(long, requires = "repo")]
        path: Option<PathBuf>,
        /// The revision synced (default: the configured one, else `HEAD`).
        #[arg(long)]
        branch: Option<String>,
        /// `git fetch` before syncing.
        #[arg(long)]
        fetch: bool,
    },
}

/// The one-line summaries of `[llm]`'s endpoint.
struct LlmSummarizer(LlmClient);

#[async_trait]
impl Summarizer for LlmSummarizer {
    async fn summarize(&self, input: &SummaryInput) -> Result<String, String> {
        let user = inquest_git::summary::prompt(input, inquest_git::Limits::default().max_excerpt_chars);
        self.0.complete(inquest_git::summary::SYSTEM, &user).await.map(|c| c.text).map_err(|e| e.to_string())
    }
}

/// The summarizer of the configured LLM endpoint; none without one.
pub fn summarizer(settings: &Settings) -> Option<Arc<dyn Summarizer>> {
    let mut llm = crate::writers::llm_settings(&settings.llm);
    // A line, not a report.
    llm.max_output_tokens = llm.max_output_tokens.min(100);
    LlmClient::new(llm).ok().map(|c| Arc::new(LlmSummarizer(c)) as Arc<dyn Summarizer>)
}

/// The `[[feeds.git]]` clones with the summarizer their syncs use.
pub fn repositories(settings: &Settings) -> GitRepositories {
    let clones = settings
        .feeds
        .git
        .iter()
        .map(|g| CloneSpec { repo: g.repo.clone(), path: g.path.clone(), branch: g.branch.clone(), fetch: g.fetch })
        .collect();
    GitRepositories::new(clones).with_summarizer(summarizer(settings)).with_last_n(settings.feeds.last_n_commits)
}

pub async fn run(settings: &Settings, project: &ProjectId, command: GitCommand) -> Result<()> {
    let GitCommand::Sync { repo, path, branch, fetch } = command;
    let configured = repositories(settings);
    let clones: Vec<CloneSpec> = match (repo, path) {
        (Some(repo), Some(path)) => {
            if !inquest_feeds::commits::is_repo_name(&repo) {
                bail!("--repo: '{repo}' is not owner/name");
            }
            let known = configured.clone_of(&repo).and_then(|c| c.branch.clone());
            vec![CloneSpec { repo, path, branch: branch.clone().or(known), fetch }]
        }
        _ if configured.clones().is_empty() => {
            bail!("no clone to sync: pass --repo owner/name --path DIR, or configure [[feeds.git]] entries")
        }
        _ => configured
            .clones()
            .iter()
            .map(|c| CloneSpec { branch: branch.clone().or(c.branch.clone()), fetch, ..c.clone() })
            .collect(),
    };
    let stores = crate::stores::project_stores(settings, project).await?;
    for clone in clones {
        if clone.fetch {
            inquest_git::fetch(&clone.path).await?;
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} commits {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(clone.repo.clone());
        bar.enable_steady_tick(Duration::from_millis(200));
        let shown = bar.clone();
        let options = SyncOptions {
            progress: Some(Arc::new(move |p| {
                shown.set_length(p.total as u64);
                shown.set_position(p.done as u64);
            })),
            ..configured.options(&clone)
        };
        let summary = inquest_git::sync(&stores, &clone.repo, &clone.path, &options)
            .await
            .with_context(|| format!("syncing {} from {}", clone.repo, clone.path.display()));
        bar.finish_and_clear();
        let s = summary?;
        println!(
            "{}: {} commits, {} files, {} chunks in {:.1} s (tip {})",
            s.repo,
            s.commits,
            s.files,
            s.chunks,
            s.elapsed.as_secs_f64(),
            &s.tip[..s.tip.len().min(12)]
        );
    }
    Ok(())
}

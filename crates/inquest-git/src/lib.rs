//! Git sync of local clones: new commits of a branch become `commits` and
//! `commit_files` rows and `git_diff_chunks` documents, written through the feeds in
//! deliveries of a few hundred commits; and the commit ranges of deployments.
//!
//! The sync is incremental: the tips synced last time are the feed state
//! `feed_state("git", "<repo>")`, hidden from the walk, so a second run reads only new
//! commits and a run with nothing new writes nothing. Commits go oldest first; each
//! delivery (`<repo>@<last sha of the chunk>`) carries the new tips as its state in the
//! same transaction as its rows, so an interrupted sync resumes after its last
//! delivery. libgit2 reads on a blocking thread while the deliveries are written.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use inquest_domain::Timestamp;
use inquest_feeds::{Delivery, Feed, FeedError};
use inquest_ports::{DeliveryOutcome, RecordBatch, StoreError, Stores};
use serde::{Deserialize, Serialize};

mod read;
mod repos;
pub mod summary;

pub use read::{Limits, ReadCommit, read_commit, stored_diff};
pub use repos::{CloneSpec, GitRepositories, fetch};
pub use summary::{Summarizer, SummaryInput};

/// Why a sync or a range failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path}: not a git repository ({message})")]
    Open { path: PathBuf, message: String },
    #[error("unknown revision {0}")]
    UnknownRevision(String),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("git fetch in {path}: {message}")]
    Fetch { path: PathBuf, message: String },
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the git reader stopped: {0}")]
    Reader(String),
}

/// How a sync runs.
#[derive(Clone)]
pub struct SyncOptions {
    /// The revision synced (a branch, `origin/main`, a tag); `HEAD` when unset.
    pub branch: Option<String>,
    /// Most commits per delivery.
    pub chunk_commits: usize,
    /// A delivery also ends once its diff text reaches this many bytes.
    pub chunk_bytes: usize,
    pub limits: Limits,
    /// Writes each new commit's one-line summary; none: summaries stay empty.
    pub summarizer: Option<Arc<dyn Summarizer>>,
    /// Summaries asked at once.
    pub summary_concurrency: usize,
    /// Told after every delivery.
    pub progress: Option<Arc<dyn Fn(SyncProgress) + Send + Sync>>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            branch: None,
            chunk_commits: 200,
            chunk_bytes: 16 * 1024 * 1024,
            limits: Limits::default(),
            summarizer: None,
            summary_concurrency: 4,
            progress: None,
        }
    }
}

/// How far a sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncProgress {
    /// New commits found by the walk.
    pub total: usize,
    /// Commits written so far.
    pub done: usize,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncSummary {
    pub repo: String,
    /// The commit the branch pointed at.
    pub tip: String,
    pub commits: usize,
    pub files: usize,
    /// `git_diff_chunks` documents embedded.
    pub chunks: usize,
    pub deliveries: usize,
    /// Deliveries already applied before (a re-run after a crash between the write
    /// and the cursor can only be this).
    pub duplicates: usize,
    pub summaries: usize,
    #[serde(skip)]
    pub elapsed: Duration,
}

/// The feed state of one repository: the tips everything synced is reachable from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub tips: Vec<String>,
    #[serde(default)]
    pub branch: Option<String>,
}

/// Read the cursor of `repo` in the stores' project.
pub async fn cursor(stores: &Stores, repo: &str) -> Result<Cursor, GitError> {
    let state = stores.records.feed_state(Feed::Git.as_str(), repo).await?;
    Ok(state.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
}

/// One delivery's worth of commits, as the reader hands it over.
struct Chunk {
    commits: Vec<ReadCommit>,
    tips: Vec<String>,
    total: usize,
}

/// Sync the new commits of the clone at `path` into `stores` under the name `repo`.
pub async fn sync(stores: &Stores, repo: &str, path: &Path, options: &SyncOptions) -> Result<SyncSummary, GitError> {
    let started = Instant::now();
    let synced = cursor(stores, repo).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Chunk, GitError>>(2);
    let (path_buf, repo_name, opts) = (path.to_path_buf(), repo.to_string(), options.clone());
    let reader = tokio::task::spawn_blocking(move || {
        let result = read_chunks(&path_buf, &repo_name, &synced.tips, &opts, &tx);
        if let Err(e) = &result {
            let _ = tx.blocking_send(Err(GitError::Reader(e.to_string())));
        }
        result
    });
    let mut summary = SyncSummary {
        repo: repo.to_string(),
        tip: String::new(),
        commits: 0,
        files: 0,
        chunks: 0,
        deliveries: 0,
        duplicates: 0,
        summaries: 0,
        elapsed: Duration::ZERO,
    };
    while let Some(chunk) = rx.recv().await {
        let Ok(mut chunk) = chunk else { break };
        if let Some(s) = &options.summarizer {
            summary.summaries += summarize(s.clone(), &mut chunk.commits, options.summary_concurrency).await;
        }
        let delivery = delivery(repo, options.branch.as_deref(), chunk.commits, &chunk.tips);
        let applied = inquest_feeds::apply(stores, &delivery).await?;
        summary.deliveries += 1;
        if applied.outcome == DeliveryOutcome::Duplicate {
            summary.duplicates += 1;
        }
        summary.commits += delivery.records.batch.commits.len();
        summary.files += delivery.records.batch.commit_files.len();
        summary.chunks += applied.documents;
        if let Some(p) = &options.progress {
            p(SyncProgress { total: chunk.total, done: summary.commits });
        }
    }
    // Dropping the receiver first lets a reader blocked on a full channel stop.
    drop(rx);
    let tip = reader.await.map_err(|e| GitError::Reader(e.to_string()))??;
    summary.tip = tip;
    summary.elapsed = started.elapsed();
    tracing::info!(
        repo,
        commits = summary.commits,
        files = summary.files,
        chunks = summary.chunks,
        secs = summary.elapsed.as_secs_f64(),
        "git sync"
    );
    Ok(summary)
}

/// The blocking half: open, walk, read and hand over chunks; returns the tip.
fn read_chunks(
    path: &Path,
    repo_name: &str,
    synced: &[String],
    options: &SyncOptions,
    tx: &tokio::sync::mpsc::Sender<Result<Chunk, GitError>>,
) -> Result<String, GitError> {
    let repo = git2::Repository::open(path)
        .map_err(|e| GitError::Open { path: path.to_path_buf(), message: e.message().to_string() })?;
    let tip = read::resolve(&repo, options.branch.as_deref().unwrap_or("HEAD"))?;
    let oids = read::unsynced(&repo, tip, synced)?;
    let total = oids.len();
    let mut frontier: BTreeSet<String> = synced.iter().cloned().collect();
    let now: Timestamp = chrono::Utc::now();
    let mut commits = Vec::new();
    let mut bytes = 0;
    for (i, oid) in oids.iter().enumerate() {
        let c = read::read_commit(&repo, repo_name, *oid, now, &options.limits)?;
        for p in &c.parents {
            frontier.remove(p);
        }
        frontier.insert(c.commit.commit_sha.clone());
        bytes += c.diff_bytes;
        commits.push(c);
        let last = i + 1 == oids.len();
        if last || commits.len() >= options.chunk_commits.max(1) || bytes >= options.chunk_bytes {
            trim(&repo, &mut frontier);
            let chunk =
                Chunk { commits: std::mem::take(&mut commits), tips: frontier.iter().cloned().collect(), total };
            bytes = 0;
            if tx.blocking_send(Ok(chunk)).is_err() {
                // The writer stopped (its error is the sync's answer).
                break;
            }
        }
    }
    Ok(tip.to_string())
}

/// Drop tips that are ancestors of another tip (left by a force-push or a side
/// branch merged later), so the cursor stays small.
fn trim(repo: &git2::Repository, tips: &mut BTreeSet<String>) {
    if tips.len() < 2 {
        return;
    }
    let oids: Vec<git2::Oid> = tips.iter().filter_map(|t| git2::Oid::from_str(t).ok()).collect();
    for a in &oids {
        if oids.iter().any(|b| a != b && repo.graph_descendant_of(*b, *a).unwrap_or(false)) {
            tips.remove(&a.to_string());
        }
    }
}

fn delivery(repo: &str, branch: Option<&str>, commits: Vec<ReadCommit>, tips: &[String]) -> Delivery {
    let last = commits.last().map(|c| c.commit.commit_sha.clone()).unwrap_or_default();
    let mut batch = RecordBatch::default();
    let mut documents = Vec::new();
    for c in commits {
        batch.commit_files.extend(c.files);
        documents.extend(c.documents);
        batch.commits.push(c.commit);
    }
    let mut d = Delivery::new(Feed::Git, format!("{repo}@{last}"), chrono::Utc::now(), batch);
    let cursor = Cursor { tips: tips.to_vec(), branch: branch.map(str::to_string) };
    d.records.state = vec![(repo.to_string(), serde_json::to_value(cursor).ok())];
    d.documents = documents;
    d
}

/// Ask for every commit's summary, a few at once; returns how many were written.
async fn summarize(s: Arc<dyn Summarizer>, commits: &mut [ReadCommit], concurrency: usize) -> usize {
    let inputs: Vec<SummaryInput> = commits
        .iter()
        .map(|c| SummaryInput {
            repo: c.commit.repo.clone(),
            sha: c.commit.commit_sha.clone(),
            message: c.commit.message.clone(),
            excerpt: c.excerpt.clone(),
        })
        .collect();
    // Owned inputs and an owned summarizer per future: the stream's futures borrow
    // nothing, so the sync's future stays `Send` for any caller.
    let answers: Vec<(usize, Option<String>)> = futures::stream::iter(inputs.into_iter().enumerate())
        .map(move |(i, input)| {
            let s = s.clone();
            async move {
                match s.summarize(&input).await {
                    Ok(text) => (i, summary::one_line(&text)),
                    Err(e) => {
                        tracing::warn!(sha = %input.sha, error = %e, "commit summary failed; left empty");
                        (i, None)
                    }
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut written = 0;
    for (i, text) in answers {
        if text.is_some() {
            written += 1;
        }
        commits[i].commit.summary = text;
    }
    written
}

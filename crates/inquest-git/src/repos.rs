//! The configured clones: commit ranges for deployments (`Repositories`) and the sync a
//! push webhook starts (a `git fetch` through the `git` command first when asked, then
//! the sync, one at a time per repository).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inquest_feeds::Repositories;
use inquest_ports::Stores;

use crate::{GitError, Summarizer, SyncOptions, SyncSummary, read, sync};

/// One clone Inquest may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneSpec {
    /// `owner/name`, as the sender names the repository.
    pub repo: String,
    pub path: PathBuf,
    /// The revision synced; `HEAD` when unset.
    pub branch: Option<String>,
    /// `git fetch` before a webhook-started sync.
    pub fetch: bool,
}

/// The configured clones, with the summarizer their syncs use.
#[derive(Default)]
pub struct GitRepositories {
    clones: Vec<CloneSpec>,
    summarizer: Option<Arc<dyn Summarizer>>,
    /// `feeds.last_n_commits`: wins over the caller's default when a range has no previous revision.
    last_n: Option<usize>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// How long a `git fetch` may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

impl GitRepositories {
    pub fn new(clones: Vec<CloneSpec>) -> Self {
        GitRepositories { clones, summarizer: None, last_n: None, locks: Mutex::default() }
    }

    pub fn with_summarizer(mut self, summarizer: Option<Arc<dyn Summarizer>>) -> Self {
        self.summarizer = summarizer;
        self
    }

    /// Ranges with no previous revision hold the last `n` commits.
    pub fn with_last_n(mut self, n: usize) -> Self {
        self.last_n = Some(n);
        self
    }

    pub fn clones(&self) -> &[CloneSpec] {
        &self.clones
    }

    pub fn summarizer(&self) -> Option<Arc<dyn Summarizer>> {
        self.summarizer.clone()
    }

    /// The clone configured for `repo` (names compare without case, as GitHub's do).
    pub fn clone_of(&self, repo: &str) -> Option<&CloneSpec> {
        self.clones.iter().find(|c| c.repo.eq_ignore_ascii_case(repo))
    }

    /// The options a sync of `clone` runs with.
    pub fn options(&self, clone: &CloneSpec) -> SyncOptions {
        SyncOptions { branch: clone.branch.clone(), summarizer: self.summarizer.clone(), ..SyncOptions::default() }
    }

    /// Fetch (when the clone asks for it) and sync `repo` into `stores`; `Ok(None)` when
    /// no clone of it is configured. Syncs of one repository run one at a time.
    pub async fn sync_pushed(&self, stores: &Stores, repo: &str) -> Result<Option<SyncSummary>, GitError> {
        let Some(clone) = self.clone_of(repo) else { return Ok(None) };
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(clone.repo.clone()).or_default().clone()
        };
        let _held = lock.lock().await;
        if clone.fetch {
            fetch(&clone.path).await?;
        }
        sync(stores, &clone.repo, &clone.path, &self.options(clone)).await.map(Some)
    }
}

/// `git fetch --prune` in `path`, without prompting for credentials, for at most a minute.
/// A bare mirror (`git clone --mirror`) moves its branches themselves; a normal clone
/// moves `origin/*`, so sync `branch = "origin/main"` there.
pub async fn fetch(path: &Path) -> Result<(), GitError> {
    let run = tokio::process::Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["fetch", "--quiet", "--prune"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .kill_on_drop(true)
        .output();
    let failed = |message: String| GitError::Fetch { path: path.to_path_buf(), message };
    match tokio::time::timeout(FETCH_TIMEOUT, run).await {
        Err(_) => Err(failed(format!("no answer within {} s", FETCH_TIMEOUT.as_secs()))),
        Ok(Err(e)) => Err(failed(format!("cannot run git: {e}"))),
        Ok(Ok(out)) if !out.status.success() => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            Err(failed(inquest_domain::redact::redact(stderr.trim())))
        }
        Ok(Ok(_)) => Ok(()),
    }
}

impl Repositories for GitRepositories {
    fn range(
        &self,
        repo: &str,
        previous: Option<&str>,
        current: &str,
        last_n: usize,
    ) -> Result<Option<Vec<String>>, String> {
        let Some(clone) = self.clone_of(repo) else { return Ok(None) };
        let git = git2::Repository::open(&clone.path)
            .map_err(|e| GitError::Open { path: clone.path.clone(), message: e.message().to_string() }.to_string())?;
        read::range(&git, previous, current, self.last_n.unwrap_or(last_n)).map(Some).map_err(|e| e.to_string())
    }
}

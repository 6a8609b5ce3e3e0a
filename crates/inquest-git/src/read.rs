//! What libgit2 reads from a clone: the commits not yet synced, oldest first, and one
//! commit's rows (its files diffed against the first parent, renames found, binary
//! files without text, diffs redacted and capped) and diff-chunk documents. Blocking.

use chrono::{TimeZone, Utc};
use git2::{Diff, DiffFindOptions, DiffOptions, Oid, Patch, Repository, Sort};
use inquest_domain::redact::redact;
use inquest_domain::{Commit, CommitFile, Timestamp};
use inquest_feeds::Document;
use inquest_feeds::classify::change_type;
use inquest_feeds::commits::{ChunkSource, commit_file_id, diff_chunks};

use crate::GitError;

/// Bounds on what one commit may bring.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest diff text kept per file, in bytes; a longer one is cut at a line end
    /// and marked, its line counts stay exact.
    pub max_diff_bytes: usize,
    /// Files larger than this are diffed as binary (no text, no line counts): a
    /// generated file of megabytes is not evidence anyone reads.
    pub max_file_bytes: i64,
    /// Longest diff excerpt handed to the summarizer, in characters.
    pub max_excerpt_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_diff_bytes: 64 * 1024, max_file_bytes: 8 * 1024 * 1024, max_excerpt_chars: 4000 }
    }
}

/// One commit as read from the clone.
#[derive(Debug, Clone)]
pub struct ReadCommit {
    pub commit: Commit,
    pub parents: Vec<String>,
    pub files: Vec<CommitFile>,
    pub documents: Vec<Document>,
    /// The start of the redacted diff, for the summarizer.
    pub excerpt: String,
    /// Bytes of diff text kept (to bound a delivery).
    pub diff_bytes: usize,
}

/// The commit `rev` names (a branch, a tag, `HEAD`, a sha); an error naming it otherwise.
pub fn resolve(repo: &Repository, rev: &str) -> Result<Oid, GitError> {
    repo.revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map(|c| c.id())
        .map_err(|_| GitError::UnknownRevision(rev.to_string()))
}

/// Commits reachable from `tip` and from none of `synced`, parents before children.
/// A synced tip the clone no longer has (a force-push, then gc) is skipped.
pub fn unsynced(repo: &Repository, tip: Oid, synced: &[String]) -> Result<Vec<Oid>, GitError> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    walk.push(tip)?;
    for sha in synced {
        match Oid::from_str(sha).and_then(|o| walk.hide(o)) {
            Ok(()) => {}
            Err(e) => tracing::warn!(sha = %sha, error = %e, "a synced tip is not in the clone any more"),
        }
    }
    Ok(walk.collect::<Result<Vec<_>, _>>()?)
}

/// Commits reachable from `current` and not from `previous`, newest first; with no
/// `previous`, the last `last_n` up to `current`.
pub fn range(repo: &Repository, previous: Option<&str>, current: &str, last_n: usize) -> Result<Vec<String>, GitError> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
    walk.push(resolve(repo, current)?)?;
    let limit = match previous {
        Some(p) => {
            walk.hide(resolve(repo, p)?)?;
            usize::MAX
        }
        None => last_n,
    };
    let mut shas = Vec::new();
    for oid in walk.take(limit) {
        shas.push(oid?.to_string());
    }
    Ok(shas)
}

fn timestamp(t: git2::Time) -> Timestamp {
    Utc.timestamp_opt(t.seconds(), 0).single().unwrap_or_default()
}

/// Keep at most `max` bytes of `text`, cut at a char boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The stored diff text: redacted, then capped at a line end with a marker. A first,
/// looser cut bounds what the redaction scans.
pub fn stored_diff(raw: &str, max: usize) -> String {
    let redacted = redact(cut(raw, max.saturating_mul(4)));
    if redacted.len() <= max && raw.len() <= max.saturating_mul(4) {
        return redacted;
    }
    let kept = cut(&redacted, max);
    let kept = kept.rfind('\n').map_or(kept, |i| &kept[..=i]);
    format!("{kept}[... diff truncated: {} bytes in all]\n", raw.len())
}

/// Read one commit: its row, its files against the first parent (a merge's are what it
/// brought into the branch, as `git log -m --first-parent` and the push payload show
/// them) and the diff-chunk documents (none for a merge: the merged commits carry the
/// same hunks and are synced too).
pub fn read_commit(
    repo: &Repository,
    repo_name: &str,
    oid: Oid,
    created_at: Timestamp,
    limits: &Limits,
) -> Result<ReadCommit, GitError> {
    let commit = repo.find_commit(oid)?;
    let sha = oid.to_string();
    let author = commit.author();
    let author_name = String::from_utf8_lossy(author.name_bytes()).trim().to_string();
    let authored_at = timestamp(author.when());
    let message = redact(String::from_utf8_lossy(commit.message_bytes()).trim_end());
    let parents: Vec<String> = commit.parent_ids().map(|p| p.to_string()).collect();
    let merge = parents.len() > 1;
    let tree = commit.tree()?;
    let parent_tree = if commit.parent_count() > 0 { Some(commit.parent(0)?.tree()?) } else { None };
    let mut opts = DiffOptions::new();
    opts.max_size(limits.max_file_bytes).context_lines(3).ignore_submodules(true);
    let mut diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut opts))?;
    diff.find_similar(Some(DiffFindOptions::new().renames(true)))?;
    let (files, documents, excerpt, diff_bytes) =
        files_of(&diff, repo_name, &sha, authored_at, &message, merge, limits)?;
    Ok(ReadCommit {
        commit: Commit {
            commit_sha: sha,
            repo: repo_name.to_string(),
            author: (!author_name.is_empty()).then_some(author_name),
            message,
            summary: None,
            authored_at,
            created_at,
        },
        parents,
        files,
        documents,
        excerpt,
        diff_bytes,
    })
}

type Files = (Vec<CommitFile>, Vec<Document>, String, usize);

fn files_of(
    diff: &Diff<'_>,
    repo_name: &str,
    sha: &str,
    authored_at: Timestamp,
    message: &str,
    merge: bool,
    limits: &Limits,
) -> Result<Files, GitError> {
    let mut files = Vec::new();
    let mut documents = Vec::new();
    let mut excerpt = String::new();
    let mut bytes = 0;
    for idx in 0..diff.deltas().len() {
        let Some(delta) = diff.get_delta(idx) else { continue };
        let Some(path) = delta.new_file().path().or(delta.old_file().path()) else { continue };
        let path = path.to_string_lossy().into_owned();
        let patch = Patch::from_diff(diff, idx)?;
        let binary = patch.as_ref().is_none_or(|p| p.delta().flags().is_binary()) || delta.flags().is_binary();
        let (text, added, removed) = match patch {
            Some(mut p) if !binary => {
                let (_, added, removed) = p.line_stats()?;
                let buf = p.to_buf()?;
                let raw = String::from_utf8_lossy(&buf);
                (Some(stored_diff(&raw, limits.max_diff_bytes)), added, removed)
            }
            _ => (None, 0, 0),
        };
        let change_type = change_type(&path, text.as_deref());
        if let Some(t) = &text {
            bytes += t.len();
            if excerpt.chars().count() < limits.max_excerpt_chars {
                let room = limits.max_excerpt_chars - excerpt.chars().count();
                excerpt.extend(t.chars().take(room));
            }
            if !merge {
                documents.extend(diff_chunks(&ChunkSource {
                    repo: repo_name,
                    sha,
                    path: &path,
                    change_type,
                    authored_at,
                    message,
                    diff: t,
                }));
            }
        }
        files.push(CommitFile {
            id: commit_file_id(sha, &path),
            commit_sha: sha.to_string(),
            file_path: path,
            change_type,
            diff_text: text,
            lines_added: i32::try_from(added).unwrap_or(i32::MAX),
            lines_removed: i32::try_from(removed).unwrap_or(i32::MAX),
        });
    }
    Ok((files, documents, excerpt, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_diff_is_redacted_then_cut_at_a_line_end() {
        let mut raw = String::from("@@ -1 +1 @@\n+password = \"hunter2hunter2\"\n");
        for i in 0..200 {
            raw.push_str(&format!("+line {i}\n"));
        }
        let out = stored_diff(&raw, 256);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.len() < 320, "{}", out.len());
        assert!(out.ends_with(&format!("[... diff truncated: {} bytes in all]\n", raw.len())), "{out}");
        let short = stored_diff("@@ -1 +1 @@\n+a\n", 256);
        assert_eq!(short, "@@ -1 +1 @@\n+a\n");
    }
}

//! Commits as rows and documents, shared by the git sync, the GitHub push webhook and
//! the fixture loader: the id of a `commit_files` row, the split of a diff into hunks,
//! the `git_diff_chunks` documents of one file, and the push payload.
//!
//! Ids derive from `(sha, path)` and `(sha, path, hunk)`, so the push webhook and a
//! later sync of the same commit write the same rows: the sync's (with diffs) replace
//! the webhook's (paths only) instead of adding to them.

use chrono::DateTime;
use inquest_domain::redact::redact;
use inquest_domain::{Commit, CommitFile, CommitFileId, FileChangeType, Timestamp, collections, derived_uuid};
use serde::Deserialize;
use serde_json::{Map, json};

use crate::{Document, FeedError, classify};

/// The id of the `commit_files` row of `path` in commit `sha`.
pub fn commit_file_id(sha: &str, path: &str) -> CommitFileId {
    CommitFileId::derived(&["commit_file", sha, path])
}

/// Split a unified diff into hunks (each starting at an `@@` line; what comes before
/// the first one is a hunk of its own).
pub fn split_hunks(diff: &str) -> Vec<String> {
    let mut hunks: Vec<String> = Vec::new();
    for line in diff.lines() {
        if line.starts_with("@@") || hunks.is_empty() {
            hunks.push(String::new());
        }
        if let Some(h) = hunks.last_mut() {
            h.push_str(line);
            h.push('\n');
        }
    }
    hunks.retain(|h| !h.trim().is_empty());
    hunks
}

/// One file of a commit, as the `git_diff_chunks` documents need it.
pub struct ChunkSource<'a> {
    pub repo: &'a str,
    pub sha: &'a str,
    pub path: &'a str,
    pub change_type: FileChangeType,
    pub authored_at: Timestamp,
    /// The commit message, already redacted.
    pub message: &'a str,
    /// The file's diff, already redacted. Lines before the first `@@` (the `diff --git`
    /// header) are not a hunk and are left out.
    pub diff: &'a str,
}

/// The `git_diff_chunks` documents of one file: one per hunk, payload `repo`, `sha`,
/// `path`, `hunk_id` (`<sha>:<path>#<n>`), `authored_at`, `change_type` and the hunk's
/// `text`; the embedded text is the message, the path and the hunk.
pub fn diff_chunks(src: &ChunkSource<'_>) -> Vec<Document> {
    let body = match src.diff.find("\n@@") {
        Some(i) => &src.diff[i + 1..],
        None if src.diff.starts_with("@@") => src.diff,
        None => return Vec::new(),
    };
    split_hunks(body)
        .into_iter()
        .enumerate()
        .map(|(h, hunk)| {
            let hunk_id = format!("{}:{}#{h}", src.sha, src.path);
            let mut payload = Map::new();
            payload.insert("repo".into(), json!(src.repo));
            payload.insert("sha".into(), json!(src.sha));
            payload.insert("path".into(), json!(src.path));
            payload.insert("hunk_id".into(), json!(hunk_id));
            payload.insert("authored_at".into(), json!(src.authored_at));
            payload.insert("change_type".into(), json!(src.change_type));
            payload.insert("text".into(), json!(hunk));
            Document {
                collection: collections::GIT_DIFF_CHUNKS,
                id: derived_uuid(&["diff_chunk", &hunk_id]),
                text: format!("{}\n{}\n{}", src.message, src.path, hunk),
                payload,
            }
        })
        .collect()
}

/// A GitHub `push` event, as far as commits go.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// `repository.full_name` (`owner/name`).
    pub repo: String,
    /// `ref`, e.g. `refs/heads/main`.
    pub git_ref: String,
    pub after: String,
    /// Rows of the pushed commits, files from the payload's path lists (no diffs).
    pub commits: Vec<Commit>,
    pub files: Vec<CommitFile>,
}

/// What a `push` body is.
#[derive(Debug, Clone, PartialEq)]
pub enum PushEvent {
    Push(Push),
    /// A deleted branch or tag (`deleted: true`, `after` all zeros): nothing to store.
    Deleted {
        git_ref: String,
    },
}

#[derive(Deserialize)]
struct PushBody {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: Repository,
    #[serde(default)]
    commits: Vec<PushCommit>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct PushCommit {
    id: String,
    message: String,
    timestamp: String,
    author: Option<Person>,
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
    #[serde(default)]
    modified: Vec<String>,
}

#[derive(Deserialize)]
struct Person {
    name: Option<String>,
    username: Option<String>,
}

/// Parse a GitHub `push` body. Messages are redacted; change types come from the
/// paths. `received_at` is the rows' `created_at`.
pub fn parse_push(body: &[u8], received_at: Timestamp) -> Result<PushEvent, FeedError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let push: PushBody = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        FeedError::invalid(if path == "." { "body".to_string() } else { path }, e.into_inner())
    })?;
    if push.deleted || (!push.after.is_empty() && push.after.bytes().all(|b| b == b'0')) {
        return Ok(PushEvent::Deleted { git_ref: push.git_ref });
    }
    let repo = push.repository.full_name.trim().to_string();
    if !is_repo_name(&repo) {
        return Err(FeedError::invalid("repository.full_name", format!("'{repo}' is not owner/name")));
    }
    let mut commits = Vec::with_capacity(push.commits.len());
    let mut files = Vec::new();
    for (i, c) in push.commits.iter().enumerate() {
        if !is_sha(&c.id) {
            return Err(FeedError::invalid(format!("commits[{i}].id"), format!("'{}' is not a commit sha", c.id)));
        }
        let authored_at = DateTime::parse_from_rfc3339(&c.timestamp)
            .map_err(|e| FeedError::invalid(format!("commits[{i}].timestamp"), e))?
            .to_utc();
        let author = c.author.as_ref().and_then(|a| a.name.clone().or_else(|| a.username.clone()));
        let sha = c.id.to_ascii_lowercase();
        let mut paths: Vec<&String> = c.added.iter().chain(&c.modified).chain(&c.removed).collect();
        paths.sort_unstable();
        paths.dedup();
        for path in paths {
            files.push(CommitFile {
                id: commit_file_id(&sha, path),
                commit_sha: sha.clone(),
                file_path: path.clone(),
                change_type: classify::change_type(path, None),
                diff_text: None,
                lines_added: 0,
                lines_removed: 0,
            });
        }
        commits.push(Commit {
            commit_sha: sha,
            repo: repo.clone(),
            author,
            message: redact(&c.message),
            summary: None,
            authored_at,
            created_at: received_at,
        });
    }
    Ok(PushEvent::Push(Push { repo, git_ref: push.git_ref, after: push.after, commits, files }))
}

/// `owner/name`: two non-empty parts of letters, digits, `-`, `_` and `.`.
pub fn is_repo_name(repo: &str) -> bool {
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    matches!(repo.split_once('/'), Some((owner, name)) if ok(owner) && ok(name))
}

/// A full SHA-1 or SHA-256 object id in hex.
pub fn is_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().expect("timestamp")
    }

    #[test]
    fn split_hunks_splits_at_hunk_headers() {
        let d = "@@ -1 +1 @@\n-a\n+b\n@@ -9 +9 @@\n-c\n+d\n";
        let h = split_hunks(d);
        assert_eq!(h.len(), 2);
        assert!(h[1].starts_with("@@ -9"));
    }

    #[test]
    fn chunks_leave_the_header_out_and_keep_the_fixture_payload() {
        let diff = "diff --git a/x.rs b/x.rs\nindex 1..2 100644\n--- a/x.rs\n+++ b/x.rs\n@@ -1 +1 @@\n-a\n+b\n@@ -9 +9 @@\n-c\n+d\n";
        let docs = diff_chunks(&ChunkSource {
            repo: "acme/shop",
            sha: "abc",
            path: "x.rs",
            change_type: FileChangeType::Other,
            authored_at: now(),
            message: "fix",
            diff,
        });
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].payload["hunk_id"], json!("abc:x.rs#0"));
        assert!(docs[0].text.starts_with("fix\nx.rs\n@@ -1 +1 @@"), "{}", docs[0].text);
        assert_eq!(docs[1].id, derived_uuid(&["diff_chunk", "abc:x.rs#1"]));
        for key in ["repo", "sha", "path", "hunk_id", "authored_at", "change_type", "text"] {
            assert!(docs[0].payload.contains_key(key), "{key}");
        }
        // A rename with no content change has no hunk.
        let rename = "diff --git a/a b/b\nsimilarity index 100%\nrename from a\nrename to b\n";
        let src = ChunkSource { diff: rename, ..docs_src() };
        assert!(diff_chunks(&src).is_empty());
    }

    fn docs_src() -> ChunkSource<'static> {
        ChunkSource {
            repo: "acme/shop",
            sha: "abc",
            path: "b",
            change_type: FileChangeType::Other,
            authored_at: "2026-03-01T12:00:00Z".parse().expect("timestamp"),
            message: "m",
            diff: "",
        }
    }

    const PUSH: &str = r#"{
      "ref": "refs/heads/main",
      "before": "17c497ccc7cca9c2f735aa07e9e3813060ce9a6a",
      "after": "1481a2de7b2a7d02428ad93446ab166be7793fbb",
      "created": false, "deleted": false, "forced": false,
      "repository": {"id": 1, "name": "shop", "full_name": "acme/shop"},
      "pusher": {"name": "octo", "email": "octo@example.com"},
      "commits": [
        {"id": "c441029cf673f84c8b7db52d0a5944ee5c52ff89", "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
         "distinct": true, "message": "Lower the payment timeout\n\npassword=hunter2hunter2",
         "timestamp": "2013-02-22T13:50:07-08:00",
         "url": "https://github.com/acme/shop/commit/c441029cf673f84c8b7db52d0a5944ee5c52ff89",
         "author": {"name": "Octo Cat", "email": "octo@example.com", "username": "octocat"},
         "committer": {"name": "Octo Cat", "email": "octo@example.com", "username": "octocat"},
         "added": ["db/migrations/0003_orders.sql"], "removed": ["docs/old.md"], "modified": ["Cargo.lock", "src/pay.rs"]}
      ]
    }"#;

    #[test]
    fn a_push_becomes_commit_and_file_rows_from_its_paths() {
        let PushEvent::Push(p) = parse_push(PUSH.as_bytes(), now()).expect("push") else { panic!("not a push") };
        assert_eq!(p.repo, "acme/shop");
        assert_eq!(p.commits.len(), 1);
        let c = &p.commits[0];
        assert_eq!(c.author.as_deref(), Some("Octo Cat"));
        assert_eq!(c.authored_at, "2013-02-22T21:50:07Z".parse::<Timestamp>().expect("ts"));
        assert!(!c.message.contains("hunter2"), "{}", c.message);
        let types: Vec<(&str, FileChangeType)> =
            p.files.iter().map(|f| (f.file_path.as_str(), f.change_type)).collect();
        assert_eq!(
            types,
            vec![
                ("Cargo.lock", FileChangeType::Dependency),
                ("db/migrations/0003_orders.sql", FileChangeType::DbMigration),
                ("docs/old.md", FileChangeType::Docs),
                ("src/pay.rs", FileChangeType::Other),
            ]
        );
        assert!(p.files.iter().all(|f| f.diff_text.is_none() && f.id == commit_file_id(&c.commit_sha, &f.file_path)));
    }

    #[test]
    fn a_deleted_branch_is_no_push_and_bad_fields_are_named() {
        let deleted = r#"{"ref":"refs/heads/x","after":"0000000000000000000000000000000000000000","deleted":true,
            "repository":{"full_name":"acme/shop"},"commits":[]}"#;
        assert_eq!(
            parse_push(deleted.as_bytes(), now()).expect("deleted"),
            PushEvent::Deleted { git_ref: "refs/heads/x".into() }
        );
        let bad = PUSH.replace("2013-02-22T13:50:07-08:00", "yesterday");
        let err = parse_push(bad.as_bytes(), now()).expect_err("bad timestamp").to_string();
        assert!(err.starts_with("commits[0].timestamp"), "{err}");
        let bad = PUSH.replace("c441029cf673f84c8b7db52d0a5944ee5c52ff89\", \"tree_id", "nope\", \"tree_id");
        let err = parse_push(bad.as_bytes(), now()).expect_err("bad id").to_string();
        assert!(err.starts_with("commits[0].id"), "{err}");
        let err = parse_push(br#"{"ref":"x","repository":{}}"#, now()).expect_err("no name").to_string();
        assert!(err.contains("full_name"), "{err}");
    }
}

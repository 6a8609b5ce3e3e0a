//! A repository built with the `git` command in a temporary folder, with fixed
//! authors and dates so its shas are stable within a run.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::Mutex;

use async_trait::async_trait;
use inquest_git::{Summarizer, SummaryInput};

pub const REPO: &str = "acme/shop";
/// A token shape the redaction knows; it must never be stored or embedded.
pub const SECRET: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";

pub struct TestRepo {
    pub dir: tempfile::TempDir,
    clock: std::cell::Cell<i64>,
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let repo = TestRepo { dir: tempfile::tempdir().expect("tempdir"), clock: std::cell::Cell::new(1_767_225_600) };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Run git in the repository; its trimmed stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let t = self.clock.get();
        self.clock.set(t + 60);
        let date = format!("@{t} +0000");
        let out = Command::new("git")
            .current_dir(self.dir.path())
            .args(["-c", "user.name=Dev One", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.dir.path())
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }

    /// Stage everything and commit; the new sha.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }
}

/// The shas of the story repository, by what each commit does.
pub struct Story {
    pub init: String,
    pub migration: String,
    pub lockfile: String,
    pub timeout: String,
    pub binary: String,
    pub merge: String,
    pub rename: String,
    pub secret: String,
}

/// init, a migration, a lockfile change, a timeout edit on a branch, a binary file on
/// main, the merge of the branch, a rename, a secret in a diff.
pub fn story(repo: &TestRepo) -> Story {
    let mut app = String::from("fn main() {\n");
    for i in 0..20 {
        app.push_str(&format!("    println!(\"line {i}\");\n"));
    }
    app.push_str("}\n");
    repo.write("src/app.rs", &app);
    repo.write("README.md", "# shop\n");
    repo.write("config/client.yaml", "payments:\n  url: http://payments\n  timeout: 30s\n");
    let init = repo.commit("initial import");
    repo.write(
        "db/migrations/0001_orders.sql",
        "CREATE TABLE orders (\n  id bigint primary key,\n  total numeric\n);\n",
    );
    let migration = repo.commit("orders table");
    repo.write("Cargo.lock", "[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\n");
    let lockfile = repo.commit("bump serde");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("config/client.yaml", "payments:\n  url: http://payments\n  timeout: 2s\n");
    let timeout = repo.commit("lower the payments timeout");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("assets/logo.png", [0x89u8, b'P', b'N', b'G', 0, 0, 0, 13, 0, 1, 2, 3, 0, 0xff]);
    let binary = repo.commit("logo");
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge feature", "feature"]);
    let merge = repo.head();
    repo.git(&["mv", "src/app.rs", "src/server.rs"]);
    let rename = repo.commit("rename app to server");
    repo.write("src/settings.py", format!("GITHUB = \"{SECRET}\"\nREGION = \"eu\"\n"));
    let secret = repo.commit(&format!("settings\n\ntoken {SECRET}"));
    Story { init, migration, lockfile, timeout, binary, merge, rename, secret }
}

/// A summarizer that answers from the message and keeps what it was asked.
#[derive(Default)]
pub struct FakeSummarizer {
    pub asked: Mutex<Vec<SummaryInput>>,
}

#[async_trait]
impl Summarizer for FakeSummarizer {
    async fn summarize(&self, input: &SummaryInput) -> Result<String, String> {
        self.asked.lock().expect("lock").push(input.clone());
        if input.message.starts_with("logo") {
            return Err("the model is down".into());
        }
        Ok(format!("- \"{}\"\nsecond line", input.message.lines().next().unwrap_or_default()))
    }
}

pub fn fake() -> Arc<FakeSummarizer> {
    Arc::new(FakeSummarizer::default())
}

impl FakeSummarizer {
    /// Every message and excerpt it was asked about.
    pub fn asked_texts(this: &FakeSummarizer) -> Vec<String> {
        this.asked.lock().expect("lock").iter().map(|i| format!("{}\n{}", i.message, i.excerpt)).collect()
    }
}

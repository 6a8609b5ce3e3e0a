//! Benchmark of the git sync: a 10,000-commit repository generated with
//! `git fast-import`, synced in full into an embedded store on disk, against a
//! baseline in the same run (the bare libgit2 walk and first-parent diffs with patch
//! text and line counts: no classification, redaction, chunking, embedding or storage).
//!
//! Run: `cargo run --release -p inquest-git --example git_sync_bench [-- COMMITS]`
//! (the dev profile works too; its dependencies are optimised).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use git2::{DiffFindOptions, DiffOptions, Patch, Repository, Sort};
use inquest_git::{SyncOptions, sync};
use inquest_store_embedded::EmbeddedStore;

const FILES: usize = 60;
const LINES: usize = 40;

/// A fast-import stream of `commits` commits on `main`: each edits two lines of one
/// source file, and every few a config timeout, a lockfile or a migration.
fn stream(commits: usize) -> Vec<u8> {
    let mut files: Vec<Vec<String>> =
        (0..FILES).map(|f| (0..LINES).map(|l| format!("    let v{l} = compute({f}, {l});")).collect()).collect();
    let mut out = Vec::new();
    for i in 0..commits {
        let f = (i * 7) % FILES;
        files[f][i % LINES] = format!("    let v{} = compute({f}, {i});", i % LINES);
        files[f][(i * 3) % LINES] = format!("    let w{} = helper({i});", (i * 3) % LINES);
        let mut changes: Vec<(String, String)> =
            vec![(format!("src/mod{f}.rs"), format!("fn f{f}() {{\n{}\n}}\n", files[f].join("\n")))];
        match i % 10 {
            3 => changes.push(("config/app.yaml".into(), format!("payments:\n  timeout: {}ms\n", 100 + i % 900))),
            5 => changes.push(("Cargo.lock".into(), format!("[[package]]\nname = \"serde\"\nversion = \"1.0.{i}\"\n"))),
            7 => changes.push((format!("db/migrations/{i:05}.sql"), format!("ALTER TABLE t ADD COLUMN c{i} int;\n"))),
            _ => {}
        }
        let _ = writeln!(out, "commit refs/heads/main\nmark :{}", i + 1);
        let _ = writeln!(out, "author Dev One <dev@example.com> {} +0000", 1_700_000_000 + i * 60);
        let _ = writeln!(out, "committer Dev One <dev@example.com> {} +0000", 1_700_000_000 + i * 60);
        let msg = format!("change {i} in module {f}");
        let _ = writeln!(out, "data {}\n{msg}", msg.len());
        if i > 0 {
            let _ = writeln!(out, "from :{i}");
        }
        for (path, content) in changes {
            let _ = writeln!(out, "M 100644 inline {path}\ndata {}\n{content}", content.len());
        }
        out.push(b'\n');
    }
    out
}

fn generate(dir: &std::path::Path, commits: usize) -> Result<()> {
    let ok = Command::new("git").args(["init", "-q", "--bare", "-b", "main"]).arg(dir).status()?.success();
    if !ok {
        bail!("git init failed");
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .context("git fast-import")?;
    child.stdin.take().context("stdin")?.write_all(&stream(commits))?;
    if !child.wait()?.success() {
        bail!("git fast-import failed");
    }
    Ok(())
}

/// The bare libgit2 work: walk, diff against the first parent, patch text and line counts.
fn baseline(path: &std::path::Path) -> Result<(usize, usize)> {
    let repo = Repository::open(path)?;
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    walk.push(repo.revparse_single("main")?.id())?;
    let (mut commits, mut bytes) = (0, 0);
    for oid in walk {
        let commit = repo.find_commit(oid?)?;
        let parent = if commit.parent_count() > 0 { Some(commit.parent(0)?.tree()?) } else { None };
        let mut opts = DiffOptions::new();
        let mut diff = repo.diff_tree_to_tree(parent.as_ref(), Some(&commit.tree()?), Some(&mut opts))?;
        diff.find_similar(Some(DiffFindOptions::new().renames(true)))?;
        for idx in 0..diff.deltas().len() {
            if let Some(mut p) = Patch::from_diff(&diff, idx)? {
                let _ = p.line_stats()?;
                bytes += p.to_buf()?.len();
            }
        }
        commits += 1;
    }
    Ok((commits, bytes))
}

#[tokio::main]
async fn main() -> Result<()> {
    let commits: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let tmp = tempfile::tempdir()?;
    let repo = tmp.path().join("bench.git");
    let t = Instant::now();
    generate(&repo, commits)?;
    println!("generated {commits} commits with git fast-import in {:.2} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let (walked, bytes) = baseline(&repo)?;
    let base_secs = t.elapsed().as_secs_f64();
    let base_rate = walked as f64 / base_secs;
    println!("baseline (libgit2 walk + diffs, {} KiB of patches): {base_rate:.0} commits/s", bytes / 1024);

    let store = EmbeddedStore::open(&tmp.path().join("data/inquest.redb"))?;
    let stores = store.stores();
    let options = SyncOptions { branch: Some("main".into()), ..SyncOptions::default() };
    let t = Instant::now();
    let s = sync(&stores, "bench/repo", &repo, &options).await?;
    let sync_secs = t.elapsed().as_secs_f64();
    let sync_rate = s.commits as f64 / sync_secs;
    println!(
        "full sync into the embedded store ({} commits, {} files, {} chunks, {} deliveries): {sync_rate:.0} commits/s",
        s.commits, s.files, s.chunks, s.deliveries
    );
    println!("ratio sync/baseline: {:.2} ({:.1}x slower)", sync_rate / base_rate, base_rate / sync_rate);

    let t = Instant::now();
    let again = sync(&stores, "bench/repo", &repo, &options).await?;
    println!("second sync: {} commits in {:.3} s", again.commits, t.elapsed().as_secs_f64());
    Ok(())
}

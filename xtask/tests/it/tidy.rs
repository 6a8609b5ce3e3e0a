//! Tidy checks in the spirit of rust-analyzer's: each crate's dependencies against the
//! invariants of `ARCHITECTURE.md`, and the manifest conventions of `STYLE.md`.
//!
//! Only normal dependencies count (dev and build dependencies are the tests' business).
//! A dependency reached through another inquest crate counts as the crate's own; for
//! the pure crates, a store client anywhere in what they link counts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Store clients and HTTP frameworks the pure crates must not link.
const IO_CRATES: &[&str] = &[
    "tokio-postgres",
    "deadpool-postgres",
    "clickhouse",
    "neo4rs",
    "qdrant-client",
    "redb",
    "axum",
    "reqwest",
    "prometheus",
];

/// Crates that do no IO but through the ports: the model, the ports, the ranking core,
/// the pure intake, the change feeds' parsing and the SLO and invariant logic.
const PURE_CRATES: &[&str] = &[
    "inquest-domain",
    "inquest-ports",
    "inquest-core",
    "inquest-intake",
    "inquest-feeds",
    "inquest-ingest",
    "inquest-ops",
];

/// Crates that may reach the network (JWKS over reqwest) but link no store client and
/// no HTTP framework: the access primitives.
const CLIENT_ONLY_CRATES: &[&str] = &["inquest-access"];

/// Store clients: a crate declaring one is a store adapter.
const STORE_CLIENTS: &[&str] =
    &["tokio-postgres", "deadpool-postgres", "clickhouse", "neo4rs", "qdrant-client", "redb"];

/// Test support, used only as a dev-dependency: the contract suites create test databases
/// and serve a test OIDC provider (so it may link axum).
const TEST_SUPPORT: &[&str] = &["inquest-contract"];

/// The crates allowed to depend on axum: the HTTP server and the binary that serves it.
const HTTP_CRATES: &[&str] = &["inquest-server", "inquest"];

/// One workspace crate as `cargo metadata` sees it.
struct Crate {
    name: String,
    version: String,
    manifest: PathBuf,
    /// Normal dependencies that are workspace crates, by name.
    local: BTreeSet<String>,
    /// Normal dependencies from a registry, by name.
    external: BTreeSet<String>,
}

struct Workspace {
    root: PathBuf,
    crates: BTreeMap<String, Crate>,
    /// Every package name reached from a workspace crate through normal dependencies.
    links: BTreeMap<String, BTreeSet<String>>,
}

impl Workspace {
    fn load() -> Result<Workspace> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask has a parent")?.to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let out = Command::new(cargo)
            .args(["metadata", "--format-version", "1"])
            .current_dir(&root)
            .output()
            .context("running cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let meta: Value = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
        let members: BTreeSet<&str> = meta["workspace_members"]
            .as_array()
            .context("workspace_members")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let packages = meta["packages"].as_array().context("packages")?;
        let name_of: BTreeMap<&str, &str> =
            packages.iter().filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?))).collect();

        // Normal dependency edges of every package, by package id.
        let mut normal: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for node in meta["resolve"]["nodes"].as_array().context("resolve.nodes")? {
            let id = node["id"].as_str().context("node id")?;
            let deps = node["deps"].as_array().context("node deps")?;
            let edges = deps
                .iter()
                .filter(|d| d["dep_kinds"].as_array().is_some_and(|k| k.iter().any(|k| k["kind"].is_null())))
                .filter_map(|d| d["pkg"].as_str())
                .collect();
            normal.insert(id, edges);
        }

        let mut crates = BTreeMap::new();
        let mut links = BTreeMap::new();
        for p in packages.iter().filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id))) {
            let id = p["id"].as_str().context("package id")?;
            let name = p["name"].as_str().context("package name")?.to_owned();
            let (mut local, mut external) = (BTreeSet::new(), BTreeSet::new());
            for dep in normal.get(id).into_iter().flatten() {
                let dep_name = name_of.get(dep).copied().unwrap_or(dep).to_owned();
                if members.contains(dep) {
                    local.insert(dep_name)
                } else {
                    external.insert(dep_name)
                };
            }
            let mut seen = BTreeSet::new();
            let mut todo = vec![id];
            while let Some(next) = todo.pop() {
                for dep in normal.get(next).into_iter().flatten() {
                    if seen.insert(name_of.get(dep).copied().unwrap_or(dep).to_owned()) {
                        todo.push(dep);
                    }
                }
            }
            links.insert(name.clone(), seen);
            crates.insert(
                name.clone(),
                Crate {
                    name,
                    version: p["version"].as_str().unwrap_or_default().to_owned(),
                    manifest: PathBuf::from(p["manifest_path"].as_str().context("manifest_path")?),
                    local,
                    external,
                },
            );
        }
        Ok(Workspace { root, crates, links })
    }

    /// Workspace crates `name` depends on, directly or through other workspace crates.
    fn local_closure(&self, name: &str) -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![name];
        while let Some(next) = todo.pop() {
            for dep in self.crates.get(next).into_iter().flat_map(|c| &c.local) {
                if seen.insert(dep.as_str()) {
                    todo.push(dep);
                }
            }
        }
        seen
    }

    /// `(through, dependency)` for each external `dependency` that `name` or a workspace
    /// crate it depends on uses directly; `through` is the crate that declares it.
    fn external_uses(&self, name: &str) -> Vec<(&str, &str)> {
        let mut via: Vec<&str> = vec![name];
        via.extend(self.local_closure(name));
        via.iter()
            .filter_map(|c| self.crates.get(*c))
            .flat_map(|c| c.external.iter().map(move |d| (c.name.as_str(), d.as_str())))
            .collect()
    }
}

fn workspace() -> Workspace {
    match Workspace::load() {
        Ok(w) => w,
        Err(e) => panic!("cannot read the workspace: {e:#}"),
    }
}

/// Fails with every violation, one per line.
fn report(rule: &str, violations: Vec<String>) {
    assert!(violations.is_empty(), "{rule}:\n  {}", violations.join("\n  "));
}

fn through(name: &str, via: &str) -> String {
    if name == via { String::new() } else { format!(" (through {via})") }
}

#[test]
fn the_domain_depends_on_no_other_inquest_crate() {
    let ws = workspace();
    let violations =
        ws.local_closure("inquest-domain").iter().map(|d| format!("inquest-domain depends on {d}")).collect();
    report("inquest-domain must depend on no other inquest crate", violations);
}

/// What the importers may use: the pure service-graph derivation (spans to edges and
/// edge series, shared with the OTLP receiver) and the model it is written in.
const IMPORT_MAY_USE: &[&str] = &["inquest-ingest", "inquest-domain"];

#[test]
fn importers_depend_on_no_other_inquest_crate() {
    let ws = workspace();
    let violations = ws
        .local_closure("inquest-import")
        .iter()
        .filter(|d| !IMPORT_MAY_USE.contains(d))
        .map(|d| format!("inquest-import depends on {d}"))
        .collect();
    report("inquest-import must depend on no other inquest crate but the pure derivation", violations);
}

#[test]
fn pure_crates_link_no_store_client_or_http_framework() {
    let ws = workspace();
    let mut violations = Vec::new();
    for name in PURE_CRATES.iter().filter(|c| ws.crates.contains_key(**c)) {
        for bad in IO_CRATES {
            if ws.links.get(*name).is_some_and(|l| l.contains(*bad)) {
                let via: Vec<&str> =
                    ws.external_uses(name).into_iter().filter(|(_, d)| d == bad).map(|(c, _)| c).collect();
                let via = if via.is_empty() { "another dependency".to_owned() } else { via.join(", ") };
                violations.push(format!("{name} links {bad} (declared by {via})"));
            }
        }
    }
    report("the domain, ports, ranking core and intake must do no IO", violations);
}

#[test]
fn access_primitives_link_no_store_client_or_http_framework() {
    let ws = workspace();
    let mut violations = Vec::new();
    for name in CLIENT_ONLY_CRATES.iter().filter(|c| ws.crates.contains_key(**c)) {
        for bad in IO_CRATES.iter().filter(|c| !["reqwest"].contains(*c)) {
            if ws.links.get(*name).is_some_and(|l| l.contains(*bad)) {
                violations.push(format!("{name} links {bad}"));
            }
        }
    }
    report("inquest-access must link no store client, HTTP framework or metrics library", violations);
}

#[test]
fn store_adapters_do_not_depend_on_each_other() {
    let ws = workspace();
    // An adapter is an `inquest-store-*` crate or any crate that talks to a store itself.
    let adapters: BTreeSet<&str> = ws
        .crates
        .values()
        .filter(|c| !TEST_SUPPORT.contains(&c.name.as_str()))
        .filter(|c| {
            c.name.starts_with("inquest-store-") || c.external.iter().any(|d| STORE_CLIENTS.contains(&d.as_str()))
        })
        .map(|c| c.name.as_str())
        .collect();
    let mut violations = Vec::new();
    for a in &adapters {
        for dep in ws.local_closure(a).into_iter().filter(|d| adapters.contains(d)) {
            violations.push(format!("{a} depends on the adapter {dep}"));
        }
    }
    report("store adapters must not depend on each other", violations);
}

#[test]
fn only_the_server_depends_on_axum() {
    let ws = workspace();
    let mut violations = Vec::new();
    let allowed = |c: &str| HTTP_CRATES.contains(&c) || TEST_SUPPORT.contains(&c);
    for name in ws.crates.keys().filter(|c| !allowed(c.as_str())) {
        for (via, dep) in ws.external_uses(name) {
            if dep == "axum" && !allowed(via) {
                violations.push(format!("{name} depends on axum{}", through(name, via)));
            }
        }
    }
    report("only inquest-server (and the binary) may depend on axum", violations);
}

#[test]
fn settings_depend_on_no_store_crate() {
    let ws = workspace();
    let violations = ws
        .local_closure("inquest-config")
        .into_iter()
        .filter(|d| d.starts_with("inquest-store-"))
        .map(|d| format!("inquest-config depends on {d}"))
        .collect();
    report("inquest-config must depend on no store crate", violations);
}

#[test]
fn crates_follow_the_manifest_conventions() {
    let ws = workspace();
    let mut violations = Vec::new();
    for c in ws.crates.values() {
        let dir = c.manifest.parent().unwrap_or(Path::new(""));
        if dir.parent() == Some(ws.root.join("crates").as_path()) {
            let folder = dir.file_name().and_then(|f| f.to_str()).unwrap_or_default();
            if folder != c.name {
                violations.push(format!("{}: in folder crates/{folder}", c.name));
            }
        }
        if c.version != "0.0.0" {
            violations.push(format!("{}: version {} (internal crates are 0.0.0)", c.name, c.version));
        }
        match lints_from_workspace(&c.manifest) {
            Ok(true) => {}
            Ok(false) => violations.push(format!("{}: no `[lints] workspace = true`", c.name)),
            Err(e) => violations.push(format!("{}: {e:#}", c.name)),
        }
    }
    report("crate folders, versions and lints", violations);
}

fn lints_from_workspace(manifest: &Path) -> Result<bool> {
    let text = std::fs::read_to_string(manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let doc: toml::Table = text.parse().with_context(|| format!("parsing {}", manifest.display()))?;
    Ok(doc.get("lints").and_then(|l| l.get("workspace")).and_then(toml::Value::as_bool) == Some(true))
}

#[test]
fn every_crate_folder_is_a_workspace_crate() {
    // A folder under crates/ that the workspace does not build would escape every rule above.
    let ws = workspace();
    let mut violations = Vec::new();
    let entries = std::fs::read_dir(ws.root.join("crates")).expect("crates/ is readable");
    for entry in entries.filter_map(Result::ok).filter(|e| e.path().join("Cargo.toml").is_file()) {
        let folder = entry.file_name().to_string_lossy().into_owned();
        if !ws.crates.contains_key(&folder) {
            violations.push(format!("crates/{folder}: no workspace crate of that name"));
        }
    }
    report("every folder under crates/ is the crate of its name", violations);
}

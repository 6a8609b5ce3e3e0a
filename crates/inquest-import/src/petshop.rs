//! The PetShop layout (Amazon Science): `<scenario>/<split>/issue_N/metrics.csv` with
//! three header rows (`microservice`, `metric`, `statistic`) then one row per
//! `unix_timestamp` (300 s step), `target.json` (the affected node and the labelled
//! `root_cause.node`), `<scenario>/graph.csv` (adjacency matrix: row calls column) and
//! `<scenario>/noissue/metrics.csv` (normal operation).
//!
//! Conversion:
//! - one case per issue; nodes keep their exact names (`/` becomes `|` so it cannot
//!   split a service key); the incident's service is the `target` node and the window
//!   starts at the target timestamp and ends after the last row;
//! - an issue has only a few rows (about two before the target, three after), so the
//!   normal data of the same scenario is put before them as the baseline: the last
//!   3 hours of `noissue/metrics.csv`, shifted in time to end one step before the
//!   issue's first row. It is looked up in the scenario, then in the same scenario
//!   of a sibling dataset directory (the test split ships without `noissue/`), or
//!   given with `--normal`; without any, only the issue's own rows are there;
//! - node kinds: names with `Database` or `DynamoDB` are databases, `_remote` ones
//!   external dependencies, the rest services;
//! - truth type: `db` when the root cause is a database, else `dependency`; the
//!   fault type (for the per-fault report) comes from the injecting command: `delay`
//!   (a delay parameter or a sleep), `error`, `overload` (request flood), `other`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::{ImportError, ImportMeta, ImportedCase, ServiceKind, case_id, cell_number, dir_name, service_name};

/// Options of the PetShop importer.
#[derive(Debug, Clone, Default)]
pub struct PetshopOptions {
    /// Normal-operation `metrics.csv` (or a directory holding one) to use as the
    /// baseline instead of the scenario's `noissue/`.
    pub normal: Option<PathBuf>,
}

const NORMAL_ROWS: usize = 36;

#[derive(Debug, Deserialize)]
struct Target {
    target: TargetNode,
    root_cause: RootCause,
    #[serde(default)]
    metadata: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct TargetNode {
    node: String,
    #[serde(default)]
    metric: Option<String>,
    timestamp: f64,
}

#[derive(Debug, Deserialize)]
struct RootCause {
    node: String,
}

/// A parsed PetShop metrics file: column `(node, metric)` names and rows.
struct Table {
    columns: Vec<Option<(String, String)>>,
    rows: Vec<(DateTime<Utc>, Vec<Option<f64>>)>,
}

/// Import every issue under `path` (a dataset root, a scenario or one issue).
pub fn import_petshop(path: &Path, opts: &PetshopOptions) -> Result<Vec<ImportedCase>, ImportError> {
    let mut issues = Vec::new();
    find_issues(path, 0, &mut issues)?;
    issues.sort();
    if issues.is_empty() {
        return Err(ImportError::invalid(path, "no issue directories (with target.json and metrics.csv) found"));
    }
    let dataset = dir_name(path);
    let explicit_normal = match &opts.normal {
        Some(p) => {
            let file = if p.is_dir() { p.join("metrics.csv") } else { p.clone() };
            Some(read_table(&file)?)
        }
        None => None,
    };
    let mut normals: BTreeMap<PathBuf, Option<Table>> = BTreeMap::new();
    let mut cases = Vec::new();
    for issue in issues {
        let split_dir = issue.parent().unwrap_or(&issue).to_path_buf();
        let scenario_dir = split_dir.parent().unwrap_or(&split_dir).to_path_buf();
        let scenario = dir_name(&scenario_dir);
        let target_path = issue.join("target.json");
        let text = std::fs::read_to_string(&target_path).map_err(|e| ImportError::io(&target_path, e))?;
        let target: Target =
            serde_json::from_str(&text).map_err(|e| ImportError::line(&target_path, e.line() as u64, e))?;
        let table = read_table(&issue.join("metrics.csv"))?;
        let edges = read_graph(&scenario_dir.join("graph.csv"))?;
        if !normals.contains_key(&scenario_dir) {
            let found = find_normal(path, &scenario_dir, &scenario);
            let t = match found {
                Some(f) => Some(read_table(&f)?),
                None => None,
            };
            normals.insert(scenario_dir.clone(), t);
        }
        let normal = explicit_normal.as_ref().or(normals.get(&scenario_dir).and_then(Option::as_ref));

        let mut nodes: BTreeSet<String> = BTreeSet::new();
        for (n, _) in table.columns.iter().flatten() {
            nodes.insert(n.clone());
        }
        for (a, b) in &edges {
            nodes.insert(a.clone());
            nodes.insert(b.clone());
        }
        let target_node = service_name(&target.target.node);
        let root = service_name(&target.root_cause.node);
        for (what, n) in [("target.node", &target_node), ("root_cause.node", &root)] {
            if !nodes.contains(n) {
                return Err(ImportError::invalid(
                    &target_path,
                    format!("{what} '{n}' is neither a metrics column nor a graph node"),
                ));
            }
        }
        let Some(first) = table.rows.first().map(|r| r.0) else {
            return Err(ImportError::invalid(&issue.join("metrics.csv"), "no data rows"));
        };
        let last = table.rows.last().map(|r| r.0).unwrap_or(first);
        let step =
            table.rows.get(1).map(|r| r.0 - first).filter(|d| *d > Duration::zero()).unwrap_or(Duration::seconds(300));
        let ws = DateTime::<Utc>::from_timestamp(target.target.timestamp as i64, 0)
            .ok_or_else(|| ImportError::invalid(&target_path, "target.timestamp is out of range"))?;
        let we = last.max(ws) + step;

        let mut metrics = Vec::new();
        if let Some(n) = normal {
            let take = n.rows.len().saturating_sub(NORMAL_ROWS);
            if let Some(n_last) = n.rows.last().map(|r| r.0) {
                let shift = (first - step) - n_last;
                for (ts, vals) in &n.rows[take..] {
                    push_row(&mut metrics, &n.columns, *ts + shift, vals, &nodes);
                }
            }
        }
        for (ts, vals) in &table.rows {
            push_row(&mut metrics, &table.columns, *ts, vals, &nodes);
        }
        let cmd = target
            .metadata
            .pointer("/reproducibility/command")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let fault_type = if cmd.contains("delay") || cmd.contains("sleep") {
            "delay"
        } else if cmd.contains("error") || cmd.contains("inject = true") {
            "error"
        } else if cmd.contains("request") {
            "overload"
        } else {
            "other"
        };
        let kind = kind_of(&root);
        let truth_type = if root == target_node {
            "infra"
        } else if kind == ServiceKind::Database {
            "db"
        } else {
            "dependency"
        };
        let split = dir_name(&split_dir);
        let issue_name = dir_name(&issue);
        let id = case_id(&["petshop", &scenario, &split, &issue_name]);
        cases.push(ImportedCase {
            description: format!(
                "PetShop {scenario}/{split}/{issue_name}: {} on {} ({dataset})",
                target.target.metric.as_deref().unwrap_or("symptom"),
                target.target.node
            ),
            cluster: "petshop".into(),
            namespace: id.clone(),
            id,
            services: nodes.iter().map(|n| (n.clone(), kind_of(n))).collect(),
            edges,
            metrics,
            incident_service: target_node,
            window_start: ws,
            window_end: we,
            truth_service: root,
            truth_type: truth_type.into(),
            notes: format!(
                "root cause {} (label from {}); injected by: {}",
                target.root_cause.node,
                target_path.display(),
                cmd
            ),
            meta: ImportMeta {
                format: crate::Format::Petshop,
                dataset: dataset.clone(),
                fault_type: fault_type.into(),
                source: format!("{scenario}/{split}/{issue_name}"),
            },
        });
    }
    Ok(cases)
}

fn push_row(
    out: &mut Vec<(DateTime<Utc>, String, String, f64)>,
    columns: &[Option<(String, String)>],
    ts: DateTime<Utc>,
    vals: &[Option<f64>],
    nodes: &BTreeSet<String>,
) {
    for (col, v) in columns.iter().zip(vals) {
        if let (Some((node, metric)), Some(v)) = (col, v)
            && nodes.contains(node)
        {
            out.push((ts, node.clone(), metric.clone(), *v));
        }
    }
}

fn kind_of(node: &str) -> ServiceKind {
    if node.contains("Database") || node.contains("DynamoDB") {
        ServiceKind::Database
    } else if node.ends_with("_remote") {
        ServiceKind::Dependency
    } else {
        ServiceKind::Service
    }
}

fn find_issues(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), ImportError> {
    if dir.join("target.json").is_file() && dir.join("metrics.csv").is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    if depth > 4 || !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(|e| ImportError::io(dir, e))?.filter_map(Result::ok) {
        let p = entry.path();
        if p.is_dir() && p.file_name().is_some_and(|n| n != "noissue") {
            find_issues(&p, depth + 1, out)?;
        }
    }
    Ok(())
}

/// `noissue/metrics.csv` of the scenario, else of the same scenario in a sibling
/// dataset directory.
fn find_normal(root: &Path, scenario_dir: &Path, scenario: &str) -> Option<PathBuf> {
    let own = scenario_dir.join("noissue").join("metrics.csv");
    if own.is_file() {
        return Some(own);
    }
    let root = root.canonicalize().ok()?;
    let dataset_root =
        if root.join(scenario).is_dir() { root } else { scenario_dir.canonicalize().ok()?.parent()?.to_path_buf() };
    let parent = dataset_root.parent()?;
    let mut siblings: Vec<PathBuf> = std::fs::read_dir(parent).ok()?.filter_map(Result::ok).map(|e| e.path()).collect();
    siblings.sort();
    siblings.into_iter().map(|s| s.join(scenario).join("noissue").join("metrics.csv")).find(|p| p.is_file())
}

fn read_table(path: &Path) -> Result<Table, ImportError> {
    let file = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(file);
    let mut header: Vec<Vec<String>> = Vec::new();
    let mut rows = Vec::new();
    let mut width = 0;
    for rec in r.records() {
        let rec = rec.map_err(|e| ImportError::line(path, e.position().map(|p| p.line()).unwrap_or(0), e))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if header.len() < 3 {
            let expected = ["microservice", "metric", "statistic"][header.len()];
            if rec.get(0) != Some(expected) {
                return Err(ImportError::line(path, line, format!("expected the '{expected}' header row")));
            }
            width = width.max(rec.len());
            header.push(rec.iter().map(str::to_string).collect());
            continue;
        }
        let first = rec.get(0).unwrap_or("").trim();
        if first == "unix_timestamp" {
            continue;
        }
        if rec.len() != width {
            return Err(ImportError::line(path, line, format!("{} fields, the header has {width}", rec.len())));
        }
        let secs: f64 =
            first.parse().map_err(|_| ImportError::line(path, line, format!("timestamp '{first}' is not a number")))?;
        let ts = DateTime::<Utc>::from_timestamp(secs as i64, 0)
            .ok_or_else(|| ImportError::line(path, line, "timestamp out of range"))?;
        let mut vals = Vec::with_capacity(width - 1);
        for (i, cell) in rec.iter().enumerate().skip(1) {
            vals.push(match cell_number(cell) {
                None => None,
                Some(Ok(v)) => Some(v),
                Some(Err(e)) => return Err(ImportError::line(path, line, format!("column {}: {e}", i + 1))),
            });
        }
        rows.push((ts, vals));
    }
    if header.len() < 3 {
        return Err(ImportError::invalid(path, "missing the three header rows (microservice, metric, statistic)"));
    }
    let columns = (1..width)
        .map(|i| {
            let node = header[0].get(i).map(|s| s.trim()).unwrap_or("");
            let metric = header[1].get(i).map(|s| s.trim()).unwrap_or("");
            let stat = header[2].get(i).map(|s| s.trim()).unwrap_or("");
            (!node.is_empty() && !metric.is_empty())
                .then(|| (service_name(node), format!("{}_{}", metric, stat).to_ascii_lowercase()))
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    Ok(Table { columns, rows })
}

fn read_graph(path: &Path) -> Result<Vec<(String, String)>, ImportError> {
    let file = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(file);
    let headers = r.headers().map_err(|e| ImportError::line(path, 1, e))?.clone();
    let mut edges = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| ImportError::line(path, e.position().map(|p| p.line()).unwrap_or(0), e))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let from = service_name(rec.get(0).unwrap_or(""));
        for (j, cell) in rec.iter().enumerate().skip(1) {
            let v = match cell_number(cell) {
                None => 0.0,
                Some(Ok(v)) => v,
                Some(Err(e)) => return Err(ImportError::line(path, line, format!("column {}: {e}", j + 1))),
            };
            if v != 0.0 {
                let to = service_name(headers.get(j).unwrap_or(""));
                if to != from {
                    edges.push((from.clone(), to));
                }
            }
        }
    }
    Ok(edges)
}

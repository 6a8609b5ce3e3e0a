//! `cargo xtask check-fixtures`: strict validation of every case directory under
//! `fixtures/` against the format of `fixtures/README.md` and the fixture design rules
//! (references resolve, metrics cover baseline and window at 60 s, one credential case).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::Duration;
use serde::de::DeserializeOwned;

use inquest_domain::{ChangeKind, HypothesisType};
use inquest_fixtures::{
    CaseFile, CommitEntry, ConfigChangeFile, CulpritFile, DeploymentFile, EdgeFile, IncidentFile, PastIncidentFile,
    RunbookFile, ServiceFile, TruthFile,
};

use crate::fixtures::{BASELINE_MINUTES, Ts};

/// A loaded case, every file parsed.
struct Case {
    case: CaseFile,
    services: Vec<ServiceFile>,
    topology: Vec<EdgeFile>,
    deployments: Vec<DeploymentFile>,
    config_changes: Vec<ConfigChangeFile>,
    commits: Vec<CommitEntry>,
    runbooks: Vec<RunbookFile>,
    past: Vec<PastIncidentFile>,
    incident: IncidentFile,
    truth: TruthFile,
}

/// What the metrics file of a case contains.
struct MetricsSummary {
    rows: usize,
    first: Ts,
    last: Ts,
}

pub fn check_all(root: &Path) -> Result<()> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();

    let mut errors = Vec::new();
    let mut spans: Vec<(String, Ts, Ts)> = Vec::new();
    let mut secret_cases = Vec::new();
    let mut per_type: BTreeMap<&'static str, usize> = BTreeMap::new();
    for dir in &dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        match check_case(dir, &name) {
            Ok((case, metrics, case_errors)) => {
                for e in case_errors {
                    errors.push(format!("{name}: {e}"));
                }
                if has_credential(&case) {
                    secret_cases.push((name.clone(), case.case.description.contains("redaction")));
                }
                *per_type.entry(case.truth.hypothesis_type.as_str()).or_default() += 1;
                spans.push((name.clone(), metrics.first, case.incident.window_end.max(metrics.last)));
                println!(
                    "ok {name:<36} {:<10} {:<34} {:>6} rows",
                    case.truth.hypothesis_type.as_str(),
                    culprit_text(case.truth.culprit.as_ref()),
                    metrics.rows
                );
            }
            Err(e) => errors.push(format!("{name}: {e:#}")),
        }
    }

    // Cases loaded together must not overlap in time.
    spans.sort_by_key(|s| s.1);
    for pair in spans.windows(2) {
        if pair[1].1 <= pair[0].2 {
            errors.push(format!("cases {} and {} overlap in time", pair[0].0, pair[1].0));
        }
    }
    match secret_cases.as_slice() {
        [(_, true)] => {}
        [(name, false)] => {
            errors.push(format!("{name}: holds a credential but its description does not say it is the redaction case"))
        }
        other => errors.push(format!("exactly one case must hold a credential-looking diff, found {}", other.len())),
    }
    let need = [("release", 2), ("config", 2), ("traffic", 2), ("dependency", 2), ("db", 2), ("infra", 1)];
    for (kind, n) in need {
        if per_type.get(kind).copied().unwrap_or(0) < n {
            errors.push(format!("need at least {n} `{kind}` cases"));
        }
    }
    if per_type.get("unknown").copied().unwrap_or(0) != 2 {
        errors.push("need exactly 2 `unknown` cases".to_owned());
    }

    if !errors.is_empty() {
        for e in &errors {
            eprintln!("error: {e}");
        }
        bail!("{} fixture error(s)", errors.len());
    }
    println!("{} cases valid ({per_type:?})", dirs.len());
    Ok(())
}

fn culprit_text(c: Option<&CulpritFile>) -> String {
    match c {
        None => "-".to_owned(),
        Some(CulpritFile::Deployment(id)) => format!("deployment {id}"),
        Some(CulpritFile::ConfigChange(id)) => format!("config_change {id}"),
        Some(CulpritFile::Commit(sha)) => format!("commit {sha}"),
    }
}

fn has_credential(case: &Case) -> bool {
    case.commits.iter().flat_map(|c| &c.files).filter_map(|f| f.diff.as_deref()).any(|diff| {
        let d = diff.to_lowercase();
        d.contains("password=\"") || d.contains("password = \"") || diff.contains("AKIA")
    })
}

/// Fields the format leaves optional (other writers may omit them) but every
/// bundled case must fill: the generator always writes them.
fn incomplete(c: &Case) -> Vec<String> {
    let mut errs = Vec::new();
    let mut need = |present: bool, what: String| {
        if !present {
            errs.push(format!("{what} is missing"));
        }
    };
    need(!c.case.description.is_empty(), "case.json: description".to_owned());
    for d in &c.deployments {
        need(d.finished_at.is_some(), format!("deployments.json: {} finished_at", d.id));
        need(d.image_ref.is_some(), format!("deployments.json: {} image_ref", d.id));
        need(d.revision.is_some(), format!("deployments.json: {} revision", d.id));
        need(d.previous_revision.is_some(), format!("deployments.json: {} previous_revision", d.id));
        need(d.metadata.as_ref().is_some_and(|m| m.is_object()), format!("deployments.json: {} metadata object", d.id));
    }
    for cc in &c.config_changes {
        need(cc.actor.is_some(), format!("config_changes.json: {} actor", cc.id));
    }
    for commit in &c.commits {
        need(commit.author.is_some(), format!("commits.json: {} author", commit.sha));
        for f in &commit.files {
            need(f.diff.is_some(), format!("commits.json: {} {} diff", commit.sha, f.path));
        }
    }
    for r in &c.runbooks {
        need(r.service.is_some(), format!("runbooks.json: {} service", r.id));
        need(r.source_url.is_some(), format!("runbooks.json: {} source_url", r.id));
    }
    for p in &c.past {
        need(p.resolved_at.is_some(), format!("past_incidents.json: {} resolved_at", p.id));
    }
    need(c.truth.notes.is_some(), "truth.json: notes".to_owned());
    errs
}

fn read_json<T: DeserializeOwned>(dir: &Path, file: &str, required: bool) -> Result<Option<T>> {
    let path = dir.join(file);
    if !path.exists() {
        if required {
            bail!("{file}: missing");
        }
        return Ok(None);
    }
    let text = fs::read_to_string(&path).with_context(|| format!("{file}: unreadable"))?;
    let value = serde_json::from_str(&text).with_context(|| format!("{file}: invalid"))?;
    Ok(Some(value))
}

fn check_case(dir: &Path, name: &str) -> Result<(Case, MetricsSummary, Vec<String>)> {
    let case = Case {
        case: read_json(dir, "case.json", true)?.context("case.json")?,
        services: read_json(dir, "services.json", true)?.context("services.json")?,
        topology: read_json(dir, "topology.json", false)?.unwrap_or_default(),
        deployments: read_json(dir, "deployments.json", false)?.unwrap_or_default(),
        config_changes: read_json(dir, "config_changes.json", false)?.unwrap_or_default(),
        commits: read_json(dir, "commits.json", false)?.unwrap_or_default(),
        runbooks: read_json(dir, "runbooks.json", false)?.unwrap_or_default(),
        past: read_json(dir, "past_incidents.json", false)?.unwrap_or_default(),
        incident: read_json(dir, "incident.json", true)?.context("incident.json")?,
        truth: read_json(dir, "truth.json", true)?.context("truth.json")?,
    };
    let c = &case;
    let mut errs = incomplete(c);
    let ws = c.incident.window_start;
    let we = c.incident.window_end;

    // case.json
    if c.case.id != name {
        errs.push(format!("case.json: id {:?} differs from the directory name", c.case.id));
    }
    if c.case.id.is_empty() || !c.case.id.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
    {
        errs.push("case.json: id must be lowercase letters, digits and dashes".to_owned());
    }

    // services.json and topology.json
    let mut services = BTreeSet::new();
    for s in &c.services {
        if !services.insert(s.name.as_str()) {
            errs.push(format!("services.json: duplicate service {}", s.name));
        }
    }
    if services.len() < 5 {
        errs.push("services.json: fewer than 5 services".to_owned());
    }
    let known = |file: &str, field: &str, svc: &str, errs: &mut Vec<String>| {
        if !services.contains(svc) {
            errs.push(format!("{file}: {field} {svc:?} is not in services.json"));
        }
    };
    for e in &c.topology {
        known("topology.json", "from", &e.from, &mut errs);
        known("topology.json", "to", &e.to, &mut errs);
    }

    // commits.json
    let mut shas = BTreeSet::new();
    for commit in &c.commits {
        if !shas.insert(commit.sha.as_str()) {
            errs.push(format!("commits.json: duplicate sha {}", commit.sha));
        }
        if commit.files.is_empty() {
            errs.push(format!("commits.json: commit {} has no files", commit.sha));
        }
        for f in &commit.files {
            let diff = f.diff.as_deref().unwrap_or_default();
            let added = diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count();
            let removed = diff.lines().filter(|l| l.starts_with('-') && !l.starts_with("---")).count();
            if usize::try_from(f.lines_added).ok() != Some(added)
                || usize::try_from(f.lines_removed).ok() != Some(removed)
            {
                errs.push(format!("commits.json: {} {}: line counts do not match the diff", commit.sha, f.path));
            }
            if !diff.starts_with("@@ ") {
                errs.push(format!("commits.json: {} {}: diff is not a unified hunk", commit.sha, f.path));
            }
        }
    }

    // deployments.json
    let mut dep_ids = BTreeMap::new();
    for d in &c.deployments {
        if dep_ids.insert(d.id.as_str(), d).is_some() {
            errs.push(format!("deployments.json: duplicate id {}", d.id));
        }
        known("deployments.json", "service", &d.service, &mut errs);
        if d.finished_at.is_some_and(|f| f < d.started_at) {
            errs.push(format!("deployments.json: {} finishes before it starts", d.id));
        }
        for sha in &d.commits {
            if !shas.contains(sha.as_str()) {
                errs.push(format!("deployments.json: {} commit {sha} is not in commits.json", d.id));
            }
        }
    }

    // config_changes.json
    let mut cfg_ids = BTreeMap::new();
    for cc in &c.config_changes {
        if cfg_ids.insert(cc.id.as_str(), cc).is_some() {
            errs.push(format!("config_changes.json: duplicate id {}", cc.id));
        }
        if let Some(svc) = &cc.service {
            known("config_changes.json", "service", svc, &mut errs);
        }
        if cc.change_kind == ChangeKind::SecretKey
            && (cc.diff.old_value != "<redacted>" || cc.diff.new_value != "<redacted>")
        {
            errs.push(format!("config_changes.json: {} secret values must be \"<redacted>\"", cc.id));
        }
    }

    // runbooks.json and past_incidents.json
    let mut ids = BTreeSet::new();
    for r in &c.runbooks {
        if !ids.insert(r.id.as_str()) {
            errs.push(format!("runbooks.json: duplicate id {}", r.id));
        }
        if let Some(svc) = &r.service {
            known("runbooks.json", "service", svc, &mut errs);
        }
    }
    let mut ids = BTreeSet::new();
    for p in &c.past {
        if !ids.insert(p.id.as_str()) {
            errs.push(format!("past_incidents.json: duplicate id {}", p.id));
        }
        known("past_incidents.json", "service", &p.service, &mut errs);
        if p.resolved_at.is_none_or(|r| r <= p.started_at) || p.started_at >= ws - Duration::hours(24) {
            errs.push(format!("past_incidents.json: {} must be resolved, and before this case", p.id));
        }
    }

    // incident.json
    known("incident.json", "service", &c.incident.service, &mut errs);
    let len = (we - ws).num_minutes();
    if !(30..=60).contains(&len) {
        errs.push(format!("incident.json: window is {len} min, expected 30–60 (and start < end)"));
    }
    if !(1..=5).contains(&c.incident.severity) {
        errs.push("incident.json: severity must be 1..5".to_owned());
    }

    // truth.json
    let t = &c.truth;
    known("truth.json", "service", &t.service, &mut errs);
    if t.notes.as_deref().is_some_and(|n| n.trim().is_empty()) {
        errs.push("truth.json: notes are empty".to_owned());
    }
    match (&t.hypothesis_type, &t.culprit) {
        (HypothesisType::Unknown, Some(_)) => errs.push("truth.json: unknown with a culprit".to_owned()),
        (HypothesisType::Unknown, None) if t.service != c.incident.service => {
            errs.push("truth.json: an unknown truth names the incident's service".to_owned());
        }
        (HypothesisType::Release, Some(CulpritFile::Deployment(_)) | Some(CulpritFile::Commit(_))) => {}
        (HypothesisType::Release, _) => errs.push("truth.json: release truth needs a deployment or commit".to_owned()),
        (HypothesisType::Config, Some(CulpritFile::ConfigChange(_))) => {}
        (HypothesisType::Config, _) => errs.push("truth.json: config truth needs a config_change".to_owned()),
        _ => {}
    }
    match &t.culprit {
        Some(CulpritFile::Deployment(id)) => match dep_ids.get(id.as_str()) {
            None => errs.push(format!("truth.json: deployment {id} not in deployments.json")),
            Some(d) => {
                if d.service != t.service {
                    errs.push(format!("truth.json: deployment {id} is not of service {}", t.service));
                }
                if d.finished_at.is_none_or(|f| f > ws || ws - f > Duration::minutes(30)) {
                    errs.push(format!("truth.json: deployment {id} does not finish shortly before the window"));
                }
            }
        },
        Some(CulpritFile::ConfigChange(id)) => match cfg_ids.get(id.as_str()) {
            None => errs.push(format!("truth.json: config change {id} not in config_changes.json")),
            Some(cc) => {
                if cc.service.as_deref() != Some(t.service.as_str()) {
                    errs.push(format!("truth.json: config change {id} is not of service {}", t.service));
                }
                if cc.detected_at > ws {
                    errs.push(format!("truth.json: config change {id} comes after the window start"));
                }
            }
        },
        Some(CulpritFile::Commit(sha)) if !shas.contains(sha.as_str()) => {
            errs.push(format!("truth.json: commit {sha} not in commits.json"));
        }
        Some(CulpritFile::Commit(_)) | None => {}
    }

    let metrics = check_metrics(dir, &services, ws, we, &mut errs)?;
    Ok((case, metrics, errs))
}

/// Checks `metrics.csv`: header, sorting, rounding, and that every series covers the
/// baseline and the window at a 60 s step.
fn check_metrics(
    dir: &Path,
    services: &BTreeSet<&str>,
    ws: Ts,
    we: Ts,
    errs: &mut Vec<String>,
) -> Result<MetricsSummary> {
    let text = fs::read_to_string(dir.join("metrics.csv")).context("metrics.csv: missing")?;
    let mut lines = text.lines();
    if lines.next() != Some("ts,service,metric,value") {
        errs.push("metrics.csv: header must be `ts,service,metric,value`".to_owned());
    }
    let mut series: BTreeMap<(String, String), BTreeSet<Ts>> = BTreeMap::new();
    let mut previous: Option<(Ts, String, String)> = None;
    let mut rows = 0;
    for (i, line) in lines.enumerate() {
        let lineno = i + 2;
        let fields: Vec<&str> = line.split(',').collect();
        let [ts, service, metric, value] = fields.as_slice() else {
            errs.push(format!("metrics.csv line {lineno}: expected 4 fields"));
            continue;
        };
        let Ok(ts) = chrono::DateTime::parse_from_rfc3339(ts).map(|t| t.to_utc()) else {
            errs.push(format!("metrics.csv line {lineno}: bad ts"));
            continue;
        };
        if !services.contains(service) {
            errs.push(format!("metrics.csv line {lineno}: unknown service {service}"));
        }
        match value.parse::<f64>() {
            Ok(v) if v.is_finite() => {}
            _ => errs.push(format!("metrics.csv line {lineno}: bad value")),
        }
        if value.split_once('.').is_some_and(|(_, frac)| frac.len() > 4) {
            errs.push(format!("metrics.csv line {lineno}: more than 4 decimals"));
        }
        let key = (ts, (*service).to_owned(), (*metric).to_owned());
        if previous.as_ref().is_some_and(|p| *p >= key) {
            errs.push(format!("metrics.csv line {lineno}: not sorted by ts, service, metric"));
        }
        previous = Some(key);
        series.entry(((*service).to_owned(), (*metric).to_owned())).or_default().insert(ts);
        rows += 1;
    }

    let first = ws - Duration::minutes(BASELINE_MINUTES);
    let expected: Vec<Ts> =
        std::iter::successors(Some(first), |t| Some(*t + Duration::minutes(1))).take_while(|t| *t <= we).collect();
    let mut per_service: BTreeMap<&str, usize> = BTreeMap::new();
    for ((service, metric), points) in &series {
        if let Some(missing) = expected.iter().find(|t| !points.contains(*t)) {
            errs.push(format!("metrics.csv: {service}/{metric} has no point at {missing}"));
        }
        if let Some(svc) = services.get(service.as_str()) {
            *per_service.entry(svc).or_default() += 1;
        }
    }
    for svc in services {
        let n = per_service.get(svc).copied().unwrap_or(0);
        if !(3..=5).contains(&n) {
            errs.push(format!("metrics.csv: {svc} has {n} series, expected 3–5"));
        }
    }
    let last = series.values().filter_map(|p| p.last().copied()).max().unwrap_or(we);
    let first_seen = series.values().filter_map(|p| p.first().copied()).min().unwrap_or(first);
    Ok(MetricsSummary { rows, first: first_seen, last })
}

//! `cargo xtask fixtures`: turns the hand-written case designs of `fixtures/cases.rs`
//! into the case directories under `fixtures/`, deterministically (fixed seeds,
//! byte-identical output on every run).

pub mod cases;
pub mod decoys;
pub mod platform;
pub mod runbooks;
pub mod signal;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};
use inquest_domain::{ChangeKind, ConfigSource, DeployType, FileChangeType, HypothesisType, IncidentStatus};
use inquest_fixtures::{
    CaseFile, CommitEntry, CommitFileEntry, ConfigChangeFile, ConfigDiff, CulpritFile, DeploymentFile, EdgeFile,
    IncidentFile, PastIncidentFile, RunbookFile, ServiceFile, TriggerType, TruthFile, ts_string,
};
use serde::Serialize;
use signal::{Effect, SeriesSpec, fnv};

/// A time in the fixture files.
pub type Ts = DateTime<Utc>;

/// Minutes of metric history before `window_start`.
pub const BASELINE_MINUTES: i64 = 180;

/// One hand-designed incident case. Times are minutes relative to `window_start`.
pub struct CaseSpec {
    pub id: &'static str,
    pub description: &'static str,
    /// Day of September 2026 the case happens on.
    pub day: u32,
    /// `window_start` as (hour, minute) UTC.
    pub start: (u32, u32),
    pub window_minutes: i64,
    /// Nodes of the platform included in this case (edges between them are kept).
    pub services: &'static [&'static str],
    pub incident: IncidentSpec,
    pub truth: TruthSpec,
    pub deployments: Vec<DeploySpec>,
    pub config_changes: Vec<ConfigSpec>,
    pub runbooks: Vec<RunbookSpec>,
    pub past: Vec<PastSpec>,
    pub effects: Vec<Effect>,
}

pub struct IncidentSpec {
    pub service: &'static str,
    pub trigger: TriggerType,
    pub severity: u8,
}

pub struct TruthSpec {
    pub service: &'static str,
    pub kind: HypothesisType,
    pub culprit: Option<CulpritRef>,
    pub notes: &'static str,
}

pub enum CulpritRef {
    Deployment(&'static str),
    ConfigChange(&'static str),
}

pub struct DeploySpec {
    pub id: &'static str,
    pub service: &'static str,
    /// Start, minutes relative to window_start.
    pub at: i64,
    /// Duration of the rollout in minutes.
    pub minutes: i64,
    pub deploy_type: DeployType,
    pub version: &'static str,
    /// For a rollback: the id of the deployment it reverts (its revisions are swapped).
    pub rollback_of: Option<&'static str>,
    pub commits: Vec<CommitSpec>,
    pub metadata: &'static [(&'static str, &'static str)],
}

pub struct CommitSpec {
    pub message: &'static str,
    pub author: &'static str,
    /// Minutes before the deployment started that the commit was authored.
    pub before_deploy: i64,
    pub files: Vec<FileSpec>,
}

pub struct FileSpec {
    pub path: &'static str,
    pub change_type: FileChangeType,
    pub diff: &'static str,
}

pub struct ConfigSpec {
    pub id: &'static str,
    pub service: Option<&'static str>,
    pub at: i64,
    pub source: ConfigSource,
    pub change_kind: ChangeKind,
    pub resource: &'static str,
    pub field: &'static str,
    pub old: &'static str,
    pub new: &'static str,
    pub actor: &'static str,
}

pub struct RunbookSpec {
    pub id: &'static str,
    pub title: &'static str,
    pub service: &'static str,
    pub tags: &'static [&'static str],
    pub body: &'static str,
}

pub struct PastSpec {
    pub id: &'static str,
    pub service: &'static str,
    /// RFC 3339 start.
    pub started: &'static str,
    pub minutes: i64,
    pub kind: HypothesisType,
    pub summary: &'static str,
}

/// Everything written for one case, in file form.
struct CaseFiles {
    case: CaseFile,
    services: Vec<ServiceFile>,
    topology: Vec<EdgeFile>,
    deployments: Vec<DeploymentFile>,
    config_changes: Vec<ConfigChangeFile>,
    commits: Vec<CommitEntry>,
    runbooks: Vec<RunbookFile>,
    past_incidents: Vec<PastIncidentFile>,
    incident: IncidentFile,
    truth: TruthFile,
    metrics_csv: String,
}

/// Regenerates every case directory under `root` (the `fixtures/` folder).
pub fn generate(root: &Path) -> Result<()> {
    let specs = cases::all();
    let mut ids = BTreeSet::new();
    for spec in &specs {
        if !ids.insert(spec.id) {
            bail!("duplicate case id {}", spec.id);
        }
    }
    remove_stale_cases(root, &ids)?;
    for spec in &specs {
        let files = build(spec).with_context(|| format!("case {}", spec.id))?;
        write_case(&root.join(spec.id), &files).with_context(|| format!("writing case {}", spec.id))?;
        println!("wrote fixtures/{}", spec.id);
    }
    Ok(())
}

/// Removes case directories (folders holding a `case.json`) that are no longer designed.
fn remove_stale_cases(root: &Path, ids: &BTreeSet<&str>) -> Result<()> {
    if !root.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(root)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if path.is_dir() && path.join("case.json").exists() && !ids.contains(name.as_str()) {
            fs::remove_dir_all(&path).with_context(|| format!("removing stale case {name}"))?;
            println!("removed stale fixtures/{name}");
        }
    }
    Ok(())
}

fn write_case(dir: &Path, files: &CaseFiles) -> Result<()> {
    fs::create_dir_all(dir)?;
    write_json(dir, "case.json", &files.case)?;
    write_json(dir, "services.json", &files.services)?;
    write_json(dir, "topology.json", &files.topology)?;
    write_json(dir, "deployments.json", &files.deployments)?;
    write_json(dir, "config_changes.json", &files.config_changes)?;
    write_json(dir, "commits.json", &files.commits)?;
    write_json(dir, "runbooks.json", &files.runbooks)?;
    write_json(dir, "past_incidents.json", &files.past_incidents)?;
    write_json(dir, "incident.json", &files.incident)?;
    write_json(dir, "truth.json", &files.truth)?;
    fs::write(dir.join("metrics.csv"), &files.metrics_csv)?;
    Ok(())
}

fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))
}

/// Short commit sha derived from the case and the commit's identity.
fn sha(parts: &[&str]) -> String {
    format!("{:07x}", fnv(parts) >> 36)
}

fn build(spec: &CaseSpec) -> Result<CaseFiles> {
    let date = NaiveDate::from_ymd_opt(2026, 9, spec.day).context("bad day")?;
    let (h, m) = spec.start;
    let naive = date.and_hms_opt(h, m, 0).context("bad start time")?;
    let ws: Ts = Utc.from_utc_datetime(&naive);
    let we = ws + Duration::minutes(spec.window_minutes);
    let at = |minutes: i64| ws + Duration::minutes(minutes);

    let included: BTreeSet<&str> = spec.services.iter().copied().collect();
    let services = platform::SERVICES
        .iter()
        .filter(|(name, _, _)| included.contains(name))
        .map(|&(name, kind, detail)| ServiceFile {
            name: name.to_owned(),
            kind,
            detail: detail.map(str::to_owned),
            cluster: None,
            namespace: None,
        })
        .collect::<Vec<_>>();
    if services.len() != included.len() {
        bail!("a service of the case is not part of the platform");
    }
    let topology = platform::EDGES
        .iter()
        .filter(|(from, to)| included.contains(from) && included.contains(to))
        .map(|&(from, to)| EdgeFile { from: from.to_owned(), to: to.to_owned() })
        .collect();

    // Deployments and their commits (newest commit first in a range).
    let mut commits = Vec::new();
    let mut deployments: Vec<DeploymentFile> = Vec::new();
    for d in &spec.deployments {
        let started = at(d.at);
        let mut shas = Vec::new();
        for c in &d.commits {
            let sha = sha(&[spec.id, d.id, c.message]);
            commits.push(CommitEntry {
                sha: sha.clone(),
                repo: format!("shop/{}", d.service),
                author: Some(c.author.to_owned()),
                message: c.message.to_owned(),
                summary: None,
                authored_at: started - Duration::minutes(c.before_deploy),
                files: c.files.iter().map(commit_file).collect(),
            });
            shas.push(sha);
        }
        let (revision, previous_revision) = match d.rollback_of {
            Some(of) => {
                let reverted = deployments
                    .iter()
                    .find(|x| x.id == of)
                    .with_context(|| format!("rollback of unknown deployment {of}"))?;
                (reverted.previous_revision.clone(), reverted.revision.clone())
            }
            None => (
                Some(shas.first().cloned().context("a deployment needs commits")?),
                Some(sha(&[spec.id, d.id, "previous"])),
            ),
        };
        deployments.push(DeploymentFile {
            id: d.id.to_owned(),
            service: d.service.to_owned(),
            started_at: started,
            finished_at: Some(started + Duration::minutes(d.minutes)),
            deploy_type: d.deploy_type,
            image_ref: Some(format!("registry.example.com/shop/{}:{}", d.service, d.version)),
            revision,
            previous_revision,
            is_rollback: d.rollback_of.is_some(),
            commits: shas,
            metadata: Some(serde_json::Value::Object(
                d.metadata.iter().map(|&(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned()))).collect(),
            )),
        });
    }
    deployments.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
    commits.sort_by(|a, b| a.authored_at.cmp(&b.authored_at).then(a.sha.cmp(&b.sha)));

    let mut config_changes: Vec<ConfigChangeFile> = spec
        .config_changes
        .iter()
        .map(|c| ConfigChangeFile {
            id: c.id.to_owned(),
            service: c.service.map(str::to_owned),
            detected_at: at(c.at),
            source: c.source,
            change_kind: c.change_kind,
            resource_name: c.resource.to_owned(),
            diff: ConfigDiff { field: c.field.to_owned(), old_value: c.old.to_owned(), new_value: c.new.to_owned() },
            actor: Some(c.actor.to_owned()),
            audit_log_ref: None,
        })
        .collect();
    config_changes.sort_by(|a, b| a.detected_at.cmp(&b.detected_at).then(a.id.cmp(&b.id)));

    let runbooks = spec
        .runbooks
        .iter()
        .map(|r| RunbookFile {
            id: r.id.to_owned(),
            title: r.title.to_owned(),
            service: Some(r.service.to_owned()),
            tags: r.tags.iter().map(|t| (*t).to_owned()).collect(),
            source_url: Some(format!("https://runbooks.example.com/shop/{}", r.id)),
            body: r.body.to_owned(),
        })
        .collect();

    let past_incidents = spec
        .past
        .iter()
        .map(|p| -> Result<PastIncidentFile> {
            let started = chrono::DateTime::parse_from_rfc3339(p.started)
                .with_context(|| format!("past incident {}", p.id))?
                .with_timezone(&Utc);
            Ok(PastIncidentFile {
                id: p.id.to_owned(),
                service: p.service.to_owned(),
                started_at: started,
                resolved_at: Some(started + Duration::minutes(p.minutes)),
                hypothesis_type: p.kind,
                summary: p.summary.to_owned(),
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let incident = IncidentFile {
        service: spec.incident.service.to_owned(),
        trigger_type: spec.incident.trigger,
        severity: i32::from(spec.incident.severity),
        window_start: ws,
        window_end: we,
        status: IncidentStatus::Open,
    };
    let truth = TruthFile {
        service: spec.truth.service.to_owned(),
        hypothesis_type: spec.truth.kind,
        culprit: spec.truth.culprit.as_ref().map(|c| match c {
            CulpritRef::Deployment(id) => CulpritFile::Deployment((*id).to_owned()),
            CulpritRef::ConfigChange(id) => CulpritFile::ConfigChange((*id).to_owned()),
        }),
        notes: Some(spec.truth.notes.to_owned()),
    };

    let metrics_csv = metrics(spec, ws, &included)?;
    Ok(CaseFiles {
        case: CaseFile {
            id: spec.id.to_owned(),
            description: spec.description.to_owned(),
            cluster: platform::CLUSTER.to_owned(),
            namespace: platform::NAMESPACE.to_owned(),
        },
        services,
        topology,
        deployments,
        config_changes,
        commits,
        runbooks,
        past_incidents,
        incident,
        truth,
        metrics_csv,
    })
}

fn commit_file(f: &FileSpec) -> CommitFileEntry {
    let added = f.diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count();
    let removed = f.diff.lines().filter(|l| l.starts_with('-') && !l.starts_with("---")).count();
    CommitFileEntry {
        path: f.path.to_owned(),
        change_type: f.change_type,
        diff: Some(f.diff.to_owned()),
        lines_added: i32::try_from(added).unwrap_or(i32::MAX),
        lines_removed: i32::try_from(removed).unwrap_or(i32::MAX),
    }
}

/// Synthesises `metrics.csv`: baseline through window_end at a 60 s step, sorted by ts,
/// service, metric.
fn metrics(spec: &CaseSpec, ws: Ts, included: &BTreeSet<&str>) -> Result<String> {
    for e in &spec.effects {
        if !included.contains(e.service) || !platform::metrics_of(e.service).iter().any(|(m, _, _)| *m == e.metric) {
            bail!("effect on unknown series {}/{}", e.service, e.metric);
        }
    }
    let first = ws - Duration::minutes(BASELINE_MINUTES);
    let points = usize::try_from(BASELINE_MINUTES + spec.window_minutes + 1)?;
    let window_index = usize::try_from(BASELINE_MINUTES)?;
    let first_hour = f64::from(first.hour()) + f64::from(first.minute()) / 60.0;

    // (service, metric) -> (decimals, values); BTreeMap keeps the sort order.
    let mut series: BTreeMap<(&str, &str), (usize, Vec<f64>)> = BTreeMap::new();
    for &service in included {
        for &(metric, base, class) in platform::metrics_of(service) {
            let effects: Vec<&Effect> =
                spec.effects.iter().filter(|e| e.service == service && e.metric == metric).collect();
            let values = signal::synthesise(&SeriesSpec {
                seed: fnv(&[spec.id, service, metric]),
                base,
                class,
                first_hour,
                points,
                window_index,
                effects: &effects,
            });
            series.insert((service, metric), (class.decimals(), values));
        }
    }

    let mut out = String::from("ts,service,metric,value\n");
    for i in 0..points {
        let ts = ts_string(first + Duration::minutes(i64::try_from(i)?));
        for ((service, metric), (decimals, values)) in &series {
            writeln!(out, "{ts},{service},{metric},{:.*}", decimals, values[i])?;
        }
    }
    Ok(out)
}

//! The changes view: deployments (with their commit ranges), config changes and
//! commits on one timeline, newest first, each saying where it came from; for a
//! service over a time range (`GET /api/changes`) or for an incident over its
//! window and the investigation's lookback across its blast radius
//! (`GET /api/incidents/{id}/changes`), the top hypothesis's culprit marked.
//!
//! Capped, not paged: at most `limit` items (default 200, at most 1000), the newest;
//! `truncated` says when older ones were left out.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Json;
use axum::extract::State;
use chrono::Duration;
use inquest_domain::*;
use inquest_ports::{CommitWithFiles, Stores};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, parse_time, service_keys};
use crate::AppState;
use crate::auth::{Authorized, Read};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IncidentPath, Query};

/// Items of a timeline by default and at most.
const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 1000;
/// Commits read to find a service's among them (commits carry a repository, not a service).
const COMMIT_SCAN: usize = 5000;
/// The range of `/api/changes` when `from` is not given.
const DEFAULT_DAYS: i64 = 7;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// Service name (e.g. `checkout`) or full key; every service when absent.
    pub service: Option<String>,
    /// Changes at or after this time (RFC 3339; default `to` minus 7 days).
    pub from: Option<String>,
    /// Changes at or before this time (RFC 3339; default now).
    pub to: Option<String>,
    /// Comma-separated kinds to keep: `deployment`, `config_change`, `commit` (default all).
    pub kind: Option<String>,
    /// At most this many items, the newest, 1 to 1000 (default 200).
    pub limit: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IncidentChangesQuery {
    /// Comma-separated kinds to keep: `deployment`, `config_change`, `commit` (default all).
    pub kind: Option<String>,
    /// At most this many items, the newest, 1 to 1000 (default 200).
    pub limit: Option<String>,
}

/// Where a change came from.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ChangeSource {
    /// The producing tool or record kind: a deployment's `deploy_type` (`helm`, `argo`,
    /// `flux`, ...), a config change's `source` (`k8s_configmap`, `db_schema`, ...), `git`.
    pub kind: String,
    /// The feed that delivered it (`metadata.feed` of a deployment), when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed: Option<String>,
    /// Who made it (a config change's `actor`, a commit's author).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// A config change's pointer to the raw audit log entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_log_ref: Option<String>,
    /// A commit's repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// A link the sender gave (a deployment's `metadata.url`, `html_url`, `target_url`, `log_url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One commit of a deployment's range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RangeCommit {
    pub sha: String,
    pub repo: String,
    pub author: Option<String>,
    /// The message's first line.
    pub title: String,
    pub authored_at: String,
    pub files: usize,
    pub lines_added: i32,
    pub lines_removed: i32,
}

/// One change on the timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangeItem {
    /// `deployment`, `config_change` or `commit`.
    pub kind: String,
    /// The deployment or config change id, or the commit sha.
    pub id: String,
    /// The record it is: `deployment_events/<id>`, `config_change_events/<id>`, `commits/<sha>`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// When it happened: a deployment's start, a config change's detection, a commit's authoring.
    pub at: String,
    /// The service it changed (none for a cluster-wide config change or a commit of no known service).
    pub service_key: Option<String>,
    pub title: String,
    pub source: ChangeSource,
    /// The culprit of the incident's top hypothesis.
    pub culprit: bool,
    /// Kind-specific fields: a deployment's revision, image, range; a config change's diff.
    #[schema(value_type = Object)]
    pub details: Value,
    /// A deployment's commit range, newest first (absent for other kinds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits: Option<Vec<RangeCommit>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeTimeline {
    pub from: String,
    pub to: String,
    /// The services whose changes are shown (all services of the project when none was asked).
    pub services: Vec<String>,
    /// The culprit of the incident's top hypothesis (`deployment:<id>`, `config_change:<id>`).
    pub culprit: Option<String>,
    pub limit: usize,
    /// Older changes were left out to stay within `limit`.
    pub truncated: bool,
    /// Newest first.
    pub items: Vec<ChangeItem>,
}

/// Deployments, config changes and commits of a service (or every service) in a time range.
#[utoipa::path(get, path = "/api/changes", tag = "changes", params(ChangesQuery),
    responses((status = 200, body = ChangeTimeline), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list_changes(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Query(q): Query<ChangesQuery>,
) -> ApiResult<ChangeTimeline> {
    let stores = s.stores.for_project(auth.project());
    let kinds = Kinds::parse(q.kind.as_deref())?;
    let limit = parse_limit(q.limit.as_deref())?;
    let to = q.to.as_deref().map(|v| parse_time("to", v)).transpose()?.unwrap_or_else(chrono::Utc::now);
    let from =
        q.from.as_deref().map(|v| parse_time("from", v)).transpose()?.unwrap_or(to - Duration::days(DEFAULT_DAYS));
    if from > to {
        return Err(ApiError::field("from", "is after `to`"));
    }
    let services = service_keys(&stores).await?;
    let chosen: Vec<&Service> = match q.service.as_deref() {
        None => {
            let mut all: Vec<&Service> = services.values().collect();
            all.sort_by_key(|x| x.service_key());
            all
        }
        Some(want) => resolve_service(&services, want)?,
    };
    let scope = Scope {
        ids: chosen.iter().map(|x| x.service_id).collect(),
        keys: chosen.iter().map(|x| x.service_key()).collect(),
        every_service: q.service.is_none(),
    };
    let timeline = timeline(&stores, &services, &scope, from, to, kinds, limit, None).await?;
    Ok(Json(timeline))
}

/// The changes an investigation of this incident weighs: the blast radius's, from the
/// window's start minus the change lookback to its end, the top hypothesis's culprit marked.
#[utoipa::path(get, path = "/api/incidents/{id}/changes", tag = "changes",
    params(("id" = String, Path, description = "incident UUID"), IncidentChangesQuery),
    responses((status = 200, body = ChangeTimeline), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn incident_changes(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    IncidentPath(id): IncidentPath,
    Query(q): Query<IncidentChangesQuery>,
) -> ApiResult<ChangeTimeline> {
    let stores = s.stores.for_project(auth.project());
    let kinds = Kinds::parse(q.kind.as_deref())?;
    let limit = parse_limit(q.limit.as_deref())?;
    let incident = stores
        .records
        .get_incident(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("incident {id} not found")))?;
    let services = service_keys(&stores).await?;
    let origin = services.get(&incident.service_id).map(Service::service_key).unwrap_or_default();
    let radius = stores.topology.blast_radius(&origin, s.cfg.topology_depth).await?;
    let by_key: HashMap<String, &Service> = services.values().map(|x| (x.service_key(), x)).collect();
    let mut keys: Vec<String> = radius.nodes.iter().map(|r| r.key.clone()).collect();
    if !keys.contains(&origin) {
        keys.insert(0, origin);
    }
    let scope = Scope {
        ids: keys.iter().filter_map(|k| by_key.get(k).map(|x| x.service_id)).collect(),
        keys,
        every_service: false,
    };
    let from = incident.window_start - Duration::minutes(s.cfg.change_lookback_minutes);
    let culprit = Hypothesis::top(&stores.records.hypotheses(id).await?).and_then(|h| h.culprit().map(str::to_string));
    let timeline = timeline(&stores, &services, &scope, from, incident.window_end, kinds, limit, culprit).await?;
    Ok(Json(timeline))
}

/// The services `want` names: the one with that key, else every one with that name.
pub(super) fn resolve_service<'a>(
    services: &'a HashMap<ServiceId, Service>,
    want: &str,
) -> Result<Vec<&'a Service>, ApiError> {
    let want = want.trim();
    if want.is_empty() {
        return Err(ApiError::field("service", "must not be empty"));
    }
    let key = service_key_of(want);
    let mut found: Vec<&Service> = services.values().filter(|x| x.service_key() == key).collect();
    if found.is_empty() {
        found = services.values().filter(|x| x.service_name == want).collect();
    }
    if found.is_empty() {
        return Err(ApiError::not_found(format!("service {want} not found")));
    }
    found.sort_by_key(|x| x.service_key());
    Ok(found)
}

/// Which services a timeline covers.
struct Scope {
    ids: Vec<ServiceId>,
    keys: Vec<String>,
    /// Every commit counts, not only those linked to the services.
    every_service: bool,
}

#[derive(Debug, Clone, Copy)]
struct Kinds {
    deployments: bool,
    config_changes: bool,
    commits: bool,
}

impl Kinds {
    fn parse(v: Option<&str>) -> Result<Kinds, ApiError> {
        let Some(v) = v else { return Ok(Kinds { deployments: true, config_changes: true, commits: true }) };
        let mut k = Kinds { deployments: false, config_changes: false, commits: false };
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "deployment" => k.deployments = true,
                "config_change" => k.config_changes = true,
                "commit" => k.commits = true,
                other => {
                    return Err(ApiError::field(
                        "kind",
                        format!("'{other}' is not one of deployment, config_change, commit"),
                    ));
                }
            }
        }
        Ok(k)
    }
}

fn parse_limit(v: Option<&str>) -> Result<usize, ApiError> {
    match v {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n @ 1..=MAX_LIMIT) => Ok(n),
            _ => Err(ApiError::field("limit", format!("'{s}' is not a number from 1 to {MAX_LIMIT}"))),
        },
    }
}

/// One timeline row before the cap: enough to sort, filled in after.
struct Row {
    at: Timestamp,
    item: ChangeItem,
    deployment: Option<DeploymentId>,
}

#[allow(clippy::too_many_arguments, reason = "one private assembly step of both routes")]
async fn timeline(
    stores: &Stores,
    services: &HashMap<ServiceId, Service>,
    scope: &Scope,
    from: Timestamp,
    to: Timestamp,
    kinds: Kinds,
    limit: usize,
    culprit: Option<String>,
) -> Result<ChangeTimeline, ApiError> {
    let key_of = |id: &ServiceId| services.get(id).map(Service::service_key);
    let mut rows: Vec<Row> = Vec::new();
    if kinds.deployments && !scope.ids.is_empty() {
        for d in stores.records.deployments_between(&scope.ids, from, to).await? {
            rows.push(Row {
                at: d.started_at,
                deployment: Some(d.deployment_event_id),
                item: deployment_item(&d, key_of(&d.service_id)),
            });
        }
    }
    if kinds.config_changes {
        for c in stores.records.config_changes_between(&scope.ids, from, to).await? {
            let key = c.service_id.as_ref().and_then(key_of);
            rows.push(Row { at: c.detected_at, deployment: None, item: config_item(&c, key) });
        }
    }
    let mut scanned_all = true;
    if kinds.commits {
        let scan = if scope.every_service { limit + 1 } else { COMMIT_SCAN };
        let commits = stores.records.commits_between(from, to, scan).await?;
        scanned_all = commits.len() < scan;
        // A commit belongs to the services it touched (its deployments link it).
        let touched: BTreeMap<String, String> = if scope.every_service {
            BTreeMap::new()
        } else {
            stores.topology.commits_touching(&scope.keys).await?.into_iter().collect()
        };
        for c in commits {
            let service = touched.get(&c.commit_sha).cloned();
            if !scope.every_service && service.is_none() {
                continue;
            }
            rows.push(Row { at: c.authored_at, deployment: None, item: commit_item(&c, service) });
        }
    }
    rows.sort_by(|a, b| {
        b.at.cmp(&a.at).then_with(|| a.item.kind.cmp(&b.item.kind)).then_with(|| a.item.id.cmp(&b.item.id))
    });
    let truncated = rows.len() > limit || !scanned_all;
    rows.truncate(limit);

    // Ranges only for the deployments shown; their commits read at once.
    let mut ranges = Vec::new();
    for r in &rows {
        if let Some(id) = r.deployment {
            ranges.push((id, stores.records.commit_range(id).await?));
        }
    }
    let shas: Vec<String> = ranges
        .iter()
        .filter_map(|(_, r)| r.as_ref())
        .flat_map(|r| r.commit_shas.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let found: HashMap<String, CommitWithFiles> = if shas.is_empty() {
        HashMap::new()
    } else {
        stores.records.commits(&shas).await?.into_iter().map(|c| (c.commit.commit_sha.clone(), c)).collect()
    };
    let mut deployed_in: HashMap<String, Vec<String>> = HashMap::new();
    let mut ranges: HashMap<DeploymentId, Option<DeploymentCommitRange>> = ranges.into_iter().collect();
    let mut items = Vec::with_capacity(rows.len());
    for mut r in rows {
        if let Some(id) = r.deployment {
            let range = ranges.remove(&id).flatten();
            if let Some(range) = &range {
                for sha in &range.commit_shas {
                    deployed_in.entry(sha.clone()).or_default().push(id.to_string());
                }
                if let Value::Object(m) = &mut r.item.details {
                    m.insert("previous_revision".into(), json!(range.previous_revision));
                    m.insert("current_revision".into(), json!(range.current_revision));
                    m.insert("is_rollback".into(), json!(range.is_rollback));
                }
                if range.is_rollback {
                    r.item.title.push_str(" (rollback)");
                }
            }
            let commits = range
                .map(|range| range.commit_shas.iter().filter_map(|sha| found.get(sha)).map(range_commit).collect());
            r.item.commits = Some(commits.unwrap_or_default());
        }
        r.item.culprit = culprit.as_deref().is_some_and(|c| c == format!("{}:{}", r.item.kind, r.item.id));
        items.push(r.item);
    }
    // A commit shown on its own says which shown deployments shipped it.
    for item in items.iter_mut().filter(|i| i.kind == "commit") {
        if let (Some(ids), Value::Object(m)) = (deployed_in.get(&item.id), &mut item.details) {
            m.insert("deployed_in".into(), json!(ids));
        }
    }
    Ok(ChangeTimeline {
        from: from.to_rfc3339(),
        to: to.to_rfc3339(),
        services: scope.keys.clone(),
        culprit,
        limit,
        truncated,
        items,
    })
}

fn deployment_item(d: &DeploymentEvent, service_key: Option<String>) -> ChangeItem {
    let what =
        d.image_ref.clone().or_else(|| d.revision.as_deref().map(short)).unwrap_or_else(|| "(no revision)".into());
    let text = |k: &str| d.metadata.get(k).and_then(Value::as_str).map(str::to_string);
    let url = ["url", "html_url", "target_url", "log_url"]
        .iter()
        .filter_map(|k| text(k))
        .find(|u| u.starts_with("https://") || u.starts_with("http://"));
    ChangeItem {
        kind: "deployment".into(),
        id: d.deployment_event_id.to_string(),
        reference: format!("deployment_events/{}", d.deployment_event_id),
        at: d.started_at.to_rfc3339(),
        title: format!("deploy {what}"),
        service_key,
        source: ChangeSource { kind: d.deploy_type.to_string(), feed: text("feed"), url, ..ChangeSource::default() },
        culprit: false,
        details: json!({
            "revision": d.revision,
            "image_ref": d.image_ref,
            "deploy_type": d.deploy_type,
            "finished_at": d.finished_at.map(|t| t.to_rfc3339()),
            "metadata": d.metadata,
        }),
        commits: None,
    }
}

fn config_item(c: &ConfigChangeEvent, service_key: Option<String>) -> ChangeItem {
    let field = c.diff_payload.get("field").and_then(Value::as_str).unwrap_or("");
    let title = [c.change_kind.as_str(), c.resource_name.as_str(), field]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    ChangeItem {
        kind: "config_change".into(),
        id: c.config_change_id.to_string(),
        reference: format!("config_change_events/{}", c.config_change_id),
        at: c.detected_at.to_rfc3339(),
        title,
        service_key,
        source: ChangeSource {
            kind: c.source.to_string(),
            actor: c.actor.clone(),
            audit_log_ref: c.audit_log_ref.clone(),
            ..ChangeSource::default()
        },
        culprit: false,
        details: json!({ "change_kind": c.change_kind, "resource_name": c.resource_name, "diff": c.diff_payload }),
        commits: None,
    }
}

fn commit_item(c: &Commit, service_key: Option<String>) -> ChangeItem {
    ChangeItem {
        kind: "commit".into(),
        id: c.commit_sha.clone(),
        reference: format!("commits/{}", c.commit_sha),
        at: c.authored_at.to_rfc3339(),
        title: first_line(&c.message),
        service_key,
        source: ChangeSource {
            kind: "git".into(),
            actor: c.author.clone(),
            repo: Some(c.repo.clone()),
            ..ChangeSource::default()
        },
        culprit: false,
        details: json!({ "summary": c.summary }),
        commits: None,
    }
}

fn range_commit(c: &CommitWithFiles) -> RangeCommit {
    RangeCommit {
        sha: c.commit.commit_sha.clone(),
        repo: c.commit.repo.clone(),
        author: c.commit.author.clone(),
        title: first_line(&c.commit.message),
        authored_at: c.commit.authored_at.to_rfc3339(),
        files: c.files.len(),
        lines_added: c.files.iter().map(|f| f.lines_added).sum(),
        lines_removed: c.files.iter().map(|f| f.lines_removed).sum(),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

fn short(rev: &str) -> String {
    rev.chars().take(12).collect()
}

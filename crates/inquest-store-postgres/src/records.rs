//! `RecordStore` on the data model's tables: upserts with `ON CONFLICT` so a load can be
//! repeated, one transaction per batch and per saved investigation.

use std::str::FromStr;

use async_trait::async_trait;
use inquest_domain::*;
use inquest_ports::{
    CommitWithFiles, DeliveryOutcome, ErrorKind, FeedDelivery, InvestigationRecord, RecordBatch, RecordStore,
    StoreError, StoreResult,
};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};
use tracing::debug;
use uuid::Uuid;

use crate::{BACKEND, PostgresStore, begin, pg_err};

fn get<'a, T: FromSql<'a>>(row: &'a Row, col: &str, op: &str) -> StoreResult<T> {
    row.try_get(col).map_err(|e| pg_err(op, e))
}

fn parse<T: FromStr>(row: &Row, col: &str, op: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = get(row, col, op)?;
    text.parse().map_err(|e| StoreError::new(ErrorKind::Internal, BACKEND, op, format!("corrupt row: {col}: {e}")))
}

const SERVICE_COLS: &str = "service_id, cluster_id, namespace, service_name, created_at";

fn service(row: &Row, op: &str) -> StoreResult<Service> {
    Ok(Service {
        service_id: ServiceId(get(row, "service_id", op)?),
        cluster_id: get(row, "cluster_id", op)?,
        namespace: get(row, "namespace", op)?,
        service_name: get(row, "service_name", op)?,
        created_at: get(row, "created_at", op)?,
    })
}

const INCIDENT_COLS: &str = "incident_id, service_id, status, trigger_type, severity, window_start, window_end, \
     created_at, updated_at, resolved_at, resolution_kind, resolution_summary, resolved_hypothesis_id";

fn incident(row: &Row, op: &str) -> StoreResult<Incident> {
    Ok(Incident {
        incident_id: IncidentId(get(row, "incident_id", op)?),
        service_id: ServiceId(get(row, "service_id", op)?),
        status: parse(row, "status", op)?,
        trigger_type: get(row, "trigger_type", op)?,
        severity: get(row, "severity", op)?,
        window_start: get(row, "window_start", op)?,
        window_end: get(row, "window_end", op)?,
        created_at: get(row, "created_at", op)?,
        updated_at: get(row, "updated_at", op)?,
        resolved_at: get(row, "resolved_at", op)?,
        resolution_kind: get(row, "resolution_kind", op)?,
        resolution_summary: get(row, "resolution_summary", op)?,
        resolved_hypothesis_id: get::<Option<Uuid>>(row, "resolved_hypothesis_id", op)?.map(HypothesisId),
    })
}

const DEPLOYMENT_COLS: &str =
    "deployment_event_id, service_id, started_at, finished_at, deploy_type, image_ref, revision, metadata";

fn deployment(row: &Row, op: &str) -> StoreResult<DeploymentEvent> {
    Ok(DeploymentEvent {
        deployment_event_id: DeploymentId(get(row, "deployment_event_id", op)?),
        service_id: ServiceId(get(row, "service_id", op)?),
        started_at: get(row, "started_at", op)?,
        finished_at: get(row, "finished_at", op)?,
        deploy_type: parse(row, "deploy_type", op)?,
        image_ref: get(row, "image_ref", op)?,
        revision: get(row, "revision", op)?,
        metadata: get(row, "metadata", op)?,
    })
}

const CONFIG_COLS: &str = "config_change_id, service_id, detected_at, source, change_kind, resource_name, \
     diff_payload, actor, audit_log_ref";

fn config_change(row: &Row, op: &str) -> StoreResult<ConfigChangeEvent> {
    Ok(ConfigChangeEvent {
        config_change_id: ConfigChangeId(get(row, "config_change_id", op)?),
        service_id: get::<Option<Uuid>>(row, "service_id", op)?.map(ServiceId),
        detected_at: get(row, "detected_at", op)?,
        source: parse(row, "source", op)?,
        change_kind: parse(row, "change_kind", op)?,
        resource_name: get(row, "resource_name", op)?,
        diff_payload: get(row, "diff_payload", op)?,
        actor: get(row, "actor", op)?,
        audit_log_ref: get(row, "audit_log_ref", op)?,
    })
}

fn commit(row: &Row, op: &str) -> StoreResult<Commit> {
    Ok(Commit {
        commit_sha: get(row, "commit_sha", op)?,
        repo: get(row, "repo", op)?,
        author: get(row, "author", op)?,
        message: get(row, "message", op)?,
        summary: get(row, "summary", op)?,
        authored_at: get(row, "authored_at", op)?,
        created_at: get(row, "created_at", op)?,
    })
}

fn commit_file(row: &Row, op: &str) -> StoreResult<CommitFile> {
    Ok(CommitFile {
        id: CommitFileId(get(row, "id", op)?),
        commit_sha: get(row, "commit_sha", op)?,
        file_path: get(row, "file_path", op)?,
        change_type: parse(row, "change_type", op)?,
        diff_text: get(row, "diff_text", op)?,
        lines_added: get(row, "lines_added", op)?,
        lines_removed: get(row, "lines_removed", op)?,
    })
}

fn evidence(row: &Row, op: &str) -> StoreResult<EvidenceArtifact> {
    Ok(EvidenceArtifact {
        evidence_id: EvidenceId(get(row, "evidence_id", op)?),
        incident_id: IncidentId(get(row, "incident_id", op)?),
        kind: parse(row, "kind", op)?,
        source: get(row, "source", op)?,
        reference: get(row, "ref", op)?,
        created_at: get(row, "created_at", op)?,
        metadata: get(row, "metadata", op)?,
    })
}

fn hypothesis(row: &Row, op: &str) -> StoreResult<Hypothesis> {
    Ok(Hypothesis {
        hypothesis_id: HypothesisId(get(row, "hypothesis_id", op)?),
        incident_id: IncidentId(get(row, "incident_id", op)?),
        rank: get(row, "rank", op)?,
        hypothesis_type: parse(row, "hypothesis_type", op)?,
        title: get(row, "title", op)?,
        confidence: get(row, "confidence", op)?,
        evidence_ids: get::<Vec<Uuid>>(row, "evidence_ids", op)?.into_iter().map(EvidenceId).collect(),
        details: get(row, "details", op)?,
    })
}

fn report(row: &Row, op: &str) -> StoreResult<IncidentReport> {
    Ok(IncidentReport {
        report_id: ReportId(get(row, "report_id", op)?),
        incident_id: IncidentId(get(row, "incident_id", op)?),
        created_at: get(row, "created_at", op)?,
        model_info: get(row, "model_info", op)?,
        report_markdown: get(row, "report_markdown", op)?,
        evidence_ids: get::<Vec<Uuid>>(row, "evidence_ids", op)?.into_iter().map(EvidenceId).collect(),
    })
}

fn feedback_event(row: &Row, op: &str) -> StoreResult<FeedbackEvent> {
    Ok(FeedbackEvent {
        feedback_event_id: FeedbackEventId(get(row, "feedback_event_id", op)?),
        incident_id: IncidentId(get(row, "incident_id", op)?),
        created_at: get(row, "created_at", op)?,
        actor_type: parse(row, "actor_type", op)?,
        actor_id: get(row, "actor_id", op)?,
        event_type: get(row, "event_type", op)?,
        payload: get(row, "payload", op)?,
    })
}

fn evidence_uuids(v: &[EvidenceId]) -> Vec<Uuid> {
    v.iter().map(|e| e.0).collect()
}

/// `NotFound` unless the incident exists in `project`, read within the transaction.
async fn require_incident(
    client: &tokio_postgres::Transaction<'_>,
    project: &str,
    id: IncidentId,
    op: &str,
) -> StoreResult<()> {
    let found = client
        .query_opt("SELECT 1 FROM incidents WHERE project_id = $1 AND incident_id = $2", &[&project, &id.0])
        .await
        .map_err(|e| pg_err(op, e))?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("incident {id} does not exist"))),
    }
}

/// The upserts of a batch, parents before children, inside `txn`: `apply_batch` and
/// `apply_delivery` write rows with the same statements.
async fn write_batch(
    txn: &tokio_postgres::Transaction<'_>,
    project: &str,
    b: &RecordBatch,
    op: &str,
) -> StoreResult<()> {
    let e = |err| pg_err(op, err);
    // Parents before children, so foreign keys hold at every statement.
    let stmt = txn
        .prepare(
            "INSERT INTO services (service_id, cluster_id, namespace, service_name, created_at, project_id)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (project_id, service_id) DO UPDATE SET cluster_id = EXCLUDED.cluster_id,
               namespace = EXCLUDED.namespace, service_name = EXCLUDED.service_name,
               created_at = EXCLUDED.created_at",
        )
        .await
        .map_err(e)?;
    for s in &b.services {
        txn.execute(&stmt, &[&s.service_id.0, &s.cluster_id, &s.namespace, &s.service_name, &s.created_at, &project])
            .await
            .map_err(e)?;
    }
    let stmt = txn
        .prepare(
            "INSERT INTO commits (commit_sha, repo, author, message, summary, authored_at, created_at, project_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (project_id, commit_sha) DO UPDATE SET repo = EXCLUDED.repo, author = EXCLUDED.author,
               message = EXCLUDED.message, summary = EXCLUDED.summary,
               authored_at = EXCLUDED.authored_at, created_at = EXCLUDED.created_at",
        )
        .await
        .map_err(e)?;
    for c in &b.commits {
        txn.execute(
            &stmt,
            &[&c.commit_sha, &c.repo, &c.author, &c.message, &c.summary, &c.authored_at, &c.created_at, &project],
        )
        .await
        .map_err(e)?;
    }
    let stmt = txn
        .prepare(
            "INSERT INTO commit_files (id, commit_sha, file_path, change_type, diff_text, lines_added, lines_removed,
               project_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (project_id, id) DO UPDATE SET commit_sha = EXCLUDED.commit_sha, file_path = EXCLUDED.file_path,
               change_type = EXCLUDED.change_type, diff_text = EXCLUDED.diff_text,
               lines_added = EXCLUDED.lines_added, lines_removed = EXCLUDED.lines_removed",
        )
        .await
        .map_err(e)?;
    for f in &b.commit_files {
        txn.execute(
            &stmt,
            &[
                &f.id.0,
                &f.commit_sha,
                &f.file_path,
                &f.change_type.as_str(),
                &f.diff_text,
                &f.lines_added,
                &f.lines_removed,
                &project,
            ],
        )
        .await
        .map_err(e)?;
    }
    let stmt = txn
        .prepare(
            "INSERT INTO deployment_events (deployment_event_id, service_id, started_at, finished_at,
               deploy_type, image_ref, revision, metadata, project_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (project_id, deployment_event_id) DO UPDATE SET service_id = EXCLUDED.service_id,
               started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
               deploy_type = EXCLUDED.deploy_type, image_ref = EXCLUDED.image_ref,
               revision = EXCLUDED.revision, metadata = EXCLUDED.metadata",
        )
        .await
        .map_err(e)?;
    for d in &b.deployments {
        txn.execute(
            &stmt,
            &[
                &d.deployment_event_id.0,
                &d.service_id.0,
                &d.started_at,
                &d.finished_at,
                &d.deploy_type.as_str(),
                &d.image_ref,
                &d.revision,
                &d.metadata,
                &project,
            ],
        )
        .await
        .map_err(e)?;
    }
    let stmt = txn
        .prepare(
            "INSERT INTO deployment_commit_ranges (deployment_event_id, previous_revision, current_revision,
               is_rollback, commit_shas, project_id)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (project_id, deployment_event_id) DO UPDATE SET previous_revision = EXCLUDED.previous_revision,
               current_revision = EXCLUDED.current_revision, is_rollback = EXCLUDED.is_rollback,
               commit_shas = EXCLUDED.commit_shas",
        )
        .await
        .map_err(e)?;
    for r in &b.commit_ranges {
        txn.execute(
            &stmt,
            &[
                &r.deployment_event_id.0,
                &r.previous_revision,
                &r.current_revision,
                &r.is_rollback,
                &r.commit_shas,
                &project,
            ],
        )
        .await
        .map_err(e)?;
    }
    let stmt = txn
        .prepare(
            "INSERT INTO config_change_events (config_change_id, service_id, detected_at, source, change_kind,
               resource_name, diff_payload, actor, audit_log_ref, project_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (project_id, config_change_id) DO UPDATE SET service_id = EXCLUDED.service_id,
               detected_at = EXCLUDED.detected_at, source = EXCLUDED.source,
               change_kind = EXCLUDED.change_kind, resource_name = EXCLUDED.resource_name,
               diff_payload = EXCLUDED.diff_payload, actor = EXCLUDED.actor,
               audit_log_ref = EXCLUDED.audit_log_ref",
        )
        .await
        .map_err(e)?;
    for c in &b.config_changes {
        txn.execute(
            &stmt,
            &[
                &c.config_change_id.0,
                &c.service_id.map(|s| s.0),
                &c.detected_at,
                &c.source.as_str(),
                &c.change_kind.as_str(),
                &c.resource_name,
                &c.diff_payload,
                &c.actor,
                &c.audit_log_ref,
                &project,
            ],
        )
        .await
        .map_err(e)?;
    }
    let stmt = txn
        .prepare(
            "INSERT INTO incidents (incident_id, service_id, status, trigger_type, severity, window_start,
               window_end, created_at, updated_at, resolved_at, resolution_kind, resolution_summary,
               resolved_hypothesis_id, project_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (project_id, incident_id) DO UPDATE SET service_id = EXCLUDED.service_id,
               status = EXCLUDED.status, trigger_type = EXCLUDED.trigger_type,
               severity = EXCLUDED.severity, window_start = EXCLUDED.window_start,
               window_end = EXCLUDED.window_end, created_at = EXCLUDED.created_at,
               updated_at = EXCLUDED.updated_at, resolved_at = EXCLUDED.resolved_at,
               resolution_kind = EXCLUDED.resolution_kind, resolution_summary = EXCLUDED.resolution_summary,
               resolved_hypothesis_id = EXCLUDED.resolved_hypothesis_id",
        )
        .await
        .map_err(e)?;
    for i in &b.incidents {
        txn.execute(
            &stmt,
            &[
                &i.incident_id.0,
                &i.service_id.0,
                &i.status.as_str(),
                &i.trigger_type,
                &i.severity,
                &i.window_start,
                &i.window_end,
                &i.created_at,
                &i.updated_at,
                &i.resolved_at,
                &i.resolution_kind,
                &i.resolution_summary,
                &i.resolved_hypothesis_id.map(|h| h.0),
                &project,
            ],
        )
        .await
        .map_err(e)?;
    }
    let stmt = txn
        .prepare(
            "INSERT INTO incident_decisions (decision_id, incident_id, decided_at, decision, rationale,
               policy_version, details, project_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (project_id, decision_id) DO UPDATE SET incident_id = EXCLUDED.incident_id,
               decided_at = EXCLUDED.decided_at, decision = EXCLUDED.decision,
               rationale = EXCLUDED.rationale, policy_version = EXCLUDED.policy_version,
               details = EXCLUDED.details",
        )
        .await
        .map_err(e)?;
    for d in &b.decisions {
        txn.execute(
            &stmt,
            &[
                &d.decision_id.0,
                &d.incident_id.0,
                &d.decided_at,
                &d.decision.as_str(),
                &d.rationale,
                &d.policy_version,
                &d.details,
                &project,
            ],
        )
        .await
        .map_err(e)?;
    }
    Ok(())
}

/// What is kept of a delivery: how many rows of each table it wrote and its state keys.
fn summary(d: &FeedDelivery) -> serde_json::Value {
    let b = &d.batch;
    serde_json::json!({
        "services": b.services.len(),
        "deployments": b.deployments.len(),
        "commit_ranges": b.commit_ranges.len(),
        "config_changes": b.config_changes.len(),
        "commits": b.commits.len(),
        "commit_files": b.commit_files.len(),
        "incidents": b.incidents.len(),
        "decisions": b.decisions.len(),
        "state_keys": d.state.len(),
    })
}

#[async_trait]
impl RecordStore for PostgresStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn project(&self) -> &ProjectId {
        self.project_id()
    }

    fn scoped(&self, project: &ProjectId) -> std::sync::Arc<dyn RecordStore> {
        std::sync::Arc::new(self.in_project(project))
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        let op = "check_connectivity";
        let client = self.client(op).await?;
        client.simple_query("SELECT 1").await.map_err(|e| pg_err(op, e))?;
        Ok(())
    }

    // The span of the call is the port wrapper's `store_call` (inquest-telemetry).
    async fn apply_batch(&self, b: &RecordBatch) -> StoreResult<()> {
        let op = "apply_batch";
        let project = self.project_id().as_str();
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, self.project_id(), op).await?;
        let e = |err| pg_err(op, err);
        write_batch(&txn, project, b, op).await?;
        txn.commit().await.map_err(e)?;
        debug!(
            services = b.services.len(),
            incidents = b.incidents.len(),
            commits = b.commits.len(),
            deployments = b.deployments.len(),
            "batch applied"
        );
        Ok(())
    }

    async fn apply_delivery(&self, d: &FeedDelivery) -> StoreResult<DeliveryOutcome> {
        let op = "apply_delivery";
        let project = self.project_id().as_str();
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, self.project_id(), op).await?;
        let e = |err| pg_err(op, err);
        // First, so a concurrent identical delivery waits here on the key until this
        // transaction ends, then finds the row and writes nothing.
        let inserted = txn
            .execute(
                "INSERT INTO feed_deliveries (project_id, feed, delivery_id, received_at, summary)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, feed, delivery_id) DO NOTHING",
                &[&project, &d.feed, &d.delivery_id, &d.received_at, &summary(d)],
            )
            .await
            .map_err(e)?;
        if inserted == 0 {
            txn.rollback().await.map_err(e)?;
            debug!(feed = %d.feed, delivery_id = %d.delivery_id, "delivery seen before");
            return Ok(DeliveryOutcome::Duplicate);
        }
        write_batch(&txn, project, &d.batch, op).await?;
        let set = txn
            .prepare(
                "INSERT INTO feed_state (project_id, feed, key, value, updated_at) VALUES ($1, $2, $3, $4, now())
                 ON CONFLICT (project_id, feed, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
            )
            .await
            .map_err(e)?;
        let remove =
            txn.prepare("DELETE FROM feed_state WHERE project_id = $1 AND feed = $2 AND key = $3").await.map_err(e)?;
        for (key, value) in &d.state {
            match value {
                Some(v) => txn.execute(&set, &[&project, &d.feed, key, v]).await.map_err(e)?,
                None => txn.execute(&remove, &[&project, &d.feed, key]).await.map_err(e)?,
            };
        }
        txn.commit().await.map_err(e)?;
        debug!(feed = %d.feed, delivery_id = %d.delivery_id, state = d.state.len(), "delivery applied");
        Ok(DeliveryOutcome::Stored)
    }

    async fn feed_state(&self, feed: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        let op = "feed_state";
        let project = self.project_id().as_str();
        let rows = self
            .read(
                op,
                "SELECT value FROM feed_state WHERE project_id = $1 AND feed = $2 AND key = $3",
                &[&project, &feed, &key],
            )
            .await?;
        rows.first().map(|r| get(r, "value", op)).transpose()
    }

    async fn list_services(&self) -> StoreResult<Vec<Service>> {
        let op = "list_services";
        let project = self.project_id().as_str();
        let rows = self
            .read(
                op,
                &format!("SELECT {SERVICE_COLS} FROM services WHERE project_id = $1 ORDER BY service_id"),
                &[&project],
            )
            .await?;
        rows.iter().map(|r| service(r, op)).collect()
    }

    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<Incident>> {
        let op = "get_incident";
        let project = self.project_id().as_str();
        let row = self
            .read(
                op,
                &format!("SELECT {INCIDENT_COLS} FROM incidents WHERE incident_id = $1 AND project_id = $2"),
                &[&id.0, &project],
            )
            .await?
            .into_iter()
            .next();
        row.map(|r| incident(&r, op)).transpose()
    }

    async fn list_incidents(&self) -> StoreResult<Vec<Incident>> {
        let op = "list_incidents";
        let project = self.project_id().as_str();
        let rows = self
            .read(op, &format!("SELECT {INCIDENT_COLS} FROM incidents WHERE project_id = $1 ORDER BY window_start DESC, incident_id"), &[&project])
            .await?;
        rows.iter().map(|r| incident(r, op)).collect()
    }

    async fn list_decisions(&self, incident: IncidentId) -> StoreResult<Vec<IncidentDecision>> {
        let op = "list_decisions";
        let project = self.project_id().as_str();
        let rows = self
            .read(
                op,
                "SELECT decision_id, incident_id, decided_at, decision, rationale, policy_version, details
                 FROM incident_decisions WHERE incident_id = $1 AND project_id = $2 ORDER BY decided_at, decision_id",
                &[&incident.0, &project],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(IncidentDecision {
                    decision_id: DecisionId(get(r, "decision_id", op)?),
                    incident_id: IncidentId(get(r, "incident_id", op)?),
                    decided_at: get(r, "decided_at", op)?,
                    decision: parse(r, "decision", op)?,
                    rationale: get(r, "rationale", op)?,
                    policy_version: get(r, "policy_version", op)?,
                    details: get(r, "details", op)?,
                })
            })
            .collect()
    }

    async fn deployments_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<DeploymentEvent>> {
        let op = "deployments_between";
        let project = self.project_id().as_str();
        let rows = self
            .read(
                op,
                &format!(
                    "SELECT {DEPLOYMENT_COLS} FROM deployment_events
                     WHERE project_id = $4 AND service_id = ANY($1) AND started_at >= $2 AND started_at <= $3
                     ORDER BY started_at, deployment_event_id"
                ),
                &[&uuids_of_services(services), &from, &to, &project],
            )
            .await?;
        rows.iter().map(|r| deployment(r, op)).collect()
    }

    async fn config_changes_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<ConfigChangeEvent>> {
        let op = "config_changes_between";
        let project = self.project_id().as_str();
        let rows = self
            .read(
                op,
                &format!(
                    "SELECT {CONFIG_COLS} FROM config_change_events
                     WHERE project_id = $4 AND (service_id IS NULL OR service_id = ANY($1))
                       AND detected_at >= $2 AND detected_at <= $3
                     ORDER BY detected_at, config_change_id"
                ),
                &[&uuids_of_services(services), &from, &to, &project],
            )
            .await?;
        rows.iter().map(|r| config_change(r, op)).collect()
    }

    async fn commit_range(&self, deployment: DeploymentId) -> StoreResult<Option<DeploymentCommitRange>> {
        let op = "commit_range";
        let project = self.project_id().as_str();
        let row = self
            .read(
                op,
                "SELECT deployment_event_id, previous_revision, current_revision, is_rollback, commit_shas
                 FROM deployment_commit_ranges WHERE deployment_event_id = $1 AND project_id = $2",
                &[&deployment.0, &project],
            )
            .await?
            .into_iter()
            .next();
        row.map(|r| {
            Ok(DeploymentCommitRange {
                deployment_event_id: DeploymentId(get(&r, "deployment_event_id", op)?),
                previous_revision: get(&r, "previous_revision", op)?,
                current_revision: get(&r, "current_revision", op)?,
                is_rollback: get(&r, "is_rollback", op)?,
                commit_shas: get(&r, "commit_shas", op)?,
            })
        })
        .transpose()
    }

    async fn commits(&self, shas: &[String]) -> StoreResult<Vec<CommitWithFiles>> {
        let op = "commits";
        let project = self.project_id().as_str();
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, self.project_id(), op).await?;
        let commit_rows = txn
            .query(
                "SELECT commit_sha, repo, author, message, summary, authored_at, created_at
                 FROM commits WHERE commit_sha = ANY($1) AND project_id = $2",
                &[&shas, &project],
            )
            .await
            .map_err(|e| pg_err(op, e))?;
        let file_rows = txn
            .query(
                "SELECT id, commit_sha, file_path, change_type, diff_text, lines_added, lines_removed
                 FROM commit_files WHERE commit_sha = ANY($1) AND project_id = $2 ORDER BY file_path, id",
                &[&shas, &project],
            )
            .await
            .map_err(|e| pg_err(op, e))?;
        txn.commit().await.map_err(|e| pg_err(op, e))?;
        let commits: Vec<Commit> = commit_rows.iter().map(|r| commit(r, op)).collect::<StoreResult<_>>()?;
        let files: Vec<CommitFile> = file_rows.iter().map(|r| commit_file(r, op)).collect::<StoreResult<_>>()?;
        // In the order asked for, as the embedded store answers.
        let mut out = Vec::new();
        for sha in shas {
            if let Some(c) = commits.iter().find(|c| &c.commit_sha == sha) {
                out.push(CommitWithFiles {
                    commit: c.clone(),
                    files: files.iter().filter(|f| &f.commit_sha == sha).cloned().collect(),
                });
            }
        }
        Ok(out)
    }

    async fn commits_between(&self, from: Timestamp, to: Timestamp, limit: usize) -> StoreResult<Vec<Commit>> {
        let op = "commits_between";
        let project = self.project_id().as_str();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .read(
                op,
                "SELECT commit_sha, repo, author, message, summary, authored_at, created_at
                 FROM commits WHERE project_id = $1 AND authored_at >= $2 AND authored_at <= $3
                 ORDER BY authored_at DESC, commit_sha LIMIT $4",
                &[&project, &from, &to, &limit],
            )
            .await?;
        rows.iter().map(|r| commit(r, op)).collect()
    }

    async fn save_investigation(&self, r: &InvestigationRecord) -> StoreResult<()> {
        let op = "save_investigation";
        let inc = r.incident_id.0;
        let project = self.project_id().as_str();
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, self.project_id(), op).await?;
        let e = |err| pg_err(op, err);
        require_incident(&txn, project, r.incident_id, op).await?;
        // Replace: rows of this incident not in the new set go, the new set is upserted
        // (deleting only the stale ones keeps a resolved hypothesis's id valid).
        let keep_hypotheses: Vec<Uuid> = r.hypotheses.iter().map(|h| h.hypothesis_id.0).collect();
        txn.execute(
            "DELETE FROM incident_hypotheses WHERE project_id = $3 AND incident_id = $1 AND NOT (hypothesis_id = ANY($2))",
            &[&inc, &keep_hypotheses, &project],
        )
        .await
        .map_err(e)?;
        let keep_evidence: Vec<Uuid> = r.evidence.iter().map(|x| x.evidence_id.0).collect();
        txn.execute(
            "DELETE FROM evidence_artifacts WHERE project_id = $3 AND incident_id = $1 AND NOT (evidence_id = ANY($2))",
            &[&inc, &keep_evidence, &project],
        )
        .await
        .map_err(e)?;
        let stmt = txn
            .prepare(
                "INSERT INTO evidence_artifacts (evidence_id, incident_id, kind, source, ref, created_at, metadata,
                   project_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (project_id, evidence_id) DO UPDATE SET incident_id = EXCLUDED.incident_id,
                   kind = EXCLUDED.kind, source = EXCLUDED.source, ref = EXCLUDED.ref,
                   created_at = EXCLUDED.created_at, metadata = EXCLUDED.metadata",
            )
            .await
            .map_err(e)?;
        for x in &r.evidence {
            if x.incident_id != r.incident_id {
                return Err(mismatch(op, "evidence", r.incident_id));
            }
            txn.execute(
                &stmt,
                &[
                    &x.evidence_id.0,
                    &inc,
                    &x.kind.as_str(),
                    &x.source,
                    &x.reference,
                    &x.created_at,
                    &x.metadata,
                    &project,
                ],
            )
            .await
            .map_err(e)?;
        }
        let stmt = txn
            .prepare(
                "INSERT INTO incident_hypotheses (hypothesis_id, incident_id, rank, hypothesis_type, title,
                   confidence, evidence_ids, details, project_id)
                 VALUES ($1, $2, $3, $4, $5, $6::float8::numeric(3,2), $7, $8, $9)
                 ON CONFLICT (project_id, hypothesis_id) DO UPDATE SET incident_id = EXCLUDED.incident_id,
                   rank = EXCLUDED.rank, hypothesis_type = EXCLUDED.hypothesis_type, title = EXCLUDED.title,
                   confidence = EXCLUDED.confidence, evidence_ids = EXCLUDED.evidence_ids,
                   details = EXCLUDED.details",
            )
            .await
            .map_err(e)?;
        for h in &r.hypotheses {
            if h.incident_id != r.incident_id {
                return Err(mismatch(op, "hypothesis", r.incident_id));
            }
            txn.execute(
                &stmt,
                &[
                    &h.hypothesis_id.0,
                    &inc,
                    &h.rank,
                    &h.hypothesis_type.as_str(),
                    &h.title,
                    &h.confidence,
                    &evidence_uuids(&h.evidence_ids),
                    &h.details,
                    &project,
                ],
            )
            .await
            .map_err(e)?;
        }
        let rep = &r.report;
        if rep.incident_id != r.incident_id {
            return Err(mismatch(op, "report", r.incident_id));
        }
        // Same report id means the same report: kept once, at its first time.
        txn.execute(
            "INSERT INTO incident_reports (report_id, incident_id, created_at, model_info, report_markdown, evidence_ids,
               project_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, report_id) DO NOTHING",
            &[
                &rep.report_id.0,
                &inc,
                &rep.created_at,
                &rep.model_info,
                &rep.report_markdown,
                &evidence_uuids(&rep.evidence_ids),
                &project,
            ],
        )
        .await
        .map_err(e)?;
        txn.commit().await.map_err(e)?;
        debug!(evidence = r.evidence.len(), hypotheses = r.hypotheses.len(), "investigation saved");
        Ok(())
    }

    async fn evidence(&self, incident: IncidentId) -> StoreResult<Vec<EvidenceArtifact>> {
        let op = "evidence";
        let project = self.project_id().as_str();
        let rows = self
            .read(op, "SELECT evidence_id, incident_id, kind, source, ref, created_at, metadata
                 FROM evidence_artifacts WHERE incident_id = $1 AND project_id = $2 ORDER BY created_at, ref, evidence_id",
                &[&incident.0, &project])
            .await?;
        rows.iter().map(|r| evidence(r, op)).collect()
    }

    async fn hypotheses(&self, incident: IncidentId) -> StoreResult<Vec<Hypothesis>> {
        let op = "hypotheses";
        let project = self.project_id().as_str();
        let rows = self
            .read(
                op,
                "SELECT hypothesis_id, incident_id, rank, hypothesis_type, title, confidence::float8 AS confidence,
                   evidence_ids, details
                 FROM incident_hypotheses WHERE incident_id = $1 AND project_id = $2 ORDER BY rank, hypothesis_id",
                &[&incident.0, &project],
            )
            .await?;
        rows.iter().map(|r| hypothesis(r, op)).collect()
    }

    async fn reports(&self, incident: IncidentId) -> StoreResult<Vec<IncidentReport>> {
        let op = "reports";
        let project = self.project_id().as_str();
        let rows = self
            .read(
                op,
                "SELECT report_id, incident_id, created_at, model_info, report_markdown, evidence_ids
                 FROM incident_reports WHERE incident_id = $1 AND project_id = $2 ORDER BY created_at, report_id",
                &[&incident.0, &project],
            )
            .await?;
        rows.iter().map(|r| report(r, op)).collect()
    }

    async fn append_feedback(&self, ev: &FeedbackEvent) -> StoreResult<()> {
        let op = "append_feedback";
        let project = self.project_id().as_str();
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, self.project_id(), op).await?;
        require_incident(&txn, project, ev.incident_id, op).await?;
        // No ON CONFLICT: feedback is append-only, a repeated id is refused.
        txn.execute(
            "INSERT INTO feedback_events (feedback_event_id, incident_id, created_at, actor_type, actor_id,
               event_type, payload, project_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &ev.feedback_event_id.0,
                &ev.incident_id.0,
                &ev.created_at,
                &ev.actor_type.as_str(),
                &ev.actor_id,
                &ev.event_type,
                &ev.payload,
                &project,
            ],
        )
        .await
        .map_err(|e| match pg_err(op, e) {
            err if err.kind == ErrorKind::InvalidInput => StoreError {
                message: format!(
                    "feedback event {} already exists (append-only): {}",
                    ev.feedback_event_id, err.message
                ),
                ..err
            },
            err => err,
        })?;
        txn.commit().await.map_err(|e| pg_err(op, e))
    }

    async fn feedback(&self, incident: IncidentId) -> StoreResult<Vec<FeedbackEvent>> {
        let op = "feedback";
        let project = self.project_id().as_str();
        let rows = self
            .read(op, "SELECT feedback_event_id, incident_id, created_at, actor_type, actor_id, event_type, payload
                 FROM feedback_events WHERE incident_id = $1 AND project_id = $2 ORDER BY created_at, feedback_event_id",
                &[&incident.0, &project])
            .await?;
        rows.iter().map(|r| feedback_event(r, op)).collect()
    }
}

impl PostgresStore {
    /// One read in a transaction of its own, acting in this store's project.
    async fn read(&self, op: &str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, self.project_id(), op).await?;
        let rows = txn.query(sql, params).await.map_err(|e| pg_err(op, e))?;
        txn.commit().await.map_err(|e| pg_err(op, e))?;
        Ok(rows)
    }
}

fn uuids_of_services(services: &[ServiceId]) -> Vec<Uuid> {
    services.iter().map(|s| s.0).collect()
}

fn mismatch(op: &str, what: &str, incident: IncidentId) -> StoreError {
    StoreError::new(
        ErrorKind::InvalidInput,
        BACKEND,
        op,
        format!("a {what} row belongs to another incident than {incident}"),
    )
}

//! The records port on the embedded store.

use std::collections::BTreeSet;

use async_trait::async_trait;
use inquest_domain::*;
use inquest_ports::{
    CommitWithFiles, DeliveryOutcome, FeedDelivery, InvestigationRecord, RecordBatch, RecordStore, StoreResult,
};
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::*;

fn put<T: Serialize>(txn: &WriteTransaction, table: JsonTable, key: &str, value: &T, op: &str) -> StoreResult<()> {
    let bytes = to_json(op, value)?;
    let mut t = txn.open_table(table).map_err(|e| store_err(op, e))?;
    t.insert(key, bytes.as_slice()).map_err(|e| store_err(op, e))?;
    Ok(())
}

fn put_pair<T: Serialize>(
    txn: &WriteTransaction,
    table: PairTable,
    key: (&str, &str),
    value: &T,
    op: &str,
) -> StoreResult<()> {
    let bytes = to_json(op, value)?;
    let mut t = txn.open_table(table).map_err(|e| store_err(op, e))?;
    t.insert(key, bytes.as_slice()).map_err(|e| store_err(op, e))?;
    Ok(())
}

/// Delete every row of `table` whose first key element is `first`.
fn clear_prefix(txn: &WriteTransaction, table: PairTable, first: &str, op: &str) -> StoreResult<()> {
    let mut t = txn.open_table(table).map_err(|e| store_err(op, e))?;
    t.retain_in((first, "")..=(first, MAX_STR), |_, _| false).map_err(|e| store_err(op, e))?;
    Ok(())
}

impl EmbeddedStore {
    fn write<F>(&self, op: &str, f: F) -> StoreResult<()>
    where
        F: FnOnce(&WriteTransaction) -> StoreResult<()>,
    {
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        // Dropping an uncommitted transaction aborts it: nothing half-written.
        f(&txn)?;
        txn.commit().map_err(|e| store_err(op, e))
    }

    /// Write `b` inside `txn`, its service references checked against the batch and
    /// what the transaction sees, so a refused batch leaves the transaction to abort.
    fn write_batch(&self, txn: &WriteTransaction, b: &RecordBatch, op: &str) -> StoreResult<()> {
        let mut known: BTreeSet<ServiceId> = b.services.iter().map(|s| s.service_id).collect();
        {
            let t = txn.open_table(SERVICES).map_err(|e| store_err(op, e))?;
            let (from, to) = (self.key(""), self.key(MAX_STR));
            for row in t.range(from.as_str()..=to.as_str()).map_err(|e| store_err(op, e))? {
                let (_, v) = row.map_err(|e| store_err(op, e))?;
                known.insert(from_json::<Service>(op, v.value())?.service_id);
            }
        }
        let missing = b
            .deployments
            .iter()
            .map(|d| Some(d.service_id))
            .chain(b.config_changes.iter().map(|c| c.service_id))
            .chain(b.incidents.iter().map(|i| Some(i.service_id)))
            .flatten()
            .find(|id| !known.contains(id));
        if let Some(id) = missing {
            return Err(StoreError::new(
                ErrorKind::InvalidInput,
                BACKEND,
                op,
                format!("service_id {id} does not exist"),
            ));
        }
        let k = |id: &str| self.key(id);
        for s in &b.services {
            put(txn, SERVICES, &k(&s.service_id.to_string()), s, op)?;
        }
        for d in &b.deployments {
            put(txn, DEPLOYMENTS, &k(&d.deployment_event_id.to_string()), d, op)?;
        }
        for r in &b.commit_ranges {
            put(txn, COMMIT_RANGES, &k(&r.deployment_event_id.to_string()), r, op)?;
        }
        for c in &b.config_changes {
            put(txn, CONFIG_CHANGES, &k(&c.config_change_id.to_string()), c, op)?;
        }
        for c in &b.commits {
            put(txn, COMMITS, &k(&c.commit_sha), c, op)?;
        }
        for f in &b.commit_files {
            put_pair(txn, COMMIT_FILES, (&k(&f.commit_sha), &f.id.to_string()), f, op)?;
        }
        for i in &b.incidents {
            put(txn, INCIDENTS, &k(&i.incident_id.to_string()), i, op)?;
        }
        for d in &b.decisions {
            put_pair(txn, DECISIONS, (&k(&d.incident_id.to_string()), &d.decision_id.to_string()), d, op)?;
        }
        Ok(())
    }

    /// The row of `id` in this handle's project.
    fn get<T: DeserializeOwned>(&self, table: JsonTable, id: &str, op: &str) -> StoreResult<Option<T>> {
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(table).map_err(|e| store_err(op, e))?;
        match t.get(self.key(id).as_str()).map_err(|e| store_err(op, e))? {
            Some(v) => Ok(Some(from_json(op, v.value())?)),
            None => Ok(None),
        }
    }

    /// Every row of this handle's project.
    fn all<T: DeserializeOwned>(&self, table: JsonTable, op: &str) -> StoreResult<Vec<T>> {
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(table).map_err(|e| store_err(op, e))?;
        let mut out = Vec::new();
        let (from, to) = (self.key(""), self.key(MAX_STR));
        for row in t.range(from.as_str()..=to.as_str()).map_err(|e| store_err(op, e))? {
            let (_, v) = row.map_err(|e| store_err(op, e))?;
            out.push(from_json(op, v.value())?);
        }
        Ok(out)
    }

    /// Every row under `first` in this handle's project.
    pub(crate) fn with_prefix<T: DeserializeOwned>(
        &self,
        table: PairTable,
        first: &str,
        op: &str,
    ) -> StoreResult<Vec<T>> {
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(table).map_err(|e| store_err(op, e))?;
        let mut out = Vec::new();
        let first = self.key(first);
        let first = first.as_str();
        for row in t.range((first, "")..=(first, MAX_STR)).map_err(|e| store_err(op, e))? {
            let (_, v) = row.map_err(|e| store_err(op, e))?;
            out.push(from_json(op, v.value())?);
        }
        Ok(out)
    }
}

#[async_trait]
impl RecordStore for EmbeddedStore {
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
        self.check()
    }

    async fn apply_batch(&self, b: &RecordBatch) -> StoreResult<()> {
        let op = "apply_batch";
        self.write(op, |txn| self.write_batch(txn, b, op))
    }

    async fn apply_delivery(&self, d: &FeedDelivery) -> StoreResult<DeliveryOutcome> {
        let op = "apply_delivery";
        let feed = self.key(&d.feed);
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        {
            let t = txn.open_table(FEED_DELIVERIES).map_err(|e| store_err(op, e))?;
            if t.get((feed.as_str(), d.delivery_id.as_str())).map_err(|e| store_err(op, e))?.is_some() {
                // Dropping the transaction aborts it: a redelivery writes nothing.
                return Ok(DeliveryOutcome::Duplicate);
            }
        }
        self.write_batch(&txn, &d.batch, op)?;
        put_pair(&txn, FEED_DELIVERIES, (&feed, &d.delivery_id), &DeliveryRow::of(d), op)?;
        {
            let mut t = txn.open_table(FEED_STATE).map_err(|e| store_err(op, e))?;
            for (key, value) in &d.state {
                match value {
                    Some(v) => {
                        let bytes = to_json(op, v)?;
                        t.insert((feed.as_str(), key.as_str()), bytes.as_slice()).map_err(|e| store_err(op, e))?;
                    }
                    None => {
                        t.remove((feed.as_str(), key.as_str())).map_err(|e| store_err(op, e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| store_err(op, e))?;
        Ok(DeliveryOutcome::Stored)
    }

    async fn feed_state(&self, feed: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        let op = "feed_state";
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(FEED_STATE).map_err(|e| store_err(op, e))?;
        match t.get((self.key(feed).as_str(), key)).map_err(|e| store_err(op, e))? {
            Some(v) => Ok(Some(from_json(op, v.value())?)),
            None => Ok(None),
        }
    }

    async fn list_services(&self) -> StoreResult<Vec<Service>> {
        self.all(SERVICES, "list_services")
    }

    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<Incident>> {
        self.get(INCIDENTS, &id.to_string(), "get_incident")
    }

    async fn list_incidents(&self) -> StoreResult<Vec<Incident>> {
        let mut v: Vec<Incident> = self.all(INCIDENTS, "list_incidents")?;
        v.sort_by(|a, b| b.window_start.cmp(&a.window_start).then(a.incident_id.cmp(&b.incident_id)));
        Ok(v)
    }

    async fn list_decisions(&self, incident: IncidentId) -> StoreResult<Vec<IncidentDecision>> {
        let mut v: Vec<IncidentDecision> = self.with_prefix(DECISIONS, &incident.to_string(), "list_decisions")?;
        v.sort_by_key(|d| d.decided_at);
        Ok(v)
    }

    async fn deployments_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<DeploymentEvent>> {
        let mut v: Vec<DeploymentEvent> = self
            .all::<DeploymentEvent>(DEPLOYMENTS, "deployments_between")?
            .into_iter()
            .filter(|d| services.contains(&d.service_id) && d.started_at >= from && d.started_at <= to)
            .collect();
        v.sort_by_key(|d| d.started_at);
        Ok(v)
    }

    async fn config_changes_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<ConfigChangeEvent>> {
        let mut v: Vec<ConfigChangeEvent> = self
            .all::<ConfigChangeEvent>(CONFIG_CHANGES, "config_changes_between")?
            .into_iter()
            .filter(|c| c.service_id.is_none_or(|s| services.contains(&s)))
            .filter(|c| c.detected_at >= from && c.detected_at <= to)
            .collect();
        v.sort_by_key(|c| c.detected_at);
        Ok(v)
    }

    async fn commit_range(&self, deployment: DeploymentId) -> StoreResult<Option<DeploymentCommitRange>> {
        self.get(COMMIT_RANGES, &deployment.to_string(), "commit_range")
    }

    async fn commits(&self, shas: &[String]) -> StoreResult<Vec<CommitWithFiles>> {
        let mut out = Vec::new();
        for sha in shas {
            if let Some(commit) = self.get::<Commit>(COMMITS, sha, "commits")? {
                let mut files: Vec<CommitFile> = self.with_prefix(COMMIT_FILES, sha, "commits")?;
                files.sort_by(|a, b| a.file_path.cmp(&b.file_path));
                out.push(CommitWithFiles { commit, files });
            }
        }
        Ok(out)
    }

    async fn commits_between(&self, from: Timestamp, to: Timestamp, limit: usize) -> StoreResult<Vec<Commit>> {
        let mut v: Vec<Commit> = self
            .all::<Commit>(COMMITS, "commits_between")?
            .into_iter()
            .filter(|c| c.authored_at >= from && c.authored_at <= to)
            .collect();
        v.sort_by(|a, b| b.authored_at.cmp(&a.authored_at).then(a.commit_sha.cmp(&b.commit_sha)));
        v.truncate(limit);
        Ok(v)
    }

    async fn save_investigation(&self, r: &InvestigationRecord) -> StoreResult<()> {
        let op = "save_investigation";
        let id = r.incident_id.to_string();
        if self.get::<Incident>(INCIDENTS, &id, op)?.is_none() {
            return Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("incident {id} does not exist")));
        }
        let inc = self.key(&id);
        self.write(op, |txn| {
            clear_prefix(txn, EVIDENCE, &inc, op)?;
            clear_prefix(txn, HYPOTHESES, &inc, op)?;
            for e in &r.evidence {
                put_pair(txn, EVIDENCE, (&inc, &e.evidence_id.to_string()), e, op)?;
            }
            for h in &r.hypotheses {
                put_pair(txn, HYPOTHESES, (&inc, &h.hypothesis_id.to_string()), h, op)?;
            }
            // Same report id means the same report: kept once, at its first time.
            let existing: Vec<IncidentReport> = {
                let t = txn.open_table(REPORTS).map_err(|e| store_err(op, e))?;
                let mut v = Vec::new();
                for row in t.range((inc.as_str(), "")..=(inc.as_str(), MAX_STR)).map_err(|e| store_err(op, e))? {
                    let (_, val) = row.map_err(|e| store_err(op, e))?;
                    v.push(from_json::<IncidentReport>(op, val.value())?);
                }
                v
            };
            if !existing.iter().any(|x| x.report_id == r.report.report_id) {
                let key = format!("{}/{}", sortable_millis(r.report.created_at), r.report.report_id);
                put_pair(txn, REPORTS, (&inc, &key), &r.report, op)?;
            }
            Ok(())
        })
    }

    async fn evidence(&self, incident: IncidentId) -> StoreResult<Vec<EvidenceArtifact>> {
        let mut v: Vec<EvidenceArtifact> = self.with_prefix(EVIDENCE, &incident.to_string(), "evidence")?;
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.reference.cmp(&b.reference)));
        Ok(v)
    }

    async fn hypotheses(&self, incident: IncidentId) -> StoreResult<Vec<Hypothesis>> {
        let mut v: Vec<Hypothesis> = self.with_prefix(HYPOTHESES, &incident.to_string(), "hypotheses")?;
        v.sort_by_key(|h| h.rank);
        Ok(v)
    }

    async fn reports(&self, incident: IncidentId) -> StoreResult<Vec<IncidentReport>> {
        self.with_prefix(REPORTS, &incident.to_string(), "reports")
    }

    async fn append_feedback(&self, e: &FeedbackEvent) -> StoreResult<()> {
        let op = "append_feedback";
        let id = e.incident_id.to_string();
        if self.get::<Incident>(INCIDENTS, &id, op)?.is_none() {
            return Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("incident {id} does not exist")));
        }
        let inc = self.key(&id);
        let key = format!("{}/{}", sortable_millis(e.created_at), e.feedback_event_id);
        self.write(op, |txn| {
            let t = txn.open_table(FEEDBACK).map_err(|err| store_err(op, err))?;
            if t.get((inc.as_str(), key.as_str())).map_err(|err| store_err(op, err))?.is_some() {
                return Err(StoreError::new(
                    ErrorKind::InvalidInput,
                    BACKEND,
                    op,
                    format!("feedback event {} already exists (append-only)", e.feedback_event_id),
                ));
            }
            drop(t);
            put_pair(txn, FEEDBACK, (&inc, &key), e, op)
        })
    }

    async fn feedback(&self, incident: IncidentId) -> StoreResult<Vec<FeedbackEvent>> {
        self.with_prefix(FEEDBACK, &incident.to_string(), "feedback")
    }
}

/// What is kept of a delivery once applied: enough to say when it came and what it wrote.
#[derive(Serialize)]
struct DeliveryRow {
    received_at: Timestamp,
    rows: usize,
    state_keys: usize,
}

impl DeliveryRow {
    fn of(d: &FeedDelivery) -> Self {
        let b = &d.batch;
        let rows = b.services.len()
            + b.deployments.len()
            + b.commit_ranges.len()
            + b.config_changes.len()
            + b.commits.len()
            + b.commit_files.len()
            + b.incidents.len()
            + b.decisions.len();
        DeliveryRow { received_at: d.received_at, rows, state_keys: d.state.len() }
    }
}

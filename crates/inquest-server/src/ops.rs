//! Evaluating SLOs and invariants: read the points through the metrics port, compute
//! with `inquest-ops`, hand a changed signal to the intake (`Ingest::ingest`, the path
//! alerts and the anomaly detector take, so it opens, joins or resolves an incident)
//! and store the result. The background loop of `inquest serve` and the routes that
//! run on request share it. A metrics store that is down is a result of state
//! `error`, never a signal; an intake that refuses keeps the old signal state, so the
//! next round sends it again.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use inquest_domain::{ProjectId, Timestamp, service_key_of};
use inquest_intake::model::{Alert, AlertStatus};
use inquest_intake_service::Ingest;
use inquest_ops::burn::{self, Events};
use inquest_ops::{CheckState, Invariant, InvariantResult, OpsStore, Slo, SloState, SloStatus, check, signal};
use inquest_ports::{MetricStore, MetricWindow, StoreError};

/// What evaluations need: the SLO store, the metrics port and the intake.
#[derive(Clone)]
pub struct Evaluator {
    pub ops: Arc<dyn OpsStore>,
    pub metrics: Arc<dyn MetricStore>,
    pub ingest: Arc<Ingest>,
}

/// What one round over a project did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub slos: usize,
    pub invariants: usize,
    /// Signals raised and resolved through the intake.
    pub raised: usize,
    pub resolved: usize,
    /// Evaluations whose metrics could not be read.
    pub errors: usize,
}

/// The points of `service` in `(now - lookback, now]` (the port's windows are `[from, to)`).
pub async fn points(
    metrics: &dyn MetricStore,
    service: &str,
    now: Timestamp,
    lookback: Duration,
) -> Result<MetricWindow, StoreError> {
    metrics.window(&service_key_of(service), now - lookback, now + Duration::milliseconds(1)).await
}

/// The metric names `service` has points of in `(now - lookback, now]`.
pub async fn metric_names(
    metrics: &dyn MetricStore,
    service: &str,
    now: Timestamp,
    lookback: Duration,
) -> Result<BTreeSet<String>, StoreError> {
    let w = points(metrics, service, now, lookback).await?;
    Ok(w.series.into_iter().filter(|s| !s.points.is_empty()).map(|s| s.metric_name).collect())
}

impl Evaluator {
    fn metrics(&self, project: &ProjectId) -> Arc<dyn MetricStore> {
        self.metrics.scoped(project)
    }

    /// Hands `alert` to the intake; whether it took it.
    async fn signal(&self, project: &ProjectId, alert: Alert, now: Timestamp, what: &str) -> bool {
        let (fingerprint, status) = (alert.fingerprint.clone(), alert.status);
        match self.ingest.ingest(project, vec![alert], now).await {
            Ok(applied) => {
                let a = applied.first();
                tracing::info!(
                    %project, what, %fingerprint, status = ?status,
                    incident_id = ?a.and_then(|a| a.incident_id), outcome = ?a.map(|a| a.outcome),
                    "signal taken by the intake"
                );
                true
            }
            Err(e) => {
                tracing::warn!(%project, what, %fingerprint, error = %e, "signal not taken by the intake: sent again next round");
                false
            }
        }
    }

    /// Evaluates `slo` at `now`, signals a change and stores the status.
    pub async fn slo(&self, slo: &Slo, now: Timestamp) -> Result<(SloStatus, Option<AlertStatus>), StoreError> {
        let project = &slo.project_id;
        let signalled = slo.last.as_ref().is_some_and(|l| l.signalled);
        let spec = &slo.spec;
        let mut status = match points(
            self.metrics(project).as_ref(),
            spec.metric_query.service(),
            now,
            burn::lookback(spec),
        )
        .await
        {
            Ok(w) => burn::evaluate(spec, &Events::from_series(&spec.metric_query, &w.series), now, signalled),
            Err(e) => {
                tracing::warn!(%project, slo = %slo.slo_id, error = %e, "SLO not evaluated: metrics unreadable");
                SloStatus {
                    at: now,
                    state: SloState::Error,
                    error_ratio: None,
                    budget_remaining: None,
                    conditions: Vec::new(),
                    signalled,
                    message: format!("the metrics store could not be read ({})", e.kind.as_str()),
                }
            }
        };
        let mut sent = None;
        if let Some(alert) = signal::slo_alert(slo, &status, signalled, now) {
            let kind = alert.status;
            if self.signal(project, alert, now, "slo").await {
                status.signalled = kind == AlertStatus::Firing;
                sent = Some(kind);
            }
        }
        self.ops.record_slo(project, slo.slo_id, &status).await?;
        Ok((status, sent))
    }

    /// Checks `inv` at `now`, signals a change and stores the result.
    pub async fn invariant(
        &self,
        inv: &Invariant,
        now: Timestamp,
    ) -> Result<(InvariantResult, Option<AlertStatus>), StoreError> {
        let project = &inv.project_id;
        let signalled = inv.last.as_ref().is_some_and(|l| l.signalled);
        let q = &inv.spec.query;
        let lookback = burn::minutes(q.window_minutes);
        let mut result = match points(self.metrics(project).as_ref(), &q.service, now, lookback).await {
            Ok(w) => {
                let pts: Vec<_> =
                    w.series.into_iter().filter(|s| s.metric_name == q.metric).flat_map(|s| s.points).collect();
                check::check(&inv.spec, &pts, now, signalled)
            }
            Err(e) => {
                tracing::warn!(%project, invariant = %inv.invariant_id, error = %e, "invariant not checked: metrics unreadable");
                InvariantResult {
                    at: now,
                    state: CheckState::Error,
                    value: None,
                    signalled,
                    message: format!("the metrics store could not be read ({})", e.kind.as_str()),
                }
            }
        };
        let mut sent = None;
        if let Some(alert) = signal::invariant_alert(inv, &result, signalled, now) {
            let kind = alert.status;
            if self.signal(project, alert, now, "invariant").await {
                result.signalled = kind == AlertStatus::Firing;
                sent = Some(kind);
            }
        }
        self.ops.record_invariant(project, inv.invariant_id, &result).await?;
        Ok((result, sent))
    }

    /// Resolves the signal of an SLO or invariant being deleted or disabled, so its
    /// incident does not wait for a recovery that will never be reported.
    pub async fn withdraw(&self, project: &ProjectId, alert: Option<Alert>, now: Timestamp) {
        if let Some(mut alert) = alert {
            alert.status = AlertStatus::Resolved;
            alert.ends_at = Some(now);
            self.signal(project, alert, now, "withdrawn").await;
        }
    }

    /// One round over every enabled SLO and invariant of `project`.
    pub async fn project(&self, project: &ProjectId, now: Timestamp) -> Result<Round, StoreError> {
        let mut round = Round::default();
        let count = |sent: Option<AlertStatus>, error: bool, round: &mut Round| {
            match sent {
                Some(AlertStatus::Firing) => round.raised += 1,
                Some(AlertStatus::Resolved) => round.resolved += 1,
                None => {}
            }
            round.errors += usize::from(error);
        };
        for slo in self.ops.list_slos(project).await?.into_iter().filter(|s| s.spec.enabled) {
            let (status, sent) = self.slo(&slo, now).await?;
            round.slos += 1;
            count(sent, status.state == SloState::Error, &mut round);
        }
        for inv in self.ops.list_invariants(project).await?.into_iter().filter(|i| i.spec.enabled) {
            let (result, sent) = self.invariant(&inv, now).await?;
            round.invariants += 1;
            count(sent, result.state == CheckState::Error, &mut round);
        }
        Ok(round)
    }
}

/// The resolving alert of an SLO that holds a signal (for `Evaluator::withdraw`).
pub fn slo_withdrawal(slo: &Slo, now: Timestamp) -> Option<Alert> {
    let last = slo.last.as_ref().filter(|l| l.signalled)?;
    let mut ok = last.clone();
    ok.state = SloState::Ok;
    ok.message = "the SLO was deleted or disabled".into();
    signal::slo_alert(slo, &ok, true, now)
}

/// The resolving alert of an invariant that holds a signal.
pub fn invariant_withdrawal(inv: &Invariant, now: Timestamp) -> Option<Alert> {
    let last = inv.last.as_ref().filter(|l| l.signalled)?;
    let mut ok = last.clone();
    ok.state = CheckState::Pass;
    ok.message = "the invariant was deleted or disabled".into();
    signal::invariant_alert(inv, &ok, true, now)
}

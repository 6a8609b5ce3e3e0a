//! SLOs and invariants as stored: the definition a person writes (`SloSpec`,
//! `InvariantSpec`), the row around it (ids, project, times, soft delete) and the last
//! evaluation (`SloStatus`, `InvariantResult`). Field names follow the data model
//! (`target`, `window_days`, `metric_query`, `burn_rate_thresholds`, `query`,
//! `condition`, `enabled`).

use inquest_domain::{ProjectId, Timestamp};
use inquest_intake::model::Severity;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What an SLO measures, over the points of one service in the metrics store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SloQuery {
    /// Good events over total events: the points of `good` and of `total` are summed
    /// over a window (rates sampled at a fixed step sum to counts up to a constant).
    Ratio { service: String, good: String, total: String },
    /// Each point of `metric` is one event, good when its value is at most `threshold`.
    Latency { service: String, metric: String, threshold: f64 },
}

impl SloQuery {
    /// The service as written (a bare name or a `cluster/namespace/name` key).
    pub fn service(&self) -> &str {
        match self {
            SloQuery::Ratio { service, .. } | SloQuery::Latency { service, .. } => service,
        }
    }

    /// The metrics it reads, with the field naming each.
    pub fn metrics(&self) -> Vec<(&'static str, &str)> {
        match self {
            SloQuery::Ratio { good, total, .. } => vec![("good", good.as_str()), ("total", total.as_str())],
            SloQuery::Latency { metric, .. } => vec![("metric", metric.as_str())],
        }
    }
}

/// One multiwindow alert condition: it fires when the burn rate over both the long
/// and the short window is above `factor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnThreshold {
    pub long_window_minutes: u32,
    pub short_window_minutes: u32,
    pub factor: f64,
    /// The severity of the alert raised when it fires.
    pub severity: Severity,
}

/// The SRE workbook's conditions: 2% of a 30-day budget in an hour (14.4x over 1 h and
/// 5 min) and 5% in six hours (6x over 6 h and 30 min) page; 10% in three days (1x over
/// 3 d and 6 h) is a ticket.
pub fn default_thresholds() -> Vec<BurnThreshold> {
    default_thresholds_for(u32::MAX)
}

/// The workbook's conditions whose long window fits an SLO window of `window_days`.
pub fn default_thresholds_for(window_days: u32) -> Vec<BurnThreshold> {
    let t = |long, short, factor, severity| BurnThreshold {
        long_window_minutes: long,
        short_window_minutes: short,
        factor,
        severity,
    };
    let all =
        [t(60, 5, 14.4, Severity::Critical), t(360, 30, 6.0, Severity::Critical), t(4320, 360, 1.0, Severity::Medium)];
    let window = u64::from(window_days) * 24 * 60;
    all.into_iter().filter(|t| u64::from(t.long_window_minutes) <= window).collect()
}

/// What a person defines: an SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloSpec {
    pub name: String,
    pub description: String,
    /// The share of good events promised, strictly between 0 and 1 (0.999).
    pub target: f64,
    /// The window the target and the error budget are counted over.
    pub window_days: u32,
    pub metric_query: SloQuery,
    pub burn_rate_thresholds: Vec<BurnThreshold>,
    pub enabled: bool,
}

/// How an SLO stood at its last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloState {
    /// No condition fires.
    Ok,
    /// At least one condition fires.
    Burning,
    /// No events in the SLO window: nothing to judge.
    NoData,
    /// The metrics store could not be read.
    Error,
}

impl SloState {
    pub fn as_str(self) -> &'static str {
        match self {
            SloState::Ok => "ok",
            SloState::Burning => "burning",
            SloState::NoData => "no_data",
            SloState::Error => "error",
        }
    }
}

/// One condition at one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionStatus {
    #[serde(flatten)]
    pub threshold: BurnThreshold,
    /// Burn rates over the long and the short window; `None` without events there.
    pub long_burn: Option<f64>,
    pub short_burn: Option<f64>,
    pub firing: bool,
}

/// An SLO's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloStatus {
    pub at: Timestamp,
    pub state: SloState,
    /// Bad events over all events in the SLO window.
    pub error_ratio: Option<f64>,
    /// The share of the error budget left in the SLO window: 1 untouched, 0 spent,
    /// below 0 overspent.
    pub budget_remaining: Option<f64>,
    pub conditions: Vec<ConditionStatus>,
    /// Whether the intake holds a firing alert of this SLO (kept through `no_data`
    /// and `error`, so a gap neither raises nor resolves).
    pub signalled: bool,
    pub message: String,
}

/// An SLO as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub slo_id: Uuid,
    pub project_id: ProjectId,
    #[serde(flatten)]
    pub spec: SloSpec,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
    /// The last evaluation (written by the evaluator only).
    pub last: Option<SloStatus>,
}

/// How an invariant's points are reduced to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    Last,
    Avg,
    Min,
    Max,
    Sum,
    Count,
}

/// Which points an invariant reads: one metric of one service over the last minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvariantQuery {
    pub service: String,
    pub metric: String,
    pub aggregation: Aggregation,
    pub window_minutes: u32,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
            Op::Eq => left == right,
            Op::Ne => left != right,
        }
    }
}

/// What must hold of the aggregated value (`{"op": "<", "value": 0.05}`: below 5%).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub op: Op,
    pub value: f64,
}

/// What a person defines: an invariant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvariantSpec {
    pub name: String,
    pub description: String,
    pub query: InvariantQuery,
    pub condition: Condition,
    /// The severity of the alert raised when it fails.
    pub severity: Severity,
    pub enabled: bool,
}

/// An invariant's check outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Pass,
    Fail,
    /// No points in the window (and an aggregation other than `count`).
    NoData,
    /// The metrics store could not be read.
    Error,
}

impl CheckState {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::Pass => "pass",
            CheckState::Fail => "fail",
            CheckState::NoData => "no_data",
            CheckState::Error => "error",
        }
    }
}

/// The last check of an invariant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvariantResult {
    pub at: Timestamp,
    pub state: CheckState,
    /// The aggregated value, when there was one.
    pub value: Option<f64>,
    /// Whether the intake holds a firing alert of this invariant.
    pub signalled: bool,
    pub message: String,
}

/// An invariant as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invariant {
    pub invariant_id: Uuid,
    pub project_id: ProjectId,
    #[serde(flatten)]
    pub spec: InvariantSpec,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
    /// The last check (written by the evaluator and by a run on request).
    pub last: Option<InvariantResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_read_as_written_and_refuse_unknown_fields() {
        let q: SloQuery =
            serde_json::from_str(r#"{"kind": "ratio", "service": "checkout", "good": "ok", "total": "all"}"#)
                .expect("ratio");
        assert_eq!(q.metrics(), vec![("good", "ok"), ("total", "all")]);
        let typo = serde_json::from_str::<SloQuery>(r#"{"kind": "ratio", "service": "s", "good": "a", "totl": "b"}"#);
        assert!(typo.is_err(), "an unknown field is refused");
        let c: Condition = serde_json::from_str(r#"{"op": "<=", "value": 5}"#).expect("condition");
        assert_eq!((c.op, c.value), (Op::Le, 5.0));
        assert!(serde_json::from_str::<Condition>(r#"{"op": "=<", "value": 5}"#).is_err());
    }
}

//! What to do about the leading hypotheses: one recommended action per hypothesis (a
//! rollback for a release, a revert for a config change, shedding or scaling for a
//! traffic surge, relief for a saturated resource, a fail-over for a failing
//! dependency), with the runbook it comes from, its parameters, a risk level and the
//! time it is expected to take to recover. Pure: the same ranking gives the same
//! recommendations.
//!
//! The expected time to recover comes from history when there is some: the median
//! time from start to resolution of the project's earlier incidents resolved by a
//! hypothesis of the same type. Without history it is the typical duration of the
//! action, and the recommendation says which one it used.

use inquest_domain::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::hypotheses::{Candidate, Gathered};
use crate::investigate::RunbookRef;

/// How many hypotheses, best first, get a recommendation.
pub const RECOMMENDED: usize = 3;

/// What the recommended action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    RollbackDeployment,
    RollForward,
    RevertConfig,
    ShedOrScaleOut,
    RelieveResource,
    FailOverDependency,
    MitigateDatabase,
    InvestigateFurther,
}

impl ActionType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RollbackDeployment => "rollback_deployment",
            Self::RollForward => "roll_forward",
            Self::RevertConfig => "revert_config",
            Self::ShedOrScaleOut => "shed_or_scale_out",
            Self::RelieveResource => "relieve_resource",
            Self::FailOverDependency => "fail_over_dependency",
            Self::MitigateDatabase => "mitigate_database",
            Self::InvestigateFurther => "investigate_further",
        }
    }

    /// Typical minutes from starting the action to recovery, when history has none.
    pub fn typical_minutes(self) -> u32 {
        match self {
            Self::RollbackDeployment | Self::RevertConfig => 10,
            Self::RollForward => 20,
            Self::ShedOrScaleOut => 15,
            Self::RelieveResource => 20,
            Self::FailOverDependency | Self::MitigateDatabase => 30,
            Self::InvestigateFurther => 60,
        }
    }

    /// Words a runbook about this action tends to carry in its tags or title.
    fn words(self) -> &'static [&'static str] {
        match self {
            Self::RollbackDeployment | Self::RollForward => &["rollback", "release", "deploy", "revert"],
            Self::RevertConfig => &["config", "revert", "flag", "rollback"],
            Self::ShedOrScaleOut => &["traffic", "scale", "rate", "limit", "surge", "capacity"],
            Self::RelieveResource => &["cpu", "memory", "disk", "capacity", "scale", "node"],
            Self::FailOverDependency => &["degraded", "dependency", "external", "failover", "latency"],
            Self::MitigateDatabase => &["database", "db", "query", "connection", "index"],
            Self::InvestigateFurther => &[],
        }
    }
}

impl std::fmt::Display for ActionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much the action itself can hurt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

impl std::fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The runbook a recommendation follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookLink {
    pub title: String,
    pub source_url: Option<String>,
    pub evidence_id: EvidenceId,
}

/// One recommended action for one hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// 1 is the action to take first.
    pub rank: u32,
    pub hypothesis_id: HypothesisId,
    pub action_type: ActionType,
    /// What to do, in one sentence.
    pub summary: String,
    pub runbook: Option<RunbookLink>,
    pub parameters: Value,
    pub risk_level: RiskLevel,
    pub risk_reason: String,
    pub expected_ttr_minutes: u32,
    /// Where the expected time comes from.
    pub ttr_basis: String,
}

/// An earlier incident's time to recover, by the type of the hypothesis that resolved it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recovery {
    pub hypothesis_type: HypothesisType,
    pub minutes: f64,
}

/// Recommendations for the first `RECOMMENDED` hypotheses, in their order.
/// `ranked` and `stored` are the same hypotheses (as built, and as stored with ids).
pub fn recommend(
    g: &Gathered,
    ranked: &[Candidate],
    stored: &[Hypothesis],
    runbooks: &[RunbookRef],
    history: &[Recovery],
) -> Vec<Recommendation> {
    ranked
        .iter()
        .zip(stored)
        .take(RECOMMENDED)
        .enumerate()
        .map(|(i, (c, h))| {
            let mut r = action(g, c);
            let (minutes, basis) = expected_ttr(c.hypothesis_type, r.action_type, history);
            r.rank = i as u32 + 1;
            r.hypothesis_id = h.hypothesis_id;
            r.expected_ttr_minutes = minutes;
            r.ttr_basis = basis;
            r.runbook = runbook_for(&c.service_key, r.action_type, runbooks);
            r
        })
        .collect()
}

fn draft(action_type: ActionType, summary: String, parameters: Value, risk: (RiskLevel, &str)) -> Recommendation {
    Recommendation {
        rank: 0,
        hypothesis_id: HypothesisId::derived(&["unset"]),
        action_type,
        summary,
        runbook: None,
        parameters,
        risk_level: risk.0,
        risk_reason: risk.1.to_string(),
        expected_ttr_minutes: 0,
        ttr_basis: String::new(),
    }
}

fn action(g: &Gathered, c: &Candidate) -> Recommendation {
    let name = service_name_of(&c.service_key).to_string();
    let culprit = c.culprit.as_deref().unwrap_or_default();
    match c.hypothesis_type {
        HypothesisType::Release => {
            let d =
                g.deployments.iter().find(|d| format!("deployment:{}", d.deployment.deployment_event_id) == culprit);
            let Some(d) = d else {
                return draft(
                    ActionType::InvestigateFurther,
                    format!("find the deployment of {name} and compare it with the onset"),
                    json!({ "service": name }),
                    (RiskLevel::Low, "reading, not changing"),
                );
            };
            let migration = d.files.iter().any(|(f, _)| f.change_type == FileChangeType::DbMigration);
            let params = json!({
                "service": name,
                "deployment_event_id": d.deployment.deployment_event_id,
                "image_ref": d.deployment.image_ref,
                "revision": d.deployment.revision,
                "to_revision": d.previous_revision,
            });
            if d.is_rollback {
                return draft(
                    ActionType::RollForward,
                    format!("this deployment of {name} was a rollback: re-apply the release it rolled back, fixed"),
                    params,
                    (RiskLevel::Medium, "rolling forward ships code again"),
                );
            }
            let risk = if migration {
                (RiskLevel::High, "the release ran a database migration, which a rollback may not undo")
            } else if d.previous_revision.is_none() {
                (RiskLevel::Medium, "the previous revision is not known")
            } else {
                (RiskLevel::Low, "back to the revision that ran before the onset")
            };
            let to = d.previous_revision.as_deref().map(|r| format!(" to {r}")).unwrap_or_default();
            draft(ActionType::RollbackDeployment, format!("roll {name} back{to}"), params, risk)
        }
        HypothesisType::Config => {
            let change =
                g.config_changes.iter().find(|x| format!("config_change:{}", x.change.config_change_id) == culprit);
            let Some(x) = change else {
                return draft(
                    ActionType::InvestigateFurther,
                    format!("find the configuration change on {name}"),
                    json!({ "service": name }),
                    (RiskLevel::Low, "reading, not changing"),
                );
            };
            let diff = &x.change.diff_payload;
            let field = diff.get("field").and_then(Value::as_str).unwrap_or("the changed value");
            let risk = match x.change.change_kind {
                ChangeKind::DbSchemaAlter => (RiskLevel::High, "reverting a schema change rewrites the schema again"),
                ChangeKind::SecretKey => (RiskLevel::Medium, "the old secret may have been revoked"),
                _ => (RiskLevel::Low, "back to the value that held before the onset"),
            };
            let mut params = json!({
                "config_change_id": x.change.config_change_id,
                "resource": x.change.resource_name,
                "change_kind": x.change.change_kind,
                "field": field,
            });
            // A secret's earlier value is never repeated, whatever the diff kept of it.
            if x.change.change_kind != ChangeKind::SecretKey {
                params["value"] = diff.get("old_value").cloned().unwrap_or(Value::Null);
            }
            draft(ActionType::RevertConfig, format!("revert {field} on {}", x.change.resource_name), params, risk)
        }
        HypothesisType::Traffic => draft(
            ActionType::ShedOrScaleOut,
            format!("scale {name} out, or rate-limit the surge at its edge"),
            json!({ "service": name }),
            (RiskLevel::Medium, "shedding refuses some requests; scaling moves capacity"),
        ),
        HypothesisType::Infra => draft(
            ActionType::RelieveResource,
            format!("give {name} more of the saturated resource, or move it off the busy host"),
            json!({ "service": name }),
            (RiskLevel::Medium, "restarts or reschedules the service"),
        ),
        HypothesisType::Dependency => draft(
            ActionType::FailOverDependency,
            format!("fail over from {name}, or degrade the features that call it"),
            json!({ "dependency": name }),
            (RiskLevel::Medium, "callers run degraded while it is bypassed"),
        ),
        HypothesisType::Db => draft(
            ActionType::MitigateDatabase,
            format!("relieve {name}: stop the expensive queries, check its connections and indexes"),
            json!({ "database": name }),
            (RiskLevel::High, "acting on a database in trouble can lose writes"),
        ),
        HypothesisType::Unknown => draft(
            ActionType::InvestigateFurther,
            "no cause is decisive: look at the evidence gaps and the strongest anomalies first".to_string(),
            json!({ "service": name }),
            (RiskLevel::Low, "reading, not changing"),
        ),
    }
}

/// Median minutes to recover of earlier incidents resolved by a hypothesis of type `t`,
/// else the action's typical time.
fn expected_ttr(t: HypothesisType, a: ActionType, history: &[Recovery]) -> (u32, String) {
    let mut same: Vec<f64> = history.iter().filter(|r| r.hypothesis_type == t).map(|r| r.minutes).collect();
    if same.is_empty() {
        return (a.typical_minutes(), format!("typical for {a} (no earlier {t} incident was resolved)"));
    }
    same.sort_by(f64::total_cmp);
    let n = same.len();
    let median = if n % 2 == 1 { same[n / 2] } else { (same[n / 2 - 1] + same[n / 2]) / 2.0 };
    let minutes = median.round().clamp(1.0, f64::from(u32::MAX)) as u32;
    (minutes, format!("median of {n} earlier {t} incident(s) resolved"))
}

/// The runbook for the action: one written for the same service that speaks of the
/// action, else one written for no service in particular that does; best match first.
/// A runbook about another service, or about something else, is not offered.
fn runbook_for(service_key: &str, a: ActionType, runbooks: &[RunbookRef]) -> Option<RunbookLink> {
    let speaks = |r: &RunbookRef| {
        let text = format!("{} {}", r.title, r.tags.join(" ")).to_ascii_lowercase();
        a.words().iter().any(|w| text.split(|ch: char| !ch.is_ascii_alphanumeric()).any(|t| t == *w))
    };
    let same = |r: &RunbookRef| r.service_key.as_deref() == Some(service_key);
    let best = |pred: &dyn Fn(&RunbookRef) -> bool| {
        runbooks.iter().filter(|r| pred(r)).max_by(|x, y| x.score.total_cmp(&y.score))
    };
    best(&|r| same(r) && speaks(r)).or_else(|| best(&|r| r.service_key.is_none() && speaks(r))).map(|r| RunbookLink {
        title: r.title.clone(),
        source_url: r.source_url.clone(),
        evidence_id: r.evidence_id,
    })
}

/// Times to recover of earlier incidents (`feedback::earlier_judgements`) resolved
/// before `before`, by the type of the hypothesis that resolved them.
pub fn recoveries_of(judgements: &[crate::feedback::Judgement], before: Timestamp) -> Vec<Recovery> {
    judgements
        .iter()
        .filter_map(|j| {
            let (resolved_at, hid) = (j.incident.resolved_at?, j.incident.resolved_hypothesis_id?);
            let h = j.hypotheses.iter().find(|h| h.hypothesis_id == hid)?;
            let minutes = (resolved_at - j.incident.window_start).num_seconds() as f64 / 60.0;
            (resolved_at < before && minutes > 0.0).then_some(Recovery { hypothesis_type: h.hypothesis_type, minutes })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rb(title: &str, service: Option<&str>, tags: &[&str], score: f32) -> RunbookRef {
        RunbookRef {
            title: title.into(),
            source_url: None,
            score,
            evidence_id: EvidenceId::derived(&[title]),
            service_key: service.map(str::to_string),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn the_expected_time_is_the_median_of_history_else_the_typical_one() {
        let h = |t, m| Recovery { hypothesis_type: t, minutes: m };
        let history = [
            h(HypothesisType::Release, 12.0),
            h(HypothesisType::Release, 30.0),
            h(HypothesisType::Release, 18.0),
            h(HypothesisType::Config, 4.0),
        ];
        let (m, basis) = expected_ttr(HypothesisType::Release, ActionType::RollbackDeployment, &history);
        assert_eq!(m, 18);
        assert!(basis.contains("median of 3"), "{basis}");
        let (m, basis) = expected_ttr(HypothesisType::Traffic, ActionType::ShedOrScaleOut, &history);
        assert_eq!(m, ActionType::ShedOrScaleOut.typical_minutes());
        assert!(basis.starts_with("typical"), "{basis}");
        let two = [h(HypothesisType::Db, 10.0), h(HypothesisType::Db, 21.0)];
        assert_eq!(expected_ttr(HypothesisType::Db, ActionType::MitigateDatabase, &two).0, 16);
    }

    #[test]
    fn the_runbook_for_the_same_service_and_action_wins() {
        let books = [
            rb("Stripe API degraded", Some("c/n/payments"), &["stripe", "external"], 0.9),
            rb("Rolling back a payments release", Some("c/n/payments"), &["release", "rollback"], 0.4),
            rb("Generic rollback", None, &["rollback"], 0.95),
        ];
        let pick = |s: &str, a| runbook_for(s, a, &books).map(|r| r.title);
        assert_eq!(
            pick("c/n/payments", ActionType::RollbackDeployment).as_deref(),
            Some("Rolling back a payments release")
        );
        assert_eq!(pick("c/n/payments", ActionType::FailOverDependency).as_deref(), Some("Stripe API degraded"));
        assert_eq!(pick("c/n/checkout", ActionType::RollbackDeployment).as_deref(), Some("Generic rollback"));
        assert_eq!(pick("c/n/checkout", ActionType::MitigateDatabase), None);
        assert_eq!(pick("c/n/payments", ActionType::RelieveResource), None, "its runbooks are about other things");
    }
}

//! Human feedback: append-only events, the incident resolution derived from them
//! (a pure function), and the priors that confirmed and rejected hypotheses of
//! earlier incidents give later investigations.

use std::collections::{BTreeMap, HashMap, HashSet};

use inquest_domain::*;
use inquest_ports::{RecordBatch, StoreError, Stores};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::factors::{self, Factor};
use crate::hypotheses::{Candidate, Gathered};

/// `feedback_events.event_type`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    HypothesisConfirmed,
    HypothesisRejected,
    RootCauseSet,
    HumanNoteAdded,
    FeedbackRetracted,
}

impl FeedbackKind {
    pub const ALL: [FeedbackKind; 5] = [
        Self::HypothesisConfirmed,
        Self::HypothesisRejected,
        Self::RootCauseSet,
        Self::HumanNoteAdded,
        Self::FeedbackRetracted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::HypothesisConfirmed => "hypothesis_confirmed",
            Self::HypothesisRejected => "hypothesis_rejected",
            Self::RootCauseSet => "root_cause_set",
            Self::HumanNoteAdded => "human_note_added",
            Self::FeedbackRetracted => "feedback_retracted",
        }
    }
}

impl std::str::FromStr for FeedbackKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| DomainError::UnknownVariant {
            field: "event_type",
            value: s.to_string(),
            expected: "hypothesis_confirmed hypothesis_rejected root_cause_set human_note_added feedback_retracted",
        })
    }
}

/// What a person asks to record, before it becomes a `FeedbackEvent`.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedbackInput {
    Confirm {
        hypothesis: HypothesisId,
    },
    Reject {
        hypothesis: HypothesisId,
    },
    /// The root cause: one of the hypotheses, or free text.
    RootCause {
        hypothesis: Option<HypothesisId>,
        text: Option<String>,
    },
    Note {
        text: String,
    },
    Retract {
        event: FeedbackEventId,
    },
}

impl FeedbackInput {
    pub fn kind(&self) -> FeedbackKind {
        match self {
            Self::Confirm { .. } => FeedbackKind::HypothesisConfirmed,
            Self::Reject { .. } => FeedbackKind::HypothesisRejected,
            Self::RootCause { .. } => FeedbackKind::RootCauseSet,
            Self::Note { .. } => FeedbackKind::HumanNoteAdded,
            Self::Retract { .. } => FeedbackKind::FeedbackRetracted,
        }
    }

    pub fn payload(&self) -> Value {
        match self {
            Self::Confirm { hypothesis } | Self::Reject { hypothesis } => json!({ "hypothesis_id": hypothesis }),
            Self::RootCause { hypothesis, text } => json!({ "hypothesis_id": hypothesis, "text": text }),
            Self::Note { text } => json!({ "text": text }),
            Self::Retract { event } => json!({ "retracts": event }),
        }
    }

    /// A new event with a random id.
    pub fn into_event(
        self,
        incident: IncidentId,
        actor_type: ActorType,
        actor_id: Option<String>,
        now: Timestamp,
    ) -> FeedbackEvent {
        FeedbackEvent {
            feedback_event_id: FeedbackEventId::new_random(),
            incident_id: incident,
            created_at: now,
            actor_type,
            actor_id,
            event_type: self.kind().as_str().to_string(),
            payload: self.payload(),
        }
    }
}

/// Why feedback could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("incident {0} not found")]
    IncidentNotFound(IncidentId),
    #[error("hypothesis {0} does not belong to this incident")]
    UnknownHypothesis(HypothesisId),
    #[error("feedback event {0} does not belong to this incident")]
    UnknownEvent(FeedbackEventId),
    #[error("{0} is already retracted")]
    AlreadyRetracted(FeedbackEventId),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The resolution columns of `incidents`, derived from the feedback events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub resolved_at: Option<Timestamp>,
    pub resolution_kind: Option<String>,
    pub resolution_summary: Option<String>,
    pub resolved_hypothesis_id: Option<HypothesisId>,
}

/// The standing verdict on one hypothesis after retractions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Confirmed,
    Rejected,
}

fn hyp_of(e: &FeedbackEvent) -> Option<HypothesisId> {
    e.payload.get("hypothesis_id").and_then(Value::as_str).and_then(|s| s.parse().ok())
}

fn text_of(e: &FeedbackEvent) -> Option<String> {
    e.payload.get("text").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Ids of events retracted by a later `feedback_retracted` event.
pub fn retracted(events: &[FeedbackEvent]) -> HashSet<FeedbackEventId> {
    events
        .iter()
        .filter(|e| e.event_type == FeedbackKind::FeedbackRetracted.as_str())
        .filter_map(|e| e.payload.get("retracts").and_then(Value::as_str).and_then(|s| s.parse().ok()))
        .collect()
}

/// Events in effect (not retractions, not retracted), oldest first.
pub fn active(events: &[FeedbackEvent]) -> Vec<&FeedbackEvent> {
    let gone = retracted(events);
    let mut v: Vec<&FeedbackEvent> = events
        .iter()
        .filter(|e| e.event_type != FeedbackKind::FeedbackRetracted.as_str() && !gone.contains(&e.feedback_event_id))
        .collect();
    v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.feedback_event_id.cmp(&b.feedback_event_id)));
    v
}

/// The latest standing verdict per hypothesis (a root cause set to a hypothesis confirms it).
pub fn verdicts(events: &[FeedbackEvent]) -> BTreeMap<HypothesisId, Verdict> {
    let mut out = BTreeMap::new();
    for e in active(events) {
        let verdict = match e.event_type.as_str() {
            "hypothesis_confirmed" | "root_cause_set" => Verdict::Confirmed,
            "hypothesis_rejected" => Verdict::Rejected,
            _ => continue,
        };
        if let Some(h) = hyp_of(e) {
            out.insert(h, verdict);
        }
    }
    out
}

/// Derive the resolution from the events: the latest standing root cause wins,
/// else the latest standing confirmation; nothing standing means unresolved.
pub fn derive_resolution(events: &[FeedbackEvent], hypotheses: &[Hypothesis]) -> Resolution {
    let title = |id: HypothesisId| hypotheses.iter().find(|h| h.hypothesis_id == id).map(|h| h.title.clone());
    let act = active(events);
    if let Some(e) = act.iter().rev().find(|e| e.event_type == FeedbackKind::RootCauseSet.as_str()) {
        let h = hyp_of(e);
        return Resolution {
            resolved_at: Some(e.created_at),
            resolution_kind: Some(if h.is_some() { "root_cause_hypothesis" } else { "root_cause_text" }.to_string()),
            resolution_summary: text_of(e).or_else(|| h.and_then(title)),
            resolved_hypothesis_id: h,
        };
    }
    let v = verdicts(events);
    if let Some(e) = act.iter().rev().find(|e| {
        e.event_type == FeedbackKind::HypothesisConfirmed.as_str()
            && hyp_of(e).is_some_and(|h| v.get(&h) == Some(&Verdict::Confirmed))
    }) {
        let h = hyp_of(e);
        return Resolution {
            resolved_at: Some(e.created_at),
            resolution_kind: Some("hypothesis_confirmed".to_string()),
            resolution_summary: h.and_then(title),
            resolved_hypothesis_id: h,
        };
    }
    Resolution::default()
}

/// The incident with its resolution columns (and status) set from `r`.
pub fn apply_resolution(incident: &Incident, r: &Resolution, now: Timestamp) -> Incident {
    let mut i = incident.clone();
    i.resolved_at = r.resolved_at;
    i.resolution_kind = r.resolution_kind.clone();
    i.resolution_summary = r.resolution_summary.clone();
    i.resolved_hypothesis_id = r.resolved_hypothesis_id;
    if r.resolved_at.is_some() {
        i.status = IncidentStatus::Resolved;
    } else if i.status == IncidentStatus::Resolved {
        i.status = IncidentStatus::Triaged;
    }
    if i != *incident {
        i.updated_at = now;
    }
    i
}

/// Append one feedback event (after checking what it points at), then re-derive
/// the incident's resolution and write it back through `apply_batch`.
pub async fn record_feedback(
    stores: &Stores,
    event: &FeedbackEvent,
    now: Timestamp,
) -> Result<Incident, FeedbackError> {
    let id = event.incident_id;
    let incident = stores.records.get_incident(id).await?.ok_or(FeedbackError::IncidentNotFound(id))?;
    let hypotheses = stores.records.hypotheses(id).await?;
    let existing = stores.records.feedback(id).await?;
    if let Some(h) = hyp_of(event)
        && !hypotheses.iter().any(|x| x.hypothesis_id == h)
    {
        return Err(FeedbackError::UnknownHypothesis(h));
    }
    match event.event_type.parse::<FeedbackKind>().map_err(|e| FeedbackError::Invalid(e.to_string()))? {
        FeedbackKind::HypothesisConfirmed | FeedbackKind::HypothesisRejected if hyp_of(event).is_none() => {
            return Err(FeedbackError::Invalid("hypothesis_id is required".into()));
        }
        FeedbackKind::RootCauseSet if hyp_of(event).is_none() && text_of(event).is_none() => {
            return Err(FeedbackError::Invalid("root_cause_set needs a hypothesis_id or a text".into()));
        }
        FeedbackKind::HumanNoteAdded if text_of(event).is_none() => {
            return Err(FeedbackError::Invalid("text is required".into()));
        }
        FeedbackKind::FeedbackRetracted => {
            let target: FeedbackEventId = event
                .payload
                .get("retracts")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| FeedbackError::Invalid("retracts is required".into()))?;
            let Some(t) = existing.iter().find(|e| e.feedback_event_id == target) else {
                return Err(FeedbackError::UnknownEvent(target));
            };
            if t.event_type == FeedbackKind::FeedbackRetracted.as_str() {
                return Err(FeedbackError::Invalid("a retraction cannot be retracted".into()));
            }
            if retracted(&existing).contains(&target) {
                return Err(FeedbackError::AlreadyRetracted(target));
            }
        }
        _ => {}
    }
    stores.records.append_feedback(event).await?;
    let mut all = existing;
    all.push(event.clone());
    let updated = apply_resolution(&incident, &derive_resolution(&all, &hypotheses), now);
    if updated != incident {
        stores.records.apply_batch(&RecordBatch { incidents: vec![updated.clone()], ..Default::default() }).await?;
    }
    Ok(updated)
}

/// Re-derive every incident's resolution from its events and write back those that
/// differ (a reload of fixture rows resets the columns; the events stay). Returns
/// how many incidents were rewritten.
pub async fn rederive_all(stores: &Stores, now: Timestamp) -> Result<usize, StoreError> {
    let mut changed = Vec::new();
    for incident in stores.records.list_incidents().await? {
        let events = stores.records.feedback(incident.incident_id).await?;
        if events.is_empty() {
            continue;
        }
        let hypotheses = stores.records.hypotheses(incident.incident_id).await?;
        let updated = apply_resolution(&incident, &derive_resolution(&events, &hypotheses), now);
        if updated != incident {
            changed.push(updated);
        }
    }
    let n = changed.len();
    if n > 0 {
        stores.records.apply_batch(&RecordBatch { incidents: changed, ..Default::default() }).await?;
    }
    Ok(n)
}

/// One judged hypothesis of an earlier incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub incident_id: IncidentId,
    pub incident_start: Timestamp,
    pub service_key: String,
    pub hypothesis_type: HypothesisType,
    /// For releases: the riskiest `change_type` the deployment shipped.
    pub change_type: Option<FileChangeType>,
    pub verdict: Verdict,
}

/// Counts of confirmed and rejected outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub confirmed: u32,
    pub rejected: u32,
}

/// Priors from the feedback on incidents that started before `before`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Priors {
    pub before: Option<Timestamp>,
    pub incidents_with_feedback: usize,
    /// `service_key` -> `hypothesis_type` -> tally.
    pub by_service: BTreeMap<String, BTreeMap<String, Tally>>,
    /// `hypothesis_type` -> tally, all services.
    pub by_type: BTreeMap<String, Tally>,
    /// Release outcomes by their riskiest `change_type`.
    pub by_change_type: BTreeMap<String, Tally>,
    pub outcomes: Vec<Outcome>,
}

impl Priors {
    pub fn from_outcomes(before: Option<Timestamp>, outcomes: Vec<Outcome>) -> Self {
        let mut p = Priors { before, ..Default::default() };
        let mut incidents = HashSet::new();
        for o in &outcomes {
            incidents.insert(o.incident_id);
            let bump = |t: &mut Tally| match o.verdict {
                Verdict::Confirmed => t.confirmed += 1,
                Verdict::Rejected => t.rejected += 1,
            };
            bump(
                p.by_service
                    .entry(o.service_key.clone())
                    .or_default()
                    .entry(o.hypothesis_type.to_string())
                    .or_default(),
            );
            bump(p.by_type.entry(o.hypothesis_type.to_string()).or_default());
            if let Some(c) = o.change_type {
                bump(p.by_change_type.entry(c.to_string()).or_default());
            }
        }
        p.incidents_with_feedback = incidents.len();
        p.outcomes = outcomes;
        p
    }

    /// How often a hypothesis of type `t` on `service` was judged before: confirmed
    /// and rejected.
    pub fn judged(&self, service: &str, t: HypothesisType) -> Tally {
        self.by_service.get(service).and_then(|m| m.get(t.as_str())).copied().unwrap_or_default()
    }

    /// The `feedback_prior` factor for a hypothesis of type `t` on `service`, or
    /// `None` when no earlier feedback bears on it (the score is then unchanged).
    pub fn factor(&self, service: &str, t: HypothesisType, change_type: Option<FileChangeType>) -> Option<Factor> {
        let on_service = self.by_service.get(service);
        let confirmed_total: u32 = on_service.map(|m| m.values().map(|x| x.confirmed).sum()).unwrap_or(0);
        let same = on_service.and_then(|m| m.get(t.as_str())).copied().unwrap_or_default();
        let ct = change_type.and_then(|c| self.by_change_type.get(c.as_str()).map(|x| (c, *x)));
        let judged = same.confirmed + same.rejected;
        if judged == 0 && ct.is_none() {
            return None;
        }
        let name = service_name_of(service);
        let mut parts = Vec::new();
        let mut values = Vec::new();
        if judged > 0 {
            // How often this kind of hypothesis on this service was right when judged
            // (Laplace-smoothed); the confirmed share is shown for context.
            values.push((f64::from(same.confirmed) + 1.0) / (f64::from(judged) + 2.0));
            parts.push(format!(
                "precedent: {} of {confirmed_total} confirmed incidents on {name} were {t}",
                same.confirmed
            ));
            parts.push(format!("{t} on {name}: {} confirmed, {} rejected", same.confirmed, same.rejected));
        }
        if let Some((c, x)) = ct {
            values.push((f64::from(x.confirmed) + 1.0) / (f64::from(x.confirmed + x.rejected) + 2.0));
            parts.push(format!("releases shipping {c} changes: {} confirmed, {} rejected", x.confirmed, x.rejected));
        }
        let value = values.iter().sum::<f64>() / values.len() as f64;
        Some(Factor::new("feedback_prior", value, 0.5, parts.join("; ")))
    }
}

/// The riskiest `change_type` a deployment shipped.
pub fn riskiest(types: impl IntoIterator<Item = FileChangeType>) -> Option<FileChangeType> {
    types
        .into_iter()
        .max_by(|a, b| factors::file_change_risk(*a).total_cmp(&factors::file_change_risk(*b)).then(b.cmp(a)))
}

/// Judged outcomes of one incident from its events and hypotheses.
pub fn outcomes_of(
    incident: &Incident,
    events: &[FeedbackEvent],
    hypotheses: &[Hypothesis],
    change_types: &HashMap<String, FileChangeType>,
) -> Vec<Outcome> {
    verdicts(events)
        .into_iter()
        .filter_map(|(id, verdict)| {
            let h = hypotheses.iter().find(|h| h.hypothesis_id == id)?;
            Some(Outcome {
                incident_id: incident.incident_id,
                incident_start: incident.window_start,
                service_key: h.service_key().unwrap_or_default().to_string(),
                hypothesis_type: h.hypothesis_type,
                change_type: h.culprit().and_then(|c| change_types.get(c)).copied(),
                verdict,
            })
        })
        .collect()
}

/// An earlier incident people gave feedback on, with its events and hypotheses.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub incident: Incident,
    pub events: Vec<FeedbackEvent>,
    pub hypotheses: Vec<Hypothesis>,
}

/// The project's incidents that started strictly before `before` and have feedback
/// (never `exclude`, the incident being investigated, never a later one: no leakage),
/// read once for the priors, the learned weights and the times to recover.
pub async fn earlier_judgements(
    stores: &Stores,
    before: Timestamp,
    exclude: Option<IncidentId>,
) -> Result<Vec<Judgement>, StoreError> {
    let mut out = Vec::new();
    for incident in stores.records.list_incidents().await? {
        if incident.window_start >= before || Some(incident.incident_id) == exclude {
            continue;
        }
        let events = stores.records.feedback(incident.incident_id).await?;
        if events.is_empty() {
            continue;
        }
        let hypotheses = stores.records.hypotheses(incident.incident_id).await?;
        out.push(Judgement { incident, events, hypotheses });
    }
    out.sort_by(|a, b| {
        a.incident.window_start.cmp(&b.incident.window_start).then(a.incident.incident_id.cmp(&b.incident.incident_id))
    });
    Ok(out)
}

/// Priors from every incident that started strictly before `before`.
pub async fn gather_priors(
    stores: &Stores,
    before: Timestamp,
    exclude: Option<IncidentId>,
) -> Result<Priors, StoreError> {
    priors_of(stores, &earlier_judgements(stores, before, exclude).await?, before).await
}

/// Priors from judgements already read (`earlier_judgements`); reads the evidence of
/// judged releases for the riskiest change type they shipped.
pub async fn priors_of(stores: &Stores, judged: &[Judgement], before: Timestamp) -> Result<Priors, StoreError> {
    let mut outcomes = Vec::new();
    for Judgement { incident, events, hypotheses } in judged {
        // Riskiest change type of judged releases, from their git_diff evidence.
        let mut change_types = HashMap::new();
        if hypotheses.iter().any(|h| h.hypothesis_type == HypothesisType::Release) {
            let evidence = stores.records.evidence(incident.incident_id).await?;
            for h in hypotheses.iter().filter(|h| h.hypothesis_type == HypothesisType::Release) {
                let types = evidence
                    .iter()
                    .filter(|e| e.kind == EvidenceKind::GitDiff && h.evidence_ids.contains(&e.evidence_id))
                    .filter_map(|e| e.metadata.get("change_type").and_then(Value::as_str).and_then(|s| s.parse().ok()));
                if let (Some(c), Some(t)) = (h.culprit(), riskiest(types)) {
                    change_types.insert(c.to_string(), t);
                }
            }
        }
        outcomes.extend(outcomes_of(incident, events, hypotheses, &change_types));
    }
    outcomes.sort_by(|a, b| a.incident_start.cmp(&b.incident_start).then(a.incident_id.cmp(&b.incident_id)));
    Ok(Priors::from_outcomes(Some(before), outcomes))
}

/// Add the `feedback_prior` factor to every candidate the priors bear on and
/// rescore it (candidates without relevant feedback keep their score).
pub fn apply_priors(candidates: &mut [Candidate], g: &Gathered) {
    for c in candidates.iter_mut().filter(|c| c.hypothesis_type != HypothesisType::Unknown) {
        let change_type = c.culprit.as_deref().and_then(|culprit| {
            g.deployments
                .iter()
                .find(|d| format!("deployment:{}", d.deployment.deployment_event_id) == culprit)
                .and_then(|d| riskiest(d.files.iter().map(|(f, _)| f.change_type)))
        });
        if let Some(f) = g.priors.factor(&c.service_key, c.hypothesis_type, change_type) {
            c.factors.push(f);
            c.score = factors::combine(&c.factors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t(m: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 9, 1, 10, m, 0).single().unwrap_or_default()
    }

    fn ev(input: FeedbackInput, m: u32) -> FeedbackEvent {
        input.into_event(IncidentId::derived(&["i"]), ActorType::User, Some("oncall".into()), t(m))
    }

    fn hyp(n: &str, ty: HypothesisType) -> Hypothesis {
        Hypothesis {
            hypothesis_id: HypothesisId::derived(&[n]),
            incident_id: IncidentId::derived(&["i"]),
            rank: 1,
            hypothesis_type: ty,
            title: format!("title {n}"),
            confidence: 0.5,
            evidence_ids: vec![],
            details: json!({ "service_key": "c/n/checkout" }),
        }
    }

    #[test]
    fn confirmation_resolves_and_retraction_undoes_it() {
        let h = hyp("a", HypothesisType::Config);
        let confirm = ev(FeedbackInput::Confirm { hypothesis: h.hypothesis_id }, 1);
        let r = derive_resolution(std::slice::from_ref(&confirm), std::slice::from_ref(&h));
        assert_eq!(r.resolved_hypothesis_id, Some(h.hypothesis_id));
        assert_eq!(r.resolution_kind.as_deref(), Some("hypothesis_confirmed"));
        assert_eq!(r.resolution_summary.as_deref(), Some("title a"));
        let undo = ev(FeedbackInput::Retract { event: confirm.feedback_event_id }, 2);
        assert_eq!(derive_resolution(&[confirm, undo], &[h]), Resolution::default());
    }

    #[test]
    fn root_cause_text_wins_over_confirmation_and_rejection_overrides_confirm() {
        let h = hyp("a", HypothesisType::Release);
        let events = vec![
            ev(FeedbackInput::Confirm { hypothesis: h.hypothesis_id }, 1),
            ev(FeedbackInput::Reject { hypothesis: h.hypothesis_id }, 2),
        ];
        assert_eq!(verdicts(&events).get(&h.hypothesis_id), Some(&Verdict::Rejected));
        assert_eq!(derive_resolution(&events, std::slice::from_ref(&h)), Resolution::default());
        let mut more = events.clone();
        more.push(ev(FeedbackInput::RootCause { hypothesis: None, text: Some("dns outage".into()) }, 3));
        let r = derive_resolution(&more, &[h]);
        assert_eq!(r.resolution_kind.as_deref(), Some("root_cause_text"));
        assert_eq!(r.resolution_summary.as_deref(), Some("dns outage"));
        assert_eq!(r.resolved_at, Some(t(3)));
    }

    #[test]
    fn status_follows_resolution() {
        let inc = Incident {
            incident_id: IncidentId::derived(&["i"]),
            service_id: ServiceId::derived(&["s"]),
            status: IncidentStatus::Open,
            trigger_type: "custom".into(),
            severity: 2,
            window_start: t(0),
            window_end: t(30),
            created_at: t(0),
            updated_at: t(0),
            resolved_at: None,
            resolution_kind: None,
            resolution_summary: None,
            resolved_hypothesis_id: None,
        };
        let r = Resolution { resolved_at: Some(t(5)), resolution_kind: Some("x".into()), ..Default::default() };
        let resolved = apply_resolution(&inc, &r, t(6));
        assert_eq!(resolved.status, IncidentStatus::Resolved);
        assert_eq!(resolved.updated_at, t(6));
        assert_eq!(apply_resolution(&resolved, &Resolution::default(), t(7)).status, IncidentStatus::Triaged);
    }

    #[test]
    fn priors_explain_confirmed_share_and_stay_silent_without_feedback() {
        let o = |ty, v| Outcome {
            incident_id: IncidentId::new_random(),
            incident_start: t(0),
            service_key: "c/n/checkout".into(),
            hypothesis_type: ty,
            change_type: None,
            verdict: v,
        };
        let p = Priors::from_outcomes(
            None,
            vec![
                o(HypothesisType::Config, Verdict::Confirmed),
                o(HypothesisType::Config, Verdict::Confirmed),
                o(HypothesisType::Config, Verdict::Confirmed),
                o(HypothesisType::Release, Verdict::Confirmed),
            ],
        );
        let f =
            p.factor("c/n/checkout", HypothesisType::Config, None).unwrap_or_else(|| Factor::new("none", 0.0, 0.0, ""));
        assert!(f.explanation.contains("3 of 4 confirmed incidents on checkout were config"), "{}", f.explanation);
        let rel = p.factor("c/n/checkout", HypothesisType::Release, None).map(|f| f.value).unwrap_or(1.0);
        assert!(f.value > rel, "three confirmations weigh more than one");
        assert!(p.factor("c/n/search", HypothesisType::Config, None).is_none());
        assert!(p.factor("c/n/checkout", HypothesisType::Traffic, None).is_none());
        assert_eq!(
            riskiest([FileChangeType::Docs, FileChangeType::TimeoutRetry, FileChangeType::Test]),
            Some(FileChangeType::TimeoutRetry)
        );
    }
}

//! The response policy after an investigation: a confident diagnosis with a
//! confirmed precedent acknowledges the incident and pages the person assigned; every
//! diagnosis is told to the channels; each action is a decision row with the
//! policy's version, taken once per investigation; a notifier that fails leaves the
//! other actions taken.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use inquest_domain::{Decision, HypothesisType, IncidentId, IncidentStatus, ProjectId};
use inquest_intake::lifecycle::recorded_decision;
use inquest_intake::model::parse_generic;
use inquest_intake::response::LeadingHypothesis;
use inquest_intake::{Policy, ResponsePolicy};
use inquest_intake_service::{
    Ingest, Investigated, InvestigationFailed, Investigator, Responder, Step, WorkerConfig, run_once,
};
use inquest_ops::notify::{Notice, NoticeEvent, Notifier};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use inquest_store_embedded::{EmbeddedIntakeStore, EmbeddedStore};
use serde_json::json;

/// Keeps every notice it is asked to queue; fails them all when `down`.
#[derive(Default)]
struct Recording {
    notices: Mutex<Vec<Notice>>,
    down: bool,
}

#[async_trait]
impl Notifier for Recording {
    async fn notify(&self, _: &ProjectId, notice: &Notice) -> StoreResult<usize> {
        if self.down {
            return Err(StoreError::new(ErrorKind::Unavailable, "notify", "enqueue", "the outbox is down"));
        }
        self.notices
            .lock()
            .map_err(|e| StoreError::new(ErrorKind::Internal, "notify", "enqueue", e.to_string()))?
            .push(notice.clone());
        Ok(2)
    }
}

/// Answers a fixed leading hypothesis.
struct Concluding(Option<LeadingHypothesis>);

#[async_trait]
impl Investigator for Concluding {
    async fn investigate(&self, _: &ProjectId, _: IncidentId) -> Result<Investigated, InvestigationFailed> {
        Ok(Investigated { failed_stores: vec![], top: self.0.clone() })
    }
}

fn top(confidence: f64, confirmed_precedents: u32) -> Option<LeadingHypothesis> {
    Some(LeadingHypothesis {
        title: "release r42 of checkout".into(),
        hypothesis_type: HypothesisType::Release,
        confidence,
        confirmed_precedents,
    })
}

fn responding(notifier: Arc<Recording>) -> Arc<Ingest> {
    let stores = EmbeddedStore::in_memory().expect("records store").stores();
    let store = EmbeddedIntakeStore::in_memory().expect("ingest store");
    let ingest = Ingest::new(Arc::new(store), stores.records.clone(), Policy::default_policy())
        .with_responder(Responder { policy: ResponsePolicy::default_policy(), notifier });
    Arc::new(ingest)
}

/// Two high alerts on checkout: an approved incident with a queued job.
async fn approved(ingest: &Ingest) -> IncidentId {
    let now = Utc::now();
    let alerts = ["errors", "latency"].map(|m| {
        parse_generic(&json!({"service": "checkout", "severity": "critical", "message": m}), "", now).expect("alert")
    });
    let applied = ingest.ingest(&ProjectId::default_project(), alerts.to_vec(), now).await.expect("stored");
    applied.iter().find(|a| a.job_id.is_some()).and_then(|a| a.incident_id).expect("approved")
}

#[tokio::test]
async fn a_confident_diagnosis_with_a_confirmed_precedent_is_acknowledged_and_pages_the_person_assigned() {
    let notifier = Arc::new(Recording::default());
    let ingest = responding(notifier.clone());
    let project = ProjectId::default_project();
    let id = approved(&ingest).await;
    let assigned = recorded_decision(
        id,
        Decision::Assigned,
        "ana",
        "on call for checkout",
        "oncall",
        Utc::now(),
        json!({"person": "ana"}),
    );
    ingest.add_decisions(&project, id, vec![assigned]).await.expect("assigned");
    let step = run_once(&ingest, &Concluding(top(0.91, 2)), &WorkerConfig::new("w")).await.expect("run");
    let Step::Succeeded(job) = step else { panic!("expected success, got {step:?}") };

    let inc = ingest.store.get_incident(id).await.expect("read").expect("incident");
    assert_eq!(inc.status, IncidentStatus::Triaged, "acknowledged by the policy");
    let last = inc.transitions.last().expect("transition");
    assert_eq!(last.actor, "response policy");
    assert!(last.reason.as_deref().unwrap_or_default().contains("confidence 0.91 >= 0.85"), "{last:?}");
    let version = ResponsePolicy::default_policy().version;
    let ours: Vec<_> = inc.decisions.iter().filter(|d| d.policy_version == version).collect();
    let kinds: Vec<Decision> = ours.iter().map(|d| d.decision).collect();
    assert_eq!(kinds, vec![Decision::Acknowledged, Decision::Paged, Decision::Notified]);
    assert_eq!(ours[1].details["recipient"], "ana");
    assert_eq!(ours[1].details["queued"], 2);
    assert!(ours[0].rationale.contains("rule confident-with-precedent"), "{}", ours[0].rationale);

    let notices = notifier.notices.lock().expect("notices").clone();
    let events: Vec<NoticeEvent> = notices.iter().map(|n| n.event).collect();
    assert_eq!(events, vec![NoticeEvent::Paged, NoticeEvent::Diagnosed]);
    let page = &notices[0];
    assert_eq!(page.recipient.as_deref(), Some("ana"));
    let cause = page.cause.as_ref().expect("cause");
    assert_eq!((cause.title.as_str(), cause.confidence), ("release r42 of checkout", 0.91));
    assert_eq!(page.link, format!("/incidents/{id}"));

    // The same investigation responded to again records nothing new.
    let again = ingest.responder.as_ref().expect("responder");
    again.respond(&ingest, &project, id, &job.job_id.to_string(), top(0.91, 2)).await.expect("again");
    let after = ingest.store.get_incident(id).await.expect("read").expect("incident");
    assert_eq!(after.decisions.iter().filter(|d| d.policy_version == version).count(), 3, "{:?}", after.decisions);
}

#[tokio::test]
async fn without_a_confirmed_precedent_the_diagnosis_is_only_told() {
    let notifier = Arc::new(Recording::default());
    let ingest = responding(notifier.clone());
    let id = approved(&ingest).await;
    let step = run_once(&ingest, &Concluding(top(0.95, 0)), &WorkerConfig::new("w")).await.expect("run");
    assert!(matches!(step, Step::Succeeded(_)), "{step:?}");
    let inc = ingest.store.get_incident(id).await.expect("read").expect("incident");
    assert_eq!(inc.status, IncidentStatus::Open, "nobody acknowledged it: escalation goes on");
    let kinds: Vec<Decision> = inc.decisions.iter().map(|d| d.decision).collect();
    assert!(kinds.contains(&Decision::Notified) && !kinds.contains(&Decision::Acknowledged), "{kinds:?}");
    let notices = notifier.notices.lock().expect("notices").clone();
    assert_eq!(notices.len(), 1);
    assert_eq!((notices[0].event, notices[0].recipient.as_deref()), (NoticeEvent::Diagnosed, None));
}

#[tokio::test]
async fn a_notifier_that_fails_leaves_the_acknowledgement_and_the_job_done() {
    let notifier = Arc::new(Recording { down: true, ..Default::default() });
    let ingest = responding(notifier);
    let id = approved(&ingest).await;
    let step = run_once(&ingest, &Concluding(top(0.9, 1)), &WorkerConfig::new("w")).await.expect("run");
    assert!(matches!(step, Step::Succeeded(_)), "the investigation is done whatever the channels do: {step:?}");
    let inc = ingest.store.get_incident(id).await.expect("read").expect("incident");
    assert_eq!(inc.status, IncidentStatus::Triaged);
    let kinds: Vec<Decision> = inc.decisions.iter().map(|d| d.decision).collect();
    assert!(kinds.contains(&Decision::Acknowledged), "{kinds:?}");
    assert!(!kinds.contains(&Decision::Paged) && !kinds.contains(&Decision::Notified), "nothing was queued: {kinds:?}");
}

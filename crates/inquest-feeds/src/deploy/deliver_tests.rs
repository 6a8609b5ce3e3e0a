//! `deliver` and `apply` on the embedded store with a recording fake of the local
//! clones: created services, derived ids, previous revisions, rollbacks, fallbacks,
//! once-per-revision senders and redeliveries.

use std::sync::{Arc, Mutex};

use inquest_domain::{DeploymentId, ServiceId};
use inquest_ports::{DeliveryOutcome, Stores};
use inquest_store_embedded::EmbeddedStore;
use serde_json::{Value, json};

use super::{Notice, deliver, flux, generic};
use crate::{Delivery, Feed, NoRepositories, Parsed, Repositories, apply};

type Call = (String, Option<String>, String, usize);

/// Answers every range with `answer` and records what it was asked.
struct Fake {
    calls: Mutex<Vec<Call>>,
    answer: Result<Option<Vec<String>>, String>,
}

impl Fake {
    fn new(answer: Result<Option<Vec<String>>, String>) -> Arc<Fake> {
        Arc::new(Fake { calls: Mutex::new(Vec::new()), answer })
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls").clone()
    }
}

impl Repositories for Fake {
    fn range(
        &self,
        repo: &str,
        previous: Option<&str>,
        current: &str,
        last_n: usize,
    ) -> Result<Option<Vec<String>>, String> {
        self.calls.lock().expect("calls").push((repo.into(), previous.map(str::to_string), current.into(), last_n));
        self.answer.clone()
    }
}

fn stores() -> Stores {
    EmbeddedStore::in_memory().expect("in-memory store").stores()
}

fn now() -> inquest_domain::Timestamp {
    chrono::Utc::now()
}

async fn delivery(stores: &Stores, repos: Arc<dyn Repositories>, feed: Feed, notice: Notice) -> Delivery {
    match deliver(stores, repos, feed, notice, now()).await.expect("delivers") {
        Parsed::Delivery(d) => *d,
        Parsed::Ignored { reason, detail } => panic!("ignored: {reason}: {detail}"),
    }
}

fn generic_notice(body: Value) -> Notice {
    generic::parse(body.to_string().as_bytes()).expect("parses")
}

const A: &str = "1111111111111111111111111111111111111111";
const B: &str = "2222222222222222222222222222222222222222";

#[tokio::test]
async fn a_batch_creates_its_service_and_the_later_deployment_ranges_from_the_earlier() {
    let s = stores();
    let fake = Fake::new(Ok(Some(vec!["c2".into(), "c1".into()])));
    let body = json!([
        {"service": "prod/shop/checkout", "started_at": "2026-03-01T11:00:00Z", "deploy_type": "helm",
         "revision": B, "repo": "acme/shop", "event_id": "second"},
        {"service": "prod/shop/checkout", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "helm",
         "revision": A, "repo": "acme/shop", "event_id": "first"},
    ]);
    let d = delivery(&s, fake.clone(), Feed::Deployments, generic_notice(body)).await;
    let b = &d.records.batch;
    assert_eq!(b.services.len(), 1);
    assert_eq!(b.services[0].service_id, ServiceId::of_key("prod/shop/checkout"));
    assert_eq!((b.services[0].cluster_id.as_str(), b.services[0].namespace.as_str()), ("prod", "shop"));
    assert_eq!(b.deployments[0].deployment_event_id, DeploymentId::derived(&["deployment", "deployments", "first"]));
    assert_eq!(b.deployments[0].metadata["feed"], "deployments");
    // The first has no known previous revision: the last commits up to it.
    assert_eq!(fake.calls()[0], ("acme/shop".into(), None, A.into(), super::LAST_N));
    assert_eq!(fake.calls()[1], ("acme/shop".into(), Some(A.into()), B.into(), super::LAST_N));
    let second = &b.commit_ranges[1];
    assert_eq!(second.previous_revision.as_deref(), Some(A));
    assert_eq!(second.commit_shas, vec!["c2", "c1"]);
    assert!(!second.is_rollback);
    assert_eq!(b.deployments[1].metadata["commit_range"]["previous_from"], "previous_deployment");
    assert_eq!(b.deployments[1].metadata["commit_range"]["commits_from"], "clone");

    let applied = apply(&s, &d).await.expect("applies");
    assert_eq!(applied.outcome, DeliveryOutcome::Stored);
    assert_eq!(applied.rows, 5);
    // Sent again: the same delivery id, nothing written.
    let again = delivery(
        &s,
        fake.clone(),
        Feed::Deployments,
        generic_notice(json!([
            {"service": "prod/shop/checkout", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "helm",
             "revision": A, "repo": "acme/shop", "event_id": "first"},
            {"service": "prod/shop/checkout", "started_at": "2026-03-01T11:00:00Z", "deploy_type": "helm",
             "revision": B, "repo": "acme/shop", "event_id": "second"},
        ])),
    )
    .await;
    assert_eq!(again.records.delivery_id, d.records.delivery_id);
    assert!(again.records.batch.services.is_empty(), "the service is known now");
    assert_eq!(apply(&s, &again).await.expect("applies").outcome, DeliveryOutcome::Duplicate);
    let range = s.records.commit_range(second.deployment_event_id).await.expect("range").expect("stored");
    assert_eq!(range.commit_shas, vec!["c2", "c1"]);
}

#[tokio::test]
async fn going_back_to_an_earlier_revision_is_a_rollback_whose_commits_are_the_undone_ones() {
    let s = stores();
    let none: Arc<dyn Repositories> = Arc::new(NoRepositories);
    for (at, rev, id) in [("10:00", A, "d1"), ("11:00", B, "d2")] {
        let body = json!({"service": "cart", "started_at": format!("2026-03-01T{at}:00Z"), "deploy_type": "k8s",
                          "revision": rev, "event_id": id});
        let d = delivery(&s, none.clone(), Feed::Deployments, generic_notice(body)).await;
        apply(&s, &d).await.expect("applies");
    }
    let fake = Fake::new(Ok(Some(vec!["undone".into()])));
    let body = json!({"service": "cart", "started_at": "2026-03-01T12:00:00Z", "deploy_type": "k8s",
                      "revision": A, "repo": "acme/cart", "event_id": "d3"});
    let d = delivery(&s, fake.clone(), Feed::Deployments, generic_notice(body)).await;
    let r = &d.records.batch.commit_ranges[0];
    assert!(r.is_rollback);
    assert_eq!(r.previous_revision.as_deref(), Some(B));
    assert_eq!(fake.calls(), vec![("acme/cart".into(), Some(A.into()), B.into(), super::LAST_N)]);
    assert_eq!(r.commit_shas, vec!["undone"]);
    // Deploying the running revision again is a redeploy, not a rollback.
    let body = json!({"service": "cart", "started_at": "2026-03-01T11:30:00Z", "deploy_type": "k8s",
                      "revision": B, "event_id": "d2b"});
    let d = delivery(&s, Arc::new(NoRepositories), Feed::Deployments, generic_notice(body)).await;
    assert!(!d.records.batch.commit_ranges[0].is_rollback);
}

#[tokio::test]
async fn without_a_clone_the_range_is_the_revision_when_it_is_a_sha() {
    let s = stores();
    let none: Arc<dyn Repositories> = Arc::new(NoRepositories);
    let body = json!([
        {"service": "a", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "k8s", "revision": "9fceb02", "repo": "acme/a"},
        {"service": "b", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "helm", "revision": "6.5.0"},
        {"service": "c", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "manual"},
    ]);
    let d = delivery(&s, none, Feed::Deployments, generic_notice(body)).await;
    let b = &d.records.batch;
    assert_eq!(b.deployments.len(), 3);
    assert_eq!(b.commit_ranges.len(), 2, "a deployment without a revision has no range");
    let of = |rev: &str| b.commit_ranges.iter().find(|r| r.current_revision == rev).expect("range");
    assert_eq!(of("9fceb02").commit_shas, vec!["9fceb02"]);
    assert!(of("6.5.0").commit_shas.is_empty());
    let a = b.deployments.iter().find(|d| d.revision.as_deref() == Some("9fceb02")).expect("a");
    assert_eq!(a.metadata["commit_range"]["clone"], "none configured");
    assert_eq!(a.metadata["commit_range"]["commits_from"], "revision");
}

#[tokio::test]
async fn a_clone_that_cannot_answer_falls_back_and_says_why() {
    let s = stores();
    let fake = Fake::new(Err("unknown revision 9fceb02".into()));
    let body = json!({"service": "a", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "k8s",
                      "revision": "9fceb02", "previous_revision": "1a2b3c4", "repo": "acme/a"});
    let d = delivery(&s, fake, Feed::Deployments, generic_notice(body)).await;
    let r = &d.records.batch.commit_ranges[0];
    assert_eq!(r.commit_shas, vec!["9fceb02"]);
    assert_eq!(r.previous_revision.as_deref(), Some("1a2b3c4"));
    let note = &d.records.batch.deployments[0].metadata["commit_range"];
    assert_eq!(note["previous_from"], "sender");
    assert!(note["clone"].as_str().expect("clone").contains("unknown revision"), "{note}");
}

#[tokio::test]
async fn flux_records_a_kustomization_once_per_revision() {
    let s = stores();
    let event = |revision: &str, at: &str| {
        json!({
            "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                               "name": "checkout", "namespace": "flux-system", "uid": "u1"},
            "metadata": {"revision": format!("main@sha1:{revision}")},
            "severity": "info", "reason": "ReconciliationSucceeded",
            "message": "Reconciliation finished in 1s, next run in 10m0s",
            "reportingController": "kustomize-controller", "timestamp": at
        })
        .to_string()
    };
    let first = flux::parse(event(A, "2026-03-01T10:00:00Z").as_bytes()).expect("parses");
    let d = delivery(&s, Arc::new(NoRepositories), Feed::Flux, first).await;
    assert_eq!(d.records.state, vec![("kustomization/flux-system/checkout".to_string(), Some(json!(A)))]);
    apply(&s, &d).await.expect("applies");
    // The next reconciliation of the same revision is no deployment.
    let again = flux::parse(event(A, "2026-03-01T10:10:00Z").as_bytes()).expect("parses");
    let parsed = deliver(&s, Arc::new(NoRepositories), Feed::Flux, again, now()).await.expect("delivers");
    assert!(matches!(parsed, Parsed::Ignored { reason: "unchanged_revision", .. }), "{parsed:?}");
    let next = flux::parse(event(B, "2026-03-01T10:20:00Z").as_bytes()).expect("parses");
    let d = delivery(&s, Arc::new(NoRepositories), Feed::Flux, next).await;
    assert_eq!(d.records.batch.commit_ranges[0].previous_revision.as_deref(), Some(A));
    assert_eq!(apply(&s, &d).await.expect("applies").outcome, DeliveryOutcome::Stored);
}

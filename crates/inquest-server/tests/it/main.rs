//! Tests of the whole app through its `Router` (no socket): on an embedded store
//! holding fixture incidents that were investigated, and on an embedded intake.

mod access;
mod api;
mod changes;
mod channels;
mod errors;
mod feedback;
mod feeds;
mod git_push;
mod intake;
mod kubernetes;
mod oidc;
mod oncall;
mod openapi;
mod remote_write;
mod runbooks;
mod slos;
mod tickets;
mod topology;
mod traces;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;
use http_body_util::BodyExt;
use inquest_core::{InvestigationConfig, investigate_and_save};
use inquest_domain::IncidentId;
use inquest_fixtures::{FixtureCase, load_case};
use inquest_intake::{IngestStore, Policy};
use inquest_intake_service::{Ingest, Metrics};
use inquest_ports::Stores;
use inquest_report::TemplateReport;
use inquest_server::{Access, AppState};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedIntakeStore, EmbeddedStore};
use inquest_telemetry::{ObservedIntake, StoreMetrics, Timeouts, observe};
use serde_json::Value;
use tower::ServiceExt;

pub const CASES: [&str; 3] =
    ["release-checkout-payment-timeout", "config-checkout-pool-size", "traffic-catalog-flash-sale"];

pub struct TestApp {
    pub router: Router,
    pub cases: Vec<FixtureCase>,
}

impl TestApp {
    pub fn incident(&self, case: &str) -> IncidentId {
        self.cases.iter().find(|c| c.id == case).map(|c| c.incident_id).expect("case loaded")
    }
}

pub async fn test_app() -> TestApp {
    let store = EmbeddedStore::in_memory().expect("in-memory store");
    let stores = store.stores();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut cases = Vec::new();
    for id in CASES {
        let case = FixtureCase::read(&root.join(id)).expect("fixture case");
        load_case(&stores, &case).await.expect("load");
        investigate_and_save(&stores, &TemplateReport, case.incident_id, &InvestigationConfig::default(), Utc::now())
            .await
            .expect("investigate");
        cases.push(case);
    }
    let (ingest, stores) = intake_on(stores, Arc::new(EmbeddedIntakeStore::in_memory().expect("ingest store")));
    TestApp { router: intake_app(&ingest, &stores), cases }
}

/// An intake on `store` writing incidents to the records store of `stores`, built as
/// `inquest serve` builds it: every store behind its wrapper, counted on the intake's
/// registry (so `/metrics` shows every store call). The app must be given the
/// wrapped stores returned.
pub fn intake_on(stores: Stores, store: Arc<dyn IngestStore>) -> (Arc<Ingest>, Stores) {
    observed(stores, store, Policy::default_policy())
}

/// An intake on in-memory stores, with the records stores it writes to.
pub fn in_memory(policy: Policy) -> (Arc<Ingest>, Stores) {
    let records = EmbeddedStore::in_memory().expect("records store").stores();
    observed(records, Arc::new(EmbeddedIntakeStore::in_memory().expect("ingest store")), policy)
}

fn observed(stores: Stores, store: Arc<dyn IngestStore>, policy: Policy) -> (Arc<Ingest>, Stores) {
    let metrics = Metrics::new();
    let store_metrics = StoreMetrics::new(metrics.registry()).expect("store metrics on the intake's registry");
    let timeouts = Timeouts::default();
    let stores = observe(stores, &store_metrics, timeouts);
    let store = Arc::new(ObservedIntake::new(store, &store_metrics, timeouts.intake));
    (Arc::new(Ingest::with_metrics(store, stores.records.clone(), policy, Arc::new(metrics))), stores)
}

/// The whole app on `stores` and the intake `ingest`, open as on a loopback demo
/// (every request acts as the local owner of the default project).
pub fn intake_app(ingest: &Arc<Ingest>, stores: &Stores) -> Router {
    let access_store = Arc::new(EmbeddedAccessStore::in_memory().expect("access store"));
    // A registry of its own: several apps may share one intake in a test.
    let access = Access::open(access_store, &prometheus::Registry::new()).expect("access metrics");
    inquest_server::app(AppState::new(stores.clone(), Arc::new(TemplateReport), ingest.clone(), Arc::new(access)))
}

pub async fn call(router: &Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let (status, bytes, _) = raw(router, method, uri, body).await;
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{uri} did not answer JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, json)
}

pub async fn raw(router: &Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Vec<u8>, String) {
    let mut req = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let res = router.clone().oneshot(req.body(body).expect("request")).await.expect("response");
    let status = res.status();
    let ctype = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let bytes = res.into_body().collect().await.expect("body").to_bytes().to_vec();
    (status, bytes, ctype)
}

/// The one error format: `{"error": {"status", "code", "message", "field"?}}`.
pub fn error_message(v: &Value, status: StatusCode) -> String {
    assert_eq!(v["error"]["status"].as_u64(), Some(u64::from(status.as_u16())), "{v}");
    assert!(v["error"]["code"].is_string(), "{v}");
    v["error"]["message"].as_str().expect("message").to_string()
}

//! The deployment feeds through the whole router, as `inquest serve` builds it with
//! credentials required: the generic JSON (bearer integration), GitHub (signed as
//! GitHub signs), Argo CD (the template's rendering), Flux (`generic-hmac`'s
//! `X-Signature`); stored, duplicate, 400 naming the field, 401 with nothing stored,
//! ignored events counted on `/metrics`, 413; and the generic route on PostgreSQL.

use std::sync::Arc;

use axum::Router;
use chrono::{TimeZone, Utc};
use inquest_access::{hmac, token};
use inquest_contract::postgres::{FreshDb, server_url};
use inquest_domain::{
    DeployType, DeploymentEvent, Integration, IntegrationId, ProjectId, ServiceId, WebhookAuth, service_key_of,
};
use inquest_ports::{AccessStore, Stores};
use inquest_report::TemplateReport;
use inquest_server::{Access, AppState};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedIntakeStore, EmbeddedStore};
use inquest_store_postgres::{PoolSettings, PostgresStore};
use serde_json::{Value, json};

use crate::access::{Answer, send};
use crate::intake_on;

const HMAC_SECRET: &str = "hmac-secret-of-the-feeds-0123456789";
const BEARER_SECRET: &str = "whk_bearer-secret-of-the-feeds-0123456789";

struct FeedsApp {
    router: Router,
    stores: Stores,
    signed: IntegrationId,
    bearer: String,
}

fn integration(keyring: &inquest_access::seal::Keyring, kind: &str, auth: WebhookAuth, secret: &str) -> Integration {
    Integration {
        integration_id: IntegrationId::new_random(),
        project_id: ProjectId::default_project(),
        kind: kind.into(),
        name: format!("{kind} {auth:?}"),
        webhook_auth: auth,
        settings: json!({}),
        secret_sealed: keyring.seal(secret),
        secret_hash: token::hash(secret),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

async fn app_on(base: Stores) -> FeedsApp {
    let (ingest, _observed) = intake_on(base.clone(), Arc::new(EmbeddedIntakeStore::in_memory().expect("intake")));
    // The stores themselves: the telemetry wrappers do not delegate the feed port methods yet.
    let stores = base;
    let access_store: Arc<dyn AccessStore> = Arc::new(EmbeddedAccessStore::in_memory().expect("access store"));
    let access = Access::required(access_store.clone(), ingest.metrics.registry()).expect("access metrics");
    let signed = integration(&access.keyring, "github", WebhookAuth::Hmac, HMAC_SECRET);
    access_store.put_integration(&signed).await.expect("integration");
    let bearer = integration(&access.keyring, "deployments", WebhookAuth::Bearer, BEARER_SECRET);
    access_store.put_integration(&bearer).await.expect("integration");
    let state = AppState::new(stores.clone(), Arc::new(TemplateReport), ingest, Arc::new(access));
    FeedsApp {
        router: inquest_server::app(state),
        stores,
        signed: signed.integration_id,
        bearer: format!("Bearer {BEARER_SECRET}"),
    }
}

async fn app() -> FeedsApp {
    app_on(EmbeddedStore::in_memory().expect("store").stores()).await
}

impl FeedsApp {
    async fn post(&self, uri: &str, body: &str) -> Answer {
        send(&self.router, "post", uri, &[("authorization", &self.bearer)], Some(body)).await
    }

    async fn post_signed(&self, uri: &str, headers: &[(&str, &str)], body: &str, secret: &str) -> Answer {
        let signature = hmac::sign_sha256(secret.as_bytes(), body.as_bytes());
        let uri = format!("{uri}?integration={}", self.signed);
        let mut all = vec![("x-hub-signature-256", signature.as_str())];
        all.extend_from_slice(headers);
        send(&self.router, "post", &uri, &all, Some(body)).await
    }

    async fn deployments(&self, service: &str) -> Vec<DeploymentEvent> {
        let (from, to) = (Utc.timestamp_opt(0, 0).single().expect("epoch"), Utc::now() + chrono::Duration::days(1));
        let id = ServiceId::of_key(&service_key_of(service));
        self.stores.records.deployments_between(&[id], from, to).await.expect("deployments")
    }

    async fn metrics(&self) -> String {
        send(&self.router, "get", "/metrics", &[], None).await.text
    }
}

fn assert_metric(metrics: &str, line: &str) {
    assert!(metrics.lines().any(|l| l == line), "no `{line}` in /metrics:\n{}", grep(metrics, "inquest_feed"));
}

fn grep(text: &str, word: &str) -> String {
    text.lines().filter(|l| l.contains(word)).collect::<Vec<_>>().join("\n")
}

fn generic_batch() -> Value {
    json!([
        {"service": "prod/shop/checkout", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "helm",
         "revision": "1111111111111111111111111111111111111111", "event_id": "ci-1"},
        {"service": "prod/shop/checkout", "started_at": "2026-03-01T11:00:00Z", "finished_at": "2026-03-01T11:03:00Z",
         "deploy_type": "helm", "revision": "2222222222222222222222222222222222222222", "image_ref": "ghcr.io/acme/checkout:2",
         "metadata": {"pipeline": "https://ci.example.com/runs/2"}, "event_id": "ci-2"}
    ])
}

#[tokio::test]
async fn generic_deployments_are_stored_once_and_a_bad_batch_stores_nothing() {
    let a = app().await;
    let r = a.post("/api/feeds/deployments", &generic_batch().to_string()).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["outcome"], "stored");
    // A service row, two deployments, two ranges.
    assert_eq!(r.body["rows"], 5);
    let stored = a.deployments("prod/shop/checkout").await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].deploy_type, DeployType::Helm);
    assert_eq!(stored[1].metadata["feed"], "deployments");
    assert_eq!(stored[1].metadata["pipeline"], "https://ci.example.com/runs/2");
    let range = a.stores.records.commit_range(stored[1].deployment_event_id).await.expect("range").expect("stored");
    assert_eq!(range.previous_revision.as_deref(), Some("1111111111111111111111111111111111111111"));
    assert_eq!(range.commit_shas, vec!["2222222222222222222222222222222222222222"]);

    let again = a.post("/api/feeds/deployments", &generic_batch().to_string()).await;
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.body["outcome"], "duplicate");
    assert_eq!(again.body["rows"], 0);

    let mut bad = generic_batch();
    bad[0]["event_id"] = json!("ci-3");
    bad[1]["event_id"] = json!("ci-4");
    bad[1]["started_at"] = json!("yesterday");
    let r = a.post("/api/feeds/deployments", &bad.to_string()).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "[1].started_at");
    assert_eq!(a.deployments("prod/shop/checkout").await.len(), 2, "the valid half of the batch was not stored");

    let m = a.metrics().await;
    assert_metric(&m, r#"inquest_feed_events_total{feed="deployments",outcome="stored"} 1"#);
    assert_metric(&m, r#"inquest_feed_events_total{feed="deployments",outcome="duplicate"} 1"#);
    assert_metric(&m, r#"inquest_feed_rejected_total{feed="deployments",reason="invalid"} 1"#);
}

#[tokio::test]
async fn a_deployment_without_a_credential_is_refused() {
    let a = app().await;
    let body = generic_batch().to_string();
    let r = send(&a.router, "post", "/api/feeds/deployments", &[], Some(&body)).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(a.deployments("prod/shop/checkout").await.is_empty());
}

const GITHUB_EXAMPLE: &str = include_str!("../../../inquest-feeds/tests/data/github_deployment_status.json");

#[tokio::test]
async fn github_deployment_status_signed_as_github_signs_it() {
    let a = app().await;
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let headers = [("x-github-event", "deployment_status"), ("x-github-delivery", delivery)];
    // A wrong signature is refused before anything is read: nothing stored.
    let r = a.post_signed("/api/feeds/github", &headers, GITHUB_EXAMPLE, "not the secret").await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(a.deployments("Hello-World").await.is_empty());

    let r = a.post_signed("/api/feeds/github", &headers, GITHUB_EXAMPLE, HMAC_SECRET).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["outcome"], "stored");
    assert_eq!(r.body["delivery_id"], delivery);
    let stored = a.deployments("Hello-World").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].revision.as_deref(), Some("f95f852bd8fca8fcc58a9a2d6c842781e32a215e"));
    assert_eq!(stored[0].metadata["state"], "success");
    assert_eq!(stored[0].metadata["repository"], "Codertocat/Hello-World");

    // GitHub keeps the delivery id on a redelivery.
    let r = a.post_signed("/api/feeds/github", &headers, GITHUB_EXAMPLE, HMAC_SECRET).await;
    assert_eq!(r.body["outcome"], "duplicate", "{}", r.text);

    let ping = json!({"zen": "Keep it logically awesome.", "hook_id": 1}).to_string();
    let r = a.post_signed("/api/feeds/github", &[("x-github-event", "ping")], &ping, HMAC_SECRET).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["outcome"], "ignored");
    let r = a.post_signed("/api/feeds/github", &[("x-github-event", "issues")], &ping, HMAC_SECRET).await;
    assert_eq!(r.body["outcome"], "ignored", "{}", r.text);

    let mut broken: Value = serde_json::from_str(GITHUB_EXAMPLE).expect("example");
    broken["deployment"]["created_at"] = json!("soon");
    let headers = [("x-github-event", "deployment_status"), ("x-github-delivery", "other")];
    let r = a.post_signed("/api/feeds/github", &headers, &broken.to_string(), HMAC_SECRET).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "deployment.created_at");

    let m = a.metrics().await;
    assert_metric(&m, r#"inquest_feed_ignored_total{feed="github",reason="ping"} 1"#);
    assert_metric(&m, r#"inquest_feed_ignored_total{feed="github",reason="unhandled_event"} 1"#);
    assert_metric(&m, r#"inquest_feed_events_total{feed="github",outcome="duplicate"} 1"#);
    assert_metric(&m, r#"inquest_webhook_auth_failures_total{reason="bad_signature"} 1"#);
}

const ARGOCD_RENDERED: &str = include_str!("../../../inquest-feeds/tests/data/argocd_app_deployed.json");

#[tokio::test]
async fn argocd_notifications_record_the_deployment_of_the_app() {
    let a = app().await;
    let r = a.post("/api/feeds/argocd", ARGOCD_RENDERED).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["outcome"], "stored");
    let stored = a.deployments("checkout").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].deploy_type, DeployType::Argo);
    assert_eq!(stored[0].image_ref.as_deref(), Some("ghcr.io/acme/checkout:1.4.2"));
    let range = a.stores.records.commit_range(stored[0].deployment_event_id).await.expect("range").expect("stored");
    assert_eq!(range.previous_revision.as_deref(), Some("1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"));
    // Argo CD retries a notification it thinks failed: the same deployment, recorded once.
    let r = a.post("/api/feeds/argocd", ARGOCD_RENDERED).await;
    assert_eq!(r.body["outcome"], "duplicate", "{}", r.text);
    let mut running: Value = serde_json::from_str(ARGOCD_RENDERED).expect("rendered");
    running["phase"] = json!("Running");
    let r = a.post("/api/feeds/argocd", &running.to_string()).await;
    assert_eq!(r.body["outcome"], "ignored", "{}", r.text);
    assert_metric(&a.metrics().await, r#"inquest_feed_ignored_total{feed="argocd",reason="in_progress"} 1"#);
}

const FLUX_EVENT: &str = include_str!("../../../inquest-feeds/tests/data/flux_kustomization_event.json");

#[tokio::test]
async fn flux_generic_hmac_events_record_new_revisions_only() {
    let a = app().await;
    let uri = format!("/api/feeds/flux?integration={}", a.signed);
    let post = |body: String, secret: &'static str| {
        let signature = hmac::sign_sha256(secret.as_bytes(), body.as_bytes());
        let (router, uri) = (a.router.clone(), uri.clone());
        async move {
            let headers = [("x-signature", signature.as_str()), ("gotk-component", "kustomize-controller")];
            send(&router, "post", &uri, &headers, Some(&body)).await
        }
    };
    let r = post(FLUX_EVENT.to_string(), "not the secret").await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = post(FLUX_EVENT.to_string(), HMAC_SECRET).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["outcome"], "stored");
    // The next reconciliation of the same revision is no deployment.
    let mut next: Value = serde_json::from_str(FLUX_EVENT).expect("event");
    next["timestamp"] = json!("2026-03-01T10:11:41Z");
    let r = post(next.to_string(), HMAC_SECRET).await;
    assert_eq!(r.body["outcome"], "ignored", "{}", r.text);
    let mut progress: Value = serde_json::from_str(FLUX_EVENT).expect("event");
    progress["reason"] = json!("Progressing");
    let r = post(progress.to_string(), HMAC_SECRET).await;
    assert_eq!(r.body["outcome"], "ignored", "{}", r.text);
    let stored = a.deployments("checkout").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].deploy_type, DeployType::Flux);
    let m = a.metrics().await;
    assert_metric(&m, r#"inquest_feed_ignored_total{feed="flux",reason="unchanged_revision"} 1"#);
    assert_metric(&m, r#"inquest_feed_ignored_total{feed="flux",reason="progress"} 1"#);
}

#[tokio::test]
async fn a_body_over_two_mebibytes_is_413_on_both_credentials() {
    let a = app().await;
    let big = format!(r#"{{"service": "a", "padding": "{}"}}"#, "x".repeat(2 * 1024 * 1024 + 1));
    let r = a.post("/api/feeds/deployments", &big).await;
    assert_eq!(r.status, 413, "{}", &r.text[..r.text.len().min(300)]);
    let r = a.post_signed("/api/feeds/github", &[("x-github-event", "deployment_status")], &big, HMAC_SECRET).await;
    assert_eq!(r.status, 413, "{}", &r.text[..r.text.len().min(300)]);
    assert_metric(&a.metrics().await, r#"inquest_feed_rejected_total{feed="deployments",reason="too_large"} 1"#);
}

#[tokio::test]
async fn generic_deployments_on_postgres() {
    let Some(url) = server_url("generic_deployments_on_postgres") else { return };
    let db = FreshDb::create(&url).await;
    let pg = PostgresStore::connect(&db.url, &PoolSettings::default()).expect("pool");
    pg.migrate().await.expect("migrate");
    let mut base = EmbeddedStore::in_memory().expect("store").stores();
    base.records = Arc::new(pg);
    let a = app_on(base).await;
    let r = a.post("/api/feeds/deployments", &generic_batch().to_string()).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["outcome"], "stored");
    assert_eq!(a.post("/api/feeds/deployments", &generic_batch().to_string()).await.body["outcome"], "duplicate");
    let mut bad = generic_batch();
    bad[0]["event_id"] = json!("ci-3");
    bad[1]["deploy_type"] = json!("ftp");
    let r = a.post("/api/feeds/deployments", &bad.to_string()).await;
    assert_eq!(r.body["error"]["field"], "[1].deploy_type", "{}", r.text);
    let stored = a.deployments("prod/shop/checkout").await;
    assert_eq!(stored.len(), 2);
    let range = a.stores.records.commit_range(stored[1].deployment_event_id).await.expect("range").expect("stored");
    assert_eq!(range.previous_revision.as_deref(), Some("1111111111111111111111111111111111111111"));
}

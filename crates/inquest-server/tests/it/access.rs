//! Who may do what, through the whole router: every route of the OpenAPI document
//! tried with no credential, with each role of project A and with project B's owner
//! on A's resources; sessions with CSRF, sign-in limits, webhook credentials and
//! signatures, and the audit log afterwards.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;
use http_body_util::BodyExt;
use inquest_access::{hmac, password, token};
use inquest_core::{InvestigationConfig, investigate_and_save};
use inquest_domain::*;
use inquest_fixtures::{FixtureCase, load_case};
use inquest_ports::AccessStore;
use inquest_report::TemplateReport;
use inquest_server::{Access, AppState};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedIntakeStore, EmbeddedStore};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::intake_on;

/// What a route needs: nothing (probes, sign-in), any identity, or a permission.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Needs {
    Public,
    Identity,
    Grant(Permission),
}

use Needs::*;
use Permission::*;

/// The expected access of every documented route; the test fails when the document
/// has a route this table does not, so a new route cannot skip the matrix.
const ROUTES: &[(&str, &str, Needs)] = &[
    ("get", "/health", Public),
    ("get", "/health/ready", Public),
    ("get", "/health/intake", Public),
    ("get", "/metrics", Public),
    ("get", "/api/incidents", Grant(Read)),
    ("get", "/api/incidents/{id}", Grant(Read)),
    ("post", "/api/incidents/{id}/investigate", Grant(Respond)),
    ("get", "/api/incidents/{id}/metrics", Grant(Read)),
    ("post", "/api/incidents/{id}/feedback", Grant(Respond)),
    ("get", "/api/priors", Grant(Read)),
    ("get", "/api/ranking/weights", Grant(Read)),
    ("post", "/api/alerts", Grant(Ingest)),
    ("post", "/api/alertmanager", Grant(Ingest)),
    ("get", "/api/lifecycle", Grant(Read)),
    ("get", "/api/incidents/{id}/lifecycle", Grant(Read)),
    ("post", "/api/incidents/{id}/transition", Grant(Respond)),
    ("post", "/api/incidents/{id}/notes", Grant(Respond)),
    ("get", "/api/jobs", Grant(Read)),
    ("get", "/api/auth/me", Identity),
    ("post", "/api/auth/login", Public),
    ("post", "/api/auth/logout", Identity),
    ("post", "/api/auth/project", Identity),
    ("post", "/api/projects", Grant(ManageProject)),
    ("get", "/api/members", Grant(Read)),
    ("put", "/api/members/{login}", Grant(ManageProject)),
    ("delete", "/api/members/{login}", Grant(ManageProject)),
    ("get", "/api/tokens", Grant(ManageIntegrations)),
    ("post", "/api/tokens", Grant(ManageIntegrations)),
    ("delete", "/api/tokens/{id}", Grant(ManageIntegrations)),
    ("get", "/api/integrations", Grant(ManageIntegrations)),
    ("post", "/api/integrations", Grant(ManageIntegrations)),
    ("get", "/api/integrations/{id}", Grant(ManageIntegrations)),
    ("delete", "/api/integrations/{id}", Grant(ManageIntegrations)),
    ("post", "/api/integrations/{id}/test", Grant(ManageIntegrations)),
    ("get", "/api/audit", Grant(Read)),
    ("post", "/api/feeds/kubernetes/audit", Grant(Ingest)),
    ("post", "/api/feeds/kubernetes/audit/{cluster}", Grant(Ingest)),
    ("post", "/api/feeds/schema-changes", Grant(Ingest)),
    ("post", "/api/feeds/deployments", Grant(Ingest)),
    ("post", "/api/feeds/argocd", Grant(Ingest)),
    ("post", "/api/feeds/flux", Grant(Ingest)),
    ("post", "/api/feeds/github", Grant(Ingest)),
    ("put", "/api/topology/sources/{source}", Grant(Ingest)),
    ("get", "/api/topology", Grant(Read)),
    ("get", "/api/changes", Grant(Read)),
    ("get", "/api/incidents/{id}/changes", Grant(Read)),
    ("get", "/api/runbooks", Grant(Read)),
    ("post", "/api/runbooks", Grant(Ingest)),
    ("get", "/api/runbooks/{id}", Grant(Read)),
    ("put", "/api/runbooks/{id}", Grant(Ingest)),
    ("delete", "/api/runbooks/{id}", Grant(Ingest)),
    ("get", "/api/slos", Grant(Read)),
    ("post", "/api/slos", Grant(Respond)),
    ("get", "/api/slos/{id}", Grant(Read)),
    ("put", "/api/slos/{id}", Grant(Respond)),
    ("delete", "/api/slos/{id}", Grant(Respond)),
    ("get", "/api/slos/{id}/burn", Grant(Read)),
    ("get", "/api/invariants", Grant(Read)),
    ("post", "/api/invariants", Grant(Respond)),
    ("get", "/api/invariants/{id}", Grant(Read)),
    ("put", "/api/invariants/{id}", Grant(Respond)),
    ("delete", "/api/invariants/{id}", Grant(Respond)),
    ("post", "/api/invariants/{id}/run", Grant(Respond)),
    ("post", "/v1/traces", Grant(Ingest)),
    ("post", "/api/v1/write", Grant(Ingest)),
    ("get", "/api/tickets", Grant(Read)),
    ("post", "/api/tickets", Grant(Respond)),
    ("get", "/api/tickets/{id}", Grant(Read)),
    ("patch", "/api/tickets/{id}", Grant(Respond)),
    ("get", "/api/tickets/{id}/events", Grant(Read)),
    ("post", "/api/tickets/{id}/events", Grant(Respond)),
    ("get", "/api/tickets/{id}/dependencies", Grant(Read)),
    ("post", "/api/tickets/{id}/dependencies", Grant(Respond)),
    ("delete", "/api/tickets/{id}/dependencies/{dep_id}", Grant(Respond)),
    ("post", "/api/incidents/{id}/tickets", Grant(Respond)),
    ("get", "/api/stats", Grant(Read)),
    ("get", "/api/oncall/schedules", Grant(Read)),
    ("post", "/api/oncall/schedules", Grant(Respond)),
    ("get", "/api/oncall/schedules/{id}", Grant(Read)),
    ("put", "/api/oncall/schedules/{id}", Grant(Respond)),
    ("post", "/api/oncall/schedules/{id}/overrides", Grant(Respond)),
    ("delete", "/api/oncall/schedules/{id}", Grant(Respond)),
    ("get", "/api/oncall/now", Grant(Read)),
    ("get", "/api/incidents/{id}/assignment", Grant(Read)),
    ("get", "/api/channels", Grant(Read)),
    ("post", "/api/channels", Grant(ManageIntegrations)),
    ("get", "/api/channels/{id}", Grant(Read)),
    ("put", "/api/channels/{id}", Grant(ManageIntegrations)),
    ("post", "/api/channels/{id}/test", Grant(ManageIntegrations)),
    ("get", "/api/notifications", Grant(Read)),
    ("post", "/api/notifications/{id}/retry", Grant(ManageIntegrations)),
    ("delete", "/api/channels/{id}", Grant(ManageIntegrations)),
];

const CASE_A: &str = "release-checkout-payment-timeout";
const CASE_B: &str = "config-search-memory-limit";

/// Two projects with one investigated incident each, a token per role in A, an
/// owner token in B, an integration per project, on the app `inquest serve` builds.
pub struct World {
    pub router: Router,
    pub access: Arc<dyn AccessStore>,
    pub tokens: BTreeMap<Role, String>,
    pub other_owner: String,
    pub incident_a: IncidentId,
    pub incident_b: IncidentId,
    pub integration_a: Integration,
    pub hmac_secret_a: String,
    pub hmac_integration_a: IntegrationId,
    pub bearer_secret_a: String,
    pub token_ids_a: Vec<TokenId>,
    /// Two tickets of project A.
    pub tickets_a: [uuid::Uuid; 2],
    /// An on-call schedule of project A.
    pub schedule_a: uuid::Uuid,
    /// A notification channel of project A and a delivery to it.
    pub channel_a: uuid::Uuid,
    pub delivery_a: uuid::Uuid,
}

pub fn project(id: &str) -> ProjectId {
    ProjectId::new(id).expect("project id")
}

async fn case(stores: &inquest_ports::Stores, id: &str) -> FixtureCase {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let case = FixtureCase::read(&root.join(id)).expect("fixture case");
    load_case(stores, &case).await.expect("load");
    investigate_and_save(stores, &TemplateReport, case.incident_id, &InvestigationConfig::default(), Utc::now())
        .await
        .expect("investigate");
    case
}

async fn put_token(access: &dyn AccessStore, p: &ProjectId, role: Role, name: &str) -> (String, TokenId) {
    let text = token::generate();
    let id = TokenId::new_random();
    let t = ApiToken {
        token_id: id,
        project_id: p.clone(),
        name: name.into(),
        role,
        token_hash: token::hash(&text),
        created_by: None,
        created_at: Utc::now(),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    };
    access.create_token(&t).await.expect("token");
    (text, id)
}

pub async fn put_user(access: &dyn AccessStore, login: &str, pass: &str, memberships: &[(&ProjectId, Role)]) -> UserId {
    let user = User {
        user_id: UserId::new_random(),
        login: login.into(),
        display_name: login.into(),
        password_hash: Some(password::hash(pass).expect("hash")),
        disabled: false,
        created_at: Utc::now(),
    };
    access.create_user(&user).await.expect("user");
    for (p, role) in memberships {
        let m = Member { project_id: (*p).clone(), user_id: user.user_id, role: *role, added_at: Utc::now() };
        access.put_member(&m).await.expect("member");
    }
    user.user_id
}

fn integration(p: &ProjectId, keyring: &inquest_access::seal::Keyring, auth: WebhookAuth, secret: &str) -> Integration {
    Integration {
        integration_id: IntegrationId::new_random(),
        project_id: p.clone(),
        kind: "alertmanager".into(),
        name: format!("alertmanager {auth:?}"),
        webhook_auth: auth,
        settings: json!({}),
        secret_sealed: keyring.seal(secret),
        secret_hash: token::hash(secret),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

pub async fn world() -> World {
    world_with(|_| {}).await
}

/// The world with `Access` changed by `adjust` (e.g. an OIDC verifier).
pub async fn world_with(adjust: impl FnOnce(&mut Access)) -> World {
    // A is the default project: a handler that forgot to scope would show A's rows to B.
    let (a, b) = (ProjectId::default_project(), project("bravo"));
    let store = EmbeddedStore::in_memory().expect("store");
    let base = store.stores();
    let incident_a = case(&base.for_project(&a), CASE_A).await.incident_id;
    let incident_b = case(&base.for_project(&b), CASE_B).await.incident_id;
    let (ingest, stores) = intake_on(base, Arc::new(EmbeddedIntakeStore::in_memory().expect("intake")));

    let access_store: Arc<dyn AccessStore> = Arc::new(EmbeddedAccessStore::in_memory().expect("access store"));
    for p in [&a, &b] {
        let project = Project { project_id: p.clone(), name: p.to_string(), created_at: Utc::now() };
        // The embedded store always has `default`.
        let _ = access_store.create_project(&project).await;
    }
    let mut access = Access::required(access_store.clone(), ingest.metrics.registry()).expect("access metrics");
    adjust(&mut access);
    let mut tokens = BTreeMap::new();
    let mut token_ids_a = Vec::new();
    for role in Role::ALL {
        let (text, id) = put_token(access_store.as_ref(), &a, *role, &format!("{role} token")).await;
        tokens.insert(*role, text);
        token_ids_a.push(id);
    }
    let (other_owner, _) = put_token(access_store.as_ref(), &b, Role::Owner, "owner of b").await;
    let bearer_secret_a = "whk_bearer-secret-of-alpha-0123456789".to_string();
    let integration_a = integration(&a, &access.keyring, WebhookAuth::Bearer, &bearer_secret_a);
    access_store.put_integration(&integration_a).await.expect("integration");
    let hmac_secret_a = "hmac-secret-of-alpha-0123456789".to_string();
    let signed = integration(&a, &access.keyring, WebhookAuth::Hmac, &hmac_secret_a);
    access_store.put_integration(&signed).await.expect("integration");
    let b_secret = "whk_bearer-secret-of-bravo-0123456789";
    access_store.put_integration(&integration(&b, &access.keyring, WebhookAuth::Bearer, b_secret)).await.expect("b");
    put_user(access_store.as_ref(), "dana", "dana-password-123", &[(&a, Role::Engineer)]).await;

    let mut state = AppState::new(stores, Arc::new(TemplateReport), ingest, Arc::new(access));
    let tickets = inquest_store_embedded::EmbeddedTicketStore::in_memory().expect("ticket store");
    let mut tickets_a = [uuid::Uuid::nil(); 2];
    for (i, slot) in tickets_a.iter_mut().enumerate() {
        let new = inquest_ops::tickets::NewTicket {
            objective: format!("ticket {i} of alpha"),
            success_criteria: vec![],
            context: json!({}),
            priority: inquest_ops::tickets::TicketPriority::Medium,
            source_type: inquest_ops::tickets::TicketSource::Human,
            source_id: None,
        };
        let (t, e) = new.into_ticket(&a, Utc::now()).expect("ticket");
        inquest_ops::tickets::TicketStore::create_ticket(&tickets, &t, &e).await.expect("create ticket");
        *slot = t.id;
    }
    state.tickets = Arc::new(tickets);
    let notify = inquest_store_embedded::EmbeddedNotifyStore::in_memory().expect("notify store");
    let (channel_a, delivery_a) = {
        use inquest_ops::channels::{NewChannel, NewTarget, NotifyStore};
        let a = project("default");
        let c = NewChannel {
            name: "matrix".into(),
            target: NewTarget::Webhook { url: "https://hooks.example/matrix-secret-path".into(), secret: None },
            events: vec![],
            enabled: true,
        }
        .into_channel(&a, Utc::now(), &|plain| state.access.keyring.seal(plain))
        .expect("channel");
        notify.create_channel(&c).await.expect("create channel");
        let notice = inquest_ops::notify::Notice {
            incident_id: incident_a,
            event: inquest_ops::notify::NoticeEvent::Assigned,
            at: Utc::now(),
            service: "checkout".into(),
            severity: "critical".into(),
            status: "open".into(),
            recipient: None,
            cause: None,
            link: inquest_ops::notify::Notice::link_of(incident_a),
            reason: "matrix".into(),
        };
        let d = notify.enqueue(&a, &notice, Utc::now()).await.expect("enqueue");
        (c.channel_id, d[0].delivery_id)
    };
    state.notify = Arc::new(notify);
    state.ops = Arc::new(inquest_store_embedded::EmbeddedOpsStore::in_memory().expect("ops store"));
    let oncall = inquest_store_embedded::EmbeddedOncallStore::in_memory().expect("on-call store");
    let schedule = inquest_contract::oncall::schedule(&a, "alpha on call", 0);
    inquest_ops::oncall::OncallStore::put_schedule(&oncall, &schedule).await.expect("schedule");
    state.oncall = Arc::new(oncall);
    World {
        router: inquest_server::app(state),
        access: access_store,
        tokens,
        other_owner,
        incident_a,
        incident_b,
        hmac_integration_a: signed.integration_id,
        integration_a,
        hmac_secret_a,
        bearer_secret_a,
        token_ids_a,
        tickets_a,
        schedule_a: schedule.schedule_id,
        channel_a,
        delivery_a,
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

pub async fn send(router: &Router, method: &str, uri: &str, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let mut req = Request::builder().method(method.to_uppercase().as_str()).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).expect("request");
    let res = router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), text }
}

/// A harmless body for each mutating route: valid where that is easy, never one that
/// would lock the test's own callers out.
fn body_for(method: &str, path: &str, n: usize) -> Option<String> {
    let b = match (method, path) {
        ("post", "/api/alerts") => json!({"service": "checkout", "severity": "high", "message": format!("matrix {n}")}),
        ("post", "/api/alertmanager") => {
            json!({"version": "4", "groupKey": "g", "truncatedAlerts": 0, "status": "firing",
            "receiver": "inquest", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
            "alerts": [{"status": "firing", "labels": {"alertname": "Matrix", "service": "checkout", "severity": "critical"}, "annotations": {"summary": format!("matrix {n}")}, "startsAt": "2026-11-30T10:00:00Z"}]})
        }
        ("post", "/api/feeds/kubernetes/audit" | "/api/feeds/kubernetes/audit/{cluster}") => {
            json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": []})
        }
        ("post", "/api/feeds/schema-changes") => {
            json!({"service": "checkout", "migration_id": format!("matrix-{n}"), "applied_at": "2026-11-30T10:00:00Z"})
        }
        ("post", "/api/incidents/{id}/feedback") => json!({"event_type": "human_note_added", "text": "matrix"}),
        ("post", "/api/incidents/{id}/transition") => json!({"action": "triage"}),
        ("post", "/api/incidents/{id}/notes") => json!({"author": "matrix", "text": "matrix"}),
        ("post", "/api/auth/login") => json!({"login": "dana", "password": "dana-password-123"}),
        ("post", "/api/auth/project") => json!({"project_id": "default"}),
        ("post", "/api/projects") => json!({"project_id": format!("matrix-{n}")}),
        ("put", "/api/members/{login}") => json!({"role": "viewer"}),
        ("post", "/api/tokens") => json!({"name": format!("matrix {n}"), "role": "viewer"}),
        ("post", "/api/integrations") => json!({"kind": "generic", "name": format!("matrix {n}")}),
        ("post", "/api/runbooks") => json!({"id": format!("matrix-{n}"), "title": "matrix", "body": "- a step"}),
        ("put", "/api/runbooks/{id}") => json!({"title": "matrix", "body": "- a step"}),
        ("post", "/api/tickets") => json!({"objective": format!("matrix {n}")}),
        ("post", "/api/channels") | ("put", "/api/channels/{id}") => {
            json!({"name": format!("matrix {n}"), "kind": "email", "to": ["sre@example.com"]})
        }
        ("patch", "/api/tickets/{id}") => json!({"status": "in_progress"}),
        ("post", "/api/tickets/{id}/events") => json!({"event_type": "note", "data": {"n": n}}),
        // A ticket that is nowhere: refused naming the field, or 404 from another project.
        ("post", "/api/tickets/{id}/dependencies") => json!({"depends_on_id": uuid::Uuid::new_v4()}),
        ("put", "/api/slos/{id}") => json!({"name": "matrix", "target": 0.99, "window_days": 1,
            "metric_query": {"kind": "latency", "service": "checkout", "metric": "latency_p99_ms", "threshold": 300}}),
        ("put", "/api/invariants/{id}") => json!({"name": "matrix", "condition": {"op": "<", "value": 1},
            "query": {"service": "checkout", "metric": "latency_p99_ms", "aggregation": "max", "window_minutes": 5}}),
        ("put", "/api/oncall/schedules/{id}") => json!({"name": "matrix",
            "rotation": {"members": ["ana"], "starts_at": "2026-03-02T09:00:00Z", "shift_hours": 12}}),
        ("post", "/api/oncall/schedules/{id}/overrides") => {
            json!({"person": "matrix", "from": "2026-03-02T09:00:00Z", "until": "2026-03-02T10:00:00Z"})
        }
        ("post", _) | ("put", _) => json!({}),
        _ => return None,
    };
    Some(b.to_string())
}

fn fill(path: &str, w: &World, own: bool) -> String {
    let incident = if own { w.incident_a } else { w.incident_b };
    let id = if path.starts_with("/api/integrations") {
        w.integration_a.integration_id.to_string()
    } else if path.starts_with("/api/tickets") {
        w.tickets_a[0].to_string()
    } else if path.starts_with("/api/oncall/schedules") {
        w.schedule_a.to_string()
    } else if path.starts_with("/api/channels") {
        w.channel_a.to_string()
    } else if path.starts_with("/api/notifications") {
        w.delivery_a.to_string()
    } else if path.starts_with("/api/tokens") {
        // A token no caller uses, so revoking it locks nobody out.
        TokenId::new_random().to_string()
    } else {
        incident.to_string()
    };
    path.replace("{id}", &id)
        .replace("{login}", "dana")
        .replace("{cluster}", "prod")
        .replace("{source}", "matrix")
        .replace("{dep_id}", &w.tickets_a[1].to_string())
}

/// Identifiers of project A that must never reach a caller of project B.
fn secrets_of_a(w: &World) -> Vec<String> {
    let mut v = vec![w.incident_a.to_string(), w.integration_a.integration_id.to_string(), "dana".to_string()];
    v.extend(w.token_ids_a.iter().map(TokenId::to_string));
    v.extend(w.tickets_a.iter().map(uuid::Uuid::to_string));
    v.push(w.schedule_a.to_string());
    v.extend([w.channel_a.to_string(), w.delivery_a.to_string()]);
    v
}

#[tokio::test]
async fn every_route_with_every_role_and_the_other_project_leaks_nothing() {
    let w = world().await;
    let doc = send(&w.router, "get", "/api/openapi.json", &[], None).await.body;
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    for (m, p) in &documented {
        assert!(ROUTES.iter().any(|(rm, rp, _)| rm == m && rp == p), "{m} {p} is documented but not in the matrix");
    }
    assert_eq!(documented.len(), ROUTES.len(), "the matrix names routes the document does not");

    let a_secrets = secrets_of_a(&w);
    let (mut cells, mut leaks, mut sent_by_b) = (0usize, Vec::new(), String::new());
    for (n, (method, path, needs)) in ROUTES.iter().enumerate() {
        let body = body_for(method, path, n);
        // No credential.
        let anon = send(&w.router, method, &fill(path, &w, true), &[], body.as_deref()).await;
        cells += 1;
        match needs {
            Public => assert_ne!(anon.status, StatusCode::UNAUTHORIZED, "{method} {path} anonymous: {}", anon.text),
            _ => {
                assert_eq!(anon.status, StatusCode::UNAUTHORIZED, "{method} {path} anonymous: {}", anon.text);
                assert!(anon.headers.contains_key(header::WWW_AUTHENTICATE), "{method} {path}: no WWW-Authenticate");
            }
        }
        // Each role of project A, on A's resources.
        for role in Role::ALL {
            let auth = format!("Bearer {}", w.tokens[role]);
            let r = send(&w.router, method, &fill(path, &w, true), &[("authorization", &auth)], body.as_deref()).await;
            cells += 1;
            let allowed = match needs {
                Public | Identity => true,
                Grant(p) => role.allows(*p),
            };
            assert_ne!(r.status, StatusCode::UNAUTHORIZED, "{method} {path} as {role}: {}", r.text);
            assert!(r.status.as_u16() < 500, "{method} {path} as {role}: {}", r.text);
            if allowed {
                assert_ne!(r.status, StatusCode::FORBIDDEN, "{method} {path} as {role}: {}", r.text);
            } else if let Grant(p) = needs {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path} as {role}: {}", r.text);
                assert_eq!(r.body["error"]["permission"], p.as_str(), "{method} {path}: 403 names the permission");
            }
        }
        // Project B's owner on project A's resources: as if they did not exist.
        let auth = format!("Bearer {}", w.other_owner);
        let uri = fill(path, &w, true);
        sent_by_b.push_str(&uri);
        sent_by_b.push_str(body.as_deref().unwrap_or(""));
        let r = send(&w.router, method, &uri, &[("authorization", &auth)], body.as_deref()).await;
        cells += 1;
        // A login, a cluster or a topology source is a name in the caller's own project, not A's resource.
        if path.contains('{')
            && !path.contains("{login}")
            && !path.contains("{cluster}")
            && !path.contains("{source}")
            && *needs != Public
        {
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path} from project B: {}", r.text);
        }
        // What B itself sent may come back (in an error, in B's own audit log); nothing else of A may.
        if let Some(s) = a_secrets.iter().find(|s| r.text.contains(s.as_str()) && !sent_by_b.contains(s.as_str())) {
            leaks.push(format!("{method} {path} from project B shows {s}"));
        }
    }
    assert_eq!(cells, ROUTES.len() * (2 + Role::ALL.len()));
    assert!(leaks.is_empty(), "leaks: {leaks:#?}");
}

#[tokio::test]
async fn bad_credentials_are_refused_with_a_challenge_and_write_nothing() {
    let w = world().await;
    let alert = json!({"service": "checkout", "severity": "high", "message": "refused"}).to_string();
    let (revoked, revoked_id) =
        put_token(w.access.as_ref(), &ProjectId::default_project(), Role::Owner, "revoked").await;
    w.access.revoke_token(&ProjectId::default_project(), revoked_id, Utc::now()).await.expect("revoke");
    let expired = {
        let text = token::generate();
        let t = ApiToken {
            token_id: TokenId::new_random(),
            project_id: ProjectId::default_project(),
            name: "expired".into(),
            role: Role::Owner,
            token_hash: token::hash(&text),
            created_by: None,
            created_at: Utc::now() - chrono::Duration::days(2),
            expires_at: Some(Utc::now() - chrono::Duration::days(1)),
            revoked_at: None,
            last_used_at: None,
        };
        w.access.create_token(&t).await.expect("token");
        text
    };
    for credential in [
        "Bearer inq_not-a-token",
        "Basic YWxpY2U6cHc=",
        "Bearer",
        &format!("Bearer {revoked}"),
        &format!("Bearer {expired}"),
    ] {
        let r = send(&w.router, "post", "/api/alerts", &[("authorization", credential)], Some(&alert)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{credential}: {}", r.text);
        assert!(r.headers.contains_key(header::WWW_AUTHENTICATE), "{credential}");
    }
    let owner = format!("Bearer {}", w.tokens[&Role::Owner]);
    let jobs = send(&w.router, "get", "/api/lifecycle", &[("authorization", &owner)], None).await;
    assert_eq!(jobs.body.as_array().map(Vec::len), Some(0), "a refused alert opened an incident: {}", jobs.text);
}

#[tokio::test]
async fn a_session_needs_its_csrf_token_and_switches_only_to_its_projects() {
    let w = world().await;
    let login = json!({"login": "dana", "password": "dana-password-123"}).to_string();
    let r = send(&w.router, "post", "/api/auth/login", &[], Some(&login)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let cookie = r.headers.get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).expect("cookie").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let behind_tls = send(&w.router, "post", "/api/auth/login", &[("x-forwarded-proto", "https")], Some(&login)).await;
    let tls_cookie = behind_tls.headers.get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(tls_cookie.contains("Secure"), "{tls_cookie}");
    let session = cookie.split(';').next().expect("pair").to_string();
    let csrf = r.body["csrf_token"].as_str().expect("csrf").to_string();
    assert_eq!(r.body["project"], "default");
    assert_eq!(r.body["role"], "engineer");

    let me = send(&w.router, "get", "/api/auth/me", &[("cookie", &session)], None).await;
    assert_eq!(me.status, StatusCode::OK);
    let note = json!({"author": "x", "text": "from the dashboard"}).to_string();
    let uri = format!("/api/incidents/{}/notes", w.incident_a);
    let no_csrf = send(&w.router, "post", &uri, &[("cookie", &session)], Some(&note)).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN, "{}", no_csrf.text);
    let wrong = send(&w.router, "post", &uri, &[("cookie", &session), ("x-csrf-token", "nope")], Some(&note)).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let ok = send(
        &w.router,
        "post",
        "/api/alerts",
        &[("cookie", &session), ("x-csrf-token", &csrf)],
        Some(&json!({"service": "checkout", "severity": "high", "message": "by dana"}).to_string()),
    )
    .await;
    assert_eq!(ok.status, StatusCode::ACCEPTED, "{}", ok.text);

    let switch = json!({"project_id": "bravo"}).to_string();
    let r =
        send(&w.router, "post", "/api/auth/project", &[("cookie", &session), ("x-csrf-token", &csrf)], Some(&switch))
            .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "dana is not in bravo: {}", r.text);

    let out = send(&w.router, "post", "/api/auth/logout", &[("cookie", &session), ("x-csrf-token", &csrf)], None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
    let after = send(&w.router, "get", "/api/auth/me", &[("cookie", &session)], None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_account() {
    let w = world().await;
    let wrong = json!({"login": "dana", "password": "not-it"}).to_string();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(send(&w.router, "post", "/api/auth/login", &[], Some(&wrong)).await.status);
    }
    assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    let right = json!({"login": "dana", "password": "dana-password-123"}).to_string();
    let r = send(&w.router, "post", "/api/auth/login", &[], Some(&right)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "still limited: {}", r.text);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
}

fn alertmanager(summary: &str) -> String {
    json!({"version": "4", "groupKey": "g", "truncatedAlerts": 0, "status": "firing", "receiver": "inquest",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
        "alerts": [{"status": "firing", "labels": {"alertname": "HighLatency", "service": "checkout", "severity": "critical"},
            "annotations": {"summary": summary}, "startsAt": "2026-11-30T10:00:00Z"}]})
    .to_string()
}

#[tokio::test]
async fn webhooks_authenticate_per_integration_and_a_bad_signature_stores_nothing() {
    let w = world().await;
    let owner_a = format!("Bearer {}", w.tokens[&Role::Owner]);
    let owner_b = format!("Bearer {}", w.other_owner);
    let lifecycles = |auth: String| {
        let router = w.router.clone();
        async move { send(&router, "get", "/api/lifecycle", &[("authorization", &auth)], None).await.body }
    };

    let body = alertmanager("bearer from alertmanager");
    let bearer = format!("Bearer {}", w.bearer_secret_a);
    let r = send(&w.router, "post", "/api/alertmanager", &[("authorization", &bearer)], Some(&body)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(lifecycles(owner_a.clone()).await.as_array().map(Vec::len), Some(1), "{}", r.text);
    assert_eq!(lifecycles(owner_b.clone()).await.as_array().map(Vec::len), Some(0), "landed in bravo");

    let signed = alertmanager("signed").replace("HighLatency", "SignedAlert");
    let id = w.hmac_integration_a.to_string();
    let good = hmac::sign_sha256(w.hmac_secret_a.as_bytes(), signed.as_bytes());
    let bad = hmac::sign_sha256(b"not the secret", signed.as_bytes());
    let before = lifecycles(owner_a.clone()).await;
    let r = send(
        &w.router,
        "post",
        "/api/alertmanager",
        &[("x-hub-signature-256", &bad), ("x-inquest-integration", &id)],
        Some(&signed),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let tampered = signed.replace("signed", "tampered");
    let r = send(
        &w.router,
        "post",
        "/api/alertmanager",
        &[("x-hub-signature-256", &good), ("x-inquest-integration", &id)],
        Some(&tampered),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a changed body keeps no signature: {}", r.text);
    assert_eq!(lifecycles(owner_a.clone()).await, before, "a refused webhook changed the intake");
    let r = send(
        &w.router,
        "post",
        &format!("/api/alertmanager?integration={id}"),
        &[("x-hub-signature-256", &good)],
        Some(&signed),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_ne!(lifecycles(owner_a.clone()).await, before, "the signed alert was not stored");

    // An integration may post and nothing else.
    let r = send(&w.router, "get", "/api/incidents", &[("authorization", &bearer)], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    let metrics = send(&w.router, "get", "/metrics", &[], None).await.text;
    let line = metrics.lines().find(|l| l.starts_with("inquest_webhook_auth_failures_total{reason=\"bad_signature\"}"));
    assert_eq!(line.and_then(|l| l.split_whitespace().last()), Some("2"), "{metrics}");
}

#[tokio::test]
async fn the_audit_log_holds_allowed_and_denied_actions_and_cannot_be_changed() {
    let w = world().await;
    let viewer = format!("Bearer {}", w.tokens[&Role::Viewer]);
    let engineer = format!("Bearer {}", w.tokens[&Role::Engineer]);
    let uri = format!("/api/incidents/{}/transition", w.incident_a);
    let triage = json!({"action": "triage"}).to_string();
    let denied =
        send(&w.router, "post", &uri, &[("authorization", &viewer), ("user-agent", "matrix/1")], Some(&triage)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    send(
        &w.router,
        "post",
        "/api/alerts",
        &[("authorization", &engineer)],
        Some(&json!({"service": "checkout", "severity": "high", "message": "audited"}).to_string()),
    )
    .await;
    send(&w.router, "post", "/api/alerts", &[], Some("{}")).await;

    let page = send(&w.router, "get", "/api/audit?limit=10", &[("authorization", &viewer)], None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let entries = page.body["entries"].as_array().expect("entries");
    let viewer_id = &entries.iter().find(|e| e["outcome"] == "denied").expect("the denied transition")["actor"];
    assert!(viewer_id.as_str().is_some_and(|a| a.starts_with("token:")), "{viewer_id}");
    let denial = entries.iter().find(|e| e["outcome"] == "denied").expect("denied");
    assert_eq!(denial["action"], "incident.transition");
    assert_eq!(denial["resource_id"], w.incident_a.to_string());
    assert_eq!(denial["user_agent"], "matrix/1");
    assert_eq!(denial["status"], 403);
    assert!(entries.iter().any(|e| e["action"] == "alert.create" && e["outcome"] == "allowed"), "{}", page.text);
    // The anonymous attempt has no project, so it is in no project's log.
    assert!(entries.iter().all(|e| e["actor"] != "anonymous"), "{}", page.text);

    let only_denied = send(&w.router, "get", "/api/audit?outcome=denied", &[("authorization", &viewer)], None).await;
    assert!(only_denied.body["entries"].as_array().expect("entries").iter().all(|e| e["outcome"] == "denied"));
    let one = send(&w.router, "get", "/api/audit?limit=1", &[("authorization", &viewer)], None).await;
    let next = one.body["next"].as_str().expect("a next page").to_string();
    let older =
        send(&w.router, "get", &format!("/api/audit?limit=1&before={next}"), &[("authorization", &viewer)], None).await;
    assert_ne!(older.body["entries"][0]["audit_id"], one.body["entries"][0]["audit_id"]);
    let bad = send(&w.router, "get", "/api/audit?before=yesterday", &[("authorization", &viewer)], None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["field"], "before");

    for method in ["put", "patch", "delete", "post"] {
        let r = send(
            &w.router,
            method,
            "/api/audit",
            &[("authorization", &format!("Bearer {}", w.tokens[&Role::Owner]))],
            Some("{}"),
        )
        .await;
        assert!(
            r.status == StatusCode::METHOD_NOT_ALLOWED || r.status == StatusCode::NOT_FOUND,
            "{method} /api/audit: {}",
            r.status
        );
    }
}

#[tokio::test]
async fn tokens_are_shown_once_and_never_above_the_creators_role() {
    let w = world().await;
    let admin = format!("Bearer {}", w.tokens[&Role::Admin]);
    let r = send(
        &w.router,
        "post",
        "/api/tokens",
        &[("authorization", &admin)],
        Some(&json!({"name": "ci", "role": "owner"}).to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = send(
        &w.router,
        "post",
        "/api/tokens",
        &[("authorization", &admin)],
        Some(&json!({"name": "ci", "role": "engineer", "expires_in_days": 30}).to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let text = r.body["token"].as_str().expect("token").to_string();
    let id = r.body["record"]["token_id"].as_str().expect("id").to_string();
    let list = send(&w.router, "get", "/api/tokens", &[("authorization", &admin)], None).await;
    assert!(!list.text.contains(&text) && !list.text.contains(&token::hash(&text)), "the list shows the token");
    let used = send(&w.router, "get", "/api/incidents", &[("authorization", &format!("Bearer {text}"))], None).await;
    assert_eq!(used.status, StatusCode::OK);
    let revoke = send(&w.router, "delete", &format!("/api/tokens/{id}"), &[("authorization", &admin)], None).await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.text);
    let after = send(&w.router, "get", "/api/incidents", &[("authorization", &format!("Bearer {text}"))], None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_integration_secret_is_sealed_shown_once_and_tested() {
    let w = world().await;
    let admin = format!("Bearer {}", w.tokens[&Role::Admin]);
    let bad = send(
        &w.router,
        "post",
        "/api/integrations",
        &[("authorization", &admin)],
        Some(&json!({"kind": "prometheus", "name": "p", "settings": {"api_token": "x"}}).to_string()),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["field"], "settings.api_token");
    let r = send(
        &w.router,
        "post",
        "/api/integrations",
        &[("authorization", &admin)],
        Some(&json!({"kind": "github", "name": "repo", "webhook_auth": "hmac"}).to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let secret = r.body["secret"].as_str().expect("secret").to_string();
    let id = r.body["integration"]["integration_id"].as_str().expect("id").to_string();
    let one = send(&w.router, "get", &format!("/api/integrations/{id}"), &[("authorization", &admin)], None).await;
    assert!(!one.text.contains(&secret), "the secret is shown again: {}", one.text);
    let stored = w.access.integration_by_id(id.parse().expect("uuid")).await.expect("read").expect("stored");
    assert!(!stored.secret_sealed.contains(&secret), "stored in the clear");
    let test =
        send(&w.router, "post", &format!("/api/integrations/{id}/test"), &[("authorization", &admin)], None).await;
    assert_eq!(test.status, StatusCode::OK, "{}", test.text);
    assert_eq!(test.body["ok"], true, "{}", test.text);
}

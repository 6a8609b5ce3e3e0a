//! On-call through the API and the responder: an alert opens an incident, the
//! responder assigns it to the person on call, nobody acknowledges, and after the
//! step's delay it is escalated to the step's targets (a recording notifier sees
//! Assigned then Escalated, the decisions are on the incident, a step fires once, also
//! across a restart); an acknowledged incident is not escalated; an incident no
//! schedule covers stays unassigned; a store that is down is a counted failure; and
//! schedules, overrides and who is on call through the routes, bad input naming the
//! field.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use inquest_domain::{Decision, ProjectId};
use inquest_intake::Policy;
use inquest_intake_service::Ingest;
use inquest_ops::notify::{Notice, NoticeEvent, Notifier};
use inquest_ops::oncall::OncallStore;
use inquest_ports::{AccessStore, StoreResult};
use inquest_server::oncall::{OncallMetrics, Responder};
use inquest_server::{Access, AppState};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedOncallStore};
use serde_json::{Value, json};

use crate::*;

/// Every notice it is given, in order.
#[derive(Default)]
struct Recording(Mutex<Vec<(ProjectId, Notice)>>);

#[async_trait]
impl Notifier for Recording {
    async fn notify(&self, project: &ProjectId, notice: &Notice) -> StoreResult<usize> {
        self.0.lock().expect("lock").push((project.clone(), notice.clone()));
        Ok(1)
    }
}

impl Recording {
    fn seen(&self) -> Vec<(NoticeEvent, String)> {
        let got = self.0.lock().expect("lock");
        got.iter().map(|(_, n)| (n.event, n.recipient.clone().unwrap_or_default())).collect()
    }
}

struct World {
    router: Router,
    ingest: Arc<Ingest>,
    oncall: Arc<dyn OncallStore>,
    access: Arc<dyn AccessStore>,
    notices: Arc<Recording>,
}

impl World {
    fn responder(&self) -> Responder {
        Responder::new(
            self.oncall.clone(),
            self.ingest.clone(),
            self.access.clone(),
            self.notices.clone(),
            OncallMetrics::new(&prometheus::Registry::new()).expect("counters"),
        )
    }
}

fn world() -> World {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let access: Arc<dyn AccessStore> = Arc::new(EmbeddedAccessStore::in_memory().expect("access store"));
    let oncall: Arc<dyn OncallStore> = Arc::new(EmbeddedOncallStore::in_memory().expect("on-call store"));
    let notices = Arc::new(Recording::default());
    let open = Access::open(access.clone(), &prometheus::Registry::new()).expect("access metrics");
    let mut state = AppState::new(stores, Arc::new(inquest_report::TemplateReport), ingest.clone(), Arc::new(open));
    state.oncall = oncall.clone();
    state.notifier = notices.clone();
    World { router: inquest_server::app(state), ingest, oncall, access, notices }
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

/// A schedule for checkout: ana then ben in 12 h shifts from 09:00; step 1 after 15
/// min to the next in the rotation, step 2 after 30 min to `lead`.
fn checkout_schedule() -> Value {
    json!({
        "name": "checkout on call",
        "services": ["checkout"],
        "rotation": {"members": ["ana", "ben"], "starts_at": "2026-03-02T09:00:00Z", "shift_hours": 12},
        "escalation": [
            {"after_minutes": 15, "targets": [{"kind": "next_in_rotation"}]},
            {"after_minutes": 30, "targets": [{"kind": "person", "person": "lead"}]}
        ]
    })
}

async fn create_schedule(router: &Router, body: Value) -> String {
    let (s, v) = call(router, "POST", "/api/oncall/schedules", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["schedule_id"].as_str().expect("id").to_string()
}

async fn open_incident(router: &Router, service: &str) -> String {
    let alert = json!({"service": service, "severity": "critical", "message": "error rate above 5%"});
    let (s, v) = call(router, "POST", "/api/alerts", Some(alert)).await;
    assert!(s.is_success(), "{v}");
    v["results"][0]["incident_id"].as_str().expect("incident id").to_string()
}

async fn decisions(router: &Router, id: &str) -> Vec<String> {
    let (s, v) = call(router, "GET", &format!("/api/incidents/{id}/lifecycle"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["decisions"].as_array().expect("decisions").iter().map(|d| d["decision"].as_str().unwrap_or("").into()).collect()
}

#[tokio::test]
async fn an_escalation_fires_when_nobody_acknowledges_and_only_once() {
    let w = world();
    create_schedule(&w.router, checkout_schedule()).await;
    let id = open_incident(&w.router, "checkout").await;
    let opened = t("2026-03-02T10:00:00Z");
    let r = w.responder();

    let round = r.run_once(opened).await;
    assert_eq!((round.assigned, round.escalated, round.failures), (1, 0, 0), "{round:?}");
    assert_eq!(w.notices.seen(), [(NoticeEvent::Assigned, "ana".to_string())]);
    let (s, a) = call(&w.router, "GET", &format!("/api/incidents/{id}/assignment"), None).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!((a["assigned"].as_bool(), a["assignment"]["person"].as_str()), (Some(true), Some("ana")), "{a}");
    assert_eq!(a["schedule"], "checkout on call");

    // 14 minutes: not yet.
    assert_eq!(r.run_once(opened + Duration::minutes(14)).await.escalated, 0);
    assert_eq!(w.notices.seen().len(), 1);
    // 15 minutes, nobody acknowledged: the next in the rotation (ben) is told.
    let round = r.run_once(opened + Duration::minutes(15)).await;
    assert_eq!((round.assigned, round.escalated), (0, 1), "{round:?}");
    assert_eq!(w.notices.seen()[1], (NoticeEvent::Escalated, "ben".to_string()));
    // The step fires once: again in this process, and in a new one (a restart).
    assert_eq!(r.run_once(opened + Duration::minutes(16)).await.escalated, 0);
    let restarted = w.responder();
    assert_eq!(restarted.run_once(opened + Duration::minutes(20)).await.escalated, 0);
    assert_eq!(w.notices.seen().len(), 2);
    // 30 minutes: the second step, to lead.
    assert_eq!(restarted.run_once(opened + Duration::minutes(30)).await.escalated, 1);
    assert_eq!(restarted.run_once(opened + Duration::hours(5)).await.escalated, 0, "no step left");

    assert_eq!(
        w.notices.seen(),
        [
            (NoticeEvent::Assigned, "ana".to_string()),
            (NoticeEvent::Escalated, "ben".to_string()),
            (NoticeEvent::Escalated, "lead".to_string())
        ]
    );
    let notice = w.notices.0.lock().expect("lock")[1].1.clone();
    assert_eq!((notice.service.as_str(), notice.severity.as_str()), ("checkout", "critical"));
    assert_eq!(notice.link, format!("/incidents/{id}"));
    assert!(notice.reason.contains("15 minutes"), "{}", notice.reason);

    let d = decisions(&w.router, &id).await;
    let ours: Vec<&String> =
        d.iter().filter(|x| *x == Decision::Assigned.as_str() || *x == Decision::Escalated.as_str()).collect();
    assert_eq!(ours, ["assigned", "escalated", "escalated"], "{d:?}");

    let (_, a) = call(&w.router, "GET", &format!("/api/incidents/{id}/assignment"), None).await;
    let esc = a["assignment"]["escalations"].as_array().expect("escalations");
    assert_eq!(esc.len(), 2, "{a}");
    assert_eq!((esc[0]["step"].as_u64(), esc[0]["targets"].clone()), (Some(0), json!(["ben"])));
    assert_eq!(esc[0]["at"], json!(opened + Duration::minutes(15)));
    assert_eq!(esc[1]["targets"], json!(["lead"]));
    assert!(a["assignment"]["stopped"].is_null());
}

#[tokio::test]
async fn an_incident_acknowledged_before_the_delay_is_not_escalated() {
    let w = world();
    create_schedule(&w.router, checkout_schedule()).await;
    let id = open_incident(&w.router, "checkout").await;
    let opened = t("2026-03-02T22:00:00Z");
    let r = w.responder();
    assert_eq!(r.run_once(opened).await.assigned, 1);
    assert_eq!(w.notices.seen(), [(NoticeEvent::Assigned, "ben".to_string())], "22:00 is ben's shift");

    let (s, v) =
        call(&w.router, "POST", &format!("/api/incidents/{id}/transition"), Some(json!({"action": "acknowledge"})))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let round = r.run_once(opened + Duration::minutes(20)).await;
    assert_eq!((round.escalated, round.stopped), (0, 1), "{round:?}");
    assert_eq!(r.run_once(opened + Duration::hours(2)).await.escalated, 0);
    assert_eq!(w.notices.seen().len(), 1, "nobody else was told");
    let (_, a) = call(&w.router, "GET", &format!("/api/incidents/{id}/assignment"), None).await;
    assert_eq!(a["assignment"]["stopped"]["reason"], "acknowledged", "{a}");
    assert_eq!(a["assignment"]["escalations"], json!([]));
    assert!(!decisions(&w.router, &id).await.contains(&"escalated".to_string()));
}

#[tokio::test]
async fn an_incident_no_schedule_covers_stays_unassigned_and_a_store_that_fails_is_counted() {
    let w = world();
    create_schedule(&w.router, checkout_schedule()).await;
    let id = open_incident(&w.router, "search").await;
    let r = w.responder();
    let round = r.run_once(t("2026-03-02T10:00:00Z")).await;
    assert_eq!((round.assigned, round.unassigned), (0, 1), "{round:?}");
    assert_eq!(r.run_once(t("2026-03-02T11:00:00Z")).await.unassigned, 1, "still unassigned, not an error");
    assert!(w.notices.seen().is_empty());
    let (s, a) = call(&w.router, "GET", &format!("/api/incidents/{id}/assignment"), None).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["assigned"], false);
    assert!(a["reason"].as_str().expect("reason").contains("no schedule covers the service search"), "{a}");
    let (s, _) = call(&w.router, "GET", "/api/incidents/00000000-0000-0000-0000-000000000001/assignment", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // An on-call store that is down: the round is a counted failure, nothing panics.
    let counters = OncallMetrics::new(&prometheus::Registry::new()).expect("counters");
    let down = Responder::new(
        Arc::new(inquest_ops::oncall::Unconfigured),
        w.ingest.clone(),
        w.access.clone(),
        w.notices.clone(),
        counters.clone(),
    );
    let round = down.run_once(t("2026-03-02T10:00:00Z")).await;
    assert_eq!((round.assigned, round.failures), (0, 1), "{round:?}");
    assert_eq!(counters.actions.with_label_values(&["failed"]).get(), 1);
}

#[tokio::test]
async fn schedules_overrides_and_who_is_on_call_through_the_api() {
    let w = world();
    let now = Utc::now();
    let start = now - Duration::hours(1);
    let mut body = checkout_schedule();
    body["rotation"]["starts_at"] = json!(start);
    body["rotation"]["shift_hours"] = json!(8);
    let id = create_schedule(&w.router, body.clone()).await;

    let (s, v) = call(&w.router, "GET", "/api/oncall/now?service=checkout", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["on_call"]["person"].as_str(), v["schedule"].as_str()), (Some("ana"), Some("checkout on call")));
    assert_eq!(v["on_call"]["until"], json!(start + Duration::hours(8)), "the next handoff");
    assert_eq!(v["next"]["person"], "ben");

    // dee covers the next hour.
    let cover = json!({"person": "dee", "from": now - Duration::minutes(10), "until": now + Duration::hours(1)});
    let (s, v) = call(&w.router, "POST", &format!("/api/oncall/schedules/{id}/overrides"), Some(cover)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["on_call"]["person"], "dee");
    assert_eq!(v["on_call"]["source"]["kind"], "override");
    assert_eq!(v["next"]["person"], "ana", "ana again after dee's hour");
    let (_, v) = call(&w.router, "GET", "/api/oncall/now?service=checkout", None).await;
    assert_eq!(v["on_call"]["person"], "dee");

    // A replaced definition keeps the override.
    body["name"] = json!("checkout (eu)");
    let (s, v) = call(&w.router, "PUT", &format!("/api/oncall/schedules/{id}"), Some(body.clone())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["name"].as_str(), v["overrides"].as_array().map(Vec::len)), (Some("checkout (eu)"), Some(1)));
    let (_, list) = call(&w.router, "GET", "/api/oncall/schedules", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    // A step may name another schedule of the project.
    let mut second = checkout_schedule();
    second["name"] = json!("payments");
    second["services"] = json!(["payments"]);
    second["escalation"] = json!([{"after_minutes": 5, "targets": [{"kind": "schedule", "schedule_id": id}]}]);
    create_schedule(&w.router, second).await;

    // Bad input names the field.
    let bad = |f: &dyn Fn(&mut Value)| {
        let mut b = checkout_schedule();
        f(&mut b);
        b
    };
    let unknown = uuid::Uuid::new_v4();
    for (method, uri, body, field) in [
        (
            "POST",
            "/api/oncall/schedules".to_string(),
            bad(&|b| b["rotation"]["members"] = json!([])),
            "rotation.members",
        ),
        (
            "POST",
            "/api/oncall/schedules".into(),
            bad(&|b| b["rotation"]["shift_hours"] = json!(0)),
            "rotation.shift_hours",
        ),
        (
            "POST",
            "/api/oncall/schedules".into(),
            bad(&|b| b["escalation"][1]["after_minutes"] = json!(15)),
            "escalation[1].after_minutes",
        ),
        (
            "POST",
            "/api/oncall/schedules".into(),
            bad(&|b| b["escalation"][0]["targets"] = json!([{"kind": "schedule", "schedule_id": unknown}])),
            "escalation[0].targets[0].schedule_id",
        ),
        (
            "POST",
            "/api/oncall/schedules".into(),
            bad(&|b| b["rotation"]["starts_at"] = json!("monday")),
            "rotation.starts_at",
        ),
        ("PUT", format!("/api/oncall/schedules/{id}"), bad(&|b| b["name"] = json!("")), "name"),
        (
            "POST",
            format!("/api/oncall/schedules/{id}/overrides"),
            json!({"person": "dee", "from": now, "until": now}),
            "until",
        ),
    ] {
        let (s, v) = call(&w.router, method, &uri, Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{method} {uri}: {v}");
        assert_eq!(v["error"]["field"], field, "{method} {uri}: {v}");
    }
    let (s, v) = call(&w.router, "GET", "/api/oncall/now", None).await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("service")));
    let (s, _) = call(&w.router, "GET", "/api/oncall/now?service=search", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Deleted: gone, covering nothing.
    let (s, _, _) = raw(&w.router, "DELETE", &format!("/api/oncall/schedules/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&w.router, "GET", &format!("/api/oncall/schedules/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&w.router, "GET", "/api/oncall/now?service=checkout", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = raw(&w.router, "DELETE", &format!("/api/oncall/schedules/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_server_without_an_oncall_store_answers_503() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let router = intake_app(&ingest, &stores);
    let (s, v) = call(&router, "GET", "/api/oncall/schedules", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
}

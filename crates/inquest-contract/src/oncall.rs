//! The on-call port (`OncallStore`) contract: schedules written and replaced with their
//! overrides kept, overrides added, soft deletes, assignments written once per incident
//! and rewritten as steps fire, and that a project never sees another's rows. Written
//! once, run on `EmbeddedOncallStore` and `PostgresOncallStore`. The two projects must
//! exist where the store requires it (Postgres).

use chrono::Duration;
use inquest_domain::{IncidentId, ProjectId, Timestamp};
use inquest_ops::oncall::*;
use inquest_ports::ErrorKind;
use uuid::Uuid;

fn t0() -> Timestamp {
    "2026-03-02T09:00:00Z".parse().expect("time")
}

fn mins(n: i64) -> Timestamp {
    t0() + Duration::minutes(n)
}

pub fn schedule(project: &ProjectId, name: &str, created: i64) -> Schedule {
    Schedule::new(
        project,
        ScheduleSpec {
            name: name.into(),
            team: Some("shop".into()),
            services: vec!["checkout".into(), "prod/shop/cart".into()],
            rotation: Rotation { members: vec!["ana".into(), "ben".into()], starts_at: t0(), shift_hours: 12 },
            escalation: vec![
                EscalationStep { after_minutes: 15, targets: vec![EscalationTarget::NextInRotation] },
                EscalationStep { after_minutes: 30, targets: vec![EscalationTarget::Person { person: "lead".into() }] },
            ],
        },
        mins(created),
    )
}

fn cover(person: &str, from: i64, until: i64, created: i64) -> Override {
    Override {
        override_id: Uuid::new_v4(),
        person: person.into(),
        from: mins(from),
        until: mins(until),
        created_at: mins(created),
    }
}

pub async fn oncall_contract(store: &dyn OncallStore, a: &ProjectId, b: &ProjectId) {
    store.check_connectivity().await.expect("connectivity");

    // Schedules: written, listed oldest first, read back whole.
    let first = schedule(a, "payments", 10);
    let mut second = schedule(a, "storefront", 5);
    second.team = None;
    second.escalation[1].targets.push(EscalationTarget::Schedule { schedule_id: first.schedule_id });
    store.put_schedule(&first).await.expect("put");
    store.put_schedule(&second).await.expect("put");
    let listed = store.list_schedules(a).await.expect("list");
    assert_eq!(listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["storefront", "payments"]);
    assert_eq!(store.get_schedule(a, first.schedule_id).await.expect("get"), Some(first.clone()));
    assert_eq!(listed[0], second, "targets and a missing team read back");

    // Overrides: added oldest first, and on-call time reads them.
    let dee = cover("dee", 60, 120, 20);
    let eve = cover("eve", 90, 100, 21);
    assert!(store.add_override(a, first.schedule_id, &dee).await.expect("override"));
    assert!(store.add_override(a, first.schedule_id, &eve).await.expect("override"));
    let got = store.get_schedule(a, first.schedule_id).await.expect("get").expect("there");
    assert_eq!(got.overrides, vec![dee.clone(), eve.clone()]);
    assert_eq!(on_call(&got, mins(95)).map(|o| o.person).as_deref(), Some("eve"));
    assert_eq!(on_call(&got, mins(110)).map(|o| o.person).as_deref(), Some("dee"));

    // A replaced definition keeps the overrides and the creation time.
    let mut edited = first.replaced(
        ScheduleSpec {
            name: "payments (eu)".into(),
            team: None,
            services: vec!["checkout".into()],
            rotation: Rotation { members: vec!["cy".into()], starts_at: mins(30), shift_hours: 24 },
            escalation: vec![],
        },
        mins(40),
    );
    edited.overrides.clear();
    store.put_schedule(&edited).await.expect("replace");
    let got = store.get_schedule(a, first.schedule_id).await.expect("get").expect("there");
    assert_eq!((got.name.as_str(), got.rotation.shift_hours, got.updated_at), ("payments (eu)", 24, mins(40)));
    assert_eq!(got.rotation.members, ["cy"]);
    assert!(got.escalation.is_empty() && got.team.is_none());
    assert_eq!(got.overrides.len(), 2, "the edit kept the overrides");
    assert_eq!(got.created_at, mins(10));

    // Another project sees none of them and cannot change them.
    assert!(store.list_schedules(b).await.expect("list b").is_empty());
    assert_eq!(store.get_schedule(b, first.schedule_id).await.expect("get from b"), None);
    assert!(!store.delete_schedule(b, first.schedule_id, mins(50)).await.expect("delete from b"));
    assert!(!store.add_override(b, first.schedule_id, &cover("mallory", 0, 10, 50)).await.expect("from b"));
    assert_eq!(store.get_schedule(a, first.schedule_id).await.expect("get").expect("there").overrides.len(), 2);

    // Assignments: one per incident, rewritten as steps fire and when stopped.
    let incident = IncidentId::new_random();
    let mut assigned = Assignment {
        incident_id: incident,
        project_id: a.clone(),
        schedule_id: second.schedule_id,
        person: "ana".into(),
        assigned_at: mins(61),
        escalations: vec![],
        stopped: None,
    };
    assert_eq!(store.get_assignment(a, incident).await.expect("get"), None);
    store.put_assignment(&assigned).await.expect("assign");
    assert_eq!(store.get_assignment(a, incident).await.expect("get"), Some(assigned.clone()));
    assigned.escalations.push(Escalation { step: 0, at: mins(76), targets: vec!["ben".into()] });
    assigned.stopped = Some(Stopped { reason: StopReason::Acknowledged, at: mins(80) });
    store.put_assignment(&assigned).await.expect("escalated and stopped");
    let earlier = Assignment { incident_id: IncidentId::new_random(), assigned_at: mins(1), ..assigned.clone() };
    store.put_assignment(&earlier).await.expect("another");
    assert_eq!(store.get_assignment(a, incident).await.expect("get"), Some(assigned.clone()));
    assert_eq!(store.list_assignments(a).await.expect("list"), vec![earlier, assigned.clone()]);
    assert_eq!(store.get_assignment(b, incident).await.expect("get from b"), None);
    assert!(store.list_assignments(b).await.expect("list b").is_empty());

    // Soft delete: gone from lists and reads, not twice, no overrides, not written again.
    assert!(store.delete_schedule(a, first.schedule_id, mins(50)).await.expect("delete"));
    assert!(!store.delete_schedule(a, first.schedule_id, mins(51)).await.expect("delete again"));
    assert_eq!(store.get_schedule(a, first.schedule_id).await.expect("get"), None);
    assert_eq!(store.list_schedules(a).await.expect("list").len(), 1);
    assert!(!store.add_override(a, first.schedule_id, &cover("late", 0, 10, 60)).await.expect("deleted"));
    let err = store.put_schedule(&edited).await.expect_err("a deleted schedule is not written again");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(!store.delete_schedule(a, Uuid::new_v4(), mins(50)).await.expect("unknown id"));

    // b's own schedule stays b's.
    let own = schedule(b, "b's own", 1);
    store.put_schedule(&own).await.expect("put b's");
    assert_eq!(store.list_schedules(b).await.expect("list b"), vec![own]);
    assert_eq!(store.list_schedules(a).await.expect("list a").len(), 1);
}

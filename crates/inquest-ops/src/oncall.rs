//! On-call: schedules (a rotation of people in shifts, overrides on top of it, and
//! escalation steps with their delays), who is on call at a moment (`on_call`), which
//! schedule covers a service (`schedule_for`), who an escalation step reaches
//! (`targets_of`), and an incident's assignment with the steps that fired. Every
//! refusal names the field. The storage port is `OncallStore`. No IO.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::Duration;
use inquest_domain::{IncidentId, ProjectId, Timestamp, service_key_of};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validate::FieldError;

fn refuse(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

pub const MAX_NAME: usize = 200;
pub const MAX_PERSON: usize = 200;
pub const MAX_MEMBERS: usize = 100;
pub const MAX_SERVICES: usize = 200;
pub const MAX_STEPS: usize = 20;
pub const MAX_TARGETS: usize = 20;
/// The longest shift (four weeks) and the longest delay of a step (a week).
pub const MAX_SHIFT_HOURS: u32 = 24 * 28;
pub const MAX_AFTER_MINUTES: u32 = 7 * 24 * 60;

/// People taking turns: `members[0]` from `starts_at` for `shift_hours`, then
/// `members[1]`, and round again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rotation {
    pub members: Vec<String>,
    pub starts_at: Timestamp,
    pub shift_hours: u32,
}

/// `person` is on call instead of the rotation in `[from, until)`. Where overrides
/// overlap, the one added last wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub override_id: Uuid,
    pub person: String,
    pub from: Timestamp,
    pub until: Timestamp,
    pub created_at: Timestamp,
}

/// Who an escalation step tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EscalationTarget {
    /// A named person.
    Person { person: String },
    /// Whoever is on call for another schedule of the project.
    Schedule { schedule_id: Uuid },
    /// The rotation member after the one whose shift it is.
    NextInRotation,
}

/// Told when nobody acknowledged the incident `after_minutes` after it was assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    pub after_minutes: u32,
    pub targets: Vec<EscalationTarget>,
}

/// What a person writes to create or replace a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub name: String,
    /// Covers every service of this team (a service's team is the namespace of its
    /// `cluster/namespace/name` key) that no schedule names.
    pub team: Option<String>,
    /// Services covered by name (`checkout`) or key (`prod/shop/checkout`).
    pub services: Vec<String>,
    pub rotation: Rotation,
    pub escalation: Vec<EscalationStep>,
}

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub schedule_id: Uuid,
    pub project_id: ProjectId,
    pub name: String,
    pub team: Option<String>,
    pub services: Vec<String>,
    pub rotation: Rotation,
    pub overrides: Vec<Override>,
    pub escalation: Vec<EscalationStep>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

impl Schedule {
    /// A new schedule from a checked spec.
    pub fn new(project: &ProjectId, spec: ScheduleSpec, at: Timestamp) -> Schedule {
        Schedule {
            schedule_id: Uuid::new_v4(),
            project_id: project.clone(),
            name: spec.name,
            team: spec.team,
            services: spec.services,
            rotation: spec.rotation,
            overrides: Vec::new(),
            escalation: spec.escalation,
            created_at: at,
            updated_at: at,
            deleted_at: None,
        }
    }

    /// The schedule with `spec`'s definition; its id, overrides and creation kept.
    pub fn replaced(&self, spec: ScheduleSpec, at: Timestamp) -> Schedule {
        Schedule {
            name: spec.name,
            team: spec.team,
            services: spec.services,
            rotation: spec.rotation,
            escalation: spec.escalation,
            updated_at: at,
            ..self.clone()
        }
    }
}

fn line(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(refuse(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(refuse(field, format!("longer than {max} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(refuse(field, "must not hold control characters"));
    }
    Ok(())
}

/// Checks every field of `spec`, naming the first bad one. `known` are the ids of the
/// project's schedules a step may target (`self_id`, when replacing, among them).
pub fn validate(spec: &ScheduleSpec, known: &BTreeSet<Uuid>) -> Result<(), FieldError> {
    line("name", &spec.name, MAX_NAME)?;
    if let Some(team) = &spec.team {
        line("team", team, MAX_NAME)?;
    }
    if spec.services.len() > MAX_SERVICES {
        return Err(refuse("services", format!("more than {MAX_SERVICES} services")));
    }
    for (i, s) in spec.services.iter().enumerate() {
        line(&format!("services[{i}]"), s, MAX_NAME)?;
        if s.split('/').count() > 1 && s.split('/').count() != 3 {
            return Err(refuse(
                format!("services[{i}]"),
                format!("'{s}' is neither a name nor cluster/namespace/name"),
            ));
        }
    }
    let r = &spec.rotation;
    if r.members.is_empty() {
        return Err(refuse("rotation.members", "must name at least one person"));
    }
    if r.members.len() > MAX_MEMBERS {
        return Err(refuse("rotation.members", format!("more than {MAX_MEMBERS} people")));
    }
    for (i, m) in r.members.iter().enumerate() {
        line(&format!("rotation.members[{i}]"), m, MAX_PERSON)?;
    }
    if r.shift_hours == 0 {
        return Err(refuse("rotation.shift_hours", "must be more than 0"));
    }
    if r.shift_hours > MAX_SHIFT_HOURS {
        return Err(refuse("rotation.shift_hours", format!("more than {MAX_SHIFT_HOURS} hours")));
    }
    if spec.escalation.len() > MAX_STEPS {
        return Err(refuse("escalation", format!("more than {MAX_STEPS} steps")));
    }
    let mut previous: Option<u32> = None;
    for (i, step) in spec.escalation.iter().enumerate() {
        let field = format!("escalation[{i}]");
        if step.after_minutes > MAX_AFTER_MINUTES {
            return Err(refuse(format!("{field}.after_minutes"), format!("more than {MAX_AFTER_MINUTES} minutes")));
        }
        if let Some(p) = previous.filter(|p| step.after_minutes <= *p) {
            return Err(refuse(
                format!("{field}.after_minutes"),
                format!("{} is not after the previous step's {p}: steps must come later and later", step.after_minutes),
            ));
        }
        previous = Some(step.after_minutes);
        if step.targets.is_empty() {
            return Err(refuse(format!("{field}.targets"), "must name at least one target"));
        }
        if step.targets.len() > MAX_TARGETS {
            return Err(refuse(format!("{field}.targets"), format!("more than {MAX_TARGETS} targets")));
        }
        for (j, t) in step.targets.iter().enumerate() {
            let tf = format!("{field}.targets[{j}]");
            match t {
                EscalationTarget::Person { person } => line(&format!("{tf}.person"), person, MAX_PERSON)?,
                EscalationTarget::Schedule { schedule_id } if !known.contains(schedule_id) => {
                    return Err(refuse(
                        format!("{tf}.schedule_id"),
                        format!("no schedule {schedule_id} in this project"),
                    ));
                }
                EscalationTarget::Schedule { .. } | EscalationTarget::NextInRotation => {}
            }
        }
    }
    Ok(())
}

/// Checks an override to add, naming the field.
pub fn validate_override(person: &str, from: Timestamp, until: Timestamp) -> Result<(), FieldError> {
    line("person", person, MAX_PERSON)?;
    if until <= from {
        return Err(refuse("until", format!("{until} is not after from ({from})")));
    }
    Ok(())
}

/// Where the person on call comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OnCallSource {
    /// The rotation's shift number `shift` (0 is the first, from `starts_at`).
    Rotation {
        shift: i64,
    },
    Override {
        override_id: Uuid,
    },
}

/// Who is on call and until when (the next handoff).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCall {
    pub person: String,
    pub source: OnCallSource,
    pub from: Timestamp,
    pub until: Timestamp,
}

fn shift_of(rotation: &Rotation) -> Duration {
    Duration::hours(i64::from(rotation.shift_hours.max(1)))
}

/// The rotation's shift holding `at`: its number and bounds; `None` before `starts_at`.
pub fn shift_at(rotation: &Rotation, at: Timestamp) -> Option<(i64, Timestamp, Timestamp)> {
    if at < rotation.starts_at || rotation.members.is_empty() {
        return None;
    }
    let shift = shift_of(rotation);
    let k = (at - rotation.starts_at).num_milliseconds() / shift.num_milliseconds();
    let from = rotation.starts_at + shift * i32::try_from(k).ok()?;
    Some((k, from, from + shift))
}

fn member(rotation: &Rotation, k: i64) -> &str {
    let n = rotation.members.len() as i64;
    &rotation.members[usize::try_from(k.rem_euclid(n)).unwrap_or(0)]
}

/// Who is on call for `schedule` at `at`: the override active then that was added
/// last, else the rotation's member of the shift (nobody before the rotation starts
/// and no override). `until` is the next handoff: the end of the override or shift,
/// or earlier when an override that wins over it begins first.
pub fn on_call(schedule: &Schedule, at: Timestamp) -> Option<OnCall> {
    let active = schedule.overrides.iter().filter(|o| o.from <= at && at < o.until).max_by_key(|o| o.created_at);
    // Overrides that would take over later: they start after `at` and win over the current one.
    let takes_over = |after: Option<Timestamp>| {
        schedule
            .overrides
            .iter()
            .filter(|o| o.from > at && after.is_none_or(|created| o.created_at > created))
            .map(|o| o.from)
            .min()
    };
    if let Some(o) = active {
        let until = takes_over(Some(o.created_at)).map_or(o.until, |t| t.min(o.until));
        return Some(OnCall {
            person: o.person.clone(),
            source: OnCallSource::Override { override_id: o.override_id },
            from: o.from,
            until,
        });
    }
    let (k, from, end) = shift_at(&schedule.rotation, at)?;
    let until = takes_over(None).map_or(end, |t| t.min(end));
    Some(OnCall {
        person: member(&schedule.rotation, k).to_string(),
        source: OnCallSource::Rotation { shift: k },
        from,
        until,
    })
}

/// The rotation's member after the one whose shift holds `at`.
pub fn next_in_rotation(schedule: &Schedule, at: Timestamp) -> Option<String> {
    let (k, _, _) = shift_at(&schedule.rotation, at)?;
    Some(member(&schedule.rotation, k + 1).to_string())
}

/// A service's team: the namespace of its `cluster/namespace/name` key.
pub fn team_of(service: &str) -> String {
    service_key_of(service).split('/').nth(1).unwrap_or_default().to_string()
}

/// The schedule of `service` among `schedules` (not deleted ones): the oldest one
/// naming the service (by name or key), else the oldest one of the service's team.
pub fn schedule_for<'a>(schedules: &'a [Schedule], service: &str) -> Option<&'a Schedule> {
    let key = service_key_of(service);
    let mut live: Vec<&Schedule> = schedules.iter().filter(|s| s.deleted_at.is_none()).collect();
    live.sort_by_key(|s| (s.created_at, s.schedule_id));
    live.iter().find(|s| s.services.iter().any(|x| service_key_of(x) == key)).copied().or_else(|| {
        let team = team_of(service);
        live.iter().find(|s| s.team.as_deref() == Some(team.as_str())).copied()
    })
}

/// The people `step` reaches at `at`, each once, in the order of its targets. A
/// schedule target with nobody on call (or gone) reaches nobody.
pub fn targets_of(step: &EscalationStep, schedule: &Schedule, all: &[Schedule], at: Timestamp) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in &step.targets {
        let person = match t {
            EscalationTarget::Person { person } => Some(person.clone()),
            EscalationTarget::NextInRotation => next_in_rotation(schedule, at),
            EscalationTarget::Schedule { schedule_id } => all
                .iter()
                .find(|s| s.schedule_id == *schedule_id && s.deleted_at.is_none())
                .and_then(|s| on_call(s, at))
                .map(|o| o.person),
        };
        if let Some(p) = person.filter(|p| !out.contains(p)) {
            out.push(p);
        }
    }
    out
}

/// One escalation step that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// Its index in the schedule's `escalation`.
    pub step: usize,
    pub at: Timestamp,
    pub targets: Vec<String>,
}

/// Why an assignment escalates no further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Triaged: someone acknowledged it.
    Acknowledged,
    Resolved,
    Suppressed,
    /// The schedule was deleted.
    ScheduleDeleted,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Acknowledged => "acknowledged",
            StopReason::Resolved => "resolved",
            StopReason::Suppressed => "suppressed",
            StopReason::ScheduleDeleted => "schedule_deleted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    pub reason: StopReason,
    pub at: Timestamp,
}

/// Who an incident was given to, and the escalation steps that fired since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub incident_id: IncidentId,
    pub project_id: ProjectId,
    pub schedule_id: Uuid,
    pub person: String,
    pub assigned_at: Timestamp,
    /// Oldest first; step `i` fires at most once.
    pub escalations: Vec<Escalation>,
    pub stopped: Option<Stopped>,
}

impl Assignment {
    /// The index of the next step of `schedule` when it is due at `now`.
    pub fn due_step(&self, schedule: &Schedule, now: Timestamp) -> Option<usize> {
        if self.stopped.is_some() {
            return None;
        }
        let next = self.escalations.iter().map(|e| e.step + 1).max().unwrap_or(0);
        let step = schedule.escalation.get(next)?;
        (self.assigned_at + Duration::minutes(i64::from(step.after_minutes)) <= now).then_some(next)
    }
}

/// The storage port of on-call. Every call names its project and a store never
/// returns another project's rows. Deleting a schedule is soft: it is neither listed
/// nor found again, and overrides cannot be added to it.
#[async_trait]
pub trait OncallStore: Send + Sync {
    fn backend(&self) -> &'static str;
    async fn check_connectivity(&self) -> StoreResult<()>;

    /// Adds the schedule or replaces its definition; the stored overrides are kept
    /// (a new schedule starts with the given ones). `NotFound` when it was deleted.
    async fn put_schedule(&self, schedule: &Schedule) -> StoreResult<()>;
    /// The schedule with its overrides, unless deleted.
    async fn get_schedule(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Schedule>>;
    /// The project's schedules that are not deleted, oldest first.
    async fn list_schedules(&self, project: &ProjectId) -> StoreResult<Vec<Schedule>>;
    /// `false` when there is no such schedule (or it was deleted already).
    async fn delete_schedule(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool>;
    /// Adds an override to the schedule; `false` when there is no such schedule.
    async fn add_override(&self, project: &ProjectId, schedule: Uuid, o: &Override) -> StoreResult<bool>;

    async fn get_assignment(&self, project: &ProjectId, incident: IncidentId) -> StoreResult<Option<Assignment>>;
    /// Writes the assignment (one per incident: a second put replaces it).
    async fn put_assignment(&self, assignment: &Assignment) -> StoreResult<()>;
    /// The project's assignments, oldest first.
    async fn list_assignments(&self, project: &ProjectId) -> StoreResult<Vec<Assignment>>;
}

/// The on-call store of a server built without one: every call is `Unavailable`.
pub struct Unconfigured;

fn down(op: &str) -> StoreError {
    StoreError::new(ErrorKind::Unavailable, "oncall", op, "no on-call store is configured")
}

#[async_trait]
impl OncallStore for Unconfigured {
    fn backend(&self) -> &'static str {
        "unconfigured"
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        Err(down("check_connectivity"))
    }
    async fn put_schedule(&self, _: &Schedule) -> StoreResult<()> {
        Err(down("put_schedule"))
    }
    async fn get_schedule(&self, _: &ProjectId, _: Uuid) -> StoreResult<Option<Schedule>> {
        Err(down("get_schedule"))
    }
    async fn list_schedules(&self, _: &ProjectId) -> StoreResult<Vec<Schedule>> {
        Err(down("list_schedules"))
    }
    async fn delete_schedule(&self, _: &ProjectId, _: Uuid, _: Timestamp) -> StoreResult<bool> {
        Err(down("delete_schedule"))
    }
    async fn add_override(&self, _: &ProjectId, _: Uuid, _: &Override) -> StoreResult<bool> {
        Err(down("add_override"))
    }
    async fn get_assignment(&self, _: &ProjectId, _: IncidentId) -> StoreResult<Option<Assignment>> {
        Err(down("get_assignment"))
    }
    async fn put_assignment(&self, _: &Assignment) -> StoreResult<()> {
        Err(down("put_assignment"))
    }
    async fn list_assignments(&self, _: &ProjectId) -> StoreResult<Vec<Assignment>> {
        Err(down("list_assignments"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("time")
    }

    fn schedule(members: &[&str], shift_hours: u32) -> Schedule {
        let spec = ScheduleSpec {
            name: "payments".into(),
            team: Some("shop".into()),
            services: vec!["checkout".into()],
            rotation: Rotation {
                members: members.iter().map(|m| m.to_string()).collect(),
                starts_at: t("2026-03-02T09:00:00Z"),
                shift_hours,
            },
            escalation: vec![EscalationStep { after_minutes: 15, targets: vec![EscalationTarget::NextInRotation] }],
        };
        Schedule::new(&ProjectId::default_project(), spec, t("2026-03-01T00:00:00Z"))
    }

    fn ov(person: &str, from: &str, until: &str, created: &str) -> Override {
        Override {
            override_id: Uuid::new_v4(),
            person: person.into(),
            from: t(from),
            until: t(until),
            created_at: t(created),
        }
    }

    #[test]
    fn the_rotation_hands_over_every_shift_and_wraps_around() {
        // Shifts of 12 h from Monday 09:00: ana, ben, cy, ana, ...
        let s = schedule(&["ana", "ben", "cy"], 12);
        let at = |x: &str| on_call(&s, t(x)).expect("on call");
        let first = at("2026-03-02T09:00:00Z");
        assert_eq!(
            (first.person.as_str(), first.from, first.until),
            ("ana", t("2026-03-02T09:00:00Z"), t("2026-03-02T21:00:00Z"))
        );
        assert_eq!(first.source, OnCallSource::Rotation { shift: 0 });
        assert_eq!(at("2026-03-02T20:59:59Z").person, "ana");
        let ben = at("2026-03-02T21:00:00Z");
        assert_eq!((ben.person.as_str(), ben.until), ("ben", t("2026-03-03T09:00:00Z")));
        assert_eq!(at("2026-03-03T09:00:00Z").person, "cy");
        // 2026-03-04T10:00 is 49 h in: shift 4, 4 mod 3 = 1 -> ben, 09:00 to 21:00.
        let later = at("2026-03-04T10:00:00Z");
        assert_eq!(
            (later.person.as_str(), later.from, later.source),
            ("ben", t("2026-03-04T09:00:00Z"), OnCallSource::Rotation { shift: 4 })
        );
        assert_eq!(next_in_rotation(&s, t("2026-03-04T10:00:00Z")).as_deref(), Some("cy"));
        assert_eq!(next_in_rotation(&s, t("2026-03-03T10:00:00Z")).as_deref(), Some("ana"), "after cy comes ana");
        assert_eq!(on_call(&s, t("2026-03-02T08:59:59Z")), None, "nobody before the rotation starts");
    }

    #[test]
    fn an_override_wins_the_latest_added_wins_and_the_handoff_is_the_earliest_takeover() {
        let mut s = schedule(&["ana", "ben"], 24);
        s.overrides = vec![
            ov("dee", "2026-03-02T12:00:00Z", "2026-03-02T18:00:00Z", "2026-03-01T10:00:00Z"),
            // Added later, overlapping dee's second half.
            ov("eve", "2026-03-02T15:00:00Z", "2026-03-02T16:00:00Z", "2026-03-01T11:00:00Z"),
        ];
        let at = |x: &str| on_call(&s, t(x)).expect("on call");
        let ana = at("2026-03-02T10:00:00Z");
        assert_eq!((ana.person.as_str(), ana.until), ("ana", t("2026-03-02T12:00:00Z")), "handoff to dee at 12:00");
        let dee = at("2026-03-02T13:00:00Z");
        assert_eq!(
            (dee.person.as_str(), dee.from, dee.until),
            ("dee", t("2026-03-02T12:00:00Z"), t("2026-03-02T15:00:00Z"))
        );
        assert!(matches!(dee.source, OnCallSource::Override { .. }));
        let eve = at("2026-03-02T15:30:00Z");
        assert_eq!((eve.person.as_str(), eve.until), ("eve", t("2026-03-02T16:00:00Z")));
        assert_eq!(at("2026-03-02T16:00:00Z").person, "dee", "dee again once eve's hour is over");
        assert_eq!(at("2026-03-02T18:00:00Z").person, "ana");
        // An override before the rotation starts still puts someone on call.
        s.overrides.push(ov("fay", "2026-03-01T00:00:00Z", "2026-03-01T06:00:00Z", "2026-03-01T12:00:00Z"));
        assert_eq!(on_call(&s, t("2026-03-01T01:00:00Z")).map(|o| o.person).as_deref(), Some("fay"));
    }

    #[test]
    fn a_service_is_covered_by_the_schedule_naming_it_else_by_its_team() {
        let mut named = schedule(&["ana"], 8);
        named.team = None;
        named.services = vec!["prod/shop/checkout".into()];
        named.created_at = t("2026-03-01T02:00:00Z");
        let mut team = schedule(&["ben"], 8);
        team.services = vec![];
        team.team = Some("shop".into());
        let all = vec![team.clone(), named.clone()];
        assert_eq!(schedule_for(&all, "prod/shop/checkout").map(|s| s.schedule_id), Some(named.schedule_id));
        assert_eq!(schedule_for(&all, "prod/shop/cart").map(|s| s.schedule_id), Some(team.schedule_id));
        assert_eq!(
            schedule_for(&all, "checkout").map(|s| s.schedule_id),
            None,
            "default/default/checkout: another key"
        );
        assert_eq!(team_of("prod/shop/cart"), "shop");
        let mut gone = all.clone();
        gone[1].deleted_at = Some(t("2026-03-02T00:00:00Z"));
        assert_eq!(schedule_for(&gone, "prod/shop/checkout").map(|s| s.schedule_id), Some(team.schedule_id));
    }

    #[test]
    fn a_step_reaches_people_schedules_and_the_next_in_rotation_once_each() {
        let s = schedule(&["ana", "ben"], 24);
        let mut other = schedule(&["zed"], 24);
        other.schedule_id = Uuid::new_v4();
        let step = EscalationStep {
            after_minutes: 10,
            targets: vec![
                EscalationTarget::NextInRotation,
                EscalationTarget::Person { person: "ben".into() },
                EscalationTarget::Schedule { schedule_id: other.schedule_id },
                EscalationTarget::Schedule { schedule_id: Uuid::new_v4() },
            ],
        };
        let all = vec![s.clone(), other];
        assert_eq!(targets_of(&step, &s, &all, t("2026-03-02T10:00:00Z")), ["ben", "zed"]);
    }

    #[test]
    fn the_next_step_is_due_after_its_delay_and_never_twice() {
        let mut s = schedule(&["ana", "ben"], 24);
        s.escalation.push(EscalationStep { after_minutes: 30, targets: vec![EscalationTarget::NextInRotation] });
        let mut a = Assignment {
            incident_id: IncidentId::new_random(),
            project_id: ProjectId::default_project(),
            schedule_id: s.schedule_id,
            person: "ana".into(),
            assigned_at: t("2026-03-02T10:00:00Z"),
            escalations: vec![],
            stopped: None,
        };
        assert_eq!(a.due_step(&s, t("2026-03-02T10:14:59Z")), None);
        assert_eq!(a.due_step(&s, t("2026-03-02T10:15:00Z")), Some(0));
        a.escalations.push(Escalation { step: 0, at: t("2026-03-02T10:15:00Z"), targets: vec!["ben".into()] });
        assert_eq!(a.due_step(&s, t("2026-03-02T10:20:00Z")), None);
        assert_eq!(a.due_step(&s, t("2026-03-02T10:30:00Z")), Some(1));
        a.escalations.push(Escalation { step: 1, at: t("2026-03-02T10:30:00Z"), targets: vec!["ana".into()] });
        assert_eq!(a.due_step(&s, t("2026-03-03T10:00:00Z")), None, "every step fired");
        a.escalations.clear();
        a.stopped = Some(Stopped { reason: StopReason::Acknowledged, at: t("2026-03-02T10:01:00Z") });
        assert_eq!(a.due_step(&s, t("2026-03-02T11:00:00Z")), None, "acknowledged: no escalation");
    }

    #[test]
    fn bad_schedules_and_overrides_name_the_field() {
        let good = ScheduleSpec {
            name: "payments".into(),
            team: None,
            services: vec!["checkout".into()],
            rotation: Rotation { members: vec!["ana".into()], starts_at: t("2026-03-02T09:00:00Z"), shift_hours: 24 },
            escalation: vec![
                EscalationStep { after_minutes: 5, targets: vec![EscalationTarget::NextInRotation] },
                EscalationStep { after_minutes: 20, targets: vec![EscalationTarget::Person { person: "boss".into() }] },
            ],
        };
        let none = BTreeSet::new();
        assert_eq!(validate(&good, &none), Ok(()));
        let field = |f: &dyn Fn(&mut ScheduleSpec), known: &BTreeSet<Uuid>| {
            let mut s = good.clone();
            f(&mut s);
            validate(&s, known).expect_err("refused")
        };
        let e = field(&|s| s.rotation.members.clear(), &none);
        assert_eq!((e.field.as_str(), e.message.as_str()), ("rotation.members", "must name at least one person"));
        assert_eq!(field(&|s| s.rotation.shift_hours = 0, &none).field, "rotation.shift_hours");
        assert_eq!(field(&|s| s.name = " ".into(), &none).field, "name");
        assert_eq!(field(&|s| s.rotation.members.push("".into()), &none).field, "rotation.members[1]");
        let e = field(&|s| s.escalation[1].after_minutes = 5, &none);
        assert_eq!(e.field, "escalation[1].after_minutes");
        assert!(e.message.contains("not after the previous step's 5"), "{e}");
        assert_eq!(field(&|s| s.escalation[0].targets.clear(), &none).field, "escalation[0].targets");
        let other = Uuid::new_v4();
        let unknown =
            |s: &mut ScheduleSpec| s.escalation[0].targets = vec![EscalationTarget::Schedule { schedule_id: other }];
        let e = field(&unknown, &none);
        assert_eq!(e.field, "escalation[0].targets[0].schedule_id");
        assert!(e.message.contains(&other.to_string()), "{e}");
        let mut ok = good.clone();
        unknown(&mut ok);
        assert_eq!(validate(&ok, &BTreeSet::from([other])), Ok(()));
        assert_eq!(field(&|s| s.services = vec!["a/b".into()], &none).field, "services[0]");
        let e = validate_override("dee", t("2026-03-02T10:00:00Z"), t("2026-03-02T10:00:00Z")).expect_err("empty");
        assert_eq!(e.field, "until");
        assert_eq!(
            validate_override("", t("2026-03-02T10:00:00Z"), t("2026-03-02T11:00:00Z")).expect_err("x").field,
            "person"
        );
    }

    #[test]
    fn targets_read_and_write_as_tagged_json() {
        let step: EscalationStep = serde_json::from_value(serde_json::json!({
            "after_minutes": 15,
            "targets": [{"kind": "person", "person": "ana"}, {"kind": "next_in_rotation"}]
        }))
        .expect("step");
        assert_eq!(step.targets[1], EscalationTarget::NextInRotation);
        let bad = serde_json::from_value::<EscalationTarget>(serde_json::json!({"kind": "team"}));
        assert!(bad.is_err());
    }

    #[tokio::test]
    async fn an_unconfigured_store_is_unavailable() {
        let e = Unconfigured.list_schedules(&ProjectId::default_project()).await.expect_err("down");
        assert_eq!(e.kind, ErrorKind::Unavailable);
    }
}

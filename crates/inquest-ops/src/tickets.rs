//! Follow-up tickets: the row (`Ticket`), its append-only history (`TicketEvent`) and
//! its dependencies (`TicketDependency`); which status changes are allowed, what a
//! change appends (`apply`), when a ticket is ready (pending, every dependency
//! completed), which new dependency would close a cycle, the list's filters and paging
//! bounds, and the follow-ups an incident offers. Field names follow the data model;
//! every refusal names the field. The storage port is `TicketStore`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use async_trait::async_trait;
use inquest_domain::{Hypothesis, HypothesisType, Incident, ProjectId, Timestamp};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::validate::FieldError;

fn refuse(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

/// Where a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Not started.
    Pending,
    /// Someone (or an agent) works on it.
    InProgress,
    /// Resolved.
    Completed,
    /// Could not be resolved.
    Failed,
    /// Waits on something outside (an approval, another team).
    Blocked,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 5] = [
        TicketStatus::Pending,
        TicketStatus::InProgress,
        TicketStatus::Completed,
        TicketStatus::Failed,
        TicketStatus::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Pending => "pending",
            TicketStatus::InProgress => "in_progress",
            TicketStatus::Completed => "completed",
            TicketStatus::Failed => "failed",
            TicketStatus::Blocked => "blocked",
        }
    }

    /// Completed and failed tickets are resolved (`resolved_at` set).
    pub fn is_resolved(self) -> bool {
        matches!(self, TicketStatus::Completed | TicketStatus::Failed)
    }

    /// Whether a ticket may go from `self` to `to`. A resolved ticket is reopened
    /// (pending or in progress) before it can be resolved the other way.
    pub fn can_become(self, to: TicketStatus) -> bool {
        self != to && !(self.is_resolved() && to.is_resolved())
    }
}

impl std::fmt::Display for TicketStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TicketStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not one of pending, in_progress, completed, failed, blocked"))
    }
}

/// How urgent a ticket is; lists put the most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketPriority {
    Low,
    Medium,
    High,
    Critical,
}

impl TicketPriority {
    pub const ALL: [TicketPriority; 4] =
        [TicketPriority::Low, TicketPriority::Medium, TicketPriority::High, TicketPriority::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketPriority::Low => "low",
            TicketPriority::Medium => "medium",
            TicketPriority::High => "high",
            TicketPriority::Critical => "critical",
        }
    }

    /// 0 (low) to 3 (critical): the order lists sort by, and the Postgres column.
    pub fn rank(self) -> i16 {
        self as i16
    }

    pub fn from_rank(rank: i16) -> Option<TicketPriority> {
        Self::ALL.into_iter().find(|p| p.rank() == rank)
    }

    /// From an incident's severity (1 is the highest).
    pub fn of_severity(severity: i32) -> TicketPriority {
        match severity {
            ..=1 => TicketPriority::Critical,
            2 => TicketPriority::High,
            3 => TicketPriority::Medium,
            _ => TicketPriority::Low,
        }
    }
}

impl std::str::FromStr for TicketPriority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not one of low, medium, high, critical"))
    }
}

/// What created a ticket (`source_type`); `source_id` names the incident, SLO or
/// invariant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketSource {
    Incident,
    Slo,
    Invariant,
    Human,
}

impl TicketSource {
    pub const ALL: [TicketSource; 4] =
        [TicketSource::Incident, TicketSource::Slo, TicketSource::Invariant, TicketSource::Human];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketSource::Incident => "incident",
            TicketSource::Slo => "slo",
            TicketSource::Invariant => "invariant",
            TicketSource::Human => "human",
        }
    }
}

impl std::str::FromStr for TicketSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not one of incident, slo, invariant, human"))
    }
}

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: Uuid,
    pub project_id: ProjectId,
    /// What is to be done, one line.
    pub objective: String,
    /// How to tell it is done.
    pub success_criteria: Vec<String>,
    /// Anything useful to whoever picks it up (a JSON object).
    pub context: Value,
    pub status: TicketStatus,
    pub priority: TicketPriority,
    pub source_type: TicketSource,
    pub source_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Set when it became completed or failed; cleared when reopened.
    pub resolved_at: Option<Timestamp>,
}

/// One entry of a ticket's history. Never changed or removed once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub id: Uuid,
    pub ticket_id: Uuid,
    /// `created`, `status_changed`, `context_updated`, `dependency_added`,
    /// `dependency_removed`, or one a client appends (`note`, `agent_action`).
    pub event_type: String,
    pub data: Value,
    pub created_at: Timestamp,
}

impl TicketEvent {
    pub fn new(ticket_id: Uuid, event_type: &str, data: Value, at: Timestamp) -> TicketEvent {
        TicketEvent { id: Uuid::new_v4(), ticket_id, event_type: event_type.to_string(), data, created_at: at }
    }
}

/// `ticket_id` waits on `depends_on_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketDependency {
    pub ticket_id: Uuid,
    pub depends_on_id: Uuid,
    pub created_at: Timestamp,
}

/// The event types the server writes itself; a client cannot append them.
pub const SYSTEM_EVENTS: [&str; 5] =
    ["created", "status_changed", "context_updated", "dependency_added", "dependency_removed"];

pub const MAX_OBJECTIVE: usize = 500;
pub const MAX_CRITERION: usize = 1000;
pub const MAX_CRITERIA: usize = 50;
pub const MAX_SOURCE_ID: usize = 200;
/// The largest `context` or event `data`, as JSON.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Paging: the default and the largest page.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

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

fn object(field: &str, value: &Value) -> Result<(), FieldError> {
    if !value.is_object() {
        return Err(refuse(field, "must be a JSON object"));
    }
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_JSON_BYTES {
        return Err(refuse(field, format!("larger than {MAX_JSON_BYTES} bytes as JSON")));
    }
    Ok(())
}

/// What a person (or a producer) writes to create a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub objective: String,
    pub success_criteria: Vec<String>,
    pub context: Value,
    pub priority: TicketPriority,
    pub source_type: TicketSource,
    pub source_id: Option<String>,
}

impl NewTicket {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), FieldError> {
        line("objective", &self.objective, MAX_OBJECTIVE)?;
        if self.success_criteria.len() > MAX_CRITERIA {
            return Err(refuse("success_criteria", format!("more than {MAX_CRITERIA} criteria")));
        }
        for (i, c) in self.success_criteria.iter().enumerate() {
            line(&format!("success_criteria[{i}]"), c, MAX_CRITERION)?;
        }
        object("context", &self.context)?;
        match (&self.source_type, &self.source_id) {
            (TicketSource::Human, _) => {}
            (_, None) => {
                return Err(refuse("source_id", format!("is required for source_type {}", self.source_type.as_str())));
            }
            _ => {}
        }
        if let Some(id) = &self.source_id {
            line("source_id", id, MAX_SOURCE_ID)?;
        }
        Ok(())
    }

    /// The pending ticket and its `created` event, after `validate`.
    pub fn into_ticket(self, project: &ProjectId, at: Timestamp) -> Result<(Ticket, TicketEvent), FieldError> {
        self.validate()?;
        let ticket = Ticket {
            id: Uuid::new_v4(),
            project_id: project.clone(),
            objective: self.objective.trim().to_string(),
            success_criteria: self.success_criteria.iter().map(|c| c.trim().to_string()).collect(),
            context: self.context,
            status: TicketStatus::Pending,
            priority: self.priority,
            source_type: self.source_type,
            source_id: self.source_id,
            created_at: at,
            updated_at: at,
            resolved_at: None,
        };
        let event = TicketEvent::new(
            ticket.id,
            "created",
            json!({"status": ticket.status, "priority": ticket.priority, "source_type": ticket.source_type,
                   "source_id": ticket.source_id}),
            at,
        );
        Ok((ticket, event))
    }
}

/// A change to a ticket: its status, its priority, and context keys to merge (a key
/// set to `null` is removed). `note` is kept on the events it appends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketPatch {
    pub status: Option<TicketStatus>,
    pub priority: Option<TicketPriority>,
    pub context: Option<Value>,
    pub note: Option<String>,
}

/// The ticket after `patch`, and the events that tell what changed (none when
/// nothing did). `resolved_at` is set on completed or failed and cleared on reopening.
pub fn apply(ticket: &Ticket, patch: &TicketPatch, at: Timestamp) -> Result<(Ticket, Vec<TicketEvent>), FieldError> {
    if patch.status.is_none() && patch.priority.is_none() && patch.context.is_none() {
        return Err(refuse("status", "nothing to change: give status, priority or context"));
    }
    if let Some(n) = &patch.note {
        line("note", n, MAX_CRITERION)?;
    }
    let mut next = ticket.clone();
    let mut events = Vec::new();
    let note = |mut data: Value| {
        if let (Some(n), Some(map)) = (&patch.note, data.as_object_mut()) {
            map.insert("note".into(), Value::String(n.clone()));
        }
        data
    };
    if let Some(to) = patch.status.filter(|s| *s != ticket.status) {
        if !ticket.status.can_become(to) {
            return Err(refuse(
                "status",
                format!("a {} ticket cannot become {to}: reopen it (pending or in_progress) first", ticket.status),
            ));
        }
        next.status = to;
        next.resolved_at = if to.is_resolved() { Some(at) } else { None };
        events.push(TicketEvent::new(ticket.id, "status_changed", note(json!({"from": ticket.status, "to": to})), at));
    }
    if let Some(p) = patch.priority.filter(|p| *p != ticket.priority) {
        next.priority = p;
        events.push(TicketEvent::new(
            ticket.id,
            "priority_changed",
            note(json!({"from": ticket.priority, "to": p})),
            at,
        ));
    }
    if let Some(changes) = &patch.context {
        object("context", changes)?;
        let mut merged = ticket.context.as_object().cloned().unwrap_or_default();
        let mut changed = serde_json::Map::new();
        for (k, v) in changes.as_object().into_iter().flatten() {
            let before = merged.get(k).cloned().unwrap_or(Value::Null);
            if &before == v {
                continue;
            }
            if v.is_null() {
                merged.remove(k);
            } else {
                merged.insert(k.clone(), v.clone());
            }
            changed.insert(k.clone(), v.clone());
        }
        let merged = Value::Object(merged);
        object("context", &merged)?;
        if !changed.is_empty() {
            next.context = merged;
            events.push(TicketEvent::new(ticket.id, "context_updated", note(json!({"changes": changed})), at));
        }
    }
    if !events.is_empty() {
        next.updated_at = at;
    }
    Ok((next, events))
}

/// Checks an event a client appends: a type of 1 to 64 of `a-z 0-9 _ . -` that is
/// not one the server writes, and `data` a JSON object.
pub fn client_event(ticket_id: Uuid, event_type: &str, data: Value, at: Timestamp) -> Result<TicketEvent, FieldError> {
    let ok = !event_type.is_empty()
        && event_type.len() <= 64
        && event_type.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if !ok {
        return Err(refuse("event_type", format!("'{event_type}' is not 1 to 64 of a-z, 0-9, '_', '.' and '-'")));
    }
    if SYSTEM_EVENTS.contains(&event_type) || event_type == "priority_changed" {
        return Err(refuse(
            "event_type",
            format!("'{event_type}' is written by the server: change the ticket instead"),
        ));
    }
    object("data", &data)?;
    Ok(TicketEvent::new(ticket_id, event_type, data, at))
}

/// Ready: pending, and every dependency completed (none at all counts).
pub fn is_ready(status: TicketStatus, dependencies: impl IntoIterator<Item = TicketStatus>) -> bool {
    status == TicketStatus::Pending && dependencies.into_iter().all(|d| d == TicketStatus::Completed)
}

/// Readiness of every ticket of a project, from each ticket's status and the edges
/// `(ticket, depends_on)`. A dependency on a ticket not in `statuses` is not met.
pub fn readiness(statuses: &BTreeMap<Uuid, TicketStatus>, edges: &[(Uuid, Uuid)]) -> BTreeMap<Uuid, bool> {
    let mut deps: BTreeMap<Uuid, Vec<Option<TicketStatus>>> = BTreeMap::new();
    for (t, d) in edges {
        deps.entry(*t).or_default().push(statuses.get(d).copied());
    }
    statuses
        .iter()
        .map(|(id, st)| {
            let ds = deps.get(id).map(Vec::as_slice).unwrap_or_default();
            (*id, *st == TicketStatus::Pending && ds.iter().all(|d| *d == Some(TicketStatus::Completed)))
        })
        .collect()
}

/// The cycle adding "`ticket` depends on `depends_on`" would close, as the path
/// `ticket, depends_on, ..., ticket`, over the existing edges `(ticket, depends_on)`;
/// `None` when it closes none. A ticket depending on itself is the shortest cycle.
pub fn cycle(edges: &[(Uuid, Uuid)], ticket: Uuid, depends_on: Uuid) -> Option<Vec<Uuid>> {
    if ticket == depends_on {
        return Some(vec![ticket, ticket]);
    }
    let mut next: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (t, d) in edges {
        next.entry(*t).or_default().push(*d);
    }
    // Breadth first from `depends_on`: a path back to `ticket` is the cycle.
    let mut came_from: BTreeMap<Uuid, Uuid> = BTreeMap::new();
    let mut seen = BTreeSet::from([depends_on]);
    let mut queue = VecDeque::from([depends_on]);
    while let Some(at) = queue.pop_front() {
        for &n in next.get(&at).into_iter().flatten() {
            if !seen.insert(n) {
                continue;
            }
            came_from.insert(n, at);
            if n == ticket {
                let mut path = vec![ticket];
                let mut cur = ticket;
                while let Some(&prev) = came_from.get(&cur) {
                    path.push(prev);
                    cur = prev;
                }
                path.push(ticket);
                path.reverse();
                return Some(path);
            }
            queue.push_back(n);
        }
    }
    None
}

/// The refusal of a dependency that closes `path` (from `cycle`).
pub fn cycle_error(path: &[Uuid]) -> FieldError {
    let shown: Vec<String> = path.iter().map(Uuid::to_string).collect();
    refuse("depends_on_id", format!("would close a dependency cycle: {}", shown.join(" -> ")))
}

/// Which status the list keeps: one, or the ready ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Is(TicketStatus),
    Ready,
}

impl std::str::FromStr for StatusFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "ready" {
            return Ok(StatusFilter::Ready);
        }
        s.parse().map(StatusFilter::Is).map_err(|e: String| format!("{e}, or ready"))
    }
}

/// The list's filters and page. Lists are ordered most urgent first, then oldest
/// first, then by id.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketQuery {
    pub status: Option<StatusFilter>,
    pub source_type: Option<TicketSource>,
    pub source_id: Option<String>,
    pub priority: Option<TicketPriority>,
    pub limit: usize,
    pub offset: usize,
}

impl Default for TicketQuery {
    fn default() -> Self {
        TicketQuery {
            status: None,
            source_type: None,
            source_id: None,
            priority: None,
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

impl TicketQuery {
    /// Checks the page bounds: `limit` 1 to 500.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(refuse("limit", format!("{} is outside 1..={MAX_LIMIT}", self.limit)));
        }
        Ok(())
    }

    /// Whether `t` (ready or not) passes the filters.
    pub fn keeps(&self, t: &Ticket, ready: bool) -> bool {
        let status = match self.status {
            None => true,
            Some(StatusFilter::Ready) => ready,
            Some(StatusFilter::Is(s)) => t.status == s,
        };
        status
            && self.source_type.is_none_or(|s| t.source_type == s)
            && self.source_id.as_ref().is_none_or(|s| t.source_id.as_ref() == Some(s))
            && self.priority.is_none_or(|p| t.priority == p)
    }
}

/// The list order: most urgent first, then oldest, then by id.
pub fn list_order(a: &Ticket, b: &Ticket) -> std::cmp::Ordering {
    b.priority.cmp(&a.priority).then(a.created_at.cmp(&b.created_at)).then(a.id.cmp(&b.id))
}

/// A ticket as listed: with its readiness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedTicket {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub ready: bool,
}

/// One page of the list and how many tickets pass the filters in all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TicketPage {
    pub tickets: Vec<ListedTicket>,
    pub total: usize,
}

/// What adding a dependency did.
#[derive(Debug, Clone, PartialEq)]
pub enum AddDependency {
    Added(TicketDependency),
    /// The dependency was there already (nothing appended).
    Exists(TicketDependency),
    /// This ticket id is not in the project.
    MissingTicket(Uuid),
    /// It would close this cycle (from `cycle`).
    Cycle(Vec<Uuid>),
}

/// What a patch did.
#[derive(Debug, Clone, PartialEq)]
pub enum Patched {
    Done(Ticket),
    NotFound,
    Refused(FieldError),
}

/// A dependency with the ticket it waits on.
#[derive(Debug, Clone, PartialEq)]
pub struct DependencyOn {
    pub dependency: TicketDependency,
    pub ticket: Ticket,
}

/// The follow-ups an incident offers: one per ranked hypothesis among the first
/// `max_hypotheses` ("confirm or rule out"), then one per suggested runbook ("walk
/// through"), each with the incident's priority and the pieces of evidence to start
/// from in `context`; `context.follow_up` keys them within the incident.
pub fn follow_ups(
    incident: &Incident,
    service: &str,
    hypotheses: &[Hypothesis],
    runbooks: &[(String, Option<String>)],
    max_hypotheses: usize,
) -> Vec<NewTicket> {
    let priority = TicketPriority::of_severity(incident.severity);
    let mut ranked: Vec<&Hypothesis> = hypotheses.iter().collect();
    ranked.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| b.score().total_cmp(&a.score())));
    let base = |follow_up: String| json!({"follow_up": follow_up, "incident_id": incident.incident_id.to_string(), "service": service});
    let mut out = Vec::new();
    for h in ranked.into_iter().take(max_hypotheses) {
        let mut context = base(format!("hypothesis:{}", h.hypothesis_id));
        if let Some(map) = context.as_object_mut() {
            map.insert("hypothesis_id".into(), json!(h.hypothesis_id.to_string()));
            map.insert("hypothesis_type".into(), json!(h.hypothesis_type.to_string()));
            map.insert("rank".into(), json!(h.rank));
            map.insert("confidence".into(), json!(h.confidence));
            map.insert("evidence_ids".into(), json!(h.evidence_ids.iter().map(|e| e.to_string()).collect::<Vec<_>>()));
            if let Some(c) = h.culprit() {
                map.insert("culprit".into(), json!(c));
            }
        }
        // "No decisive cause" is no suspect to confirm: the work is finding one.
        let unknown = h.hypothesis_type == HypothesisType::Unknown;
        let objective = if unknown {
            format!("Find the cause: the investigation found none decisive ({})", h.title)
        } else {
            format!("Confirm or rule out: {}", h.title)
        };
        let objective: String = objective.chars().take(MAX_OBJECTIVE).collect();
        let success_criteria = if unknown {
            vec!["a root cause is set on the incident (feedback)".into()]
        } else {
            vec![
                "the hypothesis is confirmed or rejected on the incident (feedback)".into(),
                "the evidence that decided it is noted on this ticket".into(),
            ]
        };
        out.push(NewTicket {
            objective: objective.replace(char::is_control, " "),
            success_criteria,
            context,
            priority,
            source_type: TicketSource::Incident,
            source_id: Some(incident.incident_id.to_string()),
        });
    }
    for (i, (title, url)) in runbooks.iter().enumerate() {
        let mut context = base(format!("runbook:{i}"));
        if let Some(map) = context.as_object_mut() {
            map.insert("runbook".into(), json!(title));
            if let Some(u) = url {
                map.insert("runbook_url".into(), json!(u));
            }
        }
        let objective: String = format!("Walk through the runbook: {title}").chars().take(MAX_OBJECTIVE).collect();
        out.push(NewTicket {
            objective: objective.replace(char::is_control, " "),
            success_criteria: vec!["every step of the runbook is done or noted as not applying".into()],
            context,
            priority,
            source_type: TicketSource::Incident,
            source_id: Some(incident.incident_id.to_string()),
        });
    }
    out
}

/// The storage port of tickets. Every call names its project and a store never
/// returns, changes or links another project's tickets: a dependency across projects
/// is a `MissingTicket`. Events are only ever appended.
#[async_trait]
pub trait TicketStore: Send + Sync {
    fn backend(&self) -> &'static str;
    async fn check_connectivity(&self) -> StoreResult<()>;

    /// Stores a new ticket with its `created` event.
    async fn create_ticket(&self, ticket: &Ticket, created: &TicketEvent) -> StoreResult<()>;
    /// Stores the tickets (with their events) unless the project already holds a
    /// ticket of the same source (type and id); then stores nothing. Returns the
    /// source's tickets in list order and whether these were created.
    async fn create_for_source(
        &self,
        project: &ProjectId,
        source_type: TicketSource,
        source_id: &str,
        tickets: &[(Ticket, TicketEvent)],
    ) -> StoreResult<(Vec<Ticket>, bool)>;
    async fn get_ticket(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<ListedTicket>>;
    async fn list_tickets(&self, project: &ProjectId, query: &TicketQuery) -> StoreResult<TicketPage>;
    /// Applies `patch` (`apply`) to the stored ticket and appends its events, in one
    /// transaction, so concurrent patches each see the other's result.
    async fn patch_ticket(
        &self,
        project: &ProjectId,
        id: Uuid,
        patch: &TicketPatch,
        at: Timestamp,
    ) -> StoreResult<Patched>;
    /// Appends an event; `false` when there is no such ticket.
    async fn append_event(&self, project: &ProjectId, event: &TicketEvent) -> StoreResult<bool>;
    /// The ticket's events, oldest first; `None` when there is no such ticket.
    async fn events(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Vec<TicketEvent>>>;
    /// Adds "`ticket` depends on `depends_on`" unless it closes a cycle (checked in
    /// the same transaction), appending `dependency_added` to the ticket.
    async fn add_dependency(
        &self,
        project: &ProjectId,
        ticket: Uuid,
        depends_on: Uuid,
        at: Timestamp,
    ) -> StoreResult<AddDependency>;
    /// Removes it, appending `dependency_removed`; `false` when it was not there.
    async fn remove_dependency(
        &self,
        project: &ProjectId,
        ticket: Uuid,
        depends_on: Uuid,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// What the ticket waits on, oldest dependency first; `None` when there is no such ticket.
    async fn dependencies(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Vec<DependencyOn>>>;
    /// How many of the project's tickets are ready.
    async fn count_ready(&self, project: &ProjectId) -> StoreResult<usize>;
}

/// The ticket store of a server built without one: every call is `Unavailable`, so
/// routes answer 503 and nothing pretends to be stored.
pub struct Unconfigured;

fn down(op: &str) -> StoreError {
    StoreError::new(ErrorKind::Unavailable, "tickets", op, "no ticket store is configured")
}

#[async_trait]
impl TicketStore for Unconfigured {
    fn backend(&self) -> &'static str {
        "unconfigured"
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        Err(down("check_connectivity"))
    }
    async fn create_ticket(&self, _: &Ticket, _: &TicketEvent) -> StoreResult<()> {
        Err(down("create_ticket"))
    }
    async fn create_for_source(
        &self,
        _: &ProjectId,
        _: TicketSource,
        _: &str,
        _: &[(Ticket, TicketEvent)],
    ) -> StoreResult<(Vec<Ticket>, bool)> {
        Err(down("create_for_source"))
    }
    async fn get_ticket(&self, _: &ProjectId, _: Uuid) -> StoreResult<Option<ListedTicket>> {
        Err(down("get_ticket"))
    }
    async fn list_tickets(&self, _: &ProjectId, _: &TicketQuery) -> StoreResult<TicketPage> {
        Err(down("list_tickets"))
    }
    async fn patch_ticket(&self, _: &ProjectId, _: Uuid, _: &TicketPatch, _: Timestamp) -> StoreResult<Patched> {
        Err(down("patch_ticket"))
    }
    async fn append_event(&self, _: &ProjectId, _: &TicketEvent) -> StoreResult<bool> {
        Err(down("append_event"))
    }
    async fn events(&self, _: &ProjectId, _: Uuid) -> StoreResult<Option<Vec<TicketEvent>>> {
        Err(down("events"))
    }
    async fn add_dependency(&self, _: &ProjectId, _: Uuid, _: Uuid, _: Timestamp) -> StoreResult<AddDependency> {
        Err(down("add_dependency"))
    }
    async fn remove_dependency(&self, _: &ProjectId, _: Uuid, _: Uuid, _: Timestamp) -> StoreResult<bool> {
        Err(down("remove_dependency"))
    }
    async fn dependencies(&self, _: &ProjectId, _: Uuid) -> StoreResult<Option<Vec<DependencyOn>>> {
        Err(down("dependencies"))
    }
    async fn count_ready(&self, _: &ProjectId) -> StoreResult<usize> {
        Err(down("count_ready"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    fn new(objective: &str) -> NewTicket {
        NewTicket {
            objective: objective.into(),
            success_criteria: vec!["done".into()],
            context: json!({}),
            priority: TicketPriority::Medium,
            source_type: TicketSource::Human,
            source_id: None,
        }
    }

    fn ticket(objective: &str) -> Ticket {
        new(objective).into_ticket(&ProjectId::default_project(), at(0)).expect("valid").0
    }

    #[test]
    fn readiness_across_a_dependency_chain() {
        // c depends on b, b on a: only a is ready until its dependency completes.
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let edges = [(b, a), (c, b)];
        let mut st =
            BTreeMap::from([(a, TicketStatus::Pending), (b, TicketStatus::Pending), (c, TicketStatus::Pending)]);
        let r = readiness(&st, &edges);
        assert_eq!((r[&a], r[&b], r[&c]), (true, false, false));
        st.insert(a, TicketStatus::InProgress);
        let r = readiness(&st, &edges);
        assert_eq!((r[&a], r[&b], r[&c]), (false, false, false), "in progress is neither ready nor done");
        st.insert(a, TicketStatus::Completed);
        let r = readiness(&st, &edges);
        assert_eq!((r[&a], r[&b], r[&c]), (false, true, false));
        st.insert(b, TicketStatus::Failed);
        let r = readiness(&st, &edges);
        assert!(!r[&c], "a failed dependency does not count as done");
        st.insert(b, TicketStatus::Completed);
        assert!(readiness(&st, &edges)[&c]);
        let unknown = Uuid::new_v4();
        assert!(!readiness(&st, &[(c, unknown)])[&c], "a dependency on a missing ticket is not met");
        assert!(is_ready(TicketStatus::Pending, []));
        assert!(!is_ready(TicketStatus::Blocked, []));
    }

    #[test]
    fn a_dependency_closing_a_cycle_is_found_with_its_path() {
        let (a, b, c, d) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let edges = [(a, b), (b, c)];
        assert_eq!(cycle(&edges, c, a), Some(vec![c, a, b, c]));
        assert_eq!(cycle(&edges, a, a), Some(vec![a, a]));
        assert_eq!(cycle(&edges, a, c), None, "a shortcut along the chain is no cycle");
        assert_eq!(cycle(&edges, d, a), None);
        let e = cycle_error(&[c, a, b, c]);
        assert_eq!(e.field, "depends_on_id");
        assert!(e.message.contains(&format!("{c} -> {a}")), "{e}");
    }

    #[test]
    fn status_changes_append_events_and_set_resolved_at() {
        let t = ticket("check the pool");
        let done =
            TicketPatch { status: Some(TicketStatus::Completed), note: Some("fixed".into()), ..Default::default() };
        let (t2, ev) = apply(&t, &done, at(60)).expect("allowed");
        assert_eq!((t2.status, t2.resolved_at, t2.updated_at), (TicketStatus::Completed, Some(at(60)), at(60)));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].event_type, "status_changed");
        assert_eq!(ev[0].data, json!({"from": "pending", "to": "completed", "note": "fixed"}));
        let fail = TicketPatch { status: Some(TicketStatus::Failed), ..Default::default() };
        let e = apply(&t2, &fail, at(61)).expect_err("completed to failed is refused");
        assert_eq!(e.field, "status");
        let reopen = TicketPatch { status: Some(TicketStatus::Pending), ..Default::default() };
        let (t3, _) = apply(&t2, &reopen, at(62)).expect("reopen");
        assert_eq!(t3.resolved_at, None);
        let same = TicketPatch { status: Some(TicketStatus::Pending), ..Default::default() };
        let (t4, ev) = apply(&t3, &same, at(63)).expect("no change");
        assert!(ev.is_empty());
        assert_eq!(t4.updated_at, at(62), "nothing changed, nothing touched");
        assert_eq!(apply(&t3, &TicketPatch::default(), at(64)).expect_err("empty").field, "status");
    }

    #[test]
    fn context_merges_keys_and_removes_nulls() {
        let mut t = ticket("x");
        t.context = json!({"a": 1, "b": 2});
        let p = TicketPatch { context: Some(json!({"b": null, "c": 3, "a": 1})), ..Default::default() };
        let (t2, ev) = apply(&t, &p, at(5)).expect("merge");
        assert_eq!(t2.context, json!({"a": 1, "c": 3}));
        assert_eq!(ev[0].data, json!({"changes": {"b": null, "c": 3}}));
        let bad = TicketPatch { context: Some(json!([1])), ..Default::default() };
        assert_eq!(apply(&t, &bad, at(5)).expect_err("array").field, "context");
    }

    #[test]
    fn bad_input_names_the_field() {
        let mut n = new(" ");
        assert_eq!(n.validate().expect_err("blank").field, "objective");
        n.objective = "ok".into();
        n.success_criteria = vec!["fine".into(), "".into()];
        assert_eq!(n.validate().expect_err("blank criterion").field, "success_criteria[1]");
        n.success_criteria.clear();
        n.context = json!("text");
        assert_eq!(n.validate().expect_err("not an object").field, "context");
        n.context = json!({});
        n.source_type = TicketSource::Slo;
        assert_eq!(n.validate().expect_err("no source id").field, "source_id");
        let id = Uuid::new_v4();
        assert_eq!(client_event(id, "Note!", json!({}), at(0)).expect_err("chars").field, "event_type");
        assert_eq!(client_event(id, "created", json!({}), at(0)).expect_err("system").field, "event_type");
        assert_eq!(client_event(id, "note", json!(1), at(0)).expect_err("data").field, "data");
        assert!(client_event(id, "agent_action", json!({"tool": "kubectl"}), at(0)).is_ok());
        let q = TicketQuery { limit: 0, ..Default::default() };
        assert_eq!(q.validate().expect_err("limit").field, "limit");
        assert_eq!("ready".parse::<StatusFilter>(), Ok(StatusFilter::Ready));
        assert!("done".parse::<StatusFilter>().expect_err("unknown").contains("ready"));
    }

    #[test]
    fn lists_put_the_most_urgent_then_the_oldest_first() {
        let mut a = ticket("a");
        let mut b = ticket("b");
        let c = ticket("c");
        a.priority = TicketPriority::Low;
        b.created_at = at(-10);
        let mut v = [a.clone(), c.clone(), b.clone()];
        v.sort_by(list_order);
        assert_eq!(v.iter().map(|t| t.objective.as_str()).collect::<Vec<_>>(), ["b", "c", "a"]);
        assert_eq!(TicketPriority::from_rank(TicketPriority::Critical.rank()), Some(TicketPriority::Critical));
        assert_eq!(TicketPriority::of_severity(1), TicketPriority::Critical);
        assert_eq!(TicketPriority::of_severity(5), TicketPriority::Low);
    }

    #[test]
    fn an_incident_offers_one_follow_up_per_top_hypothesis_and_per_runbook() {
        let incident: Incident = serde_json::from_value(json!({
            "incident_id": Uuid::new_v4(), "service_id": Uuid::new_v4(), "status": "open", "severity": 2,
            "trigger_type": "alert", "window_start": at(0), "window_end": at(600), "created_at": at(0),
            "updated_at": at(0), "resolved_at": null, "resolution_kind": null, "resolution_summary": null,
            "resolved_hypothesis_id": null
        }))
        .expect("incident");
        let h = |rank: i32, kind: &str, title: &str| -> Hypothesis {
            serde_json::from_value(json!({
                "hypothesis_id": Uuid::new_v4(), "incident_id": incident.incident_id, "rank": rank,
                "hypothesis_type": kind, "title": title, "confidence": 0.5, "evidence_ids": [],
                "details": {"culprit": "deployment:x"}
            }))
            .expect("hypothesis")
        };
        let hs = [
            h(3, "db", "slow queries"),
            h(1, "release", "deploy 4.17"),
            h(2, "unknown", "nothing"),
            h(4, "infra", "node"),
        ];
        let runbooks = [("Pool exhaustion".to_string(), Some("https://wiki/pool".to_string()))];
        let out = follow_ups(&incident, "prod/shop/checkout", &hs, &runbooks, 3);
        let objectives: Vec<&str> = out.iter().map(|t| t.objective.as_str()).collect();
        assert_eq!(objectives.len(), 4, "three hypotheses and one runbook");
        assert_eq!(objectives[0], "Confirm or rule out: deploy 4.17");
        assert!(objectives[1].starts_with("Find the cause"), "{}", objectives[1]);
        assert_eq!(objectives[3], "Walk through the runbook: Pool exhaustion");
        assert!(out.iter().all(|t| t.priority == TicketPriority::High && t.source_type == TicketSource::Incident));
        assert_eq!(out[0].context["culprit"], "deployment:x");
        assert_eq!(out[3].context["runbook_url"], "https://wiki/pool");
        assert!(out.iter().all(|t| t.validate().is_ok()));
    }

    #[tokio::test]
    async fn an_unconfigured_store_is_unavailable() {
        let e = Unconfigured.count_ready(&ProjectId::default_project()).await.expect_err("down");
        assert_eq!(e.kind, ErrorKind::Unavailable);
    }
}

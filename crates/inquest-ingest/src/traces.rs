//! The service graph from spans, as Grafana Tempo derives it: a span whose parent
//! belongs to another service is one call from the parent's service to its own; a
//! client span nobody answered (a database, a third-party API) is a call to the peer it
//! names. Calls are counted per edge and, per time bucket, turned into request rate,
//! error ratio and latency series of the called service, labelled with the caller.
//!
//! Spans of one trace arrive in any order and across deliveries, so a span whose
//! parent has not been seen waits (up to `wait`) for it; `drain` writes out the
//! buckets that are closed and forgets what waited too long.

use std::collections::{BTreeMap, HashMap};

use chrono::Duration;
use inquest_domain::{DependsOn, MetricPoint, Timestamp, series_name};

/// What a span is in its call, as OpenTelemetry's `SpanKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// One span, as much of it as the service graph needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    /// `None` for a trace's root span.
    pub parent_span_id: Option<String>,
    /// The service that emitted it (`service.name`, or a pod name mapped to its service).
    pub service: String,
    pub kind: SpanKind,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Status error (OTLP `STATUS_CODE_ERROR`, or an HTTP 5xx on the span).
    pub error: bool,
    /// The uninstrumented callee a client span names (`peer.service`, `db.system`,
    /// `server.address`), used when no span of the callee answers it.
    pub peer: Option<String>,
}

impl Span {
    fn seconds(&self) -> f64 {
        (self.end - self.start).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6
    }
}

/// Calls counted on one edge since the graph was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeCalls {
    pub edge: DependsOn,
    pub calls: u64,
    pub errors: u64,
}

/// What `drain` hands out: edges seen (with their running call counts) and the points
/// of the closed buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derived {
    pub edges: Vec<EdgeCalls>,
    pub points: Vec<MetricPoint>,
    /// Spans that waited for a parent longer than `wait` and were dropped.
    pub expired: usize,
}

/// The series written per edge and bucket, on the called service with `client` the caller.
pub mod metric {
    /// Calls per second.
    pub const REQUEST_RATE: &str = "service_graph_request_rate";
    /// Failed calls over calls.
    pub const ERROR_RATIO: &str = "service_graph_error_ratio";
    /// Median call duration, seconds.
    pub const LATENCY_P50: &str = "service_graph_latency_p50_seconds";
    /// 99th percentile call duration, seconds.
    pub const LATENCY_P99: &str = "service_graph_latency_p99_seconds";
    pub const ALL: [&str; 4] = [REQUEST_RATE, ERROR_RATIO, LATENCY_P50, LATENCY_P99];
}

#[derive(Debug, Clone)]
struct Seen {
    service: String,
    kind: SpanKind,
    error: bool,
    peer: Option<String>,
    end: Timestamp,
    seconds: f64,
    /// Whether a span of another service named this one as its parent.
    answered: bool,
}

#[derive(Debug, Clone, Default)]
struct Bucket {
    calls: u64,
    errors: u64,
    durations: Vec<f64>,
}

/// The running derivation. Feed it spans with `add`, take results with `drain`.
#[derive(Debug)]
pub struct ServiceGraph {
    bucket: Duration,
    wait: Duration,
    seen: HashMap<(String, String), Seen>,
    /// Spans whose parent has not arrived, by (trace id, parent span id).
    orphans: HashMap<(String, String), Vec<Span>>,
    buckets: BTreeMap<(Timestamp, DependsOn), Bucket>,
    totals: BTreeMap<DependsOn, (u64, u64)>,
    changed: Vec<DependsOn>,
}

impl ServiceGraph {
    /// `bucket`: the step of the edge series; `wait`: how long a span waits for its parent.
    pub fn new(bucket: Duration, wait: Duration) -> Self {
        let bucket = if bucket <= Duration::zero() { Duration::seconds(60) } else { bucket };
        Self {
            bucket,
            wait,
            seen: HashMap::new(),
            orphans: HashMap::new(),
            buckets: BTreeMap::new(),
            totals: BTreeMap::new(),
            changed: Vec::new(),
        }
    }

    /// Take in spans; returns how many calls between services they completed.
    pub fn add(&mut self, spans: impl IntoIterator<Item = Span>) -> usize {
        let mut calls = 0;
        for span in spans {
            calls += self.add_one(span);
        }
        calls
    }

    fn add_one(&mut self, span: Span) -> usize {
        let mut calls = 0;
        let key = (span.trace_id.clone(), span.span_id.clone());
        if let Some(parent_id) = &span.parent_span_id {
            let parent_key = (span.trace_id.clone(), parent_id.clone());
            match self.seen.get_mut(&parent_key) {
                Some(parent) => {
                    if parent.service != span.service {
                        parent.answered = true;
                        let (from, error) = (parent.service.clone(), parent.error || span.error);
                        self.call(from, span.service.clone(), span.start, span.seconds(), error);
                        calls += 1;
                    }
                }
                None => self.orphans.entry(parent_key).or_default().push(span.clone()),
            }
        }
        self.seen.insert(
            key.clone(),
            Seen {
                service: span.service.clone(),
                kind: span.kind,
                error: span.error,
                peer: span.peer.clone(),
                end: span.end,
                seconds: span.seconds(),
                answered: false,
            },
        );
        // Children that arrived before this span.
        if let Some(children) = self.orphans.remove(&key) {
            for child in children {
                if child.service != span.service {
                    if let Some(me) = self.seen.get_mut(&key) {
                        me.answered = true;
                    }
                    self.call(span.service.clone(), child.service.clone(), child.start, child.seconds(), span.error || child.error);
                    calls += 1;
                }
            }
        }
        calls
    }

    fn call(&mut self, from: String, to: String, at: Timestamp, seconds: f64, error: bool) {
        let edge = DependsOn { from, to };
        let start = self.bucket_start(at);
        let b = self.buckets.entry((start, edge.clone())).or_default();
        b.calls += 1;
        b.errors += u64::from(error);
        b.durations.push(seconds);
        let total = self.totals.entry(edge.clone()).or_insert((0, 0));
        total.0 += 1;
        total.1 += u64::from(error);
        self.changed.push(edge);
    }

    fn bucket_start(&self, at: Timestamp) -> Timestamp {
        let step = self.bucket.num_milliseconds().max(1);
        let ms = at.timestamp_millis();
        let start = ms - ms.rem_euclid(step);
        chrono::DateTime::from_timestamp_millis(start).unwrap_or(at)
    }

    /// Close every bucket that ends at or before `closed_before`; client spans that ended
    /// before `now - wait` with no answer become calls to their peer; spans that waited
    /// longer than `wait` for a parent are dropped. Edges whose counts changed since the
    /// last drain are returned with their running totals.
    pub fn drain(&mut self, closed_before: Timestamp, now: Timestamp) -> Derived {
        let mut derived = Derived::default();
        let cutoff = now - self.wait;
        // Unanswered client spans: a call to the peer they name.
        let mut peer_calls = Vec::new();
        self.seen.retain(|_, s| {
            if s.end >= cutoff {
                return true;
            }
            if s.kind == SpanKind::Client
                && !s.answered
                && let Some(peer) = &s.peer
                && peer != &s.service
            {
                peer_calls.push((s.service.clone(), peer.clone(), s.end, s.seconds, s.error));
            }
            false
        });
        for (from, to, end, seconds, error) in peer_calls {
            // An unanswered call lasts as long as the client span that made it.
            self.call(from, to, end, seconds, error);
        }
        self.orphans.retain(|_, children| {
            let keep = children.iter().any(|c| c.end >= cutoff);
            if !keep {
                derived.expired += children.len();
            }
            keep
        });
        let step = self.bucket.num_milliseconds() as f64 / 1000.0;
        let closed: Vec<(Timestamp, DependsOn)> =
            self.buckets.keys().filter(|(start, _)| *start + self.bucket <= closed_before).cloned().collect();
        for key in closed {
            let Some(mut b) = self.buckets.remove(&key) else { continue };
            let (ts, edge) = key;
            let labels: BTreeMap<String, String> = [("client".to_string(), edge.from.clone())].into();
            b.durations.sort_by(f64::total_cmp);
            let values = [
                (metric::REQUEST_RATE, b.calls as f64 / step),
                (metric::ERROR_RATIO, b.errors as f64 / b.calls.max(1) as f64),
                (metric::LATENCY_P50, quantile(&b.durations, 0.50)),
                (metric::LATENCY_P99, quantile(&b.durations, 0.99)),
            ];
            for (name, value) in values {
                derived.points.push(MetricPoint {
                    ts,
                    service_key: edge.to.clone(),
                    metric_name: series_name(name, &labels),
                    value,
                    labels: labels.clone(),
                });
            }
        }
        let mut changed = std::mem::take(&mut self.changed);
        changed.sort();
        changed.dedup();
        derived.edges = changed
            .into_iter()
            .filter_map(|edge| self.totals.get(&edge).map(|(c, e)| EdgeCalls { edge, calls: *c, errors: *e }))
            .collect();
        derived
    }

    /// Everything still open, closed now (the end of an import).
    pub fn finish(&mut self) -> Derived {
        let far = chrono::DateTime::<chrono::Utc>::MAX_UTC - Duration::days(1);
        self.drain(far, far)
    }

    /// Spans held: seen (for their children) plus waiting for a parent.
    pub fn held(&self) -> usize {
        self.seen.len() + self.orphans.values().map(Vec::len).sum::<usize>()
    }
}

/// Nearest-rank quantile of sorted values; 0 for none.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> Timestamp {
        chrono::Utc.timestamp_opt(1_700_000_000 + s, 0).single().expect("time")
    }

    fn span(id: &str, parent: Option<&str>, service: &str, kind: SpanKind, start: i64, ms: i64) -> Span {
        Span {
            trace_id: "t1".into(),
            span_id: id.into(),
            parent_span_id: parent.map(Into::into),
            service: service.into(),
            kind,
            start: at(start),
            end: at(start) + Duration::milliseconds(ms),
            error: false,
            peer: None,
        }
    }

    #[test]
    fn a_parent_in_another_service_is_a_call_whatever_the_arrival_order() {
        let mut g = ServiceGraph::new(Duration::seconds(60), Duration::seconds(30));
        // The child arrives first, then its parent, then a same-service child.
        g.add([span("b", Some("a"), "payments", SpanKind::Server, 1, 200)]);
        g.add([
            span("a", None, "checkout", SpanKind::Client, 0, 300),
            span("c", Some("a"), "checkout", SpanKind::Internal, 0, 10),
        ]);
        let d = g.finish();
        assert_eq!(d.edges.len(), 1);
        assert_eq!(d.edges[0].edge, DependsOn { from: "checkout".into(), to: "payments".into() });
        assert_eq!(d.edges[0].calls, 1);
        let rate = d.points.iter().find(|p| p.metric_name == r#"service_graph_request_rate{client="checkout"}"#);
        assert_eq!(rate.map(|p| (p.service_key.as_str(), p.value)), Some(("payments", 1.0 / 60.0)));
        let p99 = d.points.iter().find(|p| p.metric_name.starts_with(metric::LATENCY_P99)).expect("p99");
        assert!((p99.value - 0.2).abs() < 1e-9);
    }

    #[test]
    fn errors_and_buckets_are_counted_per_edge() {
        let mut g = ServiceGraph::new(Duration::seconds(60), Duration::seconds(30));
        let mut spans = Vec::new();
        for i in 0..10 {
            let parent = format!("p{i}");
            spans.push(span(&parent, None, "web", SpanKind::Client, i * 10, 50));
            let mut child = span(&format!("c{i}"), Some(&parent), "api", SpanKind::Server, i * 10, 40);
            child.error = i % 5 == 0;
            spans.push(child);
        }
        g.add(spans);
        // Only the first minute is closed at 60 s.
        let d = g.drain(at(60) + Duration::seconds(1), at(60));
        let first = |name: &str| d.points.iter().filter(|p| p.metric_name.starts_with(name)).count();
        assert_eq!(first(metric::REQUEST_RATE), 1);
        let ratio = d.points.iter().find(|p| p.metric_name.starts_with(metric::ERROR_RATIO)).expect("ratio");
        assert!(ratio.value > 0.0 && ratio.value < 1.0);
        let rest = g.finish();
        assert_eq!(rest.points.iter().filter(|p| p.metric_name.starts_with(metric::REQUEST_RATE)).count(), 1);
    }

    #[test]
    fn an_unanswered_client_span_calls_its_peer_and_lost_children_expire() {
        let mut g = ServiceGraph::new(Duration::seconds(60), Duration::seconds(5));
        let mut db = span("q", None, "orders", SpanKind::Client, 0, 20);
        db.peer = Some("postgres".into());
        g.add([db, span("x", Some("missing"), "orders", SpanKind::Server, 0, 20)]);
        let d = g.drain(at(120), at(120));
        assert_eq!(d.expired, 1);
        assert_eq!(d.edges.len(), 1);
        assert_eq!(d.edges[0].edge.to, "postgres");
        assert_eq!(g.held(), 0);
    }
}

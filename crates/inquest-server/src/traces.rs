//! The OTLP trace receiver's state: one `ServiceGraph` per project fed by
//! `POST /v1/traces`, bounded in spans held, and the flush that writes its closed
//! buckets through the metrics port and its edges and call counts through the topology
//! port. A store that is down keeps what it did not take for the next flush (bounded)
//! and is counted. Counters: `inquest_trace_*` on the intake's registry.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use crate::otlp::{Decoded, Rejection};
use chrono::Duration;
use inquest_domain::{DependsOn, EdgeCalls, MetricPoint, ProjectId, Timestamp, TopologyNode};
use inquest_ingest::traces::ServiceGraph;
use inquest_ports::Stores;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// How the receiver derives and holds the service graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceConfig {
    /// The step of the edge series.
    pub bucket: Duration,
    /// How long a span waits for its parent, and a client span for its answer.
    pub wait: Duration,
    /// Spans held per project; beyond it the ones that ended first are dropped.
    pub max_held_spans: usize,
    /// The largest body taken, compressed or decompressed.
    pub max_body_bytes: usize,
}

impl Default for TraceConfig {
    fn default() -> Self {
        Self {
            bucket: Duration::seconds(60),
            wait: Duration::seconds(10),
            max_held_spans: 1_000_000,
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The receiver's counters.
#[derive(Clone)]
pub struct TraceMetrics {
    /// `inquest_trace_spans_received_total`: spans taken into the service graph.
    pub received: IntCounter,
    /// `inquest_trace_spans_rejected_total{reason}`: spans refused (`invalid_ids`,
    /// `invalid_times`, `no_service`), the rest of their request kept.
    pub rejected: IntCounterVec,
    /// `inquest_trace_requests_rejected_total{reason}`: whole requests refused
    /// (`unsupported_media_type`, `unsupported_encoding`, `too_large`, `malformed`).
    pub requests_rejected: IntCounterVec,
    /// `inquest_trace_spans_expired_total`: spans whose parent never came within the wait.
    pub expired: IntCounter,
    /// `inquest_trace_spans_dropped_total`: spans dropped, oldest first, beyond `max_held_spans`.
    pub dropped: IntCounter,
    /// `inquest_trace_spans_held`: spans held, every project.
    pub held: IntGauge,
    /// `inquest_trace_edges`: distinct edges derived since the start, every project.
    pub edges: IntGauge,
    /// `inquest_trace_flush_failures_total{port}`: flushes a store refused (`metrics`, `topology`).
    pub flush_failures: IntCounterVec,
    /// `inquest_trace_points_written_total`: edge series points written to the metrics port.
    pub points_written: IntCounter,
    /// `inquest_trace_points_dropped_total`: points given up while the metrics store was down.
    pub points_dropped: IntCounter,
}

impl TraceMetrics {
    pub fn with_registry(registry: &Registry) -> prometheus::Result<TraceMetrics> {
        fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> prometheus::Result<C> {
            r.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let vec = |name: &str, help: &str, label: &str| IntCounterVec::new(Opts::new(name, help), &[label]);
        let m = TraceMetrics {
            received: reg(registry, IntCounter::new("inquest_trace_spans_received_total", "OTLP spans taken")?)?,
            rejected: reg(
                registry,
                vec("inquest_trace_spans_rejected_total", "OTLP spans refused, by reason", "reason")?,
            )?,
            requests_rejected: reg(
                registry,
                vec("inquest_trace_requests_rejected_total", "OTLP trace requests refused, by reason", "reason")?,
            )?,
            expired: reg(
                registry,
                IntCounter::new("inquest_trace_spans_expired_total", "Spans whose parent did not come in time")?,
            )?,
            dropped: reg(
                registry,
                IntCounter::new("inquest_trace_spans_dropped_total", "Spans dropped beyond the held limit")?,
            )?,
            held: reg(registry, IntGauge::new("inquest_trace_spans_held", "Spans held for the service graph")?)?,
            edges: reg(registry, IntGauge::new("inquest_trace_edges", "Service graph edges derived from spans")?)?,
            flush_failures: reg(
                registry,
                vec("inquest_trace_flush_failures_total", "Service graph flushes a store refused", "port")?,
            )?,
            points_written: reg(
                registry,
                IntCounter::new("inquest_trace_points_written_total", "Edge series points written")?,
            )?,
            points_dropped: reg(
                registry,
                IntCounter::new("inquest_trace_points_dropped_total", "Edge series points given up")?,
            )?,
        };
        // Every reason's series exists from the start, so a rate over it is defined.
        for r in Rejection::ALL {
            m.rejected.with_label_values(&[r.as_str()]);
        }
        for reason in ["unsupported_media_type", "unsupported_encoding", "too_large", "malformed"] {
            m.requests_rejected.with_label_values(&[reason]);
        }
        for port in ["metrics", "topology"] {
            m.flush_failures.with_label_values(&[port]);
        }
        Ok(m)
    }
}

/// What waits to be written for one project.
#[derive(Default)]
struct Pending {
    points: VecDeque<MetricPoint>,
    calls: BTreeMap<DependsOn, (u64, u64)>,
    nodes: BTreeMap<String, TopologyNode>,
}

impl Pending {
    fn add_calls(&mut self, calls: impl IntoIterator<Item = EdgeCalls>) {
        for c in calls {
            let sum = self.calls.entry(c.edge).or_insert((0, 0));
            sum.0 = sum.0.saturating_add(c.calls);
            sum.1 = sum.1.saturating_add(c.errors);
        }
    }
}

struct Project {
    graph: ServiceGraph,
    pending: Pending,
}

/// What one flush wrote and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flushed {
    pub points: usize,
    pub calls: usize,
    /// `(project, port)` of every write a store refused (kept for the next flush).
    pub failures: Vec<(ProjectId, &'static str)>,
}

/// The receiver's shared state.
pub struct Traces {
    pub config: TraceConfig,
    pub metrics: TraceMetrics,
    projects: Mutex<HashMap<ProjectId, Project>>,
}

impl Traces {
    pub fn new(registry: &Registry, config: TraceConfig) -> prometheus::Result<Traces> {
        Ok(Traces::with_metrics(TraceMetrics::with_registry(registry)?, config))
    }

    fn with_metrics(metrics: TraceMetrics, config: TraceConfig) -> Traces {
        Traces { config, metrics, projects: Mutex::new(HashMap::new()) }
    }

    /// A receiver with other settings and the same counters (nothing held is carried over).
    pub fn with_config(&self, config: TraceConfig) -> Traces {
        Traces::with_metrics(self.metrics.clone(), config)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProjectId, Project>> {
        // A panic while holding the lock leaves a graph that is still consistent enough to go on.
        self.projects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take the spans of one request into `project`'s graph, count them, keep the
    /// database nodes they name for the next flush.
    pub fn take(&self, project: &ProjectId, decoded: Decoded) {
        let m = &self.metrics;
        m.received.inc_by(decoded.spans.len() as u64);
        for (reason, n) in &decoded.rejected {
            m.rejected.with_label_values(&[reason.as_str()]).inc_by(*n);
        }
        let max = self.config.max_held_spans;
        let mut projects = self.lock();
        let p = projects.entry(project.clone()).or_insert_with(|| Project {
            graph: ServiceGraph::new(self.config.bucket, self.config.wait),
            pending: Pending::default(),
        });
        for node in decoded.peers {
            p.pending.nodes.insert(node.key.clone(), node);
        }
        p.graph.add(decoded.spans);
        if p.graph.held() > max {
            // Down to nine tenths, so a graph at its limit is not shed on every request.
            let dropped = p.graph.shed_oldest(max - max / 10);
            m.dropped.inc_by(dropped as u64);
        }
        Self::gauges(m, &projects);
    }

    fn gauges(m: &TraceMetrics, projects: &HashMap<ProjectId, Project>) {
        let held: usize = projects.values().map(|p| p.graph.held()).sum();
        let edges: usize = projects.values().map(|p| p.graph.edges()).sum();
        m.held.set(i64::try_from(held).unwrap_or(i64::MAX));
        m.edges.set(i64::try_from(edges).unwrap_or(i64::MAX));
    }

    /// Spans held in `project`.
    pub fn held(&self, project: &ProjectId) -> usize {
        self.lock().get(project).map_or(0, |p| p.graph.held())
    }

    /// Write every project's closed buckets (those ending `wait` before `now`) and its
    /// edges with their new calls; what a store refuses is kept for the next flush.
    pub async fn flush(&self, stores: &Stores, now: Timestamp) -> Flushed {
        let closed_before = now - self.config.wait;
        let mut work = Vec::new();
        {
            let mut projects = self.lock();
            for (id, p) in projects.iter_mut() {
                let derived = p.graph.drain(closed_before, now);
                self.metrics.expired.inc_by(derived.expired as u64);
                p.pending.points.extend(derived.points);
                p.pending.add_calls(derived.edges);
                self.bound(&mut p.pending.points);
                if p.pending.points.is_empty() && p.pending.calls.is_empty() && p.pending.nodes.is_empty() {
                    continue;
                }
                work.push((id.clone(), std::mem::take(&mut p.pending)));
            }
            Self::gauges(&self.metrics, &projects);
        }
        let mut flushed = Flushed::default();
        for (project, pending) in work {
            let scoped = stores.for_project(&project);
            let mut back = Pending::default();
            let Pending { points, calls: pending_calls, nodes: pending_nodes } = pending;
            let points: Vec<MetricPoint> = points.into_iter().collect();
            if !points.is_empty() {
                match scoped.metrics.insert_points(&points).await {
                    Ok(()) => {
                        flushed.points += points.len();
                        self.metrics.points_written.inc_by(points.len() as u64);
                    }
                    Err(e) => {
                        tracing::warn!(%project, error = %e, points = points.len(), "edge series not written, kept for the next flush");
                        self.metrics.flush_failures.with_label_values(&["metrics"]).inc();
                        flushed.failures.push((project.clone(), "metrics"));
                        back.points = points.into();
                    }
                }
            }
            let calls: Vec<EdgeCalls> = pending_calls
                .iter()
                .map(|(edge, (calls, errors))| EdgeCalls { edge: edge.clone(), calls: *calls, errors: *errors })
                .collect();
            let nodes: Vec<TopologyNode> = pending_nodes.values().cloned().collect();
            if !calls.is_empty() || !nodes.is_empty() {
                let edges: Vec<DependsOn> = calls.iter().map(|c| c.edge.clone()).collect();
                let written = async {
                    scoped.topology.upsert_nodes(&nodes).await?;
                    scoped.topology.upsert_edges(&edges).await?;
                    scoped.topology.record_calls(&calls).await
                }
                .await;
                match written {
                    Ok(()) => flushed.calls += calls.len(),
                    Err(e) => {
                        tracing::warn!(%project, error = %e, edges = calls.len(), "service graph edges not written, kept for the next flush");
                        self.metrics.flush_failures.with_label_values(&["topology"]).inc();
                        flushed.failures.push((project.clone(), "topology"));
                        back.calls = pending_calls;
                        back.nodes = pending_nodes;
                    }
                }
            }
            if back.points.is_empty() && back.calls.is_empty() && back.nodes.is_empty() {
                continue;
            }
            // Put back in front of what came meanwhile.
            let mut projects = self.lock();
            if let Some(p) = projects.get_mut(&project) {
                let newer = std::mem::take(&mut p.pending);
                back.points.extend(newer.points);
                back.add_calls(newer.calls.into_iter().map(|(edge, (calls, errors))| EdgeCalls {
                    edge,
                    calls,
                    errors,
                }));
                back.nodes.extend(newer.nodes);
                self.bound(&mut back.points);
                p.pending = back;
            }
        }
        flushed
    }

    /// Points kept for a store that is down: at most `max_held_spans`, the oldest given up.
    fn bound(&self, points: &mut VecDeque<MetricPoint>) {
        let excess = points.len().saturating_sub(self.config.max_held_spans);
        if excess > 0 {
            points.drain(..excess);
            self.metrics.points_dropped.inc_by(excess as u64);
        }
    }
}

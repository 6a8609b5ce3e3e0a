//! The Nezha layout (Train Ticket, Online Boutique): `rca_data/<date>/<date>-fault_list.json`
//! labels keyed by hour, `rca_data/<date>/metric/<pod>_metric.csv` per pod (60 s step),
//! `front_service.csv` for the user-facing SLI, and `construct_data/<date>/metric/`
//! with fault-free data of the same system.
//!
//! Conversion (documented in the README, Evaluation):
//! - a pod is mapped to its service by stripping the two replica-set suffixes
//!   (`ts-contacts-service-866bd68c97-xcqfx` is `ts-contacts-service`); host metrics
//!   (`Node*` columns) are left out;
//! - the clock to trust is the `inject_time` string and the `Time` column (UTC); the
//!   numeric `inject_timestamp` is ignored (it is hours off for some faults);
//! - one case per fault: the incident window is the 5 minutes after the injection, cut
//!   at the next injection; the case carries the hour before it as baseline, taken
//!   from `construct_data` when it holds that period (else from `rca_data`), without
//!   the windows of the other labelled faults (so the baseline is fault-free);
//! - the incident's service is the user-facing `frontend`. No call graph file is given:
//!   it comes from the traces (`rca_data/<date>/trace/HH_MM_trace.csv`, one file per
//!   minute around each fault, and the fault-free minute of `construct_data/<date>/trace/`),
//!   through the same service-graph derivation the OTLP receiver uses
//!   (`inquest_ingest::traces`): a span whose parent runs in another service is one call
//!   from the parent's service to its own, and the front service depends on the services
//!   whose spans start traces (the entry, `ts-gateway-service`). The files give no span
//!   kinds and no status codes: a span with a child in another service is taken as that
//!   call's client span (the call lasts as long as the caller waited), and no call counts
//!   as failed. A case with no trace file in its period keeps the star of the front
//!   service over every service (every service one hop away);
//! - the edge series (`service_graph_request_rate{client="<caller>"}`, `..._error_ratio`,
//!   `..._latency_p50_seconds`, `..._latency_p99_seconds`, on the called service) are
//!   written among the case's metric points, in buckets of the metric step aligned to the
//!   metric clock (the trace files are cut on it), stamped at the bucket's start; a bucket
//!   the files do not cover for nine tenths of it is left out (its rate would be short).
//!   Their history is what the traces hold before the injection outside the other faults'
//!   windows: the minute before it, and the fault-free minute of `construct_data` when it
//!   falls in the case's hour before;
//! - truth type: `cpu_contention`/`cpu_consumed` are `infra`; `network_delay`,
//!   `return` and `exception` are `dependency` (seen from the front service, a service
//!   answering late, wrongly or with exceptions is a failing dependency; no change
//!   record exists to blame a release).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use inquest_ingest::traces::{ServiceGraph, Span, SpanKind};
use serde::Deserialize;

use crate::{ImportError, ImportMeta, ImportedCase, ServiceKind, case_id, cell_number, dir_name, metric_name};

/// The service name given to `front_service.csv`.
pub const FRONT_SERVICE: &str = "frontend";
const BASELINE_MINUTES: i64 = 60;
const WINDOW_MINUTES: i64 = 5;

#[derive(Debug, Deserialize)]
struct Fault {
    inject_time: String,
    inject_pod: String,
    inject_type: String,
}

/// `(service, metric) -> points sorted by time`.
type Series = BTreeMap<(String, String), Vec<(DateTime<Utc>, f64)>>;

/// The service of a pod: its name without the two replica-set suffixes.
pub fn service_of_pod(pod: &str) -> String {
    let parts: Vec<&str> = pod.split('-').collect();
    if parts.len() > 2 { parts[..parts.len() - 2].join("-") } else { pod.to_string() }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let head = s.trim().get(..19)?;
    NaiveDateTime::parse_from_str(head, "%Y-%m-%d %H:%M:%S").ok().map(|n| n.and_utc())
}

/// Import every labelled fault under `root` (the directory holding `rca_data/`).
pub fn import_nezha(root: &Path) -> Result<Vec<ImportedCase>, ImportError> {
    let rca = root.join("rca_data");
    if !rca.is_dir() {
        return Err(ImportError::invalid(root, "no rca_data/ directory here (Nezha layout)"));
    }
    let dataset = dir_name(root);
    let mut dates: Vec<PathBuf> = read_dir(&rca)?.into_iter().filter(|p| p.is_dir()).collect();
    dates.sort();
    let mut cases = Vec::new();
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    for date_dir in dates {
        let date = dir_name(&date_dir);
        let list_path = read_dir(&date_dir)?
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("fault_list.json")))
            .ok_or_else(|| ImportError::invalid(&date_dir, "no *fault_list.json here"))?;
        let text = std::fs::read_to_string(&list_path).map_err(|e| ImportError::io(&list_path, e))?;
        let by_hour: BTreeMap<String, Vec<Fault>> =
            serde_json::from_str(&text).map_err(|e| ImportError::line(&list_path, e.line() as u64, e))?;
        let mut faults: Vec<(DateTime<Utc>, Fault)> = Vec::new();
        for (hour, list) in by_hour {
            for f in list {
                let t = parse_time(&f.inject_time).ok_or_else(|| {
                    ImportError::invalid(
                        &list_path,
                        format!("hour {hour}: inject_time '{}' is not 'YYYY-MM-DD HH:MM:SS'", f.inject_time),
                    )
                })?;
                faults.push((t, f));
            }
        }
        faults.sort_by_key(|(t, _)| *t);
        if faults.is_empty() {
            continue;
        }
        let metric_dir = date_dir.join("metric");
        let construct_dir = root.join("construct_data").join(&date).join("metric");
        let (series, baseline_series) = read_metric_dir(&metric_dir, &construct_dir)?;
        let services: Vec<String> = {
            let mut s: Vec<String> = series.keys().map(|(s, _)| s.clone()).collect();
            s.dedup();
            s
        };
        if !services.iter().any(|s| s == FRONT_SERVICE) {
            return Err(ImportError::invalid(&metric_dir, "no front_service.csv (the user-facing SLI)"));
        }
        let step = metric_step(&series);
        let phase = clock_phase(&series, step);
        let traces = read_trace_dir(&date_dir.join("trace"))?;
        let construct_traces = read_trace_dir(&root.join("construct_data").join(&date).join("trace"))?;
        // Fault windows of this date: [injection, min(+5 min, next injection)).
        let windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = faults
            .iter()
            .enumerate()
            .map(|(i, (t, _))| {
                let end = *t + Duration::minutes(WINDOW_MINUTES);
                let end = faults.get(i + 1).map(|(n, _)| end.min(*n)).unwrap_or(end);
                (*t, end.max(*t + Duration::seconds(60)))
            })
            .collect();
        for (i, (t, f)) in faults.iter().enumerate() {
            let truth = service_of_pod(&f.inject_pod);
            if !services.contains(&truth) {
                return Err(ImportError::invalid(
                    &list_path,
                    format!(
                        "inject_pod {} (service {truth}) has no metric file in {}",
                        f.inject_pod,
                        metric_dir.display()
                    ),
                ));
            }
            let (ws, we) = windows[i];
            let from = ws - Duration::minutes(BASELINE_MINUTES);
            let in_other_fault =
                |ts: DateTime<Utc>| windows.iter().enumerate().any(|(j, (a, b))| j != i && ts >= *a && ts < *b);
            let mut metrics = Vec::new();
            for ((svc, metric), points) in &series {
                // Baseline period from the fault-free data when it covers it.
                let base = baseline_series
                    .as_ref()
                    .and_then(|b| b.get(&(svc.clone(), metric.clone())))
                    .filter(|b| b.iter().filter(|(ts, _)| *ts >= from && *ts < ws).count() >= 10);
                let base_points = base.unwrap_or(points);
                for (ts, v) in base_points.iter().filter(|(ts, _)| *ts >= from && *ts < ws && !in_other_fault(*ts)) {
                    metrics.push((*ts, svc.clone(), metric.clone(), *v));
                }
                for (ts, v) in points.iter().filter(|(ts, _)| *ts >= ws && *ts < we) {
                    metrics.push((*ts, svc.clone(), metric.clone(), *v));
                }
            }
            // The call graph and the edge series from the traces of the case's period.
            let own: Vec<&TraceFile> =
                traces.iter().filter(|f| f.overlaps(from, we) && !f.within(in_other_fault)).collect();
            let fault_free: Vec<&TraceFile> = construct_traces.iter().filter(|f| f.overlaps(from, ws)).collect();
            let mut case_services: Vec<String> = services.clone();
            let edges = if own.is_empty() {
                services
                    .iter()
                    .filter(|s| s.as_str() != FRONT_SERVICE)
                    .map(|s| (FRONT_SERVICE.to_string(), s.clone()))
                    .collect()
            } else {
                let graph = derive_graph(&own, step, phase);
                let history = derive_graph(&fault_free, step, phase);
                for (ts, svc, metric, v) in &graph.points {
                    let baseline = *ts >= from && *ts < ws && !in_other_fault(*ts);
                    if baseline || (*ts >= ws && *ts < we) {
                        metrics.push((*ts, svc.clone(), metric.clone(), *v));
                    }
                }
                // The fault-free minute where the case's own traces do not reach.
                let own_cover: Vec<(DateTime<Utc>, DateTime<Utc>)> = own.iter().map(|f| f.covers).collect();
                for (ts, svc, metric, v) in &history.points {
                    let clash = covered(&own_cover, *ts, *ts + step) > Duration::zero();
                    if *ts >= from && *ts < ws && !in_other_fault(*ts) && !clash {
                        metrics.push((*ts, svc.clone(), metric.clone(), *v));
                    }
                }
                let mut edges: BTreeSet<(String, String)> = graph.edges.into_iter().chain(history.edges).collect();
                for entry in graph.entries.iter().chain(&history.entries) {
                    if entry != FRONT_SERVICE {
                        edges.insert((FRONT_SERVICE.to_string(), entry.clone()));
                    }
                }
                for (a, b) in &edges {
                    for s in [a, b] {
                        if !case_services.contains(s) {
                            case_services.push(s.clone());
                        }
                    }
                }
                edges.into_iter().collect()
            };
            let short = truth.trim_start_matches("ts-").trim_end_matches("-service");
            let mut id = case_id(&["nezha", &date, &t.format("%H%M").to_string(), short, &f.inject_type]);
            let n = seen_ids.entry(id.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                id = format!("{id}-{n}");
            }
            let truth_type = match f.inject_type.as_str() {
                "cpu_contention" | "cpu_consumed" | "mem_stress" | "memory" => "infra",
                _ => "dependency",
            };
            cases.push(ImportedCase {
                id,
                description: format!(
                    "{} injected into pod {} at {} UTC ({dataset})",
                    f.inject_type,
                    f.inject_pod,
                    t.format("%Y-%m-%d %H:%M:%S")
                ),
                cluster: "nezha".into(),
                namespace: case_id(&[&dataset]),
                services: case_services.iter().map(|s| (s.clone(), ServiceKind::Service)).collect(),
                edges,
                metrics,
                incident_service: FRONT_SERVICE.into(),
                window_start: ws,
                window_end: we,
                truth_service: truth,
                truth_type: truth_type.into(),
                notes: format!("{} on pod {} (label from {})", f.inject_type, f.inject_pod, list_path.display()),
                meta: ImportMeta {
                    format: crate::Format::Nezha,
                    dataset: dataset.clone(),
                    fault_type: f.inject_type.clone(),
                    source: format!("rca_data/{date}"),
                },
            });
        }
    }
    if cases.is_empty() {
        return Err(ImportError::invalid(&rca, "no labelled faults found"));
    }
    Ok(cases)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| ImportError::io(dir, e))?.filter_map(Result::ok).map(|e| e.path()).collect();
    v.sort();
    Ok(v)
}

/// Read every pod file (and `front_service.csv`) of a date; the fault-free copy from
/// `construct_dir` is read too when it exists and differs from the faulty one.
fn read_metric_dir(dir: &Path, construct_dir: &Path) -> Result<(Series, Option<Series>), ImportError> {
    let mut series = Series::new();
    let mut baseline = Series::new();
    let mut any_baseline = false;
    for path in read_dir(dir)? {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        let service = if name == "front_service.csv" {
            FRONT_SERVICE.to_string()
        } else if let Some(pod) = name.strip_suffix("_metric.csv") {
            service_of_pod(pod)
        } else {
            continue;
        };
        let bytes = std::fs::read(&path).map_err(|e| ImportError::io(&path, e))?;
        read_metric_file(&path, &bytes, &service, &mut series)?;
        let twin = construct_dir.join(&name);
        if twin.is_file() {
            let other = std::fs::read(&twin).map_err(|e| ImportError::io(&twin, e))?;
            if other != bytes {
                read_metric_file(&twin, &other, &service, &mut baseline)?;
                any_baseline = true;
            }
        }
    }
    if series.is_empty() {
        return Err(ImportError::invalid(dir, "no *_metric.csv files here"));
    }
    for v in series.values_mut().chain(baseline.values_mut()) {
        v.sort_by_key(|(t, _)| *t);
    }
    Ok((series, any_baseline.then_some(baseline)))
}

fn read_metric_file(path: &Path, bytes: &[u8], service: &str, out: &mut Series) -> Result<(), ImportError> {
    let mut r = csv::ReaderBuilder::new().from_reader(bytes);
    let headers = r.headers().map_err(|e| ImportError::line(path, 1, e))?.clone();
    let time_col = headers
        .iter()
        .position(|h| h == "Time")
        .ok_or_else(|| ImportError::line(path, 1, "no 'Time' column in the header"))?;
    let skip = ["Time", "TimeStamp", "PodName", "ServiceName"];
    let cols: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| !skip.contains(h) && !h.starts_with("Node"))
        .map(|(i, h)| (i, metric_name(h)))
        .collect();
    for rec in r.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            ImportError::line(path, line, e)
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let cell = rec.get(time_col).unwrap_or("");
        let ts = parse_time(cell)
            .ok_or_else(|| ImportError::line(path, line, format!("Time '{cell}' is not a UTC time")))?;
        for (i, m) in &cols {
            let Some(v) = cell_number(rec.get(*i).unwrap_or("")) else { continue };
            let v = v.map_err(|e| ImportError::line(path, line, format!("column {m}: {e}")))?;
            out.entry((service.to_string(), m.clone())).or_default().push((ts, v));
        }
    }
    Ok(())
}

/// The step of the metric files: the most common gap between two rows of the front
/// service (60 s in Nezha), one minute when it cannot be told.
fn metric_step(series: &Series) -> Duration {
    let mut gaps: BTreeMap<i64, usize> = BTreeMap::new();
    for ((svc, _), points) in series {
        if svc != FRONT_SERVICE {
            continue;
        }
        for w in points.windows(2) {
            let g = (w[1].0 - w[0].0).num_seconds();
            if g > 0 {
                *gaps.entry(g).or_default() += 1;
            }
        }
    }
    let best = gaps.into_iter().max_by_key(|(g, n)| (*n, -*g)).map(|(g, _)| g).unwrap_or(60);
    Duration::seconds(best)
}

/// Where within a step the metric clock ticks (the rows of 08:41:09, 08:42:09: 9 s);
/// the trace files are cut on the same clock, so the edge buckets start there too.
fn clock_phase(series: &Series, step: Duration) -> Duration {
    let first =
        series.iter().filter(|((s, _), _)| s == FRONT_SERVICE).filter_map(|(_, p)| p.first()).map(|(t, _)| *t).min();
    let step_ms = step.num_milliseconds().max(1);
    first.map(|t| Duration::milliseconds(t.timestamp_millis().rem_euclid(step_ms))).unwrap_or_else(Duration::zero)
}

/// One trace file: its spans and the period their starts cover.
#[derive(Debug)]
struct TraceFile {
    spans: Vec<Span>,
    /// From the 1st to the 99th percentile of the span starts (a few long traces that
    /// began earlier do not stretch it).
    covers: (DateTime<Utc>, DateTime<Utc>),
}

impl TraceFile {
    fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.covers.0 < to && self.covers.1 >= from
    }

    /// Whether the whole period of the file satisfies `inside` (another fault's window).
    fn within(&self, inside: impl Fn(DateTime<Utc>) -> bool) -> bool {
        inside(self.covers.0) && inside(self.covers.1)
    }
}

/// Every `*_trace.csv` of a directory (none when the directory does not exist), with
/// the client spans marked.
fn read_trace_dir(dir: &Path) -> Result<Vec<TraceFile>, ImportError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for path in read_dir(dir)? {
        if path.file_name().is_some_and(|n| n.to_string_lossy().ends_with("_trace.csv"))
            && let Some(f) = read_trace_file(&path)?
        {
            files.push(f);
        }
    }
    mark_clients(&mut files);
    Ok(files)
}

/// Read one trace file (`TraceID,SpanID,ParentID,PodName,OperationName,
/// StartTimeUnixNano,EndTimeUnixNano,Duration`), streaming: each row is a span of the
/// pod's service; `ParentID` `root` (or empty) is a trace's first span. `None` for a
/// file with a header and no rows.
fn read_trace_file(path: &Path) -> Result<Option<TraceFile>, ImportError> {
    let file = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
    let mut r = csv::ReaderBuilder::new().from_reader(std::io::BufReader::new(file));
    let headers = r.headers().map_err(|e| ImportError::line(path, 1, e))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| ImportError::line(path, 1, format!("no '{name}' column in the header")))
    };
    let (trace_col, span_col, parent_col, pod_col) =
        (col("TraceID")?, col("SpanID")?, col("ParentID")?, col("PodName")?);
    let (start_col, end_col) = (col("StartTimeUnixNano")?, col("EndTimeUnixNano")?);
    let mut record = csv::StringRecord::new();
    let mut spans = Vec::new();
    loop {
        match r.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Err(ImportError::line(path, line, e));
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let cell = |i: usize| record.get(i).unwrap_or("").trim();
        let text = |i: usize, what: &str| -> Result<String, ImportError> {
            match cell(i) {
                "" => Err(ImportError::line(path, line, format!("{what} is empty"))),
                v => Ok(v.to_string()),
            }
        };
        let time = |i: usize, what: &str| -> Result<DateTime<Utc>, ImportError> {
            let v = cell(i);
            v.parse::<i64>()
                .map(DateTime::from_timestamp_nanos)
                .map_err(|_| ImportError::line(path, line, format!("{what} '{v}' is not nanoseconds since the epoch")))
        };
        let start = time(start_col, "StartTimeUnixNano")?;
        let end = time(end_col, "EndTimeUnixNano")?;
        if end < start {
            return Err(ImportError::line(path, line, "EndTimeUnixNano is before StartTimeUnixNano"));
        }
        let parent_span_id = match cell(parent_col) {
            "" | "root" => None,
            p => Some(p.to_string()),
        };
        spans.push(Span {
            trace_id: text(trace_col, "TraceID")?,
            span_id: text(span_col, "SpanID")?,
            parent_span_id,
            service: service_of_pod(&text(pod_col, "PodName")?),
            kind: SpanKind::Unspecified,
            start,
            end,
            error: false,
            peer: None,
        });
    }
    if spans.is_empty() {
        return Ok(None);
    }
    let mut starts: Vec<DateTime<Utc>> = spans.iter().map(|s| s.start).collect();
    starts.sort();
    let at = |q: f64| starts[((q * (starts.len() - 1) as f64).round() as usize).min(starts.len() - 1)];
    Ok(Some(TraceFile { covers: (at(0.01), at(0.99)), spans }))
}

/// A span with a child in another service made that call: it is the call's client span.
/// The files carry no span kinds; this is what an instrumented caller would have said.
fn mark_clients(files: &mut [TraceFile]) {
    let clients: HashSet<(String, String)> = {
        let service: HashMap<(&str, &str), &str> = files
            .iter()
            .flat_map(|f| &f.spans)
            .map(|s| ((s.trace_id.as_str(), s.span_id.as_str()), s.service.as_str()))
            .collect();
        files
            .iter()
            .flat_map(|f| &f.spans)
            .filter_map(|s| {
                let parent = s.parent_span_id.as_deref()?;
                let parent_service = service.get(&(s.trace_id.as_str(), parent))?;
                (*parent_service != s.service).then(|| (s.trace_id.clone(), parent.to_string()))
            })
            .collect()
    };
    for s in files.iter_mut().flat_map(|f| f.spans.iter_mut()) {
        if clients.contains(&(s.trace_id.clone(), s.span_id.clone())) {
            s.kind = SpanKind::Client;
        }
    }
}

/// What the traces of one case give.
#[derive(Debug, Default)]
struct CaseGraph {
    /// `(caller, callee)` with at least one call.
    edges: Vec<(String, String)>,
    /// Services whose spans start traces.
    entries: BTreeSet<String>,
    /// `(ts, service, metric, value)` of the buckets the files cover.
    points: Vec<(DateTime<Utc>, String, String, f64)>,
}

/// Run the files through one service graph, in buckets of `step` starting `phase` into
/// each step of the epoch; buckets the files cover for less than nine tenths are left out.
fn derive_graph(files: &[&TraceFile], step: Duration, phase: Duration) -> CaseGraph {
    let mut out = CaseGraph::default();
    if files.is_empty() {
        return out;
    }
    // ServiceGraph buckets start on the epoch's steps: shift the clock by the phase.
    let mut g = ServiceGraph::new(step, Duration::minutes(10));
    for f in files {
        out.entries.extend(f.spans.iter().filter(|s| s.parent_span_id.is_none()).map(|s| s.service.clone()));
        g.add(f.spans.iter().map(|s| Span { start: s.start - phase, end: s.end - phase, ..s.clone() }));
    }
    let d = g.finish();
    out.edges = d.edges.into_iter().filter(|e| e.calls > 0).map(|e| (e.edge.from, e.edge.to)).collect();
    let cover: Vec<(DateTime<Utc>, DateTime<Utc>)> = files.iter().map(|f| f.covers).collect();
    let need = step * 9 / 10;
    for p in d.points {
        let ts = p.ts + phase;
        if covered(&cover, ts, ts + step) >= need {
            out.points.push((ts, p.service_key, p.metric_name, p.value));
        }
    }
    out
}

/// How much of `[from, to)` the ranges cover; ranges closer than two seconds are one
/// (consecutive files leave a second between them).
fn covered(ranges: &[(DateTime<Utc>, DateTime<Utc>)], from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    let mut v: Vec<(DateTime<Utc>, DateTime<Utc>)> = ranges.to_vec();
    v.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (a, b) in v {
        match merged.last_mut() {
            Some(last) if a <= last.1 + Duration::seconds(2) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
        .into_iter()
        .map(|(a, b)| (b.min(to) - a.max(from)).max(Duration::zero()))
        .fold(Duration::zero(), |acc, d| acc + d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_map_to_services() {
        assert_eq!(service_of_pod("ts-contacts-service-866bd68c97-xcqfx"), "ts-contacts-service");
        assert_eq!(service_of_pod("redis"), "redis");
    }

    const HEADER: &str = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration";

    fn write_file(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("{HEADER}\n{body}")).expect("write");
        path
    }

    #[test]
    fn trace_rows_become_spans_and_a_child_before_its_parent_still_makes_a_call() {
        let tmp = tempfile::tempdir().expect("tmp");
        let s = 1_674_981_730_000_000_000i64; // 08:42:10 UTC, a second into a step of the metric clock
        let ms = 1_000_000i64;
        // Two pods of the gateway, one of travel; the travel span comes before the
        // gateway span it answers, and a same-service child adds no call.
        let body = [
            format!("t1,c1,g2,ts-travel-service-64469b5b48-25zj6,/api/v1/trips,{},{},200000", s + 5 * ms, s + 205 * ms),
            format!("t1,g1,root,ts-gateway-service-6f6cfc45b-h5m2n,/*,{s},{},300000", s + 300 * ms),
            format!("t1,g2,g1,ts-gateway-service-6f6cfc45b-h5m2n,HTTP POST,{},{},250000", s + ms, s + 251 * ms),
            format!("t2,g3,root,ts-gateway-service-6f6cfc45b-x9x9x,/*,{},{},1000", s + 10 * ms, s + 11 * ms),
        ]
        .join("\n");
        write_file(tmp.path(), "08_43_trace.csv", &body);
        let files = read_trace_dir(tmp.path()).expect("read");
        assert_eq!(files.len(), 1);
        let spans = &files[0].spans;
        assert_eq!(spans.len(), 4);
        assert_eq!(spans[0].service, "ts-travel-service");
        assert_eq!(spans[0].parent_span_id.as_deref(), Some("g2"));
        assert_eq!(spans[1].parent_span_id, None, "ParentID root is a trace's first span");
        assert_eq!((spans[1].end - spans[1].start).num_milliseconds(), 300);
        assert!(spans[1..].iter().all(|s| s.service == "ts-gateway-service"), "both gateway pods are one service");
        // The gateway span with a child in travel is the call's client span.
        let kinds: Vec<SpanKind> = spans.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [SpanKind::Unspecified, SpanKind::Unspecified, SpanKind::Client, SpanKind::Unspecified]);

        let refs: Vec<&TraceFile> = files.iter().collect();
        let g = derive_graph(&refs, Duration::seconds(60), Duration::zero());
        assert_eq!(g.edges, vec![("ts-gateway-service".to_string(), "ts-travel-service".to_string())]);
        assert_eq!(g.entries.iter().collect::<Vec<_>>(), ["ts-gateway-service"]);
        // 10 ms of spans cover far less than a bucket: no point is written for it.
        assert!(g.points.is_empty(), "{:?}", g.points);
        // Over a covered minute, the call's latency is what the caller waited (250 ms).
        let mut whole = TraceFile { spans: files[0].spans.clone(), covers: files[0].covers };
        whole.covers = (
            DateTime::from_timestamp_nanos(s) - Duration::seconds(1),
            DateTime::from_timestamp_nanos(s) + Duration::seconds(60),
        );
        let g = derive_graph(&[&whole], Duration::seconds(60), Duration::seconds(9));
        let p50 = g
            .points
            .iter()
            .find(|p| {
                p.1 == "ts-travel-service" && p.2 == r#"service_graph_latency_p50_seconds{client="ts-gateway-service"}"#
            })
            .expect("p50 on the callee");
        assert!((p50.3 - 0.25).abs() < 1e-9, "{p50:?}");
        assert_eq!(p50.0.timestamp() % 60, 9, "buckets start on the metric clock");
    }

    #[test]
    fn a_bad_trace_row_names_file_and_line() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = write_file(
            tmp.path(),
            "08_43_trace.csv",
            "t1,a,root,ts-a-service-1-2,/*,1,2,1\nt1,b,a,ts-b-service-1-2,x,soon,3,1\n",
        );
        let err = read_trace_file(&path).expect_err("bad time").to_string();
        assert!(err.contains("08_43_trace.csv line 3") && err.contains("StartTimeUnixNano 'soon'"), "{err}");
        std::fs::write(&path, "TraceID,SpanID,PodName\nt1,a,p\n").expect("write");
        let err = read_trace_file(&path).expect_err("no column").to_string();
        assert!(err.contains("no 'ParentID' column"), "{err}");
    }

    #[test]
    fn coverage_merges_back_to_back_files() {
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).expect("time");
        let ranges = [(t(0), t(59)), (t(60), t(119))];
        assert_eq!(covered(&ranges, t(30), t(90)), Duration::seconds(60));
        assert_eq!(covered(&ranges, t(200), t(260)), Duration::zero());
    }

    #[test]
    fn times_read_the_clock_string() {
        let t = parse_time("2023-01-29 08:41:09.104907624 +0000 UTC m=+0.181069486").expect("time");
        assert_eq!(t.to_rfc3339(), "2023-01-29T08:41:09+00:00");
        assert!(parse_time("yesterday").is_none());
    }
}

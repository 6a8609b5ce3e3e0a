//! From series to metric points, with per-series state in memory.
//!
//! Every finite sample of a kept series is stored raw under its series name. A counter
//! (metadata type COUNTER, or a `_total`, `_count` or `_sum` name) also gives
//! `rate(<series>)`, per second between consecutive samples, reset-aware, never across
//! a gap longer than `max_gap` or a staleness marker. The buckets of a classic histogram
//! (`<base>_bucket` with `le`) give `histogram_quantile(0.5|0.9|0.99, <base>{...})` from
//! the increase of every bucket between two consecutive complete scrapes; the buckets of
//! one scrape may come in different requests (Prometheus shards by series), so a scrape
//! is complete when it holds as many buckets as the last one, or, before one is known,
//! when a later scrape holds as many as it does.
//!
//! State is kept per series as sent (`instance` included, so two pods' counters never
//! mix) and is bounded: past `max_series` a new series is stored raw with no
//! derivation (counted); series silent for `idle` are forgotten. A write that fails
//! is rolled back (`Receiver::rollback`), so the sender's retry derives the same points.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use inquest_domain::{MetricPoint, series_name, service_key};

use super::proto::{Label, metric_type};
use super::rules::{Rules, valid_label_name};
use super::{WireSeries, WriteBatch};

/// The staleness marker Prometheus writes when a series disappears.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// The quantiles derived from a classic histogram, as written in the series name.
pub const QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99")];

/// Why a whole series was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeriesDrop {
    /// No `__name__`, or an empty one.
    NoMetricName,
    /// `__name__` not matching `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName,
    /// A label name or value that is not UTF-8.
    InvalidUtf8,
    /// A label name not matching `[a-zA-Z_][a-zA-Z0-9_]*`.
    InvalidLabelName,
    /// A label name or value longer than the rules allow.
    LabelTooLong,
    /// None of the service labels is present.
    NoService,
    /// Refused by a keep or drop rule.
    ByRule,
}

impl SeriesDrop {
    pub const ALL: [SeriesDrop; 7] = [
        SeriesDrop::NoMetricName,
        SeriesDrop::InvalidMetricName,
        SeriesDrop::InvalidUtf8,
        SeriesDrop::InvalidLabelName,
        SeriesDrop::LabelTooLong,
        SeriesDrop::NoService,
        SeriesDrop::ByRule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SeriesDrop::NoMetricName => "no_metric_name",
            SeriesDrop::InvalidMetricName => "invalid_metric_name",
            SeriesDrop::InvalidUtf8 => "invalid_utf8",
            SeriesDrop::InvalidLabelName => "invalid_label_name",
            SeriesDrop::LabelTooLong => "label_too_long",
            SeriesDrop::NoService => "no_service_label",
            SeriesDrop::ByRule => "rule",
        }
    }
}

/// Why one sample was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleReject {
    /// NaN (other than a staleness marker) or an infinity: no store holds it.
    NotFinite,
    /// Its series was dropped (`SeriesDrop`).
    SeriesDropped,
    /// A timestamp no date can represent.
    BadTimestamp,
}

impl SampleReject {
    pub const ALL: [SampleReject; 3] = [SampleReject::NotFinite, SampleReject::SeriesDropped, SampleReject::BadTimestamp];

    pub fn as_str(self) -> &'static str {
        match self {
            SampleReject::NotFinite => "not_finite",
            SampleReject::SeriesDropped => "series_dropped",
            SampleReject::BadTimestamp => "bad_timestamp",
        }
    }
}

/// What one request held and what became of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Samples in the body, staleness markers included.
    pub samples: usize,
    /// Samples stored raw.
    pub stored: usize,
    /// Points derived (rates and quantiles).
    pub derived: usize,
    pub staleness_markers: usize,
    /// Samples at or before their series' last one: stored raw, nothing derived.
    pub out_of_order: usize,
    /// Samples of series past the state bound: stored raw, nothing derived.
    pub untracked: usize,
    /// Scrapes of a histogram dropped before all their buckets came.
    pub incomplete_scrapes: usize,
    /// `SampleReject::ALL` order.
    pub rejected: [usize; 3],
    /// Series dropped, `SeriesDrop::ALL` order (a series counted once per request).
    pub dropped_series: [usize; 7],
    /// The newest sample's timestamp, milliseconds.
    pub newest_ms: Option<i64>,
}

impl Counts {
    fn reject(&mut self, why: SampleReject, n: usize) {
        self.rejected[SampleReject::ALL.iter().position(|r| *r == why).unwrap_or(0)] += n;
    }

    fn drop_series(&mut self, why: SeriesDrop) {
        self.dropped_series[SeriesDrop::ALL.iter().position(|r| *r == why).unwrap_or(0)] += 1;
    }

    pub fn rejected(&self, why: SampleReject) -> usize {
        self.rejected[SampleReject::ALL.iter().position(|r| *r == why).unwrap_or(0)]
    }

    pub fn dropped(&self, why: SeriesDrop) -> usize {
        self.dropped_series[SeriesDrop::ALL.iter().position(|r| *r == why).unwrap_or(0)]
    }
}

/// Bounds of the derivation state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceiverLimits {
    /// Series whose state is kept (rates and quantiles need the previous sample).
    pub max_series: usize,
    /// No rate or quantile across a gap longer than this, milliseconds.
    pub max_gap_ms: i64,
    /// A series with no sample for this long is forgotten, milliseconds.
    pub idle_ms: i64,
}

impl Default for ReceiverLimits {
    fn default() -> Self {
        ReceiverLimits { max_series: 1_000_000, max_gap_ms: 5 * 60_000, idle_ms: 15 * 60_000 }
    }
}

/// The points of one request, what happened to its samples, and what `rollback` needs.
#[derive(Debug)]
pub struct Received {
    pub points: Vec<MetricPoint>,
    pub counts: Counts,
    undo: Undo,
}

#[derive(Debug, Default)]
struct Undo {
    generation: u64,
    series: Vec<(u64, i64, f64, u64)>,
    groups: Vec<(u64, Option<Group>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
    Bucket,
}

/// A kept series, resolved once from its labels.
#[derive(Debug)]
struct Resolved {
    service_key: String,
    name: String,
    labels: BTreeMap<String, String>,
    metric: String,
    has_le: Option<f64>,
    type_hint: Option<i32>,
    kind: Kind,
    meta_version: u64,
    rate_name: String,
    /// For a bucket: its histogram (all labels but `le`) and its quantile names.
    group: Option<(u64, Arc<GroupNames>)>,
}

#[derive(Debug)]
struct GroupNames {
    names: [String; 3],
    labels: BTreeMap<String, String>,
}

#[derive(Debug)]
enum Target {
    Kept(Arc<Resolved>),
    Dropped(SeriesDrop),
}

#[derive(Debug)]
struct Entry {
    target: Target,
    last_ts: i64,
    /// NaN when the next sample starts afresh (first, after staleness).
    last_value: f64,
    seen_ms: i64,
    generation: u64,
}

#[derive(Debug, Clone)]
struct Group {
    service_key: String,
    names: Arc<GroupNames>,
    /// Scrapes still collecting buckets: timestamp → `(le, cumulative count)`.
    pending: BTreeMap<i64, Vec<(f64, f64)>>,
    prev: Option<(i64, Vec<(f64, f64)>)>,
    /// Buckets of the last complete scrape; 0 before one is known.
    known: usize,
    seen_ms: i64,
    generation: u64,
}

/// The map keys are already hashes.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type ByHash<V> = HashMap<u64, V, BuildHasherDefault<Identity>>;

#[derive(Default)]
struct Inner {
    series: ByHash<Entry>,
    groups: ByHash<Group>,
    metadata: HashMap<String, i32>,
    meta_version: u64,
    generation: u64,
    last_sweep_ms: i64,
}

/// Metadata families kept (Prometheus sends one per metric family).
const MAX_METADATA: usize = 100_000;
/// Scrapes of one histogram waiting for their buckets.
const MAX_PENDING_SCRAPES: usize = 8;

/// The receiver: rules, limits and the derivation state, shared by every request.
pub struct Receiver {
    rules: Rules,
    limits: ReceiverLimits,
    hasher: std::collections::hash_map::RandomState,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("rules", &self.rules).field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver::new(Rules::default(), ReceiverLimits::default())
    }
}

fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

fn valid_metric_name(name: &str) -> bool {
    let ok = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    name.bytes().next().is_some_and(|c| !c.is_ascii_digit() && ok(c)) && name.bytes().all(ok)
}

impl Receiver {
    pub fn new(rules: Rules, limits: ReceiverLimits) -> Receiver {
        Receiver { rules, limits, hasher: Default::default(), inner: Mutex::new(Inner::default()) }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state stays consistent through a panic: every update is one assignment.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Series whose state is held.
    pub fn active_series(&self) -> usize {
        self.lock().series.len()
    }

    fn hash(&self, labels: &[Label], skip: Option<&[u8]>) -> u64 {
        let mut h = self.hasher.build_hasher();
        for l in labels {
            if skip.is_some_and(|s| s == l.name.as_ref()) {
                continue;
            }
            h.write(&l.name);
            h.write_u8(0xff);
            h.write(&l.value);
            h.write_u8(0xfe);
        }
        h.finish()
    }

    /// Turn a decoded body into points; `now_ms` is the wall clock (for forgetting idle series).
    pub fn receive(&self, batch: WriteBatch, now_ms: i64) -> Received {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.generation += 1;
        let generation = inner.generation;
        let mut counts = Counts::default();
        let mut undo = Undo { generation, ..Undo::default() };
        for (family, t) in &batch.metadata {
            if let Ok(family) = std::str::from_utf8(family)
                && inner.metadata.get(family) != Some(t)
                && (inner.metadata.len() < MAX_METADATA || inner.metadata.contains_key(family))
            {
                inner.metadata.insert(family.to_string(), *t);
                inner.meta_version += 1;
            }
        }
        let mut points = Vec::with_capacity(batch.samples() + batch.samples() / 2);
        for series in &batch.series {
            self.series(inner, series, now_ms, &mut points, &mut counts, &mut undo);
        }
        if now_ms - inner.last_sweep_ms > (self.limits.idle_ms / 4).max(10_000) {
            inner.last_sweep_ms = now_ms;
            let cutoff = now_ms - self.limits.idle_ms;
            inner.series.retain(|_, e| e.seen_ms >= cutoff);
            inner.groups.retain(|_, g| g.seen_ms >= cutoff);
        }
        Received { points, counts, undo }
    }

    /// Put back the state a failed write changed, so its retry derives the same points.
    pub fn rollback(&self, received: Received) {
        let mut inner = self.lock();
        let undo = received.undo;
        for (key, last_ts, last_value, generation) in undo.series {
            if let Some(e) = inner.series.get_mut(&key)
                && e.generation == undo.generation
            {
                e.last_ts = last_ts;
                e.last_value = last_value;
                e.generation = generation;
            }
        }
        for (key, group) in undo.groups {
            let ours = inner.groups.get(&key).is_none_or(|g| g.generation == undo.generation);
            if ours {
                match group {
                    Some(g) => inner.groups.insert(key, g),
                    None => inner.groups.remove(&key),
                };
            }
        }
    }

    fn series(
        &self,
        inner: &mut Inner,
        series: &WireSeries,
        now_ms: i64,
        points: &mut Vec<MetricPoint>,
        counts: &mut Counts,
        undo: &mut Undo,
    ) {
        let key = self.hash(&series.labels, None);
        let generation = undo.generation;
        let mut scratch;
        let tracked = inner.series.contains_key(&key) || inner.series.len() < self.limits.max_series;
        let entry: &mut Entry = if tracked {
            inner.series.entry(key).or_insert_with(|| Entry {
                target: self.resolve(&series.labels, series.metric_type, &inner.metadata, inner.meta_version),
                last_ts: i64::MIN,
                last_value: f64::NAN,
                seen_ms: now_ms,
                generation: 0,
            })
        } else {
            scratch = Entry {
                target: self.resolve(&series.labels, series.metric_type, &inner.metadata, inner.meta_version),
                last_ts: i64::MIN,
                last_value: f64::NAN,
                seen_ms: now_ms,
                generation: 0,
            };
            &mut scratch
        };
        entry.seen_ms = now_ms;
        let resolved = match &mut entry.target {
            Target::Dropped(why) => {
                counts.samples += series.samples.len();
                counts.drop_series(*why);
                counts.reject(SampleReject::SeriesDropped, series.samples.len());
                return;
            }
            Target::Kept(r) => {
                if r.meta_version != inner.meta_version {
                    let kind = kind_of(&r.metric, r.has_le, r.type_hint, &inner.metadata);
                    if let Some(r) = Arc::get_mut(r) {
                        r.kind = kind;
                        r.meta_version = inner.meta_version;
                    }
                }
                r.clone()
            }
        };
        if tracked && entry.generation != generation {
            undo.series.push((key, entry.last_ts, entry.last_value, entry.generation));
            entry.generation = generation;
        }
        for s in &series.samples {
            counts.samples += 1;
            if is_stale(s.value) {
                counts.staleness_markers += 1;
                entry.last_value = f64::NAN;
                entry.last_ts = entry.last_ts.max(s.timestamp);
                if let Some((g, _)) = &resolved.group {
                    touch_group(&mut inner.groups, undo, *g);
                    inner.groups.remove(g);
                }
                continue;
            }
            if !s.value.is_finite() {
                counts.reject(SampleReject::NotFinite, 1);
                continue;
            }
            let Some(ts) = chrono::DateTime::from_timestamp_millis(s.timestamp) else {
                counts.reject(SampleReject::BadTimestamp, 1);
                continue;
            };
            counts.newest_ms = counts.newest_ms.max(Some(s.timestamp));
            points.push(MetricPoint {
                ts,
                service_key: resolved.service_key.clone(),
                metric_name: resolved.name.clone(),
                value: s.value,
                labels: resolved.labels.clone(),
            });
            counts.stored += 1;
            if !tracked {
                counts.untracked += 1;
                continue;
            }
            if s.timestamp <= entry.last_ts {
                counts.out_of_order += 1;
                continue;
            }
            let (prev_ts, prev_value) = (entry.last_ts, entry.last_value);
            entry.last_ts = s.timestamp;
            entry.last_value = s.value;
            match resolved.kind {
                Kind::Gauge => {}
                Kind::Counter => {
                    let gap = s.timestamp.saturating_sub(prev_ts);
                    if prev_value.is_nan() || gap > self.limits.max_gap_ms {
                        continue;
                    }
                    let increase = if s.value >= prev_value { s.value - prev_value } else { s.value };
                    points.push(MetricPoint {
                        ts,
                        service_key: resolved.service_key.clone(),
                        metric_name: resolved.rate_name.clone(),
                        value: increase * 1000.0 / gap as f64,
                        labels: resolved.labels.clone(),
                    });
                    counts.derived += 1;
                }
                Kind::Bucket => {
                    let (Some((g, names)), Some(le)) = (&resolved.group, resolved.has_le) else { continue };
                    touch_group(&mut inner.groups, undo, *g);
                    let group = inner.groups.entry(*g).or_insert_with(|| Group {
                        service_key: resolved.service_key.clone(),
                        names: names.clone(),
                        pending: BTreeMap::new(),
                        prev: None,
                        known: 0,
                        seen_ms: now_ms,
                        generation,
                    });
                    group.seen_ms = now_ms;
                    group.generation = generation;
                    for (at, values) in group.add(s.timestamp, le, s.value, self.limits.max_gap_ms, counts) {
                        let Some(at) = chrono::DateTime::from_timestamp_millis(at) else { continue };
                        for (value, name) in values.iter().zip(&group.names.names) {
                            if value.is_finite() {
                                points.push(MetricPoint {
                                    ts: at,
                                    service_key: group.service_key.clone(),
                                    metric_name: name.clone(),
                                    value: *value,
                                    labels: group.names.labels.clone(),
                                });
                                counts.derived += 1;
                            }
                        }
                    }
                }
            }
        }
    }

    fn resolve(&self, labels: &[Label], type_hint: Option<i32>, metadata: &HashMap<String, i32>, version: u64) -> Target {
        let rules = &self.rules;
        let mut name = None;
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(labels.len());
        for l in labels {
            let (Ok(n), Ok(v)) = (std::str::from_utf8(&l.name), std::str::from_utf8(&l.value)) else {
                return Target::Dropped(SeriesDrop::InvalidUtf8);
            };
            if n.len() > rules.max_label_name_bytes || v.len() > rules.max_label_value_bytes {
                return Target::Dropped(SeriesDrop::LabelTooLong);
            }
            if !valid_label_name(n.as_bytes()) {
                return Target::Dropped(SeriesDrop::InvalidLabelName);
            }
            if n == "__name__" {
                name = Some(v);
            } else if !v.is_empty() {
                pairs.push((n, v));
            }
        }
        let Some(name) = name.filter(|n| !n.is_empty()) else { return Target::Dropped(SeriesDrop::NoMetricName) };
        if !valid_metric_name(name) {
            return Target::Dropped(SeriesDrop::InvalidMetricName);
        }
        let get = |label: &str| pairs.iter().find(|(n, _)| *n == label).map(|(_, v)| *v);
        if !rules.keeps_metric(name) || !rules.keeps_series(|l| if l == "__name__" { Some(name) } else { get(l) }) {
            return Target::Dropped(SeriesDrop::ByRule);
        }
        let Some(service) = rules.service_labels.iter().find_map(|l| get(l)) else {
            return Target::Dropped(SeriesDrop::NoService);
        };
        let cluster = get(&rules.cluster_label).unwrap_or("default");
        let namespace = get(&rules.namespace_label).unwrap_or("default");
        let key = service_key(cluster, namespace, service);
        let kept: BTreeMap<String, String> = pairs
            .iter()
            .filter(|(n, _)| !rules.is_dropped_label(n))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let mut in_name: BTreeMap<String, String> =
            kept.iter().filter(|(n, _)| !rules.is_identity(n)).map(|(n, v)| (n.clone(), v.clone())).collect();
        let series = series_name(name, &in_name);
        let has_le = name.strip_suffix("_bucket").and(get("le")).and_then(|le| le.trim().parse::<f64>().ok());
        let kind = kind_of(name, has_le, type_hint, metadata);
        let group = has_le.map(|_| {
            in_name.remove("le");
            let base = name.strip_suffix("_bucket").unwrap_or(name);
            let inner = series_name(base, &in_name);
            let names = QUANTILES.map(|(_, q)| format!("histogram_quantile({q}, {inner})"));
            let mut group_labels = kept.clone();
            group_labels.remove("le");
            // Every label but `le` as sent, `instance` included: one histogram per target.
            (self.hash(labels, Some(b"le")), Arc::new(GroupNames { names, labels: group_labels }))
        });
        Target::Kept(Arc::new(Resolved {
            service_key: key,
            rate_name: format!("rate({series})"),
            name: series,
            labels: kept,
            metric: name.to_string(),
            has_le,
            type_hint,
            kind,
            meta_version: version,
            group,
        }))
    }
}

/// Keep what a group was before this request first changed it, for `rollback`.
fn touch_group(groups: &mut ByHash<Group>, undo: &mut Undo, key: u64) {
    let before = groups.get(&key);
    if before.is_some_and(|g| g.generation == undo.generation) || undo.groups.iter().any(|(k, _)| *k == key) {
        return;
    }
    undo.groups.push((key, before.cloned()));
}

/// What a series is, from its type (sent with it, or in the metadata of its family)
/// or, without one, from its name.
fn kind_of(name: &str, le: Option<f64>, hint: Option<i32>, metadata: &HashMap<String, i32>) -> Kind {
    let family = |suffix: &str| name.strip_suffix(suffix).and_then(|base| metadata.get(base).copied());
    let t = hint.or_else(|| metadata.get(name).copied()).or_else(|| {
        ["_bucket", "_count", "_sum", "_total"].iter().find_map(|suffix| family(suffix))
    });
    let summed = name.ends_with("_count") || name.ends_with("_sum");
    match t {
        Some(metric_type::HISTOGRAM) if le.is_some() => Kind::Bucket,
        Some(metric_type::HISTOGRAM | metric_type::SUMMARY) if summed => Kind::Counter,
        Some(metric_type::COUNTER) => Kind::Counter,
        Some(t) if t != 0 => Kind::Gauge,
        _ if le.is_some() => Kind::Bucket,
        _ if summed || name.ends_with("_total") => Kind::Counter,
        _ => Kind::Gauge,
    }
}

impl Group {
    /// Take one bucket's sample; returns the quantiles of every scrape it completed.
    fn add(&mut self, ts: i64, le: f64, value: f64, max_gap: i64, counts: &mut Counts) -> Vec<(i64, [f64; 3])> {
        let mut out = Vec::new();
        if let Some((prev_ts, prev)) = &self.prev
            && ts <= *prev_ts
        {
            // A bucket the last complete scrape lacked: the layout changed, learn it again.
            if !prev.iter().any(|(l, _)| *l == le) {
                self.known = 0;
            }
            return out;
        }
        let scrape = self.pending.entry(ts).or_default();
        match scrape.iter_mut().find(|(l, _)| *l == le) {
            Some(b) => b.1 = value,
            None => scrape.push((le, value)),
        }
        while self.pending.len() > MAX_PENDING_SCRAPES {
            self.pending.pop_first();
            counts.incomplete_scrapes += 1;
        }
        while let Some((&first, buckets)) = self.pending.first_key_value() {
            let n = buckets.len();
            let complete = (self.known > 0 && n >= self.known)
                || self.pending.range(first + 1..).any(|(_, later)| later.len() >= n);
            if !complete {
                break;
            }
            let Some((at, mut buckets)) = self.pending.pop_first() else { break };
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
                counts.incomplete_scrapes += 1;
                continue;
            }
            self.known = buckets.len();
            if let Some((prev_ts, prev)) = &self.prev
                && at - prev_ts <= max_gap
                && prev.len() == buckets.len()
                && prev.iter().zip(&buckets).all(|(a, b)| a.0 == b.0)
            {
                let increase: Vec<(f64, f64)> = prev
                    .iter()
                    .zip(&buckets)
                    .map(|(p, c)| (c.0, if c.1 >= p.1 { c.1 - p.1 } else { c.1 }))
                    .collect();
                out.push((at, QUANTILES.map(|(q, _)| bucket_quantile(q, &increase))));
            }
            self.prev = Some((at, buckets));
        }
        out
    }
}

/// Prometheus's `histogram_quantile` over cumulative buckets sorted by upper bound,
/// the last `+Inf`: linear interpolation inside the bucket the rank falls in; the upper
/// bound of the highest finite bucket when it falls in `+Inf`; NaN with no observation.
pub fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    if buckets.len() < 2 || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    // Counts of a cumulative histogram never decrease; repair what float sums broke.
    let mut counts: Vec<f64> = Vec::with_capacity(buckets.len());
    for (_, c) in buckets {
        let c = counts.last().map_or(*c, |prev: &f64| prev.max(*c));
        counts.push(c);
    }
    let total = counts[counts.len() - 1];
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let b = counts.iter().position(|c| *c >= rank).unwrap_or(counts.len() - 1);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (start, below) = if b == 0 { (0.0, 0.0) } else { (buckets[b - 1].0, counts[b - 1]) };
    let end = buckets[b].0;
    let in_bucket = counts[b] - below;
    if in_bucket <= 0.0 {
        return end;
    }
    start + (end - start) * ((rank - below) / in_bucket)
}

#[cfg(test)]
mod tests {
    use super::super::proto::Sample;
    use super::*;

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> WireSeries {
        WireSeries {
            labels: labels
                .iter()
                .map(|(n, v)| Label { name: n.as_bytes().to_vec().into(), value: v.as_bytes().to_vec().into() })
                .collect(),
            samples: samples.iter().map(|(t, v)| Sample { timestamp: *t, value: *v }).collect(),
            metric_type: None,
        }
    }

    fn batch(series: Vec<WireSeries>) -> WriteBatch {
        WriteBatch { series, metadata: Vec::new() }
    }

    fn named<'a>(r: &'a Received, name: &str) -> Vec<(i64, f64)> {
        r.points.iter().filter(|p| p.metric_name == name).map(|p| (p.ts.timestamp_millis(), p.value)).collect()
    }

    const REQ: &[(&str, &str)] =
        &[("__name__", "http_requests_total"), ("code", "500"), ("instance", "a:9"), ("job", "payments")];

    #[test]
    fn counters_become_reset_aware_rates_and_never_across_a_gap() {
        let rx = Receiver::default();
        let r = rx.receive(batch(vec![series(REQ, &[(0, 10.0), (10_000, 30.0), (20_000, 5.0)])]), 0);
        assert_eq!(r.counts.stored, 3);
        let p = &r.points[0];
        assert_eq!(p.service_key, "default/default/payments");
        assert_eq!(p.metric_name, r#"http_requests_total{code="500"}"#);
        assert!(!p.labels.contains_key("instance") && p.labels.get("job").map(String::as_str) == Some("payments"));
        // 20 in 10 s, then a reset: 5 counted from zero.
        assert_eq!(named(&r, r#"rate(http_requests_total{code="500"})"#), vec![(10_000, 2.0), (20_000, 0.5)]);
        let later = rx.receive(batch(vec![series(REQ, &[(20_000 + 6 * 60_000, 50.0)])]), 1);
        assert!(named(&later, r#"rate(http_requests_total{code="500"})"#).is_empty(), "no rate across 6 minutes");
    }

    #[test]
    fn staleness_ends_the_series_and_other_nans_are_refused() {
        let rx = Receiver::default();
        let stale = f64::from_bits(STALE_NAN);
        let r = rx.receive(
            batch(vec![series(REQ, &[(0, 1.0), (10_000, stale), (20_000, 9.0), (30_000, f64::NAN), (40_000, f64::INFINITY)])]),
            0,
        );
        assert_eq!(r.counts.staleness_markers, 1);
        assert_eq!(r.counts.rejected(SampleReject::NotFinite), 2);
        assert_eq!(r.counts.stored, 2);
        assert!(named(&r, r#"rate(http_requests_total{code="500"})"#).is_empty(), "no rate over a staleness marker");
    }

    #[test]
    fn out_of_order_samples_are_stored_without_derivation() {
        let rx = Receiver::default();
        rx.receive(batch(vec![series(REQ, &[(10_000, 5.0)])]), 0);
        let r = rx.receive(batch(vec![series(REQ, &[(5_000, 1.0), (20_000, 15.0)])]), 0);
        assert_eq!(r.counts.out_of_order, 1);
        assert_eq!(r.counts.stored, 2);
        assert_eq!(named(&r, r#"rate(http_requests_total{code="500"})"#), vec![(20_000, 1.0)]);
    }

    #[test]
    fn bad_series_are_dropped_by_reason_and_the_rest_kept() {
        let rx = Receiver::default();
        let mut bad_utf8 = series(&[("__name__", "x"), ("job", "a")], &[(0, 1.0)]);
        bad_utf8.labels[1].value = vec![0xff, 0xfe].into();
        let long = "v".repeat(5000);
        let r = rx.receive(
            batch(vec![
                bad_utf8,
                series(&[("__name__", "x"), ("job", &long)], &[(0, 1.0)]),
                series(&[("__name__", "x"), ("bad-name", "1"), ("job", "a")], &[(0, 1.0)]),
                series(&[("__name__", "x"), ("instance", "a")], &[(0, 1.0), (1, 2.0)]),
                series(&[("job", "a")], &[(0, 1.0)]),
                series(&[("__name__", "up"), ("job", "a")], &[(0, 1.0)]),
            ]),
            0,
        );
        assert_eq!(r.counts.dropped(SeriesDrop::InvalidUtf8), 1);
        assert_eq!(r.counts.dropped(SeriesDrop::LabelTooLong), 1);
        assert_eq!(r.counts.dropped(SeriesDrop::InvalidLabelName), 1);
        assert_eq!(r.counts.dropped(SeriesDrop::NoService), 1);
        assert_eq!(r.counts.dropped(SeriesDrop::NoMetricName), 1);
        assert_eq!(r.counts.rejected(SampleReject::SeriesDropped), 6);
        assert_eq!(r.points.len(), 1);
        assert_eq!(r.points[0].metric_name, "up");
    }

    #[test]
    fn the_service_comes_from_the_rules() {
        let rx = Receiver::default();
        let r = rx.receive(
            batch(vec![series(
                &[("__name__", "up"), ("app", "cart"), ("cluster", "eu"), ("job", "k8s"), ("namespace", "shop")],
                &[(0, 1.0)],
            )]),
            0,
        );
        assert_eq!(r.points[0].service_key, "eu/shop/cart");
        assert_eq!(r.points[0].metric_name, "up");
    }

    fn bucket(le: &str) -> Vec<(&str, &str)> {
        vec![("__name__", "rpc_seconds_bucket"), ("instance", "a:1"), ("job", "api"), ("le", le), ("route", "/pay")]
    }

    #[test]
    fn histogram_quantiles_come_from_bucket_increases_across_requests() {
        let rx = Receiver::default();
        let les = ["0.1", "0.5", "1", "+Inf"];
        // Scrape 1 at 0 s, scrape 2 at 15 s; the buckets of each split over two requests.
        let first = [10.0, 20.0, 30.0, 30.0];
        let second = [10.0, 100.0, 120.0, 130.0];
        let mut requests = Vec::new();
        for (t, counts) in [(0, first), (15_000, second)] {
            let (a, b): (Vec<_>, Vec<_>) = les.iter().zip(counts).partition(|(le, _)| **le == "0.1" || **le == "1");
            for part in [a, b] {
                requests.push(batch(part.iter().map(|(le, c)| series(&bucket(le), &[(t, *c)])).collect()));
            }
        }
        let mut derived = Vec::new();
        for req in requests {
            let r = rx.receive(req, 0);
            derived.extend(r.points.into_iter().filter(|p| p.metric_name.starts_with("histogram_quantile")));
        }
        // Scrape 1 completes when scrape 2 shows as many buckets; scrape 2 as soon as its
        // fourth bucket comes (the count is known then). Scrape 3 repeats scrape 2.
        let third = [10.0, 100.0, 120.0, 130.0];
        let r = rx.receive(batch(les.iter().zip(third).map(|(le, c)| series(&bucket(le), &[(30_000, c)])).collect()), 0);
        derived.extend(r.points.into_iter().filter(|p| p.metric_name.starts_with("histogram_quantile")));
        let p99 = derived
            .iter()
            .find(|p| p.metric_name == r#"histogram_quantile(0.99, rpc_seconds{route="/pay"})"#)
            .expect("a p99 from the increase between scrapes 1 and 2");
        // Increases: le 0.1 → 0, 0.5 → 80, 1 → 90, +Inf → 100. Rank 99 falls in +Inf: the
        // highest finite bound.
        assert_eq!((p99.ts.timestamp_millis(), p99.value), (15_000, 1.0));
        let p50 = derived.iter().find(|p| p.metric_name.starts_with("histogram_quantile(0.5,")).expect("p50");
        // Rank 50 in (0.1, 0.5]: 0.1 + 0.4 * 50/80.
        assert!((p50.value - 0.35).abs() < 1e-12, "{}", p50.value);
        let p90 = derived.iter().find(|p| p.metric_name.starts_with("histogram_quantile(0.9,")).expect("p90");
        // Rank 90 in (0.5, 1]: 0.5 + 0.5 * (90-80)/10.
        assert!((p90.value - 1.0).abs() < 1e-12, "{}", p90.value);
        assert_eq!(p50.service_key, "default/default/api");
        assert!(!p50.labels.contains_key("le"));
        // Scrape 3 has no increase: no observation, no quantile.
        assert_eq!(derived.len(), 3, "{derived:?}");
    }

    #[test]
    fn a_failed_write_rolls_back_so_the_retry_derives_the_same() {
        let rx = Receiver::default();
        rx.receive(batch(vec![series(REQ, &[(0, 10.0)])]), 0);
        let failed = rx.receive(batch(vec![series(REQ, &[(10_000, 20.0)])]), 0);
        assert_eq!(failed.counts.derived, 1);
        rx.rollback(failed);
        let retry = rx.receive(batch(vec![series(REQ, &[(10_000, 20.0)])]), 0);
        assert_eq!(retry.counts.out_of_order, 0);
        assert_eq!(named(&retry, r#"rate(http_requests_total{code="500"})"#), vec![(10_000, 1.0)]);
    }

    #[test]
    fn state_is_bounded_and_idle_series_forgotten() {
        let rx = Receiver::new(Rules::default(), ReceiverLimits { max_series: 1, ..ReceiverLimits::default() });
        let r = rx.receive(
            batch(vec![series(REQ, &[(0, 1.0)]), series(&[("__name__", "up"), ("job", "b")], &[(0, 1.0)])]),
            0,
        );
        assert_eq!(r.counts.untracked, 1);
        assert_eq!(r.counts.stored, 2);
        assert_eq!(rx.active_series(), 1);
        rx.receive(batch(vec![]), ReceiverLimits::default().idle_ms + 60_000);
        assert_eq!(rx.active_series(), 0);
    }

    #[test]
    fn metadata_makes_a_counter_of_a_name_without_a_suffix() {
        let rx = Receiver::default();
        let labels = [("__name__", "requests"), ("job", "a")];
        let mut b = batch(vec![series(&labels, &[(0, 1.0), (1000, 3.0)])]);
        b.metadata.push((bytes::Bytes::from_static(b"requests"), metric_type::COUNTER));
        let r = rx.receive(b, 0);
        assert_eq!(named(&r, "rate(requests)"), vec![(1000, 2.0)]);
        let gauge = rx.receive(batch(vec![series(&[("__name__", "temp"), ("job", "a")], &[(0, 1.0), (1000, 3.0)])]), 0);
        assert_eq!(gauge.counts.derived, 0);
    }

    #[test]
    fn quantiles_match_prometheus() {
        let b = [(1.0, 0.0), (2.0, 10.0), (f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(0.5, &b), 1.5);
        assert!(bucket_quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]).is_nan());
    }
}

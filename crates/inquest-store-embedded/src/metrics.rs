//! The metrics port on the embedded store: range scans over
//! `(service_key, metric_name, ts)`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use inquest_domain::stats::Baseline;
use inquest_domain::*;
use inquest_ports::{MetricBaselines, MetricStore, MetricWindow, Series, StoreResult};
use redb::ReadableDatabase;

use crate::*;

fn millis(ts: Timestamp) -> i64 {
    ts.timestamp_millis()
}

fn from_millis(ms: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl EmbeddedStore {
    /// Points of every metric of `service_key` in `[from, to)`.
    fn read_series(&self, service_key: &str, from: Timestamp, to: Timestamp, op: &str) -> StoreResult<Vec<Series>> {
        let generation = self.series.generation();
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(METRIC_POINTS).map_err(|e| store_err(op, e))?;
        self.series_in(&t, service_key, from, to, op, generation)
    }

    /// `read_series` inside an open read transaction, so many services share one snapshot.
    fn series_in(
        &self,
        t: &redb::ReadOnlyTable<(&'static str, &'static str, i64), (f64, &'static str)>,
        service_key: &str,
        from: Timestamp,
        to: Timestamp,
        op: &str,
        generation: u64,
    ) -> StoreResult<Vec<Series>> {
        let all = self.all_points(t, service_key, op, generation)?;
        let (from, to) = (millis(from), millis(to));
        Ok(all
            .iter()
            .filter_map(|(metric, points)| {
                let rest = &points[points.partition_point(|p| p.0 < from)..];
                let end = rest.iter().take_while(|p| p.0 < to).count();
                (end > 0).then(|| Series {
                    metric_name: metric.clone(),
                    points: rest[..end].iter().map(|(ts, v)| (from_millis(*ts), *v)).collect(),
                })
            })
            .collect())
    }
}

impl EmbeddedStore {
    /// Every point of `service_key`, from the cache or decoded from the table.
    fn all_points(
        &self,
        t: &redb::ReadOnlyTable<(&'static str, &'static str, i64), (f64, &'static str)>,
        service_key: &str,
        op: &str,
        generation: u64,
    ) -> StoreResult<Arc<ServiceSeries>> {
        let key = self.key(service_key);
        if let Some(all) = self.series.get(&key) {
            return Ok(all);
        }
        let all = Arc::new(read_all(t, &key, op)?);
        self.series.put(key, all.clone(), generation);
        Ok(all)
    }
}

/// Every point of one service (a project-led key), metric by metric in name order,
/// oldest first.
fn read_all(
    t: &redb::ReadOnlyTable<(&'static str, &'static str, i64), (f64, &'static str)>,
    key: &str,
    op: &str,
) -> StoreResult<ServiceSeries> {
    let mut out: ServiceSeries = Vec::new();
    for row in t.range((key, "", i64::MIN)..=(key, MAX_STR, i64::MAX)).map_err(|e| store_err(op, e))? {
        let (k, v) = row.map_err(|e| store_err(op, e))?;
        let (_, metric, ts) = k.value();
        let value = v.value().0;
        match out.last_mut() {
            Some((m, points)) if m == metric => points.push((ts, value)),
            _ => out.push((metric.to_string(), vec![(ts, value)])),
        }
    }
    Ok(out)
}

type ServiceSeries = Vec<(String, Vec<(i64, f64)>)>;

/// Decoded series of the services read lately, so an investigation over a wide radius
/// scans memory instead of decoding every row again. A write drops the services it
/// touched; an entry read from a snapshot older than the last write is not kept.
/// Bounded: past `CACHE_POINTS` points the cache starts over.
#[derive(Debug, Default)]
pub(crate) struct SeriesCache {
    inner: Mutex<CacheInner>,
    generation: AtomicU64,
    /// Every read decodes the table (a handle for measuring the cache's worth).
    off: bool,
}

#[derive(Debug, Default)]
struct CacheInner {
    services: HashMap<String, Arc<ServiceSeries>>,
    points: usize,
}

const CACHE_POINTS: usize = 8_000_000;

impl SeriesCache {
    /// The write generation, read before a read transaction begins.
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn off() -> SeriesCache {
        SeriesCache { off: true, ..SeriesCache::default() }
    }

    fn get(&self, key: &str) -> Option<Arc<ServiceSeries>> {
        if self.off {
            return None;
        }
        self.inner.lock().ok()?.services.get(key).cloned()
    }

    fn put(&self, key: String, series: Arc<ServiceSeries>, generation: u64) {
        let Ok(mut inner) = self.inner.lock() else { return };
        if self.off || self.generation() != generation {
            return;
        }
        let n: usize = series.iter().map(|(_, p)| p.len()).sum();
        if n > CACHE_POINTS / 4 {
            return;
        }
        if inner.points + n > CACHE_POINTS {
            inner.services.clear();
            inner.points = 0;
        }
        inner.points += n;
        if let Some(old) = inner.services.insert(key, series) {
            inner.points -= old.iter().map(|(_, p)| p.len()).sum::<usize>();
        }
    }

    /// After a committed write to these services (project-led keys).
    fn invalidate<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let Ok(mut inner) = self.inner.lock() else { return };
        for key in keys {
            if let Some(old) = inner.services.remove(key) {
                inner.points -= old.iter().map(|(_, p)| p.len()).sum::<usize>();
            }
        }
    }
}

impl EmbeddedStore {
    /// `windows`, on the calling thread.
    fn windows_now(
        &self,
        service_keys: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<BTreeMap<String, MetricWindow>> {
        let op = "windows";
        let generation = self.series.generation();
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(METRIC_POINTS).map_err(|e| store_err(op, e))?;
        let mut out = BTreeMap::new();
        for key in service_keys {
            let reference =
                format!("metric_points?service_key={key}&from={}&to={}", from.to_rfc3339(), to.to_rfc3339());
            out.insert(
                key.clone(),
                MetricWindow { reference, series: self.series_in(&t, key, from, to, op, generation)? },
            );
        }
        Ok(out)
    }

    /// `baselines_many`, on the calling thread.
    fn baselines_many_now(
        &self,
        service_keys: &[String],
        ranges: &[(Timestamp, Timestamp)],
    ) -> StoreResult<BTreeMap<String, MetricBaselines>> {
        let op = "baselines_many";
        let (Some(from), Some(to)) = (ranges.iter().map(|r| r.0).min(), ranges.iter().map(|r| r.1).max()) else {
            return Ok(BTreeMap::new());
        };
        let generation = self.series.generation();
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(METRIC_POINTS).map_err(|e| store_err(op, e))?;
        let mut spans: Vec<(i64, i64)> = ranges.iter().map(|(a, b)| (millis(*a), millis(*b))).collect();
        spans.sort_unstable();
        let mut out = BTreeMap::new();
        for key in service_keys {
            let all = self.all_points(&t, key, op, generation)?;
            let mut values = Vec::new();
            let baselines = all
                .iter()
                .filter_map(|(metric, points)| {
                    values.clear();
                    // Each range is a slice of the sorted points; overlapping ranges count a
                    // point once. The ranges go forward in time, so each is searched for in
                    // the points after the previous one, and none past the last point.
                    let mut rest = points.as_slice();
                    let mut done = i64::MIN;
                    for &(a, b) in &spans {
                        let a = a.max(done);
                        if a >= b {
                            continue;
                        }
                        done = b;
                        let (Some(first), Some(last)) = (rest.first(), rest.last()) else { break };
                        if a > last.0 {
                            break;
                        }
                        if b <= first.0 {
                            continue;
                        }
                        if first.0 < a {
                            rest = &rest[rest.partition_point(|p| p.0 < a)..];
                        }
                        // Read forward to the range's end: the values are copied anyway,
                        // and a scan in order waits on memory less than a binary search.
                        let before = values.len();
                        values.extend(rest.iter().take_while(|p| p.0 < b).map(|p| p.1));
                        rest = &rest[values.len() - before..];
                    }
                    Baseline::from_buffer(&mut values).map(|b| (metric.clone(), b))
                })
                .collect();
            let reference = format!(
                "metric_points/baseline?service_key={key}&from={}&to={}&ranges={}",
                from.to_rfc3339(),
                to.to_rfc3339(),
                ranges.len()
            );
            out.insert(key.clone(), MetricBaselines { reference, baselines });
        }
        Ok(out)
    }
}

/// Run a radius-wide read on tokio's blocking pool: it decodes and sorts for
/// milliseconds, and the investigation's concurrent reads (history, same time of day,
/// windows) then share the cores instead of queueing on one runtime thread. Without a
/// runtime it runs here.
async fn off_the_runtime<T: Send + 'static>(
    store: &EmbeddedStore,
    op: &'static str,
    f: impl FnOnce(&EmbeddedStore) -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return f(store) };
    let store = store.clone();
    runtime.spawn_blocking(move || f(&store)).await.map_err(|e| store_err(op, format!("read task failed: {e}")))?
}

#[async_trait]
impl MetricStore for EmbeddedStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn project(&self) -> &ProjectId {
        self.project_id()
    }

    fn scoped(&self, project: &ProjectId) -> std::sync::Arc<dyn MetricStore> {
        std::sync::Arc::new(self.in_project(project))
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        self.check()
    }

    async fn insert_points(&self, points: &[MetricPoint]) -> StoreResult<()> {
        let op = "insert_points";
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut t = txn.open_table(METRIC_POINTS).map_err(|e| store_err(op, e))?;
            // In key order the B-tree is written page after page; the key prefix and
            // the labels' JSON are computed once per run of equal values.
            let mut sorted: Vec<&MetricPoint> = points.iter().collect();
            sorted.sort_by(|a, b| {
                (a.service_key.as_str(), a.metric_name.as_str(), a.ts).cmp(&(
                    b.service_key.as_str(),
                    b.metric_name.as_str(),
                    b.ts,
                ))
            });
            let mut key_of: Option<(&str, String)> = None;
            let mut labels_of: Option<(&BTreeMap<String, String>, String)> = None;
            for p in sorted {
                if !p.value.is_finite() {
                    return Err(StoreError::new(
                        ErrorKind::InvalidInput,
                        BACKEND,
                        op,
                        format!("{} {} at {}: value is not finite", p.service_key, p.metric_name, p.ts),
                    ));
                }
                if labels_of.as_ref().is_none_or(|(l, _)| *l != &p.labels) {
                    let json = if p.labels.is_empty() {
                        String::new()
                    } else {
                        serde_json::to_string(&p.labels).map_err(|e| store_err(op, e))?
                    };
                    labels_of = Some((&p.labels, json));
                }
                if key_of.as_ref().is_none_or(|(s, _)| *s != p.service_key) {
                    key_of = Some((p.service_key.as_str(), self.key(&p.service_key)));
                }
                let (Some((_, key)), Some((_, labels))) = (&key_of, &labels_of) else { continue };
                t.insert((key.as_str(), p.metric_name.as_str(), millis(p.ts)), (p.value, labels.as_str()))
                    .map_err(|e| store_err(op, e))?;
            }
        }
        txn.commit().map_err(|e| store_err(op, e))?;
        let touched: std::collections::BTreeSet<String> = points.iter().map(|p| self.key(&p.service_key)).collect();
        self.series.invalidate(touched.iter().map(String::as_str));
        Ok(())
    }

    async fn window(&self, service_key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricWindow> {
        Ok(MetricWindow {
            reference: format!(
                "metric_points?service_key={service_key}&from={}&to={}",
                from.to_rfc3339(),
                to.to_rfc3339()
            ),
            series: self.read_series(service_key, from, to, "window")?,
        })
    }

    async fn baselines(&self, service_key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricBaselines> {
        let series = self.read_series(service_key, from, to, "baselines")?;
        let baselines: BTreeMap<String, Baseline> = series
            .into_iter()
            .filter_map(|s| {
                let values: Vec<f64> = s.points.iter().map(|p| p.1).collect();
                Baseline::from_values(&values).map(|b| (s.metric_name, b))
            })
            .collect();
        Ok(MetricBaselines {
            reference: format!(
                "metric_points/baseline?service_key={service_key}&from={}&to={}",
                from.to_rfc3339(),
                to.to_rfc3339()
            ),
            baselines,
        })
    }

    async fn windows(
        &self,
        service_keys: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<BTreeMap<String, MetricWindow>> {
        let keys = service_keys.to_vec();
        off_the_runtime(self, "windows", move |store| store.windows_now(&keys, from, to)).await
    }

    async fn baselines_many(
        &self,
        service_keys: &[String],
        ranges: &[(Timestamp, Timestamp)],
    ) -> StoreResult<BTreeMap<String, MetricBaselines>> {
        let (keys, ranges) = (service_keys.to_vec(), ranges.to_vec());
        off_the_runtime(self, "baselines_many", move |store| store.baselines_many_now(&keys, &ranges)).await
    }

    async fn write_anomaly_features(&self, features: &[AnomalyFeature]) -> StoreResult<()> {
        let op = "write_anomaly_features";
        let txn = self.db().begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut t = txn.open_table(ANOMALY_FEATURES).map_err(|e| store_err(op, e))?;
            for f in features {
                let incident = self.key(&f.incident_id);
                t.insert(
                    (incident.as_str(), f.feature_name.as_str(), millis(f.ts), f.service_key.as_str()),
                    f.feature_value,
                )
                .map_err(|e| store_err(op, e))?;
            }
        }
        txn.commit().map_err(|e| store_err(op, e))
    }

    async fn anomaly_features(&self, incident_id: &str) -> StoreResult<Vec<AnomalyFeature>> {
        let op = "anomaly_features";
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(ANOMALY_FEATURES).map_err(|e| store_err(op, e))?;
        let mut out = Vec::new();
        let incident_id = self.key(incident_id);
        let incident_id = incident_id.as_str();
        for row in t
            .range((incident_id, "", i64::MIN, "")..=(incident_id, MAX_STR, i64::MAX, MAX_STR))
            .map_err(|e| store_err(op, e))?
        {
            let (k, v) = row.map_err(|e| store_err(op, e))?;
            let (inc, name, ts, key) = k.value();
            out.push(AnomalyFeature {
                incident_id: strip(inc).to_string(),
                ts: from_millis(ts),
                service_key: key.to_string(),
                feature_name: name.to_string(),
                feature_value: v.value(),
            });
        }
        Ok(out)
    }
}

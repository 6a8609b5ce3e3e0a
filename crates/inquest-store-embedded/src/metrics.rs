//! The metrics port on the embedded store: range scans over
//! `(service_key, metric_name, ts)`.

use std::collections::BTreeMap;

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
        let service_key = self.key(service_key);
        let service_key = service_key.as_str();
        let txn = self.db().begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(METRIC_POINTS).map_err(|e| store_err(op, e))?;
        // Metric names of the service: walk the keys, skipping to the next metric.
        let mut series = Vec::new();
        let mut next_metric = String::new();
        loop {
            let first = t
                .range((service_key, next_metric.as_str(), i64::MIN)..=(service_key, MAX_STR, i64::MAX))
                .map_err(|e| store_err(op, e))?
                .next();
            let Some(row) = first else { break };
            let (k, _) = row.map_err(|e| store_err(op, e))?;
            let metric = k.value().1.to_string();
            let mut points = Vec::new();
            for row in t
                .range((service_key, metric.as_str(), millis(from))..(service_key, metric.as_str(), millis(to)))
                .map_err(|e| store_err(op, e))?
            {
                let (k, v) = row.map_err(|e| store_err(op, e))?;
                points.push((from_millis(k.value().2), v.value().0));
            }
            if !points.is_empty() {
                series.push(Series { metric_name: metric.clone(), points });
            }
            // The smallest string greater than every key starting with `metric`.
            next_metric = format!("{metric}\u{0}");
        }
        Ok(series)
    }
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
        txn.commit().map_err(|e| store_err(op, e))
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

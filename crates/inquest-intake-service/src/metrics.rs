//! Prometheus metrics of the intake, the lifecycle and the investigation workers,
//! registered into a `Registry` the caller may share with other subsystems, and
//! rendered in the text exposition format for `GET /metrics`. Store calls are
//! counted by the port wrappers of `inquest-telemetry` (`StoreMetrics`) on the
//! same registry, not here.

use std::collections::BTreeMap;

use inquest_intake::model::{AlertSource, REJECT_REASONS, Severity};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Lifecycle-scale buckets (seconds): 10 s to 1 day.
const LIFECYCLE_BUCKETS: &[f64] =
    &[10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0];
const FAST_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

pub struct Metrics {
    registry: Registry,
    pub alerts_received: IntCounterVec,
    pub alerts_rejected: IntCounterVec,
    pub correlations: IntCounterVec,
    pub incidents: IntGaugeVec,
    pub mtta: Histogram,
    pub mttr: Histogram,
    pub investigation_duration: HistogramVec,
    pub job_retries: IntCounter,
    pub job_failures: IntCounter,
    pub request_duration: HistogramVec,
}

impl Metrics {
    /// The metrics on a registry of their own.
    #[allow(clippy::expect_used)]
    pub fn new() -> Metrics {
        // Registration only fails on duplicate or malformed names, and this registry is empty.
        Metrics::with_registry(&Registry::new()).expect("metrics on a fresh registry")
    }

    /// The metrics registered into `registry`, so one registry can hold every
    /// subsystem's; `render` then renders all of it. Fails when `registry`
    /// already holds a metric of the same name (a second intake on it).
    #[allow(clippy::expect_used)]
    pub fn with_registry(registry: &Registry) -> prometheus::Result<Metrics> {
        // Creating a metric only fails on malformed names, which are constants here.
        let registry = registry.clone();
        let alerts_received = IntCounterVec::new(
            Opts::new("inquest_alerts_received_total", "Alerts received, by severity and source"),
            &["severity", "source"],
        )
        .expect("metric");
        let alerts_rejected = IntCounterVec::new(
            Opts::new(
                "inquest_alerts_rejected_total",
                "Alerts refused by validation, by source and the field at fault",
            ),
            &["source", "reason"],
        )
        .expect("metric");
        let correlations = IntCounterVec::new(
            Opts::new("inquest_alert_correlations_total", "Correlation outcome of each alert"),
            &["outcome"],
        )
        .expect("metric");
        let incidents =
            IntGaugeVec::new(Opts::new("inquest_incidents", "Incidents by status"), &["status"]).expect("metric");
        let mtta = Histogram::with_opts(
            HistogramOpts::new("inquest_incident_mtta_seconds", "Time from incident creation to acknowledgement")
                .buckets(LIFECYCLE_BUCKETS.to_vec()),
        )
        .expect("metric");
        let mttr = Histogram::with_opts(
            HistogramOpts::new("inquest_incident_mttr_seconds", "Time from incident creation to resolution")
                .buckets(LIFECYCLE_BUCKETS.to_vec()),
        )
        .expect("metric");
        let investigation_duration = HistogramVec::new(
            HistogramOpts::new("inquest_investigation_duration_seconds", "Duration of investigation job attempts")
                .buckets(FAST_BUCKETS.to_vec()),
            &["outcome"],
        )
        .expect("metric");
        let job_retries =
            IntCounter::new("inquest_job_retries_total", "Investigation job attempts that failed and were retried")
                .expect("metric");
        let job_failures =
            IntCounter::new("inquest_job_failures_total", "Investigation jobs given up after the last attempt")
                .expect("metric");
        let request_duration = HistogramVec::new(
            HistogramOpts::new("inquest_ingest_request_duration_seconds", "Intake request latency, alerts stored")
                .buckets(FAST_BUCKETS.to_vec()),
            &["endpoint"],
        )
        .expect("metric");
        for c in [
            Box::new(alerts_received.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(alerts_rejected.clone()),
            Box::new(correlations.clone()),
            Box::new(incidents.clone()),
            Box::new(mtta.clone()),
            Box::new(mttr.clone()),
            Box::new(investigation_duration.clone()),
            Box::new(job_retries.clone()),
            Box::new(job_failures.clone()),
            Box::new(request_duration.clone()),
        ] {
            registry.register(c)?;
        }
        for sev in Severity::ALL {
            for src in ["generic", "alertmanager", "anomaly", "slo", "invariant"] {
                alerts_received.with_label_values(&[sev.as_str(), src]);
            }
        }
        for src in ["generic", "alertmanager"] {
            for reason in REJECT_REASONS {
                alerts_rejected.with_label_values(&[src, reason]);
            }
        }
        for o in ["deduplicated", "attached", "opened", "suppressed", "resolved", "ignored"] {
            correlations.with_label_values(&[o]);
        }
        for o in ["succeeded", "failed"] {
            investigation_duration.with_label_values(&[o]);
        }
        for e in ["alerts", "alertmanager"] {
            request_duration.with_label_values(&[e]);
        }
        Ok(Metrics {
            registry,
            alerts_received,
            alerts_rejected,
            correlations,
            incidents,
            mtta,
            mttr,
            investigation_duration,
            job_retries,
            job_failures,
            request_duration,
        })
    }

    /// The registry these metrics are in.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Count one alert refused by validation; `reason` is one of `model::REJECT_REASONS`.
    pub fn alert_rejected(&self, source: AlertSource, reason: &str) {
        self.alerts_rejected.with_label_values(&[source.as_str(), reason]).inc();
    }

    pub fn set_incident_counts(&self, counts: &BTreeMap<String, u64>) {
        for (status, n) in counts {
            self.incidents.with_label_values(&[status.as_str()]).set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let families = self.registry.gather();
        if TextEncoder::new().encode(&families, &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_join_a_shared_registry_once() {
        let registry = Registry::new();
        let other = IntCounter::new("other_subsystem_total", "Another subsystem's counter").expect("metric");
        registry.register(Box::new(other.clone())).expect("register");
        let metrics = Metrics::with_registry(&registry).expect("registered");
        metrics.job_retries.inc();
        other.inc();
        let text = metrics.render();
        assert!(text.contains("inquest_job_retries_total 1"), "{text}");
        assert!(text.contains("other_subsystem_total 1"), "one registry renders every subsystem: {text}");
        assert!(Metrics::with_registry(&registry).is_err(), "the same names twice on one registry");
    }

    #[test]
    fn the_default_metrics_have_a_registry_of_their_own() {
        let (a, b) = (Metrics::default(), Metrics::new());
        a.job_failures.inc();
        assert!(a.render().contains("inquest_job_failures_total 1"));
        assert!(b.render().contains("inquest_job_failures_total 0"));
    }
}

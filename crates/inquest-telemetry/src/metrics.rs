//! The Prometheus series of store calls, registered into a registry the caller owns.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Latency buckets (seconds) of one store call: 1 ms to 60 s.
const CALL_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The `store` label of every store series: `port/backend` (`records/postgres`).
pub fn store_label(port: &str, backend: &str) -> String {
    format!("{port}/{backend}")
}

/// `inquest_store_calls_total{store,operation,outcome}`, `inquest_store_errors_total{store}`
/// and `inquest_store_call_duration_seconds{store,operation}`. Cloning shares the series.
#[derive(Clone)]
pub struct StoreMetrics {
    calls: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
}

impl StoreMetrics {
    /// Create the series and register them into `registry`; fails when they are
    /// registered there already.
    pub fn new(registry: &Registry) -> prometheus::Result<StoreMetrics> {
        let calls = IntCounterVec::new(
            Opts::new(
                "inquest_store_calls_total",
                "Store calls by store, operation and outcome (ok or the error kind)",
            ),
            &["store", "operation", "outcome"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new("inquest_store_errors_total", "Store operations that failed, by store"),
            &["store"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new("inquest_store_call_duration_seconds", "Latency of store calls, timeouts included")
                .buckets(CALL_BUCKETS.to_vec()),
            &["store", "operation"],
        )?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(StoreMetrics { calls, errors, duration })
    }

    /// Create the zero-valued error series of `store` so it is scraped before any error.
    pub(crate) fn init_store(&self, store: &str) {
        self.errors.with_label_values(&[store]);
    }

    pub(crate) fn record(&self, store: &str, operation: &str, outcome: &str, seconds: f64) {
        self.calls.with_label_values(&[store, operation, outcome]).inc();
        self.duration.with_label_values(&[store, operation]).observe(seconds);
        if outcome != OK {
            self.errors.with_label_values(&[store]).inc();
        }
    }
}

pub(crate) const OK: &str = "ok";

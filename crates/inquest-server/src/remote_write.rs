//! What the remote write route shares between requests: the receiver (rules and
//! derivation state), the bounds that turn a flood into `429`, and the counters on
//! `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use inquest_ingest::prometheus::{Counts, Receiver, SampleReject, SeriesDrop};
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::Semaphore;

/// The bounds of the route.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemoteWriteLimits {
    pub enabled: bool,
    /// Compressed body, bytes.
    pub max_body_bytes: usize,
    /// Decompressed body, bytes.
    pub max_decoded_bytes: usize,
    pub max_concurrent_writes: usize,
    /// Samples received and not yet written.
    pub max_queued_samples: usize,
    pub retry_after_secs: u64,
}

impl Default for RemoteWriteLimits {
    fn default() -> Self {
        RemoteWriteLimits {
            enabled: true,
            max_body_bytes: 16 << 20,
            max_decoded_bytes: 64 << 20,
            max_concurrent_writes: 4,
            max_queued_samples: 2_000_000,
            retry_after_secs: 5,
        }
    }
}

/// `inquest_remote_write_*` on the server's registry.
#[derive(Clone)]
pub struct RemoteWriteMetrics {
    pub samples_received: IntCounter,
    pub samples_stored: IntCounter,
    pub points_derived: IntCounter,
    pub samples_rejected: IntCounterVec,
    pub series_dropped: IntCounterVec,
    pub staleness_markers: IntCounter,
    pub out_of_order: IntCounter,
    pub untracked: IntCounter,
    pub incomplete_scrapes: IntCounter,
    pub requests_refused: IntCounterVec,
    pub active_series: IntGauge,
    pub queued_samples: IntGauge,
    pub write_lag: Gauge,
}

impl RemoteWriteMetrics {
    pub fn with_registry(registry: &Registry) -> prometheus::Result<RemoteWriteMetrics> {
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let by_reason = |name: &str, help: &str| -> prometheus::Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), &["reason"])?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let active_series =
            IntGauge::new("inquest_remote_write_active_series", "Series whose derivation state is held")?;
        registry.register(Box::new(active_series.clone()))?;
        let queued_samples =
            IntGauge::new("inquest_remote_write_queued_samples", "Samples received and not yet written")?;
        registry.register(Box::new(queued_samples.clone()))?;
        let write_lag = Gauge::new(
            "inquest_remote_write_lag_seconds",
            "Seconds between the newest sample of the last write and the end of its write",
        )?;
        registry.register(Box::new(write_lag.clone()))?;
        let m = RemoteWriteMetrics {
            samples_received: counter(
                "inquest_remote_write_samples_received_total",
                "Samples in remote write bodies that were read, staleness markers included",
            )?,
            samples_stored: counter("inquest_remote_write_samples_stored_total", "Samples stored raw")?,
            points_derived: counter(
                "inquest_remote_write_points_derived_total",
                "Rate and quantile points derived and stored",
            )?,
            samples_rejected: by_reason(
                "inquest_remote_write_samples_rejected_total",
                "Samples not stored: not_finite, series_dropped, bad_timestamp",
            )?,
            series_dropped: by_reason(
                "inquest_remote_write_series_dropped_total",
                "Series not taken, once per request: no_metric_name, invalid_metric_name, invalid_utf8, \
                 invalid_label_name, label_too_long, no_service_label, rule",
            )?,
            staleness_markers: counter(
                "inquest_remote_write_staleness_markers_total",
                "Staleness markers received (they end a series' state)",
            )?,
            out_of_order: counter(
                "inquest_remote_write_out_of_order_samples_total",
                "Samples at or before their series' last one: stored raw, nothing derived",
            )?,
            untracked: counter(
                "inquest_remote_write_untracked_samples_total",
                "Samples of series past max_series: stored raw, nothing derived",
            )?,
            incomplete_scrapes: counter(
                "inquest_remote_write_incomplete_histogram_scrapes_total",
                "Histogram scrapes given up before all their buckets came",
            )?,
            requests_refused: by_reason(
                "inquest_remote_write_requests_refused_total",
                "Remote write requests refused: unsupported_media_type, too_large, malformed, saturated, \
                 unavailable, store_refused",
            )?,
            active_series,
            queued_samples,
            write_lag,
        };
        for why in SampleReject::ALL {
            m.samples_rejected.with_label_values(&[why.as_str()]);
        }
        for why in SeriesDrop::ALL {
            m.series_dropped.with_label_values(&[why.as_str()]);
        }
        Ok(m)
    }

    /// Count what a request held once its points are stored.
    pub fn stored(&self, counts: &Counts) {
        self.samples_received.inc_by(counts.samples as u64);
        self.samples_stored.inc_by(counts.stored as u64);
        self.points_derived.inc_by(counts.derived as u64);
        self.staleness_markers.inc_by(counts.staleness_markers as u64);
        self.out_of_order.inc_by(counts.out_of_order as u64);
        self.untracked.inc_by(counts.untracked as u64);
        self.incomplete_scrapes.inc_by(counts.incomplete_scrapes as u64);
        for (why, n) in SampleReject::ALL.iter().zip(counts.rejected) {
            if n > 0 {
                self.samples_rejected.with_label_values(&[why.as_str()]).inc_by(n as u64);
            }
        }
        for (why, n) in SeriesDrop::ALL.iter().zip(counts.dropped_series) {
            if n > 0 {
                self.series_dropped.with_label_values(&[why.as_str()]).inc_by(n as u64);
            }
        }
    }

    pub fn refused(&self, reason: &str) {
        self.requests_refused.with_label_values(&[reason]).inc();
    }
}

/// The receiver and its bounds, shared by every request.
pub struct RemoteWrite {
    pub receiver: Arc<Receiver>,
    pub limits: RemoteWriteLimits,
    pub metrics: RemoteWriteMetrics,
    pub(crate) writers: Arc<Semaphore>,
    pub(crate) queued: AtomicUsize,
}

impl RemoteWrite {
    /// The default rules and bounds, counting on `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<RemoteWrite> {
        let metrics = RemoteWriteMetrics::with_registry(registry)?;
        Ok(RemoteWrite::with(Arc::new(Receiver::default()), RemoteWriteLimits::default(), metrics))
    }

    fn with(receiver: Arc<Receiver>, limits: RemoteWriteLimits, metrics: RemoteWriteMetrics) -> RemoteWrite {
        RemoteWrite {
            receiver,
            writers: Arc::new(Semaphore::new(limits.max_concurrent_writes.max(1))),
            limits,
            metrics,
            queued: AtomicUsize::new(0),
        }
    }

    /// The same counters with other rules and bounds.
    pub fn configured(&self, receiver: Receiver, limits: RemoteWriteLimits) -> RemoteWrite {
        RemoteWrite::with(Arc::new(receiver), limits, self.metrics.clone())
    }

    /// Reserve room for `samples` queued samples; `None` when the bound is reached.
    pub(crate) fn reserve(&self, samples: usize) -> Option<Reserved<'_>> {
        let before = self.queued.fetch_add(samples, Ordering::AcqRel);
        if before > 0 && before + samples > self.limits.max_queued_samples {
            self.queued.fetch_sub(samples, Ordering::AcqRel);
            return None;
        }
        self.metrics.queued_samples.set((before + samples) as i64);
        Some(Reserved { rw: self, samples })
    }
}

/// Queued samples, given back when the request ends however it ends.
pub(crate) struct Reserved<'a> {
    rw: &'a RemoteWrite,
    samples: usize,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        let before = self.rw.queued.fetch_sub(self.samples, Ordering::AcqRel);
        self.rw.metrics.queued_samples.set(before.saturating_sub(self.samples) as i64);
    }
}

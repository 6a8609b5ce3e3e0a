//! Timeouts, Prometheus metrics and tracing spans wrapped around the ports from
//! outside (the idea of Quickwit's `TimeoutAndRetryStorage`), so adapters and
//! call sites do not count or time store calls by hand.
//!
//! `observe(stores, &metrics, timeouts)` wraps a whole `Stores` bundle; each
//! wrapper (`ObservedRecords`, `ObservedMetrics`, `ObservedTopology`,
//! `ObservedSemantic`, `ObservedEmbedder`) delegates every method through
//! `observe_call`, which is all a new port's wrapper needs. `ObservedIntake` does
//! the same for the intake's `IngestStore`, `ObservedOps` for the SLO and invariant store.

mod call;
mod intake;
mod metrics;
mod ops;
mod wrappers;

use std::sync::Arc;
use std::time::Duration;

use inquest_ports::Stores;

pub use call::{Key, Observer, observe_call};
pub use intake::ObservedIntake;
pub use metrics::{StoreMetrics, store_label};
pub use ops::ObservedOps;
pub use wrappers::{ObservedEmbedder, ObservedMetrics, ObservedRecords, ObservedSemantic, ObservedTopology};

/// How long each port may take for one call before it counts as a `Timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub records: Duration,
    pub metrics: Duration,
    pub topology: Duration,
    pub semantic: Duration,
    /// The intake's store (`ObservedIntake`); not part of `Stores`.
    pub intake: Duration,
    pub embedder: Duration,
}

impl Timeouts {
    /// The same limit for every port.
    pub fn all(limit: Duration) -> Timeouts {
        Timeouts { records: limit, metrics: limit, topology: limit, semantic: limit, intake: limit, embedder: limit }
    }
}

impl Default for Timeouts {
    /// Longer than the adapters' own limits (a Postgres statement times out after 30 s
    /// by default), so their more precise errors come first; a model on a CPU may need
    /// minutes for a large batch.
    fn default() -> Timeouts {
        let store = Duration::from_secs(60);
        Timeouts {
            records: store,
            metrics: store,
            topology: store,
            semantic: store,
            intake: store,
            embedder: Duration::from_secs(300),
        }
    }
}

/// Every port of `stores` behind its observed wrapper; `backend()` still names the
/// inner backend.
pub fn observe(stores: Stores, metrics: &StoreMetrics, timeouts: Timeouts) -> Stores {
    Stores {
        records: Arc::new(ObservedRecords::new(stores.records, metrics, timeouts.records)),
        metrics: Arc::new(ObservedMetrics::new(stores.metrics, metrics, timeouts.metrics)),
        topology: Arc::new(ObservedTopology::new(stores.topology, metrics, timeouts.topology)),
        semantic: Arc::new(ObservedSemantic::new(stores.semantic, metrics, timeouts.semantic)),
        embedder: Arc::new(ObservedEmbedder::new(stores.embedder, metrics, timeouts.embedder)),
    }
}

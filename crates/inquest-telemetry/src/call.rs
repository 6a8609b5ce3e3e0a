//! `observe_call`: one store call under a timeout, counted, timed and inside a
//! `store_call` span. Every wrapper method is this one call.

use std::future::Future;
use std::time::{Duration, Instant};

use inquest_domain::{DeploymentId, IncidentId};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

use crate::metrics::{OK, StoreMetrics, store_label};

/// What one port's wrapper needs to observe its calls.
#[derive(Clone)]
pub struct Observer {
    backend: String,
    label: String,
    metrics: StoreMetrics,
    timeout: Duration,
}

impl Observer {
    /// `port` and `backend` make the `store` label (`records/postgres`).
    pub fn new(port: &str, backend: &str, metrics: &StoreMetrics, timeout: Duration) -> Observer {
        let label = store_label(port, backend);
        metrics.init_store(&label);
        Observer { backend: backend.to_string(), label, metrics: metrics.clone(), timeout }
    }

    /// The `store` label: `port/backend`.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// The main key of a call, recorded on its span under the field of the same name.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    None,
    IncidentId(IncidentId),
    DeploymentId(DeploymentId),
    ServiceKey(&'a str),
    Collection(&'a str),
    JobId(Uuid),
    /// A change feed (a delivery, its state) or a topology source.
    Feed(&'a str),
}

/// Run `call` (the inner port's future for `operation`) under the observer's timeout,
/// inside a `store_call` span, and count its outcome and latency. An elapsed timeout
/// is a `StoreError` of kind `Timeout` naming the backend and the operation.
pub async fn observe_call<T, F>(observer: &Observer, operation: &'static str, key: Key<'_>, call: F) -> StoreResult<T>
where
    F: Future<Output = StoreResult<T>>,
{
    let span = tracing::info_span!(
        "store_call",
        store = %observer.label,
        operation,
        incident_id = Empty,
        deployment_id = Empty,
        service_key = Empty,
        collection = Empty,
        job_id = Empty,
        feed = Empty,
    );
    match key {
        Key::None => {}
        Key::IncidentId(id) => {
            span.record("incident_id", tracing::field::display(id));
        }
        Key::DeploymentId(id) => {
            span.record("deployment_id", tracing::field::display(id));
        }
        Key::ServiceKey(k) => {
            span.record("service_key", k);
        }
        Key::Collection(c) => {
            span.record("collection", c);
        }
        Key::JobId(id) => {
            span.record("job_id", tracing::field::display(id));
        }
        Key::Feed(f) => {
            span.record("feed", f);
        }
    }
    async {
        let started = Instant::now();
        let result = match tokio::time::timeout(observer.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::new(
                ErrorKind::Timeout,
                &observer.backend,
                operation,
                format!("no answer within {:?}", observer.timeout),
            )),
        };
        let outcome = match &result {
            Ok(_) => OK,
            Err(e) => {
                tracing::debug!(error = %e, "store call failed");
                kind_label(e.kind)
            }
        };
        observer.metrics.record(&observer.label, operation, outcome, started.elapsed().as_secs_f64());
        result
    }
    .instrument(span)
    .await
}

/// The `outcome` label of a failed call.
fn kind_label(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "not_found",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Timeout => "timeout",
        ErrorKind::InvalidInput => "invalid_input",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Internal => "internal",
    }
}

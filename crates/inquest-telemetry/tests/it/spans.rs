//! Every call runs inside a `store_call` span with `store`, `operation` and its main key.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inquest_domain::IncidentId;
use inquest_ports::{PayloadFilter, RecordStore, SemanticStore};
use inquest_store_embedded::EmbeddedStore;
use inquest_telemetry::{ObservedRecords, ObservedSemantic, StoreMetrics};
use prometheus::Registry;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

type Fields = BTreeMap<String, String>;

/// Keeps the fields of every `store_call` span, in creation order.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(u64, Fields)>>>);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() == "store_call" {
            let mut fields = Fields::new();
            attrs.record(&mut Collect(&mut fields));
            self.0.lock().expect("span list").push((id.into_u64(), fields));
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.0.lock().expect("span list");
        // The registry reuses ids of closed spans: the newest span with this id is the live one.
        if let Some((_, fields)) = spans.iter_mut().rev().find(|(s, _)| *s == id.into_u64()) {
            values.record(&mut Collect(fields));
        }
    }
}

#[tokio::test]
async fn calls_run_in_a_store_call_span_with_their_key() {
    let spans = Spans::default();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let registry = Registry::new();
    let metrics = StoreMetrics::new(&registry).expect("register store metrics");
    let store = Arc::new(EmbeddedStore::in_memory().expect("in-memory store"));
    let records = ObservedRecords::new(store.clone(), &metrics, Duration::from_secs(5));
    let semantic = ObservedSemantic::new(store, &metrics, Duration::from_secs(5));

    let incident = IncidentId::derived(&["telemetry", "span"]);
    // Tracing caches a callsite's interest process-wide, from the thread that first
    // hits it: another test of this binary, with no subscriber, may cache "never" for
    // `store_call`. Hit it here, then rebuild the cache from this thread's subscriber.
    records.evidence(incident).await.expect("evidence of an unknown incident is empty");
    tracing::callsite::rebuild_interest_cache();
    spans.0.lock().expect("span list").clear();
    records.evidence(incident).await.expect("evidence of an unknown incident is empty");
    semantic.ensure_collection("runbooks_test", 8).await.expect("collection");
    semantic.search("runbooks_test", &[0.0; 8], &PayloadFilter::default(), 3).await.expect("search");
    records.feed_state("github", "cursor").await.expect("an unknown key is none");

    let seen: Vec<Fields> = spans.0.lock().expect("span list").iter().map(|(_, f)| f.clone()).collect();
    let field = |i: usize, name: &str| seen.get(i).and_then(|f| f.get(name)).cloned().unwrap_or_default();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(field(0, "store"), "records/embedded");
    assert_eq!(field(0, "operation"), "evidence");
    assert_eq!(field(0, "incident_id"), incident.to_string());
    assert_eq!(field(1, "operation"), "ensure_collection");
    assert_eq!(field(2, "store"), "semantic/embedded");
    assert_eq!(field(2, "collection"), "runbooks_test");
    assert_eq!(field(3, "operation"), "feed_state");
    assert_eq!(field(3, "feed"), "github", "feed calls carry their feed");
}

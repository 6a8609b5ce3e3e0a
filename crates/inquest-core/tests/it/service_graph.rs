//! The edge series the trace receiver writes (`service_graph_*{client="..."}`) mean
//! what the catalogue says of their names, labels in selector notation stripped.

use inquest_core::semantics::{Bad, Catalogue};
use inquest_core::signals::MetricKind;
use inquest_domain::series_name;

const SERIES: [(&str, MetricKind, Bad); 4] = [
    ("service_graph_request_rate", MetricKind::Traffic, Bad::Either),
    ("service_graph_error_ratio", MetricKind::Errors, Bad::Up),
    ("service_graph_latency_p50_seconds", MetricKind::Latency, Bad::Up),
    ("service_graph_latency_p99_seconds", MetricKind::Latency, Bad::Up),
];

#[test]
fn service_graph_names_are_in_the_catalogue() {
    let catalogue = Catalogue::bundled();
    for (name, kind, bad) in SERIES {
        let s = catalogue.lookup(name);
        assert_eq!((s.kind, s.bad, s.source.as_str()), (kind, bad, "service_graph"), "{name}");
    }
}

#[test]
fn service_graph_series_resolve_with_their_client_label() {
    let catalogue = Catalogue::bundled();
    let labels = [("client".to_string(), "prod/shop/frontend".to_string())].into();
    for (name, kind, bad) in SERIES {
        let labelled = series_name(name, &labels);
        let s = catalogue.lookup(&labelled);
        assert_eq!((s.kind, s.bad, s.source.as_str()), (kind, bad, "service_graph"), "{labelled}");
    }
}

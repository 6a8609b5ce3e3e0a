//! Metric semantics: what a metric measures, its unit and which way is bad, from the
//! bundled catalogue of common exporters' names (`metrics.toml`), optionally overridden
//! by a file. A name nobody knows is a generic signal (`MetricKind::Other`), never dropped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

use serde::{Deserialize, Serialize};

use inquest_domain::SeriesName;

use crate::signals::MetricKind;

/// The catalogue shipped with Inquest.
const BUNDLED: &str = include_str!("../metrics.toml");

/// Which way a metric moves when things get worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bad {
    Up,
    Down,
    Either,
}

impl Bad {
    /// +1 up, -1 down, 0 either (the convention of `Signal::direction`).
    pub fn sign(self) -> i8 {
        match self {
            Bad::Up => 1,
            Bad::Down => -1,
            Bad::Either => 0,
        }
    }
}

/// What one metric name means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricSemantics {
    pub kind: MetricKind,
    pub unit: Option<String>,
    pub bad: Bad,
    /// Where the meaning came from: the exporter of a catalogue entry, `convention` for a
    /// naming rule, `unknown` for a generic signal.
    pub source: String,
}

impl MetricSemantics {
    fn unknown() -> Self {
        Self { kind: MetricKind::Other, unit: None, bad: Bad::Either, source: "unknown".into() }
    }
}

/// Why a catalogue file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read metric catalogue {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("metric catalogue {path}: {message}")]
    Parse { path: String, message: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    metric: Vec<Entry>,
    #[serde(default)]
    rule: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    kind: MetricKind,
    #[serde(default)]
    unit: Option<String>,
    bad: Bad,
    #[serde(default)]
    exporter: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    /// Every group needs one of its tokens in the name.
    #[serde(default)]
    tokens: Vec<Vec<String>>,
    /// Or any of these substrings of the normalised name.
    #[serde(default)]
    contains: Vec<String>,
    /// No token of the name may be one of these.
    #[serde(default)]
    not: Vec<String>,
    kind: MetricKind,
    #[serde(default)]
    unit: Option<String>,
    bad: Bad,
    #[serde(default)]
    exporter: Option<String>,
}

impl Rule {
    fn matches(&self, name: &str, tokens: &[&str]) -> bool {
        if self.not.iter().any(|n| tokens.contains(&n.as_str())) {
            return false;
        }
        let by_tokens = !self.tokens.is_empty()
            && self.tokens.iter().all(|group| group.iter().any(|t| tokens.contains(&t.as_str())));
        let by_substring = self.contains.iter().any(|c| name.contains(c.as_str()));
        by_tokens || by_substring
    }
}

/// Metric names with their meaning: exact names first, then naming rules in order.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    exact: HashMap<String, MetricSemantics>,
    rules: Vec<Rule>,
}

impl Catalogue {
    /// The bundled catalogue of common exporters' names.
    pub fn bundled() -> Arc<Catalogue> {
        static BUNDLED_CATALOGUE: LazyLock<Arc<Catalogue>> = LazyLock::new(|| {
            // The bundled file is tested to parse; an empty catalogue still ranks (generic signals).
            Arc::new(Catalogue::parse(BUNDLED, "metrics.toml").unwrap_or_default())
        });
        BUNDLED_CATALOGUE.clone()
    }

    /// The bundled catalogue with a file's entries and rules consulted first.
    /// TOML, or JSON when the file name ends in `.json`. Loaded once per path.
    pub fn with_overrides(path: &Path) -> Result<Arc<Catalogue>, CatalogueError> {
        static LOADED: LazyLock<Mutex<HashMap<std::path::PathBuf, Arc<Catalogue>>>> =
            LazyLock::new(|| Mutex::new(HashMap::new()));
        if let Some(c) = LOADED.lock().ok().and_then(|m| m.get(path).cloned()) {
            return Ok(c);
        }
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| CatalogueError::Read { path: shown.clone(), source })?;
        let file = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str::<CatalogueFile>(&text)
                .map_err(|e| CatalogueError::Parse { path: shown.clone(), message: e.to_string() })?
        } else {
            toml::from_str::<CatalogueFile>(&text)
                .map_err(|e| CatalogueError::Parse { path: shown.clone(), message: e.to_string() })?
        };
        let overrides = Catalogue::from_file(file);
        let bundled = Catalogue::bundled();
        let mut merged = (*bundled).clone();
        merged.exact.extend(overrides.exact);
        let mut rules = overrides.rules;
        rules.extend(merged.rules);
        merged.rules = rules;
        let merged = Arc::new(merged);
        if let Ok(mut m) = LOADED.lock() {
            m.insert(path.to_path_buf(), merged.clone());
        }
        Ok(merged)
    }

    /// Parse a catalogue text (TOML).
    pub fn parse(text: &str, origin: &str) -> Result<Catalogue, CatalogueError> {
        let file: CatalogueFile = toml::from_str(text)
            .map_err(|e| CatalogueError::Parse { path: origin.to_string(), message: e.to_string() })?;
        Ok(Catalogue::from_file(file))
    }

    fn from_file(file: CatalogueFile) -> Catalogue {
        let exact = file
            .metric
            .into_iter()
            .map(|e| {
                let source = e.exporter.unwrap_or_else(|| "catalogue".into());
                (normalize(&e.name), MetricSemantics { kind: e.kind, unit: e.unit, bad: e.bad, source })
            })
            .collect();
        let rules = file
            .rule
            .into_iter()
            .map(|mut r| {
                r.contains = r.contains.iter().map(|c| c.to_ascii_lowercase()).collect();
                r
            })
            .collect();
        Catalogue { exact, rules }
    }

    /// The meaning of a series: a metric name, or a name in selector notation
    /// (`inquest_domain::SeriesName`: `rate(http_requests_total{code="500"})`,
    /// `histogram_quantile(0.99, http_request_duration_seconds{route="/pay"})`).
    /// The function and labels are stripped for the catalogue; `rate(x_total)` means
    /// x's kind; a request counter whose labels say 5xx or error is `errors` (bad up);
    /// a quantile of a duration family is latency. `MetricKind::Other` (either
    /// direction) when unknown.
    pub fn lookup(&self, metric_name: &str) -> MetricSemantics {
        if !metric_name.contains(['(', '{']) {
            return self.lookup_name(metric_name);
        }
        let series = SeriesName::parse(metric_name);
        match series.function.as_deref() {
            Some("histogram_quantile") => {
                let base = self.lookup_name(&series.metric);
                let timed = matches!(base.unit.as_deref(), Some("s" | "ms" | "us"));
                match base.kind {
                    MetricKind::Latency | MetricKind::ClientLatency => MetricSemantics { bad: Bad::Up, ..base },
                    MetricKind::Other if timed => MetricSemantics { kind: MetricKind::Latency, bad: Bad::Up, ..base },
                    _ => base,
                }
            }
            Some("rate" | "irate" | "increase") => {
                let base = self.counter_meaning(&series.metric);
                errors_by_labels(base, &series.labels)
            }
            Some(_) => self.lookup_name(&series.metric),
            None if is_counter_name(&series.metric) => {
                errors_by_labels(self.counter_meaning(&series.metric), &series.labels)
            }
            None => self.lookup_name(&series.metric),
        }
    }

    /// A counter's meaning: its own catalogue entry, else that of its name without `_total`.
    fn counter_meaning(&self, metric: &str) -> MetricSemantics {
        let name = normalize(metric);
        if self.exact.contains_key(&name) {
            return self.lookup_name(metric);
        }
        match name.strip_suffix("_total") {
            Some(base) if !base.is_empty() => self.lookup_name(base),
            _ => self.lookup_name(metric),
        }
    }

    fn lookup_name(&self, metric_name: &str) -> MetricSemantics {
        let name = normalize(metric_name);
        if let Some(s) = self.exact.get(&name) {
            return s.clone();
        }
        // Histograms and summaries: the series of a latency family keep its meaning,
        // except `_count` (how many requests: traffic) and `_bucket` (one bucket alone says little).
        for suffix in ["_bucket", "_count", "_sum", "_max"] {
            if let Some(base) = name.strip_suffix(suffix)
                && !base.is_empty()
            {
                let s = self.lookup_base(base);
                return match suffix {
                    "_bucket" => MetricSemantics { kind: MetricKind::Other, bad: Bad::Either, ..s },
                    "_count" if matches!(s.kind, MetricKind::Latency | MetricKind::ClientLatency) => {
                        MetricSemantics { kind: MetricKind::Traffic, unit: Some("1".into()), bad: Bad::Either, ..s }
                    }
                    _ => s,
                };
            }
        }
        self.lookup_base(&name)
    }

    fn lookup_base(&self, name: &str) -> MetricSemantics {
        if let Some(s) = self.exact.get(name) {
            return s.clone();
        }
        let tokens: Vec<&str> = name.split('_').filter(|t| !t.is_empty()).collect();
        match self.rules.iter().find(|r| r.matches(name, &tokens)) {
            Some(r) => MetricSemantics {
                kind: r.kind,
                unit: r.unit.clone().or_else(|| unit_of(&tokens)),
                bad: r.bad,
                source: r.exporter.clone().unwrap_or_else(|| "convention".into()),
            },
            None => MetricSemantics { unit: unit_of(&tokens), ..MetricSemantics::unknown() },
        }
    }
}

fn is_counter_name(metric: &str) -> bool {
    metric.ends_with("_total") || metric.ends_with("_count")
}

/// Labels saying a request failed: an HTTP 5xx, an error outcome, a gRPC code other than OK.
pub fn error_labels(labels: &std::collections::BTreeMap<String, String>) -> bool {
    labels.iter().any(|(k, v)| {
        let v = v.trim();
        match k.as_str() {
            "code" | "status" | "status_code" | "http_status_code" | "http_response_status_code" | "response_code" => {
                (v.len() == 3 && v.starts_with('5') && v.bytes().all(|b| b.is_ascii_digit() || b == b'x'))
                    || matches!(v.to_ascii_lowercase().as_str(), "error" | "failure" | "failed" | "server_error")
            }
            "outcome" | "result" => {
                matches!(v.to_ascii_uppercase().as_str(), "SERVER_ERROR" | "ERROR" | "FAILURE" | "FAILED")
            }
            "grpc_code" | "grpc_status" | "grpc_status_code" | "rpc_grpc_status_code" => {
                !(v.eq_ignore_ascii_case("ok") || v == "0")
            }
            _ => false,
        }
    })
}

/// A request counter whose labels say failure counts errors; other counters keep their meaning.
fn errors_by_labels(base: MetricSemantics, labels: &std::collections::BTreeMap<String, String>) -> MetricSemantics {
    let request_like = matches!(base.kind, MetricKind::Traffic | MetricKind::Other | MetricKind::Errors);
    if request_like && error_labels(labels) {
        return MetricSemantics { kind: MetricKind::Errors, bad: Bad::Up, ..base };
    }
    base
}

/// Whether a raw cumulative series is better read through a derived sibling in the same
/// window: a counter whose `rate(...)` is there, a histogram bucket whose family has a
/// `histogram_quantile(...)` there. Such a series is not scored (its sibling is).
pub fn superseded(metric_name: &str, window: &std::collections::HashSet<&str>) -> bool {
    if metric_name.starts_with("rate(") || metric_name.starts_with("histogram_quantile(") {
        return false;
    }
    if window.contains(format!("rate({metric_name})").as_str()) {
        return true;
    }
    let series = SeriesName::parse(metric_name);
    let Some(base) = series.metric.strip_suffix("_bucket") else { return false };
    if series.function.is_some() || !series.labels.contains_key("le") {
        return false;
    }
    let mut labels = series.labels;
    labels.remove("le");
    let inner = inquest_domain::series_name(base, &labels);
    window.iter().any(|n| n.strip_prefix("histogram_quantile(").is_some_and(|rest| rest.ends_with(&format!(", {inner})"))))
}

/// A unit read from the name's last tokens (`_ms`, `_seconds`, `_bytes`, `_pct`).
fn unit_of(tokens: &[&str]) -> Option<String> {
    tokens.iter().rev().take(2).find_map(|t| {
        let u = match *t {
            "ms" | "milliseconds" => "ms",
            "us" | "microseconds" => "us",
            "s" | "seconds" | "sec" => "s",
            "bytes" => "bytes",
            "mi" | "mib" => "MiB",
            "pct" | "percent" => "%",
            "ratio" | "utilization" | "util" => "ratio",
            "m" | "millicores" => "millicores",
            _ => return None,
        };
        Some(u.to_string())
    })
}

/// Lowercase snake case: separators become `_`, camel case is split
/// (`HttpServer.Duration` is `http_server_duration`).
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.trim().chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if c == '%' {
                if !out.ends_with('_') && !out.is_empty() {
                    out.push('_');
                }
                out.push_str("pct");
            }
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_matches('_').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> MetricKind {
        Catalogue::bundled().lookup(name).kind
    }

    #[test]
    fn the_bundled_catalogue_parses() {
        let c = Catalogue::parse(BUNDLED, "metrics.toml").expect("bundled catalogue parses");
        assert!(c.exact.len() > 100, "{} entries", c.exact.len());
        assert!(c.rules.len() > 10);
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(normalize("http.server.request.duration"), "http_server_request_duration");
        assert_eq!(normalize("node_memory_MemAvailable_bytes"), "node_memory_mem_available_bytes");
        assert_eq!(normalize("PodClientLatencyP90(s)"), "pod_client_latency_p90_s");
        assert_eq!(normalize("CpuUsageRate(%)"), "cpu_usage_rate_pct");
    }

    #[test]
    fn the_fixture_conventions_still_hold() {
        // Every metric name of the bundled fixtures keeps the kind the substring conventions gave it.
        for (name, k) in [
            ("latency_p99_ms", MetricKind::Latency),
            ("query_latency_ms", MetricKind::Latency),
            ("error_rate", MetricKind::Errors),
            ("rps", MetricKind::Traffic),
            ("cpu_util", MetricKind::Cpu),
            ("mem_util", MetricKind::Memory),
            ("disk_util", MetricKind::Storage),
            ("connections_used", MetricKind::Connections),
            ("db_pool_util", MetricKind::Connections),
            ("pod_client_latency_p99_s", MetricKind::ClientLatency),
            ("pod_success_rate_pct", MetricKind::Availability),
            ("pod_workload_ops", MetricKind::Traffic),
            ("memory_usage_mi", MetricKind::Memory),
            ("cpuusage", MetricKind::Cpu),
        ] {
            assert_eq!(kind(name), k, "{name}");
        }
    }

    #[test]
    fn exporters_names_are_known() {
        let c = Catalogue::bundled();
        assert_eq!(kind("container_cpu_usage_seconds_total"), MetricKind::Cpu);
        assert_eq!(kind("container_memory_working_set_bytes"), MetricKind::Memory);
        assert_eq!(kind("kube_pod_container_status_restarts_total"), MetricKind::Errors);
        let avail = c.lookup("node_memory_MemAvailable_bytes");
        assert_eq!((avail.kind, avail.bad), (MetricKind::Memory, Bad::Down));
        assert_eq!(kind("node_filesystem_avail_bytes"), MetricKind::Storage);
        assert_eq!(kind("node_load5"), MetricKind::Cpu);
        assert_eq!(kind("istio_request_duration_milliseconds_bucket"), MetricKind::Other);
        assert_eq!(kind("istio_request_duration_milliseconds_sum"), MetricKind::Latency);
        assert_eq!(kind("http_server_requests_seconds_count"), MetricKind::Traffic);
        assert_eq!(kind("http_server_requests_seconds_max"), MetricKind::Latency);
        assert_eq!(kind("envoy_cluster_upstream_rq_time"), MetricKind::ClientLatency);
        assert_eq!(kind("http.client.request.duration"), MetricKind::ClientLatency);
        assert_eq!(kind("hikaricp_connections_pending"), MetricKind::Connections);
        assert_eq!(c.lookup("istio_request_duration_milliseconds").unit.as_deref(), Some("ms"));
        assert_eq!(c.lookup("istio_request_duration_milliseconds").source, "istio");
    }

    #[test]
    fn abbreviated_and_unknown_names() {
        assert_eq!(kind("p99"), MetricKind::Latency);
        assert_eq!(kind("lat_p95"), MetricKind::Latency);
        assert_eq!(kind("checkout_rt"), MetricKind::Latency);
        assert_eq!(kind("load"), MetricKind::Cpu);
        assert_eq!(kind("request_size_p99"), MetricKind::Traffic);
        assert_eq!(kind("upstream_call_p99_ms"), MetricKind::ClientLatency);
        let u = Catalogue::bundled().lookup("frobnication_level");
        assert_eq!((u.kind, u.bad, u.source.as_str()), (MetricKind::Other, Bad::Either, "unknown"));
    }

    #[test]
    fn series_names_are_read_through_their_function_and_labels() {
        let c = Catalogue::bundled();
        let errors = c.lookup(r#"rate(http_requests_total{code="503",method="GET"})"#);
        assert_eq!((errors.kind, errors.bad), (MetricKind::Errors, Bad::Up));
        assert_eq!(kind(r#"rate(http_requests_total{code="200"})"#), kind("http_requests"));
        assert_eq!(kind(r#"rate(http_server_requests_seconds_count{outcome="SERVER_ERROR"})"#), MetricKind::Errors);
        assert_eq!(kind(r#"rate(grpc_server_handled_total{grpc_code="Unavailable"})"#), MetricKind::Errors);
        assert_ne!(kind(r#"rate(grpc_server_handled_total{grpc_code="OK"})"#), MetricKind::Errors);
        assert_eq!(kind("rate(container_cpu_usage_seconds_total)"), MetricKind::Cpu);
        let p99 = c.lookup(r#"histogram_quantile(0.99, http_request_duration_seconds{route="/pay"})"#);
        assert_eq!((p99.kind, p99.bad), (MetricKind::Latency, Bad::Up));
        assert_eq!(kind(r#"node_memory_MemAvailable_bytes{device="x"}"#), MetricKind::Memory);
        assert_eq!(kind(r#"http_requests_total{status_code="500"}"#), MetricKind::Errors);
    }

    #[test]
    fn raw_cumulative_series_give_way_to_their_derived_siblings() {
        let names = [
            r#"http_requests_total{code="500"}"#,
            r#"rate(http_requests_total{code="500"})"#,
            r#"rpc_seconds_bucket{le="0.5",route="/pay"}"#,
            r#"histogram_quantile(0.99, rpc_seconds{route="/pay"})"#,
            "cpu_util",
        ];
        let window: std::collections::HashSet<&str> = names.into_iter().collect();
        let gone: Vec<&str> = names.into_iter().filter(|n| superseded(n, &window)).collect();
        assert_eq!(gone, [names[0], names[2]]);
        let alone: std::collections::HashSet<&str> = [names[0]].into_iter().collect();
        assert!(!superseded(names[0], &alone));
    }

    #[test]
    fn a_file_overrides_the_bundled_meaning() {
        let dir = std::env::temp_dir().join(format!("inquest-catalogue-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("override.toml");
        std::fs::write(
            &path,
            "[[metric]]\nname = \"rps\"\nkind = \"errors\"\nbad = \"up\"\nexporter = \"ours\"\n\n\
             [[rule]]\ntokens = [[\"frobnication\"]]\nkind = \"cpu\"\nbad = \"up\"\n",
        )
        .expect("write override");
        let c = Catalogue::with_overrides(&path).expect("override loads");
        assert_eq!(c.lookup("rps").kind, MetricKind::Errors);
        assert_eq!(c.lookup("rps").source, "ours");
        assert_eq!(c.lookup("frobnication_level").kind, MetricKind::Cpu);
        assert_eq!(c.lookup("cpu_util").kind, MetricKind::Cpu);
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\"metric\": [{\"name\": \"x\"}]}").expect("write bad");
        assert!(matches!(Catalogue::with_overrides(&bad), Err(CatalogueError::Parse { .. })));
        std::fs::remove_dir_all(&dir).ok();
    }
}

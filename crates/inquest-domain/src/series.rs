//! The name of one series among a service's metrics, in Prometheus's own selector
//! notation: `http_requests_total{code="500",method="GET"}`, or the bare metric name
//! when no label tells the series apart. Derived series read as the PromQL that would
//! compute them: `rate(http_requests_total{code="500"})`,
//! `histogram_quantile(0.99, http_request_duration_seconds)`.
//!
//! The stores key points by `(service_key, metric_name, ts)`, so every series that
//! reaches them from a sender with labels carries its distinguishing labels in the name;
//! the full label set is kept beside it in `MetricPoint::labels`.

use std::collections::BTreeMap;

/// `name` alone, or `name{k="v",...}` with the labels in key order, values escaped as
/// PromQL escapes them (`\\`, `\"`, `\n`).
pub fn series_name(name: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len() + 16 * labels.len());
    out.push_str(name);
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// A series name taken apart: the function wrapped around it (`rate`,
/// `histogram_quantile` with its quantile), the metric name and the labels.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesName {
    /// `rate`, `histogram_quantile`, ...; `None` for a raw series.
    pub function: Option<String>,
    /// The quantile of `histogram_quantile(q, ...)`.
    pub quantile: Option<f64>,
    pub metric: String,
    pub labels: BTreeMap<String, String>,
}

impl SeriesName {
    /// Read a name written by `series_name`, optionally wrapped in one function call.
    /// A name that is not in this notation is a metric name with no labels.
    pub fn parse(text: &str) -> SeriesName {
        let raw = SeriesName { function: None, quantile: None, metric: text.to_string(), labels: BTreeMap::new() };
        let text = text.trim();
        let (function, quantile, inner) = match text.find('(') {
            Some(open) if text.ends_with(')') && is_ident(&text[..open]) => {
                let args = &text[open + 1..text.len() - 1];
                let function = text[..open].to_string();
                match args.split_once(',') {
                    Some((q, rest)) if q.trim().parse::<f64>().is_ok() && !q.contains('{') => {
                        (Some(function), q.trim().parse::<f64>().ok(), rest.trim())
                    }
                    _ => (Some(function), None, args.trim()),
                }
            }
            _ => (None, None, text),
        };
        let (metric, labels) = match inner.find('{') {
            Some(open) if inner.ends_with('}') => match parse_labels(&inner[open + 1..inner.len() - 1]) {
                Some(labels) => (inner[..open].to_string(), labels),
                None => return raw,
            },
            Some(_) => return raw,
            None => (inner.to_string(), BTreeMap::new()),
        };
        if metric.is_empty() {
            return raw;
        }
        SeriesName { function, quantile, metric, labels }
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_labels(body: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(labels);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') || chars.next() != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key.trim().to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_series_without_labels_is_its_metric_name() {
        assert_eq!(series_name("up", &BTreeMap::new()), "up");
        assert_eq!(SeriesName::parse("cpu_usage").metric, "cpu_usage");
    }

    #[test]
    fn labels_are_written_in_order_and_read_back() {
        let l = labels(&[("method", "GET"), ("code", "500"), ("path", "say \"hi\"\\")]);
        let name = series_name("http_requests_total", &l);
        assert_eq!(name, r#"http_requests_total{code="500",method="GET",path="say \"hi\"\\"}"#);
        let parsed = SeriesName::parse(&format!("rate({name})"));
        assert_eq!(parsed.function.as_deref(), Some("rate"));
        assert_eq!(parsed.metric, "http_requests_total");
        assert_eq!(parsed.labels, l);
    }

    #[test]
    fn a_quantile_is_read_from_its_function() {
        let parsed = SeriesName::parse(r#"histogram_quantile(0.99, http_request_duration_seconds{route="/pay"})"#);
        assert_eq!(parsed.function.as_deref(), Some("histogram_quantile"));
        assert_eq!(parsed.quantile, Some(0.99));
        assert_eq!(parsed.metric, "http_request_duration_seconds");
        assert_eq!(parsed.labels, labels(&[("route", "/pay")]));
    }

    #[test]
    fn names_in_other_notations_stay_whole() {
        for odd in ["latency(p99", "a{b=c}", "weird{", "HttpServer.Duration"] {
            assert_eq!(SeriesName::parse(odd).metric, odd, "{odd}");
        }
    }
}

//! Which service a series belongs to, and which series and labels are kept: the
//! cluster label, the namespace label, then the first present of the service labels
//! give `service_key(cluster or "default", namespace or "default", service)`; keep and
//! drop rules on the metric name (regexes) and on labels (matchers); labels dropped
//! from storage (`instance`, `pod` by default: they change with every rollout).

use regex::Regex;

/// The rules as written in the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub cluster_label: String,
    pub namespace_label: String,
    /// Tried in order; the first present names the service.
    pub service_labels: Vec<String>,
    /// Regexes (whole name) a metric name must match one of, when any are given.
    pub keep_metrics: Vec<String>,
    /// Regexes (whole name): a matching metric is dropped.
    pub drop_metrics: Vec<String>,
    /// Matchers (`label="v"`, `label!="v"`, `label=~"re"`, `label!~"re"`) a series must all satisfy.
    pub keep_series: Vec<String>,
    /// Matchers: a series satisfying any one is dropped.
    pub drop_series: Vec<String>,
    /// Labels not stored (nor part of the series name).
    pub drop_labels: Vec<String>,
    pub max_label_name_bytes: usize,
    pub max_label_value_bytes: usize,
}

impl Default for RuleSpec {
    fn default() -> Self {
        RuleSpec {
            cluster_label: "cluster".into(),
            namespace_label: "namespace".into(),
            service_labels: vec!["service".into(), "app".into(), "job".into()],
            keep_metrics: Vec::new(),
            drop_metrics: Vec::new(),
            keep_series: Vec::new(),
            drop_series: Vec::new(),
            drop_labels: vec!["instance".into(), "pod".into()],
            max_label_name_bytes: 128,
            max_label_value_bytes: 2048,
        }
    }
}

/// A rule that does not parse, naming it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{rule} '{text}': {message}")]
pub struct RuleError {
    pub rule: String,
    pub text: String,
    pub message: String,
}

/// One label matcher, as in a PromQL selector.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub label: String,
    op: Op,
}

#[derive(Debug, Clone)]
enum Op {
    Eq(String),
    Ne(String),
    Re(Regex),
    NotRe(Regex),
}

fn anchored(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{re})$"))
}

impl Matcher {
    /// `label="value"`, `label!="value"`, `label=~"regex"` or `label!~"regex"`.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let t = text.trim();
        let at = t.find(['=', '!']).ok_or("expected label=\"value\", !=, =~ or !~")?;
        let label = t[..at].trim();
        if !valid_label_name(label.as_bytes()) {
            return Err(format!("'{label}' is not a label name"));
        }
        let rest = &t[at..];
        let (op, value) = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v.trim())))
            .ok_or("expected =, !=, =~ or !~ after the label")?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or("the value must be in double quotes")?
            .replace("\\\"", "\"")
            .replace("\\\\", "\\");
        let op = match op {
            "=" => Op::Eq(value),
            "!=" => Op::Ne(value),
            "=~" => Op::Re(anchored(&value).map_err(|e| e.to_string())?),
            _ => Op::NotRe(anchored(&value).map_err(|e| e.to_string())?),
        };
        Ok(Matcher { label: label.to_string(), op })
    }

    /// Whether the series with `value` for the label (`""` when absent, as in PromQL) matches.
    pub fn matches(&self, value: &str) -> bool {
        match &self.op {
            Op::Eq(v) => value == v,
            Op::Ne(v) => value != v,
            Op::Re(r) => r.is_match(value),
            Op::NotRe(r) => !r.is_match(value),
        }
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &[u8]) -> bool {
    match name.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_') && rest.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        }
        None => false,
    }
}

/// The compiled rules.
#[derive(Debug, Clone)]
pub struct Rules {
    pub cluster_label: String,
    pub namespace_label: String,
    pub service_labels: Vec<String>,
    keep_metrics: Vec<Regex>,
    drop_metrics: Vec<Regex>,
    keep_series: Vec<Matcher>,
    drop_series: Vec<Matcher>,
    pub drop_labels: Vec<String>,
    pub max_label_name_bytes: usize,
    pub max_label_value_bytes: usize,
}

impl Default for Rules {
    fn default() -> Self {
        // The default spec has no patterns, so it always compiles.
        let spec = RuleSpec::default();
        Rules {
            cluster_label: spec.cluster_label,
            namespace_label: spec.namespace_label,
            service_labels: spec.service_labels,
            keep_metrics: Vec::new(),
            drop_metrics: Vec::new(),
            keep_series: Vec::new(),
            drop_series: Vec::new(),
            drop_labels: spec.drop_labels,
            max_label_name_bytes: spec.max_label_name_bytes,
            max_label_value_bytes: spec.max_label_value_bytes,
        }
    }
}

impl Rules {
    pub fn new(spec: &RuleSpec) -> Result<Rules, RuleError> {
        let err = |rule: &str, text: &str, message: String| RuleError { rule: rule.into(), text: text.into(), message };
        let regexes = |rule: &str, list: &[String]| -> Result<Vec<Regex>, RuleError> {
            list.iter().map(|r| anchored(r).map_err(|e| err(rule, r, e.to_string()))).collect()
        };
        let matchers = |rule: &str, list: &[String]| -> Result<Vec<Matcher>, RuleError> {
            list.iter().map(|m| Matcher::parse(m).map_err(|e| err(rule, m, e))).collect()
        };
        for (rule, name) in [("cluster_label", &spec.cluster_label), ("namespace_label", &spec.namespace_label)] {
            if !name.is_empty() && !valid_label_name(name.as_bytes()) {
                return Err(err(rule, name, "not a label name".into()));
            }
        }
        if spec.service_labels.is_empty() {
            return Err(err("service_labels", "", "at least one label must name the service".into()));
        }
        for name in spec.service_labels.iter().chain(&spec.drop_labels) {
            if !valid_label_name(name.as_bytes()) {
                return Err(err("service_labels/drop_labels", name, "not a label name".into()));
            }
        }
        Ok(Rules {
            cluster_label: spec.cluster_label.clone(),
            namespace_label: spec.namespace_label.clone(),
            service_labels: spec.service_labels.clone(),
            keep_metrics: regexes("keep_metrics", &spec.keep_metrics)?,
            drop_metrics: regexes("drop_metrics", &spec.drop_metrics)?,
            keep_series: matchers("keep_series", &spec.keep_series)?,
            drop_series: matchers("drop_series", &spec.drop_series)?,
            drop_labels: spec.drop_labels.clone(),
            max_label_name_bytes: spec.max_label_name_bytes.max(1),
            max_label_value_bytes: spec.max_label_value_bytes.max(1),
        })
    }

    /// Whether the metric `name` passes the name rules.
    pub fn keeps_metric(&self, name: &str) -> bool {
        (self.keep_metrics.is_empty() || self.keep_metrics.iter().any(|r| r.is_match(name)))
            && !self.drop_metrics.iter().any(|r| r.is_match(name))
    }

    /// Whether the series with `label` values passes the label rules.
    pub fn keeps_series<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        let value = |m: &Matcher| label(&m.label).unwrap_or("");
        self.keep_series.iter().all(|m| m.matches(value(m))) && !self.drop_series.iter().any(|m| m.matches(value(m)))
    }

    /// Whether `name` identifies the service (and so is left out of the series name).
    pub fn is_identity(&self, name: &str) -> bool {
        name == self.cluster_label || name == self.namespace_label || self.service_labels.iter().any(|l| l == name)
    }

    pub fn is_dropped_label(&self, name: &str) -> bool {
        self.drop_labels.iter().any(|l| l == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_read_like_promql() {
        let m = Matcher::parse(r#"env=~"prod|staging""#).expect("regex matcher");
        assert!(m.matches("prod") && !m.matches("production"));
        assert!(Matcher::parse(r#"env!="dev""#).expect("ne").matches(""));
        assert!(!Matcher::parse(r#"env!~"dev.*""#).expect("not re").matches("dev1"));
        assert!(Matcher::parse(r#"env="a\"b""#).expect("escaped").matches("a\"b"));
        assert!(Matcher::parse("env=prod").is_err());
        assert!(Matcher::parse(r#"1env="x""#).is_err());
    }

    #[test]
    fn rules_keep_and_drop_by_name_and_label() {
        let spec = RuleSpec {
            keep_metrics: vec!["http_.*".into()],
            drop_metrics: vec![".*_debug".into()],
            drop_series: vec![r#"env="dev""#.into()],
            ..RuleSpec::default()
        };
        let rules = Rules::new(&spec).expect("rules");
        assert!(rules.keeps_metric("http_requests_total"));
        assert!(!rules.keeps_metric("go_goroutines"));
        assert!(!rules.keeps_metric("http_debug"));
        assert!(rules.keeps_series(|l| (l == "env").then_some("prod")));
        assert!(!rules.keeps_series(|l| (l == "env").then_some("dev")));
        let bad = RuleSpec { drop_metrics: vec!["(".into()], ..RuleSpec::default() };
        let err = Rules::new(&bad).expect_err("a bad regex");
        assert!(err.to_string().starts_with("drop_metrics '('"), "{err}");
    }

    #[test]
    fn label_names_follow_prometheus() {
        assert!(valid_label_name(b"__name__") && valid_label_name(b"a1"));
        assert!(!valid_label_name(b"") && !valid_label_name(b"1a") && !valid_label_name(b"a-b"));
    }
}

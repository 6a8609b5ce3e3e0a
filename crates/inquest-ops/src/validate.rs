//! Which definitions can be evaluated. Every refusal names the field
//! (`target`, `metric_query.good`, `burn_rate_thresholds[1].factor`).

use std::collections::BTreeSet;

use crate::model::*;

/// A definition that cannot be evaluated, naming the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

/// Longest name; descriptions may be longer.
pub const MAX_NAME: usize = 200;
pub const MAX_DESCRIPTION: usize = 4000;
/// The longest SLO window (a year) and invariant window (a week).
pub const MAX_WINDOW_DAYS: u32 = 366;
pub const MAX_INVARIANT_MINUTES: u32 = 7 * 24 * 60;

fn text(field: &str, value: &str, max: usize, required: bool) -> Result<(), FieldError> {
    if required && value.trim().is_empty() {
        return Err(refuse(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(refuse(field, format!("longer than {max} bytes")));
    }
    if value.chars().any(char::is_control) && field != "description" {
        return Err(refuse(field, "must not hold control characters"));
    }
    Ok(())
}

/// A metric name as the stores hold it: no whitespace at the ends, at most 512 bytes.
fn metric(field: &str, value: &str) -> Result<(), FieldError> {
    text(field, value, 512, true)?;
    if value.trim() != value {
        return Err(refuse(field, "must not start or end with whitespace"));
    }
    Ok(())
}

fn service(field: &str, value: &str) -> Result<(), FieldError> {
    text(field, value, 256, true)?;
    let parts = value.split('/').count();
    if parts != 1 && parts != 3 || value.split('/').any(str::is_empty) {
        return Err(refuse(field, "must be a service name (checkout) or key (cluster/namespace/name)"));
    }
    Ok(())
}

fn finite(field: &str, v: f64) -> Result<(), FieldError> {
    if !v.is_finite() { Err(refuse(field, "must be a finite number")) } else { Ok(()) }
}

/// Checks an SLO definition on its own (the metrics' existence is `known_metrics`).
pub fn slo(spec: &SloSpec) -> Result<(), FieldError> {
    text("name", &spec.name, MAX_NAME, true)?;
    text("description", &spec.description, MAX_DESCRIPTION, false)?;
    finite("target", spec.target)?;
    if !(spec.target > 0.0 && spec.target < 1.0) {
        return Err(refuse("target", format!("{} is outside (0, 1): write 99.9% as 0.999", spec.target)));
    }
    if spec.window_days == 0 {
        return Err(refuse("window_days", "must be at least 1"));
    }
    if spec.window_days > MAX_WINDOW_DAYS {
        return Err(refuse("window_days", format!("must be at most {MAX_WINDOW_DAYS}")));
    }
    match &spec.metric_query {
        SloQuery::Ratio { service: s, good, total } => {
            service("metric_query.service", s)?;
            metric("metric_query.good", good)?;
            metric("metric_query.total", total)?;
            if good == total {
                return Err(refuse("metric_query.good", "must differ from total"));
            }
        }
        SloQuery::Latency { service: s, metric: m, threshold } => {
            service("metric_query.service", s)?;
            metric("metric_query.metric", m)?;
            finite("metric_query.threshold", *threshold)?;
        }
    }
    if spec.burn_rate_thresholds.is_empty() {
        return Err(refuse("burn_rate_thresholds", "must hold at least one condition (omit it for the defaults)"));
    }
    let window_minutes = u64::from(spec.window_days) * 24 * 60;
    let budget = 1.0 - spec.target;
    for (i, t) in spec.burn_rate_thresholds.iter().enumerate() {
        let f = |name: &str| format!("burn_rate_thresholds[{i}].{name}");
        if t.short_window_minutes == 0 {
            return Err(refuse(f("short_window_minutes"), "must be at least 1"));
        }
        if t.long_window_minutes <= t.short_window_minutes {
            return Err(refuse(f("long_window_minutes"), "must be longer than short_window_minutes"));
        }
        if u64::from(t.long_window_minutes) > window_minutes {
            return Err(refuse(f("long_window_minutes"), format!("must fit in the SLO window ({window_minutes})")));
        }
        finite(&f("factor"), t.factor)?;
        if t.factor <= 0.0 {
            return Err(refuse(f("factor"), "must be above 0"));
        }
        // An error ratio is at most 1, so a burn rate is at most 1 / budget.
        if t.factor >= 1.0 / budget {
            return Err(refuse(
                f("factor"),
                format!(
                    "{} can never be exceeded with target {} (burn rates reach at most {:.4})",
                    t.factor,
                    spec.target,
                    1.0 / budget
                ),
            ));
        }
    }
    Ok(())
}

/// Checks an invariant definition on its own.
pub fn invariant(spec: &InvariantSpec) -> Result<(), FieldError> {
    text("name", &spec.name, MAX_NAME, true)?;
    text("description", &spec.description, MAX_DESCRIPTION, false)?;
    service("query.service", &spec.query.service)?;
    metric("query.metric", &spec.query.metric)?;
    if spec.query.window_minutes == 0 {
        return Err(refuse("query.window_minutes", "must be at least 1"));
    }
    if spec.query.window_minutes > MAX_INVARIANT_MINUTES {
        return Err(refuse("query.window_minutes", format!("must be at most {MAX_INVARIANT_MINUTES}")));
    }
    finite("condition.value", spec.condition.value)?;
    Ok(())
}

/// Refuses a metric the service has no points of (`known`: the metric names it has);
/// `prefix` is the query's field (`metric_query`, `query`).
pub fn known_metrics<'a>(
    prefix: &str,
    wanted: impl IntoIterator<Item = (&'static str, &'a str)>,
    known: &BTreeSet<String>,
    service: &str,
) -> Result<(), FieldError> {
    for (field, name) in wanted {
        if !known.contains(name) {
            return Err(refuse(
                format!("{prefix}.{field}"),
                format!("unknown metric '{name}': service '{service}' has no points of it"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use inquest_intake::model::Severity;

    fn spec() -> SloSpec {
        SloSpec {
            name: "checkout availability".into(),
            description: String::new(),
            target: 0.999,
            window_days: 30,
            metric_query: SloQuery::Ratio { service: "checkout".into(), good: "ok".into(), total: "all".into() },
            burn_rate_thresholds: default_thresholds(),
            enabled: true,
        }
    }

    fn field(r: Result<(), FieldError>) -> String {
        r.expect_err("refused").field
    }

    #[test]
    fn the_workbook_defaults_pass() {
        assert_eq!(slo(&spec()), Ok(()));
    }

    #[test]
    fn refusals_name_the_field() {
        for target in [0.0, 1.0, 1.5, -0.1, f64::NAN] {
            assert_eq!(field(slo(&SloSpec { target, ..spec() })), "target", "{target}");
        }
        assert_eq!(field(slo(&SloSpec { window_days: 0, ..spec() })), "window_days");
        assert_eq!(field(slo(&SloSpec { name: " ".into(), ..spec() })), "name");
        let q = SloQuery::Latency { service: "checkout".into(), metric: "".into(), threshold: 0.3 };
        assert_eq!(field(slo(&SloSpec { metric_query: q, ..spec() })), "metric_query.metric");
        let q = SloQuery::Ratio { service: "a/b".into(), good: "ok".into(), total: "all".into() };
        assert_eq!(field(slo(&SloSpec { metric_query: q, ..spec() })), "metric_query.service");
        let mut t = default_thresholds();
        t[1].short_window_minutes = 400;
        assert_eq!(
            field(slo(&SloSpec { burn_rate_thresholds: t, ..spec() })),
            "burn_rate_thresholds[1].long_window_minutes"
        );
        assert_eq!(field(slo(&SloSpec { burn_rate_thresholds: vec![], ..spec() })), "burn_rate_thresholds");
        // 3-day windows do not fit a 1-day SLO.
        assert_eq!(field(slo(&SloSpec { window_days: 1, ..spec() })), "burn_rate_thresholds[2].long_window_minutes");
    }

    #[test]
    fn a_factor_no_burn_rate_can_reach_is_refused() {
        // With a 90% target the budget is 0.1: burn rates stop at 10.
        let e = slo(&SloSpec { target: 0.9, ..spec() }).expect_err("14.4 is out of reach");
        assert_eq!(e.field, "burn_rate_thresholds[0].factor");
        let t = vec![BurnThreshold {
            long_window_minutes: 60,
            short_window_minutes: 5,
            factor: 9.0,
            severity: Severity::High,
        }];
        assert_eq!(slo(&SloSpec { target: 0.9, burn_rate_thresholds: t, ..spec() }), Ok(()));
    }

    #[test]
    fn invariants_are_checked() {
        let inv = InvariantSpec {
            name: "queue drains".into(),
            description: String::new(),
            query: InvariantQuery {
                service: "worker".into(),
                metric: "queue_depth".into(),
                aggregation: Aggregation::Max,
                window_minutes: 10,
            },
            condition: Condition { op: Op::Lt, value: 1000.0 },
            severity: Severity::High,
            enabled: true,
        };
        assert_eq!(invariant(&inv), Ok(()));
        let mut bad = inv.clone();
        bad.query.window_minutes = 0;
        assert_eq!(field(invariant(&bad)), "query.window_minutes");
        let mut bad = inv.clone();
        bad.condition.value = f64::INFINITY;
        assert_eq!(field(invariant(&bad)), "condition.value");
    }

    #[test]
    fn unknown_metrics_are_named() {
        let known: BTreeSet<String> = ["ok".to_string()].into();
        let q = spec().metric_query;
        let e = known_metrics("metric_query", q.metrics(), &known, "checkout").expect_err("total is unknown");
        assert_eq!(e.field, "metric_query.total");
        assert!(e.message.contains("'all'"), "{e}");
    }
}

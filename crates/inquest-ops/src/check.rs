//! Invariant checks: the points of one metric in `(now - window, now]` reduced by the
//! aggregation, compared with the condition. The condition says what must hold; a
//! value breaking it fails the invariant.

use inquest_domain::Timestamp;

use crate::burn::minutes;
use crate::model::*;

/// The aggregated value of `points` in the window ending at `now`; `None` when there
/// are no points (except for `count`, which is then 0).
pub fn aggregate(query: &InvariantQuery, points: &[(Timestamp, f64)], now: Timestamp) -> Option<f64> {
    let from = now - minutes(query.window_minutes);
    let mut inside: Vec<(Timestamp, f64)> =
        points.iter().copied().filter(|(t, v)| *t > from && *t <= now && v.is_finite()).collect();
    inside.sort_by_key(|(t, _)| *t);
    let values = inside.iter().map(|(_, v)| *v);
    match query.aggregation {
        Aggregation::Count => Some(inside.len() as f64),
        _ if inside.is_empty() => None,
        Aggregation::Last => inside.last().map(|(_, v)| *v),
        Aggregation::Sum => Some(values.sum()),
        Aggregation::Avg => Some(values.sum::<f64>() / inside.len() as f64),
        Aggregation::Min => values.reduce(f64::min),
        Aggregation::Max => values.reduce(f64::max),
    }
}

/// The check at `now`; `signalled` is carried from the previous result.
pub fn check(spec: &InvariantSpec, points: &[(Timestamp, f64)], now: Timestamp, signalled: bool) -> InvariantResult {
    let q = &spec.query;
    let c = &spec.condition;
    let described = format!("{:?}", q.aggregation).to_lowercase();
    let Some(value) = aggregate(q, points, now) else {
        return InvariantResult {
            at: now,
            state: CheckState::NoData,
            value: None,
            signalled,
            message: format!("no points of {} in the last {} min", q.metric, q.window_minutes),
        };
    };
    let holds = c.op.holds(value, c.value);
    let message = format!(
        "{described}({}) over {} min is {value}, {} {} {}",
        q.metric,
        q.window_minutes,
        if holds { "as required:" } else { "breaking" },
        c.op.as_str(),
        c.value
    );
    InvariantResult {
        at: now,
        state: if holds { CheckState::Pass } else { CheckState::Fail },
        value: Some(value),
        signalled,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use inquest_intake::model::Severity;

    fn at(m: i64) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().expect("a valid time") + Duration::minutes(m)
    }

    fn spec(aggregation: Aggregation, op: Op, value: f64) -> InvariantSpec {
        InvariantSpec {
            name: "i".into(),
            description: String::new(),
            query: InvariantQuery { service: "worker".into(), metric: "queue".into(), aggregation, window_minutes: 10 },
            condition: Condition { op, value },
            severity: Severity::High,
            enabled: true,
        }
    }

    #[test]
    fn aggregations_over_the_window_by_hand() {
        // Minute 0 is outside (10 min before minute 10); 3, 7 and 10 are inside.
        let points = [(at(0), 100.0), (at(7), 5.0), (at(3), 1.0), (at(10), 3.0), (at(11), 50.0)];
        let value = |a| aggregate(&spec(a, Op::Lt, 0.0).query, &points, at(10));
        assert_eq!(value(Aggregation::Last), Some(3.0));
        assert_eq!(value(Aggregation::Sum), Some(9.0));
        assert_eq!(value(Aggregation::Avg), Some(3.0));
        assert_eq!(value(Aggregation::Min), Some(1.0));
        assert_eq!(value(Aggregation::Max), Some(5.0));
        assert_eq!(value(Aggregation::Count), Some(3.0));
        assert_eq!(aggregate(&spec(Aggregation::Max, Op::Lt, 0.0).query, &[], at(10)), None);
        assert_eq!(aggregate(&spec(Aggregation::Count, Op::Lt, 0.0).query, &[], at(10)), Some(0.0));
    }

    #[test]
    fn the_condition_is_what_must_hold() {
        let points = [(at(5), 1200.0)];
        let fail = check(&spec(Aggregation::Max, Op::Lt, 1000.0), &points, at(10), false);
        assert_eq!((fail.state, fail.value), (CheckState::Fail, Some(1200.0)));
        assert!(fail.message.contains("breaking < 1000"), "{}", fail.message);
        let pass = check(&spec(Aggregation::Max, Op::Ge, 1200.0), &points, at(10), true);
        assert_eq!((pass.state, pass.signalled), (CheckState::Pass, true));
        let none = check(&spec(Aggregation::Max, Op::Lt, 1000.0), &points, at(30), false);
        assert_eq!(none.state, CheckState::NoData);
    }
}

//! The SQL the adapter sends, in one place. Values are server-side parameters
//! (`{name:Type}`), never spliced into the text, so each statement's text is fixed
//! (`radius`'s by which of its sets of ranges are empty, the one thing it is built
//! from) and its hash identifies it in evidence references.
//!
//! `MergeTree` keeps every inserted row, so loading the same points twice would
//! count them twice; reads collapse rows with the same `(metric_name, ts)` to one,
//! as the embedded store (keyed by them) does. Every statement filters `project`.

/// Every point of one service in `[from, to)`, ordered by metric and time.
pub const WINDOW: &str = "\
SELECT metric_name, ts, anyLast(value) AS value
FROM metric_points
WHERE service_key = {service_key:String}
  AND project = {project:String}
  AND ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
  AND ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY metric_name, ts
ORDER BY metric_name, ts";

/// Per-metric count, median, MAD (median of absolute deviations from the median),
/// p05 and p95 of one service over `[from, to)`, computed by ClickHouse from the
/// sorted values at the ranks and with the arithmetic of
/// `inquest_domain::stats::quantile_sorted`, as `radius` does.
pub const BASELINES: &str = "\
WITH pts AS (
    SELECT metric_name, ts, anyLast(value) AS v
    FROM metric_points
    WHERE service_key = {service_key:String}
      AND project = {project:String}
      AND ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
      AND ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
      AND isFinite(value)
    GROUP BY metric_name, ts
)
SELECT
    metric_name,
    length(s) AS n,
    m AS median,
    arrayReduce('quantileExactInclusive(0.5)', arrayMap(x -> abs(x - m), s)) AS mad,
    s[toUInt64(floor(0.05 * (length(s) - 1))) + 1] + (s[toUInt64(ceil(0.05 * (length(s) - 1))) + 1] - s[toUInt64(floor(0.05 * (length(s) - 1))) + 1]) * (0.05 * (length(s) - 1) - floor(0.05 * (length(s) - 1))) AS p05,
    s[toUInt64(floor(0.95 * (length(s) - 1))) + 1] + (s[toUInt64(ceil(0.95 * (length(s) - 1))) + 1] - s[toUInt64(floor(0.95 * (length(s) - 1))) + 1]) * (0.95 * (length(s) - 1) - floor(0.95 * (length(s) - 1))) AS p95
FROM (
    SELECT metric_name, s, s[toUInt64(floor(0.5 * (length(s) - 1))) + 1] + (s[toUInt64(ceil(0.5 * (length(s) - 1))) + 1] - s[toUInt64(floor(0.5 * (length(s) - 1))) + 1]) * (0.5 * (length(s) - 1) - floor(0.5 * (length(s) - 1))) AS m
    FROM (SELECT metric_name, arraySort(groupArray(v)) AS s FROM pts GROUP BY metric_name)
)
ORDER BY metric_name";

/// Anomaly features of one incident, ordered as the embedded store returns them.
/// Features written twice for the same key (a re-run) are read once.
pub const ANOMALY_FEATURES: &str = "\
SELECT incident_id, ts, service_key, feature_name, anyLast(feature_value) AS feature_value, project
FROM anomaly_features
WHERE incident_id = {incident_id:String}
  AND project = {project:String}
GROUP BY incident_id, feature_name, ts, service_key, project
ORDER BY feature_name, ts, service_key";

/// `WINDOW` of many services at once: one row per series, its points an array of
/// `(ts milliseconds, value)` in time order, so the rows sent and decoded grow with
/// the series, not with the points. Grouped by series only (one aggregation, not one
/// per point): a point loaded twice is dropped from the sorted array instead.
/// Ordered by service and metric.
pub const WINDOWS: &str = "\
SELECT service_key, metric_name, arrayFilter((p, i) -> i = 1 OR p.1 != s[i - 1].1, s, arrayEnumerate(s)) AS points
FROM (
    SELECT service_key, metric_name, arraySort(groupArray((toUnixTimestamp64Milli(ts), value))) AS s
    FROM metric_points
    WHERE service_key IN {service_keys:Array(String)}
      AND project = {project:String}
      AND ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
      AND ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
    GROUP BY service_key, metric_name
)
ORDER BY service_key, metric_name";

/// `BASELINES` of many services over the union of half-open ranges
/// (`[starts[i], ends[i])`, milliseconds), in one query: clean history with earlier
/// incidents and changes cut out is computed where the points are. Like `WINDOWS`,
/// grouped by series only, a point loaded twice dropped from its sorted array;
/// quantiles as in `BASELINES`.
pub const BASELINES_MANY: &str = "\
SELECT
    service_key,
    metric_name,
    length(vs) AS n,
    m AS median,
    arrayReduce('quantileExactInclusive(0.5)', arrayMap(x -> abs(x - m), vs)) AS mad,
    vs[toUInt64(floor(0.05 * (length(vs) - 1))) + 1] + (vs[toUInt64(ceil(0.05 * (length(vs) - 1))) + 1] - vs[toUInt64(floor(0.05 * (length(vs) - 1))) + 1]) * (0.05 * (length(vs) - 1) - floor(0.05 * (length(vs) - 1))) AS p05,
    vs[toUInt64(floor(0.95 * (length(vs) - 1))) + 1] + (vs[toUInt64(ceil(0.95 * (length(vs) - 1))) + 1] - vs[toUInt64(floor(0.95 * (length(vs) - 1))) + 1]) * (0.95 * (length(vs) - 1) - floor(0.95 * (length(vs) - 1))) AS p95
FROM (
    SELECT service_key, metric_name, vs, vs[toUInt64(floor(0.5 * (length(vs) - 1))) + 1] + (vs[toUInt64(ceil(0.5 * (length(vs) - 1))) + 1] - vs[toUInt64(floor(0.5 * (length(vs) - 1))) + 1]) * (0.5 * (length(vs) - 1) - floor(0.5 * (length(vs) - 1))) AS m
    FROM (
        SELECT
            service_key,
            metric_name,
            arraySort(groupArray((toUnixTimestamp64Milli(ts), value))) AS s,
            arraySort(arrayMap(p -> p.2, arrayFilter((p, i) -> i = 1 OR p.1 != s[i - 1].1, s, arrayEnumerate(s)))) AS vs
        FROM metric_points
        WHERE service_key IN {service_keys:Array(String)}
          AND project = {project:String}
          AND ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
          AND ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
          AND arrayExists((a, b) -> toUnixTimestamp64Milli(ts) >= a AND toUnixTimestamp64Milli(ts) < b,
                          {starts:Array(Int64)}, {ends:Array(Int64)})
          AND isFinite(value)
        GROUP BY service_key, metric_name
    )
)
ORDER BY service_key, metric_name";

/// Per set of sorted values (`sorted`, an array of arrays), `(count, median, MAD,
/// p05, p95)` as `baselines`: quantiles read at the ranks of
/// `inquest_domain::stats::quantile_sorted` with its arithmetic (`pos = q·(n − 1)`,
/// `s[⌊pos⌋] + (s[⌈pos⌉] − s[⌊pos⌋])·(pos − ⌊pos⌋)`), so they are bit for bit the
/// embedded store's; the MAD is the median, read the same way, of the sorted
/// absolute deviations from the median.
macro_rules! baseline_tuples {
    () => {
        "    arrayMap(
        (s, m, d) -> (
            length(s),
            m,
            d[toUInt64(floor(0.5 * (length(d) - 1))) + 1]
                + (d[toUInt64(ceil(0.5 * (length(d) - 1))) + 1] - d[toUInt64(floor(0.5 * (length(d) - 1))) + 1])
                * (0.5 * (length(d) - 1) - floor(0.5 * (length(d) - 1))),
            s[toUInt64(floor(0.05 * (length(s) - 1))) + 1]
                + (s[toUInt64(ceil(0.05 * (length(s) - 1))) + 1] - s[toUInt64(floor(0.05 * (length(s) - 1))) + 1])
                * (0.05 * (length(s) - 1) - floor(0.05 * (length(s) - 1))),
            s[toUInt64(floor(0.95 * (length(s) - 1))) + 1]
                + (s[toUInt64(ceil(0.95 * (length(s) - 1))) + 1] - s[toUInt64(floor(0.95 * (length(s) - 1))) + 1])
                * (0.95 * (length(s) - 1) - floor(0.95 * (length(s) - 1)))
        ),
        sorted,
        arrayMap(
            s -> s[toUInt64(floor(0.5 * (length(s) - 1))) + 1]
                + (s[toUInt64(ceil(0.5 * (length(s) - 1))) + 1] - s[toUInt64(floor(0.5 * (length(s) - 1))) + 1])
                * (0.5 * (length(s) - 1) - floor(0.5 * (length(s) - 1))),
            sorted
        ) AS medians,
        arrayMap((s, m) -> arraySort(arrayMap(x -> abs(x - m), s)), sorted, medians)
    ) AS baselines
"
    };
}

/// The radius's points: its services of the project over the scan's `[from, to)`.
macro_rules! radius_scan {
    () => {
        "WHERE service_key IN {service_keys:Array(String)}
          AND project = {project:String}
          AND ts >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
          AND ts < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')"
    };
}

/// One row per series in the table's order, grouped in that order.
macro_rules! radius_order {
    () => {
        ")
ORDER BY service_key, metric_name
SETTINGS optimize_aggregation_in_order = 1"
    };
}

/// The query answering `radius_metrics` for sets of ranges of which `nonempty[i]`
/// says whether set `i` has a range: `WINDOWS` and `BASELINES_MANY` over every set,
/// the radius's points read once and aggregated once per series. The text depends
/// only on that shape; the ranges are parameters, per set its merged half-open
/// ranges as strictly increasing `starts` and `ends` (milliseconds).
///
/// A point is inside set `i` when the last start at or before it comes after the
/// last end at or before it: two `roundDown` lookups over constant bounds, not a
/// test against every range. Per series, in order:
///
/// - `duplicated`: whether a timestamp is stored twice (a batch loaded again); the
///   other columns then count it twice, and the caller reads that service again
///   with `RADIUS_DEDUP`;
/// - the window's points in time order;
/// - per set, the finite values inside, sorted, and their baselines.
///
/// The grouping follows the table's `ORDER BY` (`optimize_aggregation_in_order`).
pub fn radius(nonempty: &[bool]) -> String {
    let sets: Vec<String> = nonempty
        .iter()
        .enumerate()
        .map(|(i, &has_ranges)| {
            if !has_ranges {
                return "CAST([], 'Array(Float64)')".to_string();
            }
            let starts = format!("{{starts:Array(Array(Int64))}}[{}]", i + 1);
            let ends = format!("{{ends:Array(Array(Int64))}}[{}]", i + 1);
            format!(
                "arraySort(groupArrayIf(value, isFinite(value) AND ms >= {starts}[1] \
                 AND (ms < {ends}[1] OR roundDown(ms, {ends}) < roundDown(ms, {starts}))))"
            )
        })
        .collect();
    [
        "\
SELECT
    service_key,
    metric_name,
    toBool(n != u) AS duplicated,
    points,
",
        baseline_tuples!(),
        "FROM (
    SELECT
        service_key,
        metric_name,
        count() AS n,
        uniqExact(ms) AS u,
        arraySort(groupArrayIf((ms, value), ms >= {window_from_ms:Int64} AND ms < {window_to_ms:Int64})) AS points,
        [",
        &sets.join(",\n         "),
        "]::Array(Array(Float64)) AS sorted
    FROM (
        SELECT service_key, metric_name, toUnixTimestamp64Milli(ts) AS ms, value
        FROM metric_points
        ",
        radius_scan!(),
        "
    )
    GROUP BY service_key, metric_name
",
        radius_order!(),
    ]
    .concat()
}

/// `radius` for the services with a series holding a timestamp twice: the same
/// answer with one point kept per timestamp (without a `duplicated` column). Per
/// series:
///
/// - points in time order, one per timestamp (sorted only when the
///   rows did not arrive in strictly increasing time, as they do from one part);
/// - per set of ranges (`bounds`: a set's merged ranges flattened to strictly
///   increasing `[start, end, start, end, …]` milliseconds), the values inside,
///   sorted: a point is inside when an odd number of bounds is at or before it,
///   counted by sorting the bounds (`2·ms`) among the points (`2·ms + 1`);
/// - the baselines of each set, as `radius` computes them.
pub const RADIUS_DEDUP: &str = concat!(
    "\
SELECT
    service_key,
    metric_name,
    arrayFilter(p -> p.1 >= {window_from_ms:Int64} AND p.1 < {window_to_ms:Int64}, arrayZip(t, v)) AS points,
",
    baseline_tuples!(),
    "FROM (
    SELECT
        service_key,
        metric_name,
        t,
        v,
        arrayMap(
            bs -> arraySort(arrayFilter(
                (x, c) -> c % 2 = 1 AND isFinite(x),
                v,
                arrayFilter(
                    (c, k) -> bitAnd(k, 1) = 1,
                    arrayCumSum(arrayMap(k -> 1 - bitAnd(k, 1), arraySort(arrayConcat(arrayMap(b -> b * 2, bs), arrayMap(x -> x * 2 + 1, t))) AS ks)),
                    ks
                )
            )),
            {bounds:Array(Array(Int64))}
        ) AS sorted
    FROM (
        SELECT
            service_key,
            metric_name,
            groupArray(toUnixTimestamp64Milli(ts)) AS t0,
            groupArray(value) AS v0,
            arrayAll((a, b) -> a < b, arrayPopBack(t0), arrayPopFront(t0)) AS ordered,
            if(ordered, t0, arrayDistinct(arraySort(t0))) AS t,
            if(ordered, v0, arrayMap(p -> p.2, arrayFilter((p, i) -> i = 1 OR p.1 != ps[i - 1].1, arraySort(arrayZip(t0, v0)) AS ps, arrayEnumerate(ps)))) AS v
        FROM metric_points
        ",
    radius_scan!(),
    "
        GROUP BY service_key, metric_name
    )
",
    radius_order!()
);

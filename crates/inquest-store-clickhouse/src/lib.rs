//! The metrics port on ClickHouse: batched `RowBinary` inserts into `metric_points`,
//! windows read back ordered, and baselines (median, MAD, p05, p95, count) computed
//! by ClickHouse itself from sorted values with the arithmetic of
//! `inquest_domain::stats::quantile_sorted`, so they are bit for bit the embedded
//! store's; a radius's baselines and windows in one query (`sql::radius`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use clickhouse::{Client, Compression, Row};
use inquest_domain::stats::Baseline;
use inquest_domain::{AnomalyFeature, MetricPoint, ProjectId, Timestamp};
use inquest_ports::{
    ErrorKind, MetricBaselines, MetricStore, MetricWindow, RadiusMetrics, Series, StoreError, StoreResult, schema,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod sql;

/// Name reported as the backend and used as evidence `source`.
pub const BACKEND: &str = "clickhouse";

/// Rows per `INSERT` statement: large enough that the per-request cost vanishes,
/// small enough that one statement's buffer stays a few megabytes.
pub const INSERT_BATCH_ROWS: usize = 50_000;

/// The migrations of `schemas/clickhouse`, in order, as `(name, sql)`.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_metric_points", include_str!("../../../schemas/clickhouse/0001_metric_points.sql")),
    ("0002_anomaly_features", include_str!("../../../schemas/clickhouse/0002_anomaly_features.sql")),
    ("0003_project", include_str!("../../../schemas/clickhouse/0003_project.sql")),
];

/// The metrics port of one project on one ClickHouse database: every insert writes
/// `project`, every query filters it.
#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    /// The same server without a database selected, for `CREATE DATABASE`.
    server: Client,
    url: String,
    database: String,
    project: ProjectId,
}

impl std::fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseStore")
            .field("url", &redact_url(&self.url))
            .field("database", &self.database)
            .finish()
    }
}

fn err(kind: ErrorKind, operation: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::new(kind, BACKEND, operation, message)
}

/// Map a client error to a port error, saying plainly what is wrong.
fn ch_err(operation: &str, e: clickhouse::error::Error) -> StoreError {
    use clickhouse::error::Error as E;
    match &e {
        E::Network(_) => err(ErrorKind::Unavailable, operation, format!("cannot reach the clickhouse server: {e}")),
        E::TimedOut => err(ErrorKind::Timeout, operation, e),
        E::InvalidParams(_) => err(ErrorKind::InvalidInput, operation, e),
        E::BadResponse(msg) if msg.contains("Code: 516") || msg.contains("Code: 194") => err(
            ErrorKind::Unavailable,
            operation,
            format!("clickhouse rejected the credentials (check user and password in the url): {e}"),
        ),
        E::BadResponse(msg) if msg.contains("Code: 81") || msg.contains("Code: 60") => {
            err(ErrorKind::NotFound, operation, format!("database or table missing (run `inquest migrate`): {e}"))
        }
        _ => err(ErrorKind::Internal, operation, e),
    }
}

/// `scheme://host:port` of a URL, credentials and path removed, for messages.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

/// `(base URL, (user, password) if given, database from the query string if given)`.
type ParsedUrl = (String, Option<(String, String)>, Option<String>);

/// Split `http://user:password@host:port/?database=db` into the base URL, the
/// credentials and the database named in the query string, if any.
fn parse_url(url: &str) -> StoreResult<ParsedUrl> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| err(ErrorKind::InvalidInput, "connect", format!("{}: not an http(s) url", redact_url(url))))?;
    if scheme != "http" && scheme != "https" {
        return Err(err(ErrorKind::InvalidInput, "connect", format!("url scheme {scheme} is not http or https")));
    }
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (creds, host) = match authority.rsplit_once('@') {
        Some((c, h)) => {
            let (u, p) = c.split_once(':').unwrap_or((c, ""));
            (Some((u.to_string(), p.to_string())), h)
        }
        None => (None, authority),
    };
    let database = tail.split_once('?').and_then(|(_, q)| {
        q.split('&').find_map(|kv| kv.strip_prefix("database=")).filter(|d| !d.is_empty()).map(str::to_string)
    });
    Ok((format!("{scheme}://{host}"), creds, database))
}

/// A database name ClickHouse accepts without quoting.
fn valid_database(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ClickHouseStore {
    /// A store on `database` of the server at `url` (`http://[user:password@]host:8123`,
    /// optionally `?database=name`, which wins over `database`). No request is made.
    pub fn new(url: &str, database: &str) -> StoreResult<Self> {
        let (base, creds, db_in_url) = parse_url(url)?;
        let database = db_in_url.unwrap_or_else(|| database.to_string());
        if !valid_database(&database) {
            return Err(err(
                ErrorKind::InvalidInput,
                "connect",
                format!("database name {database:?} must be letters, digits and underscores"),
            ));
        }
        // No compression: works with any server and with the chDB test front.
        let mut server = Client::default().with_url(&base).with_compression(Compression::None);
        if let Some((user, password)) = creds {
            server = server.with_user(user).with_password(password);
        }
        let client = server.clone().with_database(&database);
        Ok(Self { client, server, url: base, database, project: ProjectId::default_project() })
    }

    /// [`ClickHouseStore::new`], then a connectivity check.
    pub async fn connect(url: &str, database: &str) -> StoreResult<Self> {
        let store = Self::new(url, database)?;
        store.check_connectivity().await?;
        Ok(store)
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// Create the database and apply `schemas/clickhouse` (every statement is
    /// `IF NOT EXISTS`, so running it again changes nothing).
    pub async fn migrate(&self) -> StoreResult<()> {
        let op = "migrate";
        self.server
            .query(&format!("CREATE DATABASE IF NOT EXISTS {}", self.database))
            .execute()
            .await
            .map_err(|e| ch_err(op, e))?;
        for (name, text) in MIGRATIONS {
            for statement in schema::statements(text, "--") {
                self.client
                    .query(&statement)
                    .execute()
                    .await
                    .map_err(|e| ch_err(op, format_migration_error(name, e)))?;
            }
            tracing::info!(migration = name, database = %self.database, "clickhouse migration applied");
        }
        Ok(())
    }

    /// Drop the database (tests clean up their random databases with it).
    pub async fn drop_database(&self) -> StoreResult<()> {
        self.server
            .query(&format!("DROP DATABASE IF EXISTS {}", self.database))
            .execute()
            .await
            .map_err(|e| ch_err("drop_database", e))
    }

    /// Insert rows one statement per row: the slow path, kept only so the insert
    /// benchmark can measure what batching buys. Not used by the port.
    pub async fn insert_points_one_per_statement(&self, points: &[MetricPoint]) -> StoreResult<()> {
        for p in points {
            self.insert_chunk(std::slice::from_ref(p)).await?;
        }
        Ok(())
    }

    async fn insert_chunk(&self, points: &[MetricPoint]) -> StoreResult<()> {
        let op = "insert_points";
        let mut insert = self.client.insert::<MetricRow<'_>>("metric_points").await.map_err(|e| ch_err(op, e))?;
        for p in points {
            let row = MetricRow {
                ts: p.ts,
                service_key: &p.service_key,
                metric_name: &p.metric_name,
                value: p.value,
                labels: &p.labels,
                project: self.project.as_str(),
            };
            insert.write(&row).await.map_err(|e| ch_err(op, e))?;
        }
        insert.end().await.map_err(|e| ch_err(op, e))
    }

    /// A fresh query id and the reference naming it, the query text's hash and
    /// what was asked, so a person can find the query in `system.query_log` or
    /// run it again.
    /// Run one of the `metric_points` range statements (`service_key`, `[from, to)`)
    /// under a fresh query id, returning its rows and the evidence reference.
    async fn range_query<T>(
        &self,
        operation: &str,
        sql_text: &str,
        service_key: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<(Vec<T>, String)>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        let (query_id, reference) = self.reference("metric_points", sql_text, service_key, from, to);
        let rows = self
            .client
            .query(sql_text)
            .param("service_key", service_key)
            .param("project", self.project.as_str())
            .param("from_ms", from.timestamp_millis())
            .param("to_ms", to.timestamp_millis())
            .with_setting("query_id", &query_id)
            .fetch_all()
            .await
            .map_err(|e| ch_err(operation, e))?;
        Ok((rows, reference))
    }

    fn reference(
        &self,
        table: &str,
        sql_text: &str,
        service_key: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> (String, String) {
        let query_id = uuid::Uuid::new_v4().to_string();
        let reference = self.reference_of(&query_id, table, &sql_sha256(sql_text), service_key, from, to);
        (query_id, reference)
    }

    /// The evidence reference of one service's part of the query `query_id`, whose
    /// text hashes to `sha` (`sql_sha256`, once per query, not per service).
    fn reference_of(
        &self,
        query_id: &str,
        table: &str,
        sha: &str,
        service_key: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> String {
        format!(
            "clickhouse:{}.{table}?service_key={service_key}&from={}&to={}&project={}#query_id={query_id}&sql_sha256={sha}",
            self.database,
            from.to_rfc3339(),
            to.to_rfc3339(),
            self.project,
        )
    }

    /// Empty window and baselines of `keys` in `out`, each citing `sql_text` run as
    /// `query_id`: the window over `[from, to)`, a set's baselines over the span of
    /// its ranges (a set without ranges has none).
    fn cite_radius(
        &self,
        out: &mut RadiusMetrics,
        keys: &[String],
        range_sets: &[Vec<(Timestamp, Timestamp)>],
        (from, to): (Timestamp, Timestamp),
        sql_text: &str,
        query_id: &str,
    ) {
        let sha = sql_sha256(sql_text);
        let reference = |key: &str, from: Timestamp, to: Timestamp| {
            self.reference_of(query_id, "metric_points", &sha, key, from, to)
        };
        for key in keys {
            let window = MetricWindow { reference: reference(key, from, to), series: Vec::new() };
            out.windows.insert(key.clone(), window);
        }
        for (set, ranges) in out.baselines.iter_mut().zip(range_sets) {
            let (Some(a), Some(b)) = (ranges.iter().map(|r| r.0).min(), ranges.iter().map(|r| r.1).max()) else {
                continue;
            };
            for key in keys {
                let reference = format!("{}&ranges={}", reference(key, a, b), ranges.len());
                set.insert(key.clone(), MetricBaselines { reference, baselines: BTreeMap::new() });
            }
        }
    }

    /// A query over many services and `[from, to)`, with its id, for `windows` and
    /// `baselines_many`.
    fn many_query(
        &self,
        sql_text: &str,
        service_keys: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> (clickhouse::query::Query, String) {
        let query_id = uuid::Uuid::new_v4().to_string();
        let query = self
            .client
            .query(sql_text)
            .param("service_keys", service_keys)
            .param("project", self.project.as_str())
            .param("from_ms", from.timestamp_millis())
            .param("to_ms", to.timestamp_millis())
            .with_setting("query_id", &query_id);
        (query, query_id)
    }
}

fn format_migration_error(name: &str, e: clickhouse::error::Error) -> clickhouse::error::Error {
    clickhouse::error::Error::Custom(format!("migration {name}: {e}"))
}

#[derive(Row, Serialize)]
struct MetricRow<'a> {
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    ts: Timestamp,
    service_key: &'a str,
    metric_name: &'a str,
    value: f64,
    labels: &'a BTreeMap<String, String>,
    project: &'a str,
}

#[derive(Row, Deserialize)]
struct PointRow {
    metric_name: String,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    ts: Timestamp,
    value: f64,
}

/// One series of `WINDOWS`: its points as `(ts milliseconds, value)`, oldest first.
#[derive(Row, Deserialize)]
struct SeriesRow {
    service_key: String,
    metric_name: String,
    points: Vec<(i64, f64)>,
}

/// One series of `sql::radius`: whether a timestamp is stored twice, its window's
/// points and, per set of ranges asked, `(count, median, mad, p05, p95)`.
#[derive(Row, Deserialize)]
struct RadiusFastRow {
    service_key: String,
    metric_name: String,
    duplicated: bool,
    points: Vec<(i64, f64)>,
    baselines: Vec<(u64, f64, f64, f64, f64)>,
}

/// One series of `sql::RADIUS_DEDUP`: its window's points and, per set of ranges
/// asked, `(count, median, mad, p05, p95)`.
#[derive(Row, Deserialize)]
struct RadiusRow {
    service_key: String,
    metric_name: String,
    points: Vec<(i64, f64)>,
    baselines: Vec<(u64, f64, f64, f64, f64)>,
}

/// The union of half-open `ranges` as strictly increasing `[start, end, start, end, …]`
/// milliseconds: empty ranges dropped, overlapping and touching ones merged, so a time
/// is inside when an odd number of bounds is at or before it.
fn range_bounds(ranges: &[(Timestamp, Timestamp)]) -> Vec<i64> {
    let mut ms: Vec<(i64, i64)> =
        ranges.iter().map(|(a, b)| (a.timestamp_millis(), b.timestamp_millis())).filter(|(a, b)| a < b).collect();
    ms.sort_unstable();
    let mut bounds: Vec<i64> = Vec::with_capacity(ms.len() * 2);
    for (a, b) in ms {
        match bounds.last_mut() {
            Some(end) if a <= *end => *end = (*end).max(b),
            _ => bounds.extend([a, b]),
        }
    }
    bounds
}

/// The hex SHA-256 of a query's text, as its evidence references cite it.
fn sql_sha256(sql_text: &str) -> String {
    hex::encode(Sha256::digest(sql_text.as_bytes()))
}

/// `(ts milliseconds, value)` pairs as a series' points.
fn points_of(op: &str, points: Vec<(i64, f64)>) -> StoreResult<Vec<(Timestamp, f64)>> {
    points
        .into_iter()
        .map(|(ms, v)| {
            let ts = Timestamp::from_timestamp_millis(ms)
                .ok_or_else(|| err(ErrorKind::Internal, op, format!("point time {ms} ms is out of range")))?;
            Ok((ts, v))
        })
        .collect()
}

#[derive(Row, Deserialize)]
struct KeyedBaselineRow {
    service_key: String,
    metric_name: String,
    n: u64,
    median: f64,
    mad: f64,
    p05: f64,
    p95: f64,
}

#[derive(Row, Deserialize)]
struct BaselineRow {
    metric_name: String,
    n: u64,
    median: f64,
    mad: f64,
    p05: f64,
    p95: f64,
}

#[derive(Row, Serialize, Deserialize)]
struct FeatureRow {
    incident_id: String,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    ts: Timestamp,
    service_key: String,
    feature_name: String,
    feature_value: f64,
    project: String,
}

#[async_trait]
impl MetricStore for ClickHouseStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn project(&self) -> &ProjectId {
        &self.project
    }

    fn scoped(&self, project: &ProjectId) -> std::sync::Arc<dyn MetricStore> {
        std::sync::Arc::new(ClickHouseStore { project: project.clone(), ..self.clone() })
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        let op = "check_connectivity";
        let at = redact_url(&self.url);
        self.server
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .map_err(|e| ch_err(op, e))
            .map_err(|e| err(e.kind, op, format!("clickhouse at {at}: {}", e.message)))?;
        let tables: Vec<String> = self
            .server
            .query("SELECT name FROM system.tables WHERE database = ? ORDER BY name")
            .bind(&self.database)
            .fetch_all()
            .await
            .map_err(|e| ch_err(op, e))?;
        for needed in ["anomaly_features", "metric_points"] {
            if !tables.iter().any(|t| t == needed) {
                return Err(err(
                    ErrorKind::NotFound,
                    op,
                    format!(
                        "clickhouse at {at} is reachable but table {}.{needed} is missing: run `inquest migrate`",
                        self.database
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn insert_points(&self, points: &[MetricPoint]) -> StoreResult<()> {
        if let Some(p) = points.iter().find(|p| !p.value.is_finite()) {
            return Err(err(
                ErrorKind::InvalidInput,
                "insert_points",
                format!("{} {} at {}: value is not finite", p.service_key, p.metric_name, p.ts),
            ));
        }
        for chunk in points.chunks(INSERT_BATCH_ROWS) {
            self.insert_chunk(chunk).await?;
            tracing::debug!(rows = chunk.len(), database = %self.database, "clickhouse insert");
        }
        Ok(())
    }

    async fn window(&self, service_key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricWindow> {
        let (rows, reference) = self.range_query::<PointRow>("window", sql::WINDOW, service_key, from, to).await?;
        let mut series: Vec<Series> = Vec::new();
        for r in rows {
            match series.last_mut() {
                Some(s) if s.metric_name == r.metric_name => s.points.push((r.ts, r.value)),
                _ => series.push(Series { metric_name: r.metric_name, points: vec![(r.ts, r.value)] }),
            }
        }
        Ok(MetricWindow { reference, series })
    }

    async fn baselines(&self, service_key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricBaselines> {
        let (rows, reference) =
            self.range_query::<BaselineRow>("baselines", sql::BASELINES, service_key, from, to).await?;
        let baselines = rows
            .into_iter()
            .filter(|r| r.n > 0)
            .map(|r| {
                let b = Baseline { count: r.n as usize, median: r.median, mad: r.mad, p05: r.p05, p95: r.p95 };
                (r.metric_name, b)
            })
            .collect();
        Ok(MetricBaselines { reference, baselines })
    }

    async fn windows(
        &self,
        service_keys: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<BTreeMap<String, MetricWindow>> {
        let op = "windows";
        if service_keys.is_empty() {
            return Ok(BTreeMap::new());
        }
        let (query, query_id) = self.many_query(sql::WINDOWS, service_keys, from, to);
        let sha = sql_sha256(sql::WINDOWS);
        let mut out: BTreeMap<String, MetricWindow> = service_keys
            .iter()
            .map(|k| {
                let reference = self.reference_of(&query_id, "metric_points", &sha, k, from, to);
                (k.clone(), MetricWindow { reference, series: Vec::new() })
            })
            .collect();
        let rows: Vec<SeriesRow> = query.fetch_all().await.map_err(|e| ch_err(op, e))?;
        for r in rows {
            let Some(w) = out.get_mut(&r.service_key) else { continue };
            w.series.push(Series { metric_name: r.metric_name, points: points_of(op, r.points)? });
        }
        Ok(out)
    }

    async fn baselines_many(
        &self,
        service_keys: &[String],
        ranges: &[(Timestamp, Timestamp)],
    ) -> StoreResult<BTreeMap<String, MetricBaselines>> {
        let op = "baselines_many";
        let (Some(from), Some(to)) = (ranges.iter().map(|r| r.0).min(), ranges.iter().map(|r| r.1).max()) else {
            return Ok(BTreeMap::new());
        };
        if service_keys.is_empty() {
            return Ok(BTreeMap::new());
        }
        let (query, query_id) = self.many_query(sql::BASELINES_MANY, service_keys, from, to);
        let sha = sql_sha256(sql::BASELINES_MANY);
        let mut out: BTreeMap<String, MetricBaselines> = service_keys
            .iter()
            .map(|k| {
                let reference = self.reference_of(&query_id, "metric_points", &sha, k, from, to);
                let reference = format!("{reference}&ranges={}", ranges.len());
                (k.clone(), MetricBaselines { reference, baselines: BTreeMap::new() })
            })
            .collect();
        let starts: Vec<i64> = ranges.iter().map(|r| r.0.timestamp_millis()).collect();
        let ends: Vec<i64> = ranges.iter().map(|r| r.1.timestamp_millis()).collect();
        let rows: Vec<KeyedBaselineRow> =
            query.param("starts", starts).param("ends", ends).fetch_all().await.map_err(|e| ch_err(op, e))?;
        for r in rows.into_iter().filter(|r| r.n > 0) {
            let Some(b) = out.get_mut(&r.service_key) else { continue };
            let baseline = Baseline { count: r.n as usize, median: r.median, mad: r.mad, p05: r.p05, p95: r.p95 };
            b.baselines.insert(r.metric_name, baseline);
        }
        Ok(out)
    }

    async fn radius_metrics(
        &self,
        service_keys: &[String],
        range_sets: &[Vec<(Timestamp, Timestamp)>],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<RadiusMetrics> {
        let op = "radius_metrics";
        let mut out = RadiusMetrics { baselines: vec![BTreeMap::new(); range_sets.len()], windows: BTreeMap::new() };
        if service_keys.is_empty() {
            return Ok(out);
        }
        // One scan over the window and every range of every set.
        let scan_from = range_sets.iter().flatten().map(|r| r.0).chain([from]).min().unwrap_or(from);
        let scan_to = range_sets.iter().flatten().map(|r| r.1).chain([to]).max().unwrap_or(to);
        let bounds: Vec<Vec<i64>> = range_sets.iter().map(|r| range_bounds(r)).collect();
        let nonempty: Vec<bool> = bounds.iter().map(|b| !b.is_empty()).collect();
        let fast_sql = sql::radius(&nonempty);
        let (starts, ends): (Vec<Vec<i64>>, Vec<Vec<i64>>) = bounds
            .iter()
            .map(|b| (b.iter().step_by(2).copied().collect(), b.iter().skip(1).step_by(2).copied().collect()))
            .unzip();
        let query = |sql_text: &str, keys: &[String], query_id: &str| {
            self.client
                .query(sql_text)
                .param("service_keys", keys)
                .param("project", self.project.as_str())
                .param("from_ms", scan_from.timestamp_millis())
                .param("to_ms", scan_to.timestamp_millis())
                .param("window_from_ms", from.timestamp_millis())
                .param("window_to_ms", to.timestamp_millis())
                .with_setting("query_id", query_id)
        };
        let query_id = uuid::Uuid::new_v4().to_string();
        self.cite_radius(&mut out, service_keys, range_sets, (from, to), &fast_sql, &query_id);
        let rows: Vec<RadiusFastRow> = query(&fast_sql, service_keys, &query_id)
            .param("starts", starts)
            .param("ends", ends)
            .fetch_all()
            .await
            .map_err(|e| ch_err(op, e))?;
        // A series holding a timestamp twice counts it twice above: its service is
        // read again with the query that keeps one point per timestamp.
        let duplicated: Vec<String> = rows
            .iter()
            .filter(|r| r.duplicated)
            .map(|r| r.service_key.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut rows: Vec<RadiusRow> = rows
            .into_iter()
            .filter(|r| duplicated.binary_search(&r.service_key).is_err())
            .map(|r| RadiusRow {
                service_key: r.service_key,
                metric_name: r.metric_name,
                points: r.points,
                baselines: r.baselines,
            })
            .collect();
        if !duplicated.is_empty() {
            let query_id = uuid::Uuid::new_v4().to_string();
            self.cite_radius(&mut out, &duplicated, range_sets, (from, to), sql::RADIUS_DEDUP, &query_id);
            let reread: Vec<RadiusRow> = query(sql::RADIUS_DEDUP, &duplicated, &query_id)
                .param("bounds", &bounds)
                .fetch_all()
                .await
                .map_err(|e| ch_err(op, e))?;
            rows.extend(reread);
        }
        for r in rows {
            for (set, (n, median, mad, p05, p95)) in out.baselines.iter_mut().zip(r.baselines) {
                if n == 0 {
                    continue;
                }
                if let Some(b) = set.get_mut(&r.service_key) {
                    let baseline = Baseline { count: n as usize, median, mad, p05, p95 };
                    b.baselines.insert(r.metric_name.clone(), baseline);
                }
            }
            if r.points.is_empty() {
                continue;
            }
            if let Some(w) = out.windows.get_mut(&r.service_key) {
                w.series.push(Series { metric_name: r.metric_name, points: points_of(op, r.points)? });
            }
        }
        Ok(out)
    }

    async fn write_anomaly_features(&self, features: &[AnomalyFeature]) -> StoreResult<()> {
        let op = "write_anomaly_features";
        if features.is_empty() {
            return Ok(());
        }
        for chunk in features.chunks(INSERT_BATCH_ROWS) {
            let mut insert = self.client.insert::<FeatureRow>("anomaly_features").await.map_err(|e| ch_err(op, e))?;
            for f in chunk {
                let row = FeatureRow {
                    incident_id: f.incident_id.clone(),
                    ts: f.ts,
                    service_key: f.service_key.clone(),
                    feature_name: f.feature_name.clone(),
                    feature_value: f.feature_value,
                    project: self.project.to_string(),
                };
                insert.write(&row).await.map_err(|e| ch_err(op, e))?;
            }
            insert.end().await.map_err(|e| ch_err(op, e))?;
        }
        Ok(())
    }

    async fn anomaly_features(&self, incident_id: &str) -> StoreResult<Vec<AnomalyFeature>> {
        let rows: Vec<FeatureRow> = self
            .client
            .query(sql::ANOMALY_FEATURES)
            .param("incident_id", incident_id)
            .param("project", self.project.as_str())
            .fetch_all()
            .await
            .map_err(|e| ch_err("anomaly_features", e))?;
        Ok(rows
            .into_iter()
            .map(|r| AnomalyFeature {
                incident_id: r.incident_id,
                ts: r.ts,
                service_key: r.service_key,
                feature_name: r.feature_name,
                feature_value: r.feature_value,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_redacted() {
        let (base, creds, db) = parse_url("http://inquest:s3cret@db.local:8123/?database=metrics").expect("url");
        assert_eq!(base, "http://db.local:8123");
        assert_eq!(creds, Some(("inquest".to_string(), "s3cret".to_string())));
        assert_eq!(db.as_deref(), Some("metrics"));
        assert_eq!(redact_url("http://inquest:s3cret@db.local:8123/x"), "http://db.local:8123");
        assert!(parse_url("db.local:8123").is_err());
        assert!(ClickHouseStore::new("http://localhost:8123", "bad-name; DROP").is_err());
    }

    #[test]
    fn range_bounds_merge_overlapping_and_touching_ranges() {
        let t = |s: i64| Timestamp::from_timestamp_millis(s * 1000).expect("time");
        let ranges = [(t(50), t(60)), (t(10), t(20)), (t(15), t(30)), (t(30), t(40)), (t(70), t(70))];
        assert_eq!(range_bounds(&ranges), vec![10_000, 40_000, 50_000, 60_000]);
        assert_eq!(range_bounds(&[(t(5), t(1))]), Vec::<i64>::new(), "an empty range has no bounds");
        assert!(range_bounds(&[]).is_empty());
    }

    #[test]
    fn migrations_split_into_statements_safe_to_run_again() {
        let all: Vec<String> = MIGRATIONS.iter().flat_map(|(_, t)| schema::statements(t, "--")).collect();
        assert_eq!(all.len(), 4);
        let again = |s: &String| s.starts_with("CREATE TABLE IF NOT EXISTS") || s.contains("ADD COLUMN IF NOT EXISTS");
        assert!(all.iter().all(again), "{all:?}");
    }
}

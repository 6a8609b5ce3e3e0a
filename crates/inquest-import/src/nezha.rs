//! The Nezha layout (Train Ticket, Online Boutique): `rca_data/<date>/<date>-fault_list.json`
//! labels keyed by hour, `rca_data/<date>/metric/<pod>_metric.csv` per pod (60 s step),
//! `front_service.csv` for the user-facing SLI, and `construct_data/<date>/metric/`
//! with fault-free data of the same system.
//!
//! Conversion (documented in the README, Evaluation):
//! - a pod is mapped to its service by stripping the two replica-set suffixes
//!   (`ts-contacts-service-866bd68c97-xcqfx` is `ts-contacts-service`); host metrics
//!   (`Node*` columns) are left out;
//! - the clock to trust is the `inject_time` string and the `Time` column (UTC); the
//!   numeric `inject_timestamp` is ignored (it is hours off for some faults);
//! - one case per fault: the incident window is the 5 minutes after the injection, cut
//!   at the next injection; the case carries the hour before it as baseline, taken
//!   from `construct_data` when it holds that period (else from `rca_data`), without
//!   the windows of the other labelled faults (so the baseline is fault-free);
//! - the incident's service is the user-facing `frontend`; no call graph is given, so
//!   the topology says the front service may depend on every service (a star), which
//!   puts every service in the blast radius at one hop;
//! - truth type: `cpu_contention`/`cpu_consumed` are `infra`; `network_delay`,
//!   `return` and `exception` are `dependency` (seen from the front service, a service
//!   answering late, wrongly or with exceptions is a failing dependency; no change
//!   record exists to blame a release).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::Deserialize;

use crate::{ImportError, ImportMeta, ImportedCase, ServiceKind, case_id, cell_number, dir_name, metric_name};

/// The service name given to `front_service.csv`.
pub const FRONT_SERVICE: &str = "frontend";
const BASELINE_MINUTES: i64 = 60;
const WINDOW_MINUTES: i64 = 5;

#[derive(Debug, Deserialize)]
struct Fault {
    inject_time: String,
    inject_pod: String,
    inject_type: String,
}

/// `(service, metric) -> points sorted by time`.
type Series = BTreeMap<(String, String), Vec<(DateTime<Utc>, f64)>>;

/// The service of a pod: its name without the two replica-set suffixes.
pub fn service_of_pod(pod: &str) -> String {
    let parts: Vec<&str> = pod.split('-').collect();
    if parts.len() > 2 { parts[..parts.len() - 2].join("-") } else { pod.to_string() }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let head = s.trim().get(..19)?;
    NaiveDateTime::parse_from_str(head, "%Y-%m-%d %H:%M:%S").ok().map(|n| n.and_utc())
}

/// Import every labelled fault under `root` (the directory holding `rca_data/`).
pub fn import_nezha(root: &Path) -> Result<Vec<ImportedCase>, ImportError> {
    let rca = root.join("rca_data");
    if !rca.is_dir() {
        return Err(ImportError::invalid(root, "no rca_data/ directory here (Nezha layout)"));
    }
    let dataset = dir_name(root);
    let mut dates: Vec<PathBuf> = read_dir(&rca)?.into_iter().filter(|p| p.is_dir()).collect();
    dates.sort();
    let mut cases = Vec::new();
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    for date_dir in dates {
        let date = dir_name(&date_dir);
        let list_path = read_dir(&date_dir)?
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("fault_list.json")))
            .ok_or_else(|| ImportError::invalid(&date_dir, "no *fault_list.json here"))?;
        let text = std::fs::read_to_string(&list_path).map_err(|e| ImportError::io(&list_path, e))?;
        let by_hour: BTreeMap<String, Vec<Fault>> =
            serde_json::from_str(&text).map_err(|e| ImportError::line(&list_path, e.line() as u64, e))?;
        let mut faults: Vec<(DateTime<Utc>, Fault)> = Vec::new();
        for (hour, list) in by_hour {
            for f in list {
                let t = parse_time(&f.inject_time).ok_or_else(|| {
                    ImportError::invalid(
                        &list_path,
                        format!("hour {hour}: inject_time '{}' is not 'YYYY-MM-DD HH:MM:SS'", f.inject_time),
                    )
                })?;
                faults.push((t, f));
            }
        }
        faults.sort_by_key(|(t, _)| *t);
        if faults.is_empty() {
            continue;
        }
        let metric_dir = date_dir.join("metric");
        let construct_dir = root.join("construct_data").join(&date).join("metric");
        let (series, baseline_series) = read_metric_dir(&metric_dir, &construct_dir)?;
        let services: Vec<String> = {
            let mut s: Vec<String> = series.keys().map(|(s, _)| s.clone()).collect();
            s.dedup();
            s
        };
        if !services.iter().any(|s| s == FRONT_SERVICE) {
            return Err(ImportError::invalid(&metric_dir, "no front_service.csv (the user-facing SLI)"));
        }
        // Fault windows of this date: [injection, min(+5 min, next injection)).
        let windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = faults
            .iter()
            .enumerate()
            .map(|(i, (t, _))| {
                let end = *t + Duration::minutes(WINDOW_MINUTES);
                let end = faults.get(i + 1).map(|(n, _)| end.min(*n)).unwrap_or(end);
                (*t, end.max(*t + Duration::seconds(60)))
            })
            .collect();
        for (i, (t, f)) in faults.iter().enumerate() {
            let truth = service_of_pod(&f.inject_pod);
            if !services.contains(&truth) {
                return Err(ImportError::invalid(
                    &list_path,
                    format!(
                        "inject_pod {} (service {truth}) has no metric file in {}",
                        f.inject_pod,
                        metric_dir.display()
                    ),
                ));
            }
            let (ws, we) = windows[i];
            let from = ws - Duration::minutes(BASELINE_MINUTES);
            let in_other_fault =
                |ts: DateTime<Utc>| windows.iter().enumerate().any(|(j, (a, b))| j != i && ts >= *a && ts < *b);
            let mut metrics = Vec::new();
            for ((svc, metric), points) in &series {
                // Baseline period from the fault-free data when it covers it.
                let base = baseline_series
                    .as_ref()
                    .and_then(|b| b.get(&(svc.clone(), metric.clone())))
                    .filter(|b| b.iter().filter(|(ts, _)| *ts >= from && *ts < ws).count() >= 10);
                let base_points = base.unwrap_or(points);
                for (ts, v) in base_points.iter().filter(|(ts, _)| *ts >= from && *ts < ws && !in_other_fault(*ts)) {
                    metrics.push((*ts, svc.clone(), metric.clone(), *v));
                }
                for (ts, v) in points.iter().filter(|(ts, _)| *ts >= ws && *ts < we) {
                    metrics.push((*ts, svc.clone(), metric.clone(), *v));
                }
            }
            let short = truth.trim_start_matches("ts-").trim_end_matches("-service");
            let mut id = case_id(&["nezha", &date, &t.format("%H%M").to_string(), short, &f.inject_type]);
            let n = seen_ids.entry(id.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                id = format!("{id}-{n}");
            }
            let truth_type = match f.inject_type.as_str() {
                "cpu_contention" | "cpu_consumed" | "mem_stress" | "memory" => "infra",
                _ => "dependency",
            };
            cases.push(ImportedCase {
                id,
                description: format!(
                    "{} injected into pod {} at {} UTC ({dataset})",
                    f.inject_type,
                    f.inject_pod,
                    t.format("%Y-%m-%d %H:%M:%S")
                ),
                cluster: "nezha".into(),
                namespace: case_id(&[&dataset]),
                services: services.iter().map(|s| (s.clone(), ServiceKind::Service)).collect(),
                edges: services
                    .iter()
                    .filter(|s| s.as_str() != FRONT_SERVICE)
                    .map(|s| (FRONT_SERVICE.to_string(), s.clone()))
                    .collect(),
                metrics,
                incident_service: FRONT_SERVICE.into(),
                window_start: ws,
                window_end: we,
                truth_service: truth,
                truth_type: truth_type.into(),
                notes: format!("{} on pod {} (label from {})", f.inject_type, f.inject_pod, list_path.display()),
                meta: ImportMeta {
                    format: crate::Format::Nezha,
                    dataset: dataset.clone(),
                    fault_type: f.inject_type.clone(),
                    source: format!("rca_data/{date}"),
                },
            });
        }
    }
    if cases.is_empty() {
        return Err(ImportError::invalid(&rca, "no labelled faults found"));
    }
    Ok(cases)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| ImportError::io(dir, e))?.filter_map(Result::ok).map(|e| e.path()).collect();
    v.sort();
    Ok(v)
}

/// Read every pod file (and `front_service.csv`) of a date; the fault-free copy from
/// `construct_dir` is read too when it exists and differs from the faulty one.
fn read_metric_dir(dir: &Path, construct_dir: &Path) -> Result<(Series, Option<Series>), ImportError> {
    let mut series = Series::new();
    let mut baseline = Series::new();
    let mut any_baseline = false;
    for path in read_dir(dir)? {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        let service = if name == "front_service.csv" {
            FRONT_SERVICE.to_string()
        } else if let Some(pod) = name.strip_suffix("_metric.csv") {
            service_of_pod(pod)
        } else {
            continue;
        };
        let bytes = std::fs::read(&path).map_err(|e| ImportError::io(&path, e))?;
        read_metric_file(&path, &bytes, &service, &mut series)?;
        let twin = construct_dir.join(&name);
        if twin.is_file() {
            let other = std::fs::read(&twin).map_err(|e| ImportError::io(&twin, e))?;
            if other != bytes {
                read_metric_file(&twin, &other, &service, &mut baseline)?;
                any_baseline = true;
            }
        }
    }
    if series.is_empty() {
        return Err(ImportError::invalid(dir, "no *_metric.csv files here"));
    }
    for v in series.values_mut().chain(baseline.values_mut()) {
        v.sort_by_key(|(t, _)| *t);
    }
    Ok((series, any_baseline.then_some(baseline)))
}

fn read_metric_file(path: &Path, bytes: &[u8], service: &str, out: &mut Series) -> Result<(), ImportError> {
    let mut r = csv::ReaderBuilder::new().from_reader(bytes);
    let headers = r.headers().map_err(|e| ImportError::line(path, 1, e))?.clone();
    let time_col = headers
        .iter()
        .position(|h| h == "Time")
        .ok_or_else(|| ImportError::line(path, 1, "no 'Time' column in the header"))?;
    let skip = ["Time", "TimeStamp", "PodName", "ServiceName"];
    let cols: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| !skip.contains(h) && !h.starts_with("Node"))
        .map(|(i, h)| (i, metric_name(h)))
        .collect();
    for rec in r.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            ImportError::line(path, line, e)
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let cell = rec.get(time_col).unwrap_or("");
        let ts = parse_time(cell)
            .ok_or_else(|| ImportError::line(path, line, format!("Time '{cell}' is not a UTC time")))?;
        for (i, m) in &cols {
            let Some(v) = cell_number(rec.get(*i).unwrap_or("")) else { continue };
            let v = v.map_err(|e| ImportError::line(path, line, format!("column {m}: {e}")))?;
            out.entry((service.to_string(), m.clone())).or_default().push((ts, v));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_map_to_services() {
        assert_eq!(service_of_pod("ts-contacts-service-866bd68c97-xcqfx"), "ts-contacts-service");
        assert_eq!(service_of_pod("redis"), "redis");
    }

    #[test]
    fn times_read_the_clock_string() {
        let t = parse_time("2023-01-29 08:41:09.104907624 +0000 UTC m=+0.181069486").expect("time");
        assert_eq!(t.to_rfc3339(), "2023-01-29T08:41:09+00:00");
        assert!(parse_time("yesterday").is_none());
    }
}

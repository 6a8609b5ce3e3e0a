//! The upgrade of a store file from schema version 1 (keys without a project) to 2:
//! every row is re-keyed into the `default` project, in the transaction that opens it.

use inquest_domain::DEFAULT_PROJECT;
use redb::{ReadableTable, WriteTransaction};

use crate::*;

/// Re-key the rows of every table (collections, a dimension each, stay shared).
pub(crate) fn v1_to_v2(txn: &WriteTransaction) -> Result<(), StoreError> {
    let op = "migrate";
    let e = |err: redb::Error| store_err(op, err);
    let p = |k: &str| pk(DEFAULT_PROJECT, k);
    for table in [SERVICES, DEPLOYMENTS, COMMIT_RANGES, CONFIG_CHANGES, COMMITS, INCIDENTS, NODES] {
        let mut t = txn.open_table(table).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            let (k, v) = row.map_err(|x| e(x.into()))?;
            rows.push((p(k.value()), v.value().to_vec()));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for (k, v) in &rows {
            t.insert(k.as_str(), v.as_slice()).map_err(|x| e(x.into()))?;
        }
    }
    for table in [COMMIT_FILES, DECISIONS, EVIDENCE, HYPOTHESES, REPORTS, FEEDBACK, DEPLOYED_AS, VECTORS] {
        let mut t = txn.open_table(table).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            let (k, v) = row.map_err(|x| e(x.into()))?;
            let (a, b) = k.value();
            rows.push((p(a), b.to_string(), v.value().to_vec()));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for (a, b, v) in &rows {
            t.insert((a.as_str(), b.as_str()), v.as_slice()).map_err(|x| e(x.into()))?;
        }
    }
    for table in [EDGES, BUILT_FROM, TOUCHED] {
        let mut t = txn.open_table(table).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            let (k, _) = row.map_err(|x| e(x.into()))?;
            let (a, b) = k.value();
            rows.push((p(a), b.to_string()));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for (a, b) in &rows {
            t.insert((a.as_str(), b.as_str()), ()).map_err(|x| e(x.into()))?;
        }
    }
    {
        let mut t = txn.open_table(METRIC_POINTS).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            let (k, v) = row.map_err(|x| e(x.into()))?;
            let (service, metric, ts) = k.value();
            let (value, labels) = v.value();
            rows.push((p(service), metric.to_string(), ts, value, labels.to_string()));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for (service, metric, ts, value, labels) in &rows {
            t.insert((service.as_str(), metric.as_str(), *ts), (*value, labels.as_str())).map_err(|x| e(x.into()))?;
        }
    }
    {
        let mut t = txn.open_table(ANOMALY_FEATURES).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            let (k, v) = row.map_err(|x| e(x.into()))?;
            let (incident, name, ts, service) = k.value();
            rows.push((p(incident), name.to_string(), ts, service.to_string(), v.value()));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for (incident, name, ts, service, value) in &rows {
            t.insert((incident.as_str(), name.as_str(), *ts, service.as_str()), *value).map_err(|x| e(x.into()))?;
        }
    }
    tracing::info!("store file upgraded to schema version 2: existing rows now belong to the default project");
    Ok(())
}

//! Flux events (`POST /api/feeds/flux`): the `Event` JSON notification-controller
//! posts to a `generic` or `generic-hmac` Provider (`involvedObject`, `severity`,
//! `timestamp`, `message`, `reason`, `metadata` with the group prefix of its keys
//! trimmed, `reportingController`).
//!
//! Recorded, as the deployments they are:
//! - a `Kustomization` with reason `ReconciliationSucceeded` (applied and healthy) or
//!   `HealthCheckFailed` (applied, its workloads did not become ready), only when its
//!   revision differs from the last one recorded for that Kustomization: the
//!   controller reports every reconciliation, a deployment is a new revision;
//! - a `HelmRelease` with reason `InstallSucceeded`, `UpgradeSucceeded`,
//!   `RollbackSucceeded` (a rollback), `InstallFailed` or `UpgradeFailed` (a release
//!   that was attempted changes the cluster even when it fails).
//!
//! Everything else (progress and change-set messages, sources, other kinds, `trace`)
//! is ignored and counted by reason. The service is `metadata.service` (set with the
//! Alert's `eventMetadata`) or else the object's name; `metadata.repo` (`owner/name`)
//! names the repository of a Kustomization's revision for its commit range. The
//! revision is the commit sha of a git revision (`main@sha1:<sha>`, or `main/<sha>`
//! before Flux 2.0), else as sent (a chart version, an OCI digest). Flux events carry
//! one time, the end of the reconciliation: it is both `started_at` and `finished_at`.
//! Events have no id: a hash of the body is their event and delivery id.

use inquest_domain::{DeployType, redact::redact};
use serde_json::{Map, Value, json};

use super::{Fields, Notice, Rollout, check_service, content_id, json_body};
use crate::FeedError;

/// Parse a Flux event.
pub fn parse(body: &[u8]) -> Result<Notice, FeedError> {
    let value = json_body(body)?;
    let f = Fields::of("", &value)?;
    let object = f.require_object("involvedObject")?;
    let kind = object.require_str("kind")?;
    let name = object.require_str("name")?;
    let namespace = object.str("namespace")?.unwrap_or("default");
    let severity = f.str("severity")?.unwrap_or("info");
    let reason = f.require_str("reason")?;
    let (outcome, once, is_rollback) = match (kind, reason) {
        ("Kustomization", "ReconciliationSucceeded") => ("succeeded", true, false),
        ("Kustomization", "HealthCheckFailed") => ("failed", true, false),
        ("HelmRelease", "InstallSucceeded" | "UpgradeSucceeded") => ("succeeded", false, false),
        ("HelmRelease", "RollbackSucceeded") => ("succeeded", false, true),
        ("HelmRelease", "InstallFailed" | "UpgradeFailed") => ("failed", false, false),
        ("Kustomization" | "HelmRelease", _) if severity == "info" || severity == "trace" => {
            return Ok(ignored("progress", kind, reason));
        }
        ("Kustomization" | "HelmRelease", _) => return Ok(ignored("not_a_deployment", kind, reason)),
        _ => return Ok(ignored("kind", kind, reason)),
    };
    let timestamp = f.time("timestamp")?.ok_or_else(|| FeedError::invalid("timestamp", "is required"))?;
    let meta = f.object("metadata")?;
    let meta_str = |key: &str| -> Result<Option<&str>, FeedError> {
        let Some(m) = &meta else { return Ok(None) };
        if let Some(v) = m.str(key)? {
            return Ok(Some(v));
        }
        // Before notification-controller trimmed them, keys kept the object's group.
        let suffix = format!("/{key}");
        match m.map.iter().find(|(k, _)| k.ends_with(&suffix)) {
            Some((k, _)) => m.str(k),
            None => Ok(None),
        }
    };
    let raw_revision = meta_str("revision")?;
    if raw_revision.is_none() && once {
        return Err(FeedError::invalid("metadata.revision", "a Kustomization's event names its revision"));
    }
    let revision = raw_revision.map(commit_of);
    let service = match meta_str("service")? {
        Some(s) => check_service("metadata.service", s)?,
        None => check_service("involvedObject.name", name)?,
    };
    let repo = meta_str("repo")?.map(str::to_string);

    let mut metadata = Map::new();
    metadata.insert("kind".into(), json!(kind));
    metadata.insert("object".into(), json!(format!("{namespace}/{name}")));
    metadata.insert("reason".into(), json!(reason));
    metadata.insert("outcome".into(), json!(outcome));
    if let Some(raw) = raw_revision {
        metadata.insert("revision_raw".into(), json!(raw));
    }
    for (key, field) in [("uid", "uid"), ("api_version", "apiVersion")] {
        if let Some(v) = object.str(field)? {
            metadata.insert(key.into(), json!(v));
        }
    }
    for (key, field) in [("message", "message"), ("controller", "reportingController")] {
        if let Some(v) = f.str(field)? {
            metadata.insert(key.into(), Value::String(redact(v)));
        }
    }
    if let Some(origin) = meta_str("originRevision")? {
        metadata.insert("origin_revision".into(), json!(origin));
    }

    let event_id = content_id(&value);
    let rollout = Rollout {
        event_id: event_id.clone(),
        service,
        started_at: timestamp,
        finished_at: Some(timestamp),
        deploy_type: DeployType::Flux,
        image_ref: None,
        revision,
        previous_revision: None,
        repo,
        is_rollback,
        metadata,
        once_per: once.then(|| format!("{}/{namespace}/{name}", kind.to_lowercase())),
    };
    Ok(Notice::Rollouts { delivery_id: event_id, rollouts: vec![rollout] })
}

/// The commit sha of a Flux git revision (`main@sha1:<sha>`, `main/<sha>`), else the
/// revision as sent.
fn commit_of(revision: &str) -> String {
    if let Some((_, sha)) = revision.rsplit_once("@sha1:") {
        return sha.to_string();
    }
    if let Some((_, sha)) = revision.rsplit_once('/')
        && sha.len() == 40
        && super::looks_like_sha(sha)
    {
        return sha.to_string();
    }
    if let Some(sha) = revision.strip_prefix("sha1:") {
        return sha.to_string();
    }
    revision.to_string()
}

fn ignored(reason: &'static str, kind: &str, event: &str) -> Notice {
    let clip = |s: &str| s.chars().take(64).collect::<String>();
    Notice::Ignored { reason, detail: format!("{} {}: not a deployment", clip(kind), clip(event)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUSTOMIZATION: &str = include_str!("../../tests/data/flux_kustomization_event.json");
    const HELMRELEASE: &str = include_str!("../../tests/data/flux_helmrelease_event.json");

    fn with(base: &str, f: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut v: Value = serde_json::from_str(base).expect("event");
        f(&mut v);
        v.to_string().into_bytes()
    }

    fn one(n: Notice) -> Rollout {
        match n {
            Notice::Rollouts { mut rollouts, .. } => rollouts.remove(0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_succeeded_kustomization_is_a_deployment_once_per_revision() {
        let r = one(parse(KUSTOMIZATION.as_bytes()).expect("parses"));
        assert_eq!(r.service, "checkout");
        assert_eq!(r.deploy_type, DeployType::Flux);
        assert_eq!(r.revision.as_deref(), Some("731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"));
        assert_eq!(r.once_per.as_deref(), Some("kustomization/flux-system/checkout"));
        assert_eq!(r.started_at.to_rfc3339(), "2026-03-01T10:01:41+00:00");
        assert_eq!(r.metadata["revision_raw"], "main@sha1:731f7eaddfb6af01cb2173e18f0f75b0ba780ef1");
        assert_eq!(r.metadata["controller"], "kustomize-controller");
    }

    #[test]
    fn a_helm_upgrade_is_a_deployment_of_its_chart_version_and_a_rollback_says_so() {
        let r = one(parse(HELMRELEASE.as_bytes()).expect("parses"));
        assert_eq!(r.service, "payments");
        assert_eq!(r.revision.as_deref(), Some("6.5.0"));
        assert_eq!(r.once_per, None);
        assert!(!r.is_rollback);
        let r = one(parse(&with(HELMRELEASE, |v| v["reason"] = json!("RollbackSucceeded"))).expect("parses"));
        assert!(r.is_rollback);
        let r = one(parse(&with(HELMRELEASE, |v| {
            v["reason"] = json!("UpgradeFailed");
            v["severity"] = json!("error");
            v["metadata"]["service"] = json!("prod/shop/payments");
        }))
        .expect("parses"));
        assert_eq!(r.metadata["outcome"], "failed");
        assert_eq!(r.service, "prod/shop/payments");
    }

    #[test]
    fn progress_sources_and_prefixed_keys() {
        let progressing = with(KUSTOMIZATION, |v| {
            v["reason"] = json!("Progressing");
            v["message"] = json!("Deployment/shop/checkout configured");
        });
        assert!(matches!(parse(&progressing), Ok(Notice::Ignored { reason: "progress", .. })));
        let source = with(KUSTOMIZATION, |v| {
            v["involvedObject"]["kind"] = json!("GitRepository");
            v["reason"] = json!("NewArtifact");
        });
        assert!(matches!(parse(&source), Ok(Notice::Ignored { reason: "kind", .. })));
        let failed = with(KUSTOMIZATION, |v| {
            v["reason"] = json!("BuildFailed");
            v["severity"] = json!("error");
        });
        assert!(matches!(parse(&failed), Ok(Notice::Ignored { reason: "not_a_deployment", .. })));
        let old = with(KUSTOMIZATION, |v| {
            v["metadata"] =
                json!({"kustomize.toolkit.fluxcd.io/revision": "main/731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"});
        });
        assert_eq!(
            one(parse(&old).expect("parses")).revision.as_deref(),
            Some("731f7eaddfb6af01cb2173e18f0f75b0ba780ef1")
        );
    }

    #[test]
    fn bad_events_name_the_field() {
        let field = |body: Vec<u8>| match parse(&body) {
            Err(FeedError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(with(KUSTOMIZATION, |v| v["metadata"] = json!({}))), "metadata.revision");
        assert_eq!(field(with(KUSTOMIZATION, |v| v["timestamp"] = json!("now"))), "timestamp");
        assert_eq!(field(with(KUSTOMIZATION, |v| v["involvedObject"]["name"] = json!(""))), "involvedObject.name");
        assert_eq!(field(b"[]".to_vec()), "body");
    }
}

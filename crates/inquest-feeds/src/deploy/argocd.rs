//! Argo CD notifications (`POST /api/feeds/argocd`): exactly the JSON that the
//! `app-deployed` template of `deploy/argocd/notifications.yaml` renders.
//!
//! A deployment per body: the service is `service` (the application's
//! `inquest.io/service` annotation) or else `app`; `revision` is the operation's
//! `syncResult.revision` (else `sync.revision`); the previous revision is the history
//! entry before the last; the image is the first of `summary.images` (all of them in
//! the metadata). The event id is the application's uid with its history id, one per
//! deployment Argo CD made, so a notification sent twice is recorded once. Phase
//! `Succeeded` is recorded, and so are `Failed` and `Error` when a template of the same
//! shape is sent for them (a sync that failed may have applied part of its resources);
//! `Running` and a body of another `kind` are ignored.

use inquest_domain::DeployType;
use serde_json::{Map, Value, json};

use super::{Fields, Notice, Rollout, check_service, clean_metadata, json_body, repo_of_url};
use crate::FeedError;

/// Parse an `app-deployed` notification.
pub fn parse(body: &[u8]) -> Result<Notice, FeedError> {
    let value = json_body(body)?;
    let f = Fields::of("", &value)?;
    match f.str("kind")? {
        Some("app-deployed") => {}
        Some(other) => {
            return Ok(Notice::Ignored {
                reason: "unhandled_kind",
                detail: format!("kind {}: only app-deployed is recorded", other.chars().take(64).collect::<String>()),
            });
        }
        None => return Err(FeedError::invalid("kind", "is required (the app-deployed template sets it)")),
    }
    let phase = f.require_str("phase")?;
    match phase {
        "Succeeded" | "Failed" | "Error" => {}
        "Running" | "Terminating" => {
            return Ok(Notice::Ignored {
                reason: "in_progress",
                detail: format!("phase {phase}: recorded when the operation completes"),
            });
        }
        _ => return Ok(Notice::Ignored { reason: "phase_other", detail: format!("phase {phase} is not recorded") }),
    }
    let app = f.require_str("app")?;
    let service =
        check_service(if f.str("service")?.is_some() { "service" } else { "app" }, f.str("service")?.unwrap_or(app))?;
    let started_at = f.time("started_at")?.ok_or_else(|| FeedError::invalid("started_at", "is required"))?;
    let finished_at = f.time("finished_at")?;
    let revision = f.str("operation_revision")?.or(f.str("revision")?).map(str::to_string);
    let images: Vec<String> = match f.get("images") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => {
                    super::check_text(&format!("images[{i}]"), s)?;
                    Ok(s.clone())
                }
                _ => Err(FeedError::invalid(format!("images[{i}]"), "expected a string")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(FeedError::invalid("images", "expected an array of strings")),
    };
    let owner = f
        .str("uid")?
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}/{app}", f.str("app_namespace").ok().flatten().unwrap_or("argocd")));
    let event_id = match f.id("history_id")? {
        Some(h) => format!("{owner}/history/{h}"),
        None => format!(
            "{owner}/{}/{}",
            revision.as_deref().unwrap_or("-"),
            started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    };
    let repo_url = f.str("repo_url")?;

    let mut metadata = Map::new();
    metadata.insert("app".into(), json!(app));
    metadata.insert("phase".into(), json!(phase));
    for key in ["app_namespace", "project", "health", "repo_url"] {
        if let Some(v) = f.str(key)? {
            metadata.insert(key.into(), json!(v));
        }
    }
    if let Some(id) = f.id("history_id")? {
        metadata.insert("history_id".into(), json!(id));
    }
    if let Some(d) = f.get("destination") {
        metadata.insert("destination".into(), clean_metadata("destination", d)?);
    }
    if !images.is_empty() {
        metadata.insert("images".into(), json!(images));
    }
    if let Some(base) = f.str("argocd_url")? {
        let ns = f.str("app_namespace")?.map(|n| format!("{n}/")).unwrap_or_default();
        metadata.insert("url".into(), json!(format!("{}/applications/{ns}{app}", base.trim_end_matches('/'))));
    }

    let rollout = Rollout {
        event_id: event_id.clone(),
        service,
        started_at,
        finished_at,
        deploy_type: DeployType::Argo,
        image_ref: images.first().cloned(),
        revision,
        previous_revision: f.str("previous_revision")?.map(str::to_string),
        repo: repo_url.and_then(repo_of_url),
        is_rollback: false,
        metadata,
        once_per: None,
    };
    Ok(Notice::Rollouts { delivery_id: event_id, rollouts: vec![rollout] })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str = include_str!("../../tests/data/argocd_app_deployed.json");
    const TEMPLATE: &str = include_str!("../../../../deploy/argocd/notifications.yaml");

    fn with(f: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut v: Value = serde_json::from_str(RENDERED).expect("rendered");
        f(&mut v);
        v.to_string().into_bytes()
    }

    #[test]
    fn the_template_renders_every_field_the_parser_reads() {
        let rendered: Value = serde_json::from_str(RENDERED).expect("rendered");
        for key in rendered.as_object().expect("object").keys() {
            assert!(TEMPLATE.contains(&format!("\"{key}\": ")), "the template does not render {key}");
        }
        assert!(TEMPLATE.contains("\"kind\": \"app-deployed\""));
        assert!(TEMPLATE.contains("oncePer: app.status.operationState?.syncResult?.revision"));
    }

    #[test]
    fn a_rendered_notification_is_one_argo_deployment() {
        let Notice::Rollouts { delivery_id, rollouts } = parse(RENDERED.as_bytes()).expect("parses") else {
            panic!("not recorded")
        };
        let r = &rollouts[0];
        assert_eq!(delivery_id, "0b8f6a53-2f39-4a0e-9d51-5c2f1d0e7a11/history/12");
        assert_eq!(r.event_id, delivery_id);
        assert_eq!(r.service, "checkout");
        assert_eq!(r.deploy_type, DeployType::Argo);
        assert_eq!(r.revision.as_deref(), Some("9fceb02d0ae598e95dc970b74767f19372d61af8"));
        assert_eq!(r.previous_revision.as_deref(), Some("1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"));
        assert_eq!(r.image_ref.as_deref(), Some("ghcr.io/acme/checkout:1.4.2"));
        assert_eq!(r.repo.as_deref(), Some("acme/shop-deploy"));
        assert_eq!(r.finished_at.map(|t| t.to_rfc3339()).as_deref(), Some("2026-03-01T10:01:41+00:00"));
        assert_eq!(r.metadata["url"], "https://argocd.example.com/applications/argocd/checkout");
        assert_eq!(r.metadata["images"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn the_annotation_names_the_service_and_a_first_deployment_has_no_previous() {
        let body = with(|v| {
            v["service"] = json!("prod/shop/checkout");
            v["previous_revision"] = Value::Null;
            v["history_id"] = json!(0);
        });
        let Notice::Rollouts { rollouts, .. } = parse(&body).expect("parses") else { panic!() };
        assert_eq!(rollouts[0].service, "prod/shop/checkout");
        assert_eq!(rollouts[0].previous_revision, None);
    }

    #[test]
    fn running_and_other_kinds_are_ignored_and_bad_fields_are_named() {
        assert!(matches!(
            parse(&with(|v| v["phase"] = json!("Running"))),
            Ok(Notice::Ignored { reason: "in_progress", .. })
        ));
        assert!(matches!(
            parse(&with(|v| v["kind"] = json!("app-sync-failed"))),
            Ok(Notice::Ignored { reason: "unhandled_kind", .. })
        ));
        let field = |body: Vec<u8>| match parse(&body) {
            Err(FeedError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(with(|v| v["started_at"] = json!(""))), "started_at");
        assert_eq!(field(with(|v| v["finished_at"] = json!("soon"))), "finished_at");
        assert_eq!(field(with(|v| v["images"] = json!([1]))), "images[0]");
        assert_eq!(field(with(|v| drop(v.as_object_mut().map(|m| m.remove("kind"))))), "kind");
        assert_eq!(field(with(|v| v["service"] = json!("a/b"))), "service");
    }
}

//! GitHub webhooks (`POST /api/feeds/github`), by `X-GitHub-Event`.
//!
//! `deployment_status` records the deployment it reports, one row per GitHub
//! deployment (`deployment.id`), each status updating it:
//! - `in_progress`: recorded as started (no `finished_at`), since an incident that
//!   begins mid-rollout should see the rollout;
//! - `success`, `failure`, `error`: recorded as finished at the status's `created_at`,
//!   with `state` in the metadata. A deployment that failed went out all the same (a
//!   partial rollout, a half-applied migration) and its timing is evidence;
//! - `pending`, `queued` (nothing changed yet) and `inactive` (GitHub marking an older
//!   deployment superseded) are ignored.
//!
//! The service is `deployment.payload.service` when the deployment's creator sets it
//! (a name or `cluster/namespace/name`), else the repository's name. `revision` is
//! `deployment.sha`, `repo` the repository's `full_name`; `deployment.payload` may also
//! carry `image_ref`, `deploy_type` (default `other`) and `previous_sha`. `ping` and
//! every other event are ignored (the server routes `push` to the git feed).

use inquest_domain::{DeployType, redact::redact};
use serde_json::{Map, Value, json};

use super::{Fields, Notice, Rollout, check_service, content_id, json_body};
use crate::FeedError;

/// Parse a GitHub webhook: its event type (`X-GitHub-Event`), its delivery id
/// (`X-GitHub-Delivery`, kept by GitHub on a redelivery) and its body.
pub fn parse(event: &str, delivery: Option<&str>, body: &[u8]) -> Result<Notice, FeedError> {
    match event {
        "deployment_status" => deployment_status(delivery, body),
        "ping" => Ok(Notice::Ignored { reason: "ping", detail: "ping: the webhook is configured".into() }),
        "" => Err(FeedError::invalid("X-GitHub-Event", "the header is missing")),
        other => Ok(Notice::Ignored {
            reason: "unhandled_event",
            detail: format!("{} events are not recorded by this feed", other.chars().take(64).collect::<String>()),
        }),
    }
}

fn deployment_status(delivery: Option<&str>, body: &[u8]) -> Result<Notice, FeedError> {
    let value = json_body(body)?;
    let root = Fields::of("", &value)?;
    let status = root.require_object("deployment_status")?;
    let deployment = root.require_object("deployment")?;
    let repository = root.require_object("repository")?;
    let state = status.require_str("state")?;
    let finished = match state {
        "success" | "failure" | "error" => true,
        "in_progress" => false,
        "pending" => return Ok(ignored("status_pending", state)),
        "queued" => return Ok(ignored("status_queued", state)),
        "inactive" => return Ok(ignored("status_inactive", state)),
        _ => return Ok(ignored("status_other", state)),
    };
    let deployment_id = deployment.id("id")?.ok_or_else(|| FeedError::invalid(deployment.name("id"), "is required"))?;
    let payload = deployment.object("payload")?;
    let payload_str = |field: &str| -> Result<Option<&str>, FeedError> {
        match &payload {
            Some(p) => p.str(field),
            None => Ok(None),
        }
    };
    let service = match payload_str("service")? {
        Some(s) => check_service("deployment.payload.service", s)?,
        None => check_service(&repository.name("name"), repository.require_str("name")?)?,
    };
    let deploy_type = match payload_str("deploy_type")? {
        Some(t) => t.parse::<DeployType>().map_err(|e| FeedError::invalid("deployment.payload.deploy_type", e))?,
        None => DeployType::Other,
    };
    let started_at = deployment
        .time("created_at")?
        .ok_or_else(|| FeedError::invalid(deployment.name("created_at"), "is required"))?;
    let finished_at = if finished { status.time("created_at")? } else { None };
    let full_name = repository.str("full_name")?.map(str::to_string);

    let mut metadata = Map::new();
    metadata.insert("state".into(), json!(state));
    metadata.insert("deployment_id".into(), json!(deployment_id));
    let mut put = |key: &str, v: Option<&str>| {
        if let Some(v) = v {
            metadata.insert(key.into(), Value::String(redact(v)));
        }
    };
    put("status_id", status.id("id")?.as_deref());
    put("environment", status.str("environment")?.or(deployment.str("environment")?));
    put("ref", deployment.str("ref")?);
    put("task", deployment.str("task")?);
    put("description", status.str("description")?.or(deployment.str("description")?));
    put("target_url", status.str("target_url")?);
    put("log_url", status.str("log_url")?);
    put("environment_url", status.str("environment_url")?);
    put("deployment_url", deployment.str("url")?);
    put("repository", full_name.as_deref());
    put("repository_url", repository.str("html_url")?);
    let creator = deployment.object("creator")?.map(|c| c.str("login")).transpose()?.flatten();
    put("creator", creator);
    put("delivery", delivery);

    let rollout = Rollout {
        event_id: deployment_id,
        service,
        started_at,
        finished_at,
        deploy_type,
        image_ref: payload_str("image_ref")?.map(str::to_string),
        revision: deployment.str("sha")?.map(str::to_string),
        previous_revision: payload_str("previous_sha")?.map(str::to_string),
        repo: full_name,
        is_rollback: false,
        metadata,
        once_per: None,
    };
    let delivery_id = match delivery {
        Some(d) if !d.trim().is_empty() => d.trim().to_string(),
        _ => content_id(&value),
    };
    Ok(Notice::Rollouts { delivery_id, rollouts: vec![rollout] })
}

fn ignored(reason: &'static str, state: &str) -> Notice {
    Notice::Ignored { reason, detail: format!("deployment_status {state}: not a deployment that went out") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../tests/data/github_deployment_status.json");

    fn with(f: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut v: Value = serde_json::from_str(EXAMPLE).expect("example");
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
    fn githubs_example_is_a_finished_deployment_of_the_repository() {
        let n = parse("deployment_status", Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"), EXAMPLE.as_bytes())
            .expect("parses");
        let Notice::Rollouts { delivery_id, .. } = &n else { panic!("{n:?}") };
        assert_eq!(delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        let r = one(n);
        assert_eq!(r.event_id, "145988746");
        assert_eq!(r.service, "Hello-World");
        assert_eq!(r.revision.as_deref(), Some("f95f852bd8fca8fcc58a9a2d6c842781e32a215e"));
        assert_eq!(r.repo.as_deref(), Some("Codertocat/Hello-World"));
        assert_eq!(r.started_at.to_rfc3339(), "2019-05-15T15:20:53+00:00");
        assert_eq!(r.finished_at.map(|t| t.to_rfc3339()).as_deref(), Some("2019-05-15T15:20:55+00:00"));
        assert_eq!(r.deploy_type, DeployType::Other);
        assert_eq!(r.metadata["state"], "success");
        assert_eq!(r.metadata["environment"], "production");
        assert_eq!(r.metadata["creator"], "Codertocat");
    }

    #[test]
    fn the_payload_names_the_service_and_a_failure_is_still_recorded() {
        let body = with(|v| {
            v["deployment_status"]["state"] = json!("failure");
            v["deployment"]["payload"] =
                json!({"service": "prod/shop/checkout", "image_ref": "ghcr.io/acme/checkout:9"});
        });
        let r = one(parse("deployment_status", Some("d1"), &body).expect("parses"));
        assert_eq!(r.service, "prod/shop/checkout");
        assert_eq!(r.image_ref.as_deref(), Some("ghcr.io/acme/checkout:9"));
        assert_eq!(r.metadata["state"], "failure");
        assert!(r.finished_at.is_some());
    }

    #[test]
    fn in_progress_is_started_and_pending_queued_inactive_are_ignored() {
        let body = with(|v| v["deployment_status"]["state"] = json!("in_progress"));
        let r = one(parse("deployment_status", Some("d2"), &body).expect("parses"));
        assert_eq!(r.finished_at, None);
        for (state, reason) in
            [("pending", "status_pending"), ("queued", "status_queued"), ("inactive", "status_inactive")]
        {
            let body = with(|v| v["deployment_status"]["state"] = json!(state));
            match parse("deployment_status", Some("d3"), &body).expect("parses") {
                Notice::Ignored { reason: r, .. } => assert_eq!(r, reason),
                other => panic!("{state}: {other:?}"),
            }
        }
    }

    #[test]
    fn ping_and_other_events_are_ignored_and_bad_bodies_name_the_field() {
        assert!(matches!(parse("ping", None, b"{}"), Ok(Notice::Ignored { reason: "ping", .. })));
        assert!(matches!(parse("issues", None, b"{}"), Ok(Notice::Ignored { reason: "unhandled_event", .. })));
        let field = |body: Vec<u8>| match parse("deployment_status", Some("d"), &body) {
            Err(FeedError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(with(|v| v["deployment"]["created_at"] = json!("later"))), "deployment.created_at");
        assert_eq!(field(with(|v| v["deployment_status"]["state"] = json!(3))), "deployment_status.state");
        assert_eq!(
            field(with(|v| v["deployment"]["payload"] = json!({"service": "a/b"}))),
            "deployment.payload.service"
        );
        assert_eq!(field(with(|v| drop(v.as_object_mut().map(|m| m.remove("repository"))))), "repository");
    }
}

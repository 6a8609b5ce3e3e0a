//! The generic deployment JSON (`POST /api/feeds/deployments`): one object or a batch,
//! all or nothing, errors naming the field (`[2].started_at`).
//!
//! ```json
//! {"service": "checkout", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "helm",
//!  "revision": "9fceb02", "repo": "acme/shop", "image_ref": "registry/checkout:1.4.2"}
//! ```
//!
//! Fields: `service` (a name or `cluster/namespace/name`), `started_at` (RFC 3339),
//! `finished_at`?, `deploy_type` (`helm`, `k8s`, `argo`, `flux`, `manual`, `other`),
//! `image_ref`?, `revision`?, `previous_revision`?, `repo`? (`owner/name`),
//! `is_rollback`?, `metadata`? (an object, its strings redacted), `event_id`? (the
//! sender's id; default a hash of the object's canonical JSON). The delivery id is the
//! sorted event ids, so a batch sent again is a duplicate.

use inquest_domain::DeployType;
use serde_json::{Map, Value};

use super::{Fields, Notice, Rollout, check_service, clean_metadata, content_id, json_body};
use crate::FeedError;

/// Most deployments in one body.
pub const MAX_BATCH: usize = 1000;

/// Parse a generic body into its rollouts.
pub fn parse(body: &[u8]) -> Result<Notice, FeedError> {
    let value = json_body(body)?;
    let rollouts = match &value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(FeedError::invalid("body", "an empty batch"));
            }
            if items.len() > MAX_BATCH {
                return Err(FeedError::invalid("body", format!("more than {MAX_BATCH} deployments in one body")));
            }
            items.iter().enumerate().map(|(i, v)| rollout(&format!("[{i}]"), v)).collect::<Result<Vec<_>, _>>()?
        }
        Value::Object(_) => vec![rollout("", &value)?],
        _ => return Err(FeedError::invalid("body", "expected a deployment object or an array of them")),
    };
    let mut ids: Vec<&str> = rollouts.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort_unstable();
    for pair in ids.windows(2) {
        if pair[0] == pair[1] {
            return Err(FeedError::invalid("event_id", format!("{} appears twice in the batch", pair[0])));
        }
    }
    let delivery_id = if ids.len() == 1 { ids[0].to_string() } else { content_id(&Value::from(ids.clone())) };
    Ok(Notice::Rollouts { delivery_id, rollouts })
}

fn rollout(prefix: &str, value: &Value) -> Result<Rollout, FeedError> {
    let f = Fields::of(prefix, value)?;
    let name = |field: &str| if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") };
    let service = check_service(&name("service"), f.require_str("service")?)?;
    let started_at = f.time("started_at")?.ok_or_else(|| FeedError::invalid(name("started_at"), "is required"))?;
    let finished_at = f.time("finished_at")?;
    if finished_at.is_some_and(|t| t < started_at) {
        return Err(FeedError::invalid(name("finished_at"), "is before started_at"));
    }
    let deploy_type: DeployType = f
        .require_str("deploy_type")?
        .parse()
        .map_err(|e: inquest_domain::DomainError| FeedError::invalid(name("deploy_type"), e))?;
    let repo = f.str("repo")?.map(str::to_string);
    if let Some(r) = &repo
        && (r.split('/').count() != 2 || r.split('/').any(str::is_empty))
    {
        return Err(FeedError::invalid(name("repo"), "expected owner/name"));
    }
    let metadata = match f.get("metadata") {
        None => Map::new(),
        Some(v @ Value::Object(_)) => match clean_metadata(&name("metadata"), v)? {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        Some(_) => return Err(FeedError::invalid(name("metadata"), "expected an object")),
    };
    let event_id = match f.id("event_id")? {
        Some(id) => id,
        None => content_id(value),
    };
    Ok(Rollout {
        event_id,
        service,
        started_at,
        finished_at,
        deploy_type,
        image_ref: f.str("image_ref")?.map(str::to_string),
        revision: f.str("revision")?.map(str::to_string),
        previous_revision: f.str("previous_revision")?.map(str::to_string),
        repo,
        is_rollback: f.bool("is_rollback")?.unwrap_or(false),
        metadata,
        once_per: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn invalid_field(body: Value) -> String {
        match parse(body.to_string().as_bytes()) {
            Err(FeedError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn rollouts(body: Value) -> (String, Vec<Rollout>) {
        match parse(body.to_string().as_bytes()).expect("parses") {
            Notice::Rollouts { delivery_id, rollouts } => (delivery_id, rollouts),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_deployment_with_every_field() {
        let (delivery, r) = rollouts(json!({
            "service": "prod/shop/checkout", "started_at": "2026-03-01T10:00:00Z",
            "finished_at": "2026-03-01T10:02:30+00:00", "deploy_type": "helm",
            "image_ref": "registry.example.com/checkout:1.4.2", "revision": "9fceb02",
            "previous_revision": "1a2b3c4", "repo": "acme/shop", "is_rollback": false,
            "metadata": {"pipeline": "https://ci.example.com/run/7", "token": "token=abcdefgh12345678"},
            "event_id": "ci-run-7"
        }));
        assert_eq!(delivery, "ci-run-7");
        let r = &r[0];
        assert_eq!(r.service, "prod/shop/checkout");
        assert_eq!(r.deploy_type, DeployType::Helm);
        assert_eq!(r.finished_at.map(|t| t.to_rfc3339()).as_deref(), Some("2026-03-01T10:02:30+00:00"));
        assert_eq!(r.previous_revision.as_deref(), Some("1a2b3c4"));
        assert_eq!(r.repo.as_deref(), Some("acme/shop"));
        assert!(!r.metadata["token"].as_str().expect("token").contains("abcdefgh12345678"));
    }

    #[test]
    fn the_default_event_id_is_the_content_hash() {
        let body = json!({"service": "checkout", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "manual"});
        let (a, r1) = rollouts(body.clone());
        let (b, _) = rollouts(body);
        assert_eq!(a, b);
        assert_eq!(r1[0].event_id, a);
        let (c, _) =
            rollouts(json!({"service": "checkout", "started_at": "2026-03-01T10:05:00Z", "deploy_type": "manual"}));
        assert_ne!(a, c);
    }

    #[test]
    fn errors_name_the_field_and_the_position() {
        let ok = json!({"service": "a", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "k8s"});
        assert_eq!(invalid_field(json!([ok, {"service": "b", "deploy_type": "k8s"}])), "[1].started_at");
        assert_eq!(
            invalid_field(json!([ok, {"service": "b", "started_at": "yesterday", "deploy_type": "k8s"}])),
            "[1].started_at"
        );
        assert_eq!(
            invalid_field(json!({"service": "a", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "ftp"})),
            "deploy_type"
        );
        assert_eq!(invalid_field(json!({"started_at": "2026-03-01T10:00:00Z", "deploy_type": "k8s"})), "service");
        assert_eq!(
            invalid_field(
                json!({"service": "a", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "k8s", "repo": "shop"})
            ),
            "repo"
        );
        assert_eq!(
            invalid_field(
                json!({"service": "a", "started_at": "2026-03-01T10:00:00Z", "finished_at": "2026-03-01T09:00:00Z", "deploy_type": "k8s"})
            ),
            "finished_at"
        );
        assert_eq!(
            invalid_field(
                json!({"service": "a", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "k8s", "metadata": [1]})
            ),
            "metadata"
        );
        assert_eq!(
            invalid_field(
                json!({"service": "a", "started_at": "2026-03-01T10:00:00Z", "deploy_type": "k8s", "revision": 7})
            ),
            "revision"
        );
        assert_eq!(invalid_field(json!([ok, ok])), "event_id");
        assert_eq!(invalid_field(json!([])), "body");
        assert_eq!(invalid_field(json!("deploy")), "body");
        assert!(matches!(parse(b"{not json"), Err(FeedError::Invalid { ref field, .. }) if field == "body"));
    }
}

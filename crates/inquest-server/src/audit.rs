//! The audit trail: a middleware around every route that appends, after the
//! response, one entry per mutating request, allowed or denied, with who asked
//! (as the extractors found out), in which project, what, on which resource, from
//! where and how it ended. Reads are not audited.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use inquest_domain::{AuditEntry, AuditOutcome};
use serde_json::json;

use crate::AppState;
use crate::auth::{AuditNote, AuditSlot};

/// `(action, resource type)` of a route: the resource is the first segment after
/// `/api` in the singular, the action the literal segments after it, or the method's
/// verb (`POST /api/tokens` is `token.create`, `POST /api/incidents/{id}/feedback`
/// is `incident.feedback`).
pub fn action_of(method: &Method, route: &str) -> (String, String) {
    let mut literal = route.trim_start_matches("/api").split('/').filter(|s| !s.is_empty() && !s.starts_with('{'));
    let resource = literal.next().unwrap_or("root");
    let resource = resource.strip_suffix('s').unwrap_or(resource).to_string();
    let rest: Vec<&str> = literal.collect();
    let verb = if rest.is_empty() {
        match *method {
            Method::POST => "create".to_string(),
            Method::PUT | Method::PATCH => "update".to_string(),
            Method::DELETE => "delete".to_string(),
            ref other => other.as_str().to_lowercase(),
        }
    } else {
        rest.join(".")
    };
    (format!("{resource}.{verb}"), resource)
}

/// The value of the route's first `{param}` in `path`.
fn first_param(route: &str, path: &str) -> Option<String> {
    route.split('/').zip(path.split('/')).find(|(r, _)| r.starts_with('{')).map(|(_, v)| v.to_string())
}

/// Telemetry receivers: a sender posts every few seconds, so only refusals are audited.
const TELEMETRY_ROUTES: [&str; 2] = ["/v1/traces", "/api/v1/write"];

fn outcome_of(status: StatusCode) -> AuditOutcome {
    match status.as_u16() {
        200..=399 => AuditOutcome::Allowed,
        401 | 403 | 429 => AuditOutcome::Denied,
        _ => AuditOutcome::Failed,
    }
}

/// The middleware: a no-op for reads; for anything else an `AuditSlot` for the
/// extractors and handlers to fill, and the entry appended once the response is ready.
pub async fn record(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let telemetry = TELEMETRY_ROUTES.contains(&req.uri().path());
    let slot = AuditSlot::default();
    let mut req = req;
    req.extensions_mut().insert(slot.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| path.clone());
    let client_addr = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string);
    let forwarded_for = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).map(str::to_string);

    let response = next.run(req).await;

    let note: AuditNote = slot.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (action, resource_type) = action_of(&method, &route);
    let (resource_type, resource_id) = match note.resource {
        Some((t, id)) => (t, Some(id)),
        None => (resource_type, first_param(&route, &path)),
    };
    let status = response.status();
    if telemetry && outcome_of(status) == AuditOutcome::Allowed {
        return response;
    }
    let entry = AuditEntry {
        audit_id: uuid::Uuid::new_v4(),
        at: Utc::now(),
        actor: note.actor.unwrap_or_else(|| "anonymous".into()),
        project_id: note.project,
        action,
        resource_type,
        resource_id,
        details: json!({
            "method": method.as_str(),
            "path": path,
            "reason": note.reason,
            "forwarded_for": forwarded_for,
        }),
        client_addr,
        user_agent,
        outcome: outcome_of(status),
        status: status.as_u16(),
    };
    if let Err(e) = s.access.store.append_audit(&entry).await {
        // The action has happened; the log line keeps what the audit log missed.
        tracing::error!(error = %e, action = %entry.action, actor = %entry.actor, status = entry.status, "appending the audit entry failed");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_from_the_route() {
        let a = |m: Method, r: &str| action_of(&m, r).0;
        assert_eq!(a(Method::POST, "/api/tokens"), "token.create");
        assert_eq!(a(Method::DELETE, "/api/tokens/{id}"), "token.delete");
        assert_eq!(a(Method::POST, "/api/incidents/{id}/feedback"), "incident.feedback");
        assert_eq!(a(Method::POST, "/api/auth/login"), "auth.login");
        assert_eq!(a(Method::PUT, "/api/members/{login}"), "member.update");
        assert_eq!(first_param("/api/incidents/{id}/feedback", "/api/incidents/abc/feedback").as_deref(), Some("abc"));
    }
}

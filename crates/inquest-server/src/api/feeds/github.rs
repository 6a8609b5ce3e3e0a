//! GitHub webhooks, by `X-GitHub-Event`: `deployment_status` records the deployment,
//! `push` records commits (`git::push`), `ping` and everything else is ignored and counted.
//! GitHub is configured with `https://<inquest>/api/feeds/github?integration=<id>`, an
//! HMAC integration's secret as the webhook secret, and content type JSON.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::Utc;
use inquest_feeds::Feed;
use inquest_feeds::deploy::{self, github};

use crate::AppState;
use crate::auth::Webhook;
use crate::error::{ApiError, ErrorBody};
use crate::feeds::{FeedReceipt, Received, receive};

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Receive a GitHub webhook (signed with `X-Hub-Signature-256`); the event type is
/// `X-GitHub-Event` and the redelivery check uses `X-GitHub-Delivery`.
#[utoipa::path(post, path = "/api/feeds/github", tag = "feeds", request_body = serde_json::Value,
    params(("X-GitHub-Event" = String, Header, description = "deployment_status, push, ping ..."),
        ("X-GitHub-Delivery" = Option<String>, Header, description = "the delivery's id, kept on a redelivery")),
    responses((status = 202, body = FeedReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_github(State(s): State<AppState>, hook: Webhook) -> Result<Received, ApiError> {
    let repos = s.feeds.repositories.clone();
    let state = s.clone();
    let event = header(&hook.headers, "x-github-event").unwrap_or_default();
    receive(&s, Feed::Github, hook, |req| async move {
        let delivery = header(&req.headers, "x-github-delivery");
        match event.as_str() {
            "push" => super::git::push(&state, req).await,
            _ => {
                let notice = github::parse(&event, delivery.as_deref(), &req.body)?;
                deploy::deliver(&req.stores, repos, Feed::Github, notice, Utc::now()).await
            }
        }
    })
    .await
}

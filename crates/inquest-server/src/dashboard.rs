//! The dashboard: its pages and assets, embedded at build time (no CDN).

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/incidents/{id}", get(page))
        .route("/login", get(page))
        .route("/audit", get(page))
        .route("/changes", get(page))
        .route("/runbooks", get(page))
        .route("/runbooks/{id}", get(page))
        .route("/slos", get(page))
        .route("/oncall", get(page))
        .route("/tickets", get(page))
        .route("/tickets/{id}", get(page))
        .route("/channels", get(page))
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../assets/app.js")) }),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("../assets/style.css")) }),
        )
}

async fn page() -> Html<&'static str> {
    Html(include_str!("../assets/index.html"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

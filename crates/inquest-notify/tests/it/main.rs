//! The senders and the worker against real peers on loopback: an HTTP receiver
//! (axum on 127.0.0.1:0) for the Slack and generic webhooks, and a real SMTP server
//! (PyPI `aiosmtpd`, started by `scripts/ci.d/75-smtp.sh`) for mail; on the embedded
//! notification store.

mod smtp;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use inquest_access::seal::Keyring;
use inquest_domain::{IncidentId, ProjectId};
use inquest_notify::{NotifyConfig, NotifyMetrics, Senders, SmtpConfig, Worker};
use inquest_ops::channels::{Channel, NewChannel, NewTarget, NotifyStore};
use inquest_ops::notify::{Notice, NoticeCause, NoticeEvent};
use inquest_ports::AccessStore;
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedNotifyStore};

pub const PUBLIC_URL: &str = "https://inquest.example";

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A local HTTP receiver that records every POST and answers with the next status of
/// `answers` (the last one repeats).
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub answers: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    pub async fn start(answers: &[u16]) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answers = Arc::new(Mutex::new(answers.to_vec()));
        let (g, a) = (got.clone(), answers.clone());
        let app = Router::new().route(
            "/{*path}",
            post(move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let (g, a) = (g.clone(), a.clone());
                async move {
                    g.lock().expect("lock").push(Received {
                        path: uri.path().to_string(),
                        headers,
                        body: body.to_vec(),
                    });
                    let mut a = a.lock().expect("lock");
                    let code = if a.len() > 1 { a.remove(0) } else { a[0] };
                    StatusCode::from_u16(code).expect("status")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Receiver { addr, got, answers }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    pub fn answer(&self, code: u16) {
        *self.answers.lock().expect("lock") = vec![code];
    }
}

/// The worker on an in-memory store, the default project, a fresh registry.
pub struct Rig {
    pub store: Arc<EmbeddedNotifyStore>,
    pub worker: Worker,
    pub keyring: Arc<Keyring>,
    pub registry: prometheus::Registry,
    pub project: ProjectId,
}

pub fn config(max_attempts: u32, smtp: Option<SmtpConfig>) -> NotifyConfig {
    NotifyConfig {
        public_url: PUBLIC_URL.into(),
        poll: std::time::Duration::from_millis(50),
        max_attempts,
        backoff: chrono::Duration::seconds(5),
        backoff_max: chrono::Duration::seconds(20),
        send_timeout: std::time::Duration::from_secs(5),
        lease: chrono::Duration::seconds(30),
        batch: 10,
        smtp,
    }
}

impl Rig {
    pub async fn new(config: NotifyConfig) -> Rig {
        let store = Arc::new(EmbeddedNotifyStore::in_memory().expect("store"));
        let access = Arc::new(EmbeddedAccessStore::in_memory().expect("access"));
        inquest_access::bootstrap::default_project(access.as_ref(), chrono::Utc::now()).await.expect("project");
        assert_eq!(access.list_projects().await.expect("projects").len(), 1);
        let keyring = Arc::new(Keyring::ephemeral());
        let registry = prometheus::Registry::new();
        let metrics = NotifyMetrics::new(&registry).expect("metrics");
        let senders = Senders::new(keyring.clone(), &config.public_url, config.send_timeout, config.smtp.as_ref())
            .expect("senders");
        let worker = Worker::new(store.clone(), access, senders, metrics, config, "test-worker".into());
        Rig { store, worker, keyring, registry, project: ProjectId::default_project() }
    }

    pub async fn channel(&self, name: &str, target: NewTarget, events: Vec<NoticeEvent>) -> Channel {
        let ring = self.keyring.clone();
        let c = NewChannel { name: name.into(), target, events, enabled: true }
            .into_channel(&self.project, chrono::Utc::now(), &|p| ring.seal(p))
            .expect("valid channel");
        self.store.create_channel(&c).await.expect("create");
        c
    }

    /// One round as if `secs` seconds had passed, so every retry is due.
    pub async fn round_after(&self, secs: i64) -> inquest_notify::Round {
        self.worker.round(chrono::Utc::now() + chrono::Duration::seconds(secs)).await
    }

    /// The text exposition of the registry.
    pub fn metrics(&self) -> String {
        let mut out = String::new();
        let families = self.registry.gather();
        prometheus::TextEncoder::new().encode_utf8(&families, &mut out).expect("encode");
        out
    }
}

pub fn notice(event: NoticeEvent) -> Notice {
    let id = IncidentId::new_random();
    Notice {
        incident_id: id,
        event,
        at: chrono::Utc::now(),
        service: "checkout".into(),
        severity: "critical".into(),
        status: "open".into(),
        recipient: Some("ana".into()),
        cause: Some(NoticeCause {
            title: "release r42 of checkout".into(),
            hypothesis_type: "release".into(),
            confidence: 0.87,
        }),
        link: Notice::link_of(id),
        reason: "paged by the response policy".into(),
    }
}

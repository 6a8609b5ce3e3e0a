//! After the diagnosis, end to end in a running `inquest serve`: an SLO defined over
//! the stored metrics burns its budget and opens an incident through the intake; the
//! on-call responder assigns it to whoever is on call for the service; the response
//! policy tells the channels the investigation's most likely cause; a JSON webhook (a
//! local receiver) and e-mail (the real SMTP server `scripts/ci.d/75-smtp.sh` starts,
//! `INQUEST_TEST_SMTP`) both get the messages; the incident carries recommended actions
//! and gets its follow-up tickets; the dashboard summary counts it all.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use inquest_domain::MetricPoint;
use inquest_store_embedded::EmbeddedStore;
use serde_json::{Value, json};

use crate::support::{Server, get, wait_until};

/// Two hours of checkout traffic, 40% failing in the last 15 minutes.
async fn seed(data: &std::path::Path) {
    let store = EmbeddedStore::open(&data.join("inquest.redb")).expect("embedded store");
    let point = |metric: &str, minutes_ago: i64, value: f64| MetricPoint {
        ts: Utc::now() - chrono::Duration::minutes(minutes_ago),
        service_key: "default/default/checkout".into(),
        metric_name: metric.into(),
        value,
        labels: Default::default(),
    };
    let mut points = Vec::new();
    for m in 0..120 {
        points.push(point("requests", m, 50.0));
        points.push(point("requests_ok", m, if m < 15 { 30.0 } else { 50.0 }));
    }
    store.stores().metrics.insert_points(&points).await.expect("points");
}

/// The SMTP server of the test run (`host:port`, the Maildir it writes), or `None`
/// locally without one (a failure under `CI=true`).
fn smtp() -> Option<(String, u16, std::path::PathBuf)> {
    match (std::env::var("INQUEST_TEST_SMTP"), std::env::var("INQUEST_TEST_SMTP_DIR")) {
        (Ok(addr), Ok(dir)) => {
            let (host, port) = addr.rsplit_once(':').expect("INQUEST_TEST_SMTP is host:port");
            Some((host.to_string(), port.parse().expect("a port"), dir.into()))
        }
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "INQUEST_TEST_SMTP is not set under CI=true: scripts/ci.d/75-smtp.sh should have started aiosmtpd"
            );
            eprintln!(
                "the mail part of the story is skipped: INQUEST_TEST_SMTP is not set (scripts/test.sh starts aiosmtpd)"
            );
            None
        }
    }
}

/// Every message in the Maildir that mentions `needle`.
fn mails_with(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            // Quoted-printable soft line breaks are undone before searching.
            let text = text.replace("=\r\n", "").replace("=\n", "");
            if text.contains(needle) {
                out.push(text);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_burning_slo_opens_an_incident_that_is_assigned_told_by_mail_and_webhook_diagnosed_and_followed_up() {
    // A JSON webhook receiver on loopback.
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    seed(&data).await;
    // One qualifying signal approves the incident for investigation.
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, inquest_intake::DEFAULT_POLICY.replace("alerts = 2", "alerts = 1")).expect("policy");
    let smtp = smtp();
    let port = smtp.as_ref().map(|(_, p, _)| p.to_string()).unwrap_or_default();
    let mut env = vec![
        ("INQUEST_OPS_EVALUATE_SECONDS", "1"),
        ("INQUEST_ONCALL_TICK_SECONDS", "1"),
        ("INQUEST_NOTIFY_POLL_MS", "100"),
        ("INQUEST_NOTIFY_PUBLIC_URL", "https://inquest.example"),
        ("INQUEST_INTAKE_POLICY_FILE", policy.to_str().expect("utf-8 path")),
    ];
    if let Some((host, _, _)) = &smtp {
        env.extend([
            ("INQUEST_NOTIFY_SMTP_HOST", host.as_str()),
            ("INQUEST_NOTIFY_SMTP_PORT", port.as_str()),
            ("INQUEST_NOTIFY_SMTP_FROM", "Inquest <inquest@example.test>"),
            ("INQUEST_NOTIFY_SMTP_TLS", "none"),
        ]);
    }
    let server = Server::start(&data, &env).await;
    let client = reqwest::Client::new();
    let url = server.url.clone();
    let post = |path: &str, body: Value| {
        let (client, url) = (client.clone(), url.clone());
        let path = path.to_string();
        async move {
            let res = client.post(format!("{url}{path}")).json(&body).send().await.expect("post");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // Where people are told, who is on call, and the SLO.
    let (status, body) = post("/api/channels", json!({"name": "ops hook", "kind": "webhook", "url": hook})).await;
    assert_eq!(status, 201, "{body}");
    if smtp.is_some() {
        let (status, body) =
            post("/api/channels", json!({"name": "on-call mail", "kind": "email", "to": ["oncall@example.test"]}))
                .await;
        assert_eq!(status, 201, "{body}");
    }
    let schedule = json!({
        "name": "checkout on call", "services": ["checkout"],
        "rotation": {"members": ["ana", "ben"], "starts_at": Utc::now() - chrono::Duration::hours(1), "shift_hours": 12},
        "escalation": [{"after_minutes": 600, "targets": [{"kind": "next_in_rotation"}]}]
    });
    let (status, body) = post("/api/oncall/schedules", schedule).await;
    assert_eq!(status, 201, "{body}");
    let slo = json!({
        "name": "checkout availability", "target": 0.995, "window_days": 1,
        "metric_query": {"kind": "ratio", "service": "checkout", "good": "requests_ok", "total": "requests"},
    });
    let (status, body) = post("/api/slos", slo).await;
    assert_eq!(status, 201, "{body}");

    // The SLO burns: an incident opens and is assigned to ana.
    wait_until("an incident opened by the SLO", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), url.clone());
        async move { get(&client, format!("{url}/api/lifecycle")).await.as_array().is_some_and(|a| !a.is_empty()) }
    })
    .await;
    let list = get(&client, format!("{url}/api/lifecycle")).await;
    let incident = list[0]["incident_id"].as_str().expect("incident id").to_string();
    let link = format!("https://inquest.example/incidents/{incident}");

    // The webhook hears of the assignment, then of the diagnosis with its cause.
    let event = |e: &'static str| {
        let got = got.clone();
        move || {
            let got = got.clone();
            async move { got.lock().expect("lock").iter().any(|b| b["event"] == e) }
        }
    };
    wait_until("the assignment told to the webhook", Duration::from_secs(40), event("assigned")).await;
    wait_until("the diagnosis told to the webhook", Duration::from_secs(60), event("diagnosed")).await;
    let bodies = got.lock().expect("lock").clone();
    let assigned = bodies.iter().find(|b| b["event"] == "assigned").expect("assigned");
    assert_eq!(
        (assigned["recipient"].as_str(), assigned["link"].as_str()),
        (Some("ana"), Some(link.as_str())),
        "{assigned}"
    );
    let diagnosed = bodies.iter().find(|b| b["event"] == "diagnosed").expect("diagnosed");
    let cause = &diagnosed["cause"];
    assert!(cause["title"].as_str().is_some_and(|t| !t.is_empty()), "{diagnosed}");
    let confidence = cause["confidence"].as_f64().expect("confidence");
    assert!((0.0..=1.0).contains(&confidence), "{diagnosed}");
    let text = diagnosed["text"].as_str().expect("text");
    assert!(text.contains("Most likely cause: ") && text.contains("confidence") && text.contains(&link), "{text}");

    // The same messages by mail.
    if let Some((_, _, maildir)) = &smtp {
        let started = std::time::Instant::now();
        while mails_with(maildir, &link).len() < 2 {
            if started.elapsed() > Duration::from_secs(30) {
                let deliveries = get(&client, format!("{url}/api/notifications")).await;
                panic!("the mails did not arrive in {}; deliveries: {deliveries}", maildir.display());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mails = mails_with(maildir, &link);
        assert!(mails.iter().all(|m| m.contains("oncall@example.test")), "{mails:?}");
        assert!(mails.iter().any(|m| m.contains("Most likely cause: ") && m.contains("confidence")), "{mails:?}");
    }

    // Every action is a decision on the incident; the investigation recommends what to do.
    let lc = get(&client, format!("{url}/api/incidents/{incident}/lifecycle")).await;
    let kinds: Vec<&str> =
        lc["decisions"].as_array().expect("decisions").iter().filter_map(|d| d["decision"].as_str()).collect();
    assert!(kinds.contains(&"assigned") && kinds.contains(&"notified"), "{kinds:?}");
    let detail = get(&client, format!("{url}/api/incidents/{incident}")).await;
    let recommended: Vec<&Value> = detail["hypotheses"]
        .as_array()
        .expect("hypotheses")
        .iter()
        .filter_map(|h| h["details"].get("recommendation"))
        .collect();
    assert!(!recommended.is_empty(), "recommended actions: {detail}");
    assert!(recommended.iter().all(|r| r["action_type"].is_string() && r["risk_level"].is_string()), "{recommended:?}");

    // Its follow-up tickets, created once.
    let (status, body) = post(&format!("/api/incidents/{incident}/tickets"), json!({})).await;
    assert_eq!(status, 201, "{body}");
    let tickets = body["items"].as_array().expect("tickets").clone();
    assert!(!tickets.is_empty(), "{body}");
    assert!(tickets.iter().all(|t| t["source_type"] == "incident" && t["source_id"] == incident.as_str()), "{body}");
    let (status, again) = post(&format!("/api/incidents/{incident}/tickets"), json!({})).await;
    assert_eq!((status, again["items"].as_array().map(Vec::len)), (200, Some(tickets.len())), "{again}");

    // The dashboard summary: the open incident, the burning SLO, the ready tickets.
    let stats = get(&client, format!("{url}/api/stats")).await;
    assert!(stats["incidents"]["total"].as_u64().is_some_and(|n| n >= 1), "{stats}");
    assert_eq!(stats["slos"]["burning"], json!(["checkout availability"]), "{stats}");
    assert!(stats["tickets"]["ready"].as_u64().is_some_and(|n| n >= 1), "{stats}");
    server.stop();
}

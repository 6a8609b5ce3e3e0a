//! A real Prometheus remote-writing to `inquest serve`: Debian's Prometheus
//! (`INQUEST_TEST_PROMETHEUS_BIN`, set by `scripts/ci.d/50-alerting.sh`) scrapes a small
//! endpoint served here (a request counter with a `code` label and a latency
//! histogram, each scrape adding a fixed amount) and sends what it scraped to
//! `/api/v1/write`; once serve is stopped, the embedded store holds the raw series,
//! their `rate(...)` and the histogram's quantiles with the values the fixed
//! increments give.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use inquest_domain::ProjectId;
use inquest_ports::MetricStore;
use inquest_store_embedded::EmbeddedStore;

use crate::support::{Server, free_port, require_env, wait_until};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The exposition after `n` scrapes: per scrape 10 requests answered 200 and 2
/// answered 500; 10 observations, 5 up to 0.1 s, 3 more up to 0.5 s, 2 more up to 1 s.
fn exposition(n: u64) -> String {
    let n = n as f64;
    format!(
        "# TYPE demo_requests_total counter\n\
         demo_requests_total{{code=\"200\"}} {}\n\
         demo_requests_total{{code=\"500\"}} {}\n\
         # TYPE demo_request_duration_seconds histogram\n\
         demo_request_duration_seconds_bucket{{le=\"0.1\"}} {}\n\
         demo_request_duration_seconds_bucket{{le=\"0.5\"}} {}\n\
         demo_request_duration_seconds_bucket{{le=\"1\"}} {}\n\
         demo_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n\
         demo_request_duration_seconds_sum {}\n\
         demo_request_duration_seconds_count {}\n",
        10.0 * n,
        2.0 * n,
        5.0 * n,
        8.0 * n,
        10.0 * n,
        10.0 * n,
        3.0 * n,
        10.0 * n,
    )
}

/// Serve the exposition on `listener`, one more scrape's worth per request, until `stop`.
fn serve_metrics(listener: TcpListener, scrapes: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    listener.set_nonblocking(true).expect("nonblocking");
    while !stop.load(Ordering::SeqCst) {
        let Ok((mut socket, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let _ = socket.set_nonblocking(false);
        let _ = socket.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = vec![0u8; 8192];
        let mut read = 0;
        // The request line and headers; a GET has no body.
        while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") && read < buf.len() {
            match socket.read(&mut buf[read..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
        let n = scrapes.fetch_add(1, Ordering::SeqCst) + 1;
        let body = exposition(n);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = socket.write_all(response.as_bytes());
    }
}

/// Stops the endpoint's thread when dropped.
struct Endpoint(Arc<AtomicBool>);

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn derived_count(text: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with("inquest_remote_write_points_derived_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_write_gives_rates_and_quantiles() {
    let Some(bin) = require_env("INQUEST_TEST_PROMETHEUS_BIN") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let inquest = Server::start(&data, &[("INQUEST_INTAKE_WORKERS", "0")]).await;

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the demo endpoint");
    let demo = listener.local_addr().expect("addr");
    let (scrapes, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let endpoint = Endpoint(stop.clone());
    std::thread::spawn(move || serve_metrics(listener, scrapes, stop));

    let config = format!(
        "global:\n  scrape_interval: 1s\n\
         scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['{demo}']\n\
         remote_write:\n  - url: {}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n\
         \x20     max_backoff: 1s\n    metadata_config:\n      send_interval: 1s\n",
        inquest.url
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("config");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let child = Command::new(&bin)
        .args([
            format!("--config.file={}", dir.path().join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let prometheus = Proc(child);

    // Rates need two samples of a series, quantiles two complete scrapes: wait for a few.
    let client = reqwest::Client::new();
    let metrics = format!("{}/metrics", inquest.url);
    let waited = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let text = match client.get(&metrics).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            // 2 rates + 3 quantiles + 2 (sum, count) rates per scrape after the first: ~5 scrapes.
            if derived_count(&text) >= 30.0 {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    let text = waited.unwrap_or_else(|_| {
        let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
        let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
        panic!("no derived points reached inquest within 90 s; prometheus log (last lines, newest first):\n{tail}")
    });
    assert!(text.contains("inquest_remote_write_active_series"), "{text}");
    drop(prometheus);
    drop(endpoint);
    inquest.stop();
    wait_until("the store is free", Duration::from_secs(10), || async {
        EmbeddedStore::open(&data.join("inquest.redb")).is_ok()
    })
    .await;

    let store = EmbeddedStore::open(&data.join("inquest.redb")).expect("the embedded store");
    let store = store.in_project(&ProjectId::default_project());
    let now = chrono::Utc::now();
    let window = store.window("default/default/demo", now - chrono::Duration::hours(1), now).await.expect("window");
    let series = |name: &str| -> Vec<f64> {
        window.series.iter().filter(|s| s.metric_name == name).flat_map(|s| s.points.iter().map(|p| p.1)).collect()
    };
    let names: Vec<&str> = window.series.iter().map(|s| s.metric_name.as_str()).collect();
    let raw = series(r#"demo_requests_total{code="500"}"#);
    assert!(raw.len() >= 3, "raw counter points: {raw:?}; series: {names:?}");
    // 2 per scrape, scraped every second: about 2/s (scrape timestamps jitter a little).
    let rate = series(r#"rate(demo_requests_total{code="500"})"#);
    assert!(rate.len() >= 2, "rate points: {rate:?}; series: {names:?}");
    for r in &rate {
        assert!((1.0..=4.0).contains(r), "rate {r} of 2 per 1 s scrape: {rate:?}");
    }
    let mean = rate.iter().sum::<f64>() / rate.len() as f64;
    assert!((mean - 2.0).abs() < 0.5, "mean rate {mean}: {rate:?}");
    // Each scrape adds 5 under 0.1, 3 in (0.1, 0.5], 2 in (0.5, 1]: p50 is 0.1 (rank 5 at the
    // top of the first bucket), p90 0.75 (rank 9: 0.5 + 0.5 * 1/2), p99 0.975 (rank 9.9).
    for (q, want) in [("0.5", 0.1), ("0.9", 0.75), ("0.99", 0.975)] {
        let name = format!("histogram_quantile({q}, demo_request_duration_seconds)");
        let values = series(&name);
        assert!(!values.is_empty(), "no {name}; series: {names:?}");
        for v in &values {
            assert!((v - want).abs() < 1e-9, "{name}: {values:?}");
        }
    }
    assert!(series("rate(demo_request_duration_seconds_count)").iter().all(|r| (5.0..=20.0).contains(r)));
}

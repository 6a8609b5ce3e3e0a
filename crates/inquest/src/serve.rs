//! `inquest serve`: the HTTP API, the dashboard, the alert intake (with its
//! investigation workers, unless `intake.workers` is 0) and the notification worker
//! (unless `notify.poll_ms` is 0) on the configured stores,
//! until Ctrl-C or SIGTERM; then it stops taking connections and jobs and drains
//! those in flight for at most `intake.shutdown_grace_secs`.

use std::time::Duration;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use inquest_access::seal::Keyring;
use inquest_config::Settings;
use inquest_ports::AccessStore;
use inquest_server::{Access, SecureCookie};

use crate::stores::Built;
use crate::{intake, shutdown, writers};

/// Serve on `built`: its observed stores answer the API and the dashboard, the intake
/// shares its Postgres pool (when the records are there) and its metrics registry.
pub async fn run(settings: &Settings, built: Built, bind: &str) -> Result<()> {
    let stores = built.stores.clone();
    // Resolution columns are derived from feedback: make them agree before serving.
    let fixed = inquest_core::feedback::rederive_all(&stores, chrono::Utc::now()).await?;
    if fixed > 0 {
        tracing::info!(incidents = fixed, "resolution re-derived from feedback");
    }
    let writer = writers::report_writer(settings);
    let access = access(settings, built.access.clone(), bind).await?;
    // Who is told about incidents: the response policy's pages and diagnoses and the
    // on-call responder's assignments and escalations are queued in the notification
    // store; the worker sends them apart from every request, investigation and alert.
    let notifier: Arc<dyn inquest_ops::notify::Notifier> =
        Arc::new(inquest_ops::channels::OutboxNotifier { store: built.notify.clone() });
    let intake = intake::start(settings, &built, writer.clone(), notifier.clone()).await?;
    let access = Arc::new(access.build(intake.ingest.metrics.registry())?);
    // The PromQL poller (`[telemetry.poll]`), when a Prometheus is configured.
    let poller = crate::poll::start(settings, &built.registry, stores.metrics.clone(), intake.ingest.clone()).await?;
    let mut state = inquest_server::AppState::new(stores.clone(), writer, intake.ingest.clone(), access);
    state.cfg = intake.config.clone();
    state.tickets = built.tickets.clone();
    // Deployment ranges and push-started syncs read the `[[feeds.git]]` clones.
    let git = Arc::new(crate::git::repositories(settings));
    state.feeds = Arc::new(state.feeds.with_clones(git));
    state.remote_write = Arc::new(remote_write(settings, &state)?);
    state.ops = built.ops.clone();
    state.notify = built.notify.clone();
    state.notifier = notifier;
    let delivery = notify_worker(settings, &built, &state)?;
    // SLOs and invariants (`[ops]`), evaluated into the same intake as alerts.
    if settings.ops.evaluate_seconds > 0 {
        let evaluator = inquest_server::ops::Evaluator {
            ops: built.ops.clone(),
            metrics: stores.metrics.clone(),
            ingest: intake.ingest.clone(),
            counters: state.ops_metrics.clone(),
        };
        let every = Duration::from_secs(settings.ops.evaluate_seconds);
        tokio::spawn(evaluate(evaluator, built.access.clone(), every));
    }
    // On-call (`[oncall]`): open incidents assigned to whoever is on call, escalated
    // when nobody acknowledges them. Notices go to the state's notifier.
    state.oncall = built.oncall.clone();
    if settings.oncall.tick_seconds > 0 {
        let responder = inquest_server::oncall::Responder::new(
            built.oncall.clone(),
            intake.ingest.clone(),
            built.access.clone(),
            state.notifier.clone(),
            state.oncall_metrics.clone(),
        );
        tokio::spawn(respond(responder, Duration::from_secs(settings.oncall.tick_seconds)));
    }
    precedent_counted(&built, &state);
    tokio::spawn(precedent_sweep(stores.clone(), built.access.clone()));
    // OTLP spans into the service graph, flushed into the metrics and topology stores.
    let traces = &settings.telemetry.traces;
    state.traces = Arc::new(state.traces.with_config(trace_config(traces)));
    tokio::spawn(trace_flush(state.traces.clone(), stores, Duration::from_secs(traces.flush_seconds)));
    let router = inquest_server::app(state);
    let policy = intake.ingest.policy.version.clone();
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let served = inquest_server::serve(
        bind,
        router,
        |addr| {
            println!("dashboard: http://{addr}/");
            println!("API:       http://{addr}/api/incidents  (OpenAPI: http://{addr}/api/openapi.json)");
            println!("alerts:    http://{addr}/api/alerts, http://{addr}/api/alertmanager  (policy {policy})");
            println!("metrics:   http://{addr}/metrics");
            println!("traces:    http://{addr}/v1/traces  (OTLP/HTTP, protobuf or JSON)");
            println!("remote write: http://{addr}/api/v1/write  (Prometheus remote_write url)");
            println!("SLOs:      http://{addr}/slos  (API: /api/slos, /api/invariants)");
            println!("on-call:   http://{addr}/oncall  (API: /api/oncall/schedules, /api/oncall/now)");
            println!("channels:  http://{addr}/channels  (API: /api/channels, /api/notifications)");
        },
        async move {
            let _ = http_stopped.await;
        },
    );
    tokio::pin!(served);
    let grace = Duration::from_secs(settings.intake.shutdown_grace_secs);
    tokio::select! {
        // The server ended by itself (the address was taken): nothing to drain.
        r = &mut served => {
            if let Some(p) = poller {
                p.stop(tokio::time::Instant::now() + grace).await;
            }
            stop_notifier(delivery, tokio::time::Instant::now() + grace).await;
            intake.stop(tokio::time::Instant::now() + grace).await;
            return Ok(r?);
        }
        () = shutdown::signal() => {}
    }
    tracing::info!(grace_secs = grace.as_secs(), "stopping: no new connections or jobs, draining those in flight");
    let deadline = tokio::time::Instant::now() + grace;
    let _ = stop_http.send(());
    if let Some(p) = poller {
        p.stop(deadline).await;
    }
    intake.stop_taking_work();
    stop_notifier(delivery, deadline).await;
    let served = tokio::time::timeout_at(deadline, served).await;
    let drained = intake.stop(deadline).await;
    if !drained {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "jobs still running at the end of the grace period: another worker takes them over after their lease"
        );
    }
    match served {
        Ok(r) => r?,
        Err(_) => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still open at the end of the grace period were cut")
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The notification worker of `[notify]` on the state's store, keyring and registry;
/// `None` when `notify.poll_ms` is 0 (notices are still queued).
type Notifier = Option<(tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>)>;

fn notify_worker(settings: &Settings, built: &Built, state: &inquest_server::AppState) -> Result<Notifier> {
    let config = inquest_notify::NotifyConfig::from_settings(&settings.notify);
    let metrics = inquest_notify::NotifyMetrics::new(state.ingest.metrics.registry())
        .context("registering the notification metrics")?;
    if config.poll.is_zero() {
        tracing::info!("notify.poll_ms is 0: notices are queued, no worker sends them");
        return Ok(None);
    }
    let senders = inquest_notify::Senders::new(
        state.access.keyring.clone(),
        &config.public_url,
        config.send_timeout,
        config.smtp.as_ref(),
    )
    .map_err(|e| anyhow::anyhow!("notify: {e}"))?;
    let name = format!("notify-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let worker =
        inquest_notify::Worker::new(built.notify.clone(), built.access.clone(), senders, metrics, config, name);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(Arc::new(worker).run(stopped));
    Ok(Some((stop, task)))
}

/// Stops the notification worker after the round in flight, waiting until `deadline`
/// at most (an attempt cut short is taken again after its lease).
async fn stop_notifier(notifier: Notifier, deadline: tokio::time::Instant) {
    if let Some((stop, task)) = notifier {
        let _ = stop.send(true);
        if tokio::time::timeout_at(deadline, task).await.is_err() {
            tracing::warn!("the notification worker was still sending at the end of the grace period");
        }
    }
}

/// Everything of `Access` but its metrics (registered on the intake's registry once it exists).
struct AccessParts {
    store: Arc<dyn AccessStore>,
    required: bool,
    keyring: Keyring,
    oidc: Option<inquest_access::oidc::Verifier>,
    settings: inquest_config::AuthSettings,
}

impl AccessParts {
    fn build(self, registry: &prometheus::Registry) -> Result<Access> {
        let auth = &self.settings;
        let mut access =
            if self.required { Access::required(self.store, registry)? } else { Access::open(self.store, registry)? };
        access.keyring = Arc::new(self.keyring);
        access.oidc = self.oidc.map(Arc::new);
        access.throttle = inquest_access::throttle::LoginThrottle::new(
            auth.login_max_failures,
            Duration::from_secs(auth.login_window_secs),
        );
        access.session_ttl = chrono::Duration::hours(auth.session_hours as i64);
        access.secure_cookie = match auth.secure_cookie_mode() {
            inquest_config::SecureCookie::Auto => SecureCookie::Auto,
            inquest_config::SecureCookie::Always => SecureCookie::Always,
            inquest_config::SecureCookie::Never => SecureCookie::Never,
        };
        Ok(access)
    }
}

/// Whether every address `bind` resolves to is a loopback one.
fn loopback(bind: &str) -> Result<bool> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = bind.to_socket_addrs().with_context(|| format!("resolving the address {bind}"))?.collect();
    Ok(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()))
}

/// The access settings checked against the address: off only on loopback; with
/// credentials required and no user yet, the first owner is made and its password
/// printed, once.
async fn access(settings: &Settings, store: Arc<dyn AccessStore>, bind: &str) -> Result<AccessParts> {
    let auth = settings.auth.clone();
    if !auth.required && !loopback(bind)? {
        bail!(
            "refusing to serve on {bind} without authentication: set auth.required = true \
             (INQUEST_AUTH_REQUIRED=true) or bind a loopback address"
        );
    }
    let keyring = crate::keys::keyring(settings)?;
    let now = chrono::Utc::now();
    inquest_access::bootstrap::default_project(store.as_ref(), now).await?;
    if auth.required {
        if let Some((login, password)) = inquest_access::bootstrap::first_owner(store.as_ref(), now).await? {
            println!("first start: created the owner '{login}' of project 'default' with the one-time password");
            println!("    {password}");
            println!("it is shown only now: sign in and add users, or create tokens with `inquest tokens create`");
        }
    } else {
        tracing::warn!(
            "auth.required is false: every request acts as the owner of the project it names (loopback only)"
        );
    }
    let oidc = auth.oidc.clone().map(|o| {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        inquest_access::oidc::Verifier::new(o, http)
    });
    Ok(AccessParts { store, required: auth.required, keyring, oidc, settings: auth })
}

/// The receiver's settings from `[telemetry.traces]`.
fn trace_config(t: &inquest_config::TraceSettings) -> inquest_server::TraceConfig {
    let seconds = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
    inquest_server::TraceConfig {
        bucket: seconds(t.bucket_seconds),
        wait: seconds(t.wait_seconds),
        max_held_spans: t.max_held_spans,
        max_body_bytes: t.max_body_bytes,
    }
}

/// Every `every`, write the service graph's closed buckets and new calls; a store that
/// is down keeps them for the next round (counted in `inquest_trace_flush_failures_total`).
async fn trace_flush(traces: Arc<inquest_server::Traces>, stores: inquest_ports::Stores, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let flushed = traces.flush(&stores, chrono::Utc::now()).await;
        if flushed.points > 0 || flushed.calls > 0 {
            tracing::debug!(points = flushed.points, edges = flushed.calls, "service graph flushed");
        }
    }
}

/// Every `every`, evaluate every enabled SLO and invariant of every project; a store
/// that is down is logged and the next round tries again.
async fn evaluate(evaluator: inquest_server::ops::Evaluator, access: Arc<dyn AccessStore>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let projects = match access.list_projects().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "SLO evaluation skipped: projects not listed");
                continue;
            }
        };
        for p in projects {
            match evaluator.project(&p.project_id, chrono::Utc::now()).await {
                Ok(r) if r.raised + r.resolved + r.errors > 0 => tracing::info!(
                    project = %p.project_id, slos = r.slos, invariants = r.invariants,
                    raised = r.raised, resolved = r.resolved, errors = r.errors, "SLOs and invariants evaluated"
                ),
                Ok(r) => {
                    tracing::debug!(project = %p.project_id, slos = r.slos, invariants = r.invariants, "evaluated")
                }
                Err(e) => tracing::warn!(project = %p.project_id, error = %e, "SLO evaluation stopped for the project"),
            }
        }
    }
}

/// Every `every`, assign and escalate the open incidents of every project; a store
/// that is down is logged and counted, and the next round tries again.
async fn respond(responder: inquest_server::oncall::Responder, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let r = responder.run_once(chrono::Utc::now()).await;
        if r.assigned + r.escalated + r.failures > 0 {
            tracing::info!(
                projects = r.projects,
                assigned = r.assigned,
                escalated = r.escalated,
                stopped = r.stopped,
                unassigned = r.unassigned,
                failures = r.failures,
                "on-call round"
            );
        } else {
            tracing::debug!(projects = r.projects, stopped = r.stopped, unassigned = r.unassigned, "on-call round");
        }
    }
}

/// Count the precedent hook's outcomes as feed `precedent`.
fn precedent_counted(built: &Built, state: &inquest_server::AppState) {
    let metrics = state.feeds.metrics.clone();
    built.precedents.observe(move |o| {
        metrics.events.with_label_values(&["precedent", o.as_str()]).inc();
        if o == inquest_feeds::precedent::Outcome::Failed {
            metrics.rejected.with_label_values(&["precedent", "store"]).inc();
        }
    });
}

/// Write the precedent of every resolved incident of every project that a previous run
/// could not write (a semantic store down then); unchanged summaries are not embedded again.
async fn precedent_sweep(stores: inquest_ports::Stores, access: Arc<dyn AccessStore>) {
    let projects = match access.list_projects().await {
        Ok(p) => p,
        Err(e) => return tracing::warn!(error = %e, "precedent sweep skipped: projects not listed"),
    };
    for p in projects {
        match inquest_feeds::precedent::sweep(&stores.for_project(&p.project_id)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(project = %p.project_id, written = n, "precedent written for resolved incidents"),
            Err(e) => tracing::warn!(project = %p.project_id, error = %e, "precedent sweep stopped"),
        }
    }
}

/// The remote write receiver from `[telemetry.remote_write]`, counting on the state's registry.
fn remote_write(settings: &Settings, state: &inquest_server::AppState) -> Result<inquest_server::RemoteWrite> {
    use inquest_ingest::prometheus::{Receiver, ReceiverLimits, RuleSpec, Rules};
    let rw = &settings.telemetry.remote_write;
    let spec = RuleSpec {
        cluster_label: rw.cluster_label.clone(),
        namespace_label: rw.namespace_label.clone(),
        service_labels: rw.service_labels.clone(),
        keep_metrics: rw.keep_metrics.clone(),
        drop_metrics: rw.drop_metrics.clone(),
        keep_series: rw.keep_series.clone(),
        drop_series: rw.drop_series.clone(),
        drop_labels: rw.drop_labels.clone(),
        max_label_name_bytes: rw.max_label_name_bytes,
        max_label_value_bytes: rw.max_label_value_bytes,
    };
    let rules = Rules::new(&spec).context("telemetry.remote_write")?;
    let limits = ReceiverLimits {
        max_series: rw.max_series,
        max_gap_ms: (rw.max_gap_secs as i64).saturating_mul(1000),
        idle_ms: (rw.idle_secs as i64).saturating_mul(1000),
    };
    let bounds = inquest_server::RemoteWriteLimits {
        enabled: rw.enabled,
        max_body_bytes: rw.max_body_bytes,
        max_decoded_bytes: rw.max_decoded_bytes,
        max_concurrent_writes: rw.max_concurrent_writes,
        max_queued_samples: rw.max_queued_samples,
        retry_after_secs: rw.retry_after_secs,
    };
    Ok(state.remote_write.configured(Receiver::new(rules, limits), bounds))
}

//! Packaging checks: the `Dockerfile`, `docker-compose.yml` and its configuration under
//! `deploy/compose/`, `.env.example` and the CI workflow, validated offline with the
//! real tools (`hadolint`, `check-jsonschema`, `promtool`, `amtool`), plus the wiring
//! the schemas cannot see (migrations before the app, loopback ports, the dashboard's
//! metrics existing in the code).
//!
//! The validators come from `scripts/ci.d/60-validators.sh` (`INQUEST_TEST_VALIDATORS_BIN`)
//! and Prometheus' tools from `50-alerting.sh`; without them a test skips with a message,
//! under `CI=true` it fails. Each validator is also shown a broken copy, so a check
//! cannot pass by accepting everything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

/// The stores the product needs healthy before it starts.
const STORES: [&str; 4] = ["postgres", "clickhouse", "neo4j", "qdrant"];

/// What the Grafana dashboard must show, one metric each: what an operator watches.
const DASHBOARD_METRICS: [&str; 10] = [
    "inquest_alerts_received_total",
    "inquest_alerts_rejected_total",
    "inquest_incidents",
    "inquest_incident_mtta_seconds",
    "inquest_incident_mttr_seconds",
    "inquest_investigation_duration_seconds",
    "inquest_job_retries_total",
    "inquest_job_failures_total",
    "inquest_store_errors_total",
    "inquest_store_call_duration_seconds",
];

/// `INQUEST_*` names in `.env.example` that are not settings but are still read.
const NOT_SETTINGS: [&str; 2] = ["INQUEST_LOG", "INQUEST_LOG_FORMAT"];

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace root").to_path_buf()
}

/// The venv of `scripts/ci.d/60-validators.sh`: `hadolint`, `check-jsonschema`,
/// `kubernetes-validate` and a `python` with PyYAML.
pub(crate) struct Validators {
    bin: PathBuf,
}

/// The validators, or `None` (after saying why) when the hook has not run; under
/// `CI=true` a missing hook is an error. The Kubernetes checks (`kubernetes.rs`) take
/// `kubernetes-validate` from here too: `validators()?` then `v.tool("kubernetes-validate")`.
pub(crate) fn validators() -> Result<Option<Validators>> {
    Ok(require_env("INQUEST_TEST_VALIDATORS_BIN")?.map(|bin| Validators { bin: PathBuf::from(bin) }))
}

impl Validators {
    /// A command for one tool of the venv, run from the workspace root.
    pub(crate) fn tool(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(name));
        cmd.current_dir(root());
        cmd
    }

    /// A YAML file as JSON, parsed by PyYAML (merge keys and anchors resolved).
    pub(crate) fn yaml(&self, path: &Path) -> Result<Value> {
        let out = self
            .tool("python")
            .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
            .arg(path)
            .output()
            .context("run the venv's python")?;
        ensure!(out.status.success(), "{} is not valid YAML: {}", path.display(), text(&out));
        serde_json::from_slice(&out.stdout).with_context(|| format!("PyYAML's JSON of {}", path.display()))
    }
}

/// A variable set by a `scripts/ci.d` hook: `None` locally when unset, an error under CI.
fn require_env(var: &str) -> Result<Option<String>> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Some(v)),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            bail!("{var} is not set under CI=true: its scripts/ci.d hook should have set it")
        }
        _ => {
            eprintln!("skipping: {var} is not set (run scripts/test.sh, or source its scripts/ci.d hook)");
            Ok(None)
        }
    }
}

/// Stdout and stderr together, for messages.
fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs `cmd` and fails with its output unless it succeeds.
fn passes(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("run {what}"))?;
    ensure!(out.status.success(), "{what} failed:\n{}", text(&out));
    Ok(())
}

/// Runs `cmd` on a broken file and fails unless it is rejected with `expected` in its output.
fn rejects(cmd: &mut Command, what: &str, expected: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("run {what}"))?;
    let said = text(&out);
    ensure!(!out.status.success(), "{what} accepted a broken file:\n{said}");
    ensure!(said.contains(expected), "{what} rejected the broken file, but not for {expected:?}:\n{said}");
    Ok(())
}

/// A fresh scratch folder for broken copies.
fn scratch() -> Result<PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "inquest-packaging-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

fn read(rel: &str) -> Result<String> {
    std::fs::read_to_string(root().join(rel)).with_context(|| format!("read {rel}"))
}

/// `text` with `anchor` replaced by `anchor` + `inserted`; fails when the anchor is gone.
fn with_inserted(text: &str, anchor: &str, inserted: &str) -> Result<String> {
    ensure!(text.contains(anchor), "the broken copy's anchor {anchor:?} is not in the file any more");
    Ok(text.replacen(anchor, &format!("{anchor}{inserted}"), 1))
}

#[test]
fn dockerfile_passes_hadolint() -> Result<()> {
    let Some(v) = validators()? else { return Ok(()) };
    passes(v.tool("hadolint").arg("Dockerfile"), "hadolint Dockerfile")?;

    let dir = scratch()?;
    let bad = dir.join("Dockerfile");
    std::fs::write(&bad, "FROM debian:latest\nRUN cd /tmp && apt-get install curl\n")?;
    rejects(v.tool("hadolint").arg(&bad), "hadolint on a broken Dockerfile", "DL3007")
}

#[test]
fn dockerfile_runs_the_binary_as_a_non_root_user() -> Result<()> {
    let file = read("Dockerfile")?;
    let lines: Vec<&str> = file.lines().map(str::trim).collect();
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    ensure!(has("FROM rust:1.95"), "the build stage must use Rust 1.95");
    ensure!(file.contains("cargo build --release --locked -p inquest"), "the image must build the inquest binary");
    let user = lines.iter().rev().find_map(|l| l.strip_prefix("USER ")).context("a USER line")?;
    ensure!(!user.starts_with("root") && !user.starts_with('0'), "the runtime user must not be root: {user}");
    ensure!(has("HEALTHCHECK") && has("EXPOSE 8080"), "the image must have a HEALTHCHECK and EXPOSE 8080");
    ensure!(has(r#"ENTRYPOINT ["inquest"]"#), "the entrypoint must be the binary");
    ensure!(has(r#"CMD ["serve", "--bind", "0.0.0.0:8080"]"#), "serve on 0.0.0.0:8080 must be the default command");
    ensure!(file.contains("org.opencontainers.image.title"), "the image must carry OCI labels");
    let ignore = read(".dockerignore")?;
    for path in ["target", ".git", ".env"] {
        ensure!(ignore.lines().any(|l| l.trim() == path), ".dockerignore must leave out {path}");
    }
    Ok(())
}

#[test]
fn compose_file_matches_the_compose_spec() -> Result<()> {
    let Some(v) = validators()? else { return Ok(()) };
    let schema = ["--builtin-schema", "vendor.compose-spec"];
    passes(v.tool("check-jsonschema").args(schema).arg("docker-compose.yml"), "check-jsonschema docker-compose.yml")?;

    let dir = scratch()?;
    let bad = dir.join("docker-compose.yml");
    std::fs::write(
        &bad,
        with_inserted(&read("docker-compose.yml")?, "\n  inquest-worker:\n", "    unknown_key: true\n")?,
    )?;
    rejects(
        v.tool("check-jsonschema").args(schema).arg(&bad),
        "check-jsonschema on a broken compose file",
        "unknown_key",
    )
}

#[test]
fn compose_runs_the_product_after_its_migrations() -> Result<()> {
    let Some(v) = validators()? else { return Ok(()) };
    let compose = v.yaml(&root().join("docker-compose.yml"))?;
    let services = compose["services"].as_object().context("services")?;
    let service = |name: &str| services.get(name).with_context(|| format!("service {name}"));
    let command = |name: &str| -> Result<Vec<String>> {
        let cmd = service(name)?["command"].as_array().with_context(|| format!("{name}: command as a list"))?;
        Ok(cmd.iter().filter_map(Value::as_str).map(String::from).collect())
    };

    ensure!(command("inquest-migrate")? == ["migrate"], "inquest-migrate must run `inquest migrate`");
    ensure!(service("inquest-migrate")?["restart"] == "no", "inquest-migrate must not restart: migrations run once");
    ensure!(command("inquest")?.first().map(String::as_str) == Some("serve"), "inquest must run `inquest serve`");
    ensure!(command("inquest-worker")? == ["worker"], "inquest-worker must run `inquest worker`");
    ensure!(
        service("inquest")?["environment"]["INQUEST_INTAKE_WORKERS"] == "0",
        "the API service must run no workers: investigations run in inquest-worker"
    );
    for app in ["inquest", "inquest-worker"] {
        let deps = &service(app)?["depends_on"];
        ensure!(
            deps["inquest-migrate"]["condition"] == "service_completed_successfully",
            "{app} must wait for the migrations to succeed"
        );
        for store in STORES {
            ensure!(deps[store]["condition"] == "service_healthy", "{app} must wait for {store} to be healthy");
        }
    }
    // Alertmanager's credential is an integration the setup step makes from the stack's secret.
    ensure!(
        command("inquest-setup")?.starts_with(&["integrations".to_string(), "create".to_string()]),
        "inquest-setup must create Alertmanager's integration"
    );
    ensure!(service("inquest-setup")?["restart"] == "no", "inquest-setup runs once");
    ensure!(
        service("inquest")?["depends_on"]["inquest-setup"]["condition"] == "service_completed_successfully",
        "inquest must wait for the setup step"
    );
    for name in ["inquest-setup", "alertmanager"] {
        let secrets = service(name)?["secrets"].as_array().with_context(|| format!("{name}: secrets"))?;
        ensure!(secrets.iter().any(|s| s == "inquest-webhook"), "{name} must mount the webhook secret");
    }
    ensure!(compose["secrets"]["inquest-webhook"]["file"].is_string(), "the webhook secret must be declared");
    for (name, svc) in services {
        if !["inquest-migrate", "inquest-setup"].contains(&name.as_str()) {
            ensure!(svc["restart"] == "unless-stopped", "{name}: the restart policy must be unless-stopped");
        }
        ensure!(
            svc["healthcheck"].is_object(),
            "{name}: a healthcheck is missing (disable it explicitly when none applies)"
        );
        for port in svc["ports"].as_array().into_iter().flatten() {
            let port = port.as_str().context("ports in the short form")?;
            ensure!(port.starts_with("127.0.0.1:"), "{name}: port {port} must be bound to 127.0.0.1 only");
        }
        for mount in svc["volumes"].as_array().into_iter().flatten() {
            let mount = mount.as_str().context("volumes in the short form")?;
            let source = mount.split(':').next().unwrap_or_default();
            if let Some(rel) = source.strip_prefix("./") {
                ensure!(root().join(rel).exists(), "{name}: bind mount {source} is not in the repository");
            } else {
                ensure!(compose["volumes"].get(source).is_some(), "{name}: named volume {source} is not declared");
            }
        }
    }
    for app in ["inquest-migrate", "inquest-setup", "inquest", "inquest-worker"] {
        let env_files = service(app)?["env_file"].as_array().context("env_file as a list")?;
        ensure!(env_files.iter().any(|f| f["path"] == ".env"), "{app} must read .env");
    }
    Ok(())
}

#[test]
fn prometheus_scrapes_inquest_and_alertmanager_posts_to_it() -> Result<()> {
    let Some(v) = validators()? else { return Ok(()) };
    let prometheus = v.yaml(&root().join("deploy/compose/prometheus/prometheus.yml"))?;
    let scrapes_inquest = prometheus["scrape_configs"].as_array().into_iter().flatten().any(|job| {
        job["metrics_path"] == "/metrics"
            && job["static_configs"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["targets"].as_array().into_iter().flatten().any(|t| t == "inquest:8080"))
    });
    ensure!(scrapes_inquest, "prometheus must scrape inquest:8080/metrics");
    let alertmanager = v.yaml(&root().join("deploy/compose/alertmanager/alertmanager.yml"))?;
    let hooks: Vec<&Value> = alertmanager["receivers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["webhook_configs"].as_array().into_iter().flatten())
        .collect();
    ensure!(
        hooks.iter().any(|h| h["url"] == "http://inquest:8080/api/alertmanager" && h["send_resolved"] == true),
        "alertmanager must post firing and resolved alerts to inquest's webhook"
    );
    ensure!(
        hooks.iter().all(|h| h["http_config"]["authorization"]["credentials_file"] == "/run/secrets/inquest-webhook"),
        "alertmanager must authenticate with the integration's secret"
    );

    // Prometheus' own checkers, from the packages the alerting hook installs.
    let Some(prom) = require_env("INQUEST_TEST_PROMETHEUS_BIN")? else { return Ok(()) };
    let Some(am) = require_env("INQUEST_TEST_ALERTMANAGER_BIN")? else { return Ok(()) };
    let beside = |bin: &str, tool: &str| Path::new(bin).parent().unwrap_or(Path::new("/")).join(tool);
    let (promtool, amtool) = (beside(&prom, "promtool"), beside(&am, "amtool"));
    let prom_config = root().join("deploy/compose/prometheus/prometheus.yml");
    let am_config = root().join("deploy/compose/alertmanager/alertmanager.yml");
    passes(Command::new(&promtool).args(["check", "config"]).arg(&prom_config), "promtool check config")?;
    passes(Command::new(&amtool).arg("check-config").arg(&am_config), "amtool check-config")?;

    let dir = scratch()?;
    let bad = dir.join("alertmanager.yml");
    std::fs::write(&bad, with_inserted(&std::fs::read_to_string(&am_config)?, "route:\n", "  unknown_key: true\n")?)?;
    rejects(Command::new(&amtool).arg("check-config").arg(&bad), "amtool on a broken config", "unknown_key")
}

#[test]
fn ci_workflow_matches_the_github_schema() -> Result<()> {
    let Some(v) = validators()? else { return Ok(()) };
    let workflow = ".github/workflows/ci.yml";
    let schema = ["--builtin-schema", "vendor.github-workflows"];
    passes(v.tool("check-jsonschema").args(schema).arg(workflow), "check-jsonschema ci.yml")?;

    let parsed = v.yaml(&root().join(workflow))?;
    let job = &parsed["jobs"]["test"];
    ensure!(job["timeout-minutes"] == 90, "the job must have timeout-minutes: 90");
    let runs = job["steps"].as_array().context("steps")?.iter().filter_map(|s| s["run"].as_str()).collect::<Vec<_>>();
    ensure!(runs.last() == Some(&"scripts/test.sh"), "the last step must be exactly scripts/test.sh: {runs:?}");
    ensure!(job["env"]["CI"] == "true", "the test command must run with CI=true");

    let dir = scratch()?;
    let bad = dir.join("ci.yml");
    std::fs::write(&bad, with_inserted(&read(workflow)?, "    timeout-minutes: 90\n", "    unknown_key: true\n")?)?;
    rejects(v.tool("check-jsonschema").args(schema).arg(&bad), "check-jsonschema on a broken workflow", "unknown_key")
}

#[test]
fn grafana_dashboard_queries_metrics_the_code_exports() -> Result<()> {
    let Some(v) = validators()? else { return Ok(()) };
    let grafana = root().join("deploy/compose/grafana");
    let datasources = v.yaml(&grafana.join("provisioning/datasources/prometheus.yml"))?;
    let uids: BTreeSet<&str> =
        datasources["datasources"].as_array().into_iter().flatten().filter_map(|d| d["uid"].as_str()).collect();
    let providers = v.yaml(&grafana.join("provisioning/dashboards/inquest.yml"))?;
    ensure!(
        providers["providers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["options"]["path"] == "/etc/grafana/dashboards"),
        "the dashboard provider must read the folder compose mounts"
    );

    let dashboard: Value = serde_json::from_str(&read("deploy/compose/grafana/dashboards/inquest.json")?)
        .context("the dashboard is JSON")?;
    let mut ids = BTreeSet::new();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().context("panels")? {
        ensure!(ids.insert(panel["id"].as_u64().context("panel id")?), "panel ids must be unique");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let uid = target["datasource"]["uid"].as_str().context("a target's datasource uid")?;
            ensure!(uids.contains(uid), "datasource {uid} is not provisioned");
            queried.extend(metric_names(target["expr"].as_str().context("a target's expr")?));
        }
    }
    let sources = rust_sources()?;
    for name in &queried {
        ensure!(exported(name, &sources), "the dashboard queries {name}, which no crate registers");
    }
    for name in DASHBOARD_METRICS {
        ensure!(queried.iter().any(|q| series_base(q) == name), "the dashboard must show {name}");
    }
    // The lookup itself must be able to say no.
    ensure!(!exported("inquest_no_such_metric_total", &sources), "the metric lookup found a made-up metric");
    Ok(())
}

#[test]
fn env_example_lists_every_setting() -> Result<()> {
    let source = read("crates/inquest-config/src/lib.rs")? + &read("crates/inquest-config/src/telemetry.rs")?;
    let settings = setting_variables(&source)?;
    ensure!(settings.len() > 20, "the settings parser found too few settings: {settings:?}");
    let example = read(".env.example")?;
    let mut listed = BTreeSet::new();
    for line in example.lines() {
        let active = !line.trim_start().starts_with('#');
        let line = line.trim_start().trim_start_matches('#').trim_start();
        let Some((name, _)) = line.split_once('=') else { continue };
        if !name.starts_with("INQUEST_") || name.contains(' ') {
            continue;
        }
        // Active lines reach the containers, where an unknown INQUEST_ name stops Inquest.
        if active {
            ensure!(
                settings.contains(name) || NOT_SETTINGS.contains(&name),
                ".env.example sets {name}, which is not a setting"
            );
        }
        listed.insert(name.to_string());
    }
    let missing: Vec<_> = settings.difference(&listed).collect();
    ensure!(missing.is_empty(), ".env.example does not list {missing:?}");
    Ok(())
}

/// Reads `(field, type)` of a settings struct by name.
type Fields<'a> = dyn Fn(&str) -> Result<Vec<(String, String)>> + 'a;

/// `INQUEST_<SECTION>_<KEY>` for every field of `Settings` and of its section structs,
/// read from the config crate's source.
fn setting_variables(source: &str) -> Result<BTreeSet<String>> {
    let fields = |name: &str| -> Result<Vec<(String, String)>> {
        let start = source.find(&format!("pub struct {name} {{")).with_context(|| format!("struct {name}"))?;
        let body = &source[start..];
        let body = &body[..body.find("\n}").with_context(|| format!("end of {name}"))?];
        Ok(body
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub ")?.split_once(':'))
            .map(|(k, t)| (k.trim().to_string(), t.trim().trim_end_matches(',').to_string()))
            .collect())
    };
    // Sections nest (`[telemetry.remote_write]` is `INQUEST_TELEMETRY_REMOTE_WRITE_*`).
    fn expand(fields: &Fields<'_>, prefix: &str, ty: &str, vars: &mut BTreeSet<String>) -> Result<()> {
        for (key, ty) in fields(ty)? {
            let name = format!("{prefix}_{}", key.to_uppercase());
            if ty.ends_with("Settings") {
                expand(fields, &name, &ty, vars)?;
            } else {
                vars.insert(name);
            }
        }
        Ok(())
    }
    let mut vars = BTreeSet::new();
    expand(&fields, "INQUEST", "Settings", &mut vars)?;
    Ok(vars)
}

/// The `inquest_*` series a PromQL expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("inquest_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// A histogram's `_bucket`, `_sum` and `_count` series belong to the metric itself.
fn series_base(series: &str) -> &str {
    ["_bucket", "_sum", "_count"].iter().find_map(|s| series.strip_suffix(s)).unwrap_or(series)
}

/// Whether some crate's source names the metric of `series` as a string literal.
fn exported(series: &str, sources: &[String]) -> bool {
    let quoted = |name: &str| format!("\"{name}\"");
    sources.iter().any(|s| s.contains(&quoted(series)) || s.contains(&quoted(series_base(series))))
}

/// Every `.rs` file under `crates/*/src`.
fn rust_sources() -> Result<Vec<String>> {
    fn walk(dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for krate in std::fs::read_dir(root().join("crates"))? {
        let src = krate?.path().join("src");
        if src.is_dir() {
            walk(&src, &mut out)?;
        }
    }
    ensure!(!out.is_empty(), "no Rust sources under crates/");
    Ok(out)
}

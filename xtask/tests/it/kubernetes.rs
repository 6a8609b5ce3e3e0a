//! The Kubernetes manifests of `deploy/k8s`: every overlay renders with kustomize, passes
//! `kubernetes-validate --strict` against the Kubernetes 1.30 schemas, and keeps what the
//! deployment relies on (limits, probes, the securityContext, pinned images, the commands
//! of the API, the workers and the migrations Job).
//!
//! The tools come from `scripts/ci.d/65-kubernetes.sh` (`INQUEST_TEST_KUSTOMIZE`,
//! `INQUEST_TEST_KUBERNETES_VALIDATE`); without them the tests skip locally and fail
//! under `CI=true`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

const KUSTOMIZE_VAR: &str = "INQUEST_TEST_KUSTOMIZE";
const VALIDATE_VAR: &str = "INQUEST_TEST_KUBERNETES_VALIDATE";
/// The oldest Kubernetes the manifests are meant for; its schemas are the strictest.
const KUBERNETES_VERSION: &str = "1.30.0";
const OVERLAYS: &[&str] = &["dev", "production"];
const NAMESPACE: &str = "inquest";
const IMAGE: &str = "ghcr.io/inquest/inquest";
const SECRET: &str = "inquest-secrets";
const UID: i64 = 10001;

struct Tools {
    kustomize: PathBuf,
    validate: PathBuf,
}

impl Tools {
    /// Both tools, or `None` (with the reason printed) when the test should skip.
    fn find(test: &str) -> Option<Tools> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty()).map(PathBuf::from);
        match (var(KUSTOMIZE_VAR), var(VALIDATE_VAR)) {
            (Some(kustomize), Some(validate)) => Some(Tools { kustomize, validate }),
            _ => {
                let why = format!(
                    "{KUSTOMIZE_VAR} or {VALIDATE_VAR} is not set (scripts/ci.d/65-kubernetes.sh installs them)"
                );
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("{test}: {why} under CI=true");
                }
                eprintln!("skipping {test}: {why}");
                None
            }
        }
    }

    /// The rendered YAML of a kustomization folder. The variable names either a kustomize
    /// binary (`kustomize build DIR`) or a kubectl with its built-in kustomize.
    fn render(&self, dir: &Path) -> Result<String> {
        let standalone = self.kustomize.file_stem().is_some_and(|s| s == "kustomize");
        let verb = if standalone { "build" } else { "kustomize" };
        let out = Command::new(&self.kustomize)
            .arg(verb)
            .arg(dir)
            .output()
            .with_context(|| format!("running {}", self.kustomize.display()))?;
        ensure!(out.status.success(), "rendering {} failed: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).context("rendered manifests are not UTF-8")
    }

    fn validate(&self, file: &Path) -> Result<Output> {
        Command::new(&self.validate)
            .args(["--strict", "-k", KUBERNETES_VERSION, "--no-warn"])
            .arg(file)
            .output()
            .with_context(|| format!("running {}", self.validate.display()))
    }

    /// The documents of a YAML stream as JSON values, parsed by the interpreter that runs
    /// kubernetes-validate (its shebang names it; PyYAML is one of its dependencies), so no
    /// YAML crate is needed here.
    fn parse(&self, yaml: &str) -> Result<Vec<Value>> {
        let script =
            std::fs::read_to_string(&self.validate).with_context(|| format!("reading {}", self.validate.display()))?;
        let shebang = script.lines().next().and_then(|l| l.strip_prefix("#!")).context("no shebang line")?;
        let mut words = shebang.split_whitespace();
        let interpreter = words.next().context("empty shebang line")?;
        let mut child = Command::new(interpreter)
            .args(words)
            .args([
                "-c",
                "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {interpreter}"))?;
        child.stdin.take().context("stdin of the parser")?.write_all(yaml.as_bytes())?;
        let out = child.wait_with_output()?;
        ensure!(out.status.success(), "parsing YAML failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).context("parser output is not JSON")
    }
}

fn k8s_dir() -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask has a parent")?;
    Ok(root.join("deploy").join("k8s"))
}

/// A file of its own under the temp dir, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn write(label: &str, text: &str) -> Result<TempFile> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("inquest-k8s-{}-{}-{label}.yaml", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(TempFile(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One overlay, rendered and parsed.
struct Rendered {
    overlay: &'static str,
    yaml: String,
    docs: Vec<Value>,
}

impl Rendered {
    fn of(tools: &Tools, overlay: &'static str) -> Result<Rendered> {
        let yaml = tools.render(&k8s_dir()?.join("overlays").join(overlay))?;
        let docs = tools.parse(&yaml)?;
        ensure!(!docs.is_empty(), "{overlay}: rendered nothing");
        Ok(Rendered { overlay, yaml, docs })
    }

    fn find(&self, kind: &str, name: &str) -> Result<&Value> {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .with_context(|| format!("{}: no {kind} {name}", self.overlay))
    }

    /// The single ConfigMap (its name carries kustomize's content hash).
    fn config(&self) -> Result<&Value> {
        let maps: Vec<&Value> = self.docs.iter().filter(|d| d["kind"] == "ConfigMap").collect();
        ensure!(maps.len() == 1, "{}: expected one ConfigMap, found {}", self.overlay, maps.len());
        Ok(maps[0])
    }

    /// Every workload's pod template, with the workload's `kind/name`.
    fn pod_templates(&self) -> Vec<(String, &Value)> {
        self.docs
            .iter()
            .filter(|d| matches!(d["kind"].as_str(), Some("Deployment" | "StatefulSet" | "DaemonSet" | "Job")))
            .map(|d| {
                (
                    format!("{}/{}", d["kind"].as_str().unwrap_or("?"), str_of(&d["metadata"]["name"])),
                    &d["spec"]["template"],
                )
            })
            .chain(self.docs.iter().filter(|d| d["kind"] == "CronJob").map(|d| {
                (format!("CronJob/{}", str_of(&d["metadata"]["name"])), &d["spec"]["jobTemplate"]["spec"]["template"])
            }))
            .collect()
    }
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn containers(pod_spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers"].into_iter().flat_map(|k| pod_spec[k].as_array().into_iter().flatten())
}

fn args(container: &Value) -> Vec<&str> {
    container["command"]
        .as_array()
        .into_iter()
        .chain(container["args"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"].as_array()?.iter().find(|e| e["name"] == name)?["value"].as_str()
}

/// A securityContext field as it applies to the container: its own, else the pod's.
fn effective<'a>(pod_spec: &'a Value, container: &'a Value, path: &[&str]) -> &'a Value {
    let walk = |mut v: &'a Value| {
        for p in path {
            v = &v[*p];
        }
        v
    };
    let own = walk(&container["securityContext"]);
    if own.is_null() { walk(&pod_spec["securityContext"]) } else { own }
}

fn http_probe<'a>(container: &'a Value, probe: &str) -> Option<(&'a str, &'a Value)> {
    let get = &container[probe]["httpGet"];
    Some((get["path"].as_str()?, &get["port"]))
}

/// What every container of every workload must have. Returns the problems found.
fn container_problems(r: &Rendered) -> Result<Vec<String>> {
    let config = r.config()?;
    let config_name = str_of(&config["metadata"]["name"]);
    let data_dir = config["data"]["INQUEST_DATA_DIR"].as_str().context("the ConfigMap sets INQUEST_DATA_DIR")?;
    let mut problems = Vec::new();
    for (workload, template) in r.pod_templates() {
        let pod = &template["spec"];
        let empty_dirs: BTreeSet<&str> = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["emptyDir"].is_object())
            .filter_map(|v| v["name"].as_str())
            .collect();
        for c in containers(pod) {
            let at = format!("{}: {workload} container {}", r.overlay, str_of(&c["name"]));
            let mut problem = |what: String| problems.push(format!("{at}: {what}"));

            for side in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    if c["resources"][side][resource].is_null() {
                        problem(format!("no resources.{side}.{resource}"));
                    }
                }
            }

            let image = str_of(&c["image"]);
            match image.rsplit_once(':') {
                Some((name, tag)) if name == IMAGE && !tag.is_empty() && tag != "latest" && !tag.contains('/') => {}
                _ => problem(format!("image {image:?} is not {IMAGE} with a pinned tag (not latest)")),
            }

            let sc = |path: &[&str]| effective(pod, c, path);
            if sc(&["runAsNonRoot"]) != &json!(true) {
                problem("runAsNonRoot is not true".into());
            }
            if sc(&["runAsUser"]) != &json!(UID) {
                problem(format!("runAsUser is not {UID}"));
            }
            if sc(&["seccompProfile", "type"]) != "RuntimeDefault" {
                problem("seccompProfile is not RuntimeDefault".into());
            }
            // These three exist only on the container's own securityContext.
            let own = &c["securityContext"];
            if own["readOnlyRootFilesystem"] != json!(true) {
                problem("readOnlyRootFilesystem is not true".into());
            }
            if own["allowPrivilegeEscalation"] != json!(false) {
                problem("allowPrivilegeEscalation is not false".into());
            }
            if !own["capabilities"]["drop"].as_array().is_some_and(|d| d.iter().any(|x| x == "ALL")) {
                problem("capabilities do not drop ALL".into());
            }

            // The root filesystem is read-only: the data dir must be a writable emptyDir.
            let writable = c["volumeMounts"].as_array().into_iter().flatten().any(|m| {
                m["mountPath"] == data_dir && empty_dirs.contains(str_of(&m["name"])) && m["readOnly"] != json!(true)
            });
            if !writable {
                problem(format!("no writable emptyDir at the data dir {data_dir}"));
            }

            let from: Vec<(&str, &str)> = c["envFrom"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    if let Some(n) = e["configMapRef"]["name"].as_str() {
                        Some(("configMap", n))
                    } else {
                        e["secretRef"]["name"].as_str().map(|n| ("secret", n))
                    }
                })
                .collect();
            if !from.contains(&("configMap", config_name)) {
                problem(format!("does not read the ConfigMap {config_name}"));
            }
            if !from.contains(&("secret", SECRET)) {
                problem(format!("does not read the Secret {SECRET}"));
            }

            // A container with a port serves HTTP: it is probed on the health routes.
            let ports = c["ports"].as_array().map_or(0, Vec::len);
            if ports > 0 {
                for (probe, path) in
                    [("startupProbe", "/health"), ("livenessProbe", "/health"), ("readinessProbe", "/health/ready")]
                {
                    match http_probe(c, probe) {
                        Some((p, port)) if p == path && port == "http" => {}
                        found => problem(format!("{probe} is {found:?}, wanted GET {path} on port http")),
                    }
                }
            } else if ["startupProbe", "livenessProbe", "readinessProbe"].iter().any(|p| !c[*p]["httpGet"].is_null()) {
                problem("an HTTP probe on a container without a port".into());
            }
        }
    }
    Ok(problems)
}

/// The shape of the deployment: which command runs where, the Service, the HPA, the PDB.
fn workload_problems(r: &Rendered) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut problem = |what: String| problems.push(format!("{}: {what}", r.overlay));

    let ns = r.find("Namespace", NAMESPACE)?;
    ensure!(ns["metadata"]["namespace"].is_null(), "the Namespace is cluster-scoped");
    for d in r.docs.iter().filter(|d| d["kind"] != "Namespace") {
        if d["metadata"]["namespace"] != NAMESPACE {
            problem(format!(
                "{} {} is not in namespace {NAMESPACE}",
                str_of(&d["kind"]),
                str_of(&d["metadata"]["name"])
            ));
        }
    }
    if r.docs.iter().any(|d| d["kind"] == "Secret") {
        problem("a Secret is rendered: secrets come from secrets.yaml.example, never from the kustomization".into());
    }
    for (key, _) in r.config()?["data"].as_object().context("ConfigMap data")? {
        if !key.starts_with("INQUEST_") {
            problem(format!("ConfigMap key {key} is not an INQUEST_ setting"));
        }
    }

    let api = r.find("Deployment", "inquest-api")?;
    let api_pod = &api["spec"]["template"];
    let api_container = &api_pod["spec"]["containers"][0];
    let api_args = args(api_container);
    if api_args.first() != Some(&"serve") || !api_args.windows(2).any(|w| w == ["--bind", "0.0.0.0:8080"]) {
        problem(format!("the API runs {api_args:?}, wanted serve --bind 0.0.0.0:8080"));
    }
    if !api_container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["name"] == "http" && p["containerPort"] == 8080)
    {
        problem("the API does not expose port http (8080)".into());
    }
    let annotations = &api_pod["metadata"]["annotations"];
    if annotations["prometheus.io/scrape"] != "true"
        || annotations["prometheus.io/port"] != "8080"
        || annotations["prometheus.io/path"] != "/metrics"
    {
        problem(format!("the API pods lack the prometheus scrape annotations: {annotations}"));
    }

    let worker = r.find("Deployment", "inquest-worker")?;
    let worker_container = &worker["spec"]["template"]["spec"]["containers"][0];
    if args(worker_container) != ["worker"] {
        problem(format!("the workers run {:?}, wanted worker", args(worker_container)));
    }
    if !env_value(worker_container, "INQUEST_INTAKE_WORKERS").is_some_and(|v| v.parse::<u32>().is_ok_and(|n| n > 0)) {
        problem("the workers do not set INQUEST_INTAKE_WORKERS to a positive count".into());
    }
    // The API queues jobs; investigating is the workers' job.
    if env_value(api_container, "INQUEST_INTAKE_WORKERS") != Some("0") {
        problem("the API does not set INQUEST_INTAKE_WORKERS=0".into());
    }
    if !worker["spec"]["replicas"].is_null() {
        problem("the worker Deployment sets replicas, which fights its HPA".into());
    }

    let job = r.find("Job", "inquest-migrate")?;
    let job_container = &job["spec"]["template"]["spec"]["containers"][0];
    if args(job_container) != ["migrate"] {
        problem(format!("the migrations Job runs {:?}, wanted migrate", args(job_container)));
    }
    if !job["spec"]["backoffLimit"].is_u64() || !job["spec"]["ttlSecondsAfterFinished"].is_u64() {
        problem("the migrations Job lacks backoffLimit or ttlSecondsAfterFinished".into());
    }

    let service = r.find("Service", "inquest-api")?;
    let selects_api = |selector: &Value| {
        selector["app.kubernetes.io/component"] == "api" && selector["app.kubernetes.io/name"] == "inquest"
    };
    if service["spec"]["type"] != "ClusterIP"
        || !selects_api(&service["spec"]["selector"])
        || !service["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "http" && p["port"] == 8080 && p["targetPort"] == "http")
    {
        problem(format!("the API Service is not ClusterIP http 8080 to the API pods: {}", service["spec"]));
    }
    if !selects_api(&api_pod["metadata"]["labels"]) {
        problem("the API pods do not carry the labels the Service selects".into());
    }

    let hpa = r.find("HorizontalPodAutoscaler", "inquest-worker")?;
    if hpa["apiVersion"] != "autoscaling/v2"
        || hpa["spec"]["scaleTargetRef"]["name"] != "inquest-worker"
        || !hpa["spec"]["metrics"].as_array().into_iter().flatten().any(|m| m["resource"]["name"] == "cpu")
    {
        problem(format!("the worker HPA is not autoscaling/v2 on CPU for inquest-worker: {}", hpa["spec"]));
    }

    let pdb = r.find("PodDisruptionBudget", "inquest-api")?;
    if !selects_api(&pdb["spec"]["selector"]["matchLabels"]) {
        problem("the PodDisruptionBudget does not select the API pods".into());
    }
    Ok(problems)
}

fn replicas(r: &Rendered) -> Result<(u64, u64, u64)> {
    let api = r.find("Deployment", "inquest-api")?["spec"]["replicas"].as_u64().context("API replicas")?;
    let hpa = &r.find("HorizontalPodAutoscaler", "inquest-worker")?["spec"];
    let min = hpa["minReplicas"].as_u64().context("HPA minReplicas")?;
    let max = hpa["maxReplicas"].as_u64().context("HPA maxReplicas")?;
    Ok((api, min, max))
}

fn report(problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    bail!("{} problems:\n{}", problems.len(), problems.join("\n"))
}

#[test]
fn every_overlay_passes_strict_validation() -> Result<()> {
    let Some(tools) = Tools::find("every_overlay_passes_strict_validation") else { return Ok(()) };
    for overlay in OVERLAYS {
        let r = Rendered::of(&tools, overlay)?;
        let file = TempFile::write(overlay, &r.yaml)?;
        let out = tools.validate(&file.0)?;
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        ensure!(out.status.success(), "{overlay}: kubernetes-validate --strict rejected the manifests:\n{said}");
        // Every rendered resource was checked, none passed by being skipped.
        let passed = said.lines().filter(|l| l.contains(" passed for resource ")).count();
        ensure!(passed == r.docs.len(), "{overlay}: {passed} of {} resources validated:\n{said}", r.docs.len());
    }
    Ok(())
}

#[test]
fn every_overlay_keeps_the_invariants() -> Result<()> {
    let Some(tools) = Tools::find("every_overlay_keeps_the_invariants") else { return Ok(()) };
    let mut problems = Vec::new();
    for overlay in OVERLAYS {
        let r = Rendered::of(&tools, overlay)?;
        problems.extend(container_problems(&r)?);
        problems.extend(workload_problems(&r)?);
    }
    report(problems)
}

#[test]
fn the_overlays_size_the_deployment() -> Result<()> {
    let Some(tools) = Tools::find("the_overlays_size_the_deployment") else { return Ok(()) };
    let dev = Rendered::of(&tools, "dev")?;
    ensure!(replicas(&dev)? == (1, 1, 1), "dev: API replicas and worker HPA bounds are {:?}", replicas(&dev)?);
    let dev_image =
        str_of(&dev.find("Deployment", "inquest-api")?["spec"]["template"]["spec"]["containers"][0]["image"]);
    ensure!(dev_image == format!("{IMAGE}:dev"), "dev runs {dev_image}");

    let production = Rendered::of(&tools, "production")?;
    let sizes = replicas(&production)?;
    ensure!(sizes == (3, 2, 10), "production: API replicas and worker HPA bounds are {sizes:?}");
    for name in ["inquest-api", "inquest-worker"] {
        let pod = &production.find("Deployment", name)?["spec"]["template"]["spec"];
        let spread = pod["topologySpreadConstraints"].as_array().is_some_and(|c| !c.is_empty())
            || !pod["affinity"]["podAntiAffinity"].is_null();
        ensure!(spread, "production: {name} pods are not spread over nodes");
    }
    Ok(())
}

#[test]
fn the_secret_template_validates_and_is_the_one_referenced() -> Result<()> {
    let Some(tools) = Tools::find("the_secret_template_validates_and_is_the_one_referenced") else { return Ok(()) };
    let base = k8s_dir()?.join("base");
    let template = base.join("secrets.yaml.example");
    let out = tools.validate(&template)?;
    ensure!(out.status.success(), "secrets.yaml.example: {}", String::from_utf8_lossy(&out.stdout));

    let text = std::fs::read_to_string(&template).context("reading secrets.yaml.example")?;
    let docs = tools.parse(&text)?;
    let secret = docs.first().context("secrets.yaml.example holds no document")?;
    ensure!(secret["kind"] == "Secret" && secret["metadata"]["name"] == SECRET, "the template is not Secret {SECRET}");
    ensure!(secret["metadata"]["namespace"] == NAMESPACE, "the template is not in namespace {NAMESPACE}");
    let keys = secret["stringData"].as_object().context("the template has stringData")?;
    ensure!(keys.contains_key("INQUEST_POSTGRES_URL"), "the template lacks INQUEST_POSTGRES_URL");
    ensure!(keys.keys().all(|k| k.starts_with("INQUEST_")), "a template key is not an INQUEST_ setting");

    let kustomization = std::fs::read_to_string(base.join("kustomization.yaml")).context("reading kustomization")?;
    let kustomization = tools.parse(&kustomization)?;
    let resources = kustomization.first().map(|k| k["resources"].clone()).unwrap_or_default();
    let listed = resources.as_array().into_iter().flatten().filter_map(Value::as_str);
    ensure!(!listed.clone().any(|f| f.contains("secret")), "the kustomization must not include the Secret template");
    ensure!(listed.count() > 0, "the base kustomization lists no resources");
    Ok(())
}

#[test]
fn strict_validation_rejects_an_unknown_field() -> Result<()> {
    let Some(tools) = Tools::find("strict_validation_rejects_an_unknown_field") else { return Ok(()) };
    let mut r = Rendered::of(&tools, "dev")?;
    let worker = r
        .docs
        .iter_mut()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "inquest-worker")
        .context("dev: no worker Deployment")?;
    worker["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = json!({ "path": "/health" });
    // JSON documents are YAML documents: one stream, as kustomize would print it.
    let stream: Vec<String> = r.docs.iter().map(Value::to_string).collect();
    let file = TempFile::write("unknown-field", &stream.join("\n---\n"))?;
    let out = tools.validate(&file.0)?;
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    ensure!(!out.status.success(), "an unknown field passed strict validation:\n{said}");
    ensure!(said.contains("httpGett"), "the rejection does not name the unknown field:\n{said}");
    ensure!(said.contains("deployment/inquest-worker"), "the rejection does not name the resource:\n{said}");
    Ok(())
}

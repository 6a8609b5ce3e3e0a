//! Access through the built binary: the project, user, member and token commands
//! (each audited as `cli`), and `inquest serve`'s safe defaults: the first owner's
//! password printed once, credentials checked, an open server refused off loopback.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Server, free_port, inquest, token};

fn fails(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inquest"));
    cmd.arg("--data-dir").arg(data).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env_remove("INQUEST_POSTGRES_URL").env_remove("INQUEST_CONFIG");
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().expect("run inquest");
    if let Some(text) = stdin {
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("ran");
    assert!(!out.status.success(), "inquest {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_commands_manage_projects_users_and_tokens_and_are_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    inquest(&data, &["projects", "create", "team-b", "--name", "Team B"], None);
    assert!(inquest(&data, &["projects", "list"], None).contains("team-b"));
    let again = fails(&data, &["projects", "create", "team-b"], None);
    assert!(again.contains("team-b"), "{again}");
    let bad = fails(&data, &["projects", "create", "Team B"], None);
    assert!(bad.contains("project"), "{bad}");

    let short = fails(
        &data,
        &["users", "add", "ops", "--password-stdin", "--project", "default", "--role", "admin"],
        Some("short\n"),
    );
    assert!(short.contains("password"), "{short}");
    inquest(
        &data,
        &["users", "add", "ops", "--password-stdin", "--project", "default", "--role", "admin"],
        Some("a-long-enough-password\n"),
    );
    let users = inquest(&data, &["users", "list"], None);
    assert!(users.contains("ops") && !users.contains("$argon2"), "{users}");
    inquest(&data, &["members", "set", "ops", "--project", "team-b", "--role", "viewer"], None);

    let created =
        inquest(&data, &["tokens", "create", "--project", "default", "--role", "viewer", "--name", "ci"], None);
    let text = created.split_whitespace().find(|w| w.starts_with("inq_")).expect("token printed").to_string();
    assert!(created.to_lowercase().contains("not be shown again"), "{created}");
    let listed = inquest(&data, &["tokens", "list", "--project", "default"], None);
    assert!(listed.contains("ci") && !listed.contains(&text), "{listed}");
    let id = listed
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find(|w| w.len() == 36 && w.matches('-').count() == 4)
        .expect("the token id is listed")
        .to_string();
    let elsewhere = fails(&data, &["tokens", "revoke", &id, "--project", "team-b"], None);
    assert!(!elsewhere.is_empty());
    inquest(&data, &["tokens", "revoke", &id, "--project", "default"], None);
    let owner = token(&data, "default", "owner");
    // A deployment's setup step: the same integration and secret twice changes nothing.
    let secret_file = dir.path().join("webhook-secret");
    std::fs::write(&secret_file, "a-webhook-secret-of-the-stack-0123\n").expect("secret file");
    let create = ["integrations", "create", "--project", "default", "--kind", "alertmanager", "--name", "am"];
    let secret_arg = ["--secret-file", secret_file.to_str().expect("utf-8")];
    let args: Vec<&str> = create.iter().chain(secret_arg.iter()).copied().collect();
    assert!(inquest(&data, &args, None).contains("created"));
    assert!(inquest(&data, &args, None).contains("unchanged"));
    let listed = inquest(&data, &["integrations", "list", "--project", "default"], None);
    assert!(listed.contains("am") && !listed.contains("a-webhook-secret"), "{listed}");

    let server = Server::start(&data, &[("INQUEST_AUTH_REQUIRED", "true"), ("INQUEST_INTAKE_WORKERS", "0")]).await;
    let client = reqwest::Client::new();
    let get = |auth: String, path: &str| {
        let (client, url) = (client.clone(), format!("{}{path}", server.url));
        async move { client.get(url).header("authorization", auth).send().await.expect("get") }
    };
    assert_eq!(get(format!("Bearer {text}"), "/api/incidents").await.status(), 401, "a revoked token");
    let alert = serde_json::json!({"service": "checkout", "severity": "high", "message": "from the stack"});
    let posted = client
        .post(format!("{}/api/alerts", server.url))
        .header("authorization", "Bearer a-webhook-secret-of-the-stack-0123")
        .json(&alert)
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), 202, "the integration's secret posts alerts");
    let audit: serde_json::Value =
        get(format!("Bearer {owner}"), "/api/audit?actor=cli&limit=100").await.json().await.expect("json");
    let actions: Vec<&str> =
        audit["entries"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["token.create", "token.revoke", "member.set"] {
        assert!(actions.contains(&action), "{action} not audited in default: {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_makes_the_first_owner_once_and_checks_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let env = [("INQUEST_AUTH_REQUIRED", "true"), ("INQUEST_INTAKE_WORKERS", "0")];
    let server = Server::start(&data, &env).await;
    let client = reqwest::Client::new();
    let r = client.get(format!("{}/api/incidents", server.url)).send().await.expect("get");
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(
        client.get(format!("{}/health", server.url)).send().await.expect("get").status(),
        200,
        "probes stay open"
    );
    let log = std::fs::read_to_string(data.with_extension("log")).expect("log");
    let password = log
        .lines()
        .skip_while(|l| !l.contains("one-time password"))
        .nth(1)
        .map(|l| l.trim().to_string())
        .expect("the one-time password is printed");
    let login = serde_json::json!({"login": "admin", "password": password});
    let r = client.post(format!("{}/api/auth/login", server.url)).json(&login).send().await.expect("login");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    server.stop();

    let again = Server::start(&data, &env).await;
    again.stop();
    let log = std::fs::read_to_string(data.with_extension("log")).expect("log");
    assert_eq!(log.matches("one-time password").count(), 1, "the password was printed twice:\n{log}");
}

#[test]
fn an_open_server_is_refused_off_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_inquest"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--bind", &format!("0.0.0.0:{}", free_port())])
        .env("INQUEST_AUTH_REQUIRED", "false")
        .env_remove("INQUEST_POSTGRES_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run inquest serve");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("an open server started on 0.0.0.0");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).expect("stderr");
    assert!(!status.success());
    assert!(err.contains("refusing to serve"), "{err}");
}

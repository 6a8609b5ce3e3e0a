//! The `change_type` of a changed file, from its path and, when the diff is known,
//! from its changed lines. Pure; used by the git sync (path and diff) and the GitHub
//! push webhook (path only).
//!
//! The rules are tried in this order and the first that matches wins:
//!
//! 1. `db_migration`: a file under a migrations folder (`migrations/`, `migrate/`,
//!    `alembic/`, `flyway/`, `liquibase/`, `changelog/` of a database tool), or a
//!    `*.sql` file whose changed lines hold DDL (`CREATE|ALTER|DROP TABLE …`); with
//!    the path alone, any `*.sql` file.
//! 2. `dependency`: lockfiles and manifests (`Cargo.lock`, `Cargo.toml`,
//!    `package.json`, `package-lock.json`, `yarn.lock`, `pnpm-lock.yaml`, `go.mod`,
//!    `go.sum`, `requirements*.txt`, `poetry.lock`, `pyproject.toml`, `Pipfile*`,
//!    `pom.xml`, `build.gradle*`, `Gemfile*`, `composer.*`).
//! 3. `test`: test folders and test file names (`tests/`, `__tests__/`, `spec/`,
//!    `*_test.go`, `test_*.py`, `*.test.ts`, `*Test.java`).
//! 4. `docs`: documentation (`docs/`, `*.md`, `*.rst`, `*.adoc`, `README`, `CHANGELOG`).
//! 5. `timeout_retry`: the changed lines mention a timeout, a retry, a backoff or a deadline.
//! 6. `http_client`: the changed lines of source code use an HTTP client API.
//! 7. `auth`: a path word says auth, oauth, jwt, session or permission.
//! 8. `config`: configuration files (yaml, toml, ini, json, env, properties, conf,
//!    Helm values).
//! 9. `shared_util`: shared libraries (`lib/`, `libs/`, `common/`, `shared/`, `pkg/`,
//!    `util/`, `utils/` folders).
//! 10. `other`.
//!
//! Tests and docs come before the content rules: a test that changes a timeout is a
//! test change, it cannot break production. Content rules come before the path rules
//! of auth, config and shared code, because a timeout edited in a config file says
//! more than "a config file changed".

use std::sync::LazyLock;

use inquest_domain::FileChangeType;
use regex::Regex;

fn re(pattern: &str) -> Regex {
    // The patterns are constants checked by the unit tests below.
    #[allow(clippy::unwrap_used)]
    Regex::new(pattern).unwrap()
}

static DDL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(create|alter|drop|rename|truncate)\s+(table|index|unique\s+index|view|materialized\s+view|schema|sequence|type|column|constraint|trigger|function)\b|\badd\s+(column|constraint)\b",
    )
});

static TIMEOUT_RETRY: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)time_?outs?|retr(y|ies|ied|ying)|back_?off|deadline|circuit_?breaker"));

static HTTP_CLIENT: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"reqwest::|hyper::client|ureq::|\bhttp\.(Client|NewRequest|Get|Post|Head|DefaultClient|Transport)\b|",
        r"\brequests\.(get|post|put|patch|delete|head|request|Session)\b|\bhttpx\.|\baiohttp\.|\burllib|",
        r"\baxios\b|\bfetch\(|\bXMLHttpRequest\b|\bsuperagent\b|\bgot\(|",
        r"\bHttpClient\b|\bOkHttpClient\b|\bRestTemplate\b|\bWebClient\b|\bFeignClient\b|\bHttpURLConnection\b|",
        r"\bFaraday\b|\bHTTParty\b|Net::HTTP|\bcurl_exec\b|\bGuzzle"
    ))
});

/// The change type of `path`, with its unified diff when known (`None`: the path alone).
pub fn change_type(path: &str, diff: Option<&str>) -> FileChangeType {
    let p = Path::new(path);
    if is_migration(&p, diff) {
        FileChangeType::DbMigration
    } else if is_dependency(&p) {
        FileChangeType::Dependency
    } else if is_test(&p) {
        FileChangeType::Test
    } else if is_docs(&p) {
        FileChangeType::Docs
    } else if diff.is_some_and(|d| changed_lines(d).any(|l| TIMEOUT_RETRY.is_match(l))) {
        FileChangeType::TimeoutRetry
    } else if is_code(&p) && diff.is_some_and(|d| changed_lines(d).any(|l| HTTP_CLIENT.is_match(l))) {
        FileChangeType::HttpClient
    } else if is_auth(&p) {
        FileChangeType::Auth
    } else if is_config(&p) {
        FileChangeType::Config
    } else if is_shared(&p) {
        FileChangeType::SharedUtil
    } else {
        FileChangeType::Other
    }
}

/// Added and removed lines of a unified diff, without their `+`/`-` and without the
/// `+++`/`---` file headers.
pub fn changed_lines(diff: &str) -> impl Iterator<Item = &str> {
    diff.lines()
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---"))
        .filter_map(|l| l.strip_prefix('+').or_else(|| l.strip_prefix('-')))
}

/// A path cut into what the rules look at.
struct Path {
    /// Folders, lowercase.
    dirs: Vec<String>,
    /// The file name as written.
    name: String,
    /// The file name, lowercase.
    lower: String,
    /// The extension, lowercase (`""` for none).
    ext: String,
}

impl Path {
    fn new(path: &str) -> Path {
        let parts: Vec<&str> = path.split(['/', '\\']).filter(|s| !s.is_empty()).collect();
        let name = parts.last().copied().unwrap_or_default().to_string();
        let dirs = parts[..parts.len().saturating_sub(1)].iter().map(|d| d.to_ascii_lowercase()).collect();
        let lower = name.to_ascii_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e.to_string()).unwrap_or_default();
        Path { dirs, name, lower, ext }
    }

    fn in_dir(&self, names: &[&str]) -> bool {
        self.dirs.iter().any(|d| names.contains(&d.as_str()))
    }

    /// Every word of the path: split at separators, punctuation and camelCase humps.
    fn words(&self) -> Vec<String> {
        let mut words = Vec::new();
        for part in self.dirs.iter().map(String::as_str).chain([self.name.as_str()]) {
            let mut word = String::new();
            let mut prev_lower = false;
            for c in part.chars() {
                if !c.is_ascii_alphanumeric() {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    prev_lower = false;
                    continue;
                }
                if c.is_ascii_uppercase() && prev_lower && !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
                word.push(c.to_ascii_lowercase());
            }
            if !word.is_empty() {
                words.push(word);
            }
        }
        words
    }
}

fn is_migration(p: &Path, diff: Option<&str>) -> bool {
    if p.in_dir(&["migrations", "migration", "migrate", "alembic", "flyway", "liquibase", "db_migrations"]) {
        return true;
    }
    if p.ext != "sql" {
        return false;
    }
    match diff {
        None => true,
        Some(d) => changed_lines(d).any(|l| DDL.is_match(l)),
    }
}

fn is_dependency(p: &Path) -> bool {
    const NAMES: &[&str] = &[
        "cargo.lock",
        "cargo.toml",
        "package.json",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "go.mod",
        "go.sum",
        "go.work",
        "poetry.lock",
        "pyproject.toml",
        "pipfile",
        "pipfile.lock",
        "uv.lock",
        "setup.py",
        "setup.cfg",
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
        "settings.gradle",
        "gradle.lockfile",
        "gemfile",
        "gemfile.lock",
        "composer.json",
        "composer.lock",
        "mix.exs",
        "mix.lock",
        "packages.lock.json",
        "directory.packages.props",
    ];
    NAMES.contains(&p.lower.as_str())
        || (p.lower.starts_with("requirements") && (p.ext == "txt" || p.ext == "in"))
        || p.ext == "csproj"
}

fn is_test(p: &Path) -> bool {
    if p.in_dir(&["test", "tests", "__tests__", "spec", "specs", "testdata", "e2e", "it"]) {
        return true;
    }
    let stem = p.lower.split('.').next().unwrap_or_default();
    stem.starts_with("test_")
        || stem.ends_with("_test")
        || stem.ends_with("_spec")
        || p.lower.contains(".test.")
        || p.lower.contains(".spec.")
        || (p.ext == "java" || p.ext == "kt" || p.ext == "cs") && (p.name.ends_with(&format!("Test.{}", p.ext)))
}

fn is_docs(p: &Path) -> bool {
    if p.in_dir(&["docs", "doc", "documentation"]) {
        return true;
    }
    matches!(p.ext.as_str(), "md" | "markdown" | "rst" | "adoc" | "asciidoc")
        || ["readme", "changelog", "changes", "license", "authors", "contributing"]
            .iter()
            .any(|n| p.lower == *n || p.lower.starts_with(&format!("{n}.")))
}

/// Source code, where an HTTP client call is a code change (not a URL in a config file).
fn is_code(p: &Path) -> bool {
    matches!(
        p.ext.as_str(),
        "rs" | "go"
            | "py"
            | "js"
            | "mjs"
            | "cjs"
            | "ts"
            | "tsx"
            | "jsx"
            | "java"
            | "kt"
            | "scala"
            | "rb"
            | "php"
            | "cs"
            | "swift"
            | "ex"
            | "exs"
            | "c"
            | "cc"
            | "cpp"
            | "h"
            | "hpp"
    )
}

fn is_auth(p: &Path) -> bool {
    const WORDS: &[&str] = &[
        "auth",
        "authn",
        "authz",
        "authentication",
        "authorization",
        "authorize",
        "oauth",
        "oauth2",
        "oidc",
        "jwt",
        "session",
        "sessions",
        "permission",
        "permissions",
        "rbac",
    ];
    p.words().iter().any(|w| WORDS.contains(&w.as_str()))
}

fn is_config(p: &Path) -> bool {
    matches!(
        p.ext.as_str(),
        "yaml" | "yml" | "toml" | "ini" | "json" | "env" | "properties" | "conf" | "cfg" | "hcl" | "tfvars"
    ) || p.lower == ".env"
        || p.lower.starts_with(".env.")
        || p.lower.starts_with("values") && (p.ext == "yaml" || p.ext == "yml")
        || p.in_dir(&["config", "configs", "conf"])
}

fn is_shared(p: &Path) -> bool {
    p.in_dir(&["lib", "libs", "common", "shared", "pkg", "util", "utils"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use FileChangeType::*;

    fn diff(lines: &[&str]) -> String {
        let mut d = String::from("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n context line\n");
        for l in lines {
            d.push_str(l);
            d.push('\n');
        }
        d
    }

    #[test]
    fn migrations_by_folder_or_by_ddl_in_sql() {
        assert_eq!(change_type("db/migrations/0004_orders.py", None), DbMigration);
        assert_eq!(change_type("services/api/migrate/20240101_add.go", None), DbMigration);
        assert_eq!(
            change_type("schema/orders.sql", Some(&diff(&["+ALTER TABLE orders ADD COLUMN note text;"]))),
            DbMigration
        );
        assert_eq!(
            change_type("schema/orders.sql", Some(&diff(&["+create unique index o_idx on o(id);"]))),
            DbMigration
        );
        // A query file that only changes a SELECT is not a schema change.
        assert_ne!(change_type("queries/report.sql", Some(&diff(&["+SELECT id FROM orders;"]))), DbMigration);
        // With the path alone, a SQL file is most likely a migration.
        assert_eq!(change_type("queries/report.sql", None), DbMigration);
    }

    #[test]
    fn lockfiles_and_manifests_are_dependencies() {
        for p in [
            "Cargo.lock",
            "crates/x/Cargo.toml",
            "web/package.json",
            "web/package-lock.json",
            "go.mod",
            "go.sum",
            "requirements.txt",
            "requirements-dev.txt",
            "poetry.lock",
            "pom.xml",
            "app/build.gradle",
            "yarn.lock",
        ] {
            assert_eq!(change_type(p, None), Dependency, "{p}");
        }
        // Content does not matter: a lockfile full of "retry" packages is still a lockfile.
        assert_eq!(change_type("Cargo.lock", Some(&diff(&["+name = \"retry\""]))), Dependency);
    }

    #[test]
    fn tests_and_docs_win_over_content() {
        assert_eq!(change_type("tests/test_client.py", Some(&diff(&["+timeout = 5"]))), Test);
        assert_eq!(change_type("pkg/http/client_test.go", None), Test);
        assert_eq!(change_type("web/src/cart.test.ts", None), Test);
        assert_eq!(change_type("src/main/java/OrderServiceTest.java", None), Test);
        assert_eq!(change_type("docs/retries.md", Some(&diff(&["+retry three times"]))), Docs);
        assert_eq!(change_type("README.md", None), Docs);
        assert_eq!(change_type("CHANGELOG", None), Docs);
    }

    #[test]
    fn timeout_and_retry_edits_by_their_changed_lines() {
        let d = diff(&["-    timeout: 30s", "+    timeout: 2s"]);
        assert_eq!(change_type("deploy/values.yaml", Some(&d)), TimeoutRetry);
        assert_eq!(change_type("src/client.rs", Some(&diff(&["+let max_retries = 0;"]))), TimeoutRetry);
        assert_eq!(
            change_type("src/Client.java", Some(&diff(&["+builder.readTimeout(Duration.ofMillis(50));"]))),
            TimeoutRetry
        );
        assert_eq!(
            change_type("svc/backoff.go", Some(&diff(&["+ctx, cancel := context.WithDeadline(ctx, d)"]))),
            TimeoutRetry
        );
        // A context line mentioning a timeout is not a change to it.
        let context_only = "@@ -1,3 +1,3 @@\n timeout = 30\n-name = a\n+name = b\n";
        assert_eq!(change_type("deploy/app.toml", Some(context_only)), Config);
    }

    #[test]
    fn http_client_calls_in_source_code() {
        assert_eq!(change_type("src/pay.rs", Some(&diff(&["+let r = reqwest::Client::new();"]))), HttpClient);
        assert_eq!(change_type("app/pay.py", Some(&diff(&["+r = requests.post(url, json=body)"]))), HttpClient);
        assert_eq!(change_type("web/api.ts", Some(&diff(&["+const r = await fetch(url)"]))), HttpClient);
        assert_eq!(change_type("svc/pay.go", Some(&diff(&["+resp, err := http.Get(u)"]))), HttpClient);
        // A URL in a config file is configuration, not a client change.
        assert_eq!(change_type("config/app.yaml", Some(&diff(&["+url: fetch(x)"]))), Config);
    }

    #[test]
    fn auth_config_shared_and_other_by_path() {
        assert_eq!(change_type("src/auth/login.go", None), Auth);
        assert_eq!(change_type("middleware/jwt.rs", None), Auth);
        assert_eq!(change_type("app/userPermissions.ts", None), Auth);
        assert_eq!(change_type("app/session_store.py", None), Auth);
        // "author" is not "auth".
        assert_eq!(change_type("app/author.py", None), Other);
        assert_eq!(change_type("deploy/helm/values-prod.yaml", None), Config);
        assert_eq!(change_type(".env.production", None), Config);
        assert_eq!(change_type("src/main/resources/application.properties", None), Config);
        assert_eq!(change_type("pkg/retryable/encode.go", Some(&diff(&["+x := 1"]))), SharedUtil);
        assert_eq!(change_type("libs/common/strings.py", None), SharedUtil);
        assert_eq!(change_type("src/handlers/orders.rs", Some(&diff(&["+x += 1;"]))), Other);
        assert_eq!(change_type("src/lib.rs", None), Other);
    }

    #[test]
    fn changed_lines_skip_headers_and_context() {
        let d = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n same\n-old\n+new\n";
        assert_eq!(changed_lines(d).collect::<Vec<_>>(), vec!["old", "new"]);
    }
}

//! Inquest's settings, layered: built-in defaults, then a TOML file (`--config` or
//! `INQUEST_CONFIG`), then `INQUEST_*` environment variables. Unknown keys are errors;
//! passwords and API keys are typed so that they never print.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

mod secret;
mod telemetry;

use inquest_domain::{ProjectId, Role};
pub use secret::{Secret, ServiceUrl};
pub use telemetry::*;

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid settings: {0}")]
    Invalid(String),
}

/// Everything configurable. A store with no `url` uses the embedded default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Folder of the embedded store (`inquest.redb`).
    pub data_dir: PathBuf,
    pub postgres: PostgresSettings,
    pub clickhouse: ClickhouseSettings,
    pub neo4j: Neo4jSettings,
    pub qdrant: QdrantSettings,
    pub intake: IntakeSettings,
    pub llm: LlmSettings,
    pub embed: EmbedSettings,
    pub timeouts: TimeoutSettings,
    pub auth: AuthSettings,
    pub feeds: FeedsSettings,
    pub telemetry: TelemetrySettings,
    pub investigation: InvestigationSettings,
    pub ops: OpsSettings,
    pub oncall: OncallSettings,
    pub notify: NotifySettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".inquest"),
            postgres: PostgresSettings::default(),
            clickhouse: ClickhouseSettings::default(),
            neo4j: Neo4jSettings::default(),
            qdrant: QdrantSettings::default(),
            intake: IntakeSettings::default(),
            llm: LlmSettings::default(),
            embed: EmbedSettings::default(),
            timeouts: TimeoutSettings::default(),
            auth: AuthSettings::default(),
            feeds: FeedsSettings::default(),
            telemetry: TelemetrySettings::default(),
            investigation: InvestigationSettings::default(),
            ops: OpsSettings::default(),
            oncall: OncallSettings::default(),
            notify: NotifySettings::default(),
        }
    }
}

/// The SLO and invariant evaluator of `inquest serve` (`[ops]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpsSettings {
    /// Seconds between two evaluations of every SLO and invariant of every project;
    /// 0 turns the evaluator off (a run on request still works).
    pub evaluate_seconds: u64,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self { evaluate_seconds: 60 }
    }
}

/// The longest pause between evaluations: a day.
const MAX_EVALUATE_SECONDS: u64 = 86_400;

impl OpsSettings {
    fn check(&self) -> Result<(), ConfigError> {
        if self.evaluate_seconds > MAX_EVALUATE_SECONDS {
            return Err(ConfigError::Invalid(format!(
                "ops.evaluate_seconds: {} is more than {MAX_EVALUATE_SECONDS} seconds (0 turns the evaluator off)",
                self.evaluate_seconds
            )));
        }
        Ok(())
    }
}

/// The on-call responder of `inquest serve` (`[oncall]`): it assigns open incidents to
/// whoever is on call for their service and escalates those nobody acknowledges.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OncallSettings {
    /// Seconds between two rounds over every open incident of every project; 0 turns
    /// the responder off (nothing is assigned or escalated).
    pub tick_seconds: u64,
}

impl Default for OncallSettings {
    fn default() -> Self {
        Self { tick_seconds: 30 }
    }
}

/// The longest pause between two rounds of the responder: an hour (escalation delays
/// are counted in minutes).
const MAX_TICK_SECONDS: u64 = 3_600;

impl OncallSettings {
    fn check(&self) -> Result<(), ConfigError> {
        if self.tick_seconds > MAX_TICK_SECONDS {
            return Err(ConfigError::Invalid(format!(
                "oncall.tick_seconds: {} is more than {MAX_TICK_SECONDS} seconds (0 turns the responder off)",
                self.tick_seconds
            )));
        }
        Ok(())
    }
}

/// Notifications (`[notify]`): the delivery worker of `inquest serve` and the link
/// every message carries.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// The dashboard's address as people reach it: messages link to
    /// `<public_url>/incidents/<id>`.
    pub public_url: String,
    /// Milliseconds between two polls of the queue; 0 turns the worker off (notices
    /// are still queued).
    pub poll_ms: u64,
    /// Attempts per delivery before it is kept as failed (the retry route queues it again).
    pub max_attempts: u32,
    /// The first retry waits this long, each next one twice as long, at most `backoff_max_secs`.
    pub backoff_secs: u64,
    pub backoff_max_secs: u64,
    /// The longest one send may take (connect, TLS, answer).
    pub send_timeout_secs: u64,
    /// How long a worker holds a delivery before another may take it over.
    pub lease_secs: u64,
    /// Deliveries taken per project and poll.
    pub batch: usize,
    pub smtp: Option<SmtpSettings>,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            poll_ms: 1000,
            max_attempts: 5,
            backoff_secs: 10,
            backoff_max_secs: 600,
            send_timeout_secs: 10,
            lease_secs: 60,
            batch: 20,
            smtp: None,
        }
    }
}

/// How mail leaves (`[notify.smtp]`); without it e-mail channels fail with that reason.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "smtp_port")]
    pub port: u16,
    /// The sender address (`Inquest <inquest@example.com>` or a bare address).
    pub from: String,
    pub username: Option<String>,
    /// Best set in the environment: `INQUEST_NOTIFY_SMTP_PASSWORD`.
    pub password: Option<Secret>,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default = "smtp_tls")]
    pub tls: String,
}

fn smtp_port() -> u16 {
    587
}

fn smtp_tls() -> String {
    "starttls".into()
}

impl NotifySettings {
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError::Invalid(format!("notify.{key}: {why}")));
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return bad("public_url", format!("'{}' is not an http:// or https:// URL", self.public_url));
        }
        if self.max_attempts == 0 || self.max_attempts > 100 {
            return bad("max_attempts", format!("{} is outside 1..=100", self.max_attempts));
        }
        if self.backoff_secs == 0 || self.backoff_max_secs < self.backoff_secs {
            return bad("backoff_secs", "must be at least 1 and at most backoff_max_secs".into());
        }
        if self.send_timeout_secs == 0 || self.lease_secs <= self.send_timeout_secs {
            return bad("lease_secs", "must be longer than send_timeout_secs, which must be at least 1".into());
        }
        if self.batch == 0 {
            return bad("batch", "must be at least 1".into());
        }
        if let Some(smtp) = &self.smtp {
            if smtp.host.trim().is_empty() {
                return bad("smtp.host", "must not be empty".into());
            }
            if smtp.from.trim().is_empty() {
                return bad("smtp.from", "must not be empty".into());
            }
            if !["none", "starttls", "tls"].contains(&smtp.tls.as_str()) {
                return bad("smtp.tls", format!("'{}' is not one of none, starttls, tls", smtp.tls));
            }
            if smtp.password.is_some() && smtp.username.is_none() {
                return bad("smtp.username", "is needed with a password".into());
            }
        }
        Ok(())
    }
}

/// How an investigation gathers its evidence (`[investigation]`), the same for the
/// workers, `inquest investigate` and `inquest eval`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvestigationSettings {
    /// Minutes of the same-time-of-day baseline on each day of the history.
    pub baseline_minutes: i64,
    /// How many days back the baseline may reach into the clean history the metrics
    /// store holds (earlier incidents and the minutes around changes are left out).
    pub baseline_horizon_days: u32,
    /// How long before the analysis window a change may have happened and still be a suspect.
    pub change_lookback_minutes: i64,
    /// Hops along `DEPENDS_ON` in the blast radius.
    pub topology_depth: u32,
    /// A metric catalogue (TOML, or JSON by extension) consulted before the bundled
    /// one: kind, unit and bad direction of the names it lists.
    pub metric_catalogue: Option<PathBuf>,
}

impl Default for InvestigationSettings {
    fn default() -> Self {
        Self {
            baseline_minutes: 180,
            baseline_horizon_days: 14,
            change_lookback_minutes: 240,
            topology_depth: 5,
            metric_catalogue: None,
        }
    }
}

/// Longest baseline slice and change lookback: one day.
const MAX_INVESTIGATION_MINUTES: i64 = 24 * 60;
/// Farthest back a baseline reaches: a year of history.
const MAX_HORIZON_DAYS: u32 = 366;
/// Deepest blast radius: beyond this a radius is the whole graph.
const MAX_TOPOLOGY_DEPTH: u32 = 10;

impl InvestigationSettings {
    /// Every bound, an error naming its key otherwise; a catalogue file must exist.
    fn check(&self) -> Result<(), ConfigError> {
        for (key, value) in
            [("baseline_minutes", self.baseline_minutes), ("change_lookback_minutes", self.change_lookback_minutes)]
        {
            if !(1..=MAX_INVESTIGATION_MINUTES).contains(&value) {
                return Err(ConfigError::Invalid(format!(
                    "investigation.{key}: {value} is not within 1..={MAX_INVESTIGATION_MINUTES} minutes"
                )));
            }
        }
        if self.baseline_horizon_days > MAX_HORIZON_DAYS {
            return Err(ConfigError::Invalid(format!(
                "investigation.baseline_horizon_days: {} is more than {MAX_HORIZON_DAYS} days",
                self.baseline_horizon_days
            )));
        }
        if !(1..=MAX_TOPOLOGY_DEPTH).contains(&self.topology_depth) {
            return Err(ConfigError::Invalid(format!(
                "investigation.topology_depth: {} is not within 1..={MAX_TOPOLOGY_DEPTH}",
                self.topology_depth
            )));
        }
        if let Some(path) = &self.metric_catalogue
            && !path.is_file()
        {
            return Err(ConfigError::Invalid(format!(
                "investigation.metric_catalogue: {} is not a file",
                path.display()
            )));
        }
        Ok(())
    }
}

/// The records port on PostgreSQL.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresSettings {
    /// `postgres://user:password@host:5432/db`: the application's login role, a
    /// member of `inquest_app`, which row-level security keeps to one project.
    pub url: Option<ServiceUrl>,
    /// The URL `inquest migrate` connects with: the owner of the tables (who creates
    /// them, the role `inquest_app` and its grants). Unset: `url`.
    pub owner_url: Option<ServiceUrl>,
    /// Most connections open at once.
    pub pool_max_size: usize,
    /// Seconds to open a connection.
    pub connect_timeout_secs: u64,
    /// Seconds to wait for a free connection.
    pub wait_timeout_secs: u64,
    /// Server-side limit on one statement, in seconds (0: none).
    pub statement_timeout_secs: u64,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        Self {
            url: None,
            owner_url: None,
            pool_max_size: 8,
            connect_timeout_secs: 5,
            wait_timeout_secs: 10,
            statement_timeout_secs: 30,
        }
    }
}

/// The metrics port on ClickHouse (HTTP interface).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickhouseSettings {
    /// `http://host:8123`
    pub url: Option<ServiceUrl>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Option<Secret>,
}

/// The topology port on Neo4j (Bolt).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Neo4jSettings {
    /// `bolt://host:7687` or `neo4j://host:7687`
    pub url: Option<ServiceUrl>,
    pub user: Option<String>,
    pub password: Option<Secret>,
}

/// The semantic port on Qdrant (gRPC).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QdrantSettings {
    /// `http://host:6334`
    pub url: Option<ServiceUrl>,
    pub api_key: Option<Secret>,
}

/// Alert intake and investigation workers of `inquest serve` and `inquest worker`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeSettings {
    /// Correlation policy file (TOML); the built-in default policy when unset.
    pub policy_file: Option<PathBuf>,
    /// Response policy file (TOML): what happens after an investigation; the built-in
    /// default when unset.
    pub response_policy_file: Option<PathBuf>,
    /// Investigation workers in this process (0: this process only takes alerts).
    pub workers: usize,
    /// Seconds a worker holds a job before another worker may take it over.
    pub lease_secs: u64,
    /// Attempts before a job is given up (its last error is kept).
    pub max_attempts: u32,
    /// Delay before the first retry; it doubles with every attempt.
    pub backoff_base_secs: u64,
    /// Longest delay between two attempts.
    pub backoff_max_secs: u64,
    /// Seconds `serve` and `worker` wait, once told to stop, for the requests and jobs
    /// in flight; a job still running then is taken over by another worker after its lease.
    pub shutdown_grace_secs: u64,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            policy_file: None,
            response_policy_file: None,
            workers: 2,
            lease_secs: 60,
            max_attempts: 5,
            backoff_base_secs: 2,
            backoff_max_secs: 300,
            shutdown_grace_secs: 30,
        }
    }
}

/// The longest lease or retry delay the intake takes: a day.
const MAX_INTAKE_SECS: u64 = 86_400;

impl IntakeSettings {
    /// Durations and counts the workers can use, each error naming its key.
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError::Invalid(format!("intake.{key}: {why}")));
        for (key, value) in [
            ("lease_secs", self.lease_secs),
            ("backoff_base_secs", self.backoff_base_secs),
            ("backoff_max_secs", self.backoff_max_secs),
            ("shutdown_grace_secs", self.shutdown_grace_secs),
        ] {
            if value > MAX_INTAKE_SECS {
                return bad(key, format!("{value} is more than {MAX_INTAKE_SECS} seconds (a day)"));
            }
        }
        if self.lease_secs == 0 {
            return bad("lease_secs", "must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return bad("max_attempts", "must be at least 1".into());
        }
        if self.backoff_base_secs > self.backoff_max_secs {
            return bad(
                "backoff_base_secs",
                format!("{} is more than backoff_max_secs ({})", self.backoff_base_secs, self.backoff_max_secs),
            );
        }
        Ok(())
    }
}

/// The chat endpoint that writes reports (`[llm]`, `INQUEST_LLM_*`). No `base_url`:
/// template reports.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    /// An OpenAI-compatible API, e.g. `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`.
    pub base_url: Option<ServiceUrl>,
    /// Model name sent to the endpoint.
    pub model: String,
    pub api_key: Option<Secret>,
    /// Seconds per attempt (0 counts as 1).
    pub timeout_secs: u64,
    /// Retries after the first attempt (timeouts, 429, 5xx, connection errors).
    pub max_retries: u32,
    /// First retry delay in milliseconds; it doubles with every retry.
    pub backoff_ms: u64,
    /// Which request field carries the output limit.
    pub max_tokens_field: MaxTokensField,
    pub max_output_tokens: u32,
    pub temperature: f32,
    /// USD per 1000 prompt tokens, for the cost estimate.
    pub price_per_1k_input: Option<f64>,
    /// USD per 1000 completion tokens.
    pub price_per_1k_output: Option<f64>,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            model: "gpt-4o-mini".into(),
            api_key: None,
            timeout_secs: 120,
            max_retries: 2,
            backoff_ms: 500,
            max_tokens_field: MaxTokensField::default(),
            max_output_tokens: 1500,
            temperature: 0.2,
            price_per_1k_input: None,
            price_per_1k_output: None,
        }
    }
}

/// `max_completion_tokens` (OpenAI's current field; reasoning models reject the
/// other) or `max_tokens` (llama-cpp-python and older servers obey only this one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    #[default]
    MaxCompletionTokens,
    MaxTokens,
}

/// The embedder of the semantic store (`[embed]`, `INQUEST_EMBED_*`): an endpoint
/// when `base_url` is set, else all-MiniLM-L6-v2 from `model_dir` (default
/// `~/.cache/inquest/minilm`) when its files are there, else the hash embedder.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedSettings {
    /// Folder of the all-MiniLM-L6-v2 files (or the `pip install --target` folder).
    pub model_dir: Option<PathBuf>,
    /// An OpenAI-compatible API (`.../v1`); when set it wins over the local model.
    pub base_url: Option<ServiceUrl>,
    /// Model name sent to the endpoint.
    pub model: String,
    pub api_key: Option<Secret>,
    /// Vector size of the endpoint's model; probed when unset (or 0).
    pub dim: Option<usize>,
    /// Seconds per request to the endpoint.
    pub timeout_secs: u64,
}

impl Default for EmbedSettings {
    fn default() -> Self {
        Self {
            model_dir: None,
            base_url: None,
            model: "text-embedding-3-small".into(),
            api_key: None,
            dim: None,
            timeout_secs: 60,
        }
    }
}

/// How long one call of each port may take before it fails as a timeout (`[timeouts]`,
/// `INQUEST_TIMEOUTS_*`). Longer than the adapters' own limits by default, so their
/// more precise errors come first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutSettings {
    pub records_secs: u64,
    pub metrics_secs: u64,
    pub topology_secs: u64,
    pub semantic_secs: u64,
    /// The intake's store (alerts, lifecycle, the job queue).
    pub intake_secs: u64,
    /// One embedding batch: a model on a CPU may need minutes.
    pub embedder_secs: u64,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        Self {
            records_secs: 60,
            metrics_secs: 60,
            topology_secs: 60,
            semantic_secs: 60,
            intake_secs: 60,
            embedder_secs: 300,
        }
    }
}

/// The longest call timeout: an hour.
const MAX_TIMEOUT_SECS: u64 = 3_600;

impl TimeoutSettings {
    /// Every timeout within 1..=3600 seconds, an error naming its key otherwise.
    fn check(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("records_secs", self.records_secs),
            ("metrics_secs", self.metrics_secs),
            ("topology_secs", self.topology_secs),
            ("semantic_secs", self.semantic_secs),
            ("intake_secs", self.intake_secs),
            ("embedder_secs", self.embedder_secs),
        ] {
            if !(1..=MAX_TIMEOUT_SECS).contains(&value) {
                return Err(ConfigError::Invalid(format!(
                    "timeouts.{key}: {value} is not within 1..={MAX_TIMEOUT_SECS} seconds"
                )));
            }
        }
        Ok(())
    }
}

/// Sign-in, sessions, API tokens and the integration-secret keys (`[auth]`, `INQUEST_AUTH_*`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// When false, a server on a loopback address lets every request act as owner of the
    /// default project (the local demo); a non-loopback address refuses to start.
    pub required: bool,
    /// Hours a dashboard session lasts after sign-in (1 to 720).
    pub session_hours: u64,
    /// The session cookie's `Secure` flag: `auto` (when the request came over TLS, i.e.
    /// `X-Forwarded-Proto: https`), `always` or `never`.
    pub secure_cookie: String,
    /// The integration-secret keyring: one key per line, `<id>:<base64 of 32 bytes>`, the
    /// first line seals, every line opens.
    pub secret_key_file: Option<PathBuf>,
    /// The same keys inline, lines separated by newlines or commas (after the file's).
    pub secret_keys: Option<Secret>,
    /// Failed sign-ins of one login within the window before it is refused for a while.
    pub login_max_failures: u32,
    /// Seconds the failed sign-ins are counted over (1 to 86400).
    pub login_window_secs: u64,
    /// Sign-in with bearer JWTs of an OpenID Connect provider; unset: local users only.
    pub oidc: Option<OidcSettings>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            required: true,
            session_hours: 12,
            secure_cookie: "auto".into(),
            secret_key_file: None,
            secret_keys: None,
            login_max_failures: 5,
            login_window_secs: 900,
            oidc: None,
        }
    }
}

/// When the session cookie carries `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureCookie {
    /// When the request came over TLS (`X-Forwarded-Proto: https`).
    Auto,
    Always,
    Never,
}

/// The longest session: 30 days.
const MAX_SESSION_HOURS: u64 = 720;

impl AuthSettings {
    /// `secure_cookie` as its mode (the value is checked at load; anything else counts as `auto`).
    pub fn secure_cookie_mode(&self) -> SecureCookie {
        match self.secure_cookie.as_str() {
            "always" => SecureCookie::Always,
            "never" => SecureCookie::Never,
            _ => SecureCookie::Auto,
        }
    }

    /// Values the server can use, each error naming its key.
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError::Invalid(format!("auth.{key}: {why}")));
        if !(1..=MAX_SESSION_HOURS).contains(&self.session_hours) {
            return bad("session_hours", format!("{} is not within 1..={MAX_SESSION_HOURS}", self.session_hours));
        }
        if !["auto", "always", "never"].contains(&self.secure_cookie.as_str()) {
            return bad("secure_cookie", format!("'{}' is not one of auto, always, never", self.secure_cookie));
        }
        if self.login_max_failures == 0 {
            return bad("login_max_failures", "must be at least 1".into());
        }
        if !(1..=MAX_INTAKE_SECS).contains(&self.login_window_secs) {
            return bad(
                "login_window_secs",
                format!("{} is not within 1..={MAX_INTAKE_SECS} seconds", self.login_window_secs),
            );
        }
        if let Some(oidc) = &self.oidc {
            oidc.check()?;
        }
        Ok(())
    }
}

/// An OpenID Connect provider whose ID or access tokens (JWTs) sign users in (`[auth.oidc]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The `iss` every token must carry, e.g. `https://login.example.com/realms/ops`.
    pub issuer: String,
    /// The `aud` every token must carry (the client id Inquest is registered as).
    pub audience: String,
    /// Where the provider publishes its signing keys (JWKS).
    pub jwks_url: String,
    /// Seconds of clock difference allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// The claim that names the user (their login).
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim that lists the user's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// The role each group grants in a project; a user gets the highest per project.
    #[serde(default)]
    pub group_roles: Vec<GroupRole>,
}

fn default_leeway() -> u64 {
    60
}

fn default_user_claim() -> String {
    "email".into()
}

fn default_groups_claim() -> String {
    "groups".into()
}

/// Members of `group` (in the token's groups claim) hold `role` in `project`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRole {
    pub group: String,
    pub project: ProjectId,
    pub role: Role,
}

/// The most clock difference a token may have: ten minutes.
const MAX_LEEWAY_SECS: u64 = 600;

impl OidcSettings {
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError::Invalid(format!("auth.oidc.{key}: {why}")));
        for (key, value) in [
            ("issuer", &self.issuer),
            ("audience", &self.audience),
            ("user_claim", &self.user_claim),
            ("groups_claim", &self.groups_claim),
        ] {
            if value.trim().is_empty() {
                return bad(key, "must not be empty".into());
            }
        }
        if !(self.jwks_url.starts_with("https://") || self.jwks_url.starts_with("http://")) {
            return bad("jwks_url", format!("'{}' is not an http(s) URL", self.jwks_url));
        }
        if self.leeway_secs > MAX_LEEWAY_SECS {
            return bad("leeway_secs", format!("{} is more than {MAX_LEEWAY_SECS} seconds", self.leeway_secs));
        }
        Ok(())
    }
}

/// The change feeds (`[feeds]`, `INQUEST_FEEDS_*`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedsSettings {
    /// Commits a deployment's range holds when its previous revision is unknown.
    pub last_n_commits: usize,
    /// Local clones the git sync reads and deployment ranges come from (`[[feeds.git]]`).
    pub git: Vec<GitCloneSettings>,
}

impl Default for FeedsSettings {
    fn default() -> Self {
        Self { last_n_commits: 20, git: Vec::new() }
    }
}

/// One local clone (`[[feeds.git]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitCloneSettings {
    /// `owner/name`, as GitHub's `repository.full_name` names it.
    pub repo: String,
    /// The clone (a bare mirror, `git clone --mirror`, moves its branches on fetch).
    pub path: PathBuf,
    /// The revision synced (`main`, `origin/main`); `HEAD` when unset.
    #[serde(default)]
    pub branch: Option<String>,
    /// `git fetch` before the sync a push webhook starts.
    #[serde(default)]
    pub fetch: bool,
}

impl FeedsSettings {
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: String, why: String| Err(ConfigError::Invalid(format!("feeds.{key}: {why}")));
        if self.last_n_commits == 0 || self.last_n_commits > 10_000 {
            return bad("last_n_commits".into(), format!("{} is not within 1..=10000", self.last_n_commits));
        }
        for (i, g) in self.git.iter().enumerate() {
            let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !matches!(g.repo.split_once('/'), Some((o, n)) if ok(o) && ok(n)) {
                return bad(format!("git[{i}].repo"), format!("'{}' is not owner/name", g.repo));
            }
            if self.git[..i].iter().any(|o| o.repo.eq_ignore_ascii_case(&g.repo)) {
                return bad(format!("git[{i}].repo"), format!("'{}' is configured twice", g.repo));
            }
            if g.path.as_os_str().is_empty() {
                return bad(format!("git[{i}].path"), "must not be empty".into());
            }
        }
        Ok(())
    }
}

/// The sections an `INQUEST_<SECTION>_<KEY>` variable can name (`auth_oidc` before
/// `auth`: `INQUEST_AUTH_OIDC_ISSUER` is `auth.oidc.issuer`).
const SECTIONS: [(&str, &str); 19] = [
    ("postgres", "postgres"),
    ("clickhouse", "clickhouse"),
    ("neo4j", "neo4j"),
    ("qdrant", "qdrant"),
    ("intake", "intake"),
    ("llm", "llm"),
    ("embed", "embed"),
    ("timeouts", "timeouts"),
    ("auth_oidc", "auth.oidc"),
    ("auth", "auth"),
    ("feeds", "feeds"),
    ("telemetry_remote_write", "telemetry.remote_write"),
    ("telemetry_traces", "telemetry.traces"),
    ("telemetry_poll", "telemetry.poll"),
    ("investigation", "investigation"),
    ("ops", "ops"),
    ("oncall", "oncall"),
    ("notify_smtp", "notify.smtp"),
    ("notify", "notify"),
];

/// Sections where an empty variable means unset, as the LLM and embedding clients
/// have always read them (`INQUEST_LLM_BASE_URL=` turns the LLM off).
const EMPTY_IS_UNSET: [&str; 2] = ["llm_", "embed_"];

/// `INQUEST_*` variables that are not settings (logging, tests, the file's path, the
/// CLI's `--project`).
const NOT_SETTINGS: [&str; 5] = ["log", "log_format", "config", "bless", "project"];

/// `INQUEST_*` prefixes read by other components (tests, the browser test): not
/// settings of this crate, so not rejected here.
const OTHER_COMPONENTS: &[&str] = &["test_", "e2e_", "allow_", "bless"];

/// Maps a variable name (prefix removed, lowercase) to a settings key, or `None`
/// when the variable is not a setting.
fn env_key(name: &str) -> Option<String> {
    if NOT_SETTINGS.contains(&name) || OTHER_COMPONENTS.iter().any(|p| name.starts_with(p)) {
        return None;
    }
    for (section, path) in SECTIONS {
        if let Some(key) = name.strip_prefix(section).and_then(|rest| rest.strip_prefix('_')) {
            return Some(format!("{path}.{key}"));
        }
    }
    Some(name.to_string())
}

impl Settings {
    /// Defaults, then `file` (when given it must exist), then the `INQUEST_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        // Defaults come from `#[serde(default)]`: settings are never serialized, so
        // secrets cannot leak through a serializer.
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let env = Env::prefixed("INQUEST_").filter_map(|name| {
            let lower = name.as_str().to_ascii_lowercase();
            if EMPTY_IS_UNSET.iter().any(|p| lower.starts_with(p))
                && std::env::var(format!("INQUEST_{}", name.as_str())).is_ok_and(|v| v.trim().is_empty())
            {
                return None;
            }
            env_key(&lower).map(Into::into)
        });
        let settings: Settings = figment.merge(env).extract().map_err(|e| ConfigError::Invalid(describe(e)))?;
        settings.intake.check()?;
        settings.timeouts.check()?;
        settings.auth.check()?;
        settings.feeds.check()?;
        settings.telemetry.check()?;
        settings.investigation.check()?;
        settings.ops.check()?;
        settings.oncall.check()?;
        settings.notify.check()?;
        Ok(settings)
    }

    /// Which backend serves each port: `(port, backend)`.
    pub fn backends(&self) -> [(&'static str, &'static str); 4] {
        let pick = |url: &Option<ServiceUrl>, real: &'static str| if url.is_some() { real } else { "embedded" };
        [
            ("records", pick(&self.postgres.url, "postgres")),
            ("metrics", pick(&self.clickhouse.url, "clickhouse")),
            ("topology", pick(&self.neo4j.url, "neo4j")),
            ("semantic", pick(&self.qdrant.url, "qdrant")),
        ]
    }
}

/// Every error figment found, one per line, each naming its key and source.
fn describe(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let key = if e.path.is_empty() { String::new() } else { format!("{}: ", e.path.join(".")) };
            let from = e.metadata.as_ref().map(|m| format!(" (from {})", m.name)).unwrap_or_default();
            format!("{key}{}{from}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_use_the_embedded_store_everywhere() {
        Jail::expect_with(|_| {
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s, Settings::default());
            assert!(s.backends().iter().all(|(_, b)| *b == "embedded"));
            Ok(())
        });
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "inquest.toml",
                r#"
                data_dir = "/var/lib/inquest"
                [postgres]
                url = "postgres://inquest:filepass@db:5432/inquest"
                pool_max_size = 4
                [neo4j]
                url = "bolt://graph:7687"
                user = "neo4j"
                password = "graphpass"
                "#,
            )?;
            jail.set_env("INQUEST_POSTGRES_POOL_MAX_SIZE", "16");
            jail.set_env("INQUEST_QDRANT_URL", "http://vectors:6334");
            jail.set_env("INQUEST_NEO4J_PASSWORD", "12345");
            // Not settings: must be ignored, not rejected as unknown keys.
            jail.set_env("INQUEST_LOG", "debug");
            jail.set_env("INQUEST_LOG_FORMAT", "json");
            jail.set_env("INQUEST_TEST_POSTGRES_URL", "postgres://x@y/z");
            jail.set_env("INQUEST_E2E_CHROMIUM", "/usr/bin/chromium");
            let s = Settings::load(Some(Path::new("inquest.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.data_dir, PathBuf::from("/var/lib/inquest"));
            assert_eq!(s.postgres.pool_max_size, 16);
            assert_eq!(s.postgres.connect_timeout_secs, 5);
            assert_eq!(
                s.postgres.url.as_ref().map(ServiceUrl::expose),
                Some("postgres://inquest:filepass@db:5432/inquest")
            );
            assert_eq!(s.neo4j.password.as_ref().map(Secret::expose), Some("12345"));
            assert_eq!(
                s.backends(),
                [("records", "postgres"), ("metrics", "embedded"), ("topology", "neo4j"), ("semantic", "qdrant")]
            );
            let shown = format!("{s:?}");
            assert!(!shown.contains("filepass") && !shown.contains("12345"), "{shown}");
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_in_the_file_or_environment_is_an_error_naming_it() {
        Jail::expect_with(|jail| {
            jail.create_file("inquest.toml", "[postgres]\nurll = \"postgres://localhost/x\"\n")?;
            let err = Settings::load(Some(Path::new("inquest.toml"))).expect_err("must fail").to_string();
            assert!(err.contains("urll"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("INQUEST_POSTGRES_POOLSIZE", "3");
            let err = Settings::load(None).expect_err("must fail").to_string();
            assert!(err.contains("poolsize"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn feeds_name_their_clones_and_bad_entries_are_named() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "inquest.toml",
                "[feeds]\nlast_n_commits = 50\n[[feeds.git]]\nrepo = \"acme/shop\"\npath = \"/srv/git/shop.git\"\nfetch = true\n[[feeds.git]]\nrepo = \"acme/web\"\npath = \"/srv/web\"\nbranch = \"origin/main\"\n",
            )?;
            jail.set_env("INQUEST_FEEDS_LAST_N_COMMITS", "30");
            let s = Settings::load(Some(Path::new("inquest.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.feeds.last_n_commits, 30);
            assert_eq!(s.feeds.git.len(), 2);
            assert!(s.feeds.git[0].fetch && s.feeds.git[0].branch.is_none());
            assert_eq!(s.feeds.git[1].branch.as_deref(), Some("origin/main"));
            Ok(())
        });
        assert_eq!(Settings::default().feeds.last_n_commits, 20);
        Jail::expect_with(|jail| {
            jail.create_file("inquest.toml", "[[feeds.git]]\nrepo = \"shop\"\npath = \"/srv/shop\"\n")?;
            let err = Settings::load(Some(Path::new("inquest.toml"))).expect_err("must fail").to_string();
            assert!(err.contains("feeds.git[0].repo"), "{err}");
            jail.create_file("inquest.toml", "[[feeds.git]]\nrepo = \"a/b\"\npath = \"/x\"\nfetsh = true\n")?;
            let err = Settings::load(Some(Path::new("inquest.toml"))).expect_err("must fail").to_string();
            assert!(err.contains("fetsh"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_named_config_file_that_does_not_exist_is_an_error() {
        Jail::expect_with(|_| {
            let err = Settings::load(Some(Path::new("nope.toml"))).expect_err("must fail");
            assert!(matches!(err, ConfigError::MissingFile(_)));
            Ok(())
        });
    }

    #[test]
    fn env_names_map_to_nested_keys() {
        assert_eq!(env_key("postgres_url").as_deref(), Some("postgres.url"));
        assert_eq!(env_key("postgres_pool_max_size").as_deref(), Some("postgres.pool_max_size"));
        assert_eq!(env_key("neo4j_user").as_deref(), Some("neo4j.user"));
        assert_eq!(env_key("data_dir").as_deref(), Some("data_dir"));
        assert_eq!(env_key("log"), None);
        assert_eq!(env_key("test_qdrant_url"), None);
        assert_eq!(env_key("intake_lease_secs").as_deref(), Some("intake.lease_secs"));
        assert_eq!(env_key("llm_backoff_ms").as_deref(), Some("llm.backoff_ms"));
        assert_eq!(env_key("embed_model_dir").as_deref(), Some("embed.model_dir"));
        assert_eq!(env_key("test_llm_url"), None);
        assert_eq!(env_key("timeouts_records_secs").as_deref(), Some("timeouts.records_secs"));
    }

    #[test]
    fn llm_and_embed_settings_come_from_the_variables_in_use_and_the_keys_never_print() {
        Jail::expect_with(|jail| {
            jail.create_file("inquest.toml", "[llm]\nmodel = \"from-file\"\nmax_retries = 4\n[embed]\ndim = 384\n")?;
            for (var, value) in [
                ("INQUEST_LLM_BASE_URL", "http://127.0.0.1:8080/v1"),
                ("INQUEST_LLM_MODEL", "smollm2"),
                ("INQUEST_LLM_API_KEY", "sk-very-secret-value"),
                ("INQUEST_LLM_TIMEOUT_SECS", "7"),
                ("INQUEST_LLM_BACKOFF_MS", "50"),
                ("INQUEST_LLM_MAX_TOKENS_FIELD", "max_tokens"),
                ("INQUEST_LLM_MAX_OUTPUT_TOKENS", "300"),
                ("INQUEST_LLM_TEMPERATURE", "0"),
                ("INQUEST_LLM_PRICE_PER_1K_INPUT", "0.5"),
                ("INQUEST_LLM_PRICE_PER_1K_OUTPUT", "1.5"),
                ("INQUEST_EMBED_MODEL_DIR", "/models/minilm"),
                ("INQUEST_EMBED_BASE_URL", "http://127.0.0.1:9000/v1"),
                ("INQUEST_EMBED_MODEL", "nomic"),
                ("INQUEST_EMBED_API_KEY", "embed-secret-key"),
                ("INQUEST_EMBED_TIMEOUT_SECS", "9"),
            ] {
                jail.set_env(var, value);
            }
            let s = Settings::load(Some(Path::new("inquest.toml"))).map_err(|e| e.to_string())?;
            let l = &s.llm;
            assert_eq!(l.base_url.as_ref().map(ServiceUrl::expose), Some("http://127.0.0.1:8080/v1"));
            assert_eq!((l.model.as_str(), l.max_retries, l.timeout_secs, l.backoff_ms), ("smollm2", 4, 7, 50));
            assert_eq!(l.api_key.as_ref().map(Secret::expose), Some("sk-very-secret-value"));
            assert_eq!((l.max_tokens_field, l.max_output_tokens, l.temperature), (MaxTokensField::MaxTokens, 300, 0.0));
            assert_eq!((l.price_per_1k_input, l.price_per_1k_output), (Some(0.5), Some(1.5)));
            let e = &s.embed;
            assert_eq!(e.model_dir.as_deref(), Some(Path::new("/models/minilm")));
            assert_eq!(e.base_url.as_ref().map(ServiceUrl::expose), Some("http://127.0.0.1:9000/v1"));
            assert_eq!((e.model.as_str(), e.dim, e.timeout_secs), ("nomic", Some(384), 9));
            assert_eq!(e.api_key.as_ref().map(Secret::expose), Some("embed-secret-key"));
            let shown = format!("{s:?}");
            assert!(!shown.contains("very-secret") && !shown.contains("embed-secret"), "{shown}");
            Ok(())
        });
    }

    #[test]
    fn an_empty_llm_or_embed_variable_is_unset() {
        Jail::expect_with(|jail| {
            jail.set_env("INQUEST_LLM_BASE_URL", "");
            jail.set_env("INQUEST_LLM_TIMEOUT_SECS", " ");
            jail.set_env("INQUEST_EMBED_DIM", "");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.llm, LlmSettings::default());
            assert_eq!(s.embed, EmbedSettings::default());
            Ok(())
        });
    }

    #[test]
    fn bad_llm_and_embed_values_name_their_key() {
        for (file, var, value, key) in [
            ("[llm]\nbase_urll = \"http://x\"\n", "", "", "base_urll"),
            ("[embed]\nmodel_path = \"/m\"\n", "", "", "model_path"),
            ("", "INQUEST_LLM_MODLE", "x", "modle"),
            ("", "INQUEST_LLM_MAX_TOKENS_FIELD", "tokens", "llm.max_tokens_field"),
            ("", "INQUEST_LLM_TIMEOUT_SECS", "soon", "llm.timeout_secs"),
            ("", "INQUEST_EMBED_DIM", "many", "embed.dim"),
        ] {
            Jail::expect_with(|jail| {
                jail.create_file("inquest.toml", file)?;
                if !var.is_empty() {
                    jail.set_env(var, value);
                }
                let err = Settings::load(Some(Path::new("inquest.toml"))).expect_err("must fail").to_string();
                assert!(err.contains(key), "{file}{var}={value}: {err}");
                Ok(())
            });
        }
    }

    #[test]
    fn intake_settings_come_from_the_file_and_the_environment() {
        Jail::expect_with(|jail| {
            jail.create_file("inquest.toml", "[intake]\npolicy_file = \"policy.toml\"\nworkers = 4\n")?;
            jail.set_env("INQUEST_INTAKE_LEASE_SECS", "3");
            let s = Settings::load(Some(Path::new("inquest.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.intake.policy_file.as_deref(), Some(Path::new("policy.toml")));
            assert_eq!((s.intake.workers, s.intake.lease_secs, s.intake.max_attempts), (4, 3, 5));
            assert_eq!(s.intake.shutdown_grace_secs, 30);
            jail.set_env("INQUEST_INTAKE_WORKERS", "many");
            let err = Settings::load(None).expect_err("must fail").to_string();
            assert!(err.contains("intake.workers"), "{err}");
            jail.set_env("INQUEST_INTAKE_WORKERS", "1");
            for (var, value, key) in [
                ("INQUEST_INTAKE_LEASE_SECS", "10000000000000000", "intake.lease_secs"),
                ("INQUEST_INTAKE_LEASE_SECS", "0", "intake.lease_secs"),
                ("INQUEST_INTAKE_MAX_ATTEMPTS", "0", "intake.max_attempts"),
                ("INQUEST_INTAKE_BACKOFF_BASE_SECS", "600", "intake.backoff_base_secs"),
                ("INQUEST_INTAKE_SHUTDOWN_GRACE_SECS", "100000", "intake.shutdown_grace_secs"),
                ("INQUEST_INTAKE_SHUTDOWN_GRACE_SECS", "soon", "intake.shutdown_grace_secs"),
            ] {
                jail.set_env("INQUEST_INTAKE_LEASE_SECS", "3");
                jail.set_env("INQUEST_INTAKE_MAX_ATTEMPTS", "5");
                jail.set_env("INQUEST_INTAKE_BACKOFF_BASE_SECS", "2");
                jail.set_env("INQUEST_INTAKE_SHUTDOWN_GRACE_SECS", "30");
                jail.set_env(var, value);
                let err = Settings::load(None).expect_err("out of range").to_string();
                assert!(err.contains(key), "{var}={value}: {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn timeouts_come_from_the_file_and_the_environment_within_an_hour() {
        Jail::expect_with(|jail| {
            jail.create_file("inquest.toml", "[timeouts]\nrecords_secs = 5\nembedder_secs = 900\n")?;
            jail.set_env("INQUEST_TIMEOUTS_TOPOLOGY_SECS", "7");
            let s = Settings::load(Some(Path::new("inquest.toml"))).map_err(|e| e.to_string())?;
            let t = &s.timeouts;
            assert_eq!((t.records_secs, t.topology_secs, t.embedder_secs), (5, 7, 900));
            assert_eq!((t.metrics_secs, t.semantic_secs, t.intake_secs), (60, 60, 60));
            for (var, value, key) in [
                ("INQUEST_TIMEOUTS_TOPOLOGY_SECS", "0", "timeouts.topology_secs"),
                ("INQUEST_TIMEOUTS_INTAKE_SECS", "3601", "timeouts.intake_secs"),
                ("INQUEST_TIMEOUTS_METRICS_SECS", "soon", "timeouts.metrics_secs"),
            ] {
                jail.set_env(var, value);
                let err = Settings::load(None).expect_err("out of range").to_string();
                assert!(err.contains(key), "{var}={value}: {err}");
                jail.set_env(var, "7");
            }
            jail.set_env("INQUEST_TIMEOUTS_RECORD_SECS", "5");
            let err = Settings::load(None).expect_err("unknown key").to_string();
            assert!(err.contains("record_secs"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.create_file("inquest.toml", "[timeouts]\nrecord_secs = 5\n")?;
            let err = Settings::load(Some(Path::new("inquest.toml"))).expect_err("unknown key").to_string();
            assert!(err.contains("record_secs"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn auth_settings_come_from_the_file_and_the_environment() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "inquest.toml",
                r#"
                [auth]
                session_hours = 8
                secret_key_file = "/etc/inquest/keys"
                [auth.oidc]
                issuer = "https://login.example.com"
                audience = "inquest"
                jwks_url = "https://login.example.com/jwks"
                group_roles = [{ group = "sre", project = "payments", role = "admin" }]
                "#,
            )?;
            jail.set_env("INQUEST_AUTH_REQUIRED", "false");
            jail.set_env("INQUEST_AUTH_SECRET_KEYS", "k2:c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LXByaW50");
            jail.set_env("INQUEST_AUTH_OIDC_LEEWAY_SECS", "30");
            let s = Settings::load(Some(Path::new("inquest.toml"))).map_err(|e| e.to_string())?;
            let a = &s.auth;
            assert!(!a.required);
            assert_eq!((a.session_hours, a.login_max_failures, a.login_window_secs), (8, 5, 900));
            assert_eq!(a.secure_cookie_mode(), SecureCookie::Auto);
            assert_eq!(a.secret_key_file.as_deref(), Some(Path::new("/etc/inquest/keys")));
            let oidc = a.oidc.as_ref().expect("the oidc section");
            assert_eq!(
                (oidc.leeway_secs, oidc.user_claim.as_str(), oidc.groups_claim.as_str()),
                (30, "email", "groups")
            );
            assert_eq!(oidc.group_roles[0].role, Role::Admin);
            assert_eq!(oidc.group_roles[0].project.as_str(), "payments");
            let shown = format!("{s:?}");
            assert!(!shown.contains("c2VjcmV0"), "{shown}");
            Ok(())
        });
    }

    #[test]
    fn bad_auth_values_name_their_key() {
        for (var, value, key) in [
            ("INQUEST_AUTH_SESSION_HOURS", "0", "auth.session_hours"),
            ("INQUEST_AUTH_SESSION_HOURS", "721", "auth.session_hours"),
            ("INQUEST_AUTH_SECURE_COOKIE", "sometimes", "auth.secure_cookie"),
            ("INQUEST_AUTH_LOGIN_MAX_FAILURES", "0", "auth.login_max_failures"),
            ("INQUEST_AUTH_LOGIN_WINDOW_SECS", "0", "auth.login_window_secs"),
            ("INQUEST_AUTH_REQUIRD", "false", "requird"),
        ] {
            Jail::expect_with(|jail| {
                jail.set_env(var, value);
                let err = Settings::load(None).expect_err("must fail").to_string();
                assert!(err.contains(key), "{var}={value}: {err}");
                Ok(())
            });
        }
        for (oidc, key) in [
            ("issuer = \"\"\naudience = \"a\"\njwks_url = \"https://x/j\"", "auth.oidc.issuer"),
            ("issuer = \"i\"\naudience = \"a\"\njwks_url = \"file:///j\"", "auth.oidc.jwks_url"),
            (
                "issuer = \"i\"\naudience = \"a\"\njwks_url = \"https://x/j\"\nleeway_secs = 9999",
                "auth.oidc.leeway_secs",
            ),
            (
                "issuer = \"i\"\naudience = \"a\"\njwks_url = \"https://x/j\"\ngroup_roles = [{ group = \"g\", project = \"Bad Id\", role = \"admin\" }]",
                "project",
            ),
            ("issuer = \"i\"\njwks_url = \"https://x/j\"", "audience"),
        ] {
            Jail::expect_with(|jail| {
                jail.create_file("inquest.toml", &format!("[auth.oidc]\n{oidc}\n"))?;
                let err = Settings::load(Some(Path::new("inquest.toml"))).expect_err("must fail").to_string();
                assert!(err.contains(key), "{oidc}: {err}");
                Ok(())
            });
        }
    }

    #[test]
    fn investigation_settings_come_from_the_file_and_the_environment() {
        Jail::expect_with(|jail| {
            jail.create_file("metrics.toml", "")?;
            jail.create_file(
                "inquest.toml",
                "[investigation]\nbaseline_horizon_days = 30\nmetric_catalogue = \"metrics.toml\"\n",
            )?;
            jail.set_env("INQUEST_INVESTIGATION_TOPOLOGY_DEPTH", "4");
            let s = Settings::load(Some(Path::new("inquest.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.investigation.baseline_horizon_days, 30);
            assert_eq!(s.investigation.topology_depth, 4);
            assert_eq!(s.investigation.baseline_minutes, 180);
            assert_eq!(s.investigation.metric_catalogue, Some(PathBuf::from("metrics.toml")));
            Ok(())
        });
    }

    #[test]
    fn investigation_settings_out_of_bounds_are_refused_naming_the_key() {
        for (var, value, key) in [
            ("INQUEST_INVESTIGATION_TOPOLOGY_DEPTH", "0", "investigation.topology_depth"),
            ("INQUEST_INVESTIGATION_BASELINE_MINUTES", "0", "investigation.baseline_minutes"),
            ("INQUEST_INVESTIGATION_CHANGE_LOOKBACK_MINUTES", "100000", "investigation.change_lookback_minutes"),
            ("INQUEST_INVESTIGATION_BASELINE_HORIZON_DAYS", "1000", "investigation.baseline_horizon_days"),
            ("INQUEST_INVESTIGATION_METRIC_CATALOGUE", "no-such-file.toml", "investigation.metric_catalogue"),
        ] {
            Jail::expect_with(|jail| {
                jail.set_env(var, value);
                let e = Settings::load(None).expect_err("refused").to_string();
                assert!(e.contains(key), "{var}={value}: {e}");
                Ok(())
            });
        }
    }

    #[test]
    fn the_evaluator_interval_comes_from_the_environment_and_is_bounded() {
        Jail::expect_with(|jail| {
            assert_eq!(Settings::load(None).map_err(|e| e.to_string())?.ops.evaluate_seconds, 60);
            jail.set_env("INQUEST_OPS_EVALUATE_SECONDS", "15");
            assert_eq!(Settings::load(None).map_err(|e| e.to_string())?.ops.evaluate_seconds, 15);
            jail.set_env("INQUEST_OPS_EVALUATE_SECONDS", "100000");
            let e = Settings::load(None).expect_err("refused").to_string();
            assert!(e.contains("ops.evaluate_seconds"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn the_responder_interval_comes_from_the_environment_and_is_bounded() {
        Jail::expect_with(|jail| {
            assert_eq!(Settings::load(None).map_err(|e| e.to_string())?.oncall.tick_seconds, 30);
            jail.set_env("INQUEST_ONCALL_TICK_SECONDS", "5");
            assert_eq!(Settings::load(None).map_err(|e| e.to_string())?.oncall.tick_seconds, 5);
            jail.set_env("INQUEST_ONCALL_TICK_SECONDS", "7200");
            let e = Settings::load(None).expect_err("refused").to_string();
            assert!(e.contains("oncall.tick_seconds"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn notify_settings_come_from_the_file_and_the_smtp_password_from_the_environment() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "inquest.toml",
                r#"
                [notify]
                public_url = "https://inquest.example"
                max_attempts = 3
                [notify.smtp]
                host = "smtp.example"
                from = "Inquest <inquest@example.com>"
                username = "inquest"
                "#,
            )?;
            jail.set_env("INQUEST_NOTIFY_SMTP_PASSWORD", "mail-secret");
            jail.set_env("INQUEST_NOTIFY_POLL_MS", "250");
            let s = Settings::load(Some(Path::new("inquest.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(
                (s.notify.public_url.as_str(), s.notify.max_attempts, s.notify.poll_ms),
                ("https://inquest.example", 3, 250)
            );
            let smtp = s.notify.smtp.clone().expect("smtp");
            assert_eq!((smtp.port, smtp.tls.as_str()), (587, "starttls"));
            assert_eq!(smtp.password.as_ref().map(Secret::expose), Some("mail-secret"));
            assert!(!format!("{s:?}").contains("mail-secret"));
            jail.set_env("INQUEST_NOTIFY_SMTP_TLS", "ssl");
            let e = Settings::load(Some(Path::new("inquest.toml"))).expect_err("bad tls").to_string();
            assert!(e.contains("notify.smtp.tls"), "{e}");
            jail.set_env("INQUEST_NOTIFY_SMTP_TLS", "tls");
            jail.set_env("INQUEST_NOTIFY_MAX_ATTEMPTS", "0");
            let e = Settings::load(Some(Path::new("inquest.toml"))).expect_err("no attempts").to_string();
            assert!(e.contains("notify.max_attempts"), "{e}");
            Ok(())
        });
    }
}

//! The access commands: `projects`, `users`, `members`, `tokens` and `integrations
//! reseal`. Each acts on the access store directly (the embedded `access.redb` or
//! Postgres) and appends an audit entry with actor `cli`. Passwords never come from a
//! flag: a prompt on a terminal, or one line of stdin with `--password-stdin`.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::Subcommand;
use inquest_access::{password, token};
use inquest_config::Settings;
use inquest_domain::{
    ApiToken, AuditEntry, AuditOutcome, Integration, IntegrationId, Member, Project, ProjectId, Role, TokenId, User,
    UserId, WebhookAuth,
};
use inquest_ports::AccessStore;
use serde_json::json;

use crate::stores::build_access;

#[derive(Subcommand)]
pub enum ProjectsCommand {
    /// Create a project (an id of a-z, 0-9 and '-').
    Create {
        id: ProjectId,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
    },
    /// List every project.
    List,
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Add a local user; the password is prompted for twice, or read from stdin.
    Add {
        login: String,
        /// Display name (default: the login).
        #[arg(long)]
        name: Option<String>,
        /// Make the user a member of this project (with `--role`).
        #[arg(long, requires = "role")]
        project: Option<ProjectId>,
        #[arg(long, requires = "project")]
        role: Option<Role>,
        /// Read the password from the first line of stdin instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List every user.
    List,
}

#[derive(Subcommand)]
pub enum MembersCommand {
    /// Add a user to a project or change their role there.
    Set {
        login: String,
        #[arg(long)]
        project: ProjectId,
        #[arg(long)]
        role: Role,
    },
    /// Remove a user from a project.
    Remove {
        login: String,
        #[arg(long)]
        project: ProjectId,
    },
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create an API token; it is printed once and never shown again.
    Create {
        #[arg(long)]
        project: ProjectId,
        #[arg(long)]
        role: Role,
        #[arg(long)]
        name: String,
        /// Days until it expires (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List a project's tokens (never their text or hash).
    List {
        #[arg(long)]
        project: ProjectId,
    },
    /// Revoke a token.
    Revoke {
        id: TokenId,
        #[arg(long)]
        project: ProjectId,
    },
}

#[derive(Subcommand)]
pub enum IntegrationsCommand {
    /// Create a webhook integration of a project. With `--secret-file` its secret is that
    /// file's content and a second run with the same name and secret changes nothing (for
    /// a deployment's setup step); without, a secret is generated and printed once.
    Create {
        #[arg(long)]
        project: ProjectId,
        /// e.g. alertmanager, github, generic.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        name: String,
        /// bearer (Authorization: Bearer <secret>) or hmac (X-Hub-Signature-256).
        #[arg(long, default_value = "bearer")]
        webhook_auth: String,
        #[arg(long)]
        secret_file: Option<std::path::PathBuf>,
    },
    /// List a project's integrations (never their secrets).
    List {
        #[arg(long)]
        project: ProjectId,
    },
    /// Re-encrypt every integration secret with the current (first) key of the keyring.
    Reseal,
}

/// Appends the `cli` audit entry of one command.
async fn audit(
    store: &dyn AccessStore,
    project: Option<&ProjectId>,
    action: &str,
    resource: (&str, Option<String>),
    details: serde_json::Value,
) -> Result<()> {
    let entry = AuditEntry {
        audit_id: uuid::Uuid::new_v4(),
        at: Utc::now(),
        actor: "cli".into(),
        project_id: project.cloned(),
        action: action.into(),
        resource_type: resource.0.into(),
        resource_id: resource.1,
        details,
        client_addr: None,
        user_agent: None,
        outcome: AuditOutcome::Allowed,
        // Not an HTTP request.
        status: 0,
    };
    store.append_audit(&entry).await.context("appending the audit entry")
}

async fn existing_project(store: &dyn AccessStore, id: &ProjectId) -> Result<()> {
    if store.get_project(id).await?.is_none() {
        bail!("no project '{id}' (create it with `inquest projects create {id}`)");
    }
    Ok(())
}

async fn existing_user(store: &dyn AccessStore, login: &str) -> Result<User> {
    store.user_by_login(login).await?.with_context(|| format!("no user '{login}' (add it with `inquest users add`)"))
}

fn table(headers: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(headers.to_vec());
    t
}

pub async fn projects(settings: &Settings, command: ProjectsCommand) -> Result<()> {
    let store = build_access(settings).await?;
    match command {
        ProjectsCommand::Create { id, name } => {
            let project =
                Project { name: name.unwrap_or_else(|| id.to_string()), project_id: id, created_at: Utc::now() };
            store
                .create_project(&project)
                .await
                .with_context(|| format!("creating project '{}'", project.project_id))?;
            let resource = ("project", Some(project.project_id.to_string()));
            audit(store.as_ref(), Some(&project.project_id), "project.create", resource, json!({"name": project.name}))
                .await?;
            println!("project {} created", project.project_id);
        }
        ProjectsCommand::List => {
            let mut t = table(&["project", "name", "created"]);
            for p in store.list_projects().await? {
                t.add_row(vec![p.project_id.to_string(), p.name, p.created_at.to_rfc3339()]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

/// The new user's password: from stdin's first line, or typed twice on a terminal.
fn read_password(from_stdin: bool) -> Result<String> {
    let plain = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ").context("reading the password")?;
        let again = rpassword::prompt_password("password again: ").context("reading the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        bail!("stdin is not a terminal: pass --password-stdin and write the password to stdin");
    };
    if plain.chars().count() < 12 {
        bail!("the password must have at least 12 characters");
    }
    Ok(plain)
}

pub async fn users(settings: &Settings, command: UsersCommand) -> Result<()> {
    match command {
        UsersCommand::Add { login, name, project, role, password_stdin } => {
            if login.trim().is_empty() || login.chars().any(char::is_whitespace) {
                bail!("'{login}' is not a login (no spaces, not empty)");
            }
            let plain = read_password(password_stdin)?;
            let store = build_access(settings).await?;
            if let Some(p) = &project {
                existing_project(store.as_ref(), p).await?;
            }
            let now = Utc::now();
            let user = User {
                user_id: UserId::new_random(),
                display_name: name.unwrap_or_else(|| login.clone()),
                login,
                password_hash: Some(password::hash(&plain)?),
                disabled: false,
                created_at: now,
            };
            store.create_user(&user).await.with_context(|| format!("adding user '{}'", user.login))?;
            let resource = ("user", Some(user.user_id.to_string()));
            audit(store.as_ref(), None, "user.create", resource, json!({"login": user.login})).await?;
            println!("user {} added", user.login);
            if let (Some(project), Some(role)) = (project, role) {
                set_member(store.as_ref(), &user, &project, role).await?;
            }
        }
        UsersCommand::List => {
            let store = build_access(settings).await?;
            let mut t = table(&["login", "name", "projects", "disabled"]);
            for u in store.list_users().await? {
                let roles: Vec<String> = store
                    .memberships(u.user_id)
                    .await?
                    .into_iter()
                    .map(|m| format!("{}:{}", m.project_id, m.role))
                    .collect();
                t.add_row(vec![u.login, u.display_name, roles.join(" "), u.disabled.to_string()]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

async fn set_member(store: &dyn AccessStore, user: &User, project: &ProjectId, role: Role) -> Result<()> {
    let member = Member { project_id: project.clone(), user_id: user.user_id, role, added_at: Utc::now() };
    store.put_member(&member).await.with_context(|| format!("making {} a member of {project}", user.login))?;
    let resource = ("member", Some(user.user_id.to_string()));
    audit(store, Some(project), "member.set", resource, json!({"login": user.login, "role": role})).await?;
    println!("{} is {role} in {project}", user.login);
    Ok(())
}

pub async fn members(settings: &Settings, command: MembersCommand) -> Result<()> {
    let store = build_access(settings).await?;
    match command {
        MembersCommand::Set { login, project, role } => {
            existing_project(store.as_ref(), &project).await?;
            let user = existing_user(store.as_ref(), &login).await?;
            set_member(store.as_ref(), &user, &project, role).await?;
        }
        MembersCommand::Remove { login, project } => {
            let user = existing_user(store.as_ref(), &login).await?;
            if !store.remove_member(&project, user.user_id).await? {
                bail!("{login} is not a member of {project}");
            }
            let resource = ("member", Some(user.user_id.to_string()));
            audit(store.as_ref(), Some(&project), "member.remove", resource, json!({"login": login})).await?;
            println!("{login} removed from {project}");
        }
    }
    Ok(())
}

pub async fn tokens(settings: &Settings, command: TokensCommand) -> Result<()> {
    let store = build_access(settings).await?;
    match command {
        TokensCommand::Create { project, role, name, expires_in_days } => {
            existing_project(store.as_ref(), &project).await?;
            let now = Utc::now();
            let text = token::generate();
            let t = ApiToken {
                token_id: TokenId::new_random(),
                project_id: project.clone(),
                name,
                role,
                token_hash: token::hash(&text),
                created_by: None,
                created_at: now,
                expires_at: expires_in_days.map(|d| now + chrono::Duration::days(i64::from(d))),
                revoked_at: None,
                last_used_at: None,
            };
            store.create_token(&t).await.context("creating the token")?;
            let resource = ("token", Some(t.token_id.to_string()));
            let details = json!({"name": t.name, "role": role, "expires_at": t.expires_at});
            audit(store.as_ref(), Some(&project), "token.create", resource, details).await?;
            println!("token {} ({role} in {project}):", t.token_id);
            println!("{text}");
            println!("it will not be shown again: store it now");
        }
        TokensCommand::List { project } => {
            let mut t = table(&["id", "name", "role", "created", "expires", "last used", "state"]);
            let now = Utc::now();
            let when = |ts: Option<chrono::DateTime<Utc>>| ts.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
            for tok in store.list_tokens(&project).await? {
                let state = if tok.revoked_at.is_some() {
                    "revoked"
                } else if tok.usable(now) {
                    "active"
                } else {
                    "expired"
                };
                t.add_row(vec![
                    tok.token_id.to_string(),
                    tok.name.clone(),
                    tok.role.to_string(),
                    tok.created_at.to_rfc3339(),
                    when(tok.expires_at),
                    when(tok.last_used_at),
                    state.to_string(),
                ]);
            }
            println!("{t}");
        }
        TokensCommand::Revoke { id, project } => {
            if !store.revoke_token(&project, id, Utc::now()).await? {
                bail!("no active token {id} in project {project}");
            }
            audit(store.as_ref(), Some(&project), "token.revoke", ("token", Some(id.to_string())), json!({})).await?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

pub async fn integrations(settings: &Settings, command: IntegrationsCommand) -> Result<()> {
    match command {
        IntegrationsCommand::Create { project, kind, name, webhook_auth, secret_file } => {
            let kind_ok = !kind.is_empty()
                && kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !kind_ok {
                bail!("--kind '{kind}' is not a kind (a-z, 0-9, '-', '_')");
            }
            let webhook_auth = match webhook_auth.as_str() {
                "bearer" => WebhookAuth::Bearer,
                "hmac" => WebhookAuth::Hmac,
                other => bail!("--webhook-auth '{other}' is not bearer or hmac"),
            };
            let (secret, shown) = match &secret_file {
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                    let text = text.trim().to_string();
                    if text.len() < 16 || token::is_api_token(&text) {
                        bail!("the secret in {} must be at least 16 characters and not an API token", path.display());
                    }
                    (text, false)
                }
                None => (format!("whk_{}", token::random_text(32)), true),
            };
            let ring = crate::keys::keyring(settings)?;
            let store: Arc<dyn AccessStore> = build_access(settings).await?;
            existing_project(store.as_ref(), &project).await?;
            let hash = token::hash(&secret);
            if let Some(same) = store.list_integrations(&project).await?.into_iter().find(|i| i.name == name) {
                if same.secret_hash == hash && same.kind == kind && !shown {
                    println!("integration {} ({name}) exists with this secret: unchanged", same.integration_id);
                    return Ok(());
                }
                bail!("project '{project}' has an integration named '{name}' already ({})", same.integration_id);
            }
            let now = Utc::now();
            let integration = Integration {
                integration_id: IntegrationId::new_random(),
                project_id: project.clone(),
                kind,
                name,
                webhook_auth,
                settings: json!({}),
                secret_sealed: ring.seal(&secret),
                secret_hash: hash,
                created_at: now,
                updated_at: now,
            };
            store.put_integration(&integration).await?;
            let resource = ("integration", Some(integration.integration_id.to_string()));
            audit(store.as_ref(), Some(&project), "integration.create", resource, json!({"kind": integration.kind}))
                .await?;
            println!("integration {} ({}) created in {project}", integration.integration_id, integration.name);
            if shown {
                println!("secret: {secret}");
                println!("it is shown only now: the server keeps it sealed");
            }
        }
        IntegrationsCommand::List { project } => {
            let store: Arc<dyn AccessStore> = build_access(settings).await?;
            existing_project(store.as_ref(), &project).await?;
            let mut t = table(&["id", "kind", "name", "webhook auth", "created"]);
            for i in store.list_integrations(&project).await? {
                let auth = match i.webhook_auth {
                    WebhookAuth::Bearer => "bearer",
                    WebhookAuth::Hmac => "hmac",
                };
                t.add_row(vec![i.integration_id.to_string(), i.kind, i.name, auth.into(), i.created_at.to_rfc3339()]);
            }
            println!("{t}");
        }
        IntegrationsCommand::Reseal => {
            let ring = crate::keys::keyring(settings)?;
            let store: Arc<dyn AccessStore> = build_access(settings).await?;
            let (mut resealed, mut current) = (0, 0);
            for p in store.list_projects().await? {
                for mut i in store.list_integrations(&p.project_id).await? {
                    if ring.is_current(&i.secret_sealed) {
                        current += 1;
                        continue;
                    }
                    let plain = ring.open(&i.secret_sealed).with_context(|| {
                        format!("integration {} ({}) in {}", i.integration_id, i.name, p.project_id)
                    })?;
                    i.secret_sealed = ring.seal(&plain);
                    i.updated_at = Utc::now();
                    store.put_integration(&i).await?;
                    let resource = ("integration", Some(i.integration_id.to_string()));
                    let details = json!({"key": ring.current_id()});
                    audit(store.as_ref(), Some(&p.project_id), "integration.reseal", resource, details).await?;
                    resealed += 1;
                }
            }
            println!("{resealed} secret(s) resealed with key {}, {current} already current", ring.current_id());
        }
    }
    Ok(())
}

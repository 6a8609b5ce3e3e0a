//! The access port (`AccessStore`) contract: projects, users, members, tokens, sessions,
//! integrations and the audit log, and that a project-scoped call never returns another
//! project's rows. Written once, run on `EmbeddedAccessStore` and `PostgresAccessStore`.
//!
//! Times are explicit whole seconds, so no case depends on the clock or on the
//! precision a backend keeps.

use chrono::Duration;
use inquest_domain::*;
use inquest_ports::{AccessStore, AuditQuery, ErrorKind};
use serde_json::json;
use uuid::Uuid;

fn t0() -> Timestamp {
    "2026-03-01T10:00:00Z".parse().expect("time")
}

fn secs(n: i64) -> Timestamp {
    t0() + Duration::seconds(n)
}

fn pid(s: &str) -> ProjectId {
    ProjectId::new(s).expect("project id")
}

fn user(login: &str) -> User {
    User {
        user_id: UserId::new_random(),
        login: login.into(),
        display_name: format!("{login} example"),
        password_hash: Some(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{login}")),
        disabled: false,
        created_at: t0(),
    }
}

fn token(project: &ProjectId, name: &str, hash: &str) -> ApiToken {
    ApiToken {
        token_id: TokenId::new_random(),
        project_id: project.clone(),
        name: name.into(),
        role: Role::Engineer,
        token_hash: hash.into(),
        created_by: None,
        created_at: secs(1),
        expires_at: Some(secs(3600)),
        revoked_at: None,
        last_used_at: None,
    }
}

fn integration(project: &ProjectId, name: &str, secret_hash: &str) -> Integration {
    Integration {
        integration_id: IntegrationId::new_random(),
        project_id: project.clone(),
        kind: "alertmanager".into(),
        name: name.into(),
        webhook_auth: WebhookAuth::Bearer,
        settings: json!({"receiver": name}),
        secret_sealed: format!("v1:k1:sealed-{name}"),
        secret_hash: secret_hash.into(),
        created_at: secs(2),
        updated_at: secs(2),
    }
}

fn entry(project: Option<&ProjectId>, at: i64, actor: &str, action: &str, outcome: AuditOutcome) -> AuditEntry {
    AuditEntry {
        audit_id: Uuid::new_v4(),
        at: secs(at),
        actor: actor.into(),
        project_id: project.cloned(),
        action: action.into(),
        resource_type: action.split('.').next().unwrap_or("x").into(),
        resource_id: Some(format!("r{at}")),
        details: json!({"n": at}),
        client_addr: Some("127.0.0.1".into()),
        user_agent: None,
        outcome,
        status: if outcome == AuditOutcome::Allowed { 200 } else { 403 },
    }
}

/// Every case, in order, on one empty store (its own file or database).
pub async fn access_contract(store: &dyn AccessStore) {
    projects_include_default_and_refuse_duplicates(store).await;
    let (pay, ops) = (pid("payments"), pid("ops"));
    users_are_unique_by_login_and_keep_their_password_hash(store).await;
    members_are_scoped_to_their_project(store, &pay, &ops).await;
    tokens_are_found_by_hash_revoked_and_touched(store, &pay, &ops).await;
    sessions_are_found_by_hash_and_switch_project(store, &pay).await;
    integrations_are_found_by_secret_hash_or_id_and_scoped(store, &pay, &ops).await;
    audit_is_filtered_and_paged_newest_first(store, &pay, &ops).await;
}

async fn projects_include_default_and_refuse_duplicates(store: &dyn AccessStore) {
    store.check_connectivity().await.expect("connectivity");
    let listed = store.list_projects().await.expect("list");
    assert!(listed.iter().any(|p| p.project_id.as_str() == DEFAULT_PROJECT), "{listed:?}");
    for (id, name) in [("payments", "Payments"), ("ops", "Operations")] {
        let p = Project { project_id: pid(id), name: name.into(), created_at: t0() };
        store.create_project(&p).await.expect("create project");
        assert_eq!(store.get_project(&p.project_id).await.expect("get"), Some(p));
    }
    let again = Project { project_id: pid("payments"), name: "Again".into(), created_at: t0() };
    let e = store.create_project(&again).await.expect_err("duplicate project");
    assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
    assert_eq!(store.get_project(&pid("nope")).await.expect("get"), None);
    let ids: Vec<String> =
        store.list_projects().await.expect("list").into_iter().map(|p| p.project_id.to_string()).collect();
    for id in ["default", "ops", "payments"] {
        assert!(ids.contains(&id.to_string()), "{ids:?}");
    }
}

async fn users_are_unique_by_login_and_keep_their_password_hash(store: &dyn AccessStore) {
    assert_eq!(store.count_users().await.expect("count"), 0);
    let alice = user("alice");
    store.create_user(&alice).await.expect("create alice");
    assert_eq!(store.get_user(alice.user_id).await.expect("get"), Some(alice.clone()));
    assert_eq!(store.user_by_login("alice").await.expect("by login"), Some(alice.clone()));
    assert_eq!(store.user_by_login("nobody").await.expect("by login"), None);
    let e = store.create_user(&user("alice")).await.expect_err("login taken");
    assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
    store.create_user(&user("bob")).await.expect("create bob");
    assert_eq!(store.count_users().await.expect("count"), 2);
    let logins: Vec<String> = store.list_users().await.expect("list").into_iter().map(|u| u.login).collect();
    assert_eq!(logins, ["alice", "bob"]);
    store.set_password(alice.user_id, "$argon2id$new").await.expect("set password");
    let got = store.get_user(alice.user_id).await.expect("get").expect("alice");
    assert_eq!(got.password_hash.as_deref(), Some("$argon2id$new"));
}

async fn members_are_scoped_to_their_project(store: &dyn AccessStore, pay: &ProjectId, ops: &ProjectId) {
    let alice = store.user_by_login("alice").await.expect("get").expect("alice");
    let bob = store.user_by_login("bob").await.expect("get").expect("bob");
    let m = |p: &ProjectId, u: &User, role| Member { project_id: p.clone(), user_id: u.user_id, role, added_at: t0() };
    store.put_member(&m(pay, &alice, Role::Viewer)).await.expect("add");
    store.put_member(&m(pay, &alice, Role::Admin)).await.expect("change role");
    store.put_member(&m(ops, &alice, Role::Engineer)).await.expect("add to ops");
    store.put_member(&m(ops, &bob, Role::Owner)).await.expect("add bob");
    assert_eq!(store.members(pay).await.expect("members"), vec![m(pay, &alice, Role::Admin)]);
    let mut ops_members: Vec<_> = store.members(ops).await.expect("members").into_iter().map(|m| m.role).collect();
    ops_members.sort();
    assert_eq!(ops_members, vec![Role::Owner, Role::Engineer]);
    let mut mine = store.memberships(alice.user_id).await.expect("memberships");
    mine.sort_by(|a, b| a.project_id.cmp(&b.project_id));
    assert_eq!(mine, vec![m(ops, &alice, Role::Engineer), m(pay, &alice, Role::Admin)]);
    assert!(store.remove_member(ops, alice.user_id).await.expect("remove"));
    assert!(!store.remove_member(ops, alice.user_id).await.expect("remove again"));
    assert!(!store.remove_member(pay, bob.user_id).await.expect("not a member there"));
    assert_eq!(store.memberships(alice.user_id).await.expect("memberships"), vec![m(pay, &alice, Role::Admin)]);
    assert_eq!(store.members(ops).await.expect("members"), vec![m(ops, &bob, Role::Owner)]);
}

async fn tokens_are_found_by_hash_revoked_and_touched(store: &dyn AccessStore, pay: &ProjectId, ops: &ProjectId) {
    let ci = token(pay, "ci", "aa11");
    let other = token(ops, "ops-bot", "bb22");
    store.create_token(&ci).await.expect("create");
    store.create_token(&other).await.expect("create other");
    assert_eq!(store.token_by_hash("aa11").await.expect("by hash"), Some(ci.clone()));
    assert_eq!(store.token_by_hash("cc33").await.expect("by hash"), None);
    assert_eq!(store.list_tokens(pay).await.expect("list"), vec![ci.clone()]);
    assert_eq!(store.list_tokens(ops).await.expect("list"), vec![other.clone()]);
    assert!(!store.revoke_token(pay, other.token_id, secs(10)).await.expect("another project's token"));
    assert!(store.token_by_hash("bb22").await.expect("by hash").expect("still there").revoked_at.is_none());
    store.touch_token(ci.token_id, secs(20)).await.expect("touch");
    assert!(store.revoke_token(pay, ci.token_id, secs(30)).await.expect("revoke"));
    assert!(!store.revoke_token(pay, ci.token_id, secs(40)).await.expect("already revoked"));
    let got = store.token_by_hash("aa11").await.expect("by hash").expect("ci");
    assert_eq!((got.last_used_at, got.revoked_at), (Some(secs(20)), Some(secs(30))));
    assert!(!got.usable(secs(31)));
    assert_eq!(got.token_hash, "aa11");
}

async fn sessions_are_found_by_hash_and_switch_project(store: &dyn AccessStore, pay: &ProjectId) {
    let alice = store.user_by_login("alice").await.expect("get").expect("alice");
    let s = Session {
        session_hash: "5e55".into(),
        user_id: alice.user_id,
        project_id: ProjectId::default_project(),
        csrf_token: "csrf-1".into(),
        created_at: t0(),
        expires_at: secs(3600),
    };
    store.create_session(&s).await.expect("create");
    assert_eq!(store.session_by_hash("5e55").await.expect("get"), Some(s.clone()));
    store.set_session_project("5e55", pay).await.expect("switch");
    assert_eq!(store.session_by_hash("5e55").await.expect("get").expect("s").project_id, *pay);
    store.delete_session("5e55").await.expect("delete");
    assert_eq!(store.session_by_hash("5e55").await.expect("get"), None);
    store.delete_session("5e55").await.expect("deleting twice is fine");
}

async fn integrations_are_found_by_secret_hash_or_id_and_scoped(
    store: &dyn AccessStore,
    pay: &ProjectId,
    ops: &ProjectId,
) {
    let am = integration(pay, "am", "5ec1");
    let gh = integration(ops, "gh", "5ec2");
    store.put_integration(&am).await.expect("put");
    store.put_integration(&gh).await.expect("put other");
    assert_eq!(store.get_integration(pay, am.integration_id).await.expect("get"), Some(am.clone()));
    assert_eq!(store.get_integration(pay, gh.integration_id).await.expect("another project's"), None);
    assert_eq!(store.list_integrations(pay).await.expect("list"), vec![am.clone()]);
    assert_eq!(store.integration_by_secret_hash("5ec1").await.expect("by hash"), Some(am.clone()));
    assert_eq!(store.integration_by_id(gh.integration_id).await.expect("by id"), Some(gh.clone()));
    // Replacing: a new secret, the old hash no longer finds it.
    let mut rotated = am.clone();
    rotated.secret_hash = "5ec3".into();
    rotated.secret_sealed = "v1:k2:sealed-again".into();
    rotated.updated_at = secs(50);
    store.put_integration(&rotated).await.expect("replace");
    assert_eq!(store.integration_by_secret_hash("5ec1").await.expect("by old hash"), None);
    assert_eq!(store.integration_by_secret_hash("5ec3").await.expect("by new hash"), Some(rotated.clone()));
    assert_eq!(store.list_integrations(pay).await.expect("list"), vec![rotated.clone()]);
    assert!(!store.delete_integration(pay, gh.integration_id).await.expect("another project's"));
    assert!(store.delete_integration(pay, am.integration_id).await.expect("delete"));
    assert!(!store.delete_integration(pay, am.integration_id).await.expect("delete again"));
    assert_eq!(store.integration_by_secret_hash("5ec3").await.expect("by hash"), None);
    assert_eq!(store.integration_by_id(am.integration_id).await.expect("by id"), None);
    assert_eq!(store.list_integrations(ops).await.expect("list"), vec![gh]);
}

async fn audit_is_filtered_and_paged_newest_first(store: &dyn AccessStore, pay: &ProjectId, ops: &ProjectId) {
    let mut written = Vec::new();
    for i in 0..7 {
        let outcome = if i % 3 == 0 { AuditOutcome::Denied } else { AuditOutcome::Allowed };
        let actor = if i % 2 == 0 { "user:alice" } else { "cli" };
        let action = if i < 4 { "incident.feedback" } else { "token.create" };
        let e = entry(Some(pay), 100 + i, actor, action, outcome);
        store.append_audit(&e).await.expect("append");
        written.push(e);
    }
    // Two entries at the same instant: the id breaks the tie.
    let mut tie = entry(Some(pay), 106, "cli", "token.create", AuditOutcome::Allowed);
    tie.audit_id = Uuid::from_u128(u128::MAX);
    store.append_audit(&tie).await.expect("append tie");
    written.push(tie.clone());
    store.append_audit(&entry(Some(ops), 103, "cli", "token.create", AuditOutcome::Allowed)).await.expect("ops");
    store.append_audit(&entry(None, 104, "anonymous", "login", AuditOutcome::Failed)).await.expect("no project");

    written.sort_by_key(|e| std::cmp::Reverse((e.at, e.audit_id)));
    let all = AuditQuery { limit: 100, ..AuditQuery::default() };
    assert_eq!(store.audit(pay, &all).await.expect("all"), written, "newest first, only this project");

    // Pages of three, each strictly before the last of the previous one.
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let q = AuditQuery { limit: 3, before, ..AuditQuery::default() };
        let page = store.audit(pay, &q).await.expect("page");
        if page.is_empty() {
            break;
        }
        before = page.last().map(|e| (e.at, e.audit_id));
        pages.extend(page);
    }
    assert_eq!(pages, written);

    let ids = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.audit_id).collect::<Vec<_>>();
    let want = |f: &dyn Fn(&AuditEntry) -> bool| ids(written.iter().filter(|e| f(e)).cloned().collect());
    let q = AuditQuery { actor: Some("cli".into()), limit: 100, ..AuditQuery::default() };
    assert_eq!(ids(store.audit(pay, &q).await.expect("actor")), want(&|e| e.actor == "cli"));
    let q = AuditQuery { outcome: Some(AuditOutcome::Denied), limit: 100, ..AuditQuery::default() };
    assert_eq!(ids(store.audit(pay, &q).await.expect("outcome")), want(&|e| e.outcome == AuditOutcome::Denied));
    let q = AuditQuery {
        action: Some("token.create".into()),
        resource_type: Some("token".into()),
        from: Some(secs(105)),
        to: Some(secs(106)),
        limit: 100,
        ..AuditQuery::default()
    };
    assert_eq!(
        ids(store.audit(pay, &q).await.expect("action and window")),
        want(&|e| e.action == "token.create" && e.at >= secs(105) && e.at <= secs(106))
    );
    let ops_entries = store.audit(ops, &all).await.expect("ops");
    assert_eq!(ops_entries.len(), 1);
    assert_eq!(ops_entries[0].project_id.as_ref(), Some(ops));
    assert!(store.audit(&ProjectId::default_project(), &all).await.expect("default").is_empty());
}

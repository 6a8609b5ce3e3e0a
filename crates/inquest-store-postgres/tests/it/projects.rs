//! Projects on Postgres: row-level security beneath the application, and the
//! stores' scoped views, as the application's role (a member of `inquest_app`)
//! and as the owner.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use inquest_core::{InvestigationConfig, investigate_and_save};
use inquest_domain::ProjectId;
use inquest_fixtures::{FixtureCase, load_case};
use inquest_intake::IngestStore;
use inquest_ports::{RecordStore, Stores};
use inquest_report::TemplateReport;
use inquest_store_embedded::EmbeddedStore;
use inquest_store_postgres::{PoolSettings, PostgresStore};
use tokio_postgres::NoTls;

use crate::support::{FreshDb, RecordsOn, server_url};

/// A login role that is a member of `inquest_app`, dropped with the value (roles
/// belong to the cluster, not to the test's database).
struct AppRole {
    name: String,
    url: String,
    admin_url: String,
}

impl AppRole {
    async fn create(admin: &tokio_postgres::Client, admin_url: &str, db_url: &str) -> AppRole {
        let name = format!("inquest_test_app_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE ROLE {name} LOGIN PASSWORD 'app-password' IN ROLE inquest_app"))
            .await
            .expect("create the login role");
        let mut config: tokio_postgres::Config = db_url.parse().expect("test url");
        config.user(&name).password("app-password");
        AppRole { url: to_url(&config), name, admin_url: admin_url.to_string() }
    }
}

/// A key=value connection string for `config` (what `PostgresStore::connect` also takes).
fn to_url(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "127.0.0.1".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "host={host} port={port} dbname={} user={} password=app-password",
        config.get_dbname().unwrap_or("postgres"),
        config.get_user().unwrap_or_default()
    )
}

impl Drop for AppRole {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(async move {
                    if let Ok((client, conn)) = tokio_postgres::connect(&admin, NoTls).await {
                        tokio::spawn(conn);
                        // Its sessions end with the test's database (dropped WITH (FORCE)).
                        let _ = client.batch_execute(&format!("DROP ROLE IF EXISTS {name}")).await;
                    }
                });
            }
        })
        .join();
    }
}

fn case(id: &str) -> FixtureCase {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(id);
    FixtureCase::read(&dir).expect("fixture case")
}

/// The case loaded and investigated in `project` (records on Postgres, the rest
/// embedded), with a feedback event and alerts in its intake.
async fn fill(records: &PostgresStore, project: &ProjectId, case: &FixtureCase) {
    let embedded = EmbeddedStore::in_memory().expect("embedded").stores().for_project(project);
    let stores = Stores { records: Arc::new(records.in_project(project)), ..embedded };
    load_case(&stores, case).await.expect("load the case");
    investigate_and_save(&stores, &TemplateReport, case.incident_id, &InvestigationConfig::default(), Utc::now())
        .await
        .expect("investigate");
    let event = inquest_domain::FeedbackEvent {
        feedback_event_id: inquest_domain::FeedbackEventId(uuid::Uuid::new_v4()),
        incident_id: case.incident_id,
        created_at: Utc::now(),
        actor_type: inquest_domain::ActorType::User,
        actor_id: Some("oncall".into()),
        event_type: "human_note_added".into(),
        payload: serde_json::json!({"note": project.as_str()}),
    };
    stores.records.append_feedback(&event).await.expect("feedback");
    let intake = records.in_project(project).intake();
    let policy = inquest_intake::Policy::default_policy();
    let alerts = [
        inquest_contract::ingest::alert("checkout", "critical", "errors"),
        inquest_contract::ingest::alert("checkout", "critical", "latency"),
    ];
    let applied = intake.ingest(&alerts, &policy, Utc::now()).await.expect("ingest");
    assert!(applied.iter().any(|a| a.job_id.is_some()), "a job is queued");
    let incident = applied[0].incident_id.expect("incident");
    intake
        .add_note(incident, inquest_intake::lifecycle::Note { at: Utc::now(), author: "a".into(), text: "t".into() })
        .await
        .expect("note");
}

/// Tables with a `project_id` column that are not scoped by it: the registry of
/// projects itself (its key is the project).
const NOT_SCOPED: &[&str] = &["projects"];

/// Every table with a `project_id` column, from the catalogue, but `NOT_SCOPED`.
async fn scoped_tables(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query(
            "SELECT table_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_name = 'project_id' \
               AND NOT (table_name::text = ANY($1)) ORDER BY 1",
            &[&NOT_SCOPED],
        )
        .await
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// Tables the application role may only read and append to.
const APPEND_ONLY: &[&str] = &["audit_log", "ticket_events"];

#[tokio::test]
async fn row_level_security_keeps_the_application_role_to_its_project() {
    let Some(admin_url) = server_url("row_level_security_keeps_the_application_role_to_its_project") else { return };
    let db = FreshDb::create(&admin_url).await;
    let owner = db.migrated_store().await;
    let (admin, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect as the owner");
    tokio::spawn(conn);
    admin
        .batch_execute("INSERT INTO projects (project_id, name) VALUES ('a', 'A'), ('b', 'B')")
        .await
        .expect("projects");
    let (a, b) = (ProjectId::new("a").expect("id"), ProjectId::new("b").expect("id"));
    let fixture = case("release-checkout-payment-timeout");
    fill(&owner, &a, &fixture).await;
    fill(&owner, &b, &fixture).await;

    // Every project-scoped table has row-level security and its policy.
    let tables = scoped_tables(&admin).await;
    assert!(tables.len() >= 19, "{tables:?}");
    for t in &tables {
        let on: bool = admin
            .query_one("SELECT relrowsecurity FROM pg_class WHERE oid = $1::text::regclass", &[t])
            .await
            .expect("relrowsecurity")
            .get(0);
        assert!(on, "{t}: row-level security is not enabled");
        let policies = count(&admin, &format!("SELECT count(*) FROM pg_policies WHERE tablename = '{t}'")).await;
        assert!(policies >= 1, "{t}: no policy");
    }
    // The owner sees both projects' rows (it is not subject to the policies).
    let mut filled = 0;
    for t in &tables {
        let (na, nb) = (
            count(&admin, &format!("SELECT count(*) FROM {t} WHERE project_id = 'a'")).await,
            count(&admin, &format!("SELECT count(*) FROM {t} WHERE project_id = 'b'")).await,
        );
        assert_eq!(na, nb, "{t}: the same fixture in both projects");
        filled += usize::from(na > 0);
    }
    assert!(filled >= 15, "most tables hold rows of both projects: {filled} of {}", tables.len());

    let role = AppRole::create(&admin, &admin_url, &db.url).await;
    let (app, conn) = tokio_postgres::connect(&role.url, NoTls).await.expect("connect as the application role");
    tokio::spawn(conn);
    // No project set: nothing at all.
    for t in &tables {
        assert_eq!(count(&app, &format!("SELECT count(*) FROM {t}")).await, 0, "{t} without inquest.project");
    }
    // Project a: its rows, none of b's, and no write into b.
    app.batch_execute("SELECT set_config('inquest.project', 'a', false)").await.expect("set project");
    for t in &tables {
        let mine = count(&app, &format!("SELECT count(*) FROM {t}")).await;
        let theirs = count(&app, &format!("SELECT count(*) FROM {t} WHERE project_id = 'b'")).await;
        assert_eq!(theirs, 0, "{t}: a row of b is visible in a");
        let owner_count = count(&admin, &format!("SELECT count(*) FROM {t} WHERE project_id = 'a'")).await;
        assert_eq!(mine, owner_count, "{t}: every row of a is visible in a");
        for statement in [
            format!("UPDATE {t} SET project_id = project_id WHERE project_id = 'b'"),
            format!("DELETE FROM {t} WHERE project_id = 'b'"),
        ] {
            match app.execute(&statement, &[]).await {
                Ok(n) => assert_eq!(n, 0, "{statement}: b's rows changed from a"),
                // The audit log is append-only: the application may not even try.
                Err(e) if APPEND_ONLY.contains(&t.as_str()) => {
                    assert_eq!(
                        e.code(),
                        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                        "{statement}: {e}"
                    )
                }
                Err(e) => panic!("{statement}: {e}"),
            }
        }
    }
    let refused = app
        .execute(
            "INSERT INTO services (service_id, cluster_id, namespace, service_name, project_id) \
             VALUES (gen_random_uuid(), 'c', 'ns', 'intruder', 'b')",
            &[],
        )
        .await
        .expect_err("an insert into b from a is refused");
    let why = refused.as_db_error().map(|e| e.message().to_string()).unwrap_or_else(|| refused.to_string());
    assert!(why.contains("row-level security"), "{why}");
    let moved = app.execute("UPDATE services SET project_id = 'b' WHERE project_id = 'a'", &[]).await;
    assert!(moved.is_err(), "a row of a cannot be moved into b");
    // Schema changes are the owner's.
    assert!(app.batch_execute("DROP TABLE services CASCADE").await.is_err(), "the application role has no DDL");

    // The stores work as the application role, each view in its project.
    let app_store = PostgresStore::connect(&role.url, &PoolSettings::default()).expect("pool");
    let ra = app_store.in_project(&a);
    assert!(ra.get_incident(fixture.incident_id).await.expect("read").is_some());
    assert_eq!(
        ra.hypotheses(fixture.incident_id).await.expect("hypotheses").len(),
        owner.in_project(&a).hypotheses(fixture.incident_id).await.expect("hypotheses").len()
    );
    let none = app_store.in_project(&ProjectId::new("default").expect("id"));
    assert!(none.get_incident(fixture.incident_id).await.expect("read").is_none(), "default holds nothing");
    let work = app_store.intake().projects_with_work().await.expect("projects with work");
    assert!(work.contains(&a) && work.contains(&b), "the function names every project with work: {work:?}");
    assert!(app_store.rls_bypass().await.expect("attributes").is_none(), "the policies apply to the application role");
    let bypass = owner.rls_bypass().await.expect("attributes").expect("the test server's owner bypasses them");
    assert!(!bypass.1.is_empty());
    drop((app_store, ra, none));
    drop(app);
    drop(role);
}

#[tokio::test]
async fn scoped_views_keep_projects_apart_as_the_application_role() {
    let Some(admin_url) = server_url("scoped_views_keep_projects_apart_as_the_application_role") else { return };
    let db = FreshDb::create(&admin_url).await;
    db.migrated_store().await;
    let (admin, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect as the owner");
    tokio::spawn(conn);
    let (a, b) = inquest_contract::isolation::two_projects();
    for p in [&a, &b] {
        admin
            .execute("INSERT INTO projects (project_id, name) VALUES ($1, $1)", &[&p.as_str()])
            .await
            .expect("project");
    }
    let role = AppRole::create(&admin, &admin_url, &db.url).await;
    let store = PostgresStore::connect(&role.url, &PoolSettings::default()).expect("pool");
    inquest_contract::isolation::records_isolation(Arc::new(store.clone()), &a, &b).await;
    let intake: Arc<dyn IngestStore> = Arc::new(store.intake());
    inquest_contract::isolation::ingest_isolation(intake, &a, &b).await;
    // A project that does not exist cannot be written to.
    let ghost = store.in_project(&ProjectId::new("no-such-project").expect("id"));
    let batch = inquest_ports::RecordBatch {
        services: vec![inquest_domain::Service {
            service_id: inquest_domain::ServiceId::new_random(),
            cluster_id: "c".into(),
            namespace: "n".into(),
            service_name: "s".into(),
            created_at: Utc::now(),
        }],
        ..Default::default()
    };
    let e = ghost.apply_batch(&batch).await.expect_err("the foreign key to projects refuses it");
    assert_eq!(e.kind, inquest_ports::ErrorKind::InvalidInput, "{e}");
    assert!(!store.project_exists(&ProjectId::new("no-such-project").expect("id")).await.expect("read"));
    assert!(store.project_exists(&a).await.expect("read"));
    drop(store);
    drop(role);
}

#[tokio::test]
async fn scoped_views_keep_projects_apart_as_the_owner() {
    let Some(admin_url) = server_url("scoped_views_keep_projects_apart_as_the_owner") else { return };
    let db = FreshDb::create(&admin_url).await;
    let owner = db.migrated_store().await;
    let (admin, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect as the owner");
    tokio::spawn(conn);
    let (a, b) = inquest_contract::isolation::two_projects();
    for p in [&a, &b] {
        admin
            .execute("INSERT INTO projects (project_id, name) VALUES ($1, $1)", &[&p.as_str()])
            .await
            .expect("project");
    }
    // The owner bypasses the policies: the statements' own project_id keeps it apart.
    inquest_contract::isolation::records_isolation(Arc::new(owner.clone()), &a, &b).await;
    inquest_contract::isolation::ingest_isolation(Arc::new(owner.intake()), &a, &b).await;
}

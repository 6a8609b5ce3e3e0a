//! What the Postgres adapters' tests share: the server named by
//! `INQUEST_TEST_POSTGRES_URL` (skipped locally when unset, a failure under
//! `CI=true`) and a fresh, randomly named database per test, dropped at its end.

use tokio_postgres::NoTls;

pub const URL_VAR: &str = "INQUEST_TEST_POSTGRES_URL";

/// The server URL, or `None` (with a printed reason) when the test should skip.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test}: {URL_VAR} is not set under CI=true: the Postgres server should have been started");
            }
            eprintln!("skipping {test}: {URL_VAR} is not set (scripts/test.sh starts a server)");
            None
        }
    }
}

/// An empty database created for one test, dropped when the test ends.
pub struct FreshDb {
    pub url: String,
    name: String,
    admin_url: String,
}

impl FreshDb {
    pub async fn create(admin_url: &str) -> Self {
        let name = format!("inquest_test_{}", uuid::Uuid::new_v4().simple());
        let (client, conn) = tokio_postgres::connect(admin_url, NoTls).await.expect("connect to the test server");
        tokio::spawn(conn);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
        // The URL names a database as its last path segment: swap it for the new one.
        let (base, query) = admin_url.split_once('?').map_or((admin_url, None), |(b, q)| (b, Some(q)));
        let slash = base.rfind('/').filter(|i| base[..*i].ends_with(|c: char| c != '/')).expect("url with a database");
        let mut url = format!("{}/{name}", &base[..slash]);
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        Self { url, name, admin_url: admin_url.to_string() }
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        // Best effort; the throwaway cluster goes away at the end of the run anyway.
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    if let Ok((client, conn)) = tokio_postgres::connect(&admin, NoTls).await {
                        tokio::spawn(conn);
                        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    }
                });
            }
        })
        .join();
    }
}

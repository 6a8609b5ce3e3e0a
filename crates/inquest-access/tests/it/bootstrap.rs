//! The first owner of a fresh install, on the embedded access store.

use anyhow::{Context, Result};
use inquest_access::{bootstrap, password};
use inquest_domain::{ProjectId, Role};
use inquest_ports::AccessStore;
use inquest_store_embedded::EmbeddedAccessStore;

#[tokio::test]
async fn the_first_start_makes_one_owner_of_the_default_project() -> Result<()> {
    let store = EmbeddedAccessStore::in_memory()?;
    let now = chrono::Utc::now();
    let (login, plain) = bootstrap::first_owner(&store, now).await?.context("no users yet")?;
    assert_eq!(login, "admin");
    assert!(plain.len() >= 20);
    let user = store.user_by_login("admin").await?.context("created")?;
    assert!(password::verify(&plain, user.password_hash.as_deref().context("a password")?));
    let roles: Vec<_> = store.memberships(user.user_id).await?.into_iter().map(|m| (m.project_id, m.role)).collect();
    assert_eq!(roles, vec![(ProjectId::default_project(), Role::Owner)]);
    assert!(bootstrap::first_owner(&store, now).await?.is_none(), "only once");
    assert_eq!(store.count_users().await?, 1);
    Ok(())
}

//! The first start of an install: with no users yet, an owner of the default project
//! whose one-time password is printed once.

use inquest_domain::{Member, Project, ProjectId, Role, Timestamp, User, UserId};
use inquest_ports::{AccessStore, ErrorKind};

use crate::{AccessError, password};

/// The login of the first owner.
pub const FIRST_LOGIN: &str = "admin";

/// Makes sure the default project exists.
pub async fn default_project(store: &dyn AccessStore, now: Timestamp) -> Result<(), AccessError> {
    let id = ProjectId::default_project();
    if store.get_project(&id).await?.is_some() {
        return Ok(());
    }
    let project = Project { project_id: id, name: "Default".into(), created_at: now };
    match store.create_project(&project).await {
        Err(e) if e.kind != ErrorKind::Conflict => Err(e.into()),
        _ => Ok(()),
    }
}

/// With no users: make sure the default project exists, create user `admin` (random
/// password, argon2id) as its owner and return `(login, password)` to print once.
/// With users: `Ok(None)`.
pub async fn first_owner(store: &dyn AccessStore, now: Timestamp) -> Result<Option<(String, String)>, AccessError> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    default_project(store, now).await?;
    let plain = password::generate();
    let user = User {
        user_id: UserId::new_random(),
        login: FIRST_LOGIN.into(),
        display_name: "Administrator".into(),
        password_hash: Some(password::hash(&plain)?),
        disabled: false,
        created_at: now,
    };
    match store.create_user(&user).await {
        // Another process made the first user at the same moment: it prints the password.
        Err(e) if e.kind == ErrorKind::Conflict => return Ok(None),
        other => other?,
    }
    let member =
        Member { project_id: ProjectId::default_project(), user_id: user.user_id, role: Role::Owner, added_at: now };
    store.put_member(&member).await?;
    Ok(Some((user.login, plain)))
}

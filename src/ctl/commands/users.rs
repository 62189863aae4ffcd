//! Users and their permissions: `/api/users`, `/api/permissions`.

use crate::ctl::api::Api;
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::output::Output;
use serde_json::{json, Value};

pub(super) async fn add(api: &Api, out: &Output, name: &str, password: &str) -> CtlResult<()> {
    out.info(&format!("Adding user \"{name}\" ..."));
    let path = Api::path(&["users", name])?;
    // The API's PUT would replace an existing user (and drop their tags); rabbitmqctl
    // refuses instead.
    if api.get_if_exists(&path).await?.is_some() {
        return Err(CtlError::other(format!("user \"{name}\" already exists")));
    }
    api.put_json(&path, &json!({"password": password, "tags": ""}))
        .await
}

pub(super) async fn delete(api: &Api, out: &Output, name: &str) -> CtlResult<()> {
    out.info(&format!("Deleting user \"{name}\" ..."));
    api.delete(&Api::path(&["users", name])?, &[]).await
}

/// The user as the API shows them; a missing one is an error naming them.
async fn existing(api: &Api, name: &str) -> CtlResult<(String, Value)> {
    let path = Api::path(&["users", name])?;
    match api.get_if_exists(&path).await? {
        Some(user) => Ok((path, user)),
        None => Err(CtlError::other(format!("user \"{name}\" does not exist"))),
    }
}

pub(super) async fn change_password(
    api: &Api,
    out: &Output,
    name: &str,
    password: &str,
) -> CtlResult<()> {
    out.info(&format!("Changing password for user \"{name}\" ..."));
    let (path, user) = existing(api, name).await?;
    let tags = user.get("tags").cloned().unwrap_or(json!([]));
    api.put_json(&path, &json!({"password": password, "tags": tags}))
        .await
}

pub(super) async fn set_tags(
    api: &Api,
    out: &Output,
    name: &str,
    tags: &[String],
) -> CtlResult<()> {
    out.info(&format!(
        "Setting tags for user \"{name}\" to [{}] ...",
        tags.join(", ")
    ));
    let (path, user) = existing(api, name).await?;
    // The password stays: its hash goes back as it came.
    let mut body = json!({"tags": tags});
    for key in ["password_hash", "hashing_algorithm"] {
        if let Some(v) = user.get(key) {
            body[key] = v.clone();
        }
    }
    api.put_json(&path, &body).await
}

pub(super) async fn list(api: &Api, out: &Output) -> CtlResult<()> {
    out.info("Listing users ...");
    let users = api.get_json(&Api::path(&["users"])?).await?;
    out.list(&users, &["name".into(), "tags".into()])
}

/// Permission patterns: configure, write, read.
pub(super) struct Perms {
    pub configure: String,
    pub write: String,
    pub read: String,
}

pub(super) async fn set_permissions(
    api: &Api,
    out: &Output,
    vhost: &str,
    user: &str,
    p: Perms,
) -> CtlResult<()> {
    out.info(&format!(
        "Setting permissions for user \"{user}\" in vhost \"{vhost}\" ..."
    ));
    let body = json!({"configure": p.configure, "write": p.write, "read": p.read});
    api.put_json(&Api::path(&["permissions", vhost, user])?, &body)
        .await
}

pub(super) async fn clear_permissions(
    api: &Api,
    out: &Output,
    vhost: &str,
    user: &str,
) -> CtlResult<()> {
    out.info(&format!(
        "Clearing permissions for user \"{user}\" in vhost \"{vhost}\" ..."
    ));
    api.delete(&Api::path(&["permissions", vhost, user])?, &[])
        .await
}

pub(super) async fn list_permissions(api: &Api, out: &Output, vhost: &str) -> CtlResult<()> {
    out.info(&format!("Listing permissions for vhost \"{vhost}\" ..."));
    let perms = api
        .get_json(&Api::path(&["vhosts", vhost, "permissions"])?)
        .await?;
    let columns = ["user", "configure", "write", "read"].map(String::from);
    out.list(&perms, &columns)
}

pub(super) async fn list_user_permissions(api: &Api, out: &Output, user: &str) -> CtlResult<()> {
    out.info(&format!("Listing permissions for user \"{user}\" ..."));
    let perms = api
        .get_json(&Api::path(&["users", user, "permissions"])?)
        .await?;
    let columns = ["vhost", "configure", "write", "read"].map(String::from);
    out.list(&perms, &columns)
}

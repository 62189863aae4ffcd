//! Virtual hosts: `/api/vhosts`.

use super::{columns_or, with_columns};
use crate::ctl::api::Api;
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::output::Output;
use serde_json::json;

pub(super) async fn add(
    api: &Api,
    out: &Output,
    name: &str,
    description: Option<String>,
    tags: Option<String>,
) -> CtlResult<()> {
    out.info(&format!("Adding vhost \"{name}\" ..."));
    let path = Api::path(&["vhosts", name])?;
    // The API's PUT would update an existing vhost; rabbitmqctl refuses instead.
    if api.get_if_exists(&path).await?.is_some() {
        return Err(CtlError::other(format!("vhost \"{name}\" already exists")));
    }
    let mut body = json!({});
    if let Some(d) = description {
        body["description"] = json!(d);
    }
    if let Some(t) = tags {
        body["tags"] = json!(t);
    }
    api.put_json(&path, &body).await
}

pub(super) async fn delete(api: &Api, out: &Output, name: &str) -> CtlResult<()> {
    out.info(&format!("Deleting vhost \"{name}\" ..."));
    api.delete(&Api::path(&["vhosts", name])?, &[]).await
}

pub(super) async fn list(api: &Api, out: &Output, asked: Vec<String>) -> CtlResult<()> {
    out.info("Listing vhosts ...");
    let path = with_columns(Api::path(&["vhosts"])?, &asked);
    let vhosts = api.get_json(&path).await?;
    out.list(&vhosts, &columns_or(asked, &["name"]))
}

//! Policies: `/api/policies/{vhost}`.

use crate::ctl::api::Api;
use crate::ctl::args::ApplyTo;
use crate::ctl::error::CtlResult;
use crate::ctl::output::Output;
use serde_json::{json, Value};

pub(super) struct Policy {
    pub name: String,
    pub pattern: String,
    pub definition: Value,
    pub priority: i32,
    pub apply_to: ApplyTo,
}

pub(super) async fn set(api: &Api, out: &Output, vhost: &str, p: Policy) -> CtlResult<()> {
    out.info(&format!(
        "Setting policy \"{}\" for pattern \"{}\" to \"{}\" with priority \"{}\" for vhost \"{vhost}\" ...",
        p.name, p.pattern, p.definition, p.priority
    ));
    let body = json!({
        "pattern": p.pattern,
        "definition": p.definition,
        "priority": p.priority,
        "apply-to": p.apply_to.as_str(),
    });
    api.put_json(&Api::path(&["policies", vhost, &p.name])?, &body)
        .await
}

pub(super) async fn clear(api: &Api, out: &Output, vhost: &str, name: &str) -> CtlResult<()> {
    out.info(&format!(
        "Clearing policy \"{name}\" on vhost \"{vhost}\" ..."
    ));
    api.delete(&Api::path(&["policies", vhost, name])?, &[])
        .await
}

pub(super) async fn list(api: &Api, out: &Output, vhost: &str) -> CtlResult<()> {
    out.info(&format!("Listing policies for vhost \"{vhost}\" ..."));
    let policies = api.get_json(&Api::path(&["policies", vhost])?).await?;
    let columns = [
        "vhost",
        "name",
        "pattern",
        "apply-to",
        "definition",
        "priority",
    ];
    out.list(&policies, &columns.map(String::from))
}

//! Queues, exchanges, bindings, connections and consumers: their lists, and the queue and
//! connection operations.

use super::{columns_or, with_columns};
use crate::ctl::api::Api;
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::output::Output;

/// Lists `/api/{what}/{vhost}` (or `/api/{what}` without a vhost) as `columns` or the
/// defaults.
async fn list(
    api: &Api,
    out: &Output,
    segments: &[&str],
    asked: Vec<String>,
    defaults: &[&str],
) -> CtlResult<()> {
    let path = with_columns(Api::path(segments)?, &asked);
    let items = api.get_json(&path).await?;
    out.list(&items, &columns_or(asked, defaults))
}

pub(super) async fn list_queues(
    api: &Api,
    out: &Output,
    vhost: &str,
    asked: Vec<String>,
) -> CtlResult<()> {
    out.info(&format!("Listing queues for vhost {vhost} ..."));
    list(api, out, &["queues", vhost], asked, &["name", "messages"]).await
}

pub(super) async fn list_exchanges(
    api: &Api,
    out: &Output,
    vhost: &str,
    asked: Vec<String>,
) -> CtlResult<()> {
    out.info(&format!("Listing exchanges for vhost {vhost} ..."));
    list(api, out, &["exchanges", vhost], asked, &["name", "type"]).await
}

pub(super) async fn list_bindings(
    api: &Api,
    out: &Output,
    vhost: &str,
    asked: Vec<String>,
) -> CtlResult<()> {
    out.info(&format!("Listing bindings for vhost {vhost} ..."));
    let defaults = [
        "source",
        "destination_type",
        "destination",
        "routing_key",
        "arguments",
    ];
    list(api, out, &["bindings", vhost], asked, &defaults).await
}

pub(super) async fn list_connections(api: &Api, out: &Output, asked: Vec<String>) -> CtlResult<()> {
    out.info("Listing connections ...");
    let defaults = ["name", "user", "vhost", "peer_host", "peer_port", "state"];
    list(api, out, &["connections"], asked, &defaults).await
}

pub(super) async fn list_consumers(
    api: &Api,
    out: &Output,
    vhost: &str,
    asked: Vec<String>,
) -> CtlResult<()> {
    out.info(&format!("Listing consumers in vhost {vhost} ..."));
    let defaults = [
        "queue.name",
        "consumer_tag",
        "ack_required",
        "prefetch_count",
        "active",
        "arguments",
    ];
    list(api, out, &["consumers", vhost], asked, &defaults).await
}

/// `DELETE /api/connections/{name}` with the reason in `X-Reason`, as RabbitMQ reads it.
pub(super) async fn close_connection(
    api: &Api,
    out: &Output,
    name: &str,
    reason: &str,
) -> CtlResult<()> {
    if hyper::header::HeaderValue::from_str(reason).is_err() {
        return Err(CtlError::usage(
            "the reason must be one line of printable ASCII text (it travels in a header)",
        ));
    }
    out.info(&format!(
        "Closing connection \"{name}\", reason: \"{reason}\" ..."
    ));
    api.delete(&Api::path(&["connections", name])?, &[("x-reason", reason)])
        .await
}

pub(super) async fn purge_queue(api: &Api, out: &Output, vhost: &str, name: &str) -> CtlResult<()> {
    out.info(&format!(
        "Purging queue \"{name}\" in vhost \"{vhost}\" ..."
    ));
    api.delete(&Api::path(&["queues", vhost, name, "contents"])?, &[])
        .await
}

/// `sync_queue` (`start`) and `cancel_sync_queue`, worded as rabbitmqctl words them.
pub(super) async fn sync_queue(
    api: &Api,
    out: &Output,
    vhost: &str,
    name: &str,
    start: bool,
) -> CtlResult<()> {
    let (what, action) = match start {
        true => ("Synchronising", "sync"),
        false => ("Stopping synchronising", "cancel_sync"),
    };
    out.info(&format!("{what} queue '{name}' in vhost '{vhost}' ..."));
    let body = serde_json::json!({ "action": action }).to_string();
    api.post_raw(
        &Api::path(&["queues", vhost, name, "actions"])?,
        body.into(),
    )
    .await
}

pub(super) async fn delete_queue(
    api: &Api,
    out: &Output,
    vhost: &str,
    name: &str,
    if_unused: bool,
    if_empty: bool,
) -> CtlResult<()> {
    out.info(&format!(
        "Deleting queue \"{name}\" in vhost \"{vhost}\" ..."
    ));
    let mut path = Api::path(&["queues", vhost, name])?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    if if_unused {
        query.append_pair("if-unused", "true");
    }
    if if_empty {
        query.append_pair("if-empty", "true");
    }
    let query = query.finish();
    if !query.is_empty() {
        path = format!("{path}?{query}");
    }
    api.delete(&path, &[]).await
}

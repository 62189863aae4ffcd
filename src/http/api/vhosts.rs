//! `/api/vhosts`: list, show, create or update (description, tags, tracing), delete.

use super::Ctx;
use crate::broker::command::Command;
use crate::broker::watched::Kind;
use crate::broker::Vhost;
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing;
use crate::http::reply::Reply;
use crate::http::request::Fields;
use crate::store::definitions::VhostDefinition;
use serde_json::{json, Value};

pub(crate) async fn list(ctx: &Ctx) -> ApiResult<Reply> {
    let items = ctx
        .vhosts_listed(None)?
        .iter()
        .map(|v| json_of(ctx, v))
        .collect();
    listing::respond(&ctx.req, items).await
}

/// One vhost: administrators only, as in RabbitMQ (others see theirs in the list).
pub(crate) async fn get(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let vh = ctx.session.visible_vhost(&ctx.broker, name)?;
    let mut v = json_of(ctx, &vh);
    super::history::add_object(ctx, Kind::Vhost, name, name, &mut v);
    Ok(Reply::json(&listing::respond_one(&ctx.req, v)))
}

/// Creates a vhost (its creator gets full permissions in it, as in RabbitMQ) or updates one.
pub(crate) async fn put(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let body = ctx.req.object()?;
    let f = Fields(&body);
    let existing = ctx.broker.vhost(name).map(|v| v.definition());
    let mut def = existing
        .clone()
        .unwrap_or_else(|| VhostDefinition::named(name, ""));
    if let Some(d) = f.string("description")? {
        def.description = d;
    }
    if let Some(tags) = f.get("tags") {
        def.tags = tags_of(tags)?;
    }
    if let Some(t) = f.string("default_queue_type")? {
        if !matches!(t.as_str(), "classic" | "undefined" | "") {
            return Err(ApiError::bad_request(format!(
                "unsupported default queue type '{t}': Warren has classic queues only"
            )));
        }
        def.default_queue_type = Some("classic".into()).filter(|_| t == "classic");
    }
    def.tracing = f.bool("tracing", def.tracing)?;
    ctx.run(Command::PutVhost(def)).await?;
    if existing.is_none() {
        let all = ".*".to_string();
        ctx.run(Command::SetPermissions {
            user: ctx.session.user.name.clone(),
            vhost: name.to_string(),
            configure: all.clone(),
            write: all.clone(),
            read: all,
        })
        .await?;
    }
    Ok(Reply::put(existing.is_none()))
}

pub(crate) async fn delete(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    if ctx.broker.vhost(name).is_none() {
        return Err(ApiError::not_found());
    }
    ctx.run(Command::DeleteVhost {
        name: name.to_string(),
    })
    .await?;
    Ok(Reply::no_content())
}

/// Restarts a vhost on a node: a vhost here never stops while the node runs, so this only
/// checks that both exist.
pub(crate) async fn start(ctx: &Ctx, name: &str, node: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    if ctx.broker.vhost(name).is_none() || node != ctx.broker.config.node_name {
        return Err(ApiError::not_found());
    }
    Ok(Reply::no_content())
}

/// Tags as a list or a comma-separated string.
pub(crate) fn tags_of(v: &Value) -> ApiResult<Vec<String>> {
    match v {
        Value::String(s) => Ok(crate::auth::parse_tags(s)),
        Value::Array(a) => a
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::bad_request("tags must be strings"))
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(ApiError::bad_request(
            "tags must be a list or a comma-separated string",
        )),
    }
}

fn json_of(ctx: &Ctx, vh: &Vhost) -> Value {
    let def = vh.definition();
    let (mut ready, mut unacked) = (0u64, 0u64);
    for q in vh.queues() {
        let c = q.counts();
        ready += u64::from(c.ready);
        unacked += u64::from(c.unacked);
    }
    let (counts, rates) = vh.stats.last();
    let stats = crate::stats::report(&counts, &rates);
    json!({
        "message_stats": super::message_stats(&stats),
        "name": def.name,
        "description": def.description,
        "tags": def.tags,
        "default_queue_type": def.default_queue_type.as_deref().unwrap_or("undefined"),
        "metadata": {"description": def.description, "tags": def.tags},
        "tracing": def.tracing,
        "cluster_state": {ctx.broker.config.node_name.clone(): "running"},
        "messages": ready + unacked,
        "messages_ready": ready,
        "messages_unacknowledged": unacked,
    })
}

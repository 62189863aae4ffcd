//! `/api/exchanges`: list, show (with the policy in force), declare, delete, and publish a
//! message through one (answered once it is routed, and on disk when persistent).

use super::Ctx;
use crate::auth::permissions::Access;
use crate::broker::command::{Command, ExchangeDecl};
use crate::broker::exchange::Exchange;
use crate::broker::watched::Kind;
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing;
use crate::http::reply::Reply;
use crate::http::request::Fields;
use crate::store::definitions::{field_table_to_json, json_to_field_table};
use serde_json::{json, Value};
use std::sync::Arc;

/// The default exchange is `amq.default` in URLs.
pub(crate) fn exchange_name(segment: &str) -> &str {
    if segment == crate::auth::DEFAULT_EXCHANGE_ALIAS {
        ""
    } else {
        segment
    }
}

pub(crate) async fn list(ctx: &Ctx, vhost: Option<&str>) -> ApiResult<Reply> {
    let mut items = Vec::new();
    for vh in ctx.vhosts_listed(vhost)? {
        items.extend(vh.exchanges().iter().map(|x| json_of(ctx, &vh.name, x)));
    }
    listing::respond(&ctx.req, items).await
}

pub(crate) async fn get(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    let vh = ctx.session.visible_vhost(&ctx.broker, vhost)?;
    let x = vh
        .exchange(exchange_name(name))
        .ok_or_else(ApiError::not_found)?;
    let mut v = json_of(ctx, vhost, &x);
    v["incoming"] = json!([]);
    v["outgoing"] = json!([]);
    super::history::add_object(ctx, Kind::Exchange, vhost, &x.name, &mut v);
    Ok(Reply::json(&listing::respond_one(&ctx.req, v)))
}

/// Declares (`type` defaults to direct; durable, auto_delete, internal default to false).
pub(crate) async fn put(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    ctx.vhost_for_write(vhost)?;
    let body = ctx.req.object()?;
    let f = Fields(&body);
    let name = exchange_name(name);
    let existed = ctx
        .broker
        .vhost(vhost)
        .and_then(|vh| vh.exchange(name))
        .is_some();
    ctx.run(Command::DeclareExchange(ExchangeDecl {
        vhost: vhost.to_string(),
        name: name.to_string(),
        kind: f.string("type")?.unwrap_or_else(|| "direct".into()),
        durable: f.bool("durable", false)?,
        auto_delete: f.bool("auto_delete", false)?,
        internal: f.bool("internal", false)?,
        arguments: json_to_field_table(&f.object("arguments")?),
    }))
    .await?;
    Ok(Reply::put(!existed))
}

/// Deletes; `?if-unused=true` refuses an exchange that is the source of bindings.
pub(crate) async fn delete(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    let vh = ctx.session.vhost(&ctx.broker, vhost)?;
    let name = exchange_name(name);
    vh.exchange(name).ok_or_else(ApiError::not_found)?;
    ctx.run(Command::DeleteExchange {
        vhost: vhost.to_string(),
        name: name.to_string(),
        if_unused: ctx.req.flag("if-unused"),
    })
    .await?;
    Ok(Reply::no_content())
}

/// `{routing_key, payload, payload_encoding, properties}` → `{"routed": bool}`.
pub(crate) async fn publish(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    let vh = ctx.session.vhost(&ctx.broker, vhost)?;
    let name = exchange_name(name);
    let body = ctx.req.object()?;
    let msg = super::publish::message(&ctx.session.user, name, &body)?;
    // RabbitMQ publishes and reports the channel error as a bad request.
    let x = vh.exchange(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "404 NOT_FOUND - no exchange '{name}' in vhost '{vhost}'"
        ))
    })?;
    let perm = ctx.session.permission(&ctx.broker, vhost);
    crate::auth::permissions::check_resource(
        perm.as_deref(),
        Access::Write,
        "exchange",
        name,
        vhost,
        &ctx.session.user.name,
    )
    .map_err(|_| ApiError::not_authorised("Access refused."))?;
    if x.kind == crate::broker::exchange::ExchangeKind::Topic {
        let user = &ctx.session.user.name;
        let perms = ctx.broker.topic_permissions(user, vhost);
        let rk = body
            .get("routing_key")
            .and_then(Value::as_str)
            .unwrap_or("");
        crate::auth::topic::check_topic(&perms, Access::Write, name, rk, vhost, user)
            .map_err(|_| ApiError::not_authorised("Access refused."))?;
    }
    if x.internal {
        return Err(ApiError::bad_request(format!(
            "cannot publish to internal exchange '{name}' in vhost '{vhost}'"
        )));
    }
    let routed = super::publish::route(&ctx.broker, &vh, &x, msg).await?;
    Ok(Reply::json(&json!({ "routed": routed })))
}

pub(crate) fn json_of(ctx: &Ctx, vhost: &str, x: &Arc<Exchange>) -> Value {
    let policy = ctx
        .broker
        .policies
        .read()
        .for_exchange(vhost, &x.name)
        .map(|p| p.name.clone());
    let mut v = json!({
        "message_stats": super::message_stats(&x.stats.report()),
        "name": x.name,
        "vhost": vhost,
        "type": x.kind.as_str(),
        "durable": x.durable,
        "auto_delete": x.auto_delete,
        "internal": x.internal,
        "arguments": field_table_to_json(&x.arguments),
    });
    if let Some(p) = policy {
        v["policy"] = Value::String(p);
    }
    v
}

//! `/api/topic-permissions`: per user, vhost and exchange, write and read patterns on
//! routing keys (enforced on publishes to topic exchanges and bindings from them).

use super::Ctx;
use crate::broker::command::Command;
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing;
use crate::http::reply::Reply;
use crate::http::request::Fields;
use serde_json::{json, Value};

async fn list(ctx: &Ctx, keep: impl Fn(&str, &str) -> bool) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let items: Vec<Value> = ctx
        .broker
        .all_topic_permissions()
        .iter()
        .filter(|(u, v, _)| keep(u, v))
        .map(|(u, v, p)| {
            json!({"user": u, "vhost": v, "exchange": p.exchange, "write": p.write(), "read": p.read()})
        })
        .collect();
    listing::respond(&ctx.req, items).await
}

pub(crate) async fn all(ctx: &Ctx) -> ApiResult<Reply> {
    list(ctx, |_, _| true).await
}

pub(crate) async fn of_user(ctx: &Ctx, user: &str) -> ApiResult<Reply> {
    ctx.broker.user(user).ok_or_else(ApiError::not_found)?;
    list(ctx, |u, _| u == user).await
}

pub(crate) async fn of_vhost(ctx: &Ctx, vhost: &str) -> ApiResult<Reply> {
    ctx.broker.vhost(vhost).ok_or_else(ApiError::not_found)?;
    list(ctx, |_, v| v == vhost).await
}

pub(crate) async fn get(ctx: &Ctx, vhost: &str, user: &str) -> ApiResult<Reply> {
    if ctx.broker.topic_permissions(user, vhost).is_empty() {
        ctx.session.require_admin()?;
        return Err(ApiError::not_found());
    }
    list(ctx, |u, v| u == user && v == vhost).await
}

/// `{exchange, write, read}`.
pub(crate) async fn put(ctx: &Ctx, vhost: &str, user: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    ctx.vhost_and_user_exist(vhost, user)?;
    let body = ctx.req.object()?;
    let f = Fields(&body);
    let missing: Vec<String> = ["exchange", "write", "read"]
        .iter()
        .filter(|k| f.get(k).is_none())
        .map(|k| format!("{{key_missing,{k}}}"))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!("[{}]", missing.join(","))));
    }
    let exchange = f.required_string("exchange")?;
    let existed = ctx
        .broker
        .topic_permissions(user, vhost)
        .iter()
        .any(|p| p.exchange == exchange);
    ctx.run(Command::SetTopicPermission {
        user: user.to_string(),
        vhost: vhost.to_string(),
        exchange,
        write: f.required_string("write")?,
        read: f.required_string("read")?,
    })
    .await?;
    Ok(Reply::put(!existed))
}

/// Removes them all, or one exchange's with `?exchange=`.
pub(crate) async fn delete(ctx: &Ctx, vhost: &str, user: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    ctx.run(Command::ClearTopicPermissions {
        user: user.to_string(),
        vhost: vhost.to_string(),
        exchange: ctx.req.query("exchange").map(str::to_string),
    })
    .await
    .map_err(super::policies::not_found_as_404)?;
    Ok(Reply::no_content())
}

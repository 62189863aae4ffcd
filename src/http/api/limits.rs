//! `/api/vhost-limits` and `/api/user-limits`: `max-connections` and `max-queues` per vhost
//! (stored as the vhost's `vhost-limits` parameter, as RabbitMQ stores them),
//! `max-connections` and `max-channels` per user. Set one at a time, each `{"value": n}`.

use super::Ctx;
use crate::broker::command::Command;
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing;
use crate::http::reply::Reply;
use serde_json::{json, Map, Value};

const COMPONENT: &str = "vhost-limits";

fn vhost_limits(ctx: &Ctx, vhost: &str) -> Map<String, Value> {
    let key = (
        vhost.to_string(),
        COMPONENT.to_string(),
        "limits".to_string(),
    );
    ctx.broker
        .parameters
        .read()
        .list()
        .find(|(k, _)| **k == key)
        .and_then(|(_, v)| v.as_object().cloned())
        .unwrap_or_default()
}

pub(crate) async fn list_vhost(ctx: &Ctx, vhost: Option<&str>) -> ApiResult<Reply> {
    let items = ctx
        .vhosts_listed(vhost)?
        .iter()
        .map(|vh| (vh.name.clone(), vhost_limits(ctx, &vh.name)))
        .filter(|(_, l)| !l.is_empty())
        .map(|(v, l)| json!({"vhost": v, "value": l}))
        .collect();
    listing::respond(&ctx.req, items).await
}

/// The `value` of a limit's PUT body.
fn value(ctx: &Ctx) -> ApiResult<Value> {
    ctx.req
        .object()?
        .remove("value")
        .ok_or_else(|| ApiError::bad_request("value not found in request body"))
}

pub(crate) async fn set_vhost(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    ctx.vhost_for_write(vhost)?;
    let mut limits = vhost_limits(ctx, vhost);
    limits.insert(name.to_string(), value(ctx)?);
    ctx.run(Command::SetParameter {
        vhost: vhost.to_string(),
        component: COMPONENT.into(),
        name: "limits".into(),
        value: Value::Object(limits),
    })
    .await?;
    Ok(Reply::no_content())
}

pub(crate) async fn clear_vhost(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    ctx.vhost_for_write(vhost)?;
    let mut limits = vhost_limits(ctx, vhost);
    if limits.remove(name).is_none() {
        return Ok(Reply::no_content());
    }
    let cmd = if limits.is_empty() {
        Command::ClearParameter {
            vhost: vhost.to_string(),
            component: COMPONENT.into(),
            name: "limits".into(),
        }
    } else {
        Command::SetParameter {
            vhost: vhost.to_string(),
            component: COMPONENT.into(),
            name: "limits".into(),
            value: Value::Object(limits),
        }
    };
    ctx.run(cmd).await?;
    Ok(Reply::no_content())
}

pub(crate) async fn list_user(ctx: &Ctx, user: Option<&str>) -> ApiResult<Reply> {
    match user {
        Some(u) if u == ctx.session.user.name => {}
        _ => ctx.session.require_admin()?,
    }
    let items = ctx
        .broker
        .users()
        .iter()
        .filter(|u| user.is_none_or(|want| u.name == want))
        .map(|u| (u.name.clone(), u.limits.to_json()))
        .filter(|(_, l)| !l.is_empty())
        .map(|(u, l)| json!({"user": u, "value": l}))
        .collect();
    listing::respond(&ctx.req, items).await
}

async fn change_user(ctx: &Ctx, user: &str, name: &str, value: Option<Value>) -> ApiResult<()> {
    ctx.session.require_admin()?;
    let u = ctx.broker.user(user).ok_or_else(ApiError::not_found)?;
    let mut limits = u.limits.to_json();
    match value {
        Some(v) => {
            limits.insert(name.to_string(), v);
        }
        None => {
            limits.remove(name);
        }
    }
    ctx.run(Command::SetUserLimits {
        user: user.to_string(),
        limits,
    })
    .await?;
    Ok(())
}

pub(crate) async fn set_user(ctx: &Ctx, user: &str, name: &str) -> ApiResult<Reply> {
    change_user(ctx, user, name, Some(value(ctx)?)).await?;
    Ok(Reply::no_content())
}

pub(crate) async fn clear_user(ctx: &Ctx, user: &str, name: &str) -> ApiResult<Reply> {
    change_user(ctx, user, name, None).await?;
    Ok(Reply::no_content())
}

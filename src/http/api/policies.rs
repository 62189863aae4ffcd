//! `/api/policies`, `/api/operator-policies`, `/api/parameters` and
//! `/api/global-parameters`. A policy change applies at once to existing queues and
//! exchanges (the broker command does that).

use super::Ctx;
use crate::broker::command::{Command, PolicySpec};
use crate::broker::policy::Policy;
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing;
use crate::http::reply::Reply;
use crate::http::request::Fields;
use serde_json::{json, Value};

fn is_operator(kind: &str) -> bool {
    kind == "operator-policies"
}

fn policies_of(ctx: &Ctx, kind: &str) -> Vec<Policy> {
    let p = ctx.broker.policies.read();
    if is_operator(kind) {
        p.list_operator()
    } else {
        p.list()
    }
}

pub(crate) async fn list(ctx: &Ctx, kind: &str, vhost: Option<&str>) -> ApiResult<Reply> {
    let vhosts = ctx.vhosts_listed(vhost)?;
    let items = policies_of(ctx, kind)
        .iter()
        .filter(|p| vhosts.iter().any(|v| v.name == p.vhost))
        .map(policy_json)
        .collect();
    listing::respond(&ctx.req, items).await
}

pub(crate) async fn get(ctx: &Ctx, kind: &str, vhost: &str, name: &str) -> ApiResult<Reply> {
    ctx.session.visible_vhost(&ctx.broker, vhost)?;
    let p = policies_of(ctx, kind)
        .into_iter()
        .find(|p| p.vhost == vhost && p.name == name)
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(&policy_json(&p)))
}

/// `{pattern, definition, priority, apply-to}`.
pub(crate) async fn put(ctx: &Ctx, kind: &str, vhost: &str, name: &str) -> ApiResult<Reply> {
    if is_operator(kind) {
        ctx.session.require_admin()?;
    } else {
        ctx.session.require_policymaker()?;
    }
    ctx.vhost_for_write(vhost)?;
    let body = ctx.req.object()?;
    let f = Fields(&body);
    let definition = match f.get("definition") {
        Some(Value::Object(d)) => d.clone(),
        Some(_) => return Err(ApiError::bad_request("definition must be an object")),
        None => {
            return Err(ApiError::bad_request(
                "definition not found in request body",
            ))
        }
    };
    let spec = PolicySpec {
        vhost: vhost.to_string(),
        name: name.to_string(),
        pattern: f.required_string("pattern")?,
        apply_to: f.string("apply-to")?.unwrap_or_else(|| "all".into()),
        priority: i32::try_from(f.int("priority")?.unwrap_or(0))
            .map_err(|_| ApiError::bad_request("priority out of range"))?,
        definition,
    };
    let existed = policies_of(ctx, kind)
        .iter()
        .any(|p| p.vhost == vhost && p.name == name);
    let cmd = if is_operator(kind) {
        Command::SetOperatorPolicy(spec)
    } else {
        Command::SetPolicy(spec)
    };
    ctx.run(cmd).await?;
    Ok(Reply::put(!existed))
}

pub(crate) async fn delete(ctx: &Ctx, kind: &str, vhost: &str, name: &str) -> ApiResult<Reply> {
    ctx.session.vhost(&ctx.broker, vhost)?;
    let (vhost, name) = (vhost.to_string(), name.to_string());
    let cmd = if is_operator(kind) {
        ctx.session.require_admin()?;
        Command::ClearOperatorPolicy { vhost, name }
    } else {
        ctx.session.require_policymaker()?;
        Command::ClearPolicy { vhost, name }
    };
    ctx.run(cmd).await.map_err(not_found_as_404)?;
    Ok(Reply::no_content())
}

fn policy_json(p: &Policy) -> Value {
    json!({
        "vhost": p.vhost,
        "name": p.name,
        "pattern": p.pattern_source(),
        "apply-to": p.apply_to_str(),
        "definition": p.definition,
        "priority": p.priority,
    })
}

/// A missing object is RabbitMQ's plain 404.
pub(crate) fn not_found_as_404(e: ApiError) -> ApiError {
    if e.status == hyper::StatusCode::NOT_FOUND {
        ApiError::not_found()
    } else {
        e
    }
}

pub(crate) async fn parameters(
    ctx: &Ctx,
    component: Option<&str>,
    vhost: Option<&str>,
) -> ApiResult<Reply> {
    ctx.session.require_policymaker()?;
    let vhosts = ctx.vhosts_listed(vhost)?;
    let items = ctx
        .broker
        .parameters
        .read()
        .list()
        .filter(|((v, c, _), _)| {
            component.is_none_or(|want| want == c) && vhosts.iter().any(|vh| &vh.name == v)
        })
        .map(|((v, c, n), value)| parameter_json(v, c, n, value))
        .collect();
    listing::respond(&ctx.req, items).await
}

pub(crate) async fn parameter(
    ctx: &Ctx,
    component: &str,
    vhost: &str,
    name: &str,
) -> ApiResult<Reply> {
    ctx.session.require_policymaker()?;
    ctx.session.visible_vhost(&ctx.broker, vhost)?;
    let key = (vhost.to_string(), component.to_string(), name.to_string());
    let found = ctx
        .broker
        .parameters
        .read()
        .list()
        .find(|(k, _)| **k == key)
        .map(|(_, v)| v.clone())
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(&parameter_json(vhost, component, name, &found)))
}

/// `{"value": ...}` (RabbitMQ's body also repeats vhost, component and name).
pub(crate) async fn set_parameter(
    ctx: &Ctx,
    component: &str,
    vhost: &str,
    name: &str,
) -> ApiResult<Reply> {
    ctx.session.require_policymaker()?;
    ctx.vhost_for_write(vhost)?;
    let body = ctx.req.object()?;
    let value = body
        .get("value")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("value not found in request body"))?;
    let key = (vhost.to_string(), component.to_string(), name.to_string());
    let existed = ctx.broker.parameters.read().list().any(|(k, _)| *k == key);
    ctx.run(Command::SetParameter {
        vhost: key.0,
        component: key.1,
        name: key.2,
        value,
    })
    .await?;
    Ok(Reply::put(!existed))
}

pub(crate) async fn clear_parameter(
    ctx: &Ctx,
    component: &str,
    vhost: &str,
    name: &str,
) -> ApiResult<Reply> {
    ctx.session.require_policymaker()?;
    ctx.session.vhost(&ctx.broker, vhost)?;
    ctx.run(Command::ClearParameter {
        vhost: vhost.to_string(),
        component: component.to_string(),
        name: name.to_string(),
    })
    .await
    .map_err(not_found_as_404)?;
    Ok(Reply::no_content())
}

fn parameter_json(vhost: &str, component: &str, name: &str, value: &Value) -> Value {
    json!({"value": value, "vhost": vhost, "component": component, "name": name})
}

pub(crate) async fn global_parameters(ctx: &Ctx) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let items = ctx
        .broker
        .parameters
        .read()
        .list_global()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    listing::respond(&ctx.req, items).await
}

pub(crate) async fn global_parameter(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let value = ctx
        .broker
        .parameters
        .read()
        .list_global()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, v)| v.clone())
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(&json!({"name": name, "value": value})))
}

pub(crate) async fn set_global_parameter(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let body = ctx.req.object()?;
    let value = body
        .get("value")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("value not found in request body"))?;
    let existed = ctx
        .broker
        .parameters
        .read()
        .list_global()
        .any(|(n, _)| n.as_str() == name);
    ctx.run(Command::SetGlobalParameter {
        name: name.to_string(),
        value,
    })
    .await?;
    Ok(Reply::put(!existed))
}

pub(crate) async fn clear_global_parameter(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    ctx.run(Command::ClearGlobalParameter {
        name: name.to_string(),
    })
    .await
    .map_err(not_found_as_404)?;
    Ok(Reply::no_content())
}

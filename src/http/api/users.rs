//! `/api/users` and `/api/permissions`: users (password or hash, tags as a list or a comma
//! string), bulk delete, users without permissions, and per-vhost permissions.

use super::vhosts::tags_of;
use super::Ctx;
use crate::auth::{hash_password, Permission, User, SHA256_ALGORITHM};
use crate::broker::command::Command;
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing;
use crate::http::reply::Reply;
use crate::http::request::Fields;
use serde_json::{json, Value};

pub(crate) async fn list(ctx: &Ctx, without_permissions: bool) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let with: std::collections::HashSet<String> = ctx
        .broker
        .permissions()
        .into_iter()
        .map(|(u, _, _)| u)
        .collect();
    let items = ctx
        .broker
        .users()
        .iter()
        .filter(|u| !without_permissions || !with.contains(&u.name))
        .map(|u| json_of(u))
        .collect();
    listing::respond(&ctx.req, items).await
}

pub(crate) async fn get(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let u = ctx.broker.user(name).ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(&listing::respond_one(&ctx.req, json_of(&u))))
}

/// Creates or replaces a user: `tags` is required (as RabbitMQ requires it); `password`
/// is hashed here, `password_hash` is taken as given with `hashing_algorithm`; neither
/// means a user who cannot log in by password.
pub(crate) async fn put(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let body = ctx.req.object()?;
    let f = Fields(&body);
    let tags = match body.get("tags") {
        Some(t) => tags_of(t)?,
        None => return Err(ApiError::bad_request("tags_not_present")),
    };
    let existing = ctx.broker.user(name);
    let (password_hash, hashing_algorithm) =
        match (f.string("password")?, f.string("password_hash")?) {
            (Some(p), _) => (hash_password(&p), SHA256_ALGORITHM.to_string()),
            (None, Some(h)) => (
                h,
                f.string("hashing_algorithm")?
                    .unwrap_or_else(|| SHA256_ALGORITHM.to_string()),
            ),
            (None, None) => match &existing {
                Some(u) => (u.password_hash.clone(), u.hashing_algorithm.clone()),
                None => (String::new(), SHA256_ALGORITHM.to_string()),
            },
        };
    ctx.run(Command::PutUser {
        name: name.to_string(),
        password_hash,
        hashing_algorithm,
        tags,
        limits: None,
    })
    .await?;
    Ok(Reply::put(existing.is_none()))
}

pub(crate) async fn delete(ctx: &Ctx, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    if ctx.broker.user(name).is_none() {
        return Err(ApiError::not_found());
    }
    ctx.run(Command::DeleteUser {
        name: name.to_string(),
    })
    .await?;
    Ok(Reply::no_content())
}

/// `{"users": [...]}`: deletes each; an unknown one is refused before anything is deleted.
pub(crate) async fn bulk_delete(ctx: &Ctx) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let body = ctx.req.object()?;
    let names: Vec<String> = match body.get("users") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad_request("users must be a list of names"))?,
        _ => return Err(ApiError::bad_request("users not found in request body")),
    };
    if let Some(missing) = names.iter().find(|n| ctx.broker.user(n).is_none()) {
        return Err(ApiError::bad_request(json!(["no_such_user", missing])));
    }
    for name in names {
        ctx.run(Command::DeleteUser { name }).await?;
    }
    Ok(Reply::no_content())
}

pub(crate) async fn permissions(ctx: &Ctx) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    permission_list(ctx, |_, _| true).await
}

pub(crate) async fn permissions_of_user(ctx: &Ctx, user: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    ctx.broker.user(user).ok_or_else(ApiError::not_found)?;
    permission_list(ctx, |u, _| u == user).await
}

pub(crate) async fn permissions_of_vhost(ctx: &Ctx, vhost: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    ctx.broker.vhost(vhost).ok_or_else(ApiError::not_found)?;
    permission_list(ctx, |_, v| v == vhost).await
}

async fn permission_list(ctx: &Ctx, keep: impl Fn(&str, &str) -> bool) -> ApiResult<Reply> {
    let items = ctx
        .broker
        .permissions()
        .into_iter()
        .filter(|(u, v, _)| keep(u, v))
        .map(|(u, v, p)| permission_json(&u, &v, &p))
        .collect();
    listing::respond(&ctx.req, items).await
}

pub(crate) async fn permission(ctx: &Ctx, vhost: &str, user: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let p = ctx
        .broker
        .permission(user, vhost)
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(&permission_json(user, vhost, &p)))
}

pub(crate) async fn set_permission(ctx: &Ctx, vhost: &str, user: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    ctx.vhost_and_user_exist(vhost, user)?;
    let body = ctx.req.object()?;
    let f = Fields(&body);
    let existed = ctx.broker.permission(user, vhost).is_some();
    ctx.run(Command::SetPermissions {
        user: user.to_string(),
        vhost: vhost.to_string(),
        configure: f.required_string("configure")?,
        write: f.required_string("write")?,
        read: f.required_string("read")?,
    })
    .await?;
    Ok(Reply::put(!existed))
}

pub(crate) async fn clear_permission(ctx: &Ctx, vhost: &str, user: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    if ctx.broker.permission(user, vhost).is_none() {
        return Err(ApiError::not_found());
    }
    ctx.run(Command::ClearPermissions {
        user: user.to_string(),
        vhost: vhost.to_string(),
    })
    .await?;
    Ok(Reply::no_content())
}

fn json_of(u: &User) -> Value {
    json!({
        "name": u.name,
        "password_hash": u.password_hash,
        "hashing_algorithm": u.hashing_algorithm,
        "tags": u.tags,
        "limits": u.limits.to_json(),
    })
}

fn permission_json(user: &str, vhost: &str, p: &Permission) -> Value {
    json!({
        "user": user,
        "vhost": vhost,
        "configure": p.configure(),
        "write": p.write(),
        "read": p.read(),
    })
}

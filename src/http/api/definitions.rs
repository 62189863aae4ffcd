//! `/api/definitions[/{vhost}]`: export (RabbitMQ's format, so RabbitMQ imports it) and
//! import (a RabbitMQ 3.10 export loads unchanged), whole or for one vhost.

use super::overview::RABBITMQ_VERSION;
use super::Ctx;
use crate::broker::command::{Actor, CommandError};
use crate::broker::import::steps;
use crate::http::error::{ApiError, ApiResult};
use crate::http::reply::Reply;
use crate::store::definitions::{from_json, Definitions};
use serde_json::{json, Value};

pub(crate) async fn export(ctx: &Ctx, vhost: Option<&str>) -> ApiResult<Reply> {
    let defs = ctx.broker.export_definitions();
    let Some(vhost) = vhost else {
        ctx.session.require_admin()?;
        let mut v = serde_json::to_value(&defs).unwrap_or_default();
        v["rabbit_version"] = json!(RABBITMQ_VERSION);
        v["rabbitmq_version"] = json!(RABBITMQ_VERSION);
        v["product_name"] = json!("Warren");
        v["product_version"] = json!(env!("CARGO_PKG_VERSION"));
        return Ok(Reply::json(&v));
    };
    ctx.session.visible_vhost(&ctx.broker, vhost)?;
    let mut one = Definitions {
        rabbit_version: RABBITMQ_VERSION.into(),
        ..Definitions::default()
    };
    one.parameters = defs
        .parameters
        .into_iter()
        .filter(|p| p.vhost == vhost)
        .collect();
    one.operator_policies = (defs.operator_policies.into_iter())
        .filter(|p| p.vhost == vhost)
        .collect();
    one.policies = defs
        .policies
        .into_iter()
        .filter(|p| p.vhost == vhost)
        .collect();
    one.queues = defs
        .queues
        .into_iter()
        .filter(|q| q.vhost == vhost)
        .collect();
    one.exchanges = defs
        .exchanges
        .into_iter()
        .filter(|e| e.vhost == vhost)
        .collect();
    one.bindings = defs
        .bindings
        .into_iter()
        .filter(|b| b.vhost == vhost)
        .collect();
    let mut v = serde_json::to_value(&one).unwrap_or_default();
    if let Value::Object(m) = &mut v {
        for key in [
            "users",
            "vhosts",
            "permissions",
            "topic_permissions",
            "global_parameters",
        ] {
            m.remove(key);
        }
        // Objects of the vhost do not name it, so the file imports into another one.
        for key in ["queues", "exchanges", "bindings"] {
            if let Some(Value::Array(items)) = m.get_mut(key) {
                for item in items {
                    if let Value::Object(o) = item {
                        o.remove("vhost");
                    }
                }
            }
        }
    }
    Ok(Reply::json(&v))
}

/// Loads definitions: every object is made by the same commands as through AMQP or the
/// rest of the API. Only administrators import, and, as in RabbitMQ, an import is not
/// held to the importer's vhost permissions (it may create a vhost and its queues at
/// once). The first refusal stops the import (400).
pub(crate) async fn import(ctx: &Ctx, vhost: Option<&str>) -> ApiResult<Reply> {
    let mut defs = from_json(&ctx.req.body)
        .map_err(|e| ApiError::bad_request(format!("failed_to_parse_json: {e}")))?;
    ctx.session.require_admin()?;
    match vhost {
        None => {}
        Some(v) => {
            ctx.vhost_for_write(v)?;
            // Only the vhost's own objects, put in the vhost named by the path.
            defs.users.clear();
            defs.vhosts.clear();
            defs.permissions.clear();
            defs.global_parameters.clear();
            let v = v.to_string();
            defs.parameters.iter_mut().for_each(|p| p.vhost = v.clone());
            defs.policies.iter_mut().for_each(|p| p.vhost = v.clone());
            defs.operator_policies
                .iter_mut()
                .for_each(|p| p.vhost = v.clone());
            defs.queues.iter_mut().for_each(|q| q.vhost = v.clone());
            defs.exchanges.iter_mut().for_each(|e| e.vhost = v.clone());
            defs.bindings.iter_mut().for_each(|b| b.vhost = v.clone());
        }
    }
    let vhosts_made: Vec<&str> = defs.vhosts.iter().map(|v| v.name.as_str()).collect();
    let missing = (defs.queues.iter().map(|q| &q.vhost))
        .chain(defs.exchanges.iter().map(|e| &e.vhost))
        .chain(defs.bindings.iter().map(|b| &b.vhost))
        .chain(defs.policies.iter().map(|p| &p.vhost))
        .chain(defs.permissions.iter().map(|p| &p.vhost))
        .find(|v| !vhosts_made.contains(&v.as_str()) && ctx.broker.vhost(v).is_none());
    if let Some(v) = missing {
        return Err(ApiError::bad_request(json!(["no_such_vhost", v])));
    }
    let (whats, cmds): (Vec<_>, Vec<_>) = steps(&defs).into_iter().map(|s| (s.what, s.cmd)).unzip();
    match ctx.broker.run_all(&Actor::BROKER, cmds).await {
        Ok(()) => Ok(Reply::no_content()),
        Err((_, e @ CommandError::Internal(_))) => Err(ApiError::new(
            hyper::StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            e.to_string(),
        )),
        Err((i, e)) => Err(ApiError::bad_request(format!("{}: {e}", whats[i]))),
    }
}

//! The TLS listeners' certificates: `POST /api/tls/reload` (Warren's own; administrators)
//! reads the certificate and key files again, as SIGHUP does, and the certificate-expiration
//! health check looks at what is loaded.

use super::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::reply::Reply;
use crate::tls::TlsListener;
use hyper::StatusCode;
use serde_json::{json, Value};

/// Reloads every TLS listener; 400 with the reason (key and file) when one cannot be.
pub(crate) async fn reload(ctx: &Ctx) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let broker = ctx.broker.clone();
    // Reading files: off the async workers.
    let result = tokio::task::spawn_blocking(move || broker.tls.reload())
        .await
        .map_err(|_| ApiError::bad_request("reload failed"))?;
    match result {
        Ok(_) => Ok(Reply::json(&json!({
            "status": "ok",
            "certificates": loaded(ctx),
        }))),
        Err(e) => {
            tracing::error!("TLS reload failed, keeping the old certificates: {e}");
            Err(ApiError::bad_request(e.to_string()))
        }
    }
}

/// `/api/health/checks/certificate-expiration/{within}/{unit}`: fails when a loaded
/// certificate expires within that time, as RabbitMQ's.
pub(crate) fn expiration(ctx: &Ctx, within: u32, unit: &str) -> Reply {
    let seconds_per_unit: i64 = match unit {
        "days" => 86_400,
        "weeks" => 7 * 86_400,
        "months" => 30 * 86_400,
        _ => 365 * 86_400,
    };
    let now = (crate::message::now_ms() / 1000) as i64;
    let limit = now.saturating_add(i64::from(within) * seconds_per_unit);
    let expiring: Vec<Value> = ctx
        .broker
        .tls
        .all()
        .filter(|l| l.current().not_after < limit)
        .map(|l| listener_json(ctx, l))
        .collect();
    if expiring.is_empty() {
        Reply::json(&json!({ "status": "ok", "certificates": loaded(ctx) }))
    } else {
        Reply::status(StatusCode::SERVICE_UNAVAILABLE).with_body(&json!({
            "status": "failed",
            "reason": "Certificates expiring",
            "expired": expiring,
        }))
    }
}

fn loaded(ctx: &Ctx) -> Vec<Value> {
    ctx.broker
        .tls
        .all()
        .map(|l| listener_json(ctx, l))
        .collect()
}

fn listener_json(ctx: &Ctx, l: &TlsListener) -> Value {
    let protocol = if l.section == "amqp.tls" {
        "amqp/ssl"
    } else {
        "https"
    };
    let addr = ctx.node.listeners.iter().find(|(p, _)| *p == protocol);
    let c = l.current();
    json!({
        "node": ctx.broker.config.node_name,
        "protocol": protocol,
        "interface": addr.map(|(_, a)| a.ip().to_string()),
        "port": addr.map(|(_, a)| a.port()),
        "certfile": c.certfile.display().to_string(),
        "cacertfile": l.settings.cacertfile.as_ref().map(|p| p.display().to_string()),
        "subject": c.subject,
        "expiry_date": super::timestamp_json(u64::try_from(c.not_after).unwrap_or(0) * 1000),
    })
}

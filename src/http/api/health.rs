//! `/api/aliveness-test/{vhost}` and `/api/health/checks/...`: 200 when healthy, 503 with
//! the reason otherwise, as RabbitMQ answers them.

use super::Ctx;
use crate::broker::command::{Command, QueueDecl};
use crate::http::error::{ApiError, ApiResult};
use crate::http::reply::Reply;
use crate::queue::{new_holder, Got, Settle};
use hyper::StatusCode;
use serde_json::{json, Value};

/// Declares the queue `aliveness-test`, publishes one message to it through the default
/// exchange and gets it back (as RabbitMQ's does, despite being a GET).
pub(crate) async fn aliveness(ctx: &Ctx, vhost: &str) -> ApiResult<Reply> {
    let vh = ctx.session.vhost(&ctx.broker, vhost)?;
    const NAME: &str = "aliveness-test";
    ctx.run(Command::DeclareQueue(QueueDecl {
        vhost: vhost.to_string(),
        name: NAME.into(),
        server_named: false,
        durable: false,
        auto_delete: false,
        exclusive_owner: None,
        arguments: Default::default(),
        home: None,
    }))
    .await?;
    let q = vh.queue(NAME).ok_or_else(ApiError::not_found)?;
    let x = vh.exchange("").ok_or_else(ApiError::not_found)?;
    let msg = crate::message::Message::new("", NAME, &[0, 0], b"test_message");
    super::publish::route(&ctx.broker, &vh, &x, msg).await?;
    let holder = new_holder();
    loop {
        match q
            .fetch(Some(holder))
            .await
            .map_err(ApiError::not_found_because)?
        {
            Got::Message { seq, msg, .. } => {
                q.settle(holder, &[seq], Settle::Ack);
                if msg.body() == b"test_message" {
                    return Ok(Reply::json(&json!({"status": "ok"})));
                }
            }
            Got::Empty | Got::Loading => {
                return Ok(failed(json!({
                    "status": "failed",
                    "reason": "the test message did not come back",
                })))
            }
        }
    }
}

fn ok(extra: Value) -> Reply {
    let mut v = json!({"status": "ok"});
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    Reply::json(&v)
}

fn failed(v: Value) -> Reply {
    Reply::status(StatusCode::SERVICE_UNAVAILABLE).with_body(&v)
}

pub(crate) async fn check(ctx: &Ctx, rest: &[&str]) -> ApiResult<Reply> {
    let node = &ctx.broker.config.node_name;
    match rest {
        ["alarms"] | ["local-alarms"] => {
            let a = *ctx.broker.alarms.borrow();
            let mut raised = Vec::new();
            if a.memory || a.memory_forced {
                raised.push(json!({"node": node, "resource": "memory"}));
            }
            if a.disk {
                raised.push(json!({"node": node, "resource": "disk"}));
            }
            if raised.is_empty() {
                Ok(ok(json!({})))
            } else {
                Ok(failed(json!({
                    "status": "failed",
                    "reason": "resource alarm(s) in effect in the cluster",
                    "alarms": raised,
                })))
            }
        }
        ["certificate-expiration", within, unit] => {
            let valid_unit = matches!(*unit, "days" | "weeks" | "months" | "years");
            match within.parse::<u32>() {
                Ok(n) if valid_unit => Ok(super::tls::expiration(ctx, n, unit)),
                _ => Err(ApiError::bad_request("Invalid expiration value.")),
            }
        }
        ["port-listener", port] => {
            let port: u16 = port
                .parse()
                .map_err(|_| ApiError::bad_request("Invalid port"))?;
            let ports: Vec<u16> = ctx.node.listeners.iter().map(|(_, a)| a.port()).collect();
            if ports.contains(&port) {
                Ok(ok(json!({ "port": port })))
            } else {
                Ok(failed(json!({
                    "status": "failed",
                    "reason": "No active listener",
                    "missing": port,
                    "ports": ports,
                })))
            }
        }
        ["protocol-listener", protocol] => {
            let protocols: Vec<&str> = ctx.node.listeners.iter().map(|(p, _)| *p).collect();
            let wanted = match *protocol {
                "amqp091" | "amqp0-9-1" | "amqp0.9.1" => "amqp",
                p => p,
            };
            if protocols.contains(&wanted) {
                Ok(ok(json!({ "protocol": wanted })))
            } else {
                Ok(failed(json!({
                    "status": "failed",
                    "reason": "No active listener",
                    "missing": protocol,
                    "protocols": protocols,
                })))
            }
        }
        ["virtual-hosts"] => Ok(ok(json!({}))),
        ["node-is-mirror-sync-critical"] | ["node-is-quorum-critical"] => {
            Ok(ok(json!({"reason": "single node cluster"})))
        }
        _ => Err(ApiError::not_found()),
    }
}

//! `/api/queues`: list, show, declare, delete, purge, get messages, and actions.

use super::Ctx;
use crate::auth::permissions::{check_resource, Access};
use crate::broker::command::{Command, QueueDecl};
use crate::broker::effective::effective_definition;
use crate::broker::watched::Kind;
use crate::broker::Broker;
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing;
use crate::http::listing::{Key, Row};
use crate::http::reply::Reply;
use crate::http::request::Fields;
use crate::queue::{
    new_holder, Got, Home, Queue, QueueDetails, QueueFigures, Report, Settle, Tally,
};
use crate::store::definitions::{field_table_to_json, json_to_field_table};
use serde_json::{json, Value};
use std::sync::Arc;

pub(crate) async fn list(ctx: &Ctx, vhost: Option<&str>) -> ApiResult<Reply> {
    let mut rows = Vec::new();
    // Queues homed on other nodes, by home: their figures come from there, in one
    // request per node.
    let mut remote: Vec<ByHome> = Vec::new();
    for vh in ctx.vhosts_listed(vhost)? {
        for q in vh.queues() {
            match q.remote() {
                None => rows.push(QueueRow::new(&ctx.broker, q)),
                Some(home) => match remote.iter_mut().find(|(h, _)| h.node() == home.node()) {
                    Some((_, qs)) => qs.push(q),
                    None => remote.push((home.clone(), vec![q])),
                },
            }
        }
    }
    for (home, qs) in remote {
        let reports = home.reports(&qs).await.unwrap_or_default();
        let mut reports = reports.into_iter();
        for q in qs {
            rows.push(QueueRow::remote(&ctx.broker, q, reports.next().flatten()));
        }
    }
    listing::respond(&ctx.req, rows).await
}

/// Queues homed on one other node.
type ByHome = (Arc<dyn Home>, Vec<Arc<Queue>>);

pub(crate) async fn get(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    let vh = ctx.session.visible_vhost(&ctx.broker, vhost)?;
    let q = vh.queue(name).ok_or_else(ApiError::not_found)?;
    let row = match q.remote() {
        None => QueueRow::new(&ctx.broker, q),
        Some(home) => {
            let report = home.report(&q).await.ok();
            QueueRow::remote(&ctx.broker, q, report)
        }
    };
    let mut v = row.json();
    v["consumer_details"] = Value::Array(super::connections::consumers_of_queue(ctx, vhost, name));
    v["deliveries"] = json!([]);
    v["incoming"] = json!([]);
    super::history::add_object(ctx, Kind::Queue, vhost, name, &mut v);
    Ok(Reply::json(&listing::respond_one(&ctx.req, v)))
}

/// A queue in a list: its figures read once (what it is sorted by), its JSON built only
/// if it is shown.
struct QueueRow {
    broker: Arc<Broker>,
    q: Arc<Queue>,
    figures: QueueFigures,
    /// For a queue homed on another node: what the home reported (`None`: it could not
    /// be reached).
    remote: Option<Option<Report>>,
}

impl QueueRow {
    fn new(broker: &Arc<Broker>, q: Arc<Queue>) -> Self {
        let figures = q.figures();
        Self {
            broker: broker.clone(),
            q,
            figures,
            remote: None,
        }
    }

    fn remote(broker: &Arc<Broker>, q: Arc<Queue>, report: Option<Report>) -> Self {
        Self {
            broker: broker.clone(),
            q,
            figures: report.as_ref().map(|r| r.figures).unwrap_or_default(),
            remote: Some(report),
        }
    }
}

/// The numbers RabbitMQ 3.10 reports for a classic queue, each read by [`figure`].
const FIGURES: [&str; 16] = [
    "consumers",
    "memory",
    "messages",
    "messages_ready",
    "messages_unacknowledged",
    "messages_ram",
    "messages_ready_ram",
    "messages_unacknowledged_ram",
    "messages_persistent",
    "messages_paged_out",
    "message_bytes",
    "message_bytes_ready",
    "message_bytes_unacknowledged",
    "message_bytes_ram",
    "message_bytes_persistent",
    "message_bytes_paged_out",
];

/// One of [`FIGURES`]: counts and body bytes, ready and unacknowledged together unless the
/// name says which.
fn figure(f: &QueueFigures, name: &str) -> Option<u64> {
    let (r, u) = (&f.ready, &f.unacked);
    let both = |part: fn(&Tally) -> (u64, u64)| {
        let (a, b) = (part(r), part(u));
        (a.0 + b.0, a.1 + b.1)
    };
    Some(match name {
        "consumers" => u64::from(f.consumers),
        "memory" => f.memory,
        "messages" => r.len() + u.len(),
        "messages_ready" => r.len(),
        "messages_unacknowledged" => u.len(),
        "messages_ram" => both(Tally::ram).0,
        "messages_ready_ram" => r.ram().0,
        "messages_unacknowledged_ram" => u.ram().0,
        "messages_persistent" => both(Tally::persistent).0,
        "messages_paged_out" => both(Tally::paged_out).0,
        "message_bytes" => r.bytes() + u.bytes(),
        "message_bytes_ready" => r.bytes(),
        "message_bytes_unacknowledged" => u.bytes(),
        "message_bytes_ram" => both(Tally::ram).1,
        "message_bytes_persistent" => both(Tally::persistent).1,
        "message_bytes_paged_out" => both(Tally::paged_out).1,
        _ => return None,
    })
}

impl Row for QueueRow {
    fn name(&self) -> &str {
        &self.q.name
    }

    fn vhost(&self) -> &str {
        &self.q.vhost
    }

    fn key(&self, field: &str) -> Option<Key<'_>> {
        match field {
            "name" => Some(Key::Str(&self.q.name)),
            "vhost" => Some(Key::Str(&self.q.vhost)),
            "durable" => Some(Key::Bool(self.q.durable)),
            "auto_delete" => Some(Key::Bool(self.q.auto_delete)),
            "exclusive" => Some(Key::Bool(self.q.exclusive_owner.is_some())),
            _ => figure(&self.figures, field).map(|n| Key::Num(n as f64)),
        }
    }

    fn json(&self) -> Value {
        match &self.remote {
            None => json_of(&self.broker, &self.q, &self.q.report()),
            Some(Some(report)) => json_of(&self.broker, &self.q, report),
            Some(None) => {
                let mut v = json_of(&self.broker, &self.q, &Report::default());
                v["state"] = "down".into();
                v
            }
        }
    }
}

/// Declares (`durable`, `auto_delete`, `arguments`; `queue_type` becomes `x-queue-type`).
pub(crate) async fn put(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    ctx.vhost_for_write(vhost)?;
    let body = ctx.req.object()?;
    let f = Fields(&body);
    let mut arguments = f.object("arguments")?;
    if let Some(t) = f.string("queue_type")? {
        arguments.insert("x-queue-type".into(), Value::String(t));
    }
    let outcome = ctx
        .run(Command::DeclareQueue(QueueDecl {
            vhost: vhost.to_string(),
            name: name.to_string(),
            server_named: false,
            durable: f.bool("durable", false)?,
            auto_delete: f.bool("auto_delete", false)?,
            exclusive_owner: None,
            arguments: json_to_field_table(&arguments),
            home: None,
        }))
        .await?;
    let created = matches!(
        outcome,
        crate::broker::command::Outcome::Queue { created: true, .. }
    );
    Ok(Reply::put(created))
}

/// Deletes; `?if-unused=true` and `?if-empty=true` as in `queue.delete`.
pub(crate) async fn delete(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    let vh = ctx.session.vhost(&ctx.broker, vhost)?;
    vh.queue(name).ok_or_else(ApiError::not_found)?;
    ctx.run(Command::DeleteQueue {
        vhost: vhost.to_string(),
        name: name.to_string(),
        if_unused: ctx.req.flag("if-unused"),
        if_empty: ctx.req.flag("if-empty"),
    })
    .await?;
    Ok(Reply::no_content())
}

pub(crate) async fn purge(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    let vh = ctx.session.vhost(&ctx.broker, vhost)?;
    vh.queue(name).ok_or_else(ApiError::not_found)?;
    ctx.run(Command::PurgeQueue {
        vhost: vhost.to_string(),
        name: name.to_string(),
    })
    .await?;
    Ok(Reply::no_content())
}

/// `{count, ackmode, encoding, truncate}`: takes up to `count` messages, then settles them
/// all as `ackmode` says (requeued ones go back where they were, marked redelivered).
pub(crate) async fn get_messages(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    let vh = ctx.session.vhost(&ctx.broker, vhost)?;
    let q = vh.queue(name).ok_or_else(ApiError::not_found)?;
    let perm = ctx.session.permission(&ctx.broker, vhost);
    check_resource(
        perm.as_deref(),
        Access::Write,
        "queue",
        name,
        vhost,
        &ctx.session.user.name,
    )
    .and_then(|()| {
        let user = &ctx.session.user.name;
        check_resource(perm.as_deref(), Access::Read, "queue", name, vhost, user)
    })
    .map_err(|_| ApiError::not_authorised("Access refused."))?;
    if q.exclusive_owner.is_some() {
        return Err(ApiError::bad_request(format!(
            "cannot obtain exclusive access to locked queue '{name}' in vhost '{vhost}'"
        )));
    }
    let body = ctx.req.object()?;
    let f = Fields(&body);
    let count = f
        .int("count")?
        .ok_or_else(|| ApiError::bad_request("count not found in request body"))?;
    let settle = match f.string("ackmode")?.as_deref() {
        Some("ack_requeue_true") | Some("reject_requeue_true") => Settle::Requeue,
        Some("ack_requeue_false") => Settle::Ack,
        Some("reject_requeue_false") => Settle::Reject,
        _ => {
            return Err(ApiError::bad_request(
                "ackmode must be ack_requeue_true, ack_requeue_false, reject_requeue_true \
                 or reject_requeue_false",
            ))
        }
    };
    let base64_only = match f.string("encoding")?.as_deref() {
        Some("auto") => false,
        Some("base64") => true,
        _ => return Err(ApiError::bad_request("encoding must be auto or base64")),
    };
    let truncate = f.int("truncate")?.map(|t| t.max(0) as usize);
    let holder = new_holder();
    let (mut out, mut seqs) = (Vec::new(), Vec::new());
    while out.len() < count.clamp(0, 10_000) as usize {
        match q
            .fetch(Some(holder))
            .await
            .map_err(ApiError::not_found_because)?
        {
            Got::Empty | Got::Loading => break,
            Got::Message {
                msg,
                redelivered,
                seq,
                remaining,
            } => {
                seqs.push(seq);
                out.push(super::publish::got_json(
                    &msg,
                    redelivered,
                    remaining,
                    base64_only,
                    truncate,
                ));
            }
        }
    }
    if !seqs.is_empty() {
        q.settle(holder, &seqs, settle);
    }
    Ok(Reply::json(&Value::Array(out)))
}

/// `{"action": "sync" | "cancel_sync"}`: for mirrored queues, which Warren has not yet.
/// `sync` and `cancel_sync` (administrators, as RabbitMQ): at the queue's master, wherever
/// it is; a queue that is not mirrored has nothing to do, and answers 204 all the same.
pub(crate) async fn action(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<Reply> {
    ctx.session.require_admin()?;
    let vh = ctx.session.vhost(&ctx.broker, vhost)?;
    let q = vh.queue(name).ok_or_else(ApiError::not_found)?;
    let body = ctx.req.object()?;
    let start = match Fields(&body).string("action")?.as_deref() {
        Some("sync") => true,
        Some("cancel_sync") => false,
        _ => return Err(ApiError::bad_request("action must be sync or cancel_sync")),
    };
    let done = q.sync_anywhere(start).await;
    done.map_err(|e| ApiError::from(crate::broker::command::CommandError::NotFound(e)))?;
    Ok(Reply::no_content())
}

fn json_of(broker: &Broker, q: &Queue, r: &Report) -> Value {
    let f = &r.figures;
    let (policy, operator, effective) = {
        let policies = broker.policies.read();
        let (user, op) = policies.for_queue(&q.vhost, &q.name);
        (
            user.map(|p| p.name.clone()),
            op.map(|p| p.name.clone()),
            effective_definition(user, op),
        )
    };
    let lengths = r.lengths;
    let mut v = json!({
        "message_stats": super::message_stats(&r.message_report()),
        "messages_details": super::rate_json(lengths[0]),
        "messages_ready_details": super::rate_json(lengths[1]),
        "messages_unacknowledged_details": super::rate_json(lengths[2]),
        "name": q.name,
        "vhost": q.vhost,
        "durable": q.durable,
        "auto_delete": q.auto_delete,
        "exclusive": q.exclusive_owner.is_some(),
        "arguments": field_table_to_json(&q.arguments),
        "node": q.home_node().unwrap_or_else(|| broker.config.node_name.clone()),
        "type": "classic",
        "state": "running",
        "policy": policy,
        "operator_policy": operator,
        "effective_policy_definition": effective,
    });
    let mirrors = q.mirrors();
    if !mirrors.is_empty() {
        v["slave_nodes"] = json!(mirrors);
        v["synchronised_slave_nodes"] = json!(r.details.synchronised_mirrors);
    }
    for name in FIGURES {
        v[name] = figure(f, name).into();
    }
    details_json(&mut v, &r.details, f);
    v
}

/// What RabbitMQ shows beside the numbers: consumers' tags, the head's timestamp, idleness
/// and the backing queue's shape (all ready messages in `q4` when in memory, the rest in
/// `delta`).
fn details_json(v: &mut Value, d: &QueueDetails, f: &QueueFigures) {
    let utilisation = d.consumer_utilisation.map_or(json!(0), Value::from);
    v["consumer_utilisation"] = utilisation.clone();
    v["consumer_capacity"] = utilisation;
    v["exclusive_consumer_tag"] = d.exclusive_consumer_tag.as_deref().into();
    v["single_active_consumer_tag"] = d.single_active_consumer_tag.as_deref().into();
    v["head_message_timestamp"] = d.head_timestamp.into();
    if let Some(ms) = d.idle_since_ms {
        v["idle_since"] = super::timestamp_json(ms);
    }
    let ready = &f.ready;
    let in_ram = ready.ram().0;
    v["backing_queue_status"] = json!({
        "mode": "default",
        "len": ready.len(),
        "q1": 0,
        "q2": 0,
        "q3": 0,
        "q4": in_ram,
        "delta": ["delta", "undefined", ready.len() - in_ram, ready.paged_out().0, "undefined"],
        "target_ram_count": "infinity",
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_listed_has_a_value() {
        let f = QueueFigures::default();
        for name in FIGURES {
            assert_eq!(figure(&f, name), Some(0), "{name}");
        }
        assert_eq!(figure(&f, "name"), None);
    }
}

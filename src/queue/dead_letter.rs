//! Dead-lettering: a message rejected without requeue, expired, or dropped by a length
//! limit is republished to the queue's dead-letter exchange with the `x-death` header as
//! RabbitMQ 3.10 writes it, unless it would cycle back without a rejection in between.
//! Republishing is at-most-once (no confirms), as for classic queues.

use super::owner::DeadLetter;
use super::{Entry, Queue, QueueArgs};
use crate::message::props::encode_properties;
use crate::message::Message;
use amq_protocol::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Rejected,
    Expired,
    MaxLen,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::Expired => "expired",
            Reason::MaxLen => "maxlen",
        }
    }
}

/// Dead-letters `dead` from `q` through the queue's owner (or drops them when the queue
/// has no dead-letter exchange, or it does not exist), releasing their stored copies.
/// Messages paged out to the store are read back on the blocking pool first.
pub(super) fn dead_letter(q: &Arc<Queue>, dead: Vec<(Entry, Reason)>) {
    if dead.is_empty() {
        return;
    }
    let settings = q.settings();
    let owner = q.owner.upgrade();
    let target = settings.dead_letter_exchange.as_deref().zip(owner.as_ref());
    if target.is_none_or(|(x, o)| !o.has_exchange(&q.vhost, x)) {
        release(q, &dead);
        return;
    }
    let paged_out = dead.iter().any(|(e, _)| e.msg.is_none());
    match tokio::runtime::Handle::try_current() {
        Ok(rt) if paged_out => {
            let q = q.clone();
            drop(rt.spawn_blocking(move || route(&q, &settings, dead)));
        }
        _ => route(q, &settings, dead),
    }
}

fn release(q: &Queue, dead: &[(Entry, Reason)]) {
    let durable = q.durable_key();
    for r in dead.iter().filter_map(|(e, _)| e.stored) {
        q.store.release(r, durable);
    }
}

/// Marks each letter and hands them to the owner to route.
fn route(q: &Arc<Queue>, settings: &QueueArgs, dead: Vec<(Entry, Reason)>) {
    let (Some(dlx), Some(owner)) = (settings.dead_letter_exchange.as_deref(), q.owner.upgrade())
    else {
        return release(q, &dead);
    };
    let dlrk = settings.dead_letter_routing_key.as_deref();
    let mut letters = Vec::with_capacity(dead.len());
    for (e, reason) in &dead {
        // A message that cannot be read back is dropped (and logged by `read`).
        let Some(msg) = e.msg.clone().or_else(|| q.read(e.stored?)) else {
            continue;
        };
        let dl = mark(&msg, &q.name, *reason, dlx, dlrk);
        // Without a dead-letter routing key the original keys route it, BCC included (the
        // original's routing view still has BCC; the copy delivered does not).
        let routing_headers = match dlrk {
            Some(_) => dl.properties().headers().clone(),
            None => msg.routing_headers(),
        };
        let deaths = x_death(dl.properties().headers().as_ref());
        letters.push(DeadLetter {
            msg: dl,
            routing_headers,
            deaths,
        });
    }
    owner.dead_letter(q, letters);
    release(q, &dead);
}

impl Queue {
    /// `x-overflow: reject-publish-dlx`: the refused message is dead-lettered (`maxlen`).
    pub fn dead_letter_refused(self: &Arc<Self>, msg: Message) {
        let entry = Entry {
            seq: 0,
            size: msg.body().len() as u32,
            msg: Some(msg),
            stored: None,
            redelivered: false,
            persistent: false,
            priority: 0,
            expires_at: None,
        };
        dead_letter(self, vec![(entry, Reason::MaxLen)]);
    }
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// The dead-lettered copy: new exchange and routing key, `x-death` updated, `expiration`
/// moved to `original-expiration`, `BCC` (and with a dead-letter routing key, `CC`) removed.
fn mark(msg: &Message, queue: &str, reason: Reason, dlx: &str, dlrk: Option<&str>) -> Message {
    let mut props = msg.properties();
    let mut headers: BTreeMap<ShortString, AMQPValue> = props
        .headers()
        .as_ref()
        .map(|h| h.inner().clone())
        .unwrap_or_default();
    headers.remove("BCC");
    let mut keys = vec![text(msg.routing_key())];
    if let Some(AMQPValue::FieldArray(cc)) = headers.get("CC") {
        keys.extend(cc.as_slice().iter().cloned());
    }
    let mut info = FieldTable::default();
    info.insert("count".into(), AMQPValue::LongLongInt(1));
    info.insert("reason".into(), text(reason.as_str()));
    info.insert("queue".into(), text(queue));
    info.insert(
        "time".into(),
        AMQPValue::Timestamp(crate::message::now_ms() / 1000),
    );
    info.insert("exchange".into(), text(msg.exchange()));
    info.insert(
        "routing-keys".into(),
        AMQPValue::FieldArray(FieldArray::from(keys)),
    );
    if let Some(exp) = props.expiration().clone() {
        info.insert("original-expiration".into(), text(exp.as_str()));
        props = clear_expiration(props);
    }
    let deaths = merge_death(x_death_values(&headers), info, queue, reason);
    headers.insert(
        "x-death".into(),
        AMQPValue::FieldArray(FieldArray::from(deaths)),
    );
    for (k, v) in [
        ("x-first-death-reason", reason.as_str()),
        ("x-first-death-queue", queue),
        ("x-first-death-exchange", msg.exchange()),
    ] {
        headers.entry(k.into()).or_insert_with(|| text(v));
    }
    if dlrk.is_some() {
        headers.remove("CC");
    }
    let props = props.with_headers(FieldTable::from(headers));
    let raw = encode_properties(&props);
    Message::new(dlx, dlrk.unwrap_or(msg.routing_key()), &raw, msg.body())
}

/// amq-protocol has no way to unset a property; rebuild without `expiration`.
fn clear_expiration(
    p: amq_protocol::protocol::BasicProperties,
) -> amq_protocol::protocol::BasicProperties {
    let mut out = amq_protocol::protocol::BasicProperties::default();
    macro_rules! copy {
        ($get:ident, $with:ident) => {
            if let Some(v) = p.$get().clone() {
                out = out.$with(v);
            }
        };
    }
    copy!(content_type, with_content_type);
    copy!(content_encoding, with_content_encoding);
    copy!(headers, with_headers);
    copy!(delivery_mode, with_delivery_mode);
    copy!(priority, with_priority);
    copy!(correlation_id, with_correlation_id);
    copy!(reply_to, with_reply_to);
    copy!(message_id, with_message_id);
    copy!(timestamp, with_timestamp);
    copy!(kind, with_type);
    copy!(user_id, with_user_id);
    copy!(app_id, with_app_id);
    copy!(cluster_id, with_cluster_id);
    out
}

fn x_death_values(headers: &BTreeMap<ShortString, AMQPValue>) -> Vec<AMQPValue> {
    match headers.get("x-death") {
        Some(AMQPValue::FieldArray(a)) => a.as_slice().to_vec(),
        _ => Vec::new(),
    }
}

/// Most recent first; an existing entry for the same queue and reason has its count
/// incremented and moves to the front (keeping its first time, exchange and keys).
fn merge_death(
    existing: Vec<AMQPValue>,
    info: FieldTable,
    queue: &str,
    reason: Reason,
) -> Vec<AMQPValue> {
    let mut head = info;
    let mut rest = Vec::with_capacity(existing.len() + 1);
    for v in existing {
        match &v {
            AMQPValue::FieldTable(t) if same_death(t, queue, reason) => {
                let count = match t.inner().get("count") {
                    Some(AMQPValue::LongLongInt(n)) => *n,
                    _ => 0,
                };
                let mut merged = t.clone();
                merged.insert("count".into(), AMQPValue::LongLongInt(count + 1));
                head = merged;
            }
            _ => rest.push(v),
        }
    }
    let mut out = vec![AMQPValue::FieldTable(head)];
    out.extend(rest);
    out
}

fn same_death(t: &FieldTable, queue: &str, reason: Reason) -> bool {
    field_str(t, "queue").as_deref() == Some(queue)
        && field_str(t, "reason").as_deref() == Some(reason.as_str())
}

fn field_str(t: &FieldTable, key: &str) -> Option<String> {
    match t.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// (queue, reason) of each `x-death` entry, most recent first.
fn x_death(headers: Option<&FieldTable>) -> Vec<(String, String)> {
    let Some(AMQPValue::FieldArray(a)) = headers.and_then(|h| h.inner().get("x-death")) else {
        return Vec::new();
    };
    a.as_slice()
        .iter()
        .filter_map(|v| match v {
            AMQPValue::FieldTable(t) => Some((field_str(t, "queue")?, field_str(t, "reason")?)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::protocol::BasicProperties;

    fn msg(props: BasicProperties) -> Message {
        Message::new("ex", "rk", &encode_properties(&props), b"b")
    }

    #[test]
    fn first_death_sets_x_death_and_first_death_headers() {
        let m = msg(BasicProperties::default().with_expiration("500".into()));
        let dl = mark(&m, "q1", Reason::Expired, "dlx", None);
        assert_eq!(dl.exchange(), "dlx");
        assert_eq!(dl.routing_key(), "rk");
        assert_eq!(dl.ttl_ms(), None);
        assert_eq!(dl.properties().expiration(), &None);
        let deaths = x_death(dl.properties().headers().as_ref());
        assert_eq!(deaths, vec![("q1".to_string(), "expired".to_string())]);
        let h = dl.properties().headers().clone().unwrap();
        assert_eq!(field_str(&h, "x-first-death-queue").as_deref(), Some("q1"));
        let AMQPValue::FieldArray(a) = &h.inner()["x-death"] else {
            panic!()
        };
        let AMQPValue::FieldTable(t) = &a.as_slice()[0] else {
            panic!()
        };
        assert_eq!(field_str(t, "original-expiration").as_deref(), Some("500"));
        assert_eq!(t.inner()["count"], AMQPValue::LongLongInt(1));
    }

    #[test]
    fn same_queue_and_reason_merge_with_a_count() {
        let m = msg(BasicProperties::default());
        let once = mark(&m, "q1", Reason::Rejected, "dlx", None);
        let twice = mark(&once, "q2", Reason::Expired, "dlx", None);
        let thrice = mark(&twice, "q1", Reason::Rejected, "dlx", Some("k2"));
        let deaths = x_death(thrice.properties().headers().as_ref());
        assert_eq!(
            deaths,
            vec![
                ("q1".to_string(), "rejected".to_string()),
                ("q2".to_string(), "expired".to_string())
            ]
        );
        assert_eq!(thrice.routing_key(), "k2");
        let h = thrice.properties().headers().clone().unwrap();
        let AMQPValue::FieldArray(a) = &h.inner()["x-death"] else {
            panic!()
        };
        let AMQPValue::FieldTable(t) = &a.as_slice()[0] else {
            panic!()
        };
        assert_eq!(t.inner()["count"], AMQPValue::LongLongInt(2));
    }

    #[test]
    fn cycles_are_dropped_unless_a_rejection_broke_them() {
        let letter = |v: &[(&str, &str)]| DeadLetter {
            msg: msg(BasicProperties::default()),
            routing_headers: None,
            deaths: v
                .iter()
                .map(|(q, r)| (q.to_string(), r.to_string()))
                .collect(),
        };
        assert!(!letter(&[("q", "expired")]).may_enter("q"));
        assert!(letter(&[("q", "rejected")]).may_enter("q"));
        assert!(!letter(&[("b", "expired"), ("a", "maxlen")]).may_enter("a"));
        assert!(letter(&[("b", "rejected"), ("a", "expired")]).may_enter("a"));
        assert!(letter(&[("b", "expired")]).may_enter("c"));
    }
}

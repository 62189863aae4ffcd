//! Shared helpers for the queue-feature tests (TTL, dead lettering, length limits,
//! priorities, single active consumer, direct reply-to).
#![allow(dead_code)]

use futures_lite::StreamExt;
use lapin::message::{BasicGetMessage, Delivery};
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString};
use lapin::{options::*, BasicProperties, Channel, Connection, Consumer};
use std::time::{Duration, Instant};

/// How long a test waits for something that must happen.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test watches for a delivery that must not happen.
pub const QUIET: Duration = Duration::from_millis(300);
/// Poll interval of `wait_until`.
pub const POLL: Duration = Duration::from_millis(10);

/// An argument table from `(name, value)` pairs.
pub fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

pub fn int(v: i64) -> AMQPValue {
    match i32::try_from(v) {
        Ok(i) => AMQPValue::LongInt(i),
        Err(_) => AMQPValue::LongLongInt(v),
    }
}

pub fn text_value(v: &str) -> AMQPValue {
    AMQPValue::LongString(v.into())
}

pub fn string_array(items: &[&str]) -> AMQPValue {
    AMQPValue::FieldArray(FieldArray::from(
        items
            .iter()
            .map(|s| AMQPValue::LongString((*s).into()))
            .collect::<Vec<_>>(),
    ))
}

/// Declares a (non-durable, non-exclusive, non-auto-delete) queue with arguments.
pub async fn declare(ch: &Channel, q: &str, args: FieldTable) -> lapin::Result<lapin::Queue> {
    ch.queue_declare(q.into(), QueueDeclareOptions::default(), args)
        .await
}

/// Declares a queue that dies with the connection (so a failed run against the reference
/// broker leaves nothing behind).
pub async fn declare_exclusive(
    ch: &Channel,
    q: &str,
    args: FieldTable,
) -> lapin::Result<lapin::Queue> {
    ch.queue_declare(
        q.into(),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        args,
    )
    .await
}

/// An auto-delete exchange: it disappears with its last binding.
pub async fn declare_exchange(ch: &Channel, x: &str, kind: lapin::ExchangeKind) {
    ch.exchange_declare(
        x.into(),
        kind,
        ExchangeDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
}

pub async fn bind(ch: &Channel, q: &str, x: &str, key: &str) {
    ch.queue_bind(
        q.into(),
        x.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
}

/// Publishes without waiting for anything (use on a channel without confirms, or when the
/// confirm does not matter).
pub async fn publish(ch: &Channel, x: &str, key: &str, body: &str, props: BasicProperties) {
    ch.basic_publish(
        x.into(),
        key.into(),
        BasicPublishOptions::default(),
        body.as_bytes(),
        props,
    )
    .await
    .unwrap();
}

/// Publishes on a confirm channel and returns whether the broker acked it (`false`: nack).
pub async fn publish_confirmed(
    ch: &Channel,
    x: &str,
    key: &str,
    body: &str,
    props: BasicProperties,
) -> bool {
    let confirm = ch
        .basic_publish(
            x.into(),
            key.into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            props,
        )
        .await
        .unwrap();
    let confirm = tokio::time::timeout(WAIT, confirm)
        .await
        .expect("a confirm in time")
        .unwrap();
    assert!(
        confirm.is_ack() || confirm.is_nack(),
        "confirms are on: {confirm:?}"
    );
    confirm.is_ack()
}

/// A channel in confirm mode.
pub async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    ch
}

/// Publishes `bodies` to queue `q` through the default exchange and waits for each ack.
pub async fn fill(ch: &Channel, q: &str, bodies: &[&str]) {
    for b in bodies {
        assert!(
            publish_confirmed(ch, "", q, b, BasicProperties::default()).await,
            "{b} acked"
        );
    }
}

/// `basic.get` with auto-ack.
pub async fn get(ch: &Channel, q: &str) -> Option<BasicGetMessage> {
    ch.basic_get(q.into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
}

/// `basic.get` with manual ack.
pub async fn get_unacked(ch: &Channel, q: &str) -> Option<BasicGetMessage> {
    ch.basic_get(q.into(), BasicGetOptions { no_ack: false })
        .await
        .unwrap()
}

pub async fn get_text(ch: &Channel, q: &str) -> Option<String> {
    get(ch, q).await.map(|m| body(&m.delivery))
}

/// Gets (auto-ack) every ready message of `q`, in order.
pub async fn drain(ch: &Channel, q: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(t) = get_text(ch, q).await {
        out.push(t);
    }
    out
}

/// The ready-message count from a passive declare (which counts as "use" for x-expires).
pub async fn ready(ch: &Channel, q: &str) -> u32 {
    ch.queue_declare(
        q.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap()
    .message_count()
}

pub async fn consume(ch: &Channel, q: &str, tag: &str, no_ack: bool, args: FieldTable) -> Consumer {
    ch.basic_consume(
        q.into(),
        tag.into(),
        BasicConsumeOptions {
            no_ack,
            ..Default::default()
        },
        args,
    )
    .await
    .unwrap()
}

pub async fn next(c: &mut Consumer) -> Delivery {
    tokio::time::timeout(WAIT, c.next())
        .await
        .expect("a delivery in time")
        .expect("the consumer is still active")
        .expect("no error")
}

/// No delivery arrives within `QUIET`.
pub async fn assert_no_delivery(c: &mut Consumer, what: &str) {
    if let Ok(d) = tokio::time::timeout(QUIET, c.next()).await {
        panic!("{what}: unexpected delivery {d:?}");
    }
}

pub fn body(d: &Delivery) -> String {
    String::from_utf8(d.data.clone()).unwrap()
}

/// Polls `check` every `POLL` until it holds or `limit` passes; returns whether it held.
pub async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A header of a delivery.
pub fn header<'a>(d: &'a Delivery, key: &str) -> Option<&'a AMQPValue> {
    d.properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(key))
}

pub fn as_text(v: &AMQPValue) -> String {
    match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_string(),
        other => panic!("not a string: {other:?}"),
    }
}

pub fn header_text(d: &Delivery, key: &str) -> Option<String> {
    header(d, key).map(as_text)
}

/// The `x-death` header as its list of tables (panics if it is not an array of tables).
pub fn x_death(d: &Delivery) -> Vec<FieldTable> {
    match header(d, "x-death") {
        None => Vec::new(),
        Some(AMQPValue::FieldArray(a)) => a
            .as_slice()
            .iter()
            .map(|v| match v {
                AMQPValue::FieldTable(t) => t.clone(),
                other => panic!("x-death holds a non-table: {other:?}"),
            })
            .collect(),
        Some(other) => panic!("x-death is not an array: {other:?}"),
    }
}

pub fn field<'a>(t: &'a FieldTable, key: &str) -> Option<&'a AMQPValue> {
    t.inner().get(key)
}

pub fn field_text(t: &FieldTable, key: &str) -> String {
    as_text(field(t, key).unwrap_or_else(|| panic!("no {key} in {t:?}")))
}

/// `count` of an x-death entry; RabbitMQ writes it as a signed 64-bit `long` ('l').
pub fn death_count(t: &FieldTable) -> i64 {
    match field(t, "count") {
        Some(AMQPValue::LongLongInt(n)) => *n,
        other => panic!("count is not a long: {other:?} in {t:?}"),
    }
}

/// The (queue, reason, count) triples of a delivery's x-death, most recent first.
pub fn deaths(d: &Delivery) -> Vec<(String, String, i64)> {
    x_death(d)
        .iter()
        .map(|t| {
            (
                field_text(t, "queue"),
                field_text(t, "reason"),
                death_count(t),
            )
        })
        .collect()
}

pub fn routing_keys(t: &FieldTable) -> Vec<String> {
    match field(t, "routing-keys") {
        Some(AMQPValue::FieldArray(a)) => a.as_slice().iter().map(as_text).collect(),
        other => panic!("routing-keys is not an array: {other:?}"),
    }
}

/// The reply code and text of the channel or connection close behind a lapin error.
pub fn close_reason(e: &lapin::Error) -> (u16, String) {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(a) => (a.get_id(), a.get_message().to_string()),
        other => panic!("not a protocol error: {other:?}"),
    }
}

/// Runs `declare` and expects a 406 with exactly `text`.
pub async fn expect_406(result: lapin::Result<lapin::Queue>, text: &str) {
    let err = result.expect_err("the broker refuses it");
    assert_eq!(close_reason(&err), (406, text.to_string()));
}

/// Deletes whatever a test created (ignoring errors: things may have expired).
pub async fn cleanup(conn: &Connection, queues: &[&str]) {
    if let Ok(ch) = conn.create_channel().await {
        for q in queues {
            let _ = ch
                .queue_delete((*q).into(), QueueDeleteOptions::default())
                .await;
        }
    }
}

pub fn with_expiration(ms: &str) -> BasicProperties {
    BasicProperties::default().with_expiration(ms.into())
}

pub fn with_priority(p: u8) -> BasicProperties {
    BasicProperties::default().with_priority(p)
}

pub fn long_string(s: &str) -> LongString {
    s.into()
}

//! One helper per common step: publish, get, drain, consume, expect an
//! error code, wait for a count.

use std::time::Duration;

use futures_lite::StreamExt;
use lapin::message::{BasicGetMessage, Delivery};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Consumer};

use super::{Context, QUIET, WAIT};
use crate::raw::RawConn;
use crate::runner::{CaseResult, Problem};

/// The AMQP reply code carried by a lapin error, if any.
pub fn error_code(e: &lapin::Error) -> Option<u16> {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(a) => Some(a.get_id()),
        _ => None,
    }
}

/// Expect a lapin call to fail with the given AMQP reply code.
pub fn expect_code<T>(res: lapin::Result<T>, code: u16, what: &str) -> CaseResult {
    match res {
        Ok(_) => fail!("{what}: expected error {code}, got success"),
        Err(e) if error_code(&e) == Some(code) => Ok(()),
        Err(e) => fail!("{what}: expected error {code}, got {e}"),
    }
}

/// Expect a lapin call to fail with the given reply code and text prefix.
pub fn expect_code_text<T>(res: lapin::Result<T>, code: u16, text: &str, what: &str) -> CaseResult {
    match res {
        Ok(_) => fail!("{what}: expected error {code}, got success"),
        Err(e) => match e.kind() {
            lapin::ErrorKind::ProtocolError(a)
                if a.get_id() == code && a.get_message().as_str().starts_with(text) =>
            {
                Ok(())
            }
            _ => fail!("{what}: expected error {code} '{text}...', got {e}"),
        },
    }
}

/// Field table from pairs.
pub fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

/// A longstr value.
pub fn s(v: &str) -> AMQPValue {
    AMQPValue::LongString(v.into())
}

/// An i32 value.
pub fn int(v: i32) -> AMQPValue {
    AMQPValue::LongInt(v)
}

/// An i64 value.
pub fn long(v: i64) -> AMQPValue {
    AMQPValue::LongLongInt(v)
}

/// Bind a queue.
pub async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) -> CaseResult {
    bind_args(ch, queue, exchange, key, FieldTable::default()).await
}

/// Bind a queue with arguments.
pub async fn bind_args(
    ch: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
    args: FieldTable,
) -> CaseResult {
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        args,
    )
    .await
    .ctx(&format!("queue.bind {queue} to {exchange} with '{key}'"))
}

/// Bind exchange `dest` to `source`.
pub async fn bind_exchange(ch: &Channel, dest: &str, source: &str, key: &str) -> CaseResult {
    ch.exchange_bind(
        dest.into(),
        source.into(),
        key.into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx(&format!("exchange.bind {dest} to {source}"))
}

/// Publish a body with no properties.
pub async fn publish(ch: &Channel, exchange: &str, key: &str, body: &str) -> CaseResult {
    publish_props(
        ch,
        exchange,
        key,
        body.as_bytes(),
        BasicProperties::default(),
    )
    .await
}

/// Publish with properties.
pub async fn publish_props(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) -> CaseResult {
    ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        props,
    )
    .await
    .ctx("basic.publish")
    .map(|_| ())
}

/// Publish with mandatory=true.
pub async fn publish_mandatory(ch: &Channel, exchange: &str, key: &str, body: &str) -> CaseResult {
    ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        },
        body.as_bytes(),
        BasicProperties::default(),
    )
    .await
    .ctx("basic.publish")
    .map(|_| ())
}

/// basic.get with no-ack.
pub async fn get(ch: &Channel, queue: &str) -> Result<Option<BasicGetMessage>, Problem> {
    ch.basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .ctx(&format!("basic.get {queue}"))
}

/// basic.get without no-ack (the message must be acked).
pub async fn get_manual(ch: &Channel, queue: &str) -> Result<Option<BasicGetMessage>, Problem> {
    ch.basic_get(queue.into(), BasicGetOptions { no_ack: false })
        .await
        .ctx(&format!("basic.get {queue}"))
}

/// Body as text.
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).to_string()
}

/// Take every message from the queue (no-ack) and return the bodies.
pub async fn drain(ch: &Channel, queue: &str) -> Result<Vec<String>, Problem> {
    let mut out = Vec::new();
    while let Some(m) = get(ch, queue).await? {
        out.push(text(&m.delivery.data));
        if out.len() > 100_000 {
            fail!("queue {queue} never ran empty");
        }
    }
    Ok(out)
}

/// Drain the queue and compare bodies in order.
pub async fn expect_bodies(ch: &Channel, queue: &str, expected: &[&str]) -> CaseResult {
    let got = drain(ch, queue).await?;
    ensure_eq!(got, expected, "messages in {queue}");
    Ok(())
}

/// Drain the queue and compare bodies ignoring order.
pub async fn expect_bodies_any_order(ch: &Channel, queue: &str, expected: &[&str]) -> CaseResult {
    let mut got = drain(ch, queue).await?;
    got.sort();
    let mut exp: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    exp.sort();
    ensure_eq!(got, exp, "messages in {queue} (any order)");
    Ok(())
}

/// Start a consumer with a server-generated tag.
pub async fn consume(ch: &Channel, queue: &str, no_ack: bool) -> Result<Consumer, Problem> {
    ch.basic_consume(
        queue.into(),
        "".into(),
        BasicConsumeOptions {
            no_ack,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .ctx(&format!("basic.consume {queue}"))
}

/// Next delivery, within `WAIT`.
pub async fn next(consumer: &mut Consumer) -> Result<Delivery, Problem> {
    next_within(consumer, WAIT).await
}

/// Next delivery within a timeout.
pub async fn next_within(consumer: &mut Consumer, t: Duration) -> Result<Delivery, Problem> {
    match tokio::time::timeout(t, consumer.next()).await {
        Err(_) => fail!("no delivery within {}ms", t.as_millis()),
        Ok(None) => fail!("consumer was cancelled while waiting for a delivery"),
        Ok(Some(Err(e))) => fail!("consumer error: {e}"),
        Ok(Some(Ok(d))) => Ok(d),
    }
}

/// Collect `n` deliveries.
pub async fn next_n(consumer: &mut Consumer, n: usize) -> Result<Vec<Delivery>, Problem> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(
            next(consumer)
                .await
                .map_err(|p| Problem::Fail(format!("delivery {} of {n}: {p}", i + 1)))?,
        );
    }
    Ok(v)
}

/// Fail if a delivery arrives within `QUIET`.
pub async fn expect_no_delivery(consumer: &mut Consumer) -> CaseResult {
    match tokio::time::timeout(QUIET, consumer.next()).await {
        Err(_) => Ok(()),
        Ok(None) => Ok(()),
        Ok(Some(Err(e))) => fail!("consumer error: {e}"),
        Ok(Some(Ok(d))) => fail!(
            "expected no delivery, got '{}' (tag {})",
            text(&d.data),
            d.delivery_tag
        ),
    }
}

/// Bodies of deliveries.
pub fn bodies(ds: &[Delivery]) -> Vec<String> {
    ds.iter().map(|d| text(&d.data)).collect()
}

/// Poll `f` until it returns true or the time runs out.
pub async fn eventually<F, Fut>(what: &str, t: Duration, mut f: F) -> CaseResult
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, Problem>>,
{
    let deadline = tokio::time::Instant::now() + t;
    loop {
        if f().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            fail!("{what}: still not true after {}ms", t.as_millis());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A queue's ready message count via passive declare on `ch`.
pub async fn message_count(ch: &Channel, queue: &str) -> Result<u32, Problem> {
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .ctx(&format!("passive queue.declare {queue}"))?;
    Ok(q.message_count())
}

/// Wait until the queue has exactly `n` ready messages. (RabbitMQ answers a
/// passive declare ahead of deliveries still in flight to the queue, so a
/// count taken right after publishing can be low.)
pub async fn wait_count(ch: &Channel, queue: &str, n: u32) -> CaseResult {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let c = message_count(ch, queue).await?;
        if c == n {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            fail!("messages in {queue}: expected {n}, got {c}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Expect the server to drop the connection during the handshake: RabbitMQ
/// closes the socket (after a 3 s delay) without connection.close. A
/// connection.close carrying a hard error before the socket closes is
/// tolerated; nothing else is.
pub async fn expect_dropped(c: &mut RawConn) -> CaseResult {
    let frames = c.expect_eof(Duration::from_secs(8)).await?;
    for f in &frames {
        match f.method() {
            Some(lapin::protocol::AMQPClass::Connection(
                lapin::protocol::connection::AMQPMethod::Close(cl),
            )) if cl.reply_code >= 500 => {}
            _ => fail!(
                "expected the connection to be dropped, got {}",
                f.describe()
            ),
        }
    }
    Ok(())
}

/// Enable confirms on a channel.
pub async fn confirm_select(ch: &Channel) -> CaseResult {
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .ctx("confirm.select")
}

/// Raw: declare a queue on a raw connection and expect declare-ok.
pub async fn raw_declare_queue(
    c: &mut RawConn,
    ch: u16,
    name: &str,
    exclusive: bool,
) -> CaseResult {
    use lapin::protocol::{queue, AMQPClass};
    c.rpc(
        ch,
        AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
            queue: name.into(),
            passive: false,
            durable: false,
            exclusive,
            auto_delete: false,
            nowait: false,
            arguments: FieldTable::default(),
        })),
    )
    .await
    .map(|_| ())
    .map_err(Problem::Fail)
}

//! What client libraries' own code and test suites rely on: clean-up methods that succeed
//! when there is nothing to clean, exclusivity mismatches as 405, a clean close while
//! publishes are still in flight, a prompt close after a server-initiated close, and
//! confirms coalesced with `multiple=true`.

use lapin::protocol::{basic, confirm, connection, exchange, queue, AMQPClass};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use std::time::Duration;

use crate::raw::{RawConn, FRAME_METHOD};
use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    crate::cases!("clients";
        queue_unbind_missing_queue_ok,
        queue_unbind_missing_exchange_ok,
        queue_unbind_after_auto_delete_ok,
        exchange_unbind_missing_ends_ok,
        exchange_unbind_never_bound_ok,
        exclusive_redeclared_non_exclusive_405,
        non_exclusive_redeclared_exclusive_405,
        close_while_publishing_is_clean,
        socket_closes_after_server_close_ok,
        confirms_coalesced_with_multiple,
    )
}

fn unbind_queue(q: &str, ex: &str) -> AMQPClass {
    AMQPClass::Queue(queue::AMQPMethod::Unbind(queue::Unbind {
        queue: q.into(),
        exchange: ex.into(),
        routing_key: "k".into(),
        arguments: FieldTable::default(),
    }))
}

fn unbind_exchange(dest: &str, source: &str) -> AMQPClass {
    AMQPClass::Exchange(exchange::AMQPMethod::Unbind(exchange::Unbind {
        destination: dest.into(),
        source: source.into(),
        routing_key: "k".into(),
        nowait: false,
        arguments: FieldTable::default(),
    }))
}

/// `m` is answered with its -ok on channel 1, which stays open.
async fn expect_ok(c: &mut RawConn, m: AMQPClass, what: &str) -> CaseResult {
    if let Err(e) = c.rpc(1, m).await {
        fail!("{what}: expected the -ok, got {e}");
    }
    c.check_alive(101).await?;
    Ok(())
}

async fn queue_unbind_missing_queue_ok(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("never-declared");
    expect_ok(
        &mut c,
        unbind_queue(&q, "amq.direct"),
        "queue.unbind of a missing queue",
    )
    .await
}

async fn queue_unbind_missing_exchange_ok(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    let x = ctx.name("no-such-exchange");
    expect_ok(
        &mut c,
        unbind_queue(&q, &x),
        "queue.unbind from a missing exchange",
    )
    .await?;
    let q2 = ctx.name("never-declared");
    expect_ok(
        &mut c,
        unbind_queue(&q2, &x),
        "queue.unbind, both ends missing",
    )
    .await
}

/// The RPC-helper pattern: an auto-delete queue goes when its consumer cancels, then the
/// helper's clean-up unbinds it.
async fn queue_unbind_after_auto_delete_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.name("auto");
    ch.queue_declare(
        q.as_str().into(),
        lapin::options::QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .ctx("declare")?;
    bind(&ch, &q, "amq.direct", "k").await?;
    let consumer = consume(&ch, &q, true).await?;
    ch.basic_cancel(consumer.tag(), Default::default())
        .await
        .ctx("cancel")?;
    eventually("the auto-delete queue to go", WAIT, || async {
        Ok(!ctx.queue_exists(&q).await?)
    })
    .await?;
    ch.queue_unbind(
        q.as_str().into(),
        "amq.direct".into(),
        "k".into(),
        FieldTable::default(),
    )
    .await
    .ctx("queue.unbind of the auto-deleted queue")
}

async fn exchange_unbind_missing_ends_ok(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let x = ctx.name("no-such-exchange");
    expect_ok(
        &mut c,
        unbind_exchange("amq.direct", &x),
        "exchange.unbind, missing source",
    )
    .await?;
    expect_ok(
        &mut c,
        unbind_exchange(&x, "amq.direct"),
        "exchange.unbind, missing destination",
    )
    .await
}

async fn exchange_unbind_never_bound_ok(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    expect_ok(
        &mut c,
        unbind_exchange("amq.topic", "amq.direct"),
        "exchange.unbind, no binding",
    )
    .await
}

fn declare(q: &str, exclusive: bool, durable: bool) -> AMQPClass {
    AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
        queue: q.into(),
        passive: false,
        durable,
        exclusive,
        auto_delete: false,
        nowait: false,
        arguments: FieldTable::default(),
    }))
}

async fn exclusive_redeclared_non_exclusive_405(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("excl");
    c.rpc(1, declare(&q, true, false)).await?;
    // Exclusivity is checked before the other properties (durable differs too).
    c.send_method(1, declare(&q, false, true)).await?;
    crate::cases::errors::expect_soft(
        &mut c,
        1,
        405,
        &format!("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{q}'"),
    )
    .await
}

async fn non_exclusive_redeclared_exclusive_405(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("shared");
    ctx.track_queue(&q);
    c.rpc(1, declare(&q, false, false)).await?;
    c.send_method(1, declare(&q, true, false)).await?;
    crate::cases::errors::expect_soft(&mut c, 1, 405, "RESOURCE_LOCKED").await
}

/// A client sends `connection.close` with publishes still going out behind it: it gets
/// close-ok and can go on writing for a while (a client finishing a write it had started)
/// without the server resetting the socket under it; then the client closes. RabbitMQ reads
/// and discards until the client closes; closing on unread data would reset the socket and
/// the client's next write would fail.
async fn close_while_publishing_is_clean(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    let mut burst = Vec::new();
    for _ in 0..200 {
        burst.extend(publish_bytes(&q, 512)?);
    }
    let close = AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
        reply_code: 200,
        reply_text: "bye".into(),
        class_id: 0,
        method_id: 0,
    }));
    let mut out = burst.clone();
    out.extend(crate::raw::encode_frame(
        &amq_protocol::frame::AMQPFrame::Method(0, close),
    )?);
    // Publishes the server reads only after the close: it must discard them quietly.
    for _ in 0..20 {
        out.extend(&burst);
    }
    c.send_bytes(&out)
        .await
        .ctx("writing the burst and the close")?;
    loop {
        let f = c.recv_frame().await?;
        let Some(f) = f else {
            fail!("the socket closed before close-ok")
        };
        if f.frame_type == FRAME_METHOD
            && matches!(
                f.method(),
                Some(AMQPClass::Connection(connection::AMQPMethod::CloseOk(_)))
            )
        {
            break;
        }
    }
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        c.send_bytes(&burst)
            .await
            .ctx(&format!("writing {}ms after close-ok", 150 * (i + 1)))?;
    }
    Ok(())
}

fn publish_bytes(q: &str, size: usize) -> Result<Vec<u8>, crate::Problem> {
    use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
    let mut bytes = crate::raw::encode_frame(&AMQPFrame::Method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
            exchange: "".into(),
            routing_key: q.into(),
            mandatory: false,
            immediate: false,
        })),
    ))?;
    bytes.extend(crate::raw::encode_frame(&AMQPFrame::Header(
        1,
        AMQPContentHeader {
            class_id: 60,
            body_size: size as u64,
            properties: BasicProperties::default(),
        },
    ))?);
    bytes.extend(crate::raw::encode_frame(&AMQPFrame::Body(
        1,
        vec![b'x'; size],
    ))?);
    Ok(bytes)
}

/// After a connection error, the client's close-ok is the last word: the server closes
/// the socket at once.
async fn socket_closes_after_server_close_ok(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw().await?;
    // A method on a channel that was never opened: 504, a connection error.
    c.send_method(
        7,
        AMQPClass::Basic(basic::AMQPMethod::Qos(basic::Qos {
            prefetch_count: 1,
            global: false,
        })),
    )
    .await?;
    loop {
        let Some(f) = c.recv_frame().await? else {
            fail!("the socket closed without connection.close")
        };
        if let Some(AMQPClass::Connection(connection::AMQPMethod::Close(_))) = f.method() {
            break;
        }
    }
    c.send_method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
    )
    .await?;
    c.read_until_closed(Duration::from_secs(1))
        .await
        .ctx("after the client's close-ok")
}

/// 640 publishes written at once in confirm mode: the broker confirms them with fewer
/// frames than messages, at least one of them `basic.ack` with `multiple=true`, and every
/// tag exactly once.
async fn confirms_coalesced_with_multiple(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    c.rpc(
        1,
        AMQPClass::Confirm(confirm::AMQPMethod::Select(confirm::Select {
            nowait: false,
        })),
    )
    .await?;
    let mut out = Vec::new();
    for _ in 0..640 {
        out.extend(publish_bytes(&q, 16)?);
    }
    c.send_bytes(&out).await.ctx("publishing")?;
    let mut covered = std::collections::BTreeSet::new();
    let (mut frames, mut multiples) = (0, 0);
    while covered.len() < 640 {
        let (_, m) = c.recv_method().await?;
        let AMQPClass::Basic(basic::AMQPMethod::Ack(a)) = m else {
            fail!(
                "expected basic.ack, got {}",
                crate::raw::describe_method(&m)
            )
        };
        frames += 1;
        if a.multiple {
            multiples += 1;
            covered.extend(1..=a.delivery_tag);
        } else {
            ensure!(
                covered.insert(a.delivery_tag),
                "tag {} confirmed twice",
                a.delivery_tag
            );
        }
    }
    ensure_eq!(covered.last().copied(), Some(640), "highest tag confirmed");
    ensure!(
        multiples > 0 && frames < 640,
        "640 confirms came as {frames} frames, {multiples} with multiple=true"
    );
    Ok(())
}

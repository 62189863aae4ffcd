//! Every reply code at the right level: soft errors close the channel
//! (channel.close, the connection stays usable), hard errors close the
//! connection (connection.close). Checked on the wire with the raw client.

use lapin::protocol::{basic, channel, exchange, queue, AMQPClass};
use lapin::types::FieldTable;

use crate::raw::{RawConn, RawFrame, FRAME_BODY, FRAME_HEADER, FRAME_METHOD};
use crate::runner::{Case, CaseResult, Problem};
use crate::support::*;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    crate::cases!("errors";
        not_found_404_is_channel_level,
        access_refused_403_is_channel_level,
        resource_locked_405_is_channel_level,
        precondition_failed_406_is_channel_level,
        close_names_the_failing_method,
        other_channels_survive_a_channel_error,
        consumer_on_other_channel_keeps_receiving,
        frames_after_channel_close_are_ignored,
        command_invalid_503_unknown_exchange_type,
        channel_error_504_second_open,
        channel_error_504_method_on_closed_channel,
        not_allowed_530_consumer_tag_reuse,
        not_implemented_540_immediate,
        not_implemented_540_prefetch_size,
        not_implemented_540_recover_no_requeue,
        connection_error_closes_every_channel,
        queue_method_on_channel_zero,
        unacked_requeued_after_connection_error,
        connection_forced_320_from_management,
    )
}

/// Expect channel.close with `code` on `ch`, the reply text starting with
/// `text`, and the connection still usable afterwards.
pub async fn expect_soft(c: &mut RawConn, ch: u16, code: u16, text: &str) -> CaseResult {
    let close = c.expect_channel_close(ch).await?;
    ensure!(
        close.reply_code == code && close.reply_text.as_str().starts_with(text),
        "expected channel.close {code} '{text}...', got channel.close {} '{}'",
        close.reply_code,
        close.reply_text
    );
    c.check_alive(ch + 100).await?;
    Ok(())
}

/// Expect connection.close with `code` and reply text starting with `text`.
pub async fn expect_hard(
    c: &mut RawConn,
    code: u16,
    text: &str,
) -> Result<lapin::protocol::connection::Close, Problem> {
    let close = c.expect_connection_close().await?;
    ensure!(
        close.reply_code == code && close.reply_text.as_str().starts_with(text),
        "expected connection.close {code} '{text}...', got connection.close {} '{}'",
        close.reply_code,
        close.reply_text
    );
    Ok(close)
}

fn declare_queue(name: &str, passive: bool, exclusive: bool) -> AMQPClass {
    AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
        queue: name.into(),
        passive,
        durable: false,
        exclusive,
        auto_delete: false,
        nowait: false,
        arguments: FieldTable::default(),
    }))
}

async fn not_found_404_is_channel_level(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("missing");
    c.send_method(1, declare_queue(&q, true, false)).await?;
    expect_soft(
        &mut c,
        1,
        404,
        &format!("NOT_FOUND - no queue '{q}' in vhost '{}'", ctx.vhost()),
    )
    .await
}

async fn access_refused_403_is_channel_level(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        declare_queue(&format!("amq.{}", ctx.name("q")), false, false),
    )
    .await?;
    expect_soft(&mut c, 1, 403, "ACCESS_REFUSED").await
}

async fn resource_locked_405_is_channel_level(ctx: Ctx) -> CaseResult {
    let mut owner = ctx.raw_ch1().await?;
    let q = ctx.name("excl");
    raw_declare_queue(&mut owner, 1, &q, true).await?;
    let mut c = ctx.raw_ch1().await?;
    c.send_method(1, declare_queue(&q, true, false)).await?;
    expect_soft(&mut c, 1, 405, "RESOURCE_LOCKED").await
}

async fn precondition_failed_406_is_channel_level(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    c.send_method(
        1,
        AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
            queue: q.as_str().into(),
            passive: false,
            durable: true,
            exclusive: false,
            auto_delete: false,
            nowait: false,
            arguments: FieldTable::default(),
        })),
    )
    .await?;
    expect_soft(
        &mut c,
        1,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'durable'",
    )
    .await
}

async fn close_names_the_failing_method(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        AMQPClass::Queue(queue::AMQPMethod::Bind(queue::Bind {
            queue: ctx.name("missing").as_str().into(),
            exchange: "amq.direct".into(),
            routing_key: "k".into(),
            nowait: false,
            arguments: FieldTable::default(),
        })),
    )
    .await?;
    let close = c.expect_channel_close(1).await?;
    ensure_eq!(close.reply_code, 404, "reply code");
    ensure_eq!(
        (close.class_id, close.method_id),
        (50, 20),
        "class/method in channel.close (queue.bind)"
    );
    Ok(())
}

async fn other_channels_survive_a_channel_error(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.open_channel(2).await?;
    c.send_method(1, declare_queue(&ctx.name("missing"), true, false))
        .await?;
    let close = c.expect_channel_close(1).await?;
    ensure_eq!(close.reply_code, 404, "reply code");
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 2, &q, false).await?;
    Ok(())
}

async fn consumer_on_other_channel_keeps_receiving(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let ch1 = conn.create_channel().await.ctx("channel.open")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    let q = ctx.queue(&ch1, "q").await?;
    let mut consumer = consume(&ch2, &q, true).await?;
    let res = ch1
        .queue_declare(
            ctx.name("missing").as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    expect_code(res, 404, "passive declare")?;
    let pub_ch = ctx.channel().await?;
    publish(&pub_ch, "", &q, "after").await?;
    let d = next(&mut consumer).await?;
    ensure_eq!(
        text(&d.data),
        "after",
        "delivery after a channel error on another channel"
    );
    Ok(())
}

async fn frames_after_channel_close_are_ignored(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(1, declare_queue(&ctx.name("missing"), true, false))
        .await?;
    // Wait for the server's channel.close, but keep talking on the channel
    // before answering close-ok: the server must discard those methods.
    loop {
        let f = c.recv_method_frame().await?;
        if let Some(AMQPClass::Channel(channel::AMQPMethod::Close(cl))) = f.method() {
            ensure_eq!(cl.reply_code, 404, "reply code");
            break;
        }
    }
    c.send_method(1, declare_queue(&ctx.name("ignored"), true, false))
        .await?;
    c.publish(1, "", "nowhere", false, Default::default(), b"ignored")
        .await?;
    c.send_method(
        1,
        AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
    )
    .await?;
    c.check_alive(2).await?;
    // And the channel number can be reused.
    c.open_channel(1).await?;
    Ok(())
}

async fn command_invalid_503_unknown_exchange_type(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
            exchange: ctx.name("x").as_str().into(),
            kind: "no-such-type".into(),
            passive: false,
            durable: false,
            auto_delete: false,
            internal: false,
            nowait: false,
            arguments: FieldTable::default(),
        })),
    )
    .await?;
    expect_hard(
        &mut c,
        503,
        "COMMAND_INVALID - unknown exchange type 'no-such-type'",
    )
    .await
    .map(|_| ())
}

async fn channel_error_504_second_open(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
    )
    .await?;
    expect_hard(&mut c, 504, "CHANNEL_ERROR - second 'channel.open' seen")
        .await
        .map(|_| ())
}

async fn channel_error_504_method_on_closed_channel(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw().await?;
    c.send_method(5, declare_queue(&ctx.name("q"), true, false))
        .await?;
    expect_hard(&mut c, 504, "CHANNEL_ERROR - expected 'channel.open'")
        .await
        .map(|_| ())
}

async fn not_allowed_530_consumer_tag_reuse(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    let consume = AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
        queue: q.as_str().into(),
        consumer_tag: "same-tag".into(),
        no_local: false,
        no_ack: false,
        exclusive: false,
        nowait: false,
        arguments: FieldTable::default(),
    }));
    c.rpc(1, consume.clone()).await?;
    c.send_method(1, consume).await?;
    expect_hard(&mut c, 530, "NOT_ALLOWED - attempt to reuse consumer tag")
        .await
        .map(|_| ())
}

async fn not_implemented_540_immediate(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    let mut bytes = crate::raw::encode_frame(&crate::raw::method_frame(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
            exchange: "".into(),
            routing_key: q.as_str().into(),
            mandatory: false,
            immediate: true,
        })),
    ))?;
    bytes.extend(crate::raw::encode_frame(&crate::raw::header_frame(1, 1))?);
    bytes.extend(
        RawFrame {
            frame_type: FRAME_BODY,
            channel: 1,
            payload: b"x".to_vec(),
        }
        .to_bytes(),
    );
    c.send_bytes(&bytes).await?;
    expect_hard(&mut c, 540, "NOT_IMPLEMENTED - immediate=true")
        .await
        .map(|_| ())
}

async fn not_implemented_540_prefetch_size(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    // basic.qos with prefetch-size 1000 (amq-protocol has no field for it).
    let mut payload = vec![0, 60, 0, 10];
    payload.extend_from_slice(&1000u32.to_be_bytes());
    payload.extend_from_slice(&10u16.to_be_bytes());
    payload.push(0);
    c.send_raw_frame(&RawFrame {
        frame_type: FRAME_METHOD,
        channel: 1,
        payload,
    })
    .await?;
    expect_hard(&mut c, 540, "NOT_IMPLEMENTED - prefetch_size!=0 (1000)")
        .await
        .map(|_| ())
}

async fn not_implemented_540_recover_no_requeue(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Recover(basic::Recover {
            requeue: false,
        })),
    )
    .await?;
    expect_hard(&mut c, 540, "NOT_IMPLEMENTED - requeue=false")
        .await
        .map(|_| ())
}

async fn connection_error_closes_every_channel(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let ch1 = conn.create_channel().await.ctx("channel.open")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    let q = ctx.queue(&ch1, "q").await?;
    // Consumer tag reuse is a connection error (530).
    let opts = lapin::options::BasicConsumeOptions::default();
    let _c1 = ch1
        .basic_consume(q.as_str().into(), "dup".into(), opts, FieldTable::default())
        .await
        .ctx("basic.consume")?;
    let res = ch1
        .basic_consume(q.as_str().into(), "dup".into(), opts, FieldTable::default())
        .await;
    expect_code(
        res.map(|_| ()),
        530,
        "second basic.consume with the same tag",
    )?;
    eventually("connection closed", WAIT, || async {
        Ok(!conn.status().connected())
    })
    .await?;
    ensure!(
        ch2.queue_declare(q.as_str().into(), Default::default(), FieldTable::default())
            .await
            .is_err(),
        "other channel still usable after a connection error"
    );
    Ok(())
}

async fn queue_method_on_channel_zero(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw().await?;
    c.send_method(0, declare_queue(&ctx.name("q"), true, false))
        .await?;
    expect_hard(
        &mut c,
        504,
        "CHANNEL_ERROR - unexpected method in connection state running",
    )
    .await
    .map(|_| ())
}

async fn unacked_requeued_after_connection_error(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Get(basic::Get {
            queue: q.as_str().into(),
            no_ack: false,
        })),
    )
    .await?;
    let m = c.recv_message(1).await?;
    ensure_eq!(m.body, b"m".to_vec(), "body");
    // Break the connection with a hard error.
    c.send_raw_frame(&RawFrame {
        frame_type: FRAME_HEADER,
        channel: 1,
        payload: vec![0; 14],
    })
    .await?;
    c.expect_connection_close().await?;
    eventually("message requeued", WAIT, || async {
        Ok(message_count(&ch, &q).await? == 1)
    })
    .await?;
    let Some(g) = get(&ch, &q).await? else {
        fail!("message lost")
    };
    ensure!(
        g.delivery.redelivered,
        "requeued message must be marked redelivered"
    );
    Ok(())
}

async fn connection_forced_320_from_management(ctx: Ctx) -> CaseResult {
    let mgmt = ctx.mgmt()?;
    let name = ctx.name("victim");
    let mut c = RawConn::open_with(ctx.url(), |h| {
        h.client_properties.insert(
            "connection_name".into(),
            lapin::types::AMQPValue::LongString(name.as_str().into()),
        );
    })
    .await?;
    let conn = mgmt
        .find_connection(&name, std::time::Duration::from_secs(15))
        .await?;
    let conn_name = conn["name"].as_str().unwrap_or_default().to_string();
    let (status, body) = mgmt
        .request(
            "DELETE",
            &format!(
                "/api/connections/{}",
                crate::mgmt::encode_segment(&conn_name)
            ),
            None,
        )
        .await?;
    ensure!(
        (200..300).contains(&status),
        "DELETE connection: HTTP {status}: {body}"
    );
    expect_hard(
        &mut c,
        320,
        "CONNECTION_FORCED - Closed via management plugin",
    )
    .await
    .map(|_| ())
}

//! Frame-level errors: all hard (connection.close), or a dropped connection
//! where RabbitMQ drops it.

use lapin::protocol::{basic, channel, queue, AMQPClass};
use lapin::types::FieldTable;

use super::errors::expect_hard;
use crate::raw::{RawConn, RawFrame, FRAME_BODY, FRAME_HEADER, FRAME_METHOD};
use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    crate::cases!("errors";
        bad_frame_end_501,
        unknown_frame_type_501,
        body_frame_over_frame_max_501,
        unknown_method_drops_connection,
        unknown_class_drops_connection,
        unexpected_frame_505_body_without_header,
        unexpected_frame_505_header_without_publish,
        unexpected_frame_505_method_inside_content,
        frame_error_501_truncated_method,
        frame_error_501_empty_method_frame,
        frame_error_501_heartbeat_with_payload,
        unexpected_frame_505_heartbeat_on_channel,
        unexpected_frame_505_wrong_content_class,
        unexpected_frame_505_body_on_channel_zero,
        channel_error_504_publish_on_channel_zero,
        channel_error_504_connection_open_twice,
        channel_error_504_unsolicited_connection_close_ok,
        command_invalid_503_unsolicited_channel_close_ok,
    )
}

pub(crate) fn declare_queue(name: &str, passive: bool, exclusive: bool) -> AMQPClass {
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

async fn bad_frame_end_501(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let mut bytes = RawFrame {
        frame_type: FRAME_METHOD,
        channel: 1,
        payload: crate::raw::encode_method_payload(&declare_queue(&ctx.name("q"), true, false))?,
    }
    .to_bytes();
    if let Some(last) = bytes.last_mut() {
        *last = 0x00;
    }
    c.send_bytes(&bytes).await?;
    expect_hard(&mut c, 501, "FRAME_ERROR").await.map(|_| ())
}

async fn unknown_frame_type_501(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_raw_frame(&RawFrame {
        frame_type: 7,
        channel: 1,
        payload: vec![1, 2, 3],
    })
    .await?;
    expect_hard(&mut c, 501, "FRAME_ERROR").await.map(|_| ())
}

async fn body_frame_over_frame_max_501(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::open_with(ctx.url(), |h| h.frame_max = Some(4096)).await?;
    c.open_channel(1).await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    let mut bytes = crate::raw::encode_frame(&crate::raw::method_frame(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
            exchange: "".into(),
            routing_key: q.as_str().into(),
            mandatory: false,
            immediate: false,
        })),
    ))?;
    let body = vec![b'x'; 10_000];
    bytes.extend(crate::raw::encode_frame(&crate::raw::header_frame(
        1,
        body.len() as u64,
    ))?);
    bytes.extend(
        RawFrame {
            frame_type: FRAME_BODY,
            channel: 1,
            payload: body,
        }
        .to_bytes(),
    );
    c.send_bytes(&bytes).await?;
    expect_hard(&mut c, 501, "FRAME_ERROR").await.map(|_| ())
}

async fn unknown_method_drops_connection(ctx: Ctx) -> CaseResult {
    // RabbitMQ's reader crashes on an unknown method id ({unknown_method_id,
    // {60,99}}) and the socket closes without connection.close; a
    // connection.close with a hard error is tolerated.
    let mut c = ctx.raw_ch1().await?;
    c.send_raw_frame(&RawFrame {
        frame_type: FRAME_METHOD,
        channel: 1,
        payload: vec![0, 60, 0, 99],
    })
    .await?;
    expect_dropped(&mut c).await
}

async fn unknown_class_drops_connection(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_raw_frame(&RawFrame {
        frame_type: FRAME_METHOD,
        channel: 1,
        payload: vec![0, 99, 0, 1],
    })
    .await?;
    expect_dropped(&mut c).await
}

async fn unexpected_frame_505_body_without_header(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_raw_frame(&RawFrame {
        frame_type: FRAME_BODY,
        channel: 1,
        payload: b"stray".to_vec(),
    })
    .await?;
    expect_hard(&mut c, 505, "UNEXPECTED_FRAME")
        .await
        .map(|_| ())
}

async fn unexpected_frame_505_header_without_publish(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_frame(&crate::raw::header_frame(1, 5)).await?;
    expect_hard(&mut c, 505, "UNEXPECTED_FRAME")
        .await
        .map(|_| ())
}

async fn unexpected_frame_505_method_inside_content(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
            exchange: "".into(),
            routing_key: "nowhere".into(),
            mandatory: false,
            immediate: false,
        })),
    )
    .await?;
    c.send_method(1, declare_queue(&ctx.name("q"), true, false))
        .await?;
    expect_hard(&mut c, 505, "UNEXPECTED_FRAME")
        .await
        .map(|_| ())
}

async fn frame_error_501_truncated_method(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    // queue.declare whose queue name claims 5 bytes but carries 2.
    c.send_raw_frame(&RawFrame {
        frame_type: FRAME_METHOD,
        channel: 1,
        payload: vec![0, 50, 0, 10, 0, 0, 5, b'a', b'b'],
    })
    .await?;
    let close = expect_hard(&mut c, 501, "FRAME_ERROR - cannot decode").await?;
    ensure_eq!(
        (close.class_id, close.method_id),
        (50, 10),
        "class/method in connection.close"
    );
    Ok(())
}

async fn frame_error_501_empty_method_frame(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_raw_frame(&RawFrame {
        frame_type: FRAME_METHOD,
        channel: 1,
        payload: vec![],
    })
    .await?;
    expect_hard(&mut c, 501, "FRAME_ERROR").await.map(|_| ())
}

async fn frame_error_501_heartbeat_with_payload(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_raw_frame(&RawFrame {
        frame_type: crate::raw::FRAME_HEARTBEAT,
        channel: 0,
        payload: b"xx".to_vec(),
    })
    .await?;
    expect_hard(&mut c, 501, "FRAME_ERROR").await.map(|_| ())
}

async fn unexpected_frame_505_heartbeat_on_channel(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_raw_frame(&RawFrame {
        frame_type: crate::raw::FRAME_HEARTBEAT,
        channel: 1,
        payload: vec![],
    })
    .await?;
    expect_hard(&mut c, 505, "UNEXPECTED_FRAME")
        .await
        .map(|_| ())
}

async fn unexpected_frame_505_wrong_content_class(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
            exchange: "".into(),
            routing_key: "nowhere".into(),
            mandatory: false,
            immediate: false,
        })),
    )
    .await?;
    // A content header for class 50 (queue) instead of 60 (basic).
    let mut payload = vec![0, 50, 0, 0];
    payload.extend_from_slice(&1u64.to_be_bytes());
    payload.extend_from_slice(&[0, 0]);
    c.send_raw_frame(&RawFrame {
        frame_type: FRAME_HEADER,
        channel: 1,
        payload,
    })
    .await?;
    let close = expect_hard(&mut c, 505, "UNEXPECTED_FRAME").await?;
    ensure_eq!(
        (close.class_id, close.method_id),
        (60, 40),
        "class/method in connection.close (basic.publish)"
    );
    Ok(())
}

async fn unexpected_frame_505_body_on_channel_zero(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw().await?;
    c.send_raw_frame(&RawFrame {
        frame_type: FRAME_BODY,
        channel: 0,
        payload: b"x".to_vec(),
    })
    .await?;
    expect_hard(&mut c, 505, "UNEXPECTED_FRAME")
        .await
        .map(|_| ())
}

async fn channel_error_504_publish_on_channel_zero(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw().await?;
    c.send_method(
        0,
        AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
            exchange: "".into(),
            routing_key: "nowhere".into(),
            mandatory: false,
            immediate: false,
        })),
    )
    .await?;
    let close = expect_hard(
        &mut c,
        504,
        "CHANNEL_ERROR - unexpected method in connection state running",
    )
    .await?;
    ensure_eq!(
        (close.class_id, close.method_id),
        (60, 40),
        "class/method in connection.close"
    );
    Ok(())
}

async fn channel_error_504_connection_open_twice(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw().await?;
    c.send_method(
        0,
        AMQPClass::Connection(lapin::protocol::connection::AMQPMethod::Open(
            lapin::protocol::connection::Open {
                virtual_host: ctx.vhost().as_str().into(),
            },
        )),
    )
    .await?;
    let close = expect_hard(
        &mut c,
        504,
        "CHANNEL_ERROR - unexpected method in connection state running",
    )
    .await?;
    ensure_eq!(
        (close.class_id, close.method_id),
        (10, 40),
        "class/method in connection.close"
    );
    Ok(())
}

async fn channel_error_504_unsolicited_connection_close_ok(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw().await?;
    c.send_method(
        0,
        AMQPClass::Connection(lapin::protocol::connection::AMQPMethod::CloseOk(
            lapin::protocol::connection::CloseOk {},
        )),
    )
    .await?;
    expect_hard(&mut c, 504, "CHANNEL_ERROR").await.map(|_| ())
}

async fn command_invalid_503_unsolicited_channel_close_ok(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
    )
    .await?;
    let close = expect_hard(&mut c, 503, "COMMAND_INVALID").await?;
    ensure_eq!(
        (close.class_id, close.method_id),
        (20, 41),
        "class/method in connection.close"
    );
    Ok(())
}

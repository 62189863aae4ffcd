//! Input RabbitMQ accepts or refuses in its own particular way: trailing bytes after a
//! method's arguments, an unsolicited `channel.flow-ok`, `CC`/`BCC` headers of the wrong
//! type, names that are not UTF-8.

use lapin::protocol::{basic, channel, AMQPClass};
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString};
use lapin::BasicProperties;

use super::errors::{expect_hard, expect_soft};
use crate::raw::{RawFrame, FRAME_BODY, FRAME_HEADER, FRAME_METHOD};
use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    crate::cases!("input";
        trailing_bytes_after_arguments_501,
        trailing_bytes_after_publish_501,
        unsolicited_channel_flow_ok_503,
        cc_header_of_the_wrong_type_406,
        cc_array_with_other_values_routes_the_strings,
        exchange_name_not_utf8_404,
        routing_key_not_utf8_accepted,
        properties_not_utf8_accepted,
    )
}

async fn trailing_bytes_after_arguments_501(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    let mut payload =
        crate::raw::encode_method_payload(&super::errors_frames::declare_queue(&q, true, false))?;
    payload.extend(b"junk");
    c.send_bytes(
        &RawFrame {
            frame_type: FRAME_METHOD,
            channel: 1,
            payload,
        }
        .to_bytes(),
    )
    .await?;
    expect_hard(&mut c, 501, "FRAME_ERROR - cannot decode <<")
        .await
        .map(|_| ())
}

async fn trailing_bytes_after_publish_501(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let mut payload = vec![0, 60, 0, 40, 0, 0, 0, 3, b'a', b'b', b'c', 0];
    payload.extend(b"junk");
    c.send_bytes(
        &RawFrame {
            frame_type: FRAME_METHOD,
            channel: 1,
            payload,
        }
        .to_bytes(),
    )
    .await?;
    expect_hard(
        &mut c,
        501,
        "FRAME_ERROR - cannot decode <<0,0,0,3,97,98,99,0,106,117,110,107>>",
    )
    .await
    .map(|_| ())
}

async fn unsolicited_channel_flow_ok_503(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let ok = channel::FlowOk { active: true };
    c.send_method(1, AMQPClass::Channel(channel::AMQPMethod::FlowOk(ok)))
        .await?;
    expect_hard(&mut c, 503, "COMMAND_INVALID")
        .await
        .map(|_| ())
}

fn headers(key: &str, v: AMQPValue) -> BasicProperties {
    let mut t = FieldTable::default();
    t.insert(key.into(), v);
    BasicProperties::default().with_headers(t)
}

async fn cc_header_of_the_wrong_type_406(ctx: Ctx) -> CaseResult {
    let cases = [
        ("CC", AMQPValue::LongInt(5), "signedint"),
        (
            "CC",
            AMQPValue::LongString(LongString::from("q")),
            "longstr",
        ),
        ("BCC", AMQPValue::FieldTable(FieldTable::default()), "table"),
    ];
    for (key, value, kind) in cases {
        let mut c = ctx.raw_ch1().await?;
        let q = ctx.name("q");
        ctx.track_queue(&q);
        raw_declare_queue(&mut c, 1, &q, false).await?;
        c.publish(1, "", &q, false, headers(key, value), b"m")
            .await?;
        let text = format!(
            "PRECONDITION_FAILED - invalid message: {{unacceptable_type_in_header,\"{key}\",{kind}}}"
        );
        expect_soft(&mut c, 1, 406, &text).await?;
    }
    Ok(())
}

/// Values in a CC array that are not strings are skipped; the strings route.
async fn cc_array_with_other_values_routes_the_strings(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let q2 = ctx.queue(&ch, "q2").await?;
    let mut cc = FieldArray::default();
    cc.push(AMQPValue::LongString(LongString::from(q2.as_str())));
    cc.push(AMQPValue::LongInt(3));
    let props = headers("CC", AMQPValue::FieldArray(cc));
    publish_props(&ch, "", &q, b"m", props).await?;
    expect_bodies(&ch, &q, &["m"]).await?;
    expect_bodies(&ch, &q2, &["m"]).await
}

/// basic.publish with `name` bytes as the exchange and `key` bytes as the routing key.
fn publish_bytes(exchange: &[u8], key: &[u8]) -> Vec<u8> {
    publish_with_properties(exchange, key, &[0, 0])
}

/// basic.publish with these encoded properties (flags first) in its content header.
fn publish_with_properties(exchange: &[u8], key: &[u8], properties: &[u8]) -> Vec<u8> {
    let mut payload = vec![0, 60, 0, 40, 0, 0, exchange.len() as u8];
    payload.extend(exchange);
    payload.push(key.len() as u8);
    payload.extend(key);
    payload.push(0);
    let mut out = RawFrame {
        frame_type: FRAME_METHOD,
        channel: 1,
        payload,
    }
    .to_bytes();
    let mut header = vec![0, 60, 0, 0];
    header.extend(1u64.to_be_bytes());
    header.extend(properties);
    out.extend(
        RawFrame {
            frame_type: FRAME_HEADER,
            channel: 1,
            payload: header,
        }
        .to_bytes(),
    );
    out.extend(
        RawFrame {
            frame_type: FRAME_BODY,
            channel: 1,
            payload: b"m".to_vec(),
        }
        .to_bytes(),
    );
    out
}

/// RabbitMQ echoes the name's bytes in the reply text (not UTF-8, so amq-protocol cannot
/// decode that channel.close): the code is read from the frame's bytes.
async fn exchange_name_not_utf8_404(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_bytes(&publish_bytes(b"\xff\xfe", b"k")).await?;
    loop {
        let Some(f) = c.recv_frame().await? else {
            fail!("the socket closed without channel.close")
        };
        if f.method_ids() == Some((20, 40)) {
            let code = f
                .payload
                .get(4..6)
                .map(|b| u16::from_be_bytes([b[0], b[1]]));
            ensure_eq!(f.channel, 1, "channel.close's channel");
            ensure_eq!(code, Some(404), "channel.close's reply code");
            return Ok(());
        }
        ensure!(
            f.frame_type != FRAME_METHOD,
            "expected channel.close, got {}",
            f.describe()
        );
    }
}

/// The message is taken (routed nowhere here): the channel stays open.
async fn routing_key_not_utf8_accepted(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_bytes(&publish_bytes(b"amq.direct", b"\xff\xfe"))
        .await?;
    c.rpc(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Qos(basic::Qos {
            prefetch_count: 1,
            global: false,
        })),
    )
    .await?;
    Ok(())
}

/// A content-type and a header key that are not UTF-8: the message is taken and delivered.
async fn properties_not_utf8_accepted(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    // content-type "\xff\xfe", headers {"k\xff": "v"}.
    let mut props = vec![
        0xa0, 0x00, 2, 0xff, 0xfe, 0, 0, 0, 9, 2, b'k', 0xff, b'S', 0, 0, 0, 1,
    ];
    props.push(b'v');
    c.send_bytes(&publish_with_properties(b"", q.as_bytes(), &props))
        .await?;
    // RabbitMQ enqueues asynchronously: ask until the message is counted.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let declared = c
            .rpc(1, super::errors_frames::declare_queue(&q, true, false))
            .await?;
        let AMQPClass::Queue(lapin::protocol::queue::AMQPMethod::DeclareOk(ok)) = declared else {
            fail!(
                "expected queue.declare-ok, got {}",
                crate::raw::describe_method(&declared)
            )
        };
        if ok.message_count == 1 {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the message never reached the queue ({} messages)",
            ok.message_count
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

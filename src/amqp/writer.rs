//! The connection's writer task: drains the outbound queue into one buffer per batch,
//! writes it with one syscall, and sends heartbeats when the connection is otherwise idle.

use super::codec;
use super::confirms::Confirms;
use super::conn_shared::ConnShared;
use super::outbound::Outbound;
use amq_protocol::protocol::{channel, confirm, AMQPClass};
use bytes::{BufMut, BytesMut};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// A batch is flushed once it holds this many bytes, even if more items are waiting.
const BATCH_BYTES: usize = 256 * 1024;

/// A write buffer larger than this is released when the connection goes idle.
const KEEP_IDLE: usize = 16 * 1024;
/// ... and a batch queue with room for more items than this.
const KEEP_ITEMS: usize = 64;

pub(crate) async fn run<W: AsyncWrite + Unpin>(
    mut wr: W,
    conn: Arc<ConnShared>,
    heartbeat_secs: u16,
) {
    let mut buf = BytesMut::new();
    let mut batch = VecDeque::new();
    let period = if heartbeat_secs == 0 {
        Duration::from_secs(3600 * 24 * 365)
    } else {
        Duration::from_millis(heartbeat_secs as u64 * 500)
    };
    let mut ticker = tokio::time::interval(period);
    ticker.tick().await;
    let mut wrote_since_tick = false;
    let mut confirms = Confirms::default();
    'run: loop {
        tokio::select! {
            _ = conn.out.take_all(&mut batch) => {
                while let Some(item) = batch.front() {
                    if let Some(gate) = item.held_by() {
                        // Written before: the mirrors' notice of this delivery.
                        gate.clone().wait().await;
                    }
                    let (weight, close) = encode_batch(&mut buf, &mut batch, &mut confirms, conn.frame_max);
                    let ok = wr.write_all(&buf).await.is_ok();
                    conn.info.sent(buf.len());
                    buf.clear();
                    conn.written(weight);
                    wrote_since_tick = true;
                    if close || !ok {
                        break 'run;
                    }
                }
                // A TLS stream keeps what the socket would not take yet; TCP's is a no-op.
                if wr.flush().await.is_err() {
                    break 'run;
                }
                if conn.out.is_empty() {
                    // Going idle: an idle connection keeps no large buffers.
                    if buf.capacity() > KEEP_IDLE {
                        buf = BytesMut::new();
                    }
                    if batch.capacity() > KEEP_ITEMS {
                        batch = VecDeque::new();
                    }
                }
            }
            _ = ticker.tick(), if heartbeat_secs > 0 => {
                if !wrote_since_tick {
                    codec::encode_heartbeat(&mut buf);
                    if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
                        break;
                    }
                    conn.info.sent(buf.len());
                    buf.clear();
                }
                wrote_since_tick = false;
            }
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
    // Release the weight of anything never written, so stalled queues are not left waiting.
    for item in batch.into_iter().chain(conn.out.close()) {
        conn.written(item.weight());
    }
}

/// Encodes queued items, in order, up to the batch size or a delivery held by its gate.
fn encode_batch(
    buf: &mut BytesMut,
    batch: &mut VecDeque<Outbound>,
    confirms: &mut Confirms,
    frame_max: u32,
) -> (usize, bool) {
    let mut weight = 0;
    let mut close = false;
    while let Some(item) = batch.pop_front() {
        if weight > 0 && item.held_by().is_some() {
            batch.push_front(item);
            break;
        }
        weight += item.weight();
        if encode(buf, item, confirms, frame_max) {
            close = true;
            break;
        }
        if buf.len() >= BATCH_BYTES {
            break;
        }
    }
    confirms.flush(buf);
    (weight, close)
}

/// Appends one item's frames; true if it asks to close the connection. Held confirms go
/// out before any method or returned message, so nothing overtakes them but deliveries.
fn encode(buf: &mut BytesMut, item: Outbound, confirms: &mut Confirms, frame_max: u32) -> bool {
    if !matches!(item, Outbound::Confirm { .. } | Outbound::Deliver { .. }) {
        confirms.flush(buf);
    }
    match item {
        Outbound::Method(ch, m) => {
            if restarts_confirm_tags(&m) {
                confirms.reset(buf, ch);
            }
            codec::encode_method(buf, ch, *m)
        }
        Outbound::Deliver {
            channel,
            consumer_tag,
            delivery_tag,
            redelivered,
            msg,
            gate: _,
        } => {
            encode_deliver(buf, channel, &consumer_tag, delivery_tag, redelivered, &msg);
            write_content(buf, channel, &msg, frame_max);
        }
        Outbound::Confirm { channel, tag, ok } => confirms.confirm(buf, channel, tag, ok),
        Outbound::Content(ch, m, msg) => {
            codec::encode_method(buf, ch, *m);
            write_content(buf, ch, &msg, frame_max);
        }
        Outbound::Close => return true,
    }
    false
}

fn write_content(buf: &mut BytesMut, ch: u16, msg: &crate::message::Message, frame_max: u32) {
    codec::encode_content_header(buf, ch, msg.body_size(), msg.raw_properties());
    codec::encode_body(buf, ch, msg.body(), frame_max);
}

/// `basic.deliver` written directly: class 60, method 60, consumer-tag, delivery-tag,
/// redelivered, exchange, routing-key.
fn encode_deliver(
    buf: &mut BytesMut,
    channel: u16,
    consumer_tag: &str,
    delivery_tag: u64,
    redelivered: bool,
    msg: &crate::message::Message,
) {
    let (exchange, routing_key) = (msg.exchange(), msg.routing_key());
    let size = 4 + 1 + consumer_tag.len() + 8 + 1 + 1 + exchange.len() + 1 + routing_key.len();
    buf.put_u8(codec::FRAME_METHOD);
    buf.put_u16(channel);
    buf.put_u32(size as u32);
    buf.put_u16(60);
    buf.put_u16(60);
    put_short_str(buf, consumer_tag);
    buf.put_u64(delivery_tag);
    buf.put_u8(redelivered as u8);
    put_short_str(buf, exchange);
    put_short_str(buf, routing_key);
    buf.put_u8(codec::FRAME_END);
}

/// `channel.open-ok` and `confirm.select-ok`: publish tags on the channel start again at 1.
fn restarts_confirm_tags(m: &AMQPClass) -> bool {
    matches!(
        m,
        AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))
            | AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(_))
    )
}

/// Names reaching here were validated as short strings when they entered the broker.
fn put_short_str(buf: &mut BytesMut, s: &str) {
    buf.put_u8(s.len() as u8);
    buf.put_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::frame::{parse_frame, AMQPFrame};
    use amq_protocol::protocol::{basic, AMQPClass};

    #[test]
    fn hand_encoded_deliver_matches_amq_protocol() {
        let msg = crate::message::Message::new("ex", "rk.1", &[0, 0], b"");
        let mut buf = BytesMut::new();
        encode_deliver(&mut buf, 3, "ctag", 42, true, &msg);
        let (_, frame) = parse_frame(&buf[..]).expect("parses");
        let expected = AMQPFrame::Method(
            3,
            AMQPClass::Basic(basic::AMQPMethod::Deliver(basic::Deliver {
                consumer_tag: "ctag".into(),
                delivery_tag: 42,
                redelivered: true,
                exchange: "ex".into(),
                routing_key: "rk.1".into(),
            })),
        );
        assert_eq!(frame, expected);
    }
}

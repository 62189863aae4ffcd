//! Malformed or out-of-order input over raw sockets: each case gets the connection error
//! RabbitMQ 3.10 sends for the same bytes, the socket closes, no broker task panics, and
//! a second, well-behaved client still works afterwards.
//!
//! Run with `WARREN_TEST_REFERENCE=127.0.0.1:5682` to check the expectations against a
//! reference RabbitMQ instead of Warren.

use crate::common;
use common::raw::*;
use common::{assert_broker_works, broker_panics, watch_panics, Target};
use lapin::protocol::{basic, channel, queue, AMQPClass};
use lapin::BasicProperties;
use std::time::Duration;

async fn start() -> Target {
    watch_panics();
    Target::start().await
}

/// The server answers with `connection.close` carrying `code`, then closes the socket.
async fn assert_closed_with(c: &mut RawClient, code: u16) {
    let close = c
        .close_or_eof(WAIT)
        .await
        .unwrap_or_else(|| panic!("expected connection.close {code}, the socket just closed"));
    assert_eq!(close.reply_code, code, "{close:?}");
    c.expect_eof(WAIT).await;
}

/// The broker is still healthy: no task panicked and a new client gets served.
async fn assert_survived(t: &Target) {
    assert_broker_works(&t.url()).await;
    let panics = broker_panics();
    assert!(panics.is_empty(), "broker panicked: {panics:#?}");
}

async fn open_with_channel(t: &Target) -> RawClient {
    let mut c = RawClient::open(t.addr).await;
    c.open_channel(1).await;
    c
}

#[tokio::test]
async fn wrong_protocol_header_gets_the_supported_header_back_and_the_socket_closes() {
    let t = start().await;
    for header in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"AMQP\x00\x00\x0a\x00",
        b"AMQP\x01\x01\x00\x0a",
    ] {
        let mut c = RawClient::connect(t.addr).await;
        c.send(header).await.unwrap();
        let got = c
            .read_to_eof(WAIT)
            .await
            .expect("the server closes the socket");
        assert_eq!(got, PROTOCOL_HEADER, "answer to {header:?}");
    }
    assert_survived(&t).await;
}

#[tokio::test]
async fn garbage_after_the_handshake_is_a_frame_error() {
    let t = start().await;
    let mut c = RawClient::open(t.addr).await;
    c.send(b"this is definitely not an AMQP frame\r\n\x00\xff\xfe")
        .await
        .unwrap();
    assert_closed_with(&mut c, 501).await;
    assert_survived(&t).await;
}

/// Publishes one message whose single body frame carries `payload_len` bytes.
fn oversize_publish(payload_len: usize) -> Vec<u8> {
    let mut bytes = publish_frame(1, "", "nowhere", false, false);
    bytes.extend(header_frame(
        1,
        payload_len as u64,
        &BasicProperties::default(),
    ));
    bytes.extend(body_frame(1, &vec![b'x'; payload_len]));
    bytes
}

#[tokio::test]
async fn frame_larger_than_frame_max_is_a_frame_error() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    let frame_max = c.tune.as_ref().unwrap().frame_max as usize;
    assert_eq!(frame_max, 131072);
    // RabbitMQ 3.10.8 allows a payload of up to frame_max bytes (its FRAME_SIZE_FUDGE) and
    // refuses one byte more with 501.
    // The server may close before reading everything; a failed write is fine.
    let _ = c.send(&oversize_publish(frame_max + 1)).await;
    assert_closed_with(&mut c, 501).await;
    assert_survived(&t).await;
}

#[tokio::test]
async fn body_frame_filling_frame_max_with_the_overhead_is_accepted() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    let frame_max = c.tune.as_ref().unwrap().frame_max as usize;
    let q = common::unique("fm-edge");
    c.queue_declare(1, &q).await;
    c.confirm_select(1).await;
    let body = vec![b'y'; frame_max - 8];
    let mut bytes = publish_frame(1, "", &q, false, false);
    bytes.extend(header_frame(
        1,
        body.len() as u64,
        &BasicProperties::default(),
    ));
    bytes.extend(body_frame(1, &body));
    c.send(&bytes).await.unwrap();
    match c.recv_method().await {
        (1, AMQPClass::Basic(basic::AMQPMethod::Ack(a))) => assert_eq!(a.delivery_tag, 1),
        other => panic!("expected basic.ack, got {other:?}"),
    }
    assert_survived(&t).await;
}

/// RabbitMQ 3.10.8 checks `payload > frame_max - 8 + 8` (rabbit_reader's FRAME_SIZE_FUDGE),
/// so a frame whose payload alone is frame_max bytes is still accepted; some clients rely
/// on that off-by-eight slack.
#[tokio::test]
async fn body_frame_with_a_payload_of_exactly_frame_max_is_accepted_like_rabbitmq() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    let frame_max = c.tune.as_ref().unwrap().frame_max as usize;
    c.confirm_select(1).await;
    c.send(&oversize_publish(frame_max)).await.unwrap();
    match c.recv_method().await {
        (1, AMQPClass::Basic(basic::AMQPMethod::Ack(a))) => assert_eq!(a.delivery_tag, 1),
        other => panic!("expected basic.ack, got {other:?}"),
    }
    assert_survived(&t).await;
}

#[tokio::test]
async fn bad_frame_end_marker_is_a_frame_error() {
    let t = start().await;
    let mut c = RawClient::open(t.addr).await;
    let mut bytes = method_frame(
        1,
        &AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
    );
    *bytes.last_mut().unwrap() = 0x00;
    c.send(&bytes).await.unwrap();
    assert_closed_with(&mut c, 501).await;
    assert_survived(&t).await;
}

#[tokio::test]
async fn content_header_without_publish_is_unexpected_frame() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    c.send(&header_frame(1, 3, &BasicProperties::default()))
        .await
        .unwrap();
    assert_closed_with(&mut c, 505).await;
    assert_survived(&t).await;
}

#[tokio::test]
async fn body_frame_without_publish_is_unexpected_frame() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    c.send(&body_frame(1, b"abc")).await.unwrap();
    assert_closed_with(&mut c, 505).await;
    assert_survived(&t).await;
}

#[tokio::test]
async fn method_while_body_frames_are_expected_is_unexpected_frame() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    let mut bytes = publish_frame(1, "", "nowhere", false, false);
    bytes.extend(header_frame(1, 10, &BasicProperties::default()));
    bytes.extend(body_frame(1, b"12345"));
    bytes.extend(method_frame(
        1,
        &AMQPClass::Basic(basic::AMQPMethod::Qos(basic::Qos {
            prefetch_count: 1,
            global: false,
        })),
    ));
    c.send(&bytes).await.unwrap();
    assert_closed_with(&mut c, 505).await;
    assert_survived(&t).await;
}

#[tokio::test]
async fn method_while_content_header_is_expected_is_unexpected_frame() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    let mut bytes = publish_frame(1, "", "nowhere", false, false);
    bytes.extend(publish_frame(1, "", "nowhere", false, false));
    c.send(&bytes).await.unwrap();
    assert_closed_with(&mut c, 505).await;
    assert_survived(&t).await;
}

/// RabbitMQ 3.10.8 has no reply for an unknown method: its connection process exits with
/// `{unknown_method_id,{60,99}}` and the socket is reset without `connection.close`. A
/// hard-error close (503 COMMAND_INVALID or 540 NOT_IMPLEMENTED) is the graceful version of
/// the same outcome; anything else (ignoring it, a channel error) is wrong.
async fn assert_unknown_method_ends_the_connection(payload: &[u8]) {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    c.send(&frame(1, 1, payload)).await.unwrap();
    match c.close_or_eof(WAIT).await {
        None => {}
        Some(close) => {
            assert!(
                close.reply_code == 503 || close.reply_code == 540,
                "{close:?}"
            );
            c.expect_eof(WAIT).await;
        }
    }
    assert_survived(&t).await;
}

#[tokio::test]
async fn unknown_method_of_a_known_class_ends_the_connection() {
    assert_unknown_method_ends_the_connection(&[0, 60, 0, 99]).await;
}

#[tokio::test]
async fn unknown_class_ends_the_connection() {
    assert_unknown_method_ends_the_connection(&[0x03, 0xe7, 0, 10]).await;
}

#[tokio::test]
async fn second_channel_open_is_a_channel_error() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    c.send_method(
        1,
        AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
    )
    .await;
    assert_closed_with(&mut c, 504).await;
    assert_survived(&t).await;
}

#[tokio::test]
async fn method_on_a_channel_never_opened_is_a_channel_error() {
    let t = start().await;
    let mut c = RawClient::open(t.addr).await;
    c.send_method(
        7,
        AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
            queue: "never-opened".into(),
            ..Default::default()
        })),
    )
    .await;
    assert_closed_with(&mut c, 504).await;
    assert_survived(&t).await;
}

/// AMQP 0-9-1 makes 1..=channel-max the usable channel numbers. (RabbitMQ 3.10.8 does not
/// check the number, only the count of open channels — see the next test — and opens
/// channel 2048 of 2047; Warren follows the spec here.)
#[tokio::test]
async fn channel_number_above_channel_max_opens_like_rabbitmq() {
    // RabbitMQ 3.10.8 limits the count of open channels (next test), not their numbers.
    let t = start().await;
    let mut c = RawClient::open(t.addr).await;
    let channel_max = c.tune.as_ref().unwrap().channel_max;
    assert_eq!(channel_max, 2047);
    c.open_channel(channel_max).await;
    c.open_channel(channel_max + 1).await;
    assert_survived(&t).await;
}

/// RabbitMQ 3.10.8: "NOT_ALLOWED - number of channels opened (2) has reached the
/// negotiated channel_max (2)".
#[tokio::test]
async fn opening_more_channels_than_the_negotiated_channel_max_is_not_allowed() {
    let t = start().await;
    let login = Login {
        channel_max: Some(2),
        ..Default::default()
    };
    let mut c = RawClient::open_with(t.addr, &login).await;
    c.open_channel(1).await;
    c.open_channel(2).await;
    c.send_method(
        3,
        AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
    )
    .await;
    assert_closed_with(&mut c, 530).await;
    assert_survived(&t).await;
}

#[tokio::test]
async fn qos_with_prefetch_size_is_not_implemented() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    // basic.qos: prefetch-size 4096, prefetch-count 10, global false. amq-protocol has no
    // prefetch-size field, so the arguments are written by hand.
    let payload = [0, 60, 0, 10, 0, 0, 0x10, 0, 0, 10, 0];
    c.send(&frame(1, 1, &payload)).await.unwrap();
    assert_closed_with(&mut c, 540).await;
    assert_survived(&t).await;
}

#[tokio::test]
async fn publish_with_immediate_is_not_implemented() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    let mut bytes = publish_frame(1, "", "nowhere", false, true);
    bytes.extend(header_frame(1, 2, &BasicProperties::default()));
    bytes.extend(body_frame(1, b"hi"));
    c.send(&bytes).await.unwrap();
    assert_closed_with(&mut c, 540).await;
    assert_survived(&t).await;
}

#[tokio::test]
async fn truncated_method_frame_is_a_connection_error() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    // queue.declare whose queue-name short string claims 20 bytes but has 3.
    // RabbitMQ 3.10.8: 501 "FRAME_ERROR - cannot decode <<0,0,20,97,98,99>>".
    c.send(&frame(1, 1, &[0, 50, 0, 10, 0, 0, 20, b'a', b'b', b'c']))
        .await
        .unwrap();
    assert_closed_with(&mut c, 501).await;
    assert_survived(&t).await;
}

#[tokio::test]
async fn method_frame_shorter_than_its_ids_is_a_connection_error() {
    let t = start().await;
    let mut c = open_with_channel(&t).await;
    // RabbitMQ 3.10.8: 501 "FRAME_ERROR - type 1, all octets = <<0,60>>: unknown_frame".
    c.send(&frame(1, 1, &[0, 60])).await.unwrap();
    assert_closed_with(&mut c, 501).await;
    assert_survived(&t).await;
}

#[tokio::test]
async fn silent_client_is_dropped_after_the_handshake_timeout() {
    let t = start().await;
    let mut c = RawClient::connect(t.addr).await;
    let started = tokio::time::Instant::now();
    let got = c
        .read_to_eof(Duration::from_secs(15))
        .await
        .expect("the server drops a client that never sends the protocol header");
    let waited = started.elapsed();
    assert!(
        got.is_empty(),
        "nothing is sent to a silent client: {got:?}"
    );
    assert!(
        waited >= Duration::from_secs(8) && waited <= Duration::from_secs(13),
        "dropped after {waited:?}, expected about 10 s"
    );
    assert_survived(&t).await;
}

//! Deeply nested field tables and arrays, from clients that have not logged in and from
//! clients that have: each closes only its own connection, and the broker process stays
//! alive and serving. A stack overflow aborts a process without printing "panicked", so
//! every case runs against the broker as a child process and checks that it still runs.
//!
//! What the broker accepts (nesting up to its limit, in a durable queue's arguments and a
//! durable binding's) it reads back after a restart.

use crate::common;
use common::raw::*;
use common::{assert_broker_works, ChildBroker};
use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::ExchangeKind;
use warren::field_table::{encode_nested as nested_table, MAX_DEPTH};

fn short_str(out: &mut Vec<u8>, s: &str) {
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

/// A method frame on `channel`: class, method, the arguments before the table, the table.
fn method_with_table(channel: u16, ids: [u16; 2], before: &[u8], table: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&ids[0].to_be_bytes());
    payload.extend_from_slice(&ids[1].to_be_bytes());
    payload.extend_from_slice(before);
    payload.extend_from_slice(table);
    frame(1, channel, &payload)
}

/// `queue.declare` of `name` (durable) with `table` as its arguments.
fn queue_declare(name: &str, table: &[u8]) -> Vec<u8> {
    let mut before = vec![0, 0];
    short_str(&mut before, name);
    before.push(0b10); // durable
    method_with_table(1, [50, 10], &before, table)
}

/// `queue.bind` of `queue` to `exchange` with `key` and `table` as its arguments.
fn queue_bind(queue: &str, exchange: &str, key: &str, table: &[u8]) -> Vec<u8> {
    let mut before = vec![0, 0];
    short_str(&mut before, queue);
    short_str(&mut before, exchange);
    short_str(&mut before, key);
    before.push(0);
    method_with_table(1, [50, 20], &before, table)
}

/// Every client-sent method that carries a table, with `table` in it, after the handshake.
fn methods_with(table: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut publish = publish_frame(1, "amq.fanout", "", false, false);
    let mut header = vec![0, 60, 0, 0];
    header.extend_from_slice(&1u64.to_be_bytes());
    header.extend_from_slice(&(1u16 << 13).to_be_bytes());
    header.extend_from_slice(table);
    publish.extend(frame(2, 1, &header));
    publish.extend(body_frame(1, b"x"));
    let mut ex = vec![0, 0];
    short_str(&mut ex, "deep-x");
    short_str(&mut ex, "topic");
    ex.push(0);
    let mut e2e = vec![0, 0];
    short_str(&mut e2e, "amq.direct");
    short_str(&mut e2e, "amq.fanout");
    short_str(&mut e2e, "k");
    e2e.push(0);
    let mut consume = vec![0, 0];
    short_str(&mut consume, "deep-q");
    short_str(&mut consume, "");
    consume.push(0);
    let mut unbind = vec![0, 0];
    short_str(&mut unbind, "deep-q");
    short_str(&mut unbind, "amq.direct");
    short_str(&mut unbind, "k");
    vec![
        ("queue.declare", queue_declare("deep-q", table)),
        ("queue.bind", queue_bind("deep-q", "amq.direct", "k", table)),
        (
            "queue.unbind",
            method_with_table(1, [50, 50], &unbind, table),
        ),
        (
            "exchange.declare",
            method_with_table(1, [40, 10], &ex, table),
        ),
        ("exchange.bind", method_with_table(1, [40, 30], &e2e, table)),
        (
            "exchange.unbind",
            method_with_table(1, [40, 40], &e2e, table),
        ),
        (
            "basic.consume",
            method_with_table(1, [60, 20], &consume, table),
        ),
        ("basic.publish headers", publish),
    ]
}

/// The process is alive, and a real client is served.
async fn assert_alive(b: &mut ChildBroker, what: &str) {
    assert!(b.is_running(), "the broker process died after {what}");
    assert_broker_works(&b.url()).await;
}

/// What the broker answers `bytes` with: the close code, or `None` if it just closed.
async fn close_code(c: &mut RawClient) -> Option<u16> {
    let close = c.close_or_eof(WAIT).await;
    c.expect_eof(WAIT).await;
    close.map(|c| c.reply_code)
}

#[tokio::test]
async fn deep_client_properties_before_login_close_only_that_connection() {
    let mut b = ChildBroker::spawn(&[]);
    for (levels, arrays) in [(1_400, false), (10_000, true), (MAX_DEPTH + 1, false)] {
        let mut c = RawClient::connect(b.addr).await;
        c.send(PROTOCOL_HEADER).await.unwrap();
        assert!(matches!(
            c.next(WAIT).await,
            Next::Frame(RawFrame::Method(0, _))
        ));
        let mut after = Vec::new();
        short_str(&mut after, "PLAIN");
        after.extend_from_slice(&14u32.to_be_bytes());
        after.extend_from_slice(b"\0guest\0wrong!!");
        short_str(&mut after, "en_US");
        let mut start_ok = method_with_table(0, [10, 11], &[], &nested_table(levels, arrays));
        // The table comes first in start-ok: move the frame end after the other arguments.
        start_ok.pop();
        start_ok.extend_from_slice(&after);
        start_ok.push(FRAME_END);
        let size = (start_ok.len() - 8) as u32;
        start_ok[3..7].copy_from_slice(&size.to_be_bytes());
        c.send(&start_ok).await.unwrap();
        let code = close_code(&mut c).await;
        assert!(
            matches!(code, None | Some(501)),
            "{levels} levels: {code:?}"
        );
        assert_alive(&mut b, &format!("start-ok nested {levels} levels")).await;
    }
}

#[tokio::test]
async fn deep_tables_in_every_method_close_only_that_connection() {
    let mut b = ChildBroker::spawn(&[]);
    for (levels, arrays) in [
        (1_500, false),
        (10_000, false),
        (10_000, true),
        (MAX_DEPTH + 1, true),
    ] {
        for (name, bytes) in methods_with(&nested_table(levels, arrays)) {
            let mut c = RawClient::open(b.addr).await;
            c.open_channel(1).await;
            c.send(&bytes).await.unwrap();
            assert_eq!(
                close_code(&mut c).await,
                Some(501),
                "{name} nested {levels} levels"
            );
            assert_alive(&mut b, &format!("{name} nested {levels} levels")).await;
        }
    }
}

#[tokio::test]
async fn tables_at_the_limit_are_accepted_and_read_back_after_a_restart() {
    let b = ChildBroker::spawn(&[]);
    let limit = nested_table(MAX_DEPTH, false);
    let limit_arrays = nested_table(MAX_DEPTH, true);
    let conn = lapin::Connection::connect(&b.url(), Default::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.exchange_declare(
        "deep-x".into(),
        ExchangeKind::Direct,
        durable,
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut c = RawClient::open(b.addr).await;
    c.open_channel(1).await;
    for (name, table) in [("deep-q", &limit), ("deep-qa", &limit_arrays)] {
        c.send(&queue_declare(name, table)).await.unwrap();
        c.send(&queue_bind(name, "deep-x", name, table))
            .await
            .unwrap();
    }
    // Four answers (declare-ok, bind-ok twice), then a working channel.
    for _ in 0..4 {
        match c.next(WAIT).await {
            Next::Frame(RawFrame::Method(1, _)) => {}
            other => panic!("expected declare-ok or bind-ok, got {other:?}"),
        }
    }
    drop(c);
    conn.close(200, "bye".into()).await.unwrap();
    let dir = b.stop();
    let mut b = ChildBroker::spawn_in(dir, &[]);
    assert_alive(&mut b, "a restart with deep arguments stored").await;
    let conn = lapin::Connection::connect(&b.url(), Default::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    for name in ["deep-q", "deep-qa"] {
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        ch.queue_declare(name.into(), passive, FieldTable::default())
            .await
            .unwrap_or_else(|e| panic!("{name} is back after the restart: {e}"));
        // The binding is back too: a message routed by its key arrives.
        ch.basic_publish(
            "deep-x".into(),
            name.into(),
            Default::default(),
            b"m",
            Default::default(),
        )
        .await
        .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for name in ["deep-q", "deep-qa"] {
        assert_eq!(
            common::ready_count(&ch, name).await,
            1,
            "{name} got the message through its binding"
        );
    }
}

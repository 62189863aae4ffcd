//! The memory alarm: a publishing connection is blocked (and told so with
//! `connection.blocked` if it advertised the capability), its publish is held, not routed,
//! until the alarm clears; consumers keep receiving meanwhile.

use crate::common;
use common::raw::{Login, Next, RawClient, WAIT};
use common::TestBroker;
use futures_lite::StreamExt;
use lapin::protocol::{basic, connection, AMQPClass};
use lapin::{options::*, types::FieldTable, BasicProperties};
use std::time::Duration;

/// How long a test watches for something that must not happen.
const QUIET: Duration = Duration::from_millis(500);

async fn declare(ch: &lapin::Channel, name: &str) {
    ch.queue_declare(
        name.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
}

async fn get(ch: &lapin::Channel, q: &str) -> Option<Vec<u8>> {
    ch.basic_get(q.into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .map(|m| m.delivery.data)
}

async fn expect_ack(c: &mut RawClient, tag: u64) {
    match c.recv_method().await {
        (1, AMQPClass::Basic(basic::AMQPMethod::Ack(a))) => assert_eq!(a.delivery_tag, tag),
        other => panic!("expected basic.ack {tag}, got {other:?}"),
    }
}

/// Nothing at all arrives for a while (heartbeats are off by default: 60 s).
async fn expect_quiet(c: &mut RawClient, what: &str) {
    match c.next(QUIET).await {
        Next::Timeout => {}
        other => panic!("{what}: expected nothing, got {other:?}"),
    }
}

#[tokio::test]
async fn publisher_is_blocked_and_its_message_held_while_consumers_keep_working() {
    let b = TestBroker::start().await;
    let admin = b.connect().await;
    let ach = admin.create_channel().await.unwrap();
    declare(&ach, "held").await;
    declare(&ach, "preloaded").await;
    ach.basic_publish(
        "".into(),
        "preloaded".into(),
        BasicPublishOptions::default(),
        b"pre",
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let login = Login {
        capabilities: vec!["connection.blocked"],
        ..Default::default()
    };
    let mut publisher = RawClient::open_with(b.addr, &login).await;
    publisher.open_channel(1).await;
    publisher.confirm_select(1).await;
    publisher.publish(1, "", "held", b"before").await;
    expect_ack(&mut publisher, 1).await;
    assert_eq!(get(&ach, "held").await.as_deref(), Some(&b"before"[..]));

    b.broker().set_memory_alarm(true);
    publisher.publish(1, "", "held", b"during").await;
    match publisher.recv_method().await {
        (0, AMQPClass::Connection(connection::AMQPMethod::Blocked(_))) => {}
        other => panic!("expected connection.blocked, got {other:?}"),
    }
    expect_quiet(&mut publisher, "while blocked (no confirm)").await;
    assert_eq!(
        get(&ach, "held").await,
        None,
        "a held publish is not routed"
    );

    // A consumer-only connection opened during the alarm still gets its messages.
    let consumer_conn = b.connect().await;
    let cch = consumer_conn.create_channel().await.unwrap();
    let mut consumer = cch
        .basic_consume(
            "preloaded".into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let d = tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("the consumer is served during the alarm")
        .unwrap()
        .unwrap();
    assert_eq!(d.data, b"pre");

    b.broker().set_memory_alarm(false);
    match publisher.recv_method().await {
        (0, AMQPClass::Connection(connection::AMQPMethod::Unblocked(_))) => {}
        other => panic!("expected connection.unblocked, got {other:?}"),
    }
    expect_ack(&mut publisher, 2).await;
    assert_eq!(get(&ach, "held").await.as_deref(), Some(&b"during"[..]));
}

#[tokio::test]
async fn client_without_the_capability_is_held_but_not_told() {
    let b = TestBroker::start().await;
    let admin = b.connect().await;
    let ach = admin.create_channel().await.unwrap();
    declare(&ach, "held").await;
    let mut publisher = RawClient::open(b.addr).await;
    publisher.open_channel(1).await;
    publisher.confirm_select(1).await;

    b.broker().set_memory_alarm(true);
    publisher.publish(1, "", "held", b"during").await;
    expect_quiet(
        &mut publisher,
        "no capability: no blocked frame, no confirm",
    )
    .await;
    assert_eq!(get(&ach, "held").await, None);

    b.broker().set_memory_alarm(false);
    // The first thing it hears is the confirm: no unblocked frame either.
    expect_ack(&mut publisher, 1).await;
    assert_eq!(get(&ach, "held").await.as_deref(), Some(&b"during"[..]));
}

#[tokio::test]
async fn connection_that_has_not_published_is_not_blocked() {
    let b = TestBroker::start().await;
    let login = Login {
        capabilities: vec!["connection.blocked"],
        ..Default::default()
    };
    let mut c = RawClient::open_with(b.addr, &login).await;
    b.broker().set_memory_alarm(true);
    // Non-publishing work goes on, and no connection.blocked is sent for it.
    c.open_channel(1).await;
    c.queue_declare(1, "declared-during-alarm").await;
    expect_quiet(&mut c, "no publish yet").await;
    b.broker().set_memory_alarm(false);
    expect_quiet(&mut c, "never blocked, so never unblocked").await;
}

//! Durable exchanges, queues and bindings survive a restart on the same data dir;
//! non-durable ones do not.

use crate::common;
use common::{amqp_code, TestBroker};
use lapin::{options::*, types::FieldTable, BasicProperties, ExchangeKind};

fn passive_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

fn passive_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn durable_definitions_survive_a_restart_and_transient_ones_do_not() {
    let b = TestBroker::start().await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let durable = || ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.exchange_declare(
        "dur.x".into(),
        ExchangeKind::Topic,
        durable(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.exchange_declare(
        "transient.x".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_declare(
        "dur.q".into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        "dur.q".into(),
        "dur.x".into(),
        "orders.*".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_declare(
        "transient.q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    conn.close(200, "bye".into()).await.unwrap();

    let dir = b.stop().await;
    let b = TestBroker::start_in(dir).await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();

    ch.exchange_declare(
        "dur.x".into(),
        ExchangeKind::Topic,
        passive_exchange(),
        FieldTable::default(),
    )
    .await
    .expect("the durable exchange is back");
    // Redeclaring with the same properties and arguments is equivalent (no 406): type,
    // durability and arguments were restored, not just the names.
    ch.exchange_declare(
        "dur.x".into(),
        ExchangeKind::Topic,
        durable(),
        FieldTable::default(),
    )
    .await
    .expect("the exchange is still a durable topic exchange");
    let q = ch
        .queue_declare("dur.q".into(), passive_queue(), FieldTable::default())
        .await
        .expect("the durable queue is back");
    assert_eq!(q.message_count(), 0);

    // The binding is back: a publish through the exchange reaches the queue.
    ch.basic_publish(
        "dur.x".into(),
        "orders.new".into(),
        BasicPublishOptions::default(),
        b"after restart",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    let got = ch
        .basic_get("dur.q".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("routed through the restored binding");
    assert_eq!(got.delivery.data, b"after restart");
    assert_eq!(got.delivery.exchange.as_str(), "dur.x");

    let err = ch
        .queue_declare("transient.q".into(), passive_queue(), FieldTable::default())
        .await
        .expect_err("the non-durable queue is gone");
    assert_eq!(amqp_code(&err), Some(404), "{err}");
    let ch = conn.create_channel().await.unwrap();
    let err = ch
        .exchange_declare(
            "transient.x".into(),
            ExchangeKind::Fanout,
            passive_exchange(),
            FieldTable::default(),
        )
        .await
        .expect_err("the non-durable exchange is gone");
    assert_eq!(amqp_code(&err), Some(404), "{err}");
    conn.close(200, "bye".into()).await.unwrap();
    b.stop().await;
}

#[tokio::test]
async fn deleted_durable_queue_stays_deleted_after_a_restart() {
    let b = TestBroker::start().await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare("gone.q".into(), durable, FieldTable::default())
        .await
        .unwrap();
    ch.queue_declare("kept.q".into(), durable, FieldTable::default())
        .await
        .unwrap();
    ch.queue_delete("gone.q".into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    conn.close(200, "bye".into()).await.unwrap();

    let b = TestBroker::start_in(b.stop().await).await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare("kept.q".into(), passive_queue(), FieldTable::default())
        .await
        .expect("kept.q is back");
    let err = ch
        .queue_declare("gone.q".into(), passive_queue(), FieldTable::default())
        .await
        .expect_err("a deleted queue is not resurrected");
    assert_eq!(amqp_code(&err), Some(404), "{err}");
    conn.close(200, "bye".into()).await.unwrap();
    b.stop().await;
}

/// A client that redeclares its durable queue after a broker restart, with exactly the
/// arguments it used before, must get declare-ok (RabbitMQ keeps the argument types, and
/// its equivalence check compares integers by value across integer types anyway).
#[tokio::test]
async fn durable_queue_arguments_are_equivalent_after_a_restart() {
    let b = TestBroker::start().await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), 10i32.into());
    args.insert("x-message-ttl".into(), 60000i32.into());
    args.insert(
        "x-dead-letter-exchange".into(),
        lapin::types::AMQPValue::LongString("dlx".into()),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare("args.q".into(), durable, args.clone())
        .await
        .unwrap();
    conn.close(200, "bye".into()).await.unwrap();

    let b = TestBroker::start_in(b.stop().await).await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare("args.q".into(), durable, args)
        .await
        .expect("the same declaration is equivalent after a restart");
    conn.close(200, "bye".into()).await.unwrap();
    b.stop().await;
}

/// Declares, binds and deletes are on disk when their `-ok` arrives: a `kill -9` right after
/// loses none of them (they are in the metadata log, not yet in the snapshot), and an
/// exclusive queue, even a durable one, does not come back.
#[tokio::test]
async fn metadata_answered_for_survives_kill_9() {
    let b = common::ChildBroker::spawn(&[]);
    let conn = lapin::Connection::connect(&b.url(), lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let durable_q = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let durable_x = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let none = FieldTable::default;
    ch.exchange_declare("k9.x".into(), ExchangeKind::Topic, durable_x, none())
        .await
        .unwrap();
    ch.exchange_declare("k9.y".into(), ExchangeKind::Fanout, durable_x, none())
        .await
        .unwrap();
    for q in ["k9.q", "k9.gone"] {
        ch.queue_declare(q.into(), durable_q, none()).await.unwrap();
    }
    ch.queue_bind(
        "k9.q".into(),
        "k9.y".into(),
        "".into(),
        Default::default(),
        none(),
    )
    .await
    .unwrap();
    ch.exchange_bind(
        "k9.y".into(),
        "k9.x".into(),
        "a.#".into(),
        Default::default(),
        none(),
    )
    .await
    .unwrap();
    ch.queue_delete("k9.gone".into(), Default::default())
        .await
        .unwrap();
    let exclusive = QueueDeclareOptions {
        durable: true,
        exclusive: true,
        ..Default::default()
    };
    ch.queue_declare("k9.mine".into(), exclusive, none())
        .await
        .unwrap();
    let dir = b.kill();

    let b = common::ChildBroker::spawn_in(dir, &[]);
    let conn = lapin::Connection::connect(&b.url(), lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    for x in ["k9.x", "k9.y"] {
        ch.exchange_declare(x.into(), ExchangeKind::Topic, passive_exchange(), none())
            .await
            .unwrap_or_else(|e| panic!("{x} is back: {e}"));
    }
    ch.queue_declare("k9.q".into(), passive_queue(), none())
        .await
        .expect("k9.q is back");
    // Both bindings are back: a message to k9.x reaches k9.q through k9.y.
    ch.basic_publish(
        "k9.x".into(),
        "a.b".into(),
        BasicPublishOptions::default(),
        b"routed",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    let mut got = None;
    for _ in 0..50 {
        got = ch
            .basic_get("k9.q".into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap();
        if got.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(got.expect("routed to k9.q").delivery.data, b"routed");
    for q in ["k9.gone", "k9.mine"] {
        let ch = conn.create_channel().await.unwrap();
        let err = ch
            .queue_declare(q.into(), passive_queue(), none())
            .await
            .expect_err(q);
        assert_eq!(amqp_code(&err), Some(404), "{q}: {err}");
    }
}

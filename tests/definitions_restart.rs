//! Durable exchanges, queues and bindings survive a restart on the same data dir;
//! non-durable ones do not.

mod common;
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

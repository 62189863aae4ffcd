//! Publish, consume, get, ack, confirms, mandatory returns through lapin.

use crate::common;
use common::TestBroker;
use futures_lite::StreamExt;
use lapin::{options::*, types::FieldTable, BasicProperties};

#[tokio::test]
async fn publish_consume_ack_round_trip() {
    let b = TestBroker::start().await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert!(q.name().as_str().starts_with("amq.gen-"));
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for i in 0..10u8 {
        let confirm = ch
            .basic_publish(
                "".into(),
                q.name().as_str().into(),
                BasicPublishOptions::default(),
                &[i],
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack());
    }
    let mut consumer = ch
        .basic_consume(
            q.name().as_str().into(),
            "c1".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for i in 0..10u8 {
        let d = consumer.next().await.unwrap().unwrap();
        assert_eq!(d.data, vec![i], "FIFO order");
        assert!(!d.redelivered);
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    conn.close(200, "bye".into()).await.unwrap();
}

#[tokio::test]
async fn unacked_messages_return_in_order_when_the_channel_closes() {
    let b = TestBroker::start().await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "redeliver".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    for i in 0..3u8 {
        ch.basic_publish(
            "".into(),
            "redeliver".into(),
            BasicPublishOptions::default(),
            &[i],
            BasicProperties::default(),
        )
        .await
        .unwrap();
    }
    let ch2 = conn.create_channel().await.unwrap();
    let mut c = ch2
        .basic_consume(
            "redeliver".into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        c.next().await.unwrap().unwrap();
    }
    ch2.close(200, "".into()).await.unwrap();
    for i in 0..3u8 {
        let m = ch
            .basic_get("redeliver".into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .expect("message back in the queue");
        assert_eq!(m.delivery.data, vec![i]);
        assert!(m.delivery.redelivered);
    }
}

#[tokio::test]
async fn passive_declare_of_missing_queue_closes_the_channel_with_404() {
    let b = TestBroker::start().await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let err = ch
        .queue_declare(
            "missing".into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("404") || err.to_string().contains("NOT_FOUND"),
        "{err}"
    );
    // The connection survives a channel error.
    let ch2 = conn.create_channel().await.unwrap();
    ch2.queue_declare(
        "ok".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
}

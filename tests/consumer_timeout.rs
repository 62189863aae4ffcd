//! `consumer_timeout`: a delivery left unacked too long closes its channel with 406, and the
//! message goes back to the queue.

use crate::common;
use common::TestBroker;
use futures_lite::StreamExt;
use lapin::{options::*, types::FieldTable, BasicProperties};
use std::time::Duration;
use warren::config::Config;

#[tokio::test]
async fn a_late_ack_closes_the_channel_with_406() {
    let config = Config {
        consumer_timeout: 200,
        ..Default::default()
    };
    let b = TestBroker::start_with(tempfile::tempdir().unwrap(), config).await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "slow".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.basic_publish(
        "".into(),
        "slow".into(),
        BasicPublishOptions::default(),
        b"work",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            "slow".into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let first = consumer.next().await.unwrap().unwrap();
    assert!(!first.redelivered);
    // Never acked: the channel is closed within a few check periods of the timeout.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if !ch.status().connected() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "channel still open after the consumer timeout"
    );
    let ch2 = conn.create_channel().await.unwrap();
    let back = ch2
        .basic_get("slow".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the message is back in the queue");
    assert!(back.delivery.redelivered);
}

#[tokio::test]
async fn the_close_carries_rabbitmqs_code_and_text() {
    use common::raw::RawClient;
    use lapin::protocol::{basic, channel, AMQPClass};
    let config = Config {
        consumer_timeout: 100,
        ..Default::default()
    };
    let b = TestBroker::start_with(tempfile::tempdir().unwrap(), config).await;
    let mut c = RawClient::open(b.addr).await;
    c.open_channel(1).await;
    c.queue_declare(1, "slow-raw").await;
    c.publish(1, "", "slow-raw", b"x").await;
    c.send_method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Get(basic::Get {
            queue: "slow-raw".into(),
            no_ack: false,
        })),
    )
    .await;
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            // get-ok, its header and body come first.
            if let common::raw::RawFrame::Method(
                1,
                AMQPClass::Channel(channel::AMQPMethod::Close(close)),
            ) = c.recv().await
            {
                return close;
            }
        }
    })
    .await
    .expect("channel.close within 5 s");
    assert_eq!(close.reply_code, 406);
    assert_eq!(
        close.reply_text.as_str(),
        "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 100 ms. This timeout value can be configured, see consumers doc guide to learn more"
    );
}

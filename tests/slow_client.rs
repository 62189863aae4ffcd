//! A client that stops reading: its deliveries stop at a bounded write backlog (the rest stay
//! in the queue, where memory accounting and paging see them), and other clients carry on.

use crate::common;
use common::raw::RawClient;
use common::TestBroker;
use lapin::protocol::{basic, AMQPClass};
use lapin::{options::*, types::FieldTable, BasicProperties};

const BODY: usize = 64 * 1024;
const MESSAGES: u32 = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_never_reads_only_gets_a_bounded_backlog() {
    let b = TestBroker::start().await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "stuck".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    // A no-ack consumer (no prefetch limit) that never reads its socket.
    let mut stuck = RawClient::open(b.addr).await;
    stuck.open_channel(1).await;
    stuck
        .send_method(
            1,
            AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
                queue: "stuck".into(),
                consumer_tag: "never-reads".into(),
                no_local: false,
                no_ack: true,
                exclusive: false,
                nowait: false,
                arguments: FieldTable::default(),
            })),
        )
        .await;
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let body = vec![7u8; BODY];
    for _ in 0..MESSAGES {
        ch.basic_publish(
            "".into(),
            "stuck".into(),
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let ready = ch
        .queue_declare(
            "stuck".into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .message_count();
    // At most the 4 MiB write backlog plus what the socket buffers took went out.
    let delivered = MESSAGES - ready;
    assert!(
        delivered < 400,
        "{delivered} of {MESSAGES} 64 KiB messages were pushed at a client that reads nothing"
    );
    // Everyone else is unaffected.
    ch.queue_declare(
        "fine".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.basic_publish(
        "".into(),
        "fine".into(),
        BasicPublishOptions::default(),
        b"ok",
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let got = ch
        .basic_get("fine".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("a message");
    assert_eq!(got.delivery.data, b"ok");
    drop(stuck);
}

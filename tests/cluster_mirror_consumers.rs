//! Consumers of a mirrored queue when its master's node dies (3 nodes, separate processes):
//! a consumer on a surviving node carries on with the new master, with no word to its
//! client, as RabbitMQ's do; one that set `x-cancel-on-ha-failover` gets `basic.cancel`.

use crate::common;

use common::cluster::{self, Node};
use common::mirrored::*;
use futures_lite::StreamExt;
use lapin::types::{AMQPValue, FieldTable};
use std::time::Duration;

/// A consumer of `queue` on `node` (manual acks), with `args`.
async fn consumer(
    node: &Node,
    queue: &str,
    args: FieldTable,
) -> (lapin::Connection, lapin::Consumer) {
    let (conn, ch) = confirming(node, queue).await;
    let c = ch
        .basic_consume(queue.into(), "".into(), Default::default(), args)
        .await
        .expect("basic.consume");
    (conn, c)
}

/// The next delivery, acked: its body's first byte, and whether it is a redelivery.
async fn next_body(c: &mut lapin::Consumer) -> Option<(u8, bool)> {
    let d = tokio::time::timeout(WAIT, c.next())
        .await
        .expect("a delivery in time")?;
    let d = d.expect("a delivery");
    d.ack(Default::default()).await.expect("ack");
    Some((d.data[0], d.redelivered))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_follow_the_new_master_unless_they_asked_to_be_cancelled() {
    let mut nodes = cluster::start(3).await;
    let (_c0, _ch0, order) = mirrored_everywhere(&nodes, "ha.f").await;

    let (_k1, mut follows) = consumer(&nodes[1], "ha.f", FieldTable::default()).await;
    let mut cancel = FieldTable::default();
    cancel.insert("x-cancel-on-ha-failover".into(), AMQPValue::Boolean(true));
    let (_k2, mut cancelled) = consumer(&nodes[2], "ha.f", cancel).await;
    let (_p, publisher) = confirming(&nodes[1], "ha.f").await;
    for i in 0..2u8 {
        assert!(publish(&publisher, "ha.f", &[i])
            .await
            .await
            .expect("confirm")
            .is_ack());
    }
    // One each, round robin.
    assert!(next_body(&mut follows).await.is_some());
    assert!(next_body(&mut cancelled).await.is_some());

    let _ = nodes.remove(0).broker.kill();
    await_master(&nodes[0], "ha.f", &order[0]).await;
    let end = tokio::time::timeout(WAIT, cancelled.next()).await;
    assert!(
        matches!(end, Ok(None)),
        "x-cancel-on-ha-failover: the consumer is cancelled"
    );
    for i in 10..20u8 {
        let confirm = publish(&publisher, "ha.f", &[i])
            .await
            .await
            .expect("confirm");
        assert!(confirm.is_ack());
    }
    // An ack the old master took may not have reached the mirrors before it died: that
    // message comes again, marked redelivered (at least once, as in RabbitMQ).
    let mut got = Vec::new();
    while got.len() < 10 {
        match next_body(&mut follows).await.expect("still consuming") {
            (b, true) if b < 2 => {}
            (b, redelivered) => {
                assert!(!redelivered, "{b} redelivered");
                got.push(b);
            }
        }
    }
    assert_eq!(
        got,
        (10..20).collect::<Vec<u8>>(),
        "the consumer carried on"
    );
    let idle = tokio::time::timeout(Duration::from_millis(500), follows.next()).await;
    assert!(idle.is_err(), "nothing more: {idle:?}");
}

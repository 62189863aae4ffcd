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

/// A delivery leaves the master only once its mirrors' notice of it is written: with the
/// master's links slowed (a test aid holds each mirror write back 1.5 s), a consumer on the
/// master's node gets nothing while the notice waits. The master killed then, the new
/// master hands the message out once, to a consumer on another node. Without the hold, the
/// first consumer would have had it at once, and the second again without the redelivered
/// flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_waits_until_the_mirrors_notice_of_it_is_written() {
    let mut specs = cluster::specs(3);
    let hold = (
        "WARREN_TEST_MIRROR_DELAY_MS".to_string(),
        "1500".to_string(),
    );
    for s in &mut specs {
        s.env.push(hold.clone());
    }
    let mut nodes = cluster::start_specs(specs).await;
    let (_c0, ch0, order) = mirrored_everywhere(&nodes, "ha.g").await;
    // Confirmed: both mirrors hold it.
    assert!(publish(&ch0, "ha.g", &[7])
        .await
        .await
        .expect("confirm")
        .is_ack());

    let (_k0, mut on_master) = consumer(&nodes[0], "ha.g", FieldTable::default()).await;
    let early = tokio::time::timeout(Duration::from_millis(700), on_master.next()).await;
    assert!(
        early.is_err(),
        "no delivery before the mirrors' notice of it is written: {early:?}"
    );
    let _ = nodes.remove(0).broker.kill();
    await_master(&nodes[0], "ha.g", &order[0]).await;
    let (_k1, mut c) = consumer(&nodes[0], "ha.g", FieldTable::default()).await;
    let (body, _) = next_body(&mut c).await.expect("a delivery");
    assert_eq!(body, 7);
    let again = tokio::time::timeout(Duration::from_millis(1000), c.next()).await;
    assert!(again.is_err(), "one delivery, then nothing: {again:?}");
}

//! A graceful stop of a mirrored queue's master (SIGTERM), under each
//! `ha-promote-on-shutdown` value: `when-synced` hands the queue to its oldest synchronised
//! mirror at once, or keeps it (and every message) for the node's return when no mirror is
//! synchronised; `always` hands it to the oldest mirror even then, losing what that mirror
//! lacks, as RabbitMQ does.

use crate::common;

use common::cluster::{self, Node};
use common::mirrored::*;
use serde_json::json;
use std::time::Duration;

/// Publishes `bodies` with confirms, each acked.
async fn publish_all(ch: &lapin::Channel, queue: &str, bodies: std::ops::Range<u8>) {
    for i in bodies {
        let confirm = publish(ch, queue, &[i]).await.await.expect("confirm");
        assert!(confirm.is_ack(), "message {i} confirmed");
    }
}

/// Takes every message of `queue` through `node`: their bodies' first bytes.
async fn drain(node: &Node, queue: &str) -> Vec<u8> {
    let (_c, ch) = confirming(node, queue).await;
    let got = get_all(&ch, queue).await;
    got.into_iter().map(|m| m.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_synced_hands_over_to_a_synchronised_mirror_at_once() {
    let mut nodes = cluster::start(3).await;
    let (conn, ch, order) = mirrored_everywhere(&nodes, "ha.s").await;
    publish_all(&ch, "ha.s", 0..40).await;
    // Two delivered and never settled: the stop closes the connection, so they go back.
    for i in 0..2u8 {
        let got = (ch.basic_get("ha.s".into(), Default::default()).await).expect("get");
        assert_eq!(got.expect("a message").delivery.data, [i]);
    }
    drop(conn);

    // The stopping node hands the queue over itself, before it goes (a failure would be
    // noticed by the others only once the node is gone).
    let mut old = nodes.remove(0);
    old.broker.signal("TERM");
    let line = old
        .broker
        .wait_for_log("handed over to a mirror", WAIT)
        .await;
    assert!(line.is_some(), "no hand-over: {:?}", old.broker.log_lines());
    assert!(old.broker.wait_exit(WAIT).is_some_and(|s| s.success()));
    await_master(&nodes[0], "ha.s", &order[0]).await;
    let (_c, ch) = confirming(&nodes[1], "ha.s").await;
    let want: Vec<(u8, bool)> = (0..40u8).map(|i| (i, i < 2)).collect();
    assert_eq!(get_all(&ch, "ha.s").await, want, "every message, in order");
}

/// Messages published before the policy: the mirrors hold only what came after, so they
/// are not synchronised when the master stops.
async fn unsynchronised(nodes: &[Node], queue: &str, definition: serde_json::Value) -> Vec<String> {
    let (conn, ch) = confirming(&nodes[0], queue).await;
    publish_all(&ch, queue, 0..10).await;
    put_policy(&nodes[0], "ha", "^ha\\.", definition).await;
    let all: Vec<&Node> = nodes.iter().collect();
    let order = await_mirrors(&all, queue, "two mirrors", |m| m.len() == 2).await;
    publish_all(&ch, queue, 10..15).await;
    assert!(synchronised(&nodes[1], queue).await.is_empty());
    drop(conn);
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_synced_keeps_the_queue_for_its_master_when_no_mirror_is_synchronised() {
    let mut nodes = cluster::start(3).await;
    unsynchronised(&nodes, "ha.w", json!({"ha-mode": "all"})).await;
    let old = nodes.remove(0);
    let spec = old.spec.clone();
    let dir = old.broker.stop();
    // Long past a hand-over or a failover (net_ticktime, then a second).
    tokio::time::sleep(Duration::from_secs(6)).await;
    for n in &nodes {
        assert_eq!(master(n, "ha.w").await, spec.name, "no promotion");
    }
    let conn = lapin::Connection::connect(&nodes[0].broker.url(), Default::default())
        .await
        .expect("connects");
    let ch = conn.create_channel().await.expect("channel");
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let err = (ch
        .queue_declare("ha.w".into(), passive, Default::default())
        .await)
        .expect_err("the queue's home is down");
    assert!(err.to_string().contains("NOT_FOUND - home node"), "{err}");

    let back = Node::start_in(dir, spec);
    back.await_members(3, 0, WAIT).await;
    assert_eq!(
        drain(&back, "ha.w").await,
        (0..15).collect::<Vec<u8>>(),
        "every message, back with the master"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_hands_over_to_an_unsynchronised_mirror() {
    let mut nodes = cluster::start(3).await;
    let policy = json!({"ha-mode": "all", "ha-promote-on-shutdown": "always"});
    let order = unsynchronised(&nodes, "ha.a", policy).await;
    let _dir = nodes.remove(0).broker.stop();
    await_master(&nodes[0], "ha.a", &order[0]).await;
    assert_eq!(
        drain(&nodes[1], "ha.a").await,
        (10..15).collect::<Vec<u8>>(),
        "what the mirror held: the messages from before it are lost, as in RabbitMQ"
    );
}

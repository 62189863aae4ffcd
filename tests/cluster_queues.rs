//! Queues that live on one node of a cluster and are used from every node, with real
//! processes: published to from one node, consumed on another, got, purged and deleted from
//! a third; a home node killed and brought back.

use crate::common;

use common::cluster::{self, Node};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn connect(node: &Node) -> (Connection, Channel) {
    let conn = Connection::connect(&node.broker.url(), Default::default())
        .await
        .expect("connects");
    let ch = conn.create_channel().await.expect("channel");
    (conn, ch)
}

async fn declare_durable(ch: &Channel, name: &str) {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(name.into(), durable, FieldTable::default())
        .await
        .expect("queue.declare");
}

/// Publishes persistent messages `from..to` (bodies are their numbers) and waits for every
/// confirm, which must be positive.
async fn publish_confirmed(ch: &Channel, queue: &str, range: std::ops::Range<u32>) {
    let persistent = BasicProperties::default().with_delivery_mode(2);
    let mut confirms = Vec::new();
    for i in range {
        let c = ch
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                i.to_string().as_bytes(),
                persistent.clone(),
            )
            .await
            .expect("publishes");
        confirms.push(c);
    }
    for c in confirms {
        assert!(c.await.expect("confirmed").is_ack(), "a negative confirm");
    }
}

async fn consume(ch: &Channel, queue: &str, tag: &str) -> lapin::Consumer {
    ch.basic_consume(
        queue.into(),
        tag.into(),
        Default::default(),
        FieldTable::default(),
    )
    .await
    .expect("basic.consume")
}

fn number(body: &[u8]) -> u32 {
    std::str::from_utf8(body)
        .expect("utf-8")
        .parse()
        .expect("a number")
}

/// The queue's ready messages as its home node's API reports them, once they settle at
/// `want` (figures are sampled).
async fn await_ready(home: &Node, queue: &str, want: u64) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (code, q) = home.get(&format!("/api/queues/%2F/{queue}")).await;
        if code == 200 && q["messages_ready"].as_u64() == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{queue} on {}: want {want} ready, got {q}",
            home.spec.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_on_one_node_is_used_from_every_node() {
    let nodes = cluster::start(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let (_cb, chb) = connect(b).await;
    declare_durable(&chb, "homed").await;
    // Every node lists it, on the node whose client declared it.
    for node in &nodes {
        let (code, q) = node.get("/api/queues/%2F/homed").await;
        assert_eq!(code, 200, "{}: {q}", node.spec.name);
        assert_eq!(q["node"], b.spec.name.as_str(), "{}", node.spec.name);
    }

    // Published from A with confirms (the home has them on disk when they come).
    let (_ca, cha) = connect(a).await;
    cha.confirm_select(Default::default())
        .await
        .expect("confirms");
    publish_confirmed(&cha, "homed", 0..500).await;
    await_ready(b, "homed", 500).await;

    // Consumed on C with a prefetch, in order, acked one by one.
    let (_cc, chc) = connect(c).await;
    chc.basic_qos(20, Default::default()).await.expect("qos");
    let mut consumer = consume(&chc, "homed", "on-c").await;
    for want in 0..500 {
        let d = tokio::time::timeout(WAIT, consumer.next())
            .await
            .unwrap_or_else(|_| panic!("delivery {want} in time"))
            .expect("the stream goes on")
            .expect("a delivery");
        assert_eq!(number(&d.data), want, "in publish order");
        assert!(!d.redelivered);
        d.ack(Default::default()).await.expect("acks");
    }
    await_ready(b, "homed", 0).await;
    chc.basic_cancel("on-c".into(), Default::default())
        .await
        .expect("cancels");

    // basic.get from A, rejected with requeue, then got again and acked.
    publish_confirmed(&cha, "homed", 1000..1003).await;
    let got = cha
        .basic_get("homed".into(), Default::default())
        .await
        .expect("gets")
        .expect("a message");
    assert_eq!(number(&got.delivery.data), 1000);
    assert_eq!(got.message_count, 2);
    got.delivery
        .reject(BasicRejectOptions { requeue: true })
        .await
        .expect("rejects");
    let again = cha
        .basic_get("homed".into(), Default::default())
        .await
        .expect("gets")
        .expect("the message again");
    assert_eq!(number(&again.delivery.data), 1000);
    assert!(again.delivery.redelivered);
    again.delivery.ack(Default::default()).await.expect("acks");

    // Purged from C: the two left.
    let purged = chc
        .queue_purge("homed".into(), Default::default())
        .await
        .expect("purges");
    assert_eq!(purged, 2);
    await_ready(b, "homed", 0).await;

    // Deleted from A while C consumes: C's consumer is cancelled, and the queue is gone
    // everywhere.
    let mut consumer = consume(&chc, "homed", "on-c-2").await;
    cha.queue_delete("homed".into(), Default::default())
        .await
        .expect("deletes");
    let end = tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("the consumer is cancelled in time");
    assert!(end.is_none(), "the stream ends on basic.cancel: {end:?}");
    for node in &nodes {
        let (code, _) = node.get("/api/queues/%2F/homed").await;
        assert_eq!(code, 404, "{}", node.spec.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_queue_whose_home_is_down_answers_404_until_it_returns() {
    let specs = cluster::specs(3);
    let mut nodes = cluster::start_specs(specs.clone()).await;
    let (_cb, chb) = connect(&nodes[1]).await;
    declare_durable(&chb, "away").await;
    let (_ca, cha) = connect(&nodes[0]).await;
    cha.confirm_select(Default::default())
        .await
        .expect("confirms");
    publish_confirmed(&cha, "away", 0..50).await;
    let (_cc, chc) = connect(&nodes[2]).await;
    chc.basic_qos(5, Default::default()).await.expect("qos");
    let mut consumer = consume(&chc, "away", "waiting").await;
    let first = consumer.next().await.expect("a delivery").expect("ok");
    assert_eq!(number(&first.data), 0);

    // The home dies: the consumer on C is cancelled, and the queue answers 404 with
    // RabbitMQ's reason.
    let home = nodes.remove(1);
    let dir = home.broker.kill();
    let end = tokio::time::timeout(WAIT, async {
        while let Some(Ok(_)) = consumer.next().await {}
    })
    .await;
    assert!(end.is_ok(), "the consumer is cancelled when its home dies");
    let (_ca2, cha2) = connect(&nodes[0]).await;
    let err = cha2
        .basic_get("away".into(), Default::default())
        .await
        .expect_err("the home is down");
    assert_eq!(common::amqp_code(&err), Some(404), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("home node 'warren-2@localhost' of durable queue 'away' in vhost '/' is down or inaccessible"),
        "{text}"
    );

    // Back: every confirmed message is there (the one delivered and unacked too).
    let back = Node::start_in(dir, specs[1].clone());
    back.await_members(3, 0, WAIT).await;
    let (_ca3, cha3) = connect(&nodes[0]).await;
    assert_eq!(
        get_all(&cha3, "away", 50).await,
        (0..50).collect::<Vec<_>>()
    );
}

/// Gets `n` messages from `queue` through `ch` (retrying while the queue is not back yet)
/// and returns their numbers, sorted.
async fn get_all(ch: &Channel, queue: &str, n: usize) -> Vec<u32> {
    let deadline = std::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    while seen.len() < n {
        assert!(std::time::Instant::now() < deadline, "got {seen:?}");
        match ch.basic_get(queue.into(), Default::default()).await {
            Ok(Some(m)) => {
                seen.push(number(&m.delivery.data));
                m.delivery.ack(Default::default()).await.expect("acks");
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("get: {e}"),
        }
    }
    seen.sort_unstable();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ram_nodes_durable_queue_keeps_its_messages_across_a_restart() {
    // A RAM node keeps no metadata on disk, but its queues' persistent messages are on
    // disk as on any node: after a kill -9 it learns its queues from the cluster again and
    // each takes its messages back. The RAM node has the smallest address: a RAM node
    // cannot form a cluster, so the first disc node does.
    let mut specs = cluster::specs(3);
    specs.sort_by_key(|s| std::cmp::Reverse(s.addr()));
    specs[2].ram = true;
    let nodes: Vec<Node> = specs.iter().cloned().map(Node::start).collect();
    for n in &nodes {
        n.await_members(2, 1, WAIT).await;
    }
    let mut nodes = nodes;
    let (_cr, chr) = connect(&nodes[2]).await;
    declare_durable(&chr, "on-ram").await;
    let (_ca, cha) = connect(&nodes[0]).await;
    cha.confirm_select(Default::default())
        .await
        .expect("confirms");
    publish_confirmed(&cha, "on-ram", 0..40).await;

    let ram = nodes.remove(2);
    let dir = ram.broker.kill();
    let back = Node::start_in(dir, specs[2].clone());
    back.await_members(2, 1, WAIT).await;
    let (_ca2, cha2) = connect(&nodes[0]).await;
    assert_eq!(
        get_all(&cha2, "on-ram", 40).await,
        (0..40).collect::<Vec<_>>()
    );
    // Each message was got once: none is left on its node.
    await_ready(&back, "on-ram", 0).await;
}

async fn declare(ch: &Channel, name: &str, durable: bool, args: FieldTable) {
    let opts = QueueDeclareOptions {
        durable,
        ..Default::default()
    };
    ch.queue_declare(name.into(), opts, args)
        .await
        .expect("queue.declare");
}

async fn get_body(ch: &Channel, queue: &str) -> Option<Vec<u8>> {
    let got = ch
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")?;
    Some(got.delivery.data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_transactions_and_locators_cross_nodes() {
    let nodes = cluster::start(3).await;
    let (_ca, cha) = connect(&nodes[0]).await;
    let (_cb, chb) = connect(&nodes[1]).await;
    let (_cc, chc) = connect(&nodes[2]).await;

    // A queue on B dead-letters into a queue on C.
    chc.exchange_declare(
        "dlx".into(),
        lapin::ExchangeKind::Fanout,
        Default::default(),
        FieldTable::default(),
    )
    .await
    .expect("exchange.declare");
    declare(&chc, "dead", false, FieldTable::default()).await;
    chc.queue_bind(
        "dead".into(),
        "dlx".into(),
        "".into(),
        Default::default(),
        FieldTable::default(),
    )
    .await
    .expect("queue.bind");
    let mut args = FieldTable::default();
    args.insert(
        "x-dead-letter-exchange".into(),
        lapin::types::AMQPValue::LongString("dlx".into()),
    );
    declare(&chb, "living", false, args).await;
    cha.basic_publish(
        "".into(),
        "living".into(),
        Default::default(),
        b"doomed",
        BasicProperties::default(),
    )
    .await
    .expect("publishes");
    let got = loop {
        if let Some(m) = cha
            .basic_get("living".into(), Default::default())
            .await
            .expect("gets")
        {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    got.delivery
        .reject(BasicRejectOptions { requeue: false })
        .await
        .expect("rejects");
    let deadline = std::time::Instant::now() + WAIT;
    let body = loop {
        if let Some(b) = get_body(&chb, "dead").await {
            break b;
        }
        assert!(std::time::Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body, b"doomed");

    // A transaction on A publishing to a queue on B: commit-ok once B has it.
    declare_durable(&chb, "tx-target").await;
    cha.tx_select().await.expect("tx.select");
    let persistent = BasicProperties::default().with_delivery_mode(2);
    for i in 0..3u32 {
        cha.basic_publish(
            "".into(),
            "tx-target".into(),
            Default::default(),
            i.to_string().as_bytes(),
            persistent.clone(),
        )
        .await
        .expect("publishes");
    }
    cha.tx_commit().await.expect("tx.commit");
    await_ready(&nodes[1], "tx-target", 3).await;

    // min-masters puts each new queue on the node with the fewest: B has two, C one, A
    // none; six more leave three on each.
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-master-locator".into(),
        lapin::types::AMQPValue::LongString("min-masters".into()),
    );
    for i in 0..6 {
        declare(&cha, &format!("spread-{i}"), true, args.clone()).await;
    }
    let (_, all) = nodes[0].get("/api/queues").await;
    let mut per_node = std::collections::BTreeMap::new();
    for q in all.as_array().expect("a list") {
        *per_node
            .entry(q["node"].as_str().expect("a node").to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(
        per_node.values().copied().collect::<Vec<_>>(),
        vec![3, 3, 3],
        "{per_node:?}"
    );

    // An exclusive queue stays with its connection: another node's client is refused.
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    cha.queue_declare("mine".into(), exclusive, FieldTable::default())
        .await
        .expect("declares");
    let err = chc
        .basic_get("mine".into(), Default::default())
        .await
        .expect_err("locked");
    assert_eq!(common::amqp_code(&err), Some(405), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_transient_queues_are_gone() {
    let mut nodes = cluster::start(3).await;
    let (_cb, chb) = connect(&nodes[1]).await;
    declare(&chb, "transient", false, FieldTable::default()).await;
    declare_durable(&chb, "kept").await;
    let _ = nodes.remove(1).broker.kill();
    for node in &nodes {
        let deadline = std::time::Instant::now() + WAIT;
        while node.get("/api/queues/%2F/transient").await.0 != 404 {
            assert!(
                std::time::Instant::now() < deadline,
                "{} still lists the transient queue",
                node.spec.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (code, q) = node.get("/api/queues/%2F/kept").await;
        assert_eq!(code, 200, "{}", node.spec.name);
        assert_eq!(q["state"], "down", "{}: {q}", node.spec.name);
    }
}

/// The queue's (ready, unacknowledged) as its home reports them, once the messages sampled
/// add up to `total`.
async fn ready_unacked(home: &Node, queue: &str, total: u64) -> (u64, u64) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, q) = home.get(&format!("/api/queues/%2F/{queue}")).await;
        let ready = q["messages_ready"].as_u64().unwrap_or(0);
        let unacked = q["messages_unacknowledged"].as_u64().unwrap_or(0);
        if ready + unacked == total {
            return (ready, unacked);
        }
        assert!(std::time::Instant::now() < deadline, "{q}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_remote_consumer_is_sent_only_its_window() {
    let nodes = cluster::start(3).await;
    let (_cb, chb) = connect(&nodes[1]).await;
    declare_durable(&chb, "backlogged").await;
    let (_ca, cha) = connect(&nodes[0]).await;
    cha.confirm_select(Default::default())
        .await
        .expect("confirms");
    publish_confirmed(&cha, "backlogged", 0..2000).await;
    // A consumer on C with a prefetch of 10 that never acks: the home sends what its
    // channel holds plus at most one window (its prefetch) waiting on C; the rest stays
    // in the queue on B.
    let (_cc, chc) = connect(&nodes[2]).await;
    chc.basic_qos(10, Default::default()).await.expect("qos");
    let mut consumer = consume(&chc, "backlogged", "slow").await;
    let mut held = Vec::new();
    for want in 0..10 {
        let d = consumer.next().await.expect("a delivery").expect("ok");
        assert_eq!(number(&d.data), want);
        held.push(d);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (ready, unacked) = ready_unacked(&nodes[1], "backlogged", 2000).await;
    assert!(unacked <= 20, "{unacked} sent to the slow consumer");
    assert!(ready >= 1980, "{ready} left in the queue");
    // Acked, it goes on in order.
    for d in held {
        d.ack(Default::default()).await.expect("acks");
    }
    for want in 10..2000 {
        let d = tokio::time::timeout(WAIT, consumer.next())
            .await
            .unwrap_or_else(|_| panic!("delivery {want} in time"))
            .expect("a delivery")
            .expect("ok");
        assert_eq!(number(&d.data), want);
        d.ack(Default::default()).await.expect("acks");
    }
}

/// A node restarted after its peers declared queues reaches them at their homes: what it
/// is given goes to the home, what it takes comes from there (it once took its stored
/// records of them for queues of its own, and kept what was published through it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_reaches_queues_homed_on_others() {
    let mut nodes = cluster::start(3).await;
    let (_c0, ch0) = connect(&nodes[0]).await;
    declare_durable(&ch0, "homed.on.0").await;
    ch0.confirm_select(Default::default())
        .await
        .expect("confirm");
    publish_confirmed(&ch0, "homed.on.0", 0..3).await;

    let node = nodes.remove(1);
    let spec = node.spec.clone();
    let back = Node::start_in(node.broker.stop(), spec);
    back.await_members(3, 0, WAIT).await;
    let (_c1, ch1) = connect(&back).await;
    ch1.confirm_select(Default::default())
        .await
        .expect("confirm");
    publish_confirmed(&ch1, "homed.on.0", 3..6).await;
    await_ready(&nodes[0], "homed.on.0", 6).await;
    assert_eq!(
        get_all(&ch1, "homed.on.0", 6).await,
        (0..6).collect::<Vec<u32>>()
    );
    await_ready(&nodes[0], "homed.on.0", 0).await;
}

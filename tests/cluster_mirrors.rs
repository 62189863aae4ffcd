//! Mirrored queues on a 3-node cluster of real processes: where policies place the mirrors
//! (`ha-mode` all, exactly and nodes), changed at runtime, a stopped node's mirror placed
//! again elsewhere, and every node showing the same placement.

use crate::common;

use common::cluster::{self, Node};
use common::mirrored::*;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_place_mirrors_and_a_stopped_nodes_mirror_is_placed_again() {
    let mut nodes = cluster::start(3).await;
    let name = |i: usize| nodes[i].spec.name.clone();
    let (n0, n1, n2) = (name(0), name(1), name(2));
    let conn = lapin::Connection::connect(&nodes[0].broker.url(), Default::default())
        .await
        .expect("connects");
    let ch = conn.create_channel().await.expect("channel");
    for (q, exclusive) in [
        ("ha.all.q", false),
        ("ha.two.q", false),
        ("ha.pin.q", false),
        ("plain", false),
        ("ha.all.mine", true),
    ] {
        let opts = QueueDeclareOptions {
            durable: !exclusive,
            exclusive,
            ..Default::default()
        };
        (ch.queue_declare(q.into(), opts, FieldTable::default())
            .await)
            .expect("declares");
    }
    put_policy(&nodes[1], "all", "^ha\\.all\\.", json!({"ha-mode": "all"})).await;
    put_policy(
        &nodes[1],
        "two",
        "^ha\\.two\\.",
        json!({"ha-mode": "exactly", "ha-params": 2}),
    )
    .await;
    put_policy(
        &nodes[1],
        "pin",
        "^ha\\.pin\\.",
        json!({"ha-mode": "nodes", "ha-params": [n2.clone(), "nobody@nowhere"]}),
    )
    .await;
    let all: Vec<&Node> = nodes.iter().collect();

    // The master is the declaring node (n0); its mirrors are on the others.
    let m = await_mirrors(&all, "ha.all.q", "both other nodes", |m| m.len() == 2).await;
    assert!(m.contains(&n1) && m.contains(&n2), "{m:?}");
    let two = await_mirrors(&all, "ha.two.q", "one mirror", |m| m.len() == 1).await;
    assert_ne!(two[0], n0);
    await_mirrors(&all, "ha.pin.q", "the named node", |m| m == [n2.clone()]).await;
    for q in ["plain", "ha.all.mine"] {
        for node in &nodes {
            assert!(mirrors(node, q).await.is_empty(), "{q} is not mirrored");
        }
    }

    // More copies, then fewer: the oldest mirror is the one kept.
    put_policy(
        &nodes[2],
        "two",
        "^ha\\.two\\.",
        json!({"ha-mode": "exactly", "ha-params": 3}),
    )
    .await;
    let three = await_mirrors(&all, "ha.two.q", "two mirrors", |m| m.len() == 2).await;
    assert_eq!(
        three[0], two[0],
        "the first mirror stays the oldest: {three:?}"
    );
    put_policy(
        &nodes[2],
        "two",
        "^ha\\.two\\.",
        json!({"ha-mode": "exactly", "ha-params": 2}),
    )
    .await;
    await_mirrors(&all, "ha.two.q", "the oldest mirror", |m| {
        m == [two[0].clone()]
    })
    .await;

    // The mirror's node stops: the mirror is placed on the node left.
    let gone = nodes
        .iter()
        .position(|n| n.spec.name == two[0])
        .expect("a node");
    let other = if gone == 1 { n2.clone() } else { n1.clone() };
    let _ = nodes.remove(gone).broker.kill();
    let left: Vec<&Node> = nodes.iter().collect();
    await_mirrors(&left, "ha.two.q", "the other node", |m| {
        m == [other.clone()]
    })
    .await;
    // `all` keeps only the running node.
    await_mirrors(&left, "ha.all.q", "the running node", |m| {
        m == [other.clone()]
    })
    .await;

    // No policy, no mirrors.
    let r = nodes[0]
        .api()
        .delete("/api/policies/%2F/all")
        .await
        .expect("answers");
    assert_eq!(r.status, 204, "{}", r.text());
    await_mirrors(&left, "ha.all.q", "none", |m| m.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirms_wait_for_every_mirror_and_a_new_mirror_syncs_as_old_messages_go() {
    let nodes = cluster::start(3).await;
    let (n1, n2) = (nodes[1].spec.name.clone(), nodes[2].spec.name.clone());
    let (_conn, ch) = confirming(&nodes[0], "ha.q").await;
    // Five messages before there are mirrors.
    for i in 0..5u8 {
        assert!(publish(&ch, "ha.q", &[i])
            .await
            .await
            .expect("confirm")
            .is_ack());
    }
    put_policy(&nodes[0], "ha", "^ha\\.", json!({"ha-mode": "all"})).await;
    let all: Vec<&Node> = nodes.iter().collect();
    await_mirrors(&all, "ha.q", "two mirrors", |m| m.len() == 2).await;
    // The mirrors hold what came after them, not the five before: not in sync.
    for i in 5..50u8 {
        assert!(publish(&ch, "ha.q", &[i])
            .await
            .await
            .expect("confirm")
            .is_ack());
    }
    assert!(synchronised(&nodes[1], "ha.q").await.is_empty());
    // Once the five older messages are gone, both mirrors hold all the master holds.
    for i in 0..5u8 {
        let got = ch
            .basic_get("ha.q".into(), Default::default())
            .await
            .expect("get");
        let got = got.expect("a message");
        assert_eq!(got.delivery.data, [i]);
        got.delivery.ack(Default::default()).await.expect("ack");
    }
    let mut both = vec![n1.clone(), n2.clone()];
    both.sort();
    await_synchronised(&nodes[2], "ha.q", &both).await;

    // A frozen mirror holds up confirms until its node is found dead: silent for
    // net_ticktime (3 s) since the last frame it sent, which on a loaded machine may have
    // come a while before it froze. A confirm in the first 1.5 s is right only if the master's
    // node no longer counts the frozen one as running.
    nodes[2].broker.signal("STOP");
    let confirm = publish(&ch, "ha.q", b"held").await;
    let early = tokio::time::timeout(Duration::from_millis(1500), confirm).await;
    if early.is_ok() {
        let status = nodes[0].status().await;
        let running = status["running_nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            !running.contains(&json!(n2)),
            "confirmed while the frozen mirror, still counted running, did not hold the message"
        );
    }
    let confirm = publish(&ch, "ha.q", b"later").await;
    let late = tokio::time::timeout(WAIT, confirm)
        .await
        .expect("confirmed once the mirror is gone");
    assert!(late.expect("confirm").is_ack());
    nodes[2].broker.signal("CONT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_synchronised_mirror_takes_over_when_the_master_is_killed() {
    let mut nodes = cluster::start(3).await;
    let (_conn, ch, order) = mirrored_everywhere(&nodes, "ha.k").await;
    for i in 0..100u8 {
        assert!(publish(&ch, "ha.k", &[i])
            .await
            .await
            .expect("confirm")
            .is_ack());
    }
    // 0..10 acknowledged; 10..15 delivered and never settled.
    for i in 0..15u8 {
        let got = ch
            .basic_get("ha.k".into(), Default::default())
            .await
            .expect("get");
        let got = got.expect("a message");
        assert_eq!(got.delivery.data, [i]);
        if i < 10 {
            got.delivery.ack(Default::default()).await.expect("ack");
        }
    }
    // The acks reach the mirrors before the master dies.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let old = nodes.remove(0);
    let old_spec = old.spec.clone();
    let old_dir = old.broker.kill();
    await_master(&nodes[1], "ha.k", &order[0]).await;
    let survivor = nodes
        .iter()
        .find(|n| n.spec.name != order[0])
        .expect("a node");
    let (_c, ch) = confirming(survivor, "ha.k").await;
    let want: Vec<(u8, bool)> = (10..100u8).map(|i| (i, i < 15)).collect();
    assert_eq!(
        get_all(&ch, "ha.k").await,
        want,
        "every confirmed message not acknowledged, in order"
    );

    // The old master comes back: it steps down and becomes a mirror again; none of its old
    // messages come back.
    nodes.push(Node::start_in(old_dir, old_spec.clone()));
    let all: Vec<&Node> = nodes.iter().collect();
    let mirrors = await_mirrors(&all, "ha.k", "the old master among the mirrors", |m| {
        m.len() == 2 && m.contains(&old_spec.name)
    })
    .await;
    assert_eq!(master(&nodes[2], "ha.k").await, order[0]);
    let mut sorted = mirrors.clone();
    sorted.sort();
    await_synchronised(&nodes[2], "ha.k", &sorted).await;
    for i in 100..110u8 {
        assert!(publish(&ch, "ha.k", &[i])
            .await
            .await
            .expect("confirm")
            .is_ack());
    }

    // A second failover: the new master is killed in turn.
    let at = nodes
        .iter()
        .position(|n| n.spec.name == order[0])
        .expect("the master");
    let _ = nodes.remove(at).broker.kill();
    await_master(&nodes[0], "ha.k", &mirrors[0]).await;
    let (_c, ch) = confirming(&nodes[0], "ha.k").await;
    let want: Vec<(u8, bool)> = (100..110u8).map(|i| (i, false)).collect();
    assert_eq!(
        get_all(&ch, "ha.k").await,
        want,
        "the messages confirmed after the first failover"
    );
}

/// Every node stops; the master's stays down while the other two come back. Their mirrors'
/// copies did not survive the restart, so although the log still counts them synchronised
/// neither is promoted: the queue waits for its master, which comes back with every
/// message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_restarted_since_they_were_synchronised_are_not_promoted() {
    let nodes = cluster::start(3).await;
    put_policy(&nodes[0], "ha", "^ha\\.", json!({"ha-mode": "all"})).await;
    let (conn, ch) = confirming(&nodes[0], "ha.r").await;
    let all: Vec<&Node> = nodes.iter().collect();
    let mut both = await_mirrors(&all, "ha.r", "two mirrors", |m| m.len() == 2).await;
    both.sort();
    await_synchronised(&nodes[0], "ha.r", &both).await;
    for i in 0..50u8 {
        assert!(publish(&ch, "ha.r", &[i])
            .await
            .await
            .expect("confirm")
            .is_ack());
    }
    drop(conn);
    let stopped: Vec<_> = (nodes.into_iter())
        .map(|n| (n.spec.clone(), n.broker.kill()))
        .collect();
    let mut stopped = stopped.into_iter();
    let (master_spec, master_dir) = stopped.next().expect("the master's node");
    let back: Vec<Node> = stopped.map(|(s, d)| Node::start_in(d, s)).collect();
    let deadline = Instant::now() + WAIT;
    for n in &back {
        loop {
            let s = n.status().await;
            let running = s["running_nodes"].as_array().map_or(0, Vec::len);
            if running == 2 && s["leader"].is_string() {
                break;
            }
            assert!(Instant::now() < deadline, "two nodes with a leader: {s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Long past the moment a promotion would happen (net_ticktime, then 1 s down).
    tokio::time::sleep(Duration::from_secs(6)).await;
    for n in &back {
        assert_eq!(master(n, "ha.r").await, master_spec.name, "no promotion");
    }
    let master = Node::start_in(master_dir, master_spec);
    master.await_members(3, 0, WAIT).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, q) = back[0].get("/api/queues/%2F/ha.r").await;
        if q["messages"] == 50 {
            break;
        }
        assert!(Instant::now() < deadline, "the master is back: {q}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_c, ch) = confirming(&back[0], "ha.r").await;
    let want: Vec<(u8, bool)> = (0..50u8).map(|i| (i, true)).collect();
    assert_eq!(
        get_all(&ch, "ha.r").await,
        want,
        "every confirmed message, marked redelivered"
    );
}

/// A queue declared under an `ha-mode` policy has its mirrors when its declare is
/// answered, so its first message is mirrored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_declared_under_a_policy_is_mirrored_from_its_declare() {
    let nodes = cluster::start(3).await;
    put_policy(&nodes[1], "ha", "^ha\\.", json!({"ha-mode": "all"})).await;
    let (_conn, _ch) = confirming(&nodes[0], "ha.new").await;
    let mut got = mirrors(&nodes[0], "ha.new").await;
    got.sort();
    let mut want = vec![nodes[1].spec.name.clone(), nodes[2].spec.name.clone()];
    want.sort();
    assert_eq!(got, want);
}

//! Mirrored queues on a 3-node cluster of real processes: where policies place the mirrors
//! (`ha-mode` all, exactly and nodes), changed at runtime, a stopped node's mirror placed
//! again elsewhere, and every node showing the same placement.

mod common;

use common::cluster::{self, Node};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

async fn put_policy(node: &Node, name: &str, pattern: &str, definition: Value) {
    let body = json!({"pattern": pattern, "definition": definition, "apply-to": "queues"});
    let r = (node.api())
        .put(&format!("/api/policies/%2F/{name}"), &body)
        .await
        .expect("the API answers");
    assert!(r.status == 201 || r.status == 204, "{}", r.text());
}

/// The queue's `slave_nodes` as `node` shows them (empty when it has none).
async fn mirrors(node: &Node, queue: &str) -> Vec<String> {
    let (code, q) = node.get(&format!("/api/queues/%2F/{queue}")).await;
    assert_eq!(code, 200, "{q}");
    let names = q["slave_nodes"].as_array().cloned().unwrap_or_default();
    names
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// Waits until `ok` holds for the queue's mirrors on every node given; returns them.
async fn await_mirrors(
    nodes: &[&Node],
    queue: &str,
    what: &str,
    ok: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    'again: loop {
        let mut seen = Vec::new();
        for node in nodes {
            let m = mirrors(node, queue).await;
            if !ok(&m) || (!seen.is_empty() && seen != m) {
                assert!(
                    Instant::now() < deadline,
                    "{queue} on {}: {m:?}, expected {what}",
                    node.spec.name
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue 'again;
            }
            seen = m;
        }
        return seen;
    }
}

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

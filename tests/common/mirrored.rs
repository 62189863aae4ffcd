//! Helpers for tests of mirrored queues on a cluster: policies, where a queue's master and
//! mirrors are as the management API shows them, confirmed publishes and draining a queue.

use super::cluster::Node;
use lapin::types::FieldTable;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(30);

pub async fn put_policy(node: &Node, name: &str, pattern: &str, definition: Value) {
    let body = json!({"pattern": pattern, "definition": definition, "apply-to": "queues"});
    let r = (node.api())
        .put(&format!("/api/policies/%2F/{name}"), &body)
        .await
        .expect("the API answers");
    assert!(r.status == 201 || r.status == 204, "{}", r.text());
}

/// The queue's `slave_nodes` as `node` shows them (empty when it has none).
pub async fn mirrors(node: &Node, queue: &str) -> Vec<String> {
    let (code, q) = node.get(&format!("/api/queues/%2F/{queue}")).await;
    assert_eq!(code, 200, "{q}");
    let names = q["slave_nodes"].as_array().cloned().unwrap_or_default();
    names
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// Waits until `ok` holds for the queue's mirrors on every node given; returns them.
pub async fn await_mirrors(
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

/// The queue's `synchronised_slave_nodes` as `node` shows them.
pub async fn synchronised(node: &Node, queue: &str) -> Vec<String> {
    let (code, q) = node.get(&format!("/api/queues/%2F/{queue}")).await;
    assert_eq!(code, 200, "{q}");
    let names = q["synchronised_slave_nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    names
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

pub async fn await_synchronised(node: &Node, queue: &str, want: &[String]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut got = synchronised(node, queue).await;
        got.sort();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{queue}: synchronised {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn publish(ch: &lapin::Channel, queue: &str, body: &[u8]) -> lapin::PublisherConfirm {
    let persistent = lapin::BasicProperties::default().with_delivery_mode(2);
    ch.basic_publish(
        "".into(),
        queue.into(),
        Default::default(),
        body,
        persistent,
    )
    .await
    .expect("publishes")
}

/// A channel in confirm mode on `node`, with durable `queue` declared.
pub async fn confirming(node: &Node, queue: &str) -> (lapin::Connection, lapin::Channel) {
    let conn = lapin::Connection::connect(&node.broker.url(), Default::default())
        .await
        .expect("connects");
    let ch = conn.create_channel().await.expect("channel");
    (ch.confirm_select(Default::default()).await).expect("confirm.select");
    let durable = super::DURABLE;
    (ch.queue_declare(queue.into(), durable, FieldTable::default())
        .await)
        .expect("declares");
    (conn, ch)
}

/// The queue's `node` as `node` shows it.
pub async fn master(node: &Node, queue: &str) -> String {
    let (code, q) = node.get(&format!("/api/queues/%2F/{queue}")).await;
    assert_eq!(code, 200, "{q}");
    q["node"].as_str().unwrap_or_default().to_string()
}

pub async fn await_master(node: &Node, queue: &str, want: &str) {
    let deadline = Instant::now() + WAIT;
    while master(node, queue).await != want {
        if Instant::now() >= deadline {
            let (_, q) = node.get(&format!("/api/queues/%2F/{queue}")).await;
            let lines: Vec<String> = (node.broker.log_lines().into_iter())
                .filter(|l| {
                    ["promot", "mirror", "master", "WARN"]
                        .iter()
                        .any(|w| l.contains(w))
                })
                .collect();
            panic!(
                "{queue}: no promotion of {want}; the queue as {} sees it: {q}\n{}",
                node.spec.name,
                lines.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Gets and acks every message of `queue`: (first body byte, redelivered).
pub async fn get_all(ch: &lapin::Channel, queue: &str) -> Vec<(u8, bool)> {
    let mut got = Vec::new();
    while let Some(m) = ch
        .basic_get(queue.into(), Default::default())
        .await
        .expect("get")
    {
        got.push((m.delivery.data[0], m.delivery.redelivered));
        m.delivery.ack(Default::default()).await.expect("ack");
    }
    got
}

/// Durable `queue` declared through `nodes[0]` (its master) under an `ha-mode: all` policy,
/// once both mirrors are synchronised: a confirming channel on the master's node, and the
/// mirrors oldest first.
pub async fn mirrored_everywhere(
    nodes: &[Node],
    queue: &str,
) -> (lapin::Connection, lapin::Channel, Vec<String>) {
    put_policy(&nodes[0], "ha", "^ha\\.", json!({"ha-mode": "all"})).await;
    let (conn, ch) = confirming(&nodes[0], queue).await;
    let all: Vec<&Node> = nodes.iter().collect();
    let order = await_mirrors(&all, queue, "two mirrors", |m| m.len() == 2).await;
    let mut both = order.clone();
    both.sort();
    await_synchronised(&nodes[1], queue, &both).await;
    (conn, ch, order)
}

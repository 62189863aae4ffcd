//! Many clients changing metadata at once through every node of a cluster: the leader
//! appends commands that arrive together as one log entry, and each client must still get
//! its own command's outcome, the same everywhere.

use crate::common;

use common::cluster::{self, Node};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::Connection;
use std::collections::BTreeSet;
use std::time::Duration;

const CLIENTS: usize = 24;
const QUEUES_EACH: usize = 10;

fn max_length(n: usize) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(n as i64));
    args
}

/// Client `i`: declares the contested queue with its own `x-max-length` (true if it won,
/// false on 406), then declares and binds its own queues.
async fn client(node_url: String, i: usize) -> bool {
    let conn = Connection::connect(&node_url, Default::default())
        .await
        .expect("connects");
    let ch = conn.create_channel().await.expect("channel");
    let durable = crate::common::DURABLE;
    let won = match ch
        .queue_declare("contested".into(), durable, max_length(i))
        .await
    {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(common::amqp_code(&e), Some(406), "client {i}: {e}");
            false
        }
    };
    // A 406 closed the channel.
    let ch = conn.create_channel().await.expect("channel");
    for j in 0..QUEUES_EACH {
        let name = format!("q-{i}-{j}");
        let ok = ch
            .queue_declare(name.as_str().into(), durable, FieldTable::default())
            .await
            .expect("queue.declare");
        assert_eq!(
            ok.name().as_str(),
            name,
            "client {i} got another's declare-ok"
        );
        ch.queue_bind(
            name.as_str().into(),
            "amq.direct".into(),
            format!("k-{i}-{j}").as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue.bind");
    }
    let _ = conn.close(200, "done".into()).await;
    won
}

/// (queue names, the contested queue's x-max-length, amq.direct's binding keys) on `node`.
async fn metadata(node: &Node) -> (BTreeSet<String>, Option<i64>, BTreeSet<String>) {
    let (code, queues) = node.get("/api/queues/%2F?columns=name,arguments").await;
    assert_eq!(code, 200, "{queues}");
    let queues = queues.as_array().expect("a list").clone();
    let names = (queues.iter())
        .filter_map(|q| q["name"].as_str().map(String::from))
        .collect();
    let limit = (queues.iter())
        .find(|q| q["name"] == "contested")
        .and_then(|q| q["arguments"]["x-max-length"].as_i64());
    let (code, bindings) = node
        .get("/api/exchanges/%2F/amq.direct/bindings/source")
        .await;
    assert_eq!(code, 200, "{bindings}");
    let keys = (bindings.as_array().expect("a list").iter())
        .filter_map(|b| b["routing_key"].as_str().map(String::from))
        .collect();
    (names, limit, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_through_every_node_each_get_their_own_outcome() {
    let nodes = cluster::start(3).await;
    let clients = (0..CLIENTS).map(|i| {
        let url = nodes[i % nodes.len()].broker.url();
        tokio::spawn(client(url, i))
    });
    let mut winners = Vec::new();
    for (i, c) in futures_util::future::join_all(clients)
        .await
        .into_iter()
        .enumerate()
    {
        if c.expect("the client finished") {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "clients whose declare won: {winners:?}");
    let winner = winners[0] as i64;
    let mut want_queues: BTreeSet<String> = (0..CLIENTS)
        .flat_map(|i| (0..QUEUES_EACH).map(move |j| format!("q-{i}-{j}")))
        .collect();
    want_queues.insert("contested".into());
    let want_keys: BTreeSet<String> = (0..CLIENTS)
        .flat_map(|i| (0..QUEUES_EACH).map(move |j| format!("k-{i}-{j}")))
        .collect();
    for node in &nodes {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (names, limit, keys) = metadata(node).await;
            if names == want_queues && limit == Some(winner) && keys == want_keys {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: {} of {} queues, contested x-max-length {limit:?} (winner {winner}), {} of {} bindings",
                node.spec.name,
                names.len(),
                want_queues.len(),
                keys.len(),
                want_keys.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

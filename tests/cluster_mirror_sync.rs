//! Synchronising mirrors on a 3-node cluster of real processes: the `sync` action (through
//! `warren ctl sync_queue`, on a node that is not the master) copies the backlog a new
//! mirror lacks, unsettled deliveries included, and a mirror promoted after it has it all;
//! `ha-sync-mode: automatic` syncs in `ha-sync-batch-size` batches while the queue serves;
//! `cancel_sync` stops a sync; a mirror killed during a sync is synced again when its node
//! returns, and the queue goes on without it meanwhile; a mirror cut off and back is sent
//! only what it lacks, and what it kept is the master's.

use crate::common;

use common::cluster::{self, Node};
use common::mirrored::*;
use serde_json::json;
use std::time::Duration;

/// Publishes `bodies` (two bytes each, big-endian), then waits for every confirm.
async fn publish_many(ch: &lapin::Channel, queue: &str, bodies: std::ops::Range<u16>) {
    let mut confirms = Vec::new();
    for i in bodies {
        confirms.push(publish(ch, queue, &i.to_be_bytes()).await);
    }
    for c in confirms {
        assert!(c.await.expect("confirm").is_ack());
    }
}

/// Takes every message through `node`: (body as a number, redelivered).
async fn drain(node: &Node, queue: &str) -> Vec<(u16, bool)> {
    let (_c, ch) = confirming(node, queue).await;
    let mut got = Vec::new();
    while let Some(m) = (ch.basic_get(queue.into(), Default::default()).await).expect("get") {
        let body: [u8; 2] = m.delivery.data[..].try_into().expect("two bytes");
        got.push((u16::from_be_bytes(body), m.delivery.redelivered));
        m.delivery.ack(Default::default()).await.expect("ack");
    }
    got
}

async fn action(node: &Node, queue: &str, action: &str) {
    let r = (node.api())
        .post(
            &format!("/api/queues/%2F/{queue}/actions"),
            &json!({ "action": action }),
        )
        .await
        .expect("the API answers");
    assert_eq!(r.status, 204, "{action}: {}", r.text());
}

/// Kills the master's node (`nodes[0]`); waits for `next` to take over.
async fn fail_over(nodes: &mut Vec<Node>, queue: &str, next: &str) {
    let _ = nodes.remove(0).broker.kill();
    await_master(&nodes[0], queue, next).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_action_copies_the_backlog_and_the_promoted_mirror_has_it() {
    let mut nodes = cluster::start(3).await;
    let (conn, ch) = confirming(&nodes[0], "ha.m").await;
    publish_many(&ch, "ha.m", 0..100).await;
    // Two delivered and not settled when the master dies.
    for _ in 0..2 {
        let got = (ch.basic_get("ha.m".into(), Default::default()).await).expect("get");
        assert!(got.is_some());
    }
    put_policy(&nodes[0], "ha", "^ha\\.", json!({"ha-mode": "all"})).await;
    let all: Vec<&Node> = nodes.iter().collect();
    let order = await_mirrors(&all, "ha.m", "two mirrors", |m| m.len() == 2).await;
    publish_many(&ch, "ha.m", 100..110).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        synchronised(&nodes[1], "ha.m").await.is_empty(),
        "ha-sync-mode manual: new mirrors lack the backlog until asked"
    );

    let url = format!("http://{}", nodes[2].broker.http_addr());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["ctl", "--url", &url, "sync_queue", "ha.m"])
        .output()
        .await
        .expect("warren ctl runs");
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("Synchronising queue 'ha.m' in vhost '/'"),
        "{said}"
    );
    let mut both = order.clone();
    both.sort();
    await_synchronised(&nodes[1], "ha.m", &both).await;

    drop(conn);
    fail_over(&mut nodes, "ha.m", &order[0]).await;
    let want: Vec<(u16, bool)> = (0..110).map(|i| (i, i < 2)).collect();
    assert_eq!(drain(&nodes[1], "ha.m").await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_sync_goes_in_batches_while_the_queue_serves() {
    let mut nodes = cluster::start(3).await;
    let (_conn, ch) = confirming(&nodes[0], "ha.a").await;
    publish_many(&ch, "ha.a", 0..500).await;
    let policy = json!({"ha-mode": "all", "ha-sync-mode": "automatic", "ha-sync-batch-size": 7});
    put_policy(&nodes[0], "ha", "^ha\\.", policy).await;
    // The queue serves while its mirrors sync: publishes are confirmed, gets answered.
    publish_many(&ch, "ha.a", 500..520).await;
    for want in 0..5u16 {
        let m = (ch.basic_get("ha.a".into(), Default::default()).await).expect("get");
        let m = m.expect("a message");
        assert_eq!(m.delivery.data, want.to_be_bytes());
        m.delivery.ack(Default::default()).await.expect("ack");
    }
    let all: Vec<&Node> = nodes.iter().collect();
    let order = await_mirrors(&all, "ha.a", "two mirrors", |m| m.len() == 2).await;
    let mut both = order.clone();
    both.sort();
    await_synchronised(&nodes[2], "ha.a", &both).await;
    let log = nodes[0].broker.log_lines().join("\n");
    assert!(log.contains("synchronising the mirror on"), "{log}");

    fail_over(&mut nodes, "ha.a", &order[0]).await;
    let want: Vec<(u16, bool)> = (5..520).map(|i| (i, false)).collect();
    assert_eq!(drain(&nodes[1], "ha.a").await, want);
}

/// A backlog that takes a while to sync one message at a time.
async fn slow_to_sync(nodes: &[Node], queue: &str, definition: serde_json::Value) {
    let (_conn, ch) = confirming(&nodes[0], queue).await;
    publish_many(&ch, queue, 0..3000).await;
    put_policy(&nodes[0], "ha", "^ha\\.", definition).await;
    let all: Vec<&Node> = nodes.iter().collect();
    await_mirrors(&all, queue, "two mirrors", |m| m.len() == 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_sync_stops_a_sync() {
    let nodes = cluster::start(3).await;
    let policy = json!({"ha-mode": "all", "ha-sync-batch-size": 1});
    slow_to_sync(&nodes, "ha.c", policy).await;
    action(&nodes[1], "ha.c", "sync").await;
    let started = nodes[0]
        .broker
        .wait_for_log("synchronising the mirror on", WAIT)
        .await;
    assert!(started.is_some(), "the sync began");
    action(&nodes[1], "ha.c", "cancel_sync").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        synchronised(&nodes[2], "ha.c").await.is_empty(),
        "cancelled before it was done"
    );
    action(&nodes[2], "ha.c", "sync").await;
    let mut both = vec![nodes[1].spec.name.clone(), nodes[2].spec.name.clone()];
    both.sort();
    await_synchronised(&nodes[2], "ha.c", &both).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_killed_during_a_sync_is_synced_again_when_it_returns() {
    let mut nodes = cluster::start(3).await;
    let policy = json!({"ha-mode": "all", "ha-sync-mode": "automatic", "ha-sync-batch-size": 1});
    slow_to_sync(&nodes, "ha.k", policy).await;
    let started = nodes[0]
        .broker
        .wait_for_log("synchronising the mirror on", WAIT)
        .await;
    assert!(started.is_some(), "the sync began");
    let victim = nodes.remove(2);
    let (spec, dir) = (victim.spec.clone(), victim.broker.kill());
    // The queue goes on without it: a publish is confirmed once the dead mirror is dropped.
    let (_conn, ch) = confirming(&nodes[0], "ha.k").await;
    let confirm = publish(&ch, "ha.k", &3000u16.to_be_bytes()).await;
    let confirm = tokio::time::timeout(WAIT, confirm)
        .await
        .expect("confirmed");
    assert!(confirm.expect("confirm").is_ack());
    let other = nodes[1].spec.name.clone();
    await_synchronised(&nodes[0], "ha.k", std::slice::from_ref(&other)).await;

    // Back empty (a restart keeps no copy), behind a backlog of 3001: only a sync makes it
    // synchronised.
    nodes.push(Node::start_in(dir, spec.clone()));
    let mut both = vec![other, spec.name.clone()];
    both.sort();
    await_synchronised(&nodes[1], "ha.k", &both).await;
    let want: Vec<(u16, bool)> = (0..3001).map(|i| (i, false)).collect();
    assert_eq!(drain(&nodes[0], "ha.k").await, want);
}

/// The master's log lines that end a sync of the mirror on `node`.
fn sync_ends(master: &Node, node: &str) -> Vec<String> {
    let prefix = format!("mirror on {node} synchronised up to");
    let lines = master.broker.log_lines();
    lines.into_iter().filter(|l| l.contains(&prefix)).collect()
}

/// Waits for the master to end a sync of the mirror on `node` after the `before` it had
/// ended already; returns the line.
async fn await_sync_end(master: &Node, node: &str, before: usize) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let ends = sync_ends(master, node);
        if let Some(l) = ends.get(before) {
            return l.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new sync of {node} ended: {ends:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How the third node's mirror goes away for a while.
#[derive(Clone, Copy)]
enum Away {
    /// SIGSTOP past net_ticktime, then SIGCONT: the copy stays in memory.
    Frozen,
    /// kill -9, then a restart: what it had stored of the queue is read back.
    Restarted,
}

/// The third node's mirror of a durable queue is away while 100 of 1,100 persistent
/// messages are published: back, its sync sends only those 100, and what it kept is the
/// master's.
async fn a_returning_mirror_is_sent_only_what_it_lacks(away_how: Away) {
    let mut nodes = cluster::start(3).await;
    let policy = json!({"ha-mode": "all", "ha-sync-mode": "automatic"});
    put_policy(&nodes[0], "ha", "^ha\\.", policy).await;
    let (_conn, ch) = confirming(&nodes[0], "ha.r").await;
    let all: Vec<&Node> = nodes.iter().collect();
    let order = await_mirrors(&all, "ha.r", "two mirrors", |m| m.len() == 2).await;
    publish_many(&ch, "ha.r", 0..1000).await;
    let mut both = order.clone();
    both.sort();
    await_synchronised(&nodes[0], "ha.r", &both).await;

    // Node 3 away: it leaves the mirrors, and misses 100 messages.
    let away = nodes[2].spec.name.clone();
    let stayed = nodes[1].spec.name.clone();
    // A new mirror's first sync (of nothing) ends first.
    await_sync_end(&nodes[0], &away, 0).await;
    let synced_before = sync_ends(&nodes[0], &away).len();
    let restart = match away_how {
        Away::Frozen => {
            nodes[2].broker.signal("STOP");
            None
        }
        Away::Restarted => {
            let victim = nodes.remove(2);
            Some((victim.spec.clone(), victim.broker.kill()))
        }
    };
    let rest = std::slice::from_ref(&stayed);
    await_mirrors(&[&nodes[0]], "ha.r", "node 3 out", |m| m == rest).await;
    publish_many(&ch, "ha.r", 1000..1100).await;
    match restart {
        None => nodes[2].broker.signal("CONT"),
        Some((spec, dir)) => nodes.push(Node::start_in(dir, spec)),
    }
    let line = await_sync_end(&nodes[0], &away, synced_before).await;
    await_synchronised(&nodes[0], "ha.r", &both).await;
    assert!(
        line.contains("100 messages sent, 1000 it held kept"),
        "{line}"
    );

    // What it kept is the master's: with the other mirror taken out, node 3's copy is
    // promoted, and holds every message once, in order, none delivered.
    let only_away = json!({"ha-mode": "nodes", "ha-params": [nodes[0].spec.name, away]});
    put_policy(&nodes[0], "ha", "^ha\\.", only_away).await;
    let just_away = std::slice::from_ref(&away);
    await_mirrors(&[&nodes[0]], "ha.r", "node 3 alone", |m| m == just_away).await;
    // As the log has it (another node's view): what the promotion goes by.
    await_synchronised(&nodes[1], "ha.r", just_away).await;
    drop(ch);
    // Watched from node 3, the candidate: its log says why, should it not take over.
    let _ = nodes.remove(0).broker.kill();
    await_master(&nodes[1], "ha.r", &away).await;
    let want: Vec<(u16, bool)> = (0..1100).map(|i| (i, false)).collect();
    assert_eq!(drain(&nodes[1], "ha.r").await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_cut_off_and_back_is_sent_only_what_it_lacks() {
    a_returning_mirror_is_sent_only_what_it_lacks(Away::Frozen).await;
}

// A restarting node can hear the master's resume before it has applied its own log's older
// `SetMirrors` without itself: it refuses the resume until it has applied as much of the log
// as the master had (else that late removal would retire the synced copy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_mirror_keeps_what_it_had_stored() {
    a_returning_mirror_is_sent_only_what_it_lacks(Away::Restarted).await;
}

//! A mirrored queue (`ha-mode: all`, 3 nodes as separate processes) under load while its
//! master's node is killed with -9 and brought back, again and again; or cut off from the
//! others (frozen with SIGSTOP past `net_ticktime`, so the majority promotes a mirror) and let
//! go again, when it must step down: never two masters confirming. Publishers with confirms
//! and consumers with manual acks run on every node and move to another node when theirs
//! dies. Afterwards: every confirmed message was consumed, a message seen twice was marked
//! redelivered the second time, and each publisher's messages came in order apart from
//! redeliveries.

use crate::common;

use common::cluster::{self, Node};
use futures_lite::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection};
use parking_lot::Mutex;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the master's node is taken out.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Outage {
    /// kill -9, then a restart.
    Kill,
    /// SIGSTOP until a mirror is promoted, then SIGCONT: a partition from the node's side.
    Freeze,
}
const QUEUE: &str = "ha.failover";
const WAIT: Duration = Duration::from_secs(30);

/// A consumer session: its node, when it subscribed, when it got its first delivery.
type Session = (usize, Instant, Option<Instant>);

/// What the clients share: where the nodes are, and what they saw.
#[derive(Default)]
struct Run {
    /// Each node's AMQP URL while it runs.
    urls: Mutex<Vec<Option<String>>>,
    stop_publishing: AtomicBool,
    stop_consuming: AtomicBool,
    /// Per publisher: the numbers confirmed.
    confirmed: Mutex<HashMap<u32, HashSet<u32>>>,
    /// Every delivery: (consumer session, publisher, number, redelivered).
    got: Mutex<Vec<(u64, u32, u32, bool)>>,
    sessions: AtomicU64,
    /// Each consumer session's node, when it subscribed, and when it got its first
    /// delivery.
    subscribed: Mutex<HashMap<u64, Session>>,
    /// Publishes whose confirm never came on a live connection.
    unanswered: AtomicU64,
}

impl Run {
    /// A connection and channel to a running node (and its index), trying `prefer` first
    /// (after a pause, `None` when none answers).
    async fn connect(&self, prefer: usize) -> Option<(Connection, lapin::Channel, usize)> {
        let url = self.url(prefer);
        let conn = match &url {
            Some((_, url)) => within(Connection::connect(url, Default::default())).await,
            None => None,
        };
        let (Some(conn), Some((node, _))) = (conn, url) else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            return None;
        };
        let ch = within(conn.create_channel()).await?;
        Some((conn, ch, node))
    }

    /// A running node's index and URL, trying `prefer` first.
    fn url(&self, prefer: usize) -> Option<(usize, String)> {
        let urls = self.urls.lock();
        let n = urls.len();
        (0..n).find_map(|i| {
            let at = (prefer + i) % n;
            urls[at].clone().map(|u| (at, u))
        })
    }
}

async fn publisher(run: Arc<Run>, p: u32) {
    let mut n = 0u32;
    while !run.stop_publishing.load(Ordering::Acquire) {
        let Some((conn, ch, _)) = run.connect(p as usize).await else {
            continue;
        };
        if within(ch.confirm_select(Default::default()))
            .await
            .is_none()
        {
            continue;
        }
        let persistent = BasicProperties::default().with_delivery_mode(2);
        'publishing: while !run.stop_publishing.load(Ordering::Acquire) {
            let mut pending = Vec::new();
            for _ in 0..20 {
                let body = format!("{p}:{n}");
                let sent = within(ch.basic_publish(
                    "".into(),
                    QUEUE.into(),
                    Default::default(),
                    body.as_bytes(),
                    persistent.clone(),
                ))
                .await;
                match sent {
                    Some(c) => pending.push((n, c)),
                    None => break 'publishing,
                }
                // A number is never published twice, whatever became of it.
                n += 1;
            }
            for (m, c) in pending {
                match tokio::time::timeout(2 * WAIT, c).await {
                    Ok(Ok(c)) if c.is_ack() => {
                        run.confirmed.lock().entry(p).or_default().insert(m);
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => break 'publishing,
                    Err(_) => {
                        run.unanswered.fetch_add(1, Ordering::Relaxed);
                        break 'publishing;
                    }
                }
            }
        }
        // A connection whose node died may never answer a close.
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close(200, "bye".into())).await;
    }
}

async fn consumer(run: Arc<Run>, c: usize) {
    while !run.stop_consuming.load(Ordering::Acquire) {
        let Some((conn, ch, node)) = run.connect(c).await else {
            continue;
        };
        let _ = within(ch.basic_qos(50, BasicQosOptions::default())).await;
        let session = run.sessions.fetch_add(1, Ordering::Relaxed);
        let consumed = within(ch.basic_consume(
            QUEUE.into(),
            format!("c{c}-{session}").as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .await;
        let Some(mut deliveries) = consumed else {
            // The master's node is down and no mirror promoted yet.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        (run.subscribed.lock()).insert(session, (node, Instant::now(), None));
        loop {
            let next = tokio::time::timeout(Duration::from_millis(500), deliveries.next()).await;
            let d = match next {
                Err(_) if run.stop_consuming.load(Ordering::Acquire) => break,
                Err(_) => continue,
                // Cancelled (the master's node died) or the connection is gone.
                Ok(None) | Ok(Some(Err(_))) => break,
                Ok(Some(Ok(d))) => d,
            };
            let body = String::from_utf8_lossy(&d.data).to_string();
            let (p, n) = body.split_once(':').expect("p:n");
            let (p, n) = (p.parse().expect("p"), n.parse().expect("n"));
            run.got.lock().push((session, p, n, d.redelivered));
            if let Some((_, _, first @ None)) = run.subscribed.lock().get_mut(&session) {
                *first = Some(Instant::now());
            }
            if within(d.acker.ack(Default::default())).await.is_none() {
                break;
            }
        }
        // A connection whose node died may never answer a close.
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close(200, "bye".into())).await;
    }
}

/// A client operation's result, `None` when it failed or took longer than `WAIT` (a
/// connection to a killed node may never answer).
async fn within<T>(f: impl std::future::Future<Output = lapin::Result<T>>) -> Option<T> {
    tokio::time::timeout(WAIT, f).await.ok()?.ok()
}

async fn queue_json(node: &Node) -> Option<serde_json::Value> {
    let (code, q) = node.get(&format!("/api/queues/%2F/{QUEUE}")).await;
    (code == 200).then_some(q)
}

// About 80 s. `cargo test --release --test integration cluster_mirror_failover --
// --nocapture` prints the failover times; on a failure it prints the kills and every
// node's mirroring, cluster and warning log lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_messages_survive_the_master_killed_twenty_times() {
    outages(Outage::Kill, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_messages_survive_the_master_cut_off_five_times() {
    outages(Outage::Freeze, 5).await;
}

/// The policy goes from `ha-mode: all` to `exactly 2` and back, again and again, through
/// each node in turn: a mirror leaves, a new one is placed and synchronised as the backlog
/// drains (`ha-sync-mode: manual`), and no confirmed message is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_messages_survive_policy_changes_under_load() {
    let nodes: Vec<Node> = cluster::start(3).await;
    let load = start_load(&nodes).await;
    let started = Instant::now();
    let mut history = Vec::new();
    for round in 0..5 {
        for (definition, mirrors) in [
            (json!({"ha-mode": "exactly", "ha-params": 2}), 1),
            (json!({"ha-mode": "all"}), 2),
        ] {
            set_policy(&nodes[round % 3], definition.clone()).await;
            let placed = await_in_sync(&nodes[(round + 1) % 3], mirrors).await;
            history.push(format!("{:?} {definition}: {placed:?}", started.elapsed()));
            if let Err(q) = placed {
                panic!("round {round}: {definition} never took effect: {q:?}\n{history:#?}");
            }
        }
    }
    let report = || {
        let lines = nodes
            .iter()
            .flat_map(|n| mirroring_lines(&n.spec.name, n.broker.log_lines()));
        history.iter().cloned().chain(lines).collect()
    };
    let (total, got) = check(load, report).await;
    println!(
        "5 rounds of policy changes: {total} confirmed messages, {} deliveries",
        got.len()
    );
}

/// The publishers and consumers running on every node.
struct Load {
    run: Arc<Run>,
    publishers: Vec<tokio::task::JoinHandle<()>>,
    consumers: Vec<tokio::task::JoinHandle<()>>,
}

async fn set_policy(node: &Node, definition: serde_json::Value) {
    let body = json!({"pattern": "^ha\\.", "definition": definition, "apply-to": "queues"});
    let r = node
        .api()
        .put("/api/policies/%2F/ha", &body)
        .await
        .expect("answers");
    assert!(r.status == 201 || r.status == 204, "{}", r.text());
}

/// The queue mirrored everywhere, declared, and the clients running.
async fn start_load(nodes: &[Node]) -> Load {
    set_policy(&nodes[0], json!({"ha-mode": "all"})).await;
    let conn = Connection::connect(&nodes[0].broker.url(), Default::default())
        .await
        .expect("connects");
    let ch = conn.create_channel().await.expect("channel");
    let durable = crate::common::DURABLE;
    (ch.queue_declare(QUEUE.into(), durable, FieldTable::default())
        .await)
        .expect("declares");
    drop(conn);
    let run = Arc::new(Run::default());
    *run.urls.lock() = nodes.iter().map(|n| Some(n.broker.url())).collect();
    let mut publishers = Vec::new();
    let mut consumers = Vec::new();
    for i in 0..3 {
        publishers.push(tokio::spawn(publisher(run.clone(), i)));
        consumers.push(tokio::spawn(consumer(run.clone(), i as usize)));
    }
    Load {
        run,
        publishers,
        consumers,
    }
}

async fn outages(how: Outage, times: usize) {
    let nodes: Vec<Node> = cluster::start(3).await;
    let load = start_load(&nodes).await;
    let run = load.run.clone();
    let mut nodes: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    // Each kill: when, of which node, and how long until another node showed a new master.
    let mut kills = Vec::new();
    // For a failure's report: each kill's time, the node, and the publishers' numbers then;
    // the mirroring lines of the logs of nodes killed.
    let mut history = Vec::new();
    let mut dead_logs = Vec::new();
    let started = Instant::now();
    for kill in 0..times {
        // Every node up, both mirrors in sync: a promotion can lose nothing.
        let first = nodes[0].as_ref().expect("every node runs");
        if let Err(q) = await_in_sync(first, 2).await {
            for line in history.iter().chain(&dead_logs) {
                eprintln!("{line}");
            }
            for n in nodes.iter().flatten() {
                for line in mirroring_lines(&n.spec.name, n.broker.log_lines()) {
                    eprintln!("{line}");
                }
            }
            panic!("kill {kill}: the mirrors never got in sync: {q:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let q = queue_json(first).await.expect("the queue");
        let master = q["node"].as_str().expect("a node").to_string();
        let at = (nodes.iter())
            .position(|n| n.as_ref().is_some_and(|n| n.spec.name == master))
            .expect("the master's node");
        run.urls.lock()[at] = None;
        let dead = nodes[at].take().expect("running");
        let (spec, url) = (dead.spec.clone(), dead.broker.url());
        let highest: Vec<(u32, u32)> = (run.confirmed.lock().iter())
            .map(|(p, ns)| (*p, ns.iter().max().copied().unwrap_or(0)))
            .collect();
        history.push(format!(
            "{:?} {how:?} {kill} of {master}, confirmed up to {highest:?}",
            started.elapsed()
        ));
        let log = dead.broker.log.clone();
        let killed_at = Instant::now();
        let (dir, frozen) = match how {
            Outage::Kill => (Some(dead.broker.kill()), None),
            Outage::Freeze => {
                dead.broker.signal("STOP");
                (None, Some(dead))
            }
        };
        if how == Outage::Kill {
            // What it wrote last reaches the log once its pipe is read to the end.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let lines = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            dead_logs.extend(mirroring_lines(&master, lines));
        }
        let other = nodes[(at + 1) % nodes.len()].as_ref().expect("running");
        let deadline = Instant::now() + WAIT;
        loop {
            let q = queue_json(other).await;
            if q.is_some_and(|q| q["node"].as_str() != Some(master.as_str())) {
                break;
            }
            assert!(Instant::now() < deadline, "kill {kill}: no mirror promoted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        kills.push((killed_at, at, killed_at.elapsed()));
        let back = match (dir, frozen) {
            (Some(dir), _) => Node::start_in(dir, spec),
            (None, Some(frozen)) => {
                // The old master wakes up believing it still is one, until it hears.
                frozen.broker.signal("CONT");
                frozen
            }
            (None, None) => unreachable!("a node killed or frozen"),
        };
        run.urls.lock()[at] = Some(if how == Outage::Kill {
            back.broker.url()
        } else {
            url
        });
        nodes[at] = Some(back);
        for node in nodes.iter().flatten() {
            node.await_members(3, 0, WAIT).await;
        }
    }

    let report = || {
        let running = nodes.iter().flatten();
        let lines = running.flat_map(|n| mirroring_lines(&n.spec.name, n.broker.log_lines()));
        history
            .iter()
            .chain(&dead_logs)
            .cloned()
            .chain(lines)
            .collect()
    };
    let (total, got) = check(load, report).await;
    // Failover: from a kill to the first delivery to a consumer that subscribed after it
    // on another node (so from the new master).
    let subscribed = run.subscribed.lock().clone();
    let mut failovers: Vec<Duration> = (kills.iter())
        .filter_map(|(at, node, _)| {
            (subscribed.values())
                .filter(|(n, since, _)| n != node && since > at)
                .filter_map(|(_, _, first)| *first)
                .min()
                .map(|first| first - *at)
        })
        .collect();
    failovers.sort();
    let mut promotions: Vec<Duration> = kills.iter().map(|k| k.2).collect();
    promotions.sort();
    println!(
        "{times} {how:?}s: {total} confirmed messages, {} deliveries; failover to the first delivery p50 {:?}, max {:?} (of {}); to the promotion p50 {:?}, max {:?}",
        got.len(),
        failovers[failovers.len() / 2],
        failovers[failovers.len() - 1],
        failovers.len(),
        promotions[promotions.len() / 2],
        promotions[promotions.len() - 1]
    );
}

/// Stops the publishers, waits until every confirmed message was consumed, stops the
/// consumers and checks what they got (`report` says what happened, on a failure): the
/// number of messages confirmed, and every delivery.
async fn check(
    load: Load,
    report: impl Fn() -> Vec<String>,
) -> (usize, Vec<(u64, u32, u32, bool)>) {
    let Load {
        run,
        publishers,
        consumers,
    } = load;
    run.stop_publishing.store(true, Ordering::Release);
    for p in publishers {
        let done = tokio::time::timeout(3 * WAIT, p).await;
        done.expect("a publisher stops").expect("publisher");
    }
    let confirmed: HashMap<u32, HashSet<u32>> = run.confirmed.lock().clone();
    let total: usize = confirmed.values().map(HashSet::len).sum();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen: HashSet<(u32, u32)> = run.got.lock().iter().map(|g| (g.1, g.2)).collect();
        let mut missing: Vec<(u32, u32)> = confirmed
            .iter()
            .flat_map(|(p, ns)| ns.iter().map(move |n| (*p, *n)))
            .filter(|k| !seen.contains(k))
            .collect();
        if missing.is_empty() {
            break;
        }
        missing.sort();
        if Instant::now() >= deadline {
            for line in report() {
                eprintln!("{line}");
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} of {total} confirmed messages never consumed, first {:?}",
            missing.len(),
            &missing[..missing.len().min(100)]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run.stop_consuming.store(true, Ordering::Release);
    for c in consumers {
        let done = tokio::time::timeout(3 * WAIT, c).await;
        done.expect("a consumer stops").expect("consumer");
    }

    let unanswered = run.unanswered.load(Ordering::Relaxed);
    assert_eq!(unanswered, 0, "publishes never confirmed nor refused");
    let got = run.got.lock().clone();
    // A message delivered again is marked redelivered.
    let mut seen = HashSet::new();
    for (_, p, n, redelivered) in &got {
        if !seen.insert((*p, *n)) {
            assert!(
                redelivered,
                "{p}:{n} delivered twice, the second time not as a redelivery"
            );
        }
    }
    // Each consumer session gets each publisher's messages in order, redeliveries aside.
    let mut last: HashMap<(u64, u32), u32> = HashMap::new();
    for (s, p, n, redelivered) in &got {
        if *redelivered {
            continue;
        }
        if let Some(before) = last.insert((*s, *p), *n) {
            assert!(before < *n, "session {s}: {p}:{n} after {p}:{before}");
        }
    }
    (total, got)
}

/// `n` mirrors, all synchronised, as the master reports; else the queue as last seen.
async fn await_in_sync(node: &Node, n: usize) -> Result<(), Option<serde_json::Value>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let q = queue_json(node).await;
        if let Some(q) = &q {
            let count = |k: &str| q[k].as_array().map_or(0, Vec::len);
            if count("slave_nodes") == n && count("synchronised_slave_nodes") == n {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(q);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A node's log lines about mirroring and the cluster, and its warnings, named after the
/// node.
fn mirroring_lines(node: &str, lines: Vec<String>) -> Vec<String> {
    let words = [
        "mirror",
        "promot",
        "master now",
        "synchronised",
        "cluster",
        "WARN",
        "ERROR",
    ];
    (lines.into_iter())
        .filter(|l| words.iter().any(|w| l.contains(w)))
        .map(|l| format!("{node}: {l}"))
        .collect()
}

//! Crash safety of the message store: the real binary is killed with SIGKILL at a random
//! moment while three publishers stream persistent messages (with publisher confirms) into
//! two durable queues, then restarted on the same data dir, many times over. Every message
//! whose confirm came back as `basic.ack` must be delivered after the restart (at least
//! once; a repeat must be flagged redelivered). Unconfirmed messages may or may not be
//! there. Each round's kill time comes from a small PRNG seeded from the round, printed, so
//! a failure can be replayed with `WARREN_CRASH_SEED=<base seed>`.

use crate::common;
use common::ChildBroker;
use futures_lite::StreamExt;
use lapin::{options::*, types::FieldTable, BasicProperties, Connection, ExchangeKind};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROUNDS: u64 = 24;
const PUBLISHERS: usize = 3;
const QUEUES: [&str; 2] = ["crash.q0", "crash.q1"];
/// A durable fanout exchange bound to both queues.
const BOTH: &str = "crash.both";
/// Confirms a publisher may have outstanding.
const WINDOW: usize = 64;
/// A publisher stops after this many messages in a round (it is normally killed first).
const MAX_PER_ROUND: u64 = 50_000;
/// The longest wait for anything the broker should do promptly.
const WAIT: Duration = Duration::from_secs(15);

/// splitmix64: small, deterministic, good enough to pick kill times and body sizes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.next() % (hi_inclusive - lo + 1)
    }
}

/// Which queues message `n` of a publisher goes to: q0, q1, or both (through the fanout).
fn targets(n: u64) -> &'static [usize] {
    match n % 3 {
        0 => &[0],
        1 => &[1],
        _ => &[0, 1],
    }
}

/// The body for an id: the id, a separator, then a pattern derived from the id, so a
/// delivered body that is not exactly what was published is detected.
fn body_for(id: &str, len: usize) -> Vec<u8> {
    let seed = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    let mut out = format!("{id}|").into_bytes();
    out.extend((0..len).map(|i| (seed.wrapping_add(i as u32 * 7) % 251) as u8));
    out
}

fn parse_body(body: &[u8]) -> Option<(String, usize)> {
    let bar = body.iter().position(|b| *b == b'|')?;
    let id = std::str::from_utf8(&body[..bar]).ok()?.to_string();
    Some((id, body.len() - bar - 1))
}

async fn connect(url: &str) -> Connection {
    tokio::time::timeout(
        WAIT,
        Connection::connect(url, lapin::ConnectionProperties::default()),
    )
    .await
    .expect("connect in time")
    .expect("connects")
}

/// Declares the topology (idempotent: the same declarations every round).
async fn declare_topology(ch: &lapin::Channel) {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for q in QUEUES {
        ch.queue_declare(q.into(), durable, FieldTable::default())
            .await
            .expect("declare durable queue");
    }
    ch.exchange_declare(
        BOTH.into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("declare durable fanout");
    for q in QUEUES {
        ch.queue_bind(
            q.into(),
            BOTH.into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    }
}

/// Everything the test knows about the messages it sent and received.
#[derive(Default)]
struct Ledger {
    /// Every id a publisher tried to publish, with its body length and target queues.
    attempted: HashMap<String, (usize, &'static [usize])>,
    /// (id, queue) pairs whose publish was confirmed and that have not been seen since.
    owed: HashMap<(String, usize), u64>,
    /// How often each (id, queue) pair has been delivered, over all rounds.
    seen: HashMap<(String, usize), u32>,
    confirmed_total: u64,
    delivered_total: u64,
}

/// What one publisher task reports.
#[derive(Default)]
struct Published {
    attempted: Vec<(String, usize, &'static [usize])>,
    confirmed: Vec<String>,
    nacked: Vec<String>,
}

/// Publishes persistent messages with confirms until the connection dies (the kill).
async fn publisher(
    url: String,
    round: u64,
    p: usize,
    seed: u64,
    ready: tokio::sync::mpsc::Sender<()>,
    out: Arc<Mutex<Published>>,
) {
    let conn = connect(&url).await;
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    let _ = ready.send(()).await;
    drop(ready);
    let mut rng = Rng(seed);
    let mut pending: VecDeque<(String, lapin::PublisherConfirm)> = VecDeque::new();
    // Resolves the oldest outstanding confirm; false once the connection is gone.
    async fn settle_one(
        pending: &mut VecDeque<(String, lapin::PublisherConfirm)>,
        out: &Mutex<Published>,
    ) -> bool {
        let Some((id, confirm)) = pending.pop_front() else {
            return true;
        };
        match tokio::time::timeout(WAIT, confirm).await {
            Ok(Ok(c)) if c.is_ack() => {
                out.lock().unwrap().confirmed.push(id);
                true
            }
            Ok(Ok(_)) => {
                out.lock().unwrap().nacked.push(id);
                true
            }
            Ok(Err(_)) => false,
            Err(_) => panic!("publisher confirm for {id} neither came nor failed within {WAIT:?}"),
        }
    }
    for n in 0..MAX_PER_ROUND {
        let id = format!("r{round}-p{p}-{n}");
        let len = match rng.next() % 8 {
            0 => rng.range(4096, 40_000) as usize,
            _ => rng.range(0, 600) as usize,
        };
        let to = targets(n);
        out.lock().unwrap().attempted.push((id.clone(), len, to));
        let (exchange, key) = if to.len() == 2 {
            (BOTH, "")
        } else {
            ("", QUEUES[to[0]])
        };
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id(id.as_str().into());
        let sent = ch
            .basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                &body_for(&id, len),
                props,
            )
            .await;
        let Ok(confirm) = sent else { break };
        pending.push_back((id, confirm));
        if pending.len() >= WINDOW && !settle_one(&mut pending, &out).await {
            break;
        }
    }
    // Confirms that arrived before the connection died still count.
    while !pending.is_empty() {
        settle_one(&mut pending, &out).await;
    }
}

/// Consumes (and acks) everything in both queues, checking each delivery against the
/// ledger. Returns how many messages were drained.
async fn drain_and_check(conn: &Connection, ledger: &mut Ledger, round: u64) -> u64 {
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_qos(500, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut total = 0;
    for (qi, q) in QUEUES.iter().enumerate() {
        let declared = ch
            .queue_declare(
                (*q).into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the durable queue survived the crash");
        let count = declared.message_count() as u64;
        if count == 0 {
            continue;
        }
        let tag = format!("drain-{round}-{qi}");
        let mut consumer = ch
            .basic_consume(
                (*q).into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        for i in 0..count {
            let d = tokio::time::timeout(WAIT, consumer.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("round {round}: {q}: only {i} of {count} recovered messages delivered")
                })
                .expect("consumer stream open")
                .expect("delivery");
            let (id, len) = parse_body(&d.data)
                .unwrap_or_else(|| panic!("round {round}: {q}: unparseable body {:?}", d.data));
            let (want_len, want_to) = *ledger.attempted.get(&id).unwrap_or_else(|| {
                panic!("round {round}: {q}: delivered '{id}' was never published")
            });
            assert_eq!(
                len, want_len,
                "round {round}: {q}: '{id}' has the wrong length"
            );
            assert!(
                d.data == body_for(&id, len),
                "round {round}: {q}: '{id}' has a corrupted body"
            );
            assert!(
                want_to.contains(&qi),
                "round {round}: '{id}' was published to {want_to:?} but arrived in {q}"
            );
            assert_eq!(
                d.properties.message_id().as_ref().map(|m| m.as_str()),
                Some(id.as_str()),
                "round {round}: {q}: properties of '{id}' came back wrong"
            );
            let times = ledger.seen.entry((id.clone(), qi)).or_insert(0);
            *times += 1;
            assert!(
                *times == 1 || d.redelivered,
                "round {round}: {q}: '{id}' delivered again (time {times}) without redelivered"
            );
            // Everything in the queue after a restart was recovered from the store, which
            // Warren hands out marked redelivered.
            assert!(
                d.redelivered,
                "round {round}: {q}: recovered message '{id}' not marked redelivered"
            );
            ledger.owed.remove(&(id, qi));
            if i % 200 == 199 || i + 1 == count {
                d.acker
                    .ack(BasicAckOptions { multiple: true })
                    .await
                    .expect("ack");
            }
        }
        ch.basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await
            .expect("cancel");
        total += count;
    }
    ch.close(200, "drained".into())
        .await
        .expect("close channel");
    ledger.delivered_total += total;
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_persistent_messages_survive_repeated_sigkill() {
    let base_seed: u64 = std::env::var("WARREN_CRASH_SEED")
        .ok()
        .and_then(|s| {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            }
        })
        .unwrap_or(0x5EED_CAFE);
    println!("crash_recovery: base seed {base_seed:#x} (set WARREN_CRASH_SEED to replay)");
    let started = Instant::now();
    let mut ledger = Ledger::default();
    let mut dir = tempfile::tempdir().expect("tempdir");
    for round in 0..=ROUNDS {
        let broker = ChildBroker::spawn_in(dir, &[]);
        let url = broker.url();
        let conn = connect(&url).await;
        let setup = conn.create_channel().await.expect("channel");
        declare_topology(&setup).await;
        let drained = drain_and_check(&conn, &mut ledger, round).await;
        if !ledger.owed.is_empty() {
            let mut lost: Vec<_> = ledger.owed.iter().collect();
            lost.sort();
            let log = broker.log_lines().join("\n");
            panic!(
                "round {round} (base seed {base_seed:#x}): {} confirmed message copies lost \
                 after SIGKILL, e.g. {:?}\nbroker log:\n{log}",
                lost.len(),
                &lost[..lost.len().min(10)]
            );
        }
        if round == ROUNDS {
            conn.close(200, "done".into()).await.expect("close");
            broker.stop();
            println!(
                "crash_recovery: {ROUNDS} kills, {} confirmed messages, {} deliveries after \
                 restarts, {:?}",
                ledger.confirmed_total,
                ledger.delivered_total,
                started.elapsed()
            );
            break;
        }

        let seed = base_seed ^ (round + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = Rng(seed);
        let kill_after = Duration::from_millis(rng.range(50, 400));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(PUBLISHERS);
        let mut tasks = Vec::new();
        let mut outs = Vec::new();
        for p in 0..PUBLISHERS {
            let out = Arc::new(Mutex::new(Published::default()));
            outs.push(out.clone());
            tasks.push(tokio::spawn(publisher(
                url.clone(),
                round,
                p,
                rng.next(),
                ready_tx.clone(),
                out,
            )));
        }
        drop(ready_tx);
        for _ in 0..PUBLISHERS {
            tokio::time::timeout(WAIT, ready_rx.recv())
                .await
                .expect("publishers connect")
                .expect("a publisher failed to start");
        }
        // The random moment of the crash: this sleep is the point of the test.
        tokio::time::sleep(kill_after).await;
        dir = broker.kill();
        for t in tasks {
            tokio::time::timeout(WAIT, t)
                .await
                .expect("publishers notice the broker is gone")
                .expect("publisher task did not panic");
        }
        drop(setup);
        drop(conn);
        let (mut attempted, mut confirmed, mut nacked) = (0, 0, 0);
        for out in outs {
            let out = std::mem::take(&mut *out.lock().unwrap());
            attempted += out.attempted.len();
            confirmed += out.confirmed.len();
            nacked += out.nacked.len();
            for (id, len, to) in out.attempted {
                ledger.attempted.insert(id, (len, to));
            }
            for id in out.confirmed {
                let to = ledger.attempted[&id].1;
                for &q in to {
                    ledger.owed.insert((id.clone(), q), round);
                }
                ledger.confirmed_total += 1;
            }
        }
        println!(
            "round {round}: seed {seed:#x}: drained {drained}, killed after {kill_after:?} with \
             {attempted} publishes sent, {confirmed} confirmed, {nacked} nacked"
        );
        assert_eq!(
            nacked, 0,
            "round {round}: the broker nacked persistent publishes"
        );
    }
    assert!(
        ledger.confirmed_total > 0,
        "no publish was ever confirmed before a kill: the test proved nothing"
    );
}

//! What the data dir gives back after a restart of the real binary: confirmed messages
//! after a torn write at the end of the journal and after corruption in an older segment;
//! acked, transient and non-durable-queue messages gone, unacked ones back as redelivered;
//! durable metadata of every kind, with stored definitions winning over the config file;
//! fully-acked segment files deleted.

use crate::common;
use common::{amqp_code, ChildBroker};
use lapin::{options::*, types::AMQPValue, types::FieldTable, BasicProperties, Connection};
use lapin::{Channel, ExchangeKind};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

async fn connect(url: &str) -> Connection {
    tokio::time::timeout(
        WAIT,
        Connection::connect(url, lapin::ConnectionProperties::default()),
    )
    .await
    .expect("connect in time")
    .expect("connects")
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

fn passive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

/// A channel in confirm mode.
async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    ch
}

/// Publishes each body and waits for its confirm, which must be an ack.
async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    key: &str,
    bodies: &[Vec<u8>],
    props: BasicProperties,
) {
    let mut confirms = Vec::new();
    for b in bodies {
        confirms.push(
            ch.basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                b,
                props.clone(),
            )
            .await
            .expect("publish"),
        );
    }
    for c in confirms {
        let c = tokio::time::timeout(WAIT, c)
            .await
            .expect("confirm in time")
            .expect("confirm");
        assert!(c.is_ack(), "publish not acked: {c:?}");
    }
}

/// A message body: a name, then a recognisable filler of `len` bytes.
fn body(name: &str, len: usize) -> Vec<u8> {
    let mut out = format!("{name}:").into_bytes();
    out.extend((0..len).map(|i| b'a' + (i % 26) as u8));
    out
}

fn bodies(prefix: &str, n: usize, len: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| body(&format!("{prefix}{i}"), len)).collect()
}

/// Takes every ready message with basic.get: (body, redelivered). With `ack`, each is acked;
/// without, they stay unacked on the channel.
async fn get_all(ch: &Channel, q: &str, ack: bool) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    loop {
        let got = tokio::time::timeout(WAIT, ch.basic_get(q.into(), BasicGetOptions::default()))
            .await
            .expect("basic.get in time")
            .expect("basic.get");
        let Some(m) = got else { break };
        if ack {
            m.delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .expect("ack");
        }
        out.push((m.delivery.data, m.delivery.redelivered));
    }
    out
}

fn messages_dir(data: &Path) -> PathBuf {
    data.join("messages")
}

/// The store's segment and ack files, sorted by name.
fn store_files(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(messages_dir(data))
        .expect("messages dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".seg") || n.ends_with(".ack"))
        .collect();
    names.sort();
    names
}

/// The highest-numbered segment file.
fn last_segment(data: &Path) -> PathBuf {
    let name = store_files(data)
        .into_iter()
        .rfind(|n| n.ends_with(".seg"))
        .expect("a segment file");
    messages_dir(data).join(name)
}

/// Record offsets and payload lengths of a segment file (`[u32 len][u32 crc][payload]`).
fn records(path: &Path) -> Vec<(usize, usize)> {
    let data = std::fs::read(path).expect("read segment");
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        if pos + 8 + len > data.len() {
            break;
        }
        out.push((pos, len));
        pos += 8 + len;
    }
    assert_eq!(pos, data.len(), "{} parses to its end", path.display());
    out
}

fn grep<'a>(log: &'a [String], needles: &[&str]) -> Option<&'a String> {
    log.iter().find(|l| needles.iter().all(|n| l.contains(n)))
}

/// Blocking wait for a child broker to stop (SIGTERM), off the async runtime.
async fn stop(b: ChildBroker) -> tempfile::TempDir {
    tokio::task::spawn_blocking(move || b.stop())
        .await
        .expect("stop")
}

async fn kill(b: ChildBroker) -> tempfile::TempDir {
    tokio::task::spawn_blocking(move || b.kill())
        .await
        .expect("kill")
}

/// (a) A torn append at the end of the last segment (a header promising 1000 bytes, then
/// only 10) is truncated on start; every confirmed message is back, and the truncated
/// segment stays clean for the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_of_the_last_segment_is_truncated_and_confirmed_messages_survive() {
    let b = ChildBroker::spawn(&[]);
    let conn = connect(&b.url()).await;
    let ch = confirm_channel(&conn).await;
    ch.queue_declare("torn.q".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    let sent = bodies("torn-", 200, 700);
    publish_confirmed(&ch, "", "torn.q", &sent, persistent()).await;
    let dir = kill(b).await;

    let seg = last_segment(dir.path());
    let clean_len = std::fs::metadata(&seg).unwrap().len();
    assert!(
        clean_len > 0,
        "the confirmed messages are in {}",
        seg.display()
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    let mut garbage = 1000u32.to_be_bytes().to_vec();
    garbage.extend_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4, 5, 6]);
    f.write_all(&garbage).unwrap();
    drop(f);

    let b = ChildBroker::spawn_in(dir, &[]);
    let log = b.log_lines();
    assert!(
        grep(&log, &["torn", "14 bytes"]).is_some(),
        "the broker reports the torn tail it truncated; log:\n{}",
        log.join("\n")
    );
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        clean_len,
        "the torn tail was cut off {}",
        seg.display()
    );
    let conn = connect(&b.url()).await;
    let ch = conn.create_channel().await.unwrap();
    let got = get_all(&ch, "torn.q", false).await;
    let bodies_got: Vec<_> = got.iter().map(|(b, _)| b.clone()).collect();
    assert_eq!(
        bodies_got.len(),
        sent.len(),
        "every confirmed message is back"
    );
    assert!(
        bodies_got == sent,
        "the messages come back intact and in order"
    );
    assert!(
        got.iter().all(|(_, r)| *r),
        "recovered messages are redelivered"
    );
    // Left unacked: the next start must find them again, with no torn tail this time.
    let dir = stop(b).await;
    let b = ChildBroker::spawn_in(dir, &[]);
    let log = b.log_lines();
    assert!(
        grep(&log, &["torn"]).is_none(),
        "the truncated segment is clean now; log:\n{}",
        log.join("\n")
    );
    let conn = connect(&b.url()).await;
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare("torn.q".into(), passive(), FieldTable::default())
        .await
        .unwrap();
    assert_eq!(q.message_count() as usize, sent.len());
    let got = get_all(&ch, "torn.q", true).await;
    assert!(got.iter().map(|(b, _)| b).eq(sent.iter()));
    stop(b).await;
}

/// (b) One flipped byte inside a record of an older segment: the broker still starts, says
/// how many bytes of that segment are lost, delivers the records before the damage and
/// everything from the later segment, and never delivers the damaged record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_record_in_an_older_segment_loses_only_the_rest_of_that_segment() {
    // First start: batch A goes into segment 1.
    let b = ChildBroker::spawn(&[]);
    let conn = connect(&b.url()).await;
    let ch = confirm_channel(&conn).await;
    ch.queue_declare("corrupt.q".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    let a = bodies("a-", 40, 1000);
    publish_confirmed(&ch, "", "corrupt.q", &a, persistent()).await;
    let dir = stop(b).await;
    assert_eq!(store_files(dir.path()), ["00000001.seg"]);

    // Second start: batch B goes into segment 2.
    let b = ChildBroker::spawn_in(dir, &[]);
    let conn = connect(&b.url()).await;
    let ch = confirm_channel(&conn).await;
    let bb = bodies("b-", 30, 1000);
    publish_confirmed(&ch, "", "corrupt.q", &bb, persistent()).await;
    let dir = stop(b).await;
    assert_eq!(
        store_files(dir.path()),
        ["00000001.seg", "00000002.seg"],
        "each start begins a new segment"
    );

    // Flip a byte in the middle of record 25 of segment 1.
    let seg1 = messages_dir(dir.path()).join("00000001.seg");
    let recs = records(&seg1);
    assert_eq!(recs.len(), a.len());
    let bad = 25;
    let (offset, len) = recs[bad];
    let mut data = std::fs::read(&seg1).unwrap();
    data[offset + 8 + len / 2] ^= 0x20;
    std::fs::write(&seg1, &data).unwrap();
    let lost_bytes = data.len() - offset;

    let b = ChildBroker::spawn_in(dir, &[]);
    let log = b.log_lines();
    let line = grep(&log, &["segment 1", "lost"]).unwrap_or_else(|| {
        panic!(
            "the log reports the damage in segment 1; log:\n{}",
            log.join("\n")
        )
    });
    assert!(
        line.contains(&format!("{lost_bytes} bytes")) && line.contains(&offset.to_string()),
        "the log says {lost_bytes} bytes after offset {offset} are lost: {line}"
    );
    let conn = connect(&b.url()).await;
    let ch = conn.create_channel().await.unwrap();
    let got: Vec<Vec<u8>> = get_all(&ch, "corrupt.q", true)
        .await
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    let want: Vec<Vec<u8>> = a[..bad].iter().chain(bb.iter()).cloned().collect();
    assert_eq!(
        got.len(),
        want.len(),
        "records of segment 1 before the damage plus all of segment 2"
    );
    assert!(got == want, "exactly those messages, intact and in order");
    // The broker still works normally.
    common::assert_broker_works(&b.url()).await;
    stop(b).await;
}

/// (c) What a restart keeps: unacked and undelivered persistent messages (as redelivered, in
/// order); not acked or rejected ones, not transient ones, not a non-durable queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_unsettled_persistent_messages_in_durable_queues_come_back() {
    let b = ChildBroker::spawn(&[]);
    let conn = connect(&b.url()).await;
    let ch = confirm_channel(&conn).await;
    ch.queue_declare("keep.q".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    ch.queue_declare(
        "temp.q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    // Interleave persistent and transient messages in the durable queue.
    for i in 0..8 {
        publish_confirmed(
            &ch,
            "",
            "keep.q",
            &[body(&format!("p{i}"), 100)],
            persistent(),
        )
        .await;
        publish_confirmed(
            &ch,
            "",
            "keep.q",
            &[body(&format!("t{i}"), 100)],
            BasicProperties::default().with_delivery_mode(1),
        )
        .await;
    }
    publish_confirmed(&ch, "", "temp.q", &[body("nd", 10)], persistent()).await;

    // p0 acked, t0 acked, p1 rejected (no requeue), t1 acked, p2 and t2 left unacked.
    let consumer = conn.create_channel().await.unwrap();
    let mut held = Vec::new();
    for i in 0..6 {
        let m = consumer
            .basic_get("keep.q".into(), BasicGetOptions::default())
            .await
            .unwrap()
            .expect("a message");
        let name = String::from_utf8_lossy(&m.delivery.data[..2]).to_string();
        match i {
            2 => {
                m.delivery
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await
                    .unwrap();
            }
            4 | 5 => held.push(m),
            _ => {
                m.delivery
                    .acker
                    .ack(BasicAckOptions::default())
                    .await
                    .unwrap();
            }
        }
        let expect = ["p0", "t0", "p1", "t1", "p2", "t2"][i];
        assert_eq!(name, expect, "delivery {i}");
    }
    // A round trip on the consumer channel: the acks above have been processed.
    consumer
        .queue_declare("keep.q".into(), passive(), FieldTable::default())
        .await
        .unwrap();
    let dir = stop(b).await;

    let b = ChildBroker::spawn_in(dir, &[]);
    let conn = connect(&b.url()).await;
    let ch = conn.create_channel().await.unwrap();
    let got = get_all(&ch, "keep.q", true).await;
    let names: Vec<String> = got
        .iter()
        .map(|(b, _)| {
            String::from_utf8_lossy(&b[..b.iter().position(|c| *c == b':').unwrap()]).to_string()
        })
        .collect();
    assert_eq!(
        names,
        ["p2", "p3", "p4", "p5", "p6", "p7"],
        "the unacked persistent message and the undelivered ones, in order; no transient ones"
    );
    assert!(
        got.iter().all(|(_, redelivered)| *redelivered),
        "recovered messages are marked redelivered"
    );
    assert_eq!(got[0].0, body("p2", 100));
    let err = ch
        .queue_declare("temp.q".into(), passive(), FieldTable::default())
        .await
        .expect_err("the non-durable queue is gone");
    assert_eq!(amqp_code(&err), Some(404), "{err}");
    drop(held);
    stop(b).await;
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("warren.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn field_table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

/// (d) Every kind of durable metadata survives a restart, and once the data dir exists its
/// stored users, vhosts and permissions win over a changed config file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_of_every_kind_survives_and_stored_definitions_beat_the_config() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = write_config(
        cfg_dir.path(),
        r#"
[[users]]
name = "alice"
password = "first"
tags = ["administrator"]

[[vhosts]]
name = "/"

[[vhosts]]
name = "shop"

[[permissions]]
user = "alice"
vhost = "shop"

[[permissions]]
user = "alice"
vhost = "/"
configure = "^alice-"
write = ".*"
read = ".*"
"#,
    );
    let config_arg = config.to_str().unwrap().to_string();
    let b = ChildBroker::spawn(&["--config", &config_arg]);
    let shop = |addr, user: &str, pw: &str| format!("amqp://{user}:{pw}@{addr}/shop");
    let conn = connect(&shop(b.addr, "alice", "first")).await;
    let ch = conn.create_channel().await.unwrap();
    let dx = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let ae_args = field_table(&[("alternate-exchange", AMQPValue::LongString("ae".into()))]);
    ch.exchange_declare("ae".into(), ExchangeKind::Fanout, dx, FieldTable::default())
        .await
        .unwrap();
    ch.exchange_declare("main.x".into(), ExchangeKind::Topic, dx, ae_args.clone())
        .await
        .unwrap();
    ch.exchange_declare(
        "dest.x".into(),
        ExchangeKind::Direct,
        dx,
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.exchange_bind(
        "dest.x".into(),
        "main.x".into(),
        "k.#".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let q_args = field_table(&[
        ("x-max-length", AMQPValue::LongLongInt(1000)),
        ("x-message-ttl", AMQPValue::LongInt(600_000)),
        ("x-dead-letter-exchange", AMQPValue::LongString("ae".into())),
    ]);
    ch.queue_declare("args.q".into(), durable(), q_args.clone())
        .await
        .unwrap();
    ch.queue_declare("ae.q".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    ch.queue_bind(
        "ae.q".into(),
        "ae".into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        "args.q".into(),
        "dest.x".into(),
        "k.1".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    conn.close(200, "bye".into()).await.unwrap();
    let dir = stop(b).await;

    // The stored definitions name the exchange-to-exchange binding.
    let defs = warren::store::definitions::load(&dir.path().join("definitions.json"))
        .expect("definitions load")
        .expect("definitions.json exists");
    assert!(
        defs.bindings.iter().any(|b| b.source == "main.x"
            && b.destination == "dest.x"
            && b.destination_type == warren::store::definitions::DestinationType::Exchange),
        "{:?}",
        defs.bindings
    );

    // The config now says something else: alice's password changed, a new user and vhost.
    write_config(
        cfg_dir.path(),
        r#"
[[users]]
name = "alice"
password = "second"
tags = ["administrator"]

[[users]]
name = "carol"
password = "c"

[[vhosts]]
name = "/"

[[vhosts]]
name = "shop"

[[vhosts]]
name = "other"

[[permissions]]
user = "carol"
vhost = "shop"

[[permissions]]
user = "alice"
vhost = "/"
"#,
    );
    let b = ChildBroker::spawn_in(dir, &["--config", &config_arg]);
    let props = lapin::ConnectionProperties::default;
    let err = Connection::connect(&shop(b.addr, "alice", "second"), props())
        .await
        .expect_err("the config's new password does not override the stored user");
    assert_eq!(amqp_code(&err), Some(403), "{err}");
    let err = Connection::connect(&shop(b.addr, "carol", "c"), props())
        .await
        .expect_err("a user only in the new config does not exist");
    assert_eq!(amqp_code(&err), Some(403), "{err}");

    // The stored permission on "/" (configure only ^alice-) is still the one in force.
    let root = connect(&format!("amqp://alice:first@{}/%2f", b.addr)).await;
    let rch = root.create_channel().await.unwrap();
    rch.queue_declare(
        "alice-ok".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("configure ^alice- allowed");
    let err = rch
        .queue_declare(
            "not-alice".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect_err("configure outside ^alice- is refused, as stored");
    assert_eq!(amqp_code(&err), Some(403), "{err}");
    // The vhost that only the new config names was not created.
    let err = Connection::connect(&format!("amqp://alice:first@{}/other", b.addr), props())
        .await
        .expect_err("vhost 'other' does not exist");
    assert!(matches!(amqp_code(&err), Some(530) | Some(403)), "{err}");

    let conn = connect(&shop(b.addr, "alice", "first")).await;
    let ch = conn.create_channel().await.unwrap();
    // Same declarations are equivalent: kinds, durability and arguments were restored.
    ch.exchange_declare("main.x".into(), ExchangeKind::Topic, dx, ae_args.clone())
        .await
        .expect("main.x is a durable topic exchange with its alternate-exchange");
    ch.queue_declare("args.q".into(), durable(), q_args.clone())
        .await
        .expect("args.q has the same arguments");
    // The alternate exchange works: an unroutable publish lands in ae.q.
    ch.basic_publish(
        "main.x".into(),
        "nomatch".into(),
        BasicPublishOptions::default(),
        b"to-ae",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    // The exchange-to-exchange binding works: k.1 goes main.x -> dest.x -> args.q.
    ch.basic_publish(
        "main.x".into(),
        "k.1".into(),
        BasicPublishOptions::default(),
        b"via-e2e",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    let get = |q: &'static str| {
        let ch = ch.clone();
        async move {
            ch.basic_get(q.into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap()
                .map(|m| m.delivery.data)
        }
    };
    assert_eq!(get("ae.q").await.as_deref(), Some(&b"to-ae"[..]));
    assert_eq!(get("args.q").await.as_deref(), Some(&b"via-e2e"[..]));
    // Different arguments are not equivalent: the stored ones are really there.
    let other = field_table(&[("x-max-length", AMQPValue::LongLongInt(5))]);
    let err = ch
        .queue_declare("args.q".into(), durable(), other)
        .await
        .expect_err("different x-max-length");
    assert_eq!(amqp_code(&err), Some(406), "{err}");
    let ch = conn.create_channel().await.unwrap();
    let err = ch
        .exchange_declare(
            "main.x".into(),
            ExchangeKind::Topic,
            dx,
            FieldTable::default(),
        )
        .await
        .expect_err("main.x without its alternate-exchange argument");
    assert_eq!(amqp_code(&err), Some(406), "{err}");
    stop(b).await;
}

/// Waits (bounded) until `cond` holds; nothing signals file deletion, so this polls.
async fn eventually(data: &Path, what: &str, mut cond: impl FnMut(&[String]) -> bool) {
    let start = Instant::now();
    loop {
        let files = store_files(data);
        if cond(&files) {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "timed out waiting for: {what}; files in messages/: {files:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn has(files: &[String], name: &str) -> bool {
    files.iter().any(|f| f == name)
}

fn none_of(files: &[String], segment: u32) -> bool {
    let prefix = format!("{segment:08}.");
    !files.iter().any(|f| f.starts_with(&prefix))
}

/// (e) A segment whose messages have all been acked is deleted, at run time or on the next
/// start; one with most of its messages still live is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fully_acked_segments_are_deleted_and_mostly_live_ones_kept() {
    let b = ChildBroker::spawn(&[]);
    let conn = connect(&b.url()).await;
    let ch = confirm_channel(&conn).await;
    ch.queue_declare("reclaim.q".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    let first = bodies("one-", 50, 2000);
    publish_confirmed(&ch, "", "reclaim.q", &first, persistent()).await;
    let dir = stop(b).await;
    assert_eq!(store_files(dir.path()), ["00000001.seg"]);

    // Start 2: segment 1 is still needed; ack all of it while running.
    let b = ChildBroker::spawn_in(dir, &[]);
    assert_eq!(store_files(b.data_dir()), ["00000001.seg", "00000002.seg"]);
    let conn = connect(&b.url()).await;
    let ch = confirm_channel(&conn).await;
    let got = get_all(&ch, "reclaim.q", true).await;
    assert_eq!(got.len(), first.len());
    let data = b.data_dir().to_path_buf();
    eventually(
        &data,
        "segment 1 and its ack file are deleted once fully acked",
        |files| none_of(files, 1) && has(files, "00000002.seg"),
    )
    .await;
    // Segment 2: 20 messages, 5 acked (most still live: not worth compacting either).
    let second = bodies("two-", 20, 2000);
    publish_confirmed(&ch, "", "reclaim.q", &second, persistent()).await;
    // A fresh channel, so the delivery tags are 1..=20.
    let ch = conn.create_channel().await.unwrap();
    let got = get_all(&ch, "reclaim.q", false).await;
    assert_eq!(got.len(), 20);
    ch.basic_ack(5, BasicAckOptions { multiple: true })
        .await
        .unwrap();
    ch.basic_nack(
        20,
        BasicNackOptions {
            multiple: true,
            requeue: true,
        },
    )
    .await
    .unwrap();
    let q = ch
        .queue_declare("reclaim.q".into(), passive(), FieldTable::default())
        .await
        .unwrap();
    assert_eq!(q.message_count(), 15);
    let dir = stop(b).await;
    let files = store_files(dir.path());
    assert!(has(&files, "00000002.seg"), "segment 2 is kept: {files:?}");

    // Start 3: segment 2 kept (15 live); acking them deletes it.
    let b = ChildBroker::spawn_in(dir, &[]);
    let files = store_files(b.data_dir());
    assert!(
        has(&files, "00000002.seg") && has(&files, "00000003.seg") && none_of(&files, 1),
        "{files:?}"
    );
    let conn = connect(&b.url()).await;
    let ch = conn.create_channel().await.unwrap();
    let got: Vec<Vec<u8>> = get_all(&ch, "reclaim.q", true)
        .await
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    assert!(
        got == second[5..],
        "the 15 unacked messages of segment 2 came back, in order"
    );
    let data = b.data_dir().to_path_buf();
    eventually(
        &data,
        "segment 2 and its ack file are deleted once fully acked",
        |files| none_of(files, 2) && has(files, "00000003.seg"),
    )
    .await;
    let dir = stop(b).await;

    // Start 4: nothing live, so segment 3 goes too.
    let b = ChildBroker::spawn_in(dir, &[]);
    assert_eq!(store_files(b.data_dir()), ["00000004.seg"]);
    stop(b).await;
}

/// (f) Compaction: an old segment whose messages are mostly acked has its live messages
/// moved to the current segment and is deleted; the moved messages survive a SIGKILL and
/// restart exactly once, in their original order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mostly_acked_segment_is_compacted_and_its_live_messages_survive() {
    let b = ChildBroker::spawn(&[]);
    let conn = connect(&b.url()).await;
    let ch = confirm_channel(&conn).await;
    ch.queue_declare("compact.q".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    let sent = bodies("c-", 20, 3000);
    publish_confirmed(&ch, "", "compact.q", &sent, persistent()).await;
    let ch = conn.create_channel().await.unwrap();
    let got = get_all(&ch, "compact.q", false).await;
    assert_eq!(got.len(), 20);
    ch.basic_ack(15, BasicAckOptions { multiple: true })
        .await
        .unwrap();
    ch.basic_nack(
        20,
        BasicNackOptions {
            multiple: true,
            requeue: true,
        },
    )
    .await
    .unwrap();
    let q = ch
        .queue_declare("compact.q".into(), passive(), FieldTable::default())
        .await
        .unwrap();
    assert_eq!(q.message_count(), 5);
    let dir = stop(b).await;

    // Start 2: segment 1 (5 live of 20) is compacted into segment 2 and deleted.
    let b = ChildBroker::spawn_in(dir, &[]);
    let data = b.data_dir().to_path_buf();
    eventually(&data, "segment 1 is compacted away", |files| {
        none_of(files, 1) && has(files, "00000002.seg")
    })
    .await;
    let dir = kill(b).await;

    let b = ChildBroker::spawn_in(dir, &[]);
    let conn = connect(&b.url()).await;
    let ch = conn.create_channel().await.unwrap();
    let got = get_all(&ch, "compact.q", true).await;
    let bodies_got: Vec<Vec<u8>> = got.iter().map(|(b, _)| b.clone()).collect();
    assert_eq!(bodies_got.len(), 5, "the 5 live messages, once each");
    assert!(
        bodies_got == sent[15..],
        "intact and in their original order"
    );
    assert!(got.iter().all(|(_, r)| *r));
    stop(b).await;
}

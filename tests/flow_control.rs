//! Publisher flow control: a publisher that outruns the consumers of a queue is paused until
//! the queue drains, so the backlog stays bounded; a consumer that stopped acking slows
//! publishers but never stops them.

use crate::common;
use common::{unique, TestBroker};
use futures_lite::StreamExt;
use lapin::{options::*, types::FieldTable, BasicProperties, Connection, Consumer};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Ready messages above which publishers pause (src/queue/mod.rs `FLOW_HIGH`), plus reads of
/// the publisher's socket that a loaded machine may let in while the consumer gets no CPU
/// (each pause ends after 250 ms without progress). With pauses of a fixed 50 ms instead, the
/// backlog here reached about 21,000 on an idle machine.
const BOUND: usize = 10_000 + 15_000;

/// A consumer on a new queue `q` with this prefetch (its connection kept alive with it).
async fn consumer(broker: &TestBroker, q: &str, prefetch: u16) -> (Connection, Consumer) {
    let conn = broker.connect().await;
    let ch = conn.create_channel().await.expect("channel");
    common::declare_queue(&ch, q).await;
    ch.basic_qos(prefetch, BasicQosOptions::default())
        .await
        .expect("qos");
    let consumer = ch
        .basic_consume(
            q.into(),
            "c".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    (conn, consumer)
}

/// Publishes message `i` (its index as the body) to `q` through the default exchange.
async fn publish(ch: &lapin::Channel, q: &str, i: usize) -> lapin::PublisherConfirm {
    ch.basic_publish(
        "".into(),
        q.into(),
        BasicPublishOptions::default(),
        &(i as u64).to_be_bytes(),
        BasicProperties::default(),
    )
    .await
    .expect("publish")
}

fn ready(broker: &TestBroker, q: &str) -> usize {
    let vhost = broker.broker().vhost("/").expect("vhost");
    vhost.queue(q).map_or(0, |q| q.counts().ready as usize)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_faster_than_the_consumer_is_paused_and_the_backlog_stays_bounded() {
    let broker = TestBroker::start().await;
    let q = unique("flow");
    const N: usize = 60_000;
    let (_consumer_conn, mut consumer) = consumer(&broker, &q, 50).await;
    // A deliberately slow consumer: it acks in batches of 50 with a pause in between.
    let consumed = Arc::new(AtomicUsize::new(0));
    let counter = consumed.clone();
    let consuming = tokio::spawn(async move {
        let mut n = 0;
        while let Some(d) = consumer.next().await {
            let d = d.expect("delivery");
            n += 1;
            if n % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
                d.ack(BasicAckOptions { multiple: true })
                    .await
                    .expect("ack");
            }
            counter.store(n, Ordering::Relaxed);
            if n == N {
                break;
            }
        }
    });
    // Sample the backlog while the publisher runs flat out (no confirms).
    let done = Arc::new(AtomicBool::new(false));
    let (flag, b, qn) = (done.clone(), broker.broker().clone(), q.clone());
    let sampler = tokio::spawn(async move {
        let mut max = 0;
        while !flag.load(Ordering::Relaxed) {
            let vhost = b.vhost("/").expect("vhost");
            if let Some(q) = vhost.queue(&qn) {
                max = max.max(q.counts().ready as usize);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        max
    });
    let conn = broker.connect().await;
    let ch = conn.create_channel().await.expect("channel");
    for i in 0..N {
        publish(&ch, &q, i).await;
    }
    tokio::time::timeout(Duration::from_secs(120), consuming)
        .await
        .expect("every message consumed in time")
        .expect("consumer task");
    done.store(true, Ordering::Relaxed);
    let max = sampler.await.expect("sampler");
    assert_eq!(consumed.load(Ordering::Relaxed), N);
    assert!(
        max <= BOUND,
        "the backlog reached {max} ready messages while a consumer was attached"
    );
    assert!(max > 0, "the sampler never saw the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_stopped_acking_slows_publishers_but_never_stops_them() {
    let broker = TestBroker::start().await;
    let q = unique("stuck");
    const N: usize = 30_000;
    let (_consumer_conn, _consumer) = consumer(&broker, &q, 1).await;
    let conn = broker.connect().await;
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let publish_all = async {
        let mut pending = Vec::with_capacity(N);
        for i in 0..N {
            pending.push(publish(&ch, &q, i).await);
        }
        for c in pending {
            assert!(c.await.expect("confirm").is_ack());
        }
    };
    tokio::time::timeout(Duration::from_secs(120), publish_all)
        .await
        .expect("a stuck consumer must not stop the publisher");
    // One message sits unacked with the consumer; the rest are ready.
    assert_eq!(ready(&broker, &q), N - 1);
}

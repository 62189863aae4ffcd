//! Samples message statistics and queue lengths every `stats::SAMPLE_INTERVAL`, off the
//! publish and deliver paths: each queue (and whether it is idle), exchange and channel,
//! each vhost's totals (its closed channels' counts plus its open ones'), and the node's.

use super::Broker;
use crate::stats::{Snapshot, Totals, SAMPLE_INTERVAL};
use ahash::HashMap;
use std::sync::Arc;
use std::time::Instant;

pub(crate) async fn run(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = broker.shutdown_signal() => return,
        }
        sample(&broker, Instant::now());
    }
}

/// One round of sampling.
pub(crate) fn sample(broker: &Broker, now: Instant) {
    let mut per_vhost: HashMap<String, Totals> = HashMap::default();
    for c in broker.clients.all() {
        c.sample(now);
        let vhost = c.info().vhost;
        let t = per_vhost.entry(vhost).or_default();
        for ch in c.channels() {
            t.add_parts(&ch.stats.counts, &ch.stats.rates);
        }
    }
    let mut node = Totals::default();
    let mut lengths = [0u64; 3];
    let now_ms = crate::message::now_ms();
    for vh in broker.vhosts() {
        for q in vh.queues() {
            for (t, v) in lengths.iter_mut().zip(q.sample(now, now_ms)) {
                *t += v;
            }
        }
        for x in vh.exchanges() {
            x.stats.sample(now);
        }
        let mut counts = vh.retired_stats.counts();
        if let Some(open) = per_vhost.get(&vh.name) {
            for (c, o) in counts.iter_mut().zip(open.counts) {
                *c += o;
            }
        }
        vh.stats.sample(now, counts);
        let (counts, rates) = vh.stats.last();
        node.add_parts(&counts, &rates);
    }
    broker.stats.sample(now, node.counts);
    broker.history.push(Snapshot {
        at_ms: now_ms,
        counts: node.counts,
        lengths,
    });
    broker.watched.sample(broker, now);
}

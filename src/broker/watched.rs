//! Sample histories of single queues, exchanges and vhosts, kept only for the ones someone
//! looks at. RabbitMQ keeps ten minutes of samples for every object, which costs memory
//! per queue; here a history starts when the API is first asked for an object's samples
//! (`msg_rates_age`, `lengths_age`), grows while it is asked again, and is dropped after
//! [`IDLE`] without a request. At most [`MAX_WATCHED`] objects are watched at once (the
//! least recently asked is dropped first), each keeping [`WATCHED_LEN`] samples.

use super::Broker;
use crate::stats::{History, Snapshot};
use ahash::HashMap;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ten minutes at one sample every five seconds, as RabbitMQ's `basic` retention.
pub(crate) const WATCHED_LEN: usize = 120;
pub(crate) const MAX_WATCHED: usize = 1000;
pub(crate) const IDLE: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Queue,
    Exchange,
    Vhost,
}

type Key = (Kind, String, String);

struct Entry {
    history: Arc<History>,
    asked: Instant,
}

#[derive(Default)]
pub(crate) struct Watched(Mutex<HashMap<Key, Entry>>);

impl Watched {
    /// The history of one object, watched from now on if it was not yet.
    pub(crate) fn history(
        &self,
        broker: &Broker,
        kind: Kind,
        vhost: &str,
        name: &str,
    ) -> Arc<History> {
        let key = (kind, vhost.to_string(), name.to_string());
        let now = Instant::now();
        if let Some(e) = self.0.lock().get_mut(&key) {
            e.asked = now;
            return e.history.clone();
        }
        // The first sample is read before the lock (a vhost's sums its queues).
        let history = Arc::new(History::with_capacity(WATCHED_LEN));
        if let Some(s) = snapshot(broker, &key) {
            history.push(s);
        }
        let mut map = self.0.lock();
        if let Some(e) = map.get_mut(&key) {
            e.asked = now;
            return e.history.clone();
        }
        if map.len() >= MAX_WATCHED {
            let oldest = map
                .iter()
                .min_by_key(|(_, e)| e.asked)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(
            key,
            Entry {
                history: history.clone(),
                asked: now,
            },
        );
        history
    }

    /// One sampling round: drops the objects nobody asked about lately or that are gone,
    /// and records the others.
    pub(crate) fn sample(&self, broker: &Broker, now: Instant) {
        let watched: Vec<(Key, Arc<History>)> = {
            let mut map = self.0.lock();
            map.retain(|_, e| now.saturating_duration_since(e.asked) < IDLE);
            map.iter()
                .map(|(k, e)| (k.clone(), e.history.clone()))
                .collect()
        };
        for (key, history) in watched {
            match snapshot(broker, &key) {
                Some(s) => history.push(s),
                None => {
                    self.0.lock().remove(&key);
                }
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().len()
    }
}

/// An object's counts and lengths now; `None` once it is gone.
fn snapshot(broker: &Broker, (kind, vhost, name): &Key) -> Option<Snapshot> {
    let vh = broker.vhost(vhost)?;
    let length = |q: &crate::queue::Queue| {
        let c = q.counts();
        let (ready, unacked) = (u64::from(c.ready), u64::from(c.unacked));
        [ready + unacked, ready, unacked]
    };
    let (counts, lengths) = match kind {
        Kind::Queue => {
            let q = vh.queue(name)?;
            (q.message_counts(), length(&q))
        }
        Kind::Exchange => (vh.exchange(name)?.stats.counts(), [0; 3]),
        Kind::Vhost => {
            let mut total = [0u64; 3];
            for q in vh.queues() {
                for (t, l) in total.iter_mut().zip(length(&q)) {
                    *t += l;
                }
            }
            (vh.stats.last().0, total)
        }
    };
    Some(Snapshot {
        at_ms: crate::message::now_ms(),
        counts,
        lengths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_at_most_max_and_forgets_the_idle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = crate::config::Config {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let broker = Broker::open(config).expect("broker");
        let w = Watched::default();
        for i in 0..MAX_WATCHED + 10 {
            w.history(&broker, Kind::Exchange, "/", &format!("x{i}"));
        }
        assert_eq!(w.len(), MAX_WATCHED);
        // Objects that do not exist are dropped at the next round, like idle ones.
        w.sample(&broker, Instant::now());
        assert_eq!(w.len(), 0);
        let h = w.history(&broker, Kind::Exchange, "/", "amq.direct");
        w.sample(&broker, Instant::now());
        assert_eq!(w.len(), 1);
        assert_eq!(h.series(60, 5, |s| s.counts[0]).samples.len(), 1);
        w.sample(&broker, Instant::now() + IDLE);
        assert_eq!(w.len(), 0);
    }
}

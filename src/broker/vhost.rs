//! A virtual host: its exchanges and queues, and routing between them. The maps are behind
//! per-vhost read-mostly locks held only for a lookup, never across an `.await`.

use super::exchange::{Dest, Exchange, ExchangeKind};
use crate::queue::{Consumer, Queue};
use crate::store::definitions::VhostDefinition;
use crate::store::meta_model::Change;
use ahash::{HashMap, HashMapExt};
use amq_protocol::types::{AMQPValue, FieldTable};
use parking_lot::RwLock;
use smallvec::{smallvec, SmallVec};
use std::sync::{Arc, Weak};

pub struct Vhost {
    pub name: String,
    /// Description, tags, default queue type, tracing: what `PUT /api/vhosts` changes.
    meta: RwLock<VhostDefinition>,
    exchanges: RwLock<HashMap<String, Arc<Exchange>>>,
    queues: RwLock<HashMap<String, Arc<Queue>>>,
    /// Direct reply-to addresses and the consumers behind them.
    pub reply_channels: RwLock<HashMap<Arc<str>, Weak<dyn Consumer>>>,
    /// Message counts of the vhost's closed channels.
    pub(crate) retired_stats: crate::stats::Counters,
    /// The vhost's counts (closed and open channels), sampled for rates.
    pub(crate) stats: crate::stats::Rates,
}

/// The exchanges every vhost starts with.
const PREDECLARED: &[(&str, ExchangeKind, bool)] = &[
    ("", ExchangeKind::Direct, false),
    ("amq.direct", ExchangeKind::Direct, false),
    ("amq.fanout", ExchangeKind::Fanout, false),
    ("amq.topic", ExchangeKind::Topic, false),
    ("amq.headers", ExchangeKind::Headers, false),
    ("amq.match", ExchangeKind::Headers, false),
    ("amq.rabbitmq.trace", ExchangeKind::Topic, true),
];

impl Vhost {
    pub fn new(name: &str) -> Arc<Self> {
        let mut exchanges = HashMap::new();
        for (n, kind, internal) in PREDECLARED {
            let ex = Exchange::new(
                n.to_string(),
                *kind,
                true,
                false,
                *internal,
                FieldTable::default(),
            );
            exchanges.insert(n.to_string(), ex);
        }
        Arc::new(Self {
            name: name.to_string(),
            meta: RwLock::new(VhostDefinition::named(name, "")),
            exchanges: RwLock::new(exchanges),
            queues: RwLock::new(HashMap::new()),
            reply_channels: RwLock::new(HashMap::new()),
            retired_stats: Default::default(),
            stats: Default::default(),
        })
    }

    /// The vhost as stored: name, description, tags, tracing.
    pub fn definition(&self) -> VhostDefinition {
        self.meta.read().clone()
    }

    pub(crate) fn set_definition(&self, def: &VhostDefinition) {
        *self.meta.write() = def.clone();
    }

    pub fn description(&self) -> String {
        self.meta.read().description.clone()
    }

    pub fn exchange(&self, name: &str) -> Option<Arc<Exchange>> {
        self.exchanges.read().get(name).cloned()
    }

    pub fn queue(&self, name: &str) -> Option<Arc<Queue>> {
        self.queues.read().get(name).cloned()
    }

    pub fn exchanges(&self) -> Vec<Arc<Exchange>> {
        self.exchanges.read().values().cloned().collect()
    }

    pub fn queue_count(&self) -> u64 {
        self.queues.read().len() as u64
    }

    pub fn queues(&self) -> Vec<Arc<Queue>> {
        self.queues.read().values().cloned().collect()
    }

    /// Inserts an exchange unless one of that name exists; returns the one in the map.
    pub fn add_exchange(&self, ex: Arc<Exchange>) -> Arc<Exchange> {
        self.exchanges
            .write()
            .entry(ex.name.clone())
            .or_insert(ex)
            .clone()
    }

    /// Inserts a queue unless one of that name exists; returns the one in the map.
    pub fn add_queue(&self, q: Arc<Queue>) -> Arc<Queue> {
        self.queues
            .write()
            .entry(q.name.clone())
            .or_insert(q)
            .clone()
    }

    /// Removes an exchange and every binding to or from it, recording the durable changes.
    pub fn remove_exchange(&self, name: &str, changes: &mut Vec<Change>) -> Option<Arc<Exchange>> {
        let ex = self.exchanges.write().remove(name)?;
        ex.mark_deleted();
        if ex.durable {
            changes.push(Change::DeleteExchange {
                vhost: self.name.clone(),
                name: name.to_string(),
            });
        }
        self.drop_bindings_to(&Dest::Exchange(name.to_string()), changes);
        Some(ex)
    }

    /// Removes a queue from the map and every binding to it; the caller tells consumers.
    pub fn remove_queue(&self, q: &Arc<Queue>, changes: &mut Vec<Change>) -> bool {
        let removed = {
            let mut qs = self.queues.write();
            match qs.get(&q.name) {
                Some(cur) if Arc::ptr_eq(cur, q) => qs.remove(&q.name).is_some(),
                _ => false,
            }
        };
        if removed {
            if super::records::stored(q) {
                changes.push(Change::DeleteQueue {
                    vhost: self.name.clone(),
                    name: q.name.clone(),
                });
            }
            self.drop_bindings_to(&Dest::Queue(q.clone()), changes);
        }
        removed
    }

    /// Unbinds `dest` everywhere, deleting auto-delete exchanges left without bindings. (The
    /// stored bindings go with the stored destination.)
    fn drop_bindings_to(&self, dest: &Dest, changes: &mut Vec<Change>) {
        for ex in self.exchanges() {
            if ex.unbind_dest(dest) > 0 {
                self.auto_delete_exchange(&ex, changes);
            }
        }
    }

    /// Deletes an auto-delete exchange once it is the source of no binding.
    pub fn auto_delete_exchange(&self, ex: &Arc<Exchange>, changes: &mut Vec<Change>) {
        if ex.auto_delete && !ex.has_bindings() {
            self.remove_exchange(&ex.name, changes);
        }
    }

    /// Every queue a message published to `exchange` reaches, each once: follows
    /// exchange-to-exchange bindings (cycle-safe), alternate exchanges, and CC/BCC keys.
    pub fn route(
        &self,
        exchange: &Arc<Exchange>,
        routing_key: &str,
        headers: Option<&FieldTable>,
        out: &mut Vec<Arc<Queue>>,
    ) {
        let mut keys: SmallVec<[&str; 4]> = smallvec![routing_key];
        if let Some(h) = headers {
            extra_keys(h, "CC", &mut keys);
            extra_keys(h, "BCC", &mut keys);
        }
        if exchange.name.is_empty() {
            for k in keys {
                if let Some(q) = self.queue(k) {
                    push_unique(out, q);
                }
            }
            return;
        }
        // Exchanges already routed through (cycle safety); held, so identity is stable.
        let mut seen: SmallVec<[Arc<Exchange>; 4]> = smallvec![exchange.clone()];
        let mut work: SmallVec<[Arc<Exchange>; 4]> = SmallVec::new();
        let mut dests = Vec::new();
        let mut current = Some(exchange.clone());
        while let Some(ex) = current.take().or_else(|| work.pop()) {
            dests.clear();
            for k in &keys {
                ex.route(k, headers, &mut dests);
            }
            if dests.is_empty() {
                if let Some(ae) = ex.alternate() {
                    self.visit(&ae, &mut seen, &mut work);
                }
            }
            for d in dests.drain(..) {
                match d {
                    Dest::Queue(q) => push_unique(out, q),
                    Dest::Exchange(name) => self.visit(&name, &mut seen, &mut work),
                }
            }
        }
    }

    fn visit(
        &self,
        name: &str,
        seen: &mut SmallVec<[Arc<Exchange>; 4]>,
        work: &mut SmallVec<[Arc<Exchange>; 4]>,
    ) {
        let Some(ex) = self.exchange(name) else {
            return;
        };
        if seen.iter().any(|s| Arc::ptr_eq(s, &ex)) {
            return;
        }
        seen.push(ex.clone());
        work.push(ex);
    }
}

fn push_unique(out: &mut Vec<Arc<Queue>>, q: Arc<Queue>) {
    if !out.iter().any(|x| Arc::ptr_eq(x, &q)) {
        out.push(q);
    }
}

/// Sender-selected routing keys from the `CC`/`BCC` headers (arrays of strings).
fn extra_keys<'a>(headers: &'a FieldTable, name: &str, keys: &mut SmallVec<[&'a str; 4]>) {
    let Some(AMQPValue::FieldArray(arr)) = headers.inner().get(name) else {
        return;
    };
    for v in arr.as_slice() {
        match v {
            AMQPValue::LongString(s) => {
                if let Ok(s) = std::str::from_utf8(s.as_bytes()) {
                    keys.push(s);
                }
            }
            AMQPValue::ShortString(s) => keys.push(s.as_str()),
            _ => {}
        }
    }
}

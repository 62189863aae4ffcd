//! Exchanges and their bindings. Each type keeps the index that makes its routing cheap:
//! a map by routing key (direct), a trie (topic), a list (fanout, headers). Routing takes a
//! short read lock on one exchange's bindings; declares and binds take the write lock.

use super::headers::headers_match;
use super::topic::TopicIndex;
use crate::queue::Queue;
use ahash::HashMap;
use amq_protocol::types::FieldTable;
use parking_lot::RwLock;
use smallvec::SmallVec;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl ExchangeKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "direct" => Some(Self::Direct),
            "fanout" => Some(Self::Fanout),
            "topic" => Some(Self::Topic),
            "headers" => Some(Self::Headers),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Fanout => "fanout",
            Self::Topic => "topic",
            Self::Headers => "headers",
        }
    }
}

/// Where a binding leads. Queues are held directly so routing needs no second lookup;
/// exchanges by name, so exchange-to-exchange cycles hold no reference cycles.
#[derive(Clone, Debug)]
pub enum Dest {
    Queue(Arc<Queue>),
    Exchange(String),
}

impl Dest {
    pub fn name(&self) -> &str {
        match self {
            Dest::Queue(q) => &q.name,
            Dest::Exchange(e) => e,
        }
    }
    pub fn is_queue(&self) -> bool {
        matches!(self, Dest::Queue(_))
    }
}

impl PartialEq for Dest {
    fn eq(&self, other: &Self) -> bool {
        self.is_queue() == other.is_queue() && self.name() == other.name()
    }
}
impl Eq for Dest {}
impl Hash for Dest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.is_queue().hash(state);
        self.name().hash(state);
    }
}

#[derive(Clone, Debug)]
pub struct Binding {
    pub dest: Dest,
    pub routing_key: String,
    pub args: FieldTable,
}

/// An exchange's bindings, indexed so that adding or removing one costs the same with ten
/// or ten thousand of them, and a destination's bindings are found without a scan.
#[derive(Default)]
struct Bindings {
    /// The argument tables bound for each (destination, routing key) pair: usually one.
    by_pair: HashMap<(Dest, String), SmallVec<[FieldTable; 1]>>,
    /// The routing keys each destination is bound with (each pair once).
    by_dest: HashMap<Dest, SmallVec<[String; 1]>>,
    count: usize,
    direct: HashMap<String, Vec<Dest>>,
    topic: TopicIndex<Dest>,
}

pub struct Exchange {
    pub name: String,
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    /// The `alternate-exchange` argument.
    pub alternate_arg: Option<String>,
    /// The alternate exchange in force (argument, else policy).
    alternate: RwLock<Option<String>>,
    bindings: RwLock<Bindings>,
    /// Set when the exchange leaves its vhost (so cached handles know).
    deleted: std::sync::atomic::AtomicBool,
    /// `publish_in` and `publish_out`.
    pub(crate) stats: crate::stats::MessageStats,
}

impl Exchange {
    pub fn new(
        name: String,
        kind: ExchangeKind,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: FieldTable,
    ) -> Arc<Self> {
        let alternate_arg = match arguments.inner().get("alternate-exchange") {
            Some(amq_protocol::types::AMQPValue::LongString(s)) => {
                Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
            }
            Some(amq_protocol::types::AMQPValue::ShortString(s)) => Some(s.to_string()),
            _ => None,
        };
        Arc::new(Self {
            name,
            kind,
            durable,
            auto_delete,
            internal,
            arguments,
            alternate: RwLock::new(alternate_arg.clone()),
            alternate_arg,
            bindings: RwLock::new(Bindings::default()),
            deleted: Default::default(),
            stats: Default::default(),
        })
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn mark_deleted(&self) {
        self.deleted
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn alternate(&self) -> Option<String> {
        self.alternate.read().clone()
    }

    pub fn set_alternate(&self, ae: Option<String>) {
        *self.alternate.write() = ae;
    }

    /// Adds a binding; false if an identical one exists.
    pub fn bind(&self, dest: Dest, routing_key: &str, args: &FieldTable) -> bool {
        let mut b = self.bindings.write();
        let b = &mut *b;
        let key = (dest, routing_key.to_string());
        let tables = match b.by_pair.get_mut(&key) {
            Some(tables) if tables.contains(args) => return false,
            Some(tables) => tables,
            None => {
                match self.kind {
                    ExchangeKind::Direct => b
                        .direct
                        .entry(key.1.clone())
                        .or_default()
                        .push(key.0.clone()),
                    ExchangeKind::Topic => {
                        b.topic.insert(routing_key, key.0.clone());
                    }
                    ExchangeKind::Fanout | ExchangeKind::Headers => {}
                }
                b.by_dest
                    .entry(key.0.clone())
                    .or_default()
                    .push(key.1.clone());
                b.by_pair.entry(key).or_default()
            }
        };
        tables.push(args.clone());
        b.count += 1;
        true
    }

    /// Removes a binding; false if there was none.
    pub fn unbind(&self, dest: &Dest, routing_key: &str, args: &FieldTable) -> bool {
        let mut guard = self.bindings.write();
        let b = &mut *guard;
        let key = (dest.clone(), routing_key.to_string());
        let Some(tables) = b.by_pair.get_mut(&key) else {
            return false;
        };
        let Some(pos) = tables.iter().position(|t| t == args) else {
            return false;
        };
        tables.remove(pos);
        b.count -= 1;
        if tables.is_empty() {
            b.by_pair.remove(&key);
            if let Some(keys) = b.by_dest.get_mut(dest) {
                keys.retain(|k| k != routing_key);
                if keys.is_empty() {
                    b.by_dest.remove(dest);
                }
            }
            remove_from_index(b, self.kind, dest, routing_key);
        }
        true
    }

    /// Drops every binding to `dest`; returns how many went.
    pub fn unbind_dest(&self, dest: &Dest) -> usize {
        let mut b = self.bindings.write();
        let Some(keys) = b.by_dest.remove(dest) else {
            return 0;
        };
        let mut gone = 0;
        for rk in keys {
            if let Some(tables) = b.by_pair.remove(&(dest.clone(), rk.clone())) {
                gone += tables.len();
            }
            remove_from_index(&mut b, self.kind, dest, &rk);
        }
        b.count -= gone;
        gone
    }

    pub fn has_bindings(&self) -> bool {
        self.bindings.read().count > 0
    }

    pub fn bindings(&self) -> Vec<Binding> {
        let b = self.bindings.read();
        let mut all = Vec::with_capacity(b.count);
        for ((dest, routing_key), tables) in &b.by_pair {
            all.extend(tables.iter().map(|args| Binding {
                dest: dest.clone(),
                routing_key: routing_key.clone(),
                args: args.clone(),
            }));
        }
        all
    }

    /// The destinations this exchange alone routes a message to.
    pub fn route(&self, routing_key: &str, headers: Option<&FieldTable>, out: &mut Vec<Dest>) {
        let b = self.bindings.read();
        match self.kind {
            ExchangeKind::Direct => {
                if let Some(v) = b.direct.get(routing_key) {
                    out.extend(v.iter().cloned());
                }
            }
            ExchangeKind::Fanout => out.extend(b.by_dest.keys().cloned()),
            ExchangeKind::Topic => b.topic.route(routing_key, out),
            ExchangeKind::Headers => {
                for ((dest, _), tables) in &b.by_pair {
                    if tables.iter().any(|args| headers_match(args, headers)) {
                        out.push(dest.clone());
                    }
                }
            }
        }
    }
}

fn remove_from_index(b: &mut Bindings, kind: ExchangeKind, dest: &Dest, routing_key: &str) {
    match kind {
        ExchangeKind::Direct => {
            if let Some(v) = b.direct.get_mut(routing_key) {
                v.retain(|d| d != dest);
                if v.is_empty() {
                    b.direct.remove(routing_key);
                }
            }
        }
        ExchangeKind::Topic => {
            b.topic.remove(routing_key, dest);
        }
        ExchangeKind::Fanout | ExchangeKind::Headers => {}
    }
}

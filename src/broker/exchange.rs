//! Exchanges and their bindings. Each type keeps the index that makes its routing cheap:
//! a map by routing key (direct), a trie (topic), a list (fanout, headers). Routing takes a
//! short read lock on one exchange's bindings; declares and binds take the write lock.

use super::headers::headers_match;
use super::topic::TopicIndex;
use crate::queue::Queue;
use ahash::HashMap;
use amq_protocol::types::FieldTable;
use parking_lot::RwLock;
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

#[derive(Default)]
struct Bindings {
    all: Vec<Binding>,
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
        let exists = b
            .all
            .iter()
            .any(|x| x.dest == dest && x.routing_key == routing_key && &x.args == args);
        if exists {
            return false;
        }
        match self.kind {
            ExchangeKind::Direct => b
                .direct
                .entry(routing_key.to_string())
                .or_default()
                .push(dest.clone()),
            ExchangeKind::Topic => {
                b.topic.insert(routing_key, dest.clone());
            }
            ExchangeKind::Fanout | ExchangeKind::Headers => {}
        }
        b.all.push(Binding {
            dest,
            routing_key: routing_key.to_string(),
            args: args.clone(),
        });
        true
    }

    /// Removes a binding; false if there was none.
    pub fn unbind(&self, dest: &Dest, routing_key: &str, args: &FieldTable) -> bool {
        let mut b = self.bindings.write();
        let Some(pos) = b
            .all
            .iter()
            .position(|x| &x.dest == dest && x.routing_key == routing_key && &x.args == args)
        else {
            return false;
        };
        b.all.remove(pos);
        let still_bound = b
            .all
            .iter()
            .any(|x| &x.dest == dest && x.routing_key == routing_key);
        if !still_bound {
            remove_from_index(&mut b, self.kind, dest, routing_key);
        }
        true
    }

    /// Drops every binding to `dest`; returns how many went.
    pub fn unbind_dest(&self, dest: &Dest) -> usize {
        let mut b = self.bindings.write();
        let before = b.all.len();
        b.all.retain(|x| &x.dest != dest);
        if b.all.len() != before {
            b.direct.retain(|_, v| {
                v.retain(|d| d != dest);
                !v.is_empty()
            });
            b.topic.remove_dest(dest);
        }
        before - b.all.len()
    }

    pub fn has_bindings(&self) -> bool {
        !self.bindings.read().all.is_empty()
    }

    pub fn bindings(&self) -> Vec<Binding> {
        self.bindings.read().all.clone()
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
            ExchangeKind::Fanout => out.extend(b.all.iter().map(|x| x.dest.clone())),
            ExchangeKind::Topic => b.topic.route(routing_key, out),
            ExchangeKind::Headers => out.extend(
                b.all
                    .iter()
                    .filter(|x| headers_match(&x.args, headers))
                    .map(|x| x.dest.clone()),
            ),
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

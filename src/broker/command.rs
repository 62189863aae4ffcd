//! Broker commands: every change to the broker's metadata as a plain value. A frontend (the
//! AMQP channel, the definitions loader, later the HTTP API and the cluster's log) builds a
//! [`Command`] and hands it to [`Broker::execute`](super::Broker::execute) with the
//! [`Actor`] asking; it gets back an [`Outcome`] or a typed [`CommandError`] that it maps to
//! its own codes (an AMQP reply code, an HTTP status).
//!
//! A command names everything it needs (vhost, names, the generated name of a server-named
//! queue, the owner of an exclusive queue), so replaying the same commands in the same order
//! gives the same state: a cluster can log and replicate them before applying them.

use amq_protocol::types::FieldTable;
use serde::{Deserialize, Serialize};

/// One metadata change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    DeclareExchange(ExchangeDecl),
    DeleteExchange {
        vhost: String,
        name: String,
        if_unused: bool,
    },
    DeclareQueue(QueueDecl),
    DeleteQueue {
        vhost: String,
        name: String,
        if_unused: bool,
        if_empty: bool,
    },
    PurgeQueue {
        vhost: String,
        name: String,
    },
    Bind(BindingSpec),
    Unbind(BindingSpec),
    /// Adds a vhost, or changes an existing one's description, tags and tracing flag.
    PutVhost(crate::store::definitions::VhostDefinition),
    DeleteVhost {
        name: String,
    },
    PutUser {
        name: String,
        /// As stored: base64 of salt and hash.
        password_hash: String,
        /// RabbitMQ's name for the hash: `rabbit_password_hashing_sha256` or `_sha512`.
        hashing_algorithm: String,
        tags: Vec<String>,
        /// `max-connections` and `max-channels`; `None` keeps an existing user's.
        #[serde(default)]
        limits: Option<serde_json::Map<String, serde_json::Value>>,
    },
    /// Replaces a user's limits (`{"max-connections": n, "max-channels": n}`).
    SetUserLimits {
        user: String,
        limits: serde_json::Map<String, serde_json::Value>,
    },
    DeleteUser {
        name: String,
    },
    SetPermissions {
        user: String,
        vhost: String,
        configure: String,
        write: String,
        read: String,
    },
    ClearPermissions {
        user: String,
        vhost: String,
    },
    /// A user's write and read patterns on routing keys for one (topic) exchange.
    SetTopicPermission {
        user: String,
        vhost: String,
        exchange: String,
        write: String,
        read: String,
    },
    /// Removes a user's topic permission for one exchange, or for all (`None`).
    ClearTopicPermissions {
        user: String,
        vhost: String,
        exchange: Option<String>,
    },
    SetPolicy(PolicySpec),
    ClearPolicy {
        vhost: String,
        name: String,
    },
    SetOperatorPolicy(PolicySpec),
    ClearOperatorPolicy {
        vhost: String,
        name: String,
    },
    SetParameter {
        vhost: String,
        component: String,
        name: String,
        value: serde_json::Value,
    },
    ClearParameter {
        vhost: String,
        component: String,
        name: String,
    },
    SetGlobalParameter {
        name: String,
        value: serde_json::Value,
    },
    ClearGlobalParameter {
        name: String,
    },
    /// Places a queue's mirrors (in a cluster, as its `ha-mode` policy asks): the nodes
    /// holding them, oldest first.
    SetMirrors {
        vhost: String,
        name: String,
        nodes: Vec<String>,
    },
    /// The mirrors that hold everything their master holds (the master says so; from a
    /// node no longer the master, it changes nothing).
    SetSynchronised {
        vhost: String,
        name: String,
        #[serde(default)]
        master: Option<String>,
        nodes: Vec<String>,
    },
    /// Makes mirror `node` the queue's master (the old master's node is down).
    PromoteMirror {
        vhost: String,
        name: String,
        node: String,
    },
}

/// `exchange.declare` (not passive: a passive declare changes nothing and is a lookup).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ExchangeDecl {
    pub vhost: String,
    pub name: String,
    /// As the client sent it; an unknown type is refused when the command runs.
    pub kind: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
}

/// `queue.declare` (not passive).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QueueDecl {
    pub vhost: String,
    /// Never empty: a server-named queue's name is chosen before the command is made.
    pub name: String,
    /// The name was generated (`amq.gen-...`) for a declare without one, so the reserved
    /// `amq.` prefix is allowed.
    pub server_named: bool,
    pub durable: bool,
    pub auto_delete: bool,
    /// The connection that owns an exclusive queue.
    pub exclusive_owner: Option<u64>,
    pub arguments: FieldTable,
    /// In a cluster: the node the queue lives on (chosen by the node that proposes the
    /// declare).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
}

/// Where a binding leads.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum Destination {
    Queue(String),
    Exchange(String),
}

/// `queue.bind`, `exchange.bind` and their unbinds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BindingSpec {
    pub vhost: String,
    pub source: String,
    pub destination: Destination,
    pub routing_key: String,
    pub arguments: FieldTable,
}

/// A policy or operator policy; the definition is validated when the command runs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PolicySpec {
    pub vhost: String,
    pub name: String,
    pub pattern: String,
    pub apply_to: String,
    pub priority: i32,
    pub definition: serde_json::Map<String, serde_json::Value>,
}

/// Who asks for a command. The broker itself (loading definitions, deleting an auto-delete
/// queue) is not checked against permissions; a user is, in the command's vhost.
#[derive(Clone, Copy)]
pub struct Actor<'a> {
    pub user: Option<&'a crate::auth::User>,
    /// The user's permission in the vhost the command names, when the caller has it at hand
    /// (an AMQP connection is bound to one vhost); looked up otherwise.
    pub permission: Option<&'a crate::auth::Permission>,
    /// The connection asking, for exclusive queues: only their owner may use them.
    pub connection: Option<u64>,
}

impl Actor<'static> {
    /// The broker itself.
    pub const BROKER: Actor<'static> = Actor {
        user: None,
        permission: None,
        connection: None,
    };

    /// The broker acting for a connection (deleting its exclusive queues as it closes).
    pub fn broker_for(connection: u64) -> Self {
        Actor {
            connection: Some(connection),
            ..Self::BROKER
        }
    }
}

/// What a command did.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// A queue declared (or found equivalent).
    Queue {
        queue: std::sync::Arc<crate::queue::Queue>,
        created: bool,
    },
    /// Messages purged, or dropped with a deleted queue.
    Messages(u32),
}

/// Why a command was refused, with RabbitMQ's text for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CommandError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AccessRefused(String),
    #[error("{0}")]
    ResourceLocked(String),
    #[error("{0}")]
    PreconditionFailed(String),
    /// The request itself is malformed (an unknown exchange type, say).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotAllowed(String),
    /// The change was made but could not be written to disk.
    #[error("{0}")]
    Internal(String),
}

impl CommandError {
    pub fn no_queue(vhost: &str, name: &str) -> Self {
        Self::NotFound(format!("no queue '{name}' in vhost '{vhost}'"))
    }

    pub fn no_exchange(vhost: &str, name: &str) -> Self {
        Self::NotFound(format!("no exchange '{name}' in vhost '{vhost}'"))
    }
}

pub type CommandResult<T = Outcome> = Result<T, CommandError>;

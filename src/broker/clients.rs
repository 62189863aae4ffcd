//! The broker's list of open client connections, for the management API: what each one
//! says about itself and its channels, and a way to close it. The frontend that owns a
//! connection (AMQP today) implements [`ClientConnection`]; nothing here is on the
//! publish or deliver path (a connection registers once when it opens).

use ahash::HashMap;
use amq_protocol::types::FieldTable;
use parking_lot::RwLock;
use std::net::SocketAddr;
use std::sync::Arc;

/// A client connection as the management API sees it.
pub(crate) trait ClientConnection: Send + Sync {
    fn info(&self) -> ConnectionInfo;
    fn channels(&self) -> Vec<ChannelInfo>;
    /// Asks the connection to close with 320 CONNECTION_FORCED and `reason`.
    fn close(&self, reason: &str);
    /// Samples its channels' message statistics (see `crate::stats`).
    fn sample(&self, now: std::time::Instant);
}

/// What a connection reports: fixed at open, plus its counters now.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionInfo {
    /// RabbitMQ's name: `peer -> local`.
    pub name: String,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub user: String,
    pub vhost: String,
    pub protocol: &'static str,
    pub auth_mechanism: String,
    pub heartbeat: u16,
    pub frame_max: u32,
    pub channel_max: u16,
    pub client_properties: FieldTable,
    /// Unix ms.
    pub connected_at: u64,
    /// running, blocked (by an alarm) or closing.
    pub state: &'static str,
    pub channels: usize,
    pub recv_oct: u64,
    pub recv_cnt: u64,
    pub send_oct: u64,
    pub send_cnt: u64,
    /// Bytes queued for the socket.
    pub send_pend: u64,
}

/// One channel of a connection.
#[derive(Clone, Debug)]
pub(crate) struct ChannelInfo {
    pub number: u16,
    pub confirm: bool,
    pub transactional: bool,
    pub prefetch_count: u16,
    pub global_prefetch_count: u16,
    pub unacked: usize,
    pub consumers: Vec<ConsumerInfo>,
    /// Message counts now, and rates as last sampled.
    pub stats: crate::stats::Totals,
}

/// One consumer on a channel.
#[derive(Clone, Debug)]
pub(crate) struct ConsumerInfo {
    pub tag: String,
    pub queue: String,
    pub ack_required: bool,
    pub exclusive: bool,
    pub prefetch_count: u16,
    pub arguments: FieldTable,
}

/// The open connections, by id.
#[derive(Default)]
pub(crate) struct Clients {
    map: RwLock<HashMap<u64, Arc<dyn ClientConnection>>>,
}

impl Clients {
    pub(crate) fn register(&self, id: u64, conn: Arc<dyn ClientConnection>) {
        self.map.write().insert(id, conn);
    }

    pub(crate) fn deregister(&self, id: u64) {
        self.map.write().remove(&id);
    }

    pub(crate) fn all(&self) -> Vec<Arc<dyn ClientConnection>> {
        self.map.read().values().cloned().collect()
    }

    pub(crate) fn count(&self) -> usize {
        self.map.read().len()
    }
}

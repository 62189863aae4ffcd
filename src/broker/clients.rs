//! The broker's list of open client connections, for the management API: what each one
//! says about itself and its channels, and a way to close it. The frontend that owns a
//! connection (AMQP today) implements [`ClientConnection`]; nothing here is on the
//! publish or deliver path (a connection registers once when it opens).

use ahash::HashMap;
use amq_protocol::types::FieldTable;
use parking_lot::{Mutex, RwLock};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// A client connection as the management API sees it.
pub(crate) trait ClientConnection: Send + Sync {
    fn info(&self) -> ConnectionInfo;
    fn channels(&self) -> Vec<ChannelInfo>;
    /// Asks the connection to close with 320 CONNECTION_FORCED and `reason`.
    fn close(&self, reason: &str);
    /// Samples its byte counters and its channels' message statistics (see `crate::stats`).
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
    /// The TLS session, for a connection to a TLS listener.
    pub tls: Option<Arc<crate::tls::peer::TlsDetails>>,
    pub auth_mechanism: String,
    pub heartbeat: u16,
    pub frame_max: u32,
    pub channel_max: u16,
    pub client_properties: Arc<FieldTable>,
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
    /// Bytes per second received and sent, as last sampled.
    pub octet_rates: [f64; 2],
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

/// The open connections, by id, and how many each vhost and user has (for their limits).
#[derive(Default)]
pub(crate) struct Clients {
    map: RwLock<HashMap<u64, Arc<dyn ClientConnection>>>,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    /// Admitted connections on the node.
    total: u64,
    per_vhost: HashMap<String, u64>,
    per_user: HashMap<String, u64>,
    /// Channels open per user, shared with the user's connections.
    user_channels: HashMap<String, Arc<AtomicU64>>,
}

/// Why a connection was refused.
pub(crate) enum Refused {
    Node(u64),
    Vhost(u64),
    User(u64),
}

/// A connection's place under its vhost's and user's limits; given back when dropped.
pub(crate) struct Admission {
    counts: Arc<Mutex<Counts>>,
    vhost: String,
    user: String,
    /// The user's open channels, across all their connections.
    pub channels: Arc<AtomicU64>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut c = self.counts.lock();
        c.total -= 1;
        let gone = |m: &mut HashMap<String, u64>, k: &str| {
            if let Some(n) = m.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    m.remove(k);
                    return true;
                }
            }
            false
        };
        gone(&mut c.per_vhost, &self.vhost);
        if gone(&mut c.per_user, &self.user) {
            c.user_channels.remove(&self.user);
        }
    }
}

impl Clients {
    /// Admits a connection unless the node, its vhost or its user is at its connection
    /// limit.
    pub(crate) fn admit(
        &self,
        vhost: &str,
        user: &str,
        node_limit: Option<u64>,
        vhost_limit: Option<u64>,
        user_limit: Option<u64>,
    ) -> Result<Admission, Refused> {
        let mut c = self.counts.lock();
        if let Some(l) = node_limit.filter(|l| c.total >= *l) {
            return Err(Refused::Node(l));
        }
        let in_vhost = c.per_vhost.get(vhost).copied().unwrap_or(0);
        if let Some(l) = vhost_limit.filter(|l| in_vhost >= *l) {
            return Err(Refused::Vhost(l));
        }
        let of_user = c.per_user.get(user).copied().unwrap_or(0);
        if let Some(l) = user_limit.filter(|l| of_user >= *l) {
            return Err(Refused::User(l));
        }
        c.total += 1;
        *c.per_vhost.entry(vhost.to_string()).or_default() += 1;
        *c.per_user.entry(user.to_string()).or_default() += 1;
        let channels = c.user_channels.entry(user.to_string()).or_default().clone();
        Ok(Admission {
            counts: self.counts.clone(),
            vhost: vhost.to_string(),
            user: user.to_string(),
            channels,
        })
    }

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

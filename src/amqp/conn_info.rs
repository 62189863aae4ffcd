//! What an AMQP connection tells the management API (`broker::clients`): its fixed
//! details, byte counters kept by its reader and writer, its channels, and a request to
//! close it, which its reader loop picks up.

use super::channel_shared::ChannelShared;
use super::conn_shared::ConnShared;
use crate::broker::clients::{ChannelInfo, ClientConnection, ConnectionInfo, ConsumerInfo};
use crate::stats::{Gauges, Totals};
use amq_protocol::types::FieldTable;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Fixed when the connection opens.
pub(crate) struct ConnMeta {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub tls: Option<Arc<crate::tls::peer::TlsDetails>>,
    pub user: String,
    pub vhost: String,
    pub mechanism: String,
    pub heartbeat: u16,
    pub channel_max: u16,
    pub client_properties: Arc<FieldTable>,
    pub connected_at: u64,
}

pub(crate) struct SharedInfo {
    meta: ConnMeta,
    pub recv_oct: AtomicU64,
    pub recv_cnt: AtomicU64,
    pub send_oct: AtomicU64,
    pub send_cnt: AtomicU64,
    /// Bytes received and sent, as last sampled, with their rates.
    octets: Gauges<2>,
    /// Set while the connection is blocked by a resource alarm.
    pub blocked: AtomicBool,
    /// Open channels; dropped ones are pruned as they are found.
    channels: Mutex<Vec<(u16, Weak<ChannelShared>)>>,
    close_reason: Mutex<Option<String>>,
    pub close_requested: tokio::sync::Notify,
}

impl SharedInfo {
    pub(crate) fn new(meta: ConnMeta) -> Self {
        Self {
            meta,
            recv_oct: AtomicU64::new(0),
            recv_cnt: AtomicU64::new(0),
            send_oct: AtomicU64::new(0),
            send_cnt: AtomicU64::new(0),
            octets: Gauges::default(),
            blocked: AtomicBool::new(false),
            channels: Mutex::new(Vec::new()),
            close_reason: Mutex::new(None),
            close_requested: tokio::sync::Notify::new(),
        }
    }

    pub(crate) fn add_channel(&self, ch: &Arc<ChannelShared>) {
        let mut chans = self.channels.lock();
        chans.retain(|(_, w)| w.strong_count() > 0);
        chans.push((ch.id, Arc::downgrade(ch)));
    }

    /// The reason the management API gave for closing, once it asked.
    pub(crate) fn take_close_reason(&self) -> Option<String> {
        self.close_reason.lock().take()
    }

    /// Counts what a socket write sent. Only the connection's writer calls it (and the
    /// handshake, before the writer starts).
    pub(crate) fn sent(&self, bytes: usize) {
        add_owned(&self.send_oct, bytes as u64);
        add_owned(&self.send_cnt, 1);
    }

    /// Counts what a socket read brought. Only the connection's reader calls it.
    pub(crate) fn received(&self, bytes: usize) {
        add_owned(&self.recv_oct, bytes as u64);
        add_owned(&self.recv_cnt, 1);
    }

    fn live_channels(&self) -> Vec<Arc<ChannelShared>> {
        let mut chans = self.channels.lock();
        chans.retain(|(_, w)| w.strong_count() > 0);
        chans.iter().filter_map(|(_, w)| w.upgrade()).collect()
    }
}

impl ClientConnection for ConnShared {
    fn info(&self) -> ConnectionInfo {
        let i = &self.info;
        let m = &i.meta;
        let closing = self.out.is_closed();
        ConnectionInfo {
            name: format!("{} -> {}", m.peer, m.local),
            peer: m.peer,
            local: m.local,
            user: m.user.clone(),
            vhost: m.vhost.clone(),
            protocol: "AMQP 0-9-1",
            tls: m.tls.clone(),
            auth_mechanism: m.mechanism.clone(),
            heartbeat: m.heartbeat,
            frame_max: self.frame_max,
            channel_max: m.channel_max,
            client_properties: m.client_properties.clone(),
            connected_at: m.connected_at,
            state: if closing {
                "closing"
            } else if i.blocked.load(Ordering::Relaxed) {
                "blocked"
            } else {
                "running"
            },
            channels: i.live_channels().len(),
            recv_oct: i.recv_oct.load(Ordering::Relaxed),
            recv_cnt: i.recv_cnt.load(Ordering::Relaxed),
            send_oct: i.send_oct.load(Ordering::Relaxed),
            send_cnt: i.send_cnt.load(Ordering::Relaxed),
            send_pend: self.pending_bytes() as u64,
            octet_rates: i.octets.rates(),
        }
    }

    fn channels(&self) -> Vec<ChannelInfo> {
        let mut out: Vec<ChannelInfo> = self
            .info
            .live_channels()
            .iter()
            .map(|ch| {
                let (confirm, transactional, prefetch) = ch.mode();
                let st = ch.state.lock();
                ChannelInfo {
                    number: ch.id,
                    confirm,
                    transactional,
                    prefetch_count: prefetch,
                    global_prefetch_count: st.global_prefetch,
                    unacked: st.unacked.len(),
                    stats: {
                        let mut t = Totals::default();
                        t.add(&ch.stats);
                        t
                    },
                    consumers: st
                        .consumers
                        .values()
                        .map(|c| ConsumerInfo {
                            tag: c.tag.to_string(),
                            queue: c.queue.name.clone(),
                            ack_required: !c.no_ack,
                            exclusive: c.exclusive,
                            prefetch_count: c.prefetch,
                            arguments: c.arguments.clone(),
                        })
                        .collect(),
                }
            })
            .collect();
        out.sort_by_key(|c| c.number);
        out
    }

    fn sample(&self, now: std::time::Instant) {
        let i = &self.info;
        let octets = [&i.recv_oct, &i.send_oct].map(|n| n.load(Ordering::Relaxed));
        i.octets.sample(now, octets);
        for ch in self.info.live_channels() {
            ch.stats.sample(now);
        }
    }

    fn close(&self, reason: &str) {
        *self.info.close_reason.lock() = Some(reason.to_string());
        self.info.close_requested.notify_one();
    }
}

/// Adds to a counter that only the calling task writes (others only read it): a load and a
/// store, not a locked read-modify-write, since no other write can come in between.
fn add_owned(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

//! A published message as it travels through the broker: routing info, the decoded
//! properties routing needs, the publisher's raw property bytes and the body. Shared by
//! `Arc` between every queue it was routed to; never copied per queue. Every message in
//! memory is counted, so queues can page new messages to disk when memory runs short.

use amq_protocol::protocol::BasicProperties;
use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of message bodies and properties currently held in memory, process-wide.
static RAM_BYTES: AtomicUsize = AtomicUsize::new(0);

pub fn ram_bytes() -> usize {
    RAM_BYTES.load(Ordering::Relaxed)
}

#[derive(Debug)]
pub struct Message {
    pub exchange: String,
    pub routing_key: String,
    pub properties: BasicProperties,
    /// Properties as encoded on the wire (re-encoded only when the broker changed them).
    pub raw_properties: Bytes,
    pub body: Bytes,
    /// When it was published (unix ms): TTLs count from here, across restarts too.
    pub published_ms: u64,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Message {
    pub fn new(
        exchange: String,
        routing_key: String,
        properties: BasicProperties,
        raw_properties: Bytes,
        body: Bytes,
    ) -> Self {
        let m = Self {
            exchange,
            routing_key,
            properties,
            raw_properties,
            body,
            published_ms: now_ms(),
        };
        RAM_BYTES.fetch_add(m.footprint(), Ordering::Relaxed);
        m
    }

    fn footprint(&self) -> usize {
        self.body.len() + self.raw_properties.len() + 128
    }

    pub fn persistent(&self) -> bool {
        self.properties.delivery_mode() == &Some(2)
    }

    /// The per-message TTL from the `expiration` property (validated at publish).
    pub fn ttl_ms(&self) -> Option<u64> {
        self.properties.expiration().as_ref()?.as_str().parse().ok()
    }

    pub fn body_size(&self) -> u64 {
        self.body.len() as u64
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        RAM_BYTES.fetch_sub(self.footprint(), Ordering::Relaxed);
    }
}

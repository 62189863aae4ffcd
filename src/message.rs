//! A published message as it travels through the broker: exchange, routing key, the
//! publisher's raw property bytes and the body, back to back in one buffer (inline for small
//! messages), plus the few property values queues act on. Shared by `Arc` between every
//! queue it was routed to; never copied per queue. Every message in memory is counted, so
//! queues can page new messages to disk when memory runs short.

use crate::amqp::props::Props;
use amq_protocol::protocol::BasicProperties;
use amq_protocol::types::FieldTable;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of message bodies and properties currently held in memory, process-wide.
static RAM_BYTES: AtomicUsize = AtomicUsize::new(0);

pub fn ram_bytes() -> usize {
    RAM_BYTES.load(Ordering::Relaxed)
}

/// Bytes kept inside the message itself: a small message is one allocation.
const INLINE: usize = 40;

/// Set in `props_len` when the buffer ends with the properties routing saw (with `BCC`)
/// followed by their length.
const ROUTING_PROPS: u32 = 1 << 31;

#[derive(Debug)]
pub struct Message {
    /// exchange | routing key | raw properties | body [| routing properties | u32 length]
    data: SmallVec<[u8; INLINE]>,
    /// When it was published (unix ms): TTLs count from here, across restarts too.
    pub published_ms: u64,
    /// The `expiration` property in ms, `u64::MAX` if none (validated at publish).
    ttl_ms: u64,
    exchange_len: u8,
    routing_key_len: u8,
    delivery_mode: u8,
    priority: u8,
    props_len: u32,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Message {
    /// Builds a message from its parts. Names must be short strings (checked when they
    /// entered the broker) and `raw_properties` valid encoded properties.
    pub fn new(exchange: &str, routing_key: &str, raw_properties: &[u8], body: &[u8]) -> Self {
        let props = Props::parse(raw_properties).unwrap_or_default();
        Self::with_routing_props(exchange, routing_key, raw_properties, &props, &[body], None)
    }

    /// As `new`, with the properties already read, the body in parts and, when routing saw
    /// different properties (a `BCC` header removed before delivery), those properties
    /// kept for dead-lettering.
    pub fn with_routing_props(
        exchange: &str,
        routing_key: &str,
        raw_properties: &[u8],
        props: &Props,
        body: &[&[u8]],
        routing_props: Option<&[u8]>,
    ) -> Self {
        let body_len: usize = body.iter().map(|b| b.len()).sum();
        let extra = routing_props.map_or(0, |r| r.len() + 4);
        let len = exchange.len() + routing_key.len() + raw_properties.len() + body_len + extra;
        let mut data = SmallVec::with_capacity(len);
        data.extend_from_slice(exchange.as_bytes());
        data.extend_from_slice(routing_key.as_bytes());
        data.extend_from_slice(raw_properties);
        for part in body {
            data.extend_from_slice(part);
        }
        let mut props_len = raw_properties.len() as u32;
        if let Some(r) = routing_props {
            data.extend_from_slice(r);
            data.extend_from_slice(&(r.len() as u32).to_be_bytes());
            props_len |= ROUTING_PROPS;
        }
        let m = Self {
            data,
            published_ms: now_ms(),
            ttl_ms: props
                .expiration()
                .and_then(|e| e.parse().ok())
                .unwrap_or(u64::MAX),
            exchange_len: exchange.len() as u8,
            routing_key_len: routing_key.len() as u8,
            delivery_mode: props.delivery_mode.unwrap_or(0),
            priority: props.priority.unwrap_or(0),
            props_len,
        };
        RAM_BYTES.fetch_add(m.footprint(), Ordering::Relaxed);
        m
    }

    fn footprint(&self) -> usize {
        self.data.len() + 96
    }

    fn str_at(&self, from: usize, len: u8) -> &str {
        let bytes = &self.data[from..from + len as usize];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `data` is private and written only by `with_routing_props`, which copies
        // `exchange` and `routing_key` from `&str`s to the start of `data`, in that order,
        // and records their byte lengths in `exchange_len` and `routing_key_len`. The two
        // ranges used here are exactly those copies, so they hold valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    pub fn exchange(&self) -> &str {
        self.str_at(0, self.exchange_len)
    }

    pub fn routing_key(&self) -> &str {
        self.str_at(self.exchange_len as usize, self.routing_key_len)
    }

    fn props_start(&self) -> usize {
        self.exchange_len as usize + self.routing_key_len as usize
    }

    fn routing_props_len(&self) -> Option<usize> {
        if self.props_len & ROUTING_PROPS == 0 {
            return None;
        }
        let n = self.data.len();
        let len = self.data.get(n - 4..)?;
        Some(u32::from_be_bytes(len.try_into().ok()?) as usize)
    }

    /// Properties as the publisher encoded them (re-encoded only when the broker changed
    /// them).
    pub fn raw_properties(&self) -> &[u8] {
        let start = self.props_start();
        &self.data[start..start + (self.props_len & !ROUTING_PROPS) as usize]
    }

    pub fn body(&self) -> &[u8] {
        let start = self.props_start() + (self.props_len & !ROUTING_PROPS) as usize;
        let end = self.data.len() - self.routing_props_len().map_or(0, |n| n + 4);
        &self.data[start..end]
    }

    /// The decoded properties (for the rare paths that rewrite them).
    pub fn properties(&self) -> BasicProperties {
        Props::decode_full(self.raw_properties()).unwrap_or_default()
    }

    /// The headers routing saw when the message was published (`BCC` included).
    pub fn routing_headers(&self) -> Option<FieldTable> {
        let raw = match self.routing_props_len() {
            Some(n) => {
                let end = self.data.len() - 4;
                &self.data[end - n..end]
            }
            None => self.raw_properties(),
        };
        Props::decode_full(raw)?.headers().clone()
    }

    pub fn persistent(&self) -> bool {
        self.delivery_mode == 2
    }

    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The per-message TTL from the `expiration` property (validated at publish).
    pub fn ttl_ms(&self) -> Option<u64> {
        (self.ttl_ms != u64::MAX).then_some(self.ttl_ms)
    }

    pub fn body_size(&self) -> u64 {
        self.body().len() as u64
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        RAM_BYTES.fetch_sub(self.footprint(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::codec::encode_properties;
    use amq_protocol::types::{AMQPValue, ShortString};

    #[test]
    fn parts_come_back_out() {
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_priority(3)
            .with_expiration("1500".into());
        let raw = encode_properties(&props);
        for body in [&b""[..], b"tiny", &[7u8; 5000][..]] {
            let m = Message::new("ex", "rk.1", &raw, body);
            assert_eq!(m.exchange(), "ex");
            assert_eq!(m.routing_key(), "rk.1");
            assert_eq!(m.raw_properties(), &raw[..]);
            assert_eq!(m.body(), body);
            assert!(m.persistent());
            assert_eq!(m.priority(), 3);
            assert_eq!(m.ttl_ms(), Some(1500));
            assert_eq!(m.properties(), props);
        }
    }

    #[test]
    fn small_messages_fit_in_one_allocation() {
        assert!(std::mem::size_of::<Message>() <= 72);
        let m = Message::new("", "perf-queue-1", &[0, 0], &[1u8; 16]);
        assert!(!m.data.spilled());
    }

    #[test]
    fn routing_properties_are_kept_apart_from_the_delivered_ones() {
        let mut h = FieldTable::default();
        h.insert(ShortString::from("BCC"), AMQPValue::LongString("q2".into()));
        let routing = encode_properties(&BasicProperties::default().with_headers(h.clone()));
        let delivered = encode_properties(&BasicProperties::default());
        let props = Props::parse(&delivered).expect("valid");
        let m = Message::with_routing_props(
            "",
            "q1",
            &delivered,
            &props,
            &[b"ab", b"cd"],
            Some(&routing),
        );
        assert_eq!(m.body(), b"abcd");
        assert_eq!(m.raw_properties(), &delivered[..]);
        assert_eq!(m.routing_headers(), Some(h));
        assert_eq!(m.properties().headers(), &None);
    }
}

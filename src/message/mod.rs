//! A published message as it travels through the broker: exchange, routing key, the
//! publisher's raw property bytes and the body, back to back in one buffer (inline for small
//! messages), plus the few property values queues act on. Shared by `Arc` between every
//! queue it was routed to; never copied per queue. Every message in memory is counted, so
//! queues can page new messages to disk when memory runs short.

pub(crate) mod checks;
pub mod props;

use amq_protocol::protocol::BasicProperties;
use amq_protocol::types::FieldTable;
use props::Props;
use std::sync::atomic::{AtomicUsize, Ordering};
use triomphe::{Arc, HeaderWithLength, ThinArc, UniqueArc};

/// Bytes of message bodies and properties currently held in memory, process-wide.
static RAM_BYTES: AtomicUsize = AtomicUsize::new(0);

pub fn ram_bytes() -> usize {
    RAM_BYTES.load(Ordering::Relaxed)
}

/// Bytes a message holds beyond its data: the allocation's count, `Meta` and length.
const OVERHEAD: usize = 40;

const PERSISTENT: u8 = 1;
/// The data ends with the properties routing saw (with `BCC`) followed by their length.
const ROUTING_PROPS: u8 = 2;
/// The `expiration` property holds a valid TTL (read back from the properties on use).
const HAS_TTL: u8 = 4;

/// What a message keeps beside its bytes, in 16 bytes: with the count and the length, a
/// small message (a 20-byte routing key, 16-byte body) fits an 80-byte allocation.
#[derive(Debug)]
struct Meta {
    /// Publish time in unix ms (48 bits) above the message's size class (16 bits).
    stamp: u64,
    props_len: u32,
    exchange_len: u8,
    routing_key_len: u8,
    priority: u8,
    flags: u8,
}

impl Drop for Meta {
    fn drop(&mut self) {
        RAM_BYTES.fetch_sub(class_bytes(self.stamp as u16), Ordering::Relaxed);
    }
}

/// A byte count as a 16-bit size class (11-bit mantissa, 5-bit exponent), rounded up:
/// what a message adds to `RAM_BYTES` and takes away again, within 0.1% of its footprint.
fn size_class(n: usize) -> u16 {
    let bits = usize::BITS - n.leading_zeros();
    let mut e = bits.saturating_sub(11);
    let mut m = n.div_ceil(1 << e);
    if m == 1 << 11 {
        e += 1;
        m >>= 1;
    }
    ((e << 11) as usize | m) as u16
}

fn class_bytes(class: u16) -> usize {
    ((class & 0x7ff) as usize) << (class >> 11)
}

const MAX_MS: u64 = (1 << 48) - 1;

/// exchange | routing key | raw properties | body [| routing properties | u32 length],
/// after a 16-byte `Meta`, in one reference-counted allocation. Cloning shares it.
#[derive(Clone)]
pub struct Message(ThinArc<Meta, u8>);

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
        Self::restored(
            exchange,
            routing_key,
            raw_properties,
            &props,
            body,
            now_ms(),
        )
    }

    /// As `new`, with the properties already read, for a message first published at
    /// `published_ms` (read back from disk).
    pub fn restored(
        exchange: &str,
        routing_key: &str,
        raw_properties: &[u8],
        props: &Props,
        body: &[u8],
        published_ms: u64,
    ) -> Self {
        let head = [exchange.as_bytes(), routing_key.as_bytes(), raw_properties];
        Self::build(&head, props, &[body], None, published_ms)
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
        let head = [exchange.as_bytes(), routing_key.as_bytes(), raw_properties];
        Self::build(&head, props, body, routing_props, now_ms())
    }

    /// `head` is exchange, routing key and raw properties.
    fn build(
        head: &[&[u8]; 3],
        props: &Props,
        body: &[&[u8]],
        routing_props: Option<&[u8]>,
        published_ms: u64,
    ) -> Self {
        let routing_len = routing_props.map(|r| (r.len() as u32).to_be_bytes());
        let tail: [&[u8]; 2] = match (routing_props, &routing_len) {
            (Some(r), Some(len)) => [r, len],
            _ => [&[], &[]],
        };
        let parts = || head.iter().chain(body).chain(&tail);
        let len: usize = parts().map(|p| p.len()).sum();
        let mut flags = 0;
        if props.delivery_mode == Some(2) {
            flags |= PERSISTENT;
        }
        if routing_props.is_some() {
            flags |= ROUTING_PROPS;
        }
        if props
            .expiration()
            .and_then(|e| e.parse::<u64>().ok())
            .is_some()
        {
            flags |= HAS_TTL;
        }
        let class = size_class(len + OVERHEAD);
        // Counted before `Meta` exists: its drop, even in a panic below, takes it away.
        RAM_BYTES.fetch_add(class_bytes(class), Ordering::Relaxed);
        let meta = Meta {
            stamp: published_ms.min(MAX_MS) << 16 | class as u64,
            props_len: head[2].len() as u32,
            exchange_len: head[0].len() as u8,
            routing_key_len: head[1].len() as u8,
            priority: props.priority.unwrap_or(0),
            flags,
        };
        let mut arc =
            UniqueArc::from_header_and_uninit_slice(HeaderWithLength::new(meta, len), len);
        let mut at = 0;
        for part in parts() {
            arc.slice[at..at + part.len()].write_copy_of_slice(part);
            at += part.len();
        }
        assert_eq!(at, len);
        // SAFETY: the slice is `len` bytes long and the loop above wrote `at` bytes from its
        // start, contiguously; the assertion proves `at == len`, so every byte is
        // initialized. The header was initialized by `from_header_and_uninit_slice`.
        let arc = unsafe { arc.assume_init_slice_with_header() };
        Message(Arc::into_thin(arc.shareable()))
    }

    fn meta(&self) -> &Meta {
        &self.0.header.header
    }

    fn data(&self) -> &[u8] {
        &self.0.slice
    }

    /// When it was published (unix ms): TTLs count from here, across restarts too.
    pub fn published_ms(&self) -> u64 {
        self.meta().stamp >> 16
    }

    fn str_at(&self, from: usize, len: u8) -> &str {
        let bytes = &self.data()[from..from + len as usize];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: the data is written only by `build`, whose callers pass `exchange` and
        // `routing_key` as `&str`s; it copies them to its start, in that order, and records their
        // byte lengths in `exchange_len` and `routing_key_len`; nothing changes it after.
        // The two ranges used here are exactly those copies, so they hold valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    pub fn exchange(&self) -> &str {
        self.str_at(0, self.meta().exchange_len)
    }

    pub fn routing_key(&self) -> &str {
        self.str_at(
            self.meta().exchange_len as usize,
            self.meta().routing_key_len,
        )
    }

    fn props_start(&self) -> usize {
        self.meta().exchange_len as usize + self.meta().routing_key_len as usize
    }

    fn routing_props_len(&self) -> Option<usize> {
        if self.meta().flags & ROUTING_PROPS == 0 {
            return None;
        }
        let data = self.data();
        let len = data.get(data.len() - 4..)?;
        Some(u32::from_be_bytes(len.try_into().ok()?) as usize)
    }

    /// Properties as the publisher encoded them (re-encoded only when the broker changed
    /// them).
    pub fn raw_properties(&self) -> &[u8] {
        let start = self.props_start();
        &self.data()[start..start + self.meta().props_len as usize]
    }

    pub fn body(&self) -> &[u8] {
        let start = self.props_start() + self.meta().props_len as usize;
        let end = self.data().len() - self.routing_props_len().map_or(0, |n| n + 4);
        &self.data()[start..end]
    }

    /// The decoded properties (for the rare paths that rewrite them).
    pub fn properties(&self) -> BasicProperties {
        Props::decode_full(self.raw_properties()).unwrap_or_default()
    }

    /// The headers routing saw when the message was published (`BCC` included).
    pub fn routing_headers(&self) -> Option<FieldTable> {
        let raw = match self.routing_props_len() {
            Some(n) => {
                let end = self.data().len() - 4;
                &self.data()[end - n..end]
            }
            None => self.raw_properties(),
        };
        Props::decode_full(raw)?.headers().clone()
    }

    pub fn persistent(&self) -> bool {
        self.meta().flags & PERSISTENT != 0
    }

    pub fn priority(&self) -> u8 {
        self.meta().priority
    }

    /// The per-message TTL from the `expiration` property (validated at publish).
    pub fn ttl_ms(&self) -> Option<u64> {
        if self.meta().flags & HAS_TTL == 0 {
            return None;
        }
        Props::expiration_of(self.raw_properties())?.parse().ok()
    }

    pub fn body_size(&self) -> u64 {
        self.body().len() as u64
    }

    /// The `timestamp` property (unix seconds), read from the encoded properties.
    pub fn timestamp(&self) -> Option<u64> {
        Props::timestamp_of(self.raw_properties())
    }

    /// The bytes this message's allocation holds, as counted in [`ram_bytes`].
    pub fn footprint(&self) -> usize {
        class_bytes(self.meta().stamp as u16)
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("exchange", &self.exchange())
            .field("routing_key", &self.routing_key())
            .field("meta", self.meta())
            .field("body_len", &self.body().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::props::encode_properties;
    use super::*;
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
            assert!(m.footprint() >= OVERHEAD + 2 + 4 + raw.len() + body.len());
        }
    }

    #[test]
    fn small_messages_fit_in_one_allocation() {
        assert_eq!(std::mem::size_of::<Message>(), 8);
        assert_eq!(std::mem::size_of::<Option<Message>>(), 8);
        assert_eq!(std::mem::size_of::<Meta>(), 16);
        let m = Message::new("", "warren-perf-12345678", &[0x10, 0, 1], &[1u8; 16]);
        // The count, `Meta` and length (32 bytes) and the data (39 bytes) in one
        // allocation that malloc rounds to 80 bytes.
        assert_eq!(m.data().len(), 39);
    }

    #[test]
    fn size_classes_round_up_by_at_most_a_thousandth() {
        for n in (0..5000).chain([
            2047,
            2048,
            4095,
            4096,
            1 << 20,
            (1 << 27) + 12345,
            usize::MAX >> 24,
        ]) {
            let back = class_bytes(size_class(n));
            assert!(back >= n && back - n <= n / 1000 + 1, "{n} -> {back}");
        }
    }

    #[test]
    fn memory_count_returns_to_where_it_was() {
        let before = ram_bytes();
        let big = vec![3u8; 32 << 20];
        let m = Message::new("ex", "rk", &[0, 0], &big);
        let shared = m.clone();
        assert!(ram_bytes() >= before + big.len());
        drop(m);
        assert!(ram_bytes() >= before + big.len());
        drop(shared);
        // Other tests run in parallel and hold small messages: only this one is checked.
        assert!(ram_bytes() < before + big.len());
    }

    #[test]
    fn a_restored_message_keeps_its_publish_time() {
        let m = Message::restored(
            "ex",
            "rk",
            &[0, 0],
            &Props::default(),
            b"x",
            1_700_000_000_123,
        );
        assert_eq!(m.published_ms(), 1_700_000_000_123);
        assert_eq!(m.body(), b"x");
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

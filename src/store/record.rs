//! The payloads stored in segments. A message record carries what a queue needs to deliver
//! the message again (exchange, routing key, the publisher's raw properties, body) and the
//! durable queues it must come back in after a restart. An ack record names a message
//! (by offset in its segment) and the queue that is done with it.

use crate::message::props::Props;
use crate::message::Message;

const KIND_MESSAGE: u8 = 1;
/// A message written only to save memory (transient, or for a non-durable queue): skipped
/// on recovery.
pub(crate) const FLAG_TRANSIENT: u8 = 1;

/// Identifies a queue in records: a hash of its vhost and name.
pub fn queue_key(vhost: &str, name: &str) -> u64 {
    // FNV-1a: stable across builds and platforms, unlike std's RandomState.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in vhost.bytes().chain([0u8]).chain(name.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The length of a message record's payload.
pub(crate) fn encoded_len(msg: &Message, queues: &[u64]) -> usize {
    ENVELOPE_FIXED
        + queues.len() * 8
        + 2
        + msg.exchange().len()
        + msg.routing_key().len()
        + 4
        + msg.raw_properties().len()
        + msg.body().len()
}

/// kind, flags, origin, priority, published (unix ms), per-message TTL (ms, or u64::MAX),
/// queue count.
const ENVELOPE_FIXED: usize = 29;

/// Appends a message record's payload to `out`. `origin` orders the message in its queues
/// after a restart: the position it was first written at, kept when it is relocated.
pub(crate) fn encode_message(
    out: &mut Vec<u8>,
    msg: &Message,
    flags: u8,
    origin: u64,
    queues: &[u64],
) {
    out.reserve(encoded_len(msg, queues));
    let meta = Meta {
        priority: msg.priority(),
        published_ms: msg.published_ms(),
        ttl_ms: msg.ttl_ms().unwrap_or(u64::MAX),
    };
    put_envelope(out, flags, origin, meta, queues);
    put_short(out, msg.exchange());
    put_short(out, msg.routing_key());
    out.extend_from_slice(&(msg.raw_properties().len() as u32).to_be_bytes());
    out.extend_from_slice(msg.raw_properties());
    out.extend_from_slice(msg.body());
}

/// What recovery needs to know of a message without reading its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub priority: u8,
    pub published_ms: u64,
    /// The message's own TTL (`expiration`), u64::MAX if none.
    pub ttl_ms: u64,
}

fn put_envelope(out: &mut Vec<u8>, flags: u8, origin: u64, meta: Meta, queues: &[u64]) {
    out.push(KIND_MESSAGE);
    out.push(flags);
    out.extend_from_slice(&origin.to_be_bytes());
    out.push(meta.priority);
    out.extend_from_slice(&meta.published_ms.to_be_bytes());
    out.extend_from_slice(&meta.ttl_ms.to_be_bytes());
    out.extend_from_slice(&(queues.len() as u16).to_be_bytes());
    for q in queues {
        out.extend_from_slice(&q.to_be_bytes());
    }
}

/// The same message record with a new envelope (for relocation by compaction).
pub(crate) fn re_envelope(out: &mut Vec<u8>, old: &[u8], flags: u8, queues: &[u64]) -> Option<()> {
    let env = decode_envelope(old)?;
    put_envelope(out, flags, env.origin, env.meta, queues);
    out.extend_from_slice(old.get(env.header_len..)?);
    Some(())
}

fn put_short(out: &mut Vec<u8>, s: &str) {
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

/// The envelope of a message record, read during recovery without decoding the body.
pub(crate) struct Envelope {
    pub flags: u8,
    pub origin: u64,
    pub meta: Meta,
    pub queues: Vec<u64>,
    /// Where the message itself (exchange onwards) starts.
    pub header_len: usize,
}

pub(crate) fn decode_envelope(p: &[u8]) -> Option<Envelope> {
    if p.len() < ENVELOPE_FIXED || p[0] != KIND_MESSAGE {
        return None;
    }
    let origin = u64::from_be_bytes(p[2..10].try_into().ok()?);
    let meta = Meta {
        priority: p[10],
        published_ms: u64::from_be_bytes(p[11..19].try_into().ok()?),
        ttl_ms: u64::from_be_bytes(p[19..27].try_into().ok()?),
    };
    let n = u16::from_be_bytes([p[27], p[28]]) as usize;
    let header_len = ENVELOPE_FIXED + n * 8;
    let queues = p
        .get(ENVELOPE_FIXED..header_len)?
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    Some(Envelope {
        flags: p[1],
        origin,
        meta,
        queues,
        header_len,
    })
}

/// A message record's parts after its envelope: exchange, routing key, raw properties
/// and body.
fn split(p: &[u8], header_len: usize) -> Option<[&[u8]; 4]> {
    let mut pos = header_len;
    let exchange = take_short(p, &mut pos)?;
    let routing_key = take_short(p, &mut pos)?;
    let plen = u32::from_be_bytes(p.get(pos..pos + 4)?.try_into().ok()?) as usize;
    pos += 4;
    let raw_properties = p.get(pos..pos.checked_add(plen)?)?;
    Some([exchange, routing_key, raw_properties, &p[pos + plen..]])
}

/// The body's length in a message record whose envelope is `header_len` bytes long.
pub(crate) fn body_len(p: &[u8], header_len: usize) -> Option<u32> {
    Some(split(p, header_len)?[3].len() as u32)
}

/// Rebuilds the message from its record.
pub(crate) fn decode_message(p: &[u8]) -> Option<Message> {
    let env = decode_envelope(p)?;
    let [exchange, routing_key, raw_properties, body] = split(p, env.header_len)?;
    let props = Props::parse(raw_properties)?;
    Some(Message::restored(
        &String::from_utf8_lossy(exchange),
        &String::from_utf8_lossy(routing_key),
        raw_properties,
        &props,
        body,
        env.meta.published_ms,
    ))
}

fn take_short<'a>(p: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = *p.get(*pos)? as usize;
    let s = p.get(*pos + 1..*pos + 1 + len)?;
    *pos += 1 + len;
    Some(s)
}

/// An ack entry in a segment's ack file: `[u64 offset][u64 queue key][u32 crc]`.
pub(crate) const ACK_LEN: usize = 20;

pub(crate) fn encode_ack(out: &mut Vec<u8>, offset: u64, queue: u64) {
    let start = out.len();
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&queue.to_be_bytes());
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Decodes an ack file's entries; stops at a torn or corrupt entry.
pub(crate) fn decode_acks(data: &[u8]) -> (Vec<(u64, u64)>, bool) {
    let mut out = Vec::with_capacity(data.len() / ACK_LEN);
    for chunk in data.chunks(ACK_LEN) {
        if chunk.len() < ACK_LEN {
            return (out, false);
        }
        let crc = u32::from_be_bytes(chunk[16..20].try_into().unwrap_or([0; 4]));
        if crc32fast::hash(&chunk[..16]) != crc {
            return (out, false);
        }
        let offset = u64::from_be_bytes(chunk[0..8].try_into().unwrap_or([0; 8]));
        let queue = u64::from_be_bytes(chunk[8..16].try_into().unwrap_or([0; 8]));
        out.push((offset, queue));
    }
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::props::encode_properties;
    use amq_protocol::protocol::BasicProperties;

    #[test]
    fn message_round_trips() {
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_priority(4);
        let msg = Message::new("ex", "a.b", &encode_properties(&props), b"payload");
        let mut rec = Vec::new();
        encode_message(&mut rec, &msg, 0, 5, &[7, 9]);
        assert_eq!(rec.len(), encoded_len(&msg, &[7, 9]));
        let env = decode_envelope(&rec).unwrap();
        assert_eq!(env.queues, vec![7, 9]);
        assert_eq!(env.origin, 5);
        let mut moved = Vec::new();
        re_envelope(&mut moved, &rec, 0, &[9]).unwrap();
        let moved_env = decode_envelope(&moved).unwrap();
        assert_eq!((moved_env.origin, moved_env.queues), (5, vec![9]));
        assert_eq!(decode_message(&moved).unwrap().body(), b"payload");
        let back = decode_message(&rec).unwrap();
        assert_eq!(back.exchange(), "ex");
        assert_eq!(back.routing_key(), "a.b");
        assert_eq!(back.body(), b"payload");
        assert_eq!(back.priority(), 4);
        assert_eq!(back.raw_properties(), msg.raw_properties());
    }

    #[test]
    fn truncated_records_do_not_decode() {
        let msg = Message::new("ex", "k", &[0, 0], b"x");
        let mut rec = Vec::new();
        encode_message(&mut rec, &msg, 0, 0, &[1]);
        for cut in 0..rec.len() - 1 {
            let _ = decode_message(&rec[..cut]);
        }
    }

    #[test]
    fn acks_round_trip_and_stop_at_a_torn_entry() {
        let mut buf = Vec::new();
        encode_ack(&mut buf, 10, 3);
        encode_ack(&mut buf, 20, 4);
        buf.extend_from_slice(&[1, 2, 3]);
        let (acks, clean) = decode_acks(&buf);
        assert_eq!(acks, vec![(10, 3), (20, 4)]);
        assert!(!clean);
    }

    #[test]
    fn queue_keys_differ_by_vhost() {
        assert_ne!(queue_key("/", "q"), queue_key("v", "q"));
        assert_eq!(queue_key("/", "q"), queue_key("/", "q"));
    }
}

//! The message body: the first 16 bytes carry the send time and the producer's id and
//! sequence number; the rest is padding.
//!
//! Layout (big-endian): bytes 0..8 send time in ns since [`epoch`]; bytes 8..16
//! `producer_id << 48 | sequence`.

use std::sync::OnceLock;
use std::time::Instant;

/// The smallest body the tool can send.
pub const MIN_BODY: usize = 16;
/// Bits of the second word that carry the sequence number.
pub const SEQ_BITS: u32 = 48;
/// Mask for the sequence number.
pub const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
/// Most producers a run can have (the id is 16 bits).
pub const MAX_PRODUCERS: u32 = 1 << 16;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The process-wide time origin every timestamp is measured from.
pub fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`].
#[inline]
pub fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// Writes the 16-byte stamp into `dst` (which must be at least 16 bytes long).
#[inline]
pub fn encode(dst: &mut [u8], ts_ns: u64, producer: u16, seq: u64) {
    dst[..8].copy_from_slice(&ts_ns.to_be_bytes());
    let tag = (u64::from(producer) << SEQ_BITS) | (seq & SEQ_MASK);
    dst[8..16].copy_from_slice(&tag.to_be_bytes());
}

/// A decoded stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Send time, ns since [`epoch`].
    pub ts_ns: u64,
    /// The producer's id.
    pub producer: u16,
    /// The producer's sequence number (0-based).
    pub seq: u64,
}

/// Reads the stamp from the first 16 bytes of `src`; `None` if it is too short.
#[inline]
pub fn decode(src: &[u8]) -> Option<Stamp> {
    let ts: [u8; 8] = src.get(..8)?.try_into().ok()?;
    let tag: [u8; 8] = src.get(8..16)?.try_into().ok()?;
    let tag = u64::from_be_bytes(tag);
    Some(Stamp {
        ts_ns: u64::from_be_bytes(ts),
        producer: (tag >> SEQ_BITS) as u16,
        seq: tag & SEQ_MASK,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut b = [0u8; 20];
        encode(&mut b, 123_456_789_012, 7, 42);
        assert_eq!(
            decode(&b),
            Some(Stamp {
                ts_ns: 123_456_789_012,
                producer: 7,
                seq: 42
            })
        );
        encode(&mut b, u64::MAX, u16::MAX, SEQ_MASK);
        let s = decode(&b).unwrap();
        assert_eq!((s.ts_ns, s.producer, s.seq), (u64::MAX, u16::MAX, SEQ_MASK));
    }

    #[test]
    fn short_bodies_do_not_decode() {
        assert_eq!(decode(&[0u8; 15]), None);
        assert_eq!(decode(&[]), None);
        assert!(decode(&[0u8; 16]).is_some());
    }

    #[test]
    fn clock_moves_forward() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a);
    }
}

//! A message's digest: what a returning mirror and its master compare to prove that the
//! mirror's copy at a position is the master's message, so a sync need not send it again.
//! A position alone proves nothing: a master promoted without the old master's last
//! messages reuses their positions for new ones.

use crate::message::Message;
use sha2::{Digest as _, Sha256};

/// The first 128 bits of SHA-256 over the message's routing, properties as published, body
/// and first publication time.
pub(crate) type Digest = [u64; 2];

pub(crate) fn digest(msg: &Message) -> Digest {
    let mut h = Sha256::new();
    for part in [
        msg.exchange().as_bytes(),
        msg.routing_key().as_bytes(),
        msg.raw_properties(),
        msg.body(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(msg.published_ms().to_le_bytes());
    let out = h.finalize();
    let word = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&out[i * 8..i * 8 + 8]);
        u64::from_le_bytes(b)
    };
    [word(0), word(1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_messages_match_and_any_difference_does_not() {
        let at = |rk: &str, body: &[u8], ms: u64| {
            Message::restored("x", rk, &[], &Default::default(), body, ms)
        };
        let m = |rk: &str, body: &[u8]| at(rk, body, 1_000);
        let a = m("k", b"body");
        assert_eq!(digest(&a), digest(&m("k", b"body")));
        assert_ne!(digest(&a), digest(&at("k", b"body", 1_001)));
        assert_ne!(digest(&a), digest(&m("k", b"bodY")));
        assert_ne!(digest(&a), digest(&m("kk", b"body")));
        // Parts are length-prefixed: moving bytes between them changes the digest.
        assert_ne!(digest(&m("kb", b"ody")), digest(&m("k", b"body")));
    }
}

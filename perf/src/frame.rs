//! AMQP 0-9-1 framing: a read buffer that yields many frames per read, control-method
//! encoding/decoding through amq-protocol, and hand-rolled encoders/decoders for the
//! hot-path frames (basic.publish + header + body, basic.deliver, basic.ack/nack).

use amq_protocol::frame::{gen_frame, AMQPFrame, WriteContext};
use amq_protocol::protocol::{parse_class, AMQPClass};
use std::ops::Range;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Method frame type.
pub const FRAME_METHOD: u8 = 1;
/// Content header frame type.
pub const FRAME_HEADER: u8 = 2;
/// Content body frame type.
pub const FRAME_BODY: u8 = 3;
/// Heartbeat frame type.
pub const FRAME_HEARTBEAT: u8 = 8;
/// Frame-end octet.
pub const FRAME_END: u8 = 0xCE;
/// The AMQP 0-9-1 protocol header.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";

/// basic class id.
pub const BASIC: u16 = 60;
/// basic.cancel.
pub const BASIC_CANCEL: u16 = 30;
/// basic.cancel-ok.
pub const BASIC_CANCEL_OK: u16 = 31;
/// basic.return.
pub const BASIC_RETURN: u16 = 50;
/// basic.deliver.
pub const BASIC_DELIVER: u16 = 60;
/// basic.ack.
pub const BASIC_ACK: u16 = 80;
/// basic.nack.
pub const BASIC_NACK: u16 = 120;

/// A frame size the reader accepts when the server did not limit it (frame_max 0).
const UNLIMITED_FRAME: usize = 16 << 20;

/// A receive buffer: read big chunks, hand out complete frames as ranges into it.
pub struct FrameBuf {
    /// The storage; frames are `buf[range]` for the ranges [`FrameBuf::next_frame`] returns.
    pub buf: Vec<u8>,
    start: usize,
    end: usize,
    need: usize,
    max_payload: usize,
}

impl FrameBuf {
    /// A buffer of `size` bytes (grown for bigger frames).
    pub fn new(size: usize) -> FrameBuf {
        FrameBuf {
            buf: vec![0; size.max(64)],
            start: 0,
            end: 0,
            need: 0,
            max_payload: UNLIMITED_FRAME,
        }
    }

    /// Sets the largest frame accepted (the negotiated frame_max; 0 = unlimited).
    pub fn set_frame_max(&mut self, frame_max: u32) {
        self.max_payload = if frame_max == 0 {
            UNLIMITED_FRAME
        } else {
            frame_max as usize
        };
    }

    /// Bytes received but not yet handed out.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads once from `r`; returns the byte count (0 = end of stream).
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> std::io::Result<usize> {
        self.make_room();
        let n = r.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let free = self.buf.len() - self.end;
        if free < 4096 || self.need > self.buf.len() - self.start {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.need > self.buf.len() {
                self.buf.resize(self.need, 0);
            } else if self.buf.len() - self.end < 4096 {
                let len = self.buf.len();
                self.buf.resize(len * 2, 0);
            }
        }
    }

    /// The next complete frame as (type, channel, payload range), `None` if more bytes are
    /// needed; an error for a malformed or oversized frame.
    pub fn next_frame(&mut self) -> Result<Option<(u8, u16, Range<usize>)>, String> {
        let avail = &self.buf[self.start..self.end];
        if avail.len() < 7 {
            return Ok(None);
        }
        if avail.starts_with(b"AMQP") {
            return Err(format!(
                "the server answered with a protocol header {:?}: it does not accept AMQP 0-9-1",
                String::from_utf8_lossy(&avail[..avail.len().min(8)])
            ));
        }
        let ty = avail[0];
        let channel = u16::from_be_bytes([avail[1], avail[2]]);
        let size = u32::from_be_bytes([avail[3], avail[4], avail[5], avail[6]]) as usize;
        if size > self.max_payload {
            return Err(format!(
                "the server sent a {size}-byte frame, more than frame_max {}",
                self.max_payload
            ));
        }
        let total = size + 8;
        if avail.len() < total {
            self.need = total;
            return Ok(None);
        }
        self.need = 0;
        if avail[total - 1] != FRAME_END {
            return Err(format!(
                "malformed frame from the server (type {ty}, channel {channel}, size {size}): \
                 bad frame-end octet {:#04x}",
                avail[total - 1]
            ));
        }
        let payload = self.start + 7..self.start + 7 + size;
        self.start += total;
        Ok(Some((ty, channel, payload)))
    }

    /// Shrinks the storage (for idle connections).
    pub fn shrink(&mut self, size: usize) {
        if self.start == self.end && self.buf.len() > size {
            self.start = 0;
            self.end = 0;
            self.buf = vec![0; size];
        }
    }
}

/// Class and method ids of a method payload.
#[inline]
pub fn method_ids(p: &[u8]) -> Option<(u16, u16)> {
    Some((
        u16::from_be_bytes([*p.first()?, *p.get(1)?]),
        u16::from_be_bytes([*p.get(2)?, *p.get(3)?]),
    ))
}

/// Decodes a method payload with amq-protocol.
pub fn decode_method(p: &[u8]) -> Result<AMQPClass, String> {
    match parse_class(p) {
        Ok((_, m)) => Ok(m),
        Err(_) => {
            let (c, m) = method_ids(p).unwrap_or((0, 0));
            Err(format!("cannot decode method {c}.{m} sent by the server"))
        }
    }
}

/// Appends a method frame encoded by amq-protocol.
pub fn encode_method(out: &mut Vec<u8>, channel: u16, method: AMQPClass) -> Result<(), String> {
    let frame = AMQPFrame::Method(channel, method);
    let res = gen_frame(&frame)(WriteContext::from(Vec::with_capacity(128)));
    let res = match res {
        Ok(ctx) => {
            out.extend_from_slice(&ctx.into_inner().0);
            Ok(())
        }
        Err(e) => Err(format!("cannot encode {frame}: {e:?}")),
    };
    res
}

/// Appends a basic.ack frame.
#[inline]
pub fn encode_ack(out: &mut Vec<u8>, channel: u16, tag: u64, multiple: bool) {
    out.push(FRAME_METHOD);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&BASIC.to_be_bytes());
    out.extend_from_slice(&BASIC_ACK.to_be_bytes());
    out.extend_from_slice(&tag.to_be_bytes());
    out.push(u8::from(multiple));
    out.push(FRAME_END);
}

/// The delivery tag of a basic.deliver payload (after the 4 id bytes are checked by the
/// caller): consumer-tag (shortstr), delivery-tag (u64), …
#[inline]
pub fn deliver_tag(p: &[u8]) -> Option<u64> {
    let ctag_len = *p.get(4)? as usize;
    let at = 5 + ctag_len;
    Some(u64::from_be_bytes(p.get(at..at + 8)?.try_into().ok()?))
}

/// Delivery tag and `multiple` of a basic.ack or basic.nack payload.
#[inline]
pub fn ack_fields(p: &[u8]) -> Option<(u64, bool)> {
    let tag = u64::from_be_bytes(p.get(4..12)?.try_into().ok()?);
    let bits = *p.get(12)?;
    Some((tag, bits & 1 != 0))
}

/// The body size of a content header payload.
#[inline]
pub fn header_body_size(p: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(p.get(4..12)?.try_into().ok()?))
}

fn push_frame_head(out: &mut Vec<u8>, ty: u8, channel: u16, size: usize) {
    out.push(ty);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(size as u32).to_be_bytes());
}

fn push_shortstr(out: &mut Vec<u8>, s: &str) {
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

/// One message — basic.publish, content header and body frame(s) — pre-encoded, with the
/// position of the body's 16-byte stamp so each copy only needs that patched.
#[derive(Debug, Clone)]
pub struct PublishTemplate {
    bytes: Vec<u8>,
    stamp_at: usize,
}

impl PublishTemplate {
    /// Builds the template. Names must be at most 255 bytes; `body_size` at least 16.
    pub fn new(
        channel: u16,
        exchange: &str,
        routing_key: &str,
        body_size: usize,
        persistent: bool,
        frame_max: u32,
    ) -> Result<PublishTemplate, String> {
        if exchange.len() > 255 || routing_key.len() > 255 {
            return Err("exchange and routing key must be at most 255 bytes".into());
        }
        if body_size < crate::body::MIN_BODY {
            return Err(format!(
                "body size must be at least {} bytes",
                crate::body::MIN_BODY
            ));
        }
        let mut b = Vec::with_capacity(body_size + 128);
        // basic.publish: class, method, ticket, exchange, routing-key, mandatory/immediate.
        let method_len = 4 + 2 + 1 + exchange.len() + 1 + routing_key.len() + 1;
        push_frame_head(&mut b, FRAME_METHOD, channel, method_len);
        b.extend_from_slice(&BASIC.to_be_bytes());
        b.extend_from_slice(&40u16.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        push_shortstr(&mut b, exchange);
        push_shortstr(&mut b, routing_key);
        b.push(0);
        b.push(FRAME_END);
        // Content header: class, weight, body size, property flags (+ delivery-mode).
        let props: &[u8] = if persistent {
            &[0x10, 0x00, 2]
        } else {
            &[0x00, 0x00]
        };
        push_frame_head(&mut b, FRAME_HEADER, channel, 12 + props.len());
        b.extend_from_slice(&BASIC.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&(body_size as u64).to_be_bytes());
        b.extend_from_slice(props);
        b.push(FRAME_END);
        // Body frames of at most frame_max - 8 bytes each.
        let chunk = if frame_max == 0 {
            usize::MAX
        } else {
            (frame_max as usize)
                .saturating_sub(8)
                .max(crate::body::MIN_BODY)
        };
        let mut stamp_at = 0;
        let mut left = body_size;
        while left > 0 {
            let n = left.min(chunk);
            push_frame_head(&mut b, FRAME_BODY, channel, n);
            if stamp_at == 0 {
                stamp_at = b.len();
            }
            b.resize(b.len() + n, 0);
            b.push(FRAME_END);
            left -= n;
        }
        Ok(PublishTemplate { bytes: b, stamp_at })
    }

    /// Encoded size of one message.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false (a message has frames).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends one message with the given stamp.
    #[inline]
    pub fn append(&self, out: &mut Vec<u8>, ts_ns: u64, producer: u16, seq: u64) {
        let at = out.len() + self.stamp_at;
        out.extend_from_slice(&self.bytes);
        crate::body::encode(&mut out[at..at + 16], ts_ns, producer, seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::frame::parse_frame;
    use amq_protocol::protocol::basic::AMQPMethod as Basic;

    fn frames(mut bytes: &[u8]) -> Vec<AMQPFrame> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (rest, f) = parse_frame(bytes).expect("parses");
            out.push(f);
            bytes = rest;
        }
        out
    }

    #[test]
    fn publish_template_is_valid_amqp() {
        let t = PublishTemplate::new(1, "ex", "rk", 40, true, 131072).unwrap();
        let mut buf = Vec::new();
        t.append(&mut buf, 99, 3, 7);
        t.append(&mut buf, 100, 3, 8);
        let fs = frames(&buf);
        assert_eq!(fs.len(), 6);
        match &fs[0] {
            AMQPFrame::Method(1, AMQPClass::Basic(Basic::Publish(p))) => {
                assert_eq!(p.exchange.as_str(), "ex");
                assert_eq!(p.routing_key.as_str(), "rk");
            }
            f => panic!("unexpected {f:?}"),
        }
        match &fs[1] {
            AMQPFrame::Header(1, h) => {
                assert_eq!(h.body_size, 40);
                assert_eq!(h.properties.delivery_mode(), &Some(2));
            }
            f => panic!("unexpected {f:?}"),
        }
        match &fs[5] {
            AMQPFrame::Body(1, b) => {
                assert_eq!(b.len(), 40);
                let s = crate::body::decode(b).unwrap();
                assert_eq!((s.ts_ns, s.producer, s.seq), (100, 3, 8));
            }
            f => panic!("unexpected {f:?}"),
        }
    }

    #[test]
    fn big_bodies_are_split_at_frame_max() {
        let t = PublishTemplate::new(2, "", "q", 10_000, false, 4096).unwrap();
        let mut buf = Vec::new();
        t.append(&mut buf, 1, 0, 0);
        let fs = frames(&buf);
        let sizes: Vec<usize> = fs
            .iter()
            .filter_map(|f| match f {
                AMQPFrame::Body(_, b) => Some(b.len()),
                _ => None,
            })
            .collect();
        assert_eq!(sizes, vec![4088, 4088, 1824]);
        match &fs[1] {
            AMQPFrame::Header(2, h) => assert_eq!(h.properties.delivery_mode(), &None),
            f => panic!("unexpected {f:?}"),
        }
    }

    #[test]
    fn template_rejects_bad_input() {
        assert!(PublishTemplate::new(1, "", "q", 15, false, 0).is_err());
        assert!(PublishTemplate::new(1, &"x".repeat(256), "q", 16, false, 0).is_err());
    }

    #[test]
    fn ack_encoding_round_trips() {
        let mut b = Vec::new();
        encode_ack(&mut b, 1, 12345, true);
        match &frames(&b)[0] {
            AMQPFrame::Method(1, AMQPClass::Basic(Basic::Ack(a))) => {
                assert_eq!(a.delivery_tag, 12345);
                assert!(a.multiple);
            }
            f => panic!("unexpected {f:?}"),
        }
        assert_eq!(ack_fields(&b[7..b.len() - 1]), Some((12345, true)));
    }

    #[test]
    fn deliver_fields() {
        let m = AMQPClass::Basic(Basic::Deliver(amq_protocol::protocol::basic::Deliver {
            consumer_tag: "ctag".into(),
            delivery_tag: 77,
            redelivered: false,
            exchange: "".into(),
            routing_key: "q".into(),
        }));
        let mut b = Vec::new();
        encode_method(&mut b, 1, m).unwrap();
        let p = &b[7..b.len() - 1];
        assert_eq!(method_ids(p), Some((BASIC, BASIC_DELIVER)));
        assert_eq!(deliver_tag(p), Some(77));
        assert_eq!(deliver_tag(&p[..10]), None);
    }

    #[tokio::test]
    async fn frame_buf_splits_and_validates() {
        let t = PublishTemplate::new(1, "", "q", 16, false, 0).unwrap();
        let mut bytes = Vec::new();
        for i in 0..100 {
            t.append(&mut bytes, i, 0, i);
        }
        // Feed in awkward pieces.
        let mut fb = FrameBuf::new(64);
        let mut src: &[u8] = &bytes;
        let mut n = 0;
        loop {
            while let Some((ty, _, r)) = fb.next_frame().unwrap() {
                if ty == FRAME_BODY {
                    let s = crate::body::decode(&fb.buf[r]).unwrap();
                    assert_eq!(s.seq, n);
                    n += 1;
                }
            }
            let take = src.len().min(13);
            let mut piece = &src[..take];
            src = &src[take..];
            if fb.fill(&mut piece).await.unwrap() == 0 {
                break;
            }
        }
        assert_eq!(n, 100);

        let mut fb = FrameBuf::new(64);
        let mut bad: &[u8] = &[1, 0, 1, 0, 0, 0, 1, 9, 0xAB];
        fb.fill(&mut bad).await.unwrap();
        assert!(fb.next_frame().is_err());

        let mut fb = FrameBuf::new(64);
        fb.set_frame_max(4096);
        let mut huge: &[u8] = &[3, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0];
        fb.fill(&mut huge).await.unwrap();
        assert!(fb.next_frame().is_err());

        let mut fb = FrameBuf::new(64);
        let mut hdr: &[u8] = b"AMQP\x00\x00\x09\x01";
        fb.fill(&mut hdr).await.unwrap();
        assert!(fb.next_frame().unwrap_err().contains("protocol header"));
    }
}

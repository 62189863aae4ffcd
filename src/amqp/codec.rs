//! Frame decoding and encoding. The reader checks each frame's header (type, size, end
//! marker) itself before anything is buffered beyond `frame_max`, then hands method payloads
//! to amq-protocol. The hot path is decoded here over the read buffer: `basic.publish`, the
//! content header (raw property bytes kept, so they can be forwarded to consumers unchanged)
//! and body frames stay `Bytes` slices of the read buffer until the message is assembled.

use super::error::{AmqpError, AmqpResult};
use crate::field_table::ScanError;
use crate::message::props::Props;
use amq_protocol::frame::{gen_frame, AMQPFrame, WriteContext};
use amq_protocol::protocol::{parse_class, AMQPClass};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

pub const FRAME_METHOD: u8 = 1;
pub const FRAME_HEADER: u8 = 2;
pub const FRAME_BODY: u8 = 3;
pub const FRAME_HEARTBEAT: u8 = 8;
pub const FRAME_END: u8 = 0xCE;
/// Bytes a frame adds around its payload: type, channel, size and the end marker.
pub const FRAME_OVERHEAD: usize = 8;
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";

/// A content header as received: the properties the broker reads plus the raw bytes.
#[derive(Debug, Clone)]
pub struct ContentHeader {
    pub class_id: u16,
    pub body_size: u64,
    pub props: Props,
    /// Property flags and values exactly as the publisher encoded them.
    pub raw_properties: Bytes,
}

/// A short string checked as UTF-8, kept as a slice of the frame it came in.
#[derive(Debug, Clone)]
pub struct Name(Bytes);

impl Name {
    pub fn as_str(&self) -> &str {
        // SAFETY: a `Name` is built only by `decode_publish`, from bytes `from_utf8` accepted
        // or from a `String` (`text_of`), or from an amq-protocol `ShortString` (a
        // `String`); the bytes are never changed afterwards.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

/// `basic.publish`, decoded by hand: it is the hot path.
#[derive(Debug, Clone)]
pub struct Publish {
    pub exchange: Name,
    pub routing_key: Name,
    pub mandatory: bool,
    pub immediate: bool,
}

impl From<amq_protocol::protocol::basic::Publish> for Publish {
    fn from(p: amq_protocol::protocol::basic::Publish) -> Self {
        let name = |s: amq_protocol::types::ShortString| Name(Bytes::from(s.to_string()));
        Publish {
            exchange: name(p.exchange),
            routing_key: name(p.routing_key),
            mandatory: p.mandatory,
            immediate: p.immediate,
        }
    }
}

/// One decoded frame.
#[derive(Debug)]
pub enum Frame {
    Method(u16, Box<AMQPClass>),
    Publish(u16, Publish),
    /// `basic.ack`: delivery tag and multiple, decoded by hand (one per message for
    /// consumers that ack each delivery).
    Ack(u16, u64, bool),
    Header(u16, ContentHeader),
    Body(u16, Bytes),
    Heartbeat(u16),
}

impl Frame {
    /// Class and method ids of the hand-decoded methods (`None` for other frames).
    pub fn fast_method_ids(&self) -> Option<(u16, u16)> {
        match self {
            Frame::Publish(..) => Some((60, 40)),
            Frame::Ack(..) => Some((60, 80)),
            _ => None,
        }
    }

    pub fn channel(&self) -> u16 {
        match self {
            Frame::Method(c, _)
            | Frame::Publish(c, _)
            | Frame::Ack(c, ..)
            | Frame::Header(c, _)
            | Frame::Body(c, _)
            | Frame::Heartbeat(c) => *c,
        }
    }
}

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the socket or it failed.
    Io(std::io::Error),
    /// The bytes are not valid AMQP: answer with this connection error.
    Protocol(AmqpError),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads frames from a socket, decoding as many as one read delivered before reading again.
pub struct FrameReader<R> {
    rd: R,
    buf: BytesMut,
    frame_max: u32,
    /// How much to make room for before a read: grows while reads fill it (a busy
    /// connection), so an idle connection holds only a small buffer.
    chunk: usize,
    /// Bytes read so far.
    read: u64,
}

const MIN_CHUNK: usize = 512;
const READ_CHUNK: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(rd: R, frame_max: u32) -> Self {
        Self {
            rd,
            buf: BytesMut::new(),
            frame_max,
            chunk: MIN_CHUNK,
            read: 0,
        }
    }

    /// Bytes read from the socket so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    pub fn set_frame_max(&mut self, frame_max: u32) {
        self.frame_max = frame_max;
    }

    /// Reads exactly the 8-byte protocol header.
    pub async fn read_protocol_header(&mut self) -> std::io::Result<[u8; 8]> {
        self.buf.reserve(MIN_CHUNK);
        while self.buf.len() < 8 {
            if self.rd.read_buf(&mut self.buf).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        let mut header = [0u8; 8];
        header.copy_from_slice(&self.buf[..8]);
        self.buf.advance(8);
        Ok(header)
    }

    /// The next frame; reads from the socket only when the buffer holds no whole frame.
    pub async fn next(&mut self) -> Result<Frame, ReadError> {
        loop {
            if let Some(frame) = self.try_decode()? {
                return Ok(frame);
            }
            self.fill().await?;
        }
    }

    /// Reads once from the socket into the buffer.
    /// Reads more bytes from the socket; returns how many.
    pub async fn fill(&mut self) -> Result<usize, ReadError> {
        if self.buf.capacity() - self.buf.len() < self.chunk / 4 {
            self.buf.reserve(self.chunk);
        }
        let room = self.buf.capacity() - self.buf.len();
        let n = self.rd.read_buf(&mut self.buf).await?;
        self.read += n as u64;
        if n == 0 {
            return Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        if n == room {
            self.chunk = (self.chunk * 2).min(READ_CHUNK);
        }
        Ok(n)
    }

    /// Reads and throws away everything until the peer closes (or the socket fails).
    pub async fn discard_until_eof(&mut self) {
        loop {
            self.buf.clear();
            if self.fill().await.is_err() {
                return;
            }
        }
    }

    /// Decodes one frame from the buffer if a whole one is there.
    pub fn try_decode(&mut self) -> Result<Option<Frame>, ReadError> {
        if self.buf.len() < 7 {
            return Ok(None);
        }
        let kind = self.buf[0];
        let channel = u16::from_be_bytes([self.buf[1], self.buf[2]]);
        let size = u32::from_be_bytes([self.buf[3], self.buf[4], self.buf[5], self.buf[6]]);
        if !matches!(
            kind,
            FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
        ) {
            return Err(protocol(AmqpError::frame_error(format!(
                "type {kind}, all octets = <<>>: {{frame_too_large_or_unknown_type}}"
            ))));
        }
        // RabbitMQ 3.10 (observed) accepts a payload of up to frame_max bytes.
        if self.frame_max > 0 && size > self.frame_max {
            return Err(protocol(AmqpError::frame_error(format!(
                "type {kind}, first 16 octets = <<>>: {{frame_too_large,{size},{}}}",
                self.frame_max
            ))));
        }
        let total = 7 + size as usize + 1;
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        if self.buf[total - 1] != FRAME_END {
            return Err(protocol(AmqpError::frame_error(format!(
                "type {kind}, channel {channel}: invalid frame end marker"
            ))));
        }
        let mut frame = self.buf.split_to(total);
        frame.advance(7);
        frame.truncate(size as usize);
        decode_payload(kind, channel, frame.freeze()).map(Some)
    }
}

fn protocol(e: AmqpError) -> ReadError {
    ReadError::Protocol(e)
}

fn decode_payload(kind: u8, channel: u16, payload: Bytes) -> Result<Frame, ReadError> {
    match kind {
        FRAME_METHOD if payload.starts_with(&[0, 60, 0, 40]) => decode_publish(channel, payload),
        // basic.ack: class, method, delivery tag, the multiple bit.
        FRAME_METHOD if payload.len() == 13 && payload.starts_with(&[0, 60, 0, 80]) => {
            let tag = u64::from_be_bytes(payload[4..12].try_into().unwrap_or([0; 8]));
            Ok(Frame::Ack(channel, tag, payload[12] & 1 != 0))
        }
        FRAME_METHOD => decode_method(channel, &payload),
        FRAME_HEADER => decode_header(channel, payload),
        FRAME_BODY => Ok(Frame::Body(channel, payload)),
        _ => {
            // RabbitMQ 3.10: a heartbeat with a payload is 501; on a channel other than 0, 505.
            if !payload.is_empty() {
                return Err(protocol(AmqpError::frame_error(format!(
                    "heartbeat frame with a {}-byte payload",
                    payload.len()
                ))));
            }
            if channel != 0 {
                return Err(protocol(AmqpError::unexpected_frame(format!(
                    "heartbeat frame on channel {channel}"
                ))));
            }
            Ok(Frame::Heartbeat(channel))
        }
    }
}

/// `basic.publish`: reserved short, exchange, routing key, mandatory and immediate bits.
/// Refused exactly as amq-protocol's parser would refuse it.
fn decode_publish(channel: u16, payload: Bytes) -> Result<Frame, ReadError> {
    let cannot = || {
        protocol(AmqpError::frame_error("cannot decode method frame for class 60/40").on(60, 40))
    };
    let mut pos = 6;
    let name = |pos: &mut usize| -> Option<Name> {
        let len = *payload.get(*pos)? as usize;
        let bytes = payload.get(*pos + 1..*pos + 1 + len)?;
        // RabbitMQ takes names as bytes: an exchange name that is not UTF-8 is simply not
        // found (404), a routing key that is not UTF-8 routes. Warren keeps names as text,
        // so each such byte becomes `?` (one byte: the name still fits a short string).
        let name = match std::str::from_utf8(bytes) {
            Ok(_) => Name(payload.slice(*pos + 1..*pos + 1 + len)),
            Err(_) => Name(Bytes::from(text_of(bytes))),
        };
        *pos += 1 + len;
        Some(name)
    };
    let exchange = name(&mut pos).ok_or_else(cannot)?;
    let routing_key = name(&mut pos).ok_or_else(cannot)?;
    let bits = *payload.get(pos).ok_or_else(cannot)?;
    if pos + 1 != payload.len() {
        return Err(protocol(cannot_decode(60, 40, &payload[4..])));
    }
    Ok(Frame::Publish(
        channel,
        Publish {
            exchange,
            routing_key,
            mandatory: bits & 1 != 0,
            immediate: bits & 2 != 0,
        },
    ))
}

fn decode_method(channel: u16, payload: &[u8]) -> Result<Frame, ReadError> {
    if payload.len() < 4 {
        return Err(protocol(AmqpError::frame_error("method frame too short")));
    }
    let class_id = u16::from_be_bytes([payload[0], payload[1]]);
    let method_id = u16::from_be_bytes([payload[2], payload[3]]);
    // amq-protocol drops basic.qos prefetch-size; RabbitMQ refuses a non-zero one.
    if class_id == 60 && method_id == 10 && payload.len() >= 8 {
        let size = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
        if size != 0 {
            return Err(protocol(
                AmqpError::not_implemented(format!("prefetch_size!=0 ({size})")).on(60, 10),
            ));
        }
    }
    // amq-protocol's table decoder recurses: refuse deep nesting before it runs. Other
    // faults the walk finds are left to amq-protocol, which words them.
    if let Err(e @ ScanError::TooDeep) =
        super::nesting::check_method(class_id, method_id, &payload[4..])
    {
        return Err(protocol(
            AmqpError::frame_error(format!(
                "cannot decode method frame for class {class_id}/{method_id}: {e}"
            ))
            .on(class_id, method_id),
        ));
    }
    match parse_class(payload) {
        Ok((&[], class)) => Ok(Frame::Method(channel, Box::new(class))),
        Ok(_) => Err(protocol(cannot_decode(class_id, method_id, &payload[4..]))),
        Err(_) if !is_known_method(class_id, method_id) => Err(protocol(
            AmqpError::command_invalid(format!("unknown method {class_id}/{method_id}"))
                .on(class_id, method_id),
        )),
        Err(_) => Err(protocol(
            AmqpError::frame_error(format!(
                "cannot decode method frame for class {class_id}/{method_id}"
            ))
            .on(class_id, method_id),
        )),
    }
}

/// `bytes` as text, with `?` for each byte that is not part of valid UTF-8: as long as the
/// bytes, so a short string stays a short string.
fn text_of(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(std::iter::repeat_n('?', chunk.invalid().len()));
    }
    out
}

/// RabbitMQ's answer to a method whose arguments do not decode exactly (trailing bytes):
/// 501 with the arguments as an Erlang binary (cut to fit the reply text).
fn cannot_decode(class_id: u16, method_id: u16, args: &[u8]) -> AmqpError {
    let mut text = String::from("cannot decode <<");
    for (i, b) in args.iter().enumerate() {
        if text.len() > 240 {
            text.push_str("...");
            break;
        }
        if i > 0 {
            text.push(',');
        }
        text.push_str(&b.to_string());
    }
    text.push_str(">>");
    AmqpError::frame_error(text).on(class_id, method_id)
}

/// Whether (class, method) names a method of AMQP 0-9-1 with RabbitMQ's extensions.
fn is_known_method(class_id: u16, method_id: u16) -> bool {
    let methods: &[u16] = match class_id {
        10 => &[10, 11, 20, 21, 30, 31, 40, 41, 50, 51, 60, 61, 70, 71],
        20 => &[10, 11, 20, 21, 40, 41],
        30 => &[10, 11],
        40 => &[10, 11, 20, 21, 30, 31, 40, 51],
        50 => &[10, 11, 20, 21, 30, 31, 40, 41, 50, 51],
        60 => &[
            10, 11, 20, 21, 30, 31, 40, 50, 60, 70, 71, 72, 80, 90, 100, 110, 111, 120,
        ],
        85 => &[10, 11],
        90 => &[10, 11, 20, 21, 30, 31],
        _ => &[],
    };
    methods.contains(&method_id)
}

fn decode_header(channel: u16, payload: Bytes) -> Result<Frame, ReadError> {
    if payload.len() < 14 {
        return Err(protocol(AmqpError::frame_error(
            "content header frame too short",
        )));
    }
    let class_id = u16::from_be_bytes([payload[0], payload[1]]);
    let body_size = u64::from_be_bytes(payload[4..12].try_into().unwrap_or([0; 8]));
    let raw_properties = payload.slice(12..);
    let Some(props) = Props::parse(&raw_properties) else {
        return Err(protocol(AmqpError::frame_error(
            "cannot decode content header properties",
        )));
    };
    Ok(Frame::Header(
        channel,
        ContentHeader {
            class_id,
            body_size,
            props,
            raw_properties,
        },
    ))
}

/// Appends one amq-protocol frame to `out`.
pub fn encode_frame(out: &mut BytesMut, frame: &AMQPFrame) {
    match gen_frame(frame)(WriteContext::from(Vec::with_capacity(64))) {
        Ok(ctx) => out.extend_from_slice(&ctx.write),
        // Generation into a growable buffer only fails on values the spec cannot carry
        // (e.g. a short string over 255 bytes); callers validate before this point.
        Err(e) => tracing::error!("cannot encode frame: {e:?}"),
    }
}

/// Appends a method frame.
pub fn encode_method(out: &mut BytesMut, channel: u16, method: AMQPClass) {
    encode_frame(out, &AMQPFrame::Method(channel, method));
}

/// Appends a content header carrying pre-encoded properties.
pub fn encode_content_header(out: &mut BytesMut, channel: u16, body_size: u64, raw: &[u8]) {
    out.put_u8(FRAME_HEADER);
    out.put_u16(channel);
    out.put_u32((12 + raw.len()) as u32);
    out.put_u16(60);
    out.put_u16(0);
    out.put_u64(body_size);
    out.put_slice(raw);
    out.put_u8(FRAME_END);
}

/// Appends body frames, splitting the body so no frame exceeds `frame_max`.
pub fn encode_body(out: &mut BytesMut, channel: u16, body: &[u8], frame_max: u32) {
    let chunk = (frame_max as usize).saturating_sub(FRAME_OVERHEAD).max(1);
    for part in body.chunks(chunk) {
        out.put_u8(FRAME_BODY);
        out.put_u16(channel);
        out.put_u32(part.len() as u32);
        out.put_slice(part);
        out.put_u8(FRAME_END);
    }
}

pub fn encode_heartbeat(out: &mut BytesMut) {
    out.put_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}

/// Truncates a string to the 255 bytes a short string can hold, on a char boundary.
pub fn short(s: &str) -> amq_protocol::types::ShortString {
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    amq_protocol::types::ShortString::from(&s[..end])
}

pub type DecodeResult = AmqpResult<Frame>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::props::encode_properties;
    use amq_protocol::protocol::BasicProperties;
    use amq_protocol::protocol::{basic, queue};

    async fn decode_all(bytes: Vec<u8>, frame_max: u32) -> Vec<Result<Frame, String>> {
        let mut r = FrameReader::new(&bytes[..], frame_max);
        let mut out = vec![];
        loop {
            match r.next().await {
                Ok(f) => out.push(Ok(f)),
                Err(ReadError::Io(_)) => break,
                Err(ReadError::Protocol(e)) => {
                    out.push(Err(format!("{}", e.code)));
                    break;
                }
            }
        }
        out
    }

    fn method_bytes(channel: u16, m: AMQPClass) -> Vec<u8> {
        let mut b = BytesMut::new();
        encode_method(&mut b, channel, m);
        b.to_vec()
    }

    #[tokio::test]
    async fn decodes_several_frames_from_one_buffer() {
        let mut bytes = method_bytes(
            1,
            AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
                queue: "q".into(),
                ..Default::default()
            })),
        );
        let props = encode_properties(&BasicProperties::default().with_priority(3));
        let mut b = BytesMut::new();
        encode_content_header(&mut b, 1, 5, &props);
        encode_body(&mut b, 1, b"hello", 131072);
        encode_heartbeat(&mut b);
        bytes.extend_from_slice(&b);
        let frames = decode_all(bytes, 131072).await;
        assert_eq!(frames.len(), 4);
        match &frames[1] {
            Ok(Frame::Header(1, h)) => {
                assert_eq!(h.body_size, 5);
                assert_eq!(h.props.priority, Some(3));
                assert_eq!(&h.raw_properties[..], &props[..]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&frames[2], Ok(Frame::Body(1, b)) if &b[..] == b"hello"));
        assert!(matches!(&frames[3], Ok(Frame::Heartbeat(0))));
    }

    #[tokio::test]
    async fn oversized_frame_is_501_before_buffering() {
        // Header claims 1 GiB; only the 7-byte header is present.
        let bytes = vec![3, 0, 1, 0x40, 0, 0, 0];
        let frames = decode_all(bytes, 131072).await;
        assert_eq!(frames.len(), 1);
        assert!(matches!(&frames[0], Err(c) if c == "501"));
    }

    #[tokio::test]
    async fn bad_end_marker_and_unknown_type_are_501() {
        assert!(matches!(
            &decode_all(vec![8, 0, 0, 0, 0, 0, 0, 0xAB], 4096).await[0],
            Err(c) if c == "501"
        ));
        assert!(matches!(
            &decode_all(vec![9, 0, 0, 0, 0, 0, 0, 0xCE], 4096).await[0],
            Err(c) if c == "501"
        ));
    }

    #[tokio::test]
    async fn unknown_method_is_command_invalid_and_heartbeat_on_channel_is_505() {
        let bytes = vec![1, 0, 1, 0, 0, 0, 4, 0, 60, 0, 99, 0xCE];
        assert!(matches!(&decode_all(bytes, 4096).await[0], Err(c) if c == "503"));
        let bytes = vec![8, 0, 1, 0, 0, 0, 0, 0xCE];
        assert!(matches!(&decode_all(bytes, 4096).await[0], Err(c) if c == "505"));
    }

    #[tokio::test]
    async fn hand_decoded_publish_matches_amq_protocol() {
        for (mandatory, immediate) in [(false, false), (true, false), (false, true)] {
            let m = AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
                exchange: "amq.topic".into(),
                routing_key: "a.b.é".into(),
                mandatory,
                immediate,
            }));
            match &decode_all(method_bytes(4, m), 4096).await[0] {
                Ok(Frame::Publish(4, p)) => {
                    assert_eq!(p.exchange.as_str(), "amq.topic");
                    assert_eq!(p.routing_key.as_str(), "a.b.é");
                    assert_eq!((p.mandatory, p.immediate), (mandatory, immediate));
                }
                other => panic!("{other:?}"),
            }
        }
        // Trailing bytes are a frame error, RabbitMQ's 501.
        let bytes = vec![1, 0, 1, 0, 0, 0, 10, 0, 60, 0, 40, 0, 0, 0, 0, 0, 9, 0xCE];
        assert!(matches!(&decode_all(bytes, 4096).await[0], Err(c) if c == "501"));
    }

    /// Names that are not UTF-8 are accepted as RabbitMQ accepts them, each bad byte read as
    /// `?`: a 255-byte name stays 255 bytes (U+FFFD would make it 765, too long to send).
    #[tokio::test]
    async fn publish_names_that_are_not_utf8_keep_their_length() {
        let mut payload = vec![0, 60, 0, 40, 0, 0, 2, 0xff, b'x', 255];
        payload.extend([0xffu8; 255]);
        payload.push(0);
        let mut bytes = vec![1, 0, 1];
        bytes.extend((payload.len() as u32).to_be_bytes());
        bytes.extend(payload);
        bytes.push(0xCE);
        match &decode_all(bytes, 4096).await[0] {
            Ok(Frame::Publish(1, p)) => {
                assert_eq!(p.exchange.as_str(), "?x");
                assert_eq!(p.routing_key.as_str(), "?".repeat(255));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(text_of(&[0xc3, 0xa9, 0xff, b'a']), "é?a");
    }

    #[tokio::test]
    async fn hand_decoded_ack_matches_amq_protocol() {
        for multiple in [false, true] {
            let m = AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack {
                delivery_tag: 1 << 40,
                multiple,
            }));
            match &decode_all(method_bytes(9, m), 4096).await[0] {
                Ok(Frame::Ack(9, tag, mult)) => assert_eq!((*tag, *mult), (1 << 40, multiple)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn truncated_method_is_an_error_not_a_panic() {
        // basic.publish with its arguments cut off.
        let bytes = vec![1, 0, 1, 0, 0, 0, 5, 0, 60, 0, 40, 0, 0xCE];
        assert!(decode_all(bytes, 4096).await[0].is_err());
    }

    #[test]
    fn body_is_split_by_frame_max() {
        let mut b = BytesMut::new();
        encode_body(&mut b, 1, &[7u8; 10], 12);
        // 4 bytes per frame (12 - 8 overhead) -> 3 frames: 4 + 4 + 2.
        assert_eq!(b.len(), 3 * 8 + 10);
        let _ = basic::Deliver::default();
    }

    #[test]
    fn short_truncates_on_char_boundary() {
        let s = "é".repeat(200);
        assert!(short(&s).as_str().len() <= 255);
    }
}

//! Frame-level helpers: the raw frame type, method names, encoders.

use amq_protocol::frame::{gen_frame, parse_frame, AMQPContentHeader, AMQPFrame, WriteContext};
use amq_protocol::protocol::{basic, channel, connection, AMQPClass, BasicProperties};
use amq_protocol::types::FieldTable;
use std::time::Duration;

/// The AMQP 0-9-1 protocol header.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
/// Frame type octets.
pub const FRAME_METHOD: u8 = 1;
/// Content header frame type.
pub const FRAME_HEADER: u8 = 2;
/// Content body frame type.
pub const FRAME_BODY: u8 = 3;
/// Heartbeat frame type.
pub const FRAME_HEARTBEAT: u8 = 8;
/// The frame-end octet.
pub const FRAME_END: u8 = 0xCE;

/// Default time to wait for a frame.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors are plain strings: they end up in a case's failure message.
pub type RawResult<T> = Result<T, String>;

/// One frame as it travelled on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFrame {
    /// Frame type octet (1 method, 2 header, 3 body, 8 heartbeat, or anything).
    pub frame_type: u8,
    /// Channel number.
    pub channel: u16,
    /// Payload, without the 7-byte header and the frame-end octet.
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// Encode with a correct frame-end octet.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 8);
        out.push(self.frame_type);
        out.extend_from_slice(&self.channel.to_be_bytes());
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.payload);
        out.push(FRAME_END);
        out
    }

    /// Decode into amq-protocol's frame type.
    pub fn decode(&self) -> RawResult<AMQPFrame> {
        let bytes = self.to_bytes();
        match parse_frame(&bytes[..]) {
            Ok((_, frame)) => Ok(frame),
            Err(e) => Err(format!(
                "cannot decode frame type {} on channel {}: {e}",
                self.frame_type, self.channel
            )),
        }
    }

    /// The method carried by this frame, if it is a decodable method frame.
    pub fn method(&self) -> Option<AMQPClass> {
        if self.frame_type != FRAME_METHOD {
            return None;
        }
        match self.decode() {
            Ok(AMQPFrame::Method(_, m)) => Some(m),
            _ => None,
        }
    }

    /// Class and method ids of a method frame.
    pub fn method_ids(&self) -> Option<(u16, u16)> {
        if self.frame_type != FRAME_METHOD || self.payload.len() < 4 {
            return None;
        }
        let p = &self.payload;
        Some((
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        ))
    }

    /// A one-line human description, for failure messages.
    pub fn describe(&self) -> String {
        match self.frame_type {
            FRAME_METHOD => match self.method() {
                Some(m) => format!("{} on channel {}", describe_method(&m), self.channel),
                None => format!("undecodable method frame on channel {}", self.channel),
            },
            FRAME_HEADER => format!("content header on channel {}", self.channel),
            FRAME_BODY => format!(
                "content body ({} bytes) on channel {}",
                self.payload.len(),
                self.channel
            ),
            FRAME_HEARTBEAT => format!("heartbeat on channel {}", self.channel),
            t => format!("frame of type {t} on channel {}", self.channel),
        }
    }
}

/// "class.method" for a class/method id pair.
pub fn method_name(class_id: u16, method_id: u16) -> String {
    let s = match (class_id, method_id) {
        (10, 10) => "connection.start",
        (10, 11) => "connection.start-ok",
        (10, 20) => "connection.secure",
        (10, 21) => "connection.secure-ok",
        (10, 30) => "connection.tune",
        (10, 31) => "connection.tune-ok",
        (10, 40) => "connection.open",
        (10, 41) => "connection.open-ok",
        (10, 50) => "connection.close",
        (10, 51) => "connection.close-ok",
        (10, 60) => "connection.blocked",
        (10, 61) => "connection.unblocked",
        (10, 70) => "connection.update-secret",
        (10, 71) => "connection.update-secret-ok",
        (20, 10) => "channel.open",
        (20, 11) => "channel.open-ok",
        (20, 20) => "channel.flow",
        (20, 21) => "channel.flow-ok",
        (20, 40) => "channel.close",
        (20, 41) => "channel.close-ok",
        (30, 10) => "access.request",
        (30, 11) => "access.request-ok",
        (40, 10) => "exchange.declare",
        (40, 11) => "exchange.declare-ok",
        (40, 20) => "exchange.delete",
        (40, 21) => "exchange.delete-ok",
        (40, 30) => "exchange.bind",
        (40, 31) => "exchange.bind-ok",
        (40, 40) => "exchange.unbind",
        (40, 51) => "exchange.unbind-ok",
        (50, 10) => "queue.declare",
        (50, 11) => "queue.declare-ok",
        (50, 20) => "queue.bind",
        (50, 21) => "queue.bind-ok",
        (50, 30) => "queue.purge",
        (50, 31) => "queue.purge-ok",
        (50, 40) => "queue.delete",
        (50, 41) => "queue.delete-ok",
        (50, 50) => "queue.unbind",
        (50, 51) => "queue.unbind-ok",
        (60, 10) => "basic.qos",
        (60, 11) => "basic.qos-ok",
        (60, 20) => "basic.consume",
        (60, 21) => "basic.consume-ok",
        (60, 30) => "basic.cancel",
        (60, 31) => "basic.cancel-ok",
        (60, 40) => "basic.publish",
        (60, 50) => "basic.return",
        (60, 60) => "basic.deliver",
        (60, 70) => "basic.get",
        (60, 71) => "basic.get-ok",
        (60, 72) => "basic.get-empty",
        (60, 80) => "basic.ack",
        (60, 90) => "basic.reject",
        (60, 100) => "basic.recover-async",
        (60, 110) => "basic.recover",
        (60, 111) => "basic.recover-ok",
        (60, 120) => "basic.nack",
        (85, 10) => "confirm.select",
        (85, 11) => "confirm.select-ok",
        (90, 10) => "tx.select",
        (90, 11) => "tx.select-ok",
        (90, 20) => "tx.commit",
        (90, 21) => "tx.commit-ok",
        (90, 30) => "tx.rollback",
        (90, 31) => "tx.rollback-ok",
        _ => return format!("method({class_id},{method_id})"),
    };
    s.to_string()
}

/// Describe a method, with the reply code for the close methods.
pub fn describe_method(m: &AMQPClass) -> String {
    let name = method_name(m.get_amqp_class_id(), m.get_amqp_method_id());
    match m {
        AMQPClass::Connection(connection::AMQPMethod::Close(c)) => format!(
            "{name}({} '{}', class {} method {})",
            c.reply_code, c.reply_text, c.class_id, c.method_id
        ),
        AMQPClass::Channel(channel::AMQPMethod::Close(c)) => format!(
            "{name}({} '{}', class {} method {})",
            c.reply_code, c.reply_text, c.class_id, c.method_id
        ),
        AMQPClass::Basic(basic::AMQPMethod::Return(r)) => {
            format!("{name}({} '{}')", r.reply_code, r.reply_text)
        }
        AMQPClass::Basic(basic::AMQPMethod::Ack(a)) => {
            format!("{name}(tag {}, multiple {})", a.delivery_tag, a.multiple)
        }
        AMQPClass::Basic(basic::AMQPMethod::Nack(a)) => {
            format!("{name}(tag {}, multiple {})", a.delivery_tag, a.multiple)
        }
        _ => name,
    }
}

/// A method frame.
pub fn method_frame(channel: u16, method: AMQPClass) -> AMQPFrame {
    AMQPFrame::Method(channel, method)
}

/// A basic-class content header frame with no properties.
pub fn header_frame(channel: u16, body_size: u64) -> AMQPFrame {
    AMQPFrame::Header(
        channel,
        AMQPContentHeader {
            class_id: 60,
            body_size,
            properties: BasicProperties::default(),
        },
    )
}

/// Encode an amq-protocol frame into bytes.
pub fn encode_frame(frame: &AMQPFrame) -> RawResult<Vec<u8>> {
    let ctx = WriteContext::from(Vec::new());
    match gen_frame(frame)(ctx) {
        Ok(ctx) => Ok(ctx.into_inner().0),
        Err(e) => Err(format!("cannot encode frame: {e:?}")),
    }
}

/// Encode just the payload of a method (class id, method id, arguments).
pub fn encode_method_payload(method: &AMQPClass) -> RawResult<Vec<u8>> {
    let bytes = encode_frame(&AMQPFrame::Method(0, method.clone()))?;
    Ok(bytes[7..bytes.len() - 1].to_vec())
}

/// Encode a field table (with its 4-byte length prefix) the way amq-protocol does.
pub fn encode_field_table(table: &FieldTable) -> RawResult<Vec<u8>> {
    let ctx = WriteContext::from(Vec::new());
    match amq_protocol::types::generation::gen_field_table(table)(ctx) {
        Ok(ctx) => Ok(ctx.into_inner().0),
        Err(e) => Err(format!("cannot encode field table: {e:?}")),
    }
}

/// A content header payload with only the `headers` property set, from
/// already-encoded table bytes (including their 4-byte length prefix).
pub fn header_payload_with_raw_headers(body_size: u64, table_bytes: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&60u16.to_be_bytes());
    p.extend_from_slice(&0u16.to_be_bytes());
    p.extend_from_slice(&body_size.to_be_bytes());
    p.extend_from_slice(&0x2000u16.to_be_bytes());
    p.extend_from_slice(table_bytes);
    p
}

//! Helpers shared by the fuzz targets: driving Warren's `FrameReader` over bytes in memory,
//! and the round-trip checks every decoded frame must pass.
//!
//! The reader is async; over a `&[u8]` every read completes at once, so one poll with a
//! no-op waker runs a call to completion and no runtime is needed.

use amq_protocol::frame::WriteContext;
use amq_protocol::protocol::{basic, AMQPClass};
use amq_protocol::types::generation::gen_field_table;
use amq_protocol::types::parsing::parse_field_table;
use amq_protocol::types::FieldTable;
use bytes::BytesMut;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use warren::amqp::codec::{self, Frame, FrameReader, ReadError};
use warren::message::props::Props;

/// The broker's default `frame_max`.
pub const FRAME_MAX: u32 = 131_072;

/// Runs a future that never waits (it only reads from memory).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a read from memory returned Pending"),
    }
}

/// Decodes frames until the first error (or the end of the bytes, an `Io` error).
pub fn decode_all(bytes: &[u8], frame_max: u32) -> (Vec<Frame>, ReadError) {
    let mut reader = FrameReader::new(bytes, frame_max);
    let mut frames = Vec::new();
    loop {
        match now(reader.next()) {
            Ok(frame) => frames.push(frame),
            Err(e) => return (frames, e),
        }
    }
}

/// Decodes bytes that must hold exactly one valid frame.
fn decode_exactly_one(bytes: &[u8]) -> Frame {
    let (mut frames, end) = decode_all(bytes, 0);
    assert!(
        frames.len() == 1 && matches!(end, ReadError::Io(_)),
        "re-encoded frame did not decode to one frame: {frames:?}, then {end:?}"
    );
    frames.remove(0)
}

/// Checks what Warren would do with a decoded frame: methods re-encode (as the broker does
/// when it echoes or forwards them) to the same method, a content header's raw properties
/// agree with the properties read from them.
pub fn check_frame(frame: &Frame) {
    match frame {
        Frame::Method(channel, class) => {
            let mut out = BytesMut::new();
            codec::encode_method(&mut out, *channel, (**class).clone());
            match decode_exactly_one(&out) {
                Frame::Method(c, again) => {
                    assert_eq!(c, *channel);
                    // Debug, not PartialEq: a NaN in a field table is not equal to itself.
                    assert_eq!(format!("{again:?}"), format!("{class:?}"));
                }
                other => panic!("{class:?} re-encoded as {other:?}"),
            }
        }
        Frame::Publish(channel, p) => {
            // The broker echoes both names in short strings (basic.deliver, basic.return).
            for name in [p.exchange.as_str(), p.routing_key.as_str()] {
                assert!(
                    name.len() <= 255,
                    "basic.publish decoded to a {}-byte name, too long for a short string: {name:?}",
                    name.len()
                );
            }
            let reference = AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
                exchange: p.exchange.as_str().into(),
                routing_key: p.routing_key.as_str().into(),
                mandatory: p.mandatory,
                immediate: p.immediate,
            }));
            let mut out = BytesMut::new();
            codec::encode_method(&mut out, *channel, reference);
            match decode_exactly_one(&out) {
                Frame::Publish(c, again) => {
                    assert_eq!(c, *channel);
                    assert_eq!(again.exchange.as_str(), p.exchange.as_str());
                    assert_eq!(again.routing_key.as_str(), p.routing_key.as_str());
                    assert_eq!(
                        (again.mandatory, again.immediate),
                        (p.mandatory, p.immediate)
                    );
                }
                other => panic!("{p:?} re-encoded as {other:?}"),
            }
        }
        Frame::Header(_, h) => {
            assert_eq!(
                Props::expiration_of(&h.raw_properties).as_deref(),
                h.props.expiration(),
                "expiration_of disagrees with parse on {:?}",
                h.raw_properties
            );
            assert!(
                Props::decode_full(&h.raw_properties).is_some(),
                "Props::parse accepted properties decode_full refuses: {:?}",
                h.raw_properties
            );
        }
        Frame::Ack(..) | Frame::Body(..) | Frame::Heartbeat(_) => {}
    }
}

/// Wraps a payload in a frame of the given type.
pub fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + codec::FRAME_OVERHEAD);
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(codec::FRAME_END);
    out
}

/// A field table survives amq-protocol's encoder and parser unchanged.
pub fn check_table_round_trip(table: &FieldTable) {
    let encoded = match gen_field_table(table)(WriteContext::from(Vec::new())) {
        Ok(ctx) => ctx.write,
        Err(e) => panic!("cannot encode field table {table:?}: {e:?}"),
    };
    match parse_field_table(&encoded[..]) {
        Ok((rest, again)) => {
            assert!(rest.is_empty(), "trailing bytes after a re-encoded table");
            assert_eq!(format!("{again:?}"), format!("{table:?}"));
        }
        Err(e) => panic!("re-encoded table {table:?} does not parse: {e:?}"),
    }
}

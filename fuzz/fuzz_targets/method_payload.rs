//! One method frame whose class and method ids are picked by the first input byte among the
//! methods with complex arguments, so the fuzzer spends its time in the argument decoders.
//! Warren's answer is compared with amq-protocol's own parser (`parse_class`): Warren must
//! accept what it accepts, with the same values, and refuse what it refuses, except where
//! Warren deliberately differs (a table nested too deep; publish names that are not UTF-8).
#![no_main]

use amq_protocol::protocol::{basic, connection, parse_class, AMQPClass};
use libfuzzer_sys::fuzz_target;
use warren::amqp::codec::ReadError;
use warren::amqp::codec::{Frame, FRAME_METHOD};
use warren::auth::{parse_amqplain, parse_plain};
use warren::field_table::ScanError;
use warren_fuzz::{check_frame, decode_all, frame, FRAME_MAX};

/// Methods whose arguments carry a field table, plus the two hand-decoded ones.
const METHODS: [(u16, u16); 10] = [
    (10, 11), // connection.start-ok
    (40, 10), // exchange.declare
    (40, 30), // exchange.bind
    (40, 40), // exchange.unbind
    (50, 10), // queue.declare
    (50, 20), // queue.bind
    (50, 50), // queue.unbind
    (60, 20), // basic.consume
    (60, 40), // basic.publish
    (60, 80), // basic.ack
];

/// Warren refused the frame for a table nested too deep: amq-protocol, which recurses, must
/// not be asked (the `field_table` target checks the walk against amq-protocol).
fn refused_as_too_deep(end: &ReadError) -> bool {
    matches!(end, ReadError::Protocol(e) if e.text.contains(&ScanError::TooDeep.to_string()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, args)) = data.split_first() else {
        return;
    };
    let (class_id, method_id) = METHODS[usize::from(pick) % METHODS.len()];
    let mut payload = Vec::with_capacity(4 + args.len());
    payload.extend_from_slice(&class_id.to_be_bytes());
    payload.extend_from_slice(&method_id.to_be_bytes());
    payload.extend_from_slice(args);

    let (mut frames, end) = decode_all(&frame(FRAME_METHOD, 1, &payload), FRAME_MAX);
    let warren = frames.pop();
    if warren.is_none() && refused_as_too_deep(&end) {
        return;
    }
    let reference = match parse_class(&payload[..]) {
        Ok((&[], class)) => Some(class),
        _ => None,
    };
    match (&warren, reference) {
        (None, None) => {}
        (Some(Frame::Publish(_, p)), Some(AMQPClass::Basic(basic::AMQPMethod::Publish(r)))) => {
            assert_eq!(p.exchange.as_str(), r.exchange.as_str());
            assert_eq!(p.routing_key.as_str(), r.routing_key.as_str());
            assert_eq!((p.mandatory, p.immediate), (r.mandatory, r.immediate));
        }
        // Names that are not UTF-8 are taken (as RabbitMQ does), with `?` for a bad byte.
        (Some(Frame::Publish(_, p)), None) => assert!(
            format!("{}{}", p.exchange.as_str(), p.routing_key.as_str()).contains('?'),
            "publish accepted by Warren only: {p:?}"
        ),
        (Some(Frame::Ack(_, tag, multiple)), Some(AMQPClass::Basic(basic::AMQPMethod::Ack(r)))) => {
            assert_eq!((*tag, *multiple), (r.delivery_tag, r.multiple));
        }
        (Some(Frame::Method(_, class)), Some(r)) => {
            assert_eq!(format!("{class:?}"), format!("{r:?}"));
        }
        (w, r) => panic!("Warren decoded {w:?} (then {end:?}), amq-protocol {r:?}"),
    }
    let Some(warren) = warren else { return };
    check_frame(&warren);
    // The handshake hands start-ok's response to the SASL decoders.
    if let Frame::Method(_, class) = &warren {
        if let AMQPClass::Connection(connection::AMQPMethod::StartOk(s)) = &**class {
            let response = s.response.as_bytes();
            let _ = match s.mechanism.as_str() {
                "AMQPLAIN" => parse_amqplain(response),
                _ => parse_plain(response),
            };
        }
    }
});

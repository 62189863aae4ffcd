//! Where the field table sits in each method that carries one, so the decoder can walk it
//! (bounded, without recursion: `crate::field_table`) before amq-protocol's recursive
//! parser sees it. A method whose arguments end before its table is left to amq-protocol,
//! which refuses it as undecodable.

use crate::field_table::{self, ScanError};

/// An argument before the table.
#[derive(Clone, Copy)]
enum Arg {
    Octet,
    Short,
    ShortStr,
}

use Arg::{Octet, Short, ShortStr};

/// The arguments before the table of each method that has one (AMQP 0-9-1 with RabbitMQ's
/// extensions). Server-only methods are listed too: a client may send anything.
fn before_table(class_id: u16, method_id: u16) -> Option<&'static [Arg]> {
    Some(match (class_id, method_id) {
        // connection.start: versions, then server properties.
        (10, 10) => &[Octet, Octet],
        // connection.start-ok: client properties first.
        (10, 11) => &[],
        // exchange.declare: reserved, exchange, type, bits.
        (40, 10) => &[Short, ShortStr, ShortStr, Octet],
        // exchange.bind / unbind: reserved, destination, source, routing key, no-wait.
        (40, 30) | (40, 40) => &[Short, ShortStr, ShortStr, ShortStr, Octet],
        // queue.declare: reserved, queue, bits.
        (50, 10) => &[Short, ShortStr, Octet],
        // queue.bind: reserved, queue, exchange, routing key, no-wait.
        (50, 20) => &[Short, ShortStr, ShortStr, ShortStr, Octet],
        // queue.unbind: reserved, queue, exchange, routing key (no bits).
        (50, 50) => &[Short, ShortStr, ShortStr, ShortStr],
        // basic.consume: reserved, queue, consumer tag, bits.
        (60, 20) => &[Short, ShortStr, ShortStr, Octet],
        _ => return None,
    })
}

/// Checks the nesting of the field table in a method's arguments (after class and method
/// ids), if it has one.
pub(crate) fn check_method(class_id: u16, method_id: u16, args: &[u8]) -> Result<(), ScanError> {
    let Some(before) = before_table(class_id, method_id) else {
        return Ok(());
    };
    let mut pos = 0;
    for arg in before {
        pos += match arg {
            Octet => 1,
            Short => 2,
            ShortStr => match args.get(pos) {
                Some(&n) => 1 + usize::from(n),
                None => return Ok(()),
            },
        };
    }
    match args.get(pos..) {
        Some(table) if !table.is_empty() => field_table::table_len(table).map(|_| ()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field_table::MAX_DEPTH;
    use amq_protocol::frame::{gen_frame, AMQPFrame, WriteContext};
    use amq_protocol::protocol::{basic, connection, exchange, queue, AMQPClass};
    use amq_protocol::types::{AMQPValue, FieldTable};

    /// A table nested `levels` deep (`{k: {k: ...}}`).
    fn deep(levels: usize) -> FieldTable {
        let mut t = FieldTable::default();
        for _ in 1..levels {
            let mut outer = FieldTable::default();
            outer.insert("k".into(), AMQPValue::FieldTable(t));
            t = outer;
        }
        t
    }

    /// Every method with a table, encoded by amq-protocol with `t` in it.
    fn methods(t: &FieldTable) -> Vec<AMQPClass> {
        vec![
            AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
                client_properties: t.clone(),
                mechanism: "PLAIN".into(),
                response: "\0u\0p".into(),
                locale: "en_US".into(),
            })),
            AMQPClass::Connection(connection::AMQPMethod::Start(connection::Start {
                version_major: 0,
                version_minor: 9,
                server_properties: t.clone(),
                mechanisms: "PLAIN".into(),
                locales: "en_US".into(),
            })),
            AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
                exchange: "x".into(),
                kind: "topic".into(),
                durable: true,
                arguments: t.clone(),
                ..Default::default()
            })),
            AMQPClass::Exchange(exchange::AMQPMethod::Bind(exchange::Bind {
                destination: "d".into(),
                source: "s".into(),
                routing_key: "rk".into(),
                nowait: false,
                arguments: t.clone(),
            })),
            AMQPClass::Exchange(exchange::AMQPMethod::Unbind(exchange::Unbind {
                destination: "d".into(),
                source: "s".into(),
                routing_key: "rk".into(),
                nowait: true,
                arguments: t.clone(),
            })),
            AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
                queue: "q".into(),
                durable: true,
                arguments: t.clone(),
                ..Default::default()
            })),
            AMQPClass::Queue(queue::AMQPMethod::Bind(queue::Bind {
                queue: "q".into(),
                exchange: "x".into(),
                routing_key: "rk".into(),
                nowait: false,
                arguments: t.clone(),
            })),
            AMQPClass::Queue(queue::AMQPMethod::Unbind(queue::Unbind {
                queue: "q".into(),
                exchange: "x".into(),
                routing_key: "rk".into(),
                arguments: t.clone(),
            })),
            AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
                queue: "q".into(),
                consumer_tag: "ctag".into(),
                arguments: t.clone(),
                ..Default::default()
            })),
        ]
    }

    /// The method's arguments as sent: the frame's payload after class and method ids.
    fn args(m: AMQPClass) -> (u16, u16, Vec<u8>) {
        let ctx = gen_frame(&AMQPFrame::Method(1, m))(WriteContext::from(Vec::new())).unwrap();
        let payload = &ctx.write[7..ctx.write.len() - 1];
        let class = u16::from_be_bytes([payload[0], payload[1]]);
        let method = u16::from_be_bytes([payload[2], payload[3]]);
        (class, method, payload[4..].to_vec())
    }

    #[test]
    fn finds_the_table_of_every_method_that_has_one() {
        for m in methods(&deep(MAX_DEPTH)) {
            let (c, id, a) = args(m);
            assert_eq!(check_method(c, id, &a), Ok(()), "{c}/{id}");
        }
        for m in methods(&deep(MAX_DEPTH + 1)) {
            let (c, id, a) = args(m);
            assert_eq!(check_method(c, id, &a), Err(ScanError::TooDeep), "{c}/{id}");
            assert!(before_table(c, id).is_some());
        }
    }

    #[test]
    fn truncated_arguments_are_left_to_the_decoder() {
        let (c, id, a) = args(methods(&deep(3)).remove(5));
        for n in 0..a.len() {
            // Never panics; a cut inside the table is reported, before it is not.
            let _ = check_method(c, id, &a[..n]);
        }
        assert_eq!(check_method(c, id, &a[..2]), Ok(()));
        assert_eq!(check_method(60, 40, &[]), Ok(()));
    }
}

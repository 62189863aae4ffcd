//! RabbitMQ's equivalence rule for redeclares: the arguments it compares, and the
//! "inequivalent arg" error naming the first difference as RabbitMQ words it.

use super::command::{CommandError, CommandResult};
use amq_protocol::types::{AMQPValue, FieldTable};

/// Queue arguments RabbitMQ 3.10 checks for equivalence on redeclare (`declare_args()`);
/// others may differ freely.
pub(crate) const QUEUE_ARGS: &[&str] = &[
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-dead-letter-strategy",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-queue-version",
    "x-single-active-consumer",
    "x-queue-type",
    "x-quorum-initial-group-size",
    "x-max-age",
    "x-stream-max-segment-size-bytes",
    "x-initial-cluster-size",
    "x-queue-leader-locator",
    "x-queue-master-locator",
    "x-delivery-limit",
];

/// Exchange arguments checked on redeclare.
pub(crate) const EXCHANGE_ARGS: &[&str] = &["alternate-exchange"];

/// RabbitMQ's equivalence check of declare arguments: for each known key, the values must
/// be of the same type class (integers of any width count as one class) and equal. The
/// error reads as RabbitMQ's: `inequivalent arg 'K' for queue 'q' in vhost 'v': received
/// the value '5' of type 'signedint' but current is none`.
pub(crate) fn check_args(
    known: &[&str],
    new: &FieldTable,
    current: &FieldTable,
    what: &str,
) -> CommandResult<()> {
    for key in known {
        let (n, c) = (new.inner().get(*key), current.inner().get(*key));
        let same = match (n, c) {
            (None, None) => true,
            (Some(n), Some(c)) => equivalent(n, c),
            _ => false,
        };
        if !same {
            // RabbitMQ shows bare values when both are there with the same type, typed values
            // otherwise.
            let (got, cur) = match (n, c) {
                (Some(n), Some(c)) if same_type_class(n, c) => {
                    (format!("'{}'", value(n)), format!("'{}'", value(c)))
                }
                _ => (describe(n), describe(c)),
            };
            return Err(CommandError::PreconditionFailed(format!(
                "inequivalent arg '{key}' for {what}: received {got} but current is {cur}"
            )));
        }
    }
    Ok(())
}

fn equivalent(a: &AMQPValue, b: &AMQPValue) -> bool {
    match (
        crate::queue::args::as_integer(a),
        crate::queue::args::as_integer(b),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn same_type_class(a: &AMQPValue, b: &AMQPValue) -> bool {
    crate::queue::args::as_integer(a).is_some() && crate::queue::args::as_integer(b).is_some()
        || crate::erlang::type_name(a) == crate::erlang::type_name(b)
}

fn value(v: &AMQPValue) -> String {
    typed(v).1
}

fn describe(v: Option<&AMQPValue>) -> String {
    let Some(v) = v else { return "none".into() };
    let (ty, val) = typed(v);
    format!("the value '{val}' of type '{ty}'")
}

fn typed(v: &AMQPValue) -> (&'static str, String) {
    let shown = match v {
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(i) => i.to_string(),
        AMQPValue::ShortShortUInt(i) => i.to_string(),
        AMQPValue::ShortInt(i) => i.to_string(),
        AMQPValue::ShortUInt(i) => i.to_string(),
        AMQPValue::LongInt(i) => i.to_string(),
        AMQPValue::LongUInt(i) => i.to_string(),
        AMQPValue::LongLongInt(i) => i.to_string(),
        AMQPValue::Float(f) => f.to_string(),
        AMQPValue::Double(f) => f.to_string(),
        AMQPValue::Timestamp(t) => t.to_string(),
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into(),
        AMQPValue::ShortString(s) => s.to_string(),
        other => crate::erlang::term(other),
    };
    (crate::erlang::type_name(v), shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(k: &str, v: AMQPValue) -> FieldTable {
        let mut t = FieldTable::default();
        t.insert(k.into(), v);
        t
    }

    #[test]
    fn integer_widths_are_equivalent_and_unknown_args_ignored() {
        let a = table("x-max-length", AMQPValue::LongInt(10));
        let b = table("x-max-length", AMQPValue::LongLongInt(10));
        assert!(check_args(QUEUE_ARGS, &a, &b, "queue 'q'").is_ok());
        let foo = table("x-foo", AMQPValue::LongInt(1));
        assert!(check_args(QUEUE_ARGS, &foo, &FieldTable::default(), "queue 'q'").is_ok());
    }

    #[test]
    fn difference_reads_like_rabbitmq() {
        let a = table("x-max-length", AMQPValue::LongInt(5));
        let e = check_args(
            QUEUE_ARGS,
            &a,
            &FieldTable::default(),
            "queue 'eq-q' in vhost '/'",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "inequivalent arg 'x-max-length' for queue 'eq-q' in vhost '/': received the value '5' of type 'signedint' but current is none"
        );
    }
}

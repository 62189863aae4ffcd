//! Queue declare arguments: validated as RabbitMQ 3.10 validates them (a bad type or value is
//! 406 with RabbitMQ's wording) and parsed into the settings a queue runs with.

use crate::erlang::type_name;
use amq_protocol::types::{AMQPValue, FieldTable};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    #[default]
    DropHead,
    RejectPublish,
    RejectPublishDlx,
}

impl Overflow {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "drop-head" => Some(Self::DropHead),
            "reject-publish" => Some(Self::RejectPublish),
            "reject-publish-dlx" => Some(Self::RejectPublishDlx),
            _ => None,
        }
    }
}

/// What a queue's arguments ask for (before policies are applied).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueArgs {
    pub message_ttl: Option<u64>,
    pub expires: Option<u64>,
    pub dead_letter_exchange: Option<String>,
    pub dead_letter_routing_key: Option<String>,
    pub max_length: Option<u64>,
    pub max_length_bytes: Option<u64>,
    pub overflow: Option<Overflow>,
    pub max_priority: Option<u8>,
    pub single_active_consumer: bool,
    pub lazy: bool,
    /// Mirroring, from the queue's policy only: `ha-sync-mode: automatic`.
    pub ha_sync_automatic: bool,
    /// `ha-sync-batch-size`: messages per batch when a mirror is synchronised.
    pub ha_sync_batch_size: Option<u64>,
}

/// Parses and validates; the error is the text after `invalid arg 'K' for queue ... : `
/// or a whole sentence for the few arguments RabbitMQ words differently.
pub(crate) fn parse(args: &FieldTable, what: &str) -> Result<QueueArgs, String> {
    let mut out = QueueArgs::default();
    let invalid = |k: &str, detail: String| format!("invalid arg '{k}' for {what}: {detail}");
    for (key, v) in args.inner() {
        let k = key.as_str();
        match k {
            "x-message-ttl" => out.message_ttl = Some(expiry(v, 0).map_err(|d| invalid(k, d))?),
            "x-expires" => out.expires = Some(expiry(v, 1).map_err(|d| invalid(k, d))?),
            "x-max-length" => out.max_length = Some(int(v, 0, None).map_err(|d| invalid(k, d))?),
            "x-max-length-bytes" => {
                out.max_length_bytes = Some(int(v, 0, None).map_err(|d| invalid(k, d))?)
            }
            "x-max-priority" => {
                out.max_priority = Some(int(v, 0, Some(255)).map_err(|d| invalid(k, d))? as u8)
            }
            "x-overflow" => {
                let s = string(v).map_err(|d| invalid(k, d))?;
                out.overflow =
                    Some(Overflow::parse(&s).ok_or_else(|| invalid(k, "invalid_overflow".into()))?);
            }
            "x-dead-letter-exchange" => {
                out.dead_letter_exchange = Some(string(v).map_err(|_| {
                    format!("invalid type '{}' for arg '{k}' in {what}", type_name(v))
                })?)
            }
            "x-dead-letter-routing-key" => {
                out.dead_letter_routing_key = Some(string(v).map_err(|d| invalid(k, d))?)
            }
            "x-single-active-consumer" => match v {
                AMQPValue::Boolean(b) => out.single_active_consumer = *b,
                other => return Err(invalid(k, unacceptable(other))),
            },
            "x-queue-mode" => match string(v).map_err(|d| invalid(k, d))?.as_str() {
                "default" => {}
                "lazy" => out.lazy = true,
                m => return Err(invalid(k, format!("\"unsupported queue mode '{m}'\""))),
            },
            "x-queue-type" => match string(v).map_err(|d| invalid(k, d))?.as_str() {
                "classic" => {}
                t => return Err(invalid(k, format!("\"unsupported queue type '{t}'\""))),
            },
            "x-queue-version" => match int(v, 0, None) {
                Ok(1 | 2) => {}
                Ok(n) => return Err(invalid(k, format!("\"unsupported queue version '{n}'\""))),
                Err(d) => return Err(invalid(k, d)),
            },
            _ => {}
        }
    }
    if out.dead_letter_routing_key.is_some() && out.dead_letter_exchange.is_none() {
        return Err(invalid(
            "x-dead-letter-routing-key",
            "routing_key_but_no_dlx_defined".into(),
        ));
    }
    Ok(out)
}

/// The value of any integer field type.
pub(crate) fn as_integer(v: &AMQPValue) -> Option<i64> {
    Some(match v {
        AMQPValue::ShortShortInt(i) => *i as i64,
        AMQPValue::ShortShortUInt(i) => *i as i64,
        AMQPValue::ShortInt(i) => *i as i64,
        AMQPValue::ShortUInt(i) => *i as i64,
        AMQPValue::LongInt(i) => *i as i64,
        AMQPValue::LongUInt(i) => *i as i64,
        AMQPValue::LongLongInt(i) => *i,
        _ => return None,
    })
}

/// RabbitMQ's complaint about a value that should be an integer.
pub(crate) fn expected_integer(v: &AMQPValue) -> String {
    format!("\"expected integer, got {}\"", type_name(v))
}

/// An integer argument in `[min, max]`, with RabbitMQ's error terms.
fn int(v: &AMQPValue, min: i64, max: Option<i64>) -> Result<u64, String> {
    let n = as_integer(v).ok_or_else(|| expected_integer(v))?;
    if n < 0 {
        return Err(format!("{{value_negative,{n}}}"));
    }
    if n < min {
        return Err(format!("{{value_zero,{n}}}"));
    }
    if max.is_some_and(|m| n > m) {
        return Err(format!("{{max_value_exceeded,{n}}}"));
    }
    Ok(n as u64)
}

/// RabbitMQ 3.10's largest TTL or expiry, ten years in ms (observed on the reference broker
/// for `x-message-ttl`, `x-expires` and the `expiration` property alike).
pub(crate) const MAX_EXPIRY_MS: u64 = 315_360_000_000;

/// A TTL or expiry argument: an integer of at least `min`, at most [`MAX_EXPIRY_MS`].
fn expiry(v: &AMQPValue, min: i64) -> Result<u64, String> {
    let n = int(v, min, None)?;
    if n > MAX_EXPIRY_MS {
        return Err(format!("{{value_too_large,{n}}}"));
    }
    Ok(n)
}

fn string(v: &AMQPValue) -> Result<String, String> {
    match v {
        AMQPValue::LongString(s) => Ok(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Ok(s.to_string()),
        other => Err(unacceptable(other)),
    }
}

fn unacceptable(v: &AMQPValue) -> String {
    format!("{{unacceptable_type,{}}}", type_name(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(k: &str, v: AMQPValue) -> Result<QueueArgs, String> {
        let mut t = FieldTable::default();
        t.insert(k.into(), v);
        parse(&t, "queue 'argq' in vhost '/'")
    }

    /// Each row observed on RabbitMQ 3.10.8 (`invalid arg '<k>' for queue 'argq' in vhost
    /// '/': <detail>`).
    #[test]
    fn errors_read_like_rabbitmq() {
        let s = |x: &str| AMQPValue::LongString(x.into());
        let rows: Vec<(&str, AMQPValue, &str)> = vec![
            (
                "x-message-ttl",
                s("abc"),
                "\"expected integer, got longstr\"",
            ),
            (
                "x-message-ttl",
                AMQPValue::LongInt(-1),
                "{value_negative,-1}",
            ),
            ("x-expires", AMQPValue::LongInt(0), "{value_zero,0}"),
            (
                "x-message-ttl",
                AMQPValue::LongLongInt(315_360_000_001),
                "{value_too_large,315360000001}",
            ),
            (
                "x-expires",
                AMQPValue::LongLongInt(1 << 61),
                "{value_too_large,2305843009213693952}",
            ),
            ("x-expires", AMQPValue::LongInt(-5), "{value_negative,-5}"),
            (
                "x-max-length",
                AMQPValue::LongInt(-1),
                "{value_negative,-1}",
            ),
            (
                "x-max-priority",
                AMQPValue::LongInt(256),
                "{max_value_exceeded,256}",
            ),
            ("x-overflow", s("bogus"), "invalid_overflow"),
            (
                "x-overflow",
                AMQPValue::LongInt(1),
                "{unacceptable_type,signedint}",
            ),
            (
                "x-dead-letter-routing-key",
                AMQPValue::LongInt(1),
                "{unacceptable_type,signedint}",
            ),
            (
                "x-single-active-consumer",
                s("yes"),
                "{unacceptable_type,longstr}",
            ),
            (
                "x-queue-mode",
                s("fast"),
                "\"unsupported queue mode 'fast'\"",
            ),
            ("x-queue-type", s("foo"), "\"unsupported queue type 'foo'\""),
            (
                "x-queue-version",
                AMQPValue::LongInt(3),
                "\"unsupported queue version '3'\"",
            ),
        ];
        for (k, v, detail) in rows {
            let e = one(k, v).unwrap_err();
            assert_eq!(
                e,
                format!("invalid arg '{k}' for queue 'argq' in vhost '/': {detail}")
            );
        }
        assert_eq!(
            one("x-dead-letter-exchange", AMQPValue::LongInt(1)).unwrap_err(),
            "invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue 'argq' in vhost '/'"
        );
        assert!(one("x-dead-letter-routing-key", s("k"))
            .unwrap_err()
            .ends_with("routing_key_but_no_dlx_defined"));
    }

    #[test]
    fn valid_arguments_parse() {
        let mut t = FieldTable::default();
        t.insert("x-message-ttl".into(), AMQPValue::LongInt(0));
        t.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(10));
        t.insert(
            "x-overflow".into(),
            AMQPValue::LongString("reject-publish-dlx".into()),
        );
        t.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        t.insert("x-queue-mode".into(), AMQPValue::LongString("lazy".into()));
        t.insert("x-unknown".into(), AMQPValue::LongInt(7));
        let a = parse(&t, "q").unwrap();
        assert_eq!(a.message_ttl, Some(0));
        assert_eq!(a.max_priority, Some(10));
        assert_eq!(a.overflow, Some(Overflow::RejectPublishDlx));
        assert!(a.single_active_consumer && a.lazy);
        let mut t = FieldTable::default();
        t.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(315_360_000_000),
        );
        t.insert("x-expires".into(), AMQPValue::LongLongInt(315_360_000_000));
        let a = parse(&t, "q").unwrap();
        assert_eq!(a.message_ttl, Some(MAX_EXPIRY_MS));
        assert_eq!(a.expires, Some(MAX_EXPIRY_MS));
    }
}

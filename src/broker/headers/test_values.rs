//! Constructors for AMQP field values, shared by the headers-exchange unit tests.

use amq_protocol::types::{AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable, LongString};

pub(super) fn s(v: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(v))
}
pub(super) fn i32v(v: i32) -> AMQPValue {
    AMQPValue::LongInt(v)
}
pub(super) fn i64v(v: i64) -> AMQPValue {
    AMQPValue::LongLongInt(v)
}
pub(super) fn f64v(v: f64) -> AMQPValue {
    AMQPValue::Double(v)
}
pub(super) fn f32v(v: f32) -> AMQPValue {
    AMQPValue::Float(v)
}
pub(super) fn bytes(v: &[u8]) -> AMQPValue {
    AMQPValue::ByteArray(ByteArray::from(v))
}
pub(super) fn dec(scale: u8, value: u32) -> AMQPValue {
    AMQPValue::DecimalValue(DecimalValue { scale, value })
}
pub(super) fn arr(v: Vec<AMQPValue>) -> AMQPValue {
    AMQPValue::FieldArray(FieldArray::from(v))
}
pub(super) fn tbl(entries: Vec<(&str, AMQPValue)>) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(k.into(), v);
    }
    t
}
pub(super) fn tv(entries: Vec<(&str, AMQPValue)>) -> AMQPValue {
    AMQPValue::FieldTable(tbl(entries))
}
pub(super) const V: AMQPValue = AMQPValue::Void;

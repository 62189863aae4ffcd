//! Redeclaring a queue: arguments are compared as RabbitMQ does, integers by value
//! whatever their width (`rabbit_misc:assert_args_equivalence` compares type classes).
//!
//! Run with `WARREN_TEST_REFERENCE=127.0.0.1:5682` to check the expectations against a
//! reference RabbitMQ.

use crate::common;
use common::{amqp_code, unique, Target};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{options::*, Channel};

fn args(v: AMQPValue) -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-max-length".into(), v);
    t
}

async fn declare(ch: &Channel, q: &str, a: FieldTable) -> lapin::Result<lapin::Queue> {
    ch.queue_declare(q.into(), QueueDeclareOptions::default(), a)
        .await
}

#[tokio::test]
async fn same_arguments_are_equivalent_and_a_different_value_is_406() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("equiv");
    declare(&ch, &q, args(AMQPValue::LongInt(10)))
        .await
        .unwrap();
    declare(&ch, &q, args(AMQPValue::LongInt(10)))
        .await
        .expect("identical redeclare");
    let err = declare(&ch, &q, args(AMQPValue::LongInt(11)))
        .await
        .expect_err("a different value");
    assert_eq!(amqp_code(&err), Some(406), "{err}");
    let ch = conn.create_channel().await.unwrap();
    ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn integer_arguments_of_different_widths_are_equivalent() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("equiv-width");
    declare(&ch, &q, args(AMQPValue::LongInt(10)))
        .await
        .unwrap();
    declare(&ch, &q, args(AMQPValue::LongLongInt(10)))
        .await
        .expect("10 (i64) is equivalent to 10 (i32)");
    declare(&ch, &q, args(AMQPValue::ShortInt(10)))
        .await
        .expect("10 (i16) is equivalent to 10 (i32)");
    ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
}

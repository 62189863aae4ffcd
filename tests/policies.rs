//! Policies and operator policies from the configuration: matching by pattern, argument vs
//! policy precedence (RabbitMQ 3.10: the lowest numeric limit wins), and alternate
//! exchanges by policy.

use crate::common;
use common::TestBroker;
use lapin::{options::*, types::AMQPValue, types::FieldTable, BasicProperties, Channel};
use warren::config::{Config, PolicyDef};

fn policy(name: &str, pattern: &str, apply_to: &str, priority: i32, def: &str) -> PolicyDef {
    PolicyDef {
        name: name.into(),
        vhost: "/".into(),
        pattern: pattern.into(),
        apply_to: apply_to.into(),
        priority,
        definition: serde_json::from_str(def).expect("json"),
    }
}

async fn publish(ch: &Channel, ex: &str, rk: &str, body: &[u8]) {
    ch.basic_publish(
        ex.into(),
        rk.into(),
        BasicPublishOptions::default(),
        body,
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

async fn ready(ch: &Channel, q: &str) -> u32 {
    ch.queue_declare(
        q.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap()
    .message_count()
}

async fn started() -> TestBroker {
    let config = Config {
        policies: vec![
            policy("limits", "^lim\\.", "queues", 0, r#"{"max-length": 3}"#),
            policy(
                "stronger",
                "^lim\\.strong",
                "queues",
                5,
                r#"{"max-length": 2}"#,
            ),
            policy(
                "ae",
                "^routed$",
                "exchanges",
                0,
                r#"{"alternate-exchange": "amq.fanout"}"#,
            ),
        ],
        operator_policies: vec![policy(
            "cap",
            "^lim\\.op",
            "queues",
            0,
            r#"{"max-length": 1}"#,
        )],
        ..Default::default()
    };
    TestBroker::start_with(tempfile::tempdir().unwrap(), config).await
}

#[tokio::test]
async fn policies_set_limits_with_rabbitmq_precedence() {
    let b = started().await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut lower_arg = FieldTable::default();
    lower_arg.insert("x-max-length".into(), AMQPValue::LongInt(2));
    let mut higher_arg = FieldTable::default();
    higher_arg.insert("x-max-length".into(), AMQPValue::LongInt(10));
    let queues = [
        ("lim.a", FieldTable::default(), 3),      // the policy's 3
        ("lim.strong", FieldTable::default(), 2), // the higher-priority policy's 2
        ("lim.b", lower_arg, 2),                  // the argument's 2 is lower than the policy's 3
        ("lim.c", higher_arg, 3),                 // the policy's 3 is lower than the argument's 10
        ("lim.op", FieldTable::default(), 1),     // the operator policy's 1 is lower still
        ("other", FieldTable::default(), 5),      // no policy
    ];
    for (name, args, expected) in queues {
        ch.queue_declare(name.into(), QueueDeclareOptions::default(), args)
            .await
            .unwrap();
        for i in 0..5u8 {
            publish(&ch, "", name, &[i]).await;
        }
        assert_eq!(ready(&ch, name).await, expected, "{name}");
    }
}

#[tokio::test]
async fn alternate_exchange_by_policy() {
    let b = started().await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    ch.exchange_declare(
        "routed".into(),
        lapin::ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_declare(
        "ae.sink".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        "ae.sink".into(),
        "amq.fanout".into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    publish(&ch, "routed", "nobody-bound", b"x").await;
    assert_eq!(
        ready(&ch, "ae.sink").await,
        1,
        "unroutable message went to the AE"
    );
}

#[tokio::test]
async fn policies_survive_a_restart() {
    let b = started().await;
    let b = TestBroker::start_in(b.stop().await).await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    ch.queue_declare(
        "lim.after".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    for i in 0..5u8 {
        publish(&ch, "", "lim.after", &[i]).await;
    }
    assert_eq!(ready(&ch, "lim.after").await, 3);
}

//! Topic permissions set through the management API and enforced on real clients:
//! publishes to topic exchanges (write) and bindings from them (read), changed at runtime,
//! kept across a restart.

use crate::common;
use common::TestBroker;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::BasicProperties;
use serde_json::json;

async fn publish(ch: &lapin::Channel, exchange: &str, rk: &str) -> Result<(), String> {
    let confirm = ch
        .basic_publish(
            exchange.into(),
            rk.into(),
            BasicPublishOptions::default(),
            b"m",
            BasicProperties::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    confirm.await.map(|_| ()).map_err(|e| e.to_string())
}

#[tokio::test]
async fn topic_permissions_restrict_publishes_and_bindings_on_topic_exchanges() {
    let b = TestBroker::start().await;
    let api = b.api();
    let p = json!({"exchange": "amq.topic", "write": "^a\\.", "read": "^r\\."});
    let r = api
        .put("/api/topic-permissions/%2F/guest", &p)
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let listed = api.get("/api/topic-permissions").await.unwrap().json();
    assert_eq!(
        listed,
        json!([{"user": "guest", "vhost": "/", "exchange": "amq.topic", "write": "^a\\.", "read": "^r\\."}])
    );
    assert_eq!(
        api.get("/api/users/guest/topic-permissions")
            .await
            .unwrap()
            .json(),
        listed
    );
    assert_eq!(
        api.get("/api/topic-permissions/%2F/guest")
            .await
            .unwrap()
            .json(),
        listed
    );

    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    publish(&ch, "amq.topic", "a.x").await.expect("allowed");
    publish(&ch, "amq.direct", "b.x")
        .await
        .expect("not a topic exchange");
    let err = publish(&ch, "amq.topic", "b.x").await.unwrap_err();
    assert!(
        err.contains("ACCESS_REFUSED - access to topic 'b.x' in exchange 'amq.topic' in vhost '/' refused for user 'guest'"),
        "{err}"
    );
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "tq".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let bind = |rk: &'static str| {
        let ch = ch.clone();
        async move {
            ch.queue_bind(
                "tq".into(),
                "amq.topic".into(),
                rk.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| e.to_string())
        }
    };
    bind("r.y").await.expect("read allowed");
    let err = bind("x.y").await.unwrap_err();
    assert!(
        err.contains("access to topic 'x.y' in exchange 'amq.topic'"),
        "{err}"
    );
    // Through the API too.
    let m = json!({"routing_key": "b.x", "payload": "p", "payload_encoding": "string", "properties": {}});
    let r = api
        .post("/api/exchanges/%2F/amq.topic/publish", &m)
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    let r = api
        .post(
            "/api/bindings/%2F/e/amq.topic/q/tq",
            &json!({"routing_key": "x.y"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401);

    // A change reaches the open connection at its next publish.
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let wider = json!({"exchange": "amq.topic", "write": ".*", "read": ".*"});
    assert_eq!(
        api.put("/api/topic-permissions/%2F/guest", &wider)
            .await
            .unwrap()
            .status,
        204
    );
    publish(&ch, "amq.topic", "b.x").await.expect("now allowed");
    let narrow = json!({"exchange": "amq.topic", "write": "^z", "read": ".*"});
    api.put("/api/topic-permissions/%2F/guest", &narrow)
        .await
        .unwrap();
    assert!(publish(&ch, "amq.topic", "b.x").await.is_err());

    // Kept across a restart and exported; deleting lifts the restriction.
    drop(conn);
    let dir = b.stop().await;
    let b = TestBroker::start_in(dir).await;
    let defs = b.api().get("/api/definitions").await.unwrap().json();
    assert_eq!(defs["topic_permissions"][0]["write"], "^z");
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    assert!(publish(&ch, "amq.topic", "b.x").await.is_err());
    assert_eq!(
        b.api()
            .delete("/api/topic-permissions/%2F/guest")
            .await
            .unwrap()
            .status,
        204
    );
    assert_eq!(
        b.api()
            .delete("/api/topic-permissions/%2F/guest")
            .await
            .unwrap()
            .status,
        404
    );
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    publish(&ch, "amq.topic", "b.x")
        .await
        .expect("unrestricted again");
}

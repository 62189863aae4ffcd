//! Vhost and user limits set through the management API, enforced on real clients with
//! RabbitMQ's reply codes and texts, kept across a restart.

use crate::common;
use common::raw::{Login, RawClient};
use common::TestBroker;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use serde_json::json;
use std::time::Duration;

fn login(vhost: &str) -> Login {
    Login {
        vhost: vhost.into(),
        ..Login::default()
    }
}

#[tokio::test]
async fn vhost_limits_refuse_queues_and_connections_beyond_them() {
    let b = TestBroker::start().await;
    let api = b.api();
    api.put("/api/vhosts/lim", &json!({})).await.unwrap();
    let r = api
        .put("/api/vhost-limits/lim/max-queues", &json!({"value": 1}))
        .await
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    api.put(
        "/api/vhost-limits/lim/max-connections",
        &json!({"value": 1}),
    )
    .await
    .unwrap();
    assert_eq!(
        api.get("/api/vhost-limits").await.unwrap().json(),
        json!([{"vhost": "lim", "value": {"max-queues": 1, "max-connections": 1}}])
    );
    let r = api
        .put("/api/vhost-limits/lim/max-bogus", &json!({"value": 1}))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["reason"]
        .as_str()
        .unwrap()
        .contains("Unrecognised terms"));

    let url = format!("amqp://guest:guest@{}/lim", b.addr);
    let conn = lapin::Connection::connect(&url, Default::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let opts = QueueDeclareOptions::default();
    ch.queue_declare("a".into(), opts, FieldTable::default())
        .await
        .unwrap();
    let err = ch
        .queue_declare("b".into(), opts, FieldTable::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot declare queue 'b': queue limit in vhost 'lim' (1) is reached"),
        "{err}"
    );
    let r = api.put("/api/queues/lim/c", &json!({})).await.unwrap();
    assert_eq!(r.status, 400, "{}", r.text());

    let refused = RawClient::try_open(b.addr, &login("lim"))
        .await
        .err()
        .expect("refused");
    let close = refused.close.expect("a connection.close");
    assert_eq!(close.reply_code, 530);
    assert_eq!(
        close.reply_text.as_str(),
        "NOT_ALLOWED - access to vhost 'lim' refused for user 'guest': connection limit (1) is reached"
    );
    // Once the first one goes, another may come; and without the limit, many.
    conn.close(200, "bye".into()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _again = RawClient::open_with(b.addr, &login("lim")).await;
    let r = api
        .delete("/api/vhost-limits/lim/max-connections")
        .await
        .unwrap();
    assert_eq!(r.status, 204);
    let _more = RawClient::open_with(b.addr, &login("lim")).await;
    assert_eq!(
        api.get("/api/vhost-limits/lim").await.unwrap().json(),
        json!([{"vhost": "lim", "value": {"max-queues": 1}}])
    );
}

#[tokio::test]
async fn user_limits_refuse_connections_and_channels_and_persist() {
    let b = TestBroker::start().await;
    let api = b.api();
    let r = api
        .put("/api/user-limits/guest/max-channels", &json!({"value": 2}))
        .await
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let r = api
        .put("/api/user-limits/guest/max-queues", &json!({"value": 2}))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        api.get("/api/users/guest").await.unwrap().json()["limits"],
        json!({"max-channels": 2})
    );
    let mut raw = RawClient::open(b.addr).await;
    raw.open_channel(1).await;
    raw.open_channel(2).await;
    raw.send_method(
        3,
        lapin::protocol::AMQPClass::Channel(lapin::protocol::channel::AMQPMethod::Open(
            lapin::protocol::channel::Open {},
        )),
    )
    .await;
    let close = raw
        .close_or_eof(Duration::from_secs(5))
        .await
        .expect("connection.close");
    assert_eq!(close.reply_code, 530);
    assert_eq!(
        close.reply_text.as_str(),
        "NOT_ALLOWED - number of channels opened for user 'guest' has reached the maximum allowed user limit of (2)"
    );

    api.put(
        "/api/user-limits/guest/max-connections",
        &json!({"value": 0}),
    )
    .await
    .unwrap();
    let refused = RawClient::try_open(b.addr, &login("/"))
        .await
        .err()
        .expect("refused");
    assert_eq!(
        refused.close.expect("close").reply_text.as_str(),
        "NOT_ALLOWED - connection refused for user 'guest': user connection limit (0) is reached"
    );
    // Kept across a restart, and in the definitions export.
    let dir = b.stop().await;
    let b = TestBroker::start_in(dir).await;
    let defs = b.api().get("/api/definitions").await.unwrap().json();
    assert_eq!(
        defs["users"][0]["limits"],
        json!({"max-channels": 2, "max-connections": 0})
    );
    assert!(RawClient::try_open(b.addr, &login("/")).await.is_err());
    b.api()
        .delete("/api/user-limits/guest/max-connections")
        .await
        .unwrap();
    let _ok = RawClient::open(b.addr).await;
}

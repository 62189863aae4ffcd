//! Connections, channels and consumers in the management API, from real clients: what
//! they report, who may see them, and closing a connection with a reason.

use crate::common;
use common::raw::RawClient;
use common::TestBroker;
use lapin::options::QueueDeclareOptions;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use serde_json::{json, Value};
use std::time::Duration;
use warren::ctl::client::Client;

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn connections_channels_and_consumers_are_listed_with_their_details() {
    let b = TestBroker::start().await;
    let api = b.api();
    let conn = lapin::Connection::connect(
        &b.url(),
        lapin::ConnectionProperties::default()
            .with_client_property("connection_name".into(), "orders-app".into()),
    )
    .await
    .unwrap();
    let ch1 = conn.create_channel().await.unwrap();
    ch1.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let ch2 = conn.create_channel().await.unwrap();
    ch2.basic_qos(7, BasicQosOptions::default()).await.unwrap();
    ch2.queue_declare(
        "work".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let _consumer = ch2
        .basic_consume(
            "work".into(),
            "c1".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let conns = api.get("/api/connections").await.unwrap().json();
    let c = &conns[0];
    assert_eq!(conns.as_array().unwrap().len(), 1, "{conns}");
    assert_eq!(c["user"], "guest");
    assert_eq!(c["vhost"], "/");
    assert_eq!(c["protocol"], "AMQP 0-9-1");
    assert_eq!(c["auth_mechanism"], "PLAIN");
    assert_eq!(c["channels"], 2);
    assert_eq!(c["user_provided_name"], "orders-app");
    assert_eq!(c["client_properties"]["connection_name"], "orders-app");
    assert_eq!(c["port"], b.addr.port());
    assert!(c["recv_oct"].as_u64().unwrap() > 100, "{c}");
    assert!(c["send_oct"].as_u64().unwrap() > 100, "{c}");
    let name = c["name"].as_str().unwrap().to_string();
    assert_eq!(name, format!("127.0.0.1:{} -> {}", c["peer_port"], b.addr));

    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let one = api
        .get(&format!("/api/connections/{}", enc(&name)))
        .await
        .unwrap();
    assert_eq!(one.status, 200);
    let chans = api.get("/api/channels").await.unwrap().json();
    let chans = chans.as_array().unwrap();
    assert_eq!(chans.len(), 2);
    assert_eq!(
        (
            chans[0]["confirm"].clone(),
            chans[0]["prefetch_count"].clone()
        ),
        (json!(true), json!(0))
    );
    assert_eq!(
        (
            chans[1]["prefetch_count"].clone(),
            chans[1]["consumer_count"].clone()
        ),
        (json!(7), json!(1))
    );
    assert_eq!(
        chans[1]["connection_details"]["name"],
        Value::String(name.clone())
    );
    let ch_name = chans[1]["name"].as_str().unwrap().to_string();
    let detail = api
        .get(&format!("/api/channels/{}", enc(&ch_name)))
        .await
        .unwrap()
        .json();
    assert_eq!(detail["consumer_details"][0]["consumer_tag"], "c1");
    let consumers = api.get("/api/consumers/%2F").await.unwrap().json();
    assert_eq!(consumers[0]["queue"], json!({"name": "work", "vhost": "/"}));
    assert_eq!(consumers[0]["prefetch_count"], 7);
    assert_eq!(consumers[0]["ack_required"], true);
    let q = api.get("/api/queues/%2F/work").await.unwrap().json();
    assert_eq!(q["consumer_details"][0]["consumer_tag"], "c1", "{q}");
    assert_eq!(q["consumers"], 1);
    let per_conn = api
        .get(&format!("/api/connections/{}/channels", enc(&name)))
        .await
        .unwrap();
    assert_eq!(per_conn.json().as_array().unwrap().len(), 2);
    assert_eq!(
        api.get("/api/overview").await.unwrap().json()["object_totals"]["connections"],
        1
    );

    // Closing a channel takes it off the list.
    ch1.close(200, "bye".into()).await.unwrap();
    eventually("the channel to go", async || {
        api.get("/api/channels")
            .await
            .unwrap()
            .json()
            .as_array()
            .unwrap()
            .len()
            == 1
    })
    .await;
    conn.close(200, "done".into()).await.unwrap();
    eventually("the connection to go", async || {
        api.get("/api/connections").await.unwrap().json() == json!([])
    })
    .await;
}

#[tokio::test]
async fn closing_a_connection_tells_the_client_the_reason() {
    let b = TestBroker::start().await;
    let api = b.api();
    let mut raw = RawClient::open(b.addr).await;
    let conns = api.get("/api/connections").await.unwrap().json();
    let name = conns[0]["name"].as_str().unwrap();
    let path = format!(
        "/api/connections/{}",
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
    );
    let r = api
        .send_with_headers(
            hyper::Method::DELETE,
            &path,
            &[("x-reason", "maintenance window")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let close = raw
        .close_or_eof(Duration::from_secs(5))
        .await
        .expect("connection.close");
    assert_eq!(close.reply_code, 320);
    assert_eq!(
        close.reply_text.as_str(),
        "CONNECTION_FORCED - maintenance window"
    );

    // Without a reason, RabbitMQ's default; and by user name.
    let mut raw = RawClient::open(b.addr).await;
    let r = api.delete("/api/connections/username/guest").await.unwrap();
    assert_eq!(r.status, 204);
    let close = raw
        .close_or_eof(Duration::from_secs(5))
        .await
        .expect("connection.close");
    assert_eq!(
        close.reply_text.as_str(),
        "CONNECTION_FORCED - Closed via management plugin"
    );
}

#[tokio::test]
async fn management_users_see_and_close_only_their_own_connections() {
    let b = TestBroker::start().await;
    let api = b.api();
    api.put(
        "/api/users/mona",
        &json!({"password": "pw", "tags": "management"}),
    )
    .await
    .unwrap();
    let all = json!({"configure": ".*", "write": ".*", "read": ".*"});
    api.put("/api/permissions/%2F/mona", &all).await.unwrap();
    let _guest = b.connect().await;
    let url = format!("amqp://mona:pw@{}/%2f", b.addr);
    let _mona_conn = lapin::Connection::connect(&url, Default::default())
        .await
        .unwrap();
    let mona = Client::new(&b.http_addr.to_string(), "mona", "pw");
    let seen = mona.get("/api/connections").await.unwrap().json();
    assert_eq!(seen.as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(seen[0]["user"], "mona");
    assert_eq!(
        api.get("/api/connections")
            .await
            .unwrap()
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = mona
        .delete("/api/connections/username/guest")
        .await
        .unwrap();
    assert_eq!(r.status, 401);
}

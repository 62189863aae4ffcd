//! Vhost permissions (configure/write/read regular expressions) on every operation, with
//! RabbitMQ 3.10's 403 texts (checked against the reference broker with the same user).

use crate::common;
use common::TestBroker;
use lapin::{options::*, types::FieldTable, BasicProperties, Channel, Connection};
use warren::auth::hash_password;
use warren::broker::command::{Actor, Command};

async fn limited(b: &TestBroker) -> Connection {
    let broker = b.broker();
    let user = Command::PutUser {
        name: "limited".into(),
        password_hash: hash_password("pw"),
        hashing_algorithm: warren::auth::SHA256_ALGORITHM.into(),
        tags: vec![],
        limits: None,
    };
    let perm = Command::SetPermissions {
        user: "limited".into(),
        vhost: "/".into(),
        configure: "^lim-.*".into(),
        write: "^lim-.*".into(),
        read: "^lim-.*".into(),
    };
    for cmd in [user, perm] {
        broker
            .execute(&Actor::BROKER, cmd)
            .expect("set up the user");
    }
    let url = format!("amqp://limited:pw@{}/%2f", b.addr);
    Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .expect("limited user connects")
}

async fn refused(
    conn: &Connection,
    what: &str,
    f: impl AsyncFnOnce(&Channel) -> lapin::Result<()>,
) {
    let ch = conn.create_channel().await.unwrap();
    let err = f(&ch).await.expect_err(what);
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "ACCESS_REFUSED - access to {what} in vhost '/' refused for user 'limited'"
        )),
        "{what}: {text}"
    );
}

/// Publishes in confirm mode and waits for the confirm: a refused publish closes the channel,
/// and lapin fails the pending confirm with the close's reason (a later method on the channel
/// could instead see it already closing and lose the reason).
async fn publish_confirmed(ch: &Channel, exchange: &str, key: &str) -> lapin::Result<()> {
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        b"x",
        BasicProperties::default(),
    )
    .await?
    .await
    .map(|_| ())
}

#[tokio::test]
async fn every_operation_checks_the_matching_permission() {
    let b = TestBroker::start().await;
    let guest = b.connect().await;
    let gch = guest.create_channel().await.unwrap();
    gch.queue_declare(
        "perm-shared".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let conn = limited(&b).await;
    refused(&conn, "queue 'other'", async |ch| {
        ch.queue_declare(
            "other".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .map(|_| ())
    })
    .await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "lim-q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("configure matches");
    refused(&conn, "exchange 'amq.direct'", async |ch| {
        publish_confirmed(ch, "amq.direct", "k").await
    })
    .await;
    refused(&conn, "exchange 'amq.default'", async |ch| {
        publish_confirmed(ch, "", "lim-q").await
    })
    .await;
    refused(&conn, "exchange 'amq.direct'", async |ch| {
        ch.queue_bind(
            "lim-q".into(),
            "amq.direct".into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
    })
    .await;
    refused(&conn, "queue 'perm-shared'", async |ch| {
        ch.basic_get("perm-shared".into(), BasicGetOptions::default())
            .await
            .map(|_| ())
    })
    .await;
    refused(&conn, "queue 'perm-shared'", async |ch| {
        ch.queue_delete("perm-shared".into(), QueueDeleteOptions::default())
            .await
            .map(|_| ())
    })
    .await;
    let ch = conn.create_channel().await.unwrap();
    ch.basic_consume(
        "lim-q".into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("read matches");
    // A passive declare needs no configure permission.
    ch.queue_declare(
        "perm-shared".into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("passive declare is allowed");
}

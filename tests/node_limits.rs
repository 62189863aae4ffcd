//! Node-wide limits from the configuration: `amqp.max_connections` (530 at connection.open,
//! as RabbitMQ's node connection limit) and `amqp.max_message_size` (406 on the channel).

use crate::common;
use common::{amqp_code, TestBroker};
use lapin::options::BasicPublishOptions;
use lapin::BasicProperties;
use warren::config::{ByteSize, Config};

#[tokio::test]
async fn connections_beyond_max_connections_are_refused() {
    let mut config = Config::default();
    config.amqp.max_connections = Some(2);
    let b = TestBroker::start_with(tempfile::tempdir().unwrap(), config).await;
    let first = b.connect().await;
    let second = b.connect().await;
    let e = lapin::Connection::connect(&b.url(), lapin::ConnectionProperties::default())
        .await
        .expect_err("a third connection");
    assert_eq!(amqp_code(&e), Some(530), "{e}");
    assert!(
        e.to_string()
            .contains("connection refused: node connection limit (2) is reached"),
        "{e}"
    );
    // A closed connection frees its place.
    second.close(200, "bye".into()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let third = b.connect().await;
    assert!(third.status().connected() && first.status().connected());
}

#[tokio::test]
async fn bodies_above_max_message_size_close_the_channel() {
    let mut config = Config::default();
    config.amqp.max_message_size = ByteSize(1000);
    let b = TestBroker::start_with(tempfile::tempdir().unwrap(), config).await;
    let (conn, ch) = b.confirming_channel().await;
    ch.basic_publish(
        "".into(),
        "nowhere".into(),
        BasicPublishOptions::default(),
        &[1u8; 1000],
        BasicProperties::default(),
    )
    .await
    .expect("publish")
    .await
    .expect("1000 bytes are fine");
    let r = async {
        ch.basic_publish(
            "".into(),
            "nowhere".into(),
            BasicPublishOptions::default(),
            &[1u8; 1001],
            BasicProperties::default(),
        )
        .await?
        .await
    }
    .await;
    let e = r.expect_err("1001 bytes are refused");
    assert_eq!(amqp_code(&e), Some(406), "{e}");
    assert!(
        e.to_string()
            .contains("message size 1001 is larger than configured max size 1000"),
        "{e}"
    );
    assert!(conn.status().connected(), "only the channel closes");
}

#[test]
fn max_message_size_defaults_to_128_mib_and_is_capped_at_512() {
    assert_eq!(
        Config::default().amqp.max_message_size,
        ByteSize(134_217_728)
    );
    let e = Config::from_toml_str("[amqp]\nmax_message_size = \"600MiB\"\n").unwrap_err();
    assert!(e.to_string().contains("amqp.max_message_size"), "{e}");
}

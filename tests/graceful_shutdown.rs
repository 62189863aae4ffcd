//! SIGTERM: the real binary closes every open connection with 320 CONNECTION_FORCED and
//! exits with status 0 promptly.

use crate::common;
use common::raw::{RawClient, WAIT};
use common::{amqp_code, ChildBroker};
use futures_lite::StreamExt;
use std::time::Duration;

#[tokio::test]
async fn sigterm_closes_connections_with_320_and_exits_0() {
    let mut broker = ChildBroker::spawn(&[]);
    // A raw client sees the exact close frame...
    let mut raw = RawClient::open(broker.addr).await;
    raw.open_channel(1).await;
    // ...and a lapin connection surfaces it as a connection error.
    let conn = lapin::Connection::connect(&broker.url(), lapin::ConnectionProperties::default())
        .await
        .expect("lapin connects");
    let _ch = conn.create_channel().await.unwrap();
    let mut events = conn.events_listener();

    broker.signal("TERM");

    let close = raw
        .close_or_eof(WAIT)
        .await
        .expect("the broker sends connection.close before going away");
    assert_eq!(close.reply_code, 320, "{close:?}");
    assert!(
        close.reply_text.as_str().starts_with("CONNECTION_FORCED"),
        "{close:?}"
    );
    raw.expect_eof(WAIT).await;

    let lapin_code = tokio::time::timeout(WAIT, async {
        while let Some(ev) = events.next().await {
            if let lapin::Event::Error(e) = ev {
                return amqp_code(&e);
            }
        }
        None
    })
    .await
    .expect("lapin reports the close in time");
    assert_eq!(lapin_code, Some(320));
    assert!(!conn.status().connected());

    let status = tokio::task::spawn_blocking(move || {
        let s = broker.wait_exit(Duration::from_secs(5));
        (s, broker)
    })
    .await
    .unwrap()
    .0
    .expect("the broker exits within 5 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
}

/// The signal comes the moment the broker says it listens (as a script or test would send
/// it), several times over: the handler is in place before that line is logged.
#[tokio::test]
async fn sigterm_or_sigint_with_no_connections_exits_0() {
    for sig in ["TERM", "INT", "TERM", "INT", "TERM"] {
        let mut broker = ChildBroker::spawn(&[]);
        broker.signal(sig);
        let status = tokio::task::spawn_blocking(move || broker.wait_exit(Duration::from_secs(5)))
            .await
            .unwrap()
            .expect("the broker exits within 5 s of the signal");
        assert!(status.success(), "SIG{sig}: exit status {status:?}");
    }
}

/// A client that never answers close-ok must not hold the shutdown up past the deadline.
#[tokio::test]
async fn sigterm_exits_even_if_a_client_never_answers_close() {
    let mut broker = ChildBroker::spawn(&[]);
    let mut raw = RawClient::open(broker.addr).await;
    broker.signal("TERM");
    // Read the close but do not answer it.
    let close = loop {
        match raw.next(WAIT).await {
            common::raw::Next::Frame(common::raw::RawFrame::Method(
                0,
                lapin::protocol::AMQPClass::Connection(
                    lapin::protocol::connection::AMQPMethod::Close(c),
                ),
            )) => break c,
            common::raw::Next::Frame(_) => continue,
            other => panic!("expected connection.close, got {other:?}"),
        }
    };
    assert_eq!(close.reply_code, 320);
    let status = tokio::task::spawn_blocking(move || broker.wait_exit(Duration::from_secs(5)))
        .await
        .unwrap()
        .expect("the broker exits within 5 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    drop(raw);
}

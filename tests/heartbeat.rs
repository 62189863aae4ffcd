//! Heartbeats: with heartbeat=1 negotiated, the broker sends heartbeat frames while it has
//! nothing else to say, drops a client that stays silent for two intervals, and keeps one
//! that sends its own heartbeats.

use crate::common;
use common::raw::{Login, Next, RawClient, RawFrame, HEARTBEAT};
use common::Target;
use std::time::Duration;
use tokio::time::Instant;

fn heartbeat_1s() -> Login {
    Login {
        heartbeat: Some(1),
        ..Default::default()
    }
}

#[tokio::test]
async fn silent_client_gets_heartbeats_then_is_dropped_after_two_missed_intervals() {
    let b = Target::start().await;
    let mut c = RawClient::open_with(b.addr, &heartbeat_1s()).await;
    let opened = Instant::now();
    let mut heartbeats = 0;
    let closed_after = loop {
        match c.next(Duration::from_secs(6)).await {
            Next::Frame(RawFrame::Heartbeat(ch)) => {
                assert_eq!(ch, 0, "heartbeats are on channel 0");
                heartbeats += 1;
            }
            Next::Frame(other) => panic!("unexpected frame: {other:?}"),
            Next::Eof => break opened.elapsed(),
            Next::Timeout => panic!("a silent client was not dropped within 6 s"),
        }
    };
    assert!(
        closed_after >= Duration::from_millis(1500) && closed_after <= Duration::from_secs(4),
        "dropped after {closed_after:?}; expected after two missed 1 s intervals"
    );
    assert!(
        heartbeats >= 1,
        "the broker sent no heartbeat in {closed_after:?}"
    );
}

#[tokio::test]
async fn client_sending_heartbeats_stays_connected() {
    let b = Target::start().await;
    let mut c = RawClient::open_with(b.addr, &heartbeat_1s()).await;
    let until = Instant::now() + Duration::from_millis(4500);
    let mut heartbeats = 0;
    while Instant::now() < until {
        c.send(&HEARTBEAT).await.expect("still connected");
        match c.next(Duration::from_millis(400)).await {
            Next::Frame(RawFrame::Heartbeat(0)) => heartbeats += 1,
            Next::Frame(other) => panic!("unexpected frame: {other:?}"),
            Next::Eof => panic!("dropped although the client sent heartbeats"),
            Next::Timeout => {}
        }
    }
    assert!(heartbeats >= 2, "only {heartbeats} heartbeats in 4.5 s");
    // Still fully usable.
    c.open_channel(1).await;
}

#[tokio::test]
async fn heartbeat_zero_disables_the_idle_timeout() {
    let b = Target::start().await;
    let login = Login {
        heartbeat: Some(0),
        ..Default::default()
    };
    let mut c = RawClient::open_with(b.addr, &login).await;
    match c.next(Duration::from_secs(3)).await {
        Next::Timeout => {}
        other => panic!("expected silence with heartbeats disabled, got {other:?}"),
    }
    c.open_channel(1).await;
}

//! Compaction: live messages move out of a mostly-acked segment, the segment is deleted,
//! and the moved messages come back in their original order after a restart.

use crate::common;
use common::TestBroker;
use lapin::{options::*, types::FieldTable, BasicProperties};

async fn publish_persistent(b: &TestBroker, q: &str, n: u8) {
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        q.into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for i in 0..n {
        let c = ch
            .basic_publish(
                "".into(),
                q.into(),
                BasicPublishOptions::default(),
                &[i],
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(c.is_ack());
    }
    conn.close(200, "".into()).await.unwrap();
}

fn segments(b: &TestBroker) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(b.dir.path().join("messages"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn compaction_frees_old_segments_and_keeps_order() {
    let b = TestBroker::start().await;
    publish_persistent(&b, "cq", 10).await;
    // A restart starts a new segment, so the first one is old and may be compacted.
    let b = TestBroker::start_in(b.stop().await).await;
    assert!(segments(&b).contains(&"00000001.seg".to_string()));
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    for i in 0..8u8 {
        let m = ch
            .basic_get("cq".into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .expect("a message");
        assert_eq!(m.delivery.data, vec![i]);
    }
    // Settled acks are released synchronously; compaction moves the 2 left (the background
    // task may have done it already on a slow machine).
    b.broker().compact();
    // The old segment goes once the moved copies are on disk (the next group commit).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while segments(&b).contains(&"00000001.seg".to_string()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the compacted segment is deleted: {:?}",
            segments(&b)
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    conn.close(200, "".into()).await.unwrap();
    let b = TestBroker::start_in(b.stop().await).await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    for i in 8..10u8 {
        let m = ch
            .basic_get("cq".into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .expect("the moved message survives a restart");
        assert_eq!(m.delivery.data, vec![i], "in its original order");
        assert!(m.delivery.redelivered);
    }
    assert!(ch
        .basic_get("cq".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .is_none());
}

//! The queue state machine driven through its operations with test consumers: no
//! sockets, no store, no broker. Effects are inspected as values; the test plays the
//! channel's part (it counts what each consumer holds, as a channel counts prefetch).

use super::dead_letter::Reason;
use super::expiry::Deadline;
use super::*;
use crate::message::props::{encode_properties, Props};
use amq_protocol::protocol::BasicProperties;
use std::cell::Cell;

thread_local! {
    /// The test clock, in Unix milliseconds.
    static NOW: Cell<u64> = const { Cell::new(1_000_000) };
}

fn clock() -> Deadline {
    Deadline::at_ms(NOW.with(|n| n.get()))
}

fn set_time(ms: u64) {
    NOW.with(|n| n.set(ms));
}

/// A consumer with a prefetch limit (0: none) that counts the deliveries it holds.
struct TestConsumer {
    holder: Holder,
    prefetch: usize,
    held: parking_lot::Mutex<usize>,
}

impl TestConsumer {
    fn new(prefetch: usize) -> Arc<Self> {
        Arc::new(Self {
            holder: new_holder(),
            prefetch,
            held: parking_lot::Mutex::new(0),
        })
    }

    fn subscription(self: &Arc<Self>, tag: &str, priority: i32) -> Subscription {
        Subscription {
            tag: tag.into(),
            consumer: self.clone(),
            no_ack: false,
            exclusive: false,
            priority,
            cancel_on_failover: false,
        }
    }
}

impl Consumer for TestConsumer {
    fn holder(&self) -> Holder {
        self.holder
    }

    fn reserve(&self, _queue: &Weak<Queue>, _tag: &str, no_ack: bool, _msg: &Message) -> bool {
        let mut held = self.held.lock();
        if no_ack {
            return true;
        }
        if self.prefetch > 0 && *held >= self.prefetch {
            return false;
        }
        *held += 1;
        true
    }

    fn deliver(&self, _queue: &Arc<Queue>, _delivery: Delivery) {}

    fn cancelled(&self, _tag: &str) {}

    fn deliver_direct(&self, _msg: &Message) {}
}

/// Runs one operation with a fresh effects buffer.
fn op<R>(f: impl FnOnce(&mut Effects) -> R) -> (R, Effects) {
    let mut fx = Effects::default();
    let r = f(&mut fx);
    (r, fx)
}

/// The effects of one operation.
fn effects(f: impl FnOnce(&mut Effects)) -> Effects {
    op(f).1
}

fn queue(settings: QueueArgs) -> QueueState {
    let max = settings.max_priority.unwrap_or(0);
    QueueState::with_clock(Weak::new(), settings, max, false, clock)
}

fn msg_with(body: &str, props: BasicProperties) -> Message {
    let raw = encode_properties(&props);
    let parsed = Props::parse(&raw).unwrap_or_default();
    let now = NOW.with(|n| n.get());
    Message::restored("", "q", &raw, &parsed, body.as_bytes(), now)
}

fn msg(body: &str) -> Message {
    msg_with(body, BasicProperties::default())
}

fn body(m: &Message) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

/// (consumer tag, body, redelivered) of each delivery, in order.
fn delivered(fx: &Effects) -> Vec<(String, String, bool)> {
    fx.deliveries
        .iter()
        .map(|(_, d)| (d.tag.to_string(), body(&d.msg), d.redelivered))
        .collect()
}

fn bodies(fx: &Effects) -> Vec<String> {
    fx.deliveries.iter().map(|(_, d)| body(&d.msg)).collect()
}

/// Settles as the channel would: the consumer's held count goes down, then the queue
/// settles.
fn settle(st: &mut QueueState, c: &TestConsumer, seqs: &[u64], how: Settle) -> Effects {
    *c.held.lock() -= seqs.len();
    effects(|fx| st.settle(fx, c.holder, seqs, how))
}

fn publish(st: &mut QueueState, body: &str) -> Effects {
    effects(|fx| st.publish(fx, msg(body), true, None))
}

fn get_body(st: &mut QueueState) -> Option<(String, bool)> {
    match op(|fx| st.get(fx, None)).0 {
        Got::Message {
            msg, redelivered, ..
        } => Some((body(&msg), redelivered)),
        Got::Empty => None,
        Got::Loading => panic!("nothing is paged out"),
    }
}

fn dead(fx: &Effects) -> Vec<(u64, Reason)> {
    fx.dead.iter().map(|(e, r)| (e.seq, *r)).collect()
}

#[test]
fn prefetch_limits_unacked_and_an_ack_makes_room() {
    let mut st = queue(QueueArgs::default());
    let c = TestConsumer::new(2);
    assert!(op(|fx| st.add_consumer(fx, c.subscription("c", 0)))
        .0
        .is_ok());
    let mut seqs = Vec::new();
    for i in 0..5 {
        let fx = publish(&mut st, &format!("m{i}"));
        seqs.extend(fx.deliveries.iter().map(|(_, d)| d.seq));
    }
    assert_eq!(seqs, vec![0, 1]);
    assert_eq!((st.ready(), st.unacked()), (3, 2));
    let fx = settle(&mut st, &c, &[0], Settle::Ack);
    assert_eq!(bodies(&fx), vec!["m2"]);
    assert_eq!((st.ready(), st.unacked()), (2, 2));
    // An unknown position (already settled) changes nothing.
    let fx = effects(|fx| st.settle(fx, c.holder, &[0], Settle::Ack));
    assert!(fx.deliveries.is_empty());
    assert_eq!((st.ready(), st.unacked()), (2, 2));
}

#[test]
fn priority_queue_delivers_highest_first_fifo_within_a_level() {
    let mut st = queue(QueueArgs {
        max_priority: Some(5),
        ..QueueArgs::default()
    });
    for (b, p) in [
        ("low", 0),
        ("top", 9),
        ("mid1", 3),
        ("five", 5),
        ("mid2", 3),
    ] {
        effects(|fx| {
            st.publish(
                fx,
                msg_with(b, BasicProperties::default().with_priority(p)),
                true,
                None,
            )
        });
    }
    let order: Vec<String> = std::iter::from_fn(|| get_body(&mut st).map(|g| g.0)).collect();
    // 9 is capped at the queue's maximum, 5, and so ties with "five" (which came later).
    assert_eq!(order, vec!["top", "five", "mid1", "mid2", "low"]);
}

#[test]
fn consumer_priorities_come_first_and_equal_ones_take_turns() {
    let mut st = queue(QueueArgs::default());
    let high = TestConsumer::new(1);
    let (a, b) = (TestConsumer::new(0), TestConsumer::new(0));
    for (c, tag, p) in [(&a, "a", 0), (&high, "high", 10), (&b, "b", 0)] {
        assert!(op(|fx| st.add_consumer(fx, c.subscription(tag, p)))
            .0
            .is_ok());
    }
    let mut tags = Vec::new();
    for i in 0..5 {
        let fx = publish(&mut st, &format!("m{i}"));
        tags.extend(delivered(&fx).into_iter().map(|d| d.0));
    }
    // The high-priority consumer takes what its prefetch allows; the others alternate.
    assert_eq!(tags, vec!["high", "a", "b", "a", "b"]);
}

#[test]
fn single_active_consumer_gets_everything_until_it_leaves() {
    let mut st = queue(QueueArgs {
        single_active_consumer: true,
        ..QueueArgs::default()
    });
    let (first, second) = (TestConsumer::new(0), TestConsumer::new(0));
    assert!(op(|fx| st.add_consumer(fx, first.subscription("first", 0)))
        .0
        .is_ok());
    // Priority does not decide who is active: subscription order does.
    assert!(
        op(|fx| st.add_consumer(fx, second.subscription("second", 99)))
            .0
            .is_ok()
    );
    let mut tags = Vec::new();
    for i in 0..3 {
        tags.extend(
            delivered(&publish(&mut st, &format!("m{i}")))
                .into_iter()
                .map(|d| d.0),
        );
    }
    assert_eq!(tags, vec!["first"; 3]);
    // The active consumer's channel closes: its subscription ends and what it held comes
    // back, redelivered, to the next consumer, in order.
    let (last, fx) = op(|fx| st.remove_consumer(fx, first.holder, "first"));
    assert!(!last && fx.deliveries.is_empty());
    let fx = effects(|fx| st.holder_gone(fx, first.holder));
    assert_eq!(
        delivered(&fx),
        vec![
            ("second".into(), "m0".into(), true),
            ("second".into(), "m1".into(), true),
            ("second".into(), "m2".into(), true)
        ]
    );
    let (last, _) = op(|fx| st.remove_consumer(fx, second.holder, "second"));
    assert!(last);
}

#[test]
fn requeued_messages_go_back_to_their_original_positions() {
    let mut st = queue(QueueArgs::default());
    let c = TestConsumer::new(0);
    assert!(op(|fx| st.add_consumer(fx, c.subscription("c", 0)))
        .0
        .is_ok());
    for i in 0..5 {
        publish(&mut st, &format!("m{i}"));
    }
    let (_, fx) = op(|fx| st.remove_consumer(fx, c.holder, "c"));
    assert!(fx.deliveries.is_empty());
    publish(&mut st, "m5");
    // Requeue m3 then m1: they go back before m5, in their original order.
    let fx = settle(&mut st, &c, &[3], Settle::Requeue);
    assert!(fx.dead.is_empty() && fx.deliveries.is_empty());
    settle(&mut st, &c, &[1], Settle::Requeue);
    assert_eq!(get_body(&mut st), Some(("m1".into(), true)));
    assert_eq!(get_body(&mut st), Some(("m3".into(), true)));
    assert_eq!(get_body(&mut st), Some(("m5".into(), false)));
    // The holder goes away: m0, m2 and m4 come back in order.
    effects(|fx| st.holder_gone(fx, c.holder));
    let rest: Vec<_> = std::iter::from_fn(|| get_body(&mut st)).collect();
    assert_eq!(
        rest,
        vec![
            ("m0".into(), true),
            ("m2".into(), true),
            ("m4".into(), true)
        ]
    );
}

#[test]
fn a_vanished_holder_returns_only_its_own_deliveries() {
    let mut st = queue(QueueArgs::default());
    let (a, b) = (TestConsumer::new(0), TestConsumer::new(0));
    assert!(op(|fx| st.add_consumer(fx, a.subscription("a", 0)))
        .0
        .is_ok());
    assert!(op(|fx| st.add_consumer(fx, b.subscription("b", 0)))
        .0
        .is_ok());
    for i in 0..4 {
        publish(&mut st, &format!("m{i}"));
    }
    assert_eq!(st.unacked(), 4);
    op(|fx| st.remove_consumer(fx, a.holder, "a"));
    let fx = effects(|fx| st.holder_gone(fx, a.holder));
    // a held m0 and m2; they go straight to b, redelivered.
    assert_eq!(
        delivered(&fx),
        vec![
            ("b".into(), "m0".into(), true),
            ("b".into(), "m2".into(), true)
        ]
    );
    assert_eq!((st.ready(), st.unacked()), (0, 4));
    // basic.get deliveries are held too.
    op(|fx| st.remove_consumer(fx, b.holder, "b"));
    publish(&mut st, "got");
    assert!(matches!(
        op(|fx| st.get(fx, Some(a.holder))).0,
        Got::Message { .. }
    ));
    assert_eq!(st.unacked(), 5);
    effects(|fx| st.holder_gone(fx, a.holder));
    assert_eq!((st.ready(), st.unacked()), (1, 4));
}

#[test]
fn ttl_expires_from_the_head_with_a_timer_and_never_delivers_late() {
    set_time(1_000_000);
    let mut st = queue(QueueArgs {
        message_ttl: Some(1000),
        ..QueueArgs::default()
    });
    let fx = publish(&mut st, "a");
    assert_eq!(fx.timer, Some(Deadline::at_ms(1_001_000)));
    // A per-message expiration lower than the queue's wins...
    set_time(1_000_100);
    let short = BasicProperties::default().with_expiration("50".into());
    effects(|fx| st.publish(fx, msg_with("short", short), true, None));
    // ...but only once it reaches the head, as in RabbitMQ.
    set_time(1_000_999);
    let fx = effects(|fx| st.timer_fired(fx, Deadline::at_ms(1_001_000)));
    assert!(fx.dead.is_empty());
    assert_eq!(st.ready(), 2);
    set_time(1_001_000);
    let fx = effects(|fx| st.timer_fired(fx, Deadline::at_ms(1_001_000)));
    assert_eq!(dead(&fx), vec![(0, Reason::Expired), (1, Reason::Expired)]);
    assert_eq!(st.ready(), 0);
    // A consumer never receives an expired message.
    publish(&mut st, "late");
    set_time(1_002_000);
    let c = TestConsumer::new(0);
    let (added, fx) = op(|fx| st.add_consumer(fx, c.subscription("c", 0)));
    assert!(added.is_ok());
    assert!(fx.deliveries.is_empty());
    assert_eq!(dead(&fx), vec![(2, Reason::Expired)]);
}

#[test]
fn ttl_zero_delivers_to_a_waiting_consumer_and_expires_otherwise() {
    set_time(5_000);
    let mut st = queue(QueueArgs {
        message_ttl: Some(0),
        ..QueueArgs::default()
    });
    let fx = publish(&mut st, "nobody");
    assert_eq!(dead(&fx), vec![(0, Reason::Expired)]);
    let c = TestConsumer::new(0);
    assert!(op(|fx| st.add_consumer(fx, c.subscription("c", 0)))
        .0
        .is_ok());
    let fx = publish(&mut st, "someone");
    assert_eq!(bodies(&fx), vec!["someone"]);
    assert!(fx.dead.is_empty());
}

#[test]
fn max_length_drop_head_dead_letters_the_oldest() {
    let mut st = queue(QueueArgs {
        max_length: Some(2),
        ..QueueArgs::default()
    });
    publish(&mut st, "m0");
    publish(&mut st, "m1");
    let fx = publish(&mut st, "m2");
    assert_eq!(dead(&fx), vec![(0, Reason::MaxLen)]);
    assert_eq!(tallies(&st).0.bytes(), 4);
    // Bytes count too: 2-byte bodies, at most 3 bytes.
    let fx = effects(|fx| {
        st.set_settings(
            fx,
            QueueArgs {
                max_length_bytes: Some(3),
                ..QueueArgs::default()
            },
        )
    });
    assert_eq!(dead(&fx), vec![(1, Reason::MaxLen)]);
    assert_eq!(tallies(&st).0.bytes(), 2);
    assert_eq!(get_body(&mut st).map(|g| g.0), Some("m2".into()));
}

#[test]
fn max_length_reject_publish_refuses_without_dropping() {
    for overflow in [Overflow::RejectPublish, Overflow::RejectPublishDlx] {
        let mut st = queue(QueueArgs {
            max_length: Some(2),
            max_length_bytes: Some(100),
            overflow: Some(overflow),
            ..QueueArgs::default()
        });
        assert!(st.admits(2));
        publish(&mut st, "m0");
        publish(&mut st, "m1");
        assert!(!st.admits(2), "{overflow:?}: the count is reached");
        // Nothing is dropped, even when a policy lowers the limit below the length.
        let fx = effects(|fx| {
            st.set_settings(
                fx,
                QueueArgs {
                    max_length: Some(1),
                    overflow: Some(overflow),
                    ..QueueArgs::default()
                },
            )
        });
        assert!(fx.dead.is_empty());
        assert_eq!(st.ready(), 2);
        get_body(&mut st);
        get_body(&mut st);
        assert!(st.admits(2));
        let bytes = QueueArgs {
            max_length_bytes: Some(3),
            overflow: Some(overflow),
            ..QueueArgs::default()
        };
        effects(|fx| st.set_settings(fx, bytes));
        assert!(st.admits(3) && !st.admits(4), "{overflow:?}: bytes");
    }
}

#[test]
fn rejected_deliveries_are_dead_lettered_and_acked_ones_released() {
    let mut st = queue(QueueArgs::default());
    let c = TestConsumer::new(0);
    assert!(op(|fx| st.add_consumer(fx, c.subscription("c", 0)))
        .0
        .is_ok());
    let at = crate::store::segment::RecordRef::new(3, 100);
    effects(|fx| st.publish(fx, msg("stored"), true, Some(at)));
    publish(&mut st, "plain");
    let fx = settle(&mut st, &c, &[0], Settle::Ack);
    assert_eq!(fx.released.as_slice(), &[at]);
    let fx = settle(&mut st, &c, &[1], Settle::Reject);
    assert_eq!(dead(&fx), vec![(1, Reason::Rejected)]);
    assert_eq!((st.ready(), st.unacked()), (0, 0));
}

#[test]
fn no_ack_deliveries_are_settled_at_once() {
    let mut st = queue(QueueArgs::default());
    let c = TestConsumer::new(1);
    let mut sub = c.subscription("c", 0);
    sub.no_ack = true;
    assert!(op(|fx| st.add_consumer(fx, sub)).0.is_ok());
    let at = crate::store::segment::RecordRef::new(1, 0);
    let mut released = Vec::new();
    for i in 0..3 {
        let fx = effects(|fx| st.publish(fx, msg(&format!("m{i}")), true, Some(at)));
        assert_eq!(fx.deliveries.len(), 1, "prefetch does not apply to no-ack");
        released.extend(fx.released);
    }
    assert_eq!(released.len(), 3);
    assert_eq!((st.ready(), st.unacked()), (0, 0));
}

#[test]
fn paged_out_messages_are_read_back_before_delivery() {
    let mut st = queue(QueueArgs::default());
    let at = crate::store::segment::RecordRef::new(7, 0);
    // Stored and not kept in memory: paged out.
    effects(|fx| st.publish(fx, msg("m0"), false, Some(at)));
    publish(&mut st, "m1");
    let (got, fx) = op(|fx| st.get(fx, None));
    assert!(matches!(got, Got::Loading));
    let load = Load {
        seq: 0,
        priority: 0,
        at,
    };
    assert_eq!(fx.load, vec![load]);
    // Asking again while the read-back runs asks for nothing more.
    let (got, fx) = op(|fx| st.get(fx, None));
    assert!(matches!(got, Got::Loading) && fx.load.is_empty());
    // A consumer arriving meanwhile waits for the head, keeping the order.
    let c = TestConsumer::new(0);
    let (added, fx) = op(|fx| st.add_consumer(fx, c.subscription("c", 0)));
    assert!(added.is_ok());
    assert!(fx.deliveries.is_empty());
    let fx = effects(|fx| st.loaded(fx, vec![(load, Some(msg("m0")))]));
    assert_eq!(bodies(&fx), vec!["m0", "m1"]);
    // One that cannot be read back is dropped, its record released.
    op(|fx| st.remove_consumer(fx, c.holder, "c"));
    let at2 = crate::store::segment::RecordRef::new(8, 0);
    effects(|fx| st.publish(fx, msg("lost"), false, Some(at2)));
    let fx = effects(|fx| st.dispatch(fx));
    assert!(fx.load.is_empty(), "no consumer: nothing to read");
    let (_, asked) = op(|fx| st.get(fx, None));
    let fx = effects(|fx| st.loaded(fx, vec![(asked.load[0], None)]));
    assert_eq!(fx.released.as_slice(), &[at2]);
    assert_eq!(st.ready(), 0);
}

#[test]
fn exclusive_consumers_exclude_others() {
    let mut st = queue(QueueArgs::default());
    let (a, b) = (TestConsumer::new(0), TestConsumer::new(0));
    assert!(op(|fx| st.add_consumer(fx, a.subscription("a", 0)))
        .0
        .is_ok());
    let mut exclusive = b.subscription("b", 0);
    exclusive.exclusive = true;
    assert!(matches!(
        op(|fx| st.add_consumer(fx, exclusive)).0,
        Err(ExclusiveInUse)
    ));
    op(|fx| st.remove_consumer(fx, a.holder, "a"));
    let mut exclusive = b.subscription("b", 0);
    exclusive.exclusive = true;
    assert!(op(|fx| st.add_consumer(fx, exclusive)).0.is_ok());
    assert!(matches!(
        op(|fx| st.add_consumer(fx, a.subscription("a", 0))).0,
        Err(ExclusiveInUse)
    ));
}

#[test]
fn delete_cancels_consumers_and_releases_every_copy() {
    let mut st = queue(QueueArgs::default());
    let c = TestConsumer::new(1);
    assert!(op(|fx| st.add_consumer(fx, c.subscription("c", 0)))
        .0
        .is_ok());
    let (r1, r2) = (
        crate::store::segment::RecordRef::new(1, 0),
        crate::store::segment::RecordRef::new(1, 50),
    );
    effects(|fx| st.publish(fx, msg("held"), true, Some(r1)));
    effects(|fx| st.publish(fx, msg("ready"), true, Some(r2)));
    let (ready, fx) = op(|fx| st.delete(fx));
    assert_eq!(ready, 1);
    assert_eq!(tallies(&st), (Tally::default(), Tally::default()));
    assert_eq!(fx.cancelled.len(), 1);
    let mut released = fx.released.to_vec();
    released.sort_by_key(|r| r.offset());
    assert_eq!(released, vec![r1, r2]);
    // A late ack finds nothing to settle.
    assert!(!settle(&mut st, &c, &[0], Settle::Ack).needs_finishing());
}

#[test]
fn purge_drops_ready_messages_but_not_unacked_ones() {
    let mut st = queue(QueueArgs::default());
    let c = TestConsumer::new(1);
    assert!(op(|fx| st.add_consumer(fx, c.subscription("c", 0)))
        .0
        .is_ok());
    for i in 0..3 {
        publish(&mut st, &format!("m{i}"));
    }
    let (n, _) = op(|fx| st.purge(fx));
    assert_eq!((n, st.ready(), st.unacked()), (2, 0, 1));
    // The unacked one comes back on requeue.
    settle(&mut st, &c, &[0], Settle::Requeue);
    assert_eq!(st.unacked(), 1);
}

/// The ready and unacknowledged totals, checked against `figures`.
fn tallies(st: &QueueState) -> (Tally, Tally) {
    let f = st.figures();
    assert_eq!(f.ready.len() as usize, st.ready());
    assert_eq!(f.unacked.len() as usize, st.unacked());
    (f.ready, f.unacked)
}

fn persistent(body: &str) -> Message {
    msg_with(body, BasicProperties::default().with_delivery_mode(2))
}

fn get_held(st: &mut QueueState, holder: Holder) -> u64 {
    match op(|fx| st.get(fx, Some(holder))).0 {
        Got::Message { seq, .. } => seq,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn byte_totals_follow_messages_out_by_every_way_and_return_to_zero() {
    set_time(2_000_000);
    let mut st = QueueState::with_clock(Weak::new(), QueueArgs::default(), 0, true, clock);
    let short = BasicProperties::default()
        .with_delivery_mode(2)
        .with_expiration("10".into());
    effects(|fx| st.publish(fx, msg_with("x", short), true, None));
    effects(|fx| st.publish(fx, msg("yy"), true, None));
    effects(|fx| st.publish(fx, persistent("zzz"), true, None));
    effects(|fx| st.publish(fx, msg("wwww"), true, None));
    let (ready, unacked) = tallies(&st);
    assert_eq!((ready.bytes(), unacked.bytes()), (10, 0));
    assert_eq!(ready.persistent(), (2, 4));
    assert_eq!(ready.ram(), (4, 10));
    assert!(ready.footprint() > 10);
    // Expiry (dead-lettered as expired) takes the head's bytes away.
    set_time(2_000_020);
    let fx = effects(|fx| st.timer_fired(fx, Deadline::at_ms(2_000_010)));
    assert_eq!(dead(&fx), vec![(0, Reason::Expired)]);
    assert_eq!(tallies(&st).0.bytes(), 9);
    // A get without ack moves bytes from ready to unacked; an ack drops them.
    let h = new_holder();
    let (yy, zzz) = (get_held(&mut st, h), get_held(&mut st, h));
    let (ready, unacked) = tallies(&st);
    assert_eq!((ready.bytes(), unacked.bytes()), (4, 5));
    assert_eq!(unacked.persistent(), (1, 3));
    effects(|fx| st.settle(fx, h, &[yy], Settle::Ack));
    assert_eq!(tallies(&st).1.bytes(), 3);
    // A requeue brings them back to ready; a rejection dead-letters them.
    effects(|fx| st.settle(fx, h, &[zzz], Settle::Requeue));
    let (ready, unacked) = tallies(&st);
    assert_eq!((ready.bytes(), unacked.bytes()), (7, 0));
    let zzz = get_held(&mut st, h);
    let fx = effects(|fx| st.settle(fx, h, &[zzz], Settle::Reject));
    assert_eq!(dead(&fx), vec![(2, Reason::Rejected)]);
    // A vanished holder returns what it held; a purge drops the rest.
    get_held(&mut st, h);
    effects(|fx| st.holder_gone(fx, h));
    assert_eq!(tallies(&st).0.bytes(), 4);
    let (n, _) = op(|fx| st.purge(fx));
    assert_eq!(n, 1);
    assert_eq!(tallies(&st), (Tally::default(), Tally::default()));
}

#[test]
fn paged_out_messages_count_apart_until_read_back() {
    let mut st = QueueState::with_clock(Weak::new(), QueueArgs::default(), 0, true, clock);
    let at = crate::store::segment::RecordRef::new(7, 0);
    effects(|fx| st.publish(fx, msg("transient"), false, Some(at)));
    effects(|fx| st.publish(fx, persistent("kept"), false, Some(at)));
    let ready = tallies(&st).0;
    assert_eq!(ready.ram(), (0, 0));
    assert_eq!(ready.footprint(), 0);
    // A persistent message on disk is not "paged out"; a transient one is.
    assert_eq!(ready.paged_out(), (1, 9));
    assert_eq!(ready.persistent(), (1, 4));
    let (_, asked) = op(|fx| st.get(fx, None));
    effects(|fx| st.loaded(fx, vec![(asked.load[0], Some(msg("transient")))]));
    let ready = tallies(&st).0;
    assert_eq!((ready.ram(), ready.paged_out()), ((1, 9), (0, 0)));
    assert!(ready.footprint() > 9);
    // Paging out again through the list keeps the totals right.
    st.messages.visit_newest_first(|e| {
        e.msg = None;
        std::ops::ControlFlow::Continue(())
    });
    let ready = tallies(&st).0;
    assert_eq!((ready.ram(), ready.paged_out()), ((0, 0), (1, 9)));
    assert_eq!((ready.footprint(), ready.bytes()), (0, 13));
    // In a queue that is not durable, nothing is persistent.
    let mut transient = queue(QueueArgs::default());
    effects(|fx| transient.publish(fx, persistent("p"), true, None));
    assert_eq!(tallies(&transient).0.persistent(), (0, 0));
}

#[test]
fn head_timestamp_is_the_oldest_of_the_ready_and_unacked_heads_in_memory() {
    let mut st = queue(QueueArgs::default());
    assert_eq!(st.details().head_timestamp, None);
    let stamped = |t| msg_with("m", BasicProperties::default().with_timestamp(t));
    effects(|fx| st.publish(fx, stamped(1_700_000_200), true, None));
    effects(|fx| st.publish(fx, msg("no timestamp"), true, None));
    effects(|fx| st.publish(fx, stamped(1_700_000_100), true, None));
    assert_eq!(st.details().head_timestamp, Some(1_700_000_200));
    // The first is unacked, the head has no timestamp: the unacked one's counts.
    let h = new_holder();
    get_held(&mut st, h);
    assert_eq!(st.details().head_timestamp, Some(1_700_000_200));
    get_held(&mut st, h);
    // Now the head is the lower one.
    assert_eq!(st.details().head_timestamp, Some(1_700_000_100));
    effects(|fx| st.holder_gone(fx, h));
    op(|fx| st.purge(fx));
    assert_eq!(st.details().head_timestamp, None);
}

#[test]
fn a_queue_is_idle_since_the_sample_that_last_saw_an_operation() {
    set_time(3_000_000);
    let mut st = queue(QueueArgs::default());
    assert_eq!(st.details().idle_since_ms, Some(3_000_000));
    st.activity.note();
    publish(&mut st, "m");
    assert_eq!(st.details().idle_since_ms, None);
    st.activity.sample(3_005_000);
    assert_eq!(st.details().idle_since_ms, Some(3_005_000));
    st.activity.sample(3_010_000);
    assert_eq!(st.details().idle_since_ms, Some(3_005_000));
}

#[test]
fn consumer_tags_and_utilisation_are_reported() {
    let mut st = queue(QueueArgs {
        single_active_consumer: true,
        ..QueueArgs::default()
    });
    let d = st.details();
    assert_eq!(
        (d.single_active_consumer_tag, d.consumer_utilisation),
        (None, None)
    );
    let (a, b) = (TestConsumer::new(1), TestConsumer::new(1));
    assert!(op(|fx| st.add_consumer(fx, a.subscription("a", 0)))
        .0
        .is_ok());
    assert!(op(|fx| st.add_consumer(fx, b.subscription("b", 0)))
        .0
        .is_ok());
    let d = st.details();
    assert_eq!(d.single_active_consumer_tag.as_deref(), Some("a"));
    assert_eq!(d.exclusive_consumer_tag, None);
    assert_eq!(d.consumer_utilisation, Some(1.0));
    // The active consumer's prefetch is full: a ready message waits for it.
    publish(&mut st, "m0");
    publish(&mut st, "m1");
    assert_eq!(st.details().consumer_utilisation, Some(0.0));
    let mut st = queue(QueueArgs::default());
    let mut sub = a.subscription("only", 0);
    sub.exclusive = true;
    assert!(op(|fx| st.add_consumer(fx, sub)).0.is_ok());
    assert_eq!(st.details().exclusive_consumer_tag.as_deref(), Some("only"));
}

/// A resumed mirror keeps its copy, marked delivered; a trim drops what is older.
#[test]
fn a_resumed_mirror_copy_keeps_its_messages_until_trimmed() {
    use super::mirror::MirrorCopy;
    let mut copy = MirrorCopy::default();
    for (seq, b) in [(3, "a"), (4, "b"), (7, "c")] {
        assert!(copy.insert(seq, copied(b, false)).is_none());
    }
    copy.resume(1);
    assert!(copy.insert(8, copied("d", false)).is_none());
    assert!(copy.trim(5).is_empty());
    assert!(copy.in_sync());
    // The same resume again (the master repeats it until it hears back) changes nothing.
    copy.resume(1);
    assert!(copy.in_sync());
    let left: Vec<(u64, String, bool)> = (copy.take_all().into_iter())
        .map(|(seq, c)| (seq, body(&c.msg), c.delivered))
        .collect();
    assert_eq!(
        left,
        vec![(7, "c".to_string(), true), (8, "d".to_string(), false)]
    );
}

/// A mirror's copy of a message, not stored.
fn copied(body: &str, delivered: bool) -> super::mirror::Copied {
    super::mirror::Copied {
        msg: msg(body),
        delivered,
        stored: None,
    }
}

/// A sync's offer of the master's messages at these positions.
fn offer(master: &[(u64, &str)]) -> Vec<(u64, super::mirror::Digest)> {
    (master.iter())
        .map(|(seq, b)| (*seq, super::mirror::digest(&msg(b))))
        .collect()
}

/// A sync's batch replaces what the copy holds in its range, stale copies included, and
/// keeps what is outside it.
#[test]
fn a_fill_replaces_the_copy_in_its_range() {
    use super::mirror::MirrorCopy;
    let mut copy = MirrorCopy::default();
    for (seq, b) in [(1, "stale"), (2, "b"), (5, "c"), (9, "later")] {
        assert!(copy.insert(seq, copied(b, false)).is_none());
    }
    copy.resume(1);
    let batch = vec![(2, copied("b", false)), (4, copied("new", true))];
    assert_eq!(copy.fill((0, 6), batch, &[]), (Vec::new(), true));
    let left: Vec<(u64, String, bool)> = (copy.take_all().into_iter())
        .map(|(seq, c)| (seq, body(&c.msg), c.delivered))
        .collect();
    let want = [(2, "b", false), (4, "new", true), (9, "later", true)];
    let want: Vec<(u64, String, bool)> = (want.iter())
        .map(|(s, b, d)| (*s, b.to_string(), *d))
        .collect();
    assert_eq!(left, want);
}

/// A returning mirror keeps the messages of a sync's batch it proves it holds (same
/// position, same digest), with the master's delivered flags, and takes the rest; a
/// different message at a position it holds (a position reused by a new master) is
/// replaced.
#[test]
fn a_fill_keeps_what_the_mirror_proved_it_holds() {
    use super::mirror::MirrorCopy;
    let copied = |b: &str| copied(b, false);
    let mut copy = MirrorCopy::default();
    for (seq, b) in [(1, "a"), (2, "b"), (3, "c"), (9, "later")] {
        assert!(copy.insert(seq, copied(b)).is_none());
    }
    copy.resume(1);
    let offered = offer(&[(1, "a"), (2, "reused"), (3, "c"), (4, "d")]);
    assert_eq!(copy.matching(&offered), (vec![1, 3], Vec::new()));
    let batch = vec![(2, copied("reused")), (4, copied("d"))];
    let kept = [(1, false), (3, true)];
    assert_eq!(copy.fill((0, 5), batch, &kept), (Vec::new(), true));
    let left: Vec<(u64, String, bool)> = (copy.take_all().into_iter())
        .map(|(seq, c)| (seq, body(&c.msg), c.delivered))
        .collect();
    let want = [
        (1, "a", false),
        (2, "reused", false),
        (3, "c", true),
        (4, "d", false),
        (9, "later", true),
    ];
    let want: Vec<(u64, String, bool)> = (want.iter())
        .map(|(s, b, d)| (*s, b.to_string(), *d))
        .collect();
    assert_eq!(left, want);
    // A kept position the copy does not hold leaves it incomplete.
    let (_, complete) = copy.fill((0, 5), Vec::new(), &[(2, false)]);
    assert!(!complete);
}

/// What a restarted node had stored (no positions) waits in the pool: an offer places a
/// pooled message at each position where the master holds an identical one, once per
/// stored copy; the trim that ends the sync empties the pool.
#[test]
fn an_offer_places_pooled_messages_where_the_master_holds_them() {
    use super::mirror::MirrorCopy;
    let copied = |b: &str| copied(b, true);
    let mut copy = MirrorCopy::default();
    copy.pool(vec![copied("a"), copied("twice"), copied("gone")]);
    let offered = offer(&[(4, "a"), (5, "twice"), (6, "twice"), (7, "new")]);
    assert_eq!(copy.matching(&offered), (vec![4, 5], Vec::new()));
    let batch = vec![(6, copied("twice")), (7, copied("new"))];
    let (_, complete) = copy.fill((0, 8), batch, &[(4, false), (5, false)]);
    assert!(complete);
    assert!(copy.trim(0).is_empty());
    let left: Vec<(u64, String)> = (copy.take_all().into_iter())
        .map(|(seq, c)| (seq, body(&c.msg)))
        .collect();
    let want: Vec<(u64, String)> = [(4, "a"), (5, "twice"), (6, "twice"), (7, "new")]
        .iter()
        .map(|(s, b)| (*s, b.to_string()))
        .collect();
    assert_eq!(left, want);
}

//! Publisher confirms as the writer sends them: confirms that are ready together go out as
//! one `basic.ack` with `multiple=true`, as RabbitMQ does (clients rely on seeing it, and it
//! saves a frame per message).
//!
//! Confirms may become ready out of order (a transient message is confirmed at once, a
//! persistent one after its fsync). Per channel the writer knows `through`, the highest tag
//! such that it has sent a confirm for every tag up to it. A confirm for `through + 1`
//! extends the run and is held; the run goes out as one ack when the batch ends or before
//! anything else on the connection that must follow it. A confirm that arrives early (a gap
//! below it) or a nack goes out alone at once, and is remembered so the run can pass over
//! it later. An ack with `multiple` may thus cover a tag already confirmed alone: clients
//! confirm only the tags still outstanding, as with RabbitMQ's own acks.

use super::codec;
use bytes::{BufMut, BytesMut};
use std::collections::{BTreeSet, HashMap};

#[derive(Default)]
pub(super) struct Confirms {
    channels: HashMap<u16, Run>,
    /// Channels with a run not yet sent.
    held: Vec<u16>,
}

#[derive(Default)]
struct Run {
    /// Every tag up to this one is confirmed, or held in this run.
    through: u64,
    /// `through` when the run was last sent.
    sent: u64,
    /// Tags above `through + 1` already confirmed alone.
    early: BTreeSet<u64>,
}

impl Run {
    /// Counts `tag` as confirmed; true if it extends the run.
    fn take(&mut self, tag: u64) -> bool {
        if tag != self.through + 1 {
            if tag > self.through {
                self.early.insert(tag);
            }
            return false;
        }
        self.through = tag;
        while self.early.first() == Some(&(self.through + 1)) {
            self.early.pop_first();
            self.through += 1;
        }
        true
    }
}

impl Confirms {
    /// A confirm became ready: `ok` is an ack, otherwise a nack.
    pub(super) fn confirm(&mut self, buf: &mut BytesMut, channel: u16, tag: u64, ok: bool) {
        let run = self.channels.entry(channel).or_default();
        if ok && tag == run.through + 1 {
            run.take(tag);
            if !self.held.contains(&channel) {
                self.held.push(channel);
            }
            return;
        }
        // Out of order, or a nack: what is held on this channel goes first, then this one.
        self.send_held(buf, channel);
        encode(buf, channel, tag, false, ok);
        if let Some(run) = self.channels.get_mut(&channel) {
            if run.take(tag) {
                run.sent = run.through;
            }
        }
    }

    /// Sends every held run.
    pub(super) fn flush(&mut self, buf: &mut BytesMut) {
        while let Some(channel) = self.held.pop() {
            self.send_run(buf, channel);
        }
    }

    /// The channel was (re)opened or put in confirm mode: its tags start again at 1.
    pub(super) fn reset(&mut self, buf: &mut BytesMut, channel: u16) {
        self.send_held(buf, channel);
        self.channels.remove(&channel);
    }

    fn send_held(&mut self, buf: &mut BytesMut, channel: u16) {
        if let Some(i) = self.held.iter().position(|&c| c == channel) {
            self.held.swap_remove(i);
            self.send_run(buf, channel);
        }
    }

    fn send_run(&mut self, buf: &mut BytesMut, channel: u16) {
        let Some(run) = self.channels.get_mut(&channel) else {
            return;
        };
        if run.through > run.sent {
            let multiple = run.through - run.sent > 1;
            encode(buf, channel, run.through, multiple, true);
            run.sent = run.through;
        }
    }
}

/// `basic.ack` (60/80: tag, multiple) or `basic.nack` (60/120: tag, multiple, requeue=false),
/// encoded by hand: with one per publish, confirms are on the hot path.
fn encode(buf: &mut BytesMut, channel: u16, tag: u64, multiple: bool, ok: bool) {
    buf.put_u8(codec::FRAME_METHOD);
    buf.put_u16(channel);
    buf.put_u32(13);
    buf.put_u16(60);
    buf.put_u16(if ok { 80 } else { 120 });
    buf.put_u64(tag);
    buf.put_u8(u8::from(multiple));
    buf.put_u8(codec::FRAME_END);
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::frame::{parse_frame, AMQPFrame};
    use amq_protocol::protocol::{basic, AMQPClass};

    /// The confirms in `buf`, as (channel, tag, multiple, ack).
    fn sent(buf: &BytesMut) -> Vec<(u16, u64, bool, bool)> {
        let mut rest = &buf[..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let (r, frame) = parse_frame(rest).expect("parses");
            rest = r;
            match frame {
                AMQPFrame::Method(ch, AMQPClass::Basic(basic::AMQPMethod::Ack(a))) => {
                    out.push((ch, a.delivery_tag, a.multiple, true))
                }
                AMQPFrame::Method(ch, AMQPClass::Basic(basic::AMQPMethod::Nack(n))) => {
                    assert!(!n.requeue);
                    out.push((ch, n.delivery_tag, n.multiple, false))
                }
                f => panic!("unexpected {f:?}"),
            }
        }
        out
    }

    #[test]
    fn a_run_ready_together_is_one_ack_multiple() {
        let mut c = Confirms::default();
        let mut buf = BytesMut::new();
        for tag in 1..=640 {
            c.confirm(&mut buf, 1, tag, true);
        }
        c.flush(&mut buf);
        assert_eq!(sent(&buf), vec![(1, 640, true, true)]);
        buf.clear();
        c.confirm(&mut buf, 1, 641, true);
        c.flush(&mut buf);
        assert_eq!(sent(&buf), vec![(1, 641, false, true)]);
    }

    #[test]
    fn early_confirms_and_nacks_go_alone_and_the_run_passes_over_them() {
        let mut c = Confirms::default();
        let mut buf = BytesMut::new();
        c.confirm(&mut buf, 1, 1, true);
        c.confirm(&mut buf, 1, 3, true); // 2 is waiting for its fsync
        c.confirm(&mut buf, 1, 4, false);
        c.confirm(&mut buf, 1, 2, true);
        c.confirm(&mut buf, 1, 5, true);
        c.flush(&mut buf);
        assert_eq!(
            sent(&buf),
            vec![
                (1, 1, false, true),
                (1, 3, false, true),
                (1, 4, false, false),
                (1, 5, true, true)
            ]
        );
    }

    #[test]
    fn a_nack_in_order_ends_the_held_run_first() {
        let mut c = Confirms::default();
        let mut buf = BytesMut::new();
        c.confirm(&mut buf, 2, 1, true);
        c.confirm(&mut buf, 2, 2, true);
        c.confirm(&mut buf, 2, 3, false);
        c.confirm(&mut buf, 2, 4, true);
        c.flush(&mut buf);
        assert_eq!(
            sent(&buf),
            vec![
                (2, 2, true, true),
                (2, 3, false, false),
                (2, 4, false, true)
            ]
        );
    }

    #[test]
    fn channels_are_separate_and_reset_starts_again() {
        let mut c = Confirms::default();
        let mut buf = BytesMut::new();
        c.confirm(&mut buf, 1, 1, true);
        c.confirm(&mut buf, 2, 1, true);
        c.confirm(&mut buf, 1, 2, true);
        c.reset(&mut buf, 1);
        c.confirm(&mut buf, 1, 1, true);
        c.flush(&mut buf);
        let mut got = sent(&buf);
        got.sort();
        assert_eq!(
            got,
            vec![(1, 1, false, true), (1, 2, true, true), (2, 1, false, true)]
        );
    }
}

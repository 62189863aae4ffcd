//! A consumer: one connection, one channel, one basic.consume; decodes deliveries in place
//! many frames per read, records latency and sequence numbers, acks as configured.

use crate::body::{self, now_ns};
use crate::client::{server_close_message, Conn, EOF_MSG};
use crate::frame::{
    decode_method, deliver_tag, encode_ack, encode_method, header_body_size, method_ids, FrameBuf,
    BASIC, BASIC_CANCEL, BASIC_CANCEL_OK, BASIC_DELIVER, FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT,
    FRAME_METHOD,
};
use crate::hist::Hist;
use crate::producer::{reached, ProducerStats};
use crate::run::{Event, PHASE_STOP_ALL};
use crate::tls::{write_out, Reader, Writer};
use crate::track::Tracker;
use crate::uri::Uri;
use amq_protocol::protocol::{basic, AMQPClass};
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc::UnboundedSender, watch};

/// How long a stopping consumer waits for its basic.cancel-ok.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// What one consumer does.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Consumer number (for names and messages).
    pub id: u32,
    /// Queue to consume from.
    pub queue: String,
    /// Index of that queue in the run's queue list.
    pub queue_index: usize,
    /// basic.consume no-ack.
    pub no_ack: bool,
    /// basic.qos prefetch-count, if set.
    pub prefetch: Option<u16>,
    /// Ack every N deliveries (multiple=true when N > 1).
    pub ack_every: u64,
}

/// Counters the reporter reads; written by the consumer's thread only.
#[derive(Default)]
pub struct ConsumerStats {
    /// Deliveries received.
    pub consumed: AtomicU64,
    /// Deliveries whose body was not one of this run's stamps.
    pub invalid: AtomicU64,
    /// Latency (ns) of every valid delivery.
    pub hist: Hist,
}

/// What a consumer hands back at the end.
#[derive(Debug)]
pub struct ConsumerResult {
    /// Index of the queue it consumed from.
    pub queue_index: usize,
    /// Per-producer sequence accounting.
    pub tracker: Tracker,
}

enum Rx {
    Idle,
    Header {
        tag: u64,
    },
    Body {
        tag: u64,
        left: u64,
        stamp: [u8; 16],
        have: usize,
    },
}

struct Sink<'a> {
    spec: &'a ConsumerSpec,
    stats: &'a ConsumerStats,
    producers: &'a [Arc<ProducerStats>],
    tracker: Tracker,
    consumed: u64,
    invalid: u64,
    since_ack: u64,
    last_tag: u64,
    acks: Vec<u8>,
}

impl Sink<'_> {
    #[inline]
    fn deliver(&mut self, now: u64, tag: u64, stamp: Option<&[u8]>) {
        self.consumed += 1;
        match stamp.and_then(body::decode) {
            Some(s)
                if (s.producer as usize) < self.producers.len()
                    && s.seq < self.producers[s.producer as usize].reserved.load(Acquire) =>
            {
                self.stats.hist.record(now.saturating_sub(s.ts_ns));
                self.tracker.record(s.producer as usize, s.seq);
            }
            _ => self.invalid += 1,
        }
        if !self.spec.no_ack {
            self.last_tag = tag;
            self.since_ack += 1;
            if self.since_ack >= self.spec.ack_every {
                encode_ack(&mut self.acks, 1, tag, self.spec.ack_every > 1);
                self.since_ack = 0;
            }
        }
    }
}

/// What the frames of one read amounted to.
#[derive(PartialEq, Eq)]
enum Seen {
    Nothing,
    CancelOk,
}

impl Sink<'_> {
    /// Handles every complete frame in `fb`.
    fn handle_frames(&mut self, fb: &mut FrameBuf, rx: &mut Rx) -> Result<Seen, String> {
        let now = now_ns();
        let mut seen = Seen::Nothing;
        while let Some((ty, ch, r)) = fb.next_frame()? {
            let p = &fb.buf[r];
            if ty == FRAME_METHOD && ch == 0 {
                // Connection-level methods may arrive between the frames of a delivery.
                if let Some((10, 50)) = method_ids(p) {
                    let m = decode_method(p)?;
                    return Err(server_close_message(ch, &m)
                        .unwrap_or_else(|| "the server closed the connection".into()));
                }
                continue;
            }
            *rx = match (ty, std::mem::replace(rx, Rx::Idle)) {
                (
                    FRAME_BODY,
                    Rx::Body {
                        tag,
                        left,
                        mut stamp,
                        mut have,
                    },
                ) => {
                    let len = p.len() as u64;
                    if len > left {
                        return Err("the server sent more body than the header announced".into());
                    }
                    if have < 16 {
                        let take = (16 - have).min(p.len());
                        stamp[have..have + take].copy_from_slice(&p[..take]);
                        have += take;
                    }
                    if len == left {
                        self.deliver(now, tag, Some(&stamp[..have]));
                        Rx::Idle
                    } else {
                        Rx::Body {
                            tag,
                            left: left - len,
                            stamp,
                            have,
                        }
                    }
                }
                (FRAME_HEADER, Rx::Header { tag }) => {
                    let size = header_body_size(p).ok_or("malformed content header")?;
                    if size == 0 {
                        self.deliver(now, tag, None);
                        Rx::Idle
                    } else {
                        Rx::Body {
                            tag,
                            left: size,
                            stamp: [0; 16],
                            have: 0,
                        }
                    }
                }
                (FRAME_METHOD, Rx::Idle) => match method_ids(p) {
                    Some((BASIC, BASIC_DELIVER)) => Rx::Header {
                        tag: deliver_tag(p).ok_or("malformed basic.deliver")?,
                    },
                    Some((BASIC, BASIC_CANCEL)) => {
                        return Err(format!(
                            "the server cancelled consumer {} on queue {} (queue deleted?)",
                            self.spec.id, self.spec.queue
                        ))
                    }
                    Some((BASIC, BASIC_CANCEL_OK)) => {
                        seen = Seen::CancelOk;
                        Rx::Idle
                    }
                    Some((20, 40)) => {
                        let m = decode_method(p)?;
                        return Err(server_close_message(ch, &m)
                            .unwrap_or_else(|| "the server closed the channel".into()));
                    }
                    _ => Rx::Idle,
                },
                (FRAME_HEARTBEAT, rx) => rx,
                (t, _) => {
                    return Err(format!(
                        "unexpected frame type {t} on channel {ch} in the middle of a delivery"
                    ))
                }
            };
        }
        self.stats.consumed.store(self.consumed, Relaxed);
        self.stats.invalid.store(self.invalid, Relaxed);
        Ok(seen)
    }

    async fn flush(&mut self, wr: &mut Writer) -> Result<(), String> {
        if !self.acks.is_empty() {
            write_out(wr, &self.acks)
                .await
                .map_err(|e| format!("acking: {e}"))?;
            self.acks.clear();
        }
        Ok(())
    }
}

async fn fill(fb: &mut FrameBuf, rd: &mut Reader) -> Result<(), String> {
    match fb.fill(rd).await {
        Ok(0) => Err(EOF_MSG.into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("reading from the server: {e}")),
    }
}

/// Connects, subscribes, reports ready, consumes until `PHASE_STOP_ALL`, then cancels the
/// subscription, handles (and acks) what arrives until the cancel-ok, acks anything still
/// unacked and closes — so nothing is requeued to the run's other consumers (which would
/// show up as duplicates).
pub async fn run(
    uri: &Uri,
    spec: &ConsumerSpec,
    stats: &ConsumerStats,
    producers: &[Arc<ProducerStats>],
    mut phase: watch::Receiver<u8>,
    events: &UnboundedSender<Event>,
) -> Result<ConsumerResult, String> {
    let mut conn = Conn::open(uri, &format!("warren-perf consumer {}", spec.id)).await?;
    conn.channel_open(1).await?;
    if let Some(n) = spec.prefetch {
        conn.qos(1, n).await?;
    }
    let ctag = format!("warren-perf-{}", spec.id);
    conn.consume(1, &spec.queue, &ctag, spec.no_ack).await?;
    let _ = events.send(Event::Ready);

    let mut sink = Sink {
        spec,
        stats,
        producers,
        tracker: Tracker::new(producers.len()),
        consumed: 0,
        invalid: 0,
        since_ack: 0,
        last_tag: 0,
        acks: Vec::with_capacity(64 * 1024),
    };
    let mut rx = Rx::Idle;
    let Conn { rd, wr, fb, .. } = &mut conn;
    loop {
        sink.handle_frames(fb, &mut rx)?;
        sink.flush(wr).await?;
        if reached(&mut phase, PHASE_STOP_ALL) {
            break;
        }
        tokio::select! {
            biased;
            r = fill(fb, rd) => r?,
            _ = phase.changed() => {}
        }
    }

    // Stop the flow, take in what is already on its way, ack everything, then close.
    let mut cancel = Vec::new();
    encode_method(
        &mut cancel,
        1,
        AMQPClass::Basic(basic::AMQPMethod::Cancel(basic::Cancel {
            consumer_tag: ctag.as_str().into(),
            nowait: false,
        })),
    )?;
    write_out(wr, &cancel)
        .await
        .map_err(|e| format!("cancelling: {e}"))?;
    let until = tokio::time::Instant::now() + CANCEL_WAIT;
    loop {
        let seen = sink.handle_frames(fb, &mut rx)?;
        sink.flush(wr).await?;
        if seen == Seen::CancelOk {
            break;
        }
        match tokio::time::timeout_at(until, fill(fb, rd)).await {
            Ok(r) => r?,
            Err(_) => {
                eprintln!(
                    "warning: consumer {}: no basic.cancel-ok within {CANCEL_WAIT:?}",
                    spec.id
                );
                break;
            }
        }
    }
    if !spec.no_ack && sink.since_ack > 0 {
        encode_ack(&mut sink.acks, 1, sink.last_tag, true);
        sink.flush(wr).await?;
    }
    let tracker = std::mem::take(&mut sink.tracker);
    let _ = conn.close().await;
    Ok(ConsumerResult {
        queue_index: spec.queue_index,
        tracker,
    })
}

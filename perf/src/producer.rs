//! A producer: one connection, one channel, publishing stamped messages from a pre-encoded
//! template, many per write; with confirms, at most N unconfirmed at a time.

use crate::body::now_ns;
use crate::client::{server_close_message, Conn, EOF_MSG};
use crate::frame::{
    ack_fields, decode_method, method_ids, FrameBuf, PublishTemplate, BASIC, BASIC_ACK, BASIC_NACK,
    BASIC_RETURN, FRAME_METHOD,
};
use crate::run::{Event, PHASE_GO, PHASE_STOP_PRODUCERS};
use crate::tls::{write_out, Reader, Writer};
use crate::track::Settler;
use crate::uri::Uri;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc::UnboundedSender, watch, Notify};

/// Bytes encoded per write (the batch ends earlier if a limit says so).
const BATCH_BYTES: usize = 128 * 1024;
/// How long a stopping producer waits for its outstanding confirms.
const CONFIRM_DRAIN: Duration = Duration::from_secs(10);

/// What one producer does.
#[derive(Debug, Clone)]
pub struct ProducerSpec {
    /// Producer id (goes into every body).
    pub id: u16,
    /// Exchange to publish to ("" = default exchange).
    pub exchange: String,
    /// Routing key.
    pub routing_key: String,
    /// Body size in bytes (≥ 16).
    pub body_size: usize,
    /// delivery-mode 2.
    pub persistent: bool,
    /// Publisher confirms with at most this many unconfirmed.
    pub confirm: Option<u64>,
    /// Messages per second (0 = unlimited).
    pub rate: u64,
    /// Publish exactly this many, then stop (pre-publish).
    pub quota: Option<u64>,
}

/// Counters the reporter reads. Each is written by one thread only.
#[derive(Debug, Default)]
pub struct ProducerStats {
    /// Messages written to the socket.
    pub published: AtomicU64,
    /// Sequence numbers handed out (≥ published): a consumer accepts a body only below this.
    pub reserved: AtomicU64,
    /// Publishes the broker acked.
    pub confirmed: AtomicU64,
    /// Publishes the broker nacked.
    pub nacked: AtomicU64,
    /// Acked + nacked.
    pub settled: AtomicU64,
    /// basic.return received.
    pub returned: AtomicU64,
}

/// Connects, prepares the channel, reports ready, publishes from `PHASE_GO` until
/// `PHASE_STOP_PRODUCERS` (or the quota), waits for outstanding confirms and closes.
pub async fn run(
    uri: &Uri,
    spec: &ProducerSpec,
    stats: &ProducerStats,
    mut phase: watch::Receiver<u8>,
    events: &UnboundedSender<Event>,
) -> Result<(), String> {
    let mut conn = Conn::open(uri, &format!("warren-perf producer {}", spec.id)).await?;
    conn.channel_open(1).await?;
    if spec.confirm.is_some() {
        conn.confirm_select(1).await?;
    }
    let template = PublishTemplate::new(
        1,
        &spec.exchange,
        &spec.routing_key,
        spec.body_size,
        spec.persistent,
        conn.frame_max,
    )?;
    let _ = events.send(Event::Ready);
    loop {
        let p = *phase.borrow_and_update();
        if p >= PHASE_STOP_PRODUCERS {
            let _ = conn.close().await;
            return Ok(());
        }
        if p >= PHASE_GO {
            break;
        }
        if phase.changed().await.is_err() {
            return Ok(());
        }
    }
    let notify = Notify::new();
    let Conn { rd, wr, fb, .. } = &mut conn;
    let result = tokio::select! {
        r = read_confirms(rd, fb, stats, &notify) => r,
        w = publish(wr, spec, &template, stats, &notify, &mut phase) => w,
    };
    result?;
    if !conn.close().await {
        eprintln!(
            "warning: producer {}: the server did not confirm closing the connection; \
             messages published just before may not have been handled",
            spec.id
        );
    }
    Ok(())
}

/// Whether the phase has reached `level` (checked cheaply; a dropped sender means stop).
pub fn reached(phase: &mut watch::Receiver<u8>, level: u8) -> bool {
    match phase.has_changed() {
        Ok(false) => *phase.borrow() >= level,
        Ok(true) => *phase.borrow_and_update() >= level,
        Err(_) => true,
    }
}

async fn publish(
    wr: &mut Writer,
    spec: &ProducerSpec,
    template: &PublishTemplate,
    stats: &ProducerStats,
    notify: &Notify,
    phase: &mut watch::Receiver<u8>,
) -> Result<(), String> {
    let max_batch = (BATCH_BYTES / template.len()).max(1) as u64;
    let mut buf = Vec::with_capacity(BATCH_BYTES + template.len());
    let start = Instant::now();
    let mut seq = 0u64;
    loop {
        if reached(phase, PHASE_STOP_PRODUCERS) {
            break;
        }
        let mut n = max_batch;
        if let Some(q) = spec.quota {
            if seq >= q {
                break;
            }
            n = n.min(q - seq);
        }
        if let Some(window) = spec.confirm {
            let outstanding = seq - stats.settled.load(Acquire).min(seq);
            if outstanding >= window {
                let _ = tokio::time::timeout(Duration::from_millis(100), notify.notified()).await;
                continue;
            }
            n = n.min(window - outstanding);
        }
        if spec.rate > 0 {
            let allowed = (start.elapsed().as_secs_f64() * spec.rate as f64) as u64 + 1;
            if allowed <= seq {
                let due = start + Duration::from_secs_f64(seq as f64 / spec.rate as f64);
                tokio::select! {
                    _ = tokio::time::sleep_until(due.into()) => {}
                    r = phase.changed() => if r.is_err() { break },
                }
                continue;
            }
            n = n.min(allowed - seq);
        }
        let ts = now_ns();
        stats.reserved.store(seq + n, Release);
        buf.clear();
        for k in 0..n {
            template.append(&mut buf, ts, spec.id, seq + k);
        }
        write_out(wr, &buf)
            .await
            .map_err(|e| format!("publishing: {e}"))?;
        seq += n;
        stats.published.store(seq, Relaxed);
    }
    if spec.confirm.is_some() {
        let deadline = Instant::now() + CONFIRM_DRAIN;
        while stats.settled.load(Acquire) < seq {
            if Instant::now() >= deadline {
                eprintln!(
                    "warning: producer {}: {} publishes still unconfirmed after {:?}",
                    spec.id,
                    seq - stats.settled.load(Acquire).min(seq),
                    CONFIRM_DRAIN
                );
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notify.notified()).await;
        }
    }
    Ok(())
}

async fn read_confirms(
    rd: &mut Reader,
    fb: &mut FrameBuf,
    stats: &ProducerStats,
    notify: &Notify,
) -> Result<(), String> {
    let mut settler = Settler::default();
    let (mut confirmed, mut nacked, mut returned) = (0u64, 0u64, 0u64);
    loop {
        let mut settled_any = false;
        while let Some((ty, ch, r)) = fb.next_frame()? {
            if ty != FRAME_METHOD {
                continue; // heartbeats; content of a basic.return
            }
            let p = &fb.buf[r];
            match method_ids(p) {
                Some((BASIC, m @ (BASIC_ACK | BASIC_NACK))) => {
                    let (tag, multiple) =
                        ack_fields(p).ok_or("malformed basic.ack/nack from the server")?;
                    let sent = stats.reserved.load(Acquire);
                    if tag == 0 && !multiple || tag > sent {
                        return Err(format!(
                            "the server confirmed delivery tag {tag} (multiple: {multiple}) \
                             but only {sent} messages were published on the channel"
                        ));
                    }
                    let n = settler.settle(tag, multiple);
                    if m == BASIC_ACK {
                        confirmed += n;
                    } else {
                        nacked += n;
                    }
                    settled_any = true;
                }
                Some((BASIC, BASIC_RETURN)) => returned += 1,
                Some((10, 50)) | Some((20, 40)) => {
                    let m = decode_method(p)?;
                    return Err(server_close_message(ch, &m)
                        .unwrap_or_else(|| "the server closed the connection".into()));
                }
                Some((10, 60)) => eprintln!("note: the server blocked a producer connection"),
                Some((10, 61)) => eprintln!("note: the server unblocked a producer connection"),
                _ => {}
            }
        }
        if settled_any {
            stats.confirmed.store(confirmed, Relaxed);
            stats.nacked.store(nacked, Relaxed);
            stats.settled.store(settler.settled(), Release);
            notify.notify_one();
        }
        stats.returned.store(returned, Relaxed);
        match fb.fill(rd).await {
            Ok(0) => return Err(EOF_MSG.into()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading from the server: {e}")),
        }
    }
}

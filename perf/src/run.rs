//! Orchestration: declare the topology, start consumers (each on its own thread with a
//! current-thread runtime), then producers, report once a second, stop, drain, account,
//! clean up, and build the [`Summary`].

use crate::cli::Config;
use crate::client::Conn;
use crate::consumer::{self, ConsumerResult, ConsumerSpec, ConsumerStats};
use crate::cpu::process_cpu;
use crate::hist::{self, BUCKETS};
use crate::producer::{self, ProducerSpec, ProducerStats};
use crate::summary::{Latency, Summary};
use crate::track::{merge, Tally};
use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// Workers connect and wait.
pub const PHASE_SETUP: u8 = 0;
/// Producers publish.
pub const PHASE_GO: u8 = 1;
/// Producers stop (and wait for their confirms).
pub const PHASE_STOP_PRODUCERS: u8 = 2;
/// Everybody stops.
pub const PHASE_STOP_ALL: u8 = 3;

/// What workers tell the main thread.
#[derive(Debug)]
pub enum Event {
    /// A worker is connected and set up.
    Ready,
    /// A producer ended.
    ProducerDone(usize, Result<(), String>),
    /// A consumer ended.
    ConsumerDone(usize, Result<ConsumerResult, String>),
}

/// The run's queue and exchange names.
#[derive(Debug, Clone)]
pub struct Names {
    /// Queue names.
    pub queues: Vec<String>,
    /// The fanout exchange, if any.
    pub exchange: Option<String>,
}

fn random_suffix() -> String {
    let mut b = [0u8; 4];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let x = t ^ (u64::from(std::process::id()) << 32);
        b = (x as u32 ^ (x >> 32) as u32).to_be_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Names {
    /// Names with a fresh random suffix.
    pub fn new(cfg: &Config) -> Names {
        let base = format!("{}-{}", cfg.queue_prefix, random_suffix());
        let queues = if cfg.queues == 1 {
            vec![base.clone()]
        } else {
            (0..cfg.queues).map(|i| format!("{base}-{i}")).collect()
        };
        Names {
            queues,
            exchange: cfg.fanout.then(|| format!("{base}-fanout")),
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
}

fn fmt_us(ns: Option<u64>) -> String {
    match ns {
        None => "-".into(),
        Some(v) if v < 10_000 => format!("{:.1} us", v as f64 / 1000.0),
        Some(v) => format!("{:.0} us", v as f64 / 1000.0),
    }
}

struct Reporter {
    interval: Interval,
    start: Instant,
    last_t: Instant,
    last: [u64; 3],
    last_hist: Vec<u64>,
    to_stderr: bool,
    quiet: bool,
}

impl Reporter {
    fn new(start: Instant, to_stderr: bool) -> Reporter {
        let mut interval =
            tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Reporter {
            interval,
            start,
            last_t: start,
            last: [0; 3],
            last_hist: vec![0; BUCKETS],
            to_stderr,
            quiet: false,
        }
    }
}

struct Runner<'a> {
    cfg: &'a Config,
    names: Names,
    pstats: Vec<Arc<ProducerStats>>,
    cstats: Vec<Arc<ConsumerStats>>,
    phase: watch::Sender<u8>,
    tx: UnboundedSender<Event>,
    rx: UnboundedReceiver<Event>,
    sigint: Option<Signal>,
    interrupted: bool,
    ready: usize,
    producers_done: usize,
    consumers_done: usize,
    results: Vec<ConsumerResult>,
    report: Reporter,
}

/// Runs a load test (not the idle-connection mode) and returns its summary.
pub fn run(cfg: &Config) -> Result<Summary, String> {
    crate::body::epoch();
    runtime()?.block_on(run_async(cfg))
}

async fn run_async(cfg: &Config) -> Result<Summary, String> {
    let names = Names::new(cfg);
    let mut setup = Conn::open(&cfg.setup_uri, "warren-perf setup").await?;
    setup.channel_open(1).await?;
    let broker = setup.server.clone();
    let (phase, _) = watch::channel(PHASE_SETUP);
    let (tx, rx) = unbounded_channel();
    let mut r = Runner {
        cfg,
        names,
        pstats: (0..cfg.producers).map(|_| Arc::default()).collect(),
        cstats: (0..cfg.consumers).map(|_| Arc::default()).collect(),
        phase,
        tx,
        rx,
        sigint: signal(SignalKind::interrupt()).ok(),
        interrupted: false,
        ready: 0,
        producers_done: 0,
        consumers_done: 0,
        results: Vec::new(),
        report: Reporter::new(Instant::now(), cfg.json),
    };
    let declared = r.declare(&mut setup).await;
    let result = match declared {
        Ok(()) if cfg.pre_publish.is_some() => r.run_backlog(&mut setup).await,
        Ok(()) => r.run_standard().await,
        Err(e) => Err(e),
    };
    // Stop whatever still runs, then remove what we declared.
    r.phase.send_replace(PHASE_STOP_ALL);
    if result.is_ok() {
        r.wait_consumers(Duration::from_secs(10)).await;
    }
    r.cleanup(setup).await;
    let mut summary = result?;
    summary.broker = broker;
    Ok(summary)
}

impl Runner<'_> {
    fn out(&self, line: &str) {
        if self.report.quiet {
            return;
        }
        if self.report.to_stderr {
            eprintln!("{line}");
        } else {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{line}");
            let _ = o.flush();
        }
    }

    async fn declare(&mut self, c: &mut Conn) -> Result<(), String> {
        let durable = self.cfg.persistent;
        for q in &self.names.queues {
            c.queue_declare(1, q, durable, false).await?;
        }
        if let Some(x) = &self.names.exchange {
            c.exchange_declare(1, x, "fanout", durable).await?;
            for q in &self.names.queues {
                c.queue_bind(1, q, x, "").await?;
            }
        }
        Ok(())
    }

    async fn cleanup(&mut self, setup: Conn) {
        let mut conn = Some(setup);
        for attempt in 0..2 {
            let mut c = match conn.take() {
                Some(c) => c,
                None => match Conn::open(&self.cfg.setup_uri, "warren-perf cleanup").await {
                    Ok(mut c) => match c.channel_open(1).await {
                        Ok(()) => c,
                        Err(_) => continue,
                    },
                    Err(_) => continue,
                },
            };
            let mut failed = None;
            for q in &self.names.queues {
                if let Err(e) = c.queue_delete(1, q).await {
                    failed = Some(e);
                    break;
                }
            }
            if failed.is_none() {
                if let Some(x) = &self.names.exchange {
                    if let Err(e) = c.exchange_delete(1, x).await {
                        failed = Some(e);
                    }
                }
            }
            match failed {
                None => {
                    let _ = c.close().await;
                    return;
                }
                Some(e) if attempt == 1 => {
                    eprintln!("warning: could not delete the run's queues: {e}");
                    return;
                }
                Some(_) => {}
            }
        }
        eprintln!(
            "warning: could not reconnect to delete the run's queues ({})",
            self.names.queues.join(", ")
        );
    }

    fn spawn_producer(&self, i: usize, quota: Option<u64>) -> Result<(), String> {
        let cfg = self.cfg;
        let (exchange, routing_key) = match &self.names.exchange {
            Some(x) => (x.clone(), String::new()),
            None => (
                String::new(),
                self.names.queues[i % self.names.queues.len()].clone(),
            ),
        };
        let spec = ProducerSpec {
            id: i as u16,
            exchange,
            routing_key,
            body_size: cfg.size,
            persistent: cfg.persistent,
            confirm: cfg.confirm,
            rate: cfg.rate,
            quota,
        };
        let stats = self.pstats[i].clone();
        let phase = self.phase.subscribe();
        let tx = self.tx.clone();
        let uri = cfg.uri.clone();
        std::thread::Builder::new()
            .name(format!("producer-{i}"))
            .spawn(move || {
                let r = match runtime() {
                    Ok(rt) => rt.block_on(producer::run(&uri, &spec, &stats, phase, &tx)),
                    Err(e) => Err(e),
                };
                let _ = tx.send(Event::ProducerDone(i, r));
            })
            .map(|_| ())
            .map_err(|e| format!("cannot start a thread: {e}"))
    }

    fn spawn_consumer(&self, j: usize) -> Result<(), String> {
        let cfg = self.cfg;
        let qi = j % self.names.queues.len();
        let spec = ConsumerSpec {
            id: j as u32,
            queue: self.names.queues[qi].clone(),
            queue_index: qi,
            no_ack: cfg.autoack,
            prefetch: cfg.prefetch,
            ack_every: cfg.ack_every,
        };
        let stats = self.cstats[j].clone();
        let producers = self.pstats.clone();
        let phase = self.phase.subscribe();
        let tx = self.tx.clone();
        let uri = cfg.consumer_uri.clone();
        std::thread::Builder::new()
            .name(format!("consumer-{j}"))
            .spawn(move || {
                let r = match runtime() {
                    Ok(rt) => {
                        rt.block_on(consumer::run(&uri, &spec, &stats, &producers, phase, &tx))
                    }
                    Err(e) => Err(e),
                };
                let _ = tx.send(Event::ConsumerDone(j, r));
            })
            .map(|_| ())
            .map_err(|e| format!("cannot start a thread: {e}"))
    }

    fn handle(&mut self, ev: Event) -> Result<(), String> {
        match ev {
            Event::Ready => self.ready += 1,
            Event::ProducerDone(_, Ok(())) => self.producers_done += 1,
            Event::ProducerDone(i, Err(e)) => {
                self.producers_done += 1;
                return Err(format!("producer {i}: {e}"));
            }
            Event::ConsumerDone(_, Ok(res)) => {
                self.consumers_done += 1;
                self.results.push(res);
            }
            Event::ConsumerDone(j, Err(e)) => {
                self.consumers_done += 1;
                return Err(format!("consumer {j}: {e}"));
            }
        }
        Ok(())
    }

    fn totals(&self) -> [u64; 3] {
        let mut t = [0u64; 3];
        for p in &self.pstats {
            t[0] += p.published.load(Relaxed);
            t[1] += p.confirmed.load(Relaxed);
        }
        for c in &self.cstats {
            t[2] += c.consumed.load(Relaxed);
        }
        t
    }

    fn hist_counts(&self) -> Vec<u64> {
        let mut h = vec![0; BUCKETS];
        for c in &self.cstats {
            c.hist.add_to(&mut h);
        }
        h
    }

    /// Restarts the per-second lines at `start` (counting from the current totals).
    fn restart_report(&mut self, start: Instant) {
        let mut rep = Reporter::new(start, self.report.to_stderr);
        rep.last = self.totals();
        rep.last_hist = self.hist_counts();
        self.report = rep;
    }

    fn tick(&mut self) {
        let now = Instant::now();
        let dt = (now - self.report.last_t).as_secs_f64().max(1e-9);
        let t = self.totals();
        let h = self.hist_counts();
        let delta: Vec<u64> = h
            .iter()
            .zip(&self.report.last_hist)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let rate = |k: usize| t[k].saturating_sub(self.report.last[k]) as f64 / dt;
        let line = format!(
            "{:>7.1}s  published {:>9.0} msg/s  confirmed {:>9.0} msg/s  consumed {:>9.0} msg/s  latency p50 {:>8}  p99 {:>8}",
            (now - self.report.start).as_secs_f64(),
            rate(0),
            rate(1),
            rate(2),
            fmt_us(hist::percentile(&delta, 50.0)),
            fmt_us(hist::percentile(&delta, 99.0)),
        );
        self.out(&line);
        self.report.last_t = now;
        self.report.last = t;
        self.report.last_hist = h;
    }

    /// Handles events and prints per-second lines until `done` holds (checked every few
    /// ms), the deadline passes (→ false) or Ctrl-C (→ false, `interrupted` set).
    async fn pump(
        &mut self,
        deadline: Option<Instant>,
        done: impl Fn(&Self) -> bool,
    ) -> Result<bool, String> {
        self.pump_polling(deadline, None, done).await
    }

    /// [`Runner::pump`], re-checking `done` every `poll` as well (for conditions on the
    /// counters, which change without an event).
    async fn pump_polling(
        &mut self,
        deadline: Option<Instant>,
        poll: Option<Duration>,
        done: impl Fn(&Self) -> bool,
    ) -> Result<bool, String> {
        let far = Instant::now() + Duration::from_secs(86400 * 365);
        let deadline = deadline.unwrap_or(far);
        let mut poll = tokio::time::interval(poll.unwrap_or(Duration::from_secs(3600)));
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if done(self) {
                return Ok(true);
            }
            let sig = async {
                match self.sigint.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = self.rx.recv() => match ev {
                    Some(ev) => self.handle(ev)?,
                    None => return Err("all workers are gone".into()),
                },
                _ = self.report.interval.tick() => self.tick(),
                _ = poll.tick() => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(false),
                _ = sig => {
                    eprintln!("interrupted: stopping");
                    self.interrupted = true;
                    return Ok(false);
                }
            }
        }
    }

    async fn wait_ready(&mut self, n: usize) -> Result<(), String> {
        let deadline = Instant::now() + crate::client::CONNECT_TIMEOUT + Duration::from_secs(30);
        let quiet = std::mem::replace(&mut self.report.quiet, true);
        let r = self.pump(Some(deadline), |s| s.ready >= n).await;
        self.report.quiet = quiet;
        match r? {
            true => Ok(()),
            false if self.interrupted => Err("interrupted".into()),
            false => Err("workers did not get ready in time".into()),
        }
    }

    async fn wait_producers(&mut self, limit: Duration) {
        let n = self.pstats.len();
        let quiet = std::mem::replace(&mut self.report.quiet, true);
        let r = self
            .pump(Some(Instant::now() + limit), |s| s.producers_done >= n)
            .await;
        self.report.quiet = quiet;
        match r {
            Ok(true) => {}
            Ok(false) => eprintln!("warning: some producers did not stop within {limit:?}"),
            Err(e) => eprintln!("warning: {e}"),
        }
    }

    async fn wait_consumers(&mut self, limit: Duration) {
        let n = self.cstats.len();
        self.report.quiet = true;
        let r = self
            .pump(Some(Instant::now() + limit), |s| s.consumers_done >= n)
            .await;
        match r {
            Ok(true) => {}
            Ok(false) => eprintln!("warning: some consumers did not stop within {limit:?}"),
            Err(e) => eprintln!("warning: {e}"),
        }
    }

    /// Which queues have at least one consumer.
    fn consumed_queues(&self) -> Vec<bool> {
        let q = self.names.queues.len();
        let mut v = vec![false; q];
        for j in 0..self.cstats.len() {
            v[j % q] = true;
        }
        v
    }

    /// Deliveries the published messages should produce (to queues with consumers).
    fn expected_deliveries(&self) -> u64 {
        let has = self.consumed_queues();
        let fan = has.iter().filter(|&&b| b).count() as u64;
        self.pstats
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let n = p.published.load(Relaxed);
                if self.names.exchange.is_some() {
                    n * fan
                } else if has[i % has.len()] {
                    n
                } else {
                    0
                }
            })
            .sum()
    }

    fn consumed_total(&self) -> u64 {
        self.cstats.iter().map(|c| c.consumed.load(Relaxed)).sum()
    }

    /// After the window: let the consumers catch up with what was published (bounded).
    async fn drain(&mut self) -> Result<(), String> {
        if self.cstats.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let mut last = self.consumed_total();
        let mut last_change = start;
        self.report.quiet = true;
        loop {
            let c = self.consumed_total();
            if c >= self.expected_deliveries() {
                return Ok(());
            }
            let now = Instant::now();
            if c != last {
                last = c;
                last_change = now;
            }
            if now - last_change > Duration::from_secs(1) || now - start > Duration::from_secs(10) {
                return Ok(());
            }
            self.pump(Some(now + Duration::from_millis(50)), |_| false)
                .await?;
            if self.interrupted {
                return Ok(());
            }
        }
    }

    async fn run_standard(&mut self) -> Result<Summary, String> {
        let cfg = self.cfg;
        for j in 0..self.cstats.len() {
            self.spawn_consumer(j)?;
        }
        self.wait_ready(self.cstats.len()).await?;
        for i in 0..self.pstats.len() {
            self.spawn_producer(i, None)?;
        }
        self.wait_ready(self.cstats.len() + self.pstats.len())
            .await?;

        let cpu0 = process_cpu();
        let t0 = Instant::now();
        self.restart_report(t0);
        self.phase.send_replace(PHASE_GO);
        let secs = cfg.time.unwrap_or(10.0);
        self.pump(Some(t0 + Duration::from_secs_f64(secs)), |_| false)
            .await?;
        if self.report.last_t.elapsed() > Duration::from_millis(250) {
            self.tick();
        }
        let window = t0.elapsed().as_secs_f64();
        let cpu = (process_cpu().saturating_sub(cpu0)).as_secs_f64();
        let at_end = self.totals();
        let nacked: u64 = self.pstats.iter().map(|p| p.nacked.load(Relaxed)).sum();

        self.phase.send_replace(PHASE_STOP_PRODUCERS);
        self.wait_producers(Duration::from_secs(20)).await;
        self.drain().await?;
        self.phase.send_replace(PHASE_STOP_ALL);
        self.wait_consumers(Duration::from_secs(10)).await;

        let mut s = self.account();
        s.mode = "standard";
        s.seconds = window;
        s.published = at_end[0];
        s.confirmed = at_end[1];
        s.nacked = nacked;
        s.consumed = at_end[2];
        s.publish_rate = at_end[0] as f64 / window;
        s.confirm_rate = at_end[1] as f64 / window;
        s.consume_rate = at_end[2] as f64 / window;
        s.tool_cpu_seconds = cpu;
        let handled = at_end[0] + at_end[2];
        s.tool_cpu_us_per_msg = if handled > 0 {
            cpu * 1e6 / handled as f64
        } else {
            0.0
        };
        Ok(s)
    }

    async fn run_backlog(&mut self, setup: &mut Conn) -> Result<Summary, String> {
        let cfg = self.cfg;
        let total = cfg.pre_publish.unwrap_or(0);
        let x = self.pstats.len() as u64;
        for i in 0..self.pstats.len() {
            let quota = total / x + u64::from((i as u64) < total % x);
            self.spawn_producer(i, Some(quota))?;
        }
        self.wait_ready(self.pstats.len()).await?;
        let cpu0 = process_cpu();
        let t0 = Instant::now();
        self.restart_report(t0);
        self.phase.send_replace(PHASE_GO);
        let n = self.pstats.len();
        if !self.pump(None, |s| s.producers_done >= n).await? {
            return Err("interrupted while publishing the backlog".into());
        }
        let publish_secs = t0.elapsed().as_secs_f64();
        let published = self.totals();

        // Without confirms, the broker may still be taking messages in: wait until the
        // queues hold the whole backlog (or stop growing).
        let want = self.expected_deliveries();
        let mut last = u64::MAX;
        let mut last_change = Instant::now();
        loop {
            let mut depth = 0u64;
            for q in &self.names.queues {
                depth += u64::from(setup.queue_declare(1, q, false, true).await?);
            }
            if depth >= want {
                break;
            }
            if depth != last {
                last = depth;
                last_change = Instant::now();
            } else if last_change.elapsed() > Duration::from_secs(3) {
                eprintln!(
                    "warning: the queues hold {depth} messages, expected {want}; draining anyway"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.out(&format!(
            "backlog of {} messages published in {:.3} s ({:.0} msg/s); draining",
            published[0],
            publish_secs,
            published[0] as f64 / publish_secs.max(1e-9)
        ));

        let t1 = Instant::now();
        for j in 0..self.cstats.len() {
            self.spawn_consumer(j)?;
        }
        self.restart_report(t1);
        let deadline = cfg.time.map(|t| t1 + Duration::from_secs_f64(t));
        let mut last = 0;
        let mut last_change = Instant::now();
        loop {
            let reached = self
                .pump(Some(Instant::now() + Duration::from_millis(200)), |s| {
                    s.consumed_total() >= want
                })
                .await?;
            if reached || self.interrupted {
                break;
            }
            let c = self.consumed_total();
            if c != last {
                last = c;
                last_change = Instant::now();
            } else if last_change.elapsed() > Duration::from_secs(10) {
                eprintln!("warning: draining stalled at {c} of {want} messages for 10 s");
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        let drain_secs = t1.elapsed().as_secs_f64();
        let consumed = self.consumed_total();
        let cpu = (process_cpu().saturating_sub(cpu0)).as_secs_f64();
        self.phase.send_replace(PHASE_STOP_ALL);
        self.wait_consumers(Duration::from_secs(10)).await;

        let mut s = self.account();
        s.mode = "pre-publish";
        s.prepublish_seconds = Some(publish_secs);
        s.seconds = drain_secs;
        s.published = published[0];
        s.confirmed = published[1];
        s.nacked = self.pstats.iter().map(|p| p.nacked.load(Relaxed)).sum();
        s.consumed = consumed;
        s.publish_rate = published[0] as f64 / publish_secs.max(1e-9);
        s.confirm_rate = published[1] as f64 / publish_secs.max(1e-9);
        s.consume_rate = consumed as f64 / drain_secs.max(1e-9);
        s.tool_cpu_seconds = cpu;
        let handled = published[0] + consumed;
        s.tool_cpu_us_per_msg = if handled > 0 {
            cpu * 1e6 / handled as f64
        } else {
            0.0
        };
        Ok(s)
    }

    /// Loss/dup/reorder accounting, latency and the counts common to both modes.
    fn account(&self) -> Summary {
        let q = self.names.queues.len();
        let mut tally = Tally::default();
        for qi in 0..q {
            for p in 0..self.pstats.len() {
                let tracks: Vec<_> = self
                    .results
                    .iter()
                    .filter(|r| r.queue_index == qi)
                    .filter_map(|r| r.tracker.per_producer.get(p))
                    .collect();
                if !tracks.is_empty() {
                    tally += merge(&tracks);
                }
            }
        }
        let h = self.hist_counts();
        let max = self.cstats.iter().map(|c| c.hist.max()).max().unwrap_or(0);
        let us = |ns: Option<u64>| ns.map(|v| v.min(max) as f64 / 1000.0).unwrap_or(0.0);
        let latency = hist::percentile(&h, 50.0).map(|_| Latency {
            p50: us(hist::percentile(&h, 50.0)),
            p95: us(hist::percentile(&h, 95.0)),
            p99: us(hist::percentile(&h, 99.0)),
            max: max as f64 / 1000.0,
        });
        let expected = self.expected_deliveries();
        let complete = self.results.len() == self.cstats.len();
        Summary {
            producers: self.cfg.producers,
            consumers: self.cfg.consumers,
            queues: self.cfg.queues,
            body_size: self.cfg.size,
            consumed_total: self.consumed_total(),
            latency_us: latency,
            lost: tally.lost,
            duplicated: tally.duplicated,
            reordered: tally.reordered,
            invalid: self.cstats.iter().map(|c| c.invalid.load(Relaxed)).sum(),
            unconsumed: if complete {
                expected.saturating_sub(tally.distinct)
            } else {
                0
            },
            returned: self.pstats.iter().map(|p| p.returned.load(Relaxed)).sum(),
            ..Default::default()
        }
    }
}

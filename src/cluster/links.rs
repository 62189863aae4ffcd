//! Inter-node links: one authenticated TCP connection per pair of nodes, carrying requests
//! both ways (each answered by id), with a bounded outgoing queue per link, batched writes,
//! and ticks on idle links so a silent peer is dropped after `net_ticktime`.
//!
//! When two nodes dial each other at once, both keep the connection dialed by the node with
//! the smaller id and close the other, so a pair settles on one link.

use super::handshake;
use super::node::{Member, NodeId};
use super::queues::data::Data;
use super::wire::{self, In, Message, Out, Request, Response};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

/// Messages a link may have queued for its writer before requests wait and publishers to
/// queues behind it pause ...
const QUEUE: usize = 4096;
/// ... until it has drained below this.
const DRAINED: usize = QUEUE / 4;

#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error("cannot reach {0}")]
    Unreachable(String),
    #[error("{0} did not answer in time")]
    Timeout(String),
    #[error("the link to {0} closed")]
    Closed(String),
    #[error("{0}")]
    Remote(String),
}

pub(crate) type Served = Pin<Box<dyn Future<Output = Result<Response, String>> + Send>>;

/// Answers the requests peers send.
pub(crate) trait Serve: Send + Sync {
    fn serve(self: Arc<Self>, from: Member, req: Request) -> Served;

    /// Queue traffic, handled in the order it arrives.
    fn data(&self, from: &Member, d: Data);
}

struct Link {
    peer: Member,
    /// Who dialed it.
    dialer: NodeId,
    /// The writer's queue: unbounded as a channel, bounded by `queued` (senders of requests
    /// wait, publishers pause, past `QUEUE`).
    out: mpsc::UnboundedSender<Out>,
    queued: AtomicUsize,
    drained: tokio::sync::Notify,
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<Response, String>>>>,
    next: AtomicU64,
    /// The messages handed to the writer so far: each is numbered under this lock, so
    /// the numbers follow the writer's order.
    sent: Mutex<u64>,
    /// How many of them the writer has handed to the socket.
    progress: Arc<Progress>,
    closed: AtomicBool,
    /// Tells the link's tasks to stop (when it loses to another link for the same peer).
    stop: watch::Sender<bool>,
}

/// How far a link's writer has got: how many messages it has handed to the socket, and
/// whether the link closed (what it had not written by then never will be).
#[derive(Default)]
pub(crate) struct Progress(watch::Sender<(u64, bool)>);

impl Progress {
    fn wrote(&self, n: u64) {
        self.0.send_modify(|(written, _)| *written += n);
    }

    fn close(&self) {
        self.0.send_modify(|(_, closed)| *closed = true);
    }

    fn passed(&self, n: u64) -> bool {
        let (written, closed) = *self.0.borrow();
        written >= n || closed
    }

    async fn reached(&self, n: u64) {
        let _ = (self.0.subscribe())
            .wait_for(|&(written, closed)| written >= n || closed)
            .await;
    }
}

/// A message handed to a link's writer: passed once the writer has written it.
pub(crate) struct Sent {
    progress: Arc<Progress>,
    n: u64,
}

impl Sent {
    pub(crate) fn passed(&self) -> bool {
        self.progress.passed(self.n)
    }

    pub(crate) async fn reached(&self) {
        self.progress.reached(self.n).await
    }
}

impl Link {
    fn send(&self, out: Out) -> Option<Sent> {
        let mut sent = self.sent.lock();
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.out.send(out).ok()?;
        *sent += 1;
        Some(Sent {
            progress: self.progress.clone(),
            n: *sent,
        })
    }

    /// Waits while the writer's queue is over `QUEUE`.
    async fn room(&self) {
        while self.queued.load(Ordering::Relaxed) > QUEUE && !self.closed.load(Ordering::Acquire) {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.queued.load(Ordering::Relaxed) <= DRAINED {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), drained).await;
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.progress.close();
        let _ = self.stop.send(true);
        for (_, tx) in self.pending.lock().drain() {
            let _ = tx.send(Err(format!("the link to {} closed", self.peer.name)));
        }
    }
}

pub(crate) struct Links {
    pub(crate) me: Member,
    id: NodeId,
    cookie: Vec<u8>,
    tick: Duration,
    /// A test aid: how long each link waits before it writes a mirrored queue's operations
    /// (`WARREN_TEST_MIRROR_DELAY_MS`), so tests can kill a master while its mirrors have
    /// yet to hear of what it did.
    mirror_delay: Option<Duration>,
    peers: parking_lot::RwLock<HashMap<NodeId, Arc<Link>>>,
    /// Taken while dialing an address (see `link_to`).
    dialing: parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    server: OnceLock<Weak<dyn Serve>>,
    /// The peers with a live link.
    pub(crate) up: watch::Sender<BTreeSet<NodeId>>,
}

impl Links {
    pub(crate) fn new(me: Member, cookie: &str, tick: Duration) -> Arc<Links> {
        Arc::new(Links {
            id: me.id(),
            me,
            cookie: cookie.as_bytes().to_vec(),
            tick,
            mirror_delay: (std::env::var("WARREN_TEST_MIRROR_DELAY_MS").ok())
                .and_then(|ms| ms.parse().ok())
                .map(Duration::from_millis),
            peers: parking_lot::RwLock::new(HashMap::new()),
            dialing: parking_lot::Mutex::new(HashMap::new()),
            server: OnceLock::new(),
            up: watch::channel(BTreeSet::new()).0,
        })
    }

    /// Sets who answers incoming requests.
    pub(crate) fn serve_with(&self, s: Weak<dyn Serve>) {
        let _ = self.server.set(s);
    }

    /// Accepts inter-node connections until the listener fails.
    pub(crate) async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            let (sock, from) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("inter-node accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let links = self.clone();
            tokio::spawn(async move {
                let _ = sock.set_nodelay(true);
                let mut sock = sock;
                let shake = handshake::accept(&mut sock, &links.me, &links.cookie);
                match tokio::time::timeout(handshake::TIMEOUT, shake).await {
                    Ok(Ok(peer)) => {
                        let dialer = peer.id();
                        links.register(peer, dialer, sock);
                    }
                    Ok(Err(e)) => {
                        tracing::warn!("refused an inter-node connection from {from}: {e}")
                    }
                    Err(_) => tracing::warn!("inter-node handshake from {from} timed out"),
                }
            });
        }
    }

    /// The live link to a peer, dialing it if there is none. `peer.name` may be empty when
    /// only the address is known (joining a cluster by address). One dial at a time per
    /// address: two connections dialed by the same node could each be kept by one end (the
    /// tie-break in `register` only tells apart who dialed), leaving requests unanswered.
    async fn link_to(self: &Arc<Self>, peer: &Member) -> Result<Arc<Link>, LinkError> {
        if !peer.name.is_empty() {
            if let Some(l) = self.live(peer.id()) {
                return Ok(l);
            }
        }
        let turn = (self.dialing.lock().entry(peer.addr.clone()))
            .or_default()
            .clone();
        let _turn = turn.lock().await;
        if !peer.name.is_empty() {
            if let Some(l) = self.live(peer.id()) {
                return Ok(l);
            }
        }
        let unreachable = |e: String| LinkError::Unreachable(format!("{} ({e})", peer.addr));
        let connect = TcpStream::connect(&peer.addr);
        let mut sock = tokio::time::timeout(handshake::TIMEOUT, connect)
            .await
            .map_err(|_| unreachable("timed out".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = sock.set_nodelay(true);
        let shake = handshake::dial(&mut sock, &self.me, &self.cookie);
        let found = tokio::time::timeout(handshake::TIMEOUT, shake)
            .await
            .map_err(|_| unreachable("handshake timed out".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(self.register(found, self.id, sock))
    }

    fn live(&self, id: NodeId) -> Option<Arc<Link>> {
        let peers = self.peers.read();
        peers
            .get(&id)
            .filter(|l| !l.closed.load(Ordering::Acquire))
            .cloned()
    }

    /// Keeps a new connection, or the one already there when that one wins the tie-break;
    /// returns the link kept.
    fn register(self: &Arc<Self>, peer: Member, dialer: NodeId, sock: TcpStream) -> Arc<Link> {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = Arc::new(Link {
            peer: peer.clone(),
            dialer,
            out: tx,
            queued: AtomicUsize::new(0),
            drained: tokio::sync::Notify::new(),
            pending: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            sent: Mutex::new(0),
            progress: Arc::default(),
            closed: AtomicBool::new(false),
            stop: watch::channel(false).0,
        });
        let preferred = self.id.min(peer.id());
        let replaced = {
            let mut peers = self.peers.write();
            match peers.get(&peer.id()) {
                Some(old) if !old.closed.load(Ordering::Acquire) && old.dialer == preferred => {
                    return old.clone();
                }
                _ => peers.insert(peer.id(), link.clone()),
            }
        };
        if let Some(old) = replaced {
            old.close();
        }
        self.up.send_modify(|up| {
            up.insert(peer.id());
        });
        tracing::info!("inter-node link to {} up", peer.name);
        let (rd, wr) = sock.into_split();
        tokio::spawn(
            self.clone()
                .write_loop(link.clone(), rx, BufWriter::new(wr)),
        );
        tokio::spawn(self.clone().read_loop(link.clone(), BufReader::new(rd)));
        link
    }

    async fn write_loop(
        self: Arc<Self>,
        link: Arc<Link>,
        mut rx: mpsc::UnboundedReceiver<Out>,
        mut w: BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    ) {
        let mut stop = link.stop.subscribe();
        let idle = self.tick / 4;
        loop {
            let (msg, queued) = tokio::select! {
                m = rx.recv() => (m, true),
                _ = stop.changed() => (None, false),
                _ = tokio::time::sleep(idle) => {
                    link.queued.fetch_add(1, Ordering::Relaxed);
                    (Some(Out::Control(Message::Tick)), false)
                }
            };
            let Some(mut msg) = msg else { break };
            // Messages from the queue written since the last flush.
            let mut unflushed = u64::from(queued);
            // Everything queued goes out in one flush.
            loop {
                let gate = match &msg {
                    Out::Data(_, Some(g)) if !g.passed() => Some(g.clone()),
                    _ => None,
                };
                let mirrored = matches!(msg, Out::Data(Data::Mirror { .. }, _));
                let delay = self.mirror_delay.filter(|_| mirrored);
                if gate.is_some() || delay.is_some() {
                    // What it waits for may be among what this link holds: out first.
                    if w.flush().await.is_err() {
                        return self.drop_link(&link);
                    }
                    link.progress.wrote(unflushed - 1);
                    unflushed = 1;
                    if let Some(gate) = gate {
                        gate.wait().await;
                    }
                    if let Some(delay) = delay {
                        tokio::time::sleep(delay).await;
                    }
                }
                if wire::write_out(&mut w, &msg).await.is_err() {
                    return self.drop_link(&link);
                }
                if link.queued.fetch_sub(1, Ordering::Relaxed) == DRAINED + 1 {
                    link.drained.notify_waiters();
                }
                match rx.try_recv() {
                    Ok(m) => {
                        msg = m;
                        unflushed += 1;
                    }
                    Err(_) => break,
                }
            }
            if w.flush().await.is_err() {
                break;
            }
            link.progress.wrote(unflushed);
        }
        self.drop_link(&link);
    }

    async fn read_loop(
        self: Arc<Self>,
        link: Arc<Link>,
        mut r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    ) {
        let mut stop = link.stop.subscribe();
        loop {
            let read = tokio::select! {
                m = tokio::time::timeout(self.tick, wire::read_in(&mut r, wire::MAX_FRAME)) => m,
                _ = stop.changed() => break,
            };
            let msg = match read {
                Ok(Ok(m)) => m,
                Ok(Err(e)) => {
                    tracing::info!("inter-node link to {} closed: {e}", link.peer.name);
                    break;
                }
                Err(_) => {
                    tracing::warn!(
                        "{} silent for {:?} (net_ticktime): link dropped",
                        link.peer.name,
                        self.tick
                    );
                    break;
                }
            };
            let msg = match msg {
                In::Control(m) => m,
                In::Data(d) => {
                    let Some(server) = self.server.get().and_then(Weak::upgrade) else {
                        break;
                    };
                    server.data(&link.peer, d);
                    continue;
                }
            };
            match msg {
                Message::Tick => {}
                Message::Response { id, body } => {
                    if let Some(tx) = link.pending.lock().remove(&id) {
                        let _ = tx.send(*body);
                    }
                }
                Message::Request { id, body } => {
                    let Some(server) = self.server.get().and_then(Weak::upgrade) else {
                        break;
                    };
                    let link = link.clone();
                    tokio::spawn(async move {
                        let body = server.serve(link.peer.clone(), *body).await;
                        let body = Box::new(body);
                        link.send(Out::Control(Message::Response { id, body }));
                    });
                }
            }
        }
        self.drop_link(&link);
    }

    fn drop_link(&self, link: &Arc<Link>) {
        link.close();
        let removed = {
            let mut peers = self.peers.write();
            match peers.get(&link.peer.id()) {
                Some(l) if Arc::ptr_eq(l, link) => peers.remove(&link.peer.id()).is_some(),
                _ => false,
            }
        };
        if removed {
            self.up.send_modify(|up| {
                up.remove(&link.peer.id());
            });
            tracing::info!("inter-node link to {} down", link.peer.name);
        }
    }

    /// Sends a request and waits for its answer.
    pub(crate) async fn request(
        self: &Arc<Self>,
        peer: &Member,
        req: Request,
        timeout: Duration,
    ) -> Result<Response, LinkError> {
        let link = self.link_to(peer).await?;
        let id = link.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        link.pending.lock().insert(id, tx);
        let name = link.peer.name.clone();
        let msg = Message::Request {
            id,
            body: Box::new(req),
        };
        let room = tokio::time::timeout(timeout, link.room()).await;
        if room.is_err() || link.send(Out::Control(msg)).is_none() {
            link.pending.lock().remove(&id);
            return Err(LinkError::Closed(name));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(r))) => Ok(r),
            Ok(Ok(Err(e))) => Err(LinkError::Remote(e)),
            Ok(Err(_)) => Err(LinkError::Closed(name)),
            Err(_) => {
                link.pending.lock().remove(&id);
                Err(LinkError::Timeout(name))
            }
        }
    }

    /// Keeps trying to hold a link to `peer` until `keep` says to stop; a node down comes
    /// back up as soon as it answers.
    pub(crate) async fn keep_up(self: Arc<Self>, peer: Member, mut keep: impl FnMut() -> bool) {
        while keep() {
            if self.live(peer.id()).is_none() {
                if let Err(e) = self.link_to(&peer).await {
                    tracing::debug!("{e}");
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Sends queue traffic to `id`; false when there is no live link to it (the peer is
    /// down, and its departure is being handled).
    pub(crate) fn send_data(&self, id: NodeId, d: Data) -> bool {
        self.send_gated(id, d, None).is_some()
    }

    /// Sends queue traffic to `id`, written only once `gate` passes: what passes once it
    /// is written, or none when there is no live link to `id`.
    pub(crate) fn send_gated(
        &self,
        id: NodeId,
        d: Data,
        gate: Option<crate::queue::mirror::Gate>,
    ) -> Option<Sent> {
        self.live(id)?.send(Out::Data(d, gate))
    }

    /// True while more than `QUEUE` messages wait for the link to `id`.
    pub(crate) fn is_backlogged(&self, id: NodeId) -> bool {
        self.live(id)
            .is_some_and(|l| l.queued.load(Ordering::Relaxed) > QUEUE)
    }

    /// Waits until the link to `id` has drained (or is gone).
    pub(crate) async fn drained(&self, id: NodeId) {
        if let Some(l) = self.live(id) {
            l.room().await;
        }
    }

    /// The peer at the other end of the live link to `id`.
    pub(crate) fn member(&self, id: NodeId) -> Option<Member> {
        self.live(id).map(|l| l.peer.clone())
    }

    /// How long a silent peer is waited for (`net_ticktime`).
    pub(crate) fn tick(&self) -> Duration {
        self.tick
    }

    /// True while a link to `id` is open.
    pub(crate) fn is_up(&self, id: NodeId) -> bool {
        self.live(id).is_some()
    }
}

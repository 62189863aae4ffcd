//! The running broker: binds the AMQP and HTTP listeners (plain, TLS, or both), accepts
//! connections (one task each), and shuts down in order: stop accepting, close every
//! connection with 320, wait for them.

use crate::broker::Broker;
use crate::config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// A started broker. Dropping it does not stop it; call `shutdown`.
pub struct Server {
    pub broker: Arc<Broker>,
    /// The plain AMQP listener's address; the TLS listener's when the plain one is off.
    pub amqp_addr: SocketAddr,
    /// The AMQP TLS listener's address (`[amqp.tls]`).
    pub amqps_addr: Option<SocketAddr>,
    /// The management API's address; the HTTPS listener's when the plain one is off.
    pub http_addr: SocketAddr,
    /// The management API's HTTPS address (`[http.tls]`).
    pub https_addr: Option<SocketAddr>,
    /// This node's cluster (`[cluster]`).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A listener of one protocol, plain or TLS.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    Plain,
    Tls,
}

impl Server {
    /// Loads the TLS certificates, opens the data dir and binds the listeners (AMQP, then
    /// the management API; each plain, TLS, or both).
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let amqp = (
            config.amqp.listen.clone(),
            config.amqp.tls.as_ref().map(|t| t.listen.clone()),
        );
        let http = (
            config.http.listen.clone(),
            config.http.tls.as_ref().map(|t| t.listen.clone()),
        );
        let broker = Broker::open(config)?;
        let cluster = match broker.config.cluster {
            Some(_) => Some(crate::cluster::Cluster::start(broker.clone()).await?),
            None => None,
        };
        let amqp_plain = bind("amqp.listen", &amqp.0).await?;
        let amqp_tls = bind_tls("amqp.tls.listen", amqp.1.as_deref()).await?;
        let http_plain = bind("http.listen", &http.0).await?;
        let http_tls = bind_tls("http.tls.listen", http.1.as_deref()).await?;
        let mut listeners = Vec::new();
        let mut addr_of = |proto, l: &Option<TcpListener>| -> anyhow::Result<Option<SocketAddr>> {
            let Some(l) = l else { return Ok(None) };
            let a = l.local_addr()?;
            listeners.push((proto, a));
            Ok(Some(a))
        };
        let (amqp_addr, amqps_addr) = (
            addr_of("amqp", &amqp_plain)?,
            addr_of("amqp/ssl", &amqp_tls)?,
        );
        let (http_addr, https_addr) = (addr_of("http", &http_plain)?, addr_of("https", &http_tls)?);
        for (what, a) in [("HTTP API", http_addr), ("HTTPS API", https_addr)] {
            if let Some(a) = a {
                tracing::info!("{what} listening on {a}");
            }
        }
        for (what, a) in [("AMQP", amqp_addr), ("AMQP TLS", amqps_addr)] {
            if let Some(a) = a {
                tracing::info!("{what} listening on {a}");
            }
        }
        let listeners = Arc::new(crate::http::Frontends {
            listeners,
            cluster: cluster.clone(),
        });
        let mut tasks = Vec::new();
        for (l, security) in [(http_plain, Security::Plain), (http_tls, Security::Tls)] {
            if let Some(l) = l {
                let serve = crate::http::serve(l, security, broker.clone(), listeners.clone());
                tasks.push(tokio::spawn(serve));
            }
        }
        for (l, security) in [(amqp_plain, Security::Plain), (amqp_tls, Security::Tls)] {
            if let Some(l) = l {
                tasks.push(tokio::spawn(accept_loop(l, security, broker.clone())));
            }
        }
        tokio::spawn(crate::broker::resources::monitor(broker.clone()));
        tokio::spawn(compaction(broker.clone()));
        tokio::spawn(crate::broker::sampler::run(broker.clone()));
        // Validation makes sure each protocol has at least one listener.
        let either = |a: Option<SocketAddr>, b: Option<SocketAddr>| {
            a.or(b).ok_or_else(|| anyhow::anyhow!("no listener"))
        };
        Ok(Server {
            broker,
            amqp_addr: either(amqp_addr, amqps_addr)?,
            amqps_addr,
            http_addr: either(http_addr, https_addr)?,
            https_addr,
            cluster,
            tasks,
        })
    }

    /// Reads the TLS listeners' certificate and key files again (SIGHUP); open connections
    /// keep their session, new handshakes use the new files.
    pub fn reload_tls(&self) -> Result<usize, crate::tls::TlsError> {
        self.broker.tls.reload()
    }

    /// Stops accepting, closes every connection with 320 CONNECTION_FORCED and waits (a few
    /// seconds at most) for them to finish.
    pub async fn shutdown(self) {
        self.broker.shutdown.send_replace(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        if let Some(c) = &self.cluster {
            c.hand_over().await;
            c.shutdown().await;
        }
        let broker = self.broker.clone();
        let _ = tokio::task::spawn_blocking(move || {
            broker.metadata.close();
            broker.store.close();
        })
        .await;
    }
}

/// Compacts the message store every few seconds, off the async threads.
async fn compaction(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = broker.shutdown_signal() => return,
        }
        let b = broker.clone();
        let _ = tokio::task::spawn_blocking(move || b.compact()).await;
    }
}

/// Binds `addr` (from `key`), or nothing when it is empty (the listener is off).
async fn bind(key: &str, addr: &str) -> anyhow::Result<Option<TcpListener>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let l = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("{key}: cannot bind {addr}: {e}"))?;
    Ok(Some(l))
}

async fn bind_tls(key: &str, addr: Option<&str>) -> anyhow::Result<Option<TcpListener>> {
    match addr {
        Some(a) => bind(key, a).await,
        None => Ok(None),
    }
}

/// Accepts AMQP clients, one task each; a TLS client's handshake runs on its own task.
async fn accept_loop(listener: TcpListener, security: Security, broker: Arc<Broker>) {
    let mut conns = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, from)) => {
                    backoff = Duration::from_millis(5);
                    if *broker.paused.borrow() {
                        // A paused node (pause_minority) serves no client.
                        tracing::info!("refused a client from {from}: this node is paused");
                        continue;
                    }
                    match security {
                        Security::Plain => conns.spawn(crate::amqp::serve(stream, broker.clone())),
                        Security::Tls => conns.spawn(crate::amqp::serve_tls(stream, broker.clone())),
                    };
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = broker.shutdown_signal() => break,
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

//! What cases share: the per-case context (unique names, tracked connections
//! and resources, cleanup) and one helper per common step.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::mgmt::Mgmt;
use crate::raw::RawConn;
use crate::runner::Problem;

/// Fail the case with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($t:tt)*) => { return Err($crate::runner::Problem::Fail(format!($($t)*))) };
}

/// Fail the case unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($c:expr, $($t:tt)*) => { if !$c { $crate::fail!($($t)*); } };
}

/// Fail unless `got == expected`, with "what: expected X, got Y".
#[macro_export]
macro_rules! ensure_eq {
    ($got:expr, $expected:expr, $($t:tt)*) => {
        match (&$got, &$expected) {
            (g, e) => {
                if g != e {
                    $crate::fail!("{}: expected {:?}, got {:?}", format!($($t)*), e, g);
                }
            }
        }
    };
}

/// Attach context to an error.
pub trait Context<T> {
    /// Map the error to a case failure starting with `what`.
    fn ctx(self, what: &str) -> Result<T, Problem>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, Problem> {
        self.map_err(|e| Problem::Fail(format!("{what}: {e}")))
    }
}

/// How long to wait for something that should arrive.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long to wait to be reasonably sure something does not arrive.
pub const QUIET: Duration = Duration::from_millis(300);

struct Inner {
    case: &'static str,
    url: String,
    mgmt_url: Option<String>,
    run_id: String,
    timeout: Duration,
    counter: AtomicU32,
    conns: Mutex<Vec<Arc<Connection>>>,
    queues: Mutex<Vec<String>>,
    exchanges: Mutex<Vec<String>>,
    api_deletes: Mutex<Vec<String>>,
}

/// Per-case context.
#[derive(Clone)]
pub struct Ctx(Arc<Inner>);

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("case", &self.0.case).finish()
    }
}

impl Ctx {
    /// A fresh context for one case run.
    pub fn new(
        case: &'static str,
        url: String,
        mgmt_url: Option<String>,
        run_id: String,
        timeout: Duration,
    ) -> Self {
        Ctx(Arc::new(Inner {
            case,
            url,
            mgmt_url,
            run_id,
            timeout,
            counter: AtomicU32::new(0),
            conns: Mutex::new(Vec::new()),
            queues: Mutex::new(Vec::new()),
            exchanges: Mutex::new(Vec::new()),
            api_deletes: Mutex::new(Vec::new()),
        }))
    }

    /// The case name.
    pub fn case(&self) -> &'static str {
        self.0.case
    }

    /// The broker URL.
    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// The per-case timeout.
    pub fn timeout(&self) -> Duration {
        self.0.timeout
    }

    /// A name unique to this run, case and tag: `wc.<run>.<case>.<tag>.<n>`.
    pub fn name(&self, tag: &str) -> String {
        let n = self.0.counter.fetch_add(1, Ordering::SeqCst);
        let short = self
            .0
            .case
            .split_once('.')
            .map(|x| x.1)
            .unwrap_or(self.0.case);
        format!("wc.{}.{short}.{tag}{n}", self.0.run_id)
    }

    /// The management API, or a skip if none was configured.
    pub fn mgmt(&self) -> Result<Mgmt, Problem> {
        let Some(url) = &self.0.mgmt_url else {
            return Err(Problem::Skip(
                "needs the management API (--mgmt-url)".into(),
            ));
        };
        let hs = crate::raw::Handshake::from_url(&self.0.url)?;
        Mgmt::parse(url, &hs.user, &hs.password).map_err(Problem::Fail)
    }

    /// The vhost of the URL.
    pub fn vhost(&self) -> String {
        crate::raw::Handshake::from_url(&self.0.url)
            .map(|h| h.vhost)
            .unwrap_or_else(|_| "/".into())
    }

    /// The broker's AMQP URL with other credentials and vhost.
    pub fn url_as(&self, user: &str, password: &str, vhost: &str) -> Result<String, Problem> {
        let uri: amq_protocol::uri::AMQPUri = self
            .0
            .url
            .parse()
            .map_err(|e| Problem::Fail(format!("bad url {}: {e}", self.0.url)))?;
        let enc = crate::mgmt::encode_segment;
        Ok(format!(
            "amqp://{}:{}@{}:{}/{}",
            enc(user),
            enc(password),
            uri.authority.host,
            uri.authority.port,
            enc(vhost)
        ))
    }

    /// The broker's AMQP URL with its credentials and another vhost.
    pub fn url_in(&self, vhost: &str) -> Result<String, Problem> {
        let hs = crate::raw::Handshake::from_url(&self.0.url)?;
        self.url_as(&hs.user, &hs.password, vhost)
    }

    /// Have `DELETE path` sent to the management API after the case (in
    /// reverse order of registration, after the connections are closed).
    pub fn track_api_delete(&self, path: &str) {
        if let Ok(mut d) = self.0.api_deletes.lock() {
            d.push(path.to_string());
        }
    }

    /// Open a lapin connection (closed automatically after the case).
    pub async fn connect(&self) -> Result<Arc<Connection>, Problem> {
        self.connect_with(ConnectionProperties::default()).await
    }

    /// Open a lapin connection with custom properties.
    pub async fn connect_with(
        &self,
        props: ConnectionProperties,
    ) -> Result<Arc<Connection>, Problem> {
        let url = self.0.url.clone();
        self.connect_url(&url, props).await
    }

    /// Open a lapin connection to another URL (other user or vhost), closed
    /// automatically after the case.
    pub async fn connect_url(
        &self,
        url: &str,
        props: ConnectionProperties,
    ) -> Result<Arc<Connection>, Problem> {
        let props = props.with_connection_name(self.0.case.into());
        let conn = tokio::time::timeout(WAIT, Connection::connect(url, props))
            .await
            .map_err(|_| Problem::Fail(format!("timed out connecting to {url}")))?
            .ctx("connect")?;
        let conn = Arc::new(conn);
        if let Ok(mut c) = self.0.conns.lock() {
            c.push(conn.clone());
        }
        Ok(conn)
    }

    /// A new connection with one channel.
    pub async fn channel(&self) -> Result<Channel, Problem> {
        Ok(self.conn_channel().await?.1)
    }

    /// A new connection and a channel on it.
    pub async fn conn_channel(&self) -> Result<(Arc<Connection>, Channel), Problem> {
        let conn = self.connect().await?;
        let ch = conn.create_channel().await.ctx("channel.open")?;
        Ok((conn, ch))
    }

    /// A raw connection, handshake done.
    pub async fn raw(&self) -> Result<RawConn, Problem> {
        Ok(RawConn::open(&self.0.url).await?)
    }

    /// A raw connection, handshake done, channel 1 open.
    pub async fn raw_ch1(&self) -> Result<RawConn, Problem> {
        let mut c = RawConn::open(&self.0.url).await?;
        c.open_channel(1).await?;
        Ok(c)
    }

    /// Remember a queue to delete after the case.
    pub fn track_queue(&self, name: &str) {
        if let Ok(mut q) = self.0.queues.lock() {
            q.push(name.to_string());
        }
    }

    /// Remember an exchange to delete after the case.
    pub fn track_exchange(&self, name: &str) {
        if let Ok(mut q) = self.0.exchanges.lock() {
            q.push(name.to_string());
        }
    }

    /// Declare a plain (non-durable, non-exclusive) queue with a unique name.
    pub async fn queue(&self, ch: &Channel, tag: &str) -> Result<String, Problem> {
        self.queue_with(
            ch,
            tag,
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
    }

    /// Declare a queue with a unique name, options and arguments.
    pub async fn queue_with(
        &self,
        ch: &Channel,
        tag: &str,
        opts: QueueDeclareOptions,
        args: FieldTable,
    ) -> Result<String, Problem> {
        let name = self.name(tag);
        self.track_queue(&name);
        ch.queue_declare(name.as_str().into(), opts, args)
            .await
            .ctx(&format!("queue.declare {name}"))?;
        Ok(name)
    }

    /// Declare an exchange with a unique name.
    pub async fn exchange(
        &self,
        ch: &Channel,
        tag: &str,
        kind: ExchangeKind,
    ) -> Result<String, Problem> {
        self.exchange_with(
            ch,
            tag,
            kind,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
    }

    /// Declare an exchange with a unique name, options and arguments.
    pub async fn exchange_with(
        &self,
        ch: &Channel,
        tag: &str,
        kind: ExchangeKind,
        opts: ExchangeDeclareOptions,
        args: FieldTable,
    ) -> Result<String, Problem> {
        let name = self.name(tag);
        self.track_exchange(&name);
        ch.exchange_declare(name.as_str().into(), kind, opts, args)
            .await
            .ctx(&format!("exchange.declare {name}"))?;
        Ok(name)
    }

    /// Declare a queue and bind it to `exchange` with each key.
    pub async fn bound_queue(
        &self,
        ch: &Channel,
        tag: &str,
        exchange: &str,
        keys: &[&str],
    ) -> Result<String, Problem> {
        let q = self.queue(ch, tag).await?;
        for k in keys {
            bind(ch, &q, exchange, k).await?;
        }
        Ok(q)
    }

    /// Does the queue exist? (passive declare on a throw-away channel)
    pub async fn queue_exists(&self, name: &str) -> Result<bool, Problem> {
        let conn = self.connect().await?;
        let ch = conn.create_channel().await.ctx("channel.open")?;
        let opts = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        match ch
            .queue_declare(name.into(), opts, FieldTable::default())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if error_code(&e) == Some(404) => Ok(false),
            Err(e) => fail!("passive queue.declare {name}: {e}"),
        }
    }

    /// Does the exchange exist?
    pub async fn exchange_exists(&self, name: &str) -> Result<bool, Problem> {
        let conn = self.connect().await?;
        let ch = conn.create_channel().await.ctx("channel.open")?;
        let opts = ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        };
        match ch
            .exchange_declare(
                name.into(),
                ExchangeKind::Direct,
                opts,
                FieldTable::default(),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if error_code(&e) == Some(404) => Ok(false),
            Err(e) => fail!("passive exchange.declare {name}: {e}"),
        }
    }

    /// Close tracked connections and delete tracked resources.
    pub async fn cleanup(&self) {
        let conns = self
            .0
            .conns
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        for c in conns {
            if c.status().connected() {
                let _ =
                    tokio::time::timeout(Duration::from_secs(3), c.close(200, "bye".into())).await;
            }
        }
        let queues = self
            .0
            .queues
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        let exchanges = self
            .0
            .exchanges
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        let api_deletes = self
            .0
            .api_deletes
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        if !api_deletes.is_empty() {
            if let Ok(m) = self.mgmt() {
                for path in api_deletes.iter().rev() {
                    let _ = m.request("DELETE", path, None).await;
                }
            }
        }
        if queues.is_empty() && exchanges.is_empty() {
            return;
        }
        let Ok(Ok(conn)) = tokio::time::timeout(
            WAIT,
            Connection::connect(&self.0.url, ConnectionProperties::default()),
        )
        .await
        else {
            return;
        };
        let mut ch = None;
        for q in queues {
            if ch.is_none() {
                ch = conn.create_channel().await.ok();
            }
            if let Some(c) = &ch {
                if c.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                    .await
                    .is_err()
                {
                    ch = None;
                }
            }
        }
        for x in exchanges {
            if ch.is_none() {
                ch = conn.create_channel().await.ok();
            }
            if let Some(c) = &ch {
                if c.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
                    .await
                    .is_err()
                {
                    ch = None;
                }
            }
        }
        let _ = conn.close(200, "bye".into()).await;
    }
}

mod ops;
pub use ops::*;

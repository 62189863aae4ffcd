//! The harness every integration test uses: a real Warren on 127.0.0.1:0 with a temporary
//! data dir, in-process (`TestBroker::start`) or as a child process (`ChildBroker::spawn`).
#![allow(dead_code)]

pub mod certs;
pub mod cluster;
pub mod mirrored;
pub mod raw;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use warren::config::Config;

pub struct TestBroker {
    pub server: Option<warren::Server>,
    pub addr: SocketAddr,
    /// The management API's address.
    pub http_addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        Self::start_in(tempfile::tempdir().expect("tempdir")).await
    }

    /// Starts on an existing data dir (for restart tests).
    pub async fn start_in(dir: tempfile::TempDir) -> TestBroker {
        Self::start_with(dir, Config::default()).await
    }

    /// Starts with a configuration (its data dir and listen address are set here).
    pub async fn start_with(dir: tempfile::TempDir, mut config: Config) -> TestBroker {
        config.data_dir = dir.path().to_path_buf();
        config.amqp.listen = "127.0.0.1:0".into();
        config.http.listen = "127.0.0.1:0".into();
        let server = warren::Server::start(config).await.expect("broker starts");
        TestBroker {
            addr: server.amqp_addr,
            http_addr: server.http_addr,
            server: Some(server),
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// A management API client logged in as guest.
    pub fn api(&self) -> warren::ctl::client::Client {
        warren::ctl::client::Client::new(&self.http_addr.to_string(), "guest", "guest")
    }

    pub fn broker(&self) -> &std::sync::Arc<warren::broker::Broker> {
        &self.server.as_ref().expect("running").broker
    }

    pub async fn connect(&self) -> lapin::Connection {
        lapin::Connection::connect(&self.url(), lapin::ConnectionProperties::default())
            .await
            .expect("connects")
    }

    /// A new connection and a channel on it in confirm mode (keep the connection: dropping
    /// it closes the channel).
    pub async fn confirming_channel(&self) -> (lapin::Connection, lapin::Channel) {
        let conn = self.connect().await;
        let ch = conn.create_channel().await.expect("channel opens");
        ch.confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .expect("confirm.select");
        (conn, ch)
    }

    /// Stops the broker and hands back its data dir.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        self.dir
    }
}

/// Warren's binary as a child process; learns its port from the log line.
pub struct ChildBroker {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// Every line the broker has written to stdout so far (its log; `RUST_LOG=info`).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ChildBroker {
    pub fn spawn(extra: &[&str]) -> ChildBroker {
        Self::spawn_in(tempfile::tempdir().expect("tempdir"), extra)
    }

    /// Starts the binary on an existing data dir (for restart and crash tests); get the
    /// dir back with `kill` or `stop`.
    pub fn spawn_in(dir: tempfile::TempDir, extra: &[&str]) -> ChildBroker {
        Self::spawn_in_env(dir, extra, &[])
    }

    /// As `spawn_in`, with extra environment variables (test aids).
    pub fn spawn_in_env(
        dir: tempfile::TempDir,
        extra: &[&str],
        vars: &[(String, String)],
    ) -> ChildBroker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_warren"))
            .args([
                "--amqp-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .args(extra)
            // WARREN_TEST_LOG sets the brokers' log filter (RUST_LOG's syntax).
            .env(
                "RUST_LOG",
                std::env::var("WARREN_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .envs(vars.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns warren");
        let stdout = child.stdout.take().expect("stdout");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        // What it says on stderr (a start-up error) joins the log.
        let stderr = child.stderr.take().expect("stderr");
        let errors = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                errors.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("AMQP listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a.parse().expect("an address"),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                let log = log.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
                panic!("warren did not log its address (exit: {status:?}); its log:\n{log}");
            }
        };
        ChildBroker {
            child,
            addr,
            dir,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// The management API's address, from its log line.
    pub fn http_addr(&self) -> SocketAddr {
        self.log_lines()
            .iter()
            .find_map(|l| l.split("HTTP API listening on ").nth(1))
            .and_then(|a| a.trim().parse().ok())
            .expect("the log names the HTTP API's address")
    }

    /// A management API client logged in as guest.
    pub fn api(&self) -> warren::ctl::client::Client {
        warren::ctl::client::Client::new(&self.http_addr().to_string(), "guest", "guest")
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The broker's log so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits (at most `limit`) for a log line containing `needle`; the log has no other
    /// signal, so this polls.
    pub async fn wait_for_log(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(line) = self.log_lines().into_iter().find(|l| l.contains(needle)) {
                return Some(line);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A `kB` field of /proc/<pid>/status (e.g. `VmRSS`, `VmHWM`), in bytes.
    pub fn proc_status_bytes(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status
            .lines()
            .find(|l| l.split(':').next() == Some(field))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: the broker dies at once, mid-whatever. Hands back the data dir.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its log goes with it: shown now (libtest shows it only if the test fails).
        self.dump();
        self.take_dir()
    }

    /// SIGTERM and a graceful exit (panics if it takes over 10 s). Hands back the data dir.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.signal("TERM");
        let status = self
            .wait_exit(Duration::from_secs(10))
            .expect("warren exits within 10 s of SIGTERM");
        assert!(status.success(), "warren exited with {status:?}");
        self.take_dir()
    }

    fn take_dir(&mut self) -> tempfile::TempDir {
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit; `None` if it is still running after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ChildBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            self.dump();
        }
    }
}

impl ChildBroker {
    /// With WARREN_TEST_DUMP=word set, prints the log lines holding `word` (a failing test
    /// then shows each broker's, killed ones included).
    fn dump(&self) {
        let Ok(word) = std::env::var("WARREN_TEST_DUMP") else {
            return;
        };
        for line in self.log_lines().iter().filter(|l| l.contains(&word)) {
            eprintln!("{} {line}", self.addr);
        }
    }
}

/// Records every panic whose location is outside `tests/` (i.e. in the broker or a library
/// it calls), so a test can assert that bad input did not make a broker task panic. The
/// default hook still prints them.
pub fn watch_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            if !location.starts_with("tests/") {
                BROKER_PANICS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{location}: {info}"));
            }
            previous(info);
        }));
    });
}

static BROKER_PANICS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Panics recorded by `watch_panics` so far.
pub fn broker_panics() -> Vec<String> {
    BROKER_PANICS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Publishes one message to an exclusive queue on `conn` and gets it back.
pub async fn round_trip(conn: &lapin::Connection, body: &[u8]) {
    use lapin::{options::*, types::FieldTable, BasicProperties};
    let ch = conn.create_channel().await.expect("channel");
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare");
    ch.basic_publish(
        "".into(),
        q.name().as_str().into(),
        BasicPublishOptions::default(),
        body,
        BasicProperties::default(),
    )
    .await
    .expect("publish");
    let mut got = None;
    for _ in 0..50 {
        got = ch
            .basic_get(q.name().as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("get");
        if got.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(got.expect("the message comes back").delivery.data, body);
    // Closed here, not on drop: lapin closes a dropped channel in the background, which
    // races a connection.close that follows.
    ch.close(200, "done".into()).await.expect("channel close");
}

/// A well-behaved lapin client can still connect, declare, publish and get: the broker
/// survived whatever the test did before.
pub async fn assert_broker_works(url: &str) {
    let work = async {
        let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
            .await
            .expect("a second client connects");
        round_trip(&conn, b"still alive").await;
        conn.close(200, "bye".into()).await.expect("close");
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .expect("the broker still serves a well-behaved client");
}

/// The broker a protocol test talks to: a fresh in-process Warren, or, when the
/// environment variable `WARREN_TEST_REFERENCE` holds an address such as `127.0.0.1:5682`,
/// that (reference RabbitMQ) broker, so the test's expectations can be checked against it.
/// Tests using it must pick unique names (server-named or exclusive queues).
pub struct Target {
    pub addr: SocketAddr,
    pub broker: Option<TestBroker>,
}

impl Target {
    pub async fn start() -> Target {
        match std::env::var("WARREN_TEST_REFERENCE") {
            Ok(a) if !a.is_empty() => Target {
                addr: a.parse().expect("WARREN_TEST_REFERENCE is host:port"),
                broker: None,
            },
            _ => {
                let b = TestBroker::start().await;
                Target {
                    addr: b.addr,
                    broker: Some(b),
                }
            }
        }
    }

    pub fn is_reference(&self) -> bool {
        self.broker.is_none()
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    pub async fn connect(&self) -> lapin::Connection {
        lapin::Connection::connect(&self.url(), lapin::ConnectionProperties::default())
            .await
            .expect("connects")
    }
}

/// A name no other test (or earlier run against a shared reference broker) uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The AMQP reply code carried by a lapin error (channel or connection close), if any.
pub fn amqp_code(e: &lapin::Error) -> Option<u16> {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(a) => Some(a.get_id()),
        _ => None,
    }
}

/// queue.declare options for a durable queue.
pub const DURABLE: lapin::options::QueueDeclareOptions = lapin::options::QueueDeclareOptions {
    passive: false,
    durable: true,
    exclusive: false,
    auto_delete: false,
    nowait: false,
};

/// Declares a plain (non-durable, not exclusive) queue.
pub async fn declare_queue(ch: &lapin::Channel, q: &str) {
    ch.queue_declare(
        q.into(),
        lapin::options::QueueDeclareOptions::default(),
        lapin::types::FieldTable::default(),
    )
    .await
    .expect("queue.declare");
}

/// How many messages a queue holds ready, by a passive declare.
pub async fn ready_count(ch: &lapin::Channel, q: &str) -> u32 {
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    ch.queue_declare(q.into(), passive, lapin::types::FieldTable::default())
        .await
        .expect("passive queue.declare")
        .message_count()
}

/// Adds users (password `guest`, the given tags) with every permission on `/`.
pub fn add_users(config: &mut Config, users: &[(&str, &[&str])]) {
    for (user, tags) in users {
        config.users.push(warren::config::UserDef {
            name: user.to_string(),
            password: Some("guest".into()),
            password_hash: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        });
        config.permissions.push(warren::config::PermissionDef {
            user: user.to_string(),
            vhost: "/".into(),
            configure: ".*".into(),
            write: ".*".into(),
            read: ".*".into(),
        });
    }
}

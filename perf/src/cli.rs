//! Command-line flags (PerfTest-style short names) and their validation.

use crate::body::{MAX_PRODUCERS, MIN_BODY};
use crate::uri::{self, Uri};
use clap::Parser;

/// The default broker URI.
pub const DEFAULT_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// warren-perf: a low-overhead AMQP 0-9-1 load generator.
#[derive(Parser, Debug, Clone)]
#[command(name = "warren-perf", version, about, long_about = None)]
pub struct Cli {
    /// Broker URI.
    #[arg(long, default_value = DEFAULT_URI)]
    pub uri: String,
    /// Where consumers connect (e.g. another node of a cluster) [default: --uri].
    #[arg(long, value_name = "URI")]
    pub consumer_uri: Option<String>,
    /// Where the setup connection (queue declarations) and the cleanup connect; a classic
    /// queue lives on the node it was declared on [default: --uri].
    #[arg(long, value_name = "URI")]
    pub setup_uri: Option<String>,
    /// Producers (one connection each).
    #[arg(short = 'x', long = "producers", default_value_t = 1)]
    pub producers: u32,
    /// Consumers (one connection each).
    #[arg(short = 'y', long = "consumers", default_value_t = 1)]
    pub consumers: u32,
    /// Message body size in bytes (at least 16: timestamp + producer id + sequence number).
    #[arg(short = 's', long = "size", default_value_t = 16)]
    pub size: usize,
    /// Run time in seconds [default: 10; with --pre-publish: until drained].
    #[arg(short = 'z', long = "time")]
    pub time: Option<f64>,
    /// Publisher confirms, at most N unconfirmed messages per producer.
    #[arg(short = 'c', long = "confirm", value_name = "N")]
    pub confirm: Option<u64>,
    /// Persistent messages (delivery-mode 2) and durable queues.
    #[arg(short = 'f', long = "persistent")]
    pub persistent: bool,
    /// Consumer prefetch (basic.qos prefetch-count).
    #[arg(short = 'q', long = "prefetch", value_name = "N")]
    pub prefetch: Option<u16>,
    /// Auto-ack (no-ack consumers).
    #[arg(short = 'a', long = "autoack")]
    pub autoack: bool,
    /// Ack every N messages, with multiple=true when N > 1.
    #[arg(
        short = 'A',
        long = "multi-ack-every",
        value_name = "N",
        default_value_t = 1
    )]
    pub ack_every: u64,
    /// Rate limit per producer in msg/s (0 = unlimited).
    #[arg(short = 'r', long = "rate", value_name = "N", default_value_t = 0)]
    pub rate: u64,
    /// Number of queues; producers and consumers are spread over them round-robin.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub queues: u32,
    /// Publish to a fanout exchange bound to all the queues.
    #[arg(long)]
    pub fanout: bool,
    /// Queue (and exchange) name prefix; a random suffix is added.
    #[arg(long, value_name = "NAME", default_value = "warren-perf")]
    pub queue_prefix: String,
    /// Print the summary as one JSON object on stdout (per-second lines go to stderr).
    #[arg(long)]
    pub json: bool,
    /// Publish N messages before the consumers start, then measure draining them.
    #[arg(long, value_name = "N")]
    pub pre_publish: Option<u64>,
    /// Open N idle connections, print "ready", hold them for -z seconds; nothing else.
    #[arg(long, value_name = "N")]
    pub connections: Option<u32>,
}

/// A validated run configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Parsed broker URI (producers, idle connections).
    pub uri: Uri,
    /// Where consumers connect.
    pub consumer_uri: Uri,
    /// Where the setup and cleanup connections connect.
    pub setup_uri: Uri,
    /// Producers.
    pub producers: u32,
    /// Consumers.
    pub consumers: u32,
    /// Body size.
    pub size: usize,
    /// Run time (seconds); `None` only with --pre-publish (until drained).
    pub time: Option<f64>,
    /// Confirm window.
    pub confirm: Option<u64>,
    /// Persistent messages, durable queues.
    pub persistent: bool,
    /// Prefetch.
    pub prefetch: Option<u16>,
    /// No-ack consumers.
    pub autoack: bool,
    /// Ack every N.
    pub ack_every: u64,
    /// Per-producer rate (0 = unlimited).
    pub rate: u64,
    /// Queues.
    pub queues: u32,
    /// Fanout exchange.
    pub fanout: bool,
    /// Name prefix.
    pub queue_prefix: String,
    /// JSON summary.
    pub json: bool,
    /// Backlog size.
    pub pre_publish: Option<u64>,
    /// Idle-connection mode.
    pub connections: Option<u32>,
}

impl Cli {
    /// Checks the flags and builds a [`Config`].
    pub fn validate(self) -> Result<Config, String> {
        let uri = uri::parse(&self.uri)?;
        let or_uri = |other: &Option<String>, flag: &str| match other {
            Some(u) => uri::parse(u).map_err(|e| format!("{flag}: {e}")),
            None => Ok(uri.clone()),
        };
        let consumer_uri = or_uri(&self.consumer_uri, "--consumer-uri")?;
        let setup_uri = or_uri(&self.setup_uri, "--setup-uri")?;
        if self.size < MIN_BODY {
            return Err(format!(
                "-s must be at least {MIN_BODY} bytes (the body carries a timestamp and a sequence number)"
            ));
        }
        if self.size > 512 << 20 {
            return Err("-s is limited to 512 MiB".into());
        }
        if self.producers >= MAX_PRODUCERS {
            return Err(format!("-x must be below {MAX_PRODUCERS}"));
        }
        if let Some(t) = self.time {
            if !(t > 0.0 && t.is_finite()) {
                return Err("-z must be a positive number of seconds".into());
            }
        }
        if self.confirm == Some(0) {
            return Err("-c must be at least 1".into());
        }
        if self.ack_every == 0 {
            return Err("-A must be at least 1".into());
        }
        if let Some(q) = self.prefetch {
            if !self.autoack && q > 0 && self.ack_every > u64::from(q) {
                return Err(format!(
                    "-A {} with -q {q} would stall: a consumer never holds enough unacked messages to ack",
                    self.ack_every
                ));
            }
        }
        if self.queues == 0 || self.queues > 100_000 {
            return Err("--queues must be between 1 and 100000".into());
        }
        if self.queue_prefix.is_empty() || self.queue_prefix.len() > 200 {
            return Err("--queue-prefix must be 1 to 200 bytes".into());
        }
        if let Some(n) = self.pre_publish {
            if n == 0 {
                return Err("--pre-publish must be at least 1".into());
            }
            if self.consumers == 0 {
                return Err("--pre-publish needs consumers (-y) to drain the backlog".into());
            }
            if self.producers == 0 {
                return Err("--pre-publish needs at least one producer (-x)".into());
            }
        }
        if self.connections == Some(0) {
            return Err("--connections must be at least 1".into());
        }
        let time = match (self.time, self.pre_publish) {
            (Some(t), _) => Some(t),
            (None, Some(_)) => None,
            (None, None) => Some(10.0),
        };
        Ok(Config {
            uri,
            consumer_uri,
            setup_uri,
            producers: self.producers,
            consumers: self.consumers,
            size: self.size,
            time,
            confirm: self.confirm,
            persistent: self.persistent,
            prefetch: self.prefetch,
            autoack: self.autoack,
            ack_every: self.ack_every,
            rate: self.rate,
            queues: self.queues,
            fanout: self.fanout,
            queue_prefix: self.queue_prefix,
            json: self.json,
            pre_publish: self.pre_publish,
            connections: self.connections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(args: &[&str]) -> Result<Config, String> {
        let mut v = vec!["warren-perf"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap();
        assert_eq!((c.producers, c.consumers, c.size), (1, 1, 16));
        assert_eq!(c.time, Some(10.0));
        assert_eq!(c.uri.port, 5672);
        assert_eq!(c.uri.vhost, "/");
        assert_eq!(c.ack_every, 1);
        assert!(!c.autoack);
    }

    #[test]
    fn perftest_style_flags() {
        let c = cfg(&[
            "-x", "2", "-y", "3", "-s", "1024", "-z", "5", "-c", "1000", "-f", "-q", "1000", "-A",
            "10", "-r", "10000", "--queues", "4", "--fanout", "--json",
        ])
        .unwrap();
        assert_eq!((c.producers, c.consumers, c.size), (2, 3, 1024));
        assert_eq!(c.confirm, Some(1000));
        assert!(c.persistent && c.fanout && c.json);
        assert_eq!(
            (c.prefetch, c.ack_every, c.rate, c.queues),
            (Some(1000), 10, 10000, 4)
        );
        let c = cfg(&["--pre-publish", "1000", "-y", "1"]).unwrap();
        assert_eq!(c.time, None);
        assert!(cfg(&["-a"]).unwrap().autoack);
    }

    #[test]
    fn consumer_and_setup_uris() {
        // Both default to --uri.
        let c = cfg(&["--uri", "amqp://u:p@10.0.0.1:5701/v"]).unwrap();
        for u in [&c.consumer_uri, &c.setup_uri] {
            assert_eq!(
                (u.host.as_str(), u.port, u.user.as_str(), u.vhost.as_str()),
                ("10.0.0.1", 5701, "u", "v")
            );
        }
        let c = cfg(&[]).unwrap();
        assert_eq!((c.consumer_uri.port, c.setup_uri.port), (5672, 5672));
        // Each can point elsewhere, independently.
        let c = cfg(&[
            "--uri",
            "amqp://guest:guest@127.0.0.1:5701/%2f",
            "--setup-uri",
            "amqp://guest:guest@127.0.0.1:5702/%2f",
            "--consumer-uri",
            "amqp://guest:guest@127.0.0.1:5703/%2f",
        ])
        .unwrap();
        assert_eq!(
            (c.uri.port, c.setup_uri.port, c.consumer_uri.port),
            (5701, 5702, 5703)
        );
        let c = cfg(&["--consumer-uri", "amqp://guest:guest@127.0.0.1:5703/%2f"]).unwrap();
        assert_eq!((c.consumer_uri.port, c.setup_uri.port), (5703, 5672));
        assert!(cfg(&["--consumer-uri", "http://x"]).is_err());
        assert!(cfg(&["--setup-uri", "http://x"]).is_err());
    }

    #[test]
    fn rejects_bad_flags() {
        assert!(cfg(&["-s", "15"]).is_err());
        assert!(cfg(&["-c", "0"]).is_err());
        assert!(cfg(&["-A", "0"]).is_err());
        assert!(cfg(&["-A", "100", "-q", "10"]).is_err());
        assert!(cfg(&["-z", "0"]).is_err());
        assert!(cfg(&["--queues", "0"]).is_err());
        assert!(cfg(&["--pre-publish", "10", "-y", "0"]).is_err());
        assert!(cfg(&["--uri", "http://x"]).is_err());
        assert!(cfg(&["-x", "70000"]).is_err());
    }
}

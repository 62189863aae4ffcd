//! End-to-end: warren-perf against an in-process Warren on 127.0.0.1:0.

use clap::Parser;
use warren::config::Config as BrokerConfig;
use warren_perf::cli::Cli;

struct Broker {
    rt: tokio::runtime::Runtime,
    server: Option<warren::Server>,
    uri: String,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = BrokerConfig {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        config.amqp.listen = "127.0.0.1:0".into();
        config.http.listen = "127.0.0.1:0".into();
        let server = rt
            .block_on(warren::Server::start(config))
            .expect("broker starts");
        let uri = format!("amqp://guest:guest@{}/%2f", server.amqp_addr);
        Broker {
            rt,
            server: Some(server),
            uri,
            _dir: dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

fn perf(broker: &Broker, args: &[&str]) -> warren_perf::summary::Summary {
    let mut argv = vec!["warren-perf", "--uri", &broker.uri, "--json"];
    argv.extend_from_slice(args);
    let cfg = Cli::try_parse_from(argv)
        .expect("flags parse")
        .validate()
        .expect("flags valid");
    warren_perf::run::run(&cfg).expect("the run succeeds")
}

fn assert_clean(s: &warren_perf::summary::Summary) {
    assert!(s.published > 0, "{s:?}");
    assert!(s.consumed_total > 0, "{s:?}");
    assert_eq!(
        (s.lost, s.duplicated, s.reordered, s.invalid),
        (0, 0, 0, 0),
        "{s:?}"
    );
    let lat = s.latency_us.expect("latency measured");
    assert!(lat.p50 > 0.0 && lat.p50 <= lat.p99 && lat.p99 <= lat.max + 0.001);
    let json = s.to_json();
    assert_eq!(json["consumed"], s.consumed);
    assert!(json["latency_us"]["p99"].is_number());
}

#[test]
fn s1_like_auto_ack_run_is_clean() {
    let b = Broker::start();
    let s = perf(&b, &["-x", "1", "-y", "1", "-s", "16", "-z", "1", "-a"]);
    assert_clean(&s);
}

#[test]
fn confirms_manual_acks_and_two_consumers_are_clean() {
    let b = Broker::start();
    let s = perf(
        &b,
        &[
            "-x", "2", "-y", "2", "-z", "1", "-c", "100", "-q", "100", "-A", "10",
        ],
    );
    assert_clean(&s);
    assert!(s.confirmed > 0, "{s:?}");
    assert_eq!(s.nacked, 0);
}

#[test]
fn fanout_and_backlog_are_clean() {
    let b = Broker::start();
    let s = perf(
        &b,
        &[
            "--fanout", "--queues", "3", "-y", "3", "-z", "1", "-a", "-r", "2000",
        ],
    );
    assert_clean(&s);
    let s = perf(&b, &["--pre-publish", "5000", "-y", "1", "-a", "-s", "100"]);
    assert_clean(&s);
    assert_eq!(s.published, 5000);
    assert_eq!(s.consumed, 5000);
    assert_eq!(s.unconsumed, 0);
}

#[test]
fn server_refusal_is_an_error() {
    let b = Broker::start();
    let argv = [
        "warren-perf",
        "--uri",
        &b.uri.replace("guest:guest", "guest:wrong"),
        "-z",
        "1",
    ];
    let cfg = Cli::try_parse_from(argv).unwrap().validate().unwrap();
    let err = warren_perf::run::run(&cfg).expect_err("bad password fails");
    assert!(
        err.contains("ACCESS_REFUSED") || err.contains("closed"),
        "{err}"
    );
}

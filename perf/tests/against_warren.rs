//! End-to-end: warren-perf against an in-process Warren on 127.0.0.1:0 (plain, and TLS with
//! certificates made here by rcgen).

use clap::Parser;
use warren::config::Config as BrokerConfig;
use warren_perf::cli::Cli;

struct Broker {
    rt: tokio::runtime::Runtime,
    server: Option<warren::Server>,
    uri: String,
    _dir: tempfile::TempDir,
}

/// A CA (written to `dir/ca.crt`) and a server certificate for localhost, signed by it.
fn certificates(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("signed");
    std::fs::write(dir.join("ca.crt"), ca.pem()).expect("write");
    std::fs::write(dir.join("server.crt"), cert.pem()).expect("write");
    std::fs::write(dir.join("server.key"), key.serialize_pem()).expect("write");
    (dir.join("server.crt"), dir.join("server.key"))
}

impl Broker {
    fn start() -> Broker {
        Self::start_with(false)
    }

    /// With `tls`, the URI is the AMQPS listener's, trusting the test CA.
    fn start_with(tls: bool) -> Broker {
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
        if tls {
            let (certfile, keyfile) = certificates(dir.path());
            config.amqp.tls = Some(warren::config::TlsConfig {
                listen: "127.0.0.1:0".into(),
                certfile,
                keyfile,
                cacertfile: None,
                verify: warren::config::Verify::VerifyNone,
                fail_if_no_peer_cert: false,
                versions: vec!["tlsv1.2".into(), "tlsv1.3".into()],
                ciphers: vec![],
            });
        }
        let server = rt
            .block_on(warren::Server::start(config))
            .expect("broker starts");
        let uri = match server.amqps_addr {
            Some(a) => format!(
                "amqps://guest:guest@localhost:{}/%2f?cacertfile={}",
                a.port(),
                dir.path().join("ca.crt").display()
            ),
            None => format!("amqp://guest:guest@{}/%2f", server.amqp_addr),
        };
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

#[test]
fn over_tls_confirms_and_acks_are_clean() {
    let b = Broker::start_with(true);
    let s = perf(
        &b,
        &[
            "-x", "1", "-y", "1", "-s", "4000", "-z", "1", "-c", "100", "-q", "100",
        ],
    );
    assert_clean(&s);
    // Many full TLS records each way; every one came back.
    assert!(s.consumed_total > 1000, "{s:?}");
    let s = perf(&b, &["-x", "1", "-y", "1", "-s", "16", "-z", "1", "-a"]);
    assert_clean(&s);
}

#[test]
fn tls_with_an_untrusted_server_certificate_is_an_error() {
    let b = Broker::start_with(true);
    let other = tempfile::tempdir().expect("tempdir");
    certificates(other.path());
    let uri = b.uri.replace(
        &b._dir.path().join("ca.crt").display().to_string(),
        &other.path().join("ca.crt").display().to_string(),
    );
    let cfg = Cli::try_parse_from(["warren-perf", "--uri", &uri, "-z", "1", "-a"])
        .expect("flags parse")
        .validate()
        .expect("flags valid");
    let e = warren_perf::run::run(&cfg).expect_err("another CA's certificate");
    assert!(
        e.contains("TLS handshake") && e.contains("certificate"),
        "{e}"
    );
}

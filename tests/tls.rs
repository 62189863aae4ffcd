//! TLS on the AMQP and HTTP listeners, with certificates made here (rcgen) and real clients
//! (lapin over rustls, a raw tokio-rustls client for HTTPS): traffic, peer verification,
//! EXTERNAL login, connection details, reload while a connection stays open, hostile
//! clients on the TLS port.

use crate::common;
use common::certs::{rustls_client, Ca, Pem};
use common::{round_trip, TestBroker};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warren::config::{Config, TlsConfig, Verify};

/// A CA, a server certificate and a client certificate `CN=client` in one directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    server: Pem,
    client: Pem,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Ca::new("Warren test CA");
        ca.write(dir.path(), "ca.crt");
        let server = ca.server(dir.path(), "server");
        let client = ca.client(dir.path(), "client", false);
        Pki {
            dir,
            ca,
            server,
            client,
        }
    }

    fn tls(&self, verify: Verify, fail_if_no_peer_cert: bool) -> TlsConfig {
        TlsConfig {
            listen: "127.0.0.1:0".into(),
            certfile: self.server.certfile.clone(),
            keyfile: self.server.keyfile.clone(),
            cacertfile: Some(self.dir.path().join("ca.crt")),
            verify,
            fail_if_no_peer_cert,
            versions: vec!["tlsv1.2".into(), "tlsv1.3".into()],
            ciphers: vec![],
        }
    }
}

async fn start(config: Config) -> (TestBroker, SocketAddr) {
    let b = TestBroker::start_with(tempfile::tempdir().expect("tempdir"), config).await;
    let tls = b
        .server
        .as_ref()
        .and_then(|s| s.amqps_addr)
        .expect("TLS listener");
    (b, tls)
}

fn with_amqp_tls(tls: TlsConfig) -> Config {
    let mut c = Config::default();
    c.amqp.tls = Some(tls);
    c
}

async fn connect_tls(
    addr: SocketAddr,
    query: &str,
    tls: lapin::tcp::OwnedTLSConfig,
) -> lapin::Result<lapin::Connection> {
    let uri = format!("amqps://guest:guest@localhost:{}/%2f{query}", addr.port());
    let builder = lapin::DefaultConnectionBuilder::new()?
        .with_uri_str(uri)
        .with_tls_config(tls);
    tokio::time::timeout(Duration::from_secs(10), builder.connect())
        .await
        .expect("connect finishes")
}

async fn connections_json(b: &TestBroker) -> Vec<serde_json::Value> {
    let r = b.api().get("/api/connections").await.expect("GET");
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    v.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn amqps_carries_traffic_and_shows_its_session() {
    let pki = Pki::new();
    let (b, tls) = start(with_amqp_tls(pki.tls(Verify::VerifyPeer, false))).await;
    let secure = connect_tls(tls, "", Pem::lapin_tls(&pki.ca, Some(&pki.client)))
        .await
        .expect("a TLS client with a good certificate connects");
    round_trip(&secure, b"over tls").await;
    // A big message crosses many TLS records.
    round_trip(&secure, &vec![7u8; 3 * 1024 * 1024]).await;
    let plain = b.connect().await;
    round_trip(&plain, b"plain still works").await;

    let conns = connections_json(&b).await;
    assert_eq!(conns.len(), 2, "{conns:?}");
    let (tls_c, plain_c): (Vec<_>, Vec<_>) = conns.iter().partition(|c| c["ssl"] == true);
    let t = tls_c[0];
    assert_eq!(t["port"], tls.port());
    assert_eq!(t["ssl_protocol"], "tlsv1.3");
    assert_eq!(t["ssl_key_exchange"], "any");
    assert_eq!(t["ssl_hash"], "aead");
    assert!(
        ["aes_256_gcm", "aes_128_gcm", "chacha20_poly1305"]
            .contains(&t["ssl_cipher"].as_str().unwrap_or("")),
        "{t}"
    );
    assert_eq!(t["peer_cert_subject"], "CN=client,O=Warren tests");
    assert_eq!(t["peer_cert_issuer"], "CN=Warren test CA");
    let validity = t["peer_cert_validity"].as_str().expect("validity");
    assert!(
        validity.contains("Z - ") && validity.ends_with('Z'),
        "{validity}"
    );
    let p = plain_c[0];
    assert_eq!(p["ssl"], false);
    for k in [
        "ssl_protocol",
        "ssl_cipher",
        "peer_cert_subject",
        "peer_cert_validity",
    ] {
        assert!(p[k].is_null(), "{k} on a plain connection: {p}");
    }
    secure.close(200, "bye".into()).await.expect("close");
}

#[tokio::test]
async fn tls12_only_and_a_chosen_cipher() {
    let pki = Pki::new();
    let mut t = pki.tls(Verify::VerifyNone, false);
    t.versions = vec!["tlsv1.2".into()];
    t.ciphers = vec!["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".into()];
    let (b, tls) = start(with_amqp_tls(t)).await;
    let conn = connect_tls(tls, "", Pem::lapin_tls(&pki.ca, None))
        .await
        .expect("connects without a client certificate under verify_none");
    round_trip(&conn, b"tls 1.2").await;
    let c = connections_json(&b).await;
    assert_eq!(c[0]["ssl_protocol"], "tlsv1.2");
    assert_eq!(c[0]["ssl_cipher"], "chacha20_poly1305");
    assert_eq!(c[0]["ssl_key_exchange"], "ecdhe_ecdsa");
    assert!(c[0]["peer_cert_subject"].is_null());
}

#[tokio::test]
async fn peer_verification_refuses_unknown_ca_expired_and_missing_certificates() {
    let pki = Pki::new();
    let (b, tls) = start(with_amqp_tls(pki.tls(Verify::VerifyPeer, true))).await;
    let stranger_ca = Ca::new("Someone else");
    let stranger = stranger_ca.client(pki.dir.path(), "client", false);
    let expired = pki.ca.client(pki.dir.path(), "client", true);
    for (what, identity) in [
        ("unknown CA", Some(&stranger)),
        ("expired", Some(&expired)),
        ("no certificate (fail_if_no_peer_cert)", None),
    ] {
        let r = connect_tls(tls, "", Pem::lapin_tls(&pki.ca, identity)).await;
        assert!(r.is_err(), "{what}: connected");
    }
    let ok = connect_tls(tls, "", Pem::lapin_tls(&pki.ca, Some(&pki.client)))
        .await
        .expect("a good certificate still connects");
    round_trip(&ok, b"mutual").await;
    // Without fail_if_no_peer_cert a client may come without a certificate.
    let (_b2, tls2) = start(with_amqp_tls(pki.tls(Verify::VerifyPeer, false))).await;
    connect_tls(tls2, "", Pem::lapin_tls(&pki.ca, None))
        .await
        .expect("no certificate is fine when not required");
    common::assert_broker_works(&b.url()).await;
}

#[tokio::test]
async fn external_logs_in_as_the_certificate_cn() {
    let pki = Pki::new();
    let mut config = with_amqp_tls(pki.tls(Verify::VerifyPeer, false));
    common::add_users(
        &mut config,
        &[("client", &[]), ("guest", &["administrator"])],
    );
    let (b, tls) = start(config).await;
    let conn = connect_tls(
        tls,
        "?auth_mechanism=external",
        Pem::lapin_tls(&pki.ca, Some(&pki.client)),
    )
    .await
    .expect("EXTERNAL login with CN=client");
    round_trip(&conn, b"as client").await;
    let c = connections_json(&b).await;
    assert_eq!(c[0]["user"], "client");
    assert_eq!(c[0]["auth_mechanism"], "EXTERNAL");

    // A certificate whose CN names no user: refused (403, as RabbitMQ).
    let nobody = pki.ca.client(pki.dir.path(), "nobody", false);
    let e = connect_tls(
        tls,
        "?auth_mechanism=external",
        Pem::lapin_tls(&pki.ca, Some(&nobody)),
    )
    .await
    .expect_err("no such user");
    assert!(
        e.to_string().contains("ACCESS_REFUSED") || common::amqp_code(&e) == Some(403),
        "{e}"
    );
    // Without a client certificate EXTERNAL is refused too.
    let e = connect_tls(
        tls,
        "?auth_mechanism=external",
        Pem::lapin_tls(&pki.ca, None),
    )
    .await
    .expect_err("no certificate, no EXTERNAL");
    assert!(
        e.to_string().contains("ACCESS_REFUSED") || common::amqp_code(&e) == Some(403),
        "{e}"
    );
}

#[tokio::test]
async fn https_api_and_reload_keep_open_connections() {
    let pki = Pki::new();
    let mut config = with_amqp_tls(pki.tls(Verify::VerifyNone, false));
    config.http.tls = Some(pki.tls(Verify::VerifyNone, false));
    let (b, tls) = start(config).await;
    let https = b.server.as_ref().and_then(|s| s.https_addr).expect("https");
    let (status, body) = https_request(https, &pki.ca, "GET", "/api/overview").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("amqp/ssl") && body.contains("https"),
        "{body}"
    );
    let (status, body) = https_request(
        https,
        &pki.ca,
        "GET",
        "/api/health/checks/certificate-expiration/1/weeks",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("CN=server"), "{body}");
    let (status, body) = https_request(
        https,
        &pki.ca,
        "GET",
        "/api/health/checks/certificate-expiration/2/months",
    )
    .await;
    assert_eq!(status, 503, "the certificate expires in 30 days: {body}");
    assert!(body.contains("Certificates expiring"), "{body}");

    let old = connect_tls(tls, "", Pem::lapin_tls(&pki.ca, None))
        .await
        .expect("connects with the first certificate");
    // New files from another CA: clients trusting only it get in after the reload.
    let ca2 = Ca::new("Second CA");
    let second = ca2.server(pki.dir.path(), "server-2");
    assert!(connect_tls(tls, "", Pem::lapin_tls(&ca2, None))
        .await
        .is_err());
    std::fs::copy(&second.certfile, &pki.server.certfile).unwrap();
    std::fs::copy(&second.keyfile, &pki.server.keyfile).unwrap();
    let (status, body) = https_request(https, &pki.ca, "POST", "/api/tls/reload").await;
    assert_eq!(status, 200, "{body}");
    let new = connect_tls(tls, "", Pem::lapin_tls(&ca2, None))
        .await
        .expect("a new handshake sees the new certificate");
    round_trip(&old, b"old connection still works").await;
    round_trip(&new, b"new connection works").await;
    assert!(connect_tls(tls, "", Pem::lapin_tls(&pki.ca, None))
        .await
        .is_err());

    // A reload that fails keeps the loaded certificate and names the key and file.
    std::fs::write(&pki.server.keyfile, "not a key").unwrap();
    let (status, body) = https_request(https, &ca2, "POST", "/api/tls/reload").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("tls.keyfile") && body.contains(".key"),
        "{body}"
    );
    connect_tls(tls, "", Pem::lapin_tls(&ca2, None))
        .await
        .expect("the loaded certificate stays");
}

/// One HTTPS request as guest; (status, body).
async fn https_request(addr: SocketAddr, ca: &Ca, method: &str, path: &str) -> (u16, String) {
    let connector = tokio_rustls::TlsConnector::from(rustls_client(ca, None));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut s = connector.connect(name, tcp).await.expect("TLS handshake");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn plaintext_and_silent_clients_on_the_tls_port() {
    let pki = Pki::new();
    let (b, tls) = start(with_amqp_tls(pki.tls(Verify::VerifyNone, false))).await;
    // A client that opens the socket and says nothing does not hold up others.
    let _silent = tokio::net::TcpStream::connect(tls).await.expect("tcp");
    // Plain AMQP sent to the TLS port: the broker closes the socket.
    let mut plain = tokio::net::TcpStream::connect(tls).await.expect("tcp");
    plain
        .write_all(b"AMQP\x00\x00\x09\x01")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match plain.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue, // a TLS alert, then the close
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the broker closes a plaintext client");
    let conn = connect_tls(tls, "", Pem::lapin_tls(&pki.ca, None))
        .await
        .expect("a TLS client gets in beside the silent one");
    round_trip(&conn, b"alive").await;
    common::assert_broker_works(&b.url()).await;
}

#[tokio::test]
async fn tls_only_node_has_no_plain_listener() {
    let pki = Pki::new();
    let mut config = with_amqp_tls(pki.tls(Verify::VerifyNone, false));
    let dir = tempfile::tempdir().unwrap();
    config.data_dir = dir.path().to_path_buf();
    config.amqp.listen = String::new();
    config.http.listen = "127.0.0.1:0".into();
    let server = warren::Server::start(config).await.expect("starts");
    assert_eq!(Some(server.amqp_addr), server.amqps_addr);
    let conn = connect_tls(server.amqp_addr, "", Pem::lapin_tls(&pki.ca, None))
        .await
        .expect("TLS only");
    round_trip(&conn, b"only tls").await;
    let url = format!("amqp://guest:guest@{}/%2f", server.amqp_addr);
    let plain = lapin::Connection::connect(&url, lapin::ConnectionProperties::default());
    let r = tokio::time::timeout(Duration::from_secs(10), plain).await;
    assert!(!matches!(r, Ok(Ok(_))), "plain AMQP on the TLS port");
    server.shutdown().await;
}

/// Certificate files a test can break one way or another.
fn broken_config(dir: &Path, certfile: &Path, keyfile: &Path, extra: &str) -> std::path::PathBuf {
    let text = format!(
        "data_dir = \"{}\"\n[amqp]\nlisten = \"127.0.0.1:0\"\n[amqp.tls]\nlisten = \"127.0.0.1:0\"\ncertfile = \"{}\"\nkeyfile = \"{}\"\n{extra}[http]\nlisten = \"127.0.0.1:0\"\n",
        dir.join("data").display(),
        certfile.display(),
        keyfile.display()
    );
    // One file per configuration: a test builds several before running them.
    let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    let p = dir.join(format!("warren-{n}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn run_binary(config: &Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warren"))
        .arg("--config")
        .arg(config)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tls_config_errors_name_the_key_and_the_file() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let other = pki.ca.server(d, "other");
    let garbage = d.join("garbage.pem");
    std::fs::write(&garbage, "hello").unwrap();
    let missing = d.join("missing.pem");
    let cases: Vec<(std::path::PathBuf, &str, Vec<String>)> = vec![
        (
            broken_config(d, &missing, &pki.server.keyfile, ""),
            "missing certfile",
            vec!["amqp.tls.certfile".into(), missing.display().to_string()],
        ),
        (
            broken_config(d, &garbage, &pki.server.keyfile, ""),
            "no certificate",
            vec![
                "amqp.tls.certfile".into(),
                "garbage.pem".into(),
                "no certificate".into(),
            ],
        ),
        (
            broken_config(d, &pki.server.certfile, &garbage, ""),
            "no key",
            vec![
                "amqp.tls.keyfile".into(),
                "garbage.pem".into(),
                "no private key".into(),
            ],
        ),
        (
            broken_config(d, &pki.server.certfile, &other.keyfile, ""),
            "key of another certificate",
            vec![
                "amqp.tls.keyfile".into(),
                other.keyfile.display().to_string(),
                "does not match".into(),
            ],
        ),
        (
            broken_config(
                d,
                &pki.server.certfile,
                &pki.server.keyfile,
                "versions = [\"tlsv1.0\"]\n",
            ),
            "unknown version",
            vec![
                "amqp.tls.versions".into(),
                ".toml:".into(),
                "tlsv1.0".into(),
            ],
        ),
        (
            broken_config(
                d,
                &pki.server.certfile,
                &pki.server.keyfile,
                "ciphers = [\"AES128-SHA\"]\n",
            ),
            "unknown cipher",
            vec!["amqp.tls.ciphers".into(), "AES128-SHA".into()],
        ),
        (
            broken_config(
                d,
                &pki.server.certfile,
                &pki.server.keyfile,
                "verify = \"verify_peer\"\ncacertfile = \"/nonexistent/ca.pem\"\n",
            ),
            "missing CA file",
            vec!["amqp.tls.cacertfile".into(), "/nonexistent/ca.pem".into()],
        ),
    ];
    for (config, what, needles) in cases {
        let (code, err) = run_binary(&config);
        assert_ne!(code, Some(0), "{what}: started");
        for n in &needles {
            assert!(err.contains(n.as_str()), "{what}: {n:?} not in: {err}");
        }
    }
}

#[tokio::test]
async fn sighup_reloads_the_certificate() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let config = broken_config(d, &pki.server.certfile, &pki.server.keyfile, "");
    let b = common::ChildBroker::spawn(&["--config", config.to_str().unwrap()]);
    let line = b
        .wait_for_log("AMQP TLS listening on ", Duration::from_secs(10))
        .await
        .expect("TLS listener");
    let tls: SocketAddr = line
        .split("AMQP TLS listening on ")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let old = connect_tls(tls, "", Pem::lapin_tls(&pki.ca, None))
        .await
        .expect("first certificate");
    let ca2 = Ca::new("Second CA");
    let second = ca2.server(d, "server-2");
    std::fs::copy(&second.certfile, &pki.server.certfile).unwrap();
    std::fs::copy(&second.keyfile, &pki.server.keyfile).unwrap();
    b.signal("HUP");
    b.wait_for_log("SIGHUP: reloaded 1 TLS listener", Duration::from_secs(10))
        .await
        .expect("reload logged");
    connect_tls(tls, "", Pem::lapin_tls(&ca2, None))
        .await
        .expect("new certificate after SIGHUP");
    round_trip(&old, b"kept").await;
    b.stop();
}

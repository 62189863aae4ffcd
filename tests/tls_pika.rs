//! A Python client over TLS: pika (with Python's ssl module, i.e. OpenSSL) against a real
//! Warren with an AMQPS listener that verifies peers. tests/tls_pika/client.py does the
//! talking; this test makes the certificates (rcgen), starts the broker and judges the
//! script's exit status. pika is a test requirement: without it the test fails and says
//! how to install it (`.ci/run` installs it).

use crate::common;
use common::certs::Ca;
use common::TestBroker;
use std::time::Duration;
use warren::config::{Config, TlsConfig, Verify};

#[tokio::test]
async fn pika_over_tls_plain_external_and_an_unknown_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ca = Ca::new("Warren test CA");
    let ca_file = ca.write(d, "ca.crt");
    let server = ca.server(d, "server");
    let client = ca.client(d, "client", false);
    let stranger = Ca::new("Someone else").client(d, "stranger", false);

    let mut config = Config::default();
    // `guest` (administrator, for the management API) and `client` (the CN of the client
    // certificate, for EXTERNAL).
    common::add_users(
        &mut config,
        &[("guest", &["administrator"]), ("client", &[])],
    );
    config.amqp.tls = Some(TlsConfig {
        listen: "127.0.0.1:0".into(),
        certfile: server.certfile.clone(),
        keyfile: server.keyfile.clone(),
        cacertfile: Some(ca_file.clone()),
        verify: Verify::VerifyPeer,
        // PLAIN comes without a certificate; EXTERNAL and the stranger bring one.
        fail_if_no_peer_cert: false,
        versions: vec!["tlsv1.2".into(), "tlsv1.3".into()],
        ciphers: vec![],
    });
    let b = TestBroker::start_with(tempfile::tempdir().expect("tempdir"), config).await;
    let amqps = b
        .server
        .as_ref()
        .and_then(|s| s.amqps_addr)
        .expect("TLS listener");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls_pika/client.py");
    let run = tokio::process::Command::new("python3")
        .arg(script)
        .arg(amqps.port().to_string())
        .arg(b.http_addr.port().to_string())
        .args([&ca_file, &client.certfile, &client.keyfile])
        .args([&stranger.certfile, &stranger.keyfile])
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(Duration::from_secs(120), run).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("python3 does not run ({e}): install Python 3 and pika"),
        Err(_) => panic!("{script} still runs after 120 s"),
    };
    let text = format!(
        "{script} said:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(
        out.status.code(),
        Some(2),
        "pika is missing; install it with `python3 -m pip install pika`\n{text}"
    );
    assert!(out.status.success(), "{}\n{text}", out.status);
    assert!(text.contains("0 of 3 checks failed"), "{text}");
    println!("{text}");
}

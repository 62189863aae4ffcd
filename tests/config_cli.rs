//! The `warren` command line and configuration file: `--print-config`, rejected keys and
//! values (naming the culprit), and `[[users]]`/`[[vhosts]]`/`[[permissions]]` seeding.

use crate::common;
use common::raw::RawClient;
use common::{amqp_code, ChildBroker};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary to completion (at most 20 s) with the given arguments.
fn warren(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns warren");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("warren {args:?} did not exit within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    f.write_all(text.as_bytes()).expect("write config");
    f.flush().unwrap();
    f
}

fn path(f: &tempfile::NamedTempFile) -> &str {
    f.path().to_str().expect("utf-8 temp path")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every line is blank, a comment, a `[table]`/`[[array]]` header or `key = value`.
fn assert_toml_shaped(text: &str) {
    for line in text.lines().map(str::trim) {
        let ok = line.is_empty()
            || line.starts_with('#')
            || (line.starts_with('[') && line.ends_with(']'))
            || line
                .split_once(" = ")
                .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty());
        assert!(ok, "not a TOML line: {line:?}\n{text}");
    }
}

#[test]
fn print_config_prints_the_defaults_as_toml_that_loads_back() {
    let out = warren(&["--print-config"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.lines().any(|l| l.trim() == "[amqp]"), "{text}");
    assert!(
        text.lines().any(|l| l.trim() == "frame_max = 131072"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.trim() == "channel_max = 2047"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.trim() == "heartbeat = 60"), "{text}");
    assert_toml_shaped(&text);
    // The printed configuration is accepted by the (strict) loader and prints the same.
    let f = config_file(&text);
    let again = warren(&["--config", path(&f), "--print-config"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text);
}

#[test]
fn print_config_shows_file_and_flag_overrides() {
    let f = config_file("[amqp]\nframe_max = 8192\nheartbeat = 7\n");
    let out = warren(&[
        "--config",
        path(&f),
        "--amqp-listen",
        "127.0.0.1:5999",
        "--print-config",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("frame_max = 8192"), "{text}");
    assert!(text.contains("heartbeat = 7"), "{text}");
    assert!(text.contains("listen = \"127.0.0.1:5999\""), "{text}");
}

#[test]
fn unknown_key_in_the_config_file_is_rejected_by_name() {
    let f = config_file("[amqp]\nbogus = 1\n");
    let out = warren(&["--config", path(&f)]);
    assert!(!out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("amqp.bogus"), "{err}");
    assert!(err.contains(path(&f)), "the file is named: {err}");
}

#[test]
fn bad_value_in_the_config_file_is_rejected_by_name() {
    let f = config_file("[amqp]\nframe_max = \"abc\"\n");
    let out = warren(&["--config", path(&f)]);
    assert!(!out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("frame_max"), "{err}");
}

#[test]
fn frame_max_below_the_protocol_minimum_is_rejected() {
    let f = config_file("[amqp]\nframe_max = 100\n");
    let out = warren(&["--config", path(&f)]);
    assert!(!out.status.success(), "{out:?}");
    assert!(stderr(&out).contains("frame_max"), "{}", stderr(&out));
}

#[test]
fn bad_listen_flag_is_rejected_by_name() {
    let out = warren(&["--amqp-listen", "nonsense"]);
    assert!(!out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("--amqp-listen"), "{err}");
    assert!(err.contains("nonsense"), "{err}");
}

#[test]
fn missing_config_file_is_an_error_naming_it() {
    let out = warren(&["--config", "/nonexistent/warren-test.toml"]);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stderr(&out).contains("/nonexistent/warren-test.toml"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn users_from_the_config_file_replace_the_default_guest() {
    let f = config_file(
        r#"
[[users]]
name = "alice"
password = "pw"
tags = ["administrator"]

[[vhosts]]
name = "/"

[[permissions]]
user = "alice"
vhost = "/"
configure = ".*"
write = ".*"
read = ".*"
"#,
    );
    let broker = ChildBroker::spawn(&["--config", path(&f)]);
    let props = lapin::ConnectionProperties::default;
    let alice =
        lapin::Connection::connect(&format!("amqp://alice:pw@{}/%2f", broker.addr), props())
            .await
            .expect("alice can log in");
    let ch = alice.create_channel().await.expect("alice opens a channel");
    ch.queue_declare(
        "alice-q".into(),
        lapin::options::QueueDeclareOptions::default(),
        lapin::types::FieldTable::default(),
    )
    .await
    .expect("alice has configure permission");
    let wrong =
        lapin::Connection::connect(&format!("amqp://alice:nope@{}/%2f", broker.addr), props())
            .await
            .expect_err("a wrong password is refused");
    assert_eq!(amqp_code(&wrong), Some(403), "{wrong}");
    let guest = lapin::Connection::connect(&broker.url(), props())
        .await
        .expect_err("no guest user when the file names users");
    assert_eq!(amqp_code(&guest), Some(403), "{guest}");
}

#[tokio::test]
async fn a_config_naming_no_users_keeps_guest_and_applies_the_tuning() {
    let f = config_file("[amqp]\nframe_max = 8192\nheartbeat = 7\nchannel_max = 100\n");
    let broker = ChildBroker::spawn(&["--config", path(&f)]);
    let raw = RawClient::open(broker.addr).await;
    let tune = raw.tune.clone().unwrap();
    assert_eq!(
        (tune.frame_max, tune.heartbeat, tune.channel_max),
        (8192, 7, 100)
    );
    let conn = lapin::Connection::connect(&broker.url(), lapin::ConnectionProperties::default())
        .await
        .expect("guest exists when the file names no users");
    conn.close(200, "bye".into()).await.unwrap();
}

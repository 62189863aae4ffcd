//! `warren ctl` as a person runs it: the real binary against a real broker (in-process,
//! on its own ports), each command's effect checked through the API or over AMQP.

use crate::common;
use common::TestBroker;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, ExchangeKind};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use warren::ctl::client::Client;

/// What one run of `warren ctl` did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{self:#?}");
        self
    }

    /// The table's lines, split at tabs (the header first).
    fn rows(&self) -> Vec<Vec<String>> {
        self.stdout
            .lines()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect()
    }

    fn has_row(&self, row: &[&str]) -> bool {
        self.rows().iter().any(|r| r == row)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}

/// Runs `warren ctl ARGS` (no `--url` added), feeding `stdin` if given.
async fn ctl_raw(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_warren"));
    cmd.arg("ctl")
        .args(args)
        .env_remove("WARREN_CTL_URL")
        .env_remove("WARREN_CTL_USER")
        .env_remove("WARREN_CTL_PASSWORD")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("warren ctl starts");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input).await.expect("writes stdin");
        drop(pipe);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("warren ctl ends within 60 s")
        .expect("warren ctl runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn url_of(b: &TestBroker) -> String {
    format!("http://{}", b.http_addr)
}

/// Runs `warren ctl --url <b's API> ARGS`.
async fn ctl(b: &TestBroker, args: &[&str]) -> Run {
    let url = url_of(b);
    let mut all = vec!["--url", url.as_str()];
    all.extend_from_slice(args);
    ctl_raw(&all, None, &[]).await
}

async fn ctl_stdin(b: &TestBroker, args: &[&str], stdin: &[u8]) -> Run {
    let url = url_of(b);
    let mut all = vec!["--url", url.as_str()];
    all.extend_from_slice(args);
    ctl_raw(&all, Some(stdin), &[]).await
}

async fn status_of(api: &Client, path: &str) -> u16 {
    api.get(path).await.expect("API answers").status
}

async fn amqp_login(
    b: &TestBroker,
    user: &str,
    password: &str,
    vhost: &str,
) -> lapin::Result<lapin::Connection> {
    let vhost: String = url_encode(vhost);
    let url = format!("amqp://{user}:{password}@{}/{vhost}", b.addr);
    lapin::Connection::connect(&url, Default::default()).await
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|c| match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (c as char).to_string(),
            _ => format!("%{c:02X}"),
        })
        .collect()
}

/// Publishes `n` messages to queue `q` through the default exchange, confirmed.
async fn publish(ch: &lapin::Channel, q: &str, n: usize) {
    for i in 0..n {
        ch.basic_publish(
            "".into(),
            q.into(),
            BasicPublishOptions::default(),
            format!("m{i}").as_bytes(),
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirmed");
    }
}

async fn confirming_channel(conn: &lapin::Connection) -> lapin::Channel {
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    ch
}

#[tokio::test]
async fn users_are_added_changed_tagged_listed_and_deleted() {
    let b = TestBroker::start().await;
    let api = b.api();
    let r = ctl(&b, &["add_user", "ann", "s3cret"]).await;
    r.ok();
    assert!(r.stderr.contains("Adding user \"ann\" ..."), "{r:#?}");
    ctl(&b, &["set_permissions", "ann", ".*", ".*", ".*"])
        .await
        .ok();
    amqp_login(&b, "ann", "s3cret", "/")
        .await
        .expect("ann logs in over AMQP");

    // A second add_user refuses (and leaves her as she is).
    ctl(&b, &["set_user_tags", "ann", "management", "monitoring"])
        .await
        .ok();
    let r = ctl(&b, &["add_user", "ann", "other"]).await;
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert_eq!(
        r.stderr.lines().last(),
        Some("Error: user \"ann\" already exists")
    );
    amqp_login(&b, "ann", "s3cret", "/")
        .await
        .expect("the password did not change");

    // Tags are replaced and the password kept.
    let user = api.get("/api/users/ann").await.unwrap().json();
    assert_eq!(user["tags"], json!(["management", "monitoring"]));
    let ann = Client::new(&b.http_addr.to_string(), "ann", "s3cret");
    assert_eq!(
        status_of(&ann, "/api/whoami").await,
        200,
        "tags let her use the API"
    );

    // A new password: the old one fails, the new one works, the tags stay.
    ctl(&b, &["change_password", "ann", "-new-pw"]).await.ok();
    assert!(amqp_login(&b, "ann", "s3cret", "/").await.is_err());
    amqp_login(&b, "ann", "-new-pw", "/")
        .await
        .expect("the new password works");
    let user = api.get("/api/users/ann").await.unwrap().json();
    assert_eq!(user["tags"], json!(["management", "monitoring"]));

    let r = ctl(&b, &["list_users"]).await;
    r.ok();
    assert_eq!(r.rows()[0], ["name", "tags"]);
    assert!(r.has_row(&["ann", "[management, monitoring]"]), "{r:#?}");
    assert!(r.has_row(&["guest", "[administrator]"]), "{r:#?}");
    let r = ctl(&b, &["--format", "json", "list_users"]).await;
    r.ok();
    let names: Vec<Value> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert!(
        names.contains(&json!("ann")) && names.contains(&json!("guest")),
        "{names:?}"
    );

    // No tags at all: she can no longer use the API, but still log in over AMQP.
    ctl(&b, &["set_user_tags", "ann"]).await.ok();
    assert_eq!(
        api.get("/api/users/ann").await.unwrap().json()["tags"],
        json!([])
    );
    assert_eq!(status_of(&ann, "/api/whoami").await, 401);
    amqp_login(&b, "ann", "-new-pw", "/")
        .await
        .expect("still logs in");

    ctl(&b, &["delete_user", "ann"]).await.ok();
    assert_eq!(status_of(&api, "/api/users/ann").await, 404);
    let r = ctl(&b, &["delete_user", "ann"]).await;
    assert_eq!(
        (r.code, r.stderr.lines().last()),
        (Some(1), Some("Error: Not Found"))
    );
    let r = ctl(&b, &["change_password", "nobody", "x"]).await;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("Error: user \"nobody\" does not exist"),
        "{r:#?}"
    );
}

#[tokio::test]
async fn vhosts_and_permissions_are_managed_with_names_encoded() {
    let b = TestBroker::start().await;
    let api = b.api();
    // A name with a slash, a space and a percent sign travels percent-encoded.
    let vh = "team a/50%";
    ctl(&b, &["add_vhost", vh, "--description", "the A team"])
        .await
        .ok();
    let v = api.get("/api/vhosts/team%20a%2F50%25").await.unwrap();
    assert_eq!(v.status, 200);
    assert_eq!(v.json()["description"], "the A team");
    let r = ctl(&b, &["add_vhost", vh]).await;
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("already exists"), "{r:#?}");
    let r = ctl(&b, &["list_vhosts"]).await;
    r.ok();
    assert_eq!(r.rows(), [vec!["name"], vec!["/"], vec![vh]]);
    let r = ctl(&b, &["list_vhosts", "name", "description"]).await;
    assert!(r.ok().has_row(&[vh, "the A team"]), "{r:#?}");
    let r = ctl(&b, &["--format", "json", "list_vhosts", "name"]).await;
    assert_eq!(r.ok().json(), json!([{"name": "/"}, {"name": vh}]));

    ctl(&b, &["add_user", "bob", "pw"]).await.ok();
    ctl(
        &b,
        &["set_permissions", "-p", vh, "bob", "^bob-", ".*", ".*"],
    )
    .await
    .ok();
    let p = api
        .get("/api/permissions/team%20a%2F50%25/bob")
        .await
        .unwrap()
        .json();
    assert_eq!(
        (p["configure"].as_str(), p["write"].as_str()),
        (Some("^bob-"), Some(".*"))
    );
    // Bob may declare his queues there, and only his.
    let conn = amqp_login(&b, "bob", "pw", vh).await.expect("bob logs in");
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "bob-q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("his own queue");
    let refused = ch
        .queue_declare(
            "other".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_eq!(
        refused.err().as_ref().and_then(common::amqp_code),
        Some(403)
    );

    let r = ctl(&b, &["list_permissions", "-p", vh]).await;
    r.ok();
    assert_eq!(r.rows()[0], ["user", "configure", "write", "read"]);
    assert!(r.has_row(&["bob", "^bob-", ".*", ".*"]), "{r:#?}");
    assert!(
        r.has_row(&["guest", ".*", ".*", ".*"]),
        "the creator has them: {r:#?}"
    );
    let r = ctl(&b, &["list_user_permissions", "bob"]).await;
    assert_eq!(
        r.ok().rows(),
        [
            vec!["vhost", "configure", "write", "read"],
            vec![vh, "^bob-", ".*", ".*"]
        ]
    );

    ctl(&b, &["clear_permissions", "-p", vh, "bob"]).await.ok();
    assert_eq!(
        status_of(&api, "/api/permissions/team%20a%2F50%25/bob").await,
        404
    );
    assert!(
        amqp_login(&b, "bob", "pw", vh).await.is_err(),
        "bob is shut out"
    );
    let r = ctl(&b, &["list_user_permissions", "bob"]).await;
    assert_eq!(r.ok().rows(), [vec!["vhost", "configure", "write", "read"]]);

    ctl(&b, &["delete_vhost", vh]).await.ok();
    assert_eq!(status_of(&api, "/api/vhosts/team%20a%2F50%25").await, 404);
    let r = ctl(&b, &["set_permissions", "-p", vh, "bob", ".*", ".*", ".*"]).await;
    assert_eq!(
        (r.code, r.stderr.lines().last()),
        (Some(1), Some("Error: vhost_or_user_not_found"))
    );
}

#[tokio::test]
async fn policies_are_set_listed_applied_and_cleared() {
    let b = TestBroker::start().await;
    let r = ctl(
        &b,
        &[
            "set_policy",
            "--priority",
            "3",
            "--apply-to",
            "queues",
            "cap",
            "^cap-",
            r#"{"max-length": 2}"#,
        ],
    )
    .await;
    r.ok();
    let r = ctl(&b, &["list_policies"]).await;
    r.ok();
    assert_eq!(
        r.rows()[0],
        [
            "vhost",
            "name",
            "pattern",
            "apply-to",
            "definition",
            "priority"
        ]
    );
    assert!(
        r.has_row(&["/", "cap", "^cap-", "queues", r#"{"max-length":2}"#, "3"]),
        "{r:#?}"
    );
    let r = ctl(&b, &["--format", "json", "list_policies", "-p", "/"]).await;
    let listed = r.ok().json();
    assert_eq!(listed[0]["definition"], json!({"max-length": 2}));
    assert_eq!(listed[0]["apply-to"], "queues");

    // The policy applies: a matching queue keeps two messages.
    let conn = b.connect().await;
    let ch = confirming_channel(&conn).await;
    common::declare_queue(&ch, "cap-1").await;
    publish(&ch, "cap-1", 5).await;
    assert_eq!(common::ready_count(&ch, "cap-1").await, 2);

    ctl(&b, &["clear_policy", "cap"]).await.ok();
    let r = ctl(&b, &["list_policies"]).await;
    assert_eq!(
        r.ok().rows(),
        [vec![
            "vhost",
            "name",
            "pattern",
            "apply-to",
            "definition",
            "priority"
        ]]
    );
    publish(&ch, "cap-1", 5).await;
    assert_eq!(
        common::ready_count(&ch, "cap-1").await,
        7,
        "no limit any more"
    );
    let r = ctl(&b, &["clear_policy", "cap"]).await;
    assert_eq!(
        (r.code, r.stderr.lines().last()),
        (Some(1), Some("Error: Not Found"))
    );
}

#[tokio::test]
async fn queues_exchanges_and_bindings_are_listed_purged_and_deleted() {
    let b = TestBroker::start().await;
    let api = b.api();
    let conn = b.connect().await;
    let ch = confirming_channel(&conn).await;
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), lapin::types::AMQPValue::LongInt(100));
    ch.queue_declare("work".into(), QueueDeclareOptions::default(), args)
        .await
        .unwrap();
    common::declare_queue(&ch, "idle").await;
    publish(&ch, "work", 3).await;

    let r = ctl(&b, &["list_queues"]).await;
    assert_eq!(
        r.ok().rows(),
        [
            vec!["name", "messages"],
            vec!["idle", "0"],
            vec!["work", "3"]
        ]
    );
    let r = ctl(
        &b,
        &[
            "-q",
            "--no-table-headers",
            "list_queues",
            "name",
            "durable",
            "arguments.x-max-length",
        ],
    )
    .await;
    assert_eq!(
        r.ok().rows(),
        [vec!["idle", "false", ""], vec!["work", "false", "100"]]
    );
    assert_eq!(r.stderr, "", "--quiet leaves out the progress line");
    let r = ctl(
        &b,
        &[
            "list_queues",
            "-p",
            "/",
            "--format",
            "json",
            "name",
            "messages_ready",
        ],
    )
    .await;
    assert_eq!(
        r.ok().json(),
        json!([{"name": "idle", "messages_ready": 0}, {"name": "work", "messages_ready": 3}])
    );

    ch.exchange_declare(
        "ev.x".into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        "work".into(),
        "ev.x".into(),
        "a.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let r = ctl(&b, &["list_exchanges"]).await;
    r.ok();
    assert_eq!(r.rows()[0], ["name", "type"]);
    assert!(
        r.has_row(&["ev.x", "topic"]) && r.has_row(&["amq.fanout", "fanout"]),
        "{r:#?}"
    );
    let r = ctl(&b, &["list_bindings"]).await;
    r.ok();
    assert_eq!(
        r.rows()[0],
        [
            "source",
            "destination_type",
            "destination",
            "routing_key",
            "arguments"
        ]
    );
    assert!(r.has_row(&["ev.x", "queue", "work", "a.#", "{}"]), "{r:#?}");
    assert!(
        r.has_row(&["", "queue", "idle", "idle", "{}"]),
        "the default binding: {r:#?}"
    );
    let r = ctl(&b, &["list_bindings", "source", "routing_key"]).await;
    assert!(r.ok().has_row(&["ev.x", "a.#"]), "{r:#?}");

    // delete_queue --if-empty refuses a queue with messages, with the API's reason.
    let r = ctl(&b, &["delete_queue", "--if-empty", "work"]).await;
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert!(
        r.stderr
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("Error: ") && l.contains("not empty")),
        "{r:#?}"
    );
    ctl(&b, &["purge_queue", "work"]).await.ok();
    assert_eq!(common::ready_count(&ch, "work").await, 0);
    let r = ctl(&b, &["delete_queue", "-e", "work"]).await;
    r.ok();
    assert!(
        r.stderr.contains("Deleting queue \"work\" in vhost \"/\""),
        "{r:#?}"
    );
    assert_eq!(status_of(&api, "/api/queues/%2F/work").await, 404);
    let r = ctl(&b, &["list_queues"]).await;
    assert_eq!(r.ok().rows(), [vec!["name", "messages"], vec!["idle", "0"]]);

    // An unknown vhost or queue: the API's 404 reason.
    for args in [
        &["list_queues", "-p", "nowhere"][..],
        &["purge_queue", "missing"],
        &["delete_queue", "-p", "nowhere", "idle"],
    ] {
        let r = ctl(&b, args).await;
        assert_eq!(
            (r.code, r.stderr.lines().last()),
            (Some(1), Some("Error: Not Found")),
            "{args:?}"
        );
        assert_eq!(r.stdout, "");
    }
}

#[tokio::test]
async fn definitions_are_exported_and_imported_into_another_broker() {
    let b = TestBroker::start().await;
    ctl(&b, &["add_vhost", "shop"]).await.ok();
    ctl(&b, &["add_user", "carl", "pw"]).await.ok();
    ctl(
        &b,
        &["set_permissions", "-p", "shop", "carl", ".*", ".*", ".*"],
    )
    .await
    .ok();
    ctl(
        &b,
        &[
            "set_policy",
            "-p",
            "shop",
            "ttl",
            "^orders",
            r#"{"message-ttl": 60000}"#,
        ],
    )
    .await
    .ok();
    b.api()
        .put("/api/queues/shop/orders", &json!({"durable": true}))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("defs.json");
    let file = file.to_str().unwrap();
    let r = ctl(&b, &["export_definitions", file]).await;
    r.ok();
    assert_eq!(r.stdout, "");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert!(saved["queues"]
        .as_array()
        .unwrap()
        .iter()
        .any(|q| q["name"] == "orders"));

    // Into a second broker from the file: the user logs in there, the queue and the policy
    // are there.
    let other = TestBroker::start().await;
    let r = ctl(&other, &["import_definitions", file]).await;
    r.ok();
    let api2 = other.api();
    assert_eq!(status_of(&api2, "/api/queues/shop/orders").await, 200);
    let q = api2.get("/api/queues/shop/orders").await.unwrap().json();
    assert_eq!(q["policy"], "ttl");
    amqp_login(&other, "carl", "pw", "shop")
        .await
        .expect("carl logs in on the second broker");

    // Through stdout and stdin into a third one.
    let r = ctl(&b, &["export_definitions", "-"]).await;
    let exported = r.ok().json();
    assert_eq!(exported, saved, "stdout carries the same definitions");
    let third = TestBroker::start().await;
    ctl_stdin(&third, &["import_definitions", "-"], r.stdout.as_bytes())
        .await
        .ok();
    assert_eq!(
        status_of(&third.api(), "/api/queues/shop/orders").await,
        200
    );

    // Bad input: not JSON, a missing file, definitions naming an unknown vhost.
    let r = ctl_stdin(&third, &["import_definitions", "-"], b"{not json").await;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("Error: standard input is not JSON"),
        "{r:#?}"
    );
    let r = ctl(&third, &["import_definitions", "/nonexistent/defs.json"]).await;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("Error: cannot read /nonexistent/defs.json"),
        "{r:#?}"
    );
    let bad = json!({"queues": [{"name": "q", "vhost": "ghost", "durable": true, "auto_delete": false, "arguments": {}}]});
    let r = ctl_stdin(
        &third,
        &["import_definitions", "-"],
        bad.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stderr.lines().last(),
        Some(r#"Error: ["no_such_vhost","ghost"]"#)
    );
}

#[tokio::test]
async fn status_reports_the_node() {
    let b = TestBroker::start().await;
    let conn = b.connect().await;
    let ch = confirming_channel(&conn).await;
    common::declare_queue(&ch, "s1").await;
    publish(&ch, "s1", 2).await;
    let r = ctl(&b, &["status"]).await;
    r.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    let amqp = format!(
        "Interface: 127.0.0.1, port: {}, protocol: amqp",
        b.addr.port()
    );
    let http = format!(
        "Interface: 127.0.0.1, port: {}, protocol: http",
        b.http_addr.port()
    );
    for want in [
        "Node: warren@localhost",
        "Product name: Warren",
        "RabbitMQ version: 3.10.8",
        amqp.as_str(),
        http.as_str(),
        "Queues: 1",
        "Messages: 2",
        "(none)",
    ] {
        assert!(lines.contains(&want), "{want:?} missing: {r:#?}");
    }
    let pid = format!("OS PID: {}", std::process::id());
    assert!(lines.contains(&pid.as_str()), "{r:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Used: ") && l.ends_with(" bytes)")),
        "{r:#?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("Free: ")), "{r:#?}");
    let r = ctl(&b, &["status", "--format", "json"]).await;
    let v = r.ok().json();
    assert_eq!(v["overview"]["node"], "warren@localhost");
    assert_eq!(v["node"]["name"], "warren@localhost");
    assert_eq!(v["overview"]["queue_totals"]["messages"], 2);
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn await_startup_waits_for_the_api() {
    let b = TestBroker::start().await;
    ctl(&b, &["await_startup"]).await.ok();

    // Nothing listening: it gives up after the timeout, saying why.
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let r = ctl_raw(
        &["--url", &url, "await_startup", "--timeout", "1"],
        None,
        &[],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert!(
        r.stderr
            .contains("Error: the broker did not start within 1 s"),
        "{r:#?}"
    );
    assert!(r.stderr.contains(&format!("127.0.0.1:{port}")), "{r:#?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "{took:?}"
    );

    // A broker that comes up while it waits.
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let waiting = tokio::spawn(async move {
        ctl_raw(
            &["--url", &url, "await_startup", "--timeout", "30"],
            None,
            &[],
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!waiting.is_finished(), "it waits while nothing answers");
    let dir = tempfile::tempdir().unwrap();
    let mut config = warren::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    config.amqp.listen = "127.0.0.1:0".into();
    config.http.listen = format!("127.0.0.1:{port}");
    let server = warren::Server::start(config).await.expect("starts");
    let r = waiting.await.unwrap();
    assert_eq!(r.code, Some(0), "{r:#?}");
    server.shutdown().await;

    // Wrong credentials end the wait at once: waiting would not fix them.
    let started = Instant::now();
    let r = ctl(
        &b,
        &["--password", "nope", "await_startup", "--timeout", "20"],
    )
    .await;
    assert_eq!(
        (r.code, r.stderr.lines().last()),
        (Some(1), Some("Error: Login failed"))
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn errors_are_reported_with_their_reason_and_exit_code() {
    let b = TestBroker::start().await;
    // A bad password: exit 1 and the API's reason.
    let r = ctl(&b, &["--password", "wrong", "list_queues"]).await;
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stderr.lines().last(), Some("Error: Login failed"));
    assert_eq!(r.stdout, "");
    // A user without the administrator tag.
    ctl(&b, &["add_user", "mon", "pw"]).await.ok();
    ctl(&b, &["set_user_tags", "mon", "monitoring"]).await.ok();
    let r = ctl(
        &b,
        &["--user", "mon", "--password", "pw", "add_user", "x", "y"],
    )
    .await;
    assert_eq!(
        (r.code, r.stderr.lines().last()),
        (Some(1), Some("Error: Not administrator user"))
    );

    // Nothing listening: the message names the address.
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let r = ctl_raw(&["--url", &url, "list_vhosts"], None, &[]).await;
    assert_eq!(r.code, Some(1));
    let last = r.stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with(&format!(
            "Error: could not reach the management API at {url}"
        )),
        "{r:#?}"
    );

    // Usage errors exit 2 (clap's, and a bad --url).
    for args in [
        &["no_such_command"][..],
        &["add_user", "just-a-name"],
        &["set_policy", "p", ".*", "{not json"],
        &["list_queues", "--format", "xml"],
        &["--url", "https://127.0.0.1:1", "list_vhosts"],
        &["--url", "http://127.0.0.1:99999", "list_vhosts"],
        &["close_connection", "c", "two\nlines"],
        &[],
    ] {
        let r = ctl_raw(args, None, &[]).await;
        assert_eq!(r.code, Some(2), "{args:?}: {r:#?}");
        assert!(!r.stderr.is_empty(), "{args:?}");
    }
    let r = ctl_raw(&["--help"], None, &[]).await;
    assert_eq!(r.code, Some(0));
    assert!(
        r.stdout.contains("list_queues") && r.stdout.contains("await_startup"),
        "{r:#?}"
    );

    // The environment gives the defaults.
    let url = url_of(&b);
    let env = [
        ("WARREN_CTL_URL", url.as_str()),
        ("WARREN_CTL_USER", "mon"),
        ("WARREN_CTL_PASSWORD", "pw"),
    ];
    let r = ctl_raw(&["list_vhosts"], None, &env).await;
    assert_eq!(r.ok().rows(), [vec!["name"], vec!["/"]]);
    let env = [
        ("WARREN_CTL_URL", url.as_str()),
        ("WARREN_CTL_PASSWORD", "bad"),
    ];
    let r = ctl_raw(&["list_vhosts"], None, &env).await;
    assert_eq!(r.stderr.lines().last(), Some("Error: Login failed"));
}

#[tokio::test]
async fn the_broker_is_still_started_without_ctl() {
    // `warren --print-config` (no subcommand) is the broker's command line, as before.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--amqp-listen", "127.0.0.1:5999", "--print-config"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("127.0.0.1:5999"), "{text}");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--help"])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("warren ctl --help"));
}

#[tokio::test]
async fn connections_and_consumers_are_listed() {
    let b = TestBroker::start().await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    common::declare_queue(&ch, "jobs").await;
    let _consumer = ch
        .basic_consume(
            "jobs".into(),
            "worker-1".into(),
            Default::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let r = ctl(&b, &["list_connections", "user", "vhost"]).await;
    assert_eq!(r.ok().rows(), [vec!["user", "vhost"], vec!["guest", "/"]]);
    let r = ctl(&b, &["--format", "json", "list_connections"]).await;
    assert_eq!(r.ok().json().as_array().map(Vec::len), Some(1));
    let r = ctl(&b, &["list_consumers"]).await;
    r.ok();
    assert_eq!(
        r.rows()[0],
        [
            "queue.name",
            "consumer_tag",
            "ack_required",
            "prefetch_count",
            "active",
            "arguments"
        ]
    );
    assert!(
        r.rows().iter().any(|row| row[..2] == ["jobs", "worker-1"]),
        "{r:#?}"
    );
}

#[tokio::test]
async fn close_connection_closes_it_with_the_reason() {
    let b = TestBroker::start().await;
    let conn = b.connect().await;
    let r = ctl(&b, &["--format", "json", "list_connections", "name"]).await;
    let name = r.ok().json()[0]["name"]
        .as_str()
        .expect("a name")
        .to_string();
    ctl(&b, &["close_connection", &name, "maintenance now"])
        .await
        .ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    while conn.status().connected() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!conn.status().connected(), "the broker closed it");
    // The broker forgets it once the client's close-ok arrives, just after.
    let mut r = ctl(&b, &["list_connections"]).await;
    while r.ok().rows().len() > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        r = ctl(&b, &["list_connections"]).await;
    }
    assert_eq!(r.ok().rows().len(), 1, "only the header: {r:#?}");
    let r = ctl(&b, &["close_connection", &name, "again"]).await;
    assert_eq!(r.code, Some(1));
}

//! Shared test inputs and helpers for the configuration's unit tests.

use super::Config;

pub(super) const EXAMPLE: &str = r#"
data_dir = "./warren-data"
node_name = "warren@localhost"
[amqp]
listen = "127.0.0.1:5672"
frame_max = 131072
channel_max = 2047
heartbeat = 60
[http]
listen = "127.0.0.1:15672"
[resources]
memory_high_watermark = 0.4
disk_free_limit = "50MB"
[[users]]
name = "admin"
password = "s3cret"
tags = ["administrator"]
[[vhosts]]
name = "/"
[[permissions]]
user = "admin"
vhost = "/"
configure = ".*"
write = ".*"
read = ".*"
"#;

fn err(src: &str) -> String {
    match Config::from_toml_str(src) {
        Ok(c) => panic!("expected an error for {src:?}, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn assert_err_contains(src: &str, needles: &[&str]) {
    let msg = err(src);
    for needle in needles {
        assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
    }
}

pub(super) const POLICIES: &str = r#"
[[policies]]
name = "ttl"
pattern = "^q\\."
definition = { "message-ttl" = 60000, "dead-letter-exchange" = "dlx" }

[[policies]]
name = "ae"
vhost = "shop"
pattern = "^orders$"
apply_to = "exchanges"
priority = 5
definition = { "alternate-exchange" = "unrouted" }

[[operator_policies]]
name = "cap"
pattern = ".*"
apply_to = "queues"
priority = -1
definition = { "max-length" = 100000, "expires" = 3600000 }
"#;

pub(super) fn json_map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap_or_default()
}

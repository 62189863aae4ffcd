//! The node: `status` (from `/api/overview` and `/api/nodes`) and `await_startup`.

use crate::ctl::api::Api;
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::output::{write_stdout, Format, Output};
use hyper::Method;
use serde_json::{json, Value};
use std::fmt::Write;
use std::time::{Duration, Instant};

pub(super) async fn status(api: &Api, out: &Output) -> CtlResult<()> {
    let overview = api.get_json(&Api::path(&["overview"])?).await?;
    let nodes = api.get_json(&Api::path(&["nodes"])?).await?;
    let name = overview.get("node").cloned().unwrap_or(Value::Null);
    let node = match &nodes {
        Value::Array(all) => all
            .iter()
            .find(|n| n.get("name") == Some(&name))
            .or_else(|| all.first())
            .cloned()
            .unwrap_or(Value::Null),
        _ => Value::Null,
    };
    if out.format == Format::Json {
        return out.json(&json!({"overview": overview, "node": node}));
    }
    out.info(&format!("Status of node {} ...", text(&overview, "node")));
    write_stdout(&report(&overview, &node))
}

/// The status report, in sections as `rabbitmqctl status` prints it.
fn report(ov: &Value, node: &Value) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "Runtime\n");
    let _ = writeln!(r, "Node: {}", text(ov, "node"));
    let _ = writeln!(r, "OS PID: {}", text(node, "os_pid"));
    let uptime = node.get("uptime").and_then(Value::as_u64);
    let uptime = uptime.map_or("unknown".into(), |ms| (ms / 1000).to_string());
    let _ = writeln!(r, "Uptime (seconds): {uptime}");
    let _ = writeln!(r, "Processors: {}", text(node, "processors"));
    let _ = writeln!(r, "Product name: {}", text(ov, "product_name"));
    let _ = writeln!(r, "Product version: {}", text(ov, "product_version"));
    let _ = writeln!(r, "RabbitMQ version: {}", text(ov, "rabbitmq_version"));
    let _ = writeln!(r, "Management version: {}", text(ov, "management_version"));
    let _ = writeln!(r, "Cluster name: {}", text(ov, "cluster_name"));

    let _ = writeln!(r, "\nListeners\n");
    let listeners = ov.get("listeners").and_then(Value::as_array);
    for l in listeners.map(Vec::as_slice).unwrap_or_default() {
        let _ = writeln!(
            r,
            "Interface: {}, port: {}, protocol: {}",
            text(l, "ip_address"),
            text(l, "port"),
            text(l, "protocol")
        );
    }

    let _ = writeln!(r, "\nMemory\n");
    let _ = writeln!(r, "Used: {}", bytes(node, "mem_used"));
    let _ = writeln!(r, "High watermark: {}", bytes(node, "mem_limit"));
    let _ = writeln!(
        r,
        "File descriptors: {} of {}",
        text(node, "fd_used"),
        text(node, "fd_total")
    );

    let _ = writeln!(r, "\nDisk\n");
    let _ = writeln!(r, "Free: {}", bytes(node, "disk_free"));
    let _ = writeln!(r, "Free space limit: {}", bytes(node, "disk_free_limit"));

    let _ = writeln!(r, "\nAlarms\n");
    let mut alarms = Vec::new();
    if node.get("mem_alarm") == Some(&Value::Bool(true)) {
        alarms.push("memory");
    }
    if node.get("disk_free_alarm") == Some(&Value::Bool(true)) {
        alarms.push("free disk space");
    }
    let _ = writeln!(
        r,
        "{}",
        if alarms.is_empty() {
            "(none)".to_string()
        } else {
            alarms.join(", ")
        }
    );

    let _ = writeln!(r, "\nTotals\n");
    for (label, key) in [
        ("Connections", "object_totals.connections"),
        ("Channels", "object_totals.channels"),
        ("Queues", "object_totals.queues"),
        ("Exchanges", "object_totals.exchanges"),
        ("Consumers", "object_totals.consumers"),
        ("Messages", "queue_totals.messages"),
        ("Messages ready", "queue_totals.messages_ready"),
        (
            "Messages unacknowledged",
            "queue_totals.messages_unacknowledged",
        ),
    ] {
        if let Some(v) = crate::ctl::output::lookup(ov, key) {
            let _ = writeln!(r, "{label}: {}", crate::ctl::output::cell(Some(v)));
        }
    }
    r
}

/// A field as text; `unknown` when the API did not give it.
fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => "unknown".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A byte count, readable (`1.5 GiB (1610612736 bytes)`).
fn bytes(v: &Value, key: &str) -> String {
    let Some(n) = v.get(key).and_then(Value::as_u64) else {
        return text(v, key);
    };
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let (mut size, mut unit) = (n as f64, 0);
    while size >= 1024.0 && unit + 1 < units.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{size:.1} {} ({n} bytes)", units[unit])
    }
}

/// Polls `GET /api/overview` until it answers 200. A 401 ends the wait at once: the
/// broker is up and waiting will not change the login.
pub(super) async fn await_startup(api: &mut Api, out: &Output, timeout: Duration) -> CtlResult<()> {
    out.info(&format!(
        "Waiting for the management API at {} to answer (at most {} s) ...",
        api.url(),
        timeout.as_secs_f64()
    ));
    let path = Api::path(&["overview"])?;
    let deadline = Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        api.set_timeout(remaining.clamp(Duration::from_millis(100), Duration::from_secs(5)));
        let last = match api.send(Method::GET, &path, &[], None).await {
            Ok(r) if r.status == 200 => {
                out.info("The broker is up.");
                return Ok(());
            }
            Ok(r) if r.status == 401 => return Err(CtlError::from_answer(r.status, &r.body)),
            Ok(r) => format!(
                "HTTP {}: {}",
                r.status,
                CtlError::from_answer(r.status, &r.body)
            ),
            Err(e) => e.to_string(),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(CtlError::other(format!(
                "the broker did not start within {} s ({last})",
                timeout.as_secs_f64()
            )));
        }
        tokio::time::sleep(remaining.min(Duration::from_millis(200))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_has_every_section_and_readable_sizes() {
        let ov = json!({
            "node": "warren@h", "product_name": "Warren", "product_version": "0.1.0",
            "rabbitmq_version": "3.10.8", "management_version": "3.10.8",
            "listeners": [{"protocol": "amqp", "ip_address": "127.0.0.1", "port": 5672}],
            "object_totals": {"queues": 2, "exchanges": 7, "consumers": 0},
            "queue_totals": {"messages": 3},
        });
        let node = json!({"mem_used": 1536, "mem_alarm": false, "disk_free_alarm": true,
                          "uptime": 12_345, "disk_free": 5});
        let r = report(&ov, &node);
        for line in [
            "Product name: Warren",
            "RabbitMQ version: 3.10.8",
            "Interface: 127.0.0.1, port: 5672, protocol: amqp",
            "Used: 1.5 KiB (1536 bytes)",
            "Free: 5 bytes",
            "Uptime (seconds): 12",
            "free disk space",
            "Queues: 2",
            "Messages: 3",
            "Cluster name: unknown",
        ] {
            assert!(r.lines().any(|l| l == line), "{line:?} missing from:\n{r}");
        }
        assert!(!r.contains("Connections:"), "absent totals are left out");
    }
}

//! The node as the API shows it: overview, nodes, health checks, aliveness test.

use lapin::ConnectionProperties;
use serde_json::Value;

use super::util::*;
use crate::runner::{Case, CaseResult, Problem};
use crate::support::*;

pub fn cases() -> Vec<Case> {
    let mut v = crate::cases!("mgmt.overview";
        keys_and_types,
        listeners_include_amqp_port,
        exchange_types,
        message_stats_after_traffic,
        object_totals_count_a_new_queue,
    );
    v.extend(crate::cases!("mgmt.nodes";
        list_keys,
        node_by_name,
    ));
    v.extend(crate::cases!("mgmt.health";
        alarms_ok,
        local_alarms_ok,
        port_listener_amqp_ok,
        port_listener_closed_port_503,
        protocol_listener_amqp_ok,
        protocol_listener_missing_503,
        virtual_hosts_ok,
        certificate_expiration_ok,
        node_is_mirror_sync_critical_ok,
        node_is_quorum_critical_ok,
        aliveness_test,
    ));
    v
}

fn amqp_port(ctx: &Ctx) -> Result<u16, Problem> {
    let uri: amq_protocol::uri::AMQPUri = ctx
        .url()
        .parse()
        .map_err(|e| Problem::Fail(format!("bad url: {e}")))?;
    Ok(uri.authority.port)
}

// ---- overview ----

async fn keys_and_types(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let o = a.get("/api/overview").await?;
    has_keys(
        &o,
        &[
            "management_version",
            "rabbitmq_version",
            "product_name",
            "product_version",
            "cluster_name",
            "node",
            "exchange_types",
            "object_totals",
            "queue_totals",
            "listeners",
            "contexts",
            "message_stats",
            "rates_mode",
        ],
        "overview",
    )?;
    for k in [
        "management_version",
        "rabbitmq_version",
        "cluster_name",
        "node",
        "rates_mode",
    ] {
        ensure!(
            o[k].is_string(),
            "overview.{k}: expected a string, got {}",
            o[k]
        );
    }
    let t = &o["object_totals"];
    has_keys(
        t,
        &[
            "connections",
            "channels",
            "exchanges",
            "queues",
            "consumers",
        ],
        "object_totals",
    )?;
    for k in [
        "connections",
        "channels",
        "exchanges",
        "queues",
        "consumers",
    ] {
        ensure!(
            t[k].is_u64(),
            "object_totals.{k}: expected a count, got {}",
            t[k]
        );
    }
    ensure!(o["queue_totals"].is_object(), "queue_totals: not an object");
    ensure!(
        o["message_stats"].is_object(),
        "message_stats: not an object"
    );
    ensure!(o["listeners"].is_array(), "listeners: not an array");
    ensure!(o["contexts"].is_array(), "contexts: not an array");
    // Columns select keys of the overview too.
    let c = a.get("/api/overview?columns=object_totals,node").await?;
    let mut keys: Vec<&String> = c
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    keys.sort();
    ensure_eq!(keys, vec!["node", "object_totals"], "overview?columns keys");
    Ok(())
}

async fn listeners_include_amqp_port(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let port = amqp_port(&ctx)?;
    let o = a.get("/api/overview").await?;
    let l = array(&o["listeners"], "listeners")?;
    let amqp = l
        .iter()
        .find(|x| x["protocol"] == "amqp" && x["port"] == port)
        .ok_or_else(|| {
            Problem::Fail(format!(
                "no amqp listener on port {port}: {}",
                o["listeners"]
            ))
        })?;
    has_keys(
        amqp,
        &["node", "protocol", "ip_address", "port", "socket_opts"],
        "listener",
    )?;
    ensure!(
        amqp["ip_address"].is_string(),
        "listener ip_address: not a string"
    );
    Ok(())
}

async fn exchange_types(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let o = a.get("/api/overview").await?;
    let mut types = names(&o["exchange_types"]);
    types.sort();
    for t in ["direct", "fanout", "headers", "topic"] {
        ensure!(
            types.iter().any(|x| x == t),
            "exchange type {t} not in overview.exchange_types {types:?}"
        );
    }
    for x in array(&o["exchange_types"], "exchange_types")? {
        has_keys(x, &["name", "description", "enabled"], "exchange type")?;
    }
    Ok(())
}

fn publish_count(o: &Value) -> u64 {
    o["message_stats"]["publish"].as_u64().unwrap_or(0)
}

async fn message_stats_after_traffic(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let before = publish_count(&a.get("/api/overview").await?);
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 0..3 {
        publish(&ch, "", &q, &format!("m{i}")).await?;
    }
    wait_count(&ch, &q, 3).await?;
    let stats = a
        .poll(
            "/api/overview",
            &format!("message_stats.publish at least {}", before + 3),
            STATS,
            |o| (publish_count(o) >= before + 3).then(|| o["message_stats"].clone()),
        )
        .await?;
    ensure!(
        stats["publish_details"]["rate"].is_number(),
        "message_stats.publish_details.rate: not a number: {stats}"
    );
    Ok(())
}

async fn object_totals_count_a_new_queue(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(&obj("queues", &v, "q"), serde_json::json!({}), 201)
        .await?;
    // Other users of the broker create and delete queues too: only check that
    // the total counts at least this one, and that the per-vhost list has it.
    let o = a.get("/api/overview").await?;
    ensure!(
        o["object_totals"]["queues"].as_u64().unwrap_or(0) >= 1,
        "object_totals.queues: {}",
        o["object_totals"]
    );
    let l = a.get(&format!("/api/queues/{}", enc(&v))).await?;
    ensure_eq!(names(&l), vec!["q"], "queues in the new vhost");
    Ok(())
}

// ---- nodes ----

fn check_node(n: &Value, what: &str) -> CaseResult {
    has_keys(
        n,
        &[
            "name",
            "type",
            "running",
            "mem_used",
            "mem_limit",
            "mem_alarm",
            "fd_used",
            "fd_total",
            "disk_free",
            "disk_free_limit",
            "disk_free_alarm",
            "uptime",
            "processors",
        ],
        what,
    )?;
    ensure!(n["name"].is_string(), "{what}.name: not a string");
    // A RAM node of a cluster says "ram".
    let kind = n["type"].as_str();
    ensure!(
        matches!(kind, Some("disc" | "ram")),
        "{what}.type: expected disc or ram, got {kind:?}"
    );
    ensure_eq!(n["running"].as_bool(), Some(true), "{what}.running");
    ensure_eq!(n["mem_alarm"].as_bool(), Some(false), "{what}.mem_alarm");
    ensure_eq!(
        n["disk_free_alarm"].as_bool(),
        Some(false),
        "{what}.disk_free_alarm"
    );
    for k in ["mem_used", "fd_used", "disk_free", "mem_limit", "uptime"] {
        ensure!(
            n[k].as_u64().is_some_and(|x| x > 0),
            "{what}.{k}: expected a positive number, got {}",
            n[k]
        );
    }
    Ok(())
}

async fn list_keys(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let l = a.get("/api/nodes").await?;
    let l = array(&l, "/api/nodes")?;
    ensure!(!l.is_empty(), "/api/nodes is empty");
    check_node(&l[0], "node")
}

async fn node_by_name(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let o = a.get("/api/overview").await?;
    let name = o["node"].as_str().unwrap_or_default().to_string();
    let n = a.get(&format!("/api/nodes/{}", enc(&name))).await?;
    check_node(&n, "node")?;
    ensure_eq!(n["name"].as_str(), Some(name.as_str()), "node name");
    Ok(())
}

// ---- health checks ----

async fn check_ok(ctx: &Ctx, path: &str) -> Result<Value, Problem> {
    let v = api(ctx)?.get(path).await?;
    ensure_eq!(v["status"].as_str(), Some("ok"), "GET {path}: status");
    Ok(v)
}

async fn alarms_ok(ctx: Ctx) -> CaseResult {
    check_ok(&ctx, "/api/health/checks/alarms")
        .await
        .map(|_| ())
}

async fn local_alarms_ok(ctx: Ctx) -> CaseResult {
    check_ok(&ctx, "/api/health/checks/local-alarms")
        .await
        .map(|_| ())
}

async fn port_listener_amqp_ok(ctx: Ctx) -> CaseResult {
    let port = amqp_port(&ctx)?;
    let v = check_ok(&ctx, &format!("/api/health/checks/port-listener/{port}")).await?;
    ensure_eq!(v["port"].as_u64(), Some(port as u64), "port");
    Ok(())
}

async fn port_listener_closed_port_503(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let r = a
        .expect("GET", "/api/health/checks/port-listener/1", None, 503)
        .await?;
    let v = r.json()?;
    ensure_eq!(v["status"].as_str(), Some("failed"), "status");
    ensure_eq!(v["reason"].as_str(), Some("No active listener"), "reason");
    ensure_eq!(v["missing"].as_u64(), Some(1), "missing");
    let port = amqp_port(&ctx)?;
    ensure!(
        array(&v["ports"], "ports")?.iter().any(|p| p == port),
        "ports {} lack the AMQP port {port}",
        v["ports"]
    );
    Ok(())
}

async fn protocol_listener_amqp_ok(ctx: Ctx) -> CaseResult {
    let v = check_ok(&ctx, "/api/health/checks/protocol-listener/amqp").await?;
    ensure_eq!(v["protocol"].as_str(), Some("amqp"), "protocol");
    Ok(())
}

async fn protocol_listener_missing_503(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let r = a
        .expect(
            "GET",
            "/api/health/checks/protocol-listener/mqtt",
            None,
            503,
        )
        .await?;
    let v = r.json()?;
    ensure_eq!(v["status"].as_str(), Some("failed"), "status");
    ensure_eq!(v["reason"].as_str(), Some("No active listener"), "reason");
    ensure_eq!(v["missing"].as_str(), Some("mqtt"), "missing");
    ensure!(
        array(&v["protocols"], "protocols")?
            .iter()
            .any(|p| p == "amqp"),
        "protocols {} lack amqp",
        v["protocols"]
    );
    Ok(())
}

async fn virtual_hosts_ok(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    // A vhost being created by someone else can be reported down for a
    // moment (503 "Some virtual hosts are down"): poll for ok.
    let path = "/api/health/checks/virtual-hosts";
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = a.call("GET", path, None).await?;
        let body = r.json()?;
        if r.status == 200 {
            ensure_eq!(body["status"].as_str(), Some("ok"), "GET {path}: status");
            break;
        }
        ensure!(
            r.status == 503 && body["status"] == "failed",
            "GET {path}: expected 200 or 503 with status failed, got {}: {}",
            r.status,
            r.body
        );
        ensure!(
            !strings(&body["virtual-hosts"]).contains(&v),
            "GET {path}: a vhost created and idle is down: {}",
            r.body
        );
        if tokio::time::Instant::now() >= deadline {
            fail!(
                "GET {path}: still failing after {}s: {}",
                WAIT.as_secs(),
                r.body
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(())
}

async fn certificate_expiration_ok(ctx: Ctx) -> CaseResult {
    check_ok(&ctx, "/api/health/checks/certificate-expiration/1/months")
        .await
        .map(|_| ())
}

async fn node_is_mirror_sync_critical_ok(ctx: Ctx) -> CaseResult {
    check_ok(&ctx, "/api/health/checks/node-is-mirror-sync-critical")
        .await
        .map(|_| ())
}

async fn node_is_quorum_critical_ok(ctx: Ctx) -> CaseResult {
    check_ok(&ctx, "/api/health/checks/node-is-quorum-critical")
        .await
        .map(|_| ())
}

async fn aliveness_test(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    check_ok(&ctx, &format!("/api/aliveness-test/{}", enc(&v))).await?;
    a.get_404(&format!("/api/aliveness-test/{}", enc(&ctx.name("nope"))))
        .await?;
    // The vhost still works over AMQP afterwards.
    let conn = ctx
        .connect_url(&ctx.url_in(&v)?, ConnectionProperties::default())
        .await?;
    conn.create_channel().await.ctx("channel.open")?;
    Ok(())
}

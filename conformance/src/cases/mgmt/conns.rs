//! Connections, channels and consumers as the API lists them, and closing a
//! connection through the API.

use std::time::Duration;

use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::ConnectionProperties;
use serde_json::{json, Value};

use super::util::*;
use crate::raw::RawConn;
use crate::runner::{Case, CaseResult, Problem};
use crate::support::*;

pub fn cases() -> Vec<Case> {
    crate::cases!("mgmt.connections";
        listed_with_user_provided_name,
        listed_per_vhost_and_user,
        channels_listed_with_confirm_and_prefetch,
        consumers_listed,
        close_with_reason_320,
        close_missing_404,
    )
}

/// A raw connection to `vhost` named `name` (client property connection_name).
async fn named_conn(ctx: &Ctx, vhost: &str, name: &str) -> Result<RawConn, Problem> {
    Ok(RawConn::open_with(&ctx.url_in(vhost)?, |h| {
        h.client_properties
            .insert("connection_name".into(), AMQPValue::LongString(name.into()));
    })
    .await?)
}

/// Poll a listing until an item with `key` == `value` shows up.
async fn listed(a: &Api, path: &str, key: &str, value: &str) -> Result<Value, Problem> {
    a.poll(path, &format!("item with {key} {value}"), STATS, |l| {
        find(l, key, value).cloned()
    })
    .await
}

async fn listed_with_user_provided_name(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let name = ctx.name("conn");
    let mut c = named_conn(&ctx, &v, &name).await?;
    let conn = listed(&a, "/api/connections", "user_provided_name", &name).await?;
    has_keys(
        &conn,
        &[
            "name",
            "user",
            "vhost",
            "user_provided_name",
            "protocol",
            "auth_mechanism",
            "client_properties",
            "node",
            "peer_host",
            "peer_port",
            "host",
            "port",
            "connected_at",
            "type",
        ],
        "connection",
    )?;
    let hs = crate::raw::Handshake::from_url(ctx.url())?;
    ensure_eq!(
        (
            conn["user"].as_str(),
            conn["vhost"].as_str(),
            conn["protocol"].as_str(),
            conn["auth_mechanism"].as_str(),
            conn["type"].as_str()
        ),
        (
            Some(hs.user.as_str()),
            Some(v.as_str()),
            Some("AMQP 0-9-1"),
            Some("PLAIN"),
            Some("network")
        ),
        "connection (user, vhost, protocol, auth_mechanism, type)"
    );
    ensure_eq!(
        conn["client_properties"]["connection_name"].as_str(),
        Some(name.as_str()),
        "client_properties.connection_name"
    );
    let cname = conn["name"].as_str().unwrap_or_default().to_string();
    let one = a.get(&format!("/api/connections/{}", enc(&cname))).await?;
    ensure_eq!(
        one["name"].as_str(),
        Some(cname.as_str()),
        "connection by name"
    );
    ensure_eq!(
        one["user_provided_name"].as_str(),
        Some(name.as_str()),
        "user_provided_name of the connection by name"
    );
    c.close().await?;
    drop(c);
    a.poll("/api/connections", "closed connection gone", STATS, |l| {
        find(l, "user_provided_name", &name).is_none().then_some(())
    })
    .await?;
    a.get_404(&format!("/api/connections/{}", enc(&cname)))
        .await
}

async fn listed_per_vhost_and_user(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let other = a.vhost("other").await?;
    let (u, p) = a.new_user("u", "").await?;
    a.permit_all(&v, &u).await?;
    let name = ctx.name("conn");
    let _c = RawConn::open_with(&ctx.url_as(&u, &p, &v)?, |h| {
        h.client_properties.insert(
            "connection_name".into(),
            AMQPValue::LongString(name.as_str().into()),
        );
    })
    .await?;
    let per_vhost = format!("/api/vhosts/{}/connections", enc(&v));
    listed(&a, &per_vhost, "user_provided_name", &name).await?;
    let l = a.get(&per_vhost).await?;
    ensure_eq!(
        array(&l, "connections")?.len(),
        1,
        "connections in the vhost"
    );
    let l = a
        .get(&format!("/api/vhosts/{}/connections", enc(&other)))
        .await?;
    ensure_eq!(
        array(&l, "connections")?.len(),
        0,
        "connections in another vhost"
    );
    let l = a
        .get(&format!("/api/connections/username/{}", enc(&u)))
        .await?;
    ensure_eq!(
        array(&l, "connections")?.len(),
        1,
        "connections of the user"
    );
    ensure_eq!(
        l[0]["user"].as_str(),
        Some(u.as_str()),
        "user of the connection"
    );
    Ok(())
}

async fn channels_listed_with_confirm_and_prefetch(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    // ctx names lapin connections after the case.
    let conn = ctx
        .connect_url(&ctx.url_in(&v)?, ConnectionProperties::default())
        .await?;
    let ch1 = conn.create_channel().await.ctx("channel.open")?;
    confirm_select(&ch1).await?;
    ch1.basic_qos(7, BasicQosOptions::default())
        .await
        .ctx("basic.qos")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    let c = listed(&a, "/api/connections", "user_provided_name", ctx.case()).await?;
    let cname = c["name"].as_str().unwrap_or_default().to_string();
    let path = format!("/api/connections/{}/channels", enc(&cname));
    let chans = a
        .poll(
            &path,
            "two channels, one in confirm mode with prefetch 7",
            STATS,
            |l| {
                let l = l.as_array()?;
                (l.len() == 2
                    && l.iter()
                        .any(|c| c["confirm"] == true && c["prefetch_count"] == 7))
                .then(|| l.clone())
            },
        )
        .await?;
    let first = chans
        .iter()
        .find(|c| c["number"] == ch1.id())
        .ok_or_else(|| Problem::Fail(format!("channel {} not listed", ch1.id())))?;
    has_keys(
        first,
        &[
            "name",
            "number",
            "connection_details",
            "vhost",
            "user",
            "confirm",
            "transactional",
            "prefetch_count",
            "global_prefetch_count",
            "consumer_count",
            "messages_unacknowledged",
            "state",
        ],
        "channel",
    )?;
    ensure_eq!(
        (
            first["confirm"].as_bool(),
            first["transactional"].as_bool(),
            first["prefetch_count"].as_u64()
        ),
        (Some(true), Some(false), Some(7)),
        "first channel (confirm, transactional, prefetch_count)"
    );
    ensure_eq!(
        first["connection_details"]["name"].as_str(),
        Some(cname.as_str()),
        "connection_details.name"
    );
    ensure_eq!(first["vhost"].as_str(), Some(v.as_str()), "channel vhost");
    let second = chans
        .iter()
        .find(|c| c["number"] == ch2.id())
        .ok_or_else(|| Problem::Fail(format!("channel {} not listed", ch2.id())))?;
    ensure_eq!(
        (
            second["confirm"].as_bool(),
            second["prefetch_count"].as_u64()
        ),
        (Some(false), Some(0)),
        "second channel (confirm, prefetch_count)"
    );
    let chname = first["name"].as_str().unwrap_or_default().to_string();
    let one = a.get(&format!("/api/channels/{}", enc(&chname))).await?;
    ensure_eq!(one["number"], first["number"], "channel by name: number");
    let per_vhost = a.get(&format!("/api/vhosts/{}/channels", enc(&v))).await?;
    ensure_eq!(
        array(&per_vhost, "channels")?.len(),
        2,
        "channels of the vhost"
    );
    ensure!(
        find(&a.get("/api/channels").await?, "name", &chname).is_some(),
        "channel not in /api/channels"
    );
    Ok(())
}

async fn consumers_listed(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let conn = ctx
        .connect_url(&ctx.url_in(&v)?, ConnectionProperties::default())
        .await?;
    let ch = conn.create_channel().await.ctx("channel.open")?;
    ch.queue_declare(
        "q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("queue.declare")?;
    ch.basic_qos(5, BasicQosOptions::default())
        .await
        .ctx("basic.qos")?;
    let _consumer = ch
        .basic_consume(
            "q".into(),
            "my-tag".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .ctx("basic.consume")?;
    let path = format!("/api/consumers/{}", enc(&v));
    // channel_details are filled in from channel statistics.
    let c = a
        .poll(&path, "consumer my-tag with channel_details", STATS, |l| {
            find(l, "consumer_tag", "my-tag")
                .filter(|c| !c["channel_details"]["number"].is_null())
                .cloned()
        })
        .await?;
    has_keys(
        &c,
        &[
            "consumer_tag",
            "queue",
            "channel_details",
            "ack_required",
            "exclusive",
            "prefetch_count",
            "arguments",
            "active",
        ],
        "consumer",
    )?;
    ensure_eq!(
        (
            c["queue"]["name"].as_str(),
            c["queue"]["vhost"].as_str(),
            c["ack_required"].as_bool(),
            c["exclusive"].as_bool(),
            c["prefetch_count"].as_u64(),
            c["active"].as_bool()
        ),
        (
            Some("q"),
            Some(v.as_str()),
            Some(true),
            Some(false),
            Some(5),
            Some(true)
        ),
        "consumer (queue.name, queue.vhost, ack_required, exclusive, prefetch_count, active)"
    );
    ensure_eq!(c["arguments"], json!({}), "arguments");
    ensure_eq!(
        c["channel_details"]["number"].as_u64(),
        Some(ch.id() as u64),
        "channel_details.number"
    );
    ensure!(
        array(&a.get("/api/consumers").await?, "consumers")?
            .iter()
            .any(|x| x["consumer_tag"] == "my-tag" && x["queue"]["vhost"] == v.as_str()),
        "consumer not in /api/consumers"
    );
    a.poll(&obj("queues", &v, "q"), "consumers 1", STATS, |q| {
        (q["consumers"] == 1).then_some(())
    })
    .await
}

async fn close_with_reason_320(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let name = ctx.name("victim");
    let mut c = named_conn(&ctx, &v, &name).await?;
    let conn = listed(&a, "/api/connections", "user_provided_name", &name).await?;
    let cname = conn["name"].as_str().unwrap_or_default().to_string();
    let r =
        a.m.send(
            "DELETE",
            &format!("/api/connections/{}", enc(&cname)),
            None,
            None,
            &[("X-Reason", "closed by the conformance suite")],
        )
        .await?;
    ensure_eq!(
        r.status,
        204,
        "DELETE /api/connections/{{name}}: status ({})",
        r.body
    );
    crate::cases::errors::expect_hard(
        &mut c,
        320,
        "CONNECTION_FORCED - closed by the conformance suite",
    )
    .await?;
    a.poll(
        "/api/connections",
        "closed connection gone",
        Duration::from_secs(10),
        |l| find(l, "user_provided_name", &name).is_none().then_some(()),
    )
    .await?;
    Ok(())
}

async fn close_missing_404(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let r = a
        .call(
            "DELETE",
            &format!("/api/connections/{}", enc("127.0.0.1:1 -> 127.0.0.1:2")),
            None,
        )
        .await?;
    ensure_eq!(r.status, 404, "DELETE of a missing connection: status");
    Ok(())
}

//! Vhosts, exchanges, queues and bindings through the API, and that what the
//! API does is what AMQP clients see.

use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use serde_json::json;

use super::util::*;
use crate::runner::{Case, CaseResult, Problem};
use crate::support::*;

pub fn cases() -> Vec<Case> {
    let mut v = crate::cases!("mgmt.vhosts";
        crud_round_trip,
        missing_404,
        creator_gets_permissions,
        delete_removes_its_queues,
    );
    v.extend(crate::cases!("mgmt.exchanges";
        declare_get_list_delete,
        inequivalent_type_400,
        bindings_source_and_destination,
        publish_routed_true_and_false,
        publish_to_missing_exchange_400,
        publish_properties_and_base64,
        delete_if_unused,
        missing_exchange_404,
    ));
    v.extend(crate::cases!("mgmt.queues";
        declare_with_arguments_and_type,
        inequivalent_durable_400,
        amqp_sees_api_declared_queue,
        message_counts_in_listing,
        consumer_details,
        get_ack_modes,
        get_encoding_and_truncate,
        purge_contents,
        delete_if_empty,
        delete,
    ));
    v.extend(crate::cases!("mgmt.bindings";
        create_location_and_listings,
        get_and_delete_by_properties_key,
        arguments_binding_by_properties_key,
        plain_properties_key_is_quoted_routing_key,
        listed_properties_key_with_escapes_finds_the_binding,
        default_exchange_implicit_bindings,
        exchange_to_exchange,
        missing_objects_404,
    ));
    v
}

// ---- vhosts ----

async fn crud_round_trip(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = ctx.name("v");
    let path = format!("/api/vhosts/{}", enc(&v));
    ctx.track_api_delete(&path);
    a.put(
        &path,
        json!({"description": "first", "tags": "a,b", "tracing": true}),
        201,
    )
    .await?;
    let g = a.get(&path).await?;
    has_keys(
        &g,
        &[
            "name",
            "description",
            "tags",
            "tracing",
            "metadata",
            "cluster_state",
        ],
        "vhost",
    )?;
    ensure_eq!(g["name"].as_str(), Some(v.as_str()), "name");
    ensure_eq!(g["description"].as_str(), Some("first"), "description");
    ensure_eq!(strings(&g["tags"]), vec!["a", "b"], "tags");
    ensure_eq!(g["tracing"].as_bool(), Some(true), "tracing");
    ensure_eq!(
        g["metadata"]["description"].as_str(),
        Some("first"),
        "metadata.description"
    );
    a.put(
        &path,
        json!({"description": "second", "tags": ["c"], "tracing": false}),
        204,
    )
    .await?;
    let g = a.get(&path).await?;
    ensure_eq!(
        g["description"].as_str(),
        Some("second"),
        "description after update"
    );
    ensure_eq!(strings(&g["tags"]), vec!["c"], "tags after update");
    ensure_eq!(g["tracing"].as_bool(), Some(false), "tracing after update");
    let all = a.get("/api/vhosts").await?;
    ensure!(names(&all).contains(&v), "vhost not in /api/vhosts");
    a.delete(&path).await?;
    a.get_404(&path).await?;
    let r = a.call("DELETE", &path, None).await?;
    expect_error(
        &r,
        404,
        "Object Not Found",
        Some("Not Found"),
        "DELETE of a deleted vhost",
    )
}

async fn missing_exchange_404(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.get_404(&obj("exchanges", &v, "no-such-exchange")).await?;
    let r = a
        .call("DELETE", &obj("exchanges", &v, "nope"), None)
        .await?;
    ensure_eq!(r.status, 404, "DELETE of a missing exchange: status");
    Ok(())
}

async fn missing_404(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    a.get_404(&format!("/api/vhosts/{}", enc(&ctx.name("nope"))))
        .await
}

async fn creator_gets_permissions(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let p = a
        .get(&format!("/api/permissions/{}/{}", enc(&v), enc(a.user())))
        .await?;
    ensure_eq!(
        (
            p["configure"].as_str(),
            p["write"].as_str(),
            p["read"].as_str()
        ),
        (Some(".*"), Some(".*"), Some(".*")),
        "the creator's permissions in a new vhost"
    );
    let ch = channel_in(&ctx, &v).await?;
    ch.queue_declare(
        "q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("queue.declare in the new vhost")?;
    Ok(())
}

async fn delete_removes_its_queues(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(&obj("queues", &v, "q"), json!({"durable": true}), 201)
        .await?;
    a.delete(&format!("/api/vhosts/{}", enc(&v))).await?;
    let r = a.call("GET", &obj("queues", &v, "q"), None).await?;
    ensure_eq!(r.status, 404, "GET of a queue in a deleted vhost: status");
    // A vhost of the same name starts empty.
    a.put(&format!("/api/vhosts/{}", enc(&v)), json!({}), 201)
        .await?;
    let l = a.get(&format!("/api/queues/{}", enc(&v))).await?;
    ensure_eq!(
        names(&l),
        Vec::<String>::new(),
        "queues in the recreated vhost"
    );
    Ok(())
}

// ---- exchanges ----

async fn declare_get_list_delete(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let path = obj("exchanges", &v, "x");
    let body = json!({"type": "topic", "durable": true, "auto_delete": false,
                      "internal": false, "arguments": {"alternate-exchange": "ae"}});
    a.put(&path, body.clone(), 201).await?;
    a.put(&path, body, 204).await?;
    let x = a.get(&path).await?;
    has_keys(
        &x,
        &[
            "name",
            "vhost",
            "type",
            "durable",
            "auto_delete",
            "internal",
            "arguments",
        ],
        "exchange",
    )?;
    ensure_eq!(
        (
            x["name"].as_str(),
            x["vhost"].as_str(),
            x["type"].as_str(),
            x["durable"].as_bool(),
            x["auto_delete"].as_bool(),
            x["internal"].as_bool()
        ),
        (
            Some("x"),
            Some(v.as_str()),
            Some("topic"),
            Some(true),
            Some(false),
            Some(false)
        ),
        "exchange (name, vhost, type, durable, auto_delete, internal)"
    );
    ensure_eq!(
        x["arguments"],
        json!({"alternate-exchange": "ae"}),
        "arguments"
    );
    let mut listed = names(&a.get(&format!("/api/exchanges/{}", enc(&v))).await?);
    listed.sort();
    ensure_eq!(
        listed,
        vec![
            "",
            "amq.direct",
            "amq.fanout",
            "amq.headers",
            "amq.match",
            "amq.rabbitmq.trace",
            "amq.topic",
            "x"
        ],
        "exchanges of a new vhost with one declared"
    );
    // AMQP sees it, with the same type.
    let ch = channel_in(&ctx, &v).await?;
    ch.exchange_declare(
        "x".into(),
        lapin::ExchangeKind::Topic,
        lapin::options::ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .ctx("passive exchange.declare of the API-declared exchange")?;
    a.delete(&path).await?;
    a.get_404(&path).await
}

async fn inequivalent_durable_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let path = obj("queues", &v, "q");
    a.put(&path, json!({"durable": true}), 201).await?;
    let r = a
        .call("PUT", &path, Some(json!({"durable": false})))
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some(&format!(
            "inequivalent arg 'durable' for queue 'q' in vhost '{v}': received 'false' but current is 'true'"
        )),
        "queue redeclared with another durable",
    )
}

async fn inequivalent_type_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let path = obj("exchanges", &v, "x");
    a.put(&path, json!({"type": "topic"}), 201).await?;
    let r = a
        .call("PUT", &path, Some(json!({"type": "direct"})))
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some(&format!(
            "inequivalent arg 'type' for exchange 'x' in vhost '{v}': received 'direct' but current is 'topic'"
        )),
        "exchange redeclared with another type",
    )
}

async fn bindings_source_and_destination(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(&obj("exchanges", &v, "src"), json!({"type": "direct"}), 201)
        .await?;
    a.put(&obj("exchanges", &v, "dst"), json!({"type": "fanout"}), 201)
        .await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    let ve = enc(&v);
    a.post(
        &format!("/api/bindings/{ve}/e/src/q/q"),
        json!({"routing_key": "to-q"}),
        201,
    )
    .await?;
    a.post(
        &format!("/api/bindings/{ve}/e/src/e/dst"),
        json!({"routing_key": "to-x"}),
        201,
    )
    .await?;
    let src = a
        .get(&format!("/api/exchanges/{ve}/src/bindings/source"))
        .await?;
    let mut got: Vec<(String, String, String)> = array(&src, "source bindings")?
        .iter()
        .map(|b| {
            (
                b["destination"].as_str().unwrap_or_default().to_string(),
                b["destination_type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                b["routing_key"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    got.sort();
    ensure_eq!(
        got,
        vec![
            (
                "dst".to_string(),
                "exchange".to_string(),
                "to-x".to_string()
            ),
            ("q".to_string(), "queue".to_string(), "to-q".to_string())
        ],
        "bindings where src is the source (destination, type, key)"
    );
    for b in src.as_array().into_iter().flatten() {
        has_keys(
            b,
            &[
                "source",
                "vhost",
                "destination",
                "destination_type",
                "routing_key",
                "arguments",
                "properties_key",
            ],
            "binding",
        )?;
    }
    let dst = a
        .get(&format!("/api/exchanges/{ve}/dst/bindings/destination"))
        .await?;
    ensure_eq!(
        array(&dst, "destination bindings")?.len(),
        1,
        "bindings to dst"
    );
    ensure_eq!(
        dst[0]["source"].as_str(),
        Some("src"),
        "source of the binding to dst"
    );
    let none = a
        .get(&format!("/api/exchanges/{ve}/src/bindings/destination"))
        .await?;
    ensure_eq!(array(&none, "bindings")?.len(), 0, "bindings to src");
    Ok(())
}

async fn publish_routed_true_and_false(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    a.put(&obj("exchanges", &v, "x"), json!({"type": "topic"}), 201)
        .await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    a.post(
        &format!("/api/bindings/{ve}/e/x/q/q"),
        json!({"routing_key": "a.#"}),
        201,
    )
    .await?;
    let publish = |key: &str| {
        json!({"properties": {}, "routing_key": key, "payload": format!("to {key}"),
               "payload_encoding": "string"})
    };
    let r = a
        .post(
            &format!("/api/exchanges/{ve}/x/publish"),
            publish("a.b"),
            200,
        )
        .await?;
    ensure_eq!(r.json()?, json!({"routed": true}), "publish that routes");
    let r = a
        .post(
            &format!("/api/exchanges/{ve}/x/publish"),
            publish("b.a"),
            200,
        )
        .await?;
    ensure_eq!(
        r.json()?,
        json!({"routed": false}),
        "publish that does not route"
    );
    // The default exchange through its API name.
    let r = a
        .post(
            &format!("/api/exchanges/{ve}/amq.default/publish"),
            publish("q"),
            200,
        )
        .await?;
    ensure_eq!(r.json()?, json!({"routed": true}), "publish to amq.default");
    let ch = channel_in(&ctx, &v).await?;
    wait_count(&ch, "q", 2).await?;
    expect_bodies(&ch, "q", &["to a.b", "to q"]).await?;
    Ok(())
}

async fn publish_to_missing_exchange_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let r = a
        .call(
            "POST",
            &format!("/api/exchanges/{}/no-such-x/publish", enc(&v)),
            Some(json!({"properties": {}, "routing_key": "k", "payload": "x",
                        "payload_encoding": "string"})),
        )
        .await?;
    // RabbitMQ passes on the channel error of the publish.
    expect_error(
        &r,
        400,
        "bad_request",
        Some(&format!(
            "404 NOT_FOUND - no exchange 'no-such-x' in vhost '{v}'"
        )),
        "publish to a missing exchange",
    )
}

async fn publish_properties_and_base64(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    let body = json!({
        "properties": {"content_type": "text/plain", "delivery_mode": 2, "priority": 3,
                       "correlation_id": "c-1", "message_id": "m-1",
                       "headers": {"h-str": "v", "h-int": 42}},
        "routing_key": "q",
        "payload": "aGVsbG8gd29ybGQ=",
        "payload_encoding": "base64"
    });
    let r = a
        .post(
            &format!("/api/exchanges/{ve}/amq.default/publish"),
            body,
            200,
        )
        .await?;
    ensure_eq!(r.json()?, json!({"routed": true}), "publish");
    let ch = channel_in(&ctx, &v).await?;
    wait_count(&ch, "q", 1).await?;
    let Some(m) = get(&ch, "q").await? else {
        fail!("message published through the API not in the queue")
    };
    ensure_eq!(
        text(&m.delivery.data),
        "hello world",
        "body (decoded from base64)"
    );
    let p = &m.delivery.properties;
    ensure_eq!(
        p.content_type().as_ref().map(|s| s.as_str().to_string()),
        Some("text/plain".to_string()),
        "content_type"
    );
    ensure_eq!(*p.delivery_mode(), Some(2), "delivery_mode");
    ensure_eq!(*p.priority(), Some(3), "priority");
    ensure_eq!(
        p.correlation_id().as_ref().map(|s| s.as_str().to_string()),
        Some("c-1".to_string()),
        "correlation_id"
    );
    let headers = p.headers().clone().unwrap_or_default();
    let h = headers.inner();
    ensure!(
        matches!(h.get("h-str"), Some(AMQPValue::LongString(s)) if s.as_bytes() == b"v"),
        "header h-str: {:?}",
        h.get("h-str")
    );
    ensure!(
        h.get("h-int").and_then(int_value) == Some(42),
        "header h-int: {:?}",
        h.get("h-int")
    );
    Ok(())
}

fn int_value(v: &AMQPValue) -> Option<i64> {
    match v {
        AMQPValue::ShortShortInt(x) => Some(*x as i64),
        AMQPValue::ShortShortUInt(x) => Some(*x as i64),
        AMQPValue::ShortInt(x) => Some(*x as i64),
        AMQPValue::ShortUInt(x) => Some(*x as i64),
        AMQPValue::LongInt(x) => Some(*x as i64),
        AMQPValue::LongUInt(x) => Some(*x as i64),
        AMQPValue::LongLongInt(x) => Some(*x),
        _ => None,
    }
}

async fn delete_if_unused(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    let x = obj("exchanges", &v, "x");
    a.put(&x, json!({"type": "direct"}), 201).await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    a.post(
        &format!("/api/bindings/{ve}/e/x/q/q"),
        json!({"routing_key": "k"}),
        201,
    )
    .await?;
    let r = a
        .call("DELETE", &format!("{x}?if-unused=true"), None)
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some(&format!("exchange 'x' in vhost '{v}' in use")),
        "DELETE ?if-unused=true of a bound exchange",
    )?;
    a.get(&x).await?;
    a.delete(&x).await?;
    a.get_404(&x).await?;
    // Unused: if-unused deletes.
    a.put(&x, json!({"type": "direct"}), 201).await?;
    a.delete(&format!("{x}?if-unused=true")).await?;
    a.get_404(&x).await
}

// ---- queues ----

async fn declare_with_arguments_and_type(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let path = obj("queues", &v, "q");
    let body = json!({"durable": true, "auto_delete": false,
                      "arguments": {"x-max-length": 10, "x-queue-type": "classic",
                                    "x-message-ttl": 60000}});
    a.put(&path, body.clone(), 201).await?;
    a.put(&path, body, 204).await?;
    let q = a.get(&path).await?;
    has_keys(
        &q,
        &[
            "name",
            "vhost",
            "durable",
            "auto_delete",
            "exclusive",
            "arguments",
            "node",
            "type",
        ],
        "queue",
    )?;
    ensure_eq!(
        (
            q["name"].as_str(),
            q["vhost"].as_str(),
            q["durable"].as_bool(),
            q["auto_delete"].as_bool(),
            q["exclusive"].as_bool(),
            q["type"].as_str()
        ),
        (
            Some("q"),
            Some(v.as_str()),
            Some(true),
            Some(false),
            Some(false),
            Some("classic")
        ),
        "queue (name, vhost, durable, auto_delete, exclusive, type)"
    );
    ensure_eq!(
        q["arguments"],
        json!({"x-max-length": 10, "x-queue-type": "classic", "x-message-ttl": 60000}),
        "arguments"
    );
    ensure!(q["node"].is_string(), "node: not a string");
    // Declared without arguments.
    a.put(
        &obj("queues", &v, "q2"),
        json!({"durable": false, "auto_delete": true}),
        201,
    )
    .await?;
    let q2 = a.get(&obj("queues", &v, "q2")).await?;
    ensure_eq!(q2["auto_delete"].as_bool(), Some(true), "auto_delete");
    ensure_eq!(
        q2["arguments"],
        json!({}),
        "arguments of a queue declared without"
    );
    Ok(())
}

async fn amqp_sees_api_declared_queue(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(
        &obj("queues", &v, "q"),
        json!({"durable": true, "arguments": {"x-max-length": 2}}),
        201,
    )
    .await?;
    let ch = channel_in(&ctx, &v).await?;
    ch.queue_declare(
        "q".into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        table(&[("x-max-length", int(2))]),
    )
    .await
    .ctx("equivalent queue.declare over AMQP")?;
    for i in 0..3 {
        publish(&ch, "", "q", &format!("m{i}")).await?;
    }
    wait_count(&ch, "q", 2).await?;
    expect_bodies(&ch, "q", &["m1", "m2"]).await?;
    let ch2 = channel_in(&ctx, &v).await?;
    expect_code(
        ch2.queue_declare(
            "q".into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            table(&[("x-max-length", int(3))]),
        )
        .await,
        406,
        "queue.declare with another x-max-length",
    )
}

async fn message_counts_in_listing(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ch = channel_in(&ctx, &v).await?;
    ch.queue_declare(
        "q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("queue.declare")?;
    for i in 0..3 {
        publish(&ch, "", "q", &format!("m{i}")).await?;
    }
    wait_count(&ch, "q", 3).await?;
    let held = ch
        .basic_get("q".into(), BasicGetOptions { no_ack: false })
        .await
        .ctx("basic.get")?;
    ensure!(held.is_some(), "basic.get found no message");
    let q = a
        .poll(
            &format!("/api/queues/{}", enc(&v)),
            "q with messages 3, messages_ready 2, messages_unacknowledged 1",
            STATS,
            |l| {
                find(l, "name", "q")
                    .filter(|q| {
                        !q["state"].is_null()
                            && q["messages"] == 3
                            && q["messages_ready"] == 2
                            && q["messages_unacknowledged"] == 1
                    })
                    .cloned()
            },
        )
        .await?;
    has_keys(
        &q,
        &[
            "consumers",
            "state",
            "messages",
            "messages_ready",
            "messages_unacknowledged",
        ],
        "queue in the listing",
    )?;
    ensure_eq!(q["consumers"].as_u64(), Some(0), "consumers");
    ensure_eq!(q["state"].as_str(), Some("running"), "state");
    Ok(())
}

async fn consumer_details(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    let q = a.get(&obj("queues", &v, "q")).await?;
    ensure_eq!(
        q["consumer_details"],
        json!([]),
        "consumer_details of a queue without consumers"
    );
    let ch = channel_in(&ctx, &v).await?;
    let _consumer = ch
        .basic_consume(
            "q".into(),
            "tag-1".into(),
            lapin::options::BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .ctx("basic.consume")?;
    let q = a
        .poll(&obj("queues", &v, "q"), "consumer_details", STATS, |q| {
            q["consumer_details"]
                .as_array()
                .is_some_and(|d| !d.is_empty())
                .then(|| q.clone())
        })
        .await?;
    let details = array(&q["consumer_details"], "consumer_details")?;
    ensure_eq!(details.len(), 1, "entries in consumer_details");
    has_keys(
        &details[0],
        &[
            "consumer_tag",
            "queue",
            "channel_details",
            "ack_required",
            "prefetch_count",
        ],
        "consumer_details entry",
    )?;
    ensure_eq!(
        details[0]["consumer_tag"].as_str(),
        Some("tag-1"),
        "consumer_tag"
    );
    Ok(())
}

async fn get_ack_modes(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    let ch = channel_in(&ctx, &v).await?;
    for i in 0..3 {
        publish(&ch, "", "q", &format!("m{i}")).await?;
    }
    wait_count(&ch, "q", 3).await?;
    let get_path = format!("{}/get", obj("queues", &v, "q"));
    let req =
        |count: u32, ackmode: &str| json!({"count": count, "ackmode": ackmode, "encoding": "auto"});
    // Requeued: the same messages again, now redelivered.
    let r = a.post(&get_path, req(2, "ack_requeue_true"), 200).await?;
    let l = r.json()?;
    let l = array(&l, "get")?;
    ensure_eq!(l.len(), 2, "messages got");
    for m in l {
        has_keys(
            m,
            &[
                "payload",
                "payload_bytes",
                "payload_encoding",
                "redelivered",
                "exchange",
                "routing_key",
                "message_count",
                "properties",
            ],
            "message",
        )?;
    }
    ensure_eq!(
        (l[0]["payload"].as_str(), l[1]["payload"].as_str()),
        (Some("m0"), Some("m1")),
        "payloads"
    );
    ensure_eq!(
        (
            l[0]["message_count"].as_u64(),
            l[1]["message_count"].as_u64()
        ),
        (Some(2), Some(1)),
        "message_count (messages left after each)"
    );
    ensure_eq!(l[0]["redelivered"].as_bool(), Some(false), "redelivered");
    ensure_eq!(l[0]["routing_key"].as_str(), Some("q"), "routing_key");
    ensure_eq!(l[0]["exchange"].as_str(), Some(""), "exchange");
    ensure_eq!(l[0]["payload_bytes"].as_u64(), Some(2), "payload_bytes");
    wait_count(&ch, "q", 3).await?;
    // Acked: gone.
    let r = a.post(&get_path, req(1, "ack_requeue_false"), 200).await?;
    let l = r.json()?;
    ensure_eq!(
        l[0]["payload"].as_str(),
        Some("m0"),
        "payload after requeue"
    );
    ensure_eq!(
        l[0]["redelivered"].as_bool(),
        Some(true),
        "redelivered after requeue"
    );
    wait_count(&ch, "q", 2).await?;
    // Rejected with requeue: stays; without: gone.
    a.post(&get_path, req(1, "reject_requeue_true"), 200)
        .await?;
    wait_count(&ch, "q", 2).await?;
    let r = a
        .post(&get_path, req(5, "reject_requeue_false"), 200)
        .await?;
    ensure_eq!(
        array(&r.json()?, "get")?.len(),
        2,
        "messages got with count 5 from a queue of 2"
    );
    wait_count(&ch, "q", 0).await?;
    let r = a.post(&get_path, req(1, "ack_requeue_false"), 200).await?;
    ensure_eq!(r.json()?, json!([]), "get from an empty queue");
    Ok(())
}

async fn get_encoding_and_truncate(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    let ch = channel_in(&ctx, &v).await?;
    publish(&ch, "", "q", "hello world").await?;
    publish_props(
        &ch,
        "",
        "q",
        &[0xff, 0xfe, 0x00, 0x01],
        BasicProperties::default(),
    )
    .await?;
    wait_count(&ch, "q", 2).await?;
    let get_path = format!("{}/get", obj("queues", &v, "q"));
    let r = a
        .post(
            &get_path,
            json!({"count": 2, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 5}),
            200,
        )
        .await?;
    let l = r.json()?;
    ensure_eq!(l[0]["payload"].as_str(), Some("hello"), "truncated payload");
    ensure_eq!(
        l[0]["payload_bytes"].as_u64(),
        Some(11),
        "payload_bytes of a truncated payload"
    );
    ensure_eq!(
        l[0]["payload_encoding"].as_str(),
        Some("string"),
        "payload_encoding of text"
    );
    ensure_eq!(
        l[1]["payload_encoding"].as_str(),
        Some("base64"),
        "payload_encoding of binary with encoding auto"
    );
    ensure_eq!(l[1]["payload"].as_str(), Some("//4AAQ=="), "binary payload");
    let r = a
        .post(
            &get_path,
            json!({"count": 1, "ackmode": "ack_requeue_true", "encoding": "base64"}),
            200,
        )
        .await?;
    let l = r.json()?;
    ensure_eq!(
        l[0]["payload_encoding"].as_str(),
        Some("base64"),
        "payload_encoding"
    );
    ensure_eq!(
        l[0]["payload"].as_str(),
        Some("aGVsbG8gd29ybGQ="),
        "payload with encoding base64"
    );
    Ok(())
}

async fn purge_contents(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    let ch = channel_in(&ctx, &v).await?;
    for i in 0..3 {
        publish(&ch, "", "q", &format!("m{i}")).await?;
    }
    wait_count(&ch, "q", 3).await?;
    a.delete(&format!("{}/contents", obj("queues", &v, "q")))
        .await?;
    wait_count(&ch, "q", 0).await?;
    publish(&ch, "", "q", "after").await?;
    wait_count(&ch, "q", 1).await?;
    let r = a
        .call(
            "DELETE",
            &format!("{}/contents", obj("queues", &v, "nope")),
            None,
        )
        .await?;
    ensure_eq!(r.status, 404, "purge of a missing queue: status");
    Ok(())
}

async fn delete_if_empty(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let q = obj("queues", &v, "q");
    a.put(&q, json!({}), 201).await?;
    let ch = channel_in(&ctx, &v).await?;
    publish(&ch, "", "q", "m").await?;
    wait_count(&ch, "q", 1).await?;
    let r = a
        .call("DELETE", &format!("{q}?if-empty=true"), None)
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some(&format!("queue 'q' in vhost '{v}' not empty")),
        "DELETE ?if-empty=true of a queue with a message",
    )?;
    get(&ch, "q").await?;
    a.delete(&format!("{q}?if-empty=true")).await?;
    a.get_404(&q).await
}

async fn delete(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let q = obj("queues", &v, "q");
    a.put(&q, json!({"durable": true}), 201).await?;
    let ch = channel_in(&ctx, &v).await?;
    publish(&ch, "", "q", "m").await?;
    wait_count(&ch, "q", 1).await?;
    a.delete(&q).await?;
    a.get_404(&q).await?;
    let r = a.call("DELETE", &q, None).await?;
    expect_error(
        &r,
        404,
        "Object Not Found",
        Some("Not Found"),
        "DELETE of a deleted queue",
    )?;
    ensure!(
        !ctx_queue_exists(&ctx, &v, "q").await?,
        "queue deleted through the API still exists over AMQP"
    );
    Ok(())
}

async fn ctx_queue_exists(ctx: &Ctx, v: &str, q: &str) -> Result<bool, Problem> {
    let ch = channel_in(ctx, v).await?;
    match ch
        .queue_declare(
            q.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if error_code(&e) == Some(404) => Ok(false),
        Err(e) => fail!("passive queue.declare {q}: {e}"),
    }
}

// ---- bindings ----

async fn create_location_and_listings(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    a.put(&obj("exchanges", &v, "x"), json!({"type": "direct"}), 201)
        .await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    let r = a
        .post(
            &format!("/api/bindings/{ve}/e/x/q/q"),
            json!({"routing_key": "k1", "arguments": {}}),
            201,
        )
        .await?;
    ensure!(
        r.header("location").is_some_and(|l| !l.is_empty()),
        "201 for a new binding without a Location header"
    );
    let between = a.get(&format!("/api/bindings/{ve}/e/x/q/q")).await?;
    ensure_eq!(
        array(&between, "bindings between x and q")?.len(),
        1,
        "bindings between x and q"
    );
    let b = &between[0];
    ensure_eq!(
        (
            b["source"].as_str(),
            b["vhost"].as_str(),
            b["destination"].as_str(),
            b["destination_type"].as_str(),
            b["routing_key"].as_str(),
            b["properties_key"].as_str()
        ),
        (
            Some("x"),
            Some(v.as_str()),
            Some("q"),
            Some("queue"),
            Some("k1"),
            Some("k1")
        ),
        "binding (source, vhost, destination, destination_type, routing_key, properties_key)"
    );
    ensure_eq!(b["arguments"], json!({}), "arguments");
    let of_queue = a
        .get(&format!("{}/bindings", obj("queues", &v, "q")))
        .await?;
    let sources: Vec<&str> = array(&of_queue, "queue bindings")?
        .iter()
        .filter_map(|b| b["source"].as_str())
        .collect();
    ensure_eq!(sources, vec!["", "x"], "sources of the queue's bindings");
    let all = a.get(&format!("/api/bindings/{ve}")).await?;
    ensure_eq!(
        array(&all, "vhost bindings")?.len(),
        2,
        "bindings in the vhost"
    );
    ensure!(
        array(&a.get("/api/bindings").await?, "all bindings")?
            .iter()
            .any(|b| b["vhost"] == v.as_str() && b["source"] == "x"),
        "binding not in /api/bindings"
    );
    // The binding routes.
    let ch = channel_in(&ctx, &v).await?;
    publish(&ch, "x", "k1", "via k1").await?;
    wait_count(&ch, "q", 1).await?;
    // Binding twice is no error and adds nothing.
    a.post(
        &format!("/api/bindings/{ve}/e/x/q/q"),
        json!({"routing_key": "k1", "arguments": {}}),
        201,
    )
    .await?;
    let between = a.get(&format!("/api/bindings/{ve}/e/x/q/q")).await?;
    ensure_eq!(
        array(&between, "bindings")?.len(),
        1,
        "bindings after binding twice"
    );
    Ok(())
}

async fn get_and_delete_by_properties_key(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    a.put(&obj("exchanges", &v, "x"), json!({"type": "direct"}), 201)
        .await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    for k in ["k1", "k2"] {
        a.post(
            &format!("/api/bindings/{ve}/e/x/q/q"),
            json!({"routing_key": k}),
            201,
        )
        .await?;
    }
    let l = a.get(&format!("/api/bindings/{ve}/e/x/q/q")).await?;
    let b = find(&l, "routing_key", "k1")
        .ok_or_else(|| Problem::Fail(format!("binding k1 not listed: {l}")))?;
    let pk = b["properties_key"].as_str().unwrap_or_default().to_string();
    let path = format!("/api/bindings/{ve}/e/x/q/q/{}", enc(&pk));
    let got = a.get(&path).await?;
    ensure_eq!(
        got["routing_key"].as_str(),
        Some("k1"),
        "binding got by properties_key"
    );
    a.delete(&path).await?;
    a.get_404(&path).await?;
    let l = a.get(&format!("/api/bindings/{ve}/e/x/q/q")).await?;
    let keys: Vec<&str> = array(&l, "bindings")?
        .iter()
        .filter_map(|b| b["routing_key"].as_str())
        .collect();
    ensure_eq!(keys, vec!["k2"], "routing keys left");
    let ch = channel_in(&ctx, &v).await?;
    publish(&ch, "x", "k1", "k1").await?;
    publish(&ch, "x", "k2", "k2").await?;
    wait_count(&ch, "q", 1).await?;
    expect_bodies(&ch, "q", &["k2"]).await?;
    let r = a.call("DELETE", &path, None).await?;
    ensure_eq!(r.status, 404, "DELETE of a deleted binding: status");
    Ok(())
}

async fn arguments_binding_by_properties_key(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    a.put(&obj("exchanges", &v, "h"), json!({"type": "headers"}), 201)
        .await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    for (k, val) in [("a", "1"), ("a", "2")] {
        a.post(
            &format!("/api/bindings/{ve}/e/h/q/q"),
            json!({"routing_key": "", "arguments": {"x-match": "all", k: val}}),
            201,
        )
        .await?;
    }
    let l = a.get(&format!("/api/bindings/{ve}/e/h/q/q")).await?;
    let l = array(&l, "bindings")?;
    ensure_eq!(l.len(), 2, "bindings differing only in arguments");
    let one = l
        .iter()
        .find(|b| b["arguments"]["a"] == "1")
        .ok_or_else(|| Problem::Fail("binding with a=1 not listed".into()))?;
    let other_pk = l
        .iter()
        .find(|b| b["arguments"]["a"] == "2")
        .and_then(|b| b["properties_key"].as_str())
        .unwrap_or_default();
    let pk = one["properties_key"].as_str().unwrap_or_default();
    ensure!(!pk.is_empty(), "empty properties_key");
    ensure!(
        pk != other_pk,
        "two bindings with different arguments share the properties_key {pk}"
    );
    let path = format!("/api/bindings/{ve}/e/h/q/q/{}", enc(pk));
    let got = a.get(&path).await?;
    ensure_eq!(
        got["arguments"],
        json!({"x-match": "all", "a": "1"}),
        "arguments of the binding got by properties_key"
    );
    a.delete(&path).await?;
    let l = a.get(&format!("/api/bindings/{ve}/e/h/q/q")).await?;
    let left: Vec<&serde_json::Value> = array(&l, "bindings")?
        .iter()
        .map(|b| &b["arguments"]["a"])
        .collect();
    ensure_eq!(left, vec![&json!("2")], "argument a of the binding left");
    Ok(())
}

async fn plain_properties_key_is_quoted_routing_key(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    a.put(&obj("exchanges", &v, "x"), json!({"type": "topic"}), 201)
        .await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    // RabbitMQ quotes the routing key as a form value ("." kept, space "+",
    // "~" for an empty key); clients build these paths themselves.
    let want = [("a.#", "a.%23"), ("a b/c", "a+b%2Fc"), ("", "~")];
    for (k, _) in want {
        a.post(
            &format!("/api/bindings/{ve}/e/x/q/q"),
            json!({"routing_key": k}),
            201,
        )
        .await?;
    }
    let l = a.get(&format!("/api/bindings/{ve}/e/x/q/q")).await?;
    for (k, pk) in want {
        let b = find(&l, "routing_key", k)
            .ok_or_else(|| Problem::Fail(format!("binding '{k}' not listed")))?;
        ensure_eq!(
            b["properties_key"].as_str(),
            Some(pk),
            "properties_key of routing key '{k}'"
        );
        // The key as RabbitMQ writes it, percent-encoded once more in the path.
        a.get(&format!("/api/bindings/{ve}/e/x/q/q/{}", enc(pk)))
            .await?;
    }
    Ok(())
}

async fn listed_properties_key_with_escapes_finds_the_binding(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    a.put(&obj("exchanges", &v, "x"), json!({"type": "topic"}), 201)
        .await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    // Whatever the key looks like, the listed properties_key percent-encoded
    // as a path segment (as rabbitmqadmin and the web UI do) names the binding.
    for k in ["a.#", "a b/c", "*.x~y"] {
        a.post(
            &format!("/api/bindings/{ve}/e/x/q/q"),
            json!({"routing_key": k}),
            201,
        )
        .await?;
        let l = a.get(&format!("/api/bindings/{ve}/e/x/q/q")).await?;
        let pk = find(&l, "routing_key", k)
            .and_then(|b| b["properties_key"].as_str())
            .ok_or_else(|| Problem::Fail(format!("binding '{k}' not listed")))?
            .to_string();
        let path = format!("/api/bindings/{ve}/e/x/q/q/{}", enc(&pk));
        let b = a.get(&path).await?;
        ensure_eq!(
            b["routing_key"].as_str(),
            Some(k),
            "binding got by its properties_key"
        );
        a.delete(&path).await?;
        let l = a.get(&format!("/api/bindings/{ve}/e/x/q/q")).await?;
        ensure!(
            find(&l, "routing_key", k).is_none(),
            "binding '{k}' still listed after DELETE by its properties_key"
        );
    }
    Ok(())
}

async fn default_exchange_implicit_bindings(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    a.put(&obj("queues", &v, "q1"), json!({}), 201).await?;
    a.put(&obj("queues", &v, "q2"), json!({}), 201).await?;
    let l = a
        .get(&format!("{}/bindings", obj("queues", &v, "q1")))
        .await?;
    ensure_eq!(
        array(&l, "bindings of q1")?.len(),
        1,
        "bindings of a new queue"
    );
    ensure_eq!(
        (
            l[0]["source"].as_str(),
            l[0]["destination"].as_str(),
            l[0]["destination_type"].as_str(),
            l[0]["routing_key"].as_str(),
            l[0]["properties_key"].as_str()
        ),
        (Some(""), Some("q1"), Some("queue"), Some("q1"), Some("q1")),
        "the default exchange's binding (source, destination, type, routing_key, properties_key)"
    );
    let all = a.get(&format!("/api/bindings/{ve}")).await?;
    let mut implicit: Vec<&str> = array(&all, "bindings")?
        .iter()
        .filter(|b| b["source"] == "")
        .filter_map(|b| b["destination"].as_str())
        .collect();
    implicit.sort();
    ensure_eq!(
        implicit,
        vec!["q1", "q2"],
        "default-exchange bindings in the vhost"
    );
    // Binding to or from the default exchange is refused.
    let r = a
        .call(
            "POST",
            &format!("/api/bindings/{ve}/e/amq.default/q/q1"),
            Some(json!({"routing_key": "x"})),
        )
        .await?;
    ensure!(
        (400..500).contains(&r.status),
        "binding from the default exchange: expected a 4xx, got {}: {}",
        r.status,
        r.body
    );
    Ok(())
}

async fn exchange_to_exchange(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    a.put(&obj("exchanges", &v, "a"), json!({"type": "fanout"}), 201)
        .await?;
    a.put(&obj("exchanges", &v, "b"), json!({"type": "direct"}), 201)
        .await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    a.post(
        &format!("/api/bindings/{ve}/e/a/e/b"),
        json!({"routing_key": "k"}),
        201,
    )
    .await?;
    a.post(
        &format!("/api/bindings/{ve}/e/b/q/q"),
        json!({"routing_key": "k"}),
        201,
    )
    .await?;
    let l = a.get(&format!("/api/bindings/{ve}/e/a/e/b")).await?;
    ensure_eq!(array(&l, "bindings a→b")?.len(), 1, "bindings a→b");
    ensure_eq!(
        l[0]["destination_type"].as_str(),
        Some("exchange"),
        "destination_type"
    );
    let ch = channel_in(&ctx, &v).await?;
    publish(&ch, "a", "k", "through a and b").await?;
    wait_count(&ch, "q", 1).await?;
    let path = format!("/api/bindings/{ve}/e/a/e/b/k");
    a.get(&path).await?;
    a.delete(&path).await?;
    publish(&ch, "a", "k", "nowhere").await?;
    publish(&ch, "b", "k", "direct").await?;
    wait_count(&ch, "q", 2).await?;
    expect_bodies(&ch, "q", &["through a and b", "direct"]).await
}

async fn missing_objects_404(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    let r = a
        .call(
            "POST",
            &format!("/api/bindings/{ve}/e/no-such-x/q/q"),
            Some(json!({"routing_key": "k"})),
        )
        .await?;
    ensure_eq!(r.status, 404, "binding from a missing exchange: status");
    let r = a
        .call(
            "POST",
            &format!("/api/bindings/{ve}/e/amq.direct/q/no-such-q"),
            Some(json!({"routing_key": "k"})),
        )
        .await?;
    ensure_eq!(r.status, 404, "binding to a missing queue: status");
    a.get_404(&format!("/api/bindings/{ve}/e/amq.direct/q/q/no-such-key"))
        .await
}

//! Bad input: malformed JSON, missing vhosts, wrong types, unknown paths and
//! methods. Each is a 4xx with a JSON reason, never a 5xx.

use serde_json::json;

use super::util::*;
use crate::runner::{Case, CaseResult};
use crate::support::*;

pub fn cases() -> Vec<Case> {
    crate::cases!("mgmt.input";
        malformed_json_400,
        json_not_an_object_400,
        unknown_vhost_404,
        wrong_type_400,
        invalid_queue_argument_400,
        unknown_exchange_type_400,
        user_without_tags_400,
        permission_missing_keys_400,
        publish_missing_keys_400,
        get_bad_encoding_400,
        get_missing_queue_404,
        unknown_path_404,
        method_not_allowed_405,
    )
}

async fn malformed_json_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let r =
        a.m.send(
            "PUT",
            &obj("queues", &v, "q"),
            Some("{bad json"),
            Some("application/json"),
            &[],
        )
        .await?;
    expect_error(&r, 400, "bad_request", Some("not_json"), "malformed JSON")?;
    a.get_404(&obj("queues", &v, "q")).await
}

async fn json_not_an_object_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let r =
        a.m.send(
            "PUT",
            &obj("queues", &v, "q"),
            Some("[1, 2]"),
            Some("application/json"),
            &[],
        )
        .await?;
    expect_error(&r, 400, "bad_request", None, "a JSON array as the body")?;
    a.get_404(&obj("queues", &v, "q")).await
}

async fn unknown_vhost_404(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let nope = ctx.name("nope");
    for (what, path, body) in [
        ("queue", obj("queues", &nope, "q"), json!({})),
        (
            "exchange",
            obj("exchanges", &nope, "x"),
            json!({"type": "direct"}),
        ),
        (
            "policy",
            obj("policies", &nope, "p"),
            json!({"pattern": ".*", "definition": {"max-length": 1}}),
        ),
    ] {
        let r = a.call("PUT", &path, Some(body)).await?;
        expect_error(
            &r,
            404,
            "not_found",
            Some("vhost_not_found"),
            &format!("{what} in a missing vhost"),
        )?;
    }
    for path in [
        format!("/api/queues/{}", enc(&nope)),
        format!("/api/exchanges/{}", enc(&nope)),
        format!("/api/bindings/{}", enc(&nope)),
        format!("/api/policies/{}", enc(&nope)),
    ] {
        a.get_404(&path).await?;
    }
    Ok(())
}

async fn wrong_type_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let r = a
        .call(
            "PUT",
            &obj("queues", &v, "q"),
            Some(json!({"durable": "yes"})),
        )
        .await?;
    expect_error(&r, 400, "bad_request", None, "durable: \"yes\"")?;
    ensure_eq!(
        r.json()?["reason"],
        json!(["not_boolean", "yes"]),
        "reason for durable: \"yes\""
    );
    a.get_404(&obj("queues", &v, "q")).await
}

async fn invalid_queue_argument_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let r = a
        .call(
            "PUT",
            &obj("queues", &v, "q"),
            Some(json!({"arguments": {"x-max-length": "ten"}})),
        )
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some(&format!(
            "invalid arg 'x-max-length' for queue 'q' in vhost '{v}': \"expected integer, got longstr\""
        )),
        "x-max-length: \"ten\"",
    )
}

async fn unknown_exchange_type_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let r = a
        .call(
            "PUT",
            &obj("exchanges", &v, "x"),
            Some(json!({"type": "no-such-type"})),
        )
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some("unknown exchange type 'no-such-type'"),
        "exchange of an unknown type",
    )?;
    a.get_404(&obj("exchanges", &v, "x")).await
}

async fn user_without_tags_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let u = ctx.name("u");
    let path = format!("/api/users/{}", enc(&u));
    ctx.track_api_delete(&path);
    let r = a.call("PUT", &path, Some(json!({"password": "x"}))).await?;
    // RabbitMQ 3.10 requires tags (an empty string is fine).
    expect_error(
        &r,
        400,
        "bad_request",
        Some("tags_not_present"),
        "user without tags",
    )?;
    a.get_404(&path).await
}

async fn permission_missing_keys_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let (u, _) = a.new_user("u", "").await?;
    let path = format!("/api/permissions/{}/{}", enc(&v), enc(&u));
    let r = a
        .call("PUT", &path, Some(json!({"configure": ".*"})))
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        None,
        "permission without write and read",
    )?;
    a.get_404(&path).await
}

async fn publish_missing_keys_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let path = format!("/api/exchanges/{}/amq.direct/publish", enc(&v));
    let r = a
        .call("POST", &path, Some(json!({"routing_key": "k"})))
        .await?;
    expect_error(&r, 400, "bad_request", None, "publish without payload")?;
    let r = a
        .call(
            "POST",
            &path,
            Some(json!({"routing_key": "k", "properties": {}, "payload": "x",
                        "payload_encoding": "rot13"})),
        )
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        None,
        "publish with an unknown payload_encoding",
    )
}

async fn get_bad_encoding_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    let r = a
        .call(
            "POST",
            &format!("{}/get", obj("queues", &v, "q")),
            Some(json!({"count": 1, "ackmode": "ack_requeue_true", "encoding": "utf-9"})),
        )
        .await?;
    expect_error(&r, 400, "bad_request", None, "get with encoding utf-9")?;
    let r = a
        .call(
            "POST",
            &format!("{}/get", obj("queues", &v, "q")),
            Some(json!({"count": 1, "encoding": "auto"})),
        )
        .await?;
    expect_error(&r, 400, "bad_request", None, "get without ackmode")
}

async fn get_missing_queue_404(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let r = a
        .call(
            "POST",
            &format!("{}/get", obj("queues", &v, "nope")),
            Some(json!({"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})),
        )
        .await?;
    ensure_eq!(
        r.status,
        404,
        "get from a missing queue: status ({})",
        r.body
    );
    let body = r.json()?;
    has_keys(&body, &["error", "reason"], "404 body")
}

async fn unknown_path_404(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    for path in ["/api/no-such-thing", "/api/queues/a/b/c/d/e"] {
        let r = a.call("GET", path, None).await?;
        expect_error(
            &r,
            404,
            "Object Not Found",
            Some("Not Found"),
            &format!("GET {path}"),
        )?;
    }
    Ok(())
}

async fn method_not_allowed_405(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(&obj("queues", &v, "q"), json!({}), 201).await?;
    for (m, path) in [
        ("PATCH", obj("queues", &v, "q")),
        ("POST", obj("queues", &v, "q")),
        ("DELETE", "/api/overview".to_string()),
        ("PUT", "/api/whoami".to_string()),
    ] {
        let r = a.call(m, &path, Some(json!({}))).await?;
        ensure_eq!(r.status, 405, "{m} {path}: status ({})", r.body);
    }
    a.get(&obj("queues", &v, "q")).await?;
    Ok(())
}

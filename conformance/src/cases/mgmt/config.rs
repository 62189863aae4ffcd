//! Policies, operator policies, parameters, global parameters, vhost and
//! user limits (and that they are enforced), definitions export and import.

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, ConnectionProperties};
use serde_json::{json, Value};

use super::util::*;
use crate::raw::RawConn;
use crate::runner::{Case, CaseResult, Problem};
use crate::support::*;

pub fn cases() -> Vec<Case> {
    let mut v = crate::cases!("mgmt.policies";
        crud,
        max_length_applies_to_existing_queue,
        invalid_definition_400,
        operator_policy_crud,
        operator_policy_applies,
        operator_policy_refuses_unknown_key,
    );
    v.extend(crate::cases!("mgmt.parameters";
        vhost_limits_component,
        unknown_component_400,
        global_parameters,
    ));
    v.extend(crate::cases!("mgmt.limits";
        vhost_limits_set_list_clear,
        vhost_limits_invalid_400,
        max_queues_enforced,
        max_connections_enforced,
        user_limits_set_list_clear,
        user_max_connections_enforced,
    ));
    v.extend(crate::cases!("mgmt.definitions";
        export_keys,
        vhost_export_omits_users,
        export_includes_transient_queues,
        import_into_fresh_vhost,
        import_creates_users_vhosts_permissions,
        import_malformed_400,
    ));
    v
}

async fn declare(ch: &Channel, q: &str) -> CaseResult {
    ch.queue_declare(
        q.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx(&format!("queue.declare {q}"))
    .map(|_| ())
}

// ---- policies ----

async fn crud(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let path = obj("policies", &v, "p");
    let body = json!({"pattern": "^ml\\.", "definition": {"max-length": 5},
                      "priority": 3, "apply-to": "queues"});
    a.put(&path, body.clone(), 201).await?;
    a.put(&path, body, 204).await?;
    let p = a.get(&path).await?;
    has_keys(
        &p,
        &[
            "vhost",
            "name",
            "pattern",
            "apply-to",
            "definition",
            "priority",
        ],
        "policy",
    )?;
    ensure_eq!(
        (
            p["vhost"].as_str(),
            p["name"].as_str(),
            p["pattern"].as_str(),
            p["apply-to"].as_str(),
            p["priority"].as_i64()
        ),
        (
            Some(v.as_str()),
            Some("p"),
            Some("^ml\\."),
            Some("queues"),
            Some(3)
        ),
        "policy (vhost, name, pattern, apply-to, priority)"
    );
    ensure_eq!(p["definition"], json!({"max-length": 5}), "definition");
    let l = a.get(&format!("/api/policies/{}", enc(&v))).await?;
    ensure_eq!(names(&l), vec!["p"], "policies of the vhost");
    ensure!(
        array(&a.get("/api/policies").await?, "policies")?
            .iter()
            .any(|p| p["vhost"] == v.as_str() && p["name"] == "p"),
        "policy not in /api/policies"
    );
    // Defaults: apply-to all, priority 0.
    let p2 = obj("policies", &v, "p2");
    a.put(
        &p2,
        json!({"pattern": ".*", "definition": {"message-ttl": 1000}}),
        201,
    )
    .await?;
    let g = a.get(&p2).await?;
    ensure_eq!(
        (g["apply-to"].as_str(), g["priority"].as_i64()),
        (Some("all"), Some(0)),
        "defaults (apply-to, priority)"
    );
    a.delete(&path).await?;
    a.get_404(&path).await?;
    let r = a.call("DELETE", &path, None).await?;
    ensure_eq!(r.status, 404, "DELETE of a deleted policy: status");
    Ok(())
}

async fn max_length_applies_to_existing_queue(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ch = channel_in(&ctx, &v).await?;
    declare(&ch, "ml.q").await?;
    declare(&ch, "other").await?;
    a.put(
        &obj("policies", &v, "ml"),
        json!({"pattern": "^ml\\.", "definition": {"max-length": 1}, "apply-to": "queues"}),
        201,
    )
    .await?;
    for i in 1..=3 {
        publish(&ch, "", "ml.q", &format!("m{i}")).await?;
        publish(&ch, "", "other", &format!("m{i}")).await?;
    }
    wait_count(&ch, "other", 3).await?;
    wait_count(&ch, "ml.q", 1).await?;
    expect_bodies(&ch, "ml.q", &["m3"]).await?;
    let q = a
        .poll(&obj("queues", &v, "ml.q"), "policy ml", STATS, |q| {
            (q["policy"] == "ml").then(|| q.clone())
        })
        .await?;
    ensure_eq!(
        q["effective_policy_definition"],
        json!({"max-length": 1}),
        "effective_policy_definition"
    );
    // Deleting the policy lifts the limit.
    a.delete(&obj("policies", &v, "ml")).await?;
    for i in 4..=5 {
        publish(&ch, "", "ml.q", &format!("m{i}")).await?;
    }
    wait_count(&ch, "ml.q", 2).await
}

async fn invalid_definition_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let path = obj("policies", &v, "bad");
    for (what, body) in [
        (
            "max-length not a number",
            json!({"pattern": ".*", "definition": {"max-length": "abc"}}),
        ),
        (
            "unknown key",
            json!({"pattern": ".*", "definition": {"no-such-key": 1}}),
        ),
        (
            "invalid pattern",
            json!({"pattern": "(", "definition": {"max-length": 1}}),
        ),
        ("no definition", json!({"pattern": ".*"})),
    ] {
        let r = a.call("PUT", &path, Some(body)).await?;
        expect_error(&r, 400, "bad_request", None, &format!("policy with {what}"))?;
    }
    a.get_404(&path).await
}

async fn operator_policy_crud(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let path = obj("operator-policies", &v, "op");
    let body = json!({"pattern": ".*", "definition": {"max-length": 100},
                      "priority": 0, "apply-to": "queues"});
    a.put(&path, body.clone(), 201).await?;
    a.put(&path, body, 204).await?;
    let p = a.get(&path).await?;
    ensure_eq!(
        (
            p["name"].as_str(),
            p["vhost"].as_str(),
            p["apply-to"].as_str()
        ),
        (Some("op"), Some(v.as_str()), Some("queues")),
        "operator policy (name, vhost, apply-to)"
    );
    ensure_eq!(p["definition"], json!({"max-length": 100}), "definition");
    let l = a
        .get(&format!("/api/operator-policies/{}", enc(&v)))
        .await?;
    ensure_eq!(names(&l), vec!["op"], "operator policies of the vhost");
    ensure!(
        array(&a.get("/api/operator-policies").await?, "operator policies")?
            .iter()
            .any(|p| p["vhost"] == v.as_str()),
        "not in /api/operator-policies"
    );
    // Operator policies and policies are separate.
    let l = a.get(&format!("/api/policies/{}", enc(&v))).await?;
    ensure_eq!(names(&l), Vec::<String>::new(), "policies of the vhost");
    a.delete(&path).await?;
    a.get_404(&path).await
}

async fn operator_policy_applies(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ch = channel_in(&ctx, &v).await?;
    declare(&ch, "q").await?;
    a.put(
        &obj("operator-policies", &v, "op"),
        json!({"pattern": "^q$", "definition": {"max-length": 2}, "apply-to": "queues"}),
        201,
    )
    .await?;
    for i in 1..=4 {
        publish(&ch, "", "q", &format!("m{i}")).await?;
    }
    wait_count(&ch, "q", 2).await?;
    expect_bodies(&ch, "q", &["m3", "m4"]).await
}

async fn operator_policy_refuses_unknown_key(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let path = obj("operator-policies", &v, "op");
    // alternate-exchange is a policy key, not an operator policy key.
    let r = a
        .call(
            "PUT",
            &path,
            Some(json!({"pattern": ".*", "definition": {"alternate-exchange": "x"}})),
        )
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        None,
        "operator policy with alternate-exchange",
    )?;
    a.get_404(&path).await
}

// ---- parameters ----

async fn vhost_limits_component(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let path = format!("/api/parameters/vhost-limits/{}/limits", enc(&v));
    a.put(&path, json!({"value": {"max-queues": 5}}), 201)
        .await?;
    a.put(&path, json!({"value": {"max-queues": 6}}), 204)
        .await?;
    let p = a.get(&path).await?;
    ensure_eq!(
        (
            p["component"].as_str(),
            p["vhost"].as_str(),
            p["name"].as_str()
        ),
        (Some("vhost-limits"), Some(v.as_str()), Some("limits")),
        "parameter (component, vhost, name)"
    );
    ensure_eq!(p["value"], json!({"max-queues": 6}), "value");
    for list in [
        format!("/api/parameters/vhost-limits/{}", enc(&v)),
        "/api/parameters/vhost-limits".to_string(),
        "/api/parameters".to_string(),
    ] {
        let l = a.get(&list).await?;
        ensure!(
            array(&l, &list)?
                .iter()
                .any(|p| p["vhost"] == v.as_str() && p["component"] == "vhost-limits"),
            "parameter not in {list}"
        );
    }
    let limits = a.get(&format!("/api/vhost-limits/{}", enc(&v))).await?;
    ensure_eq!(
        limits,
        json!([{"vhost": v, "value": {"max-queues": 6}}]),
        "vhost-limits set through the parameter"
    );
    a.delete(&path).await?;
    a.get_404(&path).await
}

async fn unknown_component_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let r = a
        .call(
            "PUT",
            &format!("/api/parameters/no-such-component/{}/x", enc(&v)),
            Some(json!({"value": {"a": 1}})),
        )
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some("Validation failed\n\ncomponent no-such-component not found\n"),
        "parameter of an unknown component",
    )
}

async fn global_parameters(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let name = ctx.name("gp");
    let path = format!("/api/global-parameters/{}", enc(&name));
    ctx.track_api_delete(&path);
    a.put(&path, json!({"value": {"a": 1, "b": [1, "x"]}}), 201)
        .await?;
    a.put(&path, json!({"value": {"a": 2}}), 204).await?;
    let g = a.get(&path).await?;
    ensure_eq!(
        g,
        json!({"name": name, "value": {"a": 2}}),
        "global parameter"
    );
    let l = a.get("/api/global-parameters").await?;
    ensure!(
        names(&l).contains(&name),
        "global parameter not in /api/global-parameters"
    );
    a.delete(&path).await?;
    a.get_404(&path).await
}

// ---- limits ----

async fn vhost_limits_set_list_clear(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    a.put(
        &format!("/api/vhost-limits/{ve}/max-queues"),
        json!({"value": 10}),
        204,
    )
    .await?;
    a.put(
        &format!("/api/vhost-limits/{ve}/max-connections"),
        json!({"value": 20}),
        204,
    )
    .await?;
    let l = a.get(&format!("/api/vhost-limits/{ve}")).await?;
    ensure_eq!(
        l,
        json!([{"vhost": v, "value": {"max-queues": 10, "max-connections": 20}}]),
        "limits of the vhost"
    );
    let all = a.get("/api/vhost-limits").await?;
    ensure!(
        find(&all, "vhost", &v).is_some(),
        "vhost not in /api/vhost-limits"
    );
    a.delete(&format!("/api/vhost-limits/{ve}/max-connections"))
        .await?;
    let l = a.get(&format!("/api/vhost-limits/{ve}")).await?;
    ensure_eq!(
        l,
        json!([{"vhost": v, "value": {"max-queues": 10}}]),
        "limits after clearing max-connections"
    );
    let r = a
        .call(
            "PUT",
            &format!("/api/vhost-limits/{}/max-queues", enc(&ctx.name("nope"))),
            Some(json!({"value": 1})),
        )
        .await?;
    expect_error(
        &r,
        404,
        "not_found",
        Some("vhost_not_found"),
        "limit on a missing vhost",
    )
}

async fn vhost_limits_invalid_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let ve = enc(&v);
    let r = a
        .call(
            "PUT",
            &format!("/api/vhost-limits/{ve}/max-foo"),
            Some(json!({"value": 1})),
        )
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some("Validation failed\n\nUnrecognised terms [{<<\"max-foo\">>,1}] in limits\n"),
        "unknown limit",
    )?;
    let r = a
        .call(
            "PUT",
            &format!("/api/vhost-limits/{ve}/max-queues"),
            Some(json!({"value": "x"})),
        )
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some("Validation failed\n\nmax-queues should be a number, actually was <<\"x\">>\n"),
        "limit that is not a number",
    )
}

async fn max_queues_enforced(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(
        &format!("/api/vhost-limits/{}/max-queues", enc(&v)),
        json!({"value": 1}),
        204,
    )
    .await?;
    let ch = channel_in(&ctx, &v).await?;
    declare(&ch, "q1").await?;
    expect_code_text(
        ch.queue_declare("q2".into(), QueueDeclareOptions::default(), FieldTable::default())
            .await,
        406,
        &format!("PRECONDITION_FAILED - cannot declare queue 'q2': queue limit in vhost '{v}' (1) is reached"),
        "second queue.declare with max-queues 1",
    )?;
    let r = a
        .call("PUT", &obj("queues", &v, "q3"), Some(json!({})))
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some(&format!(
            "cannot declare queue 'q3': queue limit in vhost '{v}' (1) is reached"
        )),
        "queue declared through the API over the limit",
    )
}

async fn max_connections_enforced(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(
        &format!("/api/vhost-limits/{}/max-connections", enc(&v)),
        json!({"value": 0}),
        204,
    )
    .await?;
    let url = ctx.url_in(&v)?;
    match RawConn::open(&url).await {
        Ok(_) => fail!("connection.open succeeded in a vhost with max-connections 0"),
        Err(e) if e.contains("connection.close(530") && e.contains("NOT_ALLOWED") => {}
        Err(e) => fail!("expected connection.close 530 NOT_ALLOWED, got: {e}"),
    }
    a.delete(&format!("/api/vhost-limits/{}/max-connections", enc(&v)))
        .await?;
    RawConn::open(&url)
        .await
        .map_err(|e| Problem::Fail(format!("connection after clearing the limit: {e}")))?;
    Ok(())
}

async fn user_limits_set_list_clear(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let (u, _) = a.new_user("u", "").await?;
    let ue = enc(&u);
    a.put(
        &format!("/api/user-limits/{ue}/max-connections"),
        json!({"value": 2}),
        204,
    )
    .await?;
    a.put(
        &format!("/api/user-limits/{ue}/max-channels"),
        json!({"value": 3}),
        204,
    )
    .await?;
    let l = a.get(&format!("/api/user-limits/{ue}")).await?;
    ensure_eq!(
        l,
        json!([{"user": u, "value": {"max-connections": 2, "max-channels": 3}}]),
        "limits of the user"
    );
    let all = a.get("/api/user-limits").await?;
    ensure!(
        find(&all, "user", &u).is_some(),
        "user not in /api/user-limits"
    );
    ensure_eq!(
        a.get(&format!("/api/users/{ue}")).await?["limits"],
        json!({"max-connections": 2, "max-channels": 3}),
        "limits in the user"
    );
    a.delete(&format!("/api/user-limits/{ue}/max-channels"))
        .await?;
    let l = a.get(&format!("/api/user-limits/{ue}")).await?;
    ensure_eq!(
        l,
        json!([{"user": u, "value": {"max-connections": 2}}]),
        "limits after clearing max-channels"
    );
    Ok(())
}

async fn user_max_connections_enforced(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let (u, p) = a.new_user("u", "").await?;
    a.permit_all(&v, &u).await?;
    a.put(
        &format!("/api/user-limits/{}/max-connections", enc(&u)),
        json!({"value": 1}),
        204,
    )
    .await?;
    let url = ctx.url_as(&u, &p, &v)?;
    let mut first = RawConn::open(&url).await?;
    match RawConn::open(&url).await {
        Ok(_) => fail!("a second connection opened with a user limit of 1"),
        Err(e) if e.contains("connection.close(530") && e.contains("NOT_ALLOWED") => {}
        Err(e) => fail!("expected connection.close 530 NOT_ALLOWED, got: {e}"),
    }
    first.check_alive(1).await?;
    Ok(())
}

// ---- definitions ----

/// A vhost with a queue (with arguments), an exchange, a binding and a policy.
async fn populated_vhost(a: &Api, tag: &str) -> Result<String, Problem> {
    let v = a.vhost(tag).await?;
    a.put(
        &obj("queues", &v, "q"),
        json!({"durable": true, "arguments": {"x-max-length": 7}}),
        201,
    )
    .await?;
    a.put(
        &obj("exchanges", &v, "x"),
        json!({"type": "topic", "durable": true}),
        201,
    )
    .await?;
    a.post(
        &format!("/api/bindings/{}/e/x/q/q", enc(&v)),
        json!({"routing_key": "a.*"}),
        201,
    )
    .await?;
    a.put(
        &obj("policies", &v, "p"),
        json!({"pattern": "^q$", "definition": {"message-ttl": 60000}}),
        201,
    )
    .await?;
    Ok(v)
}

fn in_vhost<'a>(d: &'a Value, key: &str, vhost: &str) -> Vec<&'a Value> {
    d[key]
        .as_array()
        .map(|a| a.iter().filter(|x| x["vhost"] == vhost).collect())
        .unwrap_or_default()
}

async fn export_keys(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = populated_vhost(&a, "v").await?;
    let d = a.get("/api/definitions").await?;
    let keys = [
        "users",
        "vhosts",
        "permissions",
        "topic_permissions",
        "queues",
        "exchanges",
        "bindings",
        "policies",
        "parameters",
        "global_parameters",
    ];
    has_keys(&d, &keys, "definitions")?;
    for k in keys {
        ensure!(d[k].is_array(), "definitions.{k}: not an array");
    }
    ensure!(
        d["rabbit_version"].is_string() || d["rabbitmq_version"].is_string(),
        "definitions without rabbit_version"
    );
    ensure!(
        names(&d["vhosts"]).contains(&v),
        "new vhost not in the definitions"
    );
    ensure!(
        find(&d["users"], "name", a.user()).is_some_and(|u| u["password_hash"].is_string()
            && u["hashing_algorithm"].is_string()
            && (u["tags"].is_string() || u["tags"].is_array())),
        "user {} (with password_hash, hashing_algorithm, tags) not in the definitions",
        a.user()
    );
    let qs = in_vhost(&d, "queues", &v);
    ensure_eq!(qs.len(), 1, "queues of the vhost in the definitions");
    ensure_eq!(
        (qs[0]["name"].as_str(), qs[0]["durable"].as_bool()),
        (Some("q"), Some(true)),
        "queue (name, durable)"
    );
    ensure_eq!(
        qs[0]["arguments"],
        json!({"x-max-length": 7}),
        "queue arguments"
    );
    let xs = in_vhost(&d, "exchanges", &v);
    ensure_eq!(
        names(&json!(xs)),
        vec!["x"],
        "exchanges of the vhost (no amq.*)"
    );
    let bs = in_vhost(&d, "bindings", &v);
    ensure_eq!(
        bs.len(),
        1,
        "bindings of the vhost (no default-exchange ones)"
    );
    ensure_eq!(
        (
            bs[0]["source"].as_str(),
            bs[0]["destination"].as_str(),
            bs[0]["destination_type"].as_str(),
            bs[0]["routing_key"].as_str()
        ),
        (Some("x"), Some("q"), Some("queue"), Some("a.*")),
        "binding"
    );
    ensure_eq!(
        in_vhost(&d, "policies", &v).len(),
        1,
        "policies of the vhost"
    );
    ensure_eq!(
        in_vhost(&d, "permissions", &v).len(),
        1,
        "permissions of the vhost (its creator's)"
    );
    Ok(())
}

async fn vhost_export_omits_users(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = populated_vhost(&a, "v").await?;
    let d = a.get(&format!("/api/definitions/{}", enc(&v))).await?;
    for k in ["users", "vhosts", "permissions", "topic_permissions"] {
        ensure!(d.get(k).is_none(), "a vhost's definitions have {k}");
    }
    has_keys(
        &d,
        &["queues", "exchanges", "bindings", "policies", "parameters"],
        "a vhost's definitions",
    )?;
    ensure_eq!(names(&d["queues"]), vec!["q"], "queues");
    ensure_eq!(names(&d["exchanges"]), vec!["x"], "exchanges");
    ensure_eq!(names(&d["policies"]), vec!["p"], "policies");
    ensure_eq!(array(&d["bindings"], "bindings")?.len(), 1, "bindings");
    Ok(())
}

async fn export_includes_transient_queues(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    a.put(
        &obj("queues", &v, "transient"),
        json!({"durable": false}),
        201,
    )
    .await?;
    a.put(
        &obj("queues", &v, "auto"),
        json!({"durable": true, "auto_delete": true}),
        201,
    )
    .await?;
    let d = a.get(&format!("/api/definitions/{}", enc(&v))).await?;
    let mut got: Vec<(String, Option<bool>, Option<bool>)> = array(&d["queues"], "queues")?
        .iter()
        .map(|q| {
            (
                q["name"].as_str().unwrap_or_default().to_string(),
                q["durable"].as_bool(),
                q["auto_delete"].as_bool(),
            )
        })
        .collect();
    got.sort();
    ensure_eq!(
        got,
        vec![
            ("auto".to_string(), Some(true), Some(true)),
            ("transient".to_string(), Some(false), Some(false))
        ],
        "exported queues (name, durable, auto_delete)"
    );
    Ok(())
}

async fn import_into_fresh_vhost(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let from = populated_vhost(&a, "from").await?;
    let to = a.vhost("to").await?;
    let d = a.get(&format!("/api/definitions/{}", enc(&from))).await?;
    a.post(&format!("/api/definitions/{}", enc(&to)), d, 204)
        .await?;
    let q = a.get(&obj("queues", &to, "q")).await?;
    ensure_eq!(q["durable"].as_bool(), Some(true), "imported queue durable");
    ensure_eq!(
        q["arguments"],
        json!({"x-max-length": 7}),
        "imported queue arguments"
    );
    let x = a.get(&obj("exchanges", &to, "x")).await?;
    ensure_eq!(x["type"].as_str(), Some("topic"), "imported exchange type");
    let b = a
        .get(&format!("/api/bindings/{}/e/x/q/q", enc(&to)))
        .await?;
    ensure_eq!(array(&b, "bindings")?.len(), 1, "imported bindings");
    ensure_eq!(
        b[0]["routing_key"].as_str(),
        Some("a.*"),
        "imported binding key"
    );
    let p = a.get(&obj("policies", &to, "p")).await?;
    ensure_eq!(
        p["definition"],
        json!({"message-ttl": 60000}),
        "imported policy"
    );
    // The imported topology routes.
    let ch = {
        let conn = ctx
            .connect_url(&ctx.url_in(&to)?, ConnectionProperties::default())
            .await?;
        conn.create_channel().await.ctx("channel.open")?
    };
    publish(&ch, "x", "a.b", "routed").await?;
    wait_count(&ch, "q", 1).await?;
    // The source vhost is untouched.
    a.get(&obj("queues", &from, "q")).await?;
    Ok(())
}

async fn import_creates_users_vhosts_permissions(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let u = ctx.name("u");
    let v = ctx.name("v");
    ctx.track_api_delete(&format!("/api/users/{}", enc(&u)));
    ctx.track_api_delete(&format!("/api/vhosts/{}", enc(&v)));
    let defs = json!({
        "users": [{"name": u, "password": "imported-pw", "tags": "management"}],
        "vhosts": [{"name": v}],
        "permissions": [{"user": u, "vhost": v, "configure": ".*", "write": ".*", "read": ".*"}],
        "queues": [{"name": "q", "vhost": v, "durable": true, "auto_delete": false,
                    "arguments": {}}],
        "exchanges": [],
        "bindings": [],
        "policies": [],
        "parameters": [],
        "global_parameters": []
    });
    a.post("/api/definitions", defs, 204).await?;
    let w = a.as_user(&u, "imported-pw").get("/api/whoami").await?;
    ensure_eq!(
        strings(&w["tags"]),
        vec!["management"],
        "imported user's tags"
    );
    a.get(&format!("/api/vhosts/{}", enc(&v))).await?;
    let p = a
        .get(&format!("/api/permissions/{}/{}", enc(&v), enc(&u)))
        .await?;
    ensure_eq!(p["configure"].as_str(), Some(".*"), "imported permission");
    a.get(&obj("queues", &v, "q")).await?;
    // The imported user can use the imported vhost over AMQP.
    let conn = ctx
        .connect_url(
            &ctx.url_as(&u, "imported-pw", &v)?,
            ConnectionProperties::default(),
        )
        .await?;
    let ch = conn.create_channel().await.ctx("channel.open")?;
    publish(&ch, "", "q", "m").await?;
    wait_count(&ch, "q", 1).await
}

async fn import_malformed_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let r =
        a.m.send(
            "POST",
            &format!("/api/definitions/{}", enc(&v)),
            Some("{\"queues\": ["),
            Some("application/json"),
            &[],
        )
        .await?;
    expect_error(&r, 400, "bad_request", None, "import of malformed JSON")
}

//! Who may use the API (authentication, user tags), users, permissions and
//! topic permissions, and that what is set through the API is enforced over
//! AMQP.

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{BasicProperties, ConnectionProperties};
use serde_json::json;

use super::util::*;
use crate::raw::RawConn;
use crate::runner::{Case, CaseResult};
use crate::support::*;

pub fn cases() -> Vec<Case> {
    let mut v = crate::cases!("mgmt.auth";
        no_credentials_401_with_challenge,
        wrong_password_401_login_failed,
        unknown_user_401_login_failed,
        user_without_tags_not_management_user,
        management_user_not_administrator,
        management_user_sees_only_permitted_vhosts,
        management_user_cannot_get_a_vhost,
        whoami,
    );
    v.extend(crate::cases!("mgmt.users";
        crud_with_tags_as_string_and_list,
        password_hash_round_trip,
        empty_password_hash_cannot_log_in,
        without_permissions,
        bulk_delete,
    ));
    v.extend(crate::cases!("mgmt.permissions";
        set_get_list_delete,
        enforced_over_amqp,
        missing_vhost_or_user_400,
    ));
    v.extend(crate::cases!("mgmt.topic_permissions";
        set_list_delete,
        enforced_on_publish_to_amq_topic,
    ));
    v
}

// ---- authentication ----

async fn no_credentials_401_with_challenge(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?.anonymous();
    let r = a.call("GET", "/api/overview", None).await?;
    ensure_eq!(
        r.status,
        401,
        "GET /api/overview without credentials: status"
    );
    let challenge = r.header("www-authenticate").unwrap_or_default();
    ensure!(
        challenge.starts_with("Basic"),
        "401 without a Basic WWW-Authenticate challenge (got {challenge:?})"
    );
    Ok(())
}

async fn wrong_password_401_login_failed(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let user = a.user().to_string();
    let r = a
        .as_user(&user, "certainly-not-the-password")
        .call("GET", "/api/overview", None)
        .await?;
    expect_error(
        &r,
        401,
        "not_authorized",
        Some("Login failed"),
        "wrong password",
    )?;
    ensure!(
        r.header("www-authenticate").is_some(),
        "401 for a wrong password without WWW-Authenticate"
    );
    Ok(())
}

async fn unknown_user_401_login_failed(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let r = a
        .as_user(&ctx.name("nobody"), "x")
        .call("GET", "/api/whoami", None)
        .await?;
    expect_error(
        &r,
        401,
        "not_authorized",
        Some("Login failed"),
        "unknown user",
    )
}

async fn user_without_tags_not_management_user(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let (u, p) = a.new_user("notags", "").await?;
    let r = a.as_user(&u, &p).call("GET", "/api/overview", None).await?;
    expect_error(
        &r,
        401,
        "not_authorised",
        Some("Not management user"),
        "user without tags",
    )
}

async fn management_user_not_administrator(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let (u, p) = a.new_user("mgmt", "management").await?;
    let m = a.as_user(&u, &p);
    let r = m.call("GET", "/api/users", None).await?;
    expect_error(
        &r,
        401,
        "not_authorised",
        Some("Not administrator user"),
        "management user on /api/users",
    )?;
    let r = m.call("PUT", "/api/vhosts/x", Some(json!({}))).await?;
    expect_error(
        &r,
        401,
        "not_authorised",
        Some("Not administrator user"),
        "management user creating a vhost",
    )?;
    let w = m.get("/api/whoami").await?;
    ensure_eq!(w["name"].as_str(), Some(u.as_str()), "whoami name");
    ensure_eq!(strings(&w["tags"]), vec!["management"], "whoami tags");
    m.get("/api/overview").await?;
    Ok(())
}

async fn management_user_sees_only_permitted_vhosts(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let mine = a.vhost("mine").await?;
    let other = a.vhost("other").await?;
    let (u, p) = a.new_user("mgmt", "management").await?;
    a.permit_all(&mine, &u).await?;
    let m = a.as_user(&u, &p);
    let listed = names(&m.get("/api/vhosts").await?);
    ensure!(
        listed.contains(&mine),
        "vhost with permissions not listed: {listed:?}"
    );
    ensure!(
        !listed.contains(&other),
        "vhost without permissions listed for a management user"
    );
    m.get(&format!("/api/queues/{}", enc(&mine))).await?;
    let r = m
        .call("GET", &format!("/api/queues/{}", enc(&other)), None)
        .await?;
    ensure_eq!(
        r.status,
        401,
        "management user listing queues of a vhost without permissions: status"
    );
    Ok(())
}

async fn management_user_cannot_get_a_vhost(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let (u, p) = a.new_user("mgmt", "management").await?;
    a.permit_all(&v, &u).await?;
    // One vhost's page is for administrators, even with permissions there.
    let r = a
        .as_user(&u, &p)
        .call("GET", &format!("/api/vhosts/{}", enc(&v)), None)
        .await?;
    expect_error(
        &r,
        401,
        "not_authorised",
        Some("Not administrator user"),
        "management user getting one vhost",
    )
}

async fn whoami(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let w = a.get("/api/whoami").await?;
    has_keys(&w, &["name", "tags"], "whoami")?;
    ensure_eq!(w["name"].as_str(), Some(a.user()), "whoami name");
    ensure!(
        strings(&w["tags"]).iter().any(|t| t == "administrator"),
        "whoami tags: expected a list with administrator, got {}",
        w["tags"]
    );
    Ok(())
}

// ---- users ----

async fn crud_with_tags_as_string_and_list(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let u = ctx.name("u");
    let path = format!("/api/users/{}", enc(&u));
    ctx.track_api_delete(&path);
    a.put(
        &path,
        json!({"password": "pw1", "tags": "management,policymaker"}),
        201,
    )
    .await?;
    let v = a.get(&path).await?;
    has_keys(
        &v,
        &[
            "name",
            "password_hash",
            "hashing_algorithm",
            "tags",
            "limits",
        ],
        "user",
    )?;
    ensure_eq!(v["name"].as_str(), Some(u.as_str()), "name");
    ensure_eq!(
        strings(&v["tags"]),
        vec!["management", "policymaker"],
        "tags given as a comma-separated string"
    );
    ensure!(
        v["password_hash"].as_str().is_some_and(|h| !h.is_empty()),
        "password_hash: expected a non-empty string, got {}",
        v["password_hash"]
    );
    ensure_eq!(
        v["hashing_algorithm"].as_str(),
        Some("rabbit_password_hashing_sha256"),
        "hashing_algorithm"
    );
    ensure!(
        a.get("/api/users")
            .await?
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["name"] == u.as_str())),
        "user not in /api/users"
    );
    a.as_user(&u, "pw1").get("/api/whoami").await?;
    a.put(
        &path,
        json!({"password": "pw2", "tags": ["monitoring"]}),
        204,
    )
    .await?;
    let v = a.get(&path).await?;
    ensure_eq!(
        strings(&v["tags"]),
        vec!["monitoring"],
        "tags given as a list"
    );
    let r = a
        .as_user(&u, "pw1")
        .call("GET", "/api/whoami", None)
        .await?;
    ensure_eq!(r.status, 401, "old password after the change: status");
    a.as_user(&u, "pw2").get("/api/whoami").await?;
    a.delete(&path).await?;
    a.get_404(&path).await?;
    let r = a.call("DELETE", &path, None).await?;
    ensure_eq!(r.status, 404, "DELETE of a deleted user: status");
    Ok(())
}

async fn password_hash_round_trip(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let (first, _) = a.new_user("first", "management").await?;
    let first_path = format!("/api/users/{}", enc(&first));
    a.put(
        &first_path,
        json!({"password": "s3cret", "tags": "management"}),
        204,
    )
    .await?;
    let hash = a.get(&first_path).await?["password_hash"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let second = ctx.name("second");
    let path = format!("/api/users/{}", enc(&second));
    ctx.track_api_delete(&path);
    a.put(
        &path,
        json!({"password_hash": hash, "hashing_algorithm": "rabbit_password_hashing_sha256",
               "tags": "management"}),
        201,
    )
    .await?;
    ensure_eq!(
        a.get(&path).await?["password_hash"].as_str(),
        Some(hash.as_str()),
        "password_hash stored as given"
    );
    let w = a.as_user(&second, "s3cret").get("/api/whoami").await?;
    ensure_eq!(w["name"].as_str(), Some(second.as_str()), "whoami name");
    let r = a
        .as_user(&second, "s3cret-not")
        .call("GET", "/api/whoami", None)
        .await?;
    ensure_eq!(
        r.status,
        401,
        "wrong password for a user set by hash: status"
    );
    Ok(())
}

async fn empty_password_hash_cannot_log_in(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let u = ctx.name("nopw");
    let path = format!("/api/users/{}", enc(&u));
    ctx.track_api_delete(&path);
    a.put(
        &path,
        json!({"password_hash": "", "tags": "administrator"}),
        201,
    )
    .await?;
    ensure_eq!(
        a.get(&path).await?["password_hash"].as_str(),
        Some(""),
        "password_hash"
    );
    let r = a.as_user(&u, "").call("GET", "/api/whoami", None).await?;
    ensure_eq!(r.status, 401, "login with an empty password hash: status");
    Ok(())
}

async fn without_permissions(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let (u, _) = a.new_user("u", "").await?;
    let listed = names(&without_permissions_list(&a).await?);
    ensure!(
        listed.contains(&u),
        "user without permissions not in /api/users/without-permissions"
    );
    ensure!(
        !listed.contains(&a.user().to_string()),
        "{} (with permissions) listed in /api/users/without-permissions",
        a.user()
    );
    a.permit_all(&v, &u).await?;
    let listed = names(&without_permissions_list(&a).await?);
    ensure!(
        !listed.contains(&u),
        "user still in /api/users/without-permissions after getting permissions"
    );
    Ok(())
}

/// GET /api/users/without-permissions. RabbitMQ 3.10 answers 500 when a
/// user is deleted while it builds the list (other cases delete users all the
/// time): try again a few times.
async fn without_permissions_list(a: &Api) -> Result<serde_json::Value, crate::Problem> {
    let path = "/api/users/without-permissions";
    for _ in 0..5 {
        let r = a.call("GET", path, None).await?;
        if r.status != 500 {
            ensure_eq!(r.status, 200, "GET {path}: status ({})", r.body);
            return Ok(r.json()?);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    fail!("GET {path}: HTTP 500 five times in a row")
}

async fn bulk_delete(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let (u1, _) = a.new_user("a", "").await?;
    let (u2, _) = a.new_user("b", "").await?;
    let (keep, _) = a.new_user("keep", "").await?;
    a.post("/api/users/bulk-delete", json!({"users": [u1, u2]}), 204)
        .await?;
    a.get_404(&format!("/api/users/{}", enc(&u1))).await?;
    a.get_404(&format!("/api/users/{}", enc(&u2))).await?;
    a.get(&format!("/api/users/{}", enc(&keep))).await?;
    Ok(())
}

// ---- permissions ----

async fn set_get_list_delete(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let (u, _) = a.new_user("u", "").await?;
    let path = format!("/api/permissions/{}/{}", enc(&v), enc(&u));
    let body = json!({"configure": "^c", "write": "^w", "read": "^r"});
    a.put(&path, body.clone(), 201).await?;
    a.put(&path, body, 204).await?;
    let p = a.get(&path).await?;
    has_keys(
        &p,
        &["user", "vhost", "configure", "write", "read"],
        "permission",
    )?;
    ensure_eq!(
        (
            p["user"].as_str(),
            p["vhost"].as_str(),
            p["configure"].as_str(),
            p["write"].as_str(),
            p["read"].as_str()
        ),
        (
            Some(u.as_str()),
            Some(v.as_str()),
            Some("^c"),
            Some("^w"),
            Some("^r")
        ),
        "permission (user, vhost, configure, write, read)"
    );
    let of_vhost = a
        .get(&format!("/api/vhosts/{}/permissions", enc(&v)))
        .await?;
    ensure!(
        find(&of_vhost, "user", &u).is_some(),
        "not in /api/vhosts/{{vhost}}/permissions: {of_vhost}"
    );
    let of_user = a
        .get(&format!("/api/users/{}/permissions", enc(&u)))
        .await?;
    ensure_eq!(
        array(&of_user, "user's permissions")?.len(),
        1,
        "entries in /api/users/{{user}}/permissions"
    );
    ensure_eq!(
        of_user[0]["vhost"].as_str(),
        Some(v.as_str()),
        "vhost in /api/users/{{user}}/permissions"
    );
    let all = a.get("/api/permissions").await?;
    ensure!(
        array(&all, "/api/permissions")?
            .iter()
            .any(|p| p["user"] == u.as_str() && p["vhost"] == v.as_str()),
        "not in /api/permissions"
    );
    a.delete(&path).await?;
    a.get_404(&path).await?;
    Ok(())
}

async fn enforced_over_amqp(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let (u, p) = a.new_user("u", "").await?;
    a.put(
        &format!("/api/permissions/{}/{}", enc(&v), enc(&u)),
        json!({"configure": "^allowed\\.", "write": ".*", "read": ".*"}),
        201,
    )
    .await?;
    let conn = ctx
        .connect_url(&ctx.url_as(&u, &p, &v)?, ConnectionProperties::default())
        .await?;
    let ch = conn.create_channel().await.ctx("channel.open")?;
    ch.queue_declare(
        "allowed.q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("declaring a queue the configure pattern allows")?;
    expect_code_text(
        ch.queue_declare(
            "forbidden.q".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await,
        403,
        "ACCESS_REFUSED",
        "declaring a queue the configure pattern refuses",
    )
}

async fn missing_vhost_or_user_400(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let body = json!({"configure": ".*", "write": ".*", "read": ".*"});
    let r = a
        .call(
            "PUT",
            &format!("/api/permissions/{}/{}", enc(&v), enc(&ctx.name("nobody"))),
            Some(body.clone()),
        )
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some("vhost_or_user_not_found"),
        "permissions for a missing user",
    )?;
    let r = a
        .call(
            "PUT",
            &format!(
                "/api/permissions/{}/{}",
                enc(&ctx.name("novhost")),
                enc(a.user())
            ),
            Some(body),
        )
        .await?;
    expect_error(
        &r,
        400,
        "bad_request",
        Some("vhost_or_user_not_found"),
        "permissions in a missing vhost",
    )
}

// ---- topic permissions ----

async fn set_list_delete(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let (u, _) = a.new_user("u", "").await?;
    let path = format!("/api/topic-permissions/{}/{}", enc(&v), enc(&u));
    let body = json!({"exchange": "amq.topic", "write": "^a\\.", "read": ".*"});
    a.put(&path, body.clone(), 201).await?;
    a.put(&path, body, 204).await?;
    let l = a.get(&path).await?;
    ensure_eq!(array(&l, "topic permissions")?.len(), 1, "entries");
    has_keys(
        &l[0],
        &["user", "vhost", "exchange", "write", "read"],
        "topic permission",
    )?;
    ensure_eq!(
        (
            l[0]["user"].as_str(),
            l[0]["vhost"].as_str(),
            l[0]["exchange"].as_str(),
            l[0]["write"].as_str(),
            l[0]["read"].as_str()
        ),
        (
            Some(u.as_str()),
            Some(v.as_str()),
            Some("amq.topic"),
            Some("^a\\."),
            Some(".*")
        ),
        "topic permission (user, vhost, exchange, write, read)"
    );
    for list in [
        format!("/api/vhosts/{}/topic-permissions", enc(&v)),
        format!("/api/users/{}/topic-permissions", enc(&u)),
        "/api/topic-permissions".to_string(),
    ] {
        let l = a.get(&list).await?;
        ensure!(
            array(&l, &list)?
                .iter()
                .any(|p| p["user"] == u.as_str() && p["vhost"] == v.as_str()),
            "not in {list}"
        );
    }
    a.delete(&path).await?;
    a.get_404(&path).await?;
    Ok(())
}

async fn enforced_on_publish_to_amq_topic(ctx: Ctx) -> CaseResult {
    let a = api(&ctx)?;
    let v = a.vhost("v").await?;
    let (u, p) = a.new_user("u", "").await?;
    a.permit_all(&v, &u).await?;
    a.put(
        &format!("/api/topic-permissions/{}/{}", enc(&v), enc(&u)),
        json!({"exchange": "amq.topic", "write": "^a\\.", "read": ".*"}),
        201,
    )
    .await?;
    // A queue bound to everything amq.topic routes, declared by the suite's user.
    let admin = ctx
        .connect_url(&ctx.url_in(&v)?, ConnectionProperties::default())
        .await?;
    let ach = admin.create_channel().await.ctx("channel.open")?;
    ach.queue_declare(
        "all".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("queue.declare")?;
    bind(&ach, "all", "amq.topic", "#").await?;
    let mut c = RawConn::open(&ctx.url_as(&u, &p, &v)?).await?;
    c.open_channel(1).await?;
    c.publish(
        1,
        "amq.topic",
        "a.ok",
        false,
        BasicProperties::default(),
        b"ok",
    )
    .await?;
    c.publish(
        1,
        "amq.topic",
        "b.no",
        false,
        BasicProperties::default(),
        b"no",
    )
    .await?;
    crate::cases::errors::expect_soft(&mut c, 1, 403, "ACCESS_REFUSED").await?;
    wait_count(&ach, "all", 1).await?;
    expect_bodies(&ach, "all", &["ok"]).await
}

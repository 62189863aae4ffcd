//! What the management cases share: requests with the expected status, fresh
//! vhosts and users removed after the case, JSON shape checks, polling for
//! statistics (RabbitMQ emits them every 5 s).

use std::time::Duration;

use serde_json::Value;

use crate::mgmt::{Mgmt, Resp};
use crate::runner::{CaseResult, Problem};
use crate::support::{Context, Ctx};

pub use crate::mgmt::encode_segment as enc;

/// How long to wait for something that shows up with the next statistics
/// emission (RabbitMQ's collect_statistics_interval is 5 s).
pub const STATS: Duration = Duration::from_secs(15);

/// The management API as one case uses it.
#[derive(Clone)]
pub struct Api {
    /// The client (the suite's credentials unless changed).
    pub m: Mgmt,
    ctx: Ctx,
}

/// The API for this case, or a skip without `--mgmt-url`.
pub fn api(ctx: &Ctx) -> Result<Api, Problem> {
    Ok(Api {
        m: ctx.mgmt()?,
        ctx: ctx.clone(),
    })
}

fn short(body: &str) -> String {
    let mut s: String = body.chars().take(400).collect();
    if s.len() < body.len() {
        s.push_str("...");
    }
    s
}

impl Api {
    /// The same API with other credentials.
    pub fn as_user(&self, user: &str, password: &str) -> Api {
        Api {
            m: self.m.as_user(user, password),
            ctx: self.ctx.clone(),
        }
    }

    /// The same API without credentials.
    pub fn anonymous(&self) -> Api {
        Api {
            m: self.m.anonymous(),
            ctx: self.ctx.clone(),
        }
    }

    /// The user the suite authenticates as.
    pub fn user(&self) -> &str {
        &self.m.user
    }

    /// A request with a JSON body (or none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Resp, Problem> {
        let body = body.map(|b| b.to_string());
        self.m
            .send(method, path, body.as_deref(), Some("application/json"), &[])
            .await
            .map_err(Problem::Fail)
    }

    /// A request that must answer `status`.
    pub async fn expect(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Result<Resp, Problem> {
        let r = self.call(method, path, body).await?;
        ensure!(
            r.status == status,
            "{method} {path}: expected HTTP {status}, got {}: {}",
            r.status,
            short(&r.body)
        );
        Ok(r)
    }

    /// GET that must answer 200 with JSON.
    pub async fn get(&self, path: &str) -> Result<Value, Problem> {
        let r = self.expect("GET", path, None, 200).await?;
        r.json()
            .map_err(|e| Problem::Fail(format!("GET {path}: {e}")))
    }

    /// GET that must answer RabbitMQ's plain 404.
    pub async fn get_404(&self, path: &str) -> CaseResult {
        let r = self.expect("GET", path, None, 404).await?;
        expect_error(
            &r,
            404,
            "Object Not Found",
            Some("Not Found"),
            &format!("GET {path}"),
        )
    }

    /// PUT a JSON body; must answer `status` (201 created, 204 updated).
    pub async fn put(&self, path: &str, body: Value, status: u16) -> CaseResult {
        self.expect("PUT", path, Some(body), status)
            .await
            .map(|_| ())
    }

    /// DELETE; must answer 204.
    pub async fn delete(&self, path: &str) -> CaseResult {
        self.expect("DELETE", path, None, 204).await.map(|_| ())
    }

    /// POST a JSON body; must answer `status`.
    pub async fn post(&self, path: &str, body: Value, status: u16) -> Result<Resp, Problem> {
        self.expect("POST", path, Some(body), status).await
    }

    /// A fresh vhost (201), deleted after the case.
    pub async fn vhost(&self, tag: &str) -> Result<String, Problem> {
        let name = self.ctx.name(tag);
        let path = format!("/api/vhosts/{}", enc(&name));
        self.ctx.track_api_delete(&path);
        self.put(&path, serde_json::json!({}), 201).await?;
        Ok(name)
    }

    /// A fresh user with these tags (a comma-separated string), deleted
    /// after the case; returns its name and password.
    pub async fn new_user(&self, tag: &str, tags: &str) -> Result<(String, String), Problem> {
        let name = self.ctx.name(tag);
        let password = format!("pw-{name}");
        let path = format!("/api/users/{}", enc(&name));
        self.ctx.track_api_delete(&path);
        self.put(
            &path,
            serde_json::json!({"password": password, "tags": tags}),
            201,
        )
        .await?;
        Ok((name, password))
    }

    /// Give a user configure/write/read `.*` on a vhost.
    pub async fn permit_all(&self, vhost: &str, user: &str) -> CaseResult {
        self.put(
            &format!("/api/permissions/{}/{}", enc(vhost), enc(user)),
            serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}),
            201,
        )
        .await
    }

    /// Poll `path` until `f` finds what it wants in the JSON (or the time runs out).
    pub async fn poll<T>(
        &self,
        path: &str,
        what: &str,
        t: Duration,
        mut f: impl FnMut(&Value) -> Option<T>,
    ) -> Result<T, Problem> {
        let deadline = tokio::time::Instant::now() + t;
        loop {
            let v = self.get(path).await?;
            if let Some(x) = f(&v) {
                return Ok(x);
            }
            if tokio::time::Instant::now() >= deadline {
                fail!(
                    "GET {path}: {what}: not there after {}s; last answer: {}",
                    t.as_secs(),
                    short(&v.to_string())
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// An error answer: status, `{"error": error, "reason": reason}` (reason
/// checked when given; otherwise it must be present).
pub fn expect_error(
    r: &Resp,
    status: u16,
    error: &str,
    reason: Option<&str>,
    what: &str,
) -> CaseResult {
    ensure!(
        r.status == status,
        "{what}: expected HTTP {status}, got {}: {}",
        r.status,
        short(&r.body)
    );
    let v = r
        .json()
        .map_err(|e| Problem::Fail(format!("{what}: {e}")))?;
    ensure_eq!(v["error"].as_str(), Some(error), "{what}: error");
    match reason {
        Some(reason) => ensure_eq!(v["reason"].as_str(), Some(reason), "{what}: reason"),
        None => ensure!(
            !v["reason"].is_null(),
            "{what}: no reason in the error: {}",
            r.body
        ),
    }
    Ok(())
}

/// The keys must be present in the object.
pub fn has_keys(v: &Value, keys: &[&str], what: &str) -> CaseResult {
    let Some(o) = v.as_object() else {
        fail!(
            "{what}: expected a JSON object, got {}",
            short(&v.to_string())
        )
    };
    let missing: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !o.contains_key(*k))
        .collect();
    ensure!(
        missing.is_empty(),
        "{what}: missing keys {missing:?} (has {:?})",
        o.keys().collect::<Vec<_>>()
    );
    Ok(())
}

/// The value must be a JSON array.
pub fn array<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, Problem> {
    v.as_array().ok_or_else(|| {
        Problem::Fail(format!(
            "{what}: expected a JSON array, got {}",
            short(&v.to_string())
        ))
    })
}

/// The `name` of each item of an array.
pub fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The item of an array whose `key` is `value`.
pub fn find<'a>(v: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    v.as_array()?.iter().find(|i| i[key] == value)
}

/// A string array as Rust strings (tags).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A lapin channel in `vhost` as the suite's AMQP user (the connection is
/// closed after the case).
pub async fn channel_in(ctx: &Ctx, vhost: &str) -> Result<lapin::Channel, Problem> {
    let conn = ctx
        .connect_url(&ctx.url_in(vhost)?, lapin::ConnectionProperties::default())
        .await?;
    conn.create_channel().await.ctx("channel.open")
}

/// `/api/<kind>/<vhost>/<name>`.
pub fn obj(kind: &str, vhost: &str, name: &str) -> String {
    format!("/api/{kind}/{}/{}", enc(vhost), enc(name))
}

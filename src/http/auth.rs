//! Who is asking: HTTP basic credentials checked against the broker's users, and what
//! their tags let them do (RabbitMQ's management, policymaker, monitoring, administrator).

use super::error::{ApiError, ApiResult};
use crate::auth::{Permission, User};
use crate::broker::{Broker, Vhost};
use base64::Engine;
use hyper::StatusCode;
use std::net::SocketAddr;
use std::sync::Arc;

const MANAGEMENT_TAGS: &[&str] = &["management", "policymaker", "monitoring", "administrator"];

/// An authenticated management user.
pub(crate) struct Session {
    pub user: Arc<User>,
}

/// What a failed login gets: 401 with a challenge, as RabbitMQ sends it.
pub(crate) fn login_failed() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "not_authorized", "Login failed")
}

/// Checks the `Authorization` header; the user needs a management tag. `guest` may log in
/// from loopback only, as over AMQP.
pub(crate) fn authenticate(
    broker: &Broker,
    header: Option<&str>,
    peer: SocketAddr,
) -> ApiResult<Session> {
    let (name, password) = header
        .and_then(basic_credentials)
        .ok_or_else(login_failed)?;
    if name == "guest" && !peer.ip().is_loopback() {
        return Err(login_failed());
    }
    let user = broker
        .authenticate(&name, &password)
        .ok_or_else(login_failed)?;
    if !user
        .tags
        .iter()
        .any(|t| MANAGEMENT_TAGS.contains(&t.as_str()))
    {
        return Err(ApiError::not_authorised("Not management user"));
    }
    Ok(Session { user })
}

/// Decodes `Basic base64(user:password)`.
pub(crate) fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, b64) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

impl Session {
    pub(crate) fn is_admin(&self) -> bool {
        self.user.is_administrator()
    }

    /// `monitoring` or `administrator`: sees every vhost, connection and node figure.
    pub(crate) fn is_monitor(&self) -> bool {
        self.is_admin() || self.user.has_tag("monitoring")
    }

    pub(crate) fn is_policymaker(&self) -> bool {
        self.is_admin() || self.user.has_tag("policymaker")
    }

    pub(crate) fn require_admin(&self) -> ApiResult<()> {
        self.is_admin()
            .then_some(())
            .ok_or_else(|| ApiError::not_authorised("Not administrator user"))
    }

    pub(crate) fn require_monitor(&self) -> ApiResult<()> {
        self.is_monitor()
            .then_some(())
            .ok_or_else(|| ApiError::not_authorised("Not monitor user"))
    }

    pub(crate) fn require_policymaker(&self) -> ApiResult<()> {
        self.is_policymaker()
            .then_some(())
            .ok_or_else(|| ApiError::not_authorised("Not policymaker user"))
    }

    /// The user's permission in a vhost.
    pub(crate) fn permission(&self, broker: &Broker, vhost: &str) -> Option<Arc<Permission>> {
        broker.permission(&self.user.name, vhost)
    }

    /// Whether lists show this vhost's objects: monitors see all, others the vhosts they
    /// have permissions in.
    pub(crate) fn sees(&self, broker: &Broker, vhost: &str) -> bool {
        self.is_monitor() || self.permission(broker, vhost).is_some()
    }

    /// A vhost the user may act in: 404 if it does not exist, 401 without permissions.
    pub(crate) fn vhost(&self, broker: &Broker, name: &str) -> ApiResult<Arc<Vhost>> {
        let vh = broker.vhost(name).ok_or_else(ApiError::not_found)?;
        if self.permission(broker, name).is_none() {
            return Err(ApiError::not_authorised(
                "User not authorised to access virtual host",
            ));
        }
        Ok(vh)
    }

    /// A vhost the user may read (monitors read every vhost).
    pub(crate) fn visible_vhost(&self, broker: &Broker, name: &str) -> ApiResult<Arc<Vhost>> {
        let vh = broker.vhost(name).ok_or_else(ApiError::not_found)?;
        if !self.sees(broker, name) {
            return Err(ApiError::not_authorised(
                "User not authorised to access virtual host",
            ));
        }
        Ok(vh)
    }
}

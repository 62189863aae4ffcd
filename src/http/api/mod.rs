//! The API's resources, one module each. A handler reads what it needs from the broker or
//! turns the request into a broker command; the session decides what the user may see.

pub(super) mod bindings;
pub(super) mod cluster;
pub(super) mod connections;
pub(super) mod definitions;
pub(super) mod exchanges;
pub(super) mod health;
mod history;
pub(super) mod limits;
pub(super) mod nodes;
pub(super) mod overview;
pub(super) mod policies;
mod publish;
pub(super) mod queues;
pub(super) mod tls;
pub(super) mod topic_permissions;
pub(super) mod users;
pub(super) mod vhosts;

use super::auth::Session;
use super::error::{ApiError, ApiResult};
use super::request::Req;
use crate::broker::command::{Actor, Command, Outcome};
use crate::broker::{Broker, Vhost};
use std::sync::Arc;

/// `message_stats` as RabbitMQ writes it: each count with `<name>_details.rate`.
pub(crate) fn message_stats(report: &[(&'static str, u64, f64)]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (name, count, rate) in report {
        m.insert(name.to_string(), (*count).into());
        m.insert(format!("{name}_details"), rate_json(*rate));
    }
    serde_json::Value::Object(m)
}

/// `{"rate": r}`, rounded to a tenth as RabbitMQ shows rates.
pub(crate) fn rate_json(rate: f64) -> serde_json::Value {
    serde_json::json!({ "rate": (rate * 10.0).round() / 10.0 })
}

/// A time (unix ms) as RabbitMQ 3.10 writes `idle_since`: `2026-12-06T11:50:16.053+00:00`.
pub(crate) fn timestamp_json(ms: u64) -> serde_json::Value {
    let (days, in_day) = (ms / 86_400_000, ms % 86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (s, milli) = (in_day / 1000, in_day % 1000);
    let (h, min, sec) = (s / 3600, s / 60 % 60, s % 60);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{sec:02}.{milli:03}+00:00").into()
}

/// The (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's algorithm,
/// for the proleptic Gregorian calendar).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(m <= 2), m, d)
}

/// One request in flight: the broker, who asks, and what they sent.
pub(crate) struct Ctx {
    pub broker: Arc<Broker>,
    pub session: Session,
    pub req: Req,
    /// The node's listeners and cluster.
    pub node: crate::http::Listeners,
}

impl Ctx {
    /// Runs a command as the session's user and waits until its changes are on disk.
    pub(crate) async fn run(&self, cmd: Command) -> ApiResult<Outcome> {
        let actor = Actor {
            user: Some(&self.session.user),
            permission: None,
            connection: None,
        };
        Ok(self.broker.run(&actor, cmd).await?)
    }

    /// Path segment `i` (the router checked the count).
    pub(crate) fn seg(&self, i: usize) -> &str {
        self.req.path.get(i).map_or("", String::as_str)
    }

    /// The vhosts whose objects a list shows: one named in the path, or all visible ones.
    pub(crate) fn vhosts_listed(&self, named: Option<&str>) -> ApiResult<Vec<Arc<Vhost>>> {
        match named {
            Some(v) => Ok(vec![self.session.visible_vhost(&self.broker, v)?]),
            None => Ok(self
                .broker
                .vhosts()
                .into_iter()
                .filter(|vh| self.session.sees(&self.broker, &vh.name))
                .collect()),
        }
    }

    /// Permissions are set only for an existing vhost and user (else 400, as RabbitMQ).
    pub(crate) fn vhost_and_user_exist(&self, vhost: &str, user: &str) -> ApiResult<()> {
        if self.broker.vhost(vhost).is_none() || self.broker.user(user).is_none() {
            return Err(ApiError::bad_request("vhost_or_user_not_found"));
        }
        Ok(())
    }

    /// A vhost written to: it must exist (404 `vhost_not_found`) and the user needs
    /// permissions there.
    pub(crate) fn vhost_for_write(&self, name: &str) -> ApiResult<Arc<Vhost>> {
        if self.broker.vhost(name).is_none() {
            return Err(ApiError::no_vhost());
        }
        self.session.vhost(&self.broker, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_rabbitmq_writes_idle_since() {
        for (ms, text) in [
            (0, "1970-01-01T00:00:00.000+00:00"),
            (951_782_400_000, "2000-02-29T00:00:00.000+00:00"),
            (1_796_558_223_007, "2026-12-06T11:57:03.007+00:00"),
            (4_107_542_399_999, "2100-02-28T23:59:59.999+00:00"),
        ] {
            assert_eq!(timestamp_json(ms), text, "{ms}");
        }
    }
}

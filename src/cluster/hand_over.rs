//! A graceful stop hands each mirrored queue mastered here to a mirror before the node
//! leaves, as `ha-promote-on-shutdown` says (RabbitMQ 3.x's controlled shutdown): to the
//! oldest synchronised mirror (`when-synced`, the default), or to the oldest running mirror
//! even when it lacks messages (`always`). With `when-synced` and no synchronised mirror the
//! queue stays here and waits for this node to come back, losing nothing.

use super::mirrors::Failover;
use super::Cluster;
use std::sync::Arc;
use std::time::Duration;

/// How long a stop waits for all its hand-overs to be committed.
const HAND_OVER_WAIT: Duration = Duration::from_secs(5);

impl Cluster {
    /// Hands every mirrored queue mastered here to a mirror (on a graceful stop, once the
    /// clients are gone, so their unsettled messages are back in the queues).
    pub async fn hand_over(self: &Arc<Self>) {
        let status = self.status();
        let running = status.running_nodes();
        let mut done = Vec::new();
        for vhost in self.broker.vhosts() {
            for q in vhost.queues() {
                let mirrors = q.mirrors();
                if q.is_remote() || mirrors.is_empty() || q.exclusive_owner.is_some() {
                    continue;
                }
                let always = self.ha_setting(&vhost.name, &q.name, "ha-promote-on-shutdown")
                    == Some("always".into());
                let up = || mirrors.iter().filter(|n| running.contains(&n.as_str()));
                let synchronised = q.synchronised();
                let f = Failover {
                    vhost: vhost.name.clone(),
                    synchronised: up().filter(|n| synchronised.contains(n)).cloned().collect(),
                    otherwise: up().next().filter(|_| always).cloned(),
                    master: self.me.name.clone(),
                    queue: q.clone(),
                };
                match self.promotion(f).await {
                    Some(cmd) => {
                        tracing::info!(
                            "queue '{}' in vhost '{}': handed over to a mirror as this node stops",
                            q.name,
                            vhost.name
                        );
                        done.extend(self.broker.run_as_broker(cmd));
                    }
                    None => tracing::info!(
                        "queue '{}' in vhost '{}': no synchronised mirror to hand over to \
                         (ha-promote-on-shutdown: when-synced); it waits for this node",
                        q.name,
                        vhost.name
                    ),
                }
            }
        }
        let all = futures_util::future::join_all(done.into_iter().map(|t| t.written()));
        if tokio::time::timeout(HAND_OVER_WAIT, all).await.is_err() {
            tracing::warn!("stopping before every mirrored queue was handed over");
        }
    }
}

//! On the leader: every queue's mirrors placed where its `ha-mode` policy wants them, as
//! nodes start and stop and policies change, and a mirror promoted when its master's node
//! is down, through the replicated log (so every node agrees on them, on their order, oldest
//! first, and on the one master).

use super::node::node_id;
use super::queues::data::QueueId;
use super::wire::{Request, Response};
use super::Cluster;
use crate::broker::command::Command;
use crate::broker::mirror_plan::{plan, HaMode};
use std::sync::Arc;
use std::time::Duration;

/// How long after this node starts it leaves mirrors alone, while its links come up (at
/// most `net_ticktime`, which is 60 s by default: mirrors are placed sooner than that).
const START_GRACE: Duration = Duration::from_secs(5);
/// How long a mirror's node may take to say whether it is in sync (before it is asked
/// again).
const ASK: Duration = Duration::from_secs(2);
/// How often every node notes who runs, and the leader looks again when that changed.
const EVERY: Duration = Duration::from_millis(200);
/// How often the leader looks at every queue anyway (policies change too).
const FULL_PASS: Duration = Duration::from_secs(1);
/// How long a master's node must have been down before a mirror takes over (a link that
/// drops and comes back at once is not a dead node). A promotion of a master still alive
/// loses nothing: what it confirmed, every mirror held.
const DOWN_FOR: Duration = Duration::from_secs(1);

impl Cluster {
    pub(super) async fn place_mirrors(self: Arc<Self>) {
        // Kept on every node, so a leader elected after the old one died with a master
        // knows how long that master has been down.
        let mut down_since = super::status::DownSince::default();
        let mut last: Option<(Vec<String>, Vec<String>)> = None;
        let mut full_pass = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(EVERY).await;
            if *self.broker.shutdown.borrow() {
                return;
            }
            let status = self.status();
            let dead = down_since.update(&status, DOWN_FOR);
            // Links to members come up in the first moments of a start.
            if status.leader.as_deref() != Some(self.me.name.as_str())
                || self.broker.started.elapsed() < self.links.tick().min(START_GRACE)
            {
                last = None;
                continue;
            }
            let running: Vec<String> = (status.running_nodes().into_iter())
                .map(str::to_owned)
                .collect();
            let seen = Some((running.clone(), dead.clone()));
            if seen == last && full_pass.elapsed() < FULL_PASS {
                continue;
            }
            last = seen;
            full_pass = tokio::time::Instant::now();
            let (moves, failovers) = self.misplaced(&running, &dead);
            for cmd in moves {
                self.broker.run_as_broker(cmd);
            }
            for f in failovers {
                if let Some(cmd) = self.promotion(f).await {
                    self.broker.run_as_broker(cmd);
                }
            }
        }
    }

    /// The promotion for a queue whose master is down: its oldest running mirror that the
    /// log counts synchronised and that says it holds what that was counted for (it has
    /// not restarted or been resumed since). None such, the queue waits for its master
    /// (no confirmed message is lost), unless its policy says `ha-promote-on-failure:
    /// always`.
    pub(super) async fn promotion(&self, f: Failover) -> Option<Command> {
        let id = QueueId {
            vhost: f.vhost.clone(),
            name: f.queue.name.clone(),
        };
        let mut chosen = None;
        for node in &f.synchronised {
            let in_sync = if *node == self.me.name {
                f.queue.mirror_in_sync()
            } else {
                let Some(member) = self.links.member(node_id(node)) else {
                    continue;
                };
                let ask = Request::MirrorInSync(id.clone());
                match self.links.request(&member, ask, ASK).await {
                    Ok(Response::Index(1)) => true,
                    Ok(_) => false,
                    // A mirror slow to answer is not passed over for a younger one: the
                    // leader asks again on its next pass (a node that stays silent is
                    // found down after net_ticktime, and is no candidate then).
                    Err(e) => {
                        tracing::info!(
                            "queue '{}': mirror on {node} did not say whether it is in sync ({e}); asking again",
                            f.queue.name
                        );
                        return None;
                    }
                }
            };
            if in_sync {
                chosen = Some(node.clone());
                break;
            }
        }
        let node = chosen.or(f.otherwise)?;
        tracing::info!(
            "queue '{}': master {} down, promoting {node} (mirrors {:?}, synchronised {:?})",
            f.queue.name,
            f.master,
            f.queue.mirrors(),
            f.synchronised
        );
        Some(Command::PromoteMirror {
            vhost: f.vhost,
            name: f.queue.name.clone(),
            node,
        })
    }

    /// The changes that put every queue's mirrors where they belong now, and the queues
    /// whose master is down.
    fn misplaced(&self, running: &[String], dead: &[String]) -> (Vec<Command>, Vec<Failover>) {
        let mut out = Vec::new();
        let mut failovers = Vec::new();
        for vhost in self.broker.vhosts() {
            for q in vhost.queues() {
                if q.exclusive_owner.is_some() {
                    continue;
                }
                let mode = {
                    let policies = self.broker.policies.read();
                    let (user, _) = policies.for_queue(&vhost.name, &q.name);
                    user.and_then(|p| HaMode::of(&p.definition))
                };
                let always = self.ha_setting(&vhost.name, &q.name, "ha-promote-on-failure")
                    == Some("always".into());
                let master = q.home_node().unwrap_or_else(|| self.me.name.clone());
                let current = q.mirrors();
                if !running.contains(&master) {
                    if dead.contains(&master) && !current.is_empty() {
                        let synchronised = q.synchronised();
                        let up = || current.iter().filter(|n| running.contains(n));
                        failovers.push(Failover {
                            vhost: vhost.name.clone(),
                            synchronised: up()
                                .filter(|n| synchronised.contains(n))
                                .cloned()
                                .collect(),
                            otherwise: up().next().filter(|_| always).cloned(),
                            queue: q,
                            master,
                        });
                    }
                    continue;
                }
                let nodes = plan(mode.as_ref(), &q.name, &master, &current, running);
                if nodes != current {
                    out.push(Command::SetMirrors {
                        vhost: vhost.name.clone(),
                        name: q.name.clone(),
                        nodes,
                    });
                }
            }
        }
        (out, failovers)
    }

    /// A string setting of the policy that applies to queue `name` (`ha-promote-on-failure`,
    /// say).
    pub(super) fn ha_setting(&self, vhost: &str, name: &str, key: &str) -> Option<String> {
        let policies = self.broker.policies.read();
        let (user, _) = policies.for_queue(vhost, name);
        let value = user.and_then(|p| p.definition.get(key))?;
        value.as_str().map(str::to_owned)
    }
}

/// A queue whose master's node is down, or stops.
pub(super) struct Failover {
    pub(super) vhost: String,
    pub(super) queue: Arc<crate::queue::Queue>,
    pub(super) master: String,
    /// Its running mirrors the log counts synchronised, oldest first.
    pub(super) synchronised: Vec<String>,
    /// The oldest running mirror, when its policy says to promote one unsynchronised.
    pub(super) otherwise: Option<String>,
}

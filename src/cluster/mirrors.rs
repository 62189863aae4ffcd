//! On the leader: every queue's mirrors placed where its `ha-mode` policy wants them, as
//! nodes start and stop and policies change, and a mirror promoted when its master's node
//! is down, through the replicated log (so every node agrees on them, on their order, oldest
//! first, and on the one master).

use super::Cluster;
use crate::broker::command::Command;
use crate::broker::mirror_plan::{plan, HaMode};
use std::sync::Arc;
use std::time::Duration;

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
                || self.broker.started.elapsed() < self.links.tick()
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
            for cmd in self.misplaced(&running, &dead) {
                self.broker.run_as_broker(cmd);
            }
        }
    }

    /// The changes that put every queue's mirrors where they belong now.
    fn misplaced(&self, running: &[String], dead: &[String]) -> Vec<Command> {
        let mut out = Vec::new();
        for vhost in self.broker.vhosts() {
            for q in vhost.queues() {
                if q.exclusive_owner.is_some() {
                    continue;
                }
                let (mode, always) = {
                    let policies = self.broker.policies.read();
                    let (user, _) = policies.for_queue(&vhost.name, &q.name);
                    let definition = user.map(|p| &p.definition);
                    let promote = definition.and_then(|d| d.get("ha-promote-on-failure"));
                    let always = promote.and_then(|v| v.as_str()) == Some("always");
                    (definition.and_then(HaMode::of), always)
                };
                let master = q.home_node().unwrap_or_else(|| self.me.name.clone());
                let current = q.mirrors();
                if !running.contains(&master) {
                    let Some(node) = (dead.contains(&master))
                        .then(|| successor(&q, &current, running, always))
                        .flatten()
                    else {
                        continue;
                    };
                    tracing::info!(
                        "queue '{}': master {master} down, promoting {node} (mirrors {current:?}, synchronised {:?})",
                        q.name,
                        q.synchronised()
                    );
                    out.push(Command::PromoteMirror {
                        vhost: vhost.name.clone(),
                        name: q.name.clone(),
                        node,
                    });
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
        out
    }
}

/// The mirror to promote: the oldest running one that holds everything the master held.
/// None holding it all, the queue waits for its master (no confirmed message is lost),
/// unless its policy says `ha-promote-on-failure: always`.
fn successor(
    q: &crate::queue::Queue,
    mirrors: &[String],
    running: &[String],
    always: bool,
) -> Option<String> {
    let synchronised = q.synchronised();
    let up = || mirrors.iter().filter(|n| running.contains(n));
    if let Some(n) = up().find(|n| synchronised.contains(n)) {
        return Some(n.clone());
    }
    up().next().filter(|_| always).cloned()
}

//! On the leader: every queue's mirrors placed where its `ha-mode` policy wants them, as
//! nodes start and stop and policies change, through the replicated log (so every node
//! agrees on them and on their order, oldest first).

use super::Cluster;
use crate::broker::command::Command;
use crate::broker::mirror_plan::{plan, HaMode};
use std::sync::Arc;
use std::time::Duration;

/// How often the leader looks.
const EVERY: Duration = Duration::from_secs(1);

impl Cluster {
    pub(super) async fn place_mirrors(self: Arc<Self>) {
        loop {
            tokio::time::sleep(EVERY).await;
            if *self.broker.shutdown.borrow() {
                return;
            }
            let status = self.status();
            // Links to members come up in the first moments of a start.
            if status.leader.as_deref() != Some(self.me.name.as_str())
                || self.broker.started.elapsed() < self.links.tick()
            {
                continue;
            }
            let running: Vec<String> = (status.running_nodes().into_iter())
                .map(str::to_owned)
                .collect();
            for cmd in self.misplaced(&running) {
                self.broker.run_as_broker(cmd);
            }
        }
    }

    /// The changes that put every queue's mirrors where they belong now.
    fn misplaced(&self, running: &[String]) -> Vec<Command> {
        let mut out = Vec::new();
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
                let master = q.home_node.as_deref().unwrap_or(&self.me.name);
                let current = q.mirrors();
                let nodes = plan(mode.as_ref(), &q.name, master, &current, running);
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

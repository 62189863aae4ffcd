//! The broker as its queues' owner: it routes their dead letters and deletes a queue that
//! went unused for its `x-expires`.

use super::command::Command;
use super::Broker;
use crate::queue::{DeadLetter, Queue, QueueOwner};
use crate::store::meta_log::Ticket;
use std::sync::Arc;

impl QueueOwner for Broker {
    fn has_exchange(&self, vhost: &str, exchange: &str) -> bool {
        self.vhost(vhost)
            .is_some_and(|v| v.exchange(exchange).is_some())
    }

    fn dead_letter(&self, from: &Arc<Queue>, letters: Vec<DeadLetter>) {
        let Some(vhost) = self.vhost(&from.vhost) else {
            return;
        };
        let mut targets = Vec::new();
        for letter in letters {
            let Some(exchange) = vhost.exchange(letter.msg.exchange()) else {
                continue;
            };
            targets.clear();
            vhost.route(
                &exchange,
                letter.msg.routing_key(),
                letter.routing_headers.as_ref(),
                &mut targets,
            );
            targets.retain(|t| letter.may_enter(&t.name));
            if !targets.is_empty() {
                super::publish::enqueue(self, letter.msg, &targets, None);
            }
        }
    }

    fn synchronised(&self, queue: &Arc<Queue>, nodes: Vec<String>) -> Option<Ticket> {
        let master = self.replicator.get().map(|r| r.node().to_string());
        self.run_as_broker(crate::broker::command::Command::SetSynchronised {
            vhost: queue.vhost.clone(),
            name: queue.name.clone(),
            master,
            nodes,
        })
    }

    fn expired(&self, queue: &Arc<Queue>) {
        if queue.is_deleted() {
            return;
        }
        let cmd = Command::DeleteQueue {
            vhost: queue.vhost.clone(),
            name: queue.name.clone(),
            if_unused: true,
            if_empty: false,
        };
        // Nothing waits for it: the queue expired on its own.
        drop(self.run_as_broker(cmd));
    }
}

//! Commands on a cluster node. Alone, a node runs a command at once and writes its changes
//! to the metadata log; in a cluster, the command is first appended to the replicated log
//! (a [`Replicator`], which the cluster frontend provides), and every node applies it in log
//! order with [`Broker::apply_logged`]. Either way the caller of [`Broker::run`] gets the
//! command's outcome once the change is durable.

use super::command::{Actor, Command, CommandError, CommandResult, Outcome};
use super::Broker;
use crate::store::meta_log::Ticket;
use crate::store::meta_model::Change;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// A command as the replicated log holds it: who asked, by name, so every node checks the
/// same permissions against the same replicated users.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Logged {
    /// `None`: the broker itself.
    pub user: Option<String>,
    pub connection: Option<u64>,
    pub command: Command,
    /// The node that proposed it and a number it chose: that node answers its client with
    /// its own application's outcome (a queue's contents differ between nodes).
    #[serde(default)]
    pub origin: Option<(u64, u64)>,
}

/// A command's outcome in a form every node can send back to the one that asked.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Done,
    Queue { created: bool },
    Messages(u32),
}

impl Reply {
    fn of(o: &Outcome) -> Reply {
        match o {
            Outcome::Done => Reply::Done,
            Outcome::Queue { created, .. } => Reply::Queue { created: *created },
            Outcome::Messages(n) => Reply::Messages(*n),
        }
    }
}

pub type ReplyFuture = Pin<Box<dyn Future<Output = CommandResult<Reply>> + Send>>;

/// Appends commands to the cluster's replicated log and answers once this node applied them;
/// and knows the cluster's nodes, where queues live.
pub(crate) trait Replicator: Send + Sync {
    fn propose(&self, entry: Logged) -> ReplyFuture;

    /// This node's name.
    fn node(&self) -> &str;

    /// The way to queues whose home is `node`; `None` for this node.
    fn home(&self, node: &str) -> Option<std::sync::Arc<dyn crate::queue::Home>>;

    /// The members running now (this node included).
    fn running_nodes(&self) -> Vec<String>;

    /// The way from this node's mirrored queues to their mirrors.
    fn mirror_links(&self) -> std::sync::Arc<dyn crate::queue::mirror::MirrorLinks>;
}

impl Broker {
    /// Runs a command and waits until its change is durable: on this node's metadata log
    /// alone, or committed to the cluster's log and applied here.
    pub async fn run(&self, actor: &Actor<'_>, cmd: Command) -> CommandResult<Outcome> {
        let Some(r) = self.replicator.get() else {
            let applied = self.execute(actor, cmd)?;
            if let Some(t) = applied.persisted {
                t.written()
                    .await
                    .map_err(|e| CommandError::Internal(format!("cannot store the change: {e}")))?;
            }
            return Ok(applied.outcome);
        };
        let mut cmd = cmd;
        match &mut cmd {
            Command::PurgeQueue { vhost, name } => {
                // An operation on the queue's messages, at its home; not metadata.
                let q = self.purge_target(actor, vhost, name)?;
                let purged = q.purge_anywhere().await;
                return purged
                    .map(Outcome::Messages)
                    .map_err(CommandError::NotFound);
            }
            Command::DeclareQueue(d) => {
                // A home named by imported definitions must be a running member.
                let running = r.running_nodes();
                if !d.home.as_ref().is_some_and(|h| running.contains(h)) {
                    d.home = Some(self.choose_home(r.as_ref(), d));
                }
            }
            Command::DeleteQueue {
                vhost,
                name,
                if_unused,
                if_empty,
            } => {
                if let Some(n) = self.delete_remote(actor, vhost, name, *if_unused, *if_empty) {
                    let ready = n.await?;
                    let entry = Logged {
                        user: actor.user.map(|u| u.name.clone()),
                        connection: actor.connection,
                        command: cmd,
                        origin: None,
                    };
                    r.propose(entry).await?;
                    return Ok(Outcome::Messages(ready));
                }
            }
            _ => {}
        }
        let declared = match &cmd {
            Command::DeclareQueue(d) => Some((d.vhost.clone(), d.name.clone())),
            _ => None,
        };
        let entry = Logged {
            user: actor.user.map(|u| u.name.clone()),
            connection: actor.connection,
            command: cmd,
            origin: None,
        };
        match r.propose(entry).await? {
            Reply::Done => Ok(Outcome::Done),
            Reply::Messages(n) => Ok(Outcome::Messages(n)),
            Reply::Queue { created } => {
                let (vhost, name) = declared.ok_or_else(|| {
                    CommandError::Internal("a queue outcome for a command on no queue".into())
                })?;
                let queue = self
                    .vhost(&vhost)
                    .and_then(|v| v.queue(&name))
                    .ok_or_else(|| CommandError::no_queue(&vhost, &name))?;
                if created {
                    self.mirror_from_the_start(r.as_ref(), &queue).await;
                }
                Ok(Outcome::Queue { queue, created })
            }
        }
    }

    /// Runs a command the broker itself decided on (deleting an exclusive or auto-delete
    /// queue) without waiting: at once alone, in the background through the cluster's log.
    /// The ticket resolves once it is done (and written); a refusal is only logged.
    pub fn run_as_broker(&self, cmd: Command) -> Option<Ticket> {
        let Some(r) = self.replicator.get() else {
            return match self.execute(&Actor::BROKER, cmd) {
                Ok(applied) => applied.persisted,
                Err(e) => {
                    tracing::debug!("not done: {e}");
                    None
                }
            };
        };
        let entry = Logged {
            user: None,
            connection: None,
            command: cmd,
            origin: None,
        };
        let proposed = r.propose(entry);
        let (tx, ticket) = Ticket::channel();
        tokio::spawn(async move {
            if let Err(e) = proposed.await {
                tracing::debug!("not done: {e}");
            }
            let _ = tx.send(Ok(()));
        });
        Some(ticket)
    }

    /// Runs commands in order, stopping at the first refused (its index and error); alone,
    /// their changes are written in one batch.
    pub async fn run_all(
        &self,
        actor: &Actor<'_>,
        cmds: impl IntoIterator<Item = Command>,
    ) -> Result<(), (usize, CommandError)> {
        let mut tickets = Vec::new();
        for (i, cmd) in cmds.into_iter().enumerate() {
            if self.is_clustered() {
                self.run(actor, cmd).await.map_err(|e| (i, e))?;
            } else {
                tickets.extend(self.execute(actor, cmd).map_err(|e| (i, e))?.persisted);
            }
        }
        for (i, t) in tickets.into_iter().enumerate() {
            let stored = t.written().await;
            stored.map_err(|e| (i, CommandError::Internal(format!("cannot store: {e}"))))?;
        }
        Ok(())
    }

    /// Applies a command from the replicated log, adding its durable changes to `changes`
    /// (the caller writes them with the state machine's position).
    pub fn apply_logged(&self, entry: Logged, changes: &mut Vec<Change>) -> CommandResult<Reply> {
        let user = match &entry.user {
            Some(name) => match self.user(name) {
                Some(u) => Some(u),
                None => {
                    let e = CommandError::AccessRefused(format!("user '{name}' is gone"));
                    return Err(e);
                }
            },
            None => None,
        };
        let actor = Actor {
            user: user.as_deref(),
            permission: None,
            connection: entry.connection,
        };
        let result = self.apply(&actor, entry.command, changes);
        result.map(|o| Reply::of(&o))
    }

    /// A new queue that an `ha-mode` policy mirrors gets its mirrors before its declare is
    /// answered, so its first message is mirrored (the leader's planner would place them
    /// within a second or so, as it does when a policy changes).
    async fn mirror_from_the_start(&self, r: &dyn Replicator, q: &crate::queue::Queue) {
        if q.exclusive_owner.is_some() || !q.mirrors().is_empty() {
            return;
        }
        let mode = {
            let policies = self.policies.read();
            let (user, _) = policies.for_queue(&q.vhost, &q.name);
            user.and_then(|p| super::mirror_plan::HaMode::of(&p.definition))
        };
        let master = q.home_node().unwrap_or_else(|| r.node().to_string());
        let running = r.running_nodes();
        let nodes = super::mirror_plan::plan(mode.as_ref(), &q.name, &master, &[], &running);
        if nodes.is_empty() {
            return;
        }
        let entry = Logged {
            user: None,
            connection: None,
            command: Command::SetMirrors {
                vhost: q.vhost.clone(),
                name: q.name.clone(),
                nodes,
            },
            origin: None,
        };
        if let Err(e) = r.propose(entry).await {
            tracing::debug!("queue '{}': mirrors left to the planner: {e}", q.name);
        }
    }

    /// The node a new queue lives on: the declaring client's (RabbitMQ's `client-local`),
    /// or as `x-queue-master-locator` or the `queue-master-locator` policy say:
    /// `min-masters` (the running node with the fewest queues) or `random`. An exclusive
    /// queue stays with its connection.
    fn choose_home(&self, r: &dyn Replicator, d: &super::command::QueueDecl) -> String {
        let me = r.node().to_string();
        if d.exclusive_owner.is_some() {
            return me;
        }
        let locator = match d.arguments.inner().get("x-queue-master-locator") {
            Some(amq_protocol::types::AMQPValue::LongString(s)) => {
                String::from_utf8_lossy(s.as_bytes()).into_owned()
            }
            Some(amq_protocol::types::AMQPValue::ShortString(s)) => s.to_string(),
            _ => {
                let policies = self.policies.read();
                let (user, _) = policies.for_queue(&d.vhost, &d.name);
                let configured = self.config.cluster.as_ref();
                (user.and_then(|p| p.definition.get("queue-master-locator")))
                    .and_then(|v| v.as_str())
                    .or(configured.map(|c| c.queue_master_locator.as_str()))
                    .unwrap_or_default()
                    .to_string()
            }
        };
        let mut nodes = r.running_nodes();
        nodes.sort();
        match locator.as_str() {
            "min-masters" => {
                let mut homes: std::collections::HashMap<&str, usize> =
                    nodes.iter().map(|n| (n.as_str(), 0)).collect();
                let queues = self.vhosts().into_iter().flat_map(|v| v.queues());
                for q in queues {
                    let home = q.home_node().unwrap_or_else(|| me.clone());
                    if let Some(n) = homes.get_mut(home.as_str()) {
                        *n += 1;
                    }
                }
                (nodes.iter().min_by_key(|n| homes.get(n.as_str()).copied()))
                    .cloned()
                    .unwrap_or(me)
            }
            "random" if !nodes.is_empty() => {
                use rand::Rng;
                nodes.swap_remove(rand::thread_rng().gen_range(0..nodes.len()))
            }
            _ => me,
        }
    }

    /// For the deletion of a queue homed on another node: the home's counts checked
    /// against `if_unused` and `if_empty` here (the other nodes see no messages), and the
    /// ready messages the deletion drops. `None` for a queue of this node.
    fn delete_remote(
        &self,
        actor: &Actor,
        vhost: &str,
        name: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> Option<impl Future<Output = CommandResult<u32>> + 'static> {
        let q = self.vhost(vhost)?.queue(name)?;
        let report = q.remote()?.report(&q);
        let allowed = self.delete_target(actor, vhost, name).map(|_| ());
        let (vhost, name) = (vhost.to_string(), name.to_string());
        Some(async move {
            allowed?;
            let c = report.await.map_err(CommandError::NotFound)?.counts();
            if if_unused && c.consumers > 0 {
                return Err(CommandError::PreconditionFailed(format!(
                    "queue '{name}' in vhost '{vhost}' in use"
                )));
            }
            if if_empty && c.ready > 0 {
                return Err(CommandError::PreconditionFailed(format!(
                    "queue '{name}' in vhost '{vhost}' not empty"
                )));
            }
            Ok(c.ready)
        })
    }

    /// The way to queues whose home is `node`, when that is another cluster node.
    pub(crate) fn remote_home(&self, node: &str) -> Option<std::sync::Arc<dyn crate::queue::Home>> {
        self.replicator.get()?.home(node)
    }

    /// Sets the cluster's log as the way commands are run (once, when the node starts in a
    /// cluster).
    pub(crate) fn set_replicator(&self, r: std::sync::Arc<dyn Replicator>) {
        // Connection ids name the owners of exclusive queues in the replicated metadata:
        // a random 20-bit prefix per process keeps them apart across the cluster's nodes
        // and this node's restarts.
        let base = (rand::random::<u64>() & 0xF_FFFF) << 32;
        self.next_conn_id
            .fetch_add(base, std::sync::atomic::Ordering::Relaxed);
        let _ = self.replicator.set(r.clone());
        // Queues loaded before the cluster started: those homed on other nodes are reached
        // there from now on (their records came back from this node's metadata, without a
        // way to their home), and those mastered here reach their mirrors.
        let links = r.mirror_links();
        for vhost in self.vhosts() {
            for q in vhost.queues() {
                if let Some(home) = q.home_node().filter(|h| h != r.node()) {
                    if !q.is_remote() {
                        let remote = r.home(&home);
                        q.set_home(home, remote);
                    }
                }
                let mirrors = q.mirrors();
                if !mirrors.is_empty() {
                    q.set_mirrors(mirrors, r.node(), Some(links.clone()));
                }
            }
        }
    }

    /// True when commands go through a cluster's replicated log.
    pub fn is_clustered(&self) -> bool {
        self.replicator.get().is_some()
    }
}

impl Broker {
    /// RabbitMQ's `reset`: every vhost (with its queues and messages), user and global
    /// parameter goes, and the configured definitions come back, as on a new node. Local
    /// only: the cluster frontend resets its log around it.
    pub fn reset_definitions(&self, position: Vec<Change>) -> CommandResult<()> {
        let mut changes = Vec::new();
        let globals: Vec<String> = (self.parameters.read().list_global())
            .map(|(n, _)| n.clone())
            .collect();
        let gone = (self.vhosts().into_iter())
            .map(|v| Command::DeleteVhost {
                name: v.name.clone(),
            })
            .chain(self.users().into_iter().map(|u| Command::DeleteUser {
                name: u.name.clone(),
            }))
            .chain(
                globals
                    .into_iter()
                    .map(|name| Command::ClearGlobalParameter { name }),
            );
        for cmd in gone {
            self.apply(&Actor::BROKER, cmd, &mut changes)?;
        }
        let seed = super::seed::from_config(&self.config)
            .map_err(|e| CommandError::Internal(e.to_string()))?;
        for step in super::import::steps(&seed) {
            self.apply(&Actor::BROKER, step.cmd, &mut changes)?;
        }
        changes.extend(position);
        self.persist(changes);
        Ok(())
    }
}

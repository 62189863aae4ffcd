//! The Raft state machine is the broker: each committed command is applied through the
//! broker's command layer, and the position reached (last applied entry, membership) is
//! written with the metadata changes it covers, in the same batch of the metadata log, so a
//! restart resumes exactly after the last applied entry, never applying one twice.

use super::types::{LogId, Membership, SnapshotData, StorageError, TypeConfig};
use crate::broker::command::CommandResult;
use crate::broker::replicated::Reply;
use crate::broker::Broker;
use crate::cluster::node::{Member, NodeId};
use crate::cluster::waiters::Waiters;
use crate::store::meta_model::Change;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{AnyError, EntryPayload, RaftSnapshotBuilder, SnapshotMeta, StorageIOError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where the state machine is, as stored with the metadata.
#[derive(Serialize, Deserialize, Clone, Default, Debug)]
pub(crate) struct Position {
    pub(crate) applied: Option<LogId>,
    pub(crate) membership: Membership,
}

pub(crate) struct StateMachine {
    broker: Arc<Broker>,
    waiters: Arc<crate::cluster::waiters::Waiters>,
    position: Position,
    /// The last snapshot built or installed (shared with the builders cloned from it).
    snapshot: Arc<parking_lot::Mutex<Option<Stored>>>,
    /// Where it stopped, set when openraft drops it (its group shut down).
    stopped_at: StoppedAt,
}

/// Where a state machine stopped: set when its group drops it.
pub(crate) type StoppedAt = Arc<parking_lot::Mutex<Option<Position>>>;

impl Drop for StateMachine {
    fn drop(&mut self) {
        *self.stopped_at.lock() = Some(self.position.clone());
    }
}

type Stored = (SnapshotMeta<NodeId, Member>, SnapshotData);

impl StateMachine {
    /// Resumes from the position stored with the broker's metadata (none on a fresh node).
    pub(crate) fn new(broker: Arc<Broker>, waiters: Arc<Waiters>) -> anyhow::Result<StateMachine> {
        let stored = broker.cluster_state.lock().take();
        let position = match stored {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| anyhow::anyhow!("the stored cluster position is unreadable: {e}"))?,
            None => Position::default(),
        };
        Ok(Self::at(broker, waiters, position))
    }

    /// A state machine that has applied nothing (after a reset).
    pub(crate) fn fresh(broker: Arc<Broker>, waiters: Arc<Waiters>) -> StateMachine {
        Self::at(broker, waiters, Position::default())
    }

    /// A state machine that has applied up to `position` (the group restarts on other
    /// storage).
    pub(crate) fn at(
        broker: Arc<Broker>,
        waiters: Arc<Waiters>,
        position: Position,
    ) -> StateMachine {
        waiters.set_last_applied(position.applied.map_or(0, |l| l.index));
        StateMachine {
            broker,
            waiters,
            position,
            snapshot: Arc::default(),
            stopped_at: Arc::default(),
        }
    }

    /// Where the state machine will have stopped, once its group shuts down and drops it.
    pub(crate) fn stopped_at(&self) -> StoppedAt {
        self.stopped_at.clone()
    }

    fn stored_position(&self) -> Vec<Change> {
        stored(&self.position)
    }
}

/// A snapshot taken when openraft asks for a builder: on the state machine's task, between
/// two applied entries, so the definitions and the position agree.
pub(crate) struct Builder {
    taken: Stored,
    slot: Arc<parking_lot::Mutex<Option<Stored>>>,
}

impl RaftSnapshotBuilder<TypeConfig> for Builder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (meta, data) = self.taken.clone();
        *self.slot.lock() = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(data),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Builder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        Ok((self.position.applied, self.position.membership.clone()))
    }

    /// Applies entries in order; their metadata changes and the position reached are
    /// written as one batch.
    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<CommandResult<Reply>>>, StorageError>
    where
        I: IntoIterator<Item = super::types::Entry> + Send,
    {
        let mut replies = Vec::new();
        let mut changes = Vec::new();
        for entry in entries {
            self.position.applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => replies.push(vec![Ok(Reply::Done)]),
                EntryPayload::Membership(m) => {
                    self.position.membership = Membership::new(Some(entry.log_id), m);
                    replies.push(vec![Ok(Reply::Done)]);
                }
                EntryPayload::Normal(commands) => {
                    let mut outcomes = Vec::with_capacity(commands.len());
                    for logged in commands {
                        let origin = logged.origin;
                        let reply = self.broker.apply_logged(logged, &mut changes);
                        self.waiters.applied(origin, &reply);
                        outcomes.push(reply);
                    }
                    replies.push(outcomes);
                }
            }
            self.waiters.set_last_applied(entry.log_id.index);
        }
        changes.extend(self.stored_position());
        self.broker.persist_replicated(changes);
        Ok(replies)
    }

    /// Also makes the metadata durable up to here first: the log before a snapshot may be
    /// purged, and this node then resumes from its stored metadata.
    async fn get_snapshot_builder(&mut self) -> Builder {
        if let Err(e) = self.broker.metadata.sync().written().await {
            tracing::error!("cannot write the metadata before a snapshot: {e}");
        }
        let mut data = self.broker.export_definitions();
        data.cluster = serde_json::to_value(&self.position).ok();
        let last = self.position.applied;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: self.position.membership.clone(),
            snapshot_id: last
                .map_or_else(|| "0".into(), |l| format!("{}-{}", l.leader_id, l.index)),
        };
        Builder {
            taken: (meta, data),
            slot: self.snapshot.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, StorageError> {
        Ok(Box::default())
    }

    /// Takes a snapshot's definitions in place of this node's (what is unchanged stays, so
    /// unchanged queues keep their messages), with the snapshot's position.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Member>,
        snapshot: Box<SnapshotData>,
    ) -> Result<(), StorageError> {
        self.position = Position {
            applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        let replaced = (self.broker).replace_definitions(&snapshot, self.stored_position());
        replaced
            .map_err(|e| StorageIOError::write_state_machine(AnyError::error(e.to_string())))?;
        *self.snapshot.lock() = Some((meta.clone(), *snapshot));
        let at = meta.last_log_id.map_or(0, |l| l.index);
        self.waiters.set_last_applied(at);
        tracing::info!("installed a metadata snapshot (log index {at})");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let stored = self.snapshot.lock().clone();
        Ok(stored.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(data),
        }))
    }
}

/// The change that stores a position with the metadata.
pub(crate) fn stored(p: &Position) -> Vec<Change> {
    match serde_json::to_value(p) {
        Ok(v) => vec![Change::PutCluster(v)],
        Err(_) => Vec::new(),
    }
}

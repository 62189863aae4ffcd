//! The Raft group's types: an entry is one or more logged broker commands (those proposed
//! together), applied into one reply each;
//! nodes are [`Member`]s; a snapshot is the broker's definitions.

use crate::broker::command::CommandError;
use crate::broker::replicated::{Logged, Reply};
use crate::cluster::node::{Member, NodeId};

/// A snapshot: every definition (RabbitMQ's format), with the state machine's position.
pub(crate) type SnapshotData = crate::store::definitions::Definitions;

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Vec<Logged>,
        R = Vec<Result<Reply, CommandError>>,
        NodeId = NodeId,
        Node = Member,
        SnapshotData = SnapshotData,
);

pub(crate) type Raft = openraft::Raft<TypeConfig>;
pub(crate) type Entry = openraft::Entry<TypeConfig>;
pub(crate) type LogId = openraft::LogId<NodeId>;
pub(crate) type Vote = openraft::Vote<NodeId>;
pub(crate) type StorageError = openraft::StorageError<NodeId>;
pub(crate) type Membership = openraft::StoredMembership<NodeId, Member>;

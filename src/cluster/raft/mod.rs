//! The cluster's metadata as a Raft group (openraft): the types it is instantiated with,
//! the log storage (on disk for disc nodes, in memory for RAM nodes), the state machine
//! (the broker itself, through its command layer) and the network (the inter-node links).
//! Nothing outside `cluster` sees openraft.

pub(super) mod log_store;
pub(super) mod network;
pub(super) mod state_machine;
pub(crate) mod types;

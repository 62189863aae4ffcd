//! Storage: the metadata (a definitions snapshot and a log of changes since) and the
//! message store (segment journal).

pub mod definitions;
pub mod messages;
pub(crate) mod meta_log;
pub(crate) mod meta_model;
pub mod record;
mod recovery;
pub(crate) mod segment;

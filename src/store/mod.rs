//! Storage: the metadata (a definitions snapshot and a log of changes since) and the
//! message store (segment journal).

pub mod definitions;
pub mod messages;
pub mod meta_log;
pub mod meta_model;
pub mod record;
mod recovery;
pub mod segment;

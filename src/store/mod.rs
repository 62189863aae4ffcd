//! Storage: the metadata (definitions) store and the message store (segment journal).

pub mod definitions;
pub mod messages;
pub mod record;
mod recovery;
pub mod segment;

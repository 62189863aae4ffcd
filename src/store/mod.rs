//! Storage: the metadata (definitions) store. The message store comes with durable queues.

pub mod definitions;

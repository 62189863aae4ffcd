//! Warren: a RabbitMQ-compatible AMQP 0-9-1 message broker.

pub mod amqp;
pub mod auth;
pub mod broker;
pub mod config;
pub mod erlang;
pub mod field_table;
pub mod message;
pub mod policy_rules;
pub mod queue;
pub mod server;
pub mod store;

pub use server::Server;

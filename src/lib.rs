//! Warren: a RabbitMQ-compatible AMQP 0-9-1 message broker.
//!
//! The library is public only where the binary, the tests, the fuzzers and the benchmark
//! tool reach in; everything else is `pub(crate)`, and `unreachable_pub` keeps it so (a
//! crate-private item nobody uses then shows up as dead code).

#![warn(unreachable_pub)]

pub mod amqp;
pub mod auth;
pub mod broker;
pub mod cluster;
pub mod config;
pub mod ctl;
pub(crate) mod erlang;
pub mod field_table;
pub(crate) mod http;
pub mod message;
pub(crate) mod policy_rules;
pub(crate) mod queue;
pub mod server;
pub(crate) mod stats;
pub mod store;
pub mod tls;

pub use server::Server;

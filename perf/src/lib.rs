//! warren-perf: a load generator for AMQP 0-9-1 brokers, modelled on RabbitMQ's PerfTest and
//! LavinMQ's lavinmqperf.
//!
//! The data path does not use a general-purpose client: publishes are encoded from a
//! pre-built template into one buffer and written many per syscall, deliveries are decoded
//! in place many frames per read, and only control methods go through amq-protocol's
//! (allocating) parser. That keeps the tool's own CPU cost per message low enough that, on
//! a small machine, it measures the broker rather than itself.

pub mod body;
pub mod cli;
pub mod client;
pub mod consumer;
pub mod cpu;
pub mod frame;
pub mod hist;
pub mod idle;
pub mod producer;
pub mod run;
pub mod summary;
pub mod tls;
pub mod track;
pub mod uri;

//! Every integration test but one in one binary: one crate to compile and link instead of one
//! per file, which made the release build of all targets the longest step of CI.
//! `http_stats.rs` keeps its own binary because it measures this process's resident memory,
//! which tests running beside it in the same process would disturb.

mod common;
mod queue_features;

mod auth;
mod backlog;
mod bad_input;
mod basic_flow;
mod broker_commands;
mod cluster_concurrent_commands;
mod cluster_failures;
mod cluster_membership;
mod cluster_mirror_consumers;
mod cluster_mirror_failover;
mod cluster_mirror_shutdown;
mod cluster_mirror_sync;
mod cluster_mirrors;
mod cluster_queues;
mod compaction;
mod config_cli;
mod conformance;
mod consumer_timeout;
mod consumers;
mod crash_recovery;
mod ctl;
mod dead_lettering;
mod declare_equivalence;
mod definitions_restart;
mod direct_reply_to;
mod flow_control;
mod graceful_shutdown;
mod heartbeat;
mod hostile_nesting;
mod http_api;
mod http_connections;
mod http_console;
mod http_limits;
mod http_queue_figures;
mod http_topic_permissions;
mod length_limits;
mod memory_alarm;
mod node_limits;
mod permissions;
mod policies;
mod priorities;
mod resource_alarm;
mod single_active_consumer;
mod slow_client;
mod storage_recovery;
mod tls;
mod tls_pika;
mod ttl_expiry;
mod tx_confirm;

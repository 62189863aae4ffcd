//! `warren ctl`: everyday operations on a running broker, through its management API.

pub mod client;

//! A node's figures as the management API's `/api/nodes` shows them: memory, file
//! descriptors, disk, alarms, uptime. Read on the blocking pool (`/proc`, `statvfs`); a
//! cluster node answers them for its peers too.

use super::resources::{free_disk_bytes, resident_bytes};
use super::Broker;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Field names as RabbitMQ's node objects have them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct NodeFigures {
    pub name: String,
    pub os_pid: String,
    pub processors: usize,
    pub uptime: u64,
    pub mem_used: u64,
    pub mem_limit: u64,
    pub mem_alarm: bool,
    pub disk_free: u64,
    pub disk_free_limit: u64,
    pub disk_free_alarm: bool,
    pub fd_used: usize,
    pub fd_total: u64,
}

pub async fn node_figures(broker: &Arc<Broker>) -> NodeFigures {
    let b = broker.clone();
    let read = tokio::task::spawn_blocking(move || {
        let rss = resident_bytes().unwrap_or(0);
        let disk = free_disk_bytes(&b.config.data_dir).unwrap_or(0);
        let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
        let fd_total = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(0, |(soft, _)| soft);
        (rss, disk, fds, fd_total)
    });
    let (rss, disk, fds, fd_total) = read.await.unwrap_or_default();
    let alarms = *broker.alarms.borrow();
    NodeFigures {
        name: broker.config.node_name.clone(),
        os_pid: std::process::id().to_string(),
        processors: std::thread::available_parallelism().map_or(1, |n| n.get()),
        uptime: broker.started.elapsed().as_millis() as u64,
        mem_used: rss,
        mem_limit: broker.memory_limit,
        mem_alarm: alarms.memory || alarms.memory_forced,
        disk_free: disk,
        disk_free_limit: broker.config.resources.disk_free_limit.as_u64(),
        disk_free_alarm: alarms.disk,
        fd_used: fds,
        fd_total,
    }
}

//! Resource alarms: the broker's memory use (resident set, from /proc) against
//! `resources.memory_high_watermark`, and free disk space in the data dir against
//! `resources.disk_free_limit`. While either alarm is up, publishing connections are
//! blocked; consumers keep draining.

use super::Broker;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The alarm state; publishers block while `reason()` is `Some`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Alarms {
    /// Resident memory above the watermark (measured).
    pub memory: bool,
    /// Forced on by `Broker::set_memory_alarm`.
    pub memory_forced: bool,
    /// Free disk space below the limit (measured).
    pub disk: bool,
}

impl Alarms {
    /// The reason given in `connection.blocked`, if any alarm is up.
    pub fn reason(&self) -> Option<&'static str> {
        if self.memory || self.memory_forced {
            Some("low on memory")
        } else if self.disk {
            Some("low on disk")
        } else {
            None
        }
    }
}

const MEMORY_CHECK: Duration = Duration::from_millis(100);
const DISK_CHECK_EVERY: u32 = 10;
const TRIM_EVERY: u32 = 100;

/// Watches memory and disk until shutdown.
pub(crate) async fn monitor(broker: Arc<Broker>) {
    let disk_limit = broker.config.resources.disk_free_limit.as_u64();
    let mut tick = tokio::time::interval(MEMORY_CHECK);
    let mut n: u32 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = broker.shutdown_signal() => return,
        }
        if crate::message::ram_bytes() > broker.paging_limit {
            let b = broker.clone();
            let _ = tokio::task::spawn_blocking(move || b.page_out()).await;
        }
        if let Some(mut rss) = resident_bytes() {
            if rss > broker.memory_limit {
                // Freed message memory may still be held by the allocator: hand it back to
                // the system before deciding that memory is really short.
                release_free_memory();
                rss = resident_bytes().unwrap_or(rss);
            }
            let over = rss > broker.memory_limit;
            update(&broker, |a| a.memory = over, "memory", over, rss);
        }
        if n.is_multiple_of(TRIM_EVERY) {
            // Memory freed by drained queues and closed connections goes back to the system.
            let _ = tokio::task::spawn_blocking(release_free_memory).await;
        }
        if n.is_multiple_of(DISK_CHECK_EVERY) {
            if let Some(free) = free_disk_bytes(&broker.config.data_dir) {
                let low = free < disk_limit;
                update(&broker, |a| a.disk = low, "disk", low, free);
            }
        }
        n = n.wrapping_add(1);
    }
}

fn update(broker: &Broker, set: impl FnOnce(&mut Alarms), what: &str, on: bool, value: u64) {
    let changed = broker.alarms.send_if_modified(|a| {
        let before = *a;
        set(a);
        *a != before
    });
    if changed {
        if on {
            tracing::warn!("{what} alarm raised ({value} bytes): publishers are blocked");
        } else {
            tracing::info!("{what} alarm cleared ({value} bytes)");
        }
    }
}

/// Returns memory the allocator holds but no longer uses to the operating system.
#[cfg(target_env = "gnu")]
fn release_free_memory() {
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own arenas under their
    // locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(target_env = "gnu"))]
fn release_free_memory() {}

/// The process's resident set size.
pub(crate) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Free space available to the broker in the file system holding `dir`.
pub(crate) fn free_disk_bytes(dir: &Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(st.blocks_available() as u64 * st.fragment_size() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        let s = "Name:\twarren\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\n";
        assert_eq!(parse_vm_rss(s), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("nothing"), None);
    }

    #[test]
    fn this_process_has_a_resident_set_and_the_disk_has_space() {
        assert!(resident_bytes().unwrap_or(0) > 0);
        assert!(free_disk_bytes(Path::new("/tmp")).unwrap_or(0) > 0);
    }

    #[test]
    fn memory_blocks_before_disk_and_forced_counts() {
        let mut a = Alarms::default();
        assert_eq!(a.reason(), None);
        a.disk = true;
        assert_eq!(a.reason(), Some("low on disk"));
        a.memory_forced = true;
        assert_eq!(a.reason(), Some("low on memory"));
    }
}

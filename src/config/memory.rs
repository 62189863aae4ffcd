//! The memory high watermark ([`MemoryWatermark`]) and the memory it is resolved against:
//! physical RAM (`/proc/meminfo`) or the cgroup v2/v1 memory limit, whichever is lower.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::size::SizeVisitor;
use super::{ByteSize, Config};

/// Memory size assumed when neither `/proc/meminfo` nor a cgroup limit can be read.
const FALLBACK_TOTAL_MEMORY: u64 = 1 << 30;

/// cgroup v1 reports "no limit" as a page-aligned `i64::MAX`; anything at or
/// above this threshold is treated as unlimited.
const CGROUP_UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// The memory high watermark: a fraction of available memory (TOML float,
/// e.g. `0.4`) or an absolute size (integer bytes or a size string, e.g. `"512MiB"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryWatermark {
    /// Fraction of total memory, in (0, 1].
    Fraction(f64),
    /// Absolute limit in bytes.
    Absolute(u64),
}

impl MemoryWatermark {
    /// The watermark in bytes given `total_memory` bytes of available memory.
    pub fn resolve(self, total_memory: u64) -> u64 {
        match self {
            MemoryWatermark::Fraction(f) => (total_memory as f64 * f) as u64,
            MemoryWatermark::Absolute(bytes) => bytes,
        }
    }
}

impl Serialize for MemoryWatermark {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            MemoryWatermark::Fraction(f) => serializer.serialize_f64(f),
            MemoryWatermark::Absolute(bytes) => ByteSize(bytes).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for MemoryWatermark {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WatermarkVisitor)
    }
}

/// Reads a watermark: floats are fractions, integers and strings are sizes.
struct WatermarkVisitor;

impl Visitor<'_> for WatermarkVisitor {
    type Value = MemoryWatermark;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a fraction such as 0.4 or a size such as \"512MiB\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<MemoryWatermark, E> {
        Ok(MemoryWatermark::Fraction(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<MemoryWatermark, E> {
        SizeVisitor.visit_u64(v).map(MemoryWatermark::Absolute)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<MemoryWatermark, E> {
        SizeVisitor.visit_i64(v).map(MemoryWatermark::Absolute)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<MemoryWatermark, E> {
        SizeVisitor.visit_str(v).map(MemoryWatermark::Absolute)
    }
}

impl Config {
    /// The memory high watermark in bytes. A fraction is applied to the
    /// memory available to this process (see [`total_memory_bytes`]).
    pub fn memory_limit_bytes(&self) -> u64 {
        match self.resources.memory_high_watermark {
            MemoryWatermark::Absolute(bytes) => bytes,
            fraction => fraction.resolve(total_memory_bytes()),
        }
    }
}

/// Memory available to this process: physical RAM (`/proc/meminfo` MemTotal)
/// or the cgroup v2/v1 memory limit, whichever is lower. Falls back to 1 GiB
/// (with a warning) when nothing can be read, e.g. on non-Linux systems.
pub fn total_memory_bytes() -> u64 {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let meminfo = read("/proc/meminfo");
    let cgroup_v2 = read("/sys/fs/cgroup/memory.max");
    let cgroup_v1 = read("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    effective_total_memory(
        meminfo.as_deref(),
        cgroup_v2.as_deref(),
        cgroup_v1.as_deref(),
    )
    .unwrap_or_else(|| {
        tracing::warn!(
            bytes = FALLBACK_TOTAL_MEMORY,
            "cannot determine total memory; assuming 1 GiB"
        );
        FALLBACK_TOTAL_MEMORY
    })
}

/// Combines the contents of `/proc/meminfo` and the cgroup limit files
/// (each `None` if unreadable) into the memory available, if any is known.
pub fn effective_total_memory(
    meminfo: Option<&str>,
    cgroup_v2: Option<&str>,
    cgroup_v1: Option<&str>,
) -> Option<u64> {
    let physical = meminfo.and_then(parse_meminfo_total);
    let cgroup = cgroup_v2
        .and_then(parse_cgroup_limit)
        .or_else(|| cgroup_v1.and_then(parse_cgroup_limit));
    match (physical, cgroup) {
        (Some(p), Some(c)) => Some(p.min(c)),
        (p, c) => p.or(c),
    }
}

/// Extracts `MemTotal` (reported in kB, i.e. KiB) from `/proc/meminfo` contents, in bytes.
pub fn parse_meminfo_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut fields = line["MemTotal:".len()..].split_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// Parses a cgroup memory limit file: `None` for "max" (v2), unlimited
/// (v1's huge sentinel), zero, or anything unreadable; otherwise bytes.
pub fn parse_cgroup_limit(contents: &str) -> Option<u64> {
    let value: u64 = contents.trim().parse().ok()?;
    (value > 0 && value < CGROUP_UNLIMITED_THRESHOLD).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_watermark_forms() {
        let wm = |src: &str| {
            Config::from_toml_str(&format!("[resources]\nmemory_high_watermark = {src}\n"))
                .unwrap()
                .resources
                .memory_high_watermark
        };
        assert_eq!(wm("0.5"), MemoryWatermark::Fraction(0.5));
        assert_eq!(wm("1.0"), MemoryWatermark::Fraction(1.0));
        assert_eq!(wm("\"512MiB\""), MemoryWatermark::Absolute(536_870_912));
        assert_eq!(wm("1073741824"), MemoryWatermark::Absolute(1 << 30));
        assert_eq!(MemoryWatermark::Fraction(0.5).resolve(1000), 500);
        assert_eq!(MemoryWatermark::Absolute(7).resolve(1000), 7);
    }

    #[test]
    fn memory_limit_bytes_resolves() {
        let mut c = Config::default();
        c.resources.memory_high_watermark = MemoryWatermark::Absolute(123);
        assert_eq!(c.memory_limit_bytes(), 123);
        c.resources.memory_high_watermark = MemoryWatermark::Fraction(1.0);
        assert!(c.memory_limit_bytes() > 0);
    }

    #[test]
    fn cgroup_limit_parsing() {
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("536870912\n"), Some(536_870_912));
        assert_eq!(parse_cgroup_limit("9223372036854771712\n"), None);
        assert_eq!(parse_cgroup_limit("0"), None);
        assert_eq!(parse_cgroup_limit("garbage"), None);
    }

    #[test]
    fn meminfo_parsing() {
        let meminfo = "MemTotal:       16318412 kB\nMemFree:         1234 kB\n";
        assert_eq!(parse_meminfo_total(meminfo), Some(16_318_412 * 1024));
        assert_eq!(parse_meminfo_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_meminfo_total(""), None);
    }

    #[test]
    fn total_memory_takes_the_lower_bound() {
        let meminfo = Some("MemTotal: 2097152 kB\n"); // 2 GiB
        let gib = 1u64 << 30;
        assert_eq!(
            effective_total_memory(meminfo, Some("max\n"), None),
            Some(2 * gib)
        );
        assert_eq!(
            effective_total_memory(meminfo, Some("1073741824\n"), None),
            Some(gib)
        );
        assert_eq!(
            effective_total_memory(meminfo, None, Some("9223372036854771712\n")),
            Some(2 * gib)
        );
        assert_eq!(
            effective_total_memory(meminfo, None, Some("536870912\n")),
            Some(gib / 2)
        );
        assert_eq!(
            effective_total_memory(meminfo, Some("8589934592"), None),
            Some(2 * gib),
            "a cgroup limit above physical RAM does not raise the total"
        );
        assert_eq!(effective_total_memory(None, Some("4096"), None), Some(4096));
        assert_eq!(effective_total_memory(None, None, None), None);
        assert!(total_memory_bytes() > 0);
    }
}

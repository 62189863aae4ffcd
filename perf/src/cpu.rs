//! The tool's own CPU time (user + system), from `/proc/self/stat`.

use std::time::Duration;

/// User + system CPU time consumed by this process so far; zero where unavailable.
pub fn process_cpu() -> Duration {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s))
        .unwrap_or_default()
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Parses utime + stime out of a `/proc/<pid>/stat` line.
pub fn parse_stat(s: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may contain spaces.
    let after = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let tps = ticks_per_second();
    Some(Duration::from_micros((utime + stime) * 1_000_000 / tps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line() {
        let line = "1234 (warren perf) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 4 0 100 0 0";
        let d = parse_stat(line).unwrap();
        assert_eq!(
            d,
            Duration::from_micros(200 * 1_000_000 / ticks_per_second())
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn reads_our_own() {
        // Burn a little CPU so the counter is non-zero on any clock-tick size.
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(process_cpu() > Duration::ZERO);
    }
}

//! Rebuilding the store's state on start: scan every segment (verifying checksums), drop the
//! messages whose acks are on disk, truncate a torn tail, report corruption and carry on.
//! Bodies are read once for the checksum and not kept: queues hold only record positions.

use super::messages::{Recovered, Restored};
use super::record::{body_len, decode_acks, decode_envelope, FLAG_TRANSIENT};
use super::segment::{self, RecordRef};
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;

/// The store's state after recovery.
pub(super) struct State {
    pub recovered: Recovered,
    /// Live references per segment.
    pub live: HashMap<u32, u64>,
    /// References ever made per segment (live and released), for compaction.
    pub total: HashMap<u32, u64>,
    /// The highest segment id seen (0 if none).
    pub last: u32,
}

pub(super) fn recover(dir: &Path, known: Option<&HashSet<u64>>) -> io::Result<State> {
    let ids = segment_ids(dir)?;
    let last = ids.last().copied().unwrap_or(0);
    let mut rec = Recovered::default();
    let mut live: HashMap<u32, u64> = HashMap::new();
    let mut total: HashMap<u32, u64> = HashMap::new();
    let mut ordered: HashMap<u64, Vec<(u64, Restored)>> = HashMap::new();
    for &id in &ids {
        let acked = read_acks(dir, id);
        let path = segment::segment_path(dir, id);
        let scan = segment::scan(&path, |offset, payload| {
            let Some(env) = decode_envelope(payload) else {
                return;
            };
            if env.flags & FLAG_TRANSIENT != 0 {
                return;
            }
            // Warren starts every record below 64 MiB: one further on is not its own.
            let Ok(start) = u32::try_from(offset) else {
                return;
            };
            let Some(body_len) = body_len(payload, env.header_len) else {
                return;
            };
            let restored = Restored {
                at: RecordRef::new(id, start),
                meta: env.meta,
                body_len,
            };
            for q in env.queues {
                if known.is_some_and(|k| !k.contains(&q)) {
                    continue;
                }
                *total.entry(id).or_insert(0) += 1;
                if !acked.contains(&(offset, q)) {
                    ordered.entry(q).or_default().push((env.origin, restored));
                    *live.entry(id).or_insert(0) += 1;
                    rec.messages += 1;
                }
            }
        })?;
        if let Some(problem) = scan.problem {
            rec.lost_bytes += scan.skipped;
            if id == last {
                tracing::warn!(
                    "segment {id}: {problem}; truncating a torn tail of {} bytes",
                    scan.skipped
                );
            } else {
                tracing::error!(
                    "segment {id}: {problem}; the {} bytes after offset {} are lost",
                    scan.skipped,
                    scan.valid_len
                );
            }
            if id == last {
                let f = std::fs::OpenOptions::new().write(true).open(&path)?;
                f.set_len(scan.valid_len)?;
                f.sync_all()?;
            }
        }
    }
    for &id in &ids {
        if !live.contains_key(&id) {
            let _ = std::fs::remove_file(segment::segment_path(dir, id));
            let _ = std::fs::remove_file(segment::ack_path(dir, id));
        }
    }
    // Relocated (compacted) messages keep their original position in their queues.
    for (q, mut refs) in ordered {
        refs.sort_by_key(|(origin, _)| *origin);
        rec.queues
            .insert(q, refs.into_iter().map(|(_, r)| r).collect());
    }
    Ok(State {
        recovered: rec,
        live,
        total,
        last,
    })
}

fn segment_ids(dir: &Path) -> io::Result<Vec<u32>> {
    let mut ids: Vec<u32> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".seg")?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

fn read_acks(dir: &Path, id: u32) -> HashSet<(u64, u64)> {
    let path = segment::ack_path(dir, id);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return HashSet::new(),
        Err(e) => {
            tracing::error!("cannot read {}: {e}; its acks are lost", path.display());
            return HashSet::new();
        }
    };
    let (acks, clean) = decode_acks(&data);
    if !clean {
        tracing::warn!("{}: torn or corrupt ack entry ignored", path.display());
    }
    acks.into_iter().collect()
}

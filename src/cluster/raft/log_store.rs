//! The Raft log and vote. Entries since the last purge are held in memory (metadata logs
//! are small and snapshots purge them); a disc node also writes them, the vote and the
//! commit point to a write-ahead log in its data dir ([raft-log], by openraft's author: one
//! append and one fdatasync per flush, on its own flush thread), and reads them back on
//! start. A RAM node keeps them in memory only.
//!
//! Records are queued in raft-log's buffer from the storage task (no I/O there) and written
//! by its flush thread, which tells openraft when they are durable. The one step that
//! touches files on the caller's thread, opening the next chunk file when the current one
//! is full, is run on the blocking pool.
//!
//! [raft-log]: https://crates.io/crates/raft-log

// openraft's traits return its `StorageError`, a large type; the helpers here return it too.
#![allow(clippy::result_large_err)]

use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{AnyError, CommittedLeaderId, LogState, RaftLogReader, StorageIOError};
use parking_lot::Mutex;
use raft_log::api::raft_log_writer::RaftLogWriter;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Records per chunk file; a purge deletes whole chunks before the purged index.
const CHUNK_RECORDS: u64 = 4096;

/// raft-log's types: log ids and votes as tuples that order as openraft's do.
#[derive(Debug, Default, PartialEq, Eq, Clone)]
struct Wal;

/// ((term, leader node), index).
type WalLogId = ((u64, u64), u64);
/// ((term, node voted for), committed).
type WalVote = ((u64, u64), bool);

impl raft_log::Types for Wal {
    type LogId = WalLogId;
    /// The entry as JSON.
    type LogPayload = Vec<u8>;
    type Vote = WalVote;
    type Callback = Done;
    type UserData = ();

    fn log_index(log_id: &WalLogId) -> u64 {
        log_id.1
    }

    fn payload_size(payload: &Vec<u8>) -> u64 {
        payload.len() as u64
    }
}

/// Who hears of a flush: openraft (an append) or a waiting storage call.
enum Done {
    Appended(LogFlushed<TypeConfig>),
    Waiting(oneshot::Sender<io::Result<()>>),
}

impl raft_log::Callback for Done {
    fn send(self, res: io::Result<()>) {
        match self {
            Done::Appended(cb) => cb.log_io_completed(res),
            Done::Waiting(tx) => {
                let _ = tx.send(res);
            }
        }
    }
}

fn wal_id(id: &LogId) -> WalLogId {
    ((id.leader_id.term, id.leader_id.node_id), id.index)
}

fn log_id(((term, node), index): WalLogId) -> LogId {
    LogId::new(CommittedLeaderId::new(term, node), index)
}

fn wal_vote(v: &Vote) -> WalVote {
    ((v.leader_id.term, v.leader_id.node_id), v.committed)
}

fn vote(((term, node), committed): WalVote) -> Vote {
    if committed {
        Vote::new_committed(term, node)
    } else {
        Vote::new(term, node)
    }
}

#[derive(Default, Clone)]
struct Inner {
    log: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote>,
    committed: Option<LogId>,
}

#[derive(Clone)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<Inner>>,
    disk: Option<Arc<Disk>>,
}

/// A disc node's write-ahead log.
struct Disk {
    dir: PathBuf,
    /// `None` only while a reset replaces it.
    wal: Mutex<Option<raft_log::RaftLog<Wal>>>,
}

fn io_err(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

fn write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_logs(io_err(e)).into()
}

fn open_wal(dir: &Path) -> io::Result<raft_log::RaftLog<Wal>> {
    std::fs::create_dir_all(dir)?;
    let mut config = raft_log::Config::new(dir.display());
    config.wal.chunk_max_records = Some(CHUNK_RECORDS as usize);
    // One writer at a time and a few changes per second: wait for nothing to batch.
    config.wal.flush_batch_wait = Some(std::time::Duration::ZERO);
    // Reads are served from `Inner`: raft-log's own cache need not hold much.
    config.log_cache_max_items = Some(CHUNK_RECORDS as usize);
    config.log_cache_capacity = Some(16 << 20);
    raft_log::RaftLog::open(Arc::new(config))
}

impl LogStore {
    pub(crate) fn memory() -> LogStore {
        LogStore {
            inner: Arc::default(),
            disk: None,
        }
    }

    /// Opens (or creates) the log in `dir`.
    pub(crate) fn open(dir: &Path) -> anyhow::Result<LogStore> {
        let old = dir.join("raft.redb");
        if old.exists() {
            anyhow::bail!(
                "{}: this node's metadata log is in the format of an earlier Warren build; \
                 stop the node, delete {} and start it again to rejoin the cluster from its peers",
                old.display(),
                dir.display()
            );
        }
        let path = dir.join("raft-log");
        let bad = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", path.display());
        let wal = open_wal(&path).map_err(|e| bad(&e))?;
        let mut inner = Inner::default();
        let state = wal.log_state().clone();
        inner.vote = state.vote().cloned().map(vote);
        inner.committed = state.committed().cloned().map(log_id);
        inner.last_purged = state.purged().cloned().map(log_id);
        let from = state.purged().map_or(0, |p| p.1 + 1);
        let to = state.last().map_or(0, |l| l.1 + 1);
        for row in wal.read(from, to) {
            let (id, payload) = row.map_err(|e| bad(&e))?;
            let entry: Entry = serde_json::from_slice(&payload).map_err(|e| bad(&e))?;
            inner.log.insert(id.1, entry);
        }
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
            disk: Some(Arc::new(Disk {
                dir: path,
                wal: Mutex::new(Some(wal)),
            })),
        })
    }

    /// A log in memory holding what `from` holds (the node became a RAM node).
    pub(crate) fn memory_from(from: &LogStore) -> LogStore {
        LogStore {
            inner: Arc::new(Mutex::new(from.inner.lock().clone())),
            disk: None,
        }
    }

    /// A log on disk in `dir`, in place of anything there, holding what `from` holds (the
    /// node became a disc node). Blocking: call it off the async workers.
    pub(crate) fn open_from(dir: &Path, from: &LogStore) -> anyhow::Result<LogStore> {
        let path = dir.join("raft-log");
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                anyhow::bail!("{}: {e}", path.display())
            }
            _ => {}
        }
        let held = from.inner.lock().clone();
        let store = LogStore::open(dir)?;
        let bad = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", path.display());
        let rows = (held.log.values())
            .map(|e| Ok((wal_id(&e.log_id), serde_json::to_vec(e)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| bad(&e))?;
        let (tx, rx) = oneshot::channel();
        if let Some(disk) = &store.disk {
            let mut wal = disk.wal.lock();
            let wal = wal.as_mut().ok_or_else(|| bad(&"closed"))?;
            let written = (|| {
                if let Some(p) = &held.last_purged {
                    wal.purge(wal_id(p))?;
                }
                wal.append(rows)?;
                if let Some(v) = &held.vote {
                    wal.save_vote(wal_vote(v))?;
                }
                if let Some(c) = &held.committed {
                    wal.commit(wal_id(c))?;
                }
                wal.flush(true, Some(Done::Waiting(tx)))
            })();
            written.map_err(|e| bad(&e))?;
        }
        rx.blocking_recv()
            .map_err(|e| bad(&e))?
            .map_err(|e| bad(&e))?;
        *store.inner.lock() = held;
        Ok(store)
    }

    /// Forgets the whole log and vote (the node is reset).
    pub(crate) async fn clear(&self) -> Result<(), StorageError> {
        if let Some(disk) = self.disk.clone() {
            tokio::task::spawn_blocking(move || {
                // Dropping the log joins its flush thread before the files go.
                drop(disk.wal.lock().take());
                std::fs::remove_dir_all(&disk.dir)?;
                *disk.wal.lock() = Some(open_wal(&disk.dir)?);
                io::Result::Ok(())
            })
            .await
            .map_err(write_err)?
            .map_err(write_err)?;
        }
        *self.inner.lock() = Inner::default();
        Ok(())
    }

    /// Queues records with `write` and, given `flush`, flushes them: with an fdatasync if
    /// its first part says so, its second told when they are written (without `flush`, they
    /// go out with the next flush). A write that fills the current chunk, and so opens the
    /// next chunk file, runs on the blocking pool.
    async fn write<F>(
        &self,
        records: u64,
        flush: Option<(bool, Option<Done>)>,
        write: F,
    ) -> io::Result<()>
    where
        F: FnOnce(&mut raft_log::RaftLog<Wal>) -> io::Result<()> + Send + 'static,
    {
        let Some(disk) = self.disk.clone() else {
            if let Some((_, Some(d))) = flush {
                raft_log::Callback::send(d, Ok(()));
            }
            return Ok(());
        };
        let filling = disk
            .wal
            .lock()
            .as_ref()
            .is_some_and(|w| w.stat().open_chunk.records_count + records + 1 >= CHUNK_RECORDS);
        let run = move || -> io::Result<()> {
            let mut wal = disk.wal.lock();
            let wal = wal
                .as_mut()
                .ok_or_else(|| io::Error::other("the metadata log is being reset"))?;
            write(wal)?;
            match flush {
                Some((sync, done)) => wal.flush(sync, done),
                None => Ok(()),
            }
        };
        if filling {
            tokio::task::spawn_blocking(run)
                .await
                .map_err(io::Error::other)?
        } else {
            run()
        }
    }

    /// As `write`, waiting until the records are on disk.
    async fn write_and_wait<F>(&self, write: F) -> Result<(), StorageError>
    where
        F: FnOnce(&mut raft_log::RaftLog<Wal>) -> io::Result<()> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.write(1, Some((true, Some(Done::Waiting(tx)))), write)
            .await
            .map_err(write_err)?;
        rx.await
            .map_err(|_| write_err("the metadata log's writer stopped"))?
            .map_err(write_err)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.inner.lock();
        Ok(inner.log.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.inner.lock();
        let last = inner.log.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, v: &Vote) -> Result<(), StorageError> {
        let saved = wal_vote(v);
        self.write_and_wait(move |w| w.save_vote(saved).map(drop))
            .await?;
        self.inner.lock().vote = Some(*v);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.inner.lock().vote)
    }

    /// Queued without a flush of its own: it is written, and made durable, with the next
    /// append or vote. Openraft reads it on start only to apply committed entries before a
    /// leader says so again, so an older one is safe, and no write wakes the flush thread
    /// in every change's path on every node.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        if let Some(c) = committed {
            let id = wal_id(&c);
            self.write(1, None, move |w| w.commit(id).map(drop))
                .await
                .map_err(write_err)?;
        }
        self.inner.lock().committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.inner.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let rows = entries
            .iter()
            .map(|e| Ok((wal_id(&e.log_id), serde_json::to_vec(e).map_err(write_err)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        {
            let mut inner = self.inner.lock();
            for e in entries {
                inner.log.insert(e.log_id.index, e);
            }
        }
        let n = rows.len() as u64;
        let flush = Some((true, Some(Done::Appended(callback))));
        self.write(n, flush, move |w| w.append(rows).map(drop))
            .await
            .map_err(write_err)
    }

    async fn truncate(&mut self, id: LogId) -> Result<(), StorageError> {
        let index = id.index;
        self.write_and_wait(move |w| w.truncate(index).map(drop))
            .await?;
        self.inner.lock().log.split_off(&id.index);
        Ok(())
    }

    async fn purge(&mut self, id: LogId) -> Result<(), StorageError> {
        let upto = wal_id(&id);
        self.write_and_wait(move |w| w.purge(upto).map(drop))
            .await?;
        let mut inner = self.inner.lock();
        inner.last_purged = Some(id);
        let keep = inner.log.split_off(&(id.index + 1));
        inner.log = keep;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::EntryPayload;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 7), index),
            payload: EntryPayload::Blank,
        }
    }

    #[tokio::test]
    async fn a_disc_log_reads_back_what_was_written_truncated_and_purged() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let mut s = LogStore::open(dir.path()).expect("open");
            for i in 1..=5 {
                append_one(&s, i).await;
            }
            s.truncate(entry(5).log_id).await.expect("truncate");
            s.purge(entry(2).log_id).await.expect("purge");
            s.save_vote(&Vote::new_committed(3, 7)).await.expect("vote");
            s.save_committed(Some(entry(4).log_id))
                .await
                .expect("committed");
            // The commit point is written without a sync: the next durable write carries it.
            s.save_vote(&Vote::new_committed(3, 7)).await.expect("vote");
        }
        let mut s = LogStore::open(dir.path()).expect("reopen");
        let got: Vec<u64> = s
            .try_get_log_entries(0..100)
            .await
            .expect("read")
            .iter()
            .map(|e| e.log_id.index)
            .collect();
        assert_eq!(got, vec![3, 4]);
        let v = s.read_vote().await.expect("vote").expect("a vote");
        assert_eq!(v, Vote::new_committed(3, 7));
        assert_eq!(s.read_committed().await.expect("c"), Some(entry(4).log_id));
        let state = s.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(2));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(4));
    }

    async fn append_one(s: &LogStore, i: u64) {
        let (tx, rx) = oneshot::channel();
        let row = (
            wal_id(&entry(i).log_id),
            serde_json::to_vec(&entry(i)).expect("json"),
        );
        s.write(1, Some((true, Some(Done::Waiting(tx)))), move |w| {
            w.append([row]).map(drop)
        })
        .await
        .expect("append");
        rx.await.expect("flushed").expect("written");
        s.inner.lock().log.insert(i, entry(i));
    }

    #[tokio::test]
    async fn chunks_fill_up_and_purged_ones_are_deleted() {
        let dir = tempfile::tempdir().expect("tmp");
        let n = CHUNK_RECORDS * 2 + 10;
        {
            let mut s = LogStore::open(dir.path()).expect("open");
            for i in 1..=n {
                append_one(&s, i).await;
            }
            s.purge(entry(n - 5).log_id).await.expect("purge");
        }
        let files = std::fs::read_dir(dir.path().join("raft-log"))
            .expect("dir")
            .count();
        assert!(files <= 3, "{files} files after the purge");
        let mut s = LogStore::open(dir.path()).expect("reopen");
        let got = s.try_get_log_entries(0..).await.expect("read");
        let got: Vec<u64> = got.iter().map(|e| e.log_id.index).collect();
        assert_eq!(got, ((n - 4)..=n).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_log_from_an_earlier_format_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("raft.redb"), b"old").expect("write");
        let e = LogStore::open(dir.path())
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("raft.redb"), "{e}");
    }

    #[tokio::test]
    async fn votes_and_log_ids_order_as_openraft_orders_them() {
        let a = Vote::new(2, 9);
        let b = Vote::new_committed(2, 9);
        let c = Vote::new(3, 1);
        assert!(wal_vote(&a) < wal_vote(&b) && wal_vote(&b) < wal_vote(&c));
        assert_eq!(vote(wal_vote(&b)), b);
        let x = LogId::new(CommittedLeaderId::new(2, 9), 10);
        let y = LogId::new(CommittedLeaderId::new(3, 1), 11);
        assert!(wal_id(&x) < wal_id(&y));
        assert_eq!(log_id(wal_id(&y)), y);
    }
}

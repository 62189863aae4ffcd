//! The Raft log and vote. Entries since the last purge are held in memory (metadata logs
//! are small and snapshots purge them); a disc node also writes them, the vote and the
//! commit point to `raft.redb` in its data dir, on a blocking thread, and reads them back on
//! start. A RAM node keeps them in memory only.

// openraft's traits return its `StorageError`, a large type; the helpers here return it too.
#![allow(clippy::result_large_err)]

use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{AnyError, LogState, RaftLogReader, StorageIOError};
use parking_lot::Mutex;
use redb::{Database, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

#[derive(Default)]
struct Inner {
    log: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote>,
    committed: Option<LogId>,
}

#[derive(Clone)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<Inner>>,
    disk: Option<Arc<Database>>,
}

fn io(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

fn write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_logs(io(e)).into()
}

/// One write to the database, run on a blocking thread.
enum Write {
    Append(Vec<(u64, Vec<u8>)>),
    /// Remove entries from this index on.
    Truncate(u64),
    /// Remove entries up to and including this index; remember it.
    Purge(u64, Vec<u8>),
    Meta(&'static str, Vec<u8>),
    /// Forget everything (the node is reset).
    Clear,
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
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join("raft.redb");
        let db = Database::create(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        let mut inner = Inner::default();
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            anyhow::anyhow!("{}: cannot read the {what}: {e}", path.display())
        };
        let tx = db.begin_write().map_err(|e| bad("log", &e))?;
        {
            // Created on first use, so reads below always find the tables.
            tx.open_table(LOG).map_err(|e| bad("log", &e))?;
            tx.open_table(META).map_err(|e| bad("log", &e))?;
        }
        tx.commit().map_err(|e| bad("log", &e))?;
        let rx = db.begin_read().map_err(|e| bad("log", &e))?;
        let log = rx.open_table(LOG).map_err(|e| bad("log", &e))?;
        for row in log.iter().map_err(|e| bad("log", &e))? {
            let (k, v) = row.map_err(|e| bad("log", &e))?;
            let entry: Entry = serde_json::from_slice(v.value()).map_err(|e| bad("log", &e))?;
            inner.log.insert(k.value(), entry);
        }
        let meta = rx.open_table(META).map_err(|e| bad("vote", &e))?;
        let get = |key: &str| -> anyhow::Result<Option<Vec<u8>>> {
            Ok(meta
                .get(key)
                .map_err(|e| bad(key, &e))?
                .map(|v| v.value().to_vec()))
        };
        let parse = |key: &str| -> anyhow::Result<Option<LogId>> {
            get(key)?
                .map(|v| serde_json::from_slice(&v).map_err(|e| bad(key, &e)))
                .transpose()
        };
        inner.vote = get("vote")?
            .map(|v| serde_json::from_slice(&v).map_err(|e| bad("vote", &e)))
            .transpose()?;
        inner.committed = parse("committed")?;
        inner.last_purged = parse("purged")?;
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
            disk: Some(Arc::new(db)),
        })
    }

    /// Forgets the whole log and vote (the node is reset).
    pub(crate) async fn clear(&self) -> Result<(), StorageError> {
        self.write(Write::Clear).await?;
        *self.inner.lock() = Inner::default();
        Ok(())
    }

    /// Writes to the database (disc nodes) off the async workers, and waits for it.
    async fn write(&self, w: Write) -> Result<(), StorageError> {
        let Some(db) = self.disk.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || write_db(&db, w))
            .await
            .map_err(write_err)?
            .map_err(write_err)
    }
}

fn write_db(db: &Database, w: Write) -> Result<(), Box<redb::Error>> {
    let tx = db
        .begin_write()
        .map_err(redb::Error::from)
        .map_err(Box::new)?;
    {
        let mut log = tx
            .open_table(LOG)
            .map_err(redb::Error::from)
            .map_err(Box::new)?;
        let mut meta = tx
            .open_table(META)
            .map_err(redb::Error::from)
            .map_err(Box::new)?;
        match w {
            Write::Append(rows) => {
                for (k, v) in rows {
                    log.insert(k, v.as_slice())
                        .map_err(redb::Error::from)
                        .map_err(Box::new)?;
                }
            }
            Write::Truncate(from) => {
                log.retain_in(from.., |_, _| false)
                    .map_err(redb::Error::from)
                    .map_err(Box::new)?;
            }
            Write::Purge(upto, id) => {
                log.retain_in(..=upto, |_, _| false)
                    .map_err(redb::Error::from)
                    .map_err(Box::new)?;
                meta.insert("purged", id.as_slice())
                    .map_err(redb::Error::from)
                    .map_err(Box::new)?;
            }
            Write::Meta(key, v) => {
                meta.insert(key, v.as_slice())
                    .map_err(redb::Error::from)
                    .map_err(Box::new)?;
            }
            Write::Clear => {
                log.retain(|_, _| false)
                    .map_err(redb::Error::from)
                    .map_err(Box::new)?;
                meta.retain(|_, _| false)
                    .map_err(redb::Error::from)
                    .map_err(Box::new)?;
            }
        }
    }
    tx.commit().map_err(redb::Error::from).map_err(Box::new)?;
    Ok(())
}

fn json(v: &impl serde::Serialize) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(v).map_err(write_err)
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

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.write(Write::Meta("vote", json(vote)?)).await?;
        self.inner.lock().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.inner.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.write(Write::Meta("committed", json(&committed)?))
            .await?;
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
            .map(|e| Ok((e.log_id.index, json(e)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        let written = self.write(Write::Append(rows)).await;
        if written.is_ok() {
            let mut inner = self.inner.lock();
            for e in entries {
                inner.log.insert(e.log_id.index, e);
            }
        }
        let flushed = match &written {
            Ok(()) => Ok(()),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        callback.log_io_completed(flushed);
        written
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write(Write::Truncate(log_id.index)).await?;
        self.inner.lock().log.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write(Write::Purge(log_id.index, json(&log_id)?))
            .await?;
        let mut inner = self.inner.lock();
        inner.last_purged = Some(log_id);
        let keep = inner.log.split_off(&(log_id.index + 1));
        inner.log = keep;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

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
            let rows = (1..=5)
                .map(|i| (i, json(&entry(i)).expect("json")))
                .collect();
            s.write(Write::Append(rows)).await.expect("append");
            s.truncate(entry(5).log_id).await.expect("truncate");
            s.purge(entry(2).log_id).await.expect("purge");
            s.save_vote(&Vote::new(3, 7)).await.expect("vote");
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
        assert_eq!(s.read_vote().await.expect("vote"), Some(Vote::new(3, 7)));
        let state = s.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(2));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(4));
    }
}

//! The durable metadata on disk: a snapshot (`definitions.json`, RabbitMQ's definitions
//! format, importable into RabbitMQ) and an append-only log of the changes made since
//! (`definitions.log`, one JSON change per line). A change costs one line, not a rewrite of
//! everything, so N declares cost O(N) in total.
//!
//! One writer thread owns the files: callers queue changes and get a [`Ticket`] that
//! resolves once they are written and fdatasynced, so the async workers never block on
//! disk. Everything queued while a write is in progress goes out in the next write, with one
//! fdatasync (group commit). When the log outgrows the snapshot, the writer folds it into a
//! new snapshot and empties it; on open, a torn last line (a crash mid-write) is dropped.

use super::definitions::{self, Definitions, DefinitionsError};
use super::meta_model::{Change, Model};
use parking_lot::{Condvar, Mutex};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::oneshot;

/// The log is folded into the snapshot once it is larger than this and than the snapshot.
const COMPACT_MIN_BYTES: u64 = 1024 * 1024;

/// Changes appended without a waiter ([`MetaLog::append_replicated`]) are fdatasynced at
/// most this long after they are written, if nothing syncs them sooner.
const SYNC_REPLICATED_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Resolves once the changes it was given for are on disk, or with the write's error.
pub struct Ticket(oneshot::Receiver<Result<(), Arc<str>>>);

impl Ticket {
    /// A ticket resolved through the sender (work done elsewhere than the metadata log).
    pub fn channel() -> (oneshot::Sender<Result<(), Arc<str>>>, Ticket) {
        let (tx, rx) = oneshot::channel();
        (tx, Ticket(rx))
    }

    /// Resolves once both are done (with the first error).
    pub fn and(self, other: Ticket) -> Ticket {
        let (tx, t) = Ticket::channel();
        tokio::spawn(async move {
            let (a, b) = (self.written().await, other.written().await);
            let _ = tx.send(a.and(b));
        });
        t
    }

    pub async fn written(self) -> Result<(), Arc<str>> {
        self.0
            .await
            .unwrap_or_else(|_| Err("the metadata writer stopped".into()))
    }
}

/// Errors opening the metadata.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Snapshot(#[from] DefinitionsError),
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{path} line {line}: {reason} (remove that line and what follows to start without it)"
    )]
    BadLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{0}")]
    Seed(anyhow::Error),
}

struct Pending {
    lines: Vec<u8>,
    changes: Vec<Change>,
    waiters: Vec<oneshot::Sender<Result<(), Arc<str>>>>,
    /// Lines queued that no one waits for.
    unwaited: bool,
    stop: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            pending: Mutex::new(Pending {
                lines: Vec::new(),
                changes: Vec::new(),
                waiters: Vec::new(),
                unwaited: false,
                stop: false,
            }),
            wake: Condvar::new(),
        })
    }
}

/// What the writer thread owns.
struct Files {
    snapshot: PathBuf,
    log_path: PathBuf,
    log: File,
    /// Lines written to the log since its last fdatasync.
    unsynced: bool,
    log_bytes: u64,
    snapshot_bytes: u64,
    model: Model,
}

pub struct MetaLog {
    writer: parking_lot::RwLock<Writer>,
}

/// Where appends go: a writer thread and its files, or nowhere (a cluster's RAM node).
enum Writer {
    Disk {
        shared: Arc<Shared>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
    Memory,
}

impl Writer {
    /// Writes what is queued, folds the log into a fresh snapshot and stops the thread.
    fn stop(&mut self) {
        if let Writer::Disk { shared, thread } = self {
            shared.pending.lock().stop = true;
            shared.wake.notify_one();
            if let Some(h) = thread.take() {
                let _ = h.join();
            }
        }
    }
}

impl MetaLog {
    /// Opens the metadata in `dir`: the snapshot with the log replayed over it, or, in a new
    /// data dir, what `seed` returns (written out as the first snapshot).
    pub fn open(
        dir: &Path,
        seed: impl FnOnce() -> anyhow::Result<Definitions>,
    ) -> Result<(MetaLog, Definitions), OpenError> {
        let snapshot = dir.join("definitions.json");
        let log_path = dir.join("definitions.log");
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| OpenError::Io { path, source }
        };
        let stored = definitions::load(&snapshot)?;
        let changes = read_log(&log_path)?;
        let fresh = stored.is_none() && changes.is_none();
        let mut model = match stored {
            Some(d) => Model::from_definitions(d),
            None if fresh => Model::from_definitions(seed().map_err(OpenError::Seed)?),
            None => Model::default(),
        };
        let replayed = changes.as_ref().is_some_and(|c| !c.is_empty());
        for c in changes.into_iter().flatten() {
            model.apply(c);
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        let log_bytes = log.metadata().map_err(io_err(&log_path))?.len();
        let mut files = Files {
            snapshot,
            log_path,
            log,
            unsynced: false,
            log_bytes,
            snapshot_bytes: 0,
            model,
        };
        if fresh || replayed {
            files.compact()?;
        }
        let defs = files.model.to_definitions();
        let writer = Writer::start(files).map_err(io_err(dir))?;
        Ok((
            MetaLog {
                writer: parking_lot::RwLock::new(writer),
            },
            defs,
        ))
    }

    /// Metadata kept in memory only (a cluster's RAM node): starts from `seed`, and every
    /// append is done as soon as it is made.
    pub fn in_memory(
        seed: impl FnOnce() -> anyhow::Result<Definitions>,
    ) -> Result<(MetaLog, Definitions), OpenError> {
        let defs = seed().map_err(OpenError::Seed)?;
        let log = MetaLog {
            writer: parking_lot::RwLock::new(Writer::Memory),
        };
        Ok((log, defs))
    }

    /// Stops writing to disk and deletes the files in `dir` (the node became a RAM node).
    /// Blocking: call it off the async workers.
    pub fn to_memory(&self, dir: &Path) -> Result<(), OpenError> {
        let mut w = self.writer.write();
        w.stop();
        *w = Writer::Memory;
        drop(w);
        remove_files(dir)
    }

    /// Starts writing to disk in `dir`, from `defs` as the first snapshot (the node became a
    /// disc node). Blocking: call it off the async workers.
    pub fn to_disk(&self, dir: &Path, defs: Definitions) -> Result<(), OpenError> {
        remove_files(dir)?;
        let (opened, _) = MetaLog::open(dir, || Ok(defs))?;
        let new = std::mem::replace(&mut *opened.writer.write(), Writer::Memory);
        let mut w = self.writer.write();
        w.stop();
        *w = new;
        Ok(())
    }

    /// Queues changes for the writer; the ticket resolves once they are on disk.
    pub fn append(&self, changes: Vec<Change>) -> Ticket {
        let (tx, rx) = oneshot::channel();
        self.queue(changes, Some(tx));
        Ticket(rx)
    }

    /// Queues changes that a cluster's replicated log already holds durably: written at
    /// once (a killed process loses none), fdatasynced with the next change that waits, by
    /// [`MetaLog::sync`], or [`SYNC_REPLICATED_AFTER`] later. After a crash of the
    /// machine, the node replays from the log what the metadata lost, as it stores its
    /// position in the log with the changes.
    pub fn append_replicated(&self, changes: Vec<Change>) {
        self.queue(changes, None);
    }

    /// Resolves once everything queued so far is on disk (before the replicated log drops
    /// entries the metadata must hold).
    pub fn sync(&self) -> Ticket {
        self.append(Vec::new())
    }

    fn queue(&self, changes: Vec<Change>, tx: Option<oneshot::Sender<Result<(), Arc<str>>>>) {
        let w = self.writer.read();
        let Writer::Disk { shared, .. } = &*w else {
            if let Some(tx) = tx {
                let _ = tx.send(Ok(()));
            }
            return;
        };
        let mut lines = Vec::with_capacity(changes.len() * 128);
        for c in &changes {
            // A change is plain data (strings, JSON maps): serialising it cannot fail.
            if serde_json::to_writer(&mut lines, c).is_ok() {
                lines.push(b'\n');
            }
        }
        let mut p = shared.pending.lock();
        if p.stop {
            if let Some(tx) = tx {
                let _ = tx.send(Err("the broker is shutting down".into()));
            }
            return;
        }
        p.lines.extend_from_slice(&lines);
        p.changes.extend(changes);
        match tx {
            Some(tx) => p.waiters.push(tx),
            None => p.unwaited = true,
        }
        drop(p);
        shared.wake.notify_one();
    }

    /// Writes what is queued, folds the log into a fresh snapshot and stops the writer.
    /// Blocking: call it off the async workers.
    pub fn close(&self) {
        self.writer.write().stop();
    }
}

/// Deletes the snapshot and the log in `dir`, if there.
fn remove_files(dir: &Path) -> Result<(), OpenError> {
    for f in ["definitions.json", "definitions.log"] {
        let path = dir.join(f);
        match std::fs::remove_file(&path) {
            Err(source) if source.kind() != io::ErrorKind::NotFound => {
                return Err(OpenError::Io { path, source });
            }
            _ => {}
        }
    }
    Ok(())
}

impl Writer {
    fn start(files: Files) -> io::Result<Writer> {
        let shared = Shared::new();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("warren-metadata".into())
            .spawn(move || write_loop(&s, files))?;
        Ok(Writer::Disk {
            shared,
            thread: Some(thread),
        })
    }
}

impl Drop for MetaLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_loop(shared: &Shared, mut files: Files) {
    loop {
        let (lines, changes, waiters, stop, overdue) = {
            let mut p = shared.pending.lock();
            let mut overdue = false;
            while p.waiters.is_empty() && !p.unwaited && !p.stop && !overdue {
                if files.unsynced {
                    overdue = (shared.wake)
                        .wait_for(&mut p, SYNC_REPLICATED_AFTER)
                        .timed_out();
                } else {
                    shared.wake.wait(&mut p);
                }
            }
            p.unwaited = false;
            (
                std::mem::take(&mut p.lines),
                std::mem::take(&mut p.changes),
                std::mem::take(&mut p.waiters),
                p.stop,
                overdue,
            )
        };
        let sync = !waiters.is_empty() || stop || overdue;
        let result = files.append(&lines, changes, sync);
        if let Err(e) = &result {
            tracing::error!("cannot write {}: {e}", files.log_path.display());
        }
        let result = result.map_err(|e| Arc::<str>::from(e.to_string()));
        for w in waiters {
            let _ = w.send(result.clone());
        }
        let oversized =
            files.log_bytes > COMPACT_MIN_BYTES && files.log_bytes > files.snapshot_bytes;
        if stop || oversized {
            if let Err(e) = files.compact() {
                tracing::error!("cannot write {}: {e}", files.snapshot.display());
            }
        }
        if stop {
            return;
        }
    }
}

impl Files {
    /// Writes `lines` (the `changes`), and fdatasyncs what is unsynced if `sync`.
    fn append(&mut self, lines: &[u8], changes: Vec<Change>, sync: bool) -> io::Result<()> {
        if !lines.is_empty() {
            self.log.write_all(lines)?;
            self.unsynced = true;
            self.log_bytes += lines.len() as u64;
            for c in changes {
                self.model.apply(c);
            }
        }
        if sync && self.unsynced {
            self.log.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Writes the model as the new snapshot, then empties the log it now holds. A crash in
    /// between replays the log over a snapshot that already has it, which changes nothing.
    fn compact(&mut self) -> Result<(), DefinitionsError> {
        let defs = self.model.to_definitions();
        self.snapshot_bytes = definitions::save(&self.snapshot, &defs)?;
        let emptied = self.log.set_len(0).and_then(|()| self.log.sync_all());
        emptied.map_err(|source| DefinitionsError::Write {
            path: self.log_path.clone(),
            source,
        })?;
        self.log_bytes = 0;
        self.unsynced = false;
        Ok(())
    }
}

/// The changes in the log, `None` if there is no log. A last line without its newline was
/// torn by a crash and is cut off; any other line that does not parse is an error.
fn read_log(path: &Path) -> Result<Option<Vec<Change>>, OpenError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_end(&mut bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => Err(e),
    }
    .map_err(|source| OpenError::Io {
        path: path.to_owned(),
        source,
    })?;
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        tracing::warn!(
            "{}: dropping a torn last line ({} bytes)",
            path.display(),
            bytes.len() - whole
        );
        let cut = OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(whole as u64).and_then(|()| f.sync_all()));
        cut.map_err(|source| OpenError::Io {
            path: path.to_owned(),
            source,
        })?;
    }
    let mut changes = Vec::new();
    for (i, line) in bytes[..whole].split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let c = serde_json::from_slice(line).map_err(|e| OpenError::BadLine {
            path: path.to_owned(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        changes.push(c);
    }
    Ok(Some(changes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::definitions::{QueueDefinition, VhostDefinition};

    fn seed() -> anyhow::Result<Definitions> {
        let mut d = Definitions::default();
        d.vhosts.push(VhostDefinition::named("/", ""));
        Ok(d)
    }

    fn put_queue(name: &str) -> Change {
        Change::PutQueue(QueueDefinition {
            name: name.into(),
            vhost: "/".into(),
            durable: true,
            auto_delete: false,
            arguments: Default::default(),
            home: None,
            mirrors: Vec::new(),
            synchronised: Vec::new(),
        })
    }

    fn queue_names(d: &Definitions) -> Vec<String> {
        d.queues.iter().map(|q| q.name.clone()).collect()
    }

    fn no_seed() -> anyhow::Result<Definitions> {
        anyhow::bail!("an existing data dir is not seeded")
    }

    #[tokio::test]
    async fn changes_survive_reopen_without_a_clean_close() {
        let dir = tempfile::tempdir().unwrap();
        let (log, defs) = MetaLog::open(dir.path(), seed).unwrap();
        assert_eq!(defs.vhosts.len(), 1);
        log.append(vec![put_queue("a"), put_queue("b")])
            .written()
            .await
            .unwrap();
        log.append(vec![Change::DeleteQueue {
            vhost: "/".into(),
            name: "a".into(),
        }])
        .written()
        .await
        .unwrap();
        // As after kill -9: the snapshot is the seed, the rest is in the log.
        std::mem::forget(log);
        let (_log, defs) = MetaLog::open(dir.path(), no_seed).unwrap();
        assert_eq!(queue_names(&defs), vec!["b"]);
        // Opening folded the log into the snapshot.
        let snap = definitions::load(&dir.path().join("definitions.json"))
            .unwrap()
            .unwrap();
        assert_eq!(queue_names(&snap), vec!["b"]);
    }

    #[tokio::test]
    async fn replicated_changes_are_written_at_once_and_synced_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = MetaLog::open(dir.path(), seed).unwrap();
        log.append_replicated(vec![put_queue("r")]);
        // Synced, and written before whatever is queued after it.
        log.sync().written().await.unwrap();
        assert!(std::fs::read_to_string(dir.path().join("definitions.log"))
            .unwrap()
            .contains("\"r\""));
        log.append_replicated(vec![put_queue("s")]);
        log.append(vec![put_queue("t")]).written().await.unwrap();
        // As after kill -9: what was written is there, waited for or not.
        std::mem::forget(log);
        let (_log, defs) = MetaLog::open(dir.path(), no_seed).unwrap();
        assert_eq!(queue_names(&defs), vec!["r", "s", "t"]);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_dropped_and_a_bad_line_named() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = MetaLog::open(dir.path(), seed).unwrap();
        log.append(vec![put_queue("kept")]).written().await.unwrap();
        std::mem::forget(log);
        let path = dir.path().join("definitions.log");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"op":"put_queue","name":"to"#).unwrap();
        drop(f);
        let (log, defs) = MetaLog::open(dir.path(), no_seed).unwrap();
        assert_eq!(queue_names(&defs), vec!["kept"]);
        drop(log);
        std::fs::write(
            &path,
            "{\"op\":\"delete_queue\",\"vhost\":\"/\",\"name\":\"kept\"}\nnot json\n",
        )
        .unwrap();
        let err = MetaLog::open(dir.path(), no_seed).err().unwrap();
        assert!(err.to_string().contains("definitions.log line 2"), "{err}");
    }

    #[tokio::test]
    async fn the_log_is_folded_into_the_snapshot_once_it_outgrows_it() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = MetaLog::open(dir.path(), seed).unwrap();
        let path = dir.path().join("definitions.log");
        let mut peak = 0;
        for i in 0..12_000 {
            log.append(vec![put_queue(&format!("queue-{i:05}"))]);
            if i % 1000 == 999 {
                log.append(vec![]).written().await.unwrap();
                peak = peak.max(std::fs::metadata(&path).unwrap().len());
            }
        }
        log.append(vec![]).written().await.unwrap();
        assert!(peak < 3 * COMPACT_MIN_BYTES, "log grew to {peak} bytes");
        drop(log);
        let (_log, defs) = MetaLog::open(dir.path(), no_seed).unwrap();
        assert_eq!(defs.queues.len(), 12_000);
    }
}

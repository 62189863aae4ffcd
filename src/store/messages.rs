//! The message store: one append-only journal of segment files shared by every queue, with
//! a per-segment ack file. Appends go to an in-memory buffer; a flusher thread writes the
//! buffer and fsyncs once for everything that arrived meanwhile (group commit), then runs
//! the confirm callbacks waiting on that data. A segment (and its ack file) is deleted once
//! no queue holds a message in it.

use super::record;
use super::segment::{self, RecordRef, SegmentFile};
use crate::message::Message;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A segment is closed and a new one started past this size.
const SEGMENT_SIZE: u64 = 64 * 1024 * 1024;

/// Called on the flusher thread once the data is on disk (`true`) or failed (`false`).
pub(crate) type OnSynced = Box<dyn FnOnce(bool) + Send>;

struct Writer {
    seg: SegmentFile,
    pending: Vec<u8>,
    acks: HashMap<u32, Vec<u8>>,
    ack_files: HashMap<u32, Arc<File>>,
    /// Rolled segments whose tail is not yet fsynced.
    unsynced: Vec<Arc<File>>,
    waiters: Vec<OnSynced>,
    /// Segments nobody references any more: the flush thread deletes their files.
    doomed: Vec<u32>,
    stop: bool,
}

pub struct MessageStore {
    dir: PathBuf,
    writer: Mutex<Writer>,
    wake: Condvar,
    /// Live (stored, not yet released) references per segment, and all references ever
    /// made to it: a segment mostly released is worth compacting.
    live: Mutex<HashMap<u32, u64>>,
    total: Mutex<HashMap<u32, u64>>,
    readers: Mutex<HashMap<u32, Arc<File>>>,
    flusher: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A recovered message, as its queue takes it back.
#[derive(Debug, Clone, Copy)]
pub struct Restored {
    pub at: RecordRef,
    pub meta: record::Meta,
    pub body_len: u32,
}

/// What recovery found: for each queue key, its messages in publish order.
#[derive(Default)]
pub struct Recovered {
    pub queues: HashMap<u64, Vec<Restored>>,
    pub messages: u64,
    pub lost_bytes: u64,
}

impl MessageStore {
    /// Opens the store in `dir`, recovering the messages of the queues in `known` (of every
    /// queue with `None`: a RAM node learns its queues from the cluster after it starts).
    pub fn open(dir: &Path, known: Option<&HashSet<u64>>) -> io::Result<(Arc<Self>, Recovered)> {
        std::fs::create_dir_all(dir)?;
        let state = super::recovery::recover(dir, known)?;
        let seg = SegmentFile::open(dir, state.last + 1, 0)?;
        segment::sync_dir(dir)?;
        let store = Arc::new(Self {
            dir: dir.to_path_buf(),
            writer: Mutex::new(Writer {
                seg,
                pending: Vec::new(),
                acks: HashMap::new(),
                ack_files: HashMap::new(),
                unsynced: Vec::new(),
                waiters: Vec::new(),
                doomed: Vec::new(),
                stop: false,
            }),
            wake: Condvar::new(),
            live: Mutex::new(state.live),
            total: Mutex::new(state.total),
            readers: Mutex::new(HashMap::new()),
            flusher: Mutex::new(None),
        });
        let me = store.clone();
        let handle = std::thread::Builder::new()
            .name("warren-store".into())
            .spawn(move || me.flush_loop())?;
        *store.flusher.lock() = Some(handle);
        Ok((store, state.recovered))
    }

    /// Appends a message for `refs` queue references. `queues` are the durable queues it
    /// must come back in after a restart (empty for a record kept only to save memory).
    pub fn append(
        &self,
        msg: &Message,
        queues: &[u64],
        refs: u64,
        on_synced: Option<OnSynced>,
    ) -> io::Result<RecordRef> {
        let flags = if queues.is_empty() {
            record::FLAG_TRANSIENT
        } else {
            0
        };
        let mut w = self.writer.lock();
        let framed = (segment::HEADER + record::encoded_len(msg, queues)) as u64;
        let used = w.seg.len + w.pending.len() as u64;
        if used > 0 && used + framed > SEGMENT_SIZE {
            self.roll(&mut w)?;
        }
        let offset = w.seg.len + w.pending.len() as u64;
        let origin = ((w.seg.id as u64) << 40) | offset;
        segment::frame_with(&mut w.pending, |out| {
            record::encode_message(out, msg, flags, origin, queues)
        });
        // A record starts below SEGMENT_SIZE (the segment rolls first otherwise).
        let r = RecordRef::new(w.seg.id, offset as u32);
        if let Some(f) = on_synced {
            w.waiters.push(f);
        }
        self.add_refs(r.segment, refs);
        drop(w);
        self.wake.notify_one();
        Ok(r)
    }

    fn add_refs(&self, segment: u32, refs: u64) {
        *self.live.lock().entry(segment).or_insert(0) += refs;
        *self.total.lock().entry(segment).or_insert(0) += refs;
    }

    /// Old segments where most references are released: their live messages are worth
    /// moving so the segment can be deleted.
    pub fn compactable(&self) -> Vec<u32> {
        let current = self.writer.lock().seg.id;
        let live = self.live.lock();
        let total = self.total.lock();
        let mut ids: Vec<u32> = live
            .iter()
            .filter(|(id, n)| {
                **id != current && **n > 0 && **n * 2 <= total.get(id).copied().unwrap_or(0)
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Copies one queue's reference to a message into the current segment (keeping its
    /// original order). The caller releases the old reference with `release_after_sync`
    /// once the new one is in use, or the new one if it is not.
    pub fn copy(&self, old: RecordRef, durable_queue: Option<u64>) -> io::Result<RecordRef> {
        let payload = segment::read_at(&*self.reader(old.segment)?, old)?;
        if record::decode_envelope(&payload).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad record envelope",
            ));
        }
        let queues: Vec<u64> = durable_queue.into_iter().collect();
        let flags = if queues.is_empty() {
            record::FLAG_TRANSIENT
        } else {
            0
        };
        let mut w = self.writer.lock();
        let used = w.seg.len + w.pending.len() as u64;
        if used > 0 && used + payload.len() as u64 > SEGMENT_SIZE {
            self.roll(&mut w)?;
        }
        let offset = w.seg.len + w.pending.len() as u64;
        segment::frame_with(&mut w.pending, |out| {
            let _ = record::re_envelope(out, &payload, flags, &queues);
        });
        // A record starts below SEGMENT_SIZE (the segment rolls first otherwise).
        let r = RecordRef::new(w.seg.id, offset as u32);
        self.add_refs(r.segment, 1);
        drop(w);
        self.wake.notify_one();
        Ok(r)
    }

    /// Releases `r` once everything appended so far is on disk: an old copy goes only after
    /// its new copy is durable, so no crash (or power loss) can leave the ack without it.
    pub fn release_after_sync(self: &Arc<Self>, r: RecordRef, durable_queue: Option<u64>) {
        let me = self.clone();
        self.after_sync(Box::new(move |ok| {
            if ok {
                me.release(r, durable_queue);
            }
        }));
    }

    /// Runs `f` once everything appended so far is on disk.
    pub fn after_sync(&self, f: OnSynced) {
        self.writer.lock().waiters.push(f);
        self.wake.notify_one();
    }

    /// Starts a new segment; the old one is fsynced by the next flush.
    fn roll(&self, w: &mut Writer) -> io::Result<()> {
        let pending = std::mem::take(&mut w.pending);
        w.seg.write(&pending)?;
        let next = SegmentFile::open(&self.dir, w.seg.id + 1, 0)?;
        let old = std::mem::replace(&mut w.seg, next);
        w.unsynced.push(old.file);
        Ok(())
    }

    /// A queue is done with a stored message. `durable_queue` names the queue when the
    /// record must remember that (so the message does not come back after a restart).
    pub fn release(&self, r: RecordRef, durable_queue: Option<u64>) {
        if let Some(q) = durable_queue {
            let mut w = self.writer.lock();
            record::encode_ack(w.acks.entry(r.segment).or_default(), r.offset() as u64, q);
            drop(w);
            self.wake.notify_one();
        }
        let dead = {
            let mut live = self.live.lock();
            match live.get_mut(&r.segment) {
                Some(n) => {
                    *n = n.saturating_sub(1);
                    *n == 0
                }
                None => false,
            }
        };
        if dead {
            self.reclaim(r.segment);
        }
    }

    /// Deletes a segment nobody references, unless it is the one being written.
    fn reclaim(&self, id: u32) {
        let mut w = self.writer.lock();
        if id == w.seg.id || self.live.lock().get(&id).is_some_and(|n| *n > 0) {
            return;
        }
        self.live.lock().remove(&id);
        self.total.lock().remove(&id);
        w.acks.remove(&id);
        w.ack_files.remove(&id);
        // Deleting files is disk I/O: the flush thread does it, not the releasing task.
        w.doomed.push(id);
        drop(w);
        self.wake.notify_one();
        self.readers.lock().remove(&id);
    }

    /// Deletes the files of segments nobody references.
    fn remove_segments(&self, doomed: Vec<u32>) {
        for id in doomed {
            for path in [
                segment::segment_path(&self.dir, id),
                segment::ack_path(&self.dir, id),
            ] {
                if let Err(e) = std::fs::remove_file(&path) {
                    if e.kind() != io::ErrorKind::NotFound {
                        tracing::warn!("cannot remove {}: {e}", path.display());
                    }
                }
            }
        }
    }

    /// Reads a message back.
    pub fn read(&self, r: RecordRef) -> io::Result<Message> {
        {
            // Still in the buffer: write it out (no fsync needed to read it back).
            let mut w = self.writer.lock();
            if r.segment == w.seg.id && r.offset() as u64 >= w.seg.len {
                let pending = std::mem::take(&mut w.pending);
                w.seg.write(&pending)?;
            }
        }
        let file = self.reader(r.segment)?;
        let payload = segment::read_at(&file, r)?;
        record::decode_message(&payload)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "undecodable message record"))
    }

    fn reader(&self, id: u32) -> io::Result<Arc<File>> {
        if let Some(f) = self.readers.lock().get(&id) {
            return Ok(f.clone());
        }
        let f = Arc::new(File::open(segment::segment_path(&self.dir, id))?);
        self.readers.lock().insert(id, f.clone());
        Ok(f)
    }

    /// Flushes everything and stops the flusher thread.
    pub fn close(&self) {
        self.writer.lock().stop = true;
        self.wake.notify_one();
        if let Some(h) = self.flusher.lock().take() {
            let _ = h.join();
        }
    }

    fn flush_loop(&self) {
        loop {
            let mut w = self.writer.lock();
            while w.pending.is_empty()
                && w.acks.is_empty()
                && w.waiters.is_empty()
                && w.doomed.is_empty()
                && !w.stop
            {
                self.wake.wait(&mut w);
            }
            let stop = w.stop;
            let (files, waiters, result) = self.write_out(&mut w);
            let doomed = std::mem::take(&mut w.doomed);
            drop(w);
            self.remove_segments(doomed);
            let ok = result.is_ok() && files.iter().all(|f| f.sync_data().is_ok());
            if let Err(e) = &result {
                tracing::error!("message store write failed: {e}");
            }
            for f in waiters {
                f(ok);
            }
            if stop {
                return;
            }
        }
    }

    /// Writes buffered records and acks (under the lock; page-cache writes are quick) and
    /// returns the files to fsync and the callbacks to run after.
    fn write_out(&self, w: &mut Writer) -> (Vec<Arc<File>>, Vec<OnSynced>, io::Result<()>) {
        let mut files = std::mem::take(&mut w.unsynced);
        let waiters = std::mem::take(&mut w.waiters);
        let pending = std::mem::take(&mut w.pending);
        let mut result = w.seg.write(&pending);
        files.push(w.seg.file.clone());
        for (id, buf) in std::mem::take(&mut w.acks) {
            match self
                .ack_file(w, id)
                .and_then(|f| (&*f).write_all(&buf).map(|_| f))
            {
                Ok(f) => files.push(f),
                Err(e) => result = Err(e),
            }
        }
        (files, waiters, result)
    }

    fn ack_file(&self, w: &mut Writer, id: u32) -> io::Result<Arc<File>> {
        if let Some(f) = w.ack_files.get(&id) {
            return Ok(f.clone());
        }
        let f = Arc::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment::ack_path(&self.dir, id))?,
        );
        w.ack_files.insert(id, f.clone());
        Ok(f)
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        self.writer.lock().stop = true;
        self.wake.notify_one();
    }
}

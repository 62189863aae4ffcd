//! Segment files: append-only files of checksummed records. A record is
//! `[u32 payload length][u32 crc32 of payload][payload]`, big-endian. Readers verify the
//! checksum; the recovery scan stops at the first bad record and reports what it skipped, so
//! a torn tail (a crash mid-append) is truncated and a corrupt record never reaches a client.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::num::NonZeroU32;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub(crate) const HEADER: usize = 8;
/// Records larger than this are refused (a message is at most 128 MiB plus its envelope).
pub(crate) const MAX_RECORD: u32 = 256 * 1024 * 1024;

/// Where a record lives: 8 bytes, and `Option<RecordRef>` too (a queue entry holds one).
/// The record's length is read from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordRef {
    pub segment: u32,
    /// Offset of the record header in the segment file, plus one (records start below
    /// the segment size, 64 MiB, so it cannot overflow).
    at: NonZeroU32,
}

impl RecordRef {
    pub fn new(segment: u32, offset: u32) -> Self {
        RecordRef {
            segment,
            at: NonZeroU32::MIN.saturating_add(offset),
        }
    }

    pub fn offset(self) -> u32 {
        self.at.get() - 1
    }
}

pub(crate) fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08}.seg"))
}

pub(crate) fn ack_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08}.ack"))
}

/// Appends one framed record to `out`.
#[cfg(test)]
pub(crate) fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Appends one framed record whose payload `encode` writes in place; returns its length.
pub(crate) fn frame_with(out: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) -> u32 {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER]);
    encode(out);
    let len = (out.len() - start - HEADER) as u32;
    let crc = crc32fast::hash(&out[start + HEADER..]);
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    out[start + 4..start + HEADER].copy_from_slice(&crc.to_be_bytes());
    len
}

/// Reads and verifies one record.
pub(crate) fn read_at(file: &File, r: RecordRef) -> io::Result<Vec<u8>> {
    let bad = |what: &str| {
        let at = format!("record at {}:{}", r.segment, r.offset());
        io::Error::new(io::ErrorKind::InvalidData, format!("{at} {what}"))
    };
    let mut header = [0u8; HEADER];
    file.read_exact_at(&mut header, r.offset() as u64)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_RECORD {
        return Err(bad("has an impossible length"));
    }
    let mut payload = vec![0u8; len as usize];
    file.read_exact_at(&mut payload, r.offset() as u64 + HEADER as u64)?;
    if crc32fast::hash(&payload) != crc {
        return Err(bad("fails its checksum"));
    }
    Ok(payload)
}

/// What a scan of one segment found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Bytes of valid records from the start of the file.
    pub valid_len: u64,
    /// Bytes after the last valid record (a torn tail or corruption).
    pub skipped: u64,
    /// Why the scan stopped early, if it did.
    pub problem: Option<String>,
}

/// Reads every valid record of a segment in order, calling `each(offset, payload)`.
pub(crate) fn scan(path: &Path, mut each: impl FnMut(u64, &[u8])) -> io::Result<Scan> {
    let mut file = File::open(path)?;
    let total = file.metadata()?.len();
    let mut data = Vec::with_capacity(total.min(64 << 20) as usize);
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut data)?;
    let mut pos = 0usize;
    let mut scan = Scan::default();
    while pos < data.len() {
        if data.len() - pos < HEADER {
            scan.problem = Some("torn record header".into());
            break;
        }
        let len = u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]);
        let crc = u32::from_be_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]]);
        let end = pos + HEADER + len as usize;
        if len > MAX_RECORD || end > data.len() {
            scan.problem = Some(format!("torn or oversized record at offset {pos}"));
            break;
        }
        let payload = &data[pos + HEADER..end];
        if crc32fast::hash(payload) != crc {
            scan.problem = Some(format!("checksum mismatch at offset {pos}"));
            break;
        }
        each(pos as u64, payload);
        pos = end;
    }
    scan.valid_len = pos as u64;
    scan.skipped = total - pos as u64;
    Ok(scan)
}

/// An open segment being appended to.
pub(crate) struct SegmentFile {
    pub id: u32,
    pub file: std::sync::Arc<File>,
    pub len: u64,
}

impl SegmentFile {
    /// Opens (creating if needed) segment `id`, truncated to `len` valid bytes.
    pub(crate) fn open(dir: &Path, id: u32, len: u64) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(segment_path(dir, id))?;
        if file.metadata()?.len() != len {
            file.set_len(len)?;
        }
        Ok(Self {
            id,
            file: std::sync::Arc::new(file),
            len,
        })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        (&*self.file).write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }
}

/// Fsyncs a directory so renames and new files in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = SegmentFile::open(dir.path(), 1, 0).unwrap();
        let mut buf = Vec::new();
        frame(&mut buf, b"first");
        frame(&mut buf, b"second record");
        seg.write(&buf).unwrap();
        // A torn append: a header promising more bytes than were written.
        seg.write(&[0, 0, 0, 50, 1, 2, 3, 4, 9, 9]).unwrap();
        let mut seen = vec![];
        let scan = scan(&segment_path(dir.path(), 1), |off, p| {
            seen.push((off, p.to_vec()))
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].1, b"second record");
        assert_eq!(scan.valid_len, buf.len() as u64);
        assert_eq!(scan.skipped, 10);
        assert!(scan.problem.is_some());
        let r = RecordRef::new(1, seen[1].0 as u32);
        assert_eq!(read_at(&seg.file, r).unwrap(), b"second record");
        assert_eq!(std::mem::size_of::<Option<RecordRef>>(), 8);
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = SegmentFile::open(dir.path(), 2, 0).unwrap();
        let mut buf = Vec::new();
        frame(&mut buf, b"abc");
        frame(&mut buf, b"def");
        buf[HEADER] ^= 1;
        seg.write(&buf).unwrap();
        let mut n = 0;
        let scan = scan(&segment_path(dir.path(), 2), |_, _| n += 1).unwrap();
        assert_eq!(n, 0);
        assert_eq!(scan.valid_len, 0);
        assert!(scan.problem.unwrap().contains("checksum"));
        assert!(read_at(&seg.file, RecordRef::new(2, 0)).is_err());
        // A header claiming more than any record holds is refused before allocating.
        seg.write(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).unwrap();
        let err = read_at(&seg.file, RecordRef::new(2, buf.len() as u32)).unwrap_err();
        assert!(err.to_string().contains("impossible length"));
    }
}

//! A sparse image of a file: the byte ranges a reader needed, read by position, and
//! nothing else.
//!
//! A PyTorch checkpoint of ten gigabytes is a ZIP whose records are almost all tensor
//! storages; listing its tensors needs the end records, the central directory, the
//! local headers and `data.pkl`, a few kilobytes. [`SparseImage`] holds such pieces
//! and implements [`ZipBytes`], so the unchanged ZIP reader runs over it.
//!
//! # Loading without a second parser
//!
//! A loader does not work out in advance which ranges the ZIP reader will ask for (a
//! second copy of the format's rules, bound to drift from the first). It runs the
//! reader's own step over the image with [`SparseImage::fill`]: a read of a range the
//! image does not hold returns `None` and is noted; after the step the noted range is
//! read from the source and the step runs again, until it runs with every read
//! answered. The step's result is then exactly what it would be over the whole file,
//! because every byte it looked at is the file's.
//!
//! # Bounds
//!
//! The image holds at most the file's length: pieces never overlap (an overlapping
//! read is merged into one piece) and every read lies within the file. Each range is
//! one the reader asked for after checking it against its own limits (the directory
//! against [`ZipLimits::max_directory_bytes`], an entry against
//! [`ZipLimits::max_entry_bytes`]), so a hostile length claim is refused before any
//! byte of it is read. Buffers are reserved fallibly. Should a hostile layout make the
//! merging work more than twice the file's length (overlapping records, each read
//! extending a growing piece), the image reads the whole file once instead, as the
//! slice reader would have: never worse than reading it all.
//!
//! [`ZipLimits::max_directory_bytes`]: crate::container::zip::ZipLimits::max_directory_bytes
//! [`ZipLimits::max_entry_bytes`]: crate::container::zip::ZipLimits::max_entry_bytes

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io;

use crate::container::zip::ZipBytes;

/// A source of bytes read by position: a file, or bytes already in memory (which lets
/// tests and the fuzz target drive the same loader without a file).
pub trait ReadAt {
    /// Its length in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Fills `buf` with the bytes at `offset` (all of them, or an error).
    fn fill_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl ReadAt for &[u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn fill_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|start| self.get(start..start.checked_add(buf.len())?))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl ReadAt for &File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    #[cfg(unix)]
    fn fill_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(*self, buf, offset)
    }

    /// Elsewhere: seek, then read (`&File` moves the file's shared cursor, which no
    /// other reader of this image uses).
    #[cfg(not(unix))]
    fn fill_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = *self;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
}

impl ReadAt for File {
    fn size(&self) -> io::Result<u64> {
        <&File as ReadAt>::size(&self)
    }

    fn fill_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        <&File as ReadAt>::fill_at(&self, offset, buf)
    }
}

/// Rounds a step may take to converge before the image reads the whole file. The ZIP
/// reader's steps need at most six (tail, locator, two candidate ZIP64 records,
/// directory; a local header and its name; an entry's data), so this is never reached
/// unless the steps change; it keeps [`SparseImage::fill`] finite whatever they do.
const MAX_ROUNDS: u32 = 16;

/// Some byte ranges of a file (see the module docs).
pub struct SparseImage<S> {
    source: S,
    len: u64,
    /// Disjoint pieces by start offset.
    pieces: BTreeMap<u64, Vec<u8>>,
    /// The first read since the last [`SparseImage::take_miss`] that found no piece.
    missed: Cell<Option<(u64, u64)>>,
    /// Bytes read from the source.
    read: u64,
    /// Bytes read or copied while merging: bounded by twice the length (see the
    /// module docs).
    moved: u64,
}

impl<S> fmt::Debug for SparseImage<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SparseImage")
            .field("len", &self.len)
            .field(
                "pieces",
                &self
                    .pieces
                    .iter()
                    .map(|(start, p)| (*start, p.len()))
                    .collect::<Vec<_>>(),
            )
            .field("read", &self.read)
            .finish()
    }
}

impl<S: ReadAt> SparseImage<S> {
    /// An empty image of `source` (only its length is asked).
    pub fn new(source: S) -> io::Result<SparseImage<S>> {
        let len = source.size()?;
        Ok(SparseImage {
            source,
            len,
            pieces: BTreeMap::new(),
            missed: Cell::new(None),
            read: 0,
            moved: 0,
        })
    }

    /// Runs `step` until it runs with every read answered, loading what it missed in
    /// between (see the module docs), and returns that run's result.
    pub fn fill<T>(&mut self, mut step: impl FnMut(&Self) -> T) -> io::Result<T> {
        let mut rounds = 0u32;
        loop {
            self.missed.set(None);
            let out = step(self);
            let Some((offset, n)) = self.missed.take() else {
                return Ok(out);
            };
            rounds = rounds.saturating_add(1);
            if rounds >= MAX_ROUNDS {
                self.load(0, self.len)?;
            } else {
                self.load(offset, n)?;
            }
        }
    }

    /// Reads `n` bytes at `offset` (clamped to the file) into the image, merged with
    /// the pieces they overlap.
    pub fn load(&mut self, offset: u64, n: u64) -> io::Result<()> {
        let start = offset.min(self.len);
        let end = offset.saturating_add(n).min(self.len);
        if start >= end || self.holds(start, end) {
            return Ok(());
        }
        // The pieces the range overlaps: those starting before its end and ending
        // after its start (pieces are disjoint, so they are consecutive).
        let overlapping: Vec<u64> = self
            .pieces
            .range(..end)
            .rev()
            .take_while(|(&s, p)| s.saturating_add(p.len() as u64) > start)
            .map(|(&s, _)| s)
            .collect();
        let first = overlapping.last().copied().map_or(start, |s| s.min(start));
        let last = overlapping
            .first()
            .and_then(|s| self.pieces.get(s).map(|p| s.saturating_add(p.len() as u64)))
            .map_or(end, |e| e.max(end));
        let span = last.saturating_sub(first);
        let budget = self.len.saturating_mul(2);
        if self.moved.saturating_add(span) > budget && (first, last) != (0, self.len) {
            // Pathological overlaps: read the whole file once instead.
            return self.load_all();
        }
        self.moved = self.moved.saturating_add(span);
        let mut buf = zeroed(span)?;
        // Fill the gaps from the source, the overlapped pieces from memory.
        let mut at = first;
        for s in overlapping.iter().rev() {
            let Some(piece) = self.pieces.remove(s) else {
                continue;
            };
            self.read_into(&mut buf, first, at, *s)?;
            let from = usize::try_from(s.saturating_sub(first)).map_err(|_| too_big())?;
            buf.get_mut(from..from.saturating_add(piece.len()))
                .ok_or_else(too_big)?
                .copy_from_slice(&piece);
            at = s.saturating_add(piece.len() as u64);
        }
        self.read_into(&mut buf, first, at, last)?;
        self.pieces.insert(first, buf);
        Ok(())
    }

    /// The whole file as one piece.
    fn load_all(&mut self) -> io::Result<()> {
        self.pieces.clear();
        self.moved = self.moved.saturating_add(self.len);
        let mut buf = zeroed(self.len)?;
        self.read_into(&mut buf, 0, 0, self.len)?;
        self.pieces.insert(0, buf);
        Ok(())
    }

    /// Reads the file's `[from, to)` into `buf`, which holds the file from `base`.
    fn read_into(&mut self, buf: &mut [u8], base: u64, from: u64, to: u64) -> io::Result<()> {
        if from >= to {
            return Ok(());
        }
        let lo = usize::try_from(from.saturating_sub(base)).map_err(|_| too_big())?;
        let hi = usize::try_from(to.saturating_sub(base)).map_err(|_| too_big())?;
        let dst = buf.get_mut(lo..hi).ok_or_else(too_big)?;
        self.source.fill_at(from, dst)?;
        self.read = self.read.saturating_add(to.saturating_sub(from));
        Ok(())
    }
}

impl<S> SparseImage<S> {
    /// Bytes read from the source so far (what laziness is measured by).
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The source (to read a range the image does not hold).
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The first read the image could not answer since the last call, if any: a
    /// caller that has loaded everything it needs checks that nothing was missed.
    pub fn take_miss(&self) -> Option<(u64, u64)> {
        self.missed.take()
    }

    /// The whole file, when the image holds it all (a non-ZIP file is loaded so).
    pub fn whole(&self) -> Option<&[u8]> {
        self.at(0, self.len)
    }

    /// Whether one piece holds `[start, end)`.
    fn holds(&self, start: u64, end: u64) -> bool {
        self.piece(start, end).is_some()
    }

    /// The rest of the piece holding `offset` (never empty), without noting a miss.
    pub(crate) fn piece_tail(&self, offset: u64) -> Option<&[u8]> {
        let (&s, piece) = self.pieces.range(..=offset).next_back()?;
        let lo = usize::try_from(offset.checked_sub(s)?).ok()?;
        piece.get(lo..).filter(|rest| !rest.is_empty())
    }

    fn piece(&self, start: u64, end: u64) -> Option<&[u8]> {
        let (&s, piece) = self.pieces.range(..=start).next_back()?;
        let lo = usize::try_from(start.checked_sub(s)?).ok()?;
        let hi = usize::try_from(end.checked_sub(s)?).ok()?;
        piece.get(lo..hi)
    }
}

impl<S> ZipBytes for SparseImage<S> {
    fn file_len(&self) -> u64 {
        self.len
    }

    fn at(&self, offset: u64, n: u64) -> Option<&[u8]> {
        let end = offset.checked_add(n)?;
        if end > self.len {
            return None;
        }
        if n == 0 {
            return Some(&[]);
        }
        let found = self.piece(offset, end);
        if found.is_none() && self.missed.get().is_none() {
            self.missed.set(Some((offset, n)));
        }
        found
    }

    fn tail(&self, offset: u64) -> Option<&[u8]> {
        if offset >= self.len {
            return (offset == self.len).then_some(&[]);
        }
        let found = self.piece_tail(offset);
        if found.is_none() && self.missed.get().is_none() {
            self.missed.set(Some((offset, 1)));
        }
        found
    }
}

/// `n` zero bytes, reserved fallibly.
fn zeroed(n: u64) -> io::Result<Vec<u8>> {
    let n = usize::try_from(n).map_err(|_| too_big())?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(n)
        .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    buf.resize(n, 0);
    Ok(buf)
}

#[cold]
fn too_big() -> io::Error {
    io::Error::from(io::ErrorKind::OutOfMemory)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Vec<u8> {
        (0..=255u8).cycle().take(1000).collect()
    }

    #[test]
    fn a_miss_is_noted_and_loaded_then_answered() {
        let bytes = file();
        let mut image = SparseImage::new(bytes.as_slice()).unwrap();
        assert_eq!(image.at(10, 5), None);
        assert_eq!(image.take_miss(), Some((10, 5)));
        // Past the end is not a miss: the file has no such bytes.
        assert_eq!(image.at(999, 2), None);
        assert_eq!(image.take_miss(), None);
        let got = image.fill(|i| i.at(10, 5).map(<[u8]>::to_vec)).unwrap();
        assert_eq!(got.as_deref(), Some(&bytes[10..15]));
        assert_eq!(image.bytes_read(), 5);
    }

    #[test]
    fn overlapping_loads_merge_and_read_only_the_gaps() {
        let bytes = file();
        let mut image = SparseImage::new(bytes.as_slice()).unwrap();
        image.load(100, 10).unwrap();
        image.load(200, 10).unwrap();
        image.load(105, 100).unwrap();
        assert_eq!(image.pieces.len(), 1);
        assert_eq!(image.at(100, 110), Some(&bytes[100..210]));
        assert_eq!(image.bytes_read(), 110);
        // Touching pieces stay apart; a read across them is a miss, then merged.
        image.load(210, 5).unwrap();
        assert_eq!(image.pieces.len(), 2);
        let got = image.fill(|i| i.at(200, 15).map(<[u8]>::to_vec)).unwrap();
        assert_eq!(got.as_deref(), Some(&bytes[200..215]));
        assert_eq!(image.bytes_read(), 115);
    }

    #[test]
    fn a_step_that_keeps_missing_ends_with_the_whole_file() {
        let bytes = file();
        let mut image = SparseImage::new(bytes.as_slice()).unwrap();
        // Each round asks for a byte the previous one did not.
        let mut k = 0u64;
        image
            .fill(|i| {
                k += 7;
                i.at(k % 1000, 1).is_some()
            })
            .unwrap();
        assert_eq!(image.whole(), Some(bytes.as_slice()));
    }

    #[test]
    fn growing_overlaps_stay_within_twice_the_file() {
        let bytes = file();
        let mut image = SparseImage::new(bytes.as_slice()).unwrap();
        for start in 0..990u64 {
            image.load(start, 10).unwrap();
        }
        assert!(image.moved <= 2 * 1000 + 1000, "{}", image.moved);
        assert_eq!(image.whole(), Some(bytes.as_slice()));
    }
}

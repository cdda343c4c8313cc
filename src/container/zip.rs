//! ZIP archives: PyTorch checkpoints (`torch.save` since 1.6 writes `<name>/data.pkl`
//! and the raw tensor storages into a stored ZIP), TorchScript archives, NumPy `.npz`
//! and anything else zipped.
//!
//! The archive is as untrusted as the pickle, so the reader is bounded like the
//! decoder: it works on the file's bytes as a slice, reads the directory from the end,
//! and checks every size and offset against the file's length and [`ZipLimits`] before
//! using it. ZIP64 (archives over 4 GiB, common for checkpoints) is supported.
//!
//! # Reading it the way loaders do
//!
//! Readers disagree on malformed archives, and an attacker hides a payload in
//! whichever copy a scanner skips. This reader follows PyTorch, whose loader is
//! miniz (`caffe2/serialize/inline_container.cc`, `PyTorchStreamReader`, over
//! `third_party/miniz-3.0.2`):
//! - an entry's *central directory* record is authoritative: its name, method, sizes
//!   and CRC; the local header is read only for its name and extra-field lengths (to
//!   find the data), so a local name that differs is ignored by PyTorch (Python's
//!   `zipfile` refuses such an entry instead);
//! - `getRecord(name)` calls `mz_zip_reader_locate_file(.., flags = 0)`, which
//!   binary-searches a heap-sorted index of the central names, comparing them
//!   *case-insensitively*: of two entries named alike (`data.pkl` twice, or `data.pkl`
//!   and `DATA.PKL`) it loads the one that search lands on, which depends on the
//!   whole directory ([`ZipArchive::pytorch_choice`] reproduces it exactly). Python's
//!   `zipfile` loads the last one with the exact name.
//! - miniz uses the offsets as written; Python's `zipfile` shifts them by the bytes
//!   found before the archive (a pickle glued in front). This reader shifts them like
//!   `zipfile` (so such an archive is still read) and reports the prefix.
//!
//! The container layer (`container::open`) scans every copy of a duplicated name and
//! reports the anomalies [`ZipArchive::anomalies`] finds.
//!
//! Errors are [`Error`]s with the byte offset in the archive: `Malformed` for a broken
//! archive, `Limit` (input bytes) for an entry or directory over its limit.

use crate::container::{Anomaly, AnomalyKind};
use crate::error::{Error, ErrorKind, Resource};

/// Bounds on reading an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZipLimits {
    /// Bytes of central directory (default 64 MiB: about 600,000 entries).
    pub max_directory_bytes: u64,
    /// Entries in the directory (default 1,000,000).
    pub max_entries: u64,
    /// Bytes of one entry as stored in the archive (default 1 GiB, the decoder's
    /// input limit).
    pub max_entry_bytes: u64,
}

impl Default for ZipLimits {
    fn default() -> ZipLimits {
        ZipLimits {
            max_directory_bytes: 64 << 20,
            max_entries: 1_000_000,
            max_entry_bytes: 1 << 30,
        }
    }
}

/// One file in the archive's central directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZipEntry {
    /// Its path in the archive (lossy UTF-8 of [`ZipEntry::raw_name`]).
    pub name: String,
    /// Its path as stored.
    pub raw_name: Vec<u8>,
    /// 0 = stored, 8 = deflate; anything else is not read.
    pub method: u16,
    /// General-purpose flag bits (bit 0: encrypted).
    pub flags: u16,
    /// CRC-32 of the uncompressed data, as the directory claims.
    pub crc32: u32,
    /// Bytes in the archive.
    pub compressed_size: u64,
    /// Bytes once extracted (a claim; decompression is bounded by its own budget).
    pub size: u64,
    /// Offset of its local header in the file (shifted by any prefix, see
    /// [`ZipArchive::prefix_len`]).
    pub header_offset: u64,
    /// Offset of its record in the central directory (where the sizes and offset
    /// above were read).
    pub directory_offset: u64,
}

impl ZipEntry {
    /// True for a pickle by name: `.pkl` (PyTorch's `data.pkl`, and its
    /// `constants.pkl` in TorchScript archives) or `.pickle`.
    pub fn is_pickle(&self) -> bool {
        self.name.ends_with(".pkl") || self.name.ends_with(".pickle")
    }

    /// Encrypted (traditional or strong encryption): not readable.
    pub fn is_encrypted(&self) -> bool {
        self.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0
    }

    /// A directory entry (name ends in `/`).
    pub fn is_dir(&self) -> bool {
        self.raw_name.last() == Some(&b'/')
    }
}

/// An entry's local header: what sits right before its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalHeader {
    /// The name the local header gives.
    pub name: Vec<u8>,
    /// Its flag bits.
    pub flags: u16,
    /// Its method.
    pub method: u16,
    /// Where the entry's data starts.
    pub data_offset: u64,
}

/// True when `head` starts like a ZIP archive (a local file header).
pub fn looks_like_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

/// The bytes an archive is read from: the whole file as a slice, or a sparse image of
/// it (`container::image::SparseImage`) holding only the records a caller needs, so a
/// checkpoint of many gigabytes is opened without reading its tensor data.
///
/// Every read of the archive goes through [`ZipBytes::at`], with the offset and the
/// length the records claim; the reader checks both against [`ZipBytes::file_len`]
/// and its [`ZipLimits`] first, so an implementation is asked only for ranges within
/// the file and within the limits.
pub trait ZipBytes {
    /// The file's length in bytes.
    fn file_len(&self) -> u64;
    /// The `n` bytes at `offset`, or `None` when they do not lie within the file (or
    /// are not held: a sparse image notes the miss so its loader can fetch them).
    fn at(&self, offset: u64, n: u64) -> Option<&[u8]>;
    /// The bytes from `offset` on that are at hand: up to the file's end for bytes in
    /// memory, to the end of the piece holding `offset` for a sparse image (which
    /// notes a miss when no piece does). Empty at the end of the file; `None` past it
    /// or when not held. What a stream reader over the file is served from.
    fn tail(&self, offset: u64) -> Option<&[u8]> {
        self.at(offset, self.file_len().checked_sub(offset)?)
    }
}

impl ZipBytes for [u8] {
    fn file_len(&self) -> u64 {
        self.len() as u64
    }

    fn at(&self, offset: u64, n: u64) -> Option<&[u8]> {
        let end = offset.checked_add(n)?;
        let start = usize::try_from(offset).ok()?;
        let end = usize::try_from(end).ok()?;
        self.get(start..end)
    }
}

/// An open archive over the file's bytes (by default a slice of the whole file).
#[derive(Debug)]
pub struct ZipArchive<'a, B: ?Sized = [u8]> {
    data: &'a B,
    entries: Vec<ZipEntry>,
    limits: ZipLimits,
    prefix: u64,
    directory: (u64, u64),
    end: u64,
}

// By hand: a derived `Clone` would ask `B: Clone`, which `[u8]` is not.
impl<B: ?Sized> Clone for ZipArchive<'_, B> {
    fn clone(&self) -> Self {
        ZipArchive {
            data: self.data,
            entries: self.entries.clone(),
            limits: self.limits,
            prefix: self.prefix,
            directory: self.directory,
            end: self.end,
        }
    }
}

const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const EOCD64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const EOCD64_SIGNATURE: u32 = 0x0606_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
/// The optional signature of a data descriptor.
const DESCRIPTOR_SIGNATURE: u32 = 0x0807_4b50;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
/// The fixed part of the end-of-central-directory record, and the most a comment adds.
const EOCD_LEN: u64 = 22;
const MAX_COMMENT: u64 = 0xffff;
const EOCD64_LEN: u64 = 56;
const LOCATOR_LEN: u64 = 20;

const FLAG_ENCRYPTED: u16 = 1;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
const FLAG_ENCRYPTED_DIRECTORY: u16 = 1 << 13;
/// Flag bits a careful writer sets: deflate options (1, 2), data descriptor (3),
/// UTF-8 names (11).
const FLAGS_EXPECTED: u16 = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 11);

#[cold]
fn broken(why: &'static str, offset: u64) -> Error {
    Error::new(ErrorKind::Malformed(why), offset, None)
}

/// Little-endian fields of a record, read with bounds checks.
struct Fields<'b> {
    bytes: &'b [u8],
    at: u64,
}

impl Fields<'_> {
    /// The `N` bytes at `pos`, or "cut short".
    fn array<const N: usize>(&self, pos: usize) -> Result<[u8; N], Error> {
        self.bytes
            .get(pos..pos.saturating_add(N))
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or_else(|| broken("ZIP record cut short", self.at))
    }

    fn u16(&self, pos: usize) -> Result<u16, Error> {
        self.array(pos).map(u16::from_le_bytes)
    }

    fn u32(&self, pos: usize) -> Result<u32, Error> {
        self.array(pos).map(u32::from_le_bytes)
    }

    fn u64(&self, pos: usize) -> Result<u64, Error> {
        self.array(pos).map(u64::from_le_bytes)
    }
}

/// `n` bytes at `offset` of `data`, after checking they lie within it. `claimed_at` is
/// where the offset and size were read: errors point there.
fn slice_at<B: ZipBytes + ?Sized>(
    data: &B,
    offset: u64,
    n: u64,
    claimed_at: u64,
) -> Result<&[u8], Error> {
    data.at(offset, n)
        .ok_or_else(|| broken("ZIP record points past the end of the file", claimed_at))
}

fn signature_at<B: ZipBytes + ?Sized>(data: &B, offset: u64, signature: u32) -> bool {
    slice_at(data, offset, 4, 0).ok() == Some(&signature.to_le_bytes()[..])
}

/// The local header of `entry` in `data` (see [`ZipArchive::local`]). A free function
/// so that a loader can fetch the header's bytes without the archive.
pub fn local_header<B: ZipBytes + ?Sized>(
    data: &B,
    entry: &ZipEntry,
) -> Result<LocalHeader, Error> {
    let at = entry.header_offset;
    let header = Fields {
        bytes: slice_at(data, at, 30, entry.directory_offset)?,
        at,
    };
    if header.u32(0)? != LOCAL_SIGNATURE {
        return Err(broken("bad ZIP local header", at));
    }
    let name_len = u64::from(header.u16(26)?);
    let extra_len = u64::from(header.u16(28)?);
    let name = slice_at(data, at.saturating_add(30), name_len, at)?.to_vec();
    Ok(LocalHeader {
        name,
        flags: header.u16(6)?,
        method: header.u16(8)?,
        data_offset: at
            .saturating_add(30)
            .saturating_add(name_len)
            .saturating_add(extra_len),
    })
}

/// Where the stored bytes of `entry` lie in `data` (see [`ZipArchive::data_range`]):
/// its size checked against `limits`, its local header read, the range checked to
/// lie within the file. The data itself is not touched.
pub fn entry_range<B: ZipBytes + ?Sized>(
    data: &B,
    limits: &ZipLimits,
    entry: &ZipEntry,
) -> Result<std::ops::Range<u64>, Error> {
    if entry.compressed_size > limits.max_entry_bytes {
        return Err(Error::limit(
            Resource::InputBytes,
            limits.max_entry_bytes,
            entry.compressed_size,
            entry.directory_offset,
        ));
    }
    let local = local_header(data, entry)?;
    let past = || {
        broken(
            "ZIP record points past the end of the file",
            entry.header_offset,
        )
    };
    let end = local
        .data_offset
        .checked_add(entry.compressed_size)
        .ok_or_else(past)?;
    if end > data.file_len() {
        return Err(past());
    }
    Ok(local.data_offset..end)
}

impl<'a> ZipArchive<'a> {
    /// Reads the directory of the archive in `data`, the whole file.
    pub fn open(data: &'a [u8], limits: ZipLimits) -> Result<ZipArchive<'a>, Error> {
        ZipArchive::open_in(data, limits)
    }
}

impl<'a, B: ZipBytes + ?Sized> ZipArchive<'a, B> {
    /// Reads the directory of the archive in `data`, any [`ZipBytes`]: the reads are
    /// the same as [`ZipArchive::open`]'s, range by range.
    pub fn open_in(data: &'a B, limits: ZipLimits) -> Result<ZipArchive<'a, B>, Error> {
        let len = data.file_len();
        // The end record sits in the last 22 + 65,535 bytes (a comment may follow it);
        // like miniz and zipfile, take the last signature found. The last one can only
        // be in the final 22 bytes when they start with it (no comment, as every
        // writer of checkpoints leaves it): look there first, so a reader that fetches
        // ranges reads 22 bytes, not 64 KiB of the last tensor.
        let last_22 = len
            .checked_sub(EOCD_LEN)
            .and_then(|at| Some((at, data.at(at, EOCD_LEN)?)))
            .filter(|(_, b)| b.starts_with(&EOCD_SIGNATURE.to_le_bytes()));
        let (eocd_offset, eocd_bytes) = match last_22 {
            Some(found) => found,
            None => {
                let tail_len = len.min(EOCD_LEN.saturating_add(MAX_COMMENT));
                let tail_start = len.saturating_sub(tail_len);
                let tail = slice_at(data, tail_start, tail_len, tail_start)?;
                let last_start = tail
                    .len()
                    .checked_sub(EOCD_LEN as usize)
                    .ok_or_else(|| broken("no ZIP end-of-directory record", len))?;
                let eocd_pos = (0..=last_start)
                    .rev()
                    .find(|&i| {
                        tail.get(i..i.saturating_add(4)) == Some(&EOCD_SIGNATURE.to_le_bytes()[..])
                    })
                    .ok_or_else(|| broken("no ZIP end-of-directory record", len))?;
                (
                    tail_start.saturating_add(eocd_pos as u64),
                    tail.get(eocd_pos..).unwrap_or(&[]),
                )
            }
        };
        let eocd = Fields {
            bytes: eocd_bytes,
            at: eocd_offset,
        };
        let mut count = u64::from(eocd.u16(10)?);
        let mut dir_size = u64::from(eocd.u32(12)?);
        let mut dir_offset = u64::from(eocd.u32(16)?);
        let comment_len = u64::from(eocd.u16(20)?);
        let end = eocd_offset
            .saturating_add(EOCD_LEN)
            .saturating_add(comment_len)
            .min(len);
        // Where the directory's size and offset were read: errors about them point here.
        let mut dir_claimed_at = eocd_offset;
        // The directory ends where the next record starts: the end record, or the
        // ZIP64 end record.
        let mut dir_end_actual = eocd_offset;
        // ZIP64: a locator right before the end record points at the real one (miniz
        // follows the pointer; zipfile looks right before the locator). Both follow it
        // whenever the locator is there, not only when a field of the end record is
        // saturated: PyTorch's writer (miniz) always writes the ZIP64 records, so the
        // directory of a small checkpoint ends at the ZIP64 end record, not at the
        // end record (taking the gap for bytes glued in front broke every offset).
        let has_locator = eocd_offset
            .checked_sub(LOCATOR_LEN)
            .is_some_and(|at| signature_at(data, at, EOCD64_LOCATOR_SIGNATURE));
        if has_locator || count == 0xffff || dir_size == 0xffff_ffff || dir_offset == 0xffff_ffff {
            let locator_offset = eocd_offset
                .checked_sub(LOCATOR_LEN)
                .ok_or_else(|| broken("ZIP64 locator missing", eocd_offset))?;
            let locator = Fields {
                bytes: slice_at(data, locator_offset, LOCATOR_LEN, eocd_offset)?,
                at: locator_offset,
            };
            if locator.u32(0)? != EOCD64_LOCATOR_SIGNATURE {
                return Err(broken("ZIP64 locator missing", locator_offset));
            }
            let pointed = locator.u64(8)?;
            let before_locator = locator_offset.checked_sub(EOCD64_LEN);
            let record_offset = if signature_at(data, pointed, EOCD64_SIGNATURE) {
                pointed
            } else {
                before_locator
                    .filter(|&at| signature_at(data, at, EOCD64_SIGNATURE))
                    .ok_or_else(|| broken("bad ZIP64 end-of-directory record", locator_offset))?
            };
            let record = Fields {
                bytes: slice_at(data, record_offset, EOCD64_LEN, locator_offset)?,
                at: record_offset,
            };
            count = record.u64(32)?;
            dir_size = record.u64(40)?;
            dir_offset = record.u64(48)?;
            dir_claimed_at = record_offset;
            dir_end_actual = record_offset;
        }
        if count > limits.max_entries {
            return Err(Error::limit(
                Resource::InputBytes,
                limits.max_entries,
                count,
                dir_claimed_at,
            ));
        }
        if dir_size > limits.max_directory_bytes {
            return Err(Error::limit(
                Resource::InputBytes,
                limits.max_directory_bytes,
                dir_size,
                dir_claimed_at,
            ));
        }
        // Bytes before the archive (a file glued in front) move every offset: the
        // directory really ends where the end record starts.
        let claimed_end = dir_offset
            .checked_add(dir_size)
            .ok_or_else(|| broken("ZIP directory offset overflows", dir_claimed_at))?;
        let prefix = dir_end_actual
            .checked_sub(claimed_end)
            .ok_or_else(|| broken("ZIP directory overlaps its end record", dir_claimed_at))?;
        let dir_start = dir_offset.saturating_add(prefix);
        let directory = slice_at(data, dir_start, dir_size, dir_claimed_at)?;
        let entries = parse_directory(directory, dir_start, count, prefix)?;
        Ok(ZipArchive {
            data,
            entries,
            limits,
            prefix,
            directory: (dir_start, dir_size),
            end,
        })
    }

    /// Where to point at `entry`: its local header when that lies within the file,
    /// else its directory record (the offset there may be anything).
    pub fn entry_offset(&self, entry: &ZipEntry) -> u64 {
        if entry.header_offset < self.data.file_len() {
            entry.header_offset
        } else {
            entry.directory_offset
        }
    }

    /// Every entry, in directory order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// The entries whose name says pickle (see [`ZipEntry::is_pickle`]), in directory
    /// order. `container::open` sniffs every entry's content instead.
    pub fn pickles(&self) -> Vec<ZipEntry> {
        self.entries
            .iter()
            .filter(|e| e.is_pickle())
            .cloned()
            .collect()
    }

    /// Bytes before the archive proper (its offsets were written as if the archive
    /// started there: a file glued in front).
    pub fn prefix_len(&self) -> u64 {
        self.prefix
    }

    /// Where the end record (and its comment) ends; bytes after it are extra.
    pub fn end_offset(&self) -> u64 {
        self.end
    }

    /// The central directory: offset and length.
    pub fn directory(&self) -> (u64, u64) {
        self.directory
    }

    /// The local header of `entry`.
    pub fn local(&self, entry: &ZipEntry) -> Result<LocalHeader, Error> {
        local_header(self.data, entry)
    }

    /// The bytes of `entry` as stored (compressed or not), within
    /// [`ZipLimits::max_entry_bytes`], and their offset in the file.
    pub fn raw(&self, entry: &ZipEntry) -> Result<(u64, &'a [u8]), Error> {
        let range = self.data_range(entry)?;
        let bytes = slice_at(
            self.data,
            range.start,
            entry.compressed_size,
            entry.header_offset,
        )?;
        Ok((range.start, bytes))
    }

    /// Where the bytes of `entry` as stored lie in the file, checked as [`raw`] checks
    /// them (size within [`ZipLimits::max_entry_bytes`], local header readable, the
    /// range within the file) but without reading them: a PyTorch storage record is
    /// located this way and read by range only when its tensor is wanted.
    ///
    /// [`raw`]: ZipArchive::raw
    pub fn data_range(&self, entry: &ZipEntry) -> Result<std::ops::Range<u64>, Error> {
        entry_range(self.data, &self.limits, entry)
    }

    /// The bytes of a stored entry (or, with the `compression` feature, a deflated
    /// one, up to [`ZipLimits::max_entry_bytes`] of output). The CRC is not checked
    /// here: `container::open` reports a bad one as an anomaly.
    pub fn read(&self, entry: &ZipEntry) -> Result<Vec<u8>, Error> {
        let at = entry.directory_offset;
        if entry.is_encrypted() {
            return Err(Error::new(
                ErrorKind::Unsupported("encrypted ZIP entry"),
                at,
                None,
            ));
        }
        let (offset, raw) = self.raw(entry)?;
        match entry.method {
            0 => {
                if entry.size != entry.compressed_size {
                    return Err(broken("stored ZIP entry with two different sizes", at));
                }
                Ok(raw.to_vec())
            }
            8 => {
                let mut budget =
                    crate::container::compress::Budget::new(self.limits.max_entry_bytes);
                crate::container::compress::decompress(
                    crate::container::compress::Codec::Deflate,
                    raw,
                    crate::container::compress::Want::All,
                    &mut budget,
                    offset,
                )
            }
            _ => Err(Error::new(
                ErrorKind::Unsupported("ZIP compression method other than stored and deflate"),
                at,
                None,
            )),
        }
    }

    /// For each entry, the index of the entry PyTorch loads for its name: the one
    /// miniz's `mz_zip_reader_locate_file` finds (a case-insensitive binary search
    /// over the names, heap-sorted at open). Equal to the entry's own index unless
    /// its name is shared.
    pub fn pytorch_choice(&self) -> Vec<usize> {
        let names: Vec<&[u8]> = self.entries.iter().map(|e| e.raw_name.as_slice()).collect();
        let sorted = miniz_sorted(&names);
        (0..names.len())
            .map(|i| {
                let name = names.get(i).copied().unwrap_or(&[]);
                miniz_locate(&names, &sorted, name).unwrap_or(i)
            })
            .collect()
    }

    /// The structural anomalies: bytes before, between and after the records, local
    /// names that differ from the directory's, shared names, overlapping entries,
    /// unexpected flags and methods. `location` names the archive in the anomalies.
    pub fn anomalies(&self, location: &str) -> Vec<Anomaly> {
        let mut out = Vec::new();
        let mut push = |kind, offset, detail: String| {
            out.push(Anomaly {
                kind,
                location: location.to_owned(),
                offset,
                detail,
            })
        };
        let len = self.data.file_len();
        // Every byte range a record claims: local header + data, the directory, the
        // end records.
        let mut ranges: Vec<(u64, u64, usize)> = Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            let local = match self.local(entry) {
                Ok(local) => local,
                Err(e) => {
                    push(
                        AnomalyKind::Other,
                        entry.directory_offset,
                        format!("entry {:?}: unreadable local header ({e})", entry.name),
                    );
                    continue;
                }
            };
            let data_end = local.data_offset.saturating_add(entry.compressed_size);
            let end = data_end.saturating_add(descriptor_len(self.data, entry, data_end));
            ranges.push((entry.header_offset, end, i));
            if local.name != entry.raw_name {
                push(
                    AnomalyKind::NameMismatch,
                    entry.header_offset,
                    format!(
                        "the directory names this entry {:?}, its local header {:?}: PyTorch \
                         (miniz) uses the directory's name, Python's zipfile refuses the entry",
                        entry.name,
                        String::from_utf8_lossy(&local.name)
                    ),
                );
            }
            if local.method != entry.method || local.flags != entry.flags {
                push(
                    AnomalyKind::UnusualFlags,
                    entry.header_offset,
                    format!(
                        "entry {:?}: the local header says method {} flags {:#06x}, the \
                         directory method {} flags {:#06x} (readers use the directory's)",
                        entry.name, local.method, local.flags, entry.method, entry.flags
                    ),
                );
            }
            if entry.is_encrypted() || entry.flags & FLAG_ENCRYPTED_DIRECTORY != 0 {
                push(
                    AnomalyKind::Encrypted,
                    entry.header_offset,
                    format!(
                        "entry {:?} is flagged as encrypted: scanned as if in clear (a loader \
                         that ignores the flag reads it so)",
                        entry.name
                    ),
                );
            } else if entry.flags & !FLAGS_EXPECTED != 0 {
                push(
                    AnomalyKind::UnusualFlags,
                    entry.header_offset,
                    format!("entry {:?}: flag bits {:#06x}", entry.name, entry.flags),
                );
            }
            if entry.method != 0 && entry.method != 8 {
                push(
                    AnomalyKind::UnusualFlags,
                    entry.header_offset,
                    format!(
                        "entry {:?}: compression method {} (only stored and deflate are read)",
                        entry.name, entry.method
                    ),
                );
            }
        }
        // Shared names: every copy but the one PyTorch loads.
        let choice = self.pytorch_choice();
        for (i, entry) in self.entries.iter().enumerate() {
            let chosen = choice.get(i).copied().unwrap_or(i);
            let last_exact = self
                .entries
                .iter()
                .rposition(|e| e.raw_name == entry.raw_name)
                .unwrap_or(i);
            if chosen != i {
                let loaded = self.entries.get(chosen);
                push(
                    AnomalyKind::DuplicateName,
                    self.entry_offset(entry),
                    format!(
                        "entry #{i} {:?} shares its name with entry #{chosen} {:?} at offset \
                         {}: PyTorch (miniz, case-insensitive) loads #{chosen}, Python's zipfile \
                         loads #{last_exact}; every copy is scanned",
                        entry.name,
                        loaded.map_or("", |e| e.name.as_str()),
                        loaded.map_or(0, |e| e.header_offset),
                    ),
                );
            }
        }
        ranges.push((
            self.directory.0,
            self.directory.0.saturating_add(self.directory.1),
            usize::MAX,
        ));
        ranges.sort_unstable();
        let first = ranges.first().map_or(0, |r| r.0);
        if first > 0 {
            push(
                AnomalyKind::ExtraBytes,
                0,
                format!(
                    "{first} bytes before the first ZIP record{}",
                    if self.prefix > 0 {
                        " (offsets written for an archive starting after them: a file glued in \
                         front, which torch.load reads as a legacy checkpoint and unpickles)"
                    } else {
                        ""
                    }
                ),
            );
        }
        let mut reach = first;
        for window in ranges.windows(2) {
            let (Some(a), Some(b)) = (window.first(), window.get(1)) else {
                continue;
            };
            reach = reach.max(a.1);
            let name = |i: usize| {
                self.entries.get(i).map_or_else(
                    || "the central directory".to_owned(),
                    |e| format!("{:?}", e.name),
                )
            };
            if b.0 < reach {
                push(
                    AnomalyKind::Overlap,
                    b.0,
                    format!(
                        "{} overlaps {} (up to offset {reach})",
                        name(b.2),
                        name(a.2)
                    ),
                );
            } else if b.0 > reach {
                push(
                    AnomalyKind::ExtraBytes,
                    reach,
                    format!(
                        "{} bytes no record claims, before {}",
                        b.0.saturating_sub(reach),
                        name(b.2)
                    ),
                );
            }
        }
        if self.end < len {
            push(
                AnomalyKind::ExtraBytes,
                self.end,
                format!(
                    "{} bytes after the end-of-directory record",
                    len.saturating_sub(self.end)
                ),
            );
        }
        out
    }
}

/// Bytes of the data descriptor after an entry's data (flag bit 3: the sizes and CRC
/// follow the data, as PyTorch's writer (miniz) and streaming writers put them): an
/// optional signature, the CRC, then both sizes in 4 bytes each, or 8 for ZIP64.
///
/// Counted only when it is there: the bytes must repeat the directory's CRC and sizes
/// (after the signature, if any). Bit 3 without a descriptor is 0: the record ends with
/// its data, and whatever follows is judged as the next record (an unchecked length
/// would claim the next record's first bytes and call that an overlap).
fn descriptor_len<B: ZipBytes + ?Sized>(data: &B, entry: &ZipEntry, data_end: u64) -> u64 {
    if entry.flags & 0x0008 == 0 {
        return 0;
    }
    // A little-endian field of `width` bytes (4 or 8) at `at`.
    let field = |at: u64, width: u64| -> Option<u64> {
        let bytes = slice_at(data, at, width, 0).ok()?;
        let mut le = [0u8; 8];
        le.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(u64::from_le_bytes(le))
    };
    // CRC (4 bytes), then the compressed and the uncompressed size (`width` each).
    let repeats = |at: u64, width: u64| -> bool {
        field(at, 4) == Some(u64::from(entry.crc32))
            && field(at.saturating_add(4), width) == Some(entry.compressed_size)
            && field(at.saturating_add(4).saturating_add(width), width) == Some(entry.size)
    };
    let head = if signature_at(data, data_end, DESCRIPTOR_SIGNATURE) {
        4
    } else {
        0
    };
    let body = data_end.saturating_add(head);
    if repeats(body, 4) {
        head.saturating_add(12)
    } else if repeats(body, 8) {
        head.saturating_add(20)
    } else {
        0
    }
}

/// The central directory: `count` records of 46 bytes plus name, extra and comment.
fn parse_directory(
    dir: &[u8],
    dir_offset: u64,
    count: u64,
    prefix: u64,
) -> Result<Vec<ZipEntry>, Error> {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    for _ in 0..count {
        // The record's offset, clamped to the directory's end: a count or a comment
        // length that overstates the directory must not point outside the file.
        let at = dir_offset.saturating_add(pos.min(dir.len()) as u64);
        let record = Fields {
            bytes: dir.get(pos..).unwrap_or(&[]),
            at,
        };
        if record.u32(0)? != CENTRAL_SIGNATURE {
            return Err(broken("bad ZIP central directory record", at));
        }
        let flags = record.u16(8)?;
        let method = record.u16(10)?;
        let crc32 = record.u32(16)?;
        let mut compressed_size = u64::from(record.u32(20)?);
        let mut size = u64::from(record.u32(24)?);
        let name_len = usize::from(record.u16(28)?);
        let extra_len = usize::from(record.u16(30)?);
        let comment_len = usize::from(record.u16(32)?);
        let mut header_offset = u64::from(record.u32(42)?);
        let name_start = pos.saturating_add(46);
        let extra_start = name_start.saturating_add(name_len);
        let next = extra_start
            .saturating_add(extra_len)
            .saturating_add(comment_len);
        let name = dir
            .get(name_start..extra_start)
            .ok_or_else(|| broken("ZIP entry name cut short", at))?;
        let extra = dir
            .get(extra_start..extra_start.saturating_add(extra_len))
            .ok_or_else(|| broken("ZIP extra field cut short", at))?;
        // ZIP64 extra field (id 1): the 64-bit values, in this order, for each field
        // that was 0xffffffff.
        let mut rest = extra;
        while let (Some(id), Some(len)) = (
            rest.get(0..2).and_then(|b| <[u8; 2]>::try_from(b).ok()),
            rest.get(2..4).and_then(|b| <[u8; 2]>::try_from(b).ok()),
        ) {
            let len = usize::from(u16::from_le_bytes(len));
            let body = rest
                .get(4..4usize.saturating_add(len))
                .ok_or_else(|| broken("ZIP extra field cut short", at))?;
            if u16::from_le_bytes(id) == 1 {
                let values = Fields { bytes: body, at };
                let mut i = 0usize;
                for field in [&mut size, &mut compressed_size, &mut header_offset] {
                    if *field == 0xffff_ffff {
                        *field = values.u64(i)?;
                        i = i.saturating_add(8);
                    }
                }
            }
            rest = rest.get(4usize.saturating_add(len)..).unwrap_or(&[]);
        }
        entries.push(ZipEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            raw_name: name.to_vec(),
            method,
            flags,
            crc32,
            compressed_size,
            size,
            header_offset: header_offset.saturating_add(prefix),
            directory_offset: at,
        });
        pos = next;
    }
    Ok(entries)
}

/// miniz's `mz_zip_reader_filename_less`: bytes compared after ASCII lowercasing, a
/// prefix sorts first.
fn miniz_less(l: &[u8], r: &[u8]) -> bool {
    for (a, b) in l.iter().zip(r) {
        let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
        if a != b {
            return a < b;
        }
    }
    l.len() < r.len()
}

/// miniz's `mz_zip_reader_sort_central_dir_offsets_by_filename`: a heap sort of the
/// entry indices (not stable, so which of two equal names comes first depends on the
/// whole directory; reproduced step by step).
fn miniz_sorted(names: &[&[u8]]) -> Vec<usize> {
    let size = names.len();
    let mut idx: Vec<usize> = (0..size).collect();
    if size <= 1 {
        return idx;
    }
    let name = |idx: &[usize], i: usize| -> &[u8] {
        idx.get(i)
            .and_then(|&j| names.get(j))
            .copied()
            .unwrap_or(&[])
    };
    let sift = |idx: &mut Vec<usize>, mut root: usize, end: usize| {
        while let Some(mut child) = root
            .checked_mul(2)
            .and_then(|c| c.checked_add(1))
            .filter(|&c| c < end)
        {
            let right = child.saturating_add(1);
            if right < end && miniz_less(name(idx, child), name(idx, right)) {
                child = right;
            }
            if !miniz_less(name(idx, root), name(idx, child)) {
                break;
            }
            idx.swap(root, child);
            root = child;
        }
    };
    let mut start = size.saturating_sub(2) / 2;
    loop {
        sift(&mut idx, start, size);
        if start == 0 {
            break;
        }
        start = start.saturating_sub(1);
    }
    let mut end = size.saturating_sub(1);
    while end > 0 {
        idx.swap(end, 0);
        sift(&mut idx, 0, end);
        end = end.saturating_sub(1);
    }
    idx
}

/// miniz's `mz_zip_locate_file_binary_search`: the entry index it finds for `target`.
fn miniz_locate(names: &[&[u8]], sorted: &[usize], target: &[u8]) -> Option<usize> {
    let (mut lo, mut hi) = (0usize, sorted.len());
    while lo < hi {
        // miniz: m = l + (h - l) / 2 over the inclusive range [l, h].
        let last = hi.saturating_sub(1);
        let mid = lo.saturating_add(last.saturating_sub(lo) / 2);
        let index = sorted.get(mid).copied()?;
        let name = names.get(index).copied()?;
        let mut order = std::cmp::Ordering::Equal;
        for (a, b) in name.iter().zip(target) {
            let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
            if a != b {
                order = a.cmp(&b);
                break;
            }
        }
        if order == std::cmp::Ordering::Equal {
            order = name.len().cmp(&target.len());
        }
        match order {
            std::cmp::Ordering::Equal => return Some(index),
            std::cmp::Ordering::Less => lo = mid.saturating_add(1),
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    None
}

/// CRC-32 (ISO-HDLC, as ZIP and gzip use it), slicing by 8. Written here so the ZIP
/// reader keeps no dependencies.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let lo = u32::from_le_bytes([word[0], word[1], word[2], word[3]]) ^ crc;
        let hi = u32::from_le_bytes([word[4], word[5], word[6], word[7]]);
        crc = table(7, lo)
            ^ table(6, lo >> 8)
            ^ table(5, lo >> 16)
            ^ table(4, lo >> 24)
            ^ table(3, hi)
            ^ table(2, hi >> 8)
            ^ table(1, hi >> 16)
            ^ table(0, hi >> 24);
    }
    for &b in chunks.remainder() {
        crc = table(0, crc ^ u32::from(b)) ^ (crc >> 8);
    }
    !crc
}

/// Entry `(value & 0xff)` of slicing table `t`.
#[inline]
fn table(t: usize, value: u32) -> u32 {
    CRC_TABLES
        .get(t)
        .and_then(|row| row.get((value & 0xff) as usize))
        .copied()
        .unwrap_or(0)
}

const CRC_TABLES: [[u32; 256]; 8] = crc_tables();

// Evaluated at compile time: an index out of bounds or an overflow here fails the
// build, it cannot happen at run time.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn crc_tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        tables[0][i] = c;
        i += 1;
    }
    let mut t = 1;
    while t < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[t - 1][i];
            tables[t][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        t += 1;
    }
    tables
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds archives by hand: `(central name, local name, data, flags)` entries,
    /// stored, with the right CRCs unless told otherwise.
    /// Central name, local name, data, flags, CRC (computed when `None`).
    type Entry = (Vec<u8>, Vec<u8>, Vec<u8>, u16, Option<u32>);

    /// A deflated entry: its compressed bytes, the size and CRC of the original.
    pub(crate) struct Deflated {
        pub(crate) name: Vec<u8>,
        pub(crate) compressed: Vec<u8>,
        pub(crate) size: u32,
        pub(crate) crc: u32,
    }

    pub(crate) struct Builder {
        pub(crate) prefix: Vec<u8>,
        pub(crate) entries: Vec<Entry>,
        /// Deflated entries, written after the stored ones.
        pub(crate) deflated: Vec<Deflated>,
        pub(crate) suffix: Vec<u8>,
    }

    impl Builder {
        pub(crate) fn new() -> Builder {
            Builder {
                prefix: Vec::new(),
                entries: Vec::new(),
                deflated: Vec::new(),
                suffix: Vec::new(),
            }
        }

        pub(crate) fn entry(mut self, name: &str, data: &[u8]) -> Builder {
            self.entries
                .push((name.into(), name.into(), data.to_vec(), 0, None));
            self
        }

        /// An entry whose local header gives another name, flags or CRC.
        pub(crate) fn odd(
            mut self,
            central: &str,
            local: &str,
            data: &[u8],
            flags: u16,
            crc: Option<u32>,
        ) -> Builder {
            self.entries
                .push((central.into(), local.into(), data.to_vec(), flags, crc));
            self
        }

        pub(crate) fn build(&self) -> Vec<u8> {
            let mut z = self.prefix.clone();
            let base = z.len();
            let mut dir = Vec::new();
            for (central, local, data, flags, crc) in &self.entries {
                let offset = (z.len() - base) as u32;
                let crc = crc.unwrap_or_else(|| crc32(data));
                z.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
                z.extend_from_slice(&20u16.to_le_bytes());
                z.extend_from_slice(&flags.to_le_bytes());
                z.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // method, time, date
                z.extend_from_slice(&crc.to_le_bytes());
                z.extend_from_slice(&(data.len() as u32).to_le_bytes());
                z.extend_from_slice(&(data.len() as u32).to_le_bytes());
                z.extend_from_slice(&(local.len() as u16).to_le_bytes());
                z.extend_from_slice(&0u16.to_le_bytes());
                z.extend_from_slice(local);
                z.extend_from_slice(data);
                dir.extend_from_slice(&CENTRAL_SIGNATURE.to_le_bytes());
                dir.extend_from_slice(&[20, 0, 20, 0]);
                dir.extend_from_slice(&flags.to_le_bytes());
                dir.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
                dir.extend_from_slice(&crc.to_le_bytes());
                dir.extend_from_slice(&(data.len() as u32).to_le_bytes());
                dir.extend_from_slice(&(data.len() as u32).to_le_bytes());
                dir.extend_from_slice(&(central.len() as u16).to_le_bytes());
                dir.extend_from_slice(&[0; 12]);
                dir.extend_from_slice(&offset.to_le_bytes());
                dir.extend_from_slice(central);
            }
            for d in &self.deflated {
                let offset = (z.len() - base) as u32;
                let mut fixed = Vec::new();
                fixed.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
                fixed.extend_from_slice(&d.crc.to_le_bytes());
                fixed.extend_from_slice(&(d.compressed.len() as u32).to_le_bytes());
                fixed.extend_from_slice(&d.size.to_le_bytes());
                fixed.extend_from_slice(&(d.name.len() as u16).to_le_bytes());
                z.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
                z.extend_from_slice(&fixed);
                z.extend_from_slice(&0u16.to_le_bytes());
                z.extend_from_slice(&d.name);
                z.extend_from_slice(&d.compressed);
                dir.extend_from_slice(&CENTRAL_SIGNATURE.to_le_bytes());
                dir.extend_from_slice(&[20, 0]);
                dir.extend_from_slice(&fixed);
                dir.extend_from_slice(&[0; 12]);
                dir.extend_from_slice(&offset.to_le_bytes());
                dir.extend_from_slice(&d.name);
            }
            let dir_offset = (z.len() - base) as u32;
            z.extend_from_slice(&dir);
            z.extend_from_slice(&EOCD_SIGNATURE.to_le_bytes());
            let n = (self.entries.len() + self.deflated.len()) as u16;
            z.extend_from_slice(&[0, 0, 0, 0]);
            z.extend_from_slice(&n.to_le_bytes());
            z.extend_from_slice(&n.to_le_bytes());
            z.extend_from_slice(&(dir.len() as u32).to_le_bytes());
            z.extend_from_slice(&dir_offset.to_le_bytes());
            z.extend_from_slice(&0u16.to_le_bytes());
            z.extend_from_slice(&self.suffix);
            z
        }
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
        let long: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        // Bytewise reference.
        let mut c = !0u32;
        for &b in &long {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        assert_eq!(crc32(&long), !c);
    }

    #[test]
    fn reads_a_stored_entry() {
        let zip = Builder::new().entry("a/data.pkl", b"N.").build();
        assert!(looks_like_zip(&zip));
        let archive = ZipArchive::open(&zip, ZipLimits::default()).unwrap();
        let pickles = archive.pickles();
        assert_eq!(pickles.len(), 1);
        assert_eq!(pickles[0].name, "a/data.pkl");
        assert_eq!(pickles[0].crc32, crc32(b"N."));
        assert_eq!(archive.read(&pickles[0]).unwrap(), b"N.");
        assert_eq!(archive.raw(&pickles[0]).unwrap(), (40, &b"N."[..]));
        assert!(archive.anomalies("").is_empty());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let zip = Builder::new().entry("a/data.pkl", b"N.").build();
        for cut in 0..zip.len() {
            let result = ZipArchive::open(&zip[..cut], ZipLimits::default()).and_then(|a| {
                let first = a.entries().first().cloned();
                match first {
                    Some(e) => a.read(&e).map(|_| ()),
                    None => Ok(()),
                }
            });
            assert!(
                matches!(
                    result.as_ref().map_err(|e| e.kind().name()),
                    Err("malformed")
                ),
                "cut at {cut}: {result:?}"
            );
        }
    }

    /// The reader over a sparse image, filled by its misses, answers as over the
    /// whole slice: entries, every entry's local header and data range, or the same
    /// error, for the archive and every truncation of it (with a prefix glued on).
    #[test]
    fn a_sparse_image_reads_what_the_slice_reads() {
        use crate::container::image::SparseImage;
        let mut b = Builder::new()
            .entry("a/data.pkl", b"N.")
            .entry("a/data/0", &[7; 300]);
        b.prefix = b"junk".to_vec();
        let zip = b.build();
        for cut in 0..=zip.len() {
            let data = &zip[..cut];
            let whole = ZipArchive::open(data, ZipLimits::default()).map(|a| {
                let e = a.entries().to_vec();
                let ranges: Vec<_> = e.iter().map(|e| a.data_range(e)).collect();
                (e, ranges)
            });
            let mut image = SparseImage::new(data).unwrap();
            let sparse = image
                .fill(|i| {
                    ZipArchive::open_in(i, ZipLimits::default()).map(|a| {
                        let e = a.entries().to_vec();
                        let ranges: Vec<_> = e.iter().map(|e| a.data_range(e)).collect();
                        (e, ranges)
                    })
                })
                .unwrap();
            assert_eq!(whole, sparse, "cut at {cut}");
            if cut == zip.len() {
                // The storage's 300 bytes were located, not read.
                assert!(image.bytes_read() < zip.len() as u64 - 300, "{image:?}");
                let archive = ZipArchive::open(data, ZipLimits::default()).unwrap();
                let stored = &archive.entries()[1];
                assert_eq!(
                    archive.data_range(stored).unwrap(),
                    archive.raw(stored).unwrap().0..archive.raw(stored).unwrap().0 + 300
                );
            }
        }
    }

    #[test]
    fn an_entry_over_the_limit_is_refused_before_reading() {
        let zip = Builder::new().entry("a/data.pkl", b"N.").build();
        let archive = ZipArchive::open(
            &zip,
            ZipLimits {
                max_entry_bytes: 1,
                ..ZipLimits::default()
            },
        )
        .unwrap();
        let entry = archive.pickles()[0].clone();
        let err = archive.read(&entry).unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::Limit {
                resource: Resource::InputBytes,
                limit: 1,
                requested: 2
            }
        );
    }

    #[test]
    fn a_prefix_shifts_every_offset() {
        let mut b = Builder::new().entry("x.pkl", b"N.");
        b.prefix = b"\x80\x02N.".to_vec();
        let zip = b.build();
        let archive = ZipArchive::open(&zip, ZipLimits::default()).unwrap();
        assert_eq!(archive.prefix_len(), 4);
        let entry = archive.entries()[0].clone();
        assert_eq!(entry.header_offset, 4);
        assert_eq!(archive.read(&entry).unwrap(), b"N.");
        let kinds: Vec<(AnomalyKind, u64)> = archive
            .anomalies("")
            .iter()
            .map(|a| (a.kind, a.offset))
            .collect();
        assert_eq!(kinds, [(AnomalyKind::ExtraBytes, 0)]);
    }

    /// The order miniz's heap sort leaves equal names in, checked against the C code
    /// by hand for small directories: of two `data.pkl`, the binary search lands on
    /// the one the sort put in the middle.
    #[test]
    fn miniz_lookup_of_shared_names() {
        let names: Vec<&[u8]> = vec![b"a/data.pkl", b"a/version", b"a/data.pkl"];
        let sorted = miniz_sorted(&names);
        // Heapify [0,1,2]: root 0 "a/data.pkl" < child "a/version" (1): swap -> [1,0,2];
        // sort: swap(2,0) -> [2,0,1]; sift root 2 vs child 0 (equal names, not less):
        // stop; swap(1,0) -> [0,2,1].
        assert_eq!(sorted, [0, 2, 1]);
        // Binary search over [0,2,1]: l=0,h=2,m=1 -> index 2 equals: found.
        assert_eq!(miniz_locate(&names, &sorted, b"a/data.pkl"), Some(2));
        assert_eq!(miniz_locate(&names, &sorted, b"A/VERSION"), Some(1));
        assert_eq!(miniz_locate(&names, &sorted, b"a/missing"), None);
    }
}

//! ZIP archives that hold pickles: PyTorch checkpoints (`torch.save` since 1.6 writes
//! `<name>/data.pkl` and the raw tensor storages into an uncompressed ZIP) and anything
//! else zipped with stored entries.
//!
//! The archive is as untrusted as the pickle, so the reader is bounded like the
//! decoder: it reads the directory from the end of the file, seeks to the one entry it
//! is asked for and never reads more than [`ZipLimits`] allow. Every size and offset
//! it reads is checked against the file's length and the limits before anything is
//! allocated. Only *stored* entries are read (what PyTorch writes); a compressed entry
//! is an error that says so, rather than a decompressor and a new kind of bomb.
//! ZIP64 (archives over 4 GiB, common for checkpoints) is supported.
//!
//! Errors are [`Error`]s with the byte offset in the archive: `Malformed` for a broken
//! archive, `Limit` (input bytes) for an entry or directory over its limit,
//! `Io` for a failed read.

use std::io::{Read, Seek, SeekFrom};

use crate::error::{Error, ErrorKind, Resource};

/// Bounds on reading an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZipLimits {
    /// Bytes of central directory (default 64 MiB: about 600,000 entries).
    pub max_directory_bytes: u64,
    /// Entries in the directory (default 1,000,000).
    pub max_entries: u64,
    /// Bytes of one entry read into memory (default 1 GiB, the decoder's input limit).
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
    /// Its path in the archive (lossy UTF-8).
    pub name: String,
    /// 0 = stored (readable), anything else = compressed (not read).
    pub method: u16,
    /// Bytes in the archive.
    pub compressed_size: u64,
    /// Bytes once extracted.
    pub size: u64,
    /// Offset of its local header.
    pub header_offset: u64,
    /// Offset of its record in the central directory (where the sizes and offset
    /// above were read).
    pub directory_offset: u64,
}

impl ZipEntry {
    /// True for a pickle: a name ending in `.pkl` (PyTorch's `data.pkl`, and its
    /// `constants.pkl` in TorchScript archives) or `.pickle`.
    pub fn is_pickle(&self) -> bool {
        self.name.ends_with(".pkl") || self.name.ends_with(".pickle")
    }
}

/// True when `head` starts like a ZIP archive (a local file header).
pub fn looks_like_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

/// An open archive: its directory, and the reader to fetch entries from.
pub struct ZipArchive<R> {
    reader: R,
    len: u64,
    entries: Vec<ZipEntry>,
    limits: ZipLimits,
}

const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const EOCD64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const EOCD64_SIGNATURE: u32 = 0x0606_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
/// The fixed part of the end-of-central-directory record, and the most a comment adds.
const EOCD_LEN: u64 = 22;
const MAX_COMMENT: u64 = 0xffff;

#[cold]
fn broken(why: &'static str, offset: u64) -> Error {
    Error::new(ErrorKind::Malformed(why), offset, None)
}

fn io_error(e: &std::io::Error, offset: u64) -> Error {
    Error::new(ErrorKind::Io(e.kind()), offset, None)
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

impl<R: Read + Seek> ZipArchive<R> {
    /// Reads the directory of the archive in `reader`.
    pub fn open(mut reader: R, limits: ZipLimits) -> Result<ZipArchive<R>, Error> {
        let len = reader.seek(SeekFrom::End(0)).map_err(|e| io_error(&e, 0))?;
        // The end record sits in the last 22 + 65,535 bytes (a comment may follow it).
        let tail_len = len.min(EOCD_LEN.saturating_add(MAX_COMMENT));
        let tail_start = len.saturating_sub(tail_len);
        let tail = read_at(&mut reader, tail_start, tail_len, len, tail_start)?;
        let last_start = tail
            .len()
            .checked_sub(EOCD_LEN as usize)
            .ok_or_else(|| broken("no ZIP end-of-directory record", len))?;
        let eocd_pos = (0..=last_start)
            .rev()
            .find(|&i| tail.get(i..i.saturating_add(4)) == Some(&EOCD_SIGNATURE.to_le_bytes()[..]))
            .ok_or_else(|| broken("no ZIP end-of-directory record", len))?;
        let eocd_offset = tail_start.saturating_add(eocd_pos as u64);
        let eocd = Fields {
            bytes: tail.get(eocd_pos..).unwrap_or(&[]),
            at: eocd_offset,
        };
        let mut count = u64::from(eocd.u16(10)?);
        let mut dir_size = u64::from(eocd.u32(12)?);
        let mut dir_offset = u64::from(eocd.u32(16)?);
        // Where the directory's size and offset were read: errors about them point here.
        let mut dir_claimed_at = eocd_offset;
        if count == 0xffff || dir_size == 0xffff_ffff || dir_offset == 0xffff_ffff {
            // ZIP64: a locator right before the end record points at the real one.
            let locator_offset = eocd_offset
                .checked_sub(20)
                .ok_or_else(|| broken("ZIP64 locator missing", eocd_offset))?;
            let locator = read_at(&mut reader, locator_offset, 20, len, eocd_offset)?;
            let locator = Fields {
                bytes: &locator,
                at: locator_offset,
            };
            if locator.u32(0)? != EOCD64_LOCATOR_SIGNATURE {
                return Err(broken("ZIP64 locator missing", locator_offset));
            }
            let record_offset = locator.u64(8)?;
            let record = read_at(&mut reader, record_offset, 56, len, locator_offset)?;
            let record = Fields {
                bytes: &record,
                at: record_offset,
            };
            if record.u32(0)? != EOCD64_SIGNATURE {
                return Err(broken("bad ZIP64 end-of-directory record", record_offset));
            }
            count = record.u64(32)?;
            dir_size = record.u64(40)?;
            dir_offset = record.u64(48)?;
            dir_claimed_at = record_offset;
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
        let directory = read_at(&mut reader, dir_offset, dir_size, len, dir_claimed_at)?;
        let entries = parse_directory(&directory, dir_offset, count)?;
        Ok(ZipArchive {
            reader,
            len,
            entries,
            limits,
        })
    }

    /// Every entry, in directory order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// The pickles in the archive (see [`ZipEntry::is_pickle`]), in directory order.
    pub fn pickles(&self) -> Vec<ZipEntry> {
        self.entries
            .iter()
            .filter(|e| e.is_pickle())
            .cloned()
            .collect()
    }

    /// The bytes of a stored entry, within [`ZipLimits::max_entry_bytes`].
    pub fn read(&mut self, entry: &ZipEntry) -> Result<Vec<u8>, Error> {
        // Errors about the entry's method and sizes point at its directory record,
        // where they were read; the header offset itself may lie outside the file.
        let at = entry.directory_offset;
        if entry.method != 0 {
            return Err(broken(
                "compressed ZIP entry (only stored entries are read, as PyTorch writes them)",
                at,
            ));
        }
        if entry.size != entry.compressed_size {
            return Err(broken("stored ZIP entry with two different sizes", at));
        }
        if entry.size > self.limits.max_entry_bytes {
            return Err(Error::limit(
                Resource::InputBytes,
                self.limits.max_entry_bytes,
                entry.size,
                at,
            ));
        }
        let header_at = entry.header_offset;
        let header = read_at(&mut self.reader, header_at, 30, self.len, at)?;
        let header = Fields {
            bytes: &header,
            at: header_at,
        };
        if header.u32(0)? != LOCAL_SIGNATURE {
            return Err(broken("bad ZIP local header", header_at));
        }
        let skip = 30u64
            .saturating_add(u64::from(header.u16(26)?))
            .saturating_add(u64::from(header.u16(28)?));
        let data_offset = header_at.saturating_add(skip);
        read_at(
            &mut self.reader,
            data_offset,
            entry.size,
            self.len,
            header_at,
        )
    }
}

/// Reads `n` bytes at `offset`, after checking they lie within the file. `claimed_at`
/// is where the offset and size were read (inside the file): errors point there.
fn read_at<R: Read + Seek>(
    reader: &mut R,
    offset: u64,
    n: u64,
    len: u64,
    claimed_at: u64,
) -> Result<Vec<u8>, Error> {
    offset
        .checked_add(n)
        .filter(|end| *end <= len)
        .ok_or_else(|| broken("ZIP record points past the end of the file", claimed_at))?;
    let size = usize::try_from(n).map_err(|_| broken("ZIP record too large", offset))?;
    reader
        .seek(SeekFrom::Start(offset))
        .map_err(|e| io_error(&e, offset))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(size)
        .map_err(|_| Error::limit(Resource::Memory, 0, n, offset))?;
    reader
        .take(n)
        .read_to_end(&mut buf)
        .map_err(|e| io_error(&e, offset))?;
    if buf.len() != size {
        return Err(broken(
            "ZIP file shorter than its directory says",
            claimed_at,
        ));
    }
    Ok(buf)
}

/// The central directory: `count` records of 46 bytes plus name, extra and comment.
fn parse_directory(dir: &[u8], dir_offset: u64, count: u64) -> Result<Vec<ZipEntry>, Error> {
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
        let method = record.u16(10)?;
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
            method,
            compressed_size,
            size,
            header_offset,
            directory_offset: at,
        });
        pos = next;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A minimal stored archive, built by hand: one entry `a/data.pkl` = `N.`.
    fn tiny_zip() -> Vec<u8> {
        let name = b"a/data.pkl";
        let data = b"N.";
        let mut z = Vec::new();
        z.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
        z.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method 0, time, date
        z.extend_from_slice(&0u32.to_le_bytes()); // crc (not checked)
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(name);
        z.extend_from_slice(data);
        let dir_offset = z.len() as u32;
        z.extend_from_slice(&CENTRAL_SIGNATURE.to_le_bytes());
        z.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // versions, flags, method, time, date
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes
        z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
        z.extend_from_slice(name);
        let dir_size = z.len() as u32 - dir_offset;
        z.extend_from_slice(&EOCD_SIGNATURE.to_le_bytes());
        z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        z.extend_from_slice(&dir_size.to_le_bytes());
        z.extend_from_slice(&dir_offset.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z
    }

    #[test]
    fn reads_a_stored_entry() {
        let zip = tiny_zip();
        assert!(looks_like_zip(&zip));
        let mut archive = ZipArchive::open(Cursor::new(zip), ZipLimits::default()).unwrap();
        let pickles = archive.pickles();
        assert_eq!(pickles.len(), 1);
        assert_eq!(pickles[0].name, "a/data.pkl");
        assert_eq!(archive.read(&pickles[0]).unwrap(), b"N.");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let zip = tiny_zip();
        for cut in 0..zip.len() {
            let result = ZipArchive::open(Cursor::new(zip[..cut].to_vec()), ZipLimits::default())
                .and_then(|mut a| {
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

    #[test]
    fn an_entry_over_the_limit_is_refused_before_reading() {
        let mut archive = ZipArchive::open(
            Cursor::new(tiny_zip()),
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
}

//! Budgeted decompression: gzip, zlib, raw deflate (ZIP members), bzip2, xz, raw
//! `.lzma` and LZ4 frames (feature `compression`).
//!
//! Output is charged to the `Budget` as it comes out of the decompressor: every
//! decoder is read through a `Take`-style cap of the bytes the budget has left plus
//! one, so a bomb stops one byte past the limit, with `Limit { resource: OutputBytes,
//! limit, requested: limit + 1 }`, never after it has filled memory. The output
//! buffer grows fallibly in bounded steps. A truncated stream is `ErrorKind::Eof`,
//! a corrupt one `ErrorKind::Malformed`; the offset is where the compressed layer
//! starts in its parent.
//!
//! Without the feature, every codec is `ErrorKind::Unsupported` naming the feature.

use crate::error::{Error, Resource};

/// The bytes every layer of one `container::open` may produce together.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    /// The limit (`ContainerLimits::max_output_bytes`).
    pub(crate) limit: u64,
    /// Charged so far.
    pub(crate) used: u64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Budget {
        Budget { limit, used: 0 }
    }

    /// What is left.
    #[cfg_attr(not(feature = "compression"), allow(dead_code))]
    pub(crate) fn left(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// Charges `n` bytes produced at (or for the layer at) `offset`.
    pub(crate) fn charge(&mut self, n: u64, offset: u64) -> Result<(), Error> {
        let next = self.used.saturating_add(n);
        if next > self.limit {
            return Err(Error::limit(
                Resource::OutputBytes,
                self.limit,
                next,
                offset,
            ));
        }
        self.used = next;
        Ok(())
    }
}

/// A compressed encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    /// gzip (every member, as Python's `gzip` reads them).
    Gzip,
    /// zlib (joblib's default compression writes a raw zlib stream).
    Zlib,
    /// Raw deflate: ZIP method 8.
    Deflate,
    /// bzip2 (every stream, as Python's `bz2` reads them).
    Bzip2,
    /// xz.
    Xz,
    /// The raw `.lzma` ("alone") format.
    Lzma,
    /// LZ4 frame.
    Lz4,
}

impl Codec {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zlib => "zlib",
            Codec::Deflate => "deflate",
            Codec::Bzip2 => "bzip2",
            Codec::Xz => "xz",
            Codec::Lzma => "lzma",
            Codec::Lz4 => "lz4",
        }
    }
}

/// How much of the output to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// All of it, within the budget (more is a limit error).
    All,
    /// At most this many bytes (a prefix to sniff); stopping early is not an error.
    Prefix(u64),
}

/// Decompresses `data` (a layer starting at `offset` in its parent), charging the
/// output to `budget` as it comes out.
pub(crate) fn decompress(
    codec: Codec,
    data: &[u8],
    want: Want,
    budget: &mut Budget,
    offset: u64,
) -> Result<Vec<u8>, Error> {
    imp::decompress(codec, data, want, budget, offset)
}

#[cfg(feature = "compression")]
mod imp {
    use std::io::{self, Read};

    use super::{Budget, Codec, Want};
    use crate::error::{Error, ErrorKind};

    /// Bytes read from a decompressor at a time (the output buffer grows by at most
    /// this much per step).
    const CHUNK: usize = 64 * 1024;

    pub(super) fn decompress(
        codec: Codec,
        data: &[u8],
        want: Want,
        budget: &mut Budget,
        offset: u64,
    ) -> Result<Vec<u8>, Error> {
        let fail = |e: &io::Error| failure(codec, e, offset);
        let reader: Box<dyn Read + '_> = match codec {
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
            Codec::Zlib => Box::new(flate2::read::ZlibDecoder::new(data)),
            Codec::Deflate => Box::new(flate2::read::DeflateDecoder::new(data)),
            Codec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(data)),
            Codec::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(data)),
            // The window of lzma-rust2's readers grows with the output (not to the
            // dictionary size the header claims), so the cap below bounds it too.
            Codec::Xz => Box::new(lzma_rust2::XzReader::new(data, true)),
            Codec::Lzma => Box::new(
                lzma_rust2::LzmaReader::new_mem_limit(data, u32::MAX, None)
                    .map_err(|e| fail(&e))?,
            ),
        };
        // Read one byte more than may be kept: seeing it proves the output is over
        // (the budget's limit, unless only a prefix smaller than what is left was
        // asked for).
        let left = budget.left();
        let (cap, budget_bound) = match want {
            Want::Prefix(n) if n <= left => (n, false),
            _ => (left, true),
        };
        let mut limited = reader.take(cap.saturating_add(1));
        let mut out: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let n = match limited.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail(&e)),
            };
            let got = chunk.get(..n).unwrap_or(&[]);
            out.try_reserve(n)
                .map_err(|_| Error::limit(crate::Resource::Memory, 0, n as u64, offset))?;
            out.extend_from_slice(got);
        }
        // lz4_flex takes the input ending where a block header should be for the end
        // of the frame; a frame without its end mark is cut short.
        if codec == Codec::Lz4 && !budget_bound_hit(&out, cap) && !lz4_frames_complete(data) {
            return Err(Error::new(ErrorKind::Eof, offset, None));
        }
        let produced = out.len() as u64;
        if produced > cap {
            if budget_bound {
                // Charging fails here and names the budget.
                budget.charge(produced, offset)?;
            }
            out.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
        }
        budget.charge(out.len() as u64, offset)?;
        Ok(out)
    }

    /// The output reached the cap (so the input was not read to its end).
    fn budget_bound_hit(out: &[u8], cap: u64) -> bool {
        out.len() as u64 > cap
    }

    /// `data` is whole LZ4 frames (and skippable frames), each ending with its end
    /// mark (and content checksum), and nothing else: only sizes are read.
    fn lz4_frames_complete(data: &[u8]) -> bool {
        let le32 = |at: usize| {
            data.get(at..at.saturating_add(4))
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_le_bytes)
        };
        let mut pos = 0usize;
        while pos < data.len() {
            let Some(magic) = le32(pos) else {
                return false;
            };
            if magic & 0xffff_fff0 == 0x184d_2a50 {
                // Skippable frame: magic, 4-byte size, data.
                let Some(size) = le32(pos.saturating_add(4)) else {
                    return false;
                };
                pos = pos.saturating_add(8).saturating_add(size as usize);
                continue;
            }
            if magic != 0x184d_2204 {
                return false;
            }
            let Some(&flg) = data.get(pos.saturating_add(4)) else {
                return false;
            };
            let mut at = pos.saturating_add(6); // magic, FLG, BD
            if flg & 0x08 != 0 {
                at = at.saturating_add(8); // content size
            }
            if flg & 0x01 != 0 {
                at = at.saturating_add(4); // dictionary id
            }
            at = at.saturating_add(1); // header checksum
            loop {
                let Some(block) = le32(at) else {
                    return false;
                };
                at = at.saturating_add(4);
                if block == 0 {
                    break;
                }
                at = at.saturating_add((block & 0x7fff_ffff) as usize);
                if flg & 0x10 != 0 {
                    at = at.saturating_add(4); // block checksum
                }
            }
            if flg & 0x04 != 0 {
                at = at.saturating_add(4); // content checksum
            }
            pos = at;
        }
        pos == data.len()
    }

    #[cold]
    fn failure(codec: Codec, e: &io::Error, offset: u64) -> Error {
        let kind = if e.kind() == io::ErrorKind::UnexpectedEof {
            ErrorKind::Eof
        } else {
            ErrorKind::Malformed(match codec {
                Codec::Gzip => "corrupt gzip stream",
                Codec::Zlib => "corrupt zlib stream",
                Codec::Deflate => "corrupt deflate data",
                Codec::Bzip2 => "corrupt bzip2 stream",
                Codec::Xz => "corrupt xz stream",
                Codec::Lzma => "corrupt lzma stream",
                Codec::Lz4 => "corrupt lz4 frame",
            })
        };
        Error::new(kind, offset, None)
    }
}

#[cfg(not(feature = "compression"))]
mod imp {
    use super::{Budget, Codec, Want};
    use crate::error::{Error, ErrorKind};

    pub(super) fn decompress(
        codec: Codec,
        _data: &[u8],
        _want: Want,
        _budget: &mut Budget,
        offset: u64,
    ) -> Result<Vec<u8>, Error> {
        let what = match codec {
            Codec::Gzip => "gzip needs the `compression` feature",
            Codec::Zlib => "zlib needs the `compression` feature",
            Codec::Deflate => "deflated ZIP members need the `compression` feature",
            Codec::Bzip2 => "bzip2 needs the `compression` feature",
            Codec::Xz => "xz needs the `compression` feature",
            Codec::Lzma => "lzma needs the `compression` feature",
            Codec::Lz4 => "lz4 needs the `compression` feature",
        };
        Err(Error::new(ErrorKind::Unsupported(what), offset, None))
    }
}

#[cfg(all(test, feature = "compression"))]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn output_within_the_budget_is_charged() {
        let z = gzip(b"N.");
        let mut budget = Budget::new(2);
        let out = decompress(Codec::Gzip, &z, Want::All, &mut budget, 0).unwrap();
        assert_eq!(out, b"N.");
        assert_eq!(budget.used, 2);
    }

    #[test]
    fn a_bomb_stops_one_byte_past_the_limit() {
        let z = gzip(&vec![0u8; 1 << 20]);
        let mut budget = Budget::new(1000);
        let err = decompress(Codec::Gzip, &z, Want::All, &mut budget, 7).unwrap_err();
        assert_eq!(
            (err.kind().clone(), err.offset()),
            (
                ErrorKind::Limit {
                    resource: Resource::OutputBytes,
                    limit: 1000,
                    requested: 1001
                },
                7
            )
        );
    }

    #[test]
    fn a_prefix_is_not_an_error() {
        let z = gzip(&[b'x'; 100]);
        let mut budget = Budget::new(1000);
        let out = decompress(Codec::Gzip, &z, Want::Prefix(10), &mut budget, 0).unwrap();
        assert_eq!(out, [b'x'; 10]);
        assert_eq!(budget.used, 10);
    }

    #[test]
    fn truncation_is_eof_and_garbage_is_malformed() {
        let z = gzip(&[b'x'; 100]);
        for cut in 0..z.len() {
            let mut budget = Budget::new(1000);
            let err = decompress(Codec::Gzip, &z[..cut], Want::All, &mut budget, 3).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Eof | ErrorKind::Malformed(_)),
                "cut {cut}: {err:?}"
            );
            assert_eq!(err.offset(), 3);
        }
        let mut budget = Budget::new(1000);
        let err = decompress(Codec::Zlib, b"\x78\x9cgarbage", Want::All, &mut budget, 0);
        assert_eq!(
            err.unwrap_err().kind(),
            &ErrorKind::Malformed("corrupt zlib stream")
        );
    }
}

#[cfg(all(test, not(feature = "compression")))]
mod tests_without_the_feature {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn every_codec_names_the_missing_feature() {
        let mut budget = Budget::new(100);
        let err = decompress(Codec::Gzip, b"\x1f\x8b\x08", Want::All, &mut budget, 5).unwrap_err();
        assert_eq!(
            (err.kind().clone(), err.offset()),
            (
                ErrorKind::Unsupported("gzip needs the `compression` feature"),
                5
            )
        );
    }
}

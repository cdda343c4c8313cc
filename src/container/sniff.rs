//! Magic bytes to [`Format`]: what a file (or a ZIP member, or a decompressed layer)
//! is, decided from its first bytes and never from its name.
//!
//! Every check is a fixed prefix plus, where a prefix alone is weak (zlib's two
//! bytes, the raw `.lzma` header), the header fields a real writer produces, so raw
//! tensor data that happens to start with the same byte is not taken for a
//! compressed stream. Anything that matches nothing is [`Format::Pickle`]: the caller
//! decides whether it really looks like one.

use super::Format;

/// `torch.save`'s legacy magic number, 0x1950a86a20f9469cfc6c, little-endian: the
/// payload of the LONG1 opcode that opens a legacy checkpoint.
pub(crate) const TORCH_MAGIC_LE: [u8; 10] =
    [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// The same number as protocol 0/1 write it (`LONG` text).
const TORCH_MAGIC_TEXT: &[u8] = b"L119547037146038801333356L\n";

/// Bytes [`sniff`] looks at, at most (the tar magic ends at 262): a reader that
/// holds only a file's head sniffs it as the whole file.
pub const HEAD: usize = 512;

/// The format of `data`, from its content (its first [`HEAD`] bytes at most).
pub fn sniff(data: &[u8]) -> Format {
    if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        Format::Zip
    } else if data.starts_with(b"\x93NUMPY") {
        Format::Npy
    } else if data.starts_with(b"\x1f\x8b\x08") {
        Format::Gzip
    } else if is_bzip2(data) {
        Format::Bzip2
    } else if data.starts_with(b"\xfd7zXZ\x00") {
        Format::Xz
    } else if data.starts_with(b"\x04\x22\x4d\x18") {
        Format::Lz4
    } else if is_zlib(data) {
        Format::Zlib
    } else if is_lzma_alone(data) {
        Format::Lzma
    } else if is_tar(data) {
        Format::Tar
    } else if is_torch_legacy(data) {
        Format::TorchLegacy
    } else {
        Format::Pickle
    }
}

/// `BZh` + block size `1`..`9` + the first block's magic (or the end-of-stream magic
/// of an empty stream).
fn is_bzip2(data: &[u8]) -> bool {
    matches!(data, [b'B', b'Z', b'h', b'1'..=b'9', rest @ ..]
        if rest.starts_with(&[0x31, 0x41, 0x59, 0x26, 0x53, 0x59])
            || rest.starts_with(&[0x17, 0x72, 0x45, 0x38, 0x50, 0x90]))
}

/// A zlib header as Python's `zlib` (and so joblib and pandas) writes it: deflate
/// with a 32 KiB window (`0x78`), no preset dictionary, and the header checksum.
fn is_zlib(data: &[u8]) -> bool {
    match data {
        [0x78, flg, ..] => (0x7800u16 | u16::from(*flg)) % 31 == 0 && flg & 0x20 == 0,
        _ => false,
    }
}

/// The raw `.lzma` ("alone") header Python's `lzma.FORMAT_ALONE` writes (joblib's
/// `.lzma`): properties 0x5d (lc=3, lp=0, pb=2), a dictionary size of 2^n or
/// 3·2^n bytes from 4 KiB up, and an unknown (all ones) or plausible size.
fn is_lzma_alone(data: &[u8]) -> bool {
    let Some(header) = data.get(..13) else {
        return false;
    };
    let Some((&props, rest)) = header.split_first() else {
        return false;
    };
    let dict = rest
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes);
    let size = rest
        .get(4..12)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes);
    let dict_ok =
        dict >= 4096 && (dict.is_power_of_two() || (dict % 3 == 0 && (dict / 3).is_power_of_two()));
    props == 0x5d && dict_ok && (size == u64::MAX || size < 1 << 48)
}

/// A POSIX (ustar) or GNU tar header: the magic at offset 257.
fn is_tar(data: &[u8]) -> bool {
    matches!(data.get(257..262), Some(b"ustar"))
}

/// A legacy `torch.save` file: a pickle whose first value is the magic number
/// (after PROTO and, at protocol 4+, a FRAME header).
fn is_torch_legacy(data: &[u8]) -> bool {
    if data.starts_with(TORCH_MAGIC_TEXT) {
        return true;
    }
    let mut rest = match data {
        [0x80, 2..=5, rest @ ..] => rest,
        _ => return false,
    };
    if let [0x95, frame @ ..] = rest {
        rest = frame.get(8..).unwrap_or(&[]);
    }
    matches!(rest, [0x8a, 0x0a, magic @ ..] if magic.starts_with(&TORCH_MAGIC_LE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_by_its_magic() {
        let cases: &[(&[u8], Format)] = &[
            (b"PK\x03\x04rest", Format::Zip),
            (b"PK\x05\x06", Format::Zip),
            (b"\x93NUMPY\x01\x00", Format::Npy),
            (b"\x1f\x8b\x08\x00", Format::Gzip),
            (b"BZh91AY&SY", Format::Bzip2),
            (b"BZh9\x17\x72\x45\x38\x50\x90", Format::Bzip2),
            (b"\xfd7zXZ\x00\x00", Format::Xz),
            (b"\x04\x22\x4d\x18\x64", Format::Lz4),
            (b"\x78\x9c\x01", Format::Zlib),
            (b"\x78\x01", Format::Zlib),
            (
                b"\x5d\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00",
                Format::Lzma,
            ),
            (
                b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.",
                Format::TorchLegacy,
            ),
            (b"L119547037146038801333356L\n.", Format::TorchLegacy),
            (b"\x80\x02}q\x00.", Format::Pickle),
            (b"", Format::Pickle),
        ];
        for (data, want) in cases {
            assert_eq!(sniff(data), *want, "{data:?}");
            // Only the head counts: anything after it changes nothing.
            let mut long = data.to_vec();
            long.resize(HEAD + 100, 0xff);
            assert_eq!(sniff(&long), sniff(&long[..HEAD]), "{data:?}");
        }
    }

    #[test]
    fn weak_prefixes_need_their_header_fields() {
        // 0x78 with a bad header checksum; an int32 93 followed by zeros (not lzma);
        // "BZh9" without a block magic.
        assert_eq!(sniff(b"\x78\x00"), Format::Pickle);
        assert_eq!(
            sniff(&[0x5d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Format::Pickle
        );
        assert_eq!(sniff(b"BZh9xxxxxx"), Format::Pickle);
    }

    #[test]
    fn tar_by_ustar_magic() {
        let mut data = vec![0u8; 512];
        data[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&data), Format::Tar);
    }
}

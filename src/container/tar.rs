//! tar archives (POSIX ustar, GNU and pax), as far as finding their members goes:
//! the tar variant of legacy `torch.save` (members `sys_info`, `pickle`, `storages`,
//! `tensors`) and anything else tarred.
//!
//! Each 512-byte header is checked (its checksum, as Python's `tarfile` does) and
//! every size is checked against the file before a member is listed. pax extended
//! headers (`path`, `size`) and GNU long names apply to the member that follows.

use crate::error::{Error, ErrorKind};

/// One regular file in the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarMember {
    /// Its path.
    pub name: String,
    /// Where its data starts.
    pub offset: u64,
    /// Its length.
    pub size: u64,
}

const BLOCK: u64 = 512;

#[cold]
fn bad(why: &'static str, offset: u64) -> Error {
    Error::new(ErrorKind::Malformed(why), offset, None)
}

/// An octal field (NUL- or space-terminated), or GNU base-256 for big sizes.
fn number(field: &[u8], at: u64) -> Result<u64, Error> {
    if let Some((&first, rest)) = field.split_first() {
        if first & 0x80 != 0 {
            let mut n: u64 = u64::from(first & 0x7f);
            for &b in rest {
                n = n
                    .checked_mul(256)
                    .and_then(|n| n.checked_add(u64::from(b)))
                    .ok_or_else(|| bad("tar size overflows", at))?;
            }
            return Ok(n);
        }
    }
    let mut n = 0u64;
    for &b in field.iter().skip_while(|&&b| b == b' ') {
        match b {
            b'0'..=b'7' => {
                n = n
                    .checked_mul(8)
                    .and_then(|n| n.checked_add(u64::from(b.saturating_sub(b'0'))))
                    .ok_or_else(|| bad("tar number overflows", at))?;
            }
            0 | b' ' => break,
            _ => return Err(bad("tar number is not octal", at)),
        }
    }
    Ok(n)
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or(&[])).into_owned()
}

/// The regular files in `data`, in order, and whether the archive ends with its
/// end-of-archive (zero) block; Python's `tarfile` reads one without it, but it is
/// the sign of a file cut short.
pub fn members(data: &[u8]) -> Result<(Vec<TarMember>, bool), Error> {
    let len = data.len() as u64;
    let mut out = Vec::new();
    let mut pos = 0u64;
    let mut long_name: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    loop {
        let header_end = pos.saturating_add(BLOCK);
        let Some(header) = usize::try_from(pos)
            .ok()
            .zip(usize::try_from(header_end).ok())
            .and_then(|(a, b)| data.get(a..b))
        else {
            // Python's tarfile accepts an archive that ends without its two zero blocks.
            if pos >= len {
                return Ok((out, false));
            }
            return Err(Error::new(ErrorKind::Eof, pos, None));
        };
        if header.iter().all(|&b| b == 0) {
            return Ok((out, true));
        }
        let field = |a: usize, b: usize| header.get(a..b).unwrap_or(&[]);
        let stored = number(field(148, 156), pos)?;
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if stored != sum {
            return Err(bad("tar header checksum mismatch", pos));
        }
        let mut size = number(field(124, 136), pos)?;
        if let Some(s) = pax_size.take() {
            size = s;
        }
        let typeflag = header.get(156).copied().unwrap_or(0);
        let mut name = text(field(0, 100));
        if field(257, 262) == b"ustar" {
            let prefix = text(field(345, 500));
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        if let Some(n) = long_name.take() {
            name = n;
        }
        let data_start = header_end;
        let data_end = data_start
            .checked_add(size)
            .filter(|&e| e <= len)
            .ok_or_else(|| Error::new(ErrorKind::Eof, pos, None))?;
        let body = usize::try_from(data_start)
            .ok()
            .zip(usize::try_from(data_end).ok())
            .and_then(|(a, b)| data.get(a..b))
            .unwrap_or(&[]);
        match typeflag {
            b'0' | 0 | b'7' => out.push(TarMember {
                name,
                offset: data_start,
                size,
            }),
            b'L' => long_name = Some(text(body)),
            b'x' => {
                let (path, psize) = pax(body, pos)?;
                if path.is_some() {
                    long_name = path;
                }
                pax_size = psize;
            }
            _ => {}
        }
        // Data is padded to whole blocks.
        let padded = size
            .checked_add(BLOCK - 1)
            .and_then(|s| s.checked_div(BLOCK))
            .and_then(|blocks| blocks.checked_mul(BLOCK))
            .ok_or_else(|| bad("tar size overflows", pos))?;
        pos = data_start.saturating_add(padded);
    }
}

/// The `path` and `size` records of a pax extended header: `"<len> <key>=<value>\n"`.
fn pax(body: &[u8], at: u64) -> Result<(Option<String>, Option<u64>), Error> {
    let mut path = None;
    let mut size = None;
    let mut rest = body;
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("bad pax record", at))?;
        let len: usize = std::str::from_utf8(rest.get(..space).unwrap_or(&[]))
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&n| n > space)
            .ok_or_else(|| bad("bad pax record length", at))?;
        let record = rest
            .get(space.saturating_add(1)..len)
            .ok_or_else(|| bad("pax record cut short", at))?;
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(value) = record.strip_prefix(b"path=") {
            path = Some(String::from_utf8_lossy(value).into_owned());
        } else if let Some(value) = record.strip_prefix(b"size=") {
            size = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
            if size.is_none() {
                return Err(bad("bad pax size", at));
            }
        }
        rest = rest.get(len..).unwrap_or(&[]);
    }
    Ok((path, size))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ustar archive of `(name, data)` members, as Python's tarfile writes them.
    pub(crate) fn tar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in members {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[100..108].copy_from_slice(b"0000644\0");
            h[108..116].copy_from_slice(b"0000000\0");
            h[116..124].copy_from_slice(b"0000000\0");
            h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
            h[136..148].copy_from_slice(b"00000000000\0");
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
            h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn lists_members_with_offsets() {
        let t = tar(&[("sys_info", b"N."), ("pickle", &[1u8; 600])]);
        let (m, ended) = members(&t).unwrap();
        assert!(ended);
        assert_eq!(
            m,
            [
                TarMember {
                    name: "sys_info".into(),
                    offset: 512,
                    size: 2
                },
                TarMember {
                    name: "pickle".into(),
                    offset: 1536,
                    size: 600
                },
            ]
        );
    }

    #[test]
    fn a_bad_checksum_and_every_truncation_are_errors() {
        let mut t = tar(&[("a", b"N.")]);
        t[0] = b'b';
        assert_eq!(
            members(&t).unwrap_err().kind(),
            &ErrorKind::Malformed("tar header checksum mismatch")
        );
        let t = tar(&[("a", &[7u8; 100])]);
        for cut in 1..612 {
            let err = members(&t[..cut]).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::Eof, "cut {cut}");
        }
        assert_eq!(members(&t[..1024]).unwrap().0.len(), 1);
        assert!(!members(&t[..1024]).unwrap().1);
    }
}

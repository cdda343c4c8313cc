//! NumPy `.npy`: the magic `\x93NUMPY`, a version (1.0, 2.0 or 3.0), a header length
//! (2 bytes in 1.0, 4 after), and a header that is a Python dict literal:
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
//!
//! The header is parsed by a small literal parser (strings, ints, booleans, None,
//! tuples, lists, dicts; nesting bounded), never evaluated. An object dtype (`'|O'`,
//! or a structured dtype with an `O` field) means NumPy pickled the array: the data is
//! a pickle. Otherwise the data length is checked against shape × itemsize, with
//! checked arithmetic.

use crate::error::{Error, ErrorKind};

/// What a `.npy` header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// (major, minor) version.
    pub version: (u8, u8),
    /// Where the array data starts.
    pub data_offset: u64,
    /// The dtype holds Python objects: the data is a pickle.
    pub has_object: bool,
    /// Bytes the data should have (shape × itemsize), when that fits in 64 bits and
    /// the dtype holds no objects.
    pub data_len: Option<u64>,
}

/// The deepest nesting of tuples, lists and dicts the header parser accepts (a
/// structured dtype nests a list per level; NumPy itself never writes more than a
/// few).
const MAX_NESTING: u32 = 16;

/// The longest header read (NumPy refuses headers over 10,000 bytes by default).
const MAX_HEADER: u64 = 1 << 16;

#[cold]
fn bad(why: &'static str, offset: u64) -> Error {
    Error::new(ErrorKind::Malformed(why), offset, None)
}

/// Parses the header at the start of `data` (the data itself may be cut off: only the
/// header must be there).
pub fn parse_header(data: &[u8]) -> Result<NpyHeader, Error> {
    let rest = data
        .strip_prefix(b"\x93NUMPY")
        .ok_or_else(|| bad("not an .npy file", 0))?;
    let (major, minor) = match rest {
        [major, minor, ..] => (*major, *minor),
        _ => return Err(Error::new(ErrorKind::Eof, 6, None)),
    };
    let (len_bytes, text_start) = match (major, minor) {
        (1, 0) => (2usize, 10u64),
        (2, 0) | (3, 0) => (4, 12),
        _ => return Err(bad("unknown .npy version", 6)),
    };
    let len_field = rest
        .get(2..2usize.saturating_add(len_bytes))
        .ok_or_else(|| Error::new(ErrorKind::Eof, 8, None))?;
    let mut word = [0u8; 4];
    for (dst, src) in word.iter_mut().zip(len_field) {
        *dst = *src;
    }
    let header_len = u64::from(u32::from_le_bytes(word));
    if header_len > MAX_HEADER {
        return Err(bad(".npy header longer than 64 KiB", 8));
    }
    let data_offset = text_start.saturating_add(header_len);
    let text = usize::try_from(text_start)
        .ok()
        .zip(usize::try_from(data_offset).ok())
        .and_then(|(a, b)| data.get(a..b))
        .ok_or_else(|| Error::new(ErrorKind::Eof, text_start, None))?;
    let mut parser = Parser {
        text,
        pos: 0,
        base: text_start,
    };
    let dict = parser.value(0)?;
    let Lit::Dict(items) = dict else {
        return Err(bad(".npy header is not a dict", text_start));
    };
    let get = |key: &str| {
        items
            .iter()
            .find(|(k, _)| matches!(k, Lit::Str(s) if s == key))
            .map(|(_, v)| v)
    };
    let descr = get("descr").ok_or_else(|| bad(".npy header has no 'descr'", text_start))?;
    match get("fortran_order") {
        Some(Lit::Bool(_)) => {}
        _ => return Err(bad(".npy 'fortran_order' is not a bool", text_start)),
    }
    let Some(Lit::Tuple(dims)) = get("shape") else {
        return Err(bad(".npy 'shape' is not a tuple", text_start));
    };
    let mut count: Option<u64> = Some(1);
    for dim in dims {
        match dim {
            Lit::Int(n) if *n >= 0 => {
                count = count.and_then(|c| c.checked_mul(u64::try_from(*n).ok()?));
            }
            _ => {
                return Err(bad(
                    ".npy shape holds something other than a size",
                    text_start,
                ))
            }
        }
    }
    let dtype = dtype_of(descr, 0).map_err(|why| bad(why, text_start))?;
    Ok(NpyHeader {
        version: (major, minor),
        data_offset,
        has_object: dtype.has_object,
        data_len: if dtype.has_object {
            None
        } else {
            count.and_then(|c| c.checked_mul(dtype.itemsize?))
        },
    })
}

/// Itemsize (when it fits) and whether objects are held.
struct Dtype {
    itemsize: Option<u64>,
    has_object: bool,
}

/// The dtype a `descr` describes: a type string (`'<f8'`, `'|O'`, `'<U5'`,
/// `'<M8[ns]'`) or a structured list of `(name, descr[, shape])`.
fn dtype_of(descr: &Lit, depth: u32) -> Result<Dtype, &'static str> {
    if depth > MAX_NESTING {
        return Err(".npy dtype nested too deep");
    }
    match descr {
        Lit::Str(s) => type_string(s),
        Lit::List(fields) => {
            let mut itemsize = Some(0u64);
            let mut has_object = false;
            for field in fields {
                let Lit::Tuple(parts) = field else {
                    return Err(".npy structured dtype field is not a tuple");
                };
                let (sub, shape) = match parts.as_slice() {
                    [_name, sub] => (sub, None),
                    [_name, sub, shape] => (sub, Some(shape)),
                    _ => return Err(".npy structured dtype field of the wrong length"),
                };
                let inner = dtype_of(sub, depth.saturating_add(1))?;
                has_object |= inner.has_object;
                let mut n = Some(1u64);
                match shape {
                    None => {}
                    Some(Lit::Tuple(dims)) => {
                        for d in dims {
                            match d {
                                Lit::Int(k) if *k >= 0 => {
                                    n = n.and_then(|n| n.checked_mul(u64::try_from(*k).ok()?));
                                }
                                _ => return Err(".npy subarray shape is not sizes"),
                            }
                        }
                    }
                    Some(Lit::Int(k)) if *k >= 0 => n = u64::try_from(*k).ok(),
                    Some(_) => return Err(".npy subarray shape is not sizes"),
                }
                let size = inner.itemsize.zip(n).and_then(|(a, b)| a.checked_mul(b));
                itemsize = itemsize.zip(size).and_then(|(a, b)| a.checked_add(b));
            }
            Ok(Dtype {
                itemsize,
                has_object,
            })
        }
        _ => Err(".npy 'descr' is neither a type string nor a field list"),
    }
}

/// `[<>|=]?` kind letter, digits, and for datetimes a `[unit]`.
fn type_string(s: &str) -> Result<Dtype, &'static str> {
    let s = s.trim_start_matches(['<', '>', '|', '=']);
    let mut chars = s.chars();
    let kind = chars.next().ok_or(".npy type string is empty")?;
    let rest = chars.as_str();
    let digits: &str = rest.split('[').next().unwrap_or("");
    let n: Option<u64> = if digits.is_empty() {
        None
    } else {
        Some(
            digits
                .parse()
                .map_err(|_| ".npy type string has a bad size")?,
        )
    };
    let itemsize = match kind {
        'O' => {
            return Ok(Dtype {
                itemsize: Some(8),
                has_object: true,
            })
        }
        'b' | 'i' | 'u' | 'f' | 'c' | 'M' | 'm' => n.ok_or(".npy type string without a size")?,
        'S' | 'a' | 'V' => n.unwrap_or(0),
        'U' => n
            .unwrap_or(0)
            .checked_mul(4)
            .ok_or(".npy type string size overflows")?,
        '?' => 1,
        _ => return Err(".npy type string of an unknown kind"),
    };
    Ok(Dtype {
        itemsize: Some(itemsize),
        has_object: false,
    })
}

/// A Python literal, as far as `.npy` headers use them.
#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

struct Parser<'t> {
    text: &'t [u8],
    pos: usize,
    base: u64,
}

impl Parser<'_> {
    fn at(&self) -> u64 {
        self.base.saturating_add(self.pos as u64)
    }

    fn skip_space(&mut self) {
        while matches!(self.text.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos = self.pos.saturating_add(1);
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.get(self.pos).copied()
    }

    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    /// One value; `depth` bounds the nesting (the recursion is at most
    /// [`MAX_NESTING`] frames deep).
    fn value(&mut self, depth: u32) -> Result<Lit, Error> {
        if depth > MAX_NESTING {
            return Err(bad(".npy header nested too deep", self.at()));
        }
        match self.peek() {
            Some(b'{') => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.bump();
                        return Ok(Lit::Dict(items));
                    }
                    let key = self.value(depth.saturating_add(1))?;
                    if self.peek() != Some(b':') {
                        return Err(bad(".npy header: ':' expected", self.at()));
                    }
                    self.bump();
                    let value = self.value(depth.saturating_add(1))?;
                    items.push((key, value));
                    match self.peek() {
                        Some(b',') => self.bump(),
                        Some(b'}') => {}
                        _ => return Err(bad(".npy header: ',' or '}' expected", self.at())),
                    }
                }
            }
            Some(open @ (b'(' | b'[')) => {
                self.bump();
                let close = if open == b'(' { b')' } else { b']' };
                let mut items = Vec::new();
                let mut trailing_comma = false;
                loop {
                    if self.peek() == Some(close) {
                        self.bump();
                        // `(3)` is an int in Python, `(3,)` a tuple.
                        if open == b'(' && items.len() == 1 && !trailing_comma {
                            return Ok(items.pop().unwrap_or(Lit::None));
                        }
                        return Ok(if open == b'(' {
                            Lit::Tuple(items)
                        } else {
                            Lit::List(items)
                        });
                    }
                    items.push(self.value(depth.saturating_add(1))?);
                    trailing_comma = false;
                    match self.peek() {
                        Some(b',') => {
                            self.bump();
                            trailing_comma = true;
                        }
                        Some(c) if c == close => {}
                        _ => return Err(bad(".npy header: ',' expected", self.at())),
                    }
                }
            }
            Some(quote @ (b'\'' | b'"')) => {
                self.bump();
                let mut out = Vec::new();
                loop {
                    match self.text.get(self.pos) {
                        None => return Err(bad(".npy header: unterminated string", self.base)),
                        Some(&c) if c == quote => {
                            self.bump();
                            break;
                        }
                        Some(b'\\') => {
                            let escaped = self.text.get(self.pos.saturating_add(1)).copied();
                            match escaped {
                                Some(c @ (b'\\' | b'\'' | b'"')) => out.push(c),
                                _ => {
                                    return Err(bad(
                                        ".npy header: unsupported escape in a string",
                                        self.at(),
                                    ))
                                }
                            }
                            self.pos = self.pos.saturating_add(2);
                        }
                        Some(&c) => {
                            out.push(c);
                            self.bump();
                        }
                    }
                }
                // Headers are latin-1 (1.0, 2.0) or UTF-8 (3.0); names only matter
                // when ASCII, so anything else is kept lossily.
                Ok(Lit::Str(String::from_utf8_lossy(&out).into_owned()))
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.bump();
                while matches!(self.text.get(self.pos), Some(c) if c.is_ascii_digit()) {
                    self.bump();
                }
                let digits = self.text.get(start..self.pos).unwrap_or(&[]);
                // Python 2 wrote longs with an `L`.
                if matches!(self.text.get(self.pos), Some(b'L')) {
                    self.bump();
                }
                std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse::<i128>().ok())
                    .map(Lit::Int)
                    .ok_or_else(|| {
                        bad(
                            ".npy header: bad integer",
                            self.base.saturating_add(start as u64),
                        )
                    })
            }
            Some(_) => {
                for (word, lit) in [
                    (&b"True"[..], Lit::Bool(true)),
                    (b"False", Lit::Bool(false)),
                    (b"None", Lit::None),
                ] {
                    if self
                        .text
                        .get(self.pos..)
                        .is_some_and(|t| t.starts_with(word))
                    {
                        self.pos = self.pos.saturating_add(word.len());
                        return Ok(lit);
                    }
                }
                Err(bad(".npy header: unexpected character", self.at()))
            }
            None => Err(bad(".npy header ended early", self.at())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.as_bytes().to_vec();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(b' ');
        }
        h.push(b'\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn plain_arrays_give_their_data_length() {
        let cases = [
            ("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", Some(96)),
            ("{'descr': '<U5', 'fortran_order': True, 'shape': (2,), }", Some(40)),
            ("{'descr': '|b1', 'fortran_order': False, 'shape': (), }", Some(1)),
            ("{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (0,), }", Some(0)),
            (
                "{'descr': [('a', '<i4'), ('b', '<f4', (2,))], 'fortran_order': False, 'shape': (5,), }",
                Some(60),
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                None,
            ),
        ];
        for (header, len) in cases {
            let file = npy(header, b"");
            let h = parse_header(&file).unwrap();
            assert_eq!(
                (h.data_len, h.has_object, h.data_offset),
                (len, false, file.len() as u64),
                "{header}"
            );
            assert_eq!(h.data_offset % 64, 0);
        }
    }

    #[test]
    fn object_dtypes_are_pickles() {
        for header in [
            "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': [('a', '<i4'), ('b', '|O')], 'fortran_order': False, 'shape': (2,), }",
            "{'descr': [('a', [('x', '|O')])], 'fortran_order': False, 'shape': (2,), }",
        ] {
            let h = parse_header(&npy(header, b"")).unwrap();
            assert!(h.has_object, "{header}");
            assert_eq!(h.data_len, None);
        }
    }

    #[test]
    fn malformed_headers_are_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "{'descr': '<f8', 'shape': (3,), }",
                ".npy 'fortran_order' is not a bool",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }",
                ".npy shape holds something other than a size",
            ),
            (
                "{'descr': '<q9', 'fortran_order': False, 'shape': (1,), }",
                ".npy type string of an unknown kind",
            ),
            (
                "{'descr': __import__('os'), }",
                ".npy header: unexpected character",
            ),
            ("[1, 2]", ".npy header is not a dict"),
            ("{'descr': 'abc", ".npy header: unterminated string"),
        ];
        for (header, why) in cases {
            let err = parse_header(&npy(header, b"")).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::Malformed(why), "{header}");
        }
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let err = parse_header(&npy(&deep, b"")).unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::Malformed(".npy header nested too deep")
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let file = npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        );
        let header_end = file.len() - 8;
        for cut in 0..header_end {
            let err = parse_header(&file[..cut]).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Eof | ErrorKind::Malformed(_)),
                "cut {cut}: {err:?}"
            );
        }
        assert_eq!(parse_header(&file[..header_end]).unwrap().data_len, Some(8));
    }
}

//! Bounded cursors over the input: a slice (borrowing payloads) or a `BufRead` stream
//! (copying them, grown in bounded steps as data actually arrives).
//!
//! Like `serde_json`'s `Read`, the machine is generic over [`Source`], so the slice path
//! is monomorphised and fast, and both paths share every line of the VM: that is what
//! makes the same input give the same graph or the same error at the same offset.
//!
//! The reader owns the *input* checks: every read first checks that its end stays within
//! `max_input_bytes` (so a claim of 2^62 bytes is a limit error before anything is read
//! or reserved), and a short input is [`ErrorKind::Eof`].

// The cursors run on untrusted input: no arithmetic that can overflow or panic
// (checked or saturating forms, each with the bound that makes it exact).
#![deny(clippy::arithmetic_side_effects)]

use std::borrow::Cow;
use std::io::{self, BufRead};

use crate::error::{Error, ErrorKind, Resource};

/// Bytes read from a stream per step when a payload is copied: a lying length claim
/// costs at most this much memory before the stream runs dry.
const STREAM_STEP: usize = 1 << 16;

/// A bounded cursor. Offsets count from the start of the current pickle.
pub(crate) trait Source<'a> {
    /// Bytes consumed so far.
    fn position(&self) -> u64;

    /// The next byte, or `None` at the end of the input.
    fn next_byte(&mut self) -> Result<Option<u8>, Error>;

    /// Exactly `n` bytes (the caller has checked `n` against the budgets).
    fn take(&mut self, n: usize) -> Result<Cow<'a, [u8]>, Error>;

    /// Bytes up to the next `\n` (consumed, not returned). The line, newline included,
    /// must end at or before `max_end`.
    fn take_line(&mut self, max_end: u64) -> Result<Cow<'a, [u8]>, Error>;

    /// FRAME support: are `n` more bytes available? A stream reads them ahead.
    fn has_at_least(&mut self, n: u64) -> Result<bool, Error>;

    /// The next byte without consuming it, when the source already holds it (`None`
    /// at the end, or when finding out would mean reading). A hint for the machine's
    /// fast paths, which fall back to the dispatch loop on `None`.
    fn peek_byte(&self) -> Option<u8> {
        None
    }

    /// The input after the cursor, when the source is a slice (`None` for a stream):
    /// for a sink that must look ahead at inline data (see `Sink::inline_after_build`).
    fn rest(&self) -> Option<&'a [u8]> {
        None
    }

    /// The total input length, when known up front (a slice), so the machine can skip
    /// per-read input checks that cannot fail.
    fn known_len(&self) -> Option<u64> {
        None
    }

    /// Exactly `N` bytes, for fixed-size arguments.
    #[inline]
    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        for (dst, src) in out.iter_mut().zip(bytes.iter()) {
            *dst = *src;
        }
        Ok(out)
    }
}

/// The position of the first `needle` in `haystack`, eight bytes at a time (the
/// "has a zero byte" word trick on `word ^ needle×8`): a megabyte-long line is
/// searched in a fraction of the time of a byte loop, without `unsafe` or a crate.
pub(crate) fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES.wrapping_mul(u64::from(needle));
    let mut start = 0usize;
    for chunk in haystack.chunks_exact(8) {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or([0; 8])) ^ pattern;
        if word.wrapping_sub(ONES) & !word & HIGHS != 0 {
            break; // a byte of this chunk is `needle`
        }
        start = start.saturating_add(8);
    }
    let tail = haystack.get(start..)?;
    tail.iter()
        .position(|&b| b == needle)
        .map(|i| start.saturating_add(i))
}

#[cold]
fn eof(pos: u64) -> Error {
    Error::new(ErrorKind::Eof, pos, None)
}

#[cold]
fn io_error(err: &io::Error, pos: u64) -> Error {
    Error::new(ErrorKind::Io(err.kind()), pos, None)
}

#[cold]
fn line_too_long(max_end: u64) -> Error {
    Error::limit(Resource::InputBytes, max_end, max_end.saturating_add(1), 0)
}

/// A cursor over a slice; payloads borrow from it.
pub(crate) struct SliceSource<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> SliceSource<'a> {
    pub(crate) fn new(data: &'a [u8]) -> SliceSource<'a> {
        SliceSource { data, pos: 0 }
    }
}

impl<'a> Source<'a> for SliceSource<'a> {
    fn rest(&self) -> Option<&'a [u8]> {
        self.data.get(self.pos..)
    }

    fn known_len(&self) -> Option<u64> {
        Some(self.data.len() as u64)
    }

    #[inline(always)]
    fn peek_byte(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    #[inline(always)]
    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let end = self
            .pos
            .checked_add(N)
            .ok_or_else(|| eof(self.pos as u64))?;
        let bytes: Option<[u8; N]> = self.data.get(self.pos..end).and_then(|b| b.try_into().ok());
        match bytes {
            Some(array) => {
                self.pos = end;
                Ok(array)
            }
            None => Err(eof(self.pos as u64)),
        }
    }

    #[inline]
    fn position(&self) -> u64 {
        self.pos as u64
    }

    #[inline]
    fn next_byte(&mut self) -> Result<Option<u8>, Error> {
        let byte = self.data.get(self.pos).copied();
        if byte.is_some() {
            // `pos < data.len()` here, so this never saturates: it compiles to the same
            // plain increment as `+= 1`.
            self.pos = self.pos.saturating_add(1);
        }
        Ok(byte)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<Cow<'a, [u8]>, Error> {
        let data: &'a [u8] = self.data;
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| eof(self.pos as u64))?;
        match data.get(self.pos..end) {
            Some(bytes) => {
                self.pos = end;
                Ok(Cow::Borrowed(bytes))
            }
            None => Err(eof(self.pos as u64)),
        }
    }

    fn take_line(&mut self, max_end: u64) -> Result<Cow<'a, [u8]>, Error> {
        let data: &'a [u8] = self.data;
        let rest = data.get(self.pos..).unwrap_or(&[]);
        let allowed =
            usize::try_from(max_end.saturating_sub(self.pos as u64)).unwrap_or(usize::MAX);
        let window = rest.get(..allowed).unwrap_or(rest);
        match find_byte(window, b'\n') {
            Some(i) => {
                let line = window.get(..i).unwrap_or(&[]);
                self.pos = self.pos.saturating_add(i).saturating_add(1);
                Ok(Cow::Borrowed(line))
            }
            None if rest.len() > window.len() => Err(line_too_long(max_end)),
            None => {
                self.pos = self.pos.saturating_add(rest.len());
                Err(eof(self.pos as u64))
            }
        }
    }

    fn has_at_least(&mut self, n: u64) -> Result<bool, Error> {
        let left = self.data.len().saturating_sub(self.pos) as u64;
        Ok(left >= n)
    }
}

/// A cursor over a `BufRead`. Reads exactly what the pickle needs (nothing past STOP is
/// consumed), except inside a FRAME, which CPython too reads ahead whole.
pub(crate) struct StreamSource<R> {
    inner: R,
    pos: u64,
    /// Bytes read ahead by FRAME and not yet consumed.
    ahead: Vec<u8>,
    ahead_pos: usize,
}

impl<R: BufRead> StreamSource<R> {
    pub(crate) fn new(inner: R) -> StreamSource<R> {
        StreamSource {
            inner,
            pos: 0,
            ahead: Vec::new(),
            ahead_pos: 0,
        }
    }

    /// Starts counting offsets from zero again (next pickle in the same stream).
    pub(crate) fn restart(&mut self) {
        self.pos = 0;
    }

    /// True when no byte is left (used by the multi-pickle iterator).
    pub(crate) fn at_end(&mut self) -> Result<bool, Error> {
        if self.ahead_pos < self.ahead.len() {
            return Ok(false);
        }
        loop {
            match self.inner.fill_buf() {
                Ok(buf) => return Ok(buf.is_empty()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(&e, self.pos)),
            }
        }
    }

    /// Copies up to `want` bytes into `out`, from the read-ahead first. Returns how many.
    fn read_some(&mut self, out: &mut Vec<u8>, want: usize) -> Result<usize, Error> {
        if self.ahead_pos < self.ahead.len() {
            let avail = self.ahead.get(self.ahead_pos..).unwrap_or(&[]);
            let n = avail.len().min(want);
            out.extend_from_slice(avail.get(..n).unwrap_or(&[]));
            // At most `ahead.len()`: `n` is no more than what was left.
            self.ahead_pos = self.ahead_pos.saturating_add(n);
            if self.ahead_pos >= self.ahead.len() {
                self.ahead.clear();
                self.ahead_pos = 0;
            }
            return Ok(n);
        }
        loop {
            match self.inner.fill_buf() {
                Ok(buf) => {
                    let n = buf.len().min(want);
                    out.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                    self.inner.consume(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(&e, self.pos)),
            }
        }
    }

    fn read_exactly(&mut self, n: usize, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = self.pos;
        while out.len() < n {
            let want = n.saturating_sub(out.len()).min(STREAM_STEP);
            if out.capacity().saturating_sub(out.len()) < want {
                // Grow by what is about to be read, not by the claim.
                if out.try_reserve(want).is_err() {
                    return Err(Error::limit(Resource::Memory, 0, n as u64, start));
                }
            }
            let got = self.read_some(out, want)?;
            if got == 0 {
                self.pos = start.saturating_add(out.len() as u64);
                return Err(eof(self.pos));
            }
        }
        self.pos = start.saturating_add(n as u64);
        Ok(())
    }
}

impl<'a, R: BufRead> Source<'a> for StreamSource<R> {
    fn position(&self) -> u64 {
        self.pos
    }

    fn next_byte(&mut self) -> Result<Option<u8>, Error> {
        if let Some(&b) = self.ahead.get(self.ahead_pos) {
            // `ahead_pos < ahead.len()` here: never saturates.
            self.ahead_pos = self.ahead_pos.saturating_add(1);
            if self.ahead_pos >= self.ahead.len() {
                self.ahead.clear();
                self.ahead_pos = 0;
            }
            self.pos = self.pos.saturating_add(1);
            return Ok(Some(b));
        }
        loop {
            match self.inner.fill_buf() {
                Ok(buf) => {
                    let byte = buf.first().copied();
                    if byte.is_some() {
                        self.inner.consume(1);
                        self.pos = self.pos.saturating_add(1);
                    }
                    return Ok(byte);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(&e, self.pos)),
            }
        }
    }

    fn take(&mut self, n: usize) -> Result<Cow<'a, [u8]>, Error> {
        let mut out = Vec::new();
        self.read_exactly(n, &mut out)?;
        Ok(Cow::Owned(out))
    }

    fn take_line(&mut self, max_end: u64) -> Result<Cow<'a, [u8]>, Error> {
        let mut line = Vec::new();
        loop {
            let byte = match Source::next_byte(self)? {
                Some(b) => b,
                None => return Err(eof(self.pos)),
            };
            if self.pos > max_end {
                return Err(line_too_long(max_end));
            }
            if byte == b'\n' {
                return Ok(Cow::Owned(line));
            }
            if line.try_reserve(1).is_err() {
                return Err(Error::limit(
                    Resource::Memory,
                    0,
                    line.len() as u64,
                    self.pos,
                ));
            }
            line.push(byte);
        }
    }

    fn has_at_least(&mut self, n: u64) -> Result<bool, Error> {
        let buffered = self.ahead.len().saturating_sub(self.ahead_pos) as u64;
        if buffered >= n {
            return Ok(true);
        }
        // Read the rest of the frame ahead, growing only as data arrives.
        let mut rest = self.ahead.split_off(self.ahead_pos);
        self.ahead.clear();
        self.ahead_pos = 0;
        let need = usize::try_from(n).unwrap_or(usize::MAX);
        while rest.len() < need {
            let want = need.saturating_sub(rest.len()).min(STREAM_STEP);
            if rest.try_reserve(want).is_err() {
                return Err(Error::limit(Resource::Memory, 0, n, self.pos));
            }
            let got = loop {
                match self.inner.fill_buf() {
                    Ok(buf) => {
                        let k = buf.len().min(want);
                        rest.extend_from_slice(buf.get(..k).unwrap_or(&[]));
                        self.inner.consume(k);
                        break k;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_error(&e, self.pos)),
                }
            };
            if got == 0 {
                self.ahead = rest;
                return Ok(false);
            }
        }
        self.ahead = rest;
        Ok(true)
    }
}

impl<'a, S: Source<'a>> Source<'a> for &mut S {
    fn position(&self) -> u64 {
        (**self).position()
    }
    fn next_byte(&mut self) -> Result<Option<u8>, Error> {
        (**self).next_byte()
    }
    fn take(&mut self, n: usize) -> Result<Cow<'a, [u8]>, Error> {
        (**self).take(n)
    }
    fn take_line(&mut self, max_end: u64) -> Result<Cow<'a, [u8]>, Error> {
        (**self).take_line(max_end)
    }
    fn has_at_least(&mut self, n: u64) -> Result<bool, Error> {
        (**self).has_at_least(n)
    }
    fn known_len(&self) -> Option<u64> {
        (**self).known_len()
    }
    fn peek_byte(&self) -> Option<u8> {
        (**self).peek_byte()
    }
    fn rest(&self) -> Option<&'a [u8]> {
        (**self).rest()
    }
    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        (**self).take_array::<N>()
    }
}

#[cfg(test)]
mod tests {
    use super::find_byte;

    /// The word-at-a-time search agrees with a byte loop for every needle position,
    /// haystack length and needle (including bytes with the high bit set, where the
    /// zero-byte trick could go wrong).
    #[test]
    fn find_byte_agrees_with_a_byte_loop() {
        for needle in [0u8, b'\n', 0x7f, 0x80, 0xff] {
            for len in 0..40usize {
                let filler = needle.wrapping_add(1);
                for at in 0..=len {
                    let mut hay = vec![filler; len];
                    if let Some(slot) = hay.get_mut(at) {
                        *slot = needle;
                    }
                    // A second, later occurrence must not be the answer.
                    if at + 3 < len {
                        hay[at + 3] = needle;
                    }
                    let want = hay.iter().position(|&b| b == needle);
                    assert_eq!(
                        find_byte(&hay, needle),
                        want,
                        "needle {needle:#x} at {at} of {len}"
                    );
                }
            }
        }
    }
}

//! A Python file object as a `BufRead`, for `load(file)`: the decoder reads what it
//! needs, and afterwards the file stands just past the pickle's STOP, as after
//! `pickle.load`, so the next pickle of the file can be read.
//!
//! How the file is left in place depends on what it offers, as in CPython's
//! `_Unpickler_SetInputStream`: with `peek` (buffered binary files), bytes are
//! looked at and only the consumed ones are read; with `seek`, a block is read and
//! the unused tail is sought back; otherwise bytes are read one at a time.
//!
//! A Python exception raised by the file is kept and raised by `load` instead of the
//! decoder's I/O error, so nothing about it is lost.

use std::io::{self, BufRead, Read};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Bytes asked of the file at a time (`peek` and seekable reads).
const BLOCK: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Peek,
    Seek,
    OneByte,
}

pub(crate) struct FileReader<'py> {
    file: Bound<'py, PyAny>,
    mode: Mode,
    /// What the file gave and the decoder has not consumed yet starts at `pos`.
    buf: Vec<u8>,
    pos: usize,
    /// In peek mode: bytes of `buf` consumed but not yet read from the file.
    unread: usize,
    /// The first exception the file raised.
    pub(crate) error: Option<PyErr>,
}

impl<'py> FileReader<'py> {
    pub(crate) fn new(file: Bound<'py, PyAny>) -> PyResult<FileReader<'py>> {
        let mode = if file.hasattr("peek")? {
            Mode::Peek
        } else if file.hasattr("seek")?
            && file.hasattr("seekable")?
            && file.call_method0("seekable")?.is_truthy()?
        {
            Mode::Seek
        } else {
            Mode::OneByte
        };
        Ok(FileReader {
            file,
            mode,
            buf: Vec::new(),
            pos: 0,
            unread: 0,
            error: None,
        })
    }

    /// Leaves the file just past what the decoder consumed.
    pub(crate) fn give_back(&mut self) -> PyResult<()> {
        match self.mode {
            Mode::Peek => self.read_consumed(),
            Mode::Seek => {
                let left = self.buf.len().saturating_sub(self.pos);
                if left > 0 {
                    let back = -i64::try_from(left).unwrap_or(i64::MAX);
                    self.file.call_method1("seek", (back, 1))?;
                }
                self.buf.clear();
                self.pos = 0;
                Ok(())
            }
            Mode::OneByte => Ok(()),
        }
    }

    /// Peek mode: reads (and drops) the bytes consumed from the last peek.
    fn read_consumed(&mut self) -> PyResult<()> {
        if self.unread > 0 {
            self.file.call_method1("read", (self.unread,))?;
            self.unread = 0;
        }
        Ok(())
    }

    fn refill(&mut self) -> PyResult<()> {
        let data = match self.mode {
            Mode::Peek => {
                self.read_consumed()?;
                self.file.call_method1("peek", (BLOCK,))?
            }
            Mode::Seek => self.file.call_method1("read", (BLOCK,))?,
            Mode::OneByte => self.file.call_method1("read", (1,))?,
        };
        let data = data.downcast::<PyBytes>().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "file.read() must return bytes, not {}",
                data.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        self.buf.clear();
        self.buf.extend_from_slice(data.as_bytes());
        self.pos = 0;
        Ok(())
    }
}

impl Read for FileReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        if let (Some(to), Some(from)) = (out.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for FileReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.buf.len() {
            if let Err(err) = self.refill() {
                self.error.get_or_insert(err);
                return Err(io::Error::other("the file raised an exception"));
            }
        }
        Ok(self.buf.get(self.pos..).unwrap_or_default())
    }

    fn consume(&mut self, amount: usize) {
        let amount = amount.min(self.buf.len().saturating_sub(self.pos));
        self.pos += amount;
        if self.mode == Mode::Peek {
            self.unread += amount;
        }
    }
}

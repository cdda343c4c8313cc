//! A disassembler in the layout of CPython's `pickletools.dis`, for reading a pickle
//! opcode by opcode without decoding it.
//!
//! ```text
//!     0: \x80 PROTO      2
//!     2: ]    EMPTY_LIST
//!     3: q    BINPUT     0
//!     5: (    MARK
//!     6: K        BININT1    1
//!    19: e        APPENDS    (MARK at 5)
//!    20: .    STOP
//! ```
//!
//! Each line is the offset, the opcode byte as Python's `repr` shows it, the opcode
//! name indented four spaces per open MARK, and the argument as Python's `repr` shows
//! the value `pickletools` reads (`'module name'` for GLOBAL and INST, a float's
//! shortest repr, an int for LONG1/LONG4, ...). MARK-consuming opcodes say which MARK
//! they close, MEMOIZE says which memo index it takes, as `pickletools` does; for that
//! the disassembler keeps a count of the stack's items per MARK level, not the items.
//!
//! Where it departs from `pickletools`, on purpose:
//! - it stops after STOP without the `highest protocol among opcodes` trailer;
//! - it reports only opcode-layer errors ([`Disassembly::error`]: unknown opcode,
//!   truncated argument, negative length, missing STOP), never stack or memo misuse,
//!   which is the decoder's business;
//! - a text argument `pickletools` cannot parse (an INT line that is not digits, a
//!   STRING without quotes, a bad escape) is shown as the raw line, `b'...'`, instead
//!   of stopping the listing;
//! - arguments longer than [`DisasmOptions::max_arg_chars`] are cut and end with
//!   `...`; a string is cut before it is escaped, so the quote character is chosen from
//!   the part shown; an integer of more than 4096 bytes is shown as `<N-byte int>`
//!   (its decimal form costs quadratic time);
//! - indentation stops growing after 16 open MARKs, so each line stays short.
//!
//! # Bounds
//!
//! At most [`DisasmOptions::max_lines`] lines (then a final `... (truncated)` line),
//! each at most about `max_arg_chars` plus a constant, whatever the input. A length
//! read from the stream is compared with the bytes that remain before anything is
//! sliced, and nothing is allocated from it: a BINBYTES8 claiming 2^62 bytes is simply
//! a truncated argument.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::{pyfmt, ArgKind, BigInt, IntValue, Opcode};

/// Bounds on one disassembly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisasmOptions {
    /// Opcode lines before the listing stops with `... (truncated)` (default 100,000).
    pub max_lines: usize,
    /// Characters of one argument before it is cut with `...` (default 256).
    pub max_arg_chars: usize,
}

impl Default for DisasmOptions {
    fn default() -> DisasmOptions {
        DisasmOptions {
            max_lines: 100_000,
            max_arg_chars: 256,
        }
    }
}

/// The listing, and where it stopped if the opcode layer was broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disassembly {
    /// One line per opcode, each ending in `\n`.
    pub text: String,
    /// The byte offset of the opcode that could not be read (or the input length when
    /// STOP is missing), and why. Lines before it are in `text`.
    pub error: Option<(u64, String)>,
}

/// Indentation stops growing after this many open MARKs.
const MAX_INDENT_LEVELS: usize = 16;
/// Integers longer than this are not converted to decimal.
const MAX_LONG_BYTES: usize = 4096;

/// Disassembles the first pickle in `input`, through its STOP.
pub fn disassemble(input: &[u8], opts: &DisasmOptions) -> Disassembly {
    let mut text = String::new();
    let mut stack = StackShape::default();
    let mut memo: HashSet<u64> = HashSet::new();
    let mut pos: usize = 0;
    let mut lines: usize = 0;
    let error = loop {
        if lines >= opts.max_lines {
            text.push_str("... (truncated)\n");
            break None;
        }
        let offset = u64::try_from(pos).unwrap_or(u64::MAX);
        let Some(&byte) = input.get(pos) else {
            break Some((offset, "pickle exhausted before seeing STOP".to_owned()));
        };
        let Some(op) = Opcode::from_byte(byte) else {
            break Some((offset, format!("unknown opcode 0x{byte:02x}")));
        };
        let (raw, end) = match read_arg(input, pos.saturating_add(1), op) {
            Ok(read) => read,
            Err(message) => break Some((offset, message)),
        };
        let indent = stack.marks.len().min(MAX_INDENT_LEVELS);
        let note = stack.apply(op, pos, &raw, &mut memo);
        let arg = format_arg(op, &raw, opts.max_arg_chars);
        push_line(
            &mut text,
            pos,
            byte,
            indent,
            op.name(),
            arg.as_deref(),
            note,
        );
        lines = lines.saturating_add(1);
        pos = end;
        if op == Opcode::Stop {
            break None;
        }
    };
    Disassembly { text, error }
}

fn push_line(
    text: &mut String,
    pos: usize,
    byte: u8,
    indent: usize,
    name: &str,
    arg: Option<&str>,
    note: Option<String>,
) {
    let code = if (0x20..0x7f).contains(&byte) {
        char::from(byte).to_string()
    } else {
        format!("\\x{byte:02x}")
    };
    let _ = write!(text, "{pos:5}: {code:<4} ");
    for _ in 0..indent {
        text.push_str("    ");
    }
    text.push_str(name);
    if arg.is_some() || note.is_some() {
        // pickletools: "make a mild effort to align arguments".
        for _ in name.len()..10 {
            text.push(' ');
        }
        if let Some(arg) = arg {
            text.push(' ');
            text.push_str(arg);
        }
        if let Some(note) = note {
            text.push(' ');
            text.push_str(&note);
        }
    }
    text.push('\n');
}

/// An opcode's argument as read from the stream, before formatting.
enum Raw<'i> {
    None,
    Uint(u64),
    Int(i64),
    Float(f64),
    /// A counted payload.
    Payload(&'i [u8]),
    /// One line, without its `\n`.
    Line(&'i [u8]),
    /// Two lines (GLOBAL, INST).
    Lines(&'i [u8], &'i [u8]),
}

/// `n` bytes at `start`, or the truncation message.
fn take(input: &[u8], start: usize, n: usize, op: Opcode) -> Result<&[u8], String> {
    start
        .checked_add(n)
        .and_then(|end| input.get(start..end))
        .ok_or_else(|| format!("truncated {} argument", op.name()))
}

fn fixed<const N: usize>(input: &[u8], start: usize, op: Opcode) -> Result<[u8; N], String> {
    let bytes = take(input, start, N, op)?;
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    Ok(out)
}

/// A counted payload: the length was read from `len_bytes` bytes at `start`.
fn payload(
    input: &[u8],
    start: usize,
    len_bytes: usize,
    claimed: u64,
    op: Opcode,
) -> Result<(Raw<'_>, usize), String> {
    let data_start = start.saturating_add(len_bytes);
    let remaining = input.len().saturating_sub(data_start);
    match usize::try_from(claimed) {
        Ok(n) if n <= remaining => {
            let bytes = take(input, data_start, n, op)?;
            Ok((Raw::Payload(bytes), data_start.saturating_add(n)))
        }
        _ => Err(format!(
            "truncated {} argument: {claimed} bytes claimed, {remaining} remain",
            op.name()
        )),
    }
}

/// One `\n`-terminated line at `start`: the line without `\n`, and where the next
/// begins.
fn line(input: &[u8], start: usize, op: Opcode) -> Result<(&[u8], usize), String> {
    let rest = input.get(start..).unwrap_or(&[]);
    match rest.iter().position(|&b| b == b'\n') {
        Some(n) => Ok((
            rest.get(..n).unwrap_or(&[]),
            start.saturating_add(n).saturating_add(1),
        )),
        None => Err(format!("no newline found in {} argument", op.name())),
    }
}

/// Reads `op`'s argument at `start`: the raw value and the offset after it.
fn read_arg(input: &[u8], start: usize, op: Opcode) -> Result<(Raw<'_>, usize), String> {
    let after = |n: usize| start.saturating_add(n);
    Ok(match op.arg_kind() {
        ArgKind::None => (Raw::None, start),
        ArgKind::U8 => {
            let [b] = fixed::<1>(input, start, op)?;
            (Raw::Uint(u64::from(b)), after(1))
        }
        ArgKind::U16 => (
            Raw::Uint(u64::from(u16::from_le_bytes(fixed(input, start, op)?))),
            after(2),
        ),
        ArgKind::I32 => (
            Raw::Int(i64::from(i32::from_le_bytes(fixed(input, start, op)?))),
            after(4),
        ),
        ArgKind::U32 => (
            Raw::Uint(u64::from(u32::from_le_bytes(fixed(input, start, op)?))),
            after(4),
        ),
        ArgKind::U64 => (
            Raw::Uint(u64::from_le_bytes(fixed(input, start, op)?)),
            after(8),
        ),
        ArgKind::F64 => (
            Raw::Float(f64::from_be_bytes(fixed(input, start, op)?)),
            after(8),
        ),
        ArgKind::BytesU8 => {
            let [n] = fixed::<1>(input, start, op)?;
            return payload(input, start, 1, u64::from(n), op);
        }
        ArgKind::BytesU32 => {
            let n = u32::from_le_bytes(fixed(input, start, op)?);
            return payload(input, start, 4, u64::from(n), op);
        }
        ArgKind::BytesI32 => {
            let n = i32::from_le_bytes(fixed(input, start, op)?);
            let Ok(n) = u64::try_from(n) else {
                return Err(format!("negative byte count {n} in {} argument", op.name()));
            };
            return payload(input, start, 4, n, op);
        }
        ArgKind::BytesU64 => {
            let n = u64::from_le_bytes(fixed(input, start, op)?);
            return payload(input, start, 8, n, op);
        }
        ArgKind::Line => {
            let (text, end) = line(input, start, op)?;
            (Raw::Line(text), end)
        }
        ArgKind::TwoLines => {
            let (first, mid) = line(input, start, op)?;
            let (second, end) = line(input, mid, op)?;
            (Raw::Lines(first, second), end)
        }
    })
}

/// The stack as `pickletools` emulates it, reduced to counts: how many items sit
/// above each open MARK. Enough to tell which MARK an opcode closes, and whether a
/// protocol 0 POP removes a MARK.
#[derive(Default)]
struct StackShape {
    /// Open MARKs: (offset of the MARK, items below it).
    marks: Vec<(usize, u64)>,
    /// Items above the innermost MARK (or in the whole stack when none is open).
    top: u64,
}

impl StackShape {
    fn push(&mut self, n: u64) {
        self.top = self.top.saturating_add(n);
    }

    fn pop(&mut self, n: u64) {
        self.top = self.top.saturating_sub(n);
    }

    /// Closes the innermost MARK, dropping the items above it.
    fn pop_mark(&mut self) -> String {
        match self.marks.pop() {
            Some((at, below)) => {
                self.top = below;
                format!("(MARK at {at})")
            }
            None => "no MARK exists on stack".to_owned(),
        }
    }

    /// Applies `op`'s stack effect; returns the note `pickletools` prints for it.
    fn apply(
        &mut self,
        op: Opcode,
        pos: usize,
        raw: &Raw<'_>,
        memo: &mut HashSet<u64>,
    ) -> Option<String> {
        use Opcode as O;
        match op {
            O::Mark => {
                self.marks.push((pos, self.top));
                self.top = 0;
            }
            O::Pop if self.top == 0 && !self.marks.is_empty() => return Some(self.pop_mark()),
            O::Stop | O::Pop => self.pop(1),
            O::PopMark => return Some(self.pop_mark()),
            O::Tuple | O::List | O::Dict | O::FrozenSet | O::Inst | O::Obj => {
                let note = self.pop_mark();
                self.push(1);
                return Some(note);
            }
            // These leave the container below the MARK in place.
            O::Appends | O::SetItems | O::AddItems => return Some(self.pop_mark()),
            O::Memoize => {
                let index = u64::try_from(memo.len()).unwrap_or(u64::MAX);
                memo.insert(index);
                return Some(format!("(as {index})"));
            }
            O::Put | O::BinPut | O::LongBinPut => {
                let index = match raw {
                    Raw::Uint(i) => Some(*i),
                    Raw::Line(text) => std::str::from_utf8(text)
                        .ok()
                        .and_then(|t| t.trim().parse().ok()),
                    _ => None,
                };
                if let Some(index) = index {
                    memo.insert(index);
                }
            }
            O::Proto | O::Frame | O::BinPersId | O::ReadOnlyBuffer | O::Tuple1 => {}
            O::Reduce | O::Build | O::NewObj | O::StackGlobal | O::Append | O::Tuple2 => {
                self.pop(1)
            }
            O::SetItem | O::NewObjEx | O::Tuple3 => self.pop(2),
            O::Dup
            | O::Float
            | O::Int
            | O::BinInt
            | O::BinInt1
            | O::Long
            | O::BinInt2
            | O::None
            | O::PersId
            | O::String
            | O::BinString
            | O::ShortBinString
            | O::Unicode
            | O::BinUnicode
            | O::Global
            | O::EmptyDict
            | O::Get
            | O::BinGet
            | O::LongBinGet
            | O::EmptyList
            | O::EmptyTuple
            | O::BinFloat
            | O::Ext1
            | O::Ext2
            | O::Ext4
            | O::NewTrue
            | O::NewFalse
            | O::Long1
            | O::Long4
            | O::BinBytes
            | O::ShortBinBytes
            | O::ShortBinUnicode
            | O::BinUnicode8
            | O::BinBytes8
            | O::EmptySet
            | O::ByteArray8
            | O::NextBuffer => self.push(1),
        }
        None
    }
}

/// The argument as `pickletools` shows it, cut to `max` characters.
fn format_arg(op: Opcode, raw: &Raw<'_>, max: usize) -> Option<String> {
    use Opcode as O;
    let text = match raw {
        Raw::None => return None,
        Raw::Uint(u) => u.to_string(),
        Raw::Int(i) => i.to_string(),
        Raw::Float(f) => pyfmt::float_repr(*f),
        Raw::Payload(bytes) => match op {
            O::BinString | O::ShortBinString => latin1_repr(bytes, max),
            O::BinBytes | O::ShortBinBytes | O::BinBytes8 => bytes_repr(bytes, max),
            O::ByteArray8 => format!("bytearray({})", bytes_repr(bytes, max)),
            O::Long1 | O::Long4 => long_repr(bytes),
            _ => {
                let shown = utf8_prefix(bytes, max.saturating_add(1).saturating_mul(4));
                clip(pyfmt::str_repr(shown), max, shown.len() < bytes.len())
            }
        },
        Raw::Line(line) => match op {
            O::Int | O::Get | O::Put => match *line {
                b"00" => "False".to_owned(),
                b"01" => "True".to_owned(),
                _ => decimal(line).unwrap_or_else(|| raw_line(line, max)),
            },
            O::Long => decimal(line.strip_suffix(b"L").unwrap_or(line))
                .unwrap_or_else(|| raw_line(line, max)),
            O::Float => float_text(line).unwrap_or_else(|| raw_line(line, max)),
            O::String => string_text(line, max).unwrap_or_else(|| raw_line(line, max)),
            O::Unicode => match raw_unicode_escape(line, max) {
                Some((text, cut)) => clip(pyfmt::str_repr(&text), max, cut),
                None => raw_line(line, max),
            },
            // PERSID: escapes undone, no quotes.
            _ => match escape_decode(line, max) {
                Some((bytes, cut)) => latin1_repr_cut(&bytes, max, cut),
                None => raw_line(line, max),
            },
        },
        Raw::Lines(module, name) => match (escape_decode(module, max), escape_decode(name, max)) {
            (Some((mut both, cut_module)), Some((name, cut_name))) => {
                both.push(b' ');
                both.extend_from_slice(&name);
                latin1_repr_cut(&both, max, cut_module || cut_name)
            }
            _ => {
                let mut both = module.to_vec();
                both.push(b'\n');
                both.extend_from_slice(name);
                raw_line(&both, max)
            }
        },
    };
    Some(clip(text, max, false))
}

/// Cuts `text` to `max` characters and marks the cut with `...`; also marks it when
/// the input was cut before formatting (`cut`).
fn clip(mut text: String, max: usize, cut: bool) -> String {
    if let Some((at, _)) = text.char_indices().nth(max) {
        text.truncate(at);
        text.push_str("...");
    } else if cut && !text.ends_with("...") {
        text.push_str("...");
    }
    text
}

/// The first `at_least` bytes of generalized UTF-8, extended to a code point boundary.
fn utf8_prefix(bytes: &[u8], at_least: usize) -> &[u8] {
    let mut end = at_least;
    while bytes.get(end).is_some_and(|b| b & 0xC0 == 0x80) {
        end = end.saturating_add(1);
    }
    bytes.get(..end).unwrap_or(bytes)
}

fn bytes_repr(bytes: &[u8], max: usize) -> String {
    let shown = bytes.get(..max.saturating_add(1)).unwrap_or(bytes);
    clip(pyfmt::bytes_repr(shown), max, shown.len() < bytes.len())
}

/// `repr(bytes.decode('latin-1'))`, cut to `max` characters.
fn latin1_repr(bytes: &[u8], max: usize) -> String {
    let shown = bytes.get(..max.saturating_add(1)).unwrap_or(bytes);
    latin1_repr_cut(shown, max, shown.len() < bytes.len())
}

fn latin1_repr_cut(bytes: &[u8], max: usize, cut: bool) -> String {
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    clip(pyfmt::str_repr(text.as_bytes()), max, cut)
}

/// A line shown as it is, for arguments `pickletools` could not parse.
fn raw_line(line: &[u8], max: usize) -> String {
    bytes_repr(line, max)
}

/// LONG1/LONG4: little-endian two's complement, in decimal.
fn long_repr(bytes: &[u8]) -> String {
    if bytes.len() > MAX_LONG_BYTES {
        return format!("<{}-byte int>", bytes.len());
    }
    match BigInt::from_signed_le(bytes) {
        IntValue::Small(i) => i.to_string(),
        IntValue::Big(b) => b.to_decimal(),
    }
}

/// Python's `int(line)` for a decimal line: optional blanks, a sign, digits with
/// single underscores between them. Normalised as Python prints it. Scans the whole
/// line but copies at most the first digits a caller can show (the result is cut
/// later anyway), so a gigabyte of digits allocates little.
fn decimal(line: &[u8]) -> Option<String> {
    const SHOWN: usize = 1 << 16;
    let text = line.trim_ascii();
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let mut previous_digit = false;
    for &b in digits {
        match b {
            b'0'..=b'9' => previous_digit = true,
            b'_' if previous_digit => previous_digit = false,
            _ => return None,
        }
    }
    if !previous_digit {
        return None; // empty, or ends with an underscore
    }
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    for &b in digits
        .iter()
        .filter(|b| **b != b'_')
        .skip_while(|b| **b == b'0')
        .take(SHOWN)
    {
        out.push(char::from(b));
    }
    if out.is_empty() || out == "-" {
        return Some("0".to_owned());
    }
    Some(out)
}

/// Python's `float(line)`, shown as its repr.
fn float_text(line: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(line.trim_ascii()).ok()?;
    let value: f64 = text.parse().ok()?;
    Some(pyfmt::float_repr(value))
}

/// STRING: quotes stripped, escapes undone, shown as a str (pickletools decodes it as
/// ASCII; bytes above 0x7f are shown as Latin-1 here instead of failing).
fn string_text(line: &[u8], max: usize) -> Option<String> {
    let quote = *line.first().filter(|q| matches!(q, b'\'' | b'"'))?;
    if line.last() != Some(&quote) {
        return None;
    }
    let inner = line.get(1..line.len().saturating_sub(1)).unwrap_or(&[]);
    let (bytes, cut) = escape_decode(inner, max)?;
    Some(latin1_repr_cut(&bytes, max, cut))
}

/// Python's `codecs.escape_decode` (the decoder's own, `text::escape_decode`), cut
/// after `max + 1` output bytes (then the flag says so). `None` where Python raises.
fn escape_decode(input: &[u8], max: usize) -> Option<(Vec<u8>, bool)> {
    let mut out = crate::decode::text::escape_decode(input).ok()?;
    let keep = max.saturating_add(1);
    let cut = out.len() > keep;
    out.truncate(keep);
    Some((out, cut))
}

/// Python's `raw-unicode-escape` decoding (the decoder's own,
/// `text::raw_unicode_escape`), cut after `max + 1` code points. `None` where Python
/// raises.
fn raw_unicode_escape(input: &[u8], max: usize) -> Option<(Vec<u8>, bool)> {
    let mut out = crate::decode::text::raw_unicode_escape(input).ok()?;
    let mut rest: &[u8] = &out;
    let mut kept = 0usize;
    for _ in 0..max.saturating_add(1) {
        match pyfmt::next_code_point(rest) {
            Some((_, n)) => {
                rest = rest.get(n..).unwrap_or(&[]);
                kept = kept.saturating_add(n);
            }
            None => break,
        }
    }
    let cut = !rest.is_empty();
    out.truncate(kept);
    Some((out, cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dis(input: &[u8]) -> Disassembly {
        disassemble(input, &DisasmOptions::default())
    }

    #[test]
    fn protocol_2_like_pickletools() {
        // pickle.dumps([1, 'a', {}], 2)
        let data = b"\x80\x02]q\x00(K\x01X\x01\x00\x00\x00aq\x01}q\x02e.";
        let want = concat!(
            "    0: \\x80 PROTO      2\n",
            "    2: ]    EMPTY_LIST\n",
            "    3: q    BINPUT     0\n",
            "    5: (    MARK\n",
            "    6: K        BININT1    1\n",
            "    8: X        BINUNICODE 'a'\n",
            "   14: q        BINPUT     1\n",
            "   16: }        EMPTY_DICT\n",
            "   17: q        BINPUT     2\n",
            "   19: e        APPENDS    (MARK at 5)\n",
            "   20: .    STOP\n",
        );
        assert_eq!(
            dis(data),
            Disassembly {
                text: want.to_owned(),
                error: None
            }
        );
    }

    #[test]
    fn protocol_0_like_pickletools() {
        // pickle.dumps([1, 'a', {'b': (1.5, None, True)}, b'x\x00', -5, 2**70], 0)
        let data: &[u8] = b"(lp0\nI1\naVa\np1\na(dp2\nVb\np3\n(F1.5\nNI01\ntp4\nsac_codecs\nencode\np5\n(Vx\\u0000\np6\nVlatin1\np7\ntp8\nRp9\naI-5\naL1180591620717411303424L\na.";
        let want = concat!(
            "    0: (    MARK\n",
            "    1: l        LIST       (MARK at 0)\n",
            "    2: p    PUT        0\n",
            "    5: I    INT        1\n",
            "    8: a    APPEND\n",
            "    9: V    UNICODE    'a'\n",
            "   12: p    PUT        1\n",
            "   15: a    APPEND\n",
            "   16: (    MARK\n",
            "   17: d        DICT       (MARK at 16)\n",
            "   18: p    PUT        2\n",
            "   21: V    UNICODE    'b'\n",
            "   24: p    PUT        3\n",
            "   27: (    MARK\n",
            "   28: F        FLOAT      1.5\n",
            "   33: N        NONE\n",
            "   34: I        INT        True\n",
            "   38: t        TUPLE      (MARK at 27)\n",
            "   39: p    PUT        4\n",
            "   42: s    SETITEM\n",
            "   43: a    APPEND\n",
            "   44: c    GLOBAL     '_codecs encode'\n",
            "   60: p    PUT        5\n",
            "   63: (    MARK\n",
            "   64: V        UNICODE    'x\\x00'\n",
            "   73: p        PUT        6\n",
            "   76: V        UNICODE    'latin1'\n",
            "   84: p        PUT        7\n",
            "   87: t        TUPLE      (MARK at 63)\n",
            "   88: p    PUT        8\n",
            "   91: R    REDUCE\n",
            "   92: p    PUT        9\n",
            "   95: a    APPEND\n",
            "   96: I    INT        -5\n",
            "  100: a    APPEND\n",
            "  101: L    LONG       1180591620717411303424\n",
            "  126: a    APPEND\n",
            "  127: .    STOP\n",
        );
        let got = dis(data);
        assert_eq!(got.text, want);
        assert_eq!(got.error, None);
    }

    #[test]
    fn protocol_5_like_pickletools() {
        // pickle.dumps([1, 'a', {}, b'xy', 2**70, 1.5, ({1}, frozenset()), bytearray(b'z')], 5)
        let data: &[u8] = b"\x80\x05\x95<\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01\x8c\x01a\x94}\x94C\x02xy\x94\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@G?\xf8\x00\x00\x00\x00\x00\x00\x8f\x94(K\x01\x90(\x91\x94\x86\x94\x96\x01\x00\x00\x00\x00\x00\x00\x00z\x94e.";
        let want = concat!(
            "    0: \\x80 PROTO      5\n",
            "    2: \\x95 FRAME      60\n",
            "   11: ]    EMPTY_LIST\n",
            "   12: \\x94 MEMOIZE    (as 0)\n",
            "   13: (    MARK\n",
            "   14: K        BININT1    1\n",
            "   16: \\x8c     SHORT_BINUNICODE 'a'\n",
            "   19: \\x94     MEMOIZE    (as 1)\n",
            "   20: }        EMPTY_DICT\n",
            "   21: \\x94     MEMOIZE    (as 2)\n",
            "   22: C        SHORT_BINBYTES b'xy'\n",
            "   26: \\x94     MEMOIZE    (as 3)\n",
            "   27: \\x8a     LONG1      1180591620717411303424\n",
            "   38: G        BINFLOAT   1.5\n",
            "   47: \\x8f     EMPTY_SET\n",
            "   48: \\x94     MEMOIZE    (as 4)\n",
            "   49: (        MARK\n",
            "   50: K            BININT1    1\n",
            "   52: \\x90         ADDITEMS   (MARK at 49)\n",
            "   53: (        MARK\n",
            "   54: \\x91         FROZENSET  (MARK at 53)\n",
            "   55: \\x94     MEMOIZE    (as 5)\n",
            "   56: \\x86     TUPLE2\n",
            "   57: \\x94     MEMOIZE    (as 6)\n",
            "   58: \\x96     BYTEARRAY8 bytearray(b'z')\n",
            "   68: \\x94     MEMOIZE    (as 7)\n",
            "   69: e        APPENDS    (MARK at 13)\n",
            "   70: .    STOP\n",
        );
        let got = dis(data);
        assert_eq!(got.text, want);
        assert_eq!(got.error, None);
    }

    #[test]
    fn opcode_layer_errors() {
        let got = dis(b"\x80\x02K\x01\xff.");
        assert_eq!(
            got.text,
            "    0: \\x80 PROTO      2\n    2: K    BININT1    1\n"
        );
        assert_eq!(got.error, Some((4, "unknown opcode 0xff".to_owned())));

        let got = dis(b"K\x01");
        assert_eq!(got.text, "    0: K    BININT1    1\n");
        assert_eq!(
            got.error,
            Some((2, "pickle exhausted before seeing STOP".to_owned()))
        );

        // A BINBYTES8 claiming 2^62 bytes: nothing is allocated, it is just truncated.
        let got = dis(b"\x8e\x00\x00\x00\x00\x00\x00\x00\x40abc.");
        assert_eq!(got.text, "");
        assert_eq!(
            got.error,
            Some((
                0,
                "truncated BINBYTES8 argument: 4611686018427387904 bytes claimed, 4 remain"
                    .to_owned()
            ))
        );

        let got = dis(b"J\x01\x00");
        assert_eq!(got.error, Some((0, "truncated BININT argument".to_owned())));

        let got = dis(b"T\xff\xff\xff\xffab.");
        assert_eq!(
            got.error,
            Some((0, "negative byte count -1 in BINSTRING argument".to_owned()))
        );

        let got = dis(b"cos\nsystem");
        assert_eq!(
            got.error,
            Some((0, "no newline found in GLOBAL argument".to_owned()))
        );
    }

    #[test]
    fn nothing_after_stop() {
        let got = dis(b"N.\xffgarbage");
        assert_eq!(got.text, "    0: N    NONE\n    1: .    STOP\n");
        assert_eq!(got.error, None);
    }

    #[test]
    fn text_arguments_like_pickletools() {
        let data: &[u8] = concat!(
            "S'a\\n\\x41\\101'\n",
            "S\"it's\"\n",
            "Vx\\u20ac\\ud800\\\\u0041\n",
            "I00\n",
            "I+007\n",
            "L-0L\n",
            "F1e300\n",
            "F-inf\n",
            "Pid\\x41\n",
            "i__main__\nC\n",
            "Iabc\n",
            "Sno quotes\n",
            "."
        )
        .as_bytes();
        let want = concat!(
            "    0: S    STRING     'a\\nAA'\n",
            "   15: S    STRING     \"it's\"\n",
            "   23: V    UNICODE    'x€\\ud800\\\\\\\\u0041'\n",
            "   45: I    INT        False\n",
            "   49: I    INT        7\n",
            "   55: L    LONG       0\n",
            "   60: F    FLOAT      1e+300\n",
            "   67: F    FLOAT      -inf\n",
            "   73: P    PERSID     'idA'\n",
            "   81: i    INST       '__main__ C' no MARK exists on stack\n",
            "   93: I    INT        b'abc'\n",
            "   98: S    STRING     b'no quotes'\n",
            "  109: .    STOP\n",
        );
        let got = dis(data);
        assert_eq!(got.text, want);
        assert_eq!(got.error, None);
    }

    #[test]
    fn long_arguments_are_cut() {
        let mut data = b"\x8e".to_vec();
        data.extend_from_slice(&1000u64.to_le_bytes());
        data.extend_from_slice(&[b'x'; 1000]);
        data.push(b'X');
        data.extend_from_slice(&12u32.to_le_bytes());
        data.extend_from_slice("€€€€".as_bytes());
        data.push(b'.');
        let opts = DisasmOptions {
            max_lines: 10,
            max_arg_chars: 5,
        };
        let got = disassemble(&data, &opts);
        assert_eq!(
            got.text,
            concat!(
                "    0: \\x8e BINBYTES8  b'xxx...\n",
                " 1009: X    BINUNICODE '€€€€...\n",
                " 1026: .    STOP\n",
            )
        );
        assert_eq!(got.error, None);
    }

    #[test]
    fn line_limit_and_indent_cap() {
        let data = [b'('; 50];
        let opts = DisasmOptions {
            max_lines: 20,
            max_arg_chars: 10,
        };
        let got = disassemble(&data, &opts);
        let mut want = String::new();
        for i in 0..20usize {
            want.push_str(&format!(
                "{i:5}: (    {}MARK\n",
                "    ".repeat(i.min(MAX_INDENT_LEVELS))
            ));
        }
        want.push_str("... (truncated)\n");
        assert_eq!(got.text, want);
        assert_eq!(got.error, None);
    }

    #[test]
    fn pop_of_a_mark_and_missing_mark() {
        let got = dis(b"(0N0e.");
        assert_eq!(
            got.text,
            concat!(
                "    0: (    MARK\n",
                "    1: 0        POP        (MARK at 0)\n",
                "    2: N    NONE\n",
                "    3: 0    POP\n",
                "    4: e    APPENDS    no MARK exists on stack\n",
                "    5: .    STOP\n",
            )
        );
    }
}

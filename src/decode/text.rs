//! Protocol 0 text arguments, parsed the way CPython's C unpickler parses them.
//!
//! Each function mirrors one C routine `Modules/_pickle.c` relies on: `strtol(s, 0)`
//! for INT, `PyLong_FromString` for LONG and text memo indices, `PyOS_string_to_double`
//! for FLOAT, `PyBytes_DecodeEscape` for STRING, the raw-unicode-escape codec for
//! UNICODE, and UTF-8 with `surrogatepass` for the binary string opcodes. They are pure
//! functions of bytes; the machine charges budgets before calling the costly ones.
//!
//! C strings end at the first NUL, so every line parser here first cuts the line at
//! its first NUL byte, as CPython effectively does.

// The text parsers run on untrusted lines: no arithmetic that can overflow or panic
// (slice cursors, checked or saturating forms instead).
#![deny(clippy::arithmetic_side_effects)]

/// A parsed integer literal, before conversion (which is quadratic for non-power-of-two
/// bases, so the machine checks `digits` against the budget first).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct IntLiteral {
    pub(crate) negative: bool,
    pub(crate) radix: u32,
    /// The digit characters only (no sign, prefix or underscores).
    pub(crate) digits: Vec<u8>,
}

/// What an INT line holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IntLine {
    /// `I00\n` / `I01\n` and any other 3-byte line whose value is 0 or 1.
    Bool(bool),
    /// Fits a C long.
    Small(i64),
    /// Did not fit (or used `_`): parsed like Python's `int(s, 0)`.
    Big(IntLiteral),
}

pub(crate) fn until_nul(line: &[u8]) -> &[u8] {
    match crate::decode::reader::find_byte(line, 0) {
        Some(i) => line.get(..i).unwrap_or(line),
        None => line,
    }
}

/// C `isspace` in the C locale (also `Py_ISSPACE`).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn digit_in(b: u8, radix: u32) -> Option<u32> {
    crate::bigint::digit_value(b).filter(|d| *d < radix)
}

/// The first byte of `s` as a digit in `radix`, and the bytes after it.
fn split_digit(s: &[u8], radix: u32) -> Option<(u32, &[u8])> {
    let (&b, rest) = s.split_first()?;
    Some((digit_in(b, radix)?, rest))
}

/// The length of the run of `radix` digits at the start of `s` (a plain ASCII test
/// for decimal, the common and the bomb case: a million digits cost one tight loop).
fn digit_run(s: &[u8], radix: u32) -> usize {
    if radix == 10 {
        s.iter().take_while(|b| b.is_ascii_digit()).count()
    } else {
        s.iter()
            .take_while(|b| digit_in(**b, radix).is_some())
            .count()
    }
}

/// `s` without its longest prefix of bytes satisfying `pred`.
fn skip_while(s: &[u8], pred: impl Fn(u8) -> bool) -> &[u8] {
    let n = s.iter().take_while(|&&b| pred(b)).count();
    s.get(n..).unwrap_or(&[])
}

/// `s` without a leading `+` or `-`, and whether that was a `-`.
fn split_sign(s: &[u8]) -> (bool, &[u8]) {
    match s.split_first() {
        Some((&sign @ (b'+' | b'-'), rest)) => (sign == b'-', rest),
        _ => (false, s),
    }
}

/// C `strtol(s, &end, 0)` on a 64-bit long: `(value, the bytes from end on, overflowed)`.
fn strtol(s: &[u8]) -> (i64, &[u8], bool) {
    /// The magnitude of `i64::MIN`: the largest a negative literal may reach.
    const LIMIT: i128 = 1 << 63;
    let (negative, mut rest) = split_sign(skip_while(s, is_space));
    let mut radix = 10;
    if let Some(after_zero) = rest.strip_prefix(b"0") {
        match after_zero.split_first() {
            Some((b'x' | b'X', hex)) if split_digit(hex, 16).is_some() => {
                radix = 16;
                rest = hex;
            }
            _ => radix = 8,
        }
    }
    let digits_start = rest.len();
    let mut acc: i128 = 0;
    let mut overflow = false;
    while let Some((d, after)) = split_digit(rest, radix) {
        if overflow {
            // Only where the digits end matters now.
            rest = rest.get(digit_run(rest, radix)..).unwrap_or(&[]);
            break;
        }
        // `acc <= LIMIT` before, so this cannot overflow an i128 (checked anyway).
        match acc
            .checked_mul(i128::from(radix))
            .and_then(|a| a.checked_add(i128::from(d)))
        {
            Some(next) if next <= LIMIT => acc = next,
            _ => overflow = true,
        }
        rest = after;
    }
    if rest.len() == digits_start {
        return (0, s, false); // no conversion: end = start of string
    }
    // `0 <= acc <= LIMIT`: negating cannot overflow.
    let value = if negative {
        acc.checked_neg()
    } else {
        Some(acc)
    };
    match value.and_then(|v| i64::try_from(v).ok()) {
        Some(v) if !overflow => (v, rest, false),
        _ => (0, rest, true),
    }
}

/// Scans Python's `int(s, base)` grammar (`PyLong_FromString`), for base 0 or 10,
/// handing each digit to `on_digit`; returns the sign and radix when `s` is valid.
fn scan_python_int(s: &[u8], base: u32, mut on_digits: impl FnMut(&[u8])) -> Option<(bool, u32)> {
    let s = until_nul(s);
    let (negative, mut rest) = split_sign(skip_while(s, is_space));
    let mut radix = if base == 0 { 10 } else { base };
    let mut leading_zero_decimal = false;
    if base == 0 {
        if let Some(after_zero) = rest.strip_prefix(b"0") {
            match after_zero.split_first() {
                Some((b'x' | b'X', after)) => {
                    radix = 16;
                    rest = after;
                }
                Some((b'o' | b'O', after)) => {
                    radix = 8;
                    rest = after;
                }
                Some((b'b' | b'B', after)) => {
                    radix = 2;
                    rest = after;
                }
                _ => leading_zero_decimal = true,
            }
            if radix != 10 {
                if let Some(after) = rest.strip_prefix(b"_") {
                    rest = after; // "0x_1f" is allowed
                }
            }
        }
    }
    let mut any_digit = false;
    let mut any_nonzero = false;
    let mut last_was_digit = false;
    // Runs of digits separated by single underscores, handed over a run at a time.
    while !rest.is_empty() {
        let run = digit_run(rest, radix);
        if run > 0 {
            let (digits, after) = rest.split_at(run.min(rest.len()));
            on_digits(digits);
            any_digit = true;
            if leading_zero_decimal && !any_nonzero {
                any_nonzero = digits.iter().any(|b| *b != b'0');
            }
            last_was_digit = true;
            rest = after;
            continue;
        }
        match rest.split_first() {
            Some((b'_', after)) if last_was_digit => {
                last_was_digit = false;
                rest = after;
            }
            _ => break,
        }
    }
    if !any_digit || !last_was_digit {
        return None;
    }
    if !skip_while(rest, is_space).is_empty() {
        return None;
    }
    if leading_zero_decimal && any_nonzero {
        return None; // "01" is not a Python 3 integer
    }
    Some((negative, radix))
}

/// Python's `int(s, base)` grammar (`PyLong_FromString`), for base 0 or 10.
pub(crate) fn python_int(s: &[u8], base: u32) -> Option<IntLiteral> {
    let mut digits = Vec::new();
    let (negative, radix) = scan_python_int(s, base, |run| digits.extend_from_slice(run))?;
    Some(IntLiteral {
        negative,
        radix,
        digits,
    })
}

/// The number of digits `python_int` would collect, counted without allocating, so
/// a million-digit literal is refused by the digit budget before it is copied.
pub(crate) fn python_int_digit_count(s: &[u8], base: u32) -> Option<usize> {
    let mut count = 0usize;
    scan_python_int(s, base, |run| count = count.saturating_add(run.len()))?;
    Some(count)
}

/// The INT opcode's argument (the line without its `\n`).
pub(crate) fn int_line(line: &[u8]) -> Option<IntLine> {
    if line.is_empty() {
        return None;
    }
    let s = until_nul(line);
    let (value, rest, overflow) = strtol(s);
    // strtol stops at the NUL that ends the C string: converting nothing is 0.
    if !overflow && rest.is_empty() {
        // A 3-byte line, newline included (`I00\n`, `I01\n`, `I+1\n`...).
        if line.len() == 2 && (value == 0 || value == 1) {
            return Some(IntLine::Bool(value == 1));
        }
        return Some(IntLine::Small(value));
    }
    python_int(s, 0).map(IntLine::Big)
}

/// Digits of an INT line that takes the arbitrary-size path (`None` when it fits a
/// C long or is invalid), counted without allocating.
pub(crate) fn int_line_big_digits(line: &[u8]) -> Option<usize> {
    let s = until_nul(line);
    let (_, rest, overflow) = strtol(s);
    if !overflow && rest.is_empty() {
        return None;
    }
    python_int_digit_count(s, 0)
}

/// Digits of a LONG line, counted without allocating (`None` when invalid).
pub(crate) fn long_line_digits(line: &[u8]) -> Option<usize> {
    python_int_digit_count(long_text(line), 0)
}

/// The LONG opcode's argument: `int(s, 0)` after dropping one trailing `L`.
pub(crate) fn long_line(line: &[u8]) -> Option<IntLiteral> {
    if line.is_empty() {
        return None;
    }
    python_int(long_text(line), 0)
}

/// What the C unpickler's `load_long` parses: the line without one trailing `L` (it
/// writes a NUL over it), up to the first NUL (`PyLong_FromString` reads a C string).
fn long_text(line: &[u8]) -> &[u8] {
    let s = match line.split_last() {
        Some((b'L', rest)) => rest,
        _ => line,
    };
    until_nul(s)
}

/// The FLOAT opcode's argument, like `PyOS_string_to_double` with overflow an error.
pub(crate) fn float_line(line: &[u8]) -> Option<f64> {
    let s = until_nul(line);
    let (negative, body) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let lower: Vec<u8> = body.iter().map(u8::to_ascii_lowercase).collect();
    if lower == b"inf" || lower == b"infinity" {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == b"nan" {
        return Some(if negative { -f64::NAN } else { f64::NAN });
    }
    // digits [. digits] [e [sign] digits], at least one mantissa digit, nothing after.
    let is_digit = |b: u8| b.is_ascii_digit();
    let mut rest = skip_while(body, is_digit);
    let mut has_mantissa_digits = rest.len() != body.len();
    if let Some(fraction) = rest.strip_prefix(b".") {
        rest = skip_while(fraction, is_digit);
        has_mantissa_digits |= rest.len() != fraction.len();
    }
    if !has_mantissa_digits {
        return None;
    }
    if let Some(exponent) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let (_, exp_digits) = split_sign(exponent);
        let after = skip_while(exp_digits, is_digit);
        if after.len() != exp_digits.len() {
            rest = after;
        }
    }
    if !rest.is_empty() {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let value: f64 = text.parse().ok()?;
    if value.is_infinite() {
        return None; // "1e999": OverflowError in CPython
    }
    Some(if negative { -value } else { value })
}

/// STRING's quoted argument: strip matching quotes, then `PyBytes_DecodeEscape`.
pub(crate) fn string_literal(line: &[u8]) -> Result<Vec<u8>, &'static str> {
    let inner = match line {
        [q @ (b'\'' | b'"'), inner @ .., last] if q == last => inner,
        _ => return Err("the STRING opcode argument must be quoted"),
    };
    escape_decode(inner)
}

/// `PyBytes_DecodeEscape` (Python's `codecs.escape_decode`) of unquoted text.
pub(crate) fn escape_decode(inner: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while let Some((&b, after)) = rest.split_first() {
        rest = after;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some((&c, after)) = rest.split_first() else {
            return Err("trailing \\ in string");
        };
        rest = after;
        match c {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(c),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(11),
            b'a' => out.push(7),
            b'0'..=b'7' => {
                // Up to three octal digits; `'0'..='7'` is 0x30..=0x37, so the low three
                // bits are the digit. Like CPython, keep the low byte ("\777" is 0xff).
                let mut value = u32::from(c & 0o7);
                for _ in 0..2 {
                    let Some((d, after)) = split_digit(rest, 8) else {
                        break;
                    };
                    value = (value << 3) | d;
                    rest = after;
                }
                out.push((value & 0xff) as u8);
            }
            b'x' => match split_digit(rest, 16)
                .and_then(|(hi, after)| Some((hi, split_digit(after, 16)?)))
            {
                Some((hi, (lo, after))) => {
                    out.push(((hi << 4) | lo) as u8);
                    rest = after;
                }
                None => return Err("invalid \\x escape"),
            },
            _ => {
                // Unknown escapes keep the backslash (CPython warns, then keeps it), and
                // the character after it is an ordinary one (it is not a backslash).
                out.push(b'\\');
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// Appends a code point as generalized UTF-8 (surrogates encoded like `surrogatepass`).
pub(crate) fn push_code_point(out: &mut Vec<u8>, cp: u32) {
    match cp {
        0..=0x7F => out.push(cp as u8),
        0x80..=0x7FF => {
            out.push(0xC0 | (cp >> 6) as u8);
            out.push(0x80 | (cp & 0x3F) as u8);
        }
        0x800..=0xFFFF => {
            out.push(0xE0 | (cp >> 12) as u8);
            out.push(0x80 | ((cp >> 6) & 0x3F) as u8);
            out.push(0x80 | (cp & 0x3F) as u8);
        }
        _ => {
            out.push(0xF0 | (cp >> 18) as u8);
            out.push(0x80 | ((cp >> 12) & 0x3F) as u8);
            out.push(0x80 | ((cp >> 6) & 0x3F) as u8);
            out.push(0x80 | (cp & 0x3F) as u8);
        }
    }
}

/// UNICODE's argument: the raw-unicode-escape codec, to generalized UTF-8.
/// `\uXXXX`/`\UXXXXXXXX` count only after an odd number of backslashes.
pub(crate) fn raw_unicode_escape(s: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(raw_unicode_escape_len(s)?);
    raw_unicode_escape_each(s, |cp| push_code_point(&mut out, cp))?;
    Ok(out)
}

/// The exact length of [`raw_unicode_escape`]'s output, computed without allocating,
/// so the memory budget is checked before the string is built.
pub(crate) fn raw_unicode_escape_len(s: &[u8]) -> Result<usize, &'static str> {
    let mut len = 0usize;
    raw_unicode_escape_each(s, |cp| {
        len = len.saturating_add(utf8_len(cp));
    })?;
    Ok(len)
}

fn utf8_len(cp: u32) -> usize {
    match cp {
        0..=0x7F => 1,
        0x80..=0x7FF => 2,
        0x800..=0xFFFF => 3,
        _ => 4,
    }
}

fn raw_unicode_escape_each(s: &[u8], mut emit: impl FnMut(u32)) -> Result<(), &'static str> {
    let mut rest = s;
    while let Some((&b, after)) = rest.split_first() {
        if b != b'\\' {
            emit(u32::from(b));
            rest = after;
            continue;
        }
        let run = rest.iter().take_while(|&&c| c == b'\\').count();
        rest = rest.get(run..).unwrap_or(&[]);
        let odd = run % 2 == 1;
        let (count, after) = match rest.split_first() {
            Some((b'u', after)) if odd => (4, after),
            Some((b'U', after)) if odd => (8, after),
            _ => {
                for _ in 0..run {
                    emit(u32::from(b'\\'));
                }
                continue;
            }
        };
        for _ in 1..run {
            emit(u32::from(b'\\')); // all but the escaping backslash
        }
        rest = after;
        let mut cp: u32 = 0;
        for _ in 0..count {
            let (d, after) = split_digit(rest, 16).ok_or("truncated \\uXXXX escape")?;
            cp = (cp << 4) | d;
            rest = after;
        }
        if cp > 0x10FFFF {
            return Err("\\Uxxxxxxxx out of range");
        }
        emit(cp);
    }
    Ok(())
}

/// The UTF-8 length of Latin-1 bytes (bytes above 0x7f take two).
pub(crate) fn latin1_utf8_len(bytes: &[u8]) -> usize {
    bytes
        .len()
        .saturating_add(bytes.iter().filter(|b| **b >= 0x80).count())
}

/// Is `bytes` UTF-8 where surrogate code points are also allowed (`surrogatepass`)?
///
/// One pass, written for what pickled text looks like: ASCII runs with a multi-byte
/// character here and there. ASCII is skipped eight bytes at a time (one mask per
/// word, and the first non-ASCII byte found from the mask's trailing zeros); each
/// multi-byte sequence is checked by its lead byte's table of allowed second bytes, as
/// the Unicode standard's table 3-7 lists them but with `ED A0..BF` (surrogates)
/// allowed. `std::str::from_utf8` would need a second pass for the surrogates.
pub(crate) fn is_generalized_utf8(bytes: &[u8]) -> bool {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let is_cont = |b: Option<&u8>| b.is_some_and(|b| b & 0xC0 == 0x80);
    let mut i = 0usize;
    loop {
        // ASCII, a word at a time, up to the first byte with its high bit set.
        loop {
            if let Some(word) = bytes.get(i..i.saturating_add(8)) {
                let word = u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or([0x80; 8]));
                let high = word & HIGH_BITS;
                if high != 0 {
                    i = i.saturating_add((high.trailing_zeros() / 8) as usize);
                    break;
                }
                i = i.saturating_add(8);
                continue;
            }
            // Under eight bytes left: one load of the string's last eight bytes, shifted
            // past those already checked (no byte loop, and no copy into a buffer, which
            // would stall the load on the stores); a string shorter than a word is ORed.
            let rest = bytes.get(i..).unwrap_or(&[]);
            let high = match bytes.len().checked_sub(8).and_then(|s| bytes.get(s..)) {
                Some(last) if !rest.is_empty() => {
                    let word = u64::from_le_bytes(<[u8; 8]>::try_from(last).unwrap_or([0x80; 8]));
                    let checked = 8usize.saturating_sub(rest.len()) as u32;
                    word.checked_shr(checked.saturating_mul(8)).unwrap_or(0) & HIGH_BITS
                }
                _ => u64::from(rest.iter().fold(0u8, |acc, b| acc | b) & 0x80),
            };
            if high == 0 {
                return true;
            }
            i = i.saturating_add(rest.iter().position(|b| *b >= 0x80).unwrap_or(0));
            break;
        }
        let Some(&lead) = bytes.get(i) else {
            return true;
        };
        let (width, second) = match lead {
            0xC2..=0xDF => (2, 0x80..=0xBF),
            0xE0 => (3, 0xA0..=0xBF),
            0xE1..=0xEF => (3, 0x80..=0xBF), // ED A0..BF: surrogates, allowed here
            0xF0 => (4, 0x90..=0xBF),
            0xF1..=0xF3 => (4, 0x80..=0xBF),
            0xF4 => (4, 0x80..=0x8F),
            _ => return false,
        };
        if !bytes
            .get(i.saturating_add(1))
            .is_some_and(|b| second.contains(b))
        {
            return false;
        }
        if width >= 3 && !is_cont(bytes.get(i.saturating_add(2))) {
            return false;
        }
        if width == 4 && !is_cont(bytes.get(i.saturating_add(3))) {
            return false;
        }
        i = i.saturating_add(width);
    }
}

/// Latin-1 bytes to UTF-8 (every byte is one code point).
pub(crate) fn latin1_to_utf8(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        push_code_point(&mut out, u32::from(b));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(v: i64) -> Option<IntLine> {
        Some(IntLine::Small(v))
    }

    #[test]
    fn int_lines_follow_strtol_then_python_int() {
        assert_eq!(int_line(b"01"), Some(IntLine::Bool(true)));
        assert_eq!(int_line(b"00"), Some(IntLine::Bool(false)));
        assert_eq!(int_line(b"+1"), Some(IntLine::Bool(true)));
        assert_eq!(int_line(b" 0"), Some(IntLine::Bool(false)));
        assert_eq!(int_line(b"1"), small(1));
        assert_eq!(int_line(b"010"), small(8));
        assert_eq!(int_line(b"0x1f"), small(31));
        assert_eq!(int_line(b"-5"), small(-5));
        assert_eq!(int_line(b"12\x00junk"), small(12));
        assert_eq!(
            int_line(b"1_000"),
            Some(IntLine::Big(IntLiteral {
                negative: false,
                radix: 10,
                digits: b"1000".to_vec()
            }))
        );
        assert_eq!(
            int_line(b"99999999999999999999"),
            Some(IntLine::Big(IntLiteral {
                negative: false,
                radix: 10,
                digits: b"99999999999999999999".to_vec()
            }))
        );
        assert_eq!(int_line(b""), None);
        assert_eq!(int_line(b"abc"), None);
        assert_eq!(int_line(b" "), None);
        assert_eq!(int_line(b"077777777777777777777777"), None); // overflow, then "0777..." is not Python
    }

    #[test]
    fn long_lines_follow_python_int() {
        let lit = |neg, radix, d: &[u8]| {
            Some(IntLiteral {
                negative: neg,
                radix,
                digits: d.to_vec(),
            })
        };
        assert_eq!(long_line(b"123L"), lit(false, 10, b"123"));
        assert_eq!(long_line(b"-0x10"), lit(true, 16, b"10"));
        assert_eq!(long_line(b"0"), lit(false, 10, b"0"));
        assert_eq!(long_line(b"00"), lit(false, 10, b"00"));
        assert_eq!(long_line(b"01"), None);
        assert_eq!(long_line(b"L"), None);
        assert_eq!(long_line(b""), None);
        assert_eq!(long_line(b"1__0"), None);
        assert_eq!(long_line(b"1_"), None);
        assert_eq!(long_line(b"0x_1f"), lit(false, 16, b"1f"));
    }

    #[test]
    fn float_lines() {
        assert_eq!(float_line(b"1.5"), Some(1.5));
        assert_eq!(
            float_line(b"-0.0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        assert_eq!(float_line(b"1e300"), Some(1e300));
        assert_eq!(float_line(b"inf"), Some(f64::INFINITY));
        assert_eq!(float_line(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert!(float_line(b"nan").is_some_and(f64::is_nan));
        assert_eq!(float_line(b"1e999"), None);
        assert_eq!(float_line(b" 1.0"), None);
        assert_eq!(float_line(b"1_0"), None);
        assert_eq!(float_line(b"1.0x"), None);
        assert_eq!(float_line(b"1e"), None);
        assert_eq!(float_line(b"."), None);
        assert_eq!(float_line(b"5."), Some(5.0));
    }

    #[test]
    fn string_literals_unescape_like_python2() {
        assert_eq!(string_literal(b"'a\\nb'"), Ok(b"a\nb".to_vec()));
        assert_eq!(string_literal(b"\"it's\""), Ok(b"it's".to_vec()));
        assert_eq!(string_literal(b"'\\x41\\101\\q'"), Ok(b"AA\\q".to_vec()));
        assert_eq!(string_literal(b"'\\777'"), Ok(vec![0xff]));
        assert!(string_literal(b"'abc").is_err());
        assert!(string_literal(b"'").is_err());
        assert!(string_literal(b"'\\x4'").is_err());
        assert!(string_literal(b"'\\'").is_err());
    }

    #[test]
    fn raw_unicode_escape_counts_backslashes() {
        assert_eq!(raw_unicode_escape(b"a\\u0041"), Ok(b"aA".to_vec()));
        assert_eq!(raw_unicode_escape(b"\\\\u0041"), Ok(b"\\\\u0041".to_vec()));
        assert_eq!(raw_unicode_escape(b"\\ud800"), Ok(vec![0xED, 0xA0, 0x80]));
        assert_eq!(raw_unicode_escape(b"\xe9"), Ok(vec![0xC3, 0xA9]));
        assert_eq!(
            raw_unicode_escape(b"\\U0001f600"),
            Ok("😀".as_bytes().to_vec())
        );
        assert!(raw_unicode_escape(b"\\u00").is_err());
        assert!(raw_unicode_escape(b"\\U00110000").is_err());
    }

    #[test]
    fn generalized_utf8() {
        assert!(is_generalized_utf8("héllo".as_bytes()));
        assert!(is_generalized_utf8(
            "ascii run then é and 北京 after 16 bytes".as_bytes()
        ));
        assert!(is_generalized_utf8(&[0xED, 0xA0, 0x80]));
        assert!(!is_generalized_utf8(&[0xC0, 0x80]));
        assert!(!is_generalized_utf8(&[0xFF]));
        assert!(!is_generalized_utf8(&[0xE0, 0x80, 0x80]));
    }

    /// The code-point-at-a-time definition the fast validator must agree with.
    fn generalized_utf8_reference(mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match crate::pyfmt::next_code_point(bytes) {
                Some((_, n)) => bytes = &bytes[n..],
                None => return false,
            }
        }
        true
    }

    #[test]
    fn utf8_validator_agrees_with_the_reference_on_every_short_sequence() {
        // Every 1- and 2-byte input, and every 3- and 4-byte input over bytes that
        // sit on the boundaries of the lead/continuation ranges, each placed after
        // ASCII prefixes of 0..=9 bytes so the word-at-a-time skip ends everywhere.
        let edges: Vec<u8> = vec![
            0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
            0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
        ];
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for a in 0..=255u8 {
            inputs.push(vec![a]);
            for b in 0..=255u8 {
                inputs.push(vec![a, b]);
            }
        }
        for &a in &edges {
            for &b in &edges {
                for &c in &edges {
                    inputs.push(vec![a, b, c]);
                    for &d in &edges {
                        inputs.push(vec![a, b, c, d]);
                    }
                }
            }
        }
        for input in &inputs {
            for prefix in 0..10 {
                let mut bytes = vec![b'a'; prefix];
                bytes.extend_from_slice(input);
                assert_eq!(
                    is_generalized_utf8(&bytes),
                    generalized_utf8_reference(&bytes),
                    "{bytes:02x?}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn utf8_validator_agrees_with_the_reference(
            text in proptest::collection::vec(
                proptest::prop_oneof![
                    3 => 0x20u8..0x7F,
                    1 => 0x80u8..=0xFF,
                    1 => proptest::sample::select(vec![0xC3u8, 0xE4, 0xED, 0xF0, 0xA0, 0xBF]),
                ],
                0..64,
            )
        ) {
            proptest::prop_assert_eq!(
                is_generalized_utf8(&text),
                generalized_utf8_reference(&text)
            );
        }

        #[test]
        fn utf8_validator_accepts_every_str(text in proptest::arbitrary::any::<String>()) {
            proptest::prop_assert!(is_generalized_utf8(text.as_bytes()));
        }
    }
}

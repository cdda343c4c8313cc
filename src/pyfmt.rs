//! Python's own text forms of numbers and strings, shared by the views and the encoder
//! (protocol 0 writes floats as their `repr`).

// The views and the encoder print untrusted values with these: no arithmetic that
// can overflow or panic.
#![deny(clippy::arithmetic_side_effects)]

/// Code points Python's `str.isprintable()` rejects, so `repr` escapes them: controls
/// (Cc), separators other than the ASCII space (Zs, Zl, Zp), format characters (Cf),
/// private use (Co) and the noncharacters. Unassigned code points (Cn) are not
/// tabulated here and print as themselves — the one way this repr can differ from
/// Python's.
fn is_printable(cp: u32) -> bool {
    const NOT_PRINTABLE: &[(u32, u32)] = &[
        (0x0000, 0x001F),
        (0x007F, 0x00A0),
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x1680, 0x1680),
        (0x180E, 0x180E),
        (0x2000, 0x200F),
        (0x2028, 0x202F),
        (0x205F, 0x2064),
        (0x2066, 0x206F),
        (0x3000, 0x3000),
        (0xE000, 0xF8FF),
        (0xFDD0, 0xFDEF),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
        (0xF0000, 0x10FFFF),
    ];
    if cp & 0xFFFE == 0xFFFE {
        return false; // U+xFFFE and U+xFFFF in every plane are noncharacters
    }
    !NOT_PRINTABLE
        .iter()
        .any(|(lo, hi)| (*lo..=*hi).contains(&cp))
}

/// Python's `repr(float)`: the shortest string that round-trips, in Python's layout
/// (`1e+16`, `1e-05`, `0.0001`, `1.5`, `-0.0`, `nan`, `inf`).
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, e.g. "1.2345e-7".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some(parts) => parts,
        None => return sci,
    };
    // Within ±324 for a finite float, so `exp + 1` never saturates.
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let decpt = exp.saturating_add(1); // digits[..decpt] is the integer part
    let mut out = String::with_capacity(digits.len().saturating_add(8));
    if f < 0.0 {
        out.push('-');
    }
    if decpt > -4 && decpt <= 16 {
        let n = i64::try_from(digits.len()).unwrap_or(i64::MAX);
        if decpt <= 0 {
            out.push_str("0.");
            for _ in decpt..0 {
                out.push('0');
            }
            out.push_str(&digits);
        } else if decpt >= n {
            out.push_str(&digits);
            for _ in n..decpt {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            // 0 < decpt < n, and the digits are ASCII: the split always succeeds.
            let (int_part, frac_part) = usize::try_from(decpt)
                .ok()
                .and_then(|at| digits.split_at_checked(at))
                .unwrap_or((&digits, ""));
            out.push_str(int_part);
            out.push('.');
            out.push_str(frac_part);
        }
    } else {
        let (first, rest) = digits.split_at_checked(1).unwrap_or((&digits, ""));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = exp; // decpt - 1
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        let abs = e.unsigned_abs();
        if abs < 10 {
            out.push('0');
        }
        out.push_str(&abs.to_string());
    }
    out
}

/// Decodes one code point from generalized UTF-8 (UTF-8 that may hold surrogates), or
/// `None` at the end or on a byte sequence that is not even generalized UTF-8.
pub fn next_code_point(bytes: &[u8]) -> Option<(u32, usize)> {
    let first = *bytes.first()?;
    let cont = |i: usize| -> Option<u32> {
        let b = *bytes.get(i)?;
        (b & 0xC0 == 0x80).then_some(u32::from(b & 0x3F))
    };
    match first {
        0x00..=0x7F => Some((u32::from(first), 1)),
        0xC2..=0xDF => Some(((u32::from(first & 0x1F) << 6) | cont(1)?, 2)),
        0xE0..=0xEF => {
            let cp = (u32::from(first & 0x0F) << 12) | (cont(1)? << 6) | cont(2)?;
            (cp >= 0x800).then_some((cp, 3))
        }
        0xF0..=0xF4 => {
            let cp =
                (u32::from(first & 0x07) << 18) | (cont(1)? << 12) | (cont(2)? << 6) | cont(3)?;
            (0x10000..=0x10FFFF).contains(&cp).then_some((cp, 4))
        }
        _ => None,
    }
}

/// Python's `repr(str)` for generalized UTF-8 text: quotes chosen as Python does,
/// escapes for `\\`, the quote, `\n`, `\r`, `\t`, other control characters, and lone
/// surrogates (`\ud800`), with non-ASCII printable characters kept as they are.
pub fn str_repr(bytes: &[u8]) -> String {
    let mut has_single = false;
    let mut has_double = false;
    let mut rest = bytes;
    while let Some((cp, n)) = next_code_point(rest) {
        has_single |= cp == u32::from(b'\'');
        has_double |= cp == u32::from(b'"');
        rest = rest.get(n..).unwrap_or(&[]);
    }
    let quote = if has_single && !has_double { '"' } else { '\'' };
    let mut out = String::with_capacity(bytes.len().saturating_add(2));
    out.push(quote);
    let mut rest = bytes;
    while !rest.is_empty() {
        let (cp, n) = match next_code_point(rest) {
            Some(x) => x,
            None => {
                // Not generalized UTF-8 (cannot come from the decoder); show the byte.
                if let Some(b) = rest.first() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
                rest = rest.get(1..).unwrap_or(&[]);
                continue;
            }
        };
        rest = rest.get(n..).unwrap_or(&[]);
        match char::from_u32(cp) {
            Some('\\') => out.push_str("\\\\"),
            Some('\n') => out.push_str("\\n"),
            Some('\r') => out.push_str("\\r"),
            Some('\t') => out.push_str("\\t"),
            Some(c) if c == quote => {
                out.push('\\');
                out.push(c);
            }
            Some(c) if !is_printable(c as u32) => {
                let cp = c as u32;
                if cp < 0x100 {
                    out.push_str(&format!("\\x{cp:02x}"));
                } else if cp < 0x10000 {
                    out.push_str(&format!("\\u{cp:04x}"));
                } else {
                    out.push_str(&format!("\\U{cp:08x}"));
                }
            }
            Some(c) => out.push(c),
            None => out.push_str(&format!("\\u{cp:04x}")),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(bytes)` body with the `b` prefix: `b'a\x00'`.
pub fn bytes_repr(bytes: &[u8]) -> String {
    let has_single = bytes.contains(&b'\'');
    let has_double = bytes.contains(&b'"');
    let quote = if has_single && !has_double {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::with_capacity(bytes.len().saturating_add(3));
    out.push('b');
    out.push(char::from(quote));
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ if b == quote => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(char::from(quote));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
            (-0.0, "-0.0"),
            (123456789.125, "123456789.125"),
            (1e22, "1e+22"),
            (-2.5e-7, "-2.5e-07"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(*f), *want, "{f:e}");
        }
    }

    #[test]
    fn strings_repr_like_python() {
        assert_eq!(str_repr(b"a'b"), "\"a'b\"");
        assert_eq!(str_repr(b"a\nb\\"), "'a\\nb\\\\'");
        assert_eq!(str_repr(&[0xED, 0xA0, 0x80]), "'\\ud800'");
        // Checked against CPython 3.11: repr('\xa0\xad\u200b\u2028\U0010ffff\ue000é')
        assert_eq!(
            str_repr("\u{a0}\u{ad}\u{200b}\u{2028}\u{10ffff}\u{e000}é".as_bytes()),
            "'\\xa0\\xad\\u200b\\u2028\\U0010ffff\\ue000é'"
        );
        assert_eq!(bytes_repr(b"a\x00'"), "b\"a\\x00'\"");
    }
}

//! Integers outside 64 bits: sign and magnitude in 32-bit limbs.
//!
//! Only what a pickle decoder needs: build from LONG1/LONG4 two's-complement bytes in
//! linear time, from text digits (quadratic, which is why the caller caps the digits
//! first), print in decimal (quadratic, capped by the int-bytes limit), write back as
//! two's-complement bytes for the encoder, and compare exactly with floats for
//! Python's dict-key equality. No arithmetic beyond that, and no dependency.

// Big ints are built from untrusted input: no arithmetic that can overflow or panic
// (checked, saturating, overflowing or wrapping forms, each where it is exact).
#![deny(clippy::arithmetic_side_effects)]

use std::cmp::Ordering;
use std::fmt;

/// An integer that does not fit in an `i64`. Always normalised: no leading zero limbs,
/// and never a value that fits in `i64` (those are `Node::Int`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BigInt {
    negative: bool,
    /// Little-endian base-2^32 limbs of the absolute value.
    magnitude: Vec<u32>,
}

/// A decoded integer: small ones inline, big ones boxed by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntValue {
    /// Fits in 64 bits.
    Small(i64),
    /// Does not.
    Big(BigInt),
}

impl BigInt {
    /// True for negative values.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The little-endian 32-bit limbs of the absolute value.
    pub fn magnitude(&self) -> &[u32] {
        &self.magnitude
    }

    /// Heap bytes held by the limbs (their capacity).
    pub fn heap_bytes(&self) -> usize {
        self.magnitude
            .capacity()
            .saturating_mul(std::mem::size_of::<u32>())
    }

    /// Builds a value from sign and magnitude limbs, normalising to `Small` when it fits.
    pub fn from_parts(negative: bool, mut magnitude: Vec<u32>) -> IntValue {
        while magnitude.last() == Some(&0) {
            magnitude.pop();
        }
        if magnitude.len() <= 2 {
            let lo = u64::from(magnitude.first().copied().unwrap_or(0));
            let hi = u64::from(magnitude.get(1).copied().unwrap_or(0));
            let abs = (hi << 32) | lo;
            if !negative {
                if let Ok(v) = i64::try_from(abs) {
                    return IntValue::Small(v);
                }
            } else if abs <= 1u64 << 63 {
                // -(2^63) fits; anything smaller in magnitude too.
                return IntValue::Small(0i64.wrapping_sub_unsigned(abs));
            }
        }
        IntValue::Big(BigInt {
            negative,
            magnitude,
        })
    }

    /// Decodes little-endian two's-complement bytes (LONG1/LONG4), in linear time.
    pub fn from_signed_le(bytes: &[u8]) -> IntValue {
        if let Some(small) = i64_from_signed_le(bytes) {
            return IntValue::Small(small); // no allocation for the common case
        }
        let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
        let mut limbs: Vec<u32> = bytes
            .chunks(4)
            .map(|c| {
                let mut word = [if negative { 0xff } else { 0 }; 4];
                for (dst, src) in word.iter_mut().zip(c) {
                    *dst = *src;
                }
                u32::from_le_bytes(word)
            })
            .collect();
        if negative {
            // magnitude = two's complement negation: invert and add one.
            let mut carry = true;
            for limb in limbs.iter_mut() {
                let inverted = !*limb;
                let (sum, overflow) = inverted.overflowing_add(u32::from(carry));
                *limb = sum;
                carry = overflow;
            }
            if carry {
                limbs.push(1);
            }
        }
        BigInt::from_parts(negative, limbs)
    }

    /// Builds a value from digits already validated for `radix` (2..=36), most
    /// significant first. Quadratic in the number of digits: cap them before calling.
    pub fn from_digits(negative: bool, radix: u32, digits: &[u8]) -> IntValue {
        let mut limbs: Vec<u32> = Vec::new();
        // Process several digits per pass to cut the quadratic constant.
        let mut chunk_value: u64 = 0;
        let mut chunk_scale: u64 = 1;
        // `scale` stays below 2^26 * 36 < 2^32 and `value` below `scale`, so with limbs
        // and carries below 2^32 every `limb * scale + carry` is at most 2^64 - 2^32:
        // the saturating forms below never saturate.
        let flush = |limbs: &mut Vec<u32>, scale: u64, value: u64| {
            let mut carry = value;
            for limb in limbs.iter_mut() {
                let wide = u64::from(*limb).saturating_mul(scale).saturating_add(carry);
                *limb = wide as u32;
                carry = wide >> 32;
            }
            while carry != 0 {
                limbs.push(carry as u32);
                carry >>= 32;
            }
        };
        for &d in digits {
            let v = u64::from(digit_value(d).unwrap_or(0));
            chunk_value = chunk_value
                .saturating_mul(u64::from(radix))
                .saturating_add(v);
            chunk_scale = chunk_scale.saturating_mul(u64::from(radix));
            if chunk_scale >= (1 << 26) {
                flush(&mut limbs, chunk_scale, chunk_value);
                chunk_value = 0;
                chunk_scale = 1;
            }
        }
        if chunk_scale > 1 {
            flush(&mut limbs, chunk_scale, chunk_value);
        }
        BigInt::from_parts(negative, limbs)
    }

    /// The value as minimal little-endian two's-complement bytes, as Python's
    /// `encode_long` writes them for LONG1/LONG4.
    pub fn to_signed_le(&self) -> Vec<u8> {
        let mut bytes: Vec<u8> = self
            .magnitude
            .iter()
            .flat_map(|l| l.to_le_bytes())
            .collect();
        if self.negative {
            let mut carry = true;
            for b in bytes.iter_mut() {
                let (sum, overflow) = (!*b).overflowing_add(u8::from(carry));
                *b = sum;
                carry = overflow;
            }
            // Trim redundant 0xff sign bytes.
            while bytes.len() > 1 && bytes.last() == Some(&0xff) {
                let len = bytes.len();
                if bytes
                    .get(len.wrapping_sub(2))
                    .is_some_and(|b| b & 0x80 != 0)
                {
                    bytes.pop();
                } else {
                    break;
                }
            }
            if bytes.last().is_some_and(|b| b & 0x80 == 0) {
                bytes.push(0xff);
            }
        } else {
            while bytes.len() > 1 && bytes.last() == Some(&0) {
                let len = bytes.len();
                if bytes
                    .get(len.wrapping_sub(2))
                    .is_some_and(|b| b & 0x80 == 0)
                {
                    bytes.pop();
                } else {
                    break;
                }
            }
            if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                bytes.push(0);
            }
        }
        bytes
    }

    /// Decimal digits with a leading `-` for negative values. Quadratic in the size.
    pub fn to_decimal(&self) -> String {
        const CHUNK: u64 = 1_000_000_000;
        let mut limbs = self.magnitude.clone();
        let mut groups: Vec<u32> = Vec::new();
        while !limbs.is_empty() {
            let mut rem: u64 = 0;
            for limb in limbs.iter_mut().rev() {
                let cur = (rem << 32) | u64::from(*limb);
                *limb = (cur / CHUNK) as u32;
                rem = cur % CHUNK;
            }
            groups.push(rem as u32);
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
        }
        let mut out = String::with_capacity(groups.len().saturating_mul(9).saturating_add(1));
        if self.negative {
            out.push('-');
        }
        let mut first = true;
        for g in groups.iter().rev() {
            if first {
                out.push_str(&g.to_string());
                first = false;
            } else {
                out.push_str(&format!("{g:09}"));
            }
        }
        if first {
            out.push('0');
        }
        out
    }

    /// The exact integer value of a float that is integral, or `None` for a float with
    /// a fractional part, an infinity or a NaN.
    pub fn from_integral_f64(f: f64) -> Option<IntValue> {
        if !f.is_finite() || f.fract() != 0.0 {
            return None;
        }
        if f.abs() < 9.0e18 {
            return Some(IntValue::Small(f as i64));
        }
        let bits = f.to_bits();
        let biased_exponent = ((bits >> 52) & 0x7ff) as u32;
        let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
        // f = mantissa * 2^(biased_exponent - 1075), and |f| >= 9e18 > 2^53, so the
        // exponent is positive: `None` is unreachable.
        let shift = biased_exponent.checked_sub(1075)?;
        // 53 significant bits shifted by less than 32 fit in three limbs.
        let wide = u128::from(mantissa) << (shift % 32);
        let mut shifted = vec![0u32; (shift / 32) as usize];
        shifted.extend([wide as u32, (wide >> 32) as u32, (wide >> 64) as u32]);
        Some(BigInt::from_parts(f < 0.0, shifted))
    }

    /// Compares magnitudes, then signs: a total order over big ints.
    fn cmp_value(&self, other: &BigInt) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (neg, _) => {
                let by_mag = self
                    .magnitude
                    .len()
                    .cmp(&other.magnitude.len())
                    .then_with(|| {
                        self.magnitude
                            .iter()
                            .rev()
                            .cmp(other.magnitude.iter().rev())
                    });
                if neg {
                    by_mag.reverse()
                } else {
                    by_mag
                }
            }
        }
    }
}

impl PartialOrd for BigInt {
    fn partial_cmp(&self, other: &BigInt) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BigInt {
    fn cmp(&self, other: &BigInt) -> Ordering {
        self.cmp_value(other)
    }
}

impl fmt::Debug for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BigInt({})", self.to_decimal())
    }
}

impl fmt::Display for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal())
    }
}

/// The value of an ASCII digit or letter in bases up to 36.
pub(crate) fn digit_value(b: u8) -> Option<u32> {
    // `0-9`, then `a-z` and `A-Z` as 10..=35.
    char::from(b).to_digit(36)
}

/// Little-endian two's-complement bytes as an `i64`, when there are at most eight of
/// them (LONG1's common case; no bytes is zero, as in `int.from_bytes`), else `None`.
/// Inlined into the decoder's LONG1 path, so most LONG1 ints cost no call.
#[inline(always)]
pub(crate) fn i64_from_signed_le(bytes: &[u8]) -> Option<i64> {
    if bytes.len() > 8 {
        return None;
    }
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate() {
        value |= u64::from(*b).wrapping_shl((i as u32).wrapping_mul(8));
    }
    // Shift the top byte's sign bit to bit 63 and back: sign extension.
    let unused = 64u32.wrapping_sub((bytes.len() as u32).wrapping_mul(8));
    if unused >= 64 {
        return Some(0);
    }
    Some((value.wrapping_shl(unused) as i64).wrapping_shr(unused))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_signed_le_bytes_sign_extend_like_a_padded_word() {
        let cases: &[&[u8]] = &[
            &[],
            &[0x00],
            &[0x7f],
            &[0x80],
            &[0xff],
            &[0x00, 0x80],
            &[0xff, 0x7f],
            &[0x01, 0x02, 0x03, 0x04, 0x05],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80],
            &[0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff],
        ];
        for bytes in cases {
            // Reference: the bytes in a word pre-filled with the sign byte.
            let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                0xff
            } else {
                0
            };
            let mut word = [fill; 8];
            word[..bytes.len()].copy_from_slice(bytes);
            assert_eq!(
                i64_from_signed_le(bytes),
                Some(i64::from_le_bytes(word)),
                "{bytes:?}"
            );
        }
        assert_eq!(i64_from_signed_le(&[0; 9]), None);
    }

    fn big(v: IntValue) -> BigInt {
        match v {
            IntValue::Big(b) => b,
            IntValue::Small(s) => panic!("expected big, got {s}"),
        }
    }

    #[test]
    fn signed_le_boundaries() {
        assert_eq!(BigInt::from_signed_le(&[]), IntValue::Small(0));
        assert_eq!(BigInt::from_signed_le(&[0xff]), IntValue::Small(-1));
        assert_eq!(BigInt::from_signed_le(&[0x80]), IntValue::Small(-128));
        assert_eq!(
            BigInt::from_signed_le(&[0, 0, 0, 0, 0, 0, 0, 0x80]),
            IntValue::Small(i64::MIN)
        );
        let b = big(BigInt::from_signed_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]));
        assert_eq!(b.to_decimal(), "9223372036854775808");
        assert_eq!(b.to_signed_le(), vec![0, 0, 0, 0, 0, 0, 0, 0x80, 0]);
        let n = big(BigInt::from_signed_le(&[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff,
        ]));
        assert_eq!(n.to_decimal(), "-9223372036854775809");
        assert_eq!(
            n.to_signed_le(),
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff]
        );
    }

    #[test]
    fn digits_roundtrip_through_decimal() {
        let text = "1".to_owned() + &"0".repeat(100);
        let b = big(BigInt::from_digits(true, 10, text.as_bytes()));
        assert_eq!(b.to_decimal(), format!("-{text}"));
        let h = big(BigInt::from_digits(false, 16, b"10000000000000000"));
        assert_eq!(h.to_decimal(), "18446744073709551616");
    }

    #[test]
    fn integral_floats_become_exact_ints() {
        assert_eq!(BigInt::from_integral_f64(1.0), Some(IntValue::Small(1)));
        assert_eq!(BigInt::from_integral_f64(0.5), None);
        assert_eq!(BigInt::from_integral_f64(f64::NAN), None);
        let b = big(BigInt::from_integral_f64(2f64.powi(70)).unwrap_or(IntValue::Small(0)));
        assert_eq!(b.to_decimal(), "1180591620717411303424");
        let m = big(BigInt::from_integral_f64(-(2f64.powi(64))).unwrap_or(IntValue::Small(0)));
        assert_eq!(m.to_decimal(), "-18446744073709551616");
    }
}

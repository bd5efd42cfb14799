//! Helpers shared by the decoders: bounds-checked byte access, port checks, and number
//! conversions that reproduce what the vendors' JavaScript decoders output.

use std::fmt::Display;

use serde_json::{Map, Value};

use super::DecodeError;

/// A decoded payload: field name to value, in the vendor codec's order.
pub(crate) type Object = Map<String, Value>;

/// A cursor over payload bytes. Every read is bounds-checked and reports a
/// [`DecodeError::Truncated`] naming `what` was being read.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Offset of the next byte to read.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// How many bytes are left.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &dyn Display) -> Result<&'a [u8], DecodeError> {
        let slice = self
            .pos
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.pos..end));
        match slice {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(DecodeError::Truncated {
                what: what.to_string(),
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            }),
        }
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, n: usize, what: &dyn Display) -> Result<(), DecodeError> {
        self.take(n, what).map(|_| ())
    }

    /// Every byte left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        self.pos = self.bytes.len();
        rest
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &dyn Display,
    ) -> Result<[u8; N], DecodeError> {
        let offset = self.pos;
        let slice = self.take(N, what)?;
        <[u8; N]>::try_from(slice).map_err(|_| DecodeError::Truncated {
            what: what.to_string(),
            offset,
            needed: N,
            available: slice.len(),
        })
    }

    /// One unsigned byte.
    pub(crate) fn u8(&mut self, what: &dyn Display) -> Result<u8, DecodeError> {
        self.array::<1>(what).map(|[b]| b)
    }

    /// Unsigned 16 bits, big-endian.
    pub(crate) fn u16_be(&mut self, what: &dyn Display) -> Result<u16, DecodeError> {
        self.array(what).map(u16::from_be_bytes)
    }

    /// Signed 16 bits, big-endian.
    pub(crate) fn i16_be(&mut self, what: &dyn Display) -> Result<i16, DecodeError> {
        self.array(what).map(i16::from_be_bytes)
    }

    /// Unsigned 16 bits, little-endian.
    pub(crate) fn u16_le(&mut self, what: &dyn Display) -> Result<u16, DecodeError> {
        self.array(what).map(u16::from_le_bytes)
    }

    /// Signed 16 bits, little-endian.
    pub(crate) fn i16_le(&mut self, what: &dyn Display) -> Result<i16, DecodeError> {
        self.array(what).map(i16::from_le_bytes)
    }

    /// Unsigned 24 bits, big-endian.
    pub(crate) fn u24_be(&mut self, what: &dyn Display) -> Result<u32, DecodeError> {
        self.array(what)
            .map(|[a, b, c]| u32::from_be_bytes([0, a, b, c]))
    }

    /// Unsigned 32 bits, big-endian.
    pub(crate) fn u32_be(&mut self, what: &dyn Display) -> Result<u32, DecodeError> {
        self.array(what).map(u32::from_be_bytes)
    }

    /// Signed 32 bits, big-endian.
    pub(crate) fn i32_be(&mut self, what: &dyn Display) -> Result<i32, DecodeError> {
        self.array(what).map(i32::from_be_bytes)
    }

    /// Unsigned 32 bits, little-endian.
    pub(crate) fn u32_le(&mut self, what: &dyn Display) -> Result<u32, DecodeError> {
        self.array(what).map(u32::from_le_bytes)
    }
}

/// Fixed-offset access to a frame whose fields sit at known byte offsets. Every read is
/// bounds-checked and reports a [`DecodeError::Truncated`] naming the field.
#[derive(Clone, Copy)]
pub(crate) struct Frame<'a>(pub(crate) &'a [u8]);

impl Frame<'_> {
    /// Length of the frame.
    pub(crate) fn len(self) -> usize {
        self.0.len()
    }

    fn array<const N: usize>(self, at: usize, what: &dyn Display) -> Result<[u8; N], DecodeError> {
        let slice = at.checked_add(N).and_then(|end| self.0.get(at..end));
        slice
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| DecodeError::Truncated {
                what: what.to_string(),
                offset: at,
                needed: N,
                available: self.0.len().saturating_sub(at),
            })
    }

    /// The byte at `at`.
    pub(crate) fn u8(self, at: usize, what: &dyn Display) -> Result<u8, DecodeError> {
        self.array::<1>(at, what).map(|[b]| b)
    }

    /// Unsigned 16 bits big-endian at `at`.
    pub(crate) fn u16_be(self, at: usize, what: &dyn Display) -> Result<u16, DecodeError> {
        self.array(at, what).map(u16::from_be_bytes)
    }

    /// Signed 16 bits big-endian at `at`.
    pub(crate) fn i16_be(self, at: usize, what: &dyn Display) -> Result<i16, DecodeError> {
        self.array(at, what).map(i16::from_be_bytes)
    }

    /// Unsigned 32 bits big-endian at `at`.
    pub(crate) fn u32_be(self, at: usize, what: &dyn Display) -> Result<u32, DecodeError> {
        self.array(at, what).map(u32::from_be_bytes)
    }

    /// Unsigned 32 bits little-endian at `at`.
    pub(crate) fn u32_le(self, at: usize, what: &dyn Display) -> Result<u32, DecodeError> {
        self.array(at, what).map(u32::from_le_bytes)
    }
}

/// Fails with [`DecodeError::Empty`] on an empty payload.
pub(crate) fn non_empty(bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.is_empty() {
        Err(DecodeError::Empty)
    } else {
        Ok(())
    }
}

/// Accepts the LoRaWAN application ports 1 to 223: for devices whose vendor codec does not
/// look at the port, only the MAC-command port 0 and the reserved ports 224 to 255 are wrong.
pub(crate) fn check_app_port(f_port: u8) -> Result<(), DecodeError> {
    if (1..=223).contains(&f_port) {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedFPort {
            f_port,
            expected: "an application port, 1 to 223",
        })
    }
}

/// Accepts only the ports in `allowed`, described by `expected` in the error.
pub(crate) fn check_port(
    f_port: u8,
    allowed: &[u8],
    expected: &'static str,
) -> Result<(), DecodeError> {
    if allowed.contains(&f_port) {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedFPort { f_port, expected })
    }
}

/// A JSON number written the way JavaScript's `JSON.stringify` writes it: integral values
/// without a fraction (`20`, not `20.0`), `-0` as `0`; a non-finite value as `null`.
pub(crate) fn js_number(v: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: integers beyond are not all exact
    if v.is_finite() && v.fract() == 0.0 && v.abs() < EXACT {
        // Exact: |v| < 2^53 and integral.
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

/// `10^exp` exactly as JavaScript's `Math.pow(10, exp)` gives it in the V8 engine that runs
/// the network servers' codecs. It equals the decimal literal `1e{exp}` except for -4 and -5,
/// where V8 returns the double just below; the vendors' scaled values depend on it.
pub(crate) fn js_pow10(exp: i32) -> f64 {
    const NEGATIVE: [f64; 17] = [
        1.0,
        1e-1,
        1e-2,
        1e-3,
        // V8: Math.pow(10, -4) === 0.00009999999999999999
        f64::from_bits(0x3f1a_36e2_eb1c_432c),
        // V8: Math.pow(10, -5) === 0.000009999999999999999
        f64::from_bits(0x3ee4_f8b5_88e3_68f0),
        1e-6,
        1e-7,
        1e-8,
        1e-9,
        1e-10,
        1e-11,
        1e-12,
        1e-13,
        1e-14,
        1e-15,
        1e-16,
    ];
    if exp >= 0 {
        // Powers of ten up to 10^22 are exact doubles, as V8 returns them.
        10f64.powi(exp)
    } else {
        let index = usize::try_from(exp.unsigned_abs()).unwrap_or(usize::MAX);
        NEGATIVE
            .get(index)
            .copied()
            .unwrap_or_else(|| 10f64.powi(exp))
    }
}

/// JavaScript's `Number.prototype.toFixed(digits)` for `|v| < 1e21`: the decimal with
/// `digits` decimals closest to `v`, ties rounded away from zero (Rust's formatting rounds
/// exact ties to even), and a `-` sign for any negative `v`, even when the result is zero.
pub(crate) fn js_to_fixed(v: f64, digits: usize) -> String {
    let magnitude = v.abs();
    let mut text = if is_exact_tie(magnitude, digits) {
        // The exact decimal expansion ends with a 5 right after the last kept decimal.
        let exact = format!("{magnitude:.*}", digits + 1);
        let kept = exact.strip_suffix('5').unwrap_or(&exact);
        increment_last_digit(kept.strip_suffix('.').unwrap_or(kept))
    } else {
        format!("{magnitude:.digits$}")
    };
    if v < 0.0 {
        text.insert(0, '-');
    }
    text
}

/// Whether `x * 10^digits` is exactly halfway between two integers, that is, whether
/// `x * 2 * 10^digits` is an odd integer. With `x = m * 2^e` (m odd) that product is
/// `m * 5^digits * 2^(e + digits + 1)`, odd exactly when `e = -(digits + 1)`.
fn is_exact_tie(x: f64, digits: usize) -> bool {
    if !x.is_finite() || x == 0.0 {
        return false;
    }
    let bits = x.to_bits();
    let biased = i64::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let fraction = bits & ((1u64 << 52) - 1);
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    if mantissa == 0 {
        return false;
    }
    let exponent = exponent + i64::from(mantissa.trailing_zeros());
    i64::try_from(digits).is_ok_and(|d| exponent == -(d + 1))
}

/// Adds one unit in the last place to a non-negative decimal string (`"0.0078"` to `"0.0079"`,
/// `"9.99"` to `"10.00"`).
fn increment_last_digit(decimal: &str) -> String {
    let mut digits: Vec<u8> = decimal.bytes().collect();
    let mut carry = true;
    for d in digits.iter_mut().rev() {
        if !carry {
            break;
        }
        match *d {
            b'0'..=b'8' => {
                *d += 1;
                carry = false;
            }
            b'9' => *d = b'0',
            _ => {}
        }
    }
    let mut out = String::with_capacity(digits.len() + 1);
    if carry {
        out.push('1');
    }
    out.extend(digits.into_iter().map(char::from));
    out
}

/// Formats a Unix time (seconds) as JavaScript's `new Date(s * 1000).toJSON()` without its
/// final `Z`, as the Adeunis codecs do: `2023-12-28T19:22:17.000`, UTC.
pub(crate) fn js_date_json_without_z(unix_seconds: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(unix_seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_fixed_rounds_ties_away_from_zero_like_javascript() {
        // Values checked against node: (x).toFixed(6).
        assert_eq!(js_to_fixed(1.0 / 128.0, 6), "0.007813");
        assert_eq!(js_to_fixed(-1.0 / 128.0, 6), "-0.007813");
        assert_eq!(js_to_fixed(2.5, 0), "3");
        assert_eq!(js_to_fixed(0.5, 0), "1");
        assert_eq!(js_to_fixed(9.9999995, 6), "9.999999"); // not a tie in binary
        assert_eq!(js_to_fixed(1.005, 2), "1.00");
        assert_eq!(js_to_fixed(-1e-9, 6), "-0.000000");
        assert_eq!(js_to_fixed(-0.0, 6), "0.000000");
        assert_eq!(js_to_fixed(116.507_430_1, 6), "116.507430");
        assert_eq!(increment_last_digit("9.99"), "10.00");
    }

    #[test]
    fn pow10_matches_v8() {
        assert_eq!(js_pow10(-3), 0.001);
        assert_ne!(js_pow10(-4), 1e-4);
        assert_eq!(js_pow10(-4).to_string(), "0.00009999999999999999");
        assert_eq!(js_pow10(3), 1000.0);
        assert_eq!(25_041_529.0 * js_pow10(-3), 25_041.529_000_000_002);
    }

    #[test]
    fn numbers_are_written_like_javascript() {
        assert_eq!(js_number(20.0).to_string(), "20");
        assert_eq!(js_number(-0.0).to_string(), "0");
        assert_eq!(js_number(22.6).to_string(), "22.6");
        assert_eq!(js_number(f64::NAN), Value::Null);
    }
}

//! The compact encoding of one chunk of a numeric time series (up to a few hundred
//! instances), shared by every engine: SQLite stores it as a BLOB, PostgreSQL will as bytea.
//!
//! A chunk holds [`Point`]s in time order. It is laid out as separate streams, each made for
//! what it holds, so that a regular series costs a few bytes per instance:
//!
//! ```text
//! version u8 = 1 | count varint | value scale u8 | created mode u8 | observed flags u8
//! times:    zigzag varint of the first time (µs), then of the first delta, then of each
//!           delta-of-delta (a regular series: one byte of 0 per instance)
//! values:   scale 0..=MAX_SCALE: the values times 10^scale as integers, the first as a zigzag
//!           varint, then the zigzag varint of each difference (21.3, 21.4 → 1 byte each);
//!           scale RAW_VALUES: the IEEE 754 bits, 8 bytes little-endian each
//! created:  per instance, the zigzag varint of the difference with the previous one of
//!           either the time of receipt itself (mode 0, bulk imports: all equal) or its lag
//!           behind the time of the instance (mode 1, live readings), whichever is shorter
//! observed: when the flags byte is 2, one bit per instance (whether the instance had an
//!           `observedAt`); 0 and 1 say none or all had one
//! ```
//!
//! Decimal scaling is used only when it gives back every value bit for bit (checked with the
//! decoder's own arithmetic), otherwise the raw bits are kept: so any `f64`, NaN (with its
//! payload), infinities and -0.0 included, round-trips exactly. JSON has no NaN nor
//! infinities, so the stores never meet them, but the codec does not depend on that.
//! Differences use wrapping arithmetic, so any `i64` times and values round-trip too.

use std::fmt;

/// Highest power of ten used to turn decimals into integers.
pub const MAX_SCALE: u8 = 9;
/// The scale byte of a chunk whose values are kept as raw IEEE 754 bits.
pub const RAW_VALUES: u8 = 0xFF;
const VERSION: u8 = 1;
/// Scaled values must stay within the integers an `f64` represents exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// One numeric instance of a series.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    /// The time of the instance (its `observedAt`, else when it was received), in
    /// microseconds since the Unix epoch.
    pub time: i64,
    /// The value.
    pub value: f64,
    /// When the broker received it (`createdAt`), in microseconds since the Unix epoch.
    pub created: i64,
    /// Whether the instance had an `observedAt` (otherwise `time` is the time of receipt).
    pub observed: bool,
}

impl Point {
    /// Whether two points are the same instance: same time and same value, bit for bit.
    pub fn same_instance(&self, other: &Point) -> bool {
        self.time == other.time && self.value.to_bits() == other.value.to_bits()
    }
}

impl PartialEq for Point {
    /// Bitwise on the value, so NaN equals itself and -0.0 differs from 0.0.
    fn eq(&self, other: &Self) -> bool {
        self.same_instance(other)
            && self.created == other.created
            && self.observed == other.observed
    }
}

/// Why a chunk could not be decoded: the stored bytes are damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "damaged series chunk: {}", self.0)
    }
}

impl std::error::Error for CodecError {}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // 7 bits per byte, at least one byte.
    ((64 - v.leading_zeros() as usize).max(1)).div_ceil(7)
}

/// A cursor over the bytes of a chunk.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| CodecError(format!("truncated at byte {}", self.pos)))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(CodecError(format!("varint too long at byte {}", self.pos)));
            }
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError(format!("varint too long at byte {}", self.pos)))
    }

    fn signed(&mut self) -> Result<i64, CodecError> {
        self.varint().map(unzigzag)
    }
}

/// The smallest scale at which every value is an integer that decodes back bit for bit,
/// or [`RAW_VALUES`].
fn value_scale(points: &[Point]) -> u8 {
    let mut scale = 0u8;
    'values: for p in points {
        while scale <= MAX_SCALE {
            if scaled(p.value, scale).is_some() {
                continue 'values;
            }
            scale += 1;
        }
        return RAW_VALUES;
    }
    scale
}

/// `value × 10^scale` as an integer, if that decodes back to exactly `value`.
fn scaled(value: f64, scale: u8) -> Option<i64> {
    let factor = 10f64.powi(i32::from(scale));
    let n = (value * factor).round();
    if !n.is_finite() || n.abs() >= MAX_EXACT {
        return None;
    }
    // |n| < 2^53: the cast is exact.
    let n = n as i64;
    (unscale(n, scale).to_bits() == value.to_bits()).then_some(n)
}

fn unscale(n: i64, scale: u8) -> f64 {
    if scale == 0 {
        n as f64
    } else {
        n as f64 / 10f64.powi(i32::from(scale))
    }
}

/// The created-at stream of one mode: the values whose differences are stored.
fn created_base(p: &Point, mode: u8) -> i64 {
    if mode == 0 {
        p.created
    } else {
        p.created.wrapping_sub(p.time)
    }
}

fn created_stream_len(points: &[Point], mode: u8) -> usize {
    let mut prev = 0i64;
    points
        .iter()
        .map(|p| {
            let x = created_base(p, mode);
            let len = varint_len(zigzag(x.wrapping_sub(prev)));
            prev = x;
            len
        })
        .sum()
}

/// Encodes points, which must be in time order (equal times allowed, in any value order).
pub fn encode(points: &[Point]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + points.len() * 4);
    out.push(VERSION);
    put_varint(&mut out, points.len() as u64);
    let scale = value_scale(points);
    out.push(scale);
    let mode = u8::from(created_stream_len(points, 1) < created_stream_len(points, 0));
    out.push(mode);
    let observed = points.iter().filter(|p| p.observed).count();
    let flags = if observed == 0 {
        0
    } else if observed == points.len() {
        1
    } else {
        2
    };
    out.push(flags);

    let (mut prev_time, mut prev_delta) = (0i64, 0i64);
    for (i, p) in points.iter().enumerate() {
        let v = match i {
            0 => p.time,
            1 => {
                prev_delta = p.time.wrapping_sub(prev_time);
                prev_delta
            }
            _ => {
                let delta = p.time.wrapping_sub(prev_time);
                let dod = delta.wrapping_sub(prev_delta);
                prev_delta = delta;
                dod
            }
        };
        prev_time = p.time;
        put_varint(&mut out, zigzag(v));
    }

    if scale == RAW_VALUES {
        for p in points {
            out.extend_from_slice(&p.value.to_bits().to_le_bytes());
        }
    } else {
        let mut prev = 0i64;
        for p in points {
            // The scale was chosen so that every value has an exact scaled integer.
            let n = scaled(p.value, scale).unwrap_or(0);
            put_varint(&mut out, zigzag(n.wrapping_sub(prev)));
            prev = n;
        }
    }

    let mut prev = 0i64;
    for p in points {
        let x = created_base(p, mode);
        put_varint(&mut out, zigzag(x.wrapping_sub(prev)));
        prev = x;
    }

    if flags == 2 {
        for group in points.chunks(8) {
            let mut b = 0u8;
            for (bit, p) in group.iter().enumerate() {
                if p.observed {
                    b |= 1 << bit;
                }
            }
            out.push(b);
        }
    }
    out
}

/// Decodes a chunk made by [`encode`].
pub fn decode(data: &[u8]) -> Result<Vec<Point>, CodecError> {
    let mut r = Reader { data, pos: 0 };
    let version = r.byte()?;
    if version != VERSION {
        return Err(CodecError(format!(
            "unknown chunk version {version}; this build reads version {VERSION}"
        )));
    }
    let count = r.varint()?;
    // Every instance takes at least 3 bytes: a count beyond that is damage, not a big chunk.
    if count > data.len() as u64 {
        return Err(CodecError(format!(
            "{count} instances announced in {} bytes",
            data.len()
        )));
    }
    let count = count as usize;
    let scale = r.byte()?;
    if scale > MAX_SCALE && scale != RAW_VALUES {
        return Err(CodecError(format!("unknown value scale {scale}")));
    }
    let mode = r.byte()?;
    if mode > 1 {
        return Err(CodecError(format!("unknown created-at mode {mode}")));
    }
    let flags = r.byte()?;
    if flags > 2 {
        return Err(CodecError(format!("unknown observed flags {flags}")));
    }

    let mut points = Vec::with_capacity(count);
    let (mut time, mut delta) = (0i64, 0i64);
    for i in 0..count {
        let v = r.signed()?;
        match i {
            0 => time = v,
            1 => {
                delta = v;
                time = time.wrapping_add(delta);
            }
            _ => {
                delta = delta.wrapping_add(v);
                time = time.wrapping_add(delta);
            }
        }
        points.push(Point {
            time,
            value: 0.0,
            created: 0,
            observed: flags == 1,
        });
    }

    if scale == RAW_VALUES {
        for p in &mut points {
            let mut bytes = [0u8; 8];
            for b in &mut bytes {
                *b = r.byte()?;
            }
            p.value = f64::from_bits(u64::from_le_bytes(bytes));
        }
    } else {
        let mut n = 0i64;
        for p in &mut points {
            n = n.wrapping_add(r.signed()?);
            p.value = unscale(n, scale);
        }
    }

    let mut x = 0i64;
    for p in &mut points {
        x = x.wrapping_add(r.signed()?);
        p.created = if mode == 0 { x } else { x.wrapping_add(p.time) };
    }

    if flags == 2 {
        for group in points.chunks_mut(8) {
            let b = r.byte()?;
            for (bit, p) in group.iter_mut().enumerate() {
                p.observed = b & (1 << bit) != 0;
            }
        }
    }
    if r.pos != data.len() {
        return Err(CodecError(format!(
            "{} bytes left after {count} instances",
            data.len() - r.pos
        )));
    }
    Ok(points)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pt(time: i64, value: f64, created: i64, observed: bool) -> Point {
        Point {
            time,
            value,
            created,
            observed,
        }
    }

    fn same(a: &[Point], b: &[Point]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x, y, "{x:?} vs {y:?}");
        }
    }

    #[test]
    fn regular_series_is_small() {
        let t0 = 1_700_000_000_000_000i64;
        let points: Vec<Point> = (0..256)
            .map(|i| pt(t0 + i * 600_000_000, 20.0 + (i % 7) as f64 / 10.0, t0, true))
            .collect();
        let data = encode(&points);
        same(&decode(&data).unwrap(), &points);
        assert!(data.len() <= 256 * 4, "{} bytes", data.len());
    }

    #[test]
    fn live_readings_use_the_lag() {
        let t0 = 1_700_000_000_000_000i64;
        let points: Vec<Point> = (0..100)
            .map(|i| pt(t0 + i * 60_000_000, i as f64, t0 + i * 60_000_000, false))
            .collect();
        let data = encode(&points);
        same(&decode(&data).unwrap(), &points);
        assert!(data.len() < 100 * 4);
    }

    #[test]
    fn special_values_and_equal_times() {
        let points = vec![
            pt(-5, f64::NAN, 0, true),
            pt(-5, f64::INFINITY, i64::MAX, false),
            pt(-5, f64::NEG_INFINITY, i64::MIN, true),
            pt(i64::MAX, -0.0, 3, false),
            pt(i64::MAX, 1e300, 3, false),
        ];
        let data = encode(&points);
        same(&decode(&data).unwrap(), &points);
    }

    #[test]
    fn empty_and_damaged() {
        assert!(decode(&encode(&[])).unwrap().is_empty());
        let data = encode(&[pt(1, 2.5, 3, true), pt(2, 2.25, 3, true)]);
        for cut in 0..data.len() {
            assert!(decode(&data[..cut]).is_err());
        }
        let mut longer = data.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    fn any_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            (-1_000_000i64..1_000_000).prop_map(|n| n as f64 / 100.0),
            (-1000i64..1000).prop_map(|n| n as f64),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(1e18),
            Just(-9.007_199_254_740_993e15),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(mut raw in prop::collection::vec(
            (any::<i64>(), any_value(), any::<i64>(), any::<bool>()), 0..300)) {
            raw.sort_by_key(|r| r.0);
            let points: Vec<Point> = raw.into_iter().map(|(t, v, c, o)| pt(t, v, c, o)).collect();
            let decoded = decode(&encode(&points)).unwrap();
            prop_assert_eq!(decoded, points);
        }

        #[test]
        fn round_trip_near_regular(start in -1_000_000_000_000_000i64..4_000_000_000_000_000,
                                   steps in prop::collection::vec((0i64..3, any_value()), 0..300)) {
            let mut t = start;
            let points: Vec<Point> = steps.into_iter().map(|(s, v)| {
                t += s * 1_000_000;
                pt(t, v, start, s != 1)
            }).collect();
            let decoded = decode(&encode(&points)).unwrap();
            prop_assert_eq!(decoded, points);
        }
    }
}

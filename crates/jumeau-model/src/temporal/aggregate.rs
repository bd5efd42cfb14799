//! The NGSI-LD aggregation methods (ETSI GS CIM 009 §4.5.19) and a mergeable accumulator.
//!
//! An [`Accumulator`] takes the values of one attribute in one aggregation period, one by one,
//! and gives the result of every method. Two accumulators [`merge`](Accumulator::merge)
//! into the one of the union of their values, so hourly rollups combine into daily ones
//! without going back to the raw instances: the state kept is the count, a compensated sum
//! and sum of squares, the minimum and maximum, and the mean and sum of squared deviations
//! of Welford's algorithm, merged with Chan et al.'s parallel formula. The mean is kept
//! relative to the first value seen (a shift), so values that are large and close together
//! (a meter index near 10⁹ moving by units) lose no digits, unlike `sumsq / n - mean²`.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use crate::{ErrorKind, NgsiError, Result};

/// An NGSI-LD aggregation method, the `aggrMethods` of a temporal query (§4.5.19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AggrMethod {
    /// `totalCount`: the number of values in the period, of any type.
    TotalCount,
    /// `distinctCount`: the number of distinct values in the period, of any type.
    DistinctCount,
    /// `sum`: the sum of the numeric values.
    Sum,
    /// `avg`: the arithmetic mean of the numeric values.
    Avg,
    /// `min`: the smallest numeric value.
    Min,
    /// `max`: the largest numeric value.
    Max,
    /// `stddev`: the standard deviation of the numeric values, as a population (see
    /// [`Accumulator::stddev`]).
    StdDev,
    /// `sumsq`: the sum of the squares of the numeric values.
    SumSq,
}

impl AggrMethod {
    /// Every method, in the order NGSI-LD lists them.
    pub const ALL: [AggrMethod; 8] = [
        Self::TotalCount,
        Self::DistinctCount,
        Self::Sum,
        Self::Avg,
        Self::Min,
        Self::Max,
        Self::StdDev,
        Self::SumSq,
    ];

    /// The NGSI-LD name, as written in `aggrMethods` and in the aggregated representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TotalCount => "totalCount",
            Self::DistinctCount => "distinctCount",
            Self::Sum => "sum",
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
            Self::StdDev => "stddev",
            Self::SumSq => "sumsq",
        }
    }

    /// Parses one NGSI-LD method name (case-sensitive, as the specification writes them);
    /// an unknown name is a [`ErrorKind::BadRequestData`] error naming it and the valid ones.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == name)
            .ok_or_else(|| {
                NgsiError::bad_data(format!(
                    "'{name}' is not an NGSI-LD aggregation method: use totalCount, \
                     distinctCount, sum, avg, min, max, stddev or sumsq"
                ))
            })
    }

    /// Whether the method needs numbers (all but `totalCount` and `distinctCount`).
    pub fn is_numeric(self) -> bool {
        !matches!(self, Self::TotalCount | Self::DistinctCount)
    }
}

impl fmt::Display for AggrMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AggrMethod {
    type Err = NgsiError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// The result of one aggregation method over one period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggrValue {
    /// A count (`totalCount`, `distinctCount`).
    Count(u64),
    /// A number (`sum`, `avg`, `min`, `max`, `stddev`, `sumsq`).
    Number(f64),
}

impl AggrValue {
    /// The JSON value written in the aggregated temporal representation (§4.5.19): counts as
    /// integers, whole numbers as integers (`3`, not `3.0`), others as decimals; a number
    /// that overflowed to infinity becomes `null`, which JSON has instead.
    pub fn to_json(self) -> Value {
        match self {
            Self::Count(n) => Value::from(n),
            Self::Number(x) => {
                if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 {
                    // Exactly representable, so the cast loses nothing.
                    Value::from(x as i64)
                } else {
                    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
                }
            }
        }
    }
}

/// The default bound on the distinct values an accumulator remembers for `distinctCount`.
pub const DEFAULT_DISTINCT_LIMIT: usize = 10_000;
/// The bound on the total size, in bytes of canonical JSON, of the distinct values an
/// accumulator remembers.
pub const DISTINCT_BYTES_LIMIT: usize = 4 * 1024 * 1024;

/// The distinct values seen, in canonical JSON text, up to a bound.
#[derive(Debug, Clone, PartialEq)]
struct Distinct {
    values: BTreeSet<String>,
    bytes: usize,
    limit: usize,
    overflow: bool,
}

impl Distinct {
    fn insert(&mut self, canonical: String) {
        if self.overflow || self.values.contains(&canonical) {
            return;
        }
        if self.values.len() >= self.limit || self.bytes + canonical.len() > DISTINCT_BYTES_LIMIT {
            // Past the bound the count would be wrong: remember that rather than the value.
            self.overflow = true;
            self.values.clear();
            self.bytes = 0;
            return;
        }
        self.bytes += canonical.len();
        self.values.insert(canonical);
    }
}

/// A Neumaier-compensated sum: exact to within a couple of rounding errors whatever the
/// order and grouping of the additions, so merged rollups agree with one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn merge(&mut self, other: &CompensatedSum) {
        self.add(other.sum);
        self.add(other.compensation);
    }

    fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// What an accumulator knows of the non-numeric values it was given, for the error message.
#[derive(Debug, Clone, PartialEq)]
struct NonNumeric {
    count: u64,
    /// The first one seen, shortened.
    sample: String,
    text: bool,
}

/// The running state of every NGSI-LD aggregation method over one attribute in one period
/// (§4.5.19); mergeable, so rollups over short periods combine into longer ones: exactly for
/// the counts, minimum and maximum, to within rounding (1e-9 relative, tested) for the sums,
/// mean and standard deviation.
///
/// Any JSON value can be added: all count for `totalCount` and `distinctCount`, numbers feed
/// the numeric methods. A non-numeric value (text, boolean, object, array, null) is remembered,
/// and asking a numeric method of an accumulator that holds one is an error
/// ([`ErrorKind::BadRequestData`], "aggregation of text values"): the values are not silently
/// dropped, and `totalCount` and `distinctCount` still work.
///
/// `distinctCount` keeps the distinct values (as canonical JSON: object members sorted,
/// `1` and `1.0` equal) up to a bound, [`DEFAULT_DISTINCT_LIMIT`] values and
/// [`DISTINCT_BYTES_LIMIT`] bytes by default; past it, the count is unknown and asking
/// for it is a [`ErrorKind::TooComplexQuery`] error advising a shorter period. An
/// accumulator made by [`Accumulator::for_methods`] without `distinctCount` keeps nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Accumulator {
    /// Every value, numeric or not.
    count: u64,
    /// The numeric values only.
    numbers: u64,
    sum: CompensatedSum,
    sum_squares: CompensatedSum,
    min: f64,
    max: f64,
    /// The first number seen: `mean` is relative to it, to keep digits of large values.
    shift: f64,
    /// Welford's running mean of the numbers minus `shift`.
    mean: f64,
    /// Welford's running sum of squared deviations from the mean.
    m2: f64,
    non_numeric: Option<NonNumeric>,
    distinct: Option<Distinct>,
}

impl Default for Accumulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Accumulator {
    /// An empty accumulator for every method, remembering up to
    /// [`DEFAULT_DISTINCT_LIMIT`] distinct values.
    pub fn new() -> Self {
        Self::with_distinct_limit(DEFAULT_DISTINCT_LIMIT)
    }

    /// An empty accumulator for every method with another bound on the distinct values
    /// remembered for `distinctCount`.
    pub fn with_distinct_limit(limit: usize) -> Self {
        Self {
            count: 0,
            numbers: 0,
            sum: CompensatedSum::default(),
            sum_squares: CompensatedSum::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            shift: 0.0,
            mean: 0.0,
            m2: 0.0,
            non_numeric: None,
            distinct: Some(Distinct {
                values: BTreeSet::new(),
                bytes: 0,
                limit,
                overflow: false,
            }),
        }
    }

    /// An empty accumulator for the methods a query asks: it remembers distinct values only
    /// when `distinctCount` is among them, saving the memory otherwise.
    pub fn for_methods(methods: &[AggrMethod]) -> Self {
        let mut acc = Self::new();
        if !methods.contains(&AggrMethod::DistinctCount) {
            acc.distinct = None;
        }
        acc
    }

    /// The accumulator of `count` numbers known only by their summary (sum, sum of squares,
    /// minimum, maximum), as a rollup stores them; merge it with others like any accumulator.
    /// `count` 0 gives an empty accumulator. It remembers no distinct values
    /// (`distinctCount` of it is an error: rollups cannot answer it, raw instances must).
    ///
    /// The mean and the sum of squared deviations are derived as `sum / count` and
    /// `sumsq - sum² / count`: exact for the counts, sums, minimum and maximum, but the
    /// standard deviation loses digits when the values are large and close together
    /// (a meter index near 10⁹ moving by units), where an accumulator fed value by value
    /// keeps them.
    pub fn from_summary(count: u64, sum: f64, sumsq: f64, min: f64, max: f64) -> Self {
        let mut acc = Self::new();
        acc.distinct = None;
        if count == 0 {
            return acc;
        }
        let n = count as f64;
        let mean = sum / n;
        acc.count = count;
        acc.numbers = count;
        acc.sum.add(sum);
        acc.sum_squares.add(sumsq);
        acc.min = min;
        acc.max = max;
        acc.shift = mean;
        acc.mean = 0.0;
        acc.m2 = (sumsq - sum * mean).max(0.0);
        acc
    }

    /// Adds one value of the attribute.
    pub fn add(&mut self, value: &Value) {
        self.count += 1;
        if let Some(d) = &mut self.distinct {
            d.insert(canonical(value));
        }
        match value.as_f64() {
            Some(x) if value.is_number() => self.add_number(x),
            _ => {
                let nn = self.non_numeric.get_or_insert_with(|| NonNumeric {
                    count: 0,
                    sample: sample(value),
                    text: value.is_string(),
                });
                nn.count += 1;
            }
        }
    }

    /// Merges the accumulator of other values into this one: the result is the accumulator
    /// of both sets of values (Chan et al.'s parallel update for the variance). The distinct
    /// values are kept only if both sides keep them, under the tighter bound.
    pub fn merge(&mut self, other: &Accumulator) {
        self.count += other.count;
        match (&mut self.distinct, &other.distinct) {
            (Some(mine), Some(theirs)) => {
                mine.limit = mine.limit.min(theirs.limit);
                if theirs.overflow {
                    mine.overflow = true;
                    mine.values.clear();
                    mine.bytes = 0;
                } else {
                    for v in &theirs.values {
                        mine.insert(v.clone());
                    }
                }
            }
            (mine, _) => *mine = None,
        }
        if let Some(theirs) = &other.non_numeric {
            match &mut self.non_numeric {
                Some(mine) => mine.count += theirs.count,
                None => self.non_numeric = Some(theirs.clone()),
            }
        }
        if other.numbers == 0 {
            return;
        }
        if self.numbers == 0 {
            self.numbers = other.numbers;
            self.sum = other.sum;
            self.sum_squares = other.sum_squares;
            self.min = other.min;
            self.max = other.max;
            self.shift = other.shift;
            self.mean = other.mean;
            self.m2 = other.m2;
            return;
        }
        let (na, nb) = (self.numbers as f64, other.numbers as f64);
        let n = na + nb;
        // The other mean, moved to this accumulator's shift.
        let other_mean = other.mean + (other.shift - self.shift);
        let delta = other_mean - self.mean;
        self.mean += delta * (nb / n);
        self.m2 += other.m2 + delta * delta * (na * nb / n);
        self.numbers += other.numbers;
        self.sum.merge(&other.sum);
        self.sum_squares.merge(&other.sum_squares);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The number of values added, of any type (`totalCount`).
    pub fn total_count(&self) -> u64 {
        self.count
    }

    /// The number of numeric values added.
    pub fn numeric_count(&self) -> u64 {
        self.numbers
    }

    /// The number of non-numeric values added.
    pub fn non_numeric_count(&self) -> u64 {
        self.non_numeric.as_ref().map_or(0, |n| n.count)
    }

    /// The population standard deviation of the numbers, `sqrt(Σ(x - mean)² / n)`: 0 for a
    /// single value, `None` for none.
    ///
    /// NGSI-LD §4.5.19 names `stddev` "standard deviation" without saying population or
    /// sample. The values of a period are all the instances recorded in it, a whole
    /// population rather than a sample of one, and the population form is defined for a
    /// single value; so `stddev` gives this one. Stellio computes PostgreSQL's `stddev_samp`
    /// instead; [`Accumulator::sample_stddev`] gives that one for comparison.
    pub fn stddev(&self) -> Option<f64> {
        (self.numbers > 0).then(|| (self.m2.max(0.0) / self.numbers as f64).sqrt())
    }

    /// The sample standard deviation of the numbers, `sqrt(Σ(x - mean)² / (n - 1))`; `None`
    /// for fewer than two values (as SQL's `stddev_samp`).
    pub fn sample_stddev(&self) -> Option<f64> {
        (self.numbers > 1).then(|| (self.m2.max(0.0) / (self.numbers - 1) as f64).sqrt())
    }

    /// The result of `method` over the values added.
    ///
    /// `Ok(None)` when a numeric method has no value to work on (an empty period): the
    /// aggregated representation leaves such a period out or writes no value. Errors:
    /// a numeric method over non-numeric values ([`ErrorKind::BadRequestData`]); a
    /// `distinctCount` past the bound ([`ErrorKind::TooComplexQuery`]) or of an accumulator
    /// made without it ([`ErrorKind::InternalError`]).
    pub fn result(&self, method: AggrMethod) -> Result<Option<AggrValue>> {
        if method.is_numeric() {
            if let Some(nn) = &self.non_numeric {
                let what = if nn.text {
                    "aggregation of text values"
                } else {
                    "aggregation of non-numeric values"
                };
                return Err(NgsiError::bad_data(format!(
                    "{what}: '{method}' needs numbers, but the attribute has {} non-numeric \
                     value(s) in the period, such as {}; ask only totalCount or distinctCount \
                     of it, or aggregate a numeric attribute",
                    nn.count, nn.sample
                )));
            }
            if self.numbers == 0 {
                return Ok(None);
            }
        }
        let value = match method {
            AggrMethod::TotalCount => AggrValue::Count(self.count),
            AggrMethod::DistinctCount => match &self.distinct {
                None => {
                    return Err(NgsiError::internal(
                        "distinctCount asked of an accumulator made without it: build it \
                         with Accumulator::for_methods including distinctCount",
                    ))
                }
                Some(d) if d.overflow => {
                    return Err(NgsiError::new(
                        ErrorKind::TooComplexQuery,
                        format!(
                            "distinctCount: a period holds more than {} distinct values (or \
                             {DISTINCT_BYTES_LIMIT} bytes of them), more than the broker \
                             counts; give a shorter aggrPeriodDuration (e.g. PT1H instead of \
                             P1D) or a narrower time range",
                            d.limit
                        ),
                    ))
                }
                Some(d) => AggrValue::Count(d.values.len() as u64),
            },
            AggrMethod::Sum => AggrValue::Number(self.sum.value()),
            AggrMethod::Avg => AggrValue::Number(self.sum.value() / self.numbers as f64),
            AggrMethod::Min => AggrValue::Number(self.min),
            AggrMethod::Max => AggrValue::Number(self.max),
            AggrMethod::StdDev => match self.stddev() {
                Some(s) => AggrValue::Number(s),
                None => return Ok(None),
            },
            AggrMethod::SumSq => AggrValue::Number(self.sum_squares.value()),
        };
        Ok(Some(value))
    }

    fn add_number(&mut self, x: f64) {
        if self.numbers == 0 {
            self.shift = x;
        }
        let x_shifted = x - self.shift;
        self.numbers += 1;
        self.sum.add(x);
        self.sum_squares.add(x * x);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        let delta = x_shifted - self.mean;
        self.mean += delta / self.numbers as f64;
        self.m2 += delta * (x_shifted - self.mean);
    }
}

/// A short rendering of a value for an error message.
fn sample(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 40 {
        text
    } else {
        let short: String = text.chars().take(40).collect();
        format!("{short}…")
    }
}

/// Canonical JSON text for distinctness: object members sorted by name, numbers equal when
/// their values are (`1`, `1.0` and `1e0` are one value).
fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 {
                    // A whole number written as a decimal: the same value as the integer.
                    out.push_str(&(x as i64).to_string());
                } else {
                    out.push_str(&format!("{x:?}"));
                }
            }
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (name, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(values: &[Value]) -> Accumulator {
        let mut acc = Accumulator::new();
        for v in values {
            acc.add(v);
        }
        acc
    }

    fn number(acc: &Accumulator, m: AggrMethod) -> f64 {
        match acc.result(m).expect("result").expect("value") {
            AggrValue::Number(x) => x,
            AggrValue::Count(n) => n as f64,
        }
    }

    fn count(acc: &Accumulator, m: AggrMethod) -> u64 {
        let v = acc.result(m).expect("result").expect("value");
        assert!(
            matches!(v, AggrValue::Count(_)),
            "{m}: expected a count, got {v:?}"
        );
        match v {
            AggrValue::Count(n) => n,
            AggrValue::Number(_) => 0,
        }
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        let scale = a.abs().max(b.abs()).max(1e-300);
        (a - b).abs() <= rel * scale || (a - b).abs() < 1e-12
    }

    #[test]
    fn method_names() {
        for m in AggrMethod::ALL {
            assert_eq!(AggrMethod::parse(m.as_str()).expect("name"), m);
            assert_eq!(m.to_string().parse::<AggrMethod>().expect("name"), m);
        }
        for bad in ["", "average", "Sum", "SUM", "stdDev", "total_count", " sum"] {
            let e = AggrMethod::parse(bad).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::BadRequestData);
            assert!(e.detail.contains(&format!("'{bad}'")), "{}", e.detail);
            assert!(e.detail.contains("totalCount"));
        }
        assert!(!AggrMethod::TotalCount.is_numeric());
        assert!(!AggrMethod::DistinctCount.is_numeric());
        assert!(AggrMethod::StdDev.is_numeric());
    }

    #[test]
    fn every_method_on_numbers() {
        let acc = of(&[
            json!(2),
            json!(4),
            json!(4),
            json!(4),
            json!(5),
            json!(5),
            json!(7),
            json!(9),
        ]);
        assert_eq!(count(&acc, AggrMethod::TotalCount), 8);
        assert_eq!(count(&acc, AggrMethod::DistinctCount), 5);
        assert_eq!(number(&acc, AggrMethod::Sum), 40.0);
        assert_eq!(number(&acc, AggrMethod::Avg), 5.0);
        assert_eq!(number(&acc, AggrMethod::Min), 2.0);
        assert_eq!(number(&acc, AggrMethod::Max), 9.0);
        // The classic example: population standard deviation 2.
        assert_eq!(number(&acc, AggrMethod::StdDev), 2.0);
        assert!(close(
            acc.sample_stddev().expect("two or more"),
            (32.0f64 / 7.0).sqrt(),
            1e-12
        ));
        assert_eq!(number(&acc, AggrMethod::SumSq), 232.0);
        assert_eq!(acc.numeric_count(), 8);
        assert_eq!(acc.non_numeric_count(), 0);
    }

    #[test]
    fn single_and_no_value() {
        let one = of(&[json!(3.5)]);
        assert_eq!(number(&one, AggrMethod::StdDev), 0.0);
        assert_eq!(one.sample_stddev(), None);
        assert_eq!(number(&one, AggrMethod::Avg), 3.5);
        let none = Accumulator::new();
        assert_eq!(count(&none, AggrMethod::TotalCount), 0);
        assert_eq!(count(&none, AggrMethod::DistinctCount), 0);
        for m in AggrMethod::ALL.into_iter().filter(|m| m.is_numeric()) {
            assert_eq!(none.result(m).expect("empty"), None, "{m}");
        }
    }

    #[test]
    fn text_values_count_but_do_not_add_up() {
        let acc = of(&[json!("on"), json!("off"), json!("on"), json!(1)]);
        assert_eq!(count(&acc, AggrMethod::TotalCount), 4);
        assert_eq!(count(&acc, AggrMethod::DistinctCount), 3);
        assert_eq!(acc.non_numeric_count(), 3);
        for m in [
            AggrMethod::Sum,
            AggrMethod::Avg,
            AggrMethod::Min,
            AggrMethod::Max,
            AggrMethod::StdDev,
            AggrMethod::SumSq,
        ] {
            let e = acc.result(m).expect_err("text");
            assert_eq!(e.kind, ErrorKind::BadRequestData);
            assert!(
                e.detail.contains("aggregation of text values"),
                "{}",
                e.detail
            );
            assert!(e.detail.contains(&format!("'{m}'")), "{}", e.detail);
            assert!(e.detail.contains("\"on\""), "{}", e.detail);
            assert!(e.detail.contains("3 non-numeric"), "{}", e.detail);
        }
        let e = of(&[json!(true)])
            .result(AggrMethod::Sum)
            .expect_err("bool");
        assert!(
            e.detail.contains("aggregation of non-numeric values"),
            "{}",
            e.detail
        );
        let long = "x".repeat(100);
        let e = of(&[json!(long)])
            .result(AggrMethod::Max)
            .expect_err("long");
        assert!(
            e.detail.contains('…') && e.detail.len() < 400,
            "{}",
            e.detail
        );
    }

    #[test]
    fn non_numeric_survives_merge() {
        let mut a = of(&[json!(1), json!(2)]);
        let b = of(&[json!({"x": 1})]);
        assert!(a.result(AggrMethod::Sum).is_ok());
        a.merge(&b);
        assert!(a.result(AggrMethod::Sum).is_err());
        assert_eq!(count(&a, AggrMethod::TotalCount), 3);
        assert_eq!(a.non_numeric_count(), 1);
    }

    #[test]
    fn distinct_values_are_canonical() {
        let acc = of(&[
            json!(1),
            json!(1.0),
            json!(1e0),
            json!("1"),
            json!({"a": 1, "b": [1, 2]}),
            json!({"b": [1, 2.0], "a": 1.0}),
            json!([1, 2]),
            json!([2, 1]),
            json!(null),
            json!(false),
            json!(0.5),
            json!(u64::MAX),
            json!(-3),
        ]);
        // 1, "1", the object, [1,2], [2,1], null, false, 0.5, u64::MAX, -3.
        assert_eq!(count(&acc, AggrMethod::DistinctCount), 10);
    }

    #[test]
    fn distinct_bound() {
        let mut acc = Accumulator::with_distinct_limit(3);
        for i in 0..3 {
            acc.add(&json!(i));
            acc.add(&json!(i));
        }
        assert_eq!(count(&acc, AggrMethod::DistinctCount), 3);
        acc.add(&json!(2));
        assert_eq!(count(&acc, AggrMethod::DistinctCount), 3);
        acc.add(&json!(3));
        let e = acc
            .result(AggrMethod::DistinctCount)
            .expect_err("over the bound");
        assert_eq!(e.kind, ErrorKind::TooComplexQuery);
        assert!(e.detail.contains("more than 3 distinct"), "{}", e.detail);
        assert!(e.detail.contains("aggrPeriodDuration"), "{}", e.detail);
        // The other methods are unaffected.
        assert_eq!(count(&acc, AggrMethod::TotalCount), 8);
        assert_eq!(number(&acc, AggrMethod::Max), 3.0);

        // Merging two halves under the bound that exceed it together overflows too.
        let mut a = Accumulator::with_distinct_limit(3);
        let mut b = Accumulator::with_distinct_limit(3);
        for i in 0..2 {
            a.add(&json!(i));
            b.add(&json!(i + 10));
        }
        let mut merged = a.clone();
        merged.merge(&b);
        assert!(merged.result(AggrMethod::DistinctCount).is_err());
        // And an overflowed side overflows the merge.
        let mut c = Accumulator::with_distinct_limit(3);
        c.merge(&acc);
        assert!(c.result(AggrMethod::DistinctCount).is_err());
        // The byte bound.
        let mut big = Accumulator::new();
        big.add(&json!("y".repeat(DISTINCT_BYTES_LIMIT)));
        assert!(big.result(AggrMethod::DistinctCount).is_err());
    }

    #[test]
    fn for_methods_skips_distinct_values() {
        let mut acc = Accumulator::for_methods(&[AggrMethod::Sum]);
        acc.add(&json!(1));
        assert_eq!(number(&acc, AggrMethod::Sum), 1.0);
        let e = acc.result(AggrMethod::DistinctCount).expect_err("not kept");
        assert_eq!(e.kind, ErrorKind::InternalError);
        let mut with = Accumulator::for_methods(&[AggrMethod::DistinctCount]);
        with.add(&json!(1));
        assert_eq!(count(&with, AggrMethod::DistinctCount), 1);
        with.merge(&acc);
        assert!(with.result(AggrMethod::DistinctCount).is_err());
    }

    #[test]
    fn stddev_without_cancellation() {
        // Large values close together: sumsq / n - mean² would lose every digit.
        let values: Vec<Value> = [4.0, 7.0, 13.0, 16.0]
            .iter()
            .map(|x| json!(1e9 + x))
            .collect();
        let acc = of(&values);
        assert!(close(
            number(&acc, AggrMethod::StdDev),
            22.5f64.sqrt(),
            1e-9
        ));
        assert!(close(
            acc.sample_stddev().expect("n > 1"),
            30.0f64.sqrt(),
            1e-9
        ));
        let mut merged = of(&values[..1]);
        merged.merge(&of(&values[1..3]));
        merged.merge(&of(&values[3..]));
        assert!(close(
            number(&merged, AggrMethod::StdDev),
            22.5f64.sqrt(),
            1e-9
        ));
    }

    #[test]
    fn merge_with_empty() {
        let full = of(&[json!(1), json!(2)]);
        let mut a = Accumulator::new();
        a.merge(&full);
        assert_eq!(a, full);
        let mut b = full.clone();
        b.merge(&Accumulator::new());
        assert_eq!(b, full);
    }

    #[test]
    fn json_rendering() {
        assert_eq!(AggrValue::Count(3).to_json(), json!(3));
        assert_eq!(AggrValue::Number(3.0).to_json(), json!(3));
        assert_eq!(AggrValue::Number(-2.0).to_json(), json!(-2));
        assert_eq!(AggrValue::Number(2.5).to_json(), json!(2.5));
        assert_eq!(AggrValue::Number(1e300).to_json(), json!(1e300));
        assert_eq!(AggrValue::Number(f64::INFINITY).to_json(), Value::Null);
        assert_eq!(AggrValue::Number(f64::NAN).to_json(), Value::Null);
    }

    /// A small deterministic generator (SplitMix64), enough for property tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// For random series and random split points, merging per-hour accumulators (grouped in
    /// random runs, as daily rollups from hourly ones) gives what one pass over the raw
    /// series gives.
    #[test]
    fn merged_rollups_match_one_pass() {
        let mut rng = Rng(0x5EED_2024_0331);
        for case in 0..300 {
            let n = rng.below(400) as usize + 1;
            // Values of various scales and offsets: counts, temperatures, big meter indexes.
            let offset = [0.0, 20.0, -1e3, 1e9, 1e-3][rng.below(5) as usize];
            let spread = [1.0, 1e-3, 1e4, 0.5][rng.below(4) as usize];
            let integers = rng.below(3) == 0;
            let series: Vec<f64> = (0..n)
                .map(|_| {
                    let x = offset + spread * (rng.unit() * 2.0 - 1.0);
                    if integers {
                        x.round()
                    } else {
                        x
                    }
                })
                .collect();

            // Timestamps spread over a day: split the series at random "hours".
            let mut cuts: Vec<usize> = (0..rng.below(30))
                .map(|_| rng.below(n as u64 + 1) as usize)
                .collect();
            cuts.push(0);
            cuts.push(n);
            cuts.sort_unstable();
            let hourly: Vec<Accumulator> = cuts
                .windows(2)
                .map(|w| {
                    let mut acc = Accumulator::new();
                    for x in &series[w[0]..w[1]] {
                        acc.add(&json!(x));
                    }
                    acc
                })
                .collect();
            // Merge hours into random runs, then the runs into a day.
            let mut runs = Vec::new();
            let mut current = Accumulator::new();
            for h in &hourly {
                current.merge(h);
                if rng.below(4) == 0 {
                    runs.push(std::mem::take(&mut current));
                }
            }
            runs.push(current);
            let mut day = Accumulator::new();
            for r in runs.iter().rev() {
                day.merge(r);
            }

            let mut once = Accumulator::new();
            for x in &series {
                once.add(&json!(x));
            }

            assert_eq!(count(&day, AggrMethod::TotalCount), n as u64, "case {case}");
            assert_eq!(
                count(&day, AggrMethod::DistinctCount),
                count(&once, AggrMethod::DistinctCount),
                "case {case}"
            );
            assert_eq!(
                number(&day, AggrMethod::Min),
                number(&once, AggrMethod::Min),
                "case {case}"
            );
            assert_eq!(
                number(&day, AggrMethod::Max),
                number(&once, AggrMethod::Max),
                "case {case}"
            );
            for m in [AggrMethod::Sum, AggrMethod::Avg, AggrMethod::SumSq] {
                let (a, b) = (number(&day, m), number(&once, m));
                assert!(close(a, b, 1e-9), "case {case} {m}: {a} vs {b}");
            }
            // The standard deviation, compared with a two-pass reference too (itself shifted
            // by the first value, so that it keeps its digits).
            let shifted: Vec<f64> = series.iter().map(|x| x - series[0]).collect();
            let mean = shifted.iter().sum::<f64>() / n as f64;
            let reference =
                (shifted.iter().map(|y| (y - mean) * (y - mean)).sum::<f64>() / n as f64).sqrt();
            let (a, b) = (
                number(&day, AggrMethod::StdDev),
                number(&once, AggrMethod::StdDev),
            );
            assert!(close(a, b, 1e-9), "case {case} stddev: {a} vs {b}");
            assert!(
                close(a, reference, 1e-9),
                "case {case} stddev vs two-pass: {a} vs {reference}"
            );
        }
    }

    #[test]
    fn summary_merges_like_the_values() {
        let values = [3.0, 4.5, -1.0, 10.25];
        let mut direct = Accumulator::for_methods(&[AggrMethod::Avg]);
        for v in values {
            direct.add(&serde_json::json!(v));
        }
        let (head, tail) = values.split_at(2);
        let summary = |xs: &[f64]| {
            Accumulator::from_summary(
                xs.len() as u64,
                xs.iter().sum(),
                xs.iter().map(|x| x * x).sum(),
                xs.iter().copied().fold(f64::INFINITY, f64::min),
                xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        };
        let mut merged = summary(head);
        merged.merge(&summary(tail));
        merged.merge(&Accumulator::from_summary(0, 0.0, 0.0, 0.0, 0.0));
        for m in [
            AggrMethod::TotalCount,
            AggrMethod::Sum,
            AggrMethod::Min,
            AggrMethod::Max,
        ] {
            assert_eq!(
                merged.result(m).expect("numeric"),
                direct.result(m).expect("numeric")
            );
        }
        let (a, b) = (
            merged.stddev().expect("values"),
            direct.stddev().expect("values"),
        );
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        assert!(merged.result(AggrMethod::DistinctCount).is_err());
    }
}

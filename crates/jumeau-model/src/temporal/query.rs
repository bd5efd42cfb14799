//! The temporal query parameters of NGSI-LD (ETSI GS CIM 009 §4.11 temporal query language,
//! §6.18 to §6.22 query and retrieve temporal entities, §4.5.19 aggregated representation):
//! `timerel`, `timeAt`, `endTimeAt`, `timeproperty`, `lastN`, `aggrMethods`,
//! `aggrPeriodDuration` and the `temporalValues` / `aggregatedValues` options.
//!
//! [`TemporalQuery::from_params`] reads them from raw `(name, value)` pairs, so any front-end
//! can use it without HTTP types; parameters it does not know (`type`, `q`, `attrs`…) are
//! left to the entity query.

use std::fmt;

use chrono::{DateTime, Utc};

use super::aggregate::AggrMethod;
use super::duration::AggrPeriod;
use crate::time::{format_datetime, parse_datetime};
use crate::{NgsiError, Result};

/// The largest `lastN` accepted: a bound on the instances of one attribute a single request
/// may return.
pub const MAX_LAST_N: u32 = 10_000;

/// Which timestamp of the attribute instances the time range applies to (`timeproperty`,
/// NGSI-LD §4.11); `observedAt` by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimeProperty {
    /// `observedAt`, when the value was observed (the default).
    #[default]
    ObservedAt,
    /// `createdAt`, when the instance was created in the broker.
    CreatedAt,
    /// `modifiedAt`, when the instance was last modified in the broker.
    ModifiedAt,
    /// `deletedAt`, when the attribute was deleted (NGSI-LD 1.5+).
    DeletedAt,
}

impl TimeProperty {
    /// The NGSI-LD name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ObservedAt => "observedAt",
            Self::CreatedAt => "createdAt",
            Self::ModifiedAt => "modifiedAt",
            Self::DeletedAt => "deletedAt",
        }
    }

    /// Parses an NGSI-LD `timeproperty` value; anything else is a
    /// [`crate::ErrorKind::BadRequestData`] error naming it and the valid ones.
    pub fn parse(text: &str) -> Result<Self> {
        [
            Self::ObservedAt,
            Self::CreatedAt,
            Self::ModifiedAt,
            Self::DeletedAt,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
        .ok_or_else(|| {
            NgsiError::bad_data(format!(
                "'{text}' is not a valid timeproperty: use observedAt (the default), createdAt, \
                 modifiedAt or deletedAt"
            ))
        })
    }
}

impl fmt::Display for TimeProperty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The time range of a temporal query: `timerel` with `timeAt` and, for `between`,
/// `endTimeAt` (NGSI-LD §4.11). Whether the bounds themselves are included is the store's
/// matter; Stellio excludes both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeRange {
    /// `timerel=before`: instances before `timeAt`.
    Before(DateTime<Utc>),
    /// `timerel=after`: instances after `timeAt`.
    After(DateTime<Utc>),
    /// `timerel=between`: instances between `timeAt` and `endTimeAt` (later than `timeAt`).
    Between(DateTime<Utc>, DateTime<Utc>),
}

impl TimeRange {
    /// The `timeAt` of the query.
    pub fn time_at(&self) -> DateTime<Utc> {
        match *self {
            Self::Before(t) | Self::After(t) | Self::Between(t, _) => t,
        }
    }

    /// The lower bound, if any (`after`, `between`).
    pub fn start(&self) -> Option<DateTime<Utc>> {
        match *self {
            Self::Before(_) => None,
            Self::After(t) | Self::Between(t, _) => Some(t),
        }
    }

    /// The upper bound, if any (`before`: `timeAt`; `between`: `endTimeAt`).
    pub fn end(&self) -> Option<DateTime<Utc>> {
        match *self {
            Self::Before(t) | Self::Between(_, t) => Some(t),
            Self::After(_) => None,
        }
    }

    /// The NGSI-LD `timerel` name.
    pub fn timerel(&self) -> &'static str {
        match self {
            Self::Before(_) => "before",
            Self::After(_) => "after",
            Self::Between(..) => "between",
        }
    }
}

/// The temporal parameters of a request to the temporal API (NGSI-LD §6.18 to §6.22), parsed
/// and checked; a plain value with no HTTP type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemporalQuery {
    /// `timerel` / `timeAt` / `endTimeAt`; `None` when the request gives none (allowed when
    /// retrieving one temporal entity; the query endpoint decides whether it requires one).
    pub time_range: Option<TimeRange>,
    /// `timeproperty`, `observedAt` by default.
    pub time_property: TimeProperty,
    /// `lastN`: only the last N instances of each attribute, 1 to [`MAX_LAST_N`].
    pub last_n: Option<u32>,
    /// `aggrMethods`, in the order given, without repeats.
    pub aggr_methods: Vec<AggrMethod>,
    /// `aggrPeriodDuration`; [`AggrPeriod::WholeRange`] when `aggregatedValues` is asked
    /// without it, as NGSI-LD says; `None` otherwise when absent.
    pub aggr_period: Option<AggrPeriod>,
    /// `options=temporalValues`: the simplified temporal representation (§4.5.9).
    pub temporal_values: bool,
    /// `options=aggregatedValues`: the aggregated temporal representation (§4.5.19).
    pub aggregated_values: bool,
}

impl TemporalQuery {
    /// Reads the temporal parameters from raw `(name, value)` pairs, as decoded from a query
    /// string; names are case-sensitive and unknown ones ignored. `options` and
    /// `aggrMethods` may repeat (their lists add up); the other parameters may appear once.
    ///
    /// Every error is [`crate::ErrorKind::BadRequestData`] and names the parameter: an
    /// unknown `timerel`, `timeproperty` or aggregation method, `timerel` without `timeAt`
    /// or the reverse, `between` without `endTimeAt`, `endTimeAt` not after `timeAt` or
    /// without `between`, a date-time that is not RFC 3339, a `lastN` that is not an integer
    /// from 1 to [`MAX_LAST_N`], an invalid `aggrPeriodDuration`, `aggregatedValues`
    /// without `aggrMethods`, and both representations asked at once.
    pub fn from_params<I, K, V>(params: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut timerel: Option<String> = None;
        let mut time_at: Option<String> = None;
        let mut end_time_at: Option<String> = None;
        let mut time_property: Option<String> = None;
        let mut last_n: Option<String> = None;
        let mut aggr_period: Option<String> = None;
        let mut methods: Vec<String> = Vec::new();
        let mut options: Vec<String> = Vec::new();

        for (name, value) in params {
            let (name, value) = (name.as_ref(), value.as_ref());
            let slot = match name {
                "timerel" => &mut timerel,
                "timeAt" => &mut time_at,
                "endTimeAt" => &mut end_time_at,
                "timeproperty" => &mut time_property,
                "lastN" => &mut last_n,
                "aggrPeriodDuration" => &mut aggr_period,
                "aggrMethods" => {
                    methods.push(value.to_owned());
                    continue;
                }
                "options" => {
                    options.push(value.to_owned());
                    continue;
                }
                _ => continue,
            };
            if slot.is_some() {
                return Err(NgsiError::bad_data(format!(
                    "the parameter {name} is given more than once: give it once"
                )));
            }
            *slot = Some(value.to_owned());
        }

        let mut q = TemporalQuery {
            time_range: time_range(
                timerel.as_deref(),
                time_at.as_deref(),
                end_time_at.as_deref(),
            )?,
            ..Default::default()
        };
        if let Some(p) = time_property {
            q.time_property = TimeProperty::parse(&p)?;
        }
        if let Some(n) = last_n {
            q.last_n = Some(parse_last_n(&n)?);
        }
        for list in &methods {
            for name in list.split(',').map(str::trim) {
                if name.is_empty() {
                    return Err(NgsiError::bad_data(format!(
                        "aggrMethods '{list}' has an empty method name: give a comma-separated \
                         list such as avg,max"
                    )));
                }
                let m = AggrMethod::parse(name)?;
                if !q.aggr_methods.contains(&m) {
                    q.aggr_methods.push(m);
                }
            }
        }
        if let Some(d) = aggr_period {
            q.aggr_period = Some(AggrPeriod::parse(&d).map_err(|e| {
                NgsiError::new(e.kind, format!("aggrPeriodDuration: {}", e.detail))
            })?);
        }
        for option in options.iter().flat_map(|o| o.split(',')).map(str::trim) {
            match option {
                "temporalValues" => q.temporal_values = true,
                "aggregatedValues" => q.aggregated_values = true,
                // keyValues, sysAttrs, audit… belong to other layers.
                _ => {}
            }
        }
        if q.temporal_values && q.aggregated_values {
            return Err(NgsiError::bad_data(
                "options temporalValues and aggregatedValues ask for two temporal \
                 representations at once: choose one",
            ));
        }
        if q.aggregated_values {
            if q.aggr_methods.is_empty() {
                return Err(NgsiError::bad_data(
                    "aggregatedValues without aggrMethods: say which aggregations to compute, \
                     e.g. aggrMethods=avg,max",
                ));
            }
            q.aggr_period.get_or_insert(AggrPeriod::WholeRange);
        }
        Ok(q)
    }

    /// The origin of the aggregation buckets (see [`super::bucket`]): `timeAt` when the query
    /// gives one, as NGSI-LD starts the aggregation periods there, else the Unix epoch, which
    /// puts `PT15M` or `PT1H` buckets on clock quarter-hours and hours.
    pub fn aggregation_origin(&self) -> DateTime<Utc> {
        self.time_range
            .map_or(DateTime::UNIX_EPOCH, |r| r.time_at())
    }
}

fn time_range(
    timerel: Option<&str>,
    time_at: Option<&str>,
    end_time_at: Option<&str>,
) -> Result<Option<TimeRange>> {
    let parse = |name: &str, text: &str| {
        parse_datetime(text).map_err(|e| NgsiError::bad_data(format!("{name}: {e}")))
    };
    let (rel, at) = match (timerel, time_at) {
        (None, None) => {
            if end_time_at.is_some() {
                return Err(NgsiError::bad_data(
                    "endTimeAt without timerel=between: add timerel=between and timeAt",
                ));
            }
            return Ok(None);
        }
        (Some(rel), None) => {
            return Err(NgsiError::bad_data(format!(
                "timerel without timeAt: timerel={rel} needs a timeAt such as \
                 timeAt=2024-03-01T00:00:00Z"
            )))
        }
        (None, Some(_)) => {
            return Err(NgsiError::bad_data(
                "timeAt without timerel: add timerel=before, after or between",
            ))
        }
        (Some(rel), Some(at)) => (rel, parse("timeAt", at)?),
    };
    let range = match rel {
        "before" | "after" => {
            if end_time_at.is_some() {
                return Err(NgsiError::bad_data(format!(
                    "endTimeAt is only used with timerel=between, not timerel={rel}: remove it \
                     or use between"
                )));
            }
            if rel == "before" {
                TimeRange::Before(at)
            } else {
                TimeRange::After(at)
            }
        }
        "between" => {
            let Some(end) = end_time_at else {
                return Err(NgsiError::bad_data(
                    "between without endTimeAt: timerel=between needs an endTimeAt later than \
                     timeAt",
                ));
            };
            let end = parse("endTimeAt", end)?;
            if end <= at {
                return Err(NgsiError::bad_data(format!(
                    "endTimeAt {} must be after timeAt {}: swap them or widen the range",
                    format_datetime(&end),
                    format_datetime(&at)
                )));
            }
            TimeRange::Between(at, end)
        }
        other => {
            return Err(NgsiError::bad_data(format!(
                "'{other}' is not a valid timerel: use before, after or between"
            )))
        }
    };
    Ok(Some(range))
}

fn parse_last_n(text: &str) -> Result<u32> {
    let bad = || {
        NgsiError::bad_data(format!(
            "lastN must be a positive integer up to {MAX_LAST_N}, not '{text}'; e.g. lastN=10"
        ))
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u64>() {
        Ok(n) if (1..=u64::from(MAX_LAST_N)).contains(&n) => u32::try_from(n).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temporal::Duration;
    use crate::ErrorKind;

    fn parse(pairs: &[(&str, &str)]) -> Result<TemporalQuery> {
        TemporalQuery::from_params(pairs.iter().copied())
    }

    fn ok(pairs: &[(&str, &str)]) -> TemporalQuery {
        parse(pairs).expect("valid query")
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        let e = parse(pairs).expect_err("invalid query");
        assert_eq!(e.kind, ErrorKind::BadRequestData, "{}", e.detail);
        e.detail
    }

    fn utc(s: &str) -> DateTime<Utc> {
        parse_datetime(s).expect(s)
    }

    #[test]
    fn empty_is_default() {
        let q = ok(&[]);
        assert_eq!(q, TemporalQuery::default());
        assert_eq!(q.time_property, TimeProperty::ObservedAt);
        assert_eq!(q.time_range, None);
        assert_eq!(q.aggregation_origin(), DateTime::UNIX_EPOCH);
        // Other parameters are someone else's.
        assert_eq!(
            ok(&[("type", "Streetlight"), ("q", "a>1"), ("limit", "5")]),
            q
        );
    }

    #[test]
    fn time_ranges() {
        let q = ok(&[("timerel", "before"), ("timeAt", "2024-03-01T00:00:00Z")]);
        assert_eq!(
            q.time_range,
            Some(TimeRange::Before(utc("2024-03-01T00:00:00Z")))
        );
        let r = q.time_range.expect("range");
        assert_eq!(
            (r.start(), r.end()),
            (None, Some(utc("2024-03-01T00:00:00Z")))
        );
        assert_eq!(r.timerel(), "before");

        let q = ok(&[
            ("timeAt", "2024-03-01T01:00:00+01:00"),
            ("timerel", "after"),
        ]);
        let r = q.time_range.expect("range");
        assert_eq!(r, TimeRange::After(utc("2024-03-01T00:00:00Z")));
        assert_eq!(
            (r.start(), r.end()),
            (Some(utc("2024-03-01T00:00:00Z")), None)
        );
        assert_eq!(q.aggregation_origin(), utc("2024-03-01T00:00:00Z"));

        let q = ok(&[
            ("timerel", "between"),
            ("timeAt", "2024-03-01T00:00:00Z"),
            ("endTimeAt", "2024-04-01T00:00:00Z"),
        ]);
        let r = q.time_range.expect("range");
        assert_eq!(
            r,
            TimeRange::Between(utc("2024-03-01T00:00:00Z"), utc("2024-04-01T00:00:00Z"))
        );
        assert_eq!(r.end(), Some(utc("2024-04-01T00:00:00Z")));
        assert_eq!(r.time_at(), utc("2024-03-01T00:00:00Z"));
        assert_eq!(r.timerel(), "between");
    }

    #[test]
    fn time_range_errors() {
        let at = ("timeAt", "2024-03-01T00:00:00Z");
        assert!(err(&[("timerel", "after")]).contains("timerel without timeAt"));
        assert!(err(&[("timerel", "between")]).contains("timerel without timeAt"));
        assert!(err(&[at]).contains("timeAt without timerel"));
        assert!(err(&[("timerel", "between"), at]).contains("between without endTimeAt"));
        let msg = err(&[("timerel", "during"), at]);
        assert!(msg.contains("'during'") && msg.contains("before, after or between"));
        assert!(err(&[("timerel", "Before"), at]).contains("'Before'"));
        let msg = err(&[("timerel", "after"), ("timeAt", "yesterday")]);
        assert!(
            msg.contains("timeAt") && msg.contains("'yesterday'"),
            "{msg}"
        );
        let msg = err(&[("timerel", "between"), at, ("endTimeAt", "2024-02-01")]);
        assert!(
            msg.contains("endTimeAt") && msg.contains("'2024-02-01'"),
            "{msg}"
        );
        for end in [
            "2024-03-01T00:00:00Z",
            "2024-02-01T00:00:00Z",
            "2024-03-01T01:00:00+01:00",
        ] {
            let msg = err(&[("timerel", "between"), at, ("endTimeAt", end)]);
            assert!(msg.contains("must be after timeAt"), "{end}: {msg}");
        }
        assert!(err(&[
            ("timerel", "after"),
            at,
            ("endTimeAt", "2024-04-01T00:00:00Z")
        ])
        .contains("only used with timerel=between"));
        assert!(err(&[("endTimeAt", "2024-04-01T00:00:00Z")]).contains("endTimeAt without"));
        let msg = err(&[("timerel", "after"), ("timerel", "before"), at]);
        assert!(msg.contains("timerel is given more than once"), "{msg}");
        assert!(err(&[("timerel", "after"), at, at]).contains("timeAt is given more than once"));
    }

    #[test]
    fn time_property() {
        for p in ["observedAt", "createdAt", "modifiedAt", "deletedAt"] {
            let q = ok(&[("timeproperty", p)]);
            assert_eq!(q.time_property.as_str(), p);
            assert_eq!(q.time_property.to_string(), p);
        }
        let msg = err(&[("timeproperty", "observedat")]);
        assert!(
            msg.contains("'observedat'") && msg.contains("observedAt"),
            "{msg}"
        );
        assert!(err(&[("timeproperty", "")]).contains("''"));
    }

    #[test]
    fn last_n() {
        assert_eq!(ok(&[("lastN", "1")]).last_n, Some(1));
        assert_eq!(ok(&[("lastN", "10000")]).last_n, Some(10_000));
        assert_eq!(ok(&[("lastN", "007")]).last_n, Some(7));
        for bad in [
            "0",
            "-1",
            "10001",
            "abc",
            "",
            "1.5",
            "+3",
            " 3",
            "99999999999999999999999",
            "1e3",
        ] {
            let msg = err(&[("lastN", bad)]);
            assert!(
                msg.contains("lastN") && msg.contains("10000"),
                "{bad}: {msg}"
            );
            assert!(msg.contains(&format!("'{bad}'")), "{bad}: {msg}");
        }
    }

    #[test]
    fn aggregation_parameters() {
        let q = ok(&[
            ("options", "aggregatedValues"),
            ("aggrMethods", "avg, max,avg"),
            ("aggrMethods", "totalCount"),
            ("aggrPeriodDuration", "PT1H"),
        ]);
        assert!(q.aggregated_values && !q.temporal_values);
        assert_eq!(
            q.aggr_methods,
            vec![AggrMethod::Avg, AggrMethod::Max, AggrMethod::TotalCount]
        );
        assert_eq!(
            q.aggr_period,
            Some(AggrPeriod::Every(
                Duration::parse("PT1H").expect("duration")
            ))
        );
        // The whole range by default, and for a zero duration.
        let q = ok(&[("options", "aggregatedValues"), ("aggrMethods", "sum")]);
        assert_eq!(q.aggr_period, Some(AggrPeriod::WholeRange));
        let q = ok(&[
            ("options", "aggregatedValues"),
            ("aggrMethods", "sum"),
            ("aggrPeriodDuration", "P0D"),
        ]);
        assert_eq!(q.aggr_period, Some(AggrPeriod::WholeRange));
        // Without aggregatedValues the parameters are checked and kept, but no default.
        let q = ok(&[("aggrMethods", "sum")]);
        assert_eq!(q.aggr_methods, vec![AggrMethod::Sum]);
        assert_eq!(q.aggr_period, None);
    }

    #[test]
    fn aggregation_errors() {
        let msg = err(&[("options", "aggregatedValues")]);
        assert!(
            msg.contains("aggregatedValues without aggrMethods"),
            "{msg}"
        );
        let msg = err(&[("aggrMethods", "avg,median")]);
        assert!(msg.contains("'median'") && msg.contains("stddev"), "{msg}");
        for list in ["", "avg,", ",avg", "avg,,max", " "] {
            assert!(
                err(&[("aggrMethods", list)]).contains("empty method name"),
                "{list}"
            );
        }
        let msg = err(&[("aggrPeriodDuration", "PT")]);
        assert!(msg.starts_with("aggrPeriodDuration: 'PT'"), "{msg}");
        assert!(msg.contains("such as PT15M"), "{msg}");
        assert!(err(&[("aggrPeriodDuration", "-P1D")]).contains("negative"));
        assert!(
            err(&[("aggrPeriodDuration", "P1D"), ("aggrPeriodDuration", "P1D")])
                .contains("more than once")
        );
    }

    #[test]
    fn options() {
        let q = ok(&[("options", "temporalValues")]);
        assert!(q.temporal_values && !q.aggregated_values);
        let q = ok(&[
            ("options", "sysAttrs, temporalValues"),
            ("options", "keyValues"),
        ]);
        assert!(q.temporal_values);
        let q = ok(&[("options", "sysAttrs,audit")]);
        assert!(!q.temporal_values && !q.aggregated_values);
        let msg = err(&[
            ("options", "temporalValues,aggregatedValues"),
            ("aggrMethods", "sum"),
        ]);
        assert!(msg.contains("choose one"), "{msg}");
        assert!(err(&[
            ("options", "temporalValues"),
            ("options", "aggregatedValues"),
            ("aggrMethods", "sum"),
        ])
        .contains("choose one"));
    }

    #[test]
    fn full_request() {
        let q = TemporalQuery::from_params(vec![
            ("type".to_owned(), "Streetlight".to_owned()),
            ("timerel".to_owned(), "between".to_owned()),
            ("timeAt".to_owned(), "2024-03-31T00:00:00+01:00".to_owned()),
            (
                "endTimeAt".to_owned(),
                "2024-04-01T00:00:00+02:00".to_owned(),
            ),
            ("timeproperty".to_owned(), "modifiedAt".to_owned()),
            ("lastN".to_owned(), "100".to_owned()),
            ("options".to_owned(), "aggregatedValues".to_owned()),
            ("aggrMethods".to_owned(), "totalCount,avg,stddev".to_owned()),
            ("aggrPeriodDuration".to_owned(), "P1D".to_owned()),
        ])
        .expect("valid");
        assert_eq!(
            q,
            TemporalQuery {
                time_range: Some(TimeRange::Between(
                    utc("2024-03-30T23:00:00Z"),
                    utc("2024-03-31T22:00:00Z")
                )),
                time_property: TimeProperty::ModifiedAt,
                last_n: Some(100),
                aggr_methods: vec![AggrMethod::TotalCount, AggrMethod::Avg, AggrMethod::StdDev],
                aggr_period: Some(AggrPeriod::Every(Duration::parse("P1D").expect("P1D"))),
                temporal_values: false,
                aggregated_values: true,
            }
        );
        // The Paris day of the spring change, as one 23-hour bucket from the origin.
        let Some(AggrPeriod::Every(period)) = q.aggr_period else {
            unreachable!("checked above")
        };
        let range = q.time_range.expect("range");
        let days: Vec<_> = crate::temporal::buckets(
            range.time_at(),
            range.end().expect("end"),
            &period,
            crate::temporal::DEFAULT_TIME_ZONE,
            q.aggregation_origin(),
        )
        .collect();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].length(), chrono::TimeDelta::hours(23));
    }
}

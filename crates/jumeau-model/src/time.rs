//! Date-time parsing and formatting as NGSI-LD writes them (RFC 3339 / ISO 8601, UTC on the wire).

use chrono::{DateTime, SecondsFormat, Utc};

/// Parses an RFC 3339 date-time (any offset) into UTC.
pub fn parse_datetime(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            format!("'{s}' is not an ISO 8601 date-time such as 2024-03-01T12:00:00Z ({e})")
        })
}

/// Formats a UTC date-time as NGSI-LD does: RFC 3339 with a `Z`, fractional seconds only
/// when present.
pub fn format_datetime(d: &DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_utc() {
        let d = parse_datetime("2021-01-11T15:51:02+05:30").expect("valid date");
        assert_eq!(format_datetime(&d), "2021-01-11T10:21:02Z");
        assert!(parse_datetime("2021-13-01").is_err());
    }
}

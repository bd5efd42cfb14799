//! The French calendar the demo's readings follow: public holidays and the school holidays
//! of zone A (académie de Grenoble, which the Drôme belongs to).

use chrono::{Datelike, NaiveDate, Weekday};

/// What kind of day a date is for the people using public buildings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// A school day (Monday, Tuesday, Thursday, Friday outside holidays).
    School,
    /// A working day without school: Wednesdays, and weekdays of the school holidays.
    Work,
    /// Saturday.
    Saturday,
    /// Sunday or a public holiday.
    Rest,
}

/// Zone A school holidays (first day off, day classes resume), from the national calendars
/// of the ministry of education for 2024-2025 to 2026-2027.
type Ymd = (i32, u32, u32);
const ZONE_A: [(Ymd, Ymd); 16] = [
    ((2024, 7, 6), (2024, 9, 2)),
    ((2024, 10, 19), (2024, 11, 4)),
    ((2024, 12, 21), (2025, 1, 6)),
    ((2025, 2, 22), (2025, 3, 10)),
    ((2025, 4, 19), (2025, 5, 5)),
    ((2025, 7, 5), (2025, 9, 1)),
    ((2025, 10, 18), (2025, 11, 3)),
    ((2025, 12, 20), (2026, 1, 5)),
    ((2026, 2, 7), (2026, 2, 23)),
    ((2026, 4, 4), (2026, 4, 20)),
    ((2026, 5, 14), (2026, 5, 18)),
    ((2026, 7, 4), (2026, 9, 1)),
    ((2026, 10, 17), (2026, 11, 2)),
    ((2026, 12, 19), (2027, 1, 4)),
    ((2027, 2, 13), (2027, 3, 1)),
    ((2027, 4, 10), (2027, 4, 26)),
];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// Whether `d` falls in the school holidays of zone A. Outside the published years, the
/// usual pattern is assumed (two weeks at All Saints, Christmas, in February and April,
/// and summer from early July to the end of August).
pub fn school_holiday(d: NaiveDate) -> bool {
    let y = d.year();
    if (2024..=2026).contains(&y) || (y == 2027 && d.month() < 7) {
        return ZONE_A
            .iter()
            .any(|&(a, b)| d >= date(a.0, a.1, a.2) && d < date(b.0, b.1, b.2));
    }
    let md = (d.month(), d.day());
    let usual = [
        ((10, 18), (11, 3)),
        ((2, 10), (2, 26)),
        ((4, 10), (4, 26)),
        ((7, 5), (9, 1)),
    ];
    !((1, 5)..(12, 20)).contains(&md) || usual.iter().any(|(a, b)| (*a..*b).contains(&md))
}

/// Easter Sunday of a year (anonymous Gregorian computus).
fn easter(y: i32) -> NaiveDate {
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    date(y, month as u32, day as u32)
}

/// Whether `d` is a French public holiday (jour férié).
pub fn public_holiday(d: NaiveDate) -> bool {
    let fixed = [
        (1, 1),
        (5, 1),
        (5, 8),
        (7, 14),
        (8, 15),
        (11, 1),
        (11, 11),
        (12, 25),
    ];
    if fixed.contains(&(d.month(), d.day())) {
        return true;
    }
    let e = easter(d.year());
    [1, 39, 50]
        .iter()
        .any(|&n| e + chrono::Duration::days(n) == d)
}

/// The kind of a day.
pub fn day_kind(d: NaiveDate) -> DayKind {
    if public_holiday(d) || d.weekday() == Weekday::Sun {
        return DayKind::Rest;
    }
    match d.weekday() {
        Weekday::Sat => DayKind::Saturday,
        Weekday::Wed => DayKind::Work,
        _ if school_holiday(d) => DayKind::Work,
        _ => DayKind::School,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holidays_of_zone_a_and_public_holidays() {
        assert!(school_holiday(date(2026, 2, 10)));
        assert!(!school_holiday(date(2026, 2, 23)));
        assert!(school_holiday(date(2026, 8, 15)));
        assert!(!school_holiday(date(2026, 11, 2)));
        assert_eq!(easter(2026), date(2026, 4, 5));
        assert!(public_holiday(date(2026, 5, 14))); // Ascension
        assert!(public_holiday(date(2026, 5, 25))); // Whit Monday
        assert_eq!(day_kind(date(2026, 11, 30)), DayKind::School);
        assert_eq!(day_kind(date(2026, 12, 2)), DayKind::Work);
        assert_eq!(day_kind(date(2026, 12, 25)), DayKind::Rest);
        assert_eq!(day_kind(date(2026, 12, 21)), DayKind::Work);
    }
}

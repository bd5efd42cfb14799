//! Tolerant reading of the text communes write: column names with accents and any case,
//! French decimal commas, French dates.
use chrono::NaiveDate;

/// Folds a Latin letter with a French diacritic to its base letter (`é` → `e`, `ç` → `c`).
fn fold_accent(c: char) -> char {
    match c {
        'à' | 'â' | 'ä' | 'á' | 'ã' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'î' | 'ï' | 'í' | 'ì' => 'i',
        'ô' | 'ö' | 'ó' | 'ò' | 'õ' => 'o',
        'ù' | 'û' | 'ü' | 'ú' => 'u',
        'ç' => 'c',
        'ÿ' => 'y',
        'ñ' => 'n',
        'œ' => 'o',
        other => other,
    }
}

/// The comparable form of a column name: lower case, accents folded, every run of other
/// characters than letters and digits turned into one `_`, no leading or trailing `_`.
/// `"Température Couleur (K)"` → `temperature_couleur_k`.
pub(crate) fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending = false;
    for c in name.trim().trim_start_matches('\u{feff}').chars() {
        let c = fold_accent(c.to_lowercase().next().unwrap_or(c));
        if c.is_ascii_alphanumeric() {
            if pending && !out.is_empty() {
                out.push('_');
            }
            pending = false;
            out.push(c);
        } else {
            pending = true;
        }
    }
    out
}

/// Reads a number written the French or the English way: `35`, `35.5`, `35,5`, ` 1 200 `,
/// with an optional trailing unit (`70 W`, `3000K`, `12 m`, `0,5 %`). `None` when the cell
/// holds something else.
pub(crate) fn parse_number(cell: &str) -> Option<f64> {
    let s = cell.trim();
    let end = s
        .find(|c: char| c.is_alphabetic() || c == '%' || c == '°')
        .unwrap_or(s.len());
    let digits: String = s[..end]
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}' && *c != '\u{202f}')
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    if digits.is_empty() {
        return None;
    }
    digits.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Reads a date as communes write it: `2019-03-14`, `14/03/2019`, `14-03-2019`,
/// `2019-03-14T00:00:00…` (time ignored), or a year alone (`2019`, taken as 1 January).
pub(crate) fn parse_date(cell: &str) -> Option<NaiveDate> {
    let s = cell.trim();
    let s = s.split(['T', ' ']).next().unwrap_or(s);
    for fmt in ["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d", "%d.%m.%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return Some(d);
        }
    }
    if s.len() == 4 && s.chars().all(|c| c.is_ascii_digit()) {
        let year: i32 = s.parse().ok()?;
        return NaiveDate::from_ymd_opt(year, 1, 1);
    }
    None
}

/// Reads a yes/no cell: `oui`, `o`, `yes`, `y`, `true`, `vrai`, `1`, `x` are yes; `non`,
/// `n`, `no`, `false`, `faux`, `0` and an empty cell are no. `None` for anything else.
pub(crate) fn parse_flag(cell: &str) -> Option<bool> {
    match normalize_name(cell).as_str() {
        "oui" | "o" | "yes" | "y" | "true" | "vrai" | "1" | "x" => Some(true),
        "non" | "n" | "no" | "false" | "faux" | "0" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_folded() {
        assert_eq!(
            normalize_name("Température Couleur (K)"),
            "temperature_couleur_k"
        );
        assert_eq!(normalize_name("\u{feff}DATE_POSE"), "date_pose");
        assert_eq!(normalize_name("  Hauteur-mât "), "hauteur_mat");
    }

    #[test]
    fn numbers_and_dates_are_read_the_french_way() {
        assert_eq!(parse_number("35,5"), Some(35.5));
        assert_eq!(parse_number("1 200 lm"), Some(1200.0));
        assert_eq!(parse_number("3000K"), Some(3000.0));
        assert_eq!(parse_number("0,5 %"), Some(0.5));
        assert_eq!(parse_number("abc"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(
            parse_date("14/03/2019"),
            NaiveDate::from_ymd_opt(2019, 3, 14)
        );
        assert_eq!(
            parse_date("2019-03-14"),
            NaiveDate::from_ymd_opt(2019, 3, 14)
        );
        assert_eq!(parse_date("2012"), NaiveDate::from_ymd_opt(2012, 1, 1));
        assert_eq!(parse_date("hier"), None);
        assert_eq!(parse_flag("Oui"), Some(true));
        assert_eq!(parse_flag("peut-être"), None);
    }
}

//! Engine-neutral translation of q expressions into SQL prefilters over the value index.
//!
//! Both SQL engines keep one index row per scalar value of every top-level attribute
//! (see [`crate::index`]), with the columns `vt` (the [`ValueKind`] code), `num` and `txt`.
//! [`render`] turns a [`QExpr`] into a boolean SQL expression selecting a SUPERSET of the
//! entities the query matches; the store then applies [`QExpr::matches`] to the candidates,
//! which alone decides. Terms on the value of a top-level attribute (`==`, `>`, `>=`, `<`,
//! `<=`, ranges, lists, `~=`) and existence terms are translated precisely; anything else
//! (sub-attributes, compound keys, metadata, `!=`, `!~=`) only requires the top-level
//! attribute to exist, which every match satisfies.
//!
//! What differs between engines (placeholders, how an attribute's rows are reached, text
//! and regular-expression conditions) is a [`Dialect`]. User values are always bound as
//! parameters through it, never written into the SQL text.

use chrono::{DateTime, NaiveDate, Utc};
use jumeau_model::query::q::{date_start, CompOp, QExpr, QValue};

use crate::index::{datetime_num, ValueKind};

#[cfg(test)]
pub(crate) mod cases;

/// The engine-specific parts of a prefilter.
pub trait Dialect {
    /// The SQL of a constant condition.
    fn constant(&self, value: bool) -> &'static str {
        if value {
            "true"
        } else {
            "false"
        }
    }
    /// Binds a number and returns its placeholder.
    fn bind_real(&mut self, value: f64) -> String;
    /// Opens the condition "some index row of attribute `attr` exists" (with `negate`: "no
    /// row of it exists") for the current entity; [`render`] then completes it with
    /// [`Dialect::close_rows`].
    fn open_rows(&mut self, attr: &str, negate: bool) -> String;
    /// Completes the condition [`Dialect::open_rows`] opened (with the same `negate`), with
    /// the condition on one of its rows when there is one: ` AND <cond>)` in SQL.
    fn close_rows(&mut self, open: String, _negate: bool, cond: Option<String>) -> String {
        match cond {
            Some(cond) => format!("{open} AND {cond})"),
            None => format!("{open})"),
        }
    }
    /// What joins two conditions that must both hold.
    fn and(&self) -> &'static str {
        " AND "
    }
    /// What joins two conditions of which one must hold.
    fn or(&self) -> &'static str {
        " OR "
    }
    /// A row condition keeping every row of `kind` whose number `num` satisfies each
    /// `num <op> value` of `bounds` (SQL operators; none: every row of that kind).
    fn number(&mut self, kind: ValueKind, bounds: &[(&'static str, f64)]) -> String {
        let mut sql = format!("(vt = '{}'", kind.code());
        for (op, value) in bounds {
            let v = self.bind_real(*value);
            sql.push_str(&format!(" AND num {op} {v}"));
        }
        sql.push(')');
        sql
    }
    /// A row condition keeping every row whose text `txt` satisfies `txt <op> value`.
    fn text(&mut self, op: CompOp, value: &str) -> String;
    /// A row condition keeping every row whose text matches the pattern.
    fn regex(&mut self, pattern: &str) -> String;
}

/// Translates a q expression into a boolean SQL expression selecting a superset of the
/// matching entities, binding its values through `dialect`.
pub fn render(q: &QExpr, dialect: &mut dyn Dialect) -> String {
    let plan = simplify(plan(q));
    let mut out = String::new();
    render_plan(&plan, dialect, &mut out);
    out
}

/// The shape of the prefilter, built before any parameter is pushed so that branches that
/// simplify away leave no unused parameter behind.
enum Plan<'a> {
    /// Always true or always false.
    Const(bool),
    /// Some row of the attribute satisfies `cond` (or, with `negate`, no row of it exists).
    Has {
        attr: &'a str,
        cond: Option<Cond<'a>>,
        negate: bool,
    },
    And(Vec<Plan<'a>>),
    Or(Vec<Plan<'a>>),
}

/// A condition on one index row.
enum Cond<'a> {
    /// A comparison with a scalar.
    Scalar(CompOp, &'a QValue),
    /// Within an inclusive range.
    Range(&'a QValue, &'a QValue),
    /// Equal to one of the values.
    List(&'a [QValue]),
    /// The text matches the pattern.
    Regex(&'a str),
}

fn plan(q: &QExpr) -> Plan<'_> {
    match q {
        QExpr::And(v) => Plan::And(v.iter().map(plan).collect()),
        QExpr::Or(v) => Plan::Or(v.iter().map(plan).collect()),
        QExpr::Exists(p) => Plan::Has {
            attr: &p.attr,
            cond: None,
            negate: false,
        },
        QExpr::NotExists(p) if p.is_top_level() => Plan::Has {
            attr: &p.attr,
            cond: None,
            negate: true,
        },
        QExpr::NotExists(_) => Plan::Const(true),
        QExpr::Compare { path, op, value } => {
            let cond = if path.is_top_level() {
                condition(*op, value)
            } else {
                Some(None)
            };
            match cond {
                Some(cond) => Plan::Has {
                    attr: &path.attr,
                    cond,
                    negate: false,
                },
                None => Plan::Const(false),
            }
        }
    }
}

/// The row condition of a comparison on a top-level value: `Some(None)` when only the
/// attribute's existence can be required, `None` when nothing can match.
fn condition(op: CompOp, value: &QValue) -> Option<Option<Cond<'_>>> {
    let scalar = matches!(
        value,
        QValue::Number(_)
            | QValue::Text(_)
            | QValue::Bool(_)
            | QValue::DateTime(_)
            | QValue::Date(_)
    );
    Some(match (op, value) {
        (CompOp::Eq | CompOp::Gt | CompOp::Ge | CompOp::Lt | CompOp::Le, _) if scalar => {
            Some(Cond::Scalar(op, value))
        }
        (CompOp::Eq, QValue::Range(lo, hi)) => Some(Cond::Range(lo, hi)),
        (CompOp::Eq, QValue::List(items)) if items.is_empty() => return None,
        (CompOp::Eq, QValue::List(items)) => Some(Cond::List(items)),
        (CompOp::Match, QValue::Pattern(p)) => Some(Cond::Regex(p.as_str())),
        _ => None,
    })
}

/// Folds constants: `x AND true` is `x`, `x OR true` is true, and so on.
fn simplify(p: Plan<'_>) -> Plan<'_> {
    match p {
        Plan::And(v) => {
            let mut out = Vec::new();
            for t in v.into_iter().map(simplify) {
                match t {
                    Plan::Const(true) => {}
                    Plan::Const(false) => return Plan::Const(false),
                    other => out.push(other),
                }
            }
            match out.len() {
                0 => Plan::Const(true),
                1 => out.pop().unwrap_or(Plan::Const(true)),
                _ => Plan::And(out),
            }
        }
        Plan::Or(v) => {
            let mut out = Vec::new();
            for t in v.into_iter().map(simplify) {
                match t {
                    Plan::Const(false) => {}
                    Plan::Const(true) => return Plan::Const(true),
                    other => out.push(other),
                }
            }
            match out.len() {
                0 => Plan::Const(false),
                1 => out.pop().unwrap_or(Plan::Const(false)),
                _ => Plan::Or(out),
            }
        }
        other => other,
    }
}

fn render_plan(p: &Plan<'_>, d: &mut dyn Dialect, out: &mut String) {
    match p {
        Plan::Const(b) => out.push_str(d.constant(*b)),
        Plan::And(v) | Plan::Or(v) => {
            let sep = if matches!(p, Plan::And(_)) {
                d.and()
            } else {
                d.or()
            };
            out.push('(');
            for (i, t) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                render_plan(t, d, out);
            }
            out.push(')');
        }
        Plan::Has { attr, cond, negate } => {
            let open = d.open_rows(attr, *negate);
            let cond = cond.as_ref().map(|c| {
                let mut sql = String::new();
                render_cond(c, d, &mut sql);
                sql
            });
            out.push_str(&d.close_rows(open, *negate, cond));
        }
    }
}

fn render_cond(c: &Cond<'_>, d: &mut dyn Dialect, out: &mut String) {
    match c {
        Cond::Scalar(op, v) => out.push_str(&scalar(*op, v, d)),
        Cond::Range(lo, hi) => match (numeric(CompOp::Ge, lo), numeric(CompOp::Le, hi)) {
            // Both bounds on the same number of one row.
            (Some((kind, mut bounds)), Some((hi_kind, hi_bounds))) if kind == hi_kind => {
                bounds.extend(hi_bounds);
                out.push_str(&d.number(kind, &bounds));
            }
            _ => {
                let lo = scalar(CompOp::Ge, lo, d);
                let hi = scalar(CompOp::Le, hi, d);
                out.push_str(&format!("({lo}{}{hi})", d.and()));
            }
        },
        Cond::List(items) => {
            let parts: Vec<String> = items.iter().map(|i| scalar(CompOp::Eq, i, d)).collect();
            out.push_str(&format!("({})", parts.join(d.or())));
        }
        Cond::Regex(p) => out.push_str(&d.regex(p)),
    }
}

/// The SQL operator of an ordering comparison (`=` for [`CompOp::Eq`]).
pub fn sql_op(op: CompOp) -> &'static str {
    match op {
        CompOp::Gt => ">",
        CompOp::Ge => ">=",
        CompOp::Lt => "<",
        CompOp::Le => "<=",
        _ => "=",
    }
}

/// The row condition for `value <op> v` with a scalar `v`.
fn scalar(op: CompOp, v: &QValue, d: &mut dyn Dialect) -> String {
    if let Some((kind, bounds)) = numeric(op, v) {
        return d.number(kind, &bounds);
    }
    match v {
        // Every string row (text, date-time, relationship) keeps its text in txt; other
        // rows have none, so no kind test is needed.
        QValue::Text(s) => d.text(op, s),
        _ => d.constant(true).into(),
    }
}

/// `value <op> v` as bounds on the number of the rows of one kind, when `v` is compared as
/// a number (a number, a boolean, a date-time or a date).
fn numeric(op: CompOp, v: &QValue) -> Option<(ValueKind, Vec<(&'static str, f64)>)> {
    Some(match v {
        QValue::Number(n) => (ValueKind::Number, vec![(sql_op(op), *n)]),
        QValue::Bool(b) => (ValueKind::Bool, vec![(sql_op(op), f64::from(u8::from(*b)))]),
        QValue::DateTime(t) => (ValueKind::DateTime, datetime(op, t)),
        QValue::Date(day) => (ValueKind::DateTime, date(op, *day)),
        _ => return None,
    })
}

/// The bounds on `num` of a date-time comparison. Indexed instants are rounded down to the
/// millisecond (monotonic), so strict and equality comparisons are widened where the
/// rounding could otherwise lose a candidate.
fn datetime(op: CompOp, t: &DateTime<Utc>) -> Vec<(&'static str, f64)> {
    let whole_ms = t.timestamp_subsec_millis() * 1_000_000 == t.timestamp_subsec_nanos();
    let op = match op {
        CompOp::Gt | CompOp::Ge => ">=",
        CompOp::Lt if whole_ms => "<",
        CompOp::Lt | CompOp::Le => "<=",
        _ => "=",
    };
    vec![(op, datetime_num(t))]
}

/// The bounds on `num` of a date comparison: the value's UTC day against `day`, that is its
/// instant against midnight of `day` and of the next day (exact, both being whole
/// milliseconds).
fn date(op: CompOp, day: NaiveDate) -> Vec<(&'static str, f64)> {
    let start = datetime_num(&date_start(day));
    let next = day.succ_opt().map(|n| datetime_num(&date_start(n)));
    match (op, next) {
        (CompOp::Gt, Some(next)) => vec![(">=", next)],
        (CompOp::Le, Some(next)) => vec![("<", next)],
        (CompOp::Eq, Some(next)) => vec![(">=", start), ("<", next)],
        (CompOp::Lt, _) => vec![("<", start)],
        // On the last representable day every instant is on or before it.
        (CompOp::Le, None) => vec![],
        // Ge, and Gt / Eq on the last representable day (a superset).
        _ => vec![(">=", start)],
    }
}

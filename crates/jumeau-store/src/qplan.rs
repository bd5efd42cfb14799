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

/// The engine-specific parts of a prefilter.
pub trait Dialect {
    /// The SQL of a constant condition.
    fn constant(&self, value: bool) -> &'static str;
    /// Binds a number and returns its placeholder.
    fn bind_real(&mut self, value: f64) -> String;
    /// Opens the condition "some index row of attribute `attr` exists" (with `negate`: "no
    /// row of it exists") for the current entity; the row conditions follow after ` AND `,
    /// then [`render`] closes it with [`Dialect::close_rows`].
    fn open_rows(&mut self, attr: &str, negate: bool) -> String;
    /// Closes the condition [`Dialect::open_rows`] opened, after its row conditions: `)`
    /// unless the engine adds a clause of its own there.
    fn close_rows(&self) -> &'static str {
        ")"
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
                " AND "
            } else {
                " OR "
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
            out.push_str(&d.open_rows(attr, *negate));
            if let Some(c) = cond {
                out.push_str(" AND ");
                render_cond(c, d, out);
            }
            out.push_str(d.close_rows());
        }
    }
}

fn render_cond(c: &Cond<'_>, d: &mut dyn Dialect, out: &mut String) {
    match c {
        Cond::Scalar(op, v) => out.push_str(&scalar(*op, v, d)),
        Cond::Range(lo, hi) => {
            let lo = scalar(CompOp::Ge, lo, d);
            let hi = scalar(CompOp::Le, hi, d);
            out.push_str(&format!("({lo} AND {hi})"));
        }
        Cond::List(items) => {
            let parts: Vec<String> = items.iter().map(|i| scalar(CompOp::Eq, i, d)).collect();
            out.push_str(&format!("({})", parts.join(" OR ")));
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
    let kind = |k: ValueKind| format!("vt = '{}'", k.code());
    match v {
        QValue::Number(n) => {
            let n = d.bind_real(*n);
            format!("({} AND num {} {n})", kind(ValueKind::Number), sql_op(op))
        }
        // Every string row (text, date-time, relationship) keeps its text in txt; other
        // rows have none, so no kind test is needed.
        QValue::Text(s) => d.text(op, s),
        QValue::Bool(b) => {
            let b = d.bind_real(if *b { 1.0 } else { 0.0 });
            format!("({} AND num {} {b})", kind(ValueKind::Bool), sql_op(op))
        }
        QValue::DateTime(t) => {
            format!("({} AND {})", kind(ValueKind::DateTime), datetime(op, t, d))
        }
        QValue::Date(day) => format!("({} AND {})", kind(ValueKind::DateTime), date(op, *day, d)),
        QValue::Range(..) | QValue::List(_) | QValue::Pattern(_) => d.constant(true).into(),
    }
}

/// A condition on `num` for a date-time comparison. Indexed instants are rounded down to
/// the millisecond (monotonic), so strict and equality comparisons are widened where the
/// rounding could otherwise lose a candidate.
fn datetime(op: CompOp, t: &DateTime<Utc>, d: &mut dyn Dialect) -> String {
    let whole_ms = t.timestamp_subsec_millis() * 1_000_000 == t.timestamp_subsec_nanos();
    let n = d.bind_real(datetime_num(t));
    let sql = match op {
        CompOp::Gt | CompOp::Ge => ">=",
        CompOp::Lt if whole_ms => "<",
        CompOp::Lt | CompOp::Le => "<=",
        _ => "=",
    };
    format!("num {sql} {n}")
}

/// A condition on `num` for a date comparison: the value's UTC day against `day`, that is
/// its instant against midnight of `day` and of the next day (exact, both being whole
/// milliseconds).
fn date(op: CompOp, day: NaiveDate, d: &mut dyn Dialect) -> String {
    let start = datetime_num(&date_start(day));
    let next = day.succ_opt().map(|n| datetime_num(&date_start(n)));
    match (op, next) {
        (CompOp::Gt, Some(next)) => format!("num >= {}", d.bind_real(next)),
        (CompOp::Le, Some(next)) => format!("num < {}", d.bind_real(next)),
        (CompOp::Eq, Some(next)) => {
            let s = d.bind_real(start);
            format!("num >= {s} AND num < {}", d.bind_real(next))
        }
        (CompOp::Lt, _) => format!("num < {}", d.bind_real(start)),
        // On the last representable day every instant is on or before it.
        (CompOp::Le, None) => d.constant(true).into(),
        // Ge, and Gt / Eq on the last representable day (a superset).
        _ => format!("num >= {}", d.bind_real(start)),
    }
}

//! The NGSI-LD query language: the `q` parameter (ETSI GS CIM 009 §4.9).
//!
//! A query such as `temperature>20;(status=="on"|brightness==50..100)` is parsed once into a
//! [`QExpr`] tree, then evaluated on entities with [`QExpr::matches`], the reference
//! semantics. The tree is public so that store engines can translate it into their own
//! index lookups (SQL, ...) as long as they give a superset of the exact answer.
//!
//! # Grammar
//!
//! ```text
//! Query     = Term *( (";" / "|") Term )      ; ";" is AND, "|" is OR, AND binds tighter
//! Term      = "(" Query ")" / "!" Attribute / Attribute [ Operator Value ]
//! Operator  = "==" / "!=" / ">" / ">=" / "<" / "<=" / "~=" / "!~="
//! Attribute = name *( "." name ) *( "[" key *( "." key ) "]" )
//! Value     = Scalar / Scalar ".." Scalar / Scalar 1*( "," Scalar )
//! Scalar    = number / "quoted \"string\"" / true / false / date-time / date / URI
//! ```
//!
//! * An attribute alone means "the attribute exists"; `!attr` means it does not.
//! * `attr.sub` names a sub-attribute (each dotted segment is expanded with the caller's
//!   @context); `attr[key.key2]` walks into a JSON object value (keys are not expanded);
//!   `attr.observedAt`, `attr.modifiedAt`, `attr.createdAt`, `attr.unitCode` and
//!   `attr.datasetId` address the attribute's own metadata.
//! * A name containing `://` is taken as an already expanded IRI and is neither expanded
//!   nor split on dots (best effort: only a trailing metadata name such as `.observedAt`
//!   is recognised in it).
//! * Ranges `min..max` (inclusive) and value lists `a,b,c` (any of) are allowed with `==`
//!   and `!=` only.
//! * Unquoted values are typed: numbers, `true`/`false`, RFC 3339 date-times, dates
//!   (`2024-01-01`); anything else, URIs included, is a string. Quoted values are always
//!   strings; inside quotes `\"` is a quote and `\\` a backslash.
//! * The pattern after `~=` or `!~=` is a regular expression (Rust `regex` syntax). Unquoted,
//!   it ends at a `;`, `|` or `)` outside its own parentheses and brackets; quote it
//!   (`name~="a|b"`) when it must hold such characters at top level. In a quoted pattern only
//!   `\"` is unescaped; every other backslash is passed to the regex as written.
//! * The caller hands over the URL-decoded string; nothing is decoded again here.
//!
//! # Semantics
//!
//! The compared values of an attribute instance are: a Property's value (for a typed literal
//! `{"@type": .., "@value": ..}` its `@value`), a Relationship's object (each of them when it
//! has several), every string of a LanguageProperty, every element of an array, ListProperty
//! or ListRelationship. Numbers compare numerically, strings lexicographically (by bytes),
//! booleans with false < true; a date-time compares chronologically with a string value
//! that parses as an RFC 3339 date-time (a date value counts as midnight UTC); a date
//! compares with the UTC calendar day of a date-time value. Values of other types never
//! satisfy `==`, `>`, `~=` and the like.
//!
//! * `==`, ranges, lists and orderings hold when ANY compared value of the instance does.
//! * `!=` holds when the attribute exists and NONE of its values equals the query value; a
//!   value of another type is "not equal", so `count!="ten"` holds for `count: 10`.
//! * `!~=` holds when the attribute exists and no string value matches the pattern.
//! * An attribute that does not exist never satisfies a comparison, `!=` included.
//! * Every instance (datasetId) of the attribute is considered: a term holds when it holds
//!   for any instance.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use regex::{Regex, RegexBuilder};
use serde_json::Value;

use crate::entity::{Attribute, AttributeValue};
use crate::{Entity, ErrorKind, NgsiError, Result};

/// The longest q expression accepted, in bytes; longer queries are refused as too complex
/// so that a hostile client cannot make the broker parse megabytes.
pub const MAX_Q_LEN: usize = 8 * 1024;

/// The deepest nesting of parentheses accepted, so that evaluation never exhausts the stack.
pub const MAX_Q_DEPTH: usize = 32;

/// Bounds on the compiled size of a regular expression from a query (bytes), so that a
/// pattern such as `(a{100}){100}` cannot take the broker's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Bound on the cache of the lazy DFA of one regular expression (bytes).
const REGEX_DFA_LIMIT: usize = 1 << 20;
/// Bound on the nesting of groups inside one regular expression.
const REGEX_NEST_LIMIT: u32 = 64;

/// A parsed q expression: the tree engines translate and [`QExpr::matches`] evaluates.
#[derive(Debug, Clone, PartialEq)]
pub enum QExpr {
    /// All sub-expressions hold (`;`). Never directly holds another `And`.
    And(Vec<QExpr>),
    /// At least one sub-expression holds (`|`). Never directly holds another `Or`.
    Or(Vec<QExpr>),
    /// The attribute (sub-attribute, key or metadata) exists (`attr`).
    Exists(AttrPath),
    /// The attribute (sub-attribute, key or metadata) does not exist (`!attr`).
    NotExists(AttrPath),
    /// A comparison of the values found at `path` with `value`.
    Compare {
        /// What is compared.
        path: AttrPath,
        /// How it is compared.
        op: CompOp,
        /// What it is compared with: a [`QValue::Pattern`] exactly when `op` is
        /// [`CompOp::Match`] or [`CompOp::NotMatch`]; ranges and lists only with
        /// [`CompOp::Eq`] and [`CompOp::Ne`].
        value: QValue,
    },
}

/// Where a query term looks in an entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The expanded name of the top-level attribute.
    pub attr: String,
    /// Expanded sub-attribute names, outermost first (`attr.sub.subsub`); empty for the
    /// attribute itself.
    pub sub: Vec<String>,
    /// Keys walked into a JSON object value (`attr[key.key2]`), not expanded; empty for the
    /// value itself.
    pub compound: Vec<String>,
    /// The metadata of the (sub-)attribute addressed instead of its value, if any.
    pub meta: Option<MetaField>,
}

impl AttrPath {
    /// A path to the value of a top-level attribute (expanded name).
    pub fn attr(name: impl Into<String>) -> Self {
        Self {
            attr: name.into(),
            sub: Vec::new(),
            compound: Vec::new(),
            meta: None,
        }
    }

    /// True when the path is the value of a top-level attribute: no sub-attribute, key or
    /// metadata. Such paths are the ones value indexes can answer.
    pub fn is_top_level(&self) -> bool {
        self.sub.is_empty() && self.compound.is_empty() && self.meta.is_none()
    }
}

/// The metadata of an attribute that a query can address (`attr.observedAt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaField {
    /// `observedAt`: when the value was observed.
    ObservedAt,
    /// `modifiedAt`: when the broker last changed the attribute.
    ModifiedAt,
    /// `createdAt`: when the broker first stored the attribute.
    CreatedAt,
    /// `unitCode`: the UN/CEFACT unit code.
    UnitCode,
    /// `datasetId`: the instance's dataset id.
    DatasetId,
}

impl MetaField {
    /// The member name as written in queries and in the normalized form.
    pub fn name(self) -> &'static str {
        match self {
            Self::ObservedAt => "observedAt",
            Self::ModifiedAt => "modifiedAt",
            Self::CreatedAt => "createdAt",
            Self::UnitCode => "unitCode",
            Self::DatasetId => "datasetId",
        }
    }

    /// The metadata named `s`, if `s` is one of the reserved names.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "observedAt" => Self::ObservedAt,
            "modifiedAt" => Self::ModifiedAt,
            "createdAt" => Self::CreatedAt,
            "unitCode" => Self::UnitCode,
            "datasetId" => Self::DatasetId,
            _ => return None,
        })
    }
}

/// A comparison operator of the query language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompOp {
    /// `==`: equal, within a range, or equal to one of a list.
    Eq,
    /// `!=`: exists and not equal (not within the range, not in the list).
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `~=`: a string value matches the regular expression.
    Match,
    /// `!~=`: exists and no string value matches the regular expression.
    NotMatch,
}

impl CompOp {
    /// The operator as written in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Match => "~=",
            Self::NotMatch => "!~=",
        }
    }

    /// Whether an ordering of (value, query value) satisfies this operator; false for the
    /// pattern operators.
    pub fn accepts(self, o: Ordering) -> bool {
        match self {
            Self::Eq => o == Ordering::Equal,
            Self::Ne => o != Ordering::Equal,
            Self::Gt => o == Ordering::Greater,
            Self::Ge => o != Ordering::Less,
            Self::Lt => o == Ordering::Less,
            Self::Le => o != Ordering::Greater,
            Self::Match | Self::NotMatch => false,
        }
    }
}

/// A value a query compares with.
///
/// `Number`, `Text`, `Bool`, `DateTime` and `Date` are scalars; the bounds of a `Range` are
/// two scalars of the same variant (never `Bool`) with min <= max, and the items of a `List`
/// are scalars.
#[derive(Debug, Clone, PartialEq)]
pub enum QValue {
    /// A number (integers are held as f64, as JSON numbers are compared).
    Number(f64),
    /// A string: quoted, or an unquoted word or URI.
    Text(String),
    /// `true` or `false`.
    Bool(bool),
    /// An RFC 3339 date-time, in UTC.
    DateTime(DateTime<Utc>),
    /// A calendar date (`2024-01-01`), compared with the UTC day of date-time values.
    Date(NaiveDate),
    /// An inclusive range `min..max`.
    Range(Box<QValue>, Box<QValue>),
    /// Any of these values (`a,b,c`).
    List(Vec<QValue>),
    /// A regular expression (after `~=` or `!~=`).
    Pattern(QPattern),
}

/// A regular expression of a query, with its source text (for SQL engines and messages).
#[derive(Clone)]
pub struct QPattern {
    source: String,
    regex: Regex,
}

impl QPattern {
    /// Compiles a pattern with the query language's size limits; the error says why the
    /// pattern is not accepted.
    pub fn new(source: &str) -> std::result::Result<Self, String> {
        let regex = compile_regex(source)?;
        Ok(Self {
            source: source.to_string(),
            regex,
        })
    }
    /// The pattern as the client wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }
    /// The compiled regular expression.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }
}

impl PartialEq for QPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for QPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QPattern({:?})", self.source)
    }
}

/// Compiles a regular expression as the query language does (same syntax and limits), so
/// that engines evaluating `~=` themselves (an SQL function) agree with [`QExpr::matches`].
pub fn compile_regex(source: &str) -> std::result::Result<Regex, String> {
    RegexBuilder::new(source)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .map_err(|e| {
            e.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
}

/// A scalar found in an attribute value: what the query language compares.
///
/// [`value_scalars`] is the one definition of "the values of an attribute"; index builders
/// use it too, so that their rows agree with [`QExpr::matches`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueScalar<'a> {
    /// A JSON number.
    Number(f64),
    /// A string: a Property string, a typed literal's `@value`, a Relationship object (one
    /// per object when it has several), a LanguageProperty string.
    Text(&'a str),
    /// A JSON boolean.
    Bool(bool),
}

/// The scalars of an attribute value that queries compare (see the module documentation):
/// empty for GeoProperties, objects, null and empty arrays. Arrays are looked into one level
/// deep only.
pub fn value_scalars(v: &AttributeValue) -> Vec<ValueScalar<'_>> {
    let mut out = Vec::new();
    match v {
        AttributeValue::Property(j)
        | AttributeValue::JsonProperty(j)
        | AttributeValue::VocabProperty(j) => json_scalars(j, &mut out),
        AttributeValue::Relationship(o) => {
            out.extend(o.iter().map(|s| ValueScalar::Text(s.as_str())))
        }
        AttributeValue::GeoProperty(_) => {}
        AttributeValue::LanguageProperty(m) => {
            for s in m.values() {
                match s {
                    Value::String(s) => out.push(ValueScalar::Text(s)),
                    Value::Array(items) => out.extend(
                        items
                            .iter()
                            .filter_map(|i| i.as_str().map(ValueScalar::Text)),
                    ),
                    _ => {}
                }
            }
        }
        AttributeValue::ListProperty(items) => out.extend(items.iter().filter_map(element_scalar)),
        AttributeValue::ListRelationship(items) => {
            out.extend(items.iter().map(|s| ValueScalar::Text(s.as_str())))
        }
    }
    out
}

/// The scalars of a JSON value: itself, its `@value`, or its elements (one level).
fn json_scalars<'a>(v: &'a Value, out: &mut Vec<ValueScalar<'a>>) {
    match v {
        Value::Array(items) => out.extend(items.iter().filter_map(element_scalar)),
        other => out.extend(element_scalar(other)),
    }
}

/// A JSON scalar, or the scalar `@value` of a typed literal.
fn element_scalar(v: &Value) -> Option<ValueScalar<'_>> {
    let v = match v {
        Value::Object(o) => o.get("@value")?,
        other => other,
    };
    match v {
        Value::Number(n) => n.as_f64().map(ValueScalar::Number),
        Value::String(s) => Some(ValueScalar::Text(s)),
        Value::Bool(b) => Some(ValueScalar::Bool(*b)),
        _ => None,
    }
}

/// A date or date-time read from a string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporal {
    /// An RFC 3339 date-time, in UTC.
    DateTime(DateTime<Utc>),
    /// A calendar date written `YYYY-MM-DD`.
    Date(NaiveDate),
}

impl Temporal {
    /// The instant this stands for: the date-time, or midnight UTC of the date.
    pub fn instant(self) -> DateTime<Utc> {
        match self {
            Self::DateTime(d) => d,
            Self::Date(d) => date_start(d),
        }
    }
}

/// Midnight UTC at the start of a date.
pub fn date_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::MIN).and_utc()
}

/// Reads a string value as a date (`YYYY-MM-DD`) or an RFC 3339 date-time, as the query
/// language does when comparing it with a date or date-time; `None` for any other string.
pub fn parse_temporal(s: &str) -> Option<Temporal> {
    let b = s.as_bytes();
    if b.len() < 10
        || !b[..4].iter().all(u8::is_ascii_digit)
        || b[4] != b'-'
        || !b[5..7].iter().all(u8::is_ascii_digit)
        || b[7] != b'-'
        || !b[8..10].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    if b.len() == 10 {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(Temporal::Date);
    }
    crate::time::parse_datetime(s).ok().map(Temporal::DateTime)
}

impl QExpr {
    /// Parses a q expression (URL-decoded), expanding attribute and sub-attribute names with
    /// `expand`. Errors are InvalidRequest naming the position (1-based, in characters) and
    /// the offending text; TooComplexQuery when the query is longer than [`MAX_Q_LEN`] or
    /// nests parentheses deeper than [`MAX_Q_DEPTH`].
    pub fn parse(s: &str, expand: &dyn Fn(&str) -> String) -> Result<Self> {
        if s.len() > MAX_Q_LEN {
            return Err(NgsiError::new(
                ErrorKind::TooComplexQuery,
                format!(
                    "q is {} bytes long, more than the {MAX_Q_LEN} accepted; split the query into simpler ones",
                    s.len()
                ),
            ));
        }
        let mut p = Parser {
            chars: s.chars().collect(),
            pos: 0,
            expand,
        };
        p.skip_ws();
        if p.peek().is_none() {
            return Err(NgsiError::invalid(
                "q is empty; give a query such as temperature>20, or leave the parameter out",
            ));
        }
        let e = p.parse_or(0)?;
        p.skip_ws();
        if let Some(c) = p.peek() {
            return Err(if c == ')' {
                p.err(format!(
                    "unexpected ')' at position {}: no '(' opens it; remove it or add the matching '('",
                    p.pos + 1
                ))
            } else {
                p.err(format!(
                    "unexpected '{c}' at position {}; join query terms with ';' (and) or '|' (or) and quote string values",
                    p.pos + 1
                ))
            });
        }
        Ok(e)
    }

    /// Whether an entity satisfies the expression: the reference semantics (see the module
    /// documentation).
    pub fn matches(&self, e: &Entity) -> bool {
        match self {
            Self::And(terms) => terms.iter().all(|t| t.matches(e)),
            Self::Or(terms) => terms.iter().any(|t| t.matches(e)),
            Self::Exists(p) => instances(e, p).iter().any(|a| target(a, p).is_some()),
            Self::NotExists(p) => !instances(e, p).iter().any(|a| target(a, p).is_some()),
            Self::Compare { path, op, value } => instances(e, path)
                .iter()
                .any(|a| target(a, path).is_some_and(|c| holds(&c, *op, value))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation

/// A value found at a query path.
#[derive(Debug, Clone, Copy)]
enum Cand<'a> {
    Num(f64),
    Str(&'a str),
    Bool(bool),
    Time(DateTime<Utc>),
}

impl<'a> From<ValueScalar<'a>> for Cand<'a> {
    fn from(s: ValueScalar<'a>) -> Self {
        match s {
            ValueScalar::Number(n) => Self::Num(n),
            ValueScalar::Text(t) => Self::Str(t),
            ValueScalar::Bool(b) => Self::Bool(b),
        }
    }
}

/// Every instance of the (sub-)attribute a path names.
fn instances<'a>(e: &'a Entity, p: &AttrPath) -> Vec<&'a Attribute> {
    let mut cur: Vec<&Attribute> = e
        .attrs
        .get(&p.attr)
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    for s in &p.sub {
        cur = cur
            .iter()
            .flat_map(|a| a.sub.get(s).into_iter().flatten())
            .collect();
    }
    cur
}

/// The values at the end of a path in one instance; `None` when the key or metadata is
/// absent.
fn target<'a>(a: &'a Attribute, p: &AttrPath) -> Option<Vec<Cand<'a>>> {
    if let Some(m) = p.meta {
        let c = match m {
            MetaField::ObservedAt => Cand::Time(a.observed_at?),
            MetaField::CreatedAt => Cand::Time(a.created_at?),
            MetaField::ModifiedAt => Cand::Time(a.modified_at?),
            MetaField::UnitCode => Cand::Str(a.unit_code.as_deref()?),
            MetaField::DatasetId => Cand::Str(a.dataset_id.as_deref()?),
        };
        return Some(vec![c]);
    }
    if p.compound.is_empty() {
        return Some(
            value_scalars(&a.value)
                .into_iter()
                .map(Cand::from)
                .collect(),
        );
    }
    let nodes = compound_nodes(&a.value, &p.compound);
    if nodes.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for n in nodes {
        json_scalars(n, &mut out);
    }
    Some(out.into_iter().map(Cand::from).collect())
}

/// The JSON nodes reached by walking `keys` into a value; arrays met on the way are looked
/// into one level (each object element is walked). Null members count as absent.
fn compound_nodes<'a>(v: &'a AttributeValue, keys: &[String]) -> Vec<&'a Value> {
    let Some((first, rest)) = keys.split_first() else {
        return Vec::new();
    };
    let mut cur: Vec<&'a Value> = match v {
        AttributeValue::Property(j)
        | AttributeValue::JsonProperty(j)
        | AttributeValue::VocabProperty(j) => step(&[j], first),
        AttributeValue::LanguageProperty(m) => m
            .get(first.as_str())
            .filter(|x| !x.is_null())
            .into_iter()
            .collect(),
        AttributeValue::ListProperty(items) => step(&items.iter().collect::<Vec<_>>(), first),
        _ => Vec::new(),
    };
    for k in rest {
        cur = step(&cur, k);
    }
    cur
}

/// One key step of [`compound_nodes`]: the non-null members `key` of the objects among
/// `nodes` and among the elements of the arrays among `nodes`.
fn step<'a>(nodes: &[&'a Value], key: &str) -> Vec<&'a Value> {
    let member = |o: &'a serde_json::Map<String, Value>| o.get(key).filter(|x| !x.is_null());
    let mut out = Vec::new();
    for n in nodes {
        match n {
            Value::Object(o) => out.extend(member(o)),
            Value::Array(items) => {
                for i in items {
                    if let Value::Object(o) = i {
                        out.extend(member(o));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether the values of one instance satisfy an operator and a value.
fn holds(cands: &[Cand<'_>], op: CompOp, value: &QValue) -> bool {
    match op {
        CompOp::Eq => cands.iter().any(|c| equals(c, value)),
        CompOp::Ne => !cands.iter().any(|c| equals(c, value)),
        CompOp::Gt | CompOp::Ge | CompOp::Lt | CompOp::Le => cands
            .iter()
            .any(|c| compare(c, value).is_some_and(|o| op.accepts(o))),
        CompOp::Match | CompOp::NotMatch => {
            let QValue::Pattern(p) = value else {
                return false;
            };
            let any = cands
                .iter()
                .any(|c| text_of(c).is_some_and(|t| p.regex.is_match(&t)));
            any == (op == CompOp::Match)
        }
    }
}

/// `==` of one value: equal to a scalar, within a range, equal to an item of a list.
fn equals(c: &Cand<'_>, value: &QValue) -> bool {
    match value {
        QValue::Range(lo, hi) => {
            compare(c, lo).is_some_and(|o| o != Ordering::Less)
                && compare(c, hi).is_some_and(|o| o != Ordering::Greater)
        }
        QValue::List(items) => items.iter().any(|i| compare(c, i) == Some(Ordering::Equal)),
        other => compare(c, other) == Some(Ordering::Equal),
    }
}

/// The ordering of a value against a scalar query value; `None` when their types differ.
fn compare(c: &Cand<'_>, q: &QValue) -> Option<Ordering> {
    match (c, q) {
        (Cand::Num(a), QValue::Number(b)) => a.partial_cmp(b),
        (Cand::Str(a), QValue::Text(b)) => Some((*a).cmp(b.as_str())),
        (Cand::Bool(a), QValue::Bool(b)) => Some(a.cmp(b)),
        (Cand::Str(s), QValue::DateTime(d)) => Some(parse_temporal(s)?.instant().cmp(d)),
        (Cand::Time(t), QValue::DateTime(d)) => Some(t.cmp(d)),
        (Cand::Str(s), QValue::Date(d)) => Some(match parse_temporal(s)? {
            Temporal::DateTime(t) => t.date_naive().cmp(d),
            Temporal::Date(x) => x.cmp(d),
        }),
        (Cand::Time(t), QValue::Date(d)) => Some(t.date_naive().cmp(d)),
        _ => None,
    }
}

/// The text a pattern is matched against: strings, and metadata date-times as RFC 3339.
fn text_of<'a>(c: &Cand<'a>) -> Option<Cow<'a, str>> {
    match c {
        Cand::Str(s) => Some(Cow::Borrowed(s)),
        Cand::Time(t) => Some(Cow::Owned(crate::time::format_datetime(t))),
        Cand::Num(_) | Cand::Bool(_) => None,
    }
}

// ---------------------------------------------------------------------------------------
// Parsing

/// A recursive-descent parser over characters (positions in messages count characters).
struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    expand: &'a dyn Fn(&str) -> String,
}

/// Characters that end an attribute name.
fn ends_name(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '=' | '!' | '<' | '>' | '~' | ';' | '|' | '(' | ')' | ',' | '"' | '[' | ']'
        )
}

/// Characters that end an unquoted value.
fn ends_value(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ';' | '|' | '(' | ')' | '"')
}

/// Whether an unquoted token starts like an absolute URI (`scheme:`), in which case `..`
/// inside it is part of it rather than a range.
fn looks_like_uri(tok: &str) -> bool {
    let Some((scheme, _)) = tok.split_once(':') else {
        return false;
    };
    let mut cs = scheme.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphabetic())
        && cs.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Whether a token is a JSON-style number: `-?digits[.digits][e[+-]digits]`.
fn is_number(tok: &str) -> bool {
    let b = tok.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    if !digits(&mut i) {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// A one-word description of a scalar's type, for messages.
fn kind_name(v: &QValue) -> &'static str {
    match v {
        QValue::Number(_) => "number",
        QValue::Text(_) => "string",
        QValue::Bool(_) => "boolean",
        QValue::DateTime(_) => "date-time",
        QValue::Date(_) => "date",
        QValue::Range(..) => "range",
        QValue::List(_) => "list",
        QValue::Pattern(_) => "pattern",
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(self.pos + i) == Some(c))
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn err(&self, msg: String) -> NgsiError {
        NgsiError::invalid(format!("q: {msg}"))
    }

    /// Text of the input from `start` to the current position.
    fn text_from(&self, start: usize) -> String {
        self.chars[start.min(self.pos)..self.pos].iter().collect()
    }

    fn parse_or(&mut self, depth: usize) -> Result<QExpr> {
        let mut terms = vec![self.parse_and(depth)?];
        loop {
            self.skip_ws();
            if self.peek() != Some('|') {
                break;
            }
            self.pos += 1;
            terms.push(self.parse_and(depth)?);
        }
        Ok(join(terms, false))
    }

    fn parse_and(&mut self, depth: usize) -> Result<QExpr> {
        let mut terms = vec![self.parse_factor(depth)?];
        loop {
            self.skip_ws();
            if self.peek() != Some(';') {
                break;
            }
            self.pos += 1;
            terms.push(self.parse_factor(depth)?);
        }
        Ok(join(terms, true))
    }

    fn parse_factor(&mut self, depth: usize) -> Result<QExpr> {
        self.skip_ws();
        if self.peek() != Some('(') {
            return self.parse_term();
        }
        let open = self.pos;
        if depth >= MAX_Q_DEPTH {
            return Err(NgsiError::new(
                ErrorKind::TooComplexQuery,
                format!(
                    "q: parentheses are nested more than {MAX_Q_DEPTH} levels deep at position {}; simplify the query",
                    open + 1
                ),
            ));
        }
        self.pos += 1;
        let e = self.parse_or(depth + 1)?;
        self.skip_ws();
        match self.peek() {
            Some(')') => {
                self.pos += 1;
                Ok(e)
            }
            None => Err(self.err(format!(
                "missing ')' to close the '(' at position {}; add it at the end of the group",
                open + 1
            ))),
            Some(c) => Err(self.err(format!(
                "unexpected '{c}' at position {} inside the group opened at position {}; join query terms with ';' (and) or '|' (or) and quote string values",
                self.pos + 1,
                open + 1
            ))),
        }
    }

    fn parse_term(&mut self) -> Result<QExpr> {
        self.skip_ws();
        let negated = self.peek() == Some('!');
        if negated {
            self.pos += 1;
        }
        let path = self.parse_path()?;
        self.skip_ws();
        let op_pos = self.pos;
        let op = self.parse_op()?;
        if negated {
            if let Some(op) = op {
                return Err(self.err(format!(
                    "'!' before an attribute means 'does not exist' and takes no operator, yet '{}' follows at position {}; write attr!=value to compare",
                    op.as_str(),
                    op_pos + 1
                )));
            }
            return Ok(QExpr::NotExists(path));
        }
        let Some(op) = op else {
            return Ok(QExpr::Exists(path));
        };
        self.skip_ws();
        let value = match op {
            CompOp::Match | CompOp::NotMatch => self.parse_pattern(op)?,
            _ => self.parse_value(op)?,
        };
        Ok(QExpr::Compare { path, op, value })
    }

    /// Reads an operator if one is next.
    fn parse_op(&mut self) -> Result<Option<CompOp>> {
        let table = [
            ("==", CompOp::Eq),
            ("!~=", CompOp::NotMatch),
            ("!=", CompOp::Ne),
            (">=", CompOp::Ge),
            ("<=", CompOp::Le),
            (">", CompOp::Gt),
            ("<", CompOp::Lt),
            ("~=", CompOp::Match),
        ];
        for (s, op) in table {
            if self.starts_with(s) {
                self.pos += s.chars().count();
                return Ok(Some(op));
            }
        }
        match self.peek() {
            Some('=') => Err(self.err(format!(
                "a single '=' at position {} is not an operator; use '==' to compare",
                self.pos + 1
            ))),
            Some(c @ ('!' | '~')) => Err(self.err(format!(
                "'{c}' at position {} does not start an operator; the operators are == != > >= < <= ~= !~=",
                self.pos + 1
            ))),
            _ => Ok(None),
        }
    }

    /// Reads an attribute path: `name(.name)*([key(.key)*])*`.
    fn parse_path(&mut self) -> Result<AttrPath> {
        let start = self.pos;
        while self.peek().is_some_and(|c| !ends_name(c)) {
            self.pos += 1;
        }
        let name = self.text_from(start);
        if name.is_empty() {
            return Err(match self.peek() {
                None => self.err(format!(
                    "the query ends at position {} where an attribute name was expected; remove the trailing operator or add a term",
                    self.pos + 1
                )),
                Some(c) => self.err(format!(
                    "expected an attribute name at position {} but found '{c}'; a term is attr, !attr or attr<operator>value",
                    self.pos + 1
                )),
            });
        }
        let mut compound = Vec::new();
        while self.peek() == Some('[') {
            let open = self.pos;
            self.pos += 1;
            let key_start = self.pos;
            while self.peek().is_some_and(|c| c != ']') {
                self.pos += 1;
            }
            if self.peek().is_none() {
                return Err(self.err(format!(
                    "missing ']' to close the '[' at position {} after '{name}'",
                    open + 1
                )));
            }
            let keys = self.text_from(key_start);
            self.pos += 1;
            for k in keys.split('.') {
                if k.trim().is_empty() {
                    return Err(self.err(format!(
                        "empty key in '[{keys}]' at position {}; write attr[key] or attr[key.subkey]",
                        open + 1
                    )));
                }
                compound.push(k.to_string());
            }
        }
        if let Some(c) = self.peek() {
            if !(c.is_whitespace() || matches!(c, '=' | '!' | '<' | '>' | '~' | ';' | '|' | ')')) {
                return Err(self.err(format!(
                    "unexpected '{c}' at position {} after the attribute '{}'; a term is attr, !attr or attr<operator>value",
                    self.pos + 1,
                    self.text_from(start)
                )));
            }
        }
        self.build_path(&name, compound, start)
    }

    /// Splits a dotted name into attribute, sub-attributes and metadata, expanding names.
    fn build_path(&self, name: &str, compound: Vec<String>, start: usize) -> Result<AttrPath> {
        let (base, meta) = match name.rsplit_once('.') {
            Some((head, last)) if !head.is_empty() => match MetaField::from_name(last) {
                Some(m) => (head, Some(m)),
                None => (name, None),
            },
            _ => (name, None),
        };
        if meta.is_some() && !compound.is_empty() {
            return Err(self.err(format!(
                "'{name}' at position {} names metadata, which has no keys; remove the [...] after it",
                start + 1
            )));
        }
        if base.contains("://") {
            return Ok(AttrPath {
                attr: base.to_string(),
                sub: Vec::new(),
                compound,
                meta,
            });
        }
        let mut names = Vec::new();
        for s in base.split('.') {
            if s.is_empty() {
                return Err(self.err(format!(
                    "'{name}' at position {} has an empty name between dots; write attr or attr.subAttribute",
                    start + 1
                )));
            }
            names.push((self.expand)(s));
        }
        let mut names = names.into_iter();
        let attr = names.next().unwrap_or_default();
        Ok(AttrPath {
            attr,
            sub: names.collect(),
            compound,
            meta,
        })
    }

    /// Reads a regular expression after `~=` / `!~=`.
    fn parse_pattern(&mut self, op: CompOp) -> Result<QValue> {
        let start = self.pos;
        let source = if self.peek() == Some('"') {
            self.parse_quoted(true)?
        } else {
            let (mut depth, mut in_class, mut escaped) = (0usize, false, false);
            while let Some(c) = self.peek() {
                if escaped {
                    escaped = false;
                } else {
                    match c {
                        '\\' => escaped = true,
                        '[' if !in_class => in_class = true,
                        ']' if in_class => in_class = false,
                        '(' if !in_class => depth += 1,
                        ')' if !in_class => {
                            if depth == 0 {
                                break;
                            }
                            depth -= 1;
                        }
                        ';' | '|' if !in_class && depth == 0 => break,
                        _ => {}
                    }
                }
                self.pos += 1;
            }
            // Trailing blanks before a ';' or ')' belong to the query, not to the pattern.
            while self.pos > start && self.chars[self.pos - 1].is_whitespace() {
                self.pos -= 1;
            }
            self.text_from(start)
        };
        if source.is_empty() {
            return Err(self.err(format!(
                "the pattern after '{}' at position {} is empty; give a regular expression such as name~=\"^Rue\"",
                op.as_str(),
                start + 1
            )));
        }
        QPattern::new(&source).map(QValue::Pattern).map_err(|e| {
            self.err(format!(
                "'{source}' at position {} is not a valid regular expression: {e}",
                start + 1
            ))
        })
    }

    /// Reads a string in double quotes. In `raw` mode (patterns) only `\"` is unescaped;
    /// otherwise `\\` is a backslash too. Other backslashes are kept as written.
    fn parse_quoted(&mut self, raw: bool) -> Result<String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.err(format!(
                        "the string starting at position {} is not closed; end it with '\"' (write \\\" for a quote inside)",
                        start + 1
                    )))
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => match self.peek_at(self.pos + 1) {
                    Some('"') => {
                        out.push('"');
                        self.pos += 2;
                    }
                    Some('\\') if !raw => {
                        out.push('\\');
                        self.pos += 2;
                    }
                    Some(c) => {
                        out.push('\\');
                        out.push(c);
                        self.pos += 2;
                    }
                    None => self.pos += 1,
                },
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// Reads the value after a comparison operator: a scalar, a range or a list.
    fn parse_value(&mut self, op: CompOp) -> Result<QValue> {
        let start = self.pos;
        let first = self.parse_scalar(op)?;
        let value = if self.starts_with("..") {
            self.pos += 2;
            let second = self.parse_scalar(op)?;
            self.check_range(&first, &second, start)?;
            QValue::Range(Box::new(first), Box::new(second))
        } else if self.peek() == Some(',') {
            let mut items = vec![first];
            while self.peek() == Some(',') {
                self.pos += 1;
                items.push(self.parse_scalar(op)?);
                if self.starts_with("..") {
                    return Err(self.err(format!(
                        "the list at position {} holds a range at position {}; a value list holds single values only (a,b,c)",
                        start + 1,
                        self.pos + 1
                    )));
                }
            }
            QValue::List(items)
        } else {
            first
        };
        if matches!(value, QValue::Range(..) | QValue::List(_))
            && !matches!(op, CompOp::Eq | CompOp::Ne)
        {
            return Err(self.err(format!(
                "the {} '{}' at position {} follows '{}'; ranges and value lists are allowed with == and != only",
                kind_name(&value),
                self.text_from(start),
                start + 1,
                op.as_str()
            )));
        }
        Ok(value)
    }

    fn check_range(&self, lo: &QValue, hi: &QValue, start: usize) -> Result<()> {
        let order = match (lo, hi) {
            (QValue::Number(a), QValue::Number(b)) => a.partial_cmp(b),
            (QValue::Text(a), QValue::Text(b)) => Some(a.cmp(b)),
            (QValue::DateTime(a), QValue::DateTime(b)) => Some(a.cmp(b)),
            (QValue::Date(a), QValue::Date(b)) => Some(a.cmp(b)),
            (QValue::Bool(_), QValue::Bool(_)) => {
                return Err(self.err(format!(
                    "the range '{}' at position {} has boolean bounds; compare booleans with == true or == false",
                    self.text_from(start),
                    start + 1
                )))
            }
            _ => {
                return Err(self.err(format!(
                    "the range '{}' at position {} goes from a {} to a {}; give both bounds the same type, e.g. 10..20",
                    self.text_from(start),
                    start + 1,
                    kind_name(lo),
                    kind_name(hi)
                )))
            }
        };
        if order == Some(Ordering::Greater) {
            return Err(self.err(format!(
                "the range '{}' at position {} is empty: its lower bound is greater than its upper bound; write min..max",
                self.text_from(start),
                start + 1
            )));
        }
        Ok(())
    }

    /// Reads one scalar: a quoted string or an unquoted, typed token.
    fn parse_scalar(&mut self, op: CompOp) -> Result<QValue> {
        let start = self.pos;
        match self.peek() {
            Some('"') => return self.parse_quoted(false).map(QValue::Text),
            None => {
                return Err(self.err(format!(
                    "the query ends at position {} where a value was expected after '{}'; write e.g. temperature{}20",
                    self.pos + 1,
                    op.as_str(),
                    op.as_str()
                )))
            }
            Some(c) if ends_value(c) || self.starts_with("..") => {
                return Err(self.err(format!(
                    "expected a value at position {} after '{}' but found '{c}'; quote string values, e.g. name==\"Rue de la Paix\"",
                    self.pos + 1,
                    op.as_str()
                )))
            }
            Some(_) => {}
        }
        let mut tok = String::new();
        while let Some(c) = self.peek() {
            if ends_value(c)
                || (c == '.' && self.peek_at(self.pos + 1) == Some('.') && !looks_like_uri(&tok))
            {
                break;
            }
            tok.push(c);
            self.pos += 1;
        }
        Ok(match tok.as_str() {
            "true" => QValue::Bool(true),
            "false" => QValue::Bool(false),
            t if is_number(t) => match t.parse::<f64>() {
                Ok(n) if n.is_finite() => QValue::Number(n),
                _ => {
                    return Err(self.err(format!(
                        "the number '{t}' at position {} is out of range; use a smaller number",
                        start + 1
                    )))
                }
            },
            t => match parse_temporal(t) {
                Some(Temporal::DateTime(d)) => QValue::DateTime(d),
                Some(Temporal::Date(d)) => QValue::Date(d),
                None => QValue::Text(tok),
            },
        })
    }
}

/// Joins terms under AND (`and`) or OR, flattening nested groups of the same kind.
fn join(terms: Vec<QExpr>, and: bool) -> QExpr {
    if terms.len() == 1 {
        return terms.into_iter().next().unwrap_or(QExpr::And(Vec::new()));
    }
    let mut out = Vec::with_capacity(terms.len());
    for t in terms {
        match t {
            QExpr::And(v) if and => out.extend(v),
            QExpr::Or(v) if !and => out.extend(v),
            other => out.push(other),
        }
    }
    if and {
        QExpr::And(out)
    } else {
        QExpr::Or(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::entity::RelObject;
    use serde_json::json;

    fn ex(s: &str) -> String {
        format!("https://example.org/{s}")
    }

    fn parse(s: &str) -> Result<QExpr> {
        QExpr::parse(s, &ex)
    }

    fn p(s: &str) -> QExpr {
        match parse(s) {
            Ok(e) => e,
            Err(e) => panic!("'{s}' should parse: {}", e.detail),
        }
    }

    fn path(a: &str) -> AttrPath {
        AttrPath::attr(ex(a))
    }

    fn cmp(a: &str, op: CompOp, value: QValue) -> QExpr {
        QExpr::Compare {
            path: path(a),
            op,
            value,
        }
    }

    fn num(n: f64) -> QValue {
        QValue::Number(n)
    }

    fn text(s: &str) -> QValue {
        QValue::Text(s.to_string())
    }

    fn dt(s: &str) -> DateTime<Utc> {
        crate::time::parse_datetime(s).unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn err(s: &str) -> NgsiError {
        match parse(s) {
            Ok(e) => panic!("'{s}' should be refused, got {e:?}"),
            Err(e) => e,
        }
    }

    // -- parsing --------------------------------------------------------------------

    #[test]
    fn every_operator() {
        assert_eq!(p("t==1"), cmp("t", CompOp::Eq, num(1.0)));
        assert_eq!(p("t!=1"), cmp("t", CompOp::Ne, num(1.0)));
        assert_eq!(p("t>1"), cmp("t", CompOp::Gt, num(1.0)));
        assert_eq!(p("t>=1"), cmp("t", CompOp::Ge, num(1.0)));
        assert_eq!(p("t<1"), cmp("t", CompOp::Lt, num(1.0)));
        assert_eq!(p("t<=1"), cmp("t", CompOp::Le, num(1.0)));
        let QExpr::Compare {
            op: CompOp::Match,
            value: QValue::Pattern(pt),
            ..
        } = p("t~=^a.c$")
        else {
            panic!("~= should give a pattern")
        };
        assert_eq!(pt.as_str(), "^a.c$");
        let QExpr::Compare {
            op: CompOp::NotMatch,
            value: QValue::Pattern(pt),
            ..
        } = p("t!~=x")
        else {
            panic!("!~= should give a pattern")
        };
        assert_eq!(pt.as_str(), "x");
        assert_eq!(p("t"), QExpr::Exists(path("t")));
        assert_eq!(p("!t"), QExpr::NotExists(path("t")));
        assert_eq!(p(" t >= 1 "), cmp("t", CompOp::Ge, num(1.0)));
    }

    #[test]
    fn precedence_and_parentheses() {
        let (a, b, c) = (
            || QExpr::Exists(path("a")),
            || QExpr::Exists(path("b")),
            || QExpr::Exists(path("c")),
        );
        assert_eq!(p("a;b|c"), QExpr::Or(vec![QExpr::And(vec![a(), b()]), c()]));
        assert_eq!(p("a|b;c"), QExpr::Or(vec![a(), QExpr::And(vec![b(), c()])]));
        assert_eq!(
            p("(a|b);c"),
            QExpr::And(vec![QExpr::Or(vec![a(), b()]), c()])
        );
        assert_eq!(p("a;(b;c)"), QExpr::And(vec![a(), b(), c()]));
        assert_eq!(p("(a|b)|c"), QExpr::Or(vec![a(), b(), c()]));
        assert_eq!(p("((((a))))"), a());
        assert_eq!(p("( a ; b )"), QExpr::And(vec![a(), b()]));
        assert_eq!(
            p("a==1;(b==2|c==3)"),
            QExpr::And(vec![
                cmp("a", CompOp::Eq, num(1.0)),
                QExpr::Or(vec![
                    cmp("b", CompOp::Eq, num(2.0)),
                    cmp("c", CompOp::Eq, num(3.0))
                ])
            ])
        );
    }

    #[test]
    fn scalar_values() {
        let v = |s: &str| match p(&format!("a=={s}")) {
            QExpr::Compare { value, .. } => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(v("42"), num(42.0));
        assert_eq!(v("-3.5"), num(-3.5));
        assert_eq!(v("1e3"), num(1000.0));
        assert_eq!(v("-2.5E-1"), num(-0.25));
        assert_eq!(v("0"), num(0.0));
        assert_eq!(v("true"), QValue::Bool(true));
        assert_eq!(v("false"), QValue::Bool(false));
        assert_eq!(v("\"true\""), text("true"));
        assert_eq!(v("\"42\""), text("42"));
        assert_eq!(
            v("\"Rue de la Paix; n°3 | (bis)\""),
            text("Rue de la Paix; n°3 | (bis)")
        );
        assert_eq!(v(r#""say \"hi\" \\ \d""#), text(r#"say "hi" \ \d"#));
        assert_eq!(v("\"\""), text(""));
        assert_eq!(
            v("2024-01-01T00:00:00Z"),
            QValue::DateTime(dt("2024-01-01T00:00:00Z"))
        );
        assert_eq!(
            v("2024-01-01T02:00:00+02:00"),
            QValue::DateTime(dt("2024-01-01T00:00:00Z"))
        );
        assert_eq!(v("2024-02-29"), QValue::Date(date("2024-02-29")));
        assert_eq!(v("urn:ngsi-ld:Cabinet:1"), text("urn:ngsi-ld:Cabinet:1"));
        assert_eq!(
            v("https://example.org/a/b..c?x=1"),
            text("https://example.org/a/b..c?x=1")
        );
        assert_eq!(v("on"), text("on"));
        assert_eq!(v("12:30:00"), text("12:30:00"));
        assert_eq!(v("2023-02-29"), text("2023-02-29"));
        assert_eq!(v("1.5.3"), text("1.5.3"));
        assert_eq!(v("Ω"), text("Ω"));
    }

    #[test]
    fn ranges_and_lists() {
        let v = |s: &str| match p(&format!("a=={s}")) {
            QExpr::Compare { value, .. } => value,
            other => panic!("{other:?}"),
        };
        let range = |a: QValue, b: QValue| QValue::Range(Box::new(a), Box::new(b));
        assert_eq!(v("1..5"), range(num(1.0), num(5.0)));
        assert_eq!(v("-5.5..-1"), range(num(-5.5), num(-1.0)));
        assert_eq!(v("1.5..1.5"), range(num(1.5), num(1.5)));
        assert_eq!(
            v("2024-01-01T00:00:00Z..2024-12-31T23:59:59Z"),
            range(
                QValue::DateTime(dt("2024-01-01T00:00:00Z")),
                QValue::DateTime(dt("2024-12-31T23:59:59Z"))
            )
        );
        assert_eq!(
            v("2024-01-01..2024-01-31"),
            range(
                QValue::Date(date("2024-01-01")),
                QValue::Date(date("2024-01-31"))
            )
        );
        assert_eq!(v("\"a\"..\"m\""), range(text("a"), text("m")));
        assert_eq!(v("a..m"), range(text("a"), text("m")));
        assert_eq!(v("10:00..12:00"), range(text("10:00"), text("12:00")));
        assert_eq!(v("1,2,3"), QValue::List(vec![num(1.0), num(2.0), num(3.0)]));
        assert_eq!(
            v("\"on\",off,urn:x:1,7,true"),
            QValue::List(vec![
                text("on"),
                text("off"),
                text("urn:x:1"),
                num(7.0),
                QValue::Bool(true)
            ])
        );
        assert_eq!(
            p("a!=1..2"),
            cmp("a", CompOp::Ne, range(num(1.0), num(2.0)))
        );
        assert_eq!(
            p("a!=x,y"),
            cmp("a", CompOp::Ne, QValue::List(vec![text("x"), text("y")]))
        );
        assert_eq!(
            p("a==1,2;b"),
            QExpr::And(vec![
                cmp("a", CompOp::Eq, QValue::List(vec![num(1.0), num(2.0)])),
                QExpr::Exists(path("b")),
            ])
        );
    }

    #[test]
    fn attribute_paths() {
        let path_of = |s: &str| match p(s) {
            QExpr::Compare { path, .. } | QExpr::Exists(path) | QExpr::NotExists(path) => path,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            path_of("a.b.c==1"),
            AttrPath {
                attr: ex("a"),
                sub: vec![ex("b"), ex("c")],
                compound: vec![],
                meta: None
            }
        );
        assert_eq!(
            path_of("a[k.k2]==1"),
            AttrPath {
                attr: ex("a"),
                sub: vec![],
                compound: vec!["k".into(), "k2".into()],
                meta: None
            }
        );
        assert_eq!(
            path_of("a[k][k2]"),
            AttrPath {
                attr: ex("a"),
                sub: vec![],
                compound: vec!["k".into(), "k2".into()],
                meta: None
            }
        );
        assert_eq!(
            path_of("a.b[k]"),
            AttrPath {
                attr: ex("a"),
                sub: vec![ex("b")],
                compound: vec!["k".into()],
                meta: None
            }
        );
        for (name, m) in [
            ("observedAt", MetaField::ObservedAt),
            ("modifiedAt", MetaField::ModifiedAt),
            ("createdAt", MetaField::CreatedAt),
            ("unitCode", MetaField::UnitCode),
            ("datasetId", MetaField::DatasetId),
        ] {
            assert_eq!(
                path_of(&format!("a.{name}")),
                AttrPath {
                    attr: ex("a"),
                    sub: vec![],
                    compound: vec![],
                    meta: Some(m)
                }
            );
            assert_eq!(MetaField::from_name(m.name()), Some(m));
        }
        assert_eq!(
            path_of("a.b.observedAt>2024-01-01"),
            AttrPath {
                attr: ex("a"),
                sub: vec![ex("b")],
                compound: vec![],
                meta: Some(MetaField::ObservedAt)
            }
        );
        // A bare metadata word is an attribute name.
        assert_eq!(path_of("observedAt"), path("observedAt"));
        // Full IRIs are taken as expanded and not split.
        assert_eq!(
            path_of("https://x.org/ns/temp.v2>1"),
            AttrPath::attr("https://x.org/ns/temp.v2")
        );
        assert_eq!(
            path_of("https://x.org/ns/temp.observedAt"),
            AttrPath {
                attr: "https://x.org/ns/temp".into(),
                sub: vec![],
                compound: vec![],
                meta: Some(MetaField::ObservedAt)
            }
        );
        // Compact IRIs go through the expander.
        assert_eq!(path_of("ex:temp"), path("ex:temp"));
        assert_eq!(
            path_of("!a.b"),
            AttrPath {
                attr: ex("a"),
                sub: vec![ex("b")],
                compound: vec![],
                meta: None
            }
        );
        assert!(path_of("a").is_top_level());
        assert!(!path_of("a.b").is_top_level());
        assert!(!path_of("a[b]").is_top_level());
        assert!(!path_of("a.unitCode").is_top_level());
    }

    #[test]
    fn patterns() {
        let pat = |s: &str| match p(s) {
            QExpr::Compare {
                value: QValue::Pattern(p),
                ..
            } => p.as_str().to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(pat("a~=(?i)^rue (de|du)"), "(?i)^rue (de|du)");
        assert_eq!(pat("a~=\"x|y;z\""), "x|y;z");
        assert_eq!(pat(r#"a~="\d+ \"q\"""#), r#"\d+ "q""#);
        assert_eq!(pat(r"a~=x\|y"), r"x\|y");
        assert_eq!(pat("a~=[;|)]"), "[;|)]");
        assert_eq!(pat("a~=Rue de la Paix"), "Rue de la Paix");
        assert_eq!(
            p("a~=ab ;b"),
            QExpr::And(vec![
                QExpr::Compare {
                    path: path("a"),
                    op: CompOp::Match,
                    value: QValue::Pattern(QPattern::new("ab").unwrap())
                },
                QExpr::Exists(path("b")),
            ])
        );
        match p("(a~=x(y)|b)") {
            QExpr::Or(v) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_position_and_token() {
        for (q, needle) in [
            ("a=1", "single '=' at position 2"),
            ("a==", "position 4 where a value was expected"),
            ("a==;b", "position 4 after '==' but found ';'"),
            ("==1", "expected an attribute name at position 1"),
            (";a", "position 1"),
            ("a;", "position 3"),
            ("a|", "position 3"),
            ("(a", "missing ')' to close the '(' at position 1"),
            ("a)", "unexpected ')' at position 2"),
            ("()", "position 2 but found ')'"),
            ("a==\"x", "string starting at position 4 is not closed"),
            ("a[k", "missing ']' to close the '[' at position 2"),
            ("a[]", "empty key"),
            ("a[k..j]", "empty key"),
            ("a..b", "empty name between dots"),
            ("a.", "empty name between dots"),
            (".a", "empty name between dots"),
            ("a~=(", "not a valid regular expression"),
            ("a~=", "pattern after '~=' at position 4 is empty"),
            ("a>1..2", "allowed with == and != only"),
            ("a<1,2", "allowed with == and != only"),
            ("a==1..x", "from a number to a string"),
            ("a==true..false", "boolean bounds"),
            ("a==5..1", "lower bound is greater"),
            ("a==1,2..3", "holds a range"),
            ("a==1e999", "out of range"),
            ("!a==1", "takes no operator"),
            ("a~1", "'~' at position 2"),
            ("a!1", "'!' at position 2"),
            ("a b", "unexpected 'b' at position 3"),
            ("a==1 b", "unexpected 'b' at position 6"),
            ("a==x\"y\"", "unexpected '\"' at position 5"),
            ("a.observedAt[k]", "names metadata"),
            ("a[k]x", "unexpected 'x' at position 5"),
            ("a(b)", "unexpected '('"),
            ("a==..5", "expected a value at position 4"),
            ("(a;b c)", "inside the group opened at position 1"),
        ] {
            let e = err(q);
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{q}: {}", e.detail);
            assert!(e.detail.contains(needle), "{q}: {}", e.detail);
        }
        assert!(err("").detail.contains("empty"));
        assert!(err("   ").detail.contains("empty"));
    }

    #[test]
    fn size_and_depth_limits() {
        let ok = format!("{}a{}", "(".repeat(MAX_Q_DEPTH), ")".repeat(MAX_Q_DEPTH));
        assert_eq!(p(&ok), QExpr::Exists(path("a")));
        let deep = format!(
            "{}a{}",
            "(".repeat(MAX_Q_DEPTH + 1),
            ")".repeat(MAX_Q_DEPTH + 1)
        );
        assert_eq!(err(&deep).kind, ErrorKind::TooComplexQuery);
        assert_eq!(err(&"(".repeat(8000)).kind, ErrorKind::TooComplexQuery);
        let long = "a==1;".repeat(2000);
        assert_eq!(err(&long).kind, ErrorKind::TooComplexQuery);
        // Large but acceptable: many terms at one level.
        let many = vec!["a==1"; 1500].join("|");
        assert!(many.len() <= MAX_Q_LEN);
        assert!(matches!(p(&many), QExpr::Or(v) if v.len() == 1500));
        // A regex whose compiled form would be huge is refused.
        assert_eq!(err("a~=(a{1000}){1000}").kind, ErrorKind::InvalidRequest);
    }

    // -- evaluation ----------------------------------------------------------------

    fn attr(v: AttributeValue) -> Attribute {
        Attribute::new(v)
    }

    fn prop(v: Value) -> Attribute {
        attr(AttributeValue::Property(v))
    }

    fn entity(attrs: Vec<(&str, Attribute)>) -> Entity {
        let mut e = Entity::new("urn:ngsi-ld:T:1", ex("T"));
        for (name, a) in attrs {
            e.attrs.entry(ex(name)).or_default().push(a);
        }
        e
    }

    fn check(e: &Entity, cases: &[(&str, bool)]) {
        for (q, want) in cases {
            assert_eq!(p(q).matches(e), *want, "q={q}");
        }
    }

    #[test]
    fn numbers_strings_booleans() {
        let e = entity(vec![
            ("temp", prop(json!(21.5))),
            ("count", prop(json!(10))),
            ("name", prop(json!("Rue de la Paix"))),
            ("on", prop(json!(true))),
            (
                "ref",
                attr(AttributeValue::Relationship("urn:ngsi-ld:Cabinet:7".into())),
            ),
            ("nothing", prop(Value::Null)),
        ]);
        check(
            &e,
            &[
                ("temp==21.5", true),
                ("temp!=21.5", false),
                ("temp>21", true),
                ("temp>21.5", false),
                ("temp>=21.5", true),
                ("temp<22", true),
                ("temp<=21.4", false),
                ("count==10", true),
                ("count==10.0", true),
                ("count==1e1", true),
                ("count==\"10\"", false),
                ("count!=\"10\"", true),
                ("count==5..10", true),
                ("count==11..20", false),
                ("count!=11..20", true),
                ("count!=5..10", false),
                ("count==1,10,100", true),
                ("count==1,2", false),
                ("count!=1,2", true),
                ("count!=1,10", false),
                ("name==\"Rue de la Paix\"", true),
                ("name>\"Rue\"", true),
                ("name<\"Rue\"", false),
                ("name==\"Q\"..\"S\"", true),
                ("name~=^Rue", true),
                ("name~=(?i)^rue", true),
                ("name~=^rue", false),
                ("name!~=^rue", true),
                ("name!~=Paix$", false),
                ("count~=10", false),
                ("count!~=10", true),
                ("on==true", true),
                ("on==false", false),
                ("on!=false", true),
                ("on>false", true),
                ("on==\"true\"", false),
                ("ref==urn:ngsi-ld:Cabinet:7", true),
                ("ref==\"urn:ngsi-ld:Cabinet:7\"", true),
                ("ref!=urn:ngsi-ld:Cabinet:8", true),
                ("ref~=Cabinet", true),
                ("ref==urn:ngsi-ld:Cabinet:1,urn:ngsi-ld:Cabinet:7", true),
                ("nothing", true),
                ("nothing==1", false),
                ("nothing!=1", true),
                ("missing!=1", false),
                ("missing!~=x", false),
                ("missing==1", false),
                ("missing", false),
                ("!missing", true),
                ("!temp", false),
                ("temp;name", true),
                ("temp;missing", false),
                ("temp|missing", true),
                ("missing|(count>5;on==true)", true),
                ("missing|(count>50;on==true)", false),
            ],
        );
    }

    #[test]
    fn dates_and_date_times() {
        let mut observed = prop(json!(3));
        observed.observed_at = Some(dt("2024-03-01T10:00:00Z"));
        observed.unit_code = Some("CEL".into());
        let e = entity(vec![
            ("at", prop(json!("2024-01-15T12:00:00Z"))),
            (
                "typed",
                prop(json!({"@type": "DateTime", "@value": "2024-01-15T12:00:00+01:00"})),
            ),
            ("day", prop(json!("2024-01-15"))),
            (
                "typedDay",
                prop(json!({"@type": "Date", "@value": "2024-01-15"})),
            ),
            ("word", prop(json!("tomorrow"))),
            ("reading", observed),
        ]);
        check(
            &e,
            &[
                ("at==2024-01-15T12:00:00Z", true),
                ("at==2024-01-15T13:00:00+01:00", true),
                ("at>2024-01-15T11:59:59Z", true),
                ("at>2024-01-15T12:00:00Z", false),
                ("at>=2024-01-15T12:00:00Z", true),
                ("at<2024-02-01T00:00:00Z", true),
                ("at==2024-01-01T00:00:00Z..2024-01-31T00:00:00Z", true),
                ("at==2024-02-01T00:00:00Z..2024-02-28T00:00:00Z", false),
                ("at!=2024-02-01T00:00:00Z..2024-02-28T00:00:00Z", true),
                // A quoted string compares as a string.
                ("at==\"2024-01-15T12:00:00Z\"", true),
                ("at==\"2024-01-15T13:00:00+01:00\"", false),
                // Dates compare with the UTC day of a date-time.
                ("at==2024-01-15", true),
                ("at>2024-01-15", false),
                ("at>=2024-01-15", true),
                ("at<=2024-01-15", true),
                ("at<2024-01-15", false),
                ("at==2024-01-01..2024-01-15", true),
                ("at==2024-01-16..2024-01-31", false),
                ("typed==2024-01-15T11:00:00Z", true),
                ("typed<2024-01-15T11:00:01Z", true),
                ("typed==2024-01-15", true),
                ("day==2024-01-15", true),
                ("day>2024-01-14", true),
                ("day==2024-01-15T00:00:00Z", true),
                ("day<2024-01-15T00:00:01Z", true),
                ("day==\"2024-01-15\"", true),
                ("typedDay==2024-01-10..2024-01-20", true),
                ("word>2024-01-01T00:00:00Z", false),
                ("word!=2024-01-01T00:00:00Z", true),
                ("reading.observedAt>2024-01-01T00:00:00Z", true),
                ("reading.observedAt==2024-03-01", true),
                ("reading.observedAt<2024-03-01T10:00:00Z", false),
                ("reading.observedAt~=^2024-03", true),
                ("reading.observedAt", true),
                ("reading.createdAt", false),
                ("!reading.createdAt", true),
                ("reading.createdAt!=2024-01-01", false),
                ("reading.unitCode==\"CEL\"", true),
                ("reading.unitCode==CEL", true),
                ("reading.unitCode!=CEL", false),
                ("reading.datasetId", false),
                ("at.observedAt", false),
            ],
        );
    }

    #[test]
    fn arrays_lists_and_languages() {
        let mut langs = serde_json::Map::new();
        langs.insert("fr".into(), json!("armoire"));
        langs.insert("en".into(), json!("cabinet"));
        let e = entity(vec![
            ("arr", prop(json!([1, 5, 9]))),
            ("tags", prop(json!(["a", "b"]))),
            ("mixed", prop(json!([1, "x", {"k": 2}, [7]]))),
            (
                "list",
                attr(AttributeValue::ListProperty(vec![json!(3), json!(4)])),
            ),
            (
                "rels",
                attr(AttributeValue::ListRelationship(vec![
                    "urn:x:1".into(),
                    "urn:x:2".into(),
                ])),
            ),
            (
                "refs",
                attr(AttributeValue::Relationship(RelObject::Many(vec![
                    "urn:x:1".into(),
                    "urn:x:2".into(),
                ]))),
            ),
            ("label", attr(AttributeValue::LanguageProperty(langs))),
            ("empty", prop(json!([]))),
            (
                "json",
                attr(AttributeValue::JsonProperty(json!({"a": {"b": 5}}))),
            ),
            (
                "vocab",
                attr(AttributeValue::VocabProperty(json!(
                    "https://example.org/On"
                ))),
            ),
        ]);
        check(
            &e,
            &[
                ("arr==5", true),
                ("arr==4", false),
                ("arr!=4", true),
                ("arr!=5", false),
                ("arr>8", true),
                ("arr<1", false),
                ("arr==6..8", false),
                ("arr==4..6", true),
                ("arr!=4..6", false),
                ("arr==2,3,9", true),
                ("arr!=2,3,9", false),
                ("tags==\"b\"", true),
                ("tags!=\"c\"", true),
                ("tags~=^b$", true),
                ("tags!~=^b$", false),
                ("mixed==1", true),
                ("mixed==\"x\"", true),
                ("mixed==2", false),
                ("mixed==7", false),
                ("list==4", true),
                ("list>=4", true),
                ("list!=4", false),
                ("rels==urn:x:2", true),
                ("rels!=urn:x:3", true),
                ("refs==urn:x:1", true),
                ("refs==urn:x:2", true),
                ("refs==urn:x:3", false),
                ("refs==urn:x:3,urn:x:2", true),
                ("refs!=urn:x:3", true),
                ("refs!=urn:x:2", false),
                ("refs~=x:2$", true),
                ("refs", true),
                ("label==\"cabinet\"", true),
                ("label~=^arm", true),
                ("label[fr]==\"armoire\"", true),
                ("label[fr]==\"cabinet\"", false),
                ("label[de]", false),
                ("label[en]", true),
                ("empty", true),
                ("empty==1", false),
                ("empty!=1", true),
                ("json[a.b]==5", true),
                ("json[a][b]>4", true),
                ("json[a.c]", false),
                ("json==5", false),
                ("vocab==\"https://example.org/On\"", true),
            ],
        );
    }

    #[test]
    fn sub_attributes_compound_values_and_instances() {
        let mut temp = prop(json!(20));
        temp.sub.insert(ex("accuracy"), vec![prop(json!(0.5))]);
        temp.sub.insert(
            ex("source"),
            vec![prop(json!({"sensor": {"id": "s1", "level": 3}}))],
        );
        let mut second = prop(json!(30));
        second.dataset_id = Some("urn:ds:2".into());
        second.sub.insert(ex("accuracy"), vec![prop(json!(2))]);
        let e = entity(vec![
            ("temp", temp),
            ("temp", second),
            (
                "address",
                prop(
                    json!({"street": "Rue X", "city": {"name": "Lyon"}, "zip": null, "n": [1, 2]}),
                ),
            ),
            ("points", prop(json!([{"k": 1}, {"k": 4}]))),
        ]);
        check(
            &e,
            &[
                // Any instance matching satisfies the term.
                ("temp==20", true),
                ("temp==30", true),
                ("temp>25", true),
                ("temp>35", false),
                ("temp!=20", true),
                ("temp!=20,30", false),
                ("temp.datasetId==urn:ds:2", true),
                ("temp.datasetId", true),
                ("temp.accuracy<1", true),
                ("temp.accuracy>1", true),
                ("temp.accuracy>5", false),
                ("temp.accuracy", true),
                ("temp.missing", false),
                ("!temp.missing", true),
                ("temp.missing!=1", false),
                ("temp.source[sensor.id]==\"s1\"", true),
                ("temp.source[sensor.level]>=3", true),
                ("temp.source[sensor.nope]", false),
                ("address[street]==\"Rue X\"", true),
                ("address[street]~=^Rue", true),
                ("address[city.name]==\"Lyon\"", true),
                ("address[city.name]!=\"Paris\"", true),
                ("address[city]", true),
                ("address[zip]", false),
                ("address[zip]!=1", false),
                ("address[n]==2", true),
                ("address==\"Rue X\"", false),
                ("points[k]==4", true),
                ("points[k]==2", false),
                ("temp[x]", false),
            ],
        );
    }

    #[test]
    fn expanded_and_identity_names() {
        let id = |s: &str| s.to_string();
        let mut e = Entity::new("urn:x:1", "T");
        e.attrs
            .insert("https://x.org/ns/temp.v2".into(), vec![prop(json!(5))]);
        e.attrs.insert("temp".into(), vec![prop(json!(6))]);
        assert!(QExpr::parse("https://x.org/ns/temp.v2==5", &id)
            .unwrap()
            .matches(&e));
        assert!(QExpr::parse("temp==6", &id).unwrap().matches(&e));
        assert!(!QExpr::parse("temp==6", &ex).unwrap().matches(&e));
    }

    /// A small deterministic generator for garbage inputs.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn garbage_never_panics() {
        let e = entity(vec![
            ("a", prop(json!(1))),
            ("b", prop(json!(["x", "2024-01-01T00:00:00Z"]))),
            ("c", prop(json!({"k": {"j": [1, {"j": 2}]}}))),
        ]);
        let pieces = [
            "a",
            "b",
            "c",
            "k",
            "j",
            "x",
            "(",
            ")",
            "(",
            ")",
            ";",
            "|",
            ",",
            ".",
            "..",
            "[",
            "]",
            "!",
            "=",
            "==",
            "!=",
            ">",
            ">=",
            "<",
            "<=",
            "~=",
            "!~=",
            "\"",
            "\\",
            "\\\"",
            "1",
            "-2.5",
            "1e9",
            "true",
            "false",
            "2024-01-01",
            "2024-01-01T00:00:00Z",
            "urn:x:1",
            "https://e.org/a",
            " ",
            "\t",
            "é",
            "日本",
            "\u{0}",
            "\u{feff}",
            "'",
            "%",
            "*",
            "?",
            "{",
            "}",
            "observedAt",
            "unitCode",
            "a[k.j]",
            "^",
            "$",
            "\u{10FFFF}",
            "🙂",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let n = rng.below(24);
            let s: String = (0..n).map(|_| pieces[rng.below(pieces.len())]).collect();
            if let Ok(q) = parse(&s) {
                let _ = q.matches(&e);
            }
        }
        // Raw random characters, including invalid-looking unicode.
        for _ in 0..5_000 {
            let n = rng.below(40);
            let s: String = (0..n)
                .filter_map(|_| char::from_u32((rng.next() % 0x11_0000) as u32))
                .collect();
            if let Ok(q) = parse(&s) {
                let _ = q.matches(&e);
            }
        }
        // Long and unbalanced inputs.
        for s in [
            "(".repeat(MAX_Q_LEN),
            ")".repeat(MAX_Q_LEN),
            "a".repeat(MAX_Q_LEN),
            "a".repeat(MAX_Q_LEN + 1),
            format!("a=={}", "9".repeat(400)),
            format!("a==\"{}", "x".repeat(8000)),
            format!("a~={}", "(".repeat(2000)),
            format!("a~={}", "[".repeat(2000)),
            "é".repeat(MAX_Q_LEN / 2),
            "((a)".into(),
            "(a))".into(),
            "a==(1)".into(),
            "a[[[]]]".into(),
            "\"".into(),
            "!".into(),
            "!!a".into(),
        ] {
            if let Ok(q) = parse(&s) {
                let _ = q.matches(&e);
            }
        }
        assert!(parse(&format!("a=={}", "9".repeat(400))).is_err());
    }
}

//! The value summary of an entity, kept in its row, and the tests of a query on it in SQL
//! with jsonb operators.
//!
//! A page of type + q walks the entities of a type in creation order and tests each until
//! the page is full: a few hundred entities for a broad query. Testing an entity on its
//! rows of the value index costs an index descent and a fetch per row. The summary keeps
//! the same values in the entity's own row (`entities.vals`, jsonb), which the page reads
//! anyway, and each term of `q` becomes one or two jsonb operators on it (`@>`, `?`, `->`),
//! each a fraction of a microsecond. SQL/JSON path expressions (`jsonb_path_exists`) on
//! the same summary were tried first: 3 to 5 µs per entity for the benchmark's three
//! terms, more than the index lookups they replaced (see docs/benchmarks.md). The summary
//! replaces the value index on this engine: a write rewrites the entity's row anyway, where
//! the index cost a deleted and an inserted row, with three index entries, per changed
//! attribute.
//!
//! The summary maps every top-level attribute to its indexed values by kind, the values of
//! [`crate::index::attribute_values`] with texts cut to their key ([`text_key`]):
//!
//! ```json
//! {"https://example.org/temp": {"n": [21.5, 3], "n<": 3, "n>": 21.5},
//!  "https://example.org/name": {"t": ["Rue X"]}}
//! ```
//!
//! `n` holds numbers, `b` booleans as 0 or 1, `d` the instants of date-times
//! ([`crate::index::datetime_num`]), `t` every text (strings, date-times as written,
//! relationship objects); `<` and `>` after a kind hold its least and greatest value when
//! it has several. An
//! attribute without any scalar value has an empty object. Equality is containment
//! (`vals @> {"attr": {"n": [21.5]}}`), exact; "some value is above v" is "the greatest is
//! above v", exact too; both bounds of a range, or of a date, are tested on the least and
//! greatest values, which keeps every candidate. The translation is [`crate::qplan`]'s, so
//! it selects a SUPERSET of the matches, the exact test in Rust deciding. Texts compare
//! byte by byte (`COLLATE "C"`), as Rust compares them. Every name and value is a bound
//! parameter.

use std::cmp::Ordering;
use std::error::Error;

use bytes::{BufMut, BytesMut};
use jumeau_model::query::q::{CompOp, QExpr};
use jumeau_model::Entity;
use serde_json::{Map, Value};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

use crate::index::{attribute_values, ValueKind};
use crate::qplan::{render, Dialect};

/// Characters of a text kept in the summary.
const TEXT_KEY_CHARS: usize = 200;

/// The key of a text in the summary: cut at the first NUL (which PostgreSQL text cannot
/// hold) and after [`TEXT_KEY_CHARS`] characters. The key never sorts after the text, and
/// `a <= b` implies `key(a) <= key(b)`, so comparisons on keys keep every candidate.
fn text_key(s: &str) -> &str {
    let s = s.split('\0').next().unwrap_or("");
    match s.char_indices().nth(TEXT_KEY_CHARS) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The comparison of summarised texts that keeps every candidate of `text <op> value`:
/// keys are compared, strict comparisons widened.
fn text_bound(op: CompOp, value: &str) -> (&'static str, &str) {
    let op = match op {
        CompOp::Gt | CompOp::Ge => ">=",
        CompOp::Lt | CompOp::Le => "<=",
        _ => "=",
    };
    (op, text_key(value))
}

/// The key of the values of a kind in an attribute's summary.
fn values_key(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Number => "n",
        ValueKind::Bool => "b",
        ValueKind::DateTime => "d",
        _ => "t",
    }
}

/// The keys of the least and greatest values under `key`.
fn bounds_keys(key: &str) -> (String, String) {
    (format!("{key}<"), format!("{key}>"))
}

/// The summary of an entity's indexed values, as jsonb text (see the module comment).
pub(super) fn summary(e: &Entity) -> String {
    let mut attrs = Map::new();
    for (name, instances) in &e.attrs {
        let values = attribute_values(instances);
        if values.is_empty() {
            continue;
        }
        let mut kinds = Map::new();
        let mut push = |key: &str, v: Value| {
            if let Value::Array(values) =
                kinds.entry(key).or_insert_with(|| Value::Array(Vec::new()))
            {
                values.push(v);
            }
        };
        for (kind, num, txt) in values {
            // Indexed numbers come from JSON, so they are finite: from_f64 keeps every one.
            if let Some(n) = num.and_then(serde_json::Number::from_f64) {
                if kind != ValueKind::Other {
                    push(values_key(kind), Value::Number(n));
                }
            }
            if let Some(t) = txt {
                push("t", Value::String(text_key(t).to_string()));
            }
        }
        add_bounds(&mut kinds);
        attrs.insert(name.clone(), Value::Object(kinds));
    }
    Value::Object(attrs).to_string()
}

/// Adds the least and greatest value of each kind of an attribute that has several (those
/// of a single value are that value: left out, to keep rows short, since a row over 2 KB
/// is compressed and every read of it must expand it).
fn add_bounds(kinds: &mut Map<String, Value>) {
    let mut bounds = Vec::new();
    for (key, values) in kinds.iter() {
        let Value::Array(values) = values else {
            continue;
        };
        if values.len() < 2 {
            continue;
        }
        if let (Some(least), Some(greatest)) = (
            values.iter().min_by(|a, b| order(a, b)),
            values.iter().max_by(|a, b| order(a, b)),
        ) {
            let (l, g) = bounds_keys(key);
            bounds.push((l, least.clone()));
            bounds.push((g, greatest.clone()));
        }
    }
    kinds.extend(bounds);
}

/// The order of two values of one kind: numbers as numbers, texts byte by byte (as
/// `COLLATE "C"` compares them).
fn order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => Ordering::Equal,
    }
}

/// Where a summary test binds its parameters: the numbered parameters of the statement.
pub(super) trait Binder {
    /// Binds a value of type `ty` and returns its placeholder.
    fn bind(&mut self, value: Box<dyn ToSql + Sync + Send>, ty: Type) -> String;
}

/// The condition that the summary `e.vals` of an entity has at least one of `attrs` (when
/// some are given) and may match `q`; `None` when there is nothing to test.
pub(super) fn summary_test(
    params: &mut dyn Binder,
    attrs: &[String],
    q: Option<&QExpr>,
) -> Option<String> {
    let mut tests: Vec<String> = Vec::new();
    if !attrs.is_empty() {
        let any = params.bind(Box::new(attrs.to_vec()), Type::TEXT_ARRAY);
        tests.push(format!("e.vals ?| {any}"));
    }
    if let Some(q) = q {
        let mut d = OnSummary {
            params,
            name: String::new(),
            attr: None,
        };
        let test = render(q, &mut d);
        if test != d.constant(true) {
            tests.push(test);
        }
    }
    (!tests.is_empty()).then(|| tests.join(" AND "))
}

/// A number as JSON. Numbers compare exactly: the shortest decimal that reads back as an
/// `f64` keeps the order of the `f64`s. An infinity becomes a number beyond every `f64`
/// (jsonb numbers are decimals of any size), equal to no indexed (finite) number, as the
/// infinity is; NaN, equal to nothing, becomes `null`, equal to no number either.
fn number(v: f64) -> String {
    match serde_json::Number::from_f64(v) {
        Some(n) => n.to_string(),
        None if v == f64::INFINITY => "1e400".into(),
        None if v == f64::NEG_INFINITY => "-1e400".into(),
        None => "null".into(),
    }
}

/// The terms of `q` as jsonb operators on the summary `e.vals`.
struct OnSummary<'a> {
    params: &'a mut dyn Binder,
    /// The attribute whose condition is being written.
    name: String,
    /// Its placeholder, once bound (containment names it in its object instead).
    attr: Option<String>,
}

impl OnSummary<'_> {
    /// The placeholder of the attribute, bound on first use.
    fn attr(&mut self) -> String {
        if self.attr.is_none() {
            let p = self.params.bind(Box::new(self.name.clone()), Type::TEXT);
            self.attr = Some(p);
        }
        self.attr.clone().unwrap_or_default()
    }

    /// `e.vals @> {"<attr>": {"<key>": [<value>]}}`: some value under `key` is `value`.
    fn contains(&mut self, key: &str, value: String) -> String {
        let object = format!(
            "{{{}:{{{}:[{value}]}}}}",
            Value::String(self.name.clone()),
            Value::String(key.to_string())
        );
        let p = self.params.bind(Box::new(JsonText(object)), Type::JSONB);
        format!("e.vals @> {p}")
    }

    /// The least (`<`, `<=`) or greatest (`>`, `>=`) value under `key`, as `cast`: the
    /// only value when there is one.
    fn bound(&mut self, key: &str, op: &str, cast: &str) -> String {
        let (least, greatest) = bounds_keys(key);
        let which = if op.starts_with('<') { least } else { greatest };
        let attr = self.attr();
        format!("COALESCE(e.vals -> {attr} ->> '{which}', e.vals -> {attr} -> '{key}' ->> 0){cast}")
    }
}

impl Dialect for OnSummary<'_> {
    fn bind_real(&mut self, value: f64) -> String {
        let p = self.params.bind(Box::new(value), Type::FLOAT8);
        format!("{p}::float8")
    }

    fn open_rows(&mut self, attr: &str, _negate: bool) -> String {
        self.name = attr.to_string();
        self.attr = None;
        String::new()
    }

    fn close_rows(&mut self, _open: String, negate: bool, cond: Option<String>) -> String {
        match cond {
            // Every condition on a value implies that the attribute is there.
            Some(cond) if cond != self.constant(true) => format!("({cond})"),
            _ => {
                let not = if negate { "NOT " } else { "" };
                format!("{not}(e.vals ? {})", self.attr())
            }
        }
    }

    fn number(&mut self, kind: ValueKind, bounds: &[(&'static str, f64)]) -> String {
        let key = values_key(kind);
        if bounds.is_empty() {
            return format!("(e.vals -> {}) ? '{key}'", self.attr());
        }
        let tests: Vec<String> = bounds
            .iter()
            .map(|(op, v)| {
                if *op == "=" {
                    self.contains(key, number(*v))
                } else {
                    let value = self.bind_real(*v);
                    format!("{} {op} {value}", self.bound(key, op, "::float8"))
                }
            })
            .collect();
        format!("({})", tests.join(" AND "))
    }

    fn text(&mut self, op: CompOp, value: &str) -> String {
        let (op, key) = text_bound(op, value);
        if op == "=" {
            return self.contains("t", Value::String(key.to_string()).to_string());
        }
        let v = self.params.bind(Box::new(key.to_string()), Type::TEXT);
        format!("{} {op} {v}", self.bound("t", op, " COLLATE \"C\""))
    }

    fn regex(&mut self, _pattern: &str) -> String {
        // PostgreSQL's regular expressions are not the query language's: keep every text
        // and let the exact test decide.
        format!("(e.vals -> {}) ? 't'", self.attr())
    }
}

/// JSON text sent as a jsonb parameter, in its binary form (a version byte, 1, then the
/// text), so that PostgreSQL reads it once per request: a text parameter cast in the
/// statement would be parsed again for every row tested.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct JsonText(pub String);

impl ToSql for JsonText {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;

    use jumeau_model::query::q::QExpr;
    use tokio_postgres::{Client, NoTls};

    use super::*;
    use crate::index::index_rows;
    use crate::postgres::{PgOptions, PgStore, MIGRATIONS};
    use crate::qplan::cases::{entities, ex, expected_matches, QUERIES};

    /// Parameters numbered after the summaries, `$1`.
    #[derive(Default)]
    struct Params(Vec<Box<dyn ToSql + Sync + Send>>, Vec<Type>);

    impl Binder for Params {
        fn bind(&mut self, value: Box<dyn ToSql + Sync + Send>, ty: Type) -> String {
            self.0.push(value);
            self.1.push(ty);
            format!("${}", self.0.len() + 1)
        }
    }

    /// A fresh database with the schema applied, and a client on it; `None` outside CI
    /// without a PostgreSQL cluster.
    async fn database() -> Option<(PgStore, Client)> {
        let url = jumeau_testkit::postgres_database().unwrap()?;
        let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
        let (client, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(conn);
        Some((store, client))
    }

    /// The entities (numbered from 1) whose summary passes the test of `q`.
    async fn selected(db: &Client, summaries: &[String], q: &QExpr) -> (String, BTreeSet<i64>) {
        let mut params = Params::default();
        let test = summary_test(&mut params, &[], Some(q)).unwrap_or_else(|| "true".into());
        let sql = format!(
            "SELECT e.i FROM (SELECT s.v::jsonb AS vals, s.i \
             FROM unnest($1::text[]) WITH ORDINALITY AS s(v, i)) e WHERE {test}"
        );
        let types: Vec<Type> = [Type::TEXT_ARRAY].into_iter().chain(params.1).collect();
        let stmt = db
            .prepare_typed(&sql, &types)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let mut values: Vec<&(dyn ToSql + Sync)> = vec![&summaries];
        values.extend(params.0.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)));
        let rows = db
            .query(&stmt, &values)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        (sql, rows.iter().map(|r| r.get::<_, i64>(0)).collect())
    }

    #[tokio::test]
    async fn tests_select_a_superset_exact_on_simple_terms() {
        let Some((_store, db)) = database().await else {
            eprintln!("skipped: no PostgreSQL (set JUMEAU_TEST_POSTGRES, see .ci/postgres)");
            return;
        };
        let es = entities();
        let summaries: Vec<String> = es.iter().map(summary).collect();
        for (q, exact) in QUERIES {
            let (expr, want) = expected_matches(q, &es);
            let (sql, got) = selected(&db, &summaries, &expr).await;
            assert!(
                got.is_superset(&want),
                "{q}: the test selects {got:?}, missing some of {want:?}\n{sql}"
            );
            // Patterns are left to the exact test (see `regex`), and so are the two bounds
            // of a range on the values of one attribute holding several.
            if *exact && !q.contains("~=") && !q.contains("..") {
                assert_eq!(got, want, "{q}: the test should be exact\n{sql}");
            }
        }
    }

    #[test]
    fn names_and_values_are_parameters() {
        let q = QExpr::parse(
            "name==\"x'); DROP TABLE entities;--\";name~=\"a'b\";temp>3",
            &|s: &str| format!("https://example.org/{s}'--"),
        )
        .unwrap();
        let mut params = Params::default();
        let sql = summary_test(&mut params, &[ex("a'b")], Some(&q)).unwrap();
        assert!(!sql.contains("DROP") && !sql.contains("a'b") && !sql.contains("example"));
        assert_eq!(params.0.len(), 5, "{sql}");
        for i in 2..=params.0.len() + 1 {
            assert!(sql.contains(&format!("${i}")), "${i} unused in {sql}");
        }
        // Numbers beyond an f64 compare as the infinities do.
        assert_eq!(number(f64::INFINITY), "1e400");
        assert_eq!(number(f64::NEG_INFINITY), "-1e400");
        assert_eq!(number(f64::NAN), "null");
        assert_eq!(number(21.5), "21.5");
        assert!(summary_test(&mut params, &[], None).is_none());
    }

    #[test]
    fn text_keys_are_short_nul_free_and_keep_order() {
        assert_eq!(text_key("abc"), "abc");
        assert_eq!(text_key("a\0b"), "a");
        let long = "é".repeat(500);
        assert_eq!(text_key(&long).chars().count(), 200);
        let mut words = vec!["", "a", "a\0", "a\0b", "ab", "b", "\u{10FFFF}"];
        words.push(&long);
        for a in &words {
            for b in &words {
                if a <= b {
                    assert!(text_key(a) <= text_key(b), "{a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn summaries_keep_the_least_and_greatest_of_each_kind() {
        let es = entities();
        let s: Value = serde_json::from_str(&summary(&es[3])).unwrap();
        let temp = &s[ex("temp")];
        assert_eq!(temp["n"], serde_json::json!([1.0, 30.0]));
        assert_eq!(
            (temp["n<"].as_f64(), temp["n>"].as_f64()),
            (Some(1.0), Some(30.0))
        );
        let s: Value = serde_json::from_str(&summary(&es[5])).unwrap();
        let tags = &s[ex("tags")];
        assert_eq!(
            (&tags["t<"], &tags["t>"]),
            (&Value::from("b"), &Value::from("c"))
        );
        assert_eq!(tags["n"], serde_json::json!([3.0]));
    }

    #[tokio::test]
    async fn the_migration_summarises_stored_entities_as_writes_do() {
        let Some(url) = jumeau_testkit::postgres_database().unwrap() else {
            eprintln!("skipped: no PostgreSQL (set JUMEAU_TEST_POSTGRES, see .ci/postgres)");
            return;
        };
        let (db, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(conn);
        // A database written before the summary: the schema up to the step before it, the
        // entities with their rows in the value index.
        let step = MIGRATIONS
            .iter()
            .position(|m| *m == include_str!("summary.sql"))
            .unwrap();
        for m in &MIGRATIONS[..step] {
            db.batch_execute(m).await.unwrap();
        }
        let es = entities();
        for e in &es {
            let seq: i64 = db
                .query_one(
                    "INSERT INTO entities (tenant_id, id, doc) VALUES ('t', $1, '{}') RETURNING seq",
                    &[&e.id],
                )
                .await
                .unwrap()
                .get(0);
            for r in index_rows(e) {
                let txt = r.txt.as_deref().map(text_key);
                db.execute(
                    "INSERT INTO attr_values (tenant_id, eseq, attr, vt, num, txt) \
                     VALUES ('t', $1, $2, $3, $4, $5)",
                    &[&seq, &r.attr, &r.kind.code(), &r.num, &txt],
                )
                .await
                .unwrap();
            }
        }
        db.batch_execute(MIGRATIONS[step]).await.unwrap();
        // The same values as a write stores, in any order.
        for e in &es {
            let row = db
                .query_one(
                    "SELECT vals @> $2::text::jsonb AND $2::text::jsonb @> vals, vals::text \
                     FROM entities WHERE tenant_id = 't' AND id = $1",
                    &[&e.id, &summary(e)],
                )
                .await
                .unwrap();
            let stored: String = row.get(1);
            assert!(
                row.get::<_, bool>(0),
                "{}: {stored} != {}",
                e.id,
                summary(e)
            );
        }
        let gone = db
            .query_one("SELECT to_regclass('attr_values') IS NULL", &[])
            .await
            .unwrap();
        assert!(gone.get::<_, bool>(0));
    }
}

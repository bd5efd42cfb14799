//! The value summary of an entity, kept in its row, and the tests of a query on it as one
//! SQL/JSON path expression.
//!
//! A page of type + q walks the entities of a type in creation order and tests each until
//! the page is full: a few hundred entities for a broad query. Testing an entity on its
//! rows of the value index cost an index descent and a fetch per row, most of the time of
//! such a page. The summary keeps the same values in the entity's own row
//! (`entities.vals`, jsonb), which the page reads anyway, and the test is one path
//! expression compiled once per request and run on it by `jsonb_path_exists`. A page of the
//! benchmark's type + q (612 entities walked for 116 candidates, 100,000 street lights
//! freshly loaded) took 4.2–4.6 ms of PostgreSQL time that way, 0.9–1.4 ms this way
//! (EXPLAIN ANALYZE; see docs/benchmarks.md).
//!
//! The summary maps every top-level attribute to its indexed values by kind, the values of
//! [`crate::index::attribute_values`] with texts cut to their key ([`text_key`]):
//!
//! ```json
//! {"https://example.org/temp": {"n": [21.5]}, "https://example.org/at": {"d": [1705320000], "t": ["2024-01-15T12:00:00Z"]}}
//! ```
//!
//! `n` holds numbers, `b` booleans as 0 or 1, `d` the instants of date-times
//! ([`crate::index::datetime_num`]), `t` every text (strings, date-times as written,
//! relationship objects); an attribute without any scalar value has an empty object. The
//! path is [`crate::qplan`]'s translation of `q` in another dialect, so it too selects a
//! SUPERSET of the matches, the exact test in Rust deciding. Strings in path expressions
//! compare by code point (PostgreSQL's jsonpath on a UTF-8 database), as Rust compares
//! them. User values are never written into the path: they are bound as its variables.
//! Attribute names are, as JSON string literals.

use std::error::Error;

use bytes::{BufMut, BytesMut};
use jumeau_model::query::q::{CompOp, QExpr};
use jumeau_model::Entity;
use serde_json::{Map, Value};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

use super::entities::text_key;
use crate::index::{index_rows, ValueKind};
use crate::qplan::{render, Dialect};

/// The summary of an entity's indexed values, as jsonb text (see the module comment).
pub(super) fn summary(e: &Entity) -> String {
    let mut attrs = Map::new();
    for row in index_rows(e) {
        let Value::Object(kinds) = attrs
            .entry(row.attr)
            .or_insert_with(|| Value::Object(Map::new()))
        else {
            continue;
        };
        let mut push = |key: &str, v: Value| {
            if let Value::Array(values) =
                kinds.entry(key).or_insert_with(|| Value::Array(Vec::new()))
            {
                values.push(v);
            }
        };
        // Indexed numbers come from JSON, so they are finite: from_f64 keeps every one.
        let number = row.num.and_then(serde_json::Number::from_f64);
        match (row.kind, number) {
            (ValueKind::Number, Some(n)) => push("n", Value::Number(n)),
            (ValueKind::Bool, Some(n)) => push("b", Value::Number(n)),
            (ValueKind::DateTime, Some(n)) => push("d", Value::Number(n)),
            _ => {}
        }
        if let Some(t) = &row.txt {
            push("t", Value::String(text_key(t).to_string()));
        }
    }
    Value::Object(attrs).to_string()
}

/// The tests of a query on the summary: a path expression and its variables.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PathTest {
    /// The path, `$ ? (<tests>)`: it selects the summary when the entity may match.
    pub path: JsonText,
    /// The values the path names as `$v1`, `$v2`…, a JSON object.
    pub vars: JsonText,
}

/// The tests of a query on the summary of an entity: at least one of `attrs` is present
/// (when some are given) and `q` may match. `None` when there is nothing to test.
pub(super) fn path_test(attrs: &[String], q: Option<&QExpr>) -> Option<PathTest> {
    let mut d = PathDialect::default();
    let mut tests: Vec<String> = Vec::new();
    if !attrs.is_empty() {
        let any: Vec<String> = attrs
            .iter()
            .map(|a| format!("exists(@.{})", member(a)))
            .collect();
        tests.push(format!("({})", any.join(" || ")));
    }
    if let Some(q) = q {
        let test = render(q, &mut d);
        if test != d.constant(true) {
            tests.push(test);
        }
    }
    if tests.is_empty() {
        return None;
    }
    let vars: Vec<String> = d
        .vars
        .iter()
        .enumerate()
        .map(|(i, v)| format!("\"v{}\":{v}", i + 1))
        .collect();
    Some(PathTest {
        path: JsonText(format!("$ ? ({})", tests.join(" && "))),
        vars: JsonText(format!("{{{}}}", vars.join(","))),
    })
}

/// An attribute name as the member accessor of a path: a JSON string literal, which path
/// expressions read with the same escapes.
fn member(attr: &str) -> String {
    Value::String(attr.to_string()).to_string()
}

/// A number as a JSON value of a path variable. Numbers compare exactly: the shortest
/// decimal that reads back as an `f64` keeps the order of the `f64`s. An infinity becomes a
/// number beyond every `f64` (jsonb numbers are decimals of any size), so that it compares
/// with every indexed (finite) number as the infinity does; NaN, which compares with
/// nothing, becomes `null`, which does not either.
fn number(v: f64) -> String {
    match serde_json::Number::from_f64(v) {
        Some(n) => n.to_string(),
        None if v == f64::INFINITY => "1e400".into(),
        None if v == f64::NEG_INFINITY => "-1e400".into(),
        None => "null".into(),
    }
}

/// The path side of a prefilter: conditions on the summary's values of one attribute,
/// values as variables.
#[derive(Default)]
struct PathDialect {
    /// The JSON values of `$v1`, `$v2`…
    vars: Vec<String>,
}

impl PathDialect {
    fn var(&mut self, json: String) -> String {
        self.vars.push(json);
        format!("$v{}", self.vars.len())
    }
}

impl Dialect for PathDialect {
    fn constant(&self, value: bool) -> &'static str {
        if value {
            "(1 == 1)"
        } else {
            "(1 == 0)"
        }
    }

    fn bind_real(&mut self, value: f64) -> String {
        self.var(number(value))
    }

    fn open_rows(&mut self, attr: &str, _negate: bool) -> String {
        format!("@.{}", member(attr))
    }

    fn close_rows(&self, open: String, negate: bool, cond: Option<String>) -> String {
        let exists = match cond {
            Some(cond) => format!("exists({open} ? ({cond}))"),
            None => format!("exists({open})"),
        };
        if negate {
            format!("!({exists})")
        } else {
            exists
        }
    }

    fn and(&self) -> &'static str {
        " && "
    }

    fn or(&self) -> &'static str {
        " || "
    }

    fn number(&mut self, kind: ValueKind, bounds: &[(&'static str, f64)]) -> String {
        let key = match kind {
            ValueKind::Bool => "b",
            ValueKind::DateTime => "d",
            _ => "n",
        };
        let tests: Vec<String> = bounds
            .iter()
            .map(|(op, v)| {
                let op = if *op == "=" { "==" } else { op };
                format!("@ {op} {}", self.bind_real(*v))
            })
            .collect();
        if tests.is_empty() {
            format!("exists(@.{key})")
        } else {
            format!("exists(@.{key} ? ({}))", tests.join(" && "))
        }
    }

    fn text(&mut self, op: CompOp, value: &str) -> String {
        let (op, key) = super::query::text_bound(op, value);
        let op = if op == "=" { "==" } else { op };
        let v = self.var(Value::String(key.to_string()).to_string());
        format!("exists(@.t ? (@ {op} {v}))")
    }

    fn regex(&mut self, _pattern: &str) -> String {
        // PostgreSQL's regular expressions are not the query language's: keep every text
        // and let the exact test decide.
        "exists(@.t)".into()
    }
}

/// JSON text sent as a jsonb or jsonpath parameter, in the binary form of both (a version
/// byte, 1, then the text), so that PostgreSQL reads it once per request: a text parameter
/// cast in the statement would be parsed again for every row tested.
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
        *ty == Type::JSONB || *ty == Type::JSONPATH
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
    use crate::postgres::{PgOptions, PgStore};
    use crate::qplan::cases::{entities, ex, QUERIES};
    use crate::{Store, WriteOp};

    /// A fresh database with the schema applied, and a client on it; `None` outside CI
    /// without a PostgreSQL cluster.
    async fn database() -> Option<(PgStore, Client)> {
        let url = jumeau_testkit::postgres_database().unwrap()?;
        let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
        let (client, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(conn);
        Some((store, client))
    }

    /// The entities (numbered from 1) whose summary the path of `q` selects.
    async fn selected(db: &Client, summaries: &[String], q: &QExpr) -> (String, BTreeSet<i64>) {
        let test = path_test(&[], Some(q)).unwrap_or_else(|| PathTest {
            path: JsonText("$".into()),
            vars: JsonText("{}".into()),
        });
        let stmt = db
            .prepare_typed(
                "SELECT s.i FROM unnest($1::text[]) WITH ORDINALITY AS s(vals, i) \
                 WHERE jsonb_path_exists(s.vals::jsonb, $2, $3)",
                &[Type::TEXT_ARRAY, Type::JSONPATH, Type::JSONB],
            )
            .await
            .unwrap();
        let rows = db
            .query(&stmt, &[&summaries, &test.path, &test.vars])
            .await
            .unwrap_or_else(|e| panic!("{test:?}: {e}"));
        let got = rows.iter().map(|r| r.get::<_, i64>(0)).collect();
        (format!("{test:?}"), got)
    }

    #[tokio::test]
    async fn paths_select_a_superset_exact_on_simple_terms() {
        let Some((_store, db)) = database().await else {
            eprintln!("skipped: no PostgreSQL (set JUMEAU_TEST_POSTGRES, see .ci/postgres)");
            return;
        };
        let es = entities();
        let summaries: Vec<String> = es.iter().map(summary).collect();
        for (q, exact) in QUERIES {
            let expr = QExpr::parse(q, &ex).unwrap_or_else(|e| panic!("{q}: {}", e.detail));
            let want: BTreeSet<i64> = es
                .iter()
                .enumerate()
                .filter(|(_, e)| expr.matches(e))
                .map(|(i, _)| i as i64 + 1)
                .collect();
            let (test, got) = selected(&db, &summaries, &expr).await;
            assert!(
                got.is_superset(&want),
                "{q}: the path selects {got:?}, missing some of {want:?}\n{test}"
            );
            // Patterns are left to the exact test (see `regex`).
            if *exact && !q.contains("~=") {
                assert_eq!(got, want, "{q}: the path should be exact\n{test}");
            }
        }
    }

    #[test]
    fn user_values_are_variables_and_names_are_quoted() {
        let q = QExpr::parse("name==\"x\\\" || @ == @\";name~=\"a'b\"", &|s: &str| {
            format!("https://example.org/{s}\")) || (\"x")
        })
        .unwrap();
        let test = path_test(&[ex("a\"b")], Some(&q)).unwrap();
        let path = &test.path.0;
        assert!(!path.contains("a'b") && !path.contains("@ == @"), "{path}");
        // Each name stays inside its string literal.
        assert!(
            path.contains(r#"@."https://example.org/name\")) || (\"x""#),
            "{path}"
        );
        assert!(
            path.contains(r#"exists(@."https://example.org/a\"b")"#),
            "{path}"
        );
        let vars: serde_json::Value = serde_json::from_str(&test.vars.0).unwrap();
        assert_eq!(vars["v1"], "x\" || @ == @");
        // Numbers beyond an f64 compare as the infinities do.
        assert_eq!(number(f64::INFINITY), "1e400");
        assert_eq!(number(f64::NEG_INFINITY), "-1e400");
        assert_eq!(number(f64::NAN), "null");
        assert_eq!(number(21.5), "21.5");
        assert!(path_test(&[], None).is_none());
    }

    #[tokio::test]
    async fn the_migration_summarises_stored_entities_as_writes_do() {
        let Some((store, db)) = database().await else {
            eprintln!("skipped: no PostgreSQL (set JUMEAU_TEST_POSTGRES, see .ci/postgres)");
            return;
        };
        let es = entities();
        let ops = es.iter().cloned().map(WriteOp::Create).collect();
        for r in store.write("t", ops).await.unwrap() {
            r.unwrap();
        }
        let same = async || -> u64 {
            let mut equal = 0;
            for e in &es {
                let row = db
                    .query_one(
                        "SELECT vals = $2::text::jsonb FROM entities WHERE tenant_id = 't' AND id = $1",
                        &[&e.id, &summary(e)],
                    )
                    .await
                    .unwrap();
                assert!(row.get::<_, bool>(0), "{}: {}", e.id, summary(e));
                equal += 1;
            }
            equal
        };
        assert_eq!(same().await, es.len() as u64);
        // As a database written before the summary: none, then the migration.
        db.batch_execute(
            "ALTER TABLE entities ALTER COLUMN vals DROP NOT NULL; UPDATE entities SET vals = NULL",
        )
        .await
        .unwrap();
        db.batch_execute(include_str!("summary.sql")).await.unwrap();
        assert_eq!(same().await, es.len() as u64);
    }
}

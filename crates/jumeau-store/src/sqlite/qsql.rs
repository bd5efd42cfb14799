//! Translation of q expressions into SQLite prefilters.
//!
//! [`q_prefilter`] turns a [`QExpr`] into a boolean SQL expression over the `attr_values`
//! index (rows from [`crate::index::index_rows`]). The expression selects a SUPERSET of the
//! entities the query matches; the store then applies [`QExpr::matches`] to the candidates,
//! which alone decides. Terms on the value of a top-level attribute (`==`, `>`, `>=`, `<`,
//! `<=`, ranges, lists, `~=`) and existence terms are translated precisely; anything else
//! (sub-attributes, compound keys, metadata, `!=`, `!~=`) only requires the top-level
//! attribute to exist, which every match satisfies.
//!
//! User values are always bound as parameters, never written into the SQL text.

use std::sync::{Arc, Mutex};

use jumeau_model::query::q::{compile_regex, CompOp, QExpr};
use regex::Regex;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;
use rusqlite::Connection;

use crate::qplan::{render, sql_op, Dialect};

/// How many compiled patterns the `regexp` function keeps per connection.
const REGEX_CACHE: usize = 16;

/// The compiled patterns of one connection, most recently compiled last.
type RegexCache = Mutex<Vec<(String, Arc<Regex>)>>;

/// Registers the SQL functions the prefilters use on a connection: `regexp(pattern, text)`,
/// true when `text` matches the pattern with the query language's regex syntax and limits
/// (NULL or non-text `text` never matches). Call it on every connection that runs queries.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let cache: Arc<RegexCache> = Arc::new(Mutex::new(Vec::new()));
    conn.create_scalar_function(
        "regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            if ctx.len() != 2 {
                return Err(rusqlite::Error::UserFunctionError(
                    "regexp takes two arguments: regexp(pattern, text)".into(),
                ));
            }
            let Ok(text) = ctx.get_raw(1).as_str() else {
                return Ok(false);
            };
            let re: Arc<Arc<Regex>> = ctx.get_or_create_aux(0, |v| -> Result<_, String> {
                let pattern = v
                    .as_str()
                    .map_err(|_| "regexp: the pattern must be text".to_string())?;
                cached_regex(&cache, pattern)
            })?;
            Ok(re.is_match(text))
        },
    )
}

/// A compiled pattern from the connection's small cache, compiling (and caching) it if new.
fn cached_regex(cache: &RegexCache, pattern: &str) -> Result<Arc<Regex>, String> {
    if let Ok(c) = cache.lock() {
        if let Some((_, re)) = c.iter().find(|(p, _)| p == pattern) {
            return Ok(re.clone());
        }
    }
    let re = Arc::new(
        compile_regex(pattern)
            .map_err(|e| format!("regexp: '{pattern}' is not a valid regular expression: {e}"))?,
    );
    if let Ok(mut c) = cache.lock() {
        if c.len() >= REGEX_CACHE {
            c.remove(0);
        }
        c.push((pattern.to_string(), re.clone()));
    }
    Ok(re)
}

/// Translates a q expression into an SQLite boolean expression selecting a superset of the
/// matching entities, for use as `WHERE e.tenant = ?1 AND (<expression>)`.
///
/// `pk_column` names the entity primary key in the caller's query (`e.pk`). `params` must
/// already hold the tenant as `?1`; the values of the expression are pushed after it and
/// referenced by their numbers. The result is `1` when no index can narrow the query.
pub fn q_prefilter(q: &QExpr, pk_column: &str, params: &mut Vec<Value>) -> String {
    q_prefilter_with(q, pk_column, params, Strategy::Materialized)
}

/// How the attribute conditions are checked; both give the same rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `pk IN (SELECT pk ...)`: each condition's matching set is built once from the value
    /// indexes. Cheap when conditions are selective; costly when they match most rows.
    Materialized,
    /// `EXISTS (SELECT 1 ... WHERE pk = <row>)`: each candidate row is checked through the
    /// (pk, attr) index. Cheap when the scan can stop early because matches are dense.
    Correlated,
}

/// [`q_prefilter`] with a chosen [`Strategy`].
pub fn q_prefilter_with(
    q: &QExpr,
    pk_column: &str,
    params: &mut Vec<Value>,
    strategy: Strategy,
) -> String {
    render(
        q,
        &mut Sqlite {
            pk: pk_column,
            params,
            strategy,
        },
    )
}

/// The SQLite side of a prefilter: `?N` placeholders, attribute numbers from `terms`.
struct Sqlite<'a> {
    pk: &'a str,
    params: &'a mut Vec<Value>,
    strategy: Strategy,
}

impl Sqlite<'_> {
    fn bind(&mut self, v: Value) -> String {
        self.params.push(v);
        format!("?{}", self.params.len())
    }
}

impl Dialect for Sqlite<'_> {
    fn constant(&self, value: bool) -> &'static str {
        if value {
            "1"
        } else {
            "0"
        }
    }

    fn bind_real(&mut self, value: f64) -> String {
        self.bind(Value::Real(value))
    }

    fn open_rows(&mut self, attr: &str, negate: bool) -> String {
        let attr = format!(
            "(SELECT id FROM terms WHERE iri = {})",
            self.bind(Value::Text(attr.to_string()))
        );
        let (pk, not) = (self.pk, if negate { "NOT " } else { "" });
        match self.strategy {
            Strategy::Materialized => format!(
                "{pk} {not}IN (SELECT pk FROM attr_values WHERE tenant = ?1 AND attr = {attr}"
            ),
            Strategy::Correlated => format!(
                "{not}EXISTS (SELECT 1 FROM attr_values WHERE pk = {pk} AND attr = {attr} AND +tenant = ?1"
            ),
        }
    }

    fn text(&mut self, op: CompOp, value: &str) -> String {
        let s = self.bind(Value::Text(value.to_string()));
        format!("txt {} {s}", sql_op(op))
    }

    fn regex(&mut self, pattern: &str) -> String {
        let p = self.bind(Value::Text(pattern.to_string()));
        format!("regexp({p}, txt)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;

    use jumeau_model::Entity;

    use super::*;
    use crate::index::index_rows;
    use crate::qplan::cases::{entities, ex, expected_matches, QUERIES};

    const SCHEMA: &str = include_str!("schema.sql");

    /// Tenant 1 holds the entities; tenant 2 holds one entity whose rows match everything.
    fn database(es: &[Entity]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        register_functions(&conn).unwrap();
        // Rows are numbered per entity; tenant 2's entity takes the rows of all, in turn.
        let next_seq = std::cell::Cell::new(0i64);
        let insert = |tenant: i64, pk: i64, e: &Entity| {
            for r in index_rows(e) {
                let seq = next_seq.get();
                next_seq.set(seq + 1);
                conn.execute("INSERT OR IGNORE INTO terms(iri) VALUES (?1)", [&r.attr])
                    .unwrap();
                conn.execute(
                    "INSERT INTO attr_values(tenant, attr, seq, pk, vt, num, txt) \
                     VALUES (?1, (SELECT id FROM terms WHERE iri = ?2), ?3, ?4, ?5, ?6, ?7)",
                    rusqlite::params![tenant, r.attr, seq, pk, r.kind.code(), r.num, r.txt],
                )
                .unwrap();
            }
        };
        for (i, e) in es.iter().enumerate() {
            let pk = i as i64 + 1;
            conn.execute(
                "INSERT INTO entities(pk, tenant, id, doc) VALUES (?1, 1, 'e' || ?1, '{}')",
                [pk],
            )
            .unwrap();
            insert(1, pk, e);
        }
        conn.execute(
            "INSERT INTO entities(pk, tenant, id, doc) VALUES (1000, 2, 'e', '{}')",
            [],
        )
        .unwrap();
        for e in es {
            insert(2, 1000, e);
        }
        conn
    }

    /// The rows the prefilter selects; both strategies must select the same rows.
    fn prefiltered(conn: &Connection, q: &QExpr) -> (String, BTreeSet<i64>) {
        let run = |strategy| {
            let mut params = vec![Value::Integer(1)];
            let pre = q_prefilter_with(q, "e.pk", &mut params, strategy);
            let sql = format!("SELECT e.pk FROM entities e WHERE e.tenant = ?1 AND ({pre})");
            let mut stmt = conn.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let rows = stmt
                .query_map(rusqlite::params_from_iter(params), |r| r.get::<_, i64>(0))
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let set: BTreeSet<i64> = rows.map(|r| r.unwrap()).collect();
            (sql, set)
        };
        let (sql, materialized) = run(Strategy::Materialized);
        let (corr_sql, correlated) = run(Strategy::Correlated);
        assert_eq!(materialized, correlated, "{sql}\n{corr_sql}");
        (sql, materialized)
    }

    #[test]
    fn prefilter_is_a_superset_and_exact_on_simple_terms() {
        let es = entities();
        let conn = database(&es);
        for (q, exact) in QUERIES {
            let (expr, want) = expected_matches(q, &es);
            let (sql, got) = prefiltered(&conn, &expr);
            assert!(
                got.is_superset(&want),
                "{q}: prefilter {got:?} misses some of {want:?}\n{sql}"
            );
            if *exact {
                assert_eq!(got, want, "{q}: prefilter should be exact\n{sql}");
            }
            assert!(!got.contains(&1000), "{q}: another tenant leaked\n{sql}");
        }
        // The tables survived every hostile query.
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM attr_values", [], |r| r.get(0))
            .unwrap();
        assert!(n > 40);
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM entities", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, es.len() as i64 + 1);
    }

    #[test]
    fn hostile_text_never_reaches_the_sql() {
        let q = QExpr::parse(
            "name==\"x'); DROP TABLE attr_values;--\";name~=\"a'b\"",
            &ex,
        )
        .unwrap();
        let mut params = vec![Value::Text("t1".into())];
        let sql = q_prefilter(&q, "e.pk", &mut params);
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(!sql.contains("a'b"), "{sql}");
        assert!(!sql.contains("example.org"), "{sql}");
        assert_eq!(params.len(), 5, "{params:?}");
        for i in 2..=params.len() {
            assert!(sql.contains(&format!("?{i}")), "?{i} unused in {sql}");
        }
    }

    #[test]
    fn parameters_are_numbered_after_the_existing_ones() {
        let q = QExpr::parse("a==1|b", &ex).unwrap();
        let mut params = vec![
            Value::Text("t".into()),
            Value::Integer(7),
            Value::Integer(8),
        ];
        let sql = q_prefilter(&q, "x.pk", &mut params);
        assert_eq!(
            sql,
            "(x.pk IN (SELECT pk FROM attr_values WHERE tenant = ?1 AND attr = (SELECT id FROM terms WHERE iri = ?4) AND (vt = 'n' AND num = ?5)) \
             OR x.pk IN (SELECT pk FROM attr_values WHERE tenant = ?1 AND attr = (SELECT id FROM terms WHERE iri = ?6)))"
        );
        assert_eq!(params.len(), 6);
    }

    #[test]
    fn constant_branches_leave_no_parameters() {
        let mut params = vec![Value::Text("t".into())];
        let q = QExpr::parse("a==1|!a.b", &ex).unwrap();
        assert_eq!(q_prefilter(&q, "e.pk", &mut params), "1");
        assert_eq!(params.len(), 1);
        let q = QExpr::parse("!a.b;!c[d]", &ex).unwrap();
        assert_eq!(q_prefilter(&q, "e.pk", &mut params), "1");
        assert_eq!(params.len(), 1);
        let empty = QExpr::Compare {
            path: jumeau_model::query::q::AttrPath::attr("a"),
            op: CompOp::Eq,
            value: jumeau_model::query::q::QValue::List(vec![]),
        };
        assert_eq!(q_prefilter(&empty, "e.pk", &mut params), "0");
        assert_eq!(q_prefilter(&QExpr::Or(vec![]), "e.pk", &mut params), "0");
        assert_eq!(q_prefilter(&QExpr::And(vec![]), "e.pk", &mut params), "1");
        assert_eq!(params.len(), 1);
    }

    #[test]
    fn regexp_function() {
        let conn = Connection::open_in_memory().unwrap();
        register_functions(&conn).unwrap();
        let m = |p: &str, t: Option<&str>| -> rusqlite::Result<bool> {
            conn.query_row("SELECT regexp(?1, ?2)", rusqlite::params![p, t], |r| {
                r.get(0)
            })
        };
        assert!(m("^a.c$", Some("abc")).unwrap());
        assert!(!m("^a.c$", Some("abcd")).unwrap());
        assert!(!m("x", None).unwrap());
        assert!(m("(", Some("x")).is_err());
        for i in 0..40 {
            assert!(m(&format!("^{i}$"), Some(&i.to_string())).unwrap());
        }
        let n: i64 = conn
            .query_row("SELECT 'abc' REGEXP 'b'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}

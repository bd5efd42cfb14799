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

    use jumeau_model::{Attribute, AttributeValue, Entity};
    use serde_json::json;

    use super::*;
    use crate::index::index_rows;

    const SCHEMA: &str = include_str!("schema.sql");

    fn ex(s: &str) -> String {
        format!("https://example.org/{s}")
    }

    fn prop(v: serde_json::Value) -> Attribute {
        Attribute::new(AttributeValue::Property(v))
    }

    fn entity(n: usize, attrs: Vec<(&str, Attribute)>) -> Entity {
        let mut e = Entity::new(format!("urn:ngsi-ld:T:{n}"), ex("T"));
        for (name, a) in attrs {
            e.attrs.entry(ex(name)).or_default().push(a);
        }
        e
    }

    fn entities() -> Vec<Entity> {
        let mut langs = serde_json::Map::new();
        langs.insert("fr".into(), json!("armoire"));
        langs.insert("en".into(), json!("cabinet"));
        let mut with_sub = prop(json!(12));
        with_sub.sub.insert(ex("accuracy"), vec![prop(json!(0.5))]);
        with_sub.observed_at =
            Some(jumeau_model::time::parse_datetime("2024-03-01T10:00:00Z").unwrap());
        with_sub.unit_code = Some("CEL".into());
        let mut other_instance = prop(json!(40));
        other_instance.dataset_id = Some("urn:ds:2".into());
        vec![
            entity(
                1,
                vec![
                    ("temp", prop(json!(21.5))),
                    ("name", prop(json!("Rue de la Paix"))),
                    ("on", prop(json!(true))),
                    ("at", prop(json!("2024-01-15T12:00:00Z"))),
                ],
            ),
            entity(
                2,
                vec![
                    ("temp", prop(json!(10))),
                    ("name", prop(json!("Avenue Foch"))),
                    ("on", prop(json!(false))),
                    ("at", prop(json!("2024-01-15"))),
                ],
            ),
            entity(
                3,
                vec![
                    ("temp", prop(json!(-5))),
                    ("tags", prop(json!(["a", "b"]))),
                    (
                        "ref",
                        Attribute::new(AttributeValue::Relationship(
                            "urn:ngsi-ld:Cabinet:1".into(),
                        )),
                    ),
                ],
            ),
            entity(
                4,
                vec![
                    ("temp", prop(json!([1, 30]))),
                    ("name", prop(json!("rue de la paix"))),
                ],
            ),
            entity(
                5,
                vec![("temp", prop(json!("21.5"))), ("on", prop(json!("true")))],
            ),
            entity(
                6,
                vec![
                    ("name", prop(json!("Zoé"))),
                    ("tags", prop(json!(["b", "c", 3]))),
                ],
            ),
            entity(
                7,
                vec![("temp", prop(json!(21.5))), ("temp", other_instance)],
            ),
            entity(
                8,
                vec![(
                    "at",
                    prop(json!({"@type": "DateTime", "@value": "2024-01-15T12:00:00.500Z"})),
                )],
            ),
            entity(9, vec![("at", prop(json!("2024-01-15T12:00:00.0005Z")))]),
            entity(10, vec![("temp", prop(json!({"value": 3})))]),
            entity(
                11,
                vec![(
                    "label",
                    Attribute::new(AttributeValue::LanguageProperty(langs)),
                )],
            ),
            entity(
                12,
                vec![(
                    "list",
                    Attribute::new(AttributeValue::ListProperty(vec![json!(3), json!(4)])),
                )],
            ),
            entity(
                13,
                vec![(
                    "ref",
                    Attribute::new(AttributeValue::ListRelationship(vec![
                        "urn:ngsi-ld:Cabinet:2".into(),
                        "urn:ngsi-ld:Cabinet:3".into(),
                    ])),
                )],
            ),
            entity(14, vec![("temp", with_sub)]),
            entity(
                15,
                vec![(
                    "address",
                    prop(json!({"street": "Rue X", "city": {"name": "Lyon"}})),
                )],
            ),
            entity(
                16,
                vec![
                    ("temp", prop(serde_json::Value::Null)),
                    ("name", prop(json!(""))),
                ],
            ),
            entity(
                17,
                vec![("mixed", prop(json!([true, 1, "x", "2024-02-01T00:00:00Z"])))],
            ),
            entity(
                18,
                vec![("name", prop(json!("x'); DROP TABLE attr_values;--")))],
            ),
            entity(
                19,
                vec![
                    ("at", prop(json!("2024-01-16"))),
                    ("temp", prop(json!(1e300))),
                ],
            ),
            entity(
                20,
                vec![
                    ("at", prop(json!("2023-12-31T23:59:59.999Z"))),
                    ("temp", prop(json!(21.4999))),
                ],
            ),
            entity(21, vec![]),
        ]
    }

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
        // (query, whether the prefilter must be exact)
        let cases: &[(&str, bool)] = &[
            ("temp", true),
            ("!temp", true),
            ("nothing", true),
            ("!nothing", true),
            ("temp==21.5", true),
            ("temp==21.50", true),
            ("temp!=21.5", false),
            ("temp>21", true),
            ("temp>=21.5", true),
            ("temp<0", true),
            ("temp<=10", true),
            ("temp>1e299", true),
            ("temp==-5..10", true),
            ("temp==11..29", true),
            ("temp==25..35", true),
            ("temp==1,10,40", true),
            ("temp==\"21.5\"", true),
            ("temp==\"21.5\",21.5", true),
            ("name==\"Rue de la Paix\"", true),
            ("name>\"Rue\"", true),
            ("name<\"B\"", true),
            ("name==\"A\"..\"Rz\"", true),
            ("name==\"\"", true),
            ("name~=(?i)^rue", true),
            ("name~=^Rue", true),
            ("name~=é$", true),
            ("name!~=^Rue", false),
            ("on==true", true),
            ("on==false", true),
            ("on!=true", false),
            ("on>false", true),
            ("on==\"true\"", true),
            ("at==2024-01-15T12:00:00Z", false),
            ("at>=2024-01-15T12:00:00Z", true),
            ("at>2024-01-15T12:00:00Z", false),
            ("at<2024-01-15T12:00:00.001Z", false),
            ("at<2024-01-15T12:00:00Z", true),
            ("at<=2024-01-15T12:00:00Z", false),
            ("at==2024-01-01T00:00:00Z..2024-01-15T12:00:00.400Z", false),
            ("at>2023-12-31T23:59:59.9985Z", false),
            ("at==2024-01-15", true),
            ("at>2024-01-15", true),
            ("at>=2024-01-15", true),
            ("at<2024-01-15", true),
            ("at<=2024-01-15", true),
            ("at==2024-01-01..2024-01-15", true),
            ("at==2024-01-16,2023-12-31", true),
            ("at==\"2024-01-15\"", true),
            ("at~=^2024-01-15T", true),
            ("tags==\"b\"", true),
            ("tags==3", true),
            ("tags!=\"b\"", false),
            ("ref==urn:ngsi-ld:Cabinet:1", true),
            ("ref==urn:ngsi-ld:Cabinet:3", true),
            ("ref~=Cabinet:[23]$", true),
            ("label==\"cabinet\"", true),
            ("label[fr]==\"armoire\"", false),
            ("list==4", true),
            ("list>3", true),
            ("mixed==true", true),
            ("mixed==1", true),
            ("mixed==\"x\"", true),
            ("mixed>2024-01-01T00:00:00Z", true),
            ("temp.accuracy<1", false),
            ("temp.observedAt>2024-01-01T00:00:00Z", false),
            ("temp.unitCode==CEL", false),
            ("temp.datasetId==urn:ds:2", false),
            ("!temp.datasetId", false),
            ("!temp.accuracy", false),
            ("address[city.name]==\"Lyon\"", false),
            ("address[street]", false),
            ("temp[value]==3", false),
            ("temp>20;name", true),
            ("temp>20|name", true),
            ("(temp>20|name~=^A);!on", true),
            ("temp<0|(on==true;at>=2024-01-01T00:00:00Z)", true),
            ("temp.accuracy<1|name==\"Zoé\"", false),
            ("!temp.accuracy|name==\"Zoé\"", false),
            ("temp==1..2;temp==29..31", true),
            // Hostile strings are only ever bound as parameters.
            ("name==\"x'); DROP TABLE attr_values;--\"", true),
            ("name==\"'\"|name==\"' OR 1=1 --\"", true),
            ("name~=\"' OR 1=1; DROP TABLE entities; --\"", true),
            ("name==x';DELETE", true),
            ("https://example.org/name==\"Zoé\"", true),
            ("temp==1;?2==1", false),
        ];
        for (q, exact) in cases {
            let expr = match QExpr::parse(q, &ex) {
                Ok(e) => e,
                Err(e) => panic!("{q}: {}", e.detail),
            };
            let want: BTreeSet<i64> = es
                .iter()
                .enumerate()
                .filter(|(_, e)| expr.matches(e))
                .map(|(i, _)| i as i64 + 1)
                .collect();
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

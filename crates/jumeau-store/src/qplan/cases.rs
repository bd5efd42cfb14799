//! Entities and queries every prefilter of [`super::render`] is tested on, by each engine:
//! what the prefilter selects must contain every entity [`QExpr::matches`](jumeau_model::query::q::QExpr::matches) keeps, and be
//! exactly those on the terms it translates precisely.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;

use jumeau_model::query::q::QExpr;
use jumeau_model::{Attribute, AttributeValue, Entity};
use serde_json::json;

/// Queries, with whether a prefilter must select exactly the matches (on the value index;
/// every prefilter must select at least them).
pub(crate) const QUERIES: &[(&str, bool)] = &[
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

pub(crate) fn ex(s: &str) -> String {
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

pub(crate) fn entities() -> Vec<Entity> {
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
                    Attribute::new(AttributeValue::Relationship("urn:ngsi-ld:Cabinet:1".into())),
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

/// A query of [`QUERIES`], parsed, and the entities of `es` it matches, numbered from 1 in
/// their order: what every prefilter must select.
pub(crate) fn expected_matches(q: &str, es: &[Entity]) -> (QExpr, BTreeSet<i64>) {
    let expr = match QExpr::parse(q, &ex) {
        Ok(e) => e,
        Err(e) => panic!("{q}: {}", e.detail),
    };
    let want = es
        .iter()
        .enumerate()
        .filter(|(_, e)| expr.matches(e))
        .map(|(i, _)| i as i64 + 1)
        .collect();
    (expr, want)
}

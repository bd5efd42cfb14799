//! GET /health and GET /openapi.json: the description is valid OpenAPI 3 JSON and covers
//! every route of the router, with every method.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{Key, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// Every route of `jumeau_api::router`, with its methods (lower case, as OpenAPI writes
/// them): the core routes, then each module's. Keep in step with the router.
const ROUTE_GROUPS: &[&[(&str, &[&str])]] = &[
    CORE_ROUTES,
    TEMPORAL_ROUTES,
    SUBSCRIPTION_ROUTES,
    INGEST_ROUTES,
    WATER_ROUTES,
    LIGHTING_ROUTES,
];

/// Routes of public lighting (crates/jumeau-api/src/lighting/mod.rs).
const LIGHTING_ROUTES: &[(&str, &[&str])] = &[
    ("/jumeau/v1/lighting/settings", &["get", "put"]),
    ("/jumeau/v1/lighting/inventory/import", &["post"]),
    ("/jumeau/v1/lighting/map", &["get"]),
    ("/jumeau/v1/lighting/compliance", &["get"]),
    ("/jumeau/v1/lighting/zones", &["get", "post"]),
    ("/jumeau/v1/lighting/zones/{id}", &["get", "put", "delete"]),
    ("/jumeau/v1/lighting/programs", &["get", "post"]),
    (
        "/jumeau/v1/lighting/programs/{id}",
        &["get", "put", "delete"],
    ),
    ("/jumeau/v1/lighting/preview", &["post"]),
    ("/jumeau/v1/lighting/sun", &["get"]),
    ("/jumeau/v1/lighting/commands", &["post"]),
    ("/jumeau/v1/lighting/emergency", &["get", "post"]),
    ("/jumeau/v1/lighting/energy", &["get"]),
    ("/jumeau/v1/lighting/faults", &["get"]),
    ("/jumeau/v1/lighting/audit", &["get"]),
];

/// Routes of drinking water (crates/jumeau-api/src/water/mod.rs).
const WATER_ROUTES: &[(&str, &[&str])] = &[
    ("/jumeau/v1/water/networks", &["get", "post"]),
    ("/jumeau/v1/water/networks/{id}/inp", &["get"]),
    ("/jumeau/v1/water/networks/{id}/map", &["get"]),
    ("/jumeau/v1/water/networks/{id}/detections", &["post"]),
    ("/jumeau/v1/water/networks/{id}/simulations", &["post"]),
    ("/jumeau/v1/water/networks/{id}/simulations/{run}", &["get"]),
    ("/jumeau/v1/water/dmas", &["get"]),
    ("/jumeau/v1/water/dmas/{id}", &["get", "put"]),
    ("/jumeau/v1/water/dmas/{id}/night-flow", &["get"]),
    ("/jumeau/v1/water/dmas/{id}/night-flow/alerts", &["post"]),
    ("/jumeau/v1/water/leak-events", &["get", "post"]),
    ("/jumeau/v1/water/acoustic", &["post"]),
    ("/jumeau/v1/water/indicators", &["get"]),
    ("/jumeau/v1/water/indicators/{service}/{year}", &["put"]),
];

/// Routes of the temporal API (crates/jumeau-api/src/temporal.rs).
const TEMPORAL_ROUTES: &[(&str, &[&str])] = &[
    ("/ngsi-ld/v1/temporal/entities", &["get", "post"]),
    ("/ngsi-ld/v1/temporal/entities/{id}", &["get", "delete"]),
    ("/ngsi-ld/v1/temporal/entities/{id}/attrs", &["post"]),
    (
        "/ngsi-ld/v1/temporal/entities/{id}/attrs/{attr}",
        &["delete"],
    ),
    (
        "/ngsi-ld/v1/temporal/entities/{id}/attrs/{attr}/{instanceId}",
        &["delete"],
    ),
    ("/ngsi-ld/v1/temporal/entityOperations/query", &["post"]),
    ("/jumeau/v1/tenants/{tenant}/retention", &["get", "put"]),
];

/// Routes of subscriptions (crates/jumeau-api/src/subscriptions.rs).
const SUBSCRIPTION_ROUTES: &[(&str, &[&str])] = &[
    ("/ngsi-ld/v1/subscriptions", &["get", "post"]),
    (
        "/ngsi-ld/v1/subscriptions/{subscriptionId}",
        &["get", "patch", "delete"],
    ),
];

/// Routes of ingestion (crates/jumeau-api/src/ingest.rs).
const INGEST_ROUTES: &[(&str, &[&str])] = &[
    ("/ingest/chirpstack", &["post"]),
    ("/ingest/tts", &["post"]),
    ("/ingest/http", &["post"]),
    ("/ingest/devices", &["get", "post"]),
    ("/ingest/devices/import", &["post"]),
    ("/ingest/devices/{devEui}", &["get", "put", "delete"]),
    ("/ingest/dead-letters", &["get"]),
    ("/ingest/dead-letters/replay", &["post"]),
    ("/ingest/stats", &["get"]),
    ("/metrics", &["get"]),
];

/// Routes of the entity API and administration (crates/jumeau-api/src/lib.rs).
const CORE_ROUTES: &[(&str, &[&str])] = &[
    ("/ngsi-ld/v1/entities", &["get", "post"]),
    (
        "/ngsi-ld/v1/entities/{id}",
        &["get", "put", "patch", "delete"],
    ),
    ("/ngsi-ld/v1/entities/{id}/attrs", &["post", "patch"]),
    (
        "/ngsi-ld/v1/entities/{id}/attrs/{attr}",
        &["patch", "put", "delete"],
    ),
    ("/ngsi-ld/v1/entityOperations/create", &["post"]),
    ("/ngsi-ld/v1/entityOperations/upsert", &["post"]),
    ("/ngsi-ld/v1/entityOperations/update", &["post"]),
    ("/ngsi-ld/v1/entityOperations/merge", &["post"]),
    ("/ngsi-ld/v1/entityOperations/delete", &["post"]),
    ("/ngsi-ld/v1/entityOperations/query", &["post"]),
    ("/ngsi-ld/v1/types", &["get"]),
    ("/ngsi-ld/v1/types/{type}", &["get"]),
    ("/ngsi-ld/v1/attributes", &["get"]),
    ("/ngsi-ld/v1/attributes/{attr}", &["get"]),
    ("/ngsi-ld/v1/jsonldContexts", &["get", "post"]),
    ("/ngsi-ld/v1/jsonldContexts/{id}", &["get", "delete"]),
    ("/health", &["get"]),
    ("/openapi.json", &["get"]),
    ("/jumeau/v1/tenants", &["get"]),
    ("/jumeau/v1/tenants/{tenant}", &["get", "put"]),
    ("/jumeau/v1/map", &["get"]),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn spec() -> Value {
    let s = Server::start().await;
    let r = s
        .send(s.req_as(Key::None, Method::GET, "/openapi.json"))
        .await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/json");
    r.json()
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let path = reference.strip_prefix("#/")?;
    path.split('/').try_fold(doc, |v, seg| v.get(seg))
}

/// Every `$ref` found under a value.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push(x.as_str().unwrap().to_string());
                } else {
                    refs(x, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn health_answers_ok_without_a_key() {
    let s = Server::start().await;
    let r = s.send(s.req_as(Key::None, Method::GET, "/health")).await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/json");
    assert_eq!(
        r.json(),
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );
    s.send(s.req_as(Key::None, Method::POST, "/health"))
        .await
        .problem(405, "MethodNotAllowed");
}

#[tokio::test]
async fn openapi_is_version_3_and_names_jumeau() {
    let doc = spec().await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], json!("Jumeau"));
    assert!(doc["info"]["version"].is_string());
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(
        description.contains("jumeau numérique"),
        "French: {description}"
    );
    assert!(
        description.contains("digital twin"),
        "English: {description}"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        json!("bearer")
    );
    for schema in [
        "ProblemDetails",
        "Entity",
        "BatchOperationResult",
        "UpdateResult",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
}

#[tokio::test]
async fn openapi_describes_every_route_and_method() {
    let doc = spec().await;
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in ROUTE_GROUPS.iter().flat_map(|g| g.iter()) {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is missing from /openapi.json"));
        for m in *methods {
            let op = &item[*m];
            assert!(op.is_object(), "{m} {path} is missing");
            assert!(op["operationId"].is_string(), "{m} {path}: operationId");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{m} {path}: responses"
            );
        }
        // And no method the router does not serve.
        for m in METHODS {
            if item.get(m).is_some() {
                assert!(
                    methods.contains(&m),
                    "{m} {path} is described but not routed"
                );
            }
        }
    }
    assert_eq!(
        paths.len(),
        ROUTE_GROUPS.iter().map(|g| g.len()).sum::<usize>(),
        "described paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );

    // Path parameters are declared for each template segment.
    for (path, item) in paths {
        let templated: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared: Vec<String> = item["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| match p.get("$ref").and_then(Value::as_str) {
                        Some(r) => resolve(&doc, r).unwrap().clone(),
                        None => p.clone(),
                    })
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(declared, templated, "{path}");
    }
}

#[tokio::test]
async fn openapi_references_resolve_and_errors_are_problem_details() {
    let doc = spec().await;
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50);
    for r in &all {
        assert!(resolve(&doc, r).is_some(), "unresolved $ref {r}");
    }
    // The error classes the API answers, each described with a ProblemDetails body.
    let responses = doc["components"]["responses"].as_object().unwrap();
    let mut statuses = std::collections::BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                for (code, resp) in op["responses"].as_object().unwrap() {
                    statuses.insert(code.clone());
                    if code.starts_with('4') || code.starts_with('5') {
                        let name = resp["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
                        assert_eq!(
                            responses[name]["content"]["application/json"]["schema"]["$ref"],
                            json!("#/components/schemas/ProblemDetails"),
                            "{code} {name}"
                        );
                    }
                }
            }
        }
    }
    for code in [
        "200", "201", "204", "207", "400", "401", "403", "404", "406", "409", "411", "413", "415",
        "422", "503",
    ] {
        assert!(statuses.contains(code), "no operation answers {code}");
    }
    // Query parameters of GET /entities.
    let get = &doc["paths"]["/ngsi-ld/v1/entities"]["get"];
    let names: Vec<String> = get["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            resolve(&doc, p["$ref"].as_str().unwrap()).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for n in [
        "NGSILD-Tenant",
        "Link",
        "type",
        "id",
        "idPattern",
        "q",
        "attrs",
        "pick",
        "omit",
        "georel",
        "geometry",
        "coordinates",
        "geoproperty",
        "geometryProperty",
        "limit",
        "offset",
        "count",
        "options",
        "format",
        "lang",
        "local",
    ] {
        assert!(names.iter().any(|x| x == n), "GET /entities lacks {n}");
    }
    // PATCH merge takes application/merge-patch+json.
    let merge = &doc["paths"]["/ngsi-ld/v1/entities/{id}"]["patch"]["requestBody"]["$ref"];
    let body = resolve(&doc, merge.as_str().unwrap()).unwrap();
    assert!(body["content"]["application/merge-patch+json"].is_object());
    assert!(body["content"]["application/ld+json"].is_object());
}

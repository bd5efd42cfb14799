//! Tenants and API keys: isolation, every write needs a key of the right role and tenant,
//! revocation, public tenants, tenant settings under /jumeau/v1/tenants.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{Key, Server};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};

const ID: &str = "urn:ngsi-ld:Streetlight:t1";
const PATH: &str = "/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:t1";

fn lamp() -> Value {
    json!({"id": ID, "type": "Streetlight", "power": {"type": "Property", "value": 10}})
}

/// A request with a key, a tenant and, if given, a JSON body.
async fn call(
    s: &Server,
    key: Key,
    tenant: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> common::Resp {
    let mut rb = s.req_as(key, method, path);
    if let Some(t) = tenant {
        rb = rb.header("NGSILD-Tenant", t);
    }
    if let Some(b) = body {
        rb = rb
            .header(CONTENT_TYPE, "application/json")
            .body(b.to_string());
    }
    s.send(rb).await
}

/// Every write endpoint, with a valid body.
fn writes() -> Vec<(Method, String, Option<Value>)> {
    let attrs = format!("{PATH}/attrs");
    let attr = format!("{PATH}/attrs/power");
    let ops = "/ngsi-ld/v1/entityOperations";
    vec![
        (
            Method::POST,
            "/ngsi-ld/v1/entities".into(),
            Some(json!({"id": "urn:ngsi-ld:Streetlight:new", "type": "Streetlight"})),
        ),
        (
            Method::PUT,
            PATH.into(),
            Some(json!({"type": "Streetlight", "power": 1})),
        ),
        (Method::PATCH, PATH.into(), Some(json!({"power": 2}))),
        (Method::POST, attrs.clone(), Some(json!({"color": "white"}))),
        (Method::PATCH, attrs, Some(json!({"power": 3}))),
        (Method::PATCH, attr.clone(), Some(json!({"value": 4}))),
        (
            Method::PUT,
            attr.clone(),
            Some(json!({"type": "Property", "value": 5})),
        ),
        (
            Method::POST,
            format!("{ops}/create"),
            Some(json!([{"id": "urn:ngsi-ld:Streetlight:b", "type": "Streetlight"}])),
        ),
        (Method::POST, format!("{ops}/upsert"), Some(json!([lamp()]))),
        (
            Method::POST,
            format!("{ops}/update"),
            Some(json!([{"id": ID, "power": 6}])),
        ),
        (
            Method::POST,
            format!("{ops}/merge"),
            Some(json!([{"id": ID, "power": 7}])),
        ),
        (Method::POST, format!("{ops}/delete"), Some(json!([ID]))),
        (Method::DELETE, attr, None),
        (Method::DELETE, PATH.into(), None),
    ]
}

/// Every read endpoint of a tenant.
fn reads() -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, PATH.into(), None),
        (
            Method::GET,
            "/ngsi-ld/v1/entities?type=Streetlight".into(),
            None,
        ),
        (
            Method::POST,
            "/ngsi-ld/v1/entityOperations/query".into(),
            Some(json!({"type": "Query", "q": "power>0"})),
        ),
        (Method::GET, "/ngsi-ld/v1/types".into(), None),
        (Method::GET, "/ngsi-ld/v1/types/Streetlight".into(), None),
        (Method::GET, "/ngsi-ld/v1/attributes".into(), None),
        (Method::GET, "/ngsi-ld/v1/attributes/power".into(), None),
    ]
}

/// The power of the lamp in a tenant (admin key).
async fn power(s: &Server, tenant: &str) -> Value {
    let r = call(
        s,
        Key::Admin,
        Some(tenant),
        Method::GET,
        &format!("{PATH}?options=keyValues"),
        None,
    )
    .await;
    r.expect(200);
    r.json()["power"].clone()
}

#[tokio::test]
async fn tenants_are_isolated() {
    let s = Server::start().await;
    call(
        &s,
        Key::Editor,
        Some("city-a"),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&lamp()),
    )
    .await
    .expect(201);

    // Tenant B does not exist yet.
    let d = call(&s, Key::Editor, Some("city-b"), Method::GET, PATH, None)
        .await
        .problem(404, "NonexistentTenant");
    assert!(d.contains("city-b"), "{d}");
    // The default tenant neither.
    s.get(PATH).await.problem(404, "NonexistentTenant");

    let mut other = lamp();
    other["power"]["value"] = json!(99);
    call(
        &s,
        Key::Editor,
        Some("city-b"),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&json!({"id": "urn:ngsi-ld:X:1", "type": "X"})),
    )
    .await
    .expect(201);
    call(&s, Key::Editor, Some("city-b"), Method::GET, PATH, None)
        .await
        .problem(404, "ResourceNotFound");
    let r = call(
        &s,
        Key::Editor,
        Some("city-b"),
        Method::GET,
        "/ngsi-ld/v1/entities?type=Streetlight",
        None,
    )
    .await;
    r.expect(200);
    assert_eq!(r.json(), json!([]));
    assert_eq!(r.header("ngsild-tenant").as_deref(), Some("city-b"));

    // The same id can live in both tenants, independently.
    call(
        &s,
        Key::Editor,
        Some("city-b"),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&other),
    )
    .await
    .expect(201);
    assert_eq!(power(&s, "city-a").await, json!(10));
    assert_eq!(power(&s, "city-b").await, json!(99));
    call(&s, Key::Editor, Some("city-b"), Method::DELETE, PATH, None)
        .await
        .expect(204);
    assert_eq!(power(&s, "city-a").await, json!(10));
    let r = call(
        &s,
        Key::Editor,
        Some("city-a"),
        Method::GET,
        "/ngsi-ld/v1/types",
        None,
    )
    .await;
    assert_eq!(r.json()["typeList"], json!(["Streetlight"]));
}

#[tokio::test]
async fn every_write_without_a_key_is_401() {
    let s = Server::start().await;
    call(
        &s,
        Key::Editor,
        Some("city-a"),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&lamp()),
    )
    .await
    .expect(201);
    for (method, path, body) in writes() {
        let r = call(
            &s,
            Key::None,
            Some("city-a"),
            method.clone(),
            &path,
            body.as_ref(),
        )
        .await;
        r.problem(401, "Unauthorized");
        assert!(
            r.header("www-authenticate").unwrap().starts_with("Bearer"),
            "{method} {path}"
        );
    }
    // Reads of a private tenant too.
    for (method, path, body) in reads() {
        call(&s, Key::None, Some("city-a"), method, &path, body.as_ref())
            .await
            .problem(401, "Unauthorized");
    }
    // An unknown tenant looks the same as a private one to anonymous callers.
    call(&s, Key::None, Some("secret"), Method::GET, PATH, None)
        .await
        .problem(401, "Unauthorized");
    assert_eq!(power(&s, "city-a").await, json!(10));
}

#[tokio::test]
async fn reader_keys_cannot_write() {
    let s = Server::start().await;
    call(
        &s,
        Key::Editor,
        Some("city-a"),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&lamp()),
    )
    .await
    .expect(201);
    for key in [Key::Reader, Key::ReaderA] {
        for (method, path, body) in writes() {
            let r = call(
                &s,
                key,
                Some("city-a"),
                method.clone(),
                &path,
                body.as_ref(),
            )
            .await;
            let d = r.problem(403, "Forbidden");
            assert!(d.contains("reader"), "{method} {path}: {d}");
        }
        for (method, path, body) in reads() {
            let r = call(
                &s,
                key,
                Some("city-a"),
                method.clone(),
                &path,
                body.as_ref(),
            )
            .await;
            r.expect(200);
        }
    }
    assert_eq!(power(&s, "city-a").await, json!(10));
}

#[tokio::test]
async fn keys_are_scoped_to_their_tenants() {
    let s = Server::start().await;
    // The city-a key writes city-a...
    call(
        &s,
        Key::EditorA,
        Some("city-a"),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&lamp()),
    )
    .await
    .expect(201);
    call(
        &s,
        Key::Editor,
        Some("city-b"),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&lamp()),
    )
    .await
    .expect(201);
    // ...and nothing else, neither write nor read.
    for (method, path, body) in writes() {
        let r = call(
            &s,
            Key::EditorA,
            Some("city-b"),
            method.clone(),
            &path,
            body.as_ref(),
        )
        .await;
        let d = r.problem(403, "Forbidden");
        assert!(d.contains("city-b"), "{method} {path}: {d}");
    }
    for (method, path, body) in reads() {
        call(
            &s,
            Key::ReaderA,
            Some("city-b"),
            method,
            &path,
            body.as_ref(),
        )
        .await
        .problem(403, "Forbidden");
    }
    // Without a header the tenant is the default one, not covered either.
    s.send(
        s.req_as(Key::EditorA, Method::POST, "/ngsi-ld/v1/entities")
            .header(CONTENT_TYPE, "application/json")
            .body(lamp().to_string()),
    )
    .await
    .problem(403, "Forbidden");
    assert_eq!(power(&s, "city-b").await, json!(10));
}

#[tokio::test]
async fn revoked_and_unknown_keys_are_401() {
    let s = Server::start().await;
    call(
        &s,
        Key::EditorA,
        Some("city-a"),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&lamp()),
    )
    .await
    .expect(201);
    assert!(s.twin.auth.revoke(&s.editor_a_id).await.unwrap());
    let d = call(&s, Key::EditorA, Some("city-a"), Method::GET, PATH, None)
        .await
        .problem(401, "Unauthorized");
    assert!(d.contains("revoked"), "{d}");
    call(&s, Key::EditorA, Some("city-a"), Method::DELETE, PATH, None)
        .await
        .problem(401, "Unauthorized");

    let r = s
        .send(
            s.client
                .get(s.url(PATH))
                .header("NGSILD-Tenant", "city-a")
                .bearer_auth("jmk_0000"),
        )
        .await;
    r.problem(401, "Unauthorized");
    let r = s
        .send(
            s.client
                .get(s.url(PATH))
                .header("NGSILD-Tenant", "city-a")
                .header("authorization", "Basic YTpi"),
        )
        .await;
    r.problem(401, "Unauthorized");
    let r = s
        .send(
            s.client
                .get(s.url(PATH))
                .header("NGSILD-Tenant", "city-a")
                .header("authorization", "Bearer "),
        )
        .await;
    r.problem(401, "Unauthorized");
    assert_eq!(power(&s, "city-a").await, json!(10));
}

#[tokio::test]
async fn public_tenants_are_open_to_anonymous_reads() {
    let s = Server::start().await;
    call(
        &s,
        Key::Editor,
        Some("open-data"),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&lamp()),
    )
    .await
    .expect(201);
    call(&s, Key::None, Some("open-data"), Method::GET, PATH, None)
        .await
        .problem(401, "Unauthorized");

    let settings = "/jumeau/v1/tenants/open-data";
    let public = json!({"public": true});
    call(&s, Key::None, None, Method::PUT, settings, Some(&public))
        .await
        .problem(401, "Unauthorized");
    call(&s, Key::Editor, None, Method::PUT, settings, Some(&public))
        .await
        .problem(403, "Forbidden");
    let r = call(&s, Key::Admin, None, Method::PUT, settings, Some(&public)).await;
    r.expect(200);
    let t = r.json();
    assert_eq!(
        (t["name"].clone(), t["public"].clone()),
        (json!("open-data"), json!(true))
    );
    assert!(t["createdAt"].as_str().unwrap().ends_with('Z'));

    for (method, path, body) in reads() {
        let r = call(
            &s,
            Key::None,
            Some("open-data"),
            method.clone(),
            &path,
            body.as_ref(),
        )
        .await;
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text);
    }
    // Writes still need a key.
    for (method, path, body) in writes() {
        call(
            &s,
            Key::None,
            Some("open-data"),
            method,
            &path,
            body.as_ref(),
        )
        .await
        .problem(401, "Unauthorized");
    }
    let r = call(&s, Key::None, None, Method::GET, settings, None).await;
    r.expect(200);
    assert_eq!(r.json()["public"], json!(true));

    // Closing it again.
    call(
        &s,
        Key::Admin,
        None,
        Method::PUT,
        settings,
        Some(&json!({"public": false})),
    )
    .await
    .expect(200);
    let r = call(&s, Key::Reader, None, Method::GET, settings, None).await;
    assert_eq!(r.json()["public"], json!(false));
    call(&s, Key::None, None, Method::GET, settings, None)
        .await
        .problem(401, "Unauthorized");

    // Bad settings.
    call(
        &s,
        Key::Admin,
        None,
        Method::PUT,
        settings,
        Some(&json!({"public": "yes"})),
    )
    .await
    .problem(400, "BadRequestData");
    let r = s
        .send(
            s.req_as(Key::Admin, Method::PUT, settings)
                .header(CONTENT_TYPE, "application/json")
                .body("{"),
        )
        .await;
    r.problem(400, "InvalidRequest");
}

#[tokio::test]
async fn tenant_settings_endpoints() {
    let s = Server::start().await;
    call(
        &s,
        Key::Editor,
        Some("city-a"),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&lamp()),
    )
    .await
    .expect(201);
    call(
        &s,
        Key::Editor,
        Some("city-b"),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&lamp()),
    )
    .await
    .expect(201);

    let names = |v: Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let r = call(
        &s,
        Key::Admin,
        None,
        Method::GET,
        "/jumeau/v1/tenants",
        None,
    )
    .await;
    r.expect(200);
    assert_eq!(names(r.json()), vec!["city-a", "city-b"]);
    let r = call(
        &s,
        Key::ReaderA,
        None,
        Method::GET,
        "/jumeau/v1/tenants",
        None,
    )
    .await;
    assert_eq!(names(r.json()), vec!["city-a"]);
    call(&s, Key::None, None, Method::GET, "/jumeau/v1/tenants", None)
        .await
        .problem(401, "Unauthorized");

    let r = call(
        &s,
        Key::ReaderA,
        None,
        Method::GET,
        "/jumeau/v1/tenants/city-a",
        None,
    )
    .await;
    r.expect(200);
    assert_eq!(r.json()["public"], json!(false));
    call(
        &s,
        Key::ReaderA,
        None,
        Method::GET,
        "/jumeau/v1/tenants/city-b",
        None,
    )
    .await
    .problem(403, "Forbidden");
    call(
        &s,
        Key::Admin,
        None,
        Method::GET,
        "/jumeau/v1/tenants/never",
        None,
    )
    .await
    .problem(404, "NonexistentTenant");
    call(
        &s,
        Key::Admin,
        None,
        Method::GET,
        "/jumeau/v1/tenants/bad!name",
        None,
    )
    .await
    .problem(400, "BadRequestData");
    call(
        &s,
        Key::Admin,
        None,
        Method::PUT,
        "/jumeau/v1/tenants/bad!name",
        Some(&json!({"public": true})),
    )
    .await
    .problem(400, "BadRequestData");
    // An admin key scoped to no tenant but * can create a tenant by its settings.
    call(
        &s,
        Key::Admin,
        None,
        Method::PUT,
        "/jumeau/v1/tenants/fresh",
        Some(&json!({"public": false})),
    )
    .await
    .expect(200);
    let r = call(
        &s,
        Key::Admin,
        Some("fresh"),
        Method::GET,
        "/ngsi-ld/v1/entities?local=true",
        None,
    )
    .await;
    r.expect(200);
    assert_eq!(r.json(), json!([]));
}

#[tokio::test]
async fn invalid_tenant_names_are_400() {
    let s = Server::start().await;
    let long = "x".repeat(65);
    for bad in ["bad name", "a/b", ".hidden", "é", long.as_str(), ""] {
        let r = call(
            &s,
            Key::Editor,
            Some(bad),
            Method::POST,
            "/ngsi-ld/v1/entities",
            Some(&lamp()),
        )
        .await;
        let d = r.problem(400, "BadRequestData");
        assert!(d.to_lowercase().contains("tenant"), "{bad}: {d}");
        call(&s, Key::Editor, Some(bad), Method::GET, PATH, None)
            .await
            .problem(400, "BadRequestData");
    }
    // The longest valid name.
    let max = "y".repeat(64);
    call(
        &s,
        Key::Editor,
        Some(&max),
        Method::POST,
        "/ngsi-ld/v1/entities",
        Some(&lamp()),
    )
    .await
    .expect(201);
}

//! JSON-LD contexts: clients with different @contexts share the same data; hosted contexts
//! (/ngsi-ld/v1/jsonldContexts); bundled Smart Data Models contexts work offline; an
//! unreachable context is a 503.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{enc, link, Key, Server, DEFAULT_VOCAB, SDM_STREETLIGHTING};
use reqwest::header::{CONTENT_TYPE, LINK};
use reqwest::Method;
use serde_json::{json, Value};

const LAMP: &str = "urn:ngsi-ld:Streetlight:ctx-1";

/// Registers a context document and returns its absolute URL.
async fn register(s: &Server, doc: &Value) -> String {
    let r = s.post("/ngsi-ld/v1/jsonldContexts", doc).await;
    r.expect(201);
    let location = r.header("location").unwrap();
    assert!(
        location.starts_with("/ngsi-ld/v1/jsonldContexts/"),
        "{location}"
    );
    s.url(&location)
}

/// A GET with a Link header.
async fn get_with(s: &Server, path: &str, ctx: &str) -> common::Resp {
    s.send(s.req(Method::GET, path).header(LINK, link(ctx)))
        .await
}

#[tokio::test]
async fn clients_with_different_contexts_see_the_same_data() {
    let s = Server::start().await;
    // Different terms, same IRIs.
    let french = register(
        &s,
        &json!({"@context": {"Lampadaire": "https://example.org/city#Streetlight", "puissance": "https://example.org/city#power"}}),
    )
    .await;
    let english = register(
        &s,
        &json!({"@context": {"Streetlight": "https://example.org/city#Streetlight", "power": "https://example.org/city#power"}}),
    )
    .await;
    // Same terms as the French one, other IRIs.
    let other = register(
        &s,
        &json!({"@context": {"Lampadaire": "https://other.example/v#Lampadaire", "puissance": "https://other.example/v#puissance"}}),
    )
    .await;

    let r = s
        .send(
            s.req(Method::POST, "/ngsi-ld/v1/entities")
                .header(CONTENT_TYPE, "application/json")
                .header(LINK, link(&french))
                .body(json!({"id": LAMP, "type": "Lampadaire", "puissance": 120}).to_string()),
        )
        .await;
    r.expect(201);

    let path = format!("/ngsi-ld/v1/entities/{}", enc(LAMP));
    let r = get_with(&s, &path, &english).await;
    r.expect(200);
    assert_eq!(
        r.json(),
        json!({"id": LAMP, "type": "Streetlight", "power": {"type": "Property", "value": 120}})
    );
    assert!(r.header("link").unwrap().contains(&english));

    let r = get_with(&s, &path, &french).await;
    assert_eq!(
        r.json(),
        json!({"id": LAMP, "type": "Lampadaire", "puissance": {"type": "Property", "value": 120}})
    );

    // Without a context, the names are the full IRIs.
    let r = s.get(&path).await;
    assert_eq!(
        r.json(),
        json!({"id": LAMP, "type": "https://example.org/city#Streetlight", "https://example.org/city#power": {"type": "Property", "value": 120}})
    );

    // Queries expand with the caller's context.
    let r = get_with(
        &s,
        &format!(
            "/ngsi-ld/v1/entities?type=Streetlight&q={}",
            enc("power>100")
        ),
        &english,
    )
    .await;
    assert_eq!(common::ids_of(&r.json()), vec![LAMP.to_string()]);
    let r = get_with(
        &s,
        &format!(
            "/ngsi-ld/v1/entities?type=Lampadaire&q={}",
            enc("puissance>100")
        ),
        &french,
    )
    .await;
    assert_eq!(common::ids_of(&r.json()), vec![LAMP.to_string()]);
    let r = get_with(&s, "/ngsi-ld/v1/entities?type=Lampadaire", &other).await;
    r.expect(200);
    assert_eq!(r.json(), json!([]));
    // Without any context, the term is in the default vocabulary: another type.
    assert!(s.ids("type=Lampadaire").await.is_empty());
    assert_eq!(
        s.ids(&format!(
            "type={}",
            enc("https://example.org/city#Streetlight")
        ))
        .await,
        vec![LAMP.to_string()]
    );

    // The attribute endpoints expand the path's name too.
    let r = s
        .send(
            s.req(Method::PATCH, &format!("{path}/attrs/power"))
                .header(CONTENT_TYPE, "application/json")
                .header(LINK, link(&english))
                .body(r#"{"value": 130}"#),
        )
        .await;
    r.expect(204);
    let r = get_with(&s, &format!("{path}?options=keyValues"), &french).await;
    assert_eq!(r.json()["puissance"], json!(130));

    // JSON-LD answers carry the caller's context in the body.
    let r = s
        .send(
            s.req(Method::GET, &path)
                .header(LINK, link(&english))
                .header("accept", "application/ld+json"),
        )
        .await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/ld+json");
    assert_eq!(r.json()["@context"], json!(english));

    // Types and attributes are listed in the caller's terms.
    let r = get_with(&s, "/ngsi-ld/v1/types", &english).await;
    assert_eq!(r.json()["typeList"], json!(["Streetlight"]));
    let r = get_with(&s, "/ngsi-ld/v1/attributes", &french).await;
    assert_eq!(r.json()["attributeList"], json!(["puissance"]));
}

#[tokio::test]
async fn inline_context_in_a_json_ld_body() {
    let s = Server::start().await;
    let body = json!({
        "id": LAMP,
        "type": "Lamp",
        "watts": 40,
        "@context": [{"Lamp": "https://example.org/city#Streetlight", "watts": "https://example.org/city#power"}, common::CORE_CONTEXT]
    });
    s.json_ld(Method::POST, "/ngsi-ld/v1/entities", &body)
        .await
        .expect(201);
    let r = s
        .get(&format!(
            "/ngsi-ld/v1/entities/{}?options=keyValues",
            enc(LAMP)
        ))
        .await;
    assert_eq!(
        r.json(),
        json!({"id": LAMP, "type": "https://example.org/city#Streetlight", "https://example.org/city#power": 40})
    );
    // A plain term without any context lands in the default vocabulary.
    s.create(&json!({"id": "urn:ngsi-ld:Thing:1", "type": "Thing", "size": 1}))
        .await;
    let r = s.get("/ngsi-ld/v1/attributes?details=true").await;
    let ids: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&format!("{DEFAULT_VOCAB}size")), "{ids:?}");
}

#[tokio::test]
async fn bundled_smart_data_models_context_works_offline() {
    let s = Server::start().await;
    let body = json!({
        "id": LAMP,
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": "on"},
        "status": {"type": "Property", "value": "ok"}
    });
    let r = s
        .send(
            s.req(Method::POST, "/ngsi-ld/v1/entities")
                .header(CONTENT_TYPE, "application/json")
                .header(LINK, link(SDM_STREETLIGHTING))
                .body(body.to_string()),
        )
        .await;
    r.expect(201);
    let path = format!("/ngsi-ld/v1/entities/{}?options=keyValues", enc(LAMP));
    let r = get_with(&s, &path, SDM_STREETLIGHTING).await;
    assert_eq!(
        r.json(),
        json!({"id": LAMP, "type": "Streetlight", "powerState": "on", "status": "ok"})
    );
    let r = s.get(&path).await;
    assert_eq!(
        r.json(),
        json!({
            "id": LAMP,
            "type": "https://smartdatamodels.org/dataModel.Streetlighting/Streetlight",
            "https://smartdatamodels.org/dataModel.Streetlighting/powerState": "on",
            "status": "ok"
        })
    );
    // The same context under its smart-data-models.github.io URL.
    let r = get_with(
        &s,
        &path,
        "https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld",
    )
    .await;
    assert_eq!(r.json()["powerState"], json!("on"));
    // And the core context by an older version's URL.
    let r = get_with(
        &s,
        &path,
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    )
    .await;
    r.expect(200);
}

#[tokio::test]
async fn unreachable_context_is_503_and_writes_nothing() {
    let s = Server::start().await;
    s.create(&json!({"id": "urn:ngsi-ld:Thing:0", "type": "Thing"}))
        .await;
    let dead = "http://127.0.0.1:9/none.jsonld";
    let r = get_with(&s, "/ngsi-ld/v1/entities?type=Thing", dead).await;
    let d = r.problem(503, "LdContextNotAvailable");
    assert!(d.contains(dead), "{d}");

    let body = json!({"id": "urn:ngsi-ld:Thing:1", "type": "Thing", "@context": dead});
    s.json_ld(Method::POST, "/ngsi-ld/v1/entities", &body)
        .await
        .problem(503, "LdContextNotAvailable");
    s.entity("urn:ngsi-ld:Thing:1")
        .await
        .problem(404, "ResourceNotFound");

    let body = json!({"id": "urn:ngsi-ld:Thing:2", "type": "Thing", "@context": [dead, common::CORE_CONTEXT]});
    s.json_ld(Method::POST, "/ngsi-ld/v1/entities", &body)
        .await
        .problem(503, "LdContextNotAvailable");
    s.entity("urn:ngsi-ld:Thing:2")
        .await
        .problem(404, "ResourceNotFound");

    // A relative context reference is the client's error, not an unreachable server.
    let body = json!({"id": "urn:ngsi-ld:Thing:3", "type": "Thing", "@context": "context.jsonld"});
    let d = s
        .json_ld(Method::POST, "/ngsi-ld/v1/entities", &body)
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("context.jsonld"), "{d}");
    s.entity("urn:ngsi-ld:Thing:3")
        .await
        .problem(404, "ResourceNotFound");
}

#[tokio::test]
async fn hosted_contexts_list_get_delete() {
    let s = Server::start().await;
    let doc = json!({"@context": {"Lamp": "https://example.org/city#Streetlight"}});
    let url = register(&s, &doc).await;
    let local_id = url.rsplit('/').next().unwrap().to_string();
    let path = format!("/ngsi-ld/v1/jsonldContexts/{local_id}");

    // Reads need no key.
    let r = s.send(s.req_as(Key::None, Method::GET, &path)).await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/ld+json");
    assert_eq!(r.json(), doc);

    let r = s
        .send(s.req_as(Key::None, Method::GET, "/ngsi-ld/v1/jsonldContexts"))
        .await;
    r.expect(200);
    assert!(
        r.json().as_array().unwrap().contains(&json!(path)),
        "{}",
        r.text
    );

    let r = s.get("/ngsi-ld/v1/jsonldContexts?details=true").await;
    r.expect(200);
    let details = r.json();
    let entry = details
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["localId"] == json!(local_id))
        .unwrap()
        .clone();
    assert_eq!(entry["URL"], json!(path));
    assert_eq!(entry["kind"], json!("Hosted"));
    assert!(entry["createdAt"].as_str().unwrap().ends_with('Z'));

    // It is usable right away.
    s.send(
        s.req(Method::POST, "/ngsi-ld/v1/entities")
            .header(CONTENT_TYPE, "application/json")
            .header(LINK, link(&url))
            .body(json!({"id": LAMP, "type": "Lamp"}).to_string()),
    )
    .await
    .expect(201);
    assert_eq!(
        s.ids(&format!(
            "type={}",
            enc("https://example.org/city#Streetlight")
        ))
        .await,
        vec![LAMP.to_string()]
    );

    // Registration needs an editor key; deletion an admin key.
    let r = s
        .send(
            s.req_as(Key::None, Method::POST, "/ngsi-ld/v1/jsonldContexts")
                .header(CONTENT_TYPE, "application/json")
                .body(doc.to_string()),
        )
        .await;
    r.problem(401, "Unauthorized");
    let r = s
        .send(
            s.req_as(Key::Reader, Method::POST, "/ngsi-ld/v1/jsonldContexts")
                .header(CONTENT_TYPE, "application/json")
                .body(doc.to_string()),
        )
        .await;
    r.problem(403, "Forbidden");
    s.send(s.req_as(Key::Editor, Method::DELETE, &path))
        .await
        .problem(403, "Forbidden");
    s.send(s.req_as(Key::None, Method::DELETE, &path))
        .await
        .problem(401, "Unauthorized");
    s.send(s.req_as(Key::Admin, Method::DELETE, &path))
        .await
        .expect(204);
    s.get(&path).await.problem(404, "ResourceNotFound");
    s.send(s.req_as(Key::Admin, Method::DELETE, &path))
        .await
        .problem(404, "ResourceNotFound");
    let r = s.get("/ngsi-ld/v1/jsonldContexts").await;
    assert!(!r.json().as_array().unwrap().contains(&json!(path)));
    // Its URL is no longer usable.
    let r = get_with(&s, "/ngsi-ld/v1/entities?type=Lamp", &url).await;
    r.problem(503, "LdContextNotAvailable");
    s.get("/ngsi-ld/v1/jsonldContexts/unknown")
        .await
        .problem(404, "ResourceNotFound");
}

#[tokio::test]
async fn bad_context_documents_are_refused() {
    let s = Server::start().await;
    s.post(
        "/ngsi-ld/v1/jsonldContexts",
        &json!({"Lamp": "https://example.org/Lamp"}),
    )
    .await
    .problem(400, "BadRequestData");
    s.post("/ngsi-ld/v1/jsonldContexts", &json!({"@context": 42}))
        .await
        .problem(400, "BadRequestData");
    s.post(
        "/ngsi-ld/v1/jsonldContexts",
        &json!({"@context": {"a": 42}}),
    )
    .await
    .problem(400, "BadRequestData");
    s.send(
        s.req(Method::POST, "/ngsi-ld/v1/jsonldContexts")
            .header(CONTENT_TYPE, "application/json")
            .body("{oops"),
    )
    .await
    .problem(400, "InvalidRequest");
    s.get("/ngsi-ld/v1/jsonldContexts?details=perhaps")
        .await
        .problem(400, "BadRequestData");
}

#[tokio::test]
async fn link_header_rules() {
    let s = Server::start().await;
    s.create(&json!({"id": "urn:ngsi-ld:Thing:1", "type": "Thing"}))
        .await;
    // Two context links.
    let r = s
        .send(
            s.req(Method::GET, "/ngsi-ld/v1/entities?type=Thing")
                .header(
                    LINK,
                    format!(
                        "{}, {}",
                        link(SDM_STREETLIGHTING),
                        link(common::CORE_CONTEXT)
                    ),
                ),
        )
        .await;
    r.problem(400, "BadRequestData");
    // A Link without <url>.
    let r = s
        .send(
            s.req(Method::GET, "/ngsi-ld/v1/entities?type=Thing")
                .header(LINK, "rel=\"http://www.w3.org/ns/json-ld#context\""),
        )
        .await;
    r.problem(400, "BadRequestData");
    // Links of other relations are ignored.
    let r = s
        .send(
            s.req(Method::GET, "/ngsi-ld/v1/entities?type=Thing")
                .header(LINK, "<https://example.org/x>; rel=\"next\""),
        )
        .await;
    r.expect(200);
    // ld+json bodies take their context in the body, not in a Link header.
    let r = s
        .send(
            s.req(Method::POST, "/ngsi-ld/v1/entities")
                .header(CONTENT_TYPE, "application/ld+json")
                .header(LINK, link(SDM_STREETLIGHTING))
                .body(json!({"id": "urn:ngsi-ld:Thing:2", "type": "Thing", "@context": common::CORE_CONTEXT}).to_string()),
        )
        .await;
    r.problem(400, "BadRequestData");
}

/// Serves context documents on a local port until the returned sender is dropped or used.
async fn context_origin() -> (String, tokio::sync::oneshot::Sender<()>) {
    use axum::routing::get;
    let doc = json!({"@context": {"Bench": "https://example.org/furniture#Bench", "seats": "https://example.org/furniture#seats"}});
    let app = axum::Router::new()
        .route("/ctx.jsonld", get(move || async move { axum::Json(doc) }))
        .route("/not-json.jsonld", get(|| async { "hello" }))
        .route(
            "/no-context.jsonld",
            get(|| async { axum::Json(json!({"Bench": "x"})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (base, tx)
}

#[tokio::test]
async fn remote_contexts_are_fetched_once_and_kept() {
    let s = Server::start().await;
    let (origin, stop) = context_origin().await;
    let ctx = format!("{origin}/ctx.jsonld");
    let r = s
        .send(
            s.req(Method::POST, "/ngsi-ld/v1/entities")
                .header(CONTENT_TYPE, "application/json")
                .header(LINK, link(&ctx))
                .body(
                    json!({"id": "urn:ngsi-ld:Bench:1", "type": "Bench", "seats": 4}).to_string(),
                ),
        )
        .await;
    r.expect(201);
    assert_eq!(
        s.ids(&format!(
            "type={}",
            enc("https://example.org/furniture#Bench")
        ))
        .await,
        vec!["urn:ngsi-ld:Bench:1".to_string()]
    );
    // A copy is kept and listed.
    let r = s.get("/ngsi-ld/v1/jsonldContexts?details=true").await;
    let list = r.json();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["URL"] == json!(ctx))
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(entry["kind"], json!("Cached"));

    // The origin goes away; the context still works.
    stop.send(()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let r = get_with(
        &s,
        "/ngsi-ld/v1/entities/urn:ngsi-ld:Bench:1?options=keyValues",
        &ctx,
    )
    .await;
    r.expect(200);
    assert_eq!(
        r.json(),
        json!({"id": "urn:ngsi-ld:Bench:1", "type": "Bench", "seats": 4})
    );
}

#[tokio::test]
async fn broken_remote_contexts_are_503() {
    let s = Server::start().await;
    s.create(&json!({"id": "urn:ngsi-ld:Thing:0", "type": "Thing"}))
        .await;
    let (origin, _stop) = context_origin().await;
    for (path, why) in [
        ("/missing.jsonld", "404"),
        ("/not-json.jsonld", "JSON"),
        ("/no-context.jsonld", "@context"),
    ] {
        let url = format!("{origin}{path}");
        let d = get_with(&s, "/ngsi-ld/v1/entities?type=Thing", &url)
            .await
            .problem(503, "LdContextNotAvailable");
        assert!(d.contains(&url) && d.contains(why), "{d}");
    }
}

//! Shared harness of the API tests: a real server on a random local port, over a fresh
//! SQLite data directory (or, with `JUMEAU_TEST_STORE=postgres`, a fresh PostgreSQL database
//! on the cluster named by `JUMEAU_TEST_POSTGRES`), with API keys of every role, and a small
//! client around reqwest.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use jumeau_api::{ApiConfig, App};
use jumeau_store::postgres::{PgOptions, PgStore};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_store::Store;
use jumeau_twin::{Role, Twin};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

/// The secret of the bootstrap admin key (all tenants).
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// The NGSI-LD core context URL (v1.9).
pub const CORE_CONTEXT: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld";

/// The bundled Smart Data Models Streetlighting context.
pub const SDM_STREETLIGHTING: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Streetlighting/master/context.jsonld";

/// The NGSI-LD default vocabulary (what undefined terms expand under).
pub const DEFAULT_VOCAB: &str = "https://uri.etsi.org/ngsi-ld/default-context/";

/// Which key a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// No Authorization header.
    None,
    /// The bootstrap admin key (all tenants).
    Admin,
    /// An editor key on all tenants.
    Editor,
    /// A reader key on all tenants.
    Reader,
    /// An editor key on tenant `city-a` only.
    EditorA,
    /// A reader key on tenant `city-a` only.
    ReaderA,
}

/// A running server and its keys.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The twin behind the server (for key management).
    pub twin: Twin,
    pub client: reqwest::Client,
    pub editor: String,
    pub reader: String,
    pub editor_a: String,
    pub editor_a_id: String,
    pub reader_a: String,
    /// Delivers subscription notifications while the server runs.
    pub notifier: jumeau_twin::NotifierHandle,
    _dir: tempfile::TempDir,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "the body is not JSON ({e}): status {} body {:?}",
                self.status, self.text
            )
        })
    }

    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// The Content-Type without parameters.
    pub fn content_type(&self) -> String {
        self.header(CONTENT_TYPE.as_str())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// Asserts the status, with the body in the message.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts a ProblemDetails answer: status, media type, and problem type name (the last
    /// segment of the `type` URI, e.g. `BadRequestData`). Returns the detail.
    #[track_caller]
    pub fn problem(&self, status: u16, kind: &str) -> String {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.content_type(),
            "application/json",
            "problem media type; body: {}",
            self.text
        );
        let v = self.json();
        let t = v["type"]
            .as_str()
            .unwrap_or_else(|| panic!("no problem type in {}", self.text));
        assert_eq!(
            t.rsplit('/').next().unwrap(),
            kind,
            "problem type; body: {}",
            self.text
        );
        assert_eq!(
            v["status"].as_u64(),
            Some(u64::from(status)),
            "problem status member: {}",
            self.text
        );
        assert!(v["title"].is_string(), "problem title: {}", self.text);
        v["detail"].as_str().unwrap_or_default().to_string()
    }
}

/// The variable choosing the engine of the test servers: `postgres`, or SQLite by default.
pub const STORE_ENV: &str = "JUMEAU_TEST_STORE";

/// The store of a test server: SQLite in `dir`, or PostgreSQL on a fresh database when
/// [`STORE_ENV`] is `postgres`.
pub async fn test_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    if std::env::var(STORE_ENV).as_deref() == Ok("postgres") {
        let url = jumeau_testkit::postgres_database()
            .unwrap()
            .unwrap_or_else(|| panic!("{STORE_ENV}=postgres needs JUMEAU_TEST_POSTGRES"));
        Arc::new(PgStore::connect(&url, PgOptions::default()).await.unwrap())
    } else {
        Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap())
    }
}

impl Server {
    /// A server with the default settings.
    pub async fn start() -> Self {
        Self::with_config(ApiConfig::default()).await
    }

    /// A server with the given settings.
    pub async fn with_config(config: ApiConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let twin = Twin::new(test_store(&dir).await);
        assert!(twin.auth.bootstrap_admin(ADMIN_KEY).await.unwrap());
        let all = || vec!["*".to_string()];
        let a = || vec!["city-a".to_string()];
        let (editor, _) = twin
            .auth
            .create_key("editor", Role::Editor, all())
            .await
            .unwrap();
        let (reader, _) = twin
            .auth
            .create_key("reader", Role::Reader, all())
            .await
            .unwrap();
        let (editor_a, rec) = twin
            .auth
            .create_key("editor-a", Role::Editor, a())
            .await
            .unwrap();
        let (reader_a, _) = twin
            .auth
            .create_key("reader-a", Role::Reader, a())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let notifier = twin.start_notifier();
        let app = App::new(twin.clone(), config);
        tokio::spawn(jumeau_api::serve(listener, app, std::future::pending()));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Self {
            base,
            twin,
            client,
            editor,
            reader,
            editor_a,
            editor_a_id: rec.id,
            reader_a,
            notifier,
            _dir: dir,
        }
    }

    /// The secret of a key.
    pub fn secret(&self, key: Key) -> Option<&str> {
        match key {
            Key::None => None,
            Key::Admin => Some(ADMIN_KEY),
            Key::Editor => Some(&self.editor),
            Key::Reader => Some(&self.reader),
            Key::EditorA => Some(&self.editor_a),
            Key::ReaderA => Some(&self.reader_a),
        }
    }

    /// A full URL for a path (which may hold a query string).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with a key.
    pub fn req_as(&self, key: Key, method: Method, path: &str) -> RequestBuilder {
        let rb = self.client.request(method, self.url(path));
        match self.secret(key) {
            Some(s) => rb.bearer_auth(s),
            None => rb,
        }
    }

    /// A request with the editor key.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.req_as(Key::Editor, method, path)
    }

    /// Sends a request and reads the answer.
    pub async fn send(&self, rb: RequestBuilder) -> Resp {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Resp {
            status,
            headers,
            text,
        }
    }

    /// GET with the editor key.
    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.req(Method::GET, path)).await
    }

    /// DELETE with the editor key.
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.req(Method::DELETE, path)).await
    }

    /// A request with an application/json body and the editor key.
    pub async fn json(&self, method: Method, path: &str, body: &Value) -> Resp {
        self.send(
            self.req(method, path)
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// A request with an application/ld+json body and the editor key.
    pub async fn json_ld(&self, method: Method, path: &str, body: &Value) -> Resp {
        self.send(
            self.req(method, path)
                .header(CONTENT_TYPE, "application/ld+json")
                .body(body.to_string()),
        )
        .await
    }

    /// POST with an application/json body and the editor key.
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.json(Method::POST, path, body).await
    }

    /// PATCH with an application/json body and the editor key.
    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.json(Method::PATCH, path, body).await
    }

    /// PUT with an application/json body and the editor key.
    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.json(Method::PUT, path, body).await
    }

    /// Creates an entity (application/json, core context) and asserts 201.
    pub async fn create(&self, entity: &Value) {
        self.post("/ngsi-ld/v1/entities", entity).await.expect(201);
    }

    /// Creates entities in one batch and asserts 201.
    pub async fn create_all(&self, entities: &[Value]) {
        self.post(
            "/ngsi-ld/v1/entityOperations/create",
            &Value::Array(entities.to_vec()),
        )
        .await
        .expect(201);
    }

    /// GET of an entity by id (path-encoded), normalized, with the editor key.
    pub async fn entity(&self, id: &str) -> Resp {
        self.get(&format!("/ngsi-ld/v1/entities/{}", enc(id))).await
    }

    /// The ids of the entities a GET /entities query answers (asserts 200), in order.
    pub async fn ids(&self, query: &str) -> Vec<String> {
        let r = self.get(&format!("/ngsi-ld/v1/entities?{query}")).await;
        r.expect(200);
        ids_of(&r.json())
    }

    /// As [`Server::ids`], sorted.
    pub async fn sorted_ids(&self, query: &str) -> Vec<String> {
        let mut ids = self.ids(query).await;
        ids.sort();
        ids
    }
}

/// The `id` members of an array of entities.
pub fn ids_of(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Percent-encodes a query-string or path component.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Link header value naming a JSON-LD context.
pub fn link(url: &str) -> String {
    format!("<{url}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"")
}

/// Sorted strings, for comparing id sets.
pub fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

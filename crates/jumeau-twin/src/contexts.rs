//! Resolution of the JSON-LD @context a request carries into term definitions.
//!
//! A context URL is looked up, in order: in the documents bundled in the binary (the
//! NGSI-LD core context and the Smart Data Models contexts, so a commune's broker works
//! with no network), among the contexts registered through /ngsi-ld/v1/jsonldContexts,
//! in the cache of documents fetched before, and last over HTTP(S). When none answers the
//! request fails with LdContextNotAvailable (503).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use jumeau_model::context::{bundled_document, referenced_urls, Context};
use jumeau_model::{ErrorKind, NgsiError};
use jumeau_store::{ContextRecord, Store};
use serde_json::Value;

/// Most built contexts kept in memory (one per distinct @context value seen).
const BUILT_CACHE: usize = 256;
/// Most context documents fetched for one request (a guard against context bombs).
const MAX_DOCS: usize = 32;
/// Largest context document accepted from the network.
const MAX_DOC_BYTES: usize = 1024 * 1024;
/// Path under which the broker serves the contexts registered with it.
pub const HOSTED_PATH: &str = "/ngsi-ld/v1/jsonldContexts/";

/// Resolves @context values, with caches.
pub struct ContextResolver {
    store: Arc<dyn Store>,
    http: Option<reqwest::Client>,
    docs: Mutex<HashMap<String, Arc<Value>>>,
    built: Mutex<HashMap<String, Arc<Context>>>,
}

fn not_available(url: &str, why: impl std::fmt::Display) -> NgsiError {
    NgsiError::new(
        ErrorKind::LdContextNotAvailable,
        format!(
            "the @context {url} could not be retrieved ({why}); register it with POST /ngsi-ld/v1/jsonldContexts or use a reachable URL"
        ),
    )
}

/// The id of a hosted context when `url` points at this broker's jsonldContexts endpoint.
pub fn hosted_id(url: &str) -> Option<&str> {
    url.split_once(HOSTED_PATH)
        .map(|(_, id)| id)
        .filter(|id| !id.is_empty())
}

impl ContextResolver {
    /// A resolver over a store; fetches over the network unless disabled.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .user_agent(concat!("jumeau/", env!("CARGO_PKG_VERSION")))
            .build()
            .ok();
        Self {
            store,
            http,
            docs: Mutex::new(HashMap::new()),
            built: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves an @context value (URL, object or array); `None` gives the core context.
    pub async fn resolve(&self, value: Option<&Value>) -> Result<Arc<Context>, NgsiError> {
        let Some(value) = value else {
            return Ok(Context::core());
        };
        let key = value.to_string();
        if let Some(c) = self.built.lock().ok().and_then(|b| b.get(&key).cloned()) {
            return Ok(c);
        }
        let mut docs: HashMap<String, Arc<Value>> = HashMap::new();
        let mut pending = referenced_urls(value);
        while let Some(url) = pending.pop() {
            if docs.contains_key(&url) {
                continue;
            }
            if docs.len() >= MAX_DOCS {
                return Err(NgsiError::new(
                    ErrorKind::LdContextNotAvailable,
                    format!("the @context references more than {MAX_DOCS} documents"),
                ));
            }
            let doc = self.document(&url).await?;
            pending.extend(referenced_urls(&doc));
            docs.insert(url, doc);
        }
        let ctx = Arc::new(Context::build(value, &|u: &str| docs.get(u).cloned())?);
        if let Ok(mut b) = self.built.lock() {
            if b.len() >= BUILT_CACHE {
                b.clear();
            }
            b.insert(key, ctx.clone());
        }
        Ok(ctx)
    }

    /// Forgets built contexts (after a hosted context changed).
    pub fn invalidate(&self) {
        if let Ok(mut b) = self.built.lock() {
            b.clear();
        }
        if let Ok(mut d) = self.docs.lock() {
            d.clear();
        }
    }

    /// One context document by URL.
    async fn document(&self, url: &str) -> Result<Arc<Value>, NgsiError> {
        if let Some(doc) = bundled_document(url) {
            return Ok(doc);
        }
        if let Some(d) = self.docs.lock().ok().and_then(|d| d.get(url).cloned()) {
            return Ok(d);
        }
        let key = hosted_id(url).unwrap_or(url);
        if let Some(rec) = self.store.context(key).await? {
            let d = Arc::new(rec.body);
            self.remember(url, d.clone());
            return Ok(d);
        }
        let doc = Arc::new(self.fetch(url).await?);
        self.remember(url, doc.clone());
        // Keep a copy so the broker still works when the origin goes offline.
        let record = ContextRecord {
            url: url.to_string(),
            body: (*doc).clone(),
            kind: "Cached".into(),
            created_at: Utc::now(),
        };
        if let Err(e) = self.store.put_context(record).await {
            tracing::warn!("could not keep a copy of the @context {url}: {e}");
        }
        Ok(doc)
    }

    fn remember(&self, url: &str, doc: Arc<Value>) {
        if let Ok(mut d) = self.docs.lock() {
            if d.len() >= BUILT_CACHE {
                d.clear();
            }
            d.insert(url.to_string(), doc);
        }
    }

    async fn fetch(&self, url: &str) -> Result<Value, NgsiError> {
        if jumeau_model::entity::validate_uri(url).is_err() {
            return Err(NgsiError::bad_data(format!(
                "'{url}' is not an absolute URL; an @context must be referenced by an absolute URL"
            )));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(not_available(
                url,
                "only http and https URLs can be fetched",
            ));
        }
        let Some(http) = &self.http else {
            return Err(not_available(url, "no HTTP client"));
        };
        let resp = http
            .get(url)
            .header("Accept", "application/ld+json, application/json")
            .send()
            .await
            .map_err(|e| not_available(url, e))?;
        if !resp.status().is_success() {
            return Err(not_available(url, format!("HTTP status {}", resp.status())));
        }
        let bytes = resp.bytes().await.map_err(|e| not_available(url, e))?;
        if bytes.len() > MAX_DOC_BYTES {
            return Err(not_available(url, "the document is larger than 1 MiB"));
        }
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| not_available(url, format!("not JSON: {e}")))?;
        if v.get("@context").is_none() {
            return Err(not_available(url, "the document has no @context member"));
        }
        Ok(v)
    }
}

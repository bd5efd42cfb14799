//! JSON-LD @context handling: term definitions, expansion and compaction of names.
//!
//! NGSI-LD names types and attributes with IRIs; clients write short terms and say how they
//! map to IRIs with a JSON-LD `@context`. The broker stores every name expanded so that two
//! clients with different contexts see the same data, and compacts names back with the
//! caller's context when rendering.
//!
//! This module implements the part of JSON-LD 1.1 context processing that NGSI-LD needs:
//! plain and expanded term definitions, compact IRIs, `@vocab`, and null to unset. It is
//! synchronous and never touches the network: a caller first asks [`referenced_urls`] which
//! documents a context needs, fetches them (recursively), then calls [`Context::build`].
//! Copies of the NGSI-LD core context and of a few Smart Data Models contexts are bundled
//! ([`bundled_context`]) so that common payloads work offline.
//!
//! The core context always applies last and is protected: its terms (`location`,
//! `observedAt`, `Property`...) cannot be redefined by a user context.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::error::{ErrorKind, NgsiError};

/// The URL of the NGSI-LD core context this broker implements (v1.9).
pub const CORE_CONTEXT_URL: &str =
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld";

/// The NGSI-LD namespace, prefix of every core IRI (`ngsi-ld:` in the core context).
pub const NGSI_LD_NS: &str = "https://uri.etsi.org/ngsi-ld/";

/// The NGSI-LD default vocabulary: terms no context defines expand under it.
pub const DEFAULT_VOCAB: &str = "https://uri.etsi.org/ngsi-ld/default-context/";

/// How deep remote contexts may include other remote contexts.
const MAX_DEPTH: usize = 16;

const CORE_DOC: &str = include_str!("../contexts/ngsi-ld-core-context-v1.9.jsonld");

/// The bundled Smart Data Models contexts, by repository name.
const SDM_DOCS: [(&str, &str); 8] = [
    (
        "dataModel.Alert",
        include_str!("../contexts/dataModel.Alert.context.jsonld"),
    ),
    (
        "dataModel.Building",
        include_str!("../contexts/dataModel.Building.context.jsonld"),
    ),
    (
        "dataModel.Device",
        include_str!("../contexts/dataModel.Device.context.jsonld"),
    ),
    (
        "dataModel.Environment",
        include_str!("../contexts/dataModel.Environment.context.jsonld"),
    ),
    (
        "dataModel.Streetlighting",
        include_str!("../contexts/dataModel.Streetlighting.context.jsonld"),
    ),
    (
        "dataModel.WaterConsumption",
        include_str!("../contexts/dataModel.WaterConsumption.context.jsonld"),
    ),
    (
        "dataModel.WaterDistribution",
        include_str!("../contexts/dataModel.WaterDistribution.context.jsonld"),
    ),
    (
        "dataModel.WaterDistributionManagementEPANET",
        include_str!("../contexts/dataModel.WaterDistributionManagementEPANET.context.jsonld"),
    ),
];

/// True when `url` is one of the URLs clients use for the NGSI-LD core context (unversioned
/// or v1.3 to v1.9, over https or http). The core context always applies, so such a
/// reference in a user context is never fetched.
pub fn is_core_context_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let Some(rest) = rest.strip_prefix("uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context") else {
        return false;
    };
    matches!(
        rest,
        ".jsonld"
            | "-v1.3.jsonld"
            | "-v1.4.jsonld"
            | "-v1.5.jsonld"
            | "-v1.6.jsonld"
            | "-v1.7.jsonld"
            | "-v1.8.jsonld"
            | "-v1.9.jsonld"
    )
}

/// The bundled Smart Data Models repository name a URL designates, if any.
fn sdm_name(url: &str) -> Option<&'static str> {
    let name = url
        .strip_prefix("https://raw.githubusercontent.com/smart-data-models/")
        .and_then(|r| r.strip_suffix("/master/context.jsonld"))
        .or_else(|| {
            url.strip_prefix("https://smart-data-models.github.io/")
                .and_then(|r| r.strip_suffix("/context.jsonld"))
        })?;
    SDM_DOCS.iter().find(|(n, _)| *n == name).map(|(n, _)| *n)
}

/// The text of a context document bundled with the broker, by the URL clients use for it:
/// the NGSI-LD core context (every URL [`is_core_context_url`] accepts; the v1.9 document
/// answers for the older versions too, newer versions mostly adding terms) and the Smart
/// Data Models contexts under their raw.githubusercontent.com and smart-data-models.github.io
/// URLs. Lets the broker answer the usual contexts without network access.
pub fn bundled_context(url: &str) -> Option<&'static str> {
    if is_core_context_url(url) {
        return Some(CORE_DOC);
    }
    let name = sdm_name(url)?;
    SDM_DOCS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, doc)| *doc)
}

/// A bundled context document, parsed once and shared (see [`bundled_context`]).
pub fn bundled_document(url: &str) -> Option<Arc<Value>> {
    static PARSED: OnceLock<HashMap<&'static str, Arc<Value>>> = OnceLock::new();
    let parsed = PARSED.get_or_init(|| {
        let mut m = HashMap::new();
        for (name, text) in std::iter::once(("core", CORE_DOC)).chain(SDM_DOCS) {
            // The bundled files are checked by the tests; one that did not parse would
            // simply be unavailable.
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                m.insert(name, Arc::new(v));
            }
        }
        m
    });
    let key = if is_core_context_url(url) {
        "core"
    } else {
        sdm_name(url)?
    };
    parsed.get(key).cloned()
}

/// The URLs a JSON-LD context value references directly: the strings of a context array or
/// of a lone string, and `@import` URLs of context objects. `value` may also be a fetched
/// document (an object holding `@context`). Core context URLs are left out (the core always
/// applies and is bundled). Call it again on every fetched document to follow references
/// recursively before [`Context::build`].
pub fn referenced_urls(value: &Value) -> Vec<String> {
    fn push(url: &str, out: &mut Vec<String>) {
        if !is_core_context_url(url) && !out.iter().any(|u| u == url) {
            out.push(url.to_string());
        }
    }
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(url) => push(url, out),
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(m) => match (m.get("@context"), m.get("@import")) {
                (Some(inner), _) => walk(inner, out),
                (None, Some(Value::String(url))) => push(url, out),
                _ => {}
            },
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out);
    out
}

/// The `@type` of an expanded term definition: how JSON-LD treats the term's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermType {
    /// `@id`: string values are IRIs (such as `object`, `datasetId`).
    Id,
    /// `@vocab`: string values are vocabulary terms, expanded like names (such as `vocab`).
    Vocab,
    /// `@json`: the value is a JSON literal, never expanded (such as `json`).
    Json,
    /// A datatype IRI (such as `https://uri.etsi.org/ngsi-ld/DateTime`).
    Datatype(String),
}

/// One term definition of an active context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermDef {
    /// The IRI (or JSON-LD keyword, for aliases such as `id` → `@id`) the term stands for.
    pub iri: String,
    /// The `@type` coercion of the term's values, if any.
    pub type_mapping: Option<TermType>,
    /// The `@container` (`@list`, `@set`, `@language`, `@index`...), if any.
    pub container: Option<String>,
}

/// An active JSON-LD context: term definitions used to expand and compact names.
///
/// Building one is the costly part; using it is a hash lookup per name, so callers should
/// build each distinct client context once and share it (`Arc<Context>`).
#[derive(Debug, Clone)]
pub struct Context {
    /// Term → definition, core terms included.
    terms: HashMap<String, TermDef>,
    /// IRI → the shortest term defining it.
    reverse: HashMap<String, String>,
    /// (IRI, term) of terms usable as compact IRI prefixes, longest IRI first.
    prefixes: Vec<(String, String)>,
    /// The vocabulary IRI undefined terms expand under.
    vocab: String,
}

impl Default for Context {
    /// The core context alone.
    fn default() -> Self {
        (*Context::core()).clone()
    }
}

impl Context {
    /// The NGSI-LD core context alone (built once, then shared): the context of a request
    /// that names none.
    pub fn core() -> Arc<Context> {
        static CORE: OnceLock<Arc<Context>> = OnceLock::new();
        CORE.get_or_init(|| {
            let mut b = Builder::new(HashMap::new(), None);
            // The bundled core document is valid (a test checks it); were it not, the
            // broker would fall back to the default vocabulary alone rather than fail.
            let parsed = serde_json::from_str::<Value>(CORE_DOC);
            if let Ok(doc) = parsed {
                if let Some(ctx) = doc.get("@context") {
                    if b.process(ctx, &|_| None, &mut Vec::new()).is_err() {
                        b = Builder::new(HashMap::new(), None);
                    }
                }
            }
            let vocab = b.vocab.clone().unwrap_or_else(|| DEFAULT_VOCAB.to_string());
            Arc::new(Context::finish(b.terms, vocab))
        })
        .clone()
    }

    /// Builds the active context for a client's `@context` value (a URL, an inline context
    /// object, an array of both, or a fetched document holding `@context`), with the core
    /// context applied last.
    ///
    /// `docs` answers the documents of referenced URLs, which the caller fetched beforehand
    /// (see [`referenced_urls`]); a URL it does not answer is looked up among the bundled
    /// contexts, and failing that the build fails with `LdContextNotAvailable`. Core context
    /// URLs are never asked for. Include cycles and nesting deeper than 16 are refused.
    pub fn build(
        value: &Value,
        docs: &dyn Fn(&str) -> Option<Arc<Value>>,
    ) -> crate::Result<Context> {
        let core = Context::core();
        let mut b = Builder::new(core.terms.clone(), Some(&core.terms));
        let value = match value {
            Value::Object(m) if m.contains_key("@context") => &m["@context"],
            v => v,
        };
        b.process(value, docs, &mut Vec::new())?;
        let vocab = b.vocab.clone().unwrap_or_else(|| core.vocab.clone());
        Ok(Context::finish(b.terms, vocab))
    }

    /// Indexes the final term map for compaction.
    fn finish(terms: HashMap<String, TermDef>, vocab: String) -> Context {
        let mut reverse: HashMap<String, String> = HashMap::new();
        let mut prefixes = Vec::new();
        for (term, def) in &terms {
            if def.iri.starts_with('@') {
                continue;
            }
            let better = match reverse.get(&def.iri) {
                None => true,
                Some(cur) => (term.len(), term.as_str()) < (cur.len(), cur.as_str()),
            };
            if better {
                reverse.insert(def.iri.clone(), term.clone());
            }
            if !term.contains(':') && def.iri.ends_with(['/', '#', ':']) {
                prefixes.push((def.iri.clone(), term.clone()));
            }
        }
        // Longest IRI first gives the shortest compact IRI; ties broken by term for a
        // deterministic answer.
        prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.1.cmp(&b.1)));
        Context {
            terms,
            reverse,
            prefixes,
            vocab,
        }
    }

    /// Expands a term (an attribute or type name) to an IRI: a defined term gives its IRI; a
    /// compact IRI `prefix:suffix` whose prefix is a term gives the prefix IRI plus suffix;
    /// another absolute IRI (`https://...`, `urn:...`) is unchanged; any other name is
    /// appended to the vocabulary IRI (the NGSI-LD default context unless the client's
    /// context sets `@vocab`). Keywords (`@id`...) are unchanged.
    pub fn expand(&self, term: &str) -> String {
        if term.starts_with('@') {
            return term.to_string();
        }
        if let Some(def) = self.terms.get(term) {
            return def.iri.clone();
        }
        if let Some((prefix, suffix)) = term.split_once(':') {
            if !suffix.starts_with("//") {
                if let Some(def) = self.terms.get(prefix) {
                    if !def.iri.starts_with('@') {
                        return format!("{}{}", def.iri, suffix);
                    }
                }
            }
            return term.to_string();
        }
        format!("{}{}", self.vocab, term)
    }

    /// Compacts an IRI to the shortest name that expands back to it: a term defining it
    /// exactly, else a name relative to the vocabulary, else a compact IRI `prefix:name`,
    /// else the IRI unchanged.
    pub fn compact(&self, iri: &str) -> String {
        if let Some(term) = self.reverse.get(iri) {
            return term.clone();
        }
        if let Some(rest) = iri.strip_prefix(self.vocab.as_str()) {
            if is_simple_name(rest) && !self.terms.contains_key(rest) {
                return rest.to_string();
            }
        }
        for (prefix_iri, prefix) in &self.prefixes {
            if let Some(rest) = iri.strip_prefix(prefix_iri.as_str()) {
                if is_simple_name(rest) {
                    let candidate = format!("{prefix}:{rest}");
                    if !self.terms.contains_key(&candidate) {
                        return candidate;
                    }
                }
            }
        }
        iri.to_string()
    }

    /// Expands the value of a VocabProperty (a term or an array of terms) the way names are
    /// expanded; `None` when the value is not a string or an array of strings.
    pub fn expand_vocab_value(&self, value: &Value) -> Option<Value> {
        match value {
            Value::String(s) => Some(Value::String(self.expand(s))),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(|s| Value::String(self.expand(s))))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            _ => None,
        }
    }

    /// Compacts the stored (expanded) value of a VocabProperty for rendering; values that
    /// are not strings are returned unchanged.
    pub fn compact_vocab_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.compact(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| self.compact_vocab_value(i)).collect())
            }
            v => v.clone(),
        }
    }

    /// The `@type` coercion of the term defining `term_iri` (an expanded IRI), if any: tells
    /// whether its values are IRIs, vocabulary terms, JSON literals or typed literals.
    pub fn term_type(&self, term_iri: &str) -> Option<&TermType> {
        let term = self.reverse.get(term_iri)?;
        self.terms.get(term)?.type_mapping.as_ref()
    }

    /// The definition of a term, if the context defines it.
    pub fn term(&self, term: &str) -> Option<&TermDef> {
        self.terms.get(term)
    }

    /// The vocabulary IRI names without a definition expand under.
    pub fn vocab(&self) -> &str {
        &self.vocab
    }
}

/// A name that can follow a vocabulary or prefix IRI in a compact form: no IRI delimiters.
fn is_simple_name(s: &str) -> bool {
    !s.is_empty()
        && !s.chars().any(|c| {
            matches!(c, ':' | '/' | '#' | '?' | '[' | ']' | '@')
                || c.is_whitespace()
                || c.is_control()
        })
}

/// Context processing state.
struct Builder<'p> {
    /// The active term definitions.
    terms: HashMap<String, TermDef>,
    /// Protected terms (the core's), which user contexts cannot redefine.
    protected: Option<&'p HashMap<String, TermDef>>,
    /// The vocabulary set by the contexts processed so far (`None`: the default).
    vocab: Option<String>,
}

impl<'p> Builder<'p> {
    fn new(
        terms: HashMap<String, TermDef>,
        protected: Option<&'p HashMap<String, TermDef>>,
    ) -> Self {
        Self {
            terms,
            protected,
            vocab: None,
        }
    }

    fn is_protected(&self, term: &str) -> bool {
        self.protected.is_some_and(|p| p.contains_key(term))
    }

    fn current_vocab(&self) -> &str {
        self.vocab.as_deref().unwrap_or(DEFAULT_VOCAB)
    }

    /// Processes one context value; `stack` holds the remote URLs being processed.
    fn process(
        &mut self,
        value: &Value,
        docs: &dyn Fn(&str) -> Option<Arc<Value>>,
        stack: &mut Vec<String>,
    ) -> crate::Result<()> {
        match value {
            Value::Null => {
                // A null context resets the user definitions; protected core terms stay.
                match self.protected {
                    Some(p) => self.terms = p.clone(),
                    None => self.terms.clear(),
                }
                self.vocab = None;
                Ok(())
            }
            Value::String(url) => self.process_remote(url, docs, stack),
            Value::Array(items) => {
                for item in items {
                    self.process(item, docs, stack)?;
                }
                Ok(())
            }
            Value::Object(m) => self.process_object(m, docs, stack),
            other => Err(NgsiError::bad_data(format!(
                "a JSON-LD @context entry must be a URL, an object or an array of them, not {other}"
            ))),
        }
    }

    fn process_remote(
        &mut self,
        url: &str,
        docs: &dyn Fn(&str) -> Option<Arc<Value>>,
        stack: &mut Vec<String>,
    ) -> crate::Result<()> {
        if is_core_context_url(url) {
            return Ok(());
        }
        if !url.contains("://") {
            return Err(NgsiError::bad_data(format!(
                "the @context reference '{url}' is not an absolute URL; give a full https:// URL"
            )));
        }
        if stack.iter().any(|u| u == url) {
            return Err(NgsiError::bad_data(format!(
                "the @context '{url}' includes itself (through {}); remove the cycle",
                stack.join(" -> ")
            )));
        }
        if stack.len() >= MAX_DEPTH {
            return Err(NgsiError::bad_data(format!(
                "the @context '{url}' is nested more than {MAX_DEPTH} levels deep; flatten it"
            )));
        }
        let doc = docs(url).or_else(|| bundled_document(url)).ok_or_else(|| {
            NgsiError::new(
                ErrorKind::LdContextNotAvailable,
                format!(
                    "the JSON-LD @context '{url}' could not be retrieved; check the URL or send \
                     the context inline"
                ),
            )
        })?;
        let inner = doc.get("@context").ok_or_else(|| {
            NgsiError::bad_data(format!(
                "the document at '{url}' is not a JSON-LD context: it has no \"@context\" member"
            ))
        })?;
        stack.push(url.to_string());
        let r = self.process(inner, docs, stack);
        stack.pop();
        r
    }

    fn process_object(
        &mut self,
        m: &Map<String, Value>,
        docs: &dyn Fn(&str) -> Option<Arc<Value>>,
        stack: &mut Vec<String>,
    ) -> crate::Result<()> {
        if let Some(import) = m.get("@import") {
            let Value::String(url) = import else {
                return Err(NgsiError::bad_data(
                    "@import in a @context must be a URL string",
                ));
            };
            self.process_remote(url, docs, stack)?;
        }
        if let Some(v) = m.get("@vocab") {
            match v {
                Value::Null => self.vocab = None,
                Value::String(s) if s.is_empty() => {}
                Value::String(s) => {
                    let mut defined = HashMap::new();
                    let iri = self.resolve_iri(s, m, &mut defined)?;
                    self.vocab = Some(iri);
                }
                other => {
                    return Err(NgsiError::bad_data(format!(
                        "@vocab in a @context must be an IRI string or null, not {other}"
                    )))
                }
            }
        }
        // `defined`: terms of this object already processed (true) or being processed
        // (false), to resolve terms that refer to one another and catch cycles.
        let mut defined: HashMap<String, bool> = HashMap::new();
        for key in m.keys() {
            if key.starts_with('@') {
                // @version, @protected, @propagate, @base, @language, @direction, @import
                // and @vocab are accepted; none other changes how names map to IRIs.
                continue;
            }
            self.define(key, m, &mut defined)?;
        }
        Ok(())
    }

    /// Creates the definition of `term` from the local context object `local`.
    fn define(
        &mut self,
        term: &str,
        local: &Map<String, Value>,
        defined: &mut HashMap<String, bool>,
    ) -> crate::Result<()> {
        match defined.get(term) {
            Some(true) => return Ok(()),
            Some(false) => {
                return Err(NgsiError::bad_data(format!(
                    "the @context term '{term}' is defined through itself; give it an absolute IRI"
                )))
            }
            None => {}
        }
        if self.is_protected(term) {
            // The core context is protected: its terms keep their meaning.
            defined.insert(term.to_string(), true);
            return Ok(());
        }
        defined.insert(term.to_string(), false);
        let Some(raw) = local.get(term) else {
            defined.insert(term.to_string(), true);
            return Ok(());
        };
        let def = match raw {
            Value::Null => None,
            Value::String(s) => Some(TermDef {
                iri: self.resolve_iri_for(term, s, local, defined)?,
                type_mapping: None,
                container: None,
            }),
            Value::Object(d) => self.expanded_definition(term, d, local, defined)?,
            other => {
                return Err(NgsiError::bad_data(format!(
                    "the @context term '{term}' must map to an IRI string, a definition object or \
                     null, not {other}"
                )))
            }
        };
        match def {
            Some(d) => {
                self.terms.insert(term.to_string(), d);
            }
            None => {
                self.terms.remove(term);
            }
        }
        defined.insert(term.to_string(), true);
        Ok(())
    }

    fn expanded_definition(
        &mut self,
        term: &str,
        d: &Map<String, Value>,
        local: &Map<String, Value>,
        defined: &mut HashMap<String, bool>,
    ) -> crate::Result<Option<TermDef>> {
        if d.contains_key("@reverse") {
            // Reverse properties have no use in NGSI-LD payloads; leave the term undefined.
            return Ok(None);
        }
        let iri = match d.get("@id") {
            Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => self.resolve_iri_for(term, s, local, defined)?,
            Some(other) => {
                return Err(NgsiError::bad_data(format!(
                    "the @id of @context term '{term}' must be an IRI string, not {other}"
                )))
            }
            None if term.contains(':') => self.resolve_iri_for(term, term, local, defined)?,
            None => format!("{}{}", self.current_vocab(), term),
        };
        let type_mapping = match d.get("@type") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(match t.as_str() {
                "@id" => TermType::Id,
                "@vocab" => TermType::Vocab,
                "@json" => TermType::Json,
                other => TermType::Datatype(self.resolve_iri(other, local, defined)?),
            }),
            Some(other) => {
                return Err(NgsiError::bad_data(format!(
                    "the @type of @context term '{term}' must be a string, not {other}"
                )))
            }
        };
        let container = match d.get("@container") {
            Some(Value::String(c)) => Some(c.clone()),
            Some(Value::Array(cs)) => {
                let names: Vec<&str> = cs.iter().filter_map(Value::as_str).collect();
                (!names.is_empty()).then(|| names.join(","))
            }
            _ => None,
        };
        // Scoped contexts ("@context" inside a definition) only apply to values nested
        // under the term, which NGSI-LD keeps as plain JSON: they are not processed.
        Ok(Some(TermDef {
            iri,
            type_mapping,
            container,
        }))
    }

    /// Resolves the IRI a term maps to; a term mapping to itself resolves without recursion.
    fn resolve_iri_for(
        &mut self,
        term: &str,
        value: &str,
        local: &Map<String, Value>,
        defined: &mut HashMap<String, bool>,
    ) -> crate::Result<String> {
        if value == term && !value.contains(':') {
            return Ok(format!("{}{}", self.current_vocab(), term));
        }
        if value
            .split_once(':')
            .is_some_and(|(prefix, _)| prefix == term)
        {
            // A term that uses its own name as prefix ("ex": "ex:foo") cannot resolve
            // through itself: read the value as an absolute IRI.
            return Ok(value.to_string());
        }
        self.resolve_iri(value, local, defined)
    }

    /// Expands an IRI written in a context: keywords as is, compact IRIs through their prefix,
    /// terms through their definition (defining local ones first), other names under @vocab.
    fn resolve_iri(
        &mut self,
        value: &str,
        local: &Map<String, Value>,
        defined: &mut HashMap<String, bool>,
    ) -> crate::Result<String> {
        if value.starts_with('@') {
            return Ok(value.to_string());
        }
        if let Some((prefix, suffix)) = value.split_once(':') {
            if prefix == "_" || suffix.starts_with("//") {
                return Ok(value.to_string());
            }
            if local.contains_key(prefix) {
                self.define(prefix, local, defined)?;
            }
            if let Some(def) = self.terms.get(prefix) {
                if !def.iri.starts_with('@') {
                    return Ok(format!("{}{}", def.iri, suffix));
                }
            }
            return Ok(value.to_string());
        }
        if local.contains_key(value) {
            self.define(value, local, defined)?;
        }
        if let Some(def) = self.terms.get(value) {
            return Ok(def.iri.clone());
        }
        Ok(format!("{}{}", self.current_vocab(), value))
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_docs(_: &str) -> Option<Arc<Value>> {
        None
    }

    #[test]
    fn bundled_documents_parse_and_answer_every_url() {
        let mut urls = vec![
            "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld".to_string(),
            "http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld".to_string(),
        ];
        for v in 3..=9 {
            urls.push(format!(
                "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{v}.jsonld"
            ));
            urls.push(format!(
                "http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{v}.jsonld"
            ));
        }
        for (name, _) in SDM_DOCS {
            urls.push(format!(
                "https://raw.githubusercontent.com/smart-data-models/{name}/master/context.jsonld"
            ));
            urls.push(format!(
                "https://smart-data-models.github.io/{name}/context.jsonld"
            ));
        }
        for url in &urls {
            let text = bundled_context(url).unwrap_or_else(|| panic!("{url} is not bundled"));
            let doc: Value = serde_json::from_str(text).expect("bundled context is JSON");
            assert!(doc.get("@context").is_some(), "{url}");
            assert!(bundled_document(url).is_some(), "{url}");
        }
        assert_eq!(bundled_context(CORE_CONTEXT_URL), Some(CORE_DOC));
        assert!(bundled_context(
            "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v2.0.jsonld"
        )
        .is_none());
        assert!(bundled_context(
            "https://raw.githubusercontent.com/smart-data-models/dataModel.Nope/master/context.jsonld"
        )
        .is_none());
    }

    #[test]
    fn core_context_has_the_default_vocab_and_core_terms() {
        let doc: Value = serde_json::from_str(CORE_DOC).expect("core is JSON");
        assert_eq!(doc["@context"]["@vocab"], json!(DEFAULT_VOCAB));
        let core = Context::core();
        assert_eq!(core.vocab(), DEFAULT_VOCAB);
        assert_eq!(
            core.expand("location"),
            "https://uri.etsi.org/ngsi-ld/location"
        );
        assert_eq!(
            core.expand("observedAt"),
            "https://uri.etsi.org/ngsi-ld/observedAt"
        );
        assert_eq!(
            core.expand("Property"),
            "https://uri.etsi.org/ngsi-ld/Property"
        );
        assert_eq!(core.expand("id"), "@id");
        assert_eq!(core.expand("type"), "@type");
        assert_eq!(core.expand("Point"), "https://purl.org/geojson/vocab#Point");
        assert_eq!(
            core.compact("https://uri.etsi.org/ngsi-ld/location"),
            "location"
        );
        assert_eq!(
            core.compact("https://uri.etsi.org/ngsi-ld/hasValue"),
            "value"
        );
        assert_eq!(
            core.term_type("https://uri.etsi.org/ngsi-ld/hasVocab"),
            Some(&TermType::Vocab)
        );
        assert_eq!(
            core.term_type("https://uri.etsi.org/ngsi-ld/hasJSON"),
            Some(&TermType::Json)
        );
        assert_eq!(
            core.term_type("https://uri.etsi.org/ngsi-ld/hasObject"),
            Some(&TermType::Id)
        );
        assert_eq!(
            core.term("observedAt").and_then(|d| d.type_mapping.clone()),
            Some(TermType::Datatype(
                "https://uri.etsi.org/ngsi-ld/DateTime".into()
            ))
        );
        assert_eq!(
            core.term("languageMap")
                .and_then(|d| d.container.clone())
                .as_deref(),
            Some("@language")
        );
    }

    #[test]
    fn expand_and_compact_round_trip() {
        let core = Context::core();
        // Undefined terms use the default vocabulary, and compact back.
        let iri = core.expand("Streetlight");
        assert_eq!(
            iri,
            "https://uri.etsi.org/ngsi-ld/default-context/Streetlight"
        );
        assert_eq!(core.compact(&iri), "Streetlight");
        // Compact IRIs through a defined prefix.
        assert_eq!(
            core.expand("ngsi-ld:foo"),
            "https://uri.etsi.org/ngsi-ld/foo"
        );
        assert_eq!(
            core.compact("https://uri.etsi.org/ngsi-ld/foo"),
            "ngsi-ld:foo"
        );
        assert_eq!(
            core.expand("geojson:Thing"),
            "https://purl.org/geojson/vocab#Thing"
        );
        // Absolute IRIs are left alone, whatever their scheme.
        assert_eq!(core.expand("urn:ngsi-ld:Thing:1"), "urn:ngsi-ld:Thing:1");
        assert_eq!(
            core.expand("https://example.org/a#b"),
            "https://example.org/a#b"
        );
        assert_eq!(core.expand("ngsi-ld://host/x"), "ngsi-ld://host/x");
        assert_eq!(
            core.compact("https://example.org/a/b"),
            "https://example.org/a/b"
        );
        assert_eq!(core.expand("@id"), "@id");
        // A nested path under the vocabulary cannot be written as a bare name.
        let nested = format!("{DEFAULT_VOCAB}a/b");
        assert_eq!(core.compact(&nested), nested);
        assert_eq!(core.expand(&core.compact(&nested)), nested);
    }

    #[test]
    fn term_definitions_of_a_user_context() {
        let ctx = Context::build(
            &json!([{
                "@version": 1.1,
                "@protected": true,
                "@base": "https://ignored.example/",
                "ex": "https://example.org/ns/",
                "temp": "ex:temperature",
                "alias": "temp",
                "category": {"@id": "ex:category", "@type": "@vocab"},
                "cfg": {"@id": "ex:cfg", "@type": "@json"},
                "ref": {"@id": "ex:ref", "@type": "@id"},
                "when": {"@id": "ex:when", "@type": "ngsi-ld:DateTime"},
                "list": {"@id": "ex:list", "@container": "@list"},
                "later": "late:thing",
                "late": "https://late.example/",
                "ex:direct": {"@type": "@id"},
                "plain": {"@type": "@id"},
                "gone": null,
                "location": "https://evil.example/location",
                "Property": "ex:NotAProperty"
            }]),
            &no_docs,
        )
        .expect("valid context");
        assert_eq!(ctx.expand("temp"), "https://example.org/ns/temperature");
        assert_eq!(ctx.expand("alias"), "https://example.org/ns/temperature");
        assert_eq!(ctx.expand("category"), "https://example.org/ns/category");
        assert_eq!(ctx.expand("later"), "https://late.example/thing");
        assert_eq!(ctx.expand("ex:direct"), "https://example.org/ns/direct");
        assert_eq!(ctx.expand("plain"), format!("{DEFAULT_VOCAB}plain"));
        assert_eq!(ctx.expand("gone"), format!("{DEFAULT_VOCAB}gone"));
        assert_eq!(
            ctx.term_type("https://example.org/ns/category"),
            Some(&TermType::Vocab)
        );
        assert_eq!(
            ctx.term_type("https://example.org/ns/cfg"),
            Some(&TermType::Json)
        );
        assert_eq!(
            ctx.term_type("https://example.org/ns/ref"),
            Some(&TermType::Id)
        );
        assert_eq!(
            ctx.term_type("https://example.org/ns/when"),
            Some(&TermType::Datatype(
                "https://uri.etsi.org/ngsi-ld/DateTime".into()
            ))
        );
        assert_eq!(
            ctx.term("list").and_then(|d| d.container.as_deref()),
            Some("@list")
        );
        // The core context is protected.
        assert_eq!(
            ctx.expand("location"),
            "https://uri.etsi.org/ngsi-ld/location"
        );
        assert_eq!(
            ctx.expand("Property"),
            "https://uri.etsi.org/ngsi-ld/Property"
        );
        // Compaction picks the shortest term.
        assert_eq!(ctx.compact("https://example.org/ns/temperature"), "temp");
        assert_eq!(ctx.compact("https://example.org/ns/other"), "ex:other");
    }

    #[test]
    fn vocab_null_and_arrays() {
        let ctx =
            Context::build(&json!({"@vocab": "https://example.org/v#"}), &no_docs).expect("ok");
        assert_eq!(ctx.expand("thing"), "https://example.org/v#thing");
        assert_eq!(ctx.compact("https://example.org/v#thing"), "thing");
        assert_eq!(
            ctx.expand("location"),
            "https://uri.etsi.org/ngsi-ld/location"
        );
        // null resets what came before it.
        let ctx = Context::build(
            &json!([{"a": "https://example.org/a", "@vocab": "https://example.org/v#"}, null, {"b": "https://example.org/b"}]),
            &no_docs,
        )
        .expect("ok");
        assert_eq!(ctx.expand("a"), format!("{DEFAULT_VOCAB}a"));
        assert_eq!(ctx.expand("b"), "https://example.org/b");
        assert_eq!(ctx.vocab(), DEFAULT_VOCAB);
        let ctx = Context::build(&json!({"@vocab": null}), &no_docs).expect("ok");
        assert_eq!(ctx.vocab(), DEFAULT_VOCAB);
        // VocabProperty values.
        let core = Context::core();
        assert_eq!(
            core.expand_vocab_value(&json!(["a", "ngsi-ld:b"])),
            Some(json!([
                format!("{DEFAULT_VOCAB}a"),
                "https://uri.etsi.org/ngsi-ld/b"
            ]))
        );
        assert_eq!(core.expand_vocab_value(&json!(3)), None);
        assert_eq!(
            core.compact_vocab_value(&json!([format!("{DEFAULT_VOCAB}a")])),
            json!(["a"])
        );
    }

    #[test]
    fn invalid_contexts_are_refused() {
        assert!(Context::build(&json!(5), &no_docs).is_err());
        assert!(Context::build(&json!({"a": 5}), &no_docs).is_err());
        assert!(Context::build(&json!({"a": {"@id": 5}}), &no_docs).is_err());
        assert!(Context::build(&json!({"a": "b", "b": "a"}), &no_docs).is_err());
        assert!(Context::build(&json!("relative.jsonld"), &no_docs).is_err());
    }

    #[test]
    fn remote_contexts_are_resolved_by_the_caller() {
        let a = Arc::new(
            json!({"@context": ["https://example.org/b.jsonld", {"x": "https://example.org/x"}]}),
        );
        let b = Arc::new(json!({"@context": {"y": "https://example.org/y"}}));
        let docs = |url: &str| match url {
            "https://example.org/a.jsonld" => Some(a.clone()),
            "https://example.org/b.jsonld" => Some(b.clone()),
            _ => None,
        };
        let value = json!([
            "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
            "https://example.org/a.jsonld"
        ]);
        assert_eq!(
            referenced_urls(&value),
            vec!["https://example.org/a.jsonld"]
        );
        assert_eq!(referenced_urls(&a), vec!["https://example.org/b.jsonld"]);
        assert_eq!(
            referenced_urls(&json!({"@import": "https://example.org/i.jsonld", "z": "https://z"})),
            vec!["https://example.org/i.jsonld"]
        );
        let ctx = Context::build(&value, &docs).expect("resolved");
        assert_eq!(ctx.expand("x"), "https://example.org/x");
        assert_eq!(ctx.expand("y"), "https://example.org/y");
        // @import merges a remote context into an inline one.
        let ctx = Context::build(
            &json!({"@import": "https://example.org/b.jsonld", "z": "https://example.org/z"}),
            &docs,
        )
        .expect("resolved");
        assert_eq!(ctx.expand("y"), "https://example.org/y");
        assert_eq!(ctx.expand("z"), "https://example.org/z");
        // A document wrapper is accepted as the value too.
        let ctx = Context::build(&a, &docs).expect("resolved");
        assert_eq!(ctx.expand("y"), "https://example.org/y");

        let err = Context::build(&json!("https://example.org/missing.jsonld"), &docs)
            .expect_err("missing");
        assert_eq!(err.kind, ErrorKind::LdContextNotAvailable);
        assert!(
            err.detail.contains("https://example.org/missing.jsonld"),
            "{}",
            err.detail
        );

        // Bundled contexts need no fetching.
        let ctx = Context::build(
            &json!("https://raw.githubusercontent.com/smart-data-models/dataModel.Streetlighting/master/context.jsonld"),
            &no_docs,
        )
        .expect("bundled");
        assert_eq!(
            ctx.expand("Streetlight"),
            "https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"
        );
        assert_eq!(
            ctx.expand("location"),
            "https://uri.etsi.org/ngsi-ld/location"
        );
    }

    #[test]
    fn cycles_and_deep_nesting_are_refused() {
        let cyc = Arc::new(json!({"@context": "https://example.org/c.jsonld"}));
        let docs = |_: &str| Some(cyc.clone());
        let err = Context::build(&json!("https://example.org/c.jsonld"), &docs).expect_err("cycle");
        assert!(err.detail.contains("includes itself"), "{}", err.detail);

        let deep = |url: &str| {
            let n: usize = url
                .trim_start_matches("https://example.org/d")
                .parse()
                .ok()?;
            Some(Arc::new(
                json!({"@context": format!("https://example.org/d{}", n + 1)}),
            ))
        };
        let err = Context::build(&json!("https://example.org/d0"), &deep).expect_err("too deep");
        assert!(err.detail.contains("16"), "{}", err.detail);
    }
}

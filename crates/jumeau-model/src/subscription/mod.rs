//! NGSI-LD subscriptions: the Subscription data type, its matching rules and the
//! notifications it produces (ETSI GS CIM 009 §5.2.12 to §5.2.15, §5.3.1, §5.8, §6.10, §6.11).
//!
//! A subscription asks the broker to notify an endpoint whenever entities it selects change.
//! This module is the pure part of the feature, shared by every engine and front-end:
//!
//! * [`parse_subscription`] reads the JSON payload of `POST /ngsi-ld/v1/subscriptions` into a
//!   [`Subscription`], names expanded with the client's @context; [`merge_subscription`]
//!   applies the fragment of `PATCH /ngsi-ld/v1/subscriptions/{id}`.
//! * [`render_subscription`] writes it back (names compacted with the caller's context), with
//!   the delivery statistics the broker keeps in a [`SubscriptionStatus`].
//! * [`triggers`] tells whether an entity change must be notified, [`throttled`] whether the
//!   throttling period still holds it back, [`periodic_due`] whether a periodic subscription
//!   must send.
//! * [`notification`] builds the Notification payload.
//!
//! A [`Subscription`] is serializable (serde) in its expanded form so that stores can keep it
//! as they keep entities: parsed members (the q expression, the type selectors, the geo-query,
//! the idPatterns) are written with enough information to be parsed again identically.
//!
//! # Decisions where the standard leaves room
//!
//! * Unknown members are ignored (JSON-LD extensibility); known members of the wrong type are
//!   refused with BadRequestData naming the member. Read-only members a client may echo back
//!   (`status`, `createdAt`, `notification.timesSent`...) are ignored. `csf` and `scopeQ` are
//!   refused with OperationNotSupported: this broker does not evaluate them and silently
//!   accepting them would send notifications the client filtered out.
//! * JSON null is refused on creation (§5.2.1: no member admits null); in a PATCH fragment a
//!   null (or the NGSI-LD Null `urn:ngsi-ld:null`) removes an optional member, restoring its
//!   default.
//! * A subscription needs `entities` or `watchedAttributes` (otherwise it would watch every
//!   change of the tenant); `timeInterval` excludes both `watchedAttributes` and `throttling`
//!   (the periodic and on-change forms of §5.2.12); `showChanges` excludes `keyValues`.
//! * An attribute "changed" when its instances differ in value or in metadata the client can
//!   see (observedAt, unitCode, datasetId, sub-attributes); the broker's own createdAt and
//!   modifiedAt are not compared, so rewriting an identical value notifies nobody.
//! * Creating an entity creates its attributes: it triggers `entityCreated`, and
//!   `attributeCreated` (the default) when it has a watched attribute, as the primer
//!   (ETSI GS CIM 008 §10.2.1) describes. Deleting an entity triggers only `entityDeleted`.
//!   Entity-level triggers ignore `watchedAttributes`.

mod matching;
mod parse;
mod render;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use jumeau_geo::GeoQuery;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ngsi::{Format, RenderOptions};
use crate::query::{QExpr, TypeExpr};
use crate::Entity;

pub use matching::{periodic_due, throttled, triggers, Change};
pub use parse::{merge_subscription, parse_subscription};
pub use render::{notification, render_subscription};

/// The expanded IRI of the `type` of a subscription (`Subscription` in the core context).
pub const SUBSCRIPTION_TYPE: &str = "https://uri.etsi.org/ngsi-ld/Subscription";

/// An NGSI-LD context subscription (ETSI GS CIM 009 §5.2.12), as the broker keeps it: every
/// type and attribute name expanded to a full IRI, every filter parsed.
///
/// Built by [`parse_subscription`] or [`merge_subscription`], which check every rule of the
/// standard; code building one by hand should keep the same invariants (see the module
/// documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// The subscription id, an absolute URI (`urn:ngsi-ld:Subscription:...`).
    pub id: String,
    /// `subscriptionName`: a short name given by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `description`: free text given by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `entities`: the entities watched (any of the selectors); empty means any entity, which
    /// only happens when `watched_attributes` is set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<EntitySelector>,
    /// `watchedAttributes`: expanded names of the attributes whose changes notify; `None`
    /// means any attribute. Never empty when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched_attributes: Option<Vec<String>>,
    /// `notificationTrigger` as given; `None` means the default (attributeCreated and
    /// attributeUpdated). See [`Subscription::effective_triggers`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_trigger: Option<Vec<NotificationTrigger>>,
    /// `timeInterval`: seconds between periodic notifications (> 0). A periodic subscription
    /// is never triggered by changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_interval: Option<f64>,
    /// `q`: the query the entity must satisfy after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<QFilter>,
    /// `geoQ`: the geo-query the entity must satisfy after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_q: Option<GeoQ>,
    /// `isActive`: false pauses the subscription.
    pub is_active: bool,
    /// `expiresAt`: when the subscription stops notifying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// `throttling`: the least number of seconds between two notifications (>= 0; 0 means no
    /// throttling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling: Option<f64>,
    /// `notification`: what to send and where.
    pub notification: NotificationParams,
    /// `lang`: the language filter applied to LanguageProperties in notifications (§4.15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// `jsonldContext`: the URI of the @context to compact notifications with, instead of the
    /// context the subscription was created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonld_context: Option<String>,
}

/// Selects entities by id or id pattern, and by type (ETSI GS CIM 009 §5.2.33).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntitySelector {
    /// Only the entity with this id. Takes precedence over `id_pattern`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Only entities whose id matches this regular expression (anywhere in the id, as the
    /// `idPattern` query parameter).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "regex_serde")]
    pub id_pattern: Option<Regex>,
    /// Only entities whose types satisfy this type expression (§4.17), over expanded IRIs.
    #[serde(with = "type_expr_serde")]
    pub types: TypeExpr,
}

impl PartialEq for EntitySelector {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.id_pattern.as_ref().map(Regex::as_str)
                == other.id_pattern.as_ref().map(Regex::as_str)
            && self.types == other.types
    }
}

impl EntitySelector {
    /// Whether the selector selects this entity: its types satisfy the type expression, and
    /// its id is the selector's id, or else matches the selector's idPattern.
    pub fn matches(&self, e: &Entity) -> bool {
        if !self.types.matches(&e.types) {
            return false;
        }
        match (&self.id, &self.id_pattern) {
            (Some(id), _) => id == &e.id,
            (None, Some(p)) => p.is_match(&e.id),
            (None, None) => true,
        }
    }
}

/// The `q` of a subscription: the expression as the client wrote it, the expansions of its
/// names, and the parsed tree.
///
/// The source is kept because a subscription renders its q as written; the expansions are
/// kept so that a stored subscription parses its q again without the client's @context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredQ", into = "StoredQ")]
pub struct QFilter {
    /// The q expression as the client wrote it.
    pub source: String,
    /// Every attribute name of the expression and the IRI it expanded to.
    pub terms: BTreeMap<String, String>,
    /// The parsed expression, evaluated by [`QExpr::matches`].
    pub expr: QExpr,
}

impl QFilter {
    /// Parses a q expression, expanding names with `expand` and recording each expansion.
    fn parse(source: &str, expand: &dyn Fn(&str) -> String) -> crate::Result<Self> {
        let terms = std::cell::RefCell::new(BTreeMap::new());
        let recording = |t: &str| {
            let iri = expand(t);
            terms.borrow_mut().insert(t.to_string(), iri.clone());
            iri
        };
        let expr = QExpr::parse(source, &recording)?;
        Ok(Self {
            source: source.to_string(),
            terms: terms.into_inner(),
            expr,
        })
    }
}

/// The stored form of a [`QFilter`]: the source and the expansions.
#[derive(Serialize, Deserialize)]
struct StoredQ {
    source: String,
    terms: BTreeMap<String, String>,
}

impl From<QFilter> for StoredQ {
    fn from(q: QFilter) -> Self {
        Self {
            source: q.source,
            terms: q.terms,
        }
    }
}

impl TryFrom<StoredQ> for QFilter {
    type Error = String;
    fn try_from(s: StoredQ) -> Result<Self, String> {
        let terms = s.terms;
        let expand = |t: &str| terms.get(t).cloned().unwrap_or_else(|| t.to_string());
        let expr = QExpr::parse(&s.source, &expand).map_err(|e| e.detail)?;
        Ok(Self {
            source: s.source,
            terms,
            expr,
        })
    }
}

/// The `geoQ` of a subscription (ETSI GS CIM 009 §5.2.13): a geo-query on one GeoProperty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredGeoQ", into = "StoredGeoQ")]
pub struct GeoQ {
    /// The relation and the reference geometry.
    pub query: GeoQuery,
    /// The expanded name of the GeoProperty compared (`location` by default).
    pub property: String,
}

impl GeoQ {
    /// Whether a GeoProperty instance of the entity satisfies the geo-query.
    pub fn matches(&self, e: &Entity) -> bool {
        e.geometries(&self.property).any(|g| self.query.matches(g))
    }
}

/// The stored form of a [`GeoQ`]: the members of §5.2.13, the property expanded.
#[derive(Serialize, Deserialize)]
struct StoredGeoQ {
    georel: String,
    geometry: String,
    coordinates: Value,
    geoproperty: String,
}

impl From<GeoQ> for StoredGeoQ {
    fn from(g: GeoQ) -> Self {
        Self {
            georel: g.query.georel.to_string(),
            geometry: g.query.geometry.geometry_type().to_string(),
            coordinates: g
                .query
                .geometry
                .as_json()
                .get("coordinates")
                .cloned()
                .unwrap_or(Value::Null),
            geoproperty: g.property,
        }
    }
}

impl TryFrom<StoredGeoQ> for GeoQ {
    type Error = String;
    fn try_from(s: StoredGeoQ) -> Result<Self, String> {
        let query =
            GeoQuery::parse(&s.georel, &s.geometry, &s.coordinates.to_string()).map_err(|e| e.0)?;
        Ok(Self {
            query,
            property: s.geoproperty,
        })
    }
}

/// A kind of change that can trigger a notification (`notificationTrigger`, ETSI GS CIM 009
/// §5.2.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NotificationTrigger {
    /// A matching entity was created.
    EntityCreated,
    /// A matching entity was updated: the same as attributeCreated, attributeUpdated and
    /// attributeDeleted together.
    EntityUpdated,
    /// A matching entity was deleted.
    EntityDeleted,
    /// An attribute was added to a matching entity (or came with its creation).
    AttributeCreated,
    /// An attribute of a matching entity changed.
    AttributeUpdated,
    /// An attribute was removed from a matching entity.
    AttributeDeleted,
}

impl NotificationTrigger {
    /// Every trigger, in the order of the standard.
    pub const ALL: [NotificationTrigger; 6] = [
        Self::EntityCreated,
        Self::EntityUpdated,
        Self::EntityDeleted,
        Self::AttributeCreated,
        Self::AttributeUpdated,
        Self::AttributeDeleted,
    ];

    /// The name written in `notificationTrigger`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EntityCreated => "entityCreated",
            Self::EntityUpdated => "entityUpdated",
            Self::EntityDeleted => "entityDeleted",
            Self::AttributeCreated => "attributeCreated",
            Self::AttributeUpdated => "attributeUpdated",
            Self::AttributeDeleted => "attributeDeleted",
        }
    }

    /// The trigger of this name, if any (names are case-sensitive).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The triggers in force for a subscription, `entityUpdated` already spread into its three
/// attribute-level equivalents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EffectiveTriggers {
    /// Entity creation notifies whatever attributes the entity has.
    pub entity_created: bool,
    /// Entity deletion notifies.
    pub entity_deleted: bool,
    /// A watched attribute appearing (on an update or with a new entity) notifies.
    pub attribute_created: bool,
    /// A watched attribute changing notifies.
    pub attribute_updated: bool,
    /// A watched attribute disappearing from an existing entity notifies.
    pub attribute_deleted: bool,
}

/// How the notified entities are serialized on the wire (`endpoint.accept`, ETSI GS CIM 009
/// §5.2.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum NotificationAccept {
    /// `application/json`: the @context goes in a Link header (the default).
    #[default]
    Json,
    /// `application/ld+json`: the @context goes in the body.
    JsonLd,
    /// `application/geo+json`: `data` is a GeoJSON FeatureCollection.
    GeoJson,
}

impl NotificationAccept {
    /// The media type, as written in `accept` and in the Content-Type of the notification.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::JsonLd => "application/ld+json",
            Self::GeoJson => "application/geo+json",
        }
    }

    /// The accept value of this media type, if supported.
    pub fn from_media_type(s: &str) -> Option<Self> {
        [Self::Json, Self::JsonLd, Self::GeoJson]
            .into_iter()
            .find(|a| a.media_type() == s)
    }
}

/// One `{key, value}` of `receiverInfo` or `notifierInfo` (ETSI GS CIM 009 §5.2.22).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValuePair {
    /// The key (an HTTP header name in receiverInfo of HTTP endpoints).
    pub key: String,
    /// The value.
    pub value: String,
}

/// Where and how notifications are delivered (`notification.endpoint`, ETSI GS CIM 009
/// §5.2.15).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The URL notified: `http`, `https`, `mqtt` or `mqtts` (the MQTT topic is its path).
    pub uri: String,
    /// The media type of the notification.
    #[serde(default)]
    pub accept: NotificationAccept,
    /// `timeout`: milliseconds after which a delivery counts as failed (>= 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// `cooldown`: milliseconds to wait after a failure before notifying again (>= 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<f64>,
    /// `receiverInfo`: headers (HTTP) or user properties (MQTT) sent with every notification.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receiver_info: Vec<KeyValuePair>,
    /// `notifierInfo`: settings of the channel (`MQTT-Version`, `MQTT-QoS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifier_info: Vec<KeyValuePair>,
}

impl Endpoint {
    /// True when notifications go to an MQTT broker (`mqtt://` or `mqtts://`).
    pub fn is_mqtt(&self) -> bool {
        let lower = self.uri.to_ascii_lowercase();
        lower.starts_with("mqtt://") || lower.starts_with("mqtts://")
    }

    /// The value of a notifierInfo key, if given.
    pub fn notifier_info(&self, key: &str) -> Option<&str> {
        self.notifier_info
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.as_str())
    }
}

/// What a notification holds and where it goes (`notification`, ETSI GS CIM 009 §5.2.14).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationParams {
    /// `attributes`: expanded names of the attributes sent; `None` sends them all. Never
    /// empty when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<String>>,
    /// `format`: normalized (the default), concise or keyValues.
    #[serde(default, with = "format_serde")]
    pub format: Format,
    /// `sysAttrs`: include createdAt and modifiedAt.
    #[serde(default)]
    pub sys_attrs: bool,
    /// `showChanges`: the client asked for previous values; kept and rendered, though the
    /// payload built by [`notification`] does not hold previous values yet.
    #[serde(default)]
    pub show_changes: bool,
    /// `endpoint`: where to deliver.
    pub endpoint: Endpoint,
}

/// Whether a subscription currently notifies (the read-only `status` member, ETSI GS CIM 009
/// §5.2.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionState {
    /// Active: changes are notified.
    Active,
    /// Paused by the client (`isActive: false`).
    Paused,
    /// Past its `expiresAt`. Reported even when also paused, since reactivating alone would
    /// not make it notify again.
    Expired,
}

impl SubscriptionState {
    /// The name written in `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Expired => "expired",
        }
    }
}

/// The delivery statistics the broker keeps for a subscription and renders in its
/// `notification` member (ETSI GS CIM 009 §5.2.14: status, timesSent, timesFailed,
/// lastNotification, lastSuccess, lastFailure).
///
/// Kept apart from [`Subscription`] so that recording a delivery never rewrites the
/// subscription the client defined.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubscriptionStatus {
    /// How many notifications were sent, successful or not.
    #[serde(default)]
    pub times_sent: u64,
    /// How many of them failed.
    #[serde(default)]
    pub times_failed: u64,
    /// When the last notification was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_notification: Option<DateTime<Utc>>,
    /// When the last notification succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<DateTime<Utc>>,
    /// When the last notification failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<DateTime<Utc>>,
    /// Why the last failed notification failed (rendered as `lastErrorReason`, a Jumeau
    /// extension of §5.2.14 that tells a client what to fix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_reason: Option<String>,
}

impl SubscriptionStatus {
    /// Records a notification delivered at `now`.
    pub fn record_success(&mut self, now: DateTime<Utc>) {
        self.times_sent = self.times_sent.saturating_add(1);
        self.last_notification = Some(now);
        self.last_success = Some(now);
    }

    /// Records a notification that failed at `now`, and why.
    pub fn record_failure(&mut self, now: DateTime<Utc>, reason: impl Into<String>) {
        self.times_sent = self.times_sent.saturating_add(1);
        self.times_failed = self.times_failed.saturating_add(1);
        self.last_notification = Some(now);
        self.last_failure = Some(now);
        self.last_error_reason = Some(reason.into());
    }

    /// The `notification.status` of §5.2.14: `ok` when the last attempt succeeded, `failed`
    /// when it failed, `None` before any attempt.
    pub fn delivery_status(&self) -> Option<&'static str> {
        match (self.last_success, self.last_failure) {
            (None, None) => None,
            (Some(_), None) => Some("ok"),
            (None, Some(_)) => Some("failed"),
            (Some(s), Some(f)) => Some(if f > s { "failed" } else { "ok" }),
        }
    }
}

impl Subscription {
    /// The state at `now`: expired past `expiresAt`, else paused when inactive, else active.
    pub fn state(&self, now: DateTime<Utc>) -> SubscriptionState {
        if self.expires_at.is_some_and(|t| t <= now) {
            SubscriptionState::Expired
        } else if !self.is_active {
            SubscriptionState::Paused
        } else {
            SubscriptionState::Active
        }
    }

    /// The triggers in force: `notificationTrigger` if given, else the default of §5.2.12
    /// (attributeCreated and attributeUpdated); `entityUpdated` counts as attributeCreated,
    /// attributeUpdated and attributeDeleted.
    pub fn effective_triggers(&self) -> EffectiveTriggers {
        let Some(list) = &self.notification_trigger else {
            return EffectiveTriggers {
                attribute_created: true,
                attribute_updated: true,
                ..EffectiveTriggers::default()
            };
        };
        let mut t = EffectiveTriggers::default();
        for trigger in list {
            match trigger {
                NotificationTrigger::EntityCreated => t.entity_created = true,
                NotificationTrigger::EntityDeleted => t.entity_deleted = true,
                NotificationTrigger::EntityUpdated => {
                    t.attribute_created = true;
                    t.attribute_updated = true;
                    t.attribute_deleted = true;
                }
                NotificationTrigger::AttributeCreated => t.attribute_created = true,
                NotificationTrigger::AttributeUpdated => t.attribute_updated = true,
                NotificationTrigger::AttributeDeleted => t.attribute_deleted = true,
            }
        }
        t
    }

    /// Whether the subscription selects this entity: some entity selector matches (any
    /// entity when there is none).
    pub fn selects(&self, e: &Entity) -> bool {
        self.entities.is_empty() || self.entities.iter().any(|s| s.matches(e))
    }

    /// Whether changes of the attribute `name` (expanded) are watched.
    pub fn watches(&self, name: &str) -> bool {
        self.watched_attributes
            .as_ref()
            .is_none_or(|w| w.iter().any(|a| a == name))
    }

    /// How entities are rendered in this subscription's notifications: its format, sysAttrs,
    /// attribute projection and language.
    pub fn render_options(&self) -> RenderOptions {
        RenderOptions {
            format: self.notification.format,
            sys_attrs: self.notification.sys_attrs,
            pick: self
                .notification
                .attributes
                .as_ref()
                .map(|a| a.iter().cloned().collect()),
            omit: Default::default(),
            lang: self.lang.clone(),
        }
    }
}

/// A number of seconds (or milliseconds) as a duration; `None` when it is too large to be
/// represented, which callers read as "forever".
fn duration(amount: f64, unit_ms: f64) -> Option<TimeDelta> {
    let ms = (amount * unit_ms).round();
    if !ms.is_finite() || ms.abs() >= 9.0e15 {
        return None;
    }
    // The bound above keeps the conversion exact.
    TimeDelta::try_milliseconds(ms as i64)
}

/// Serde for `Option<Regex>` as its source text.
mod regex_serde {
    use regex::Regex;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(r: &Option<Regex>, s: S) -> Result<S::Ok, S::Error> {
        match r {
            Some(r) => s.serialize_some(r.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Regex>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|p| crate::query::q::compile_regex(&p).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Serde for [`TypeExpr`] as a tree of `{"type": iri}`, `{"or": [...]}`, `{"and": [...]}`.
mod type_expr_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::query::TypeExpr;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Tree {
        Type(String),
        Or(Vec<Tree>),
        And(Vec<Tree>),
    }

    fn to_tree(e: &TypeExpr) -> Tree {
        match e {
            TypeExpr::Type(t) => Tree::Type(t.clone()),
            TypeExpr::Or(v) => Tree::Or(v.iter().map(to_tree).collect()),
            TypeExpr::And(v) => Tree::And(v.iter().map(to_tree).collect()),
        }
    }

    fn from_tree(t: Tree) -> TypeExpr {
        match t {
            Tree::Type(t) => TypeExpr::Type(t),
            Tree::Or(v) => TypeExpr::Or(v.into_iter().map(from_tree).collect()),
            Tree::And(v) => TypeExpr::And(v.into_iter().map(from_tree).collect()),
        }
    }

    pub fn serialize<S: Serializer>(e: &TypeExpr, s: S) -> Result<S::Ok, S::Error> {
        to_tree(e).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TypeExpr, D::Error> {
        Tree::deserialize(d).map(from_tree)
    }
}

/// Serde for [`Format`] as its name in `notification.format`.
mod format_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::ngsi::Format;

    pub fn serialize<S: Serializer>(f: &Format, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(super::format_name(*f))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let name = String::deserialize(d)?;
        super::format_from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown notification format '{name}'"))
        })
    }
}

/// The name of a format in `notification.format`.
fn format_name(f: Format) -> &'static str {
    match f {
        Format::Normalized => "normalized",
        Format::Concise => "concise",
        Format::KeyValues => "keyValues",
    }
}

/// The format named in `notification.format`, if any.
fn format_from_name(s: &str) -> Option<Format> {
    match s {
        "normalized" => Some(Format::Normalized),
        "concise" => Some(Format::Concise),
        "keyValues" => Some(Format::KeyValues),
        _ => None,
    }
}

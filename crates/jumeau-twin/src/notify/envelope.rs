//! What the outbox keeps for one notification: the notification and everything delivery
//! needs, so that a pending notification is delivered as it was built, even after a restart
//! or a change of its subscription.

use jumeau_model::context::CORE_CONTEXT_URL;
use jumeau_model::subscription::{Endpoint, NotificationAccept};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One notification as stored in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Envelope {
    /// Where and how to deliver.
    pub endpoint: Endpoint,
    /// The @context of the notification (a URL, an object or an array).
    pub context: Value,
    /// The Notification (ETSI GS CIM 009 §5.3.1), without @context.
    pub notification: Value,
}

impl Envelope {
    /// The media type of the body.
    pub fn content_type(&self) -> &'static str {
        self.endpoint.accept.media_type()
    }

    /// The body: the notification, with its @context inside for application/ld+json.
    pub fn body(&self) -> Value {
        let mut body = self.notification.clone();
        if self.endpoint.accept == NotificationAccept::JsonLd {
            if let Value::Object(m) = &mut body {
                m.insert("@context".into(), self.context.clone());
            }
        }
        body
    }

    /// The Link header naming the @context, for the media types that carry it outside the
    /// body; the core context stands in for an inline context, which a header cannot carry.
    pub fn link(&self) -> Option<String> {
        if self.endpoint.accept == NotificationAccept::JsonLd {
            return None;
        }
        let url = match &self.context {
            Value::String(u) => u.as_str(),
            Value::Array(items) if items.len() == 1 => {
                items[0].as_str().unwrap_or(CORE_CONTEXT_URL)
            }
            _ => CORE_CONTEXT_URL,
        };
        Some(format!(
            "<{url}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
        ))
    }
}

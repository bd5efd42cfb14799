//! `GET /jumeau/v1/events?tenant=T`: the changes of a tenant's entities as server-sent
//! events, so that open maps update without polling.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use jumeau_api::problem::ApiError;
use jumeau_model::{ErrorKind, NgsiError};
use jumeau_twin::{EntityChange, Twin};
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

/// What the event handler needs.
#[derive(Clone)]
pub(crate) struct EventsState {
    pub(crate) twin: Twin,
    pub(crate) stop: watch::Receiver<bool>,
}

/// Query parameters: the tenant (browsers cannot set the NGSILD-Tenant header on an
/// EventSource).
#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    tenant: Option<String>,
}

/// Opens the stream after checking that the caller may read the tenant: anyone for a
/// public tenant, a key covering it otherwise.
pub(crate) async fn stream(
    State(state): State<EventsState>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let tenant = query
        .tenant
        .unwrap_or_else(|| jumeau_twin::DEFAULT_TENANT.to_string());
    jumeau_twin::validate_tenant(&tenant)?;
    let caller = state.twin.auth.authenticate(bearer(&headers)?).await?;
    let public = state
        .twin
        .store
        .tenant(&tenant)
        .await?
        .is_some_and(|t| t.public);
    state.twin.auth.check_read(&caller, &tenant, public)?;
    let changes = state.twin.changes.subscribe();
    let events = futures_util::stream::unfold(
        (changes, state.stop, tenant),
        |(mut changes, mut stop, tenant)| async move {
            loop {
                if *stop.borrow() {
                    return None;
                }
                let event = tokio::select! {
                    _ = stop.changed() => return None,
                    received = changes.recv() => match received {
                        Ok(change) if *change.tenant == *tenant => change_event(&change),
                        Ok(_) => continue,
                        // The view missed changes: it reloads everything.
                        Err(broadcast::error::RecvError::Lagged(_)) => Event::default().event("reload").data("{}"),
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                };
                return Some((Ok(event), (changes, stop, tenant)));
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(20))))
}

/// One change as an event named `change`: the entity id, the short names of its types
/// (the last segment of each IRI) and whether it was deleted.
fn change_event(change: &EntityChange) -> Event {
    let types: Vec<&str> = change
        .types
        .iter()
        .map(|t| t.rsplit(['/', '#']).next().unwrap_or(t))
        .collect();
    let data = serde_json::json!({"id": change.id, "types": types, "deleted": change.deleted});
    Event::default().event("change").data(data.to_string())
}

/// The key of an `Authorization: Bearer` header, if one is sent.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|s| {
            s.strip_prefix("Bearer ")
                .or_else(|| s.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Some)
        .ok_or_else(|| {
            ApiError(NgsiError::new(
                ErrorKind::Unauthorized,
                "the Authorization header must be 'Bearer <key>'",
            ))
        })
}

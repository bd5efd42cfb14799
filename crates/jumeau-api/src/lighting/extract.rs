//! The prologue every lighting handler shares, as extractors: the query string, the tenant
//! checked for the access the endpoint needs, and the JSON body. Each refuses the request
//! with a clear error before the handler runs, in the order the handler lists them (the
//! access is checked before the body is read).

use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use jumeau_model::NgsiError;
use jumeau_twin::Role;
use serde::de::DeserializeOwned;

use super::LightingQuery;
use crate::problem::ApiError;
use crate::request::{read_body, require_json, Meta};
use crate::App;

/// The query string of a lighting endpoint, or 400 naming the parameters accepted.
pub(super) struct Params(pub LightingQuery);

impl FromRequestParts<App> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        Query::<LightingQuery>::from_request_parts(parts, app)
            .await
            .map(|Query(q)| Self(q))
            .map_err(|e| {
                ApiError(NgsiError::bad_data(format!(
                    "invalid query parameters: {}; accepted: {}",
                    e.body_text(),
                    super::ACCEPTED
                )))
            })
    }
}

/// What an endpoint needs of the caller on the request's tenant.
#[derive(Debug, Clone, Copy)]
pub(super) enum Needs {
    /// Read access: a key covering the tenant, or none when the tenant is public.
    Read,
    /// A key covering the tenant, even when the tenant is public (the audit log names keys).
    Key,
    /// A key with at least this role on the tenant.
    Role(Role),
}

/// An access level, as a type, so that a handler states what it needs in its signature.
pub(super) trait Access {
    /// What the caller needs.
    const NEEDS: Needs;
}

/// Read access to the tenant.
pub(super) struct Read;
impl Access for Read {
    const NEEDS: Needs = Needs::Read;
}

/// A key covering the tenant, public or not.
pub(super) struct Keyed;
impl Access for Keyed {
    const NEEDS: Needs = Needs::Key;
}

/// An editor (or admin) key on the tenant.
pub(super) struct Edit;
impl Access for Edit {
    const NEEDS: Needs = Needs::Role(Role::Editor);
}

/// An admin key on the tenant.
pub(super) struct Administer;
impl Access for Administer {
    const NEEDS: Needs = Needs::Role(Role::Admin);
}

/// The request's tenant (`NGSILD-Tenant`), checked for the access `A`.
pub(super) struct Tenant<A> {
    /// The tenant's name.
    pub name: String,
    _access: PhantomData<A>,
}

impl<A: Access> FromRequestParts<App> for Tenant<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let meta = Meta::from_request_parts(parts, app).await?;
        match A::NEEDS {
            Needs::Read => {
                app.readable_tenant(&meta).await?;
            }
            Needs::Key => {
                app.twin
                    .auth
                    .check_read(&meta.caller, &meta.tenant, false)?;
            }
            Needs::Role(role) => {
                app.twin.auth.check_role(&meta.caller, &meta.tenant, role)?;
            }
        }
        Ok(Self {
            name: meta.tenant,
            _access: PhantomData,
        })
    }
}

/// A JSON body read as `T`: `Content-Type` JSON, within the size limit, and of the shape
/// the endpoint takes.
pub(super) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        require_json(&parts.headers)?;
        let bytes = read_body(&parts.headers, body, app.config.max_body_bytes).await?;
        serde_json::from_slice(&bytes).map(Self).map_err(|e| {
            ApiError(NgsiError::bad_data(format!(
                "the body does not match what this endpoint takes: {e}; see /openapi.json"
            )))
        })
    }
}

//! Errors as RFC 7807 ProblemDetails, the form NGSI-LD prescribes (§5.5.3).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jumeau_model::{ErrorKind, NgsiError};
use serde_json::json;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub NgsiError);

impl<E: Into<NgsiError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

/// The ProblemDetails body of an error (also used inside batch results).
pub fn problem_json(e: &NgsiError) -> serde_json::Value {
    json!({
        "type": e.kind.type_uri(),
        "title": e.kind.title(),
        "status": e.kind.http_status(),
        "detail": e.detail,
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() && self.0.kind != ErrorKind::LdContextNotAvailable {
            tracing::warn!("{}", self.0);
        }
        let body = problem_json(&self.0).to_string();
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match self.0.kind {
            ErrorKind::ServiceUnavailable => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            ErrorKind::Unauthorized => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"jumeau\""),
                );
            }
            _ => {}
        }
        resp
    }
}

/// Result of handlers.
pub type ApiResult<T = Response> = Result<T, ApiError>;

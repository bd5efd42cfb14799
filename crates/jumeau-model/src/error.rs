//! The NGSI-LD error vocabulary shared by every layer.
//!
//! ETSI GS CIM 009 §5.5.2 names a fixed set of problem types; every failure a client can
//! cause maps to one of them, so clients can react without parsing prose.

use std::fmt;

/// The standard NGSI-LD error types (ETSI GS CIM 009 table 5.5.2-1), plus the few HTTP
/// conditions the standard leaves to the transport (authentication, media types, size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is syntactically wrong (bad query parameter, malformed JSON).
    InvalidRequest,
    /// The request is well formed but its data is not valid NGSI-LD.
    BadRequestData,
    /// The entity (or attribute) already exists.
    AlreadyExists,
    /// The operation is not supported by this broker or on this resource.
    OperationNotSupported,
    /// The target entity, attribute, context or key does not exist.
    ResourceNotFound,
    /// Something failed inside the broker.
    InternalError,
    /// The query is too complex to be answered.
    TooComplexQuery,
    /// The query would return too many results.
    TooManyResults,
    /// A JSON-LD @context could not be retrieved.
    LdContextNotAvailable,
    /// The tenant named in NGSILD-Tenant does not exist (yet).
    NonexistentTenant,
    /// The store is temporarily unavailable; retry later.
    ServiceUnavailable,
    /// No or an unknown API key.
    Unauthorized,
    /// A valid API key whose role or tenants do not allow this request.
    Forbidden,
    /// The Accept header asks for a representation the broker cannot produce.
    NotAcceptable,
    /// The request body has a media type the endpoint does not take.
    UnsupportedMediaType,
    /// The request body is larger than the configured limit.
    PayloadTooLarge,
    /// The request has a body but no Content-Length.
    LengthRequired,
    /// The method is not allowed on this resource.
    MethodNotAllowed,
}

impl ErrorKind {
    /// The problem type URI written in the `type` member of ProblemDetails (RFC 7807).
    pub fn type_uri(self) -> &'static str {
        match self {
            Self::InvalidRequest => "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest",
            Self::BadRequestData => "https://uri.etsi.org/ngsi-ld/errors/BadRequestData",
            Self::AlreadyExists => "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists",
            Self::OperationNotSupported => {
                "https://uri.etsi.org/ngsi-ld/errors/OperationNotSupported"
            }
            Self::ResourceNotFound => "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound",
            Self::InternalError => "https://uri.etsi.org/ngsi-ld/errors/InternalError",
            Self::TooComplexQuery => "https://uri.etsi.org/ngsi-ld/errors/TooComplexQuery",
            Self::TooManyResults => "https://uri.etsi.org/ngsi-ld/errors/TooManyResults",
            Self::LdContextNotAvailable => {
                "https://uri.etsi.org/ngsi-ld/errors/LdContextNotAvailable"
            }
            Self::NonexistentTenant => "https://uri.etsi.org/ngsi-ld/errors/NonexistentTenant",
            Self::ServiceUnavailable => "https://jumeau.eu/errors/ServiceUnavailable",
            Self::Unauthorized => "https://jumeau.eu/errors/Unauthorized",
            Self::Forbidden => "https://jumeau.eu/errors/Forbidden",
            Self::NotAcceptable => "https://jumeau.eu/errors/NotAcceptable",
            Self::UnsupportedMediaType => "https://jumeau.eu/errors/UnsupportedMediaType",
            Self::PayloadTooLarge => "https://jumeau.eu/errors/PayloadTooLarge",
            Self::LengthRequired => "https://jumeau.eu/errors/LengthRequired",
            Self::MethodNotAllowed => "https://jumeau.eu/errors/MethodNotAllowed",
        }
    }

    /// The HTTP status the standard gives this error.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::BadRequestData => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::ResourceNotFound | Self::NonexistentTenant => 404,
            Self::MethodNotAllowed => 405,
            Self::NotAcceptable => 406,
            Self::AlreadyExists => 409,
            Self::LengthRequired => 411,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::OperationNotSupported => 422,
            Self::InternalError => 500,
            Self::LdContextNotAvailable | Self::ServiceUnavailable => 503,
            Self::TooComplexQuery | Self::TooManyResults => 403,
        }
    }

    /// A short human title for ProblemDetails.
    pub fn title(self) -> &'static str {
        match self {
            Self::InvalidRequest => "Invalid request",
            Self::BadRequestData => "Bad request data",
            Self::AlreadyExists => "Already exists",
            Self::OperationNotSupported => "Operation not supported",
            Self::ResourceNotFound => "Resource not found",
            Self::InternalError => "Internal error",
            Self::TooComplexQuery => "Too complex query",
            Self::TooManyResults => "Too many results",
            Self::LdContextNotAvailable => "JSON-LD context not available",
            Self::NonexistentTenant => "Nonexistent tenant",
            Self::ServiceUnavailable => "Service unavailable",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotAcceptable => "Not acceptable",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::PayloadTooLarge => "Payload too large",
            Self::LengthRequired => "Length required",
            Self::MethodNotAllowed => "Method not allowed",
        }
    }
}

/// An error a client can act on: a standard kind and a precise explanation of what was
/// wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NgsiError {
    /// The standard error type.
    pub kind: ErrorKind,
    /// What was wrong, naming the offending field or value, and how to fix it.
    pub detail: String,
}

impl NgsiError {
    /// Builds an error of `kind` with a detail message.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
    /// Shorthand for [`ErrorKind::BadRequestData`].
    pub fn bad_data(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequestData, detail)
    }
    /// Shorthand for [`ErrorKind::InvalidRequest`].
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, detail)
    }
    /// Shorthand for [`ErrorKind::ResourceNotFound`].
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceNotFound, detail)
    }
    /// Shorthand for [`ErrorKind::InternalError`].
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InternalError, detail)
    }
}

impl fmt::Display for NgsiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.title(), self.detail)
    }
}

impl std::error::Error for NgsiError {}

impl From<jumeau_geo::GeoError> for NgsiError {
    fn from(e: jumeau_geo::GeoError) -> Self {
        Self::bad_data(e.to_string())
    }
}

/// Result type of the model's fallible functions.
pub type Result<T, E = NgsiError> = std::result::Result<T, E>;

//! GET /jumeau/v1/map: the entities a map draws, in one answer.
//!
//! The same selection as GET /ngsi-ld/v1/entities (type, id, idPattern, q, attrs, geo-query,
//! pick, omit, geometryProperty, the @context in a Link header), answered as one GeoJSON
//! FeatureCollection of simplified (keyValues) features, unpaged. A map asking
//! `/ngsi-ld/v1/entities` needs a first page to learn the count, then the other pages: two
//! round trips, and the store reads the first pages again for every later one. Here the
//! store reads each entity once.

use axum::extract::{Query, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use jumeau_model::ngsi::{self, Format};
use jumeau_model::{ErrorKind, NgsiError};

use crate::entities::read_view;
use crate::params::Params;
use crate::problem::ApiResult;
use crate::request::Meta;
use crate::App;

/// Most features in one answer; a query matching more is refused (TooManyResults).
pub const MAX_FEATURES: usize = 100_000;

/// Parameters of the entity query that make no sense for a whole, simplified answer.
const REFUSED: &[&str] = &["limit", "offset", "count", "format"];

/// GET /jumeau/v1/map
pub async fn features(
    State(app): State<App>,
    meta: Meta,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult {
    let params = Params(params);
    for name in REFUSED {
        if params.get(name)?.is_some() {
            return Err(NgsiError::bad_data(format!(
                "'{name}' is not accepted here: the answer holds every matching entity, simplified; page with /ngsi-ld/v1/entities instead"
            ))
            .into());
        }
    }
    let mut view = read_view(&app, &meta, &params).await?;
    view.opts.format = Format::KeyValues;
    let mut q = params.entity_query(&view.ctx)?;
    q.limit = MAX_FEATURES + 1;
    q.offset = 0;
    q.count = false;
    let page = app.twin.store.query(&meta.tenant, &q).await?;
    if page.entities.len() > MAX_FEATURES {
        return Err(NgsiError::new(
            ErrorKind::TooManyResults,
            format!(
                "more than {MAX_FEATURES} entities match; narrow the query or page with /ngsi-ld/v1/entities"
            ),
        )
        .into());
    }
    let body = ngsi::render_feature_collection(
        &page.entities,
        &view.ctx,
        &view.opts,
        &view.geometry_property,
    );
    let mut resp = (StatusCode::OK, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    if let Some(link) = crate::render::link_header(&view.ctx_value) {
        h.insert(header::LINK, link);
    }
    h.insert(
        HeaderName::from_static("ngsild-results-count"),
        HeaderValue::from(page.entities.len()),
    );
    Ok(resp)
}

//! GET /jumeau/v1/map: the entities a map draws, in one answer.
//!
//! The same selection as GET /ngsi-ld/v1/entities (type, id, idPattern, q, attrs, geo-query,
//! pick, omit, geometryProperty, the @context in a Link header), answered as one GeoJSON
//! FeatureCollection of simplified (keyValues) features, unpaged. A map asking
//! `/ngsi-ld/v1/entities` needs a first page to learn the count, then the other pages: two
//! round trips, and the store reads the first pages again for every later one. Here the
//! store reads each entity once.

use axum::extract::{Query, State};
use jumeau_model::ngsi::Format;
use jumeau_model::{ErrorKind, NgsiError};

use crate::entities::read_view;
use crate::params::Params;
use crate::problem::ApiResult;
use crate::render;
use crate::request::{Accept, Meta};
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
    // Always GeoJSON, whatever the Accept header: the answer is for a map.
    let mut meta = meta;
    meta.accept = Accept::GeoJson;
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
    let count = Some(page.entities.len() as u64);
    Ok(render::entities(&page.entities, count, &view))
}

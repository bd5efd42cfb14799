//! Gzip for the API's JSON answers when the browser accepts it: the map's GeoJSON pages
//! are what grows with the territory, and they shrink about tenfold. Event streams and
//! small answers are left alone; the assets are compressed once at start elsewhere.

use std::io::Write as _;

use axum::body::{Body, HttpBody as _};
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Answers smaller than this are sent as they are (gzip would gain little).
const MIN_BYTES: usize = 1024;
/// Larger answers are sent uncompressed rather than held twice in memory.
const MAX_BYTES: usize = 64 * 1024 * 1024;

fn accepts_gzip(req: &Request) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|c| {
            let mut parts = c.trim().split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"))
}

/// The middleware: compresses a JSON answer of a request that accepts gzip.
pub(crate) async fn gzip_json(req: Request, next: Next) -> Response {
    let gzip = accepts_gzip(&req);
    let resp = next.run(req).await;
    if !gzip || !is_json(&resp) || resp.headers().contains_key(header::CONTENT_ENCODING) {
        return resp;
    }
    // Only whole answers of known size: streams pass through untouched.
    let size = resp.body().size_hint().exact();
    if !size.is_some_and(|n| (MIN_BYTES as u64..=MAX_BYTES as u64).contains(&n)) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::from(e.to_string()));
        }
    };
    let mut enc = GzEncoder::new(Vec::with_capacity(bytes.len() / 6), Compression::fast());
    let packed = enc.write_all(&bytes).and_then(|()| enc.finish());
    match packed {
        Ok(packed) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            parts
                .headers
                .append(header::VARY, HeaderValue::from_static("accept-encoding"));
            Response::from_parts(parts, Body::from(packed))
        }
        Err(_) => Response::from_parts(parts, Body::from(bytes)),
    }
}

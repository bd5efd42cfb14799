//! The embedded assets: the application shell at `/` and the files under
//! `/assets/{version}/`, where the version is a hash of their content so that browsers may
//! keep them for a year. Text assets are gzip-compressed once, when the router is built.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::WebConfig;

/// One embedded file: its name under `assets/`, its media type and its bytes.
macro_rules! asset {
    ($name:literal, $media:expr) => {
        (
            $name,
            $media,
            include_bytes!(concat!("../assets/", $name)) as &[u8],
        )
    };
}

/// Every file served under `/assets/{version}/`: name, media type, content.
const FILES: &[(&str, &str, &[u8])] = &[
    asset!("app.css", CSS),
    asset!("js/main.js", JS),
    asset!("js/early.js", JS),
    asset!("js/i18n.js", JS),
    asset!("js/api.js", JS),
    asset!("js/services.js", JS),
    asset!("js/map.js", JS),
    asset!("js/list.js", JS),
    asset!("js/panel.js", JS),
    asset!("js/chart.js", JS),
    asset!("js/home.js", JS),
    asset!("js/key.js", JS),
    asset!("js/lighting.js", JS),
    asset!("js/water.js", JS),
    asset!("vendor/maplibre-gl.js", JS),
    asset!("vendor/maplibre-gl.css", CSS),
    asset!(
        "vendor/maplibre-gl.LICENSE.txt",
        "text/plain; charset=utf-8"
    ),
];

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The application shell, with `{{version}}` and `{{config}}` filled in at start-up.
const INDEX: &str = include_str!("../assets/index.html");

/// One file ready to send.
struct Asset {
    content_type: &'static str,
    plain: Bytes,
    /// The gzip form, kept only when it is smaller.
    gzip: Option<Bytes>,
}

/// The assets, shared by the handlers.
#[derive(Clone)]
pub(crate) struct Assets {
    version: Arc<str>,
    index: Arc<Asset>,
    files: Arc<HashMap<&'static str, Asset>>,
    csp: Arc<str>,
}

impl Assets {
    /// Hashes and compresses the embedded files, and fills in the shell.
    pub(crate) fn new(config: &WebConfig) -> Self {
        let mut hash = Sha256::new();
        for (name, _, bytes) in FILES {
            hash.update(name.as_bytes());
            hash.update(bytes);
        }
        hash.update(INDEX.as_bytes());
        let version: String = hash
            .finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        let files = FILES
            .iter()
            .map(|&(name, content_type, plain)| {
                (
                    name,
                    Asset {
                        content_type,
                        plain: Bytes::from_static(plain),
                        gzip: gzip(plain),
                    },
                )
            })
            .collect();
        let page_config = serde_json::json!({
            "tenant": config.default_tenant,
            "basemap": config.basemap_style,
            "assets": format!("/assets/{version}/"),
        });
        // `</` cannot end the script element the configuration sits in.
        let page_config = page_config.to_string().replace("</", "<\\/");
        let html = INDEX
            .replace("{{version}}", &version)
            .replace("{{config}}", &page_config);
        let connect = if config.basemap_style.is_some() {
            // A basemap's tiles and glyphs come from its own servers.
            "'self' https: http:"
        } else {
            "'self'"
        };
        let csp = format!(
            "default-src 'self'; connect-src {connect}; img-src 'self' data: blob: https: http:; \
             worker-src blob:; child-src blob:; style-src 'self' 'unsafe-inline'; \
             script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        );
        Self {
            version: version.into(),
            index: Arc::new(Asset {
                content_type: "text/html; charset=utf-8",
                gzip: gzip(html.as_bytes()),
                plain: Bytes::from(html),
            }),
            files: Arc::new(files),
            csp: csp.into(),
        }
    }

    /// `/` and `/assets/{version}/{*file}`.
    pub(crate) fn routes<S>(self) -> Router<S> {
        Router::new()
            .route("/", get(index))
            .route("/assets/{version}/{*file}", get(file))
            .with_state(self)
    }
}

/// Compresses once with the best ratio; `None` when it saves nothing.
fn gzip(plain: &[u8]) -> Option<Bytes> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(plain).ok()?;
    let out = enc.finish().ok()?;
    (out.len() < plain.len()).then(|| Bytes::from(out))
}

/// The application shell: never cached, so that a new version's asset URLs are seen.
async fn index(State(assets): State<Assets>, headers: HeaderMap) -> Response {
    let mut resp = send(&assets.index, &headers, "no-cache");
    if let Ok(v) = HeaderValue::from_str(&assets.csp) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// One embedded file. The current version is cached for a year; a file asked under another
/// version (a page loaded before an upgrade) is served as it is now, but not cached.
async fn file(
    State(assets): State<Assets>,
    Path((version, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(asset) = assets.files.get(name.as_str()) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such file in the web interface",
        )
            .into_response();
    };
    let cache = if *version == *assets.version {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    send(asset, &headers, cache)
}

/// The asset, compressed when the client accepts gzip.
fn send(asset: &Asset, headers: &HeaderMap, cache: &'static str) -> Response {
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|e| e.trim().split(';').next() == Some("gzip") && !e.contains("q=0"))
        });
    let mut resp = match (&asset.gzip, accepts_gzip) {
        (Some(gz), true) => {
            let mut r = gz.clone().into_response();
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        }
        _ => asset.plain.clone().into_response(),
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

//! Query-string parameters of the NGSI-LD API (§6.3.x), parsed once into the query model.

use std::collections::BTreeSet;

use jumeau_geo::GeoQuery;
use jumeau_model::context::Context;
use jumeau_model::ngsi::{Format, RenderOptions};
use jumeau_model::query::{EntityQuery, GeoFilter, QExpr, TypeExpr, DEFAULT_LIMIT, MAX_LIMIT};
use jumeau_model::NgsiError;
use regex::Regex;

/// Raw parameters, in order, as decoded from the query string.
#[derive(Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

/// The core GeoProperty compared by geo-queries unless `geoproperty` names another.
pub const LOCATION: &str = "location";

impl Params {
    /// The value of a parameter given once (an error if given twice).
    pub fn get(&self, name: &str) -> Result<Option<&str>, NgsiError> {
        let mut it = self.0.iter().filter(|(k, _)| k == name);
        let first = it.next().map(|(_, v)| v.as_str());
        if it.next().is_some() {
            return Err(NgsiError::invalid(format!(
                "the parameter '{name}' is given more than once"
            )));
        }
        Ok(first)
    }

    /// A comma-separated list parameter.
    pub fn list(&self, name: &str) -> Result<Vec<String>, NgsiError> {
        Ok(self
            .get(name)?
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A non-negative integer parameter.
    pub fn usize(&self, name: &str) -> Result<Option<usize>, NgsiError> {
        self.get(name)?
            .map(|v| {
                v.parse::<usize>().map_err(|_| {
                    NgsiError::bad_data(format!(
                        "'{name}' must be a non-negative integer, not '{v}'"
                    ))
                })
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`).
    pub fn bool(&self, name: &str) -> Result<bool, NgsiError> {
        match self.get(name)? {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(NgsiError::bad_data(format!(
                "'{name}' must be true or false, not '{v}'"
            ))),
        }
    }

    /// The `options` values.
    pub fn options(&self) -> Result<BTreeSet<String>, NgsiError> {
        let opts: BTreeSet<String> = self.list("options")?.into_iter().collect();
        for o in &opts {
            if !matches!(
                o.as_str(),
                "keyValues"
                    | "simplified"
                    | "normalized"
                    | "concise"
                    | "sysAttrs"
                    | "count"
                    | "noOverwrite"
                    | "replace"
                    | "update"
            ) {
                return Err(NgsiError::bad_data(format!(
                    "'{o}' is not a known option; known: keyValues, concise, normalized, sysAttrs, noOverwrite, replace, update"
                )));
            }
        }
        Ok(opts)
    }

    /// How to render entities: options/format, sysAttrs, pick/omit/attrs projection.
    pub fn render_options(&self, ctx: &Context) -> Result<RenderOptions, NgsiError> {
        let opts = self.options()?;
        let mut format = if opts.contains("keyValues") || opts.contains("simplified") {
            Format::KeyValues
        } else if opts.contains("concise") {
            Format::Concise
        } else {
            Format::Normalized
        };
        if let Some(f) = self.get("format")? {
            format = match f {
                "keyValues" | "simplified" => Format::KeyValues,
                "concise" => Format::Concise,
                "normalized" => Format::Normalized,
                other => {
                    return Err(NgsiError::bad_data(format!(
                        "format '{other}' is unknown; use normalized, concise or simplified"
                    )))
                }
            };
        }
        let expand = |names: Vec<String>| -> BTreeSet<String> {
            names.iter().map(|n| ctx.expand(n)).collect()
        };
        let attrs = self.list("attrs")?;
        let pick = self.list("pick")?;
        let pick = match (attrs.is_empty(), pick.is_empty()) {
            (true, true) => None,
            (false, true) => Some(expand(attrs)),
            (true, false) => Some(expand(pick)),
            (false, false) => Some(expand(attrs).intersection(&expand(pick)).cloned().collect()),
        };
        Ok(RenderOptions {
            format,
            sys_attrs: opts.contains("sysAttrs"),
            pick,
            omit: expand(self.list("omit")?),
            lang: self.get("lang")?.map(String::from),
        })
    }

    /// The paging parameters (limit and offset) and count.
    pub fn paging(&self, q: &mut EntityQuery) -> Result<(), NgsiError> {
        q.limit = self.usize("limit")?.unwrap_or(DEFAULT_LIMIT);
        if q.limit > MAX_LIMIT {
            return Err(NgsiError::new(
                jumeau_model::ErrorKind::TooManyResults,
                format!(
                    "limit {} is above the maximum {MAX_LIMIT}; page with offset",
                    q.limit
                ),
            ));
        }
        q.offset = self.usize("offset")?.unwrap_or(0);
        q.count = self.bool("count")? || self.options()?.contains("count");
        if q.limit == 0 && !q.count {
            return Err(NgsiError::bad_data(
                "limit=0 is only meaningful with count=true",
            ));
        }
        Ok(())
    }

    /// Builds the entity query of GET /entities (and of temporal and batch queries).
    pub fn entity_query(&self, ctx: &Context) -> Result<EntityQuery, NgsiError> {
        let mut q = EntityQuery::default();
        let expand = |s: &str| ctx.expand(s);
        if let Some(t) = self.get("type")? {
            q.types = Some(TypeExpr::parse(t, &expand)?);
        }
        q.ids = self.list("id")?;
        for id in &q.ids {
            jumeau_model::entity::validate_uri(id).map_err(NgsiError::bad_data)?;
        }
        if let Some(p) = self.get("idPattern")? {
            q.id_pattern = Some(compile_pattern(p)?);
        }
        if let Some(s) = self.get("q")? {
            q.q = Some(QExpr::parse(s, &expand)?);
        }
        q.attrs = self.list("attrs")?.iter().map(|a| ctx.expand(a)).collect();
        q.geo = geo_filter(
            self.get("georel")?,
            self.get("geometry")?,
            self.get("coordinates")?,
            self.get("geoproperty")?,
            ctx,
        )?;
        self.paging(&mut q)?;
        let local = self.bool("local")?;
        if q.types.is_none()
            && q.ids.is_empty()
            && q.id_pattern.is_none()
            && q.q.is_none()
            && q.attrs.is_empty()
            && q.geo.is_none()
            && !local
        {
            return Err(NgsiError::bad_data(
                "a query needs at least one of type, id, idPattern, q, attrs or a geo-query (or local=true to list everything)",
            ));
        }
        Ok(q)
    }
}

/// Compiles an idPattern (a regular expression, limited in size).
pub fn compile_pattern(p: &str) -> Result<Regex, NgsiError> {
    regex::RegexBuilder::new(p)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            NgsiError::bad_data(format!(
                "idPattern '{p}' is not a valid regular expression: {e}"
            ))
        })
}

/// Builds a geo filter from its four parameters; all or none of the first three.
pub fn geo_filter(
    georel: Option<&str>,
    geometry: Option<&str>,
    coordinates: Option<&str>,
    geoproperty: Option<&str>,
    ctx: &Context,
) -> Result<Option<GeoFilter>, NgsiError> {
    match (georel, geometry, coordinates) {
        (None, None, None) => Ok(None),
        (Some(r), Some(g), Some(c)) => Ok(Some(GeoFilter {
            query: GeoQuery::parse(r, g, c)?,
            property: ctx.expand(geoproperty.unwrap_or(LOCATION)),
        })),
        _ => Err(NgsiError::bad_data(
            "a geo-query needs georel, geometry and coordinates together",
        )),
    }
}

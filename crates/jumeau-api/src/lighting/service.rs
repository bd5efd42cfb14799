//! The lighting service: reads and writes the twin, and calls `jumeau_lighting` for every
//! rule. Handlers only parse requests and render what this returns.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use jumeau_geo::Geometry;
use jumeau_lighting::compliance::check_commune;
use jumeau_lighting::control::{
    program_levels, Action, Actor, AuditLog, AuditRecord, ControlError, EmergencyArea,
    EmergencyManager, EmergencyOverride, Outcome, Target,
};
use jumeau_lighting::energy::{
    cabinet_loads, measured_by_month, monthly_report, simulate_year, Assignments, MeterReading,
    MonthlyEnergy, PowerModel, Tariff,
};
use jumeau_lighting::faults::{burning_by_day, check_load, from_controller_status, LampStatus};
use jumeau_lighting::import::{import_csv, import_geojson, Crs, ImportSettings, Rejection};
use jumeau_lighting::ngsi::iri;
use jumeau_lighting::schedule::{check_program, night_date, ProfilePoint};
use jumeau_lighting::solar::sun_times;
use jumeau_lighting::{Caps, ComplianceReport, Inventory, Program, Rules, Zone};
use jumeau_model::temporal::TemporalQuery;
use jumeau_model::{AttributeValue, ErrorKind, NgsiError};
use jumeau_store::WriteOp;
use jumeau_twin::Role;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::store::{self, AUDIT, EMERGENCY, PROGRAM, SETTINGS, ZONE};
use crate::problem::ApiError;
use crate::request::Meta;
use crate::App;

/// Result of the service.
pub(crate) type Result<T> = std::result::Result<T, ApiError>;

/// A tenant's lighting settings, kept as one `LightingSettings` entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Settings {
    /// The commune's name (or INSEE code) used in ids and reports; the tenant name if unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commune: Option<String>,
    /// The commune's boundary (Polygon or MultiPolygon, WGS84): imported points outside it
    /// are rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commune_boundary: Option<Geometry>,
    /// Price and emission factor of a kWh.
    pub tariff: Tariff,
    /// The caps of the arrêté of 27 December 2018 as this tenant applies them (general,
    /// then stricter ones per kind of protected zone).
    pub rules: Rules,
    /// Keys (by id) allowed to start an emergency override besides admin keys: those of the
    /// rescue services.
    pub emergency_key_ids: Vec<String>,
}

impl Default for Settings {
    /// The arrêté's caps, 0.25 €/kWh and 0.052 kgCO2e/kWh (orders of magnitude of a
    /// commune's 2024 supply contract and of the French mix: set the tenant's own figures).
    fn default() -> Self {
        Self {
            commune: None,
            commune_boundary: None,
            tariff: Tariff {
                eur_per_kwh: 0.25,
                kg_co2e_per_kwh: 0.052,
            },
            rules: Rules::default(),
            emergency_key_ids: Vec::new(),
        }
    }
}

/// A program and the armoires and groups it applies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProgramRecord {
    /// The program.
    #[serde(flatten)]
    pub program: Program,
    /// Where it applies.
    #[serde(default)]
    pub targets: Vec<Target>,
}

/// An audit record as stored, with the key that asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditEntry {
    /// The entity id.
    #[serde(default)]
    pub id: String,
    /// The API key id of the caller; `None` for the system (automatic revert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// An emergency override as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmergencyRecord {
    /// The entity id.
    #[serde(default)]
    pub id: String,
    /// The override number (in audit records).
    pub number: u64,
    /// The key that started it.
    pub actor: String,
    /// Why.
    pub why: String,
    /// The area: a polygon, or the centre of a circle.
    pub area: Geometry,
    /// The radius of a circle, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_m: Option<f64>,
    /// What it lit.
    pub targets: Vec<Target>,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it ends.
    pub until: DateTime<Utc>,
    /// `active`, then `ended`.
    pub status: String,
    /// When it was reverted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Targets that did not acknowledge the return to their program.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revert_errors: Vec<String>,
}

impl EmergencyRecord {
    fn as_override(&self) -> EmergencyOverride {
        EmergencyOverride {
            id: self.number,
            actor: self.actor.clone(),
            why: self.why.clone(),
            targets: self.targets.clone(),
            started: self.started,
            until: self.until,
        }
    }
}

/// A new entity id of a type: `urn:ngsi-ld:<type>:<UTC time>-<sequence>`, in time order.
fn new_id(ty: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "urn:ngsi-ld:{ty}:{}-{:09}",
        Utc::now().format("%Y%m%dT%H%M%S%6f"),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// The entity id of a record: a URN as given, else `urn:ngsi-ld:<type>:<name>`.
pub(crate) fn record_id(ty: &str, given: &str) -> String {
    if given.contains(':') {
        given.to_string()
    } else {
        format!("urn:ngsi-ld:{ty}:{given}")
    }
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError(NgsiError::bad_data(detail))
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError(NgsiError::not_found(format!(
        "{what} '{id}' does not exist in this tenant; list them with GET on the collection"
    )))
}

/// The time source of the lighting service.
fn now(app: &App) -> DateTime<Utc> {
    app.lighting.config.clock.now()
}

/// Today in the tenant's time zone.
fn today(app: &App, tz: Tz) -> NaiveDate {
    now(app).with_timezone(&tz).date_naive()
}

/// The tenant's time zone (Europe/Paris unless set).
async fn time_zone(app: &App, tenant: &str) -> Result<Tz> {
    Ok(app.twin.store.time_zone(tenant).await?)
}

fn settings_id(tenant: &str) -> String {
    format!("urn:ngsi-ld:{SETTINGS}:{tenant}")
}

/// The tenant's lighting settings (the defaults until some are saved).
pub(crate) async fn settings(app: &App, tenant: &str) -> Result<Settings> {
    Ok(
        store::record(app, tenant, SETTINGS, &settings_id(tenant), None)
            .await?
            .unwrap_or_default(),
    )
}

/// Saves the settings (admin only), after checking the boundary.
pub(crate) async fn save_settings(app: &App, tenant: &str, s: Settings) -> Result<Settings> {
    if let Some(b) = &s.commune_boundary {
        let b = Geometry::from_geojson(b.as_json())
            .map_err(|e| bad(format!("communeBoundary: {e}")))?;
        if !matches!(b.geometry_type(), "Polygon" | "MultiPolygon") {
            return Err(bad(
                "communeBoundary must be a Polygon or MultiPolygon in WGS84 (the commune's \
                 outline)",
            ));
        }
    }
    if !(s.tariff.eur_per_kwh >= 0.0 && s.tariff.kg_co2e_per_kwh >= 0.0) {
        return Err(bad(
            "tariff.eurPerKwh and tariff.kgCo2ePerKwh must be numbers of 0 or more",
        ));
    }
    let e = store::to_entity(&settings_id(tenant), SETTINGS, &s, None)?;
    store::put(app, tenant, vec![e]).await?;
    Ok(s)
}

fn commune_name(s: &Settings, tenant: &str) -> String {
    s.commune.clone().unwrap_or_else(|| tenant.to_string())
}

// ---------------------------------------------------------------------------------------
// Who asks

/// The caller as an actor of the control core: its key must cover the tenant; an editor
/// may operate, an admin or a key listed in `emergencyKeyIds` may start an emergency.
pub(crate) fn actor(app: &App, meta: &Meta, tenant: &str, s: &Settings) -> Result<Actor> {
    app.twin.auth.check_read(&meta.caller, tenant, false)?;
    let Some(p) = &meta.caller else {
        return Err(ApiError(NgsiError::new(
            ErrorKind::Unauthorized,
            "this request needs an API key: send 'Authorization: Bearer <key>'",
        )));
    };
    Ok(Actor {
        name: p.key_id.clone(),
        may_operate: p.role >= Role::Editor,
        may_override: p.role >= Role::Admin || s.emergency_key_ids.contains(&p.key_id),
    })
}

/// Writes the records of a request's audit log in the tenant.
async fn persist_audit(app: &App, tenant: &str, key_id: Option<&str>, log: &AuditLog) {
    let entries: Result<Vec<_>> = log
        .records()
        .into_iter()
        .map(|record| {
            let entry = AuditEntry {
                id: String::new(),
                key_id: key_id.map(str::to_string),
                record,
            };
            store::to_entity(&new_id(AUDIT), AUDIT, &entry, None)
        })
        .collect();
    let written = match entries {
        Ok(es) if es.is_empty() => Ok(()),
        Ok(es) => store::put(app, tenant, es).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        tracing::error!(
            "lighting: audit records of tenant {tenant} were not stored: {}",
            e.0
        );
    }
}

/// Records a refusal decided here (before the control core) in the audit log.
fn refuse(
    app: &App,
    log: &AuditLog,
    actor: &Actor,
    why: &str,
    target: Option<&Target>,
    action: String,
    reasons: Vec<String>,
) {
    log.push(AuditRecord {
        at: now(app),
        actor: actor.name.clone(),
        why: why.to_string(),
        target: target.cloned(),
        action,
        outcome: Outcome::Refused { reasons },
    });
}

/// A control error as an API error.
fn control_error(e: ControlError) -> ApiError {
    let kind = match &e {
        ControlError::NotAllowed { .. } => ErrorKind::Forbidden,
        _ => ErrorKind::BadRequestData,
    };
    ApiError(NgsiError::new(kind, e.to_string()))
}

/// One page of a tenant's audit log.
#[derive(Debug)]
pub(crate) struct AuditPage {
    /// The records of the page, newest first.
    pub records: Vec<AuditEntry>,
    /// How many records the tenant holds in all.
    pub total: usize,
}

/// The audit records of a tenant, newest first: `limit` of them after skipping `offset`.
///
/// The records are sorted by the instant of their decision, which is not the order of
/// their ids (those follow the time of writing), so every record is read to sort them; a
/// tenant's log grows by a few records per command, which keeps this cheap.
pub(crate) async fn audit(
    app: &App,
    tenant: &str,
    limit: usize,
    offset: usize,
) -> Result<AuditPage> {
    let mut all: Vec<AuditEntry> = store::records(app, tenant, AUDIT, None).await?;
    all.sort_by(|a, b| (b.record.at, &b.id).cmp(&(a.record.at, &a.id)));
    let total = all.len();
    let records = all.into_iter().skip(offset).take(limit).collect();
    Ok(AuditPage { records, total })
}

// ---------------------------------------------------------------------------------------
// Inventory and compliance

/// The file formats of an inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileFormat {
    /// CSV.
    Csv,
    /// GeoJSON FeatureCollection.
    GeoJson,
}

/// What an import did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportReport {
    /// Nothing was written.
    pub dry_run: bool,
    /// Points lumineux imported.
    pub imported: usize,
    /// Armoires written.
    pub cabinets: usize,
    /// Groups written.
    pub groups: usize,
    /// Rows rejected, each with every reason.
    pub rejected: Vec<Rejection>,
    /// Notes on the file (ignored columns).
    pub notes: Vec<String>,
}

/// Imports an inventory file into the tenant (unless `dry_run`): points lumineux,
/// armoires and groups are created or have their attributes updated; rejected rows are
/// reported and nothing of them is written.
///
/// Every row is checked before anything is written; the accepted rows then land all
/// together or not at all (see [`store::write_all_or_nothing`]): an import that fails
/// midway leaves the tenant as it was.
pub(crate) async fn import(
    app: &App,
    tenant: &str,
    format: FileFormat,
    crs: Crs,
    dry_run: bool,
    bytes: &[u8],
) -> Result<ImportReport> {
    import_via(app, &app.twin, tenant, format, crs, dry_run, bytes).await
}

/// [`import`], writing through `sink` (the twin, or a failing one in tests).
async fn import_via(
    app: &App,
    sink: &impl store::BatchSink,
    tenant: &str,
    format: FileFormat,
    crs: Crs,
    dry_run: bool,
    bytes: &[u8],
) -> Result<ImportReport> {
    let s = settings(app, tenant).await?;
    let tz = time_zone(app, tenant).await?;
    let mut is = ImportSettings::for_commune(&commune_name(&s, tenant));
    is.crs = crs;
    is.commune_boundary = s.commune_boundary.clone();
    is.today = Some(today(app, tz));
    let imported = match format {
        FileFormat::Csv => import_csv(bytes, &is),
        FileFormat::GeoJson => import_geojson(bytes, &is),
    }
    .map_err(|e| bad(e.to_string()))?;
    let inv = &imported.inventory;
    if !dry_run {
        let entities = inv
            .streetlights
            .iter()
            .map(|s| s.to_entity())
            .chain(inv.cabinets.iter().map(|c| c.to_entity()))
            .chain(inv.groups.iter().map(|g| g.to_entity()));
        let ops = entities
            .map(|entity| WriteOp::Upsert {
                entity,
                replace: false,
            })
            .collect();
        store::write_all_or_nothing(app, sink, tenant, ops).await?;
    }
    Ok(ImportReport {
        dry_run,
        imported: inv.streetlights.len(),
        cabinets: inv.cabinets.len(),
        groups: inv.groups.len(),
        rejected: imported.rejected,
        notes: imported.notes,
    })
}

/// The zones of a tenant.
pub(crate) async fn zones(app: &App, tenant: &str) -> Result<Vec<Zone>> {
    store::records(app, tenant, ZONE, Some("area")).await
}

/// The compliance report of the tenant's commune.
pub(crate) async fn compliance(app: &App, tenant: &str) -> Result<ComplianceReport> {
    let s = settings(app, tenant).await?;
    let tz = time_zone(app, tenant).await?;
    let loaded = store::inventory(app, tenant).await?;
    let zones = zones(app, tenant).await?;
    check_commune(
        &commune_name(&s, tenant),
        &loaded.inventory,
        &zones,
        &s.rules,
        today(app, tz),
    )
    .map_err(|e| bad(e.to_string()))
}

// ---------------------------------------------------------------------------------------
// Zones

/// Checks a zone (a valid Polygon or MultiPolygon, caps within range) and saves it.
pub(crate) async fn save_zone(app: &App, tenant: &str, mut zone: Zone) -> Result<Zone> {
    zone.id = record_id(ZONE, &zone.id);
    zone.area = Geometry::from_geojson(zone.area.as_json())
        .map_err(|e| bad(format!("zone {}: area: {e}", zone.id)))?;
    zone.shape().map_err(|e| bad(e.to_string()))?;
    if let Some(c) = &zone.caps {
        let pct = [
            c.max_ulr_rated_pct,
            c.max_ulr_installed_pct,
            c.min_code_flux_pct,
            c.max_level_pct,
        ];
        if pct.iter().flatten().any(|v| !(0.0..=100.0).contains(v)) {
            return Err(bad(format!(
                "zone {}: caps in % (ULR, code flux, level) must be between 0 and 100",
                zone.id
            )));
        }
        if c.max_colour_temperature_k
            .is_some_and(|k| !(1000.0..=10_000.0).contains(&k))
        {
            return Err(bad(format!(
                "zone {}: maxColourTemperatureK must be between 1000 and 10000 K",
                zone.id
            )));
        }
    }
    let e = store::to_entity(&zone.id, ZONE, &zone, Some("area"))?;
    store::put(app, tenant, vec![e]).await?;
    Ok(zone)
}

/// One zone.
pub(crate) async fn zone(app: &App, tenant: &str, id: &str) -> Result<Zone> {
    store::record(app, tenant, ZONE, &record_id(ZONE, id), Some("area"))
        .await?
        .ok_or_else(|| not_found("zone", id))
}

/// Deletes a zone or a program (`ty` is [`ZONE`] or [`PROGRAM`]) and audits it like the
/// other changes: who (key id), when, why, and what was deleted (for a program, the
/// armoires and groups that go back to dusk to dawn at full power). A key without the
/// editor role is refused, and the refusal is audited too; an absent record is a 404 and
/// leaves no audit record (nothing changed).
pub(crate) async fn delete(
    app: &App,
    meta: &Meta,
    tenant: &str,
    ty: &str,
    id: &str,
    why: &str,
) -> Result<()> {
    let s = settings(app, tenant).await?;
    let actor = actor(app, meta, tenant, &s)?;
    let id = record_id(ty, id);
    let what = if ty == ZONE {
        format!("suppression de la zone {id}")
    } else {
        format!("suppression du programme {id}")
    };
    let log = AuditLog::default();
    if !actor.may_operate {
        let reason = "rôle sans droit de modification : une clé editor ou admin est nécessaire";
        refuse(app, &log, &actor, why, None, what, vec![reason.into()]);
        persist_audit(app, tenant, Some(&actor.name), &log).await;
        return Err(ApiError(NgsiError::new(
            ErrorKind::Forbidden,
            format!(
                "key {} may not delete this {}: it needs the editor or admin role",
                actor.name,
                if ty == ZONE { "zone" } else { "program" }
            ),
        )));
    }
    let Some(existing) = app
        .twin
        .store
        .get(tenant, &id)
        .await?
        .filter(|e| e.has_type(&iri(ty)))
    else {
        return Err(not_found(ty, &id));
    };
    // A program's targets, so that the record says what goes back to full power.
    let targets: Vec<String> = if ty == PROGRAM {
        store::from_entity::<ProgramRecord>(&existing, None)
            .map(|r| r.targets.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    store::write(app, tenant, vec![WriteOp::Delete { id: id.clone() }]).await?;
    let action = if targets.is_empty() {
        what
    } else {
        format!(
            "{what} ({} : retour au plein feu du crépuscule à l'aube)",
            targets.join(", ")
        )
    };
    log.push(AuditRecord {
        at: now(app),
        actor: actor.name.clone(),
        why: why.to_string(),
        target: None,
        action,
        outcome: Outcome::Deleted { id },
    });
    persist_audit(app, tenant, Some(&actor.name), &log).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Programs

/// The programs of a tenant.
pub(crate) async fn programs(app: &App, tenant: &str) -> Result<Vec<ProgramRecord>> {
    store::records(app, tenant, PROGRAM, None).await
}

/// One program.
pub(crate) async fn program(app: &App, tenant: &str, id: &str) -> Result<ProgramRecord> {
    store::record(app, tenant, PROGRAM, &record_id(PROGRAM, id), None)
        .await?
        .ok_or_else(|| not_found("program", id))
}

/// Which program drives which armoire and group.
fn assignments(records: &[ProgramRecord]) -> Assignments {
    let mut a = Assignments::default();
    for r in records {
        for t in &r.targets {
            match t {
                Target::Cabinet(c) => a.by_cabinet.insert(c.clone(), r.program.id.clone()),
                Target::Group(g) => a.by_group.insert(g.clone(), r.program.id.clone()),
            };
        }
    }
    a
}

/// Whether the inventory knows a target.
fn known(inv: &Inventory, t: &Target) -> bool {
    match t {
        Target::Cabinet(id) => inv.cabinets.iter().any(|c| &c.id == id),
        Target::Group(id) => {
            inv.groups.iter().any(|g| &g.id == id)
                || inv
                    .streetlights
                    .iter()
                    .any(|s| s.group.as_ref() == Some(id))
        }
    }
}

/// The points lumineux a target drives, as (lon, lat).
fn points_of(inv: &Inventory, t: &Target) -> Vec<(f64, f64)> {
    inv.streetlights
        .iter()
        .filter(|s| match t {
            Target::Cabinet(id) => s.cabinet.as_ref() == Some(id),
            Target::Group(id) => s.group.as_ref() == Some(id),
        })
        .map(|s| (s.lon, s.lat))
        .collect()
}

/// The caps a program for `target` must respect: the general caps and those of every zone
/// holding one of its points lumineux (each checked, so the strictest rule decides).
fn caps_for_target(inv: &Inventory, zones: &[Zone], rules: &Rules, t: &Target) -> Vec<Caps> {
    let points = points_of(inv, t);
    let mut out = vec![rules.general_caps().clone()];
    for z in zones {
        let Ok(shape) = z.shape() else { continue };
        if points.iter().any(|&(lon, lat)| shape.contains(lon, lat)) {
            let caps = rules.caps_for(z);
            if !out.contains(&caps) {
                out.push(caps);
            }
        }
    }
    out
}

/// Every reason a program breaks the rules of the zones of its targets (no audit).
fn zone_problems(inv: &Inventory, zones: &[Zone], rules: &Rules, r: &ProgramRecord) -> Vec<String> {
    let mut reasons = BTreeSet::new();
    if let Err(e) = r.program.validate() {
        reasons.extend(e.reasons);
    }
    for t in &r.targets {
        for caps in caps_for_target(inv, zones, rules, t) {
            if let Err(e) = check_program(&r.program, &caps) {
                reasons.extend(e.reasons.into_iter().map(|x| format!("{t} : {x}")));
            }
        }
    }
    reasons.into_iter().collect()
}

/// Checks a program against the rules of the zones of its targets, and saves it only when
/// every check passes; every decision is audited. `why` is the reason the caller gives.
pub(crate) async fn save_program(
    app: &App,
    meta: &Meta,
    tenant: &str,
    mut record: ProgramRecord,
    why: &str,
) -> Result<ProgramRecord> {
    record.program.id = record_id(PROGRAM, &record.program.id);
    let s = settings(app, tenant).await?;
    let actor = actor(app, meta, tenant, &s)?;
    let (tracker, log) = app.lighting.tracker();
    let loaded = store::inventory(app, tenant).await?;
    let inv = &loaded.inventory;
    let zones = zones(app, tenant).await?;
    let others = programs(app, tenant).await?;
    let label = format!("programme {}", record.program.id);
    if !actor.may_operate {
        let reason = "rôle sans droit de commande : une clé editor ou admin est nécessaire";
        refuse(
            app,
            &log,
            &actor,
            why,
            None,
            label,
            vec![reason.to_string()],
        );
        persist_audit(app, tenant, Some(&actor.name), &log).await;
        return Err(ApiError(NgsiError::new(
            ErrorKind::Forbidden,
            format!(
                "key {} may not save programs: it needs the editor or admin role",
                actor.name
            ),
        )));
    }
    let mut refusals = Vec::new();
    if record.targets.is_empty() {
        refusals.push(
            "le programme ne s'applique à rien : donner targets, par exemple \
             [{\"kind\": \"cabinet\", \"id\": \"urn:ngsi-ld:StreetlightControlCabinet:...\"}]"
                .to_string(),
        );
    }
    for t in &record.targets {
        if !known(inv, t) {
            refusals.push(format!(
                "{t} n'existe pas dans l'inventaire : importer l'inventaire ou corriger la cible"
            ));
        }
        if let Some(o) = others
            .iter()
            .find(|o| o.program.id != record.program.id && o.targets.contains(t))
        {
            refusals.push(format!(
                "{t} suit déjà le programme {} : l'en retirer d'abord",
                o.program.id
            ));
        }
    }
    refusals.extend(zone_problems(inv, &zones, &s.rules, &record));
    if !refusals.is_empty() {
        refuse(app, &log, &actor, why, None, label, refusals.clone());
        persist_audit(app, tenant, Some(&actor.name), &log).await;
        return Err(bad(format!(
            "programme {} refusé, rien n'est appliqué : {}",
            record.program.id,
            refusals.join(" ; ")
        )));
    }
    for t in &record.targets {
        // Checked above against every zone; this records the acceptance per target.
        tracker
            .apply_program(&actor, why, t, &record.program, s.rules.general_caps())
            .map_err(control_error)?;
    }
    persist_audit(app, tenant, Some(&actor.name), &log).await;
    let e = store::to_entity(&record.program.id, PROGRAM, &record, None)?;
    store::put(app, tenant, vec![e]).await?;
    Ok(record)
}

/// What the schedule editor asks to preview.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PreviewRequest {
    /// The program, saved or not.
    pub program: Program,
    /// Where it would apply (for the position and the zone rules).
    #[serde(default)]
    pub targets: Vec<Target>,
    /// The night (local date of its evening); today by default.
    #[serde(default)]
    pub date: Option<NaiveDate>,
    /// Latitude, when no target gives the position.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Longitude, when no target gives the position.
    #[serde(default)]
    pub lon: Option<f64>,
    /// Minutes between points, 15 by default (1 to 60).
    #[serde(default)]
    pub step_min: Option<u32>,
}

/// The 24-hour preview of a program.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Preview {
    /// The night shown (local date of its evening).
    pub date: NaiveDate,
    /// The time zone of local times.
    pub time_zone: String,
    /// Where the sun times were computed.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Sunset of that evening.
    pub sunset: Option<DateTime<Utc>>,
    /// Sunrise of the next morning.
    pub sunrise: Option<DateTime<Utc>>,
    /// The light level, local noon to local noon.
    pub points: Vec<ProfilePoint>,
    /// Why the program would be refused (empty when it can be applied).
    pub problems: Vec<String>,
}

/// The position of a target: its armoire's, else its first point lumineux's.
fn position(inv: &Inventory, t: &Target) -> Option<(f64, f64)> {
    let cabinet = match t {
        Target::Cabinet(id) => Some(id.clone()),
        Target::Group(id) => inv
            .groups
            .iter()
            .find(|g| &g.id == id)
            .and_then(|g| g.cabinet.clone()),
    };
    cabinet
        .and_then(|c| inv.cabinets.iter().find(|x| x.id == c))
        .map(|c| (c.lat, c.lon))
        .or_else(|| points_of(inv, t).first().map(|&(lon, lat)| (lat, lon)))
}

/// Computes the 24-hour preview of a program, with the reasons it would be refused.
pub(crate) async fn preview(app: &App, tenant: &str, req: PreviewRequest) -> Result<Preview> {
    let tz = time_zone(app, tenant).await?;
    let loaded = store::inventory(app, tenant).await?;
    let inv = &loaded.inventory;
    let (lat, lon) = match (req.lat, req.lon) {
        (Some(lat), Some(lon)) => (lat, lon),
        _ => req
            .targets
            .iter()
            .find_map(|t| position(inv, t))
            .ok_or_else(|| {
                bad("give lat and lon, or targets that the inventory knows, to place the preview")
            })?,
    };
    if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
        return Err(bad(format!(
            "lat {lat} / lon {lon} is not a WGS84 position (latitude −90 to 90, longitude −180 to 180)"
        )));
    }
    let step = req.step_min.unwrap_or(15);
    if !(1..=60).contains(&step) {
        return Err(bad("stepMin must be between 1 and 60 minutes"));
    }
    let date = req.date.unwrap_or_else(|| night_date(now(app), tz));
    let s = settings(app, tenant).await?;
    let zones = zones(app, tenant).await?;
    let record = ProgramRecord {
        program: req.program,
        targets: req.targets,
    };
    let mut problems = zone_problems(inv, &zones, &s.rules, &record);
    if record.targets.is_empty() {
        if let Err(e) = check_program(&record.program, s.rules.general_caps()) {
            problems.extend(e.reasons);
        }
    }
    Ok(Preview {
        date,
        time_zone: tz.name().to_string(),
        lat,
        lon,
        sunset: sun_times(date, lat, lon, tz).sunset,
        sunrise: sun_times(date + Duration::days(1), lat, lon, tz).sunrise,
        points: record.program.profile(date, lat, lon, tz, step),
        problems,
    })
}

/// Sunrise and sunset of a local day at a place, in the tenant's time zone.
pub(crate) async fn sun(
    app: &App,
    tenant: &str,
    lat: f64,
    lon: f64,
    date: Option<NaiveDate>,
) -> Result<Value> {
    if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
        return Err(bad(format!(
            "lat {lat} / lon {lon} is not a WGS84 position (latitude −90 to 90, longitude −180 to 180)"
        )));
    }
    let tz = time_zone(app, tenant).await?;
    let date = date.unwrap_or_else(|| today(app, tz));
    let t = sun_times(date, lat, lon, tz);
    let local =
        |d: Option<DateTime<Utc>>| d.map(|d| d.with_timezone(&tz).format("%H:%M:%S").to_string());
    Ok(json!({
        "date": date,
        "lat": lat,
        "lon": lon,
        "timeZone": tz.name(),
        "sunrise": t.sunrise,
        "sunset": t.sunset,
        "sunriseLocal": local(t.sunrise),
        "sunsetLocal": local(t.sunset),
    }))
}

// ---------------------------------------------------------------------------------------
// Commands and emergencies

/// A command request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommandRequest {
    /// The armoire or group.
    pub target: Target,
    /// On, off, or a level.
    #[serde(flatten)]
    pub action: Action,
    /// Why (kept in the audit).
    pub why: String,
}

/// What became of a command.
pub(crate) enum CommandOutcome {
    /// Acknowledged: the acknowledgement and the attempts it took.
    Acknowledged(Value),
    /// Not acknowledged after every attempt: the detail.
    NotAcknowledged(String),
}

/// Sends a command through the driver until it is acknowledged (or the attempts run out),
/// and audits it.
pub(crate) async fn command(
    app: &App,
    meta: &Meta,
    tenant: &str,
    req: CommandRequest,
) -> Result<CommandOutcome> {
    let s = settings(app, tenant).await?;
    let actor = actor(app, meta, tenant, &s)?;
    let (tracker, log) = app.lighting.tracker();
    let loaded = store::inventory(app, tenant).await?;
    let label = req.action.label_fr();
    let refusal = if req.why.trim().is_empty() {
        Some(bad(
            "give why: the reason of the command, kept in the audit log",
        ))
    } else if actor.may_operate && !known(&loaded.inventory, &req.target) {
        Some(ApiError(NgsiError::not_found(format!(
            "{} is not in the inventory of this tenant; import it or check the id",
            req.target
        ))))
    } else {
        None
    };
    if let Some(err) = refusal {
        refuse(
            app,
            &log,
            &actor,
            &req.why,
            Some(&req.target),
            label,
            vec![err.0.detail.clone()],
        );
        persist_audit(app, tenant, Some(&actor.name), &log).await;
        return Err(err);
    }
    let result = tracker
        .execute(&actor, &req.why, req.target.clone(), req.action)
        .await;
    persist_audit(app, tenant, Some(&actor.name), &log).await;
    let attempts = log.records().iter().rev().find_map(|r| match r.outcome {
        Outcome::Acknowledged { attempts, .. } => Some(attempts),
        _ => None,
    });
    match result {
        Ok(ack) => Ok(CommandOutcome::Acknowledged(json!({
            "commandId": ack.command_id,
            "target": ack.target,
            "levelPct": ack.level_pct,
            "at": ack.at,
            "attempts": attempts,
        }))),
        Err(e @ ControlError::NotAcknowledged { .. }) => {
            Ok(CommandOutcome::NotAcknowledged(e.to_string()))
        }
        Err(e) => Err(control_error(e)),
    }
}

/// An emergency request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EmergencyRequest {
    /// A polygon, or a radius around a point.
    pub area: EmergencyArea,
    /// How long, in minutes (1 to 960).
    pub duration_min: i64,
    /// Why (kept in the audit).
    pub why: String,
}

/// Lights a zone at 100 % for a while (it reverts by itself), for an actor allowed to.
pub(crate) async fn start_emergency(
    app: &App,
    meta: &Meta,
    tenant: &str,
    req: EmergencyRequest,
) -> Result<EmergencyRecord> {
    let s = settings(app, tenant).await?;
    let actor = actor(app, meta, tenant, &s)?;
    let (tracker, log) = app.lighting.tracker();
    let invalid = match &req.area {
        EmergencyArea::Polygon { geometry } => Geometry::from_geojson(geometry.as_json())
            .err()
            .map(|e| format!("area.geometry : {e}")),
        EmergencyArea::Circle { .. } => None,
    };
    let invalid = invalid.or_else(|| {
        req.why
            .trim()
            .is_empty()
            .then(|| "give why: the reason of the emergency, kept in the audit log".to_string())
    });
    if let Some(reason) = invalid {
        if actor.may_override {
            refuse(
                app,
                &log,
                &actor,
                &req.why,
                None,
                "éclairage d'urgence".into(),
                vec![reason.clone()],
            );
            persist_audit(app, tenant, Some(&actor.name), &log).await;
            return Err(bad(reason));
        }
    }
    let loaded = store::inventory(app, tenant).await?;
    let manager = EmergencyManager::new(tracker);
    let started = manager
        .start(
            &actor,
            &req.why,
            &req.area,
            Duration::minutes(req.duration_min),
            &loaded.inventory,
        )
        .await;
    let o = match started {
        Ok(o) => o,
        Err(e) => {
            persist_audit(app, tenant, Some(&actor.name), &log).await;
            return Err(control_error(e));
        }
    };
    let (area, radius_m) = match &req.area {
        EmergencyArea::Polygon { geometry } => (geometry.clone(), None),
        EmergencyArea::Circle { lon, lat, radius_m } => (
            Geometry::point(*lon, *lat).map_err(|e| bad(format!("area: {e}")))?,
            Some(*radius_m),
        ),
    };
    let record = EmergencyRecord {
        id: format!("urn:ngsi-ld:{EMERGENCY}:{}", o.id),
        number: o.id,
        actor: o.actor,
        why: o.why,
        area,
        radius_m,
        targets: o.targets,
        started: o.started,
        until: o.until,
        status: "active".into(),
        ended_at: None,
        revert_errors: Vec::new(),
    };
    let e = store::to_entity(&record.id, EMERGENCY, &record, Some("area"));
    let saved = match e {
        Ok(e) => store::put(app, tenant, vec![e]).await,
        Err(err) => Err(err),
    };
    persist_audit(app, tenant, Some(&actor.name), &log).await;
    saved?;
    app.lighting.watch(tenant);
    Ok(record)
}

/// The emergency overrides of a tenant, newest first.
pub(crate) async fn emergencies(app: &App, tenant: &str) -> Result<Vec<EmergencyRecord>> {
    let mut all: Vec<EmergencyRecord> =
        store::records(app, tenant, EMERGENCY, Some("area")).await?;
    all.sort_by_key(|r| std::cmp::Reverse(r.started));
    Ok(all)
}

/// Puts the targets of ended overrides back to their programmed level (unless another
/// running override covers them) and marks the overrides ended.
pub(crate) async fn revert_ended(app: &App, tenant: &str) -> Result<()> {
    let active: Vec<EmergencyRecord> = emergencies(app, tenant)
        .await?
        .into_iter()
        .filter(|r| r.status == "active")
        .collect();
    let t = now(app);
    if !active.iter().any(|r| r.until <= t) {
        return Ok(());
    }
    let tz = time_zone(app, tenant).await?;
    let loaded = store::inventory(app, tenant).await?;
    let records = programs(app, tenant).await?;
    let list: Vec<Program> = records.iter().map(|r| r.program.clone()).collect();
    let level_of = program_levels(&loaded.inventory, &assignments(&records), &list, tz);
    let (tracker, log) = app.lighting.tracker();
    let manager = EmergencyManager::with_active(
        tracker,
        active.iter().map(EmergencyRecord::as_override).collect(),
    );
    let outcomes = manager.tick(level_of.as_ref()).await;
    let running: BTreeSet<u64> = manager.active().iter().map(|o| o.id).collect();
    let errors: Vec<String> = outcomes
        .iter()
        .filter_map(|(target, r)| r.as_ref().err().map(|e| format!("{target} : {e}")))
        .collect();
    let mut ended = Vec::new();
    for mut r in active.into_iter().filter(|r| !running.contains(&r.number)) {
        r.status = "ended".into();
        r.ended_at = Some(t);
        r.revert_errors = errors
            .iter()
            .filter(|e| r.targets.iter().any(|x| e.starts_with(&x.to_string())))
            .cloned()
            .collect();
        ended.push(store::to_entity(&r.id, EMERGENCY, &r, Some("area"))?);
    }
    persist_audit(app, tenant, None, &log).await;
    store::put(app, tenant, ended).await
}

// ---------------------------------------------------------------------------------------
// Energy and faults

/// The meter readings (`energyConsumed`, kWh) of armoires between two instants.
async fn meter_readings(
    app: &App,
    tenant: &str,
    ids: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    attr: &str,
) -> Result<BTreeMap<String, Vec<(DateTime<Utc>, Value)>>> {
    let query = TemporalQuery::from_params([
        ("timerel", "between".to_string()),
        ("timeAt", jumeau_model::time::format_datetime(&from)),
        ("endTimeAt", jumeau_model::time::format_datetime(&to)),
    ])?;
    let name = iri(attr);
    let history = app
        .twin
        .store
        .history(tenant, ids, Some(std::slice::from_ref(&name)), &query)
        .await?;
    let mut out: BTreeMap<String, Vec<(DateTime<Utc>, Value)>> = BTreeMap::new();
    for h in history {
        let series = out.entry(h.id.clone()).or_default();
        for a in h.attrs.iter().filter(|a| a.dataset_id.is_none()) {
            for i in &a.instances {
                if let (Some(at), AttributeValue::Property(v)) =
                    (i.attribute.observed_at, &i.attribute.value)
                {
                    series.push((at, v.clone()));
                }
            }
        }
    }
    Ok(out)
}

/// The energy report of a year: per armoire and month, and the monthly totals.
pub(crate) async fn energy(app: &App, tenant: &str, year: i32) -> Result<Value> {
    if !(2000..=2100).contains(&year) {
        return Err(bad(format!(
            "year {year}: give a year between 2000 and 2100"
        )));
    }
    let s = settings(app, tenant).await?;
    let tz = time_zone(app, tenant).await?;
    let loaded = store::inventory(app, tenant).await?;
    let records = programs(app, tenant).await?;
    let list: Vec<Program> = records.iter().map(|r| r.program.clone()).collect();
    let model = PowerModel::default();
    let loads = cabinet_loads(&loaded.inventory, &assignments(&records), &list, &model)
        .map_err(|e| bad(e.to_string()))?;
    let sims = simulate_year(year, &loads, &list, &model, tz).map_err(|e| bad(e.to_string()))?;
    let ids: Vec<String> = loads.iter().map(|l| l.cabinet.clone()).collect();
    let bound = |y: i32, days: i64| {
        NaiveDate::from_ymd_opt(y, 1, 1)
            .and_then(|d| (d + Duration::days(days)).and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc())
            .ok_or_else(|| bad(format!("year {year} cannot be computed")))
    };
    let readings = meter_readings(
        app,
        tenant,
        &ids,
        bound(year - 1, -2)?,
        bound(year + 1, 2)?,
        "energyConsumed",
    )
    .await?;
    let mut cabinets = Vec::new();
    let mut totals: Vec<BTreeMap<&str, f64>> = vec![BTreeMap::new(); 12];
    for sim in &sims {
        let series: Vec<MeterReading> = readings
            .get(&sim.cabinet)
            .map(|rs| {
                rs.iter()
                    .filter_map(|(at, v)| {
                        Some(MeterReading {
                            at: *at,
                            index_kwh: v.as_f64()?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let this =
            measured_by_month(&sim.cabinet, &series, year, tz).map_err(|e| bad(e.to_string()))?;
        let last = measured_by_month(&sim.cabinet, &series, year - 1, tz)
            .map_err(|e| bad(e.to_string()))?;
        let months: Vec<MonthlyEnergy> = monthly_report(sim, Some(&this), Some(&last), &s.tariff);
        for (m, line) in months.iter().enumerate() {
            let t = &mut totals[m];
            *t.entry("baselineKwh").or_default() += line.baseline.kwh;
            *t.entry("scheduledKwh").or_default() += line.scheduled.kwh;
            *t.entry("measuredKwh").or_default() += line.measured.map_or(0.0, |a| a.kwh);
            *t.entry("savingsKwh").or_default() += line.savings_vs_baseline.kwh;
            *t.entry("savingsEur").or_default() += line.savings_vs_baseline.eur;
            *t.entry("savingsKgCo2e").or_default() += line.savings_vs_baseline.kg_co2e;
            if let Some(ly) = line.savings_vs_last_year {
                *t.entry("savingsVsLastYearKwh").or_default() += ly.kwh;
            }
        }
        cabinets.push(json!({"cabinet": sim.cabinet, "months": months}));
    }
    let totals: Vec<Value> = totals
        .into_iter()
        .enumerate()
        .map(|(m, t)| {
            let mut v = json!(t);
            if let Some(o) = v.as_object_mut() {
                o.insert("month".into(), json!(m + 1));
            }
            v
        })
        .collect();
    Ok(json!({
        "year": year,
        "tariff": s.tariff,
        "timeZone": tz.name(),
        "cabinets": cabinets,
        "totals": totals,
    }))
}

/// A power sample: a number of watts, or per-phase watts (`{"R": .., "S": .., "T": ..}`).
fn watts(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Object(m) => Some(m.values().filter_map(Value::as_f64).sum()),
        _ => None,
    }
}

/// Faults of the tenant: lamp failures and silent controllers from the points lumineux'
/// `status`, and, from the armoires' `activePower` (W) of the last 24 hours, lights burning
/// by day and a load below what the programs command.
pub(crate) async fn faults(app: &App, tenant: &str) -> Result<Value> {
    let tz = time_zone(app, tenant).await?;
    let loaded = store::inventory(app, tenant).await?;
    let t = now(app);
    let statuses: Vec<(&str, LampStatus, DateTime<Utc>)> = loaded
        .statuses
        .iter()
        .filter_map(|(id, st)| {
            let s = match st.as_str() {
                "ok" | "working" => LampStatus::Ok,
                "defectiveLamp" | "brokenLantern" | "lampFailure" => LampStatus::LampFailure,
                "noCommunication" | "unreachable" => LampStatus::NoCommunication,
                _ => return None,
            };
            Some((id.as_str(), s, t))
        })
        .collect();
    let mut faults = from_controller_status(statuses);
    let records = programs(app, tenant).await?;
    let list: Vec<Program> = records.iter().map(|r| r.program.clone()).collect();
    let model = PowerModel::default();
    let loads = cabinet_loads(&loaded.inventory, &assignments(&records), &list, &model)
        .map_err(|e| bad(e.to_string()))?;
    let ids: Vec<String> = loads.iter().map(|l| l.cabinet.clone()).collect();
    let power =
        meter_readings(app, tenant, &ids, t - Duration::hours(24), t, "activePower").await?;
    for l in &loads {
        let samples: Vec<(DateTime<Utc>, f64)> = power
            .get(&l.cabinet)
            .map(|s| {
                s.iter()
                    .filter_map(|(at, v)| Some((*at, watts(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        faults.extend(burning_by_day(
            &l.cabinet, l.lat, l.lon, &samples, 50.0, 2.0,
        ));
        if let Some(&(at, w)) = samples.iter().max_by_key(|s| s.0) {
            let (expected, lit) = l.expected_power_w(&list, &model, at, tz);
            faults.extend(check_load(&l.cabinet, at, expected, w, lit, 20.0));
        }
    }
    let labelled: Vec<Value> = faults
        .iter()
        .map(|f| {
            let mut v = json!(f);
            if let Some(o) = v.as_object_mut() {
                o.insert("label".into(), json!(f.label_fr()));
            }
            v
        })
        .collect();
    Ok(json!({"checkedAt": t, "faults": labelled, "unreadable": loaded.unreadable}))
}

// ---------------------------------------------------------------------------------------
// The map

/// The points lumineux as a GeoJSON FeatureCollection with their programmed level now (or
/// 100 % under an emergency), their state and their worst compliance finding.
pub(crate) async fn map(app: &App, tenant: &str) -> Result<Value> {
    let s = settings(app, tenant).await?;
    let tz = time_zone(app, tenant).await?;
    let loaded = store::inventory(app, tenant).await?;
    let inv = &loaded.inventory;
    let records = programs(app, tenant).await?;
    let list: Vec<Program> = records.iter().map(|r| r.program.clone()).collect();
    let level_of = program_levels(inv, &assignments(&records), &list, tz);
    let t = now(app);
    let lit: BTreeSet<Target> = emergencies(app, tenant)
        .await?
        .into_iter()
        .filter(|r| r.status == "active" && r.until > t)
        .flat_map(|r| r.targets)
        .collect();
    let zones = zones(app, tenant).await?;
    let report = check_commune(
        &commune_name(&s, tenant),
        inv,
        &zones,
        &s.rules,
        today(app, tz),
    )
    .map_err(|e| bad(e.to_string()))?;
    let mut worst: BTreeMap<&str, jumeau_lighting::compliance::Severity> = BTreeMap::new();
    for f in &report.findings {
        let w = worst.entry(f.subject_id.as_str()).or_insert(f.severity);
        *w = (*w).min(f.severity);
    }
    let failed: BTreeSet<&str> = loaded
        .statuses
        .iter()
        .filter(|(_, st)| !matches!(st.as_str(), "ok" | "working"))
        .map(|(id, _)| id.as_str())
        .collect();
    let features: Vec<Value> = inv
        .streetlights
        .iter()
        .map(|sl| {
            let targets = [
                sl.group.clone().map(Target::Group),
                sl.cabinet.clone().map(Target::Cabinet),
            ];
            let emergency = targets.iter().flatten().any(|x| lit.contains(x));
            let level = if emergency {
                100.0
            } else {
                targets
                    .iter()
                    .flatten()
                    .next()
                    .map_or(0.0, |x| level_of(x, t))
            };
            let state = if failed.contains(sl.id.as_str()) {
                "fault"
            } else if emergency {
                "emergency"
            } else if level <= 0.0 {
                "off"
            } else if level < 100.0 {
                "dimmed"
            } else {
                "on"
            };
            let compliance = worst
                .get(sl.id.as_str())
                .map_or(json!("compliant"), |s| json!(s));
            json!({
                "type": "Feature",
                "id": sl.id,
                "geometry": {"type": "Point", "coordinates": [sl.lon, sl.lat]},
                "properties": {
                    "technology": sl.luminaire.technology,
                    "technologyLabel": sl.luminaire.technology.label_fr(),
                    "powerW": sl.luminaire.power_w,
                    "colourTemperatureK": sl.luminaire.colour_temperature_k,
                    "cabinet": sl.cabinet,
                    "group": sl.group,
                    "levelPct": level,
                    "state": state,
                    "compliance": compliance,
                },
            })
        })
        .collect();
    Ok(json!({"type": "FeatureCollection", "features": features}))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use jumeau_lighting::Streetlight;
    use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
    use jumeau_store::WriteOutcome;
    use jumeau_twin::Twin;

    use super::*;
    use crate::ApiConfig;

    const TENANT: &str = "essai";

    /// How the test sink breaks the second batch.
    #[derive(Clone, Copy)]
    enum Break {
        /// The whole batch is lost (the store went away).
        LoseBatch,
        /// The batch lands except its last operation, which is refused.
        RefuseLast,
    }

    /// The twin, except that the second batch fails as told.
    struct Failing {
        twin: Twin,
        calls: AtomicUsize,
        how: Break,
    }

    impl store::BatchSink for Failing {
        async fn write_batch(
            &self,
            tenant: &str,
            mut batch: Vec<WriteOp>,
        ) -> Result<Vec<std::result::Result<WriteOutcome, NgsiError>>> {
            if self.calls.fetch_add(1, Ordering::SeqCst) != 1 {
                return self.twin.write_batch(tenant, batch).await;
            }
            match self.how {
                Break::LoseBatch => Err(ApiError(NgsiError::new(
                    ErrorKind::ServiceUnavailable,
                    "the disk is full",
                ))),
                Break::RefuseLast => {
                    batch.pop();
                    let mut results = self.twin.write_batch(tenant, batch).await?;
                    results.push(Err(NgsiError::bad_data("refused on purpose")));
                    Ok(results)
                }
            }
        }
    }

    /// An inventory of `n` points lumineux of `power` W on 5 armoires and 7 groups.
    fn csv(n: usize, power: u32) -> String {
        let mut out =
            String::from("id;puissance;tcouleur;type_lampe;armoire;groupe;lon;lat;date_pose\n");
        for i in 1..=n {
            let (lon, lat) = (
                4.80 + (i % 100) as f64 * 1e-4,
                45.70 + (i / 100) as f64 * 1e-4,
            );
            out.push_str(&format!(
                "{i};{power};3000;LED;A{};G{};{lon:.5};{lat:.5};2021\n",
                i % 5,
                i % 7
            ));
        }
        out
    }

    async fn streetlights(app: &App) -> Vec<Streetlight> {
        store::list(app, TENANT, "Streetlight")
            .await
            .unwrap()
            .iter()
            .map(|e| Streetlight::from_entity(e).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn an_import_failing_after_its_first_batch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap();
        let twin = Twin::new(Arc::new(store));
        let app = App::new(twin.clone(), ApiConfig::default());
        // One point lumineux already there, which the failed imports would update.
        let before = csv(1, 35);
        let report = super::import(
            &app,
            TENANT,
            FileFormat::Csv,
            Crs::Wgs84,
            false,
            before.as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(report.imported, 1);
        let original = streetlights(&app).await;
        assert_eq!(original[0].luminaire.power_w, 35.0);

        // 1,200 points lumineux, 5 armoires, 7 groups: two batches; the second fails.
        let big = csv(1200, 50);
        for how in [Break::LoseBatch, Break::RefuseLast] {
            let sink = Failing {
                twin: twin.clone(),
                calls: AtomicUsize::new(0),
                how,
            };
            let err = import_via(
                &app,
                &sink,
                TENANT,
                FileFormat::Csv,
                Crs::Wgs84,
                false,
                big.as_bytes(),
            )
            .await
            .err()
            .unwrap_or_else(|| panic!("the import did not fail"));
            assert!(
                err.0.detail.contains("every change was undone"),
                "{}",
                err.0.detail
            );
            assert!(
                sink.calls.load(Ordering::SeqCst) > 2,
                "the undo went through the sink"
            );
            let left = streetlights(&app).await;
            assert_eq!(left.len(), 1, "only the point lumineux from before is left");
            assert_eq!(left[0], original[0], "and it is as it was");
            // The armoire and group of the point lumineux from before; none of the others.
            for ty in ["StreetlightControlCabinet", "StreetlightGroup"] {
                let n = store::list(&app, TENANT, ty).await.unwrap().len();
                assert_eq!(n, 1, "only the {ty} from before is left");
            }
        }

        // Without a failure, every row lands.
        let report = super::import(
            &app,
            TENANT,
            FileFormat::Csv,
            Crs::Wgs84,
            false,
            big.as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(report.imported, 1200);
        assert_eq!(streetlights(&app).await.len(), 1200);
    }
}

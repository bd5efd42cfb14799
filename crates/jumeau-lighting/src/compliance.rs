//! Compliance with the arrêté of 27 December 2018 on the prevention, reduction and limitation
//! of light nuisance (amended 29 May 2019 and 24 December 2019), per luminaire and per zone.
//!
//! Rules checked, with the article each finding cites:
//!
//! | rule | article | check |
//! |---|---|---|
//! | colour temperature | art. 3 II 3° (art. 4 in protected zones) | ≤ the zone cap (3000 K; stricter in protected zones) |
//! | rated ULR | art. 3 II 1° | < 1 % (0 near astronomical sites) |
//! | installed ULR | art. 3 II 1° | < 4 % |
//! | code flux CIE n°3 | art. 3 II | ≥ 95 % (figure to check on Légifrance, LEGIARTI000038748391) |
//! | DSFLI per zone | art. 3 II 4° | lm/m² below the cap of the category, in or out of built-up area |
//! | "boules" | art. 3 | > 50 % of the flux upward: to replace (deadline 1 January 2025) |
//! | mercury lamps | Regulation (EC) No 245/2009 | off the EU market since April 2015: to replace |
//! | missing data | art. 5 | ULR, code flux, colour temperature, power, flux, installation date kept per luminaire |
//!
//! Caps come from the [`Rules`] (data). A point lumineux takes the caps of the most protected
//! zone containing it (astronomical site, then protected natural area, then trame noire, then
//! any zone), or the general caps outside every zone. Findings on installations put in service
//! before 1 January 2020 (when the arrêté's prescriptions started to apply to new
//! installations) are marked "à mettre en conformité" rather than "non conforme".
use std::fmt::Write as _;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::inventory::{Inventory, LightingCategory, Streetlight, Technology};
use crate::zone::{Caps, Protection, Rules, Shape, Zone, ZoneError};

/// A rule of the compliance check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Rule {
    /// Colour temperature above the cap.
    ColourTemperature,
    /// Rated ULR not below the cap.
    UlrRated,
    /// Installed ULR not below the cap.
    UlrInstalled,
    /// Code flux below the minimum.
    CodeFlux,
    /// Installed flux per surface above the cap, per zone.
    Dsfli,
    /// A "boule" sending more than half its flux upward.
    Globe,
    /// A mercury vapour lamp.
    Mercury,
    /// Data the operator must keep is missing.
    MissingData,
}

impl Rule {
    /// The French label.
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::ColourTemperature => "température de couleur",
            Self::UlrRated => "ULR assigné du luminaire",
            Self::UlrInstalled => "ULR en situation d'installation",
            Self::CodeFlux => "code flux CIE n°3",
            Self::Dsfli => "densité surfacique de flux lumineux installé (DSFLI)",
            Self::Globe => "luminaire boule à remplacer",
            Self::Mercury => "lampe à vapeur de mercure à remplacer",
            Self::MissingData => "informations à tenir à jour",
        }
    }

    /// The article the rule comes from.
    pub fn article(self, protection: Protection) -> &'static str {
        match self {
            Self::ColourTemperature if protection != Protection::None => {
                "arrêté du 27 décembre 2018, art. 3 II 3° et art. 4"
            }
            Self::ColourTemperature => "arrêté du 27 décembre 2018, art. 3 II 3°",
            Self::UlrRated | Self::UlrInstalled => "arrêté du 27 décembre 2018, art. 3 II 1°",
            Self::CodeFlux => "arrêté du 27 décembre 2018, art. 3 II (code flux CIE n°3)",
            Self::Dsfli => "arrêté du 27 décembre 2018, art. 3 II 4°",
            Self::Globe => {
                "arrêté du 27 décembre 2018, art. 3 (remplacement avant le 1er janvier 2025)"
            }
            Self::Mercury => {
                "règlement (CE) n° 245/2009 (écoconception), retrait du marché en avril 2015"
            }
            Self::MissingData => "arrêté du 27 décembre 2018, art. 5",
        }
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Breaks a cap that applies to it.
    NonCompliant,
    /// Installed before 2020: to bring into line when renewed.
    Upgrade,
    /// To replace (boules, mercury).
    Replace,
    /// Data missing from the register.
    MissingData,
}

impl Severity {
    /// The French label.
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::NonCompliant => "non conforme",
            Self::Upgrade => "à mettre en conformité",
            Self::Replace => "à remplacer",
            Self::MissingData => "à compléter",
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Subject {
    /// A point lumineux.
    Streetlight,
    /// A zone.
    Zone,
}

impl Subject {
    /// The French label.
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::Streetlight => "point lumineux",
            Self::Zone => "zone",
        }
    }
}

/// One finding of the compliance check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// What it is about.
    pub subject: Subject,
    /// The point lumineux or zone id.
    pub subject_id: String,
    /// The rule.
    pub rule: Rule,
    /// The rule's French label.
    pub rule_label: String,
    /// The article the rule comes from.
    pub article: String,
    /// How serious it is.
    pub severity: Severity,
    /// The severity's French label.
    pub severity_label: String,
    /// The value found, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured: Option<f64>,
    /// The cap or minimum, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    /// The unit of `measured` and `limit` (`K`, `%`, `lm/m²`).
    pub unit: String,
    /// The finding in French, for the person who acts on it.
    pub message: String,
}

/// The compliance report of a commune.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceReport {
    /// The commune (name or INSEE code).
    pub commune: String,
    /// The date of the check.
    pub checked_on: NaiveDate,
    /// Points lumineux checked.
    pub streetlights_checked: usize,
    /// Zones checked.
    pub zones_checked: usize,
    /// Points lumineux without any finding but missing data.
    pub streetlights_compliant: usize,
    /// The findings, points lumineux first, in inventory order.
    pub findings: Vec<Finding>,
}

/// The CSV header of [`ComplianceReport::to_csv`].
const CSV_HEADER: [&str; 9] = [
    "objet",
    "identifiant",
    "règle",
    "article",
    "gravité",
    "valeur constatée",
    "limite",
    "unité",
    "constat",
];

impl ComplianceReport {
    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The findings as CSV with French headers, `;`-separated and decimal commas, as French
    /// spreadsheets expect.
    pub fn to_csv(&self) -> String {
        let mut w = csv::WriterBuilder::new()
            .delimiter(b';')
            .from_writer(Vec::new());
        let num = |v: Option<f64>| {
            v.map(|v| {
                let mut s = String::new();
                let _ = write!(s, "{}", (v * 100.0).round() / 100.0);
                s.replace('.', ",")
            })
            .unwrap_or_default()
        };
        let mut rows: Vec<Vec<String>> = vec![CSV_HEADER.iter().map(|h| h.to_string()).collect()];
        for f in &self.findings {
            rows.push(vec![
                f.subject.label_fr().to_string(),
                f.subject_id.clone(),
                f.rule_label.clone(),
                f.article.clone(),
                f.severity_label.clone(),
                num(f.measured),
                num(f.limit),
                f.unit.clone(),
                f.message.clone(),
            ]);
        }
        for r in rows {
            // Writing to a Vec cannot fail.
            let _ = w.write_record(&r);
        }
        w.into_inner()
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default()
    }
}

/// A zone ready for checks.
struct CheckedZone<'a> {
    zone: &'a Zone,
    shape: Shape,
    caps: Caps,
}

/// How protected a zone is, to pick the strictest of overlapping zones.
fn protection_rank(p: Protection) -> u8 {
    match p {
        Protection::AstronomicalSite => 3,
        Protection::ProtectedNaturalArea => 2,
        Protection::DarkCorridor => 1,
        Protection::None => 0,
    }
}

/// Builds findings for one subject.
struct Findings<'a> {
    out: &'a mut Vec<Finding>,
    subject: Subject,
    id: &'a str,
    protection: Protection,
    severity: Severity,
}

impl Findings<'_> {
    fn push(
        &mut self,
        rule: Rule,
        severity: Severity,
        measured: Option<f64>,
        limit: Option<f64>,
        unit: &str,
        message: String,
    ) {
        self.out.push(Finding {
            subject: self.subject,
            subject_id: self.id.to_string(),
            rule,
            rule_label: rule.label_fr().to_string(),
            article: rule.article(self.protection).to_string(),
            severity,
            severity_label: severity.label_fr().to_string(),
            measured,
            limit,
            unit: unit.to_string(),
            message,
        });
    }

    /// A cap broken, with this subject's default severity.
    fn cap(&mut self, rule: Rule, measured: f64, limit: f64, unit: &str, message: String) {
        let severity = self.severity;
        self.push(rule, severity, Some(measured), Some(limit), unit, message);
    }
}

/// Whether `value` breaks a "strictly below" cap (a cap of 0 means "exactly 0").
fn breaks_strict(value: f64, cap: f64) -> bool {
    if cap <= 0.0 {
        value > 0.0
    } else {
        value >= cap
    }
}

/// Checks a commune's inventory and zones against the rules, on `today`.
///
/// Refuses zones whose area is not a polygon or cannot be measured.
pub fn check_commune(
    commune: &str,
    inventory: &Inventory,
    zones: &[Zone],
    rules: &Rules,
    today: NaiveDate,
) -> Result<ComplianceReport, ZoneError> {
    let checked: Vec<CheckedZone> = zones
        .iter()
        .map(|z| {
            Ok(CheckedZone {
                zone: z,
                shape: z.shape()?,
                caps: rules.caps_for(z),
            })
        })
        .collect::<Result<_, ZoneError>>()?;
    let mut findings = Vec::new();
    let mut compliant = 0;
    let since = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or(NaiveDate::MIN);
    for s in &inventory.streetlights {
        let zone = checked
            .iter()
            .filter(|z| z.shape.contains(s.lon, s.lat))
            .max_by_key(|z| protection_rank(z.zone.protection));
        let (caps, protection) = zone.map_or((rules.general_caps(), Protection::None), |z| {
            (&z.caps, z.zone.protection)
        });
        let severity = match s.installed_on {
            Some(d) if d < since => Severity::Upgrade,
            _ => Severity::NonCompliant,
        };
        let before = findings.len();
        let mut f = Findings {
            out: &mut findings,
            subject: Subject::Streetlight,
            id: &s.id,
            protection,
            severity,
        };
        check_streetlight(&mut f, s, caps, today);
        let only_missing = findings[before..]
            .iter()
            .all(|f| f.rule == Rule::MissingData);
        if only_missing {
            compliant += 1;
        }
    }
    for z in &checked {
        check_dsfli(&mut findings, z, inventory);
    }
    Ok(ComplianceReport {
        commune: commune.to_string(),
        checked_on: today,
        streetlights_checked: inventory.streetlights.len(),
        zones_checked: zones.len(),
        streetlights_compliant: compliant,
        findings,
    })
}

/// The per-luminaire rules.
fn check_streetlight(f: &mut Findings, s: &Streetlight, caps: &Caps, today: NaiveDate) {
    let l = &s.luminaire;
    if let Some(k) = l.colour_temperature_k {
        if k > caps.max_colour_temperature_k {
            f.cap(
                Rule::ColourTemperature,
                k,
                caps.max_colour_temperature_k,
                "K",
                format!(
                    "température de couleur de {k} K, au-dessus du plafond de {} K",
                    caps.max_colour_temperature_k
                ),
            );
        }
    }
    if let Some(u) = l.ulr_rated_pct {
        if breaks_strict(u, caps.max_ulr_rated_pct) {
            f.cap(
                Rule::UlrRated,
                u,
                caps.max_ulr_rated_pct,
                "%",
                format!(
                    "ULR assigné de {u} %, il doit être inférieur à {} %",
                    caps.max_ulr_rated_pct
                ),
            );
        }
    }
    if let Some(u) = l.ulr_installed_pct {
        if breaks_strict(u, caps.max_ulr_installed_pct) {
            f.cap(
                Rule::UlrInstalled,
                u,
                caps.max_ulr_installed_pct,
                "%",
                format!(
                    "ULR sur site de {u} %, il doit être inférieur à {} % (vérifier l'inclinaison du luminaire)",
                    caps.max_ulr_installed_pct
                ),
            );
        }
    }
    if let Some(c) = l.code_flux_pct {
        if c < caps.min_code_flux_pct {
            f.cap(
                Rule::CodeFlux,
                c,
                caps.min_code_flux_pct,
                "%",
                format!(
                    "code flux CIE n°3 de {c} %, le minimum est {} %",
                    caps.min_code_flux_pct
                ),
            );
        }
    }
    let upward = l.ulr_rated_pct.or(l.ulr_installed_pct);
    let globe =
        l.technology == Technology::Globe || upward.is_some_and(|u| u > caps.globe_upward_pct);
    if globe {
        let deadline = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or(NaiveDate::MAX);
        let when = if today >= deadline {
            "l'échéance du 1er janvier 2025 est passée"
        } else {
            "avant le 1er janvier 2025"
        };
        f.push(
            Rule::Globe,
            Severity::Replace,
            upward,
            Some(caps.globe_upward_pct),
            "%",
            format!("luminaire de type boule émettant plus de {} % de son flux vers le haut : à remplacer, {when}", caps.globe_upward_pct),
        );
    }
    if l.technology == Technology::Mercury {
        f.push(
            Rule::Mercury,
            Severity::Replace,
            None,
            None,
            "",
            "lampe à vapeur de mercure, interdite à la vente depuis avril 2015 : à remplacer (une LED gradable divise la consommation par plus de deux)".into(),
        );
    }
    let mut missing = Vec::new();
    if l.colour_temperature_k.is_none() {
        missing.push("température de couleur");
    }
    if l.ulr_rated_pct.is_none() && l.ulr_installed_pct.is_none() {
        missing.push("ULR");
    }
    if l.code_flux_pct.is_none() {
        missing.push("code flux");
    }
    if l.flux_lm.is_none() {
        missing.push("flux lumineux");
    }
    if s.installed_on.is_none() {
        missing.push("date d'installation");
    }
    if !missing.is_empty() {
        f.push(
            Rule::MissingData,
            Severity::MissingData,
            None,
            None,
            "",
            format!("à renseigner dans le registre : {}", missing.join(", ")),
        );
    }
}

/// The DSFLI of a zone: the flux of the points lumineux inside over its area.
fn check_dsfli(out: &mut Vec<Finding>, z: &CheckedZone, inventory: &Inventory) {
    let area = z.shape.area_m2();
    if area <= 0.0 {
        return;
    }
    let inside: Vec<&Streetlight> = inventory
        .streetlights
        .iter()
        .filter(|s| z.shape.contains(s.lon, s.lat))
        .collect();
    let flux: f64 = inside.iter().filter_map(|s| s.luminaire.flux_lm).sum();
    let unknown = inside
        .iter()
        .filter(|s| s.luminaire.flux_lm.is_none())
        .count();
    let dsfli = flux / area;
    let cap = z.caps.dsfli.cap(z.zone.category, z.zone.built_up);
    if dsfli < cap {
        return;
    }
    let place = if z.zone.built_up {
        "en agglomération"
    } else {
        "hors agglomération"
    };
    let what = match z.zone.category {
        LightingCategory::Road => "voirie et espaces publics",
        LightingCategory::CarPark => "parking",
    };
    let mut message = format!(
        "zone « {} » ({what}, {place}) : {:.1} lm/m² installés sur {:.0} m², la limite est {cap} lm/m² (strictement inférieure)",
        z.zone.name, dsfli, area
    );
    if unknown > 0 {
        let _ = write!(
            message,
            " ; flux inconnu pour {unknown} point(s) lumineux, la densité réelle est plus élevée"
        );
    }
    let mut f = Findings {
        out,
        subject: Subject::Zone,
        id: &z.zone.id,
        protection: z.zone.protection,
        severity: Severity::NonCompliant,
    };
    f.cap(Rule::Dsfli, dsfli, cap, "lm/m²", message);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::inventory::Luminaire;
    use crate::zone::tests::square;

    fn lamp(
        id: &str,
        lon: f64,
        lat: f64,
        l: Luminaire,
        installed: Option<NaiveDate>,
    ) -> Streetlight {
        Streetlight {
            id: id.into(),
            lon,
            lat,
            luminaire: l,
            category: LightingCategory::Road,
            installed_on: installed,
            mast_height_m: Some(6.0),
            cabinet: None,
            circuit: None,
            group: None,
        }
    }

    fn full(
        tech: Technology,
        w: f64,
        k: f64,
        ulr: f64,
        ulr_site: f64,
        cf: f64,
        flux: f64,
    ) -> Luminaire {
        Luminaire {
            flux_lm: Some(flux),
            colour_temperature_k: Some(k),
            ulr_rated_pct: Some(ulr),
            ulr_installed_pct: Some(ulr_site),
            code_flux_pct: Some(cf),
            ..Luminaire::new(tech, w)
        }
    }

    #[test]
    fn a_commune_is_checked() {
        let d2021 = NaiveDate::from_ymd_opt(2021, 5, 1);
        let d2010 = NaiveDate::from_ymd_opt(2010, 5, 1);
        // A 100 m square reserve (protected: 2700 K) and a 100 m built-up square road zone.
        let reserve = Zone {
            id: "urn:zone:reserve".into(),
            name: "Réserve des Hauts".into(),
            area: square(4.0, 45.0, 100.0),
            built_up: false,
            category: LightingCategory::Road,
            protection: Protection::ProtectedNaturalArea,
            caps: None,
        };
        let centre = Zone {
            id: "urn:zone:centre".into(),
            name: "Centre".into(),
            area: square(4.01, 45.0, 100.0),
            built_up: true,
            category: LightingCategory::Road,
            protection: Protection::None,
            caps: None,
        };
        let inv = Inventory {
            streetlights: vec![
                // Fine LED in the centre (3000 K allowed there).
                lamp(
                    "ok",
                    4.0105,
                    45.0005,
                    full(Technology::Led, 30.0, 3000.0, 0.0, 1.0, 99.0, 3_000.0),
                    d2021,
                ),
                // 3000 K is too warm... too cold for the reserve; ULR 2 % rated, 5 % on site.
                lamp(
                    "hot",
                    4.0005,
                    45.0005,
                    full(Technology::Led, 30.0, 3000.0, 2.0, 5.0, 90.0, 3_000.0),
                    d2021,
                ),
                // An old boule with a mercury lamp, nothing known.
                lamp(
                    "boule",
                    4.0107,
                    45.0007,
                    Luminaire::new(Technology::Globe, 125.0),
                    d2010,
                ),
                lamp(
                    "hg",
                    4.02,
                    45.0,
                    Luminaire::new(Technology::Mercury, 125.0),
                    None,
                ),
                // Many LED in the centre: DSFLI.
                lamp(
                    "big",
                    4.0102,
                    45.0002,
                    full(Technology::Led, 200.0, 2700.0, 0.0, 0.5, 99.0, 340_000.0),
                    d2021,
                ),
            ],
            ..Inventory::default()
        };
        let report = check_commune(
            "Saint-Exemple",
            &inv,
            &[reserve, centre],
            &Rules::default(),
            NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
        )
        .unwrap();
        let rules_of = |id: &str| {
            report
                .findings
                .iter()
                .filter(|f| f.subject_id == id)
                .map(|f| f.rule)
                .collect::<Vec<_>>()
        };
        assert!(rules_of("ok").is_empty());
        assert_eq!(
            rules_of("hot"),
            vec![
                Rule::ColourTemperature,
                Rule::UlrRated,
                Rule::UlrInstalled,
                Rule::CodeFlux
            ]
        );
        let ct = report
            .findings
            .iter()
            .find(|f| f.subject_id == "hot")
            .unwrap();
        assert_eq!(ct.limit, Some(2700.0));
        assert!(ct.article.contains("art. 4"), "{}", ct.article);
        assert_eq!(rules_of("boule"), vec![Rule::Globe, Rule::MissingData]);
        assert!(report.findings.iter().any(|f| f.subject_id == "boule"
            && f.message
                .contains("échéance du 1er janvier 2025 est passée")));
        assert_eq!(rules_of("hg"), vec![Rule::Mercury, Rule::MissingData]);
        // DSFLI: (3,000 + 340,000 + 0 unknown) lm over ~10,000 m² ≈ 34 lm/m² < 35: fine...
        assert!(
            rules_of("urn:zone:centre").is_empty(),
            "{:?}",
            report.findings
        );
        assert_eq!(report.streetlights_compliant, 2);
        // ...but not with 20,000 lm more.
        let mut inv2 = inv.clone();
        inv2.streetlights.push(lamp(
            "more",
            4.0101,
            45.0001,
            full(Technology::Led, 20.0, 2700.0, 0.0, 0.5, 99.0, 20_000.0),
            d2021,
        ));
        let zones = [Zone {
            id: "urn:zone:centre".into(),
            name: "Centre".into(),
            area: square(4.01, 45.0, 100.0),
            built_up: true,
            category: LightingCategory::Road,
            protection: Protection::None,
            caps: None,
        }];
        let report = check_commune(
            "Saint-Exemple",
            &inv2,
            &zones,
            &Rules::default(),
            NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
        )
        .unwrap();
        let dsfli = report
            .findings
            .iter()
            .find(|f| f.rule == Rule::Dsfli)
            .unwrap();
        assert!(dsfli.measured.unwrap() > 35.0 && dsfli.limit == Some(35.0));
        assert!(
            dsfli.message.contains("flux inconnu pour 1 point(s)"),
            "{}",
            dsfli.message
        );

        // Serialisations.
        let json = report.to_json();
        assert_eq!(json["findings"][0]["ruleLabel"], "ULR assigné du luminaire");
        let csv = report.to_csv();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next().unwrap(),
            "objet;identifiant;règle;article;gravité;valeur constatée;limite;unité;constat"
        );
        assert!(csv.contains("zone;urn:zone:centre;densité surfacique de flux lumineux installé (DSFLI);arrêté du 27 décembre 2018, art. 3 II 4°;non conforme;"), "{csv}");
    }

    #[test]
    fn old_installations_are_to_upgrade() {
        let inv = Inventory {
            streetlights: vec![lamp(
                "old",
                4.0,
                45.0,
                full(
                    Technology::HighPressureSodium,
                    100.0,
                    2000.0,
                    3.0,
                    3.0,
                    97.0,
                    10_000.0,
                ),
                NaiveDate::from_ymd_opt(2015, 1, 1),
            )],
            ..Inventory::default()
        };
        let r = check_commune(
            "X",
            &inv,
            &[],
            &Rules::default(),
            NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        )
        .unwrap();
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].severity, Severity::Upgrade);
        assert_eq!(r.findings[0].severity_label, "à mettre en conformité");
    }
}

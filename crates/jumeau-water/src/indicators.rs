//! French regulatory performance indicators of drinking-water services (SISPEA, the
//! national observatory of water services, services.eaufrance.fr; published each year in
//! the RPQS, rapport annuel sur le prix et la qualité du service, arrêté du 2 mai 2007
//! modifié), and the "Grenelle" network-yield threshold of décret n° 2012-97 du 27 janvier
//! 2012 (article D. 213-48-14-1 du code de l'environnement).
//!
//! Volumes are over the reporting year in m³; the length is the network length without
//! service connections (branchements) at 31 December, in km.

use serde::{Deserialize, Serialize};

use crate::error::{Result, WaterError};

/// The yearly volumes and network length of a service (SISPEA definitions).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AnnualVolumes {
    /// V produit: volume produced by the service's own resources (m³).
    pub produced: f64,
    /// V importé: volume bought from other services (m³).
    pub imported: f64,
    /// V exporté: volume sold to other services (m³).
    pub exported: f64,
    /// V comptabilisé: metered consumption, domestic and non-domestic (m³).
    pub metered: f64,
    /// V consommé sans comptage: authorised unmetered use (fire fighting, street cleaning)
    /// (m³).
    pub unmetered: f64,
    /// V de service: the service's own use (flushing, tank cleaning) (m³).
    pub service: f64,
    /// L: network length without service connections at 31 December (km).
    pub length_km: f64,
}

/// Days in the reporting year, as the SISPEA formulas count them.
const DAYS: f64 = 365.0;

impl AnnualVolumes {
    /// Checks that volumes are finite and not negative, that the length is positive, and
    /// that the volumes add up: no more exported than put in, and no more authorised
    /// consumption than distributed (a service cannot bill more than it distributed).
    pub fn validate(&self) -> Result<()> {
        let named = [
            ("V produit", self.produced),
            ("V importé", self.imported),
            ("V exporté", self.exported),
            ("V comptabilisé", self.metered),
            ("V consommé sans comptage", self.unmetered),
            ("V de service", self.service),
        ];
        for (name, v) in named {
            if !v.is_finite() || v < 0.0 {
                return Err(WaterError::Indicator(format!(
                    "{name} = {v} m³: a volume must be a finite number ≥ 0"
                )));
            }
        }
        if !self.length_km.is_finite() || self.length_km <= 0.0 {
            return Err(WaterError::Indicator(format!(
                "network length {} km: it must be greater than 0 (linéaire de réseau hors branchements)",
                self.length_km
            )));
        }
        if self.exported > self.produced + self.imported + 1e-9 {
            return Err(WaterError::Indicator(format!(
                "the volumes do not add up: V exporté ({} m³) exceeds V produit + V importé ({} m³)",
                self.exported,
                self.produced + self.imported
            )));
        }
        if self.authorised() > self.distributed() + 1e-9 {
            return Err(WaterError::Indicator(format!(
                "the volumes do not add up: V consommé autorisé ({} m³ = comptabilisé {} + sans comptage {} + de service {}) exceeds V mis en distribution ({} m³ = produit + importé − exporté) by {} m³; check the meter readings and that billed volumes cover the same 12 months",
                self.authorised(),
                self.metered,
                self.unmetered,
                self.service,
                self.distributed(),
                self.authorised() - self.distributed()
            )));
        }
        if self.produced + self.imported <= 0.0 {
            return Err(WaterError::Indicator(
                "V produit + V importé is 0: the yield (rendement) is undefined without input volume"
                    .into(),
            ));
        }
        Ok(())
    }

    /// VMD, volume mis en distribution = produit + importé − exporté (m³).
    pub fn distributed(&self) -> f64 {
        self.produced + self.imported - self.exported
    }

    /// VCA, volume consommé autorisé = comptabilisé + sans comptage + de service (m³).
    pub fn authorised(&self) -> f64 {
        self.metered + self.unmetered + self.service
    }

    /// Computes every indicator.
    pub fn indicators(&self) -> Result<Indicators> {
        self.validate()?;
        let per_km_day = DAYS * self.length_km;
        Ok(Indicators {
            yield_percent: (self.authorised() + self.exported) / (self.produced + self.imported)
                * 100.0,
            unmetered_index: (self.distributed() - self.metered) / per_km_day,
            loss_index: (self.distributed() - self.authorised()) / per_km_day,
            consumption_index: (self.authorised() + self.exported) / per_km_day,
        })
    }
}

/// The SISPEA indicators of one year.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Indicators {
    /// P104.3 rendement du réseau de distribution (%) = (VCA + V exporté) / (V produit +
    /// V importé) × 100.
    pub yield_percent: f64,
    /// P105.3 indice linéaire des volumes non comptés, ILVNC (m³/km/j) = (VMD − V
    /// comptabilisé) / (365 × L).
    pub unmetered_index: f64,
    /// P106.3 indice linéaire de pertes en réseau, ILP (m³/km/j) = (VMD − VCA) / (365 × L).
    pub loss_index: f64,
    /// ILC, indice linéaire de consommation (m³/km/j) = (VCA + V exporté) / (365 × L).
    pub consumption_index: f64,
}

/// French labels of the indicators, for reports.
pub const LABELS: [(&str, &str); 4] = [
    ("P104.3", "Rendement du réseau de distribution (%)"),
    (
        "P105.3",
        "Indice linéaire des volumes non comptés (m³/km/j)",
    ),
    ("P106.3", "Indice linéaire de pertes en réseau (m³/km/j)"),
    ("ILC", "Indice linéaire de consommation (m³/km/j)"),
];

/// The verdict of the Grenelle threshold (décret 2012-97).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GrenelleCheck {
    /// The threshold that applies (%): 85, or 65 + ILC/5 (70 + ILC/5 in a ZRE) when lower.
    pub threshold_percent: f64,
    /// The yield (P104.3, %).
    pub yield_percent: f64,
    /// True when the yield reaches the threshold; otherwise the service must adopt an
    /// action plan (plan d'actions) or its water-agency fee is doubled.
    pub compliant: bool,
}

/// The Grenelle threshold: a yield of at least 85 %, or else at least 65 + ILC/5; where
/// more than 2 Mm³/yr are taken from a zone de répartition des eaux (ZRE) the fallback is
/// 70 + ILC/5 (décret n° 2012-97, art. D. 213-48-14-1 code de l'environnement).
pub fn grenelle_threshold(ind: &Indicators, in_zre: bool) -> GrenelleCheck {
    let base = if in_zre { 70.0 } else { 65.0 };
    let threshold = (base + ind.consumption_index / 5.0).min(85.0);
    GrenelleCheck {
        threshold_percent: threshold,
        yield_percent: ind.yield_percent,
        compliant: ind.yield_percent >= threshold - 1e-9,
    }
}

/// Largest coefficient of the network-performance fee (redevance pour la performance des
/// réseaux d'eau potable).
pub const FEE_COEFFICIENT_MAX: f64 = 0.55;

/// The coefficient of the network-performance fee (redevance pour la performance des
/// réseaux d'eau potable) due from 2025 (décret n° 2024-787, article D. 213-48-12-4 du
/// code de l'environnement): clamp(2.75 % × (rendement − 65), 0, 0.55) — 0 at a yield of
/// 65 % or less, the maximum 0.55 from 85 %; it modulates the fee in favour of services
/// with better networks. `yield_percent` is the service's weighted primary yield
/// (rendement primaire pondéré), here taken as P104.3.
pub fn fee_coefficient(yield_percent: f64) -> f64 {
    if !yield_percent.is_finite() {
        return 0.0;
    }
    (0.0275 * (yield_percent - 65.0)).clamp(0.0, FEE_COEFFICIENT_MAX)
}

/// Everything a service reports for a year: the volumes, the indicators, the Grenelle
/// verdict and the fee coefficient.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct YearReport {
    /// The volumes the indicators come from.
    pub volumes: AnnualVolumes,
    /// The SISPEA indicators.
    pub indicators: Indicators,
    /// The Grenelle threshold verdict.
    pub grenelle: GrenelleCheck,
    /// The network-performance fee coefficient ([`fee_coefficient`]).
    pub fee_coefficient: f64,
}

impl AnnualVolumes {
    /// The year's report; `in_zre` when more than 2 Mm³/yr are taken from a zone de
    /// répartition des eaux.
    pub fn report(&self, in_zre: bool) -> Result<YearReport> {
        let indicators = self.indicators()?;
        Ok(YearReport {
            volumes: *self,
            indicators,
            grenelle: grenelle_threshold(&indicators, in_zre),
            fee_coefficient: fee_coefficient(indicators.yield_percent),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Worked example, by hand: produced 1 000 000, imported 100 000, exported 50 000,
    /// metered 800 000, unmetered 10 000, service 5 000, L = 100 km.
    /// VMD = 1 050 000; VCA = 815 000.
    /// P104.3 = (815 000 + 50 000) / 1 100 000 × 100 = 78.636 363…%
    /// P105.3 = (1 050 000 − 800 000) / 36 500 = 6.849 315… m³/km/j
    /// P106.3 = (1 050 000 − 815 000) / 36 500 = 6.438 356… m³/km/j
    /// ILC = 865 000 / 36 500 = 23.698 630… m³/km/j
    /// Grenelle: 65 + 23.698 630/5 = 69.739 726 %; 78.64 ≥ 69.74 → compliant.
    /// In a ZRE: 74.739 726 % → still compliant.
    #[test]
    fn worked_example() {
        let v = AnnualVolumes {
            produced: 1_000_000.0,
            imported: 100_000.0,
            exported: 50_000.0,
            metered: 800_000.0,
            unmetered: 10_000.0,
            service: 5_000.0,
            length_km: 100.0,
        };
        assert!(close(v.distributed(), 1_050_000.0));
        assert!(close(v.authorised(), 815_000.0));
        let i = v.indicators().unwrap();
        assert!(close(i.yield_percent, 865_000.0 / 1_100_000.0 * 100.0));
        assert!((i.yield_percent - 78.636_363_6).abs() < 1e-6);
        assert!((i.unmetered_index - 6.849_315_07).abs() < 1e-6);
        assert!((i.loss_index - 6.438_356_16).abs() < 1e-6);
        assert!((i.consumption_index - 23.698_630_1).abs() < 1e-6);
        let g = grenelle_threshold(&i, false);
        assert!((g.threshold_percent - 69.739_726_0).abs() < 1e-6);
        assert!(g.compliant);
        let z = grenelle_threshold(&i, true);
        assert!((z.threshold_percent - 74.739_726_0).abs() < 1e-6);
        assert!(z.compliant);
    }

    /// A rural service with leaks: produced 200 000, metered 120 000, nothing else,
    /// L = 80 km. Yield = 60 %; ILC = 120 000 / 29 200 = 4.109 589; threshold 65.821 918 %
    /// → not compliant (action plan required).
    #[test]
    fn rural_service_below_threshold() {
        let v = AnnualVolumes {
            produced: 200_000.0,
            metered: 120_000.0,
            length_km: 80.0,
            ..Default::default()
        };
        let i = v.indicators().unwrap();
        assert!(close(i.yield_percent, 60.0));
        assert!(close(i.unmetered_index, i.loss_index));
        assert!((i.loss_index - 80_000.0 / 29_200.0).abs() < 1e-12);
        let g = grenelle_threshold(&i, false);
        assert!((g.threshold_percent - 65.821_917_8).abs() < 1e-6);
        assert!(!g.compliant);
    }

    /// A dense urban service: ILC above 100 caps the threshold at 85 %.
    #[test]
    fn dense_service_threshold_is_85() {
        let v = AnnualVolumes {
            produced: 10_000_000.0,
            metered: 8_600_000.0,
            length_km: 200.0,
            ..Default::default()
        };
        let i = v.indicators().unwrap();
        // ILC = 8 600 000 / 73 000 = 117.8 → 65 + 23.6 > 85.
        let g = grenelle_threshold(&i, false);
        assert!(close(g.threshold_percent, 85.0));
        assert!(g.compliant);
    }

    /// Fee coefficient: 0 at or below 65 %, 2.75 % per point above, 0.55 from 85 %.
    /// 78.636 % → 0.0275 × 13.636 = 0.375 (worked example above).
    #[test]
    fn fee_coefficient_examples() {
        assert_eq!(fee_coefficient(60.0), 0.0);
        assert_eq!(fee_coefficient(65.0), 0.0);
        assert!(close(fee_coefficient(75.0), 0.275));
        assert!(close(fee_coefficient(85.0), 0.55));
        assert_eq!(fee_coefficient(95.0), 0.55);
        let v = AnnualVolumes {
            produced: 1_000_000.0,
            imported: 100_000.0,
            exported: 50_000.0,
            metered: 800_000.0,
            unmetered: 10_000.0,
            service: 5_000.0,
            length_km: 100.0,
        };
        let r = v.report(false).unwrap();
        assert!((r.fee_coefficient - 0.0275 * (865.0 / 11.0 - 65.0)).abs() < 1e-9);
        assert!(r.grenelle.compliant);
    }

    /// Billed more than distributed: a clear error naming both volumes.
    #[test]
    fn volumes_that_do_not_add_up() {
        let v = AnnualVolumes {
            produced: 100_000.0,
            metered: 120_000.0,
            length_km: 10.0,
            ..Default::default()
        };
        let e = v.indicators().unwrap_err().to_string();
        assert!(e.contains("do not add up") && e.contains("20000 m³"), "{e}");
        let v = AnnualVolumes {
            produced: 100.0,
            exported: 200.0,
            length_km: 10.0,
            ..Default::default()
        };
        assert!(v
            .indicators()
            .unwrap_err()
            .to_string()
            .contains("V exporté"));
    }

    #[test]
    fn refuses_bad_inputs() {
        let e = AnnualVolumes::default()
            .indicators()
            .unwrap_err()
            .to_string();
        assert!(e.contains("length"), "{e}");
        let v = AnnualVolumes {
            produced: -1.0,
            length_km: 1.0,
            ..Default::default()
        };
        assert!(v
            .indicators()
            .unwrap_err()
            .to_string()
            .contains("V produit"));
        let v = AnnualVolumes {
            length_km: 1.0,
            ..Default::default()
        };
        assert!(v.indicators().is_err());
    }
}

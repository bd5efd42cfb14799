//! Public lighting (éclairage public) for the Jumeau territorial twin.
//!
//! Public lighting is about 41 % of French communes' electricity (Enedis). This crate holds
//! the domain rules and computations, as plain types the API and the web view call; it never
//! touches HTTP servers or SQL:
//!
//! * [`inventory`]: points lumineux (`Streetlight`), armoires (`StreetlightControlCabinet`)
//!   and groups (`StreetlightGroup`), and their luminaires; [`ngsi`] converts them to and from
//!   NGSI-LD entities named with the Smart Data Models Streetlighting vocabulary.
//! * [`import`]: the CSV and GeoJSON files communes publish, with French column names, and a
//!   validation report listing every rejected row and why.
//! * [`zone`] and [`compliance`]: the arrêté of 27 December 2018 on light nuisance (colour
//!   temperature, ULR, code flux, DSFLI, luminaires to replace), with the caps held as
//!   editable data, and a per-commune compliance report (JSON and CSV, French labels).
//! * [`solar`]: the astronomical clock (NOAA equations after Meeus), per local day.
//! * [`schedule`]: lighting programs (dusk/dawn offsets, dimming steps, switch-off windows,
//!   presence boost, dated exceptions), the light level at any instant, a 24-hour profile, and
//!   the check of a program against its zone's rules.
//! * [`energy`] and [`faults`]: baseline, scheduled and measured consumption per armoire and
//!   month in kWh, € and kgCO2e; lamp failures and lights burning by day.
//! * [`control`]: the remote-control core: the [`control::LightingDriver`] trait, a TALQ-style
//!   HTTP driver, a simulated armoire, a retrying command tracker with audit records, and the
//!   emergency override that lights a zone at 100 % and reverts by itself.
//!
//! # Example
//!
//! ```
//! use jumeau_lighting::compliance::check_commune;
//! use jumeau_lighting::import::{import_csv, ImportSettings};
//! use jumeau_lighting::schedule::{check_program, DimStep, NightPlan, Program, TimeWindow};
//! use jumeau_lighting::{Rules, PARIS};
//!
//! let csv = "id;puissance;tcouleur;type_lampe;armoire;lon;lat\n\
//!            1;35;4000;LED;A1;4,85;45,76\n\
//!            2;0;3000;LED;A1;4,85;45,76\n";
//! let imported = import_csv(csv.as_bytes(), &ImportSettings::for_commune("Exemple")).unwrap();
//! assert_eq!(imported.inventory.streetlights.len(), 1);
//! assert!(imported.rejected[0].reasons[0].contains("0 W"));
//!
//! let today = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
//! let report = check_commune("Exemple", &imported.inventory, &[], &Rules::default(), today).unwrap();
//! assert!(report.to_csv().contains("4000 K, au-dessus du plafond de 3000 K"));
//!
//! let program = Program {
//!     plan: NightPlan {
//!         initial_level_pct: 100.0,
//!         steps: vec![DimStep { at: chrono::NaiveTime::from_hms_opt(22, 0, 0).unwrap(), level_pct: 50.0 }],
//!         switch_off: vec![TimeWindow::hm((0, 0), (5, 0)).unwrap()],
//!     },
//!     ..Program::dusk_to_dawn("eco")
//! };
//! assert!(check_program(&program, &Rules::default().general).is_ok());
//! let chart = program.profile(today, 45.76, 4.85, PARIS, 15);
//! assert_eq!(chart.len(), 96);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compliance;
pub mod control;
pub mod energy;
pub mod faults;
pub mod import;
pub mod inventory;
pub mod ngsi;
pub mod schedule;
pub mod solar;
mod text;
pub mod zone;

pub use compliance::{ComplianceReport, Finding, Rule};
pub use inventory::{
    Cabinet, Group, Inventory, LightingCategory, Luminaire, Streetlight, Technology,
};
pub use schedule::{Program, TimeWindow};
pub use zone::{Caps, Rules, Zone};

/// The time zone of every local day in metropolitan France, used when a caller gives none.
pub const PARIS: chrono_tz::Tz = chrono_tz::Europe::Paris;

//! EPANET `.inp` files: reading into plain network types and writing them back.
//!
//! The format is the one of the EPANET 2.2 user manual (Rossman et al., EPA/600/R-20/133,
//! appendix C "Input file format"): sections in brackets, one record per line, fields
//! separated by white space, `;` starting a comment. The sections a digital twin needs are
//! typed ([`Network`]); every other section (`[CONTROLS]`, `[RULES]`, `[ENERGY]`...) is kept
//! verbatim in [`Network::other_sections`] so that writing the network back loses nothing
//! the solver uses. Comments are not kept.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::{Result, WaterError};

/// A junction: a node where water is consumed (`[JUNCTIONS]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Junction {
    /// The EPANET id.
    pub id: String,
    /// Elevation (m or ft, per the flow units).
    pub elevation: f64,
    /// Base demand given on the junction line (flow units); `[DEMANDS]` replaces it when
    /// that section lists the junction.
    pub demand: f64,
    /// Demand pattern id, if any (else the default pattern applies).
    pub pattern: Option<String>,
}

/// A reservoir: a fixed-head source (`[RESERVOIRS]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservoir {
    /// The EPANET id.
    pub id: String,
    /// Total head (m or ft).
    pub head: f64,
    /// Head pattern id, if any.
    pub pattern: Option<String>,
}

/// A storage tank (`[TANKS]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tank {
    /// The EPANET id.
    pub id: String,
    /// Bottom elevation.
    pub elevation: f64,
    /// Initial water level above the bottom.
    pub init_level: f64,
    /// Minimum level.
    pub min_level: f64,
    /// Maximum level.
    pub max_level: f64,
    /// Nominal diameter.
    pub diameter: f64,
    /// Minimum volume.
    pub min_volume: f64,
    /// Volume curve id (`*` or absent for a cylinder), and further fields, verbatim.
    pub extra: Vec<String>,
}

/// The initial status of a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipeStatus {
    /// Open.
    Open,
    /// Closed.
    Closed,
    /// Open with a check valve (flow only from node 1 to node 2).
    CheckValve,
}

impl PipeStatus {
    /// The keyword of the `.inp` format.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::Closed => "Closed",
            Self::CheckValve => "CV",
        }
    }
}

/// A pipe (`[PIPES]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipe {
    /// The EPANET id.
    pub id: String,
    /// Start node id.
    pub node1: String,
    /// End node id.
    pub node2: String,
    /// Length (m or ft).
    pub length: f64,
    /// Diameter (mm or inches).
    pub diameter: f64,
    /// Roughness coefficient (unit per the head-loss formula).
    pub roughness: f64,
    /// Minor loss coefficient.
    pub minor_loss: f64,
    /// Initial status.
    pub status: PipeStatus,
}

/// A pump (`[PUMPS]`): its keyword/value properties (`HEAD 1`, `POWER 50`, `SPEED 1.2`,
/// `PATTERN p`) kept in order, keywords upper-cased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pump {
    /// The EPANET id.
    pub id: String,
    /// Start node id.
    pub node1: String,
    /// End node id.
    pub node2: String,
    /// Keyword/value pairs.
    pub properties: Vec<(String, String)>,
}

impl Pump {
    /// The value of a property keyword (`HEAD`, `POWER`, `SPEED`, `PATTERN`).
    pub fn property(&self, keyword: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .map(|(_, v)| v.as_str())
    }
}

/// A valve (`[VALVES]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Valve {
    /// The EPANET id.
    pub id: String,
    /// Start node id.
    pub node1: String,
    /// End node id.
    pub node2: String,
    /// Diameter.
    pub diameter: f64,
    /// Valve type keyword: PRV, PSV, PBV, FCV, TCV, GPV or PCV, upper-cased.
    pub kind: String,
    /// Setting: a number, or a curve id for a GPV, verbatim.
    pub setting: String,
    /// Minor loss coefficient.
    pub minor_loss: f64,
}

/// One demand of a junction (`[DEMANDS]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demand {
    /// Junction id.
    pub junction: String,
    /// Base demand (flow units).
    pub base: f64,
    /// Pattern id, if any.
    pub pattern: Option<String>,
}

/// A time pattern: multipliers applied one per pattern step, cyclically (`[PATTERNS]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pattern {
    /// The EPANET id.
    pub id: String,
    /// The multipliers.
    pub multipliers: Vec<f64>,
}

/// A data curve: (x, y) points (`[CURVES]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// The EPANET id.
    pub id: String,
    /// The points, in file order.
    pub points: Vec<(f64, f64)>,
}

/// One option or time setting: a keyword of one or more words and its value words, as
/// written (`Demand Multiplier` / `1.0`). The keyword words are those before the first
/// value; see [`Setting::parse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    /// Every word of the line, in order.
    pub words: Vec<String>,
}

impl Setting {
    fn parse(fields: &[&str]) -> Self {
        Self {
            words: fields.iter().map(|s| (*s).to_string()).collect(),
        }
    }

    /// True when the line starts with the given keyword words (case-insensitive), e.g.
    /// `matches(&["Hydraulic", "Timestep"])`.
    pub fn matches(&self, keyword: &[&str]) -> bool {
        self.words.len() > keyword.len()
            && keyword
                .iter()
                .zip(&self.words)
                .all(|(k, w)| w.eq_ignore_ascii_case(k))
    }

    /// The words after the keyword.
    pub fn value(&self, keyword_len: usize) -> &[String] {
        self.words.get(keyword_len..).unwrap_or(&[])
    }
}

/// A section this crate does not type, kept verbatim (lines without comments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawSection {
    /// The section name, upper-cased, without brackets.
    pub name: String,
    /// The data lines, trimmed, comments removed.
    pub lines: Vec<String>,
}

/// A water distribution network as an EPANET `.inp` file describes it.
///
/// Coordinates are in the file's local frame; see [`crate::georef`] to place them on a map.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Network {
    /// `[TITLE]` lines.
    pub title: Vec<String>,
    /// `[JUNCTIONS]`.
    pub junctions: Vec<Junction>,
    /// `[RESERVOIRS]`.
    pub reservoirs: Vec<Reservoir>,
    /// `[TANKS]`.
    pub tanks: Vec<Tank>,
    /// `[PIPES]`.
    pub pipes: Vec<Pipe>,
    /// `[PUMPS]`.
    pub pumps: Vec<Pump>,
    /// `[VALVES]`.
    pub valves: Vec<Valve>,
    /// `[DEMANDS]`.
    pub demands: Vec<Demand>,
    /// `[PATTERNS]`.
    pub patterns: Vec<Pattern>,
    /// `[CURVES]`.
    pub curves: Vec<Curve>,
    /// `[COORDINATES]`: node id, x, y.
    pub coordinates: Vec<(String, f64, f64)>,
    /// `[VERTICES]`: link id, x, y, in order along each link.
    pub vertices: Vec<(String, f64, f64)>,
    /// `[EMITTERS]`: junction id, flow coefficient.
    pub emitters: Vec<(String, f64)>,
    /// `[OPTIONS]`.
    pub options: Vec<Setting>,
    /// `[TIMES]`.
    pub times: Vec<Setting>,
    /// `[STATUS]`: link id, status or setting, verbatim.
    pub status: Vec<(String, String)>,
    /// Every other section, verbatim, in file order.
    pub other_sections: Vec<RawSection>,
}

/// The kind of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// A junction.
    Junction,
    /// A reservoir.
    Reservoir,
    /// A tank.
    Tank,
}

/// The kind of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// A pipe.
    Pipe,
    /// A pump.
    Pump,
    /// A valve.
    Valve,
}

/// A link seen generically: id, kind and end nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkRef<'a> {
    /// The link id.
    pub id: &'a str,
    /// Its kind.
    pub kind: LinkKind,
    /// Start node id.
    pub node1: &'a str,
    /// End node id.
    pub node2: &'a str,
    /// Length in network units (0 for pumps and valves).
    pub length: f64,
}

const TYPED: [&str; 16] = [
    "TITLE",
    "JUNCTIONS",
    "RESERVOIRS",
    "TANKS",
    "PIPES",
    "PUMPS",
    "VALVES",
    "DEMANDS",
    "PATTERNS",
    "CURVES",
    "COORDINATES",
    "VERTICES",
    "EMITTERS",
    "OPTIONS",
    "TIMES",
    "STATUS",
];

/// The other sections of the EPANET 2.3 input format (users manual, appendix C), kept
/// verbatim.
const RAW: &[&str] = &[
    "CONTROLS",
    "RULES",
    "ENERGY",
    "REACTIONS",
    "QUALITY",
    "SOURCES",
    "MIXING",
    "REPORT",
    "LABELS",
    "BACKDROP",
    "TAGS",
    "LEAKAGE",
];

/// Reads the text of an `.inp` file.
///
/// Errors name the line and the section, say what is wrong and how to fix it. After
/// reading, the references are checked: every link end must be a defined node, every demand
/// and emitter a junction, every pattern and curve used must exist.
pub fn parse(text: &str) -> Result<Network> {
    let mut net = Network::default();
    let mut section = String::new();
    let mut current_raw: Option<usize> = None;
    let mut pattern_index: HashMap<String, usize> = HashMap::new();
    let mut curve_index: HashMap<String, usize> = HashMap::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for (i, raw_line) in text.lines().enumerate() {
        let line_no = i + 1;
        let data = match raw_line.find(';') {
            Some(p) => &raw_line[..p],
            None => raw_line,
        };
        let trimmed = data.trim();
        if section == "TITLE" && !trimmed.starts_with('[') {
            // Title lines are free text; a comment-only line is not part of it.
            if !trimmed.is_empty() {
                net.title.push(trimmed.to_string());
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(inp_err(
                    line_no,
                    &section,
                    format!("section header '{trimmed}' has no closing ']'"),
                ));
            };
            section = name.trim().to_ascii_uppercase();
            if section == "END" {
                break;
            }
            current_raw = None;
            if !TYPED.contains(&section.as_str()) && !RAW.contains(&section.as_str()) {
                return Err(inp_err(
                    line_no,
                    "",
                    format!(
                        "unknown section [{section}] (column {}); EPANET 2.3 sections are {}",
                        raw_line.find('[').map_or(1, |c| c + 1),
                        TYPED
                            .iter()
                            .chain(RAW)
                            .map(|s| format!("[{s}]"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if !TYPED.contains(&section.as_str()) {
                // Sections may repeat (L-Town has two [REACTIONS]): keep each in order.
                net.other_sections.push(RawSection {
                    name: section.clone(),
                    lines: Vec::new(),
                });
                current_raw = Some(net.other_sections.len() - 1);
            }
            continue;
        }
        let f: Vec<&str> = trimmed.split_whitespace().collect();
        let ctx = LineCtx {
            line: line_no,
            section: &section,
            fields: &f,
        };
        match section.as_str() {
            "" => {
                return Err(ctx.err("data before any [SECTION] header; start the file with a section such as [TITLE] or [JUNCTIONS]".into()));
            }
            "JUNCTIONS" => {
                ctx.min_fields(2, "ID Elevation [Demand] [Pattern]")?;
                ctx.remember(&mut first_line);
                net.junctions.push(Junction {
                    id: f[0].to_string(),
                    elevation: ctx.num(1, "elevation")?,
                    demand: ctx.opt_num(2, "demand", 0.0)?,
                    pattern: f.get(3).map(|s| (*s).to_string()),
                });
            }
            "RESERVOIRS" => {
                ctx.min_fields(2, "ID Head [Pattern]")?;
                ctx.remember(&mut first_line);
                net.reservoirs.push(Reservoir {
                    id: f[0].to_string(),
                    head: ctx.num(1, "head")?,
                    pattern: f.get(2).map(|s| (*s).to_string()),
                });
            }
            "TANKS" => {
                ctx.min_fields(
                    6,
                    "ID Elevation InitLevel MinLevel MaxLevel Diameter [MinVol] [VolCurve]",
                )?;
                ctx.remember(&mut first_line);
                net.tanks.push(Tank {
                    id: f[0].to_string(),
                    elevation: ctx.num(1, "elevation")?,
                    init_level: ctx.num(2, "initial level")?,
                    min_level: ctx.num(3, "minimum level")?,
                    max_level: ctx.num(4, "maximum level")?,
                    diameter: ctx.num(5, "diameter")?,
                    min_volume: ctx.opt_num(6, "minimum volume", 0.0)?,
                    extra: f.iter().skip(7).map(|s| (*s).to_string()).collect(),
                });
            }
            "PIPES" => {
                ctx.min_fields(
                    6,
                    "ID Node1 Node2 Length Diameter Roughness [MinorLoss] [Status]",
                )?;
                ctx.remember(&mut first_line);
                let status = match f.get(7) {
                    None => PipeStatus::Open,
                    Some(s) if s.eq_ignore_ascii_case("open") => PipeStatus::Open,
                    Some(s) if s.eq_ignore_ascii_case("closed") => PipeStatus::Closed,
                    Some(s) if s.eq_ignore_ascii_case("cv") => PipeStatus::CheckValve,
                    Some(s) => {
                        return Err(
                            ctx.err(format!("pipe status '{s}' is not one of Open, Closed, CV"))
                        )
                    }
                };
                net.pipes.push(Pipe {
                    id: f[0].to_string(),
                    node1: f[1].to_string(),
                    node2: f[2].to_string(),
                    length: ctx.positive(3, "length")?,
                    diameter: ctx.positive(4, "diameter")?,
                    roughness: ctx.positive(5, "roughness")?,
                    minor_loss: ctx.opt_num(6, "minor loss", 0.0)?,
                    status,
                });
            }
            "PUMPS" => {
                ctx.min_fields(
                    3,
                    "ID Node1 Node2 [HEAD curve] [POWER kw] [SPEED s] [PATTERN p]",
                )?;
                ctx.remember(&mut first_line);
                let props = &f[3..];
                if !props.len().is_multiple_of(2) {
                    return Err(ctx.err("pump properties come in keyword/value pairs (HEAD 1 SPEED 1.0); one value is missing".into()));
                }
                net.pumps.push(Pump {
                    id: f[0].to_string(),
                    node1: f[1].to_string(),
                    node2: f[2].to_string(),
                    properties: props
                        .chunks(2)
                        .map(|c| (c[0].to_ascii_uppercase(), c[1].to_string()))
                        .collect(),
                });
            }
            "VALVES" => {
                ctx.min_fields(6, "ID Node1 Node2 Diameter Type Setting [MinorLoss]")?;
                ctx.remember(&mut first_line);
                let kind = f[4].to_ascii_uppercase();
                if !["PRV", "PSV", "PBV", "FCV", "TCV", "GPV", "PCV"].contains(&kind.as_str()) {
                    return Err(ctx.err(format!(
                        "valve type '{}' is not one of PRV, PSV, PBV, FCV, TCV, GPV, PCV",
                        f[4]
                    )));
                }
                net.valves.push(Valve {
                    id: f[0].to_string(),
                    node1: f[1].to_string(),
                    node2: f[2].to_string(),
                    diameter: ctx.num(3, "diameter")?,
                    kind,
                    setting: f[5].to_string(),
                    minor_loss: ctx.opt_num(6, "minor loss", 0.0)?,
                });
            }
            "DEMANDS" => {
                ctx.min_fields(2, "Junction Demand [Pattern]")?;
                net.demands.push(Demand {
                    junction: f[0].to_string(),
                    base: ctx.num(1, "demand")?,
                    pattern: f.get(2).map(|s| (*s).to_string()),
                });
            }
            "PATTERNS" => {
                ctx.min_fields(2, "ID Multiplier [Multiplier...]")?;
                let mut values = Vec::with_capacity(f.len() - 1);
                for k in 1..f.len() {
                    values.push(ctx.num(k, "multiplier")?);
                }
                match pattern_index.get(f[0]) {
                    Some(&p) => net.patterns[p].multipliers.extend(values),
                    None => {
                        pattern_index.insert(f[0].to_string(), net.patterns.len());
                        net.patterns.push(Pattern {
                            id: f[0].to_string(),
                            multipliers: values,
                        });
                    }
                }
            }
            "CURVES" => {
                ctx.min_fields(3, "ID X Y")?;
                let point = (ctx.num(1, "x value")?, ctx.num(2, "y value")?);
                match curve_index.get(f[0]) {
                    Some(&c) => net.curves[c].points.push(point),
                    None => {
                        curve_index.insert(f[0].to_string(), net.curves.len());
                        net.curves.push(Curve {
                            id: f[0].to_string(),
                            points: vec![point],
                        });
                    }
                }
            }
            "COORDINATES" => {
                ctx.min_fields(3, "Node X Y")?;
                net.coordinates.push((
                    f[0].to_string(),
                    ctx.num(1, "x coordinate")?,
                    ctx.num(2, "y coordinate")?,
                ));
            }
            "VERTICES" => {
                ctx.min_fields(3, "Link X Y")?;
                net.vertices.push((
                    f[0].to_string(),
                    ctx.num(1, "x coordinate")?,
                    ctx.num(2, "y coordinate")?,
                ));
            }
            "EMITTERS" => {
                ctx.min_fields(2, "Junction Coefficient")?;
                let c = ctx.num(1, "emitter coefficient")?;
                if c < 0.0 {
                    return Err(ctx.err(format!(
                        "emitter coefficient {c} is negative; use 0 for no emitter"
                    )));
                }
                net.emitters.push((f[0].to_string(), c));
            }
            "OPTIONS" => net.options.push(Setting::parse(&f)),
            "TIMES" => net.times.push(Setting::parse(&f)),
            "STATUS" => {
                ctx.min_fields(2, "Link Status/Setting")?;
                net.status.push((f[0].to_string(), f[1].to_string()));
            }
            _ => {
                if let Some(r) = current_raw {
                    net.other_sections[r].lines.push(f.join(" "));
                }
            }
        }
    }
    validate(&net, &first_line)?;
    Ok(net)
}

fn inp_err(line: usize, section: &str, message: String) -> WaterError {
    WaterError::Inp {
        line,
        section: section.to_string(),
        message,
    }
}

struct LineCtx<'a> {
    line: usize,
    section: &'a str,
    fields: &'a [&'a str],
}

impl LineCtx<'_> {
    fn err(&self, message: String) -> WaterError {
        inp_err(self.line, self.section, message)
    }

    fn min_fields(&self, n: usize, layout: &str) -> Result<()> {
        if self.fields.len() < n {
            return Err(self.err(format!(
                "expected at least {n} fields ({layout}), found {}",
                self.fields.len()
            )));
        }
        Ok(())
    }

    fn num(&self, k: usize, what: &str) -> Result<f64> {
        let s = self.fields.get(k).copied().unwrap_or("");
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.err(format!("field {} ({what}) is '{s}', not a number", k + 1))),
        }
    }

    fn opt_num(&self, k: usize, what: &str, default: f64) -> Result<f64> {
        if k < self.fields.len() {
            self.num(k, what)
        } else {
            Ok(default)
        }
    }

    fn positive(&self, k: usize, what: &str) -> Result<f64> {
        let v = self.num(k, what)?;
        if v <= 0.0 {
            return Err(self.err(format!(
                "field {} ({what}) is {v}; it must be greater than 0",
                k + 1
            )));
        }
        Ok(v)
    }

    /// Records the line where an element id is first defined, and refuses a duplicate.
    fn remember(&self, first: &mut HashMap<String, usize>) {
        first.entry(self.fields[0].to_string()).or_insert(self.line);
    }
}

fn validate(net: &Network, lines: &HashMap<String, usize>) -> Result<()> {
    let line_of = |id: &str| lines.get(id).copied().unwrap_or(0);
    let mut nodes: HashSet<&str> = HashSet::new();
    for id in net
        .junctions
        .iter()
        .map(|j| j.id.as_str())
        .chain(net.reservoirs.iter().map(|r| r.id.as_str()))
        .chain(net.tanks.iter().map(|t| t.id.as_str()))
    {
        if !nodes.insert(id) {
            return Err(WaterError::Network(format!(
                "node id '{id}' is defined twice (line {}); node ids must be unique across junctions, reservoirs and tanks",
                line_of(id)
            )));
        }
    }
    let mut links: HashSet<&str> = HashSet::new();
    for l in net.links() {
        if !links.insert(l.id) {
            return Err(WaterError::Network(format!(
                "link id '{}' is defined twice; link ids must be unique across pipes, pumps and valves",
                l.id
            )));
        }
        for n in [l.node1, l.node2] {
            if !nodes.contains(n) {
                return Err(WaterError::Network(format!(
                    "link '{}' (line {}) ends at node '{n}', which no [JUNCTIONS], [RESERVOIRS] or [TANKS] line defines",
                    l.id,
                    line_of(l.id)
                )));
            }
        }
        if l.node1 == l.node2 {
            return Err(WaterError::Network(format!(
                "link '{}' (line {}) starts and ends at the same node '{}'",
                l.id,
                line_of(l.id),
                l.node1
            )));
        }
    }
    let junctions: HashSet<&str> = net.junctions.iter().map(|j| j.id.as_str()).collect();
    for (what, id) in net
        .demands
        .iter()
        .map(|d| ("[DEMANDS]", d.junction.as_str()))
        .chain(net.emitters.iter().map(|(j, _)| ("[EMITTERS]", j.as_str())))
    {
        if !junctions.contains(id) {
            return Err(WaterError::Network(format!(
                "{what} names '{id}', which is not a junction"
            )));
        }
    }
    let patterns: HashSet<&str> = net.patterns.iter().map(|p| p.id.as_str()).collect();
    // A junction line's pattern only matters when [DEMANDS] does not list the junction
    // (L-Town names undefined patterns there, overridden by [DEMANDS]).
    let listed: HashSet<&str> = net.demands.iter().map(|d| d.junction.as_str()).collect();
    let used_patterns = net
        .junctions
        .iter()
        .filter(|j| !listed.contains(j.id.as_str()))
        .filter_map(|j| j.pattern.as_deref().map(|p| (p, j.id.as_str())))
        .chain(
            net.demands
                .iter()
                .filter_map(|d| d.pattern.as_deref().map(|p| (p, d.junction.as_str()))),
        )
        .chain(
            net.reservoirs
                .iter()
                .filter_map(|r| r.pattern.as_deref().map(|p| (p, r.id.as_str()))),
        );
    for (p, user) in used_patterns {
        if !patterns.contains(p) {
            return Err(WaterError::Network(format!(
                "pattern '{p}' used by '{user}' (line {}) is not defined in [PATTERNS]",
                line_of(user)
            )));
        }
    }
    let curves: HashSet<&str> = net.curves.iter().map(|c| c.id.as_str()).collect();
    for p in &net.pumps {
        if let Some(c) = p.property("HEAD") {
            if !curves.contains(c) {
                return Err(WaterError::Network(format!(
                    "pump '{}' (line {}) uses head curve '{c}', not defined in [CURVES]",
                    p.id,
                    line_of(&p.id)
                )));
            }
        }
    }
    Ok(())
}

impl Network {
    /// Every link (pipes, then pumps, then valves) seen generically.
    pub fn links(&self) -> impl Iterator<Item = LinkRef<'_>> {
        let pipes = self.pipes.iter().map(|p| LinkRef {
            id: &p.id,
            kind: LinkKind::Pipe,
            node1: &p.node1,
            node2: &p.node2,
            length: p.length,
        });
        let pumps = self.pumps.iter().map(|p| LinkRef {
            id: &p.id,
            kind: LinkKind::Pump,
            node1: &p.node1,
            node2: &p.node2,
            length: 0.0,
        });
        let valves = self.valves.iter().map(|v| LinkRef {
            id: &v.id,
            kind: LinkKind::Valve,
            node1: &v.node1,
            node2: &v.node2,
            length: 0.0,
        });
        pipes.chain(pumps).chain(valves)
    }

    /// The kind of every node, by id.
    pub fn node_kinds(&self) -> HashMap<&str, NodeKind> {
        let mut m = HashMap::new();
        for j in &self.junctions {
            m.insert(j.id.as_str(), NodeKind::Junction);
        }
        for r in &self.reservoirs {
            m.insert(r.id.as_str(), NodeKind::Reservoir);
        }
        for t in &self.tanks {
            m.insert(t.id.as_str(), NodeKind::Tank);
        }
        m
    }

    /// Node coordinates by id (the first line given for a node wins).
    pub fn coordinates_by_node(&self) -> HashMap<&str, (f64, f64)> {
        let mut m = HashMap::new();
        for (id, x, y) in &self.coordinates {
            m.entry(id.as_str()).or_insert((*x, *y));
        }
        m
    }

    /// The value words of an `[OPTIONS]` keyword (e.g. `&["Units"]`), if set.
    pub fn option(&self, keyword: &[&str]) -> Option<&[String]> {
        self.options
            .iter()
            .rev()
            .find(|s| s.matches(keyword))
            .map(|s| s.value(keyword.len()))
    }

    /// The value of a `[TIMES]` keyword in seconds (`Hydraulic Timestep` → `0:05` → 300),
    /// if set and readable.
    pub fn time_seconds(&self, keyword: &[&str]) -> Option<u64> {
        let s = self.times.iter().rev().find(|s| s.matches(keyword))?;
        parse_duration(s.value(keyword.len()))
    }

    /// The flow units keyword (`CMH`, `LPS`, `GPM`...), `GPM` when not set (EPANET's
    /// default).
    pub fn flow_units(&self) -> String {
        self.option(&["Units"])
            .and_then(|v| v.first())
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_else(|| "GPM".into())
    }

    /// True when the network uses SI units (metres, millimetres): flow units LPS, LPM,
    /// MLD, CMH, CMD (EPANET 2.2 manual, table 3.1); else US units (feet, inches).
    pub fn is_metric(&self) -> bool {
        matches!(
            self.flow_units().as_str(),
            "LPS" | "LPM" | "MLD" | "CMH" | "CMD" | "CMS"
        )
    }

    /// Cubic metres per hour in one flow unit of this network.
    pub fn m3h_per_flow_unit(&self) -> f64 {
        match self.flow_units().as_str() {
            "LPS" => 3.6,
            "LPM" => 0.06,
            "MLD" => 1000.0 / 24.0,
            "CMH" => 1.0,
            "CMD" => 1.0 / 24.0,
            "CMS" => 3600.0,
            "CFS" => 101.940_647,
            "MGD" => 157.725_491,
            "IMGD" => 189.427_2,
            "AFD" => 51.395_42,
            // GPM
            _ => 0.227_124_7,
        }
    }

    /// Metres in one length unit of this network (1 or 0.3048).
    pub fn metres_per_length_unit(&self) -> f64 {
        if self.is_metric() {
            1.0
        } else {
            0.3048
        }
    }

    /// The demands of a junction as EPANET applies them: the `[DEMANDS]` entries when that
    /// section lists the junction, else the junction line's demand and pattern.
    pub fn junction_demands(&self, junction: &Junction) -> Vec<Demand> {
        let listed: Vec<Demand> = self
            .demands
            .iter()
            .filter(|d| d.junction == junction.id)
            .cloned()
            .collect();
        if listed.is_empty() {
            vec![Demand {
                junction: junction.id.clone(),
                base: junction.demand,
                pattern: junction.pattern.clone(),
            }]
        } else {
            listed
        }
    }

    /// The pattern used by demands without one: the `Pattern` option, else pattern `1`
    /// when defined, else none (EPANET 2.2 manual, [OPTIONS]).
    pub fn default_pattern(&self) -> Option<&Pattern> {
        let id = self
            .option(&["Pattern"])
            .and_then(|v| v.first())
            .map(String::as_str)
            .unwrap_or("1");
        self.patterns.iter().find(|p| p.id == id)
    }
}

/// Reads an EPANET time value: `hh:mm[:ss]`, or a number of hours optionally followed by a
/// unit (`SEC`, `MIN`, `HOURS`, `DAYS`).
pub fn parse_duration(words: &[String]) -> Option<u64> {
    let first = words.first()?;
    if first.contains(':') {
        let parts: Vec<&str> = first.split(':').collect();
        let mut secs = 0.0;
        let mut scale = 3600.0;
        for p in parts {
            secs += p.parse::<f64>().ok()? * scale;
            scale /= 60.0;
        }
        return Some(secs.round() as u64);
    }
    let v: f64 = first.parse().ok()?;
    let unit = words
        .get(1)
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_default();
    let scale = match unit.as_str() {
        u if u.starts_with("SEC") => 1.0,
        u if u.starts_with("MIN") => 60.0,
        u if u.starts_with("DAY") => 86_400.0,
        _ => 3600.0,
    };
    Some((v * scale).round() as u64)
}

/// Writes a network as `.inp` text that [`parse`] reads back to an equal network and that
/// EPANET solvers accept. Numbers are written in Rust's shortest exact form, so nothing is
/// rounded.
pub fn write(net: &Network) -> String {
    let mut out = String::with_capacity(64 * (net.pipes.len() + net.junctions.len() + 16));
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    section(&mut out, "TITLE", net.title.iter().cloned());
    section(
        &mut out,
        "JUNCTIONS",
        net.junctions
            .iter()
            .map(|j| format!("{} {} {} {}", j.id, j.elevation, j.demand, opt(&j.pattern))),
    );
    section(
        &mut out,
        "RESERVOIRS",
        net.reservoirs
            .iter()
            .map(|r| format!("{} {} {}", r.id, r.head, opt(&r.pattern))),
    );
    section(
        &mut out,
        "TANKS",
        net.tanks.iter().map(|t| {
            format!(
                "{} {} {} {} {} {} {} {}",
                t.id,
                t.elevation,
                t.init_level,
                t.min_level,
                t.max_level,
                t.diameter,
                t.min_volume,
                t.extra.join(" ")
            )
        }),
    );
    section(
        &mut out,
        "PIPES",
        net.pipes.iter().map(|p| {
            format!(
                "{} {} {} {} {} {} {} {}",
                p.id,
                p.node1,
                p.node2,
                p.length,
                p.diameter,
                p.roughness,
                p.minor_loss,
                p.status.keyword()
            )
        }),
    );
    section(
        &mut out,
        "PUMPS",
        net.pumps.iter().map(|p| {
            let props: Vec<String> = p
                .properties
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            format!("{} {} {} {}", p.id, p.node1, p.node2, props.join(" "))
        }),
    );
    section(
        &mut out,
        "VALVES",
        net.valves.iter().map(|v| {
            format!(
                "{} {} {} {} {} {} {}",
                v.id, v.node1, v.node2, v.diameter, v.kind, v.setting, v.minor_loss
            )
        }),
    );
    section(
        &mut out,
        "DEMANDS",
        net.demands
            .iter()
            .map(|d| format!("{} {} {}", d.junction, d.base, opt(&d.pattern))),
    );
    section(
        &mut out,
        "PATTERNS",
        net.patterns.iter().flat_map(|p| {
            p.multipliers.chunks(12).map(move |c| {
                let vals: Vec<String> = c.iter().map(f64::to_string).collect();
                format!("{} {}", p.id, vals.join(" "))
            })
        }),
    );
    section(
        &mut out,
        "CURVES",
        net.curves.iter().flat_map(|c| {
            c.points
                .iter()
                .map(move |(x, y)| format!("{} {x} {y}", c.id))
        }),
    );
    section(
        &mut out,
        "EMITTERS",
        net.emitters.iter().map(|(j, c)| format!("{j} {c}")),
    );
    section(
        &mut out,
        "STATUS",
        net.status.iter().map(|(l, s)| format!("{l} {s}")),
    );
    for raw in &net.other_sections {
        section(&mut out, &raw.name, raw.lines.iter().cloned());
    }
    section(
        &mut out,
        "OPTIONS",
        net.options.iter().map(|s| s.words.join(" ")),
    );
    section(
        &mut out,
        "TIMES",
        net.times.iter().map(|s| s.words.join(" ")),
    );
    section(
        &mut out,
        "COORDINATES",
        net.coordinates
            .iter()
            .map(|(n, x, y)| format!("{n} {x} {y}")),
    );
    section(
        &mut out,
        "VERTICES",
        net.vertices.iter().map(|(l, x, y)| format!("{l} {x} {y}")),
    );
    out.push_str("[END]\n");
    out
}

fn section(out: &mut String, name: &str, lines: impl Iterator<Item = String>) {
    let _ = writeln!(out, "[{name}]");
    for l in lines {
        out.push_str(l.trim_end());
        out.push('\n');
    }
    out.push('\n');
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    use crate::test_support::reference;

    #[test]
    fn reference_networks_round_trip() {
        for (file, junctions, pipes) in [
            ("L-TOWN.inp", 782, 905),
            ("Net1.inp", 9, 12),
            ("Net2.inp", 35, 40),
            ("Net3.inp", 92, 117),
            ("Hanoi_CMH.inp", 31, 34),
        ] {
            let net = parse(&reference(file)).unwrap();
            assert_eq!(net.junctions.len(), junctions, "{file}");
            assert_eq!(net.pipes.len(), pipes, "{file}");
            let text = write(&net);
            let again = parse(&text).unwrap();
            assert_eq!(again, net, "{file} changed on the round trip");
            assert_eq!(write(&again), text, "{file} written twice differs");
        }
    }

    #[test]
    fn l_town_content() {
        let net = parse(&reference("L-TOWN.inp")).unwrap();
        assert_eq!(net.reservoirs.len(), 2);
        assert_eq!(net.tanks.len(), 1);
        assert_eq!(net.pumps.len(), 1);
        assert_eq!(net.valves.len(), 3);
        assert_eq!(net.flow_units(), "CMH");
        assert!(net.is_metric());
        assert_eq!(net.time_seconds(&["Hydraulic", "Timestep"]), Some(300));
        assert_eq!(net.time_seconds(&["Duration"]), Some(168 * 3600));
        let km: f64 = net.pipes.iter().map(|p| p.length).sum::<f64>() / 1000.0;
        assert!((40.0..45.0).contains(&km), "{km} km");
        // Controls and the two [REACTIONS] sections are kept.
        assert!(net
            .other_sections
            .iter()
            .any(|s| s.name == "CONTROLS" && s.lines.len() == 2));
        assert_eq!(
            net.other_sections
                .iter()
                .filter(|s| s.name == "REACTIONS")
                .count(),
            2
        );
        let n1 = &net.junctions[0];
        assert_eq!(net.junction_demands(n1).len(), 3);
    }

    #[test]
    fn unknown_sections_are_refused() {
        let e = parse("[JUNCTIONS]\nA 0\n  [PIPEZ]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("[PIPEZ]") && e.contains("column 3"),
            "{e}"
        );
        assert!(parse("[JUNCTIONS]\nA 0\n[CONTROLS]\nLINK x OPEN\n[END]\n").is_ok());
    }

    #[test]
    fn errors_name_the_line() {
        let bad = "[JUNCTIONS]\n J1 10\n[PIPES]\n P1 J1 J2 100 abc 100\n";
        let e = parse(bad).unwrap_err().to_string();
        assert!(
            e.contains("line 4") && e.contains("diameter") && e.contains("abc"),
            "{e}"
        );
        let dangling = "[JUNCTIONS]\n J1 10\n[PIPES]\n P1 J1 J2 100 200 100\n";
        let e = parse(dangling).unwrap_err().to_string();
        assert!(e.contains("'J2'") && e.contains("line 4"), "{e}");
        let e = parse("[PIPES]\n P1 J1\n").unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("at least 6 fields"),
            "{e}"
        );
        let e = parse("J1 10\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("before any"), "{e}");
        let e = parse("[PIPES\n").unwrap_err().to_string();
        assert!(e.contains("closing"), "{e}");
    }

    #[test]
    fn durations() {
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(parse_duration(&w("0:05")), Some(300));
        assert_eq!(parse_duration(&w("24")), Some(86_400));
        assert_eq!(parse_duration(&w("30 MIN")), Some(1800));
        assert_eq!(parse_duration(&w("1:00:30")), Some(3630));
        assert_eq!(parse_duration(&w("x")), None);
    }
}

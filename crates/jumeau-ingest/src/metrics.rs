//! Ingestion counters in the Prometheus text exposition format (version 0.0.4).
//!
//! Pure: renders what the store counted.

use std::fmt::Write as _;

use jumeau_store::ingest::Counters;

/// The media type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A counter series: name, help text, and the counter it shows.
type Series = (&'static str, &'static str, fn(&Counters) -> u64);

/// Escapes a label value (backslash, double quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders the counters, one series per tenant, source and device for each outcome, and
/// the messages still being applied.
pub fn render(counters: &[Counters], in_flight: u64) -> String {
    let mut out = String::new();
    let series: [Series; 4] = [
        (
            "jumeau_ingest_received_total",
            "Sensor messages received (journaled or refused at receipt).",
            |c| c.received,
        ),
        (
            "jumeau_ingest_accepted_total",
            "Sensor messages applied to the twin (or to its history, when late).",
            |c| c.accepted,
        ),
        (
            "jumeau_ingest_duplicated_total",
            "Sensor messages dropped as copies of a frame already received.",
            |c| c.duplicated,
        ),
        (
            "jumeau_ingest_rejected_total",
            "Sensor messages refused or dead-lettered.",
            |c| c.rejected,
        ),
    ];
    for (name, help, get) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for c in counters {
            let _ = writeln!(
                out,
                "{name}{{tenant=\"{}\",source=\"{}\",dev_eui=\"{}\"}} {}",
                label(&c.tenant),
                label(&c.source),
                label(&c.dev_eui),
                get(c)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP jumeau_ingest_in_flight Messages journaled and not yet applied."
    );
    let _ = writeln!(out, "# TYPE jumeau_ingest_in_flight gauge");
    let _ = writeln!(out, "jumeau_ingest_in_flight {in_flight}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_have_labels_and_values() {
        let c = Counters {
            tenant: "city-a".into(),
            source: "chirpstack".into(),
            dev_eui: "0101010101010101".into(),
            received: 3,
            accepted: 2,
            duplicated: 1,
            rejected: 0,
        };
        let text = render(&[c], 0);
        assert!(text.contains(
            "jumeau_ingest_received_total{tenant=\"city-a\",source=\"chirpstack\",dev_eui=\"0101010101010101\"} 3"
        ));
        assert!(text.contains("# TYPE jumeau_ingest_duplicated_total counter"));
        assert_eq!(label("a\"b"), "a\\\"b");
    }
}

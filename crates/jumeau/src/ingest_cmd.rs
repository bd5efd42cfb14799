//! `jumeau ingest`: the device registry, dead letters and counters of the sensor ingestion,
//! from the command line, on the data directory (a running server sees the changes).

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use jumeau_ingest::{registry, IngestConfig, IngestService};
use jumeau_store::ingest::DeadLetterFilter;
use jumeau_twin::Twin;

/// Ingestion commands.
#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// List the registered devices of a tenant.
    Devices {
        /// The tenant.
        #[arg(long, default_value = jumeau_twin::DEFAULT_TENANT)]
        tenant: String,
    },
    /// Register devices from a CSV inventory (one row per field mapping; columns devEui,
    /// entityId, entityType, profile, context, name, intervalSeconds, field, attribute,
    /// unitCode, scale, min, max, onDevice). All or nothing.
    ImportDevices {
        /// The CSV file.
        file: PathBuf,
        /// The tenant.
        #[arg(long, default_value = jumeau_twin::DEFAULT_TENANT)]
        tenant: String,
    },
    /// List the messages that could not be applied, with the reason.
    DeadLetters {
        /// The tenant.
        #[arg(long, default_value = jumeau_twin::DEFAULT_TENANT)]
        tenant: String,
        /// Only this device's.
        #[arg(long)]
        dev_eui: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Apply dead letters again (after registering a device or fixing a mapping).
    Replay {
        /// The tenant.
        #[arg(long, default_value = jumeau_twin::DEFAULT_TENANT)]
        tenant: String,
        /// Only this device's.
        #[arg(long)]
        dev_eui: Option<String>,
        /// Only these dead letters (repeatable).
        #[arg(long = "id")]
        ids: Vec<i64>,
    },
    /// Message counters per tenant, source and device.
    Stats {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Runs an ingestion command.
pub async fn run(twin: &Twin, command: IngestCommand) -> anyhow::Result<()> {
    match command {
        IngestCommand::Devices { tenant } => {
            jumeau_twin::validate_tenant(&tenant)?;
            println!(
                "{:<17} {:<16} {:<8} {:<6} entity",
                "devEui", "profile", "interval", "fields"
            );
            for d in twin.store.devices(&tenant).await? {
                println!(
                    "{:<17} {:<16} {:<8} {:<6} {} ({})",
                    d.dev_eui,
                    d.profile.as_deref().unwrap_or("-"),
                    d.interval_seconds
                        .map_or("-".to_string(), |s| format!("{s}s")),
                    d.mappings.len(),
                    d.entity_id,
                    d.entity_type
                );
            }
        }
        IngestCommand::ImportDevices { file, tenant } => {
            jumeau_twin::validate_tenant(&tenant)?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let devices = match registry::parse_csv(&bytes) {
                Ok(d) => d,
                Err(problems) => {
                    for p in &problems {
                        eprintln!("{}: {p}", file.display());
                    }
                    bail!(
                        "{} problem(s) in {}; nothing imported",
                        problems.len(),
                        file.display()
                    );
                }
            };
            let service = offline(twin);
            let (mut created, mut updated) = (0, 0);
            for d in devices {
                if service.put_device(&tenant, d).await? {
                    created += 1;
                } else {
                    updated += 1;
                }
            }
            service.abort();
            eprintln!("{created} device(s) registered, {updated} updated in tenant '{tenant}'");
        }
        IngestCommand::DeadLetters {
            tenant,
            dev_eui,
            limit,
        } => {
            let filter = DeadLetterFilter {
                dev_eui: dev_eui
                    .as_deref()
                    .map(registry::normalize_dev_eui)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                limit,
                ..DeadLetterFilter::default()
            };
            let letters = twin.store.dead_letters(&tenant, &filter).await?;
            for d in &letters {
                println!(
                    "#{} {} {} {} (attempts {}): {}",
                    d.id,
                    jumeau_model::time::format_datetime(&d.message.received_at),
                    d.message.source,
                    d.dev_eui.as_deref().unwrap_or("-"),
                    d.attempts,
                    d.reason
                );
            }
            eprintln!("{} dead letter(s) in tenant '{tenant}'", letters.len());
        }
        IngestCommand::Replay {
            tenant,
            dev_eui,
            ids,
        } => {
            let filter = DeadLetterFilter {
                dev_eui: dev_eui
                    .as_deref()
                    .map(registry::normalize_dev_eui)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                ids,
                limit: 100_000,
                ..DeadLetterFilter::default()
            };
            let service = offline(twin);
            let report = service.replay(&tenant, &filter).await?;
            service.abort();
            eprintln!(
                "{} dead letter(s) replayed: {} applied, {} failed again (see 'jumeau ingest dead-letters')",
                report.replayed, report.applied, report.failed
            );
        }
        IngestCommand::Stats { tenant } => {
            println!(
                "{:<16} {:<17} {:<17} {:>9} {:>9} {:>10} {:>9}",
                "tenant", "source", "devEui", "received", "accepted", "duplicated", "rejected"
            );
            for c in twin.store.counters(tenant.as_deref()).await? {
                println!(
                    "{:<16} {:<17} {:<17} {:>9} {:>9} {:>10} {:>9}",
                    c.tenant,
                    c.source,
                    if c.dev_eui.is_empty() {
                        "-"
                    } else {
                        &c.dev_eui
                    },
                    c.received,
                    c.accepted,
                    c.duplicated,
                    c.rejected
                );
            }
        }
    }
    Ok(())
}

/// The ingestion service without its background work: the running server, if any, keeps
/// applying the journal and checking devices.
fn offline(twin: &Twin) -> IngestService {
    IngestService::start(
        twin.clone(),
        IngestConfig {
            background: false,
            ..IngestConfig::default()
        },
    )
}

//! `jumeau migrate`: moves a whole twin between engines, a commune's data directory into a
//! syndicate's PostgreSQL or back, with nothing lost (see `jumeau_store::migrate`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use jumeau_store::postgres::{PgOptions, PgStore};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_store::Store;

/// Whether a store location names PostgreSQL rather than a data directory.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// Opens the store a location names: a `postgres://` URL, else a data directory of the
/// embedded engine.
pub async fn open_store(location: &str) -> anyhow::Result<Arc<dyn Store>> {
    if is_postgres_url(location) {
        let store = PgStore::connect(location, PgOptions::default())
            .await
            .context("cannot open the PostgreSQL store")?;
        Ok(Arc::new(store))
    } else {
        let dir = Path::new(location);
        let store = SqliteStore::open(dir, SqliteOptions::default())
            .with_context(|| format!("cannot open the data directory {}", dir.display()))?;
        Ok(Arc::new(store))
    }
}

/// Copies everything in `from` into `to` and prints what was copied.
pub async fn run(from: &str, to: &str) -> anyhow::Result<()> {
    if from == to {
        anyhow::bail!("--from and --to name the same store ({from}); give two different ones");
    }
    if !is_postgres_url(from) && !Path::new(from).join("jumeau.db").is_file() {
        anyhow::bail!(
            "{from} holds no Jumeau data (no jumeau.db in it); give the data directory of a \
             Jumeau server or a postgres:// URL"
        );
    }
    let source = open_store(from).await?;
    let target = open_store(to).await?;
    let report = jumeau_store::migrate::migrate(source.as_ref(), target.as_ref())
        .await
        .context("the migration stopped; it can be run again: what is copied is replaced")?;
    println!(
        "{} API keys, {} contexts copied from {from} to {to}",
        report.keys, report.contexts
    );
    for (tenant, t) in &report.tenants {
        println!(
            "  {tenant}: {} entities, {} history instances, {} subscriptions \
             ({} pending notifications), {} devices, {} dead letters",
            t.entities, t.instances, t.subscriptions, t.notifications, t.devices, t.dead_letters
        );
    }
    Ok(())
}

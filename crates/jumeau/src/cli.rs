//! Command-line arguments and the commands behind them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand, ValueEnum};
use jumeau_api::{ApiConfig, App};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_twin::dump::{self, LoadReport};
use jumeau_twin::import::{self, Crs, Format, ImportOptions};
use jumeau_twin::{Role, Twin};
use serde_json::Value;

#[path = "ingest_cmd.rs"]
mod ingest_cmd;
#[path = "migrate_cmd.rs"]
mod migrate_cmd;
#[path = "water_cmd.rs"]
mod water_cmd;

/// Jumeau — le jumeau numérique souverain de votre territoire / the sovereign digital twin
/// of your territory.
#[derive(Debug, Parser)]
#[command(name = "jumeau", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives.
#[derive(Debug, Args, Clone)]
pub struct DataArgs {
    /// Data directory of the embedded store.
    #[arg(
        long,
        env = "JUMEAU_DATA",
        default_value = "./jumeau-data",
        global = true
    )]
    pub data: PathBuf,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server.
    Serve {
        /// Data location.
        #[command(flatten)]
        data: DataArgs,
        /// Address to listen on.
        #[arg(long, env = "JUMEAU_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Largest request body, in bytes.
        #[arg(long, default_value_t = 8 * 1024 * 1024)]
        max_body: usize,
        /// MQTT broker to take sensor messages from (repeatable):
        /// mqtt://[user:password@]host[:port][?tenant=T&client_id=ID&topic=FILTER].
        #[arg(long, value_name = "URL", env = "JUMEAU_MQTT", value_delimiter = ',')]
        mqtt: Vec<String>,
        /// Web interface: a MapLibre style URL drawn under the twin (none by default: the
        /// map needs no tile server).
        #[arg(long, value_name = "URL", env = "JUMEAU_BASEMAP")]
        basemap: Option<String>,
        /// Store the twin in PostgreSQL + PostGIS instead of the data directory:
        /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (the schema is created or
        /// upgraded at start).
        #[arg(long, value_name = "URL", env = "JUMEAU_STORE")]
        store: Option<String>,
        /// Public lighting: send commands to armoires and groups to this TALQ-style gateway
        /// (http[s]://HOST[:PORT][/PATH]; each command is POSTed to URL/commands) instead of
        /// the simulated armoires. Its bearer token is read from the environment variable
        /// JUMEAU_LIGHTING_GATEWAY_TOKEN only, so that it never shows in the process list.
        #[arg(long, value_name = "URL", env = "JUMEAU_LIGHTING_GATEWAY")]
        lighting_gateway: Option<String>,
        /// Public lighting: seconds to wait for the gateway's answer to one attempt of a
        /// command (failed attempts are retried, 5 in all).
        #[arg(long, value_name = "SECS", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(1..=300))]
        lighting_gateway_timeout: u64,
    },
    /// Build a sample territory and serve it.
    Demo {
        /// Data directory (a fresh one by default).
        #[arg(long, default_value = "./jumeau-demo")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Size of the territory.
        #[arg(long, value_enum, default_value_t = crate::demo::Size::Small)]
        size: crate::demo::Size,
        /// Build the territory and exit without serving.
        #[arg(long)]
        no_serve: bool,
        /// Web interface: a MapLibre style URL drawn under the twin (none by default).
        #[arg(long, value_name = "URL", env = "JUMEAU_BASEMAP")]
        basemap: Option<String>,
    },
    /// Import entities from NGSI-LD JSON, GeoJSON, CSV, or a Jumeau export.
    Import(ImportArgs),
    /// Write a complete export of a tenant, which `import` restores identically.
    Export {
        /// Data location.
        #[command(flatten)]
        data: DataArgs,
        /// The tenant to export.
        #[arg(long, default_value = jumeau_twin::DEFAULT_TENANT)]
        tenant: String,
        /// Output file (standard output when absent or '-').
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Manage API keys.
    Keys {
        /// Data location.
        #[command(flatten)]
        data: DataArgs,
        /// Key command.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Sensor ingestion: devices, dead letters, counters.
    Ingest {
        /// Data location.
        #[command(flatten)]
        data: DataArgs,
        /// Ingestion command.
        #[command(subcommand)]
        command: ingest_cmd::IngestCommand,
    },
    /// Drinking water: EPANET networks in and out of the twin, and the BattLeDIM-style leak
    /// detection benchmark (scenario, detect, score).
    Water {
        /// Data location (import and export).
        #[command(flatten)]
        data: DataArgs,
        /// Water command.
        #[command(subcommand)]
        command: water_cmd::WaterCommand,
    },
    /// Move a whole twin from one store to another (a data directory or a postgres:// URL),
    /// with its history, subscriptions, devices and keys; can be run again after an
    /// interruption.
    Migrate {
        /// The store to copy from: a data directory or postgres://USER@HOST:PORT/DATABASE.
        #[arg(long, value_name = "DIR|URL")]
        from: String,
        /// The store to copy into (created if needed).
        #[arg(long, value_name = "DIR|URL")]
        to: String,
    },
    /// Manage tenants.
    Tenants {
        /// Data location.
        #[command(flatten)]
        data: DataArgs,
        /// Tenant command.
        #[command(subcommand)]
        command: TenantsCommand,
    },
}

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; the secret is printed once.
    Create {
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// reader, editor or admin.
        #[arg(long, default_value = "editor")]
        role: String,
        /// Tenants covered, comma-separated ('*' for all).
        #[arg(long, value_delimiter = ',', required = true)]
        tenants: Vec<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke {
        /// The key id shown by `keys list`.
        id: String,
    },
}

/// Tenant commands.
#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// List tenants.
    List,
    /// Open a tenant to anonymous reads (open data), or close it.
    SetPublic {
        /// The tenant.
        tenant: String,
        /// true or false.
        #[arg(action = clap::ArgAction::Set)]
        public: bool,
    },
}

/// Coordinate systems accepted on import.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CrsArg {
    /// Decide from the values.
    Auto,
    /// Longitude/latitude degrees.
    Wgs84,
    /// Lambert-93 metres (EPSG:2154).
    Lambert93,
}

/// Arguments of `jumeau import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import.
    pub file: PathBuf,
    /// Data location.
    #[command(flatten)]
    pub data: DataArgs,
    /// Target tenant (an export restores into its own tenant by default).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Entity type for GeoJSON and CSV rows (e.g. Streetlight).
    #[arg(long = "type")]
    pub entity_type: Option<String>,
    /// Column or property giving each row's local id.
    #[arg(long)]
    pub id_field: Option<String>,
    /// Column or property whose value chooses the entity type (with --type-map).
    #[arg(long)]
    pub type_field: Option<String>,
    /// Source value to entity type, e.g. --type-map lampadaire=Streetlight (repeatable).
    #[arg(long, value_parser = parse_pair)]
    pub type_map: Vec<(String, String)>,
    /// Column to relationship target type, e.g. --relationship armoire=StreetlightControlCabinet.
    #[arg(long, value_parser = parse_pair)]
    pub relationship: Vec<(String, String)>,
    /// Coordinate system of the file.
    #[arg(long, value_enum, default_value_t = CrsArg::Auto)]
    pub crs: CrsArg,
    /// JSON-LD @context URL used to expand the terms of the file.
    #[arg(long)]
    pub context: Option<String>,
    /// The file is history: CSV lines entity,attribute,time,value[,unitCode] appended to
    /// the history of the entities.
    #[arg(long)]
    pub temporal: bool,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .ok_or_else(|| format!("'{s}' must be of the form source=target"))
}

/// Opens the embedded store of a data directory.
pub fn open_twin(data: &Path) -> anyhow::Result<Twin> {
    let store = SqliteStore::open(data, SqliteOptions::default())
        .with_context(|| format!("cannot open the data directory {}", data.display()))?;
    Ok(Twin::new(Arc::new(store)))
}

/// Opens the twin stored in PostgreSQL at `url`, applying the schema migrations.
pub async fn open_postgres_twin(url: &str) -> anyhow::Result<Twin> {
    let store = jumeau_store::postgres::PgStore::connect(url, Default::default())
        .await
        .context("cannot open the PostgreSQL store")?;
    Ok(Twin::new(Arc::new(store)))
}

/// Runs a command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            data,
            listen,
            max_body,
            mqtt,
            basemap,
            store,
            lighting_gateway,
            lighting_gateway_timeout,
        } => {
            // Checked before anything is opened: a bad gateway stops the start at once.
            let lighting = lighting_config(lighting_gateway.as_deref(), lighting_gateway_timeout)?;
            let twin = match &store {
                Some(url) => open_postgres_twin(url).await?,
                None => open_twin(&data.data)?,
            };
            bootstrap_key(&twin).await?;
            let mut config = ApiConfig {
                max_body_bytes: max_body,
                lighting,
                ..Default::default()
            };
            for url in &mqtt {
                config
                    .ingest
                    .mqtt
                    .push(jumeau_ingest::MqttSource::parse(url).map_err(anyhow::Error::msg)?);
            }
            let web = jumeau_web::WebConfig {
                basemap_style: basemap,
                ..Default::default()
            };
            serve(twin, listen, config, web, &data.data).await
        }
        Command::Demo {
            data,
            listen,
            size,
            no_serve,
            basemap,
        } => {
            crate::demo::run(crate::demo::Options {
                data,
                listen,
                size,
                no_serve,
                basemap,
            })
            .await
        }
        Command::Import(args) => import_file(args).await,
        Command::Export {
            data,
            tenant,
            output,
        } => {
            let twin = open_twin(&data.data)?;
            let n = match output.as_deref().filter(|p| p.as_os_str() != "-") {
                Some(path) => {
                    let tmp = path.with_extension("partial");
                    let file = std::fs::File::create(&tmp)
                        .with_context(|| format!("cannot create {}", tmp.display()))?;
                    let mut w = std::io::BufWriter::new(file);
                    let n = dump::export(&twin, &tenant, &mut w).await?;
                    let file = w
                        .into_inner()
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
                    file.sync_all()?;
                    std::fs::rename(&tmp, path)?;
                    n
                }
                None => {
                    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
                    dump::export(&twin, &tenant, &mut w).await?
                }
            };
            eprintln!("exported {n} entities of tenant '{tenant}'");
            Ok(())
        }
        Command::Keys { data, command } => keys(&open_twin(&data.data)?, command).await,
        Command::Tenants { data, command } => tenants(&open_twin(&data.data)?, command).await,
        Command::Migrate { from, to } => migrate_cmd::run(&from, &to).await,
        Command::Water { data, command } => water_cmd::run(&data.data, command).await,
        Command::Ingest { data, command } => {
            ingest_cmd::run(&open_twin(&data.data)?, command).await
        }
    }
}

/// The lighting remote control of `serve`: commands through the TALQ-style gateway at
/// `gateway` (token from JUMEAU_LIGHTING_GATEWAY_TOKEN), else the simulated armoires.
fn lighting_config(
    gateway: Option<&str>,
    timeout_secs: u64,
) -> anyhow::Result<jumeau_api::LightingConfig> {
    let config = jumeau_api::LightingConfig::default();
    let token_env = jumeau_api::LightingConfig::GATEWAY_TOKEN_ENV;
    let token = std::env::var(token_env)
        .ok()
        .filter(|t| !t.trim().is_empty());
    let Some(url) = gateway.map(str::trim).filter(|u| !u.is_empty()) else {
        if token.is_some() {
            tracing::warn!(
                "{token_env} is set but no lighting gateway is: commands go to the simulated \
                 armoires; give --lighting-gateway URL to reach the field"
            );
        }
        return Ok(config);
    };
    let with_token = token.is_some();
    let config = config
        .with_talq_gateway(url, token, std::time::Duration::from_secs(timeout_secs))
        .context("--lighting-gateway")?;
    tracing::info!(
        "lighting commands go to the TALQ gateway at {url} ({})",
        if with_token {
            "with a bearer token"
        } else {
            "without a token: set JUMEAU_LIGHTING_GATEWAY_TOKEN if the gateway needs one"
        }
    );
    Ok(config)
}

/// Registers the operator's bootstrap admin key from JUMEAU_ADMIN_KEY on first start.
pub(crate) async fn bootstrap_key(twin: &Twin) -> anyhow::Result<()> {
    if let Ok(key) = std::env::var("JUMEAU_ADMIN_KEY") {
        if twin.auth.bootstrap_admin(&key).await? {
            tracing::info!("registered the admin key given by JUMEAU_ADMIN_KEY");
        }
    }
    Ok(())
}

async fn serve(
    twin: Twin,
    listen: SocketAddr,
    config: ApiConfig,
    web: jumeau_web::WebConfig,
    data: &Path,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (is another server running there?)"))?;
    serve_on(listener, App::new(twin, config), web, data).await
}

/// Serves an application on a bound listener until Ctrl-C, with the notifier and the
/// retention passes running beside it.
pub(crate) async fn serve_on(
    listener: tokio::net::TcpListener,
    app: App,
    web: jumeau_web::WebConfig,
    data: &Path,
) -> anyhow::Result<()> {
    let twin = app.twin.clone();
    let addr = listener.local_addr()?;
    tracing::info!("Jumeau listens on http://{addr} (data: {})", data.display());
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping");
    };
    // Delivers subscription notifications, those left pending by the last run first.
    let notifier = twin.start_notifier();
    let retention = tokio::spawn(apply_retention(twin.clone()));
    jumeau_web::serve(listener, app, web, shutdown).await?;
    retention.abort();
    notifier.stop().await;
    Ok(())
}

fn print_report(report: &LoadReport, notes: &[String]) {
    for n in notes {
        eprintln!("note: {n}");
    }
    for r in &report.rejected {
        eprintln!(
            "rejected row {}{}: {}",
            r.row,
            r.id.as_deref()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default(),
            r.reason
        );
    }
    eprintln!(
        "{} created, {} updated, {} rejected",
        report.created,
        report.updated,
        report.rejected.len()
    );
}

/// How often the retention policies of the tenants run while serving.
const RETENTION_PERIOD: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Applies the retention policies of every tenant at start, then every six hours, and
/// logs what each pass removed, so that thinning old readings is never silent.
async fn apply_retention(twin: Twin) {
    let mut every = tokio::time::interval(RETENTION_PERIOD);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match twin
            .store
            .apply_retention(std::time::SystemTime::now().into())
            .await
        {
            Ok(reports) => {
                let removed: u64 = reports.iter().map(|r| r.removed).sum();
                for r in reports.iter().filter(|r| r.removed > 0) {
                    tracing::info!(
                        "retention: tenant '{}', type {}: removed {} {} rows older than {}",
                        r.tenant,
                        r.entity_type.as_deref().unwrap_or("(default policy)"),
                        r.removed,
                        r.level,
                        jumeau_model::time::format_datetime(&r.cutoff)
                    );
                }
                tracing::debug!("retention pass done: {removed} rows removed");
            }
            Err(e) => tracing::warn!("retention pass failed, next one in 6 hours: {e}"),
        }
    }
}

/// `jumeau import --temporal`: appends the readings of a CSV file to the history.
async fn import_history(args: &ImportArgs, bytes: &[u8], twin: &Twin) -> anyhow::Result<()> {
    let tenant = args
        .tenant
        .clone()
        .unwrap_or_else(|| jumeau_twin::DEFAULT_TENANT.into());
    let ctx_value = args.context.clone().map(Value::String);
    let ctx = twin.contexts.resolve(ctx_value.as_ref()).await?;
    let batch = import::parse_temporal_csv(bytes, &ctx)
        .with_context(|| format!("{} cannot be imported as history", args.file.display()))?;
    let report = import::load_temporal(twin, &tenant, batch, &ctx).await?;
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    for r in &report.rejected {
        eprintln!("rejected {r}");
    }
    eprintln!(
        "{} instances stored, {} duplicates, {} entities created, {} rejected",
        report.stored,
        report.duplicates,
        report.created,
        report.rejected.len()
    );
    Ok(())
}

async fn import_file(args: ImportArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let twin = open_twin(&args.data.data)?;
    if args.temporal {
        return import_history(&args, &bytes, &twin).await;
    }
    let tenant = args.tenant.clone();
    let is_export = serde_json::from_slice::<Value>(&bytes).is_ok_and(|v| dump::is_dump(&v));
    let format = if is_export {
        Format::NgsiLd
    } else {
        import::detect_format(&args.file, &bytes).with_context(|| {
            format!(
                "{}: unknown format; expected NGSI-LD JSON, GeoJSON, CSV or a Jumeau export",
                args.file.display()
            )
        })?
    };
    let default_ctx = args.context.clone().map(Value::String);
    let (report, notes) = match format {
        Format::NgsiLd => {
            let v: Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not valid JSON", args.file.display()))?;
            if dump::is_dump(&v) {
                (
                    dump::load_dump(&twin, &v, tenant.as_deref()).await?,
                    Vec::new(),
                )
            } else {
                let list = match v {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                let tenant = tenant.unwrap_or_else(|| jumeau_twin::DEFAULT_TENANT.into());
                (
                    dump::load_entities(&twin, &tenant, &list, default_ctx.as_ref()).await?,
                    Vec::new(),
                )
            }
        }
        Format::GeoJson | Format::Csv => {
            let opts = import_options(&args)?;
            let batch = if format == Format::GeoJson {
                import::import_geojson(&bytes, &opts)?
            } else {
                import::import_csv(&bytes, &opts)?
            };
            let tenant = tenant.unwrap_or_else(|| jumeau_twin::DEFAULT_TENANT.into());
            let mut report =
                dump::load_entities(&twin, &tenant, &batch.entities, default_ctx.as_ref()).await?;
            let mut rejected = batch.rejected;
            rejected.append(&mut report.rejected);
            report.rejected = rejected;
            (report, batch.notes)
        }
    };
    print_report(&report, &notes);
    Ok(())
}

fn import_options(args: &ImportArgs) -> anyhow::Result<ImportOptions> {
    let Some(t) = args
        .entity_type
        .clone()
        .or_else(|| args.type_field.as_ref().map(|_| String::new()))
    else {
        bail!("GeoJSON and CSV files need --type (for example --type Streetlight) or --type-field");
    };
    let mut opts = ImportOptions::new(t);
    opts.id_field = args.id_field.clone();
    opts.type_field = args.type_field.clone();
    opts.type_map = args.type_map.iter().cloned().collect();
    opts.relationship_fields = args.relationship.iter().cloned().collect();
    opts.crs = match args.crs {
        CrsArg::Auto => Crs::Auto,
        CrsArg::Wgs84 => Crs::Wgs84,
        CrsArg::Lambert93 => Crs::Lambert93,
    };
    Ok(opts)
}

async fn keys(twin: &Twin, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create {
            name,
            role,
            tenants,
        } => {
            let role: Role = role.parse()?;
            let (secret, record) = twin.auth.create_key(&name, role, tenants).await?;
            eprintln!(
                "created key {} ({}, tenants {}); keep the secret below, it is not shown again:",
                record.id,
                record.role,
                record.tenants.join(",")
            );
            println!("{secret}");
        }
        KeysCommand::List => {
            println!(
                "{:<14} {:<8} {:<24} {:<22} {:<8} name",
                "id", "role", "tenants", "created", "state"
            );
            for k in twin.store.keys().await? {
                println!(
                    "{:<14} {:<8} {:<24} {:<22} {:<8} {}",
                    k.id,
                    k.role,
                    k.tenants.join(","),
                    jumeau_model::time::format_datetime(&k.created_at),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    },
                    k.name
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !twin.auth.revoke(&id).await? {
                bail!("no key with id '{id}'; see 'jumeau keys list'");
            }
            eprintln!("key {id} revoked (a running server stops accepting it within 10 seconds)");
        }
    }
    Ok(())
}

async fn tenants(twin: &Twin, command: TenantsCommand) -> anyhow::Result<()> {
    match command {
        TenantsCommand::List => {
            for t in twin.store.tenants().await? {
                println!(
                    "{}\t{}",
                    t.name,
                    if t.public { "public" } else { "private" }
                );
            }
        }
        TenantsCommand::SetPublic { tenant, public } => {
            jumeau_twin::validate_tenant(&tenant)?;
            twin.store.set_tenant_public(&tenant, public).await?;
            eprintln!(
                "tenant '{tenant}' is now {}",
                if public { "public" } else { "private" }
            );
        }
    }
    Ok(())
}

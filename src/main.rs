//! The `runnel` binary: CLI → config → telemetry → broker → listeners, until a signal.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use runnel::config::Config;
use runnel::telemetry;

/// A Kafka-wire-compatible message broker: point stock Kafka clients at it.
///
/// Settings come from built-in defaults, then the TOML file (--config), then RUNNEL_*
/// environment variables (every config key: RUNNEL_ + its path in upper case with `_`,
/// e.g. RUNNEL_LOG_SEGMENT_BYTES, RUNNEL_GROUP_INITIAL_REBALANCE_DELAY_MS), then flags.
#[derive(Parser, Debug)]
#[command(name = "runnel", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the broker (the default when no command is given).
    Serve(ServeArgs),
    /// Get a data directory whose start was refused back into service (run with the broker
    /// stopped). See README, "Recovering from metadata loss".
    Recover(RecoverArgs),
    /// Manage SASL users (SCRAM credentials) in a data directory, with the broker stopped —
    /// the first admin, before the broker starts (Kafka's `kafka-storage format
    /// --add-scram`). A running broker is managed with `kafka-configs --entity-type users`.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand, Debug)]
enum UserAction {
    /// Create a user, or replace its password: stores SCRAM-SHA-256 and SCRAM-SHA-512
    /// credentials (random salt), which PLAIN logins are checked against as well.
    Add {
        #[command(flatten)]
        dir: DataDirArgs,
        /// The user name (the principal is User:NAME).
        #[arg(long)]
        user: String,
        /// The password (or the RUNNEL_USER_PASSWORD environment variable, which keeps it
        /// out of the process list).
        #[arg(long, env = "RUNNEL_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// PBKDF2 iterations, 4096 to 16384.
        #[arg(long, default_value_t = runnel::security::sasl::scram::MIN_ITERATIONS)]
        iterations: u32,
    },
    /// Delete a user's credentials.
    Delete {
        #[command(flatten)]
        dir: DataDirArgs,
        #[arg(long)]
        user: String,
    },
    /// List the users and their SCRAM mechanisms.
    List {
        #[command(flatten)]
        dir: DataDirArgs,
    },
}

#[derive(clap::Args, Debug, Clone)]
struct DataDirArgs {
    /// TOML config file (for `data_dir`).
    #[arg(long, env = "RUNNEL_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory (log.dirs).
    #[arg(long, env = "RUNNEL_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
struct RecoverArgs {
    /// TOML config file (for `data_dir`).
    #[arg(long, env = "RUNNEL_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory to recover (log.dirs).
    #[arg(long, env = "RUNNEL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Accept the loss of the metadata store: move it aside to `meta.<nanos>.broken`,
    /// quarantine every partition directory under a `.orphan` name (data kept, not served),
    /// and let the next start create a new store and cluster id. Required: recovery never
    /// happens without it.
    #[arg(long)]
    reset_metadata: bool,
}

#[derive(clap::Args, Debug, Clone, Default)]
struct ServeArgs {
    /// TOML config file; see config/runnel.toml for every key.
    #[arg(long, env = "RUNNEL_CONFIG")]
    config: Option<PathBuf>,
    /// Directory for partition logs and the metadata store (log.dirs).
    #[arg(long, env = "RUNNEL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address the Kafka listener binds, HOST:PORT (default 0.0.0.0:9092).
    #[arg(long, env = "RUNNEL_LISTEN")]
    listen: Option<String>,
    /// HOST:PORT advertised to clients in Metadata (default: the listen address).
    #[arg(long, env = "RUNNEL_ADVERTISED_LISTENER")]
    advertised_listener: Option<String>,
    /// This broker's node id (node.id).
    #[arg(long, env = "RUNNEL_NODE_ID")]
    node_id: Option<i32>,
    /// HTTP listener for /metrics, /healthz, /readyz and the console; "" disables it.
    #[arg(long, env = "RUNNEL_HTTP_LISTEN")]
    http_listen: Option<String>,
    /// Cluster mode: this node's controller listener, HOST:PORT (cluster.controller_listen).
    #[arg(long, env = "RUNNEL_CONTROLLER_LISTEN")]
    controller_listen: Option<String>,
    /// Cluster mode: the controller quorum, ID@HOST:PORT,... (cluster.controller_voters).
    #[arg(long, env = "RUNNEL_CONTROLLER_VOTERS")]
    controller_voters: Option<String>,
    /// Cluster mode: broker, controller or broker,controller (cluster.roles; default: both
    /// when --node-id is a voter, broker otherwise).
    #[arg(long, env = "RUNNEL_ROLES")]
    roles: Option<String>,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve(a)) => run(a),
        Some(Command::Recover(a)) => recover(a),
        Some(Command::User { action }) => user(action),
        None => run(cli.serve),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("runnel: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Builds the effective configuration: file, then environment, then flags.
fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut cfg = match &args.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    cfg = runnel::config::apply_env(cfg, std::env::vars())?;
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(l) = &args.listen {
        cfg.listen = l.clone();
    }
    if let Some(a) = &args.advertised_listener {
        cfg.advertised_listener = Some(a.clone());
    }
    if let Some(n) = args.node_id {
        cfg.node_id = n;
    }
    if let Some(h) = &args.http_listen {
        cfg.http_listen = h.clone();
    }
    if let Some(l) = &args.controller_listen {
        cfg.cluster.controller_listen = l.clone();
    }
    if let Some(v) = &args.controller_voters {
        cfg.cluster.controller_voters = v.clone();
    }
    if let Some(r) = &args.roles {
        cfg.cluster.roles = r.clone();
    }
    if args.log_json {
        cfg.telemetry.log_json = true;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// `runnel recover`: the explicit, offline way out of a start refused for metadata loss.
fn recover(args: RecoverArgs) -> anyhow::Result<()> {
    if !args.reset_metadata {
        anyhow::bail!(
            "nothing to do: `runnel recover` needs --reset-metadata (the only recovery there is: \
             it discards the metadata store and quarantines the partition directories)"
        );
    }
    let cfg = load_config(&ServeArgs {
        config: args.config,
        data_dir: args.data_dir,
        ..ServeArgs::default()
    })?;
    let report = runnel::broker::reset_metadata(&cfg.data_dir)
        .with_context(|| format!("recovering {}", cfg.data_dir.display()))?;
    match &report.old_store {
        Some(p) => println!("moved the old metadata store to {}", p.display()),
        None => println!("there was no metadata store"),
    }
    println!(
        "quarantined {} partition directories (renamed to *.orphan, data kept, not served):",
        report.quarantined.len()
    );
    for p in &report.quarantined {
        println!("  {}", p.display());
    }
    println!(
        "the next start creates a new metadata store and cluster id in {}",
        cfg.data_dir.display()
    );
    Ok(())
}

/// `runnel user ...`: SCRAM credentials written to the store of a stopped broker.
fn user(action: UserAction) -> anyhow::Result<()> {
    use runnel::security::sasl::scram::{self, ScramCredential, ScramMechanism};
    use runnel::store::CredentialChange;
    let dir = match &action {
        UserAction::Add { dir, .. } | UserAction::Delete { dir, .. } | UserAction::List { dir } => {
            dir.clone()
        }
    };
    let cfg = load_config(&ServeArgs {
        config: dir.config,
        data_dir: dir.data_dir,
        ..ServeArgs::default()
    })?;
    let (_lock, store) = match runnel::broker::open_store_offline(&cfg.data_dir) {
        Err(e @ runnel::broker::BootError::Locked(_)) => anyhow::bail!(
            "{e}: stop the broker first (`runnel user` writes the metadata store offline), or \
             manage users of a running broker with kafka-configs --entity-type users"
        ),
        r => r.with_context(|| format!("opening {}", cfg.data_dir.display()))?,
    };
    match action {
        UserAction::Add {
            user,
            password,
            iterations,
            ..
        } => {
            if user.is_empty() {
                anyhow::bail!("--user must not be empty");
            }
            if password.is_empty() {
                anyhow::bail!("--password must not be empty");
            }
            if !(scram::MIN_ITERATIONS..=scram::MAX_ITERATIONS).contains(&iterations) {
                anyhow::bail!(
                    "--iterations must be between {} and {}",
                    scram::MIN_ITERATIONS,
                    scram::MAX_ITERATIONS
                );
            }
            let mut changes = Vec::new();
            for mech in ScramMechanism::ALL {
                let salt = scram::new_salt()
                    .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
                changes.push(CredentialChange::Upsert(
                    mech,
                    ScramCredential::from_password(mech, password.as_bytes(), &salt, iterations),
                ));
            }
            store.change_user_credentials(&user, &changes)?;
            store.flush()?;
            println!(
                "stored SCRAM-SHA-256 and SCRAM-SHA-512 credentials ({iterations} iterations) for User:{user} in {}",
                cfg.data_dir.display()
            );
        }
        UserAction::Delete { user, .. } => {
            let existing = store.user_credentials(&user)?;
            if existing.is_empty() {
                anyhow::bail!("no user {user:?} in {}", cfg.data_dir.display());
            }
            let changes: Vec<_> = existing
                .keys()
                .map(|m| CredentialChange::Delete(*m))
                .collect();
            store.change_user_credentials(&user, &changes)?;
            store.flush()?;
            println!("deleted the credentials of User:{user}");
        }
        UserAction::List { .. } => {
            for (name, creds) in store.users()? {
                let mechs: Vec<String> = creds
                    .iter()
                    .map(|(m, c)| format!("{} ({} iterations)", m.name(), c.iterations))
                    .collect();
                println!("{name}\t{}", mechs.join(", "));
            }
        }
    }
    Ok(())
}

fn run(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = load_config(&args)?;
    if args.print_config {
        print!("{}", toml::to_string_pretty(&cfg.redacted())?);
        return Ok(());
    }
    telemetry::init_logging(&cfg.telemetry);
    tracing::info!(config = %serde_json::to_string(&cfg.redacted())?, "effective configuration");
    // Every partition keeps a descriptor open; the common soft limit of 1024 is far below
    // what the hard limit allows, so take all of it before opening anything.
    match runnel::runtime::raise_nofile_limit() {
        Ok((before, after, hard)) => {
            tracing::info!(soft_before = before, soft = after, hard, "open-file limit")
        }
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("runnel")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(cfg))
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let running = runnel::runtime::start(cfg).await?;
    wait_for_signal().await;
    tracing::info!("shutting down: draining connections");
    running.shutdown().await;
    tracing::info!("shutdown complete");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

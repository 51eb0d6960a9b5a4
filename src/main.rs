//! The `loadprobe` binary: flags, logging, config, listeners; then `loadprobe::run` until
//! SIGTERM or SIGINT.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use loadprobe::ServeOptions;
use loadprobe::config::Config;
use loadprobe::control::{Control, ReloadError};
use loadprobe::plan::{Plan, Shard};
use loadprobe::web::{WebConfig, WebOptions};
use loadprobe::{PlanSource, RunOptions};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Prometheus-native continuous synthetic load exporter.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Run one probe once instead of serving (see `loadprobe once --help`).
    #[command(subcommand)]
    command: Option<Command>,
    /// Configuration file.
    #[arg(
        long = "config.file",
        env = "LOADPROBE_CONFIG_FILE",
        default_value = "loadprobe.yml",
        global = true
    )]
    config_file: PathBuf,
    /// Validate the configuration, print what is wrong, and exit 0 (valid) or 1.
    #[arg(long = "config.check")]
    config_check: bool,
    /// Address to serve metrics, status and health on (repeatable).
    #[arg(long = "web.listen-address", default_value = ":10180")]
    listen_addresses: Vec<String>,
    /// Path under which metrics are served.
    #[arg(long = "web.telemetry-path", default_value = loadprobe::DEFAULT_TELEMETRY_PATH)]
    telemetry_path: String,
    /// TLS, client certificates, basic auth and response headers of loadprobe's own
    /// endpoints (the exporter-toolkit web config format).
    #[arg(long = "web.config.file", env = "LOADPROBE_WEB_CONFIG_FILE")]
    web_config_file: Option<PathBuf>,
    /// Allow `POST /-/reload` (needs basic_auth_users in --web.config.file).
    #[arg(long = "web.enable-lifecycle")]
    enable_lifecycle: bool,
    /// Allow `POST /api/v1/probes/{name}/run` (needs basic_auth_users in --web.config.file).
    #[arg(long = "web.enable-run")]
    enable_run: bool,
    /// Only log messages at this level or above.
    #[arg(long = "log.level", value_enum, default_value = "info", global = true)]
    log_level: LogLevel,
    /// Log line format.
    #[arg(
        long = "log.format",
        value_enum,
        default_value = "logfmt",
        global = true
    )]
    log_format: LogFormat,
    /// Run this replica's share of the load: `i/N` sends every N-th arrival of each probe
    /// (`i` may be `ordinal`, taken from a StatefulSet pod's hostname suffix).
    #[arg(long = "shard", env = "LOADPROBE_SHARD", global = true)]
    shard: Option<Shard>,
    /// Threads of the async runtime (load generation and serving share them). Default: 2,
    /// or 1 when the process may use only one CPU (affinity or cgroup quota).
    #[arg(long = "runtime.worker-threads", global = true)]
    worker_threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one probe once in the foreground, print a summary, and exit 1 if an SLO failed.
    Once {
        /// The probe to run.
        #[arg(long)]
        probe: String,
        /// Run length (default: the probe's `for`, or 30s for a continuous probe).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Summary format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let signed: jiff::SignedDuration = text.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from(signed).map_err(|e| format!("{e}"))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Logfmt,
    Json,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Before the runtime: the OTLP exporter's blocking HTTP client must not start inside it.
    let telemetry = loadprobe::telemetry::init().context("cannot set up OpenTelemetry tracing")?;
    init_logging(cli.log_level, cli.log_format, telemetry.as_ref());
    if let Some(telemetry) = &telemetry {
        telemetry.log_settings();
    }
    let plan = load_plan(&cli.config_file);
    if cli.config_check {
        match plan {
            Ok(_) => println!("{}: valid", cli.config_file.display()),
            Err(error) => {
                eprintln!("{error:#}");
                std::process::exit(1);
            }
        }
        return Ok(());
    }
    let mut plan = plan?;
    if let Some(shard) = cli.shard {
        tracing::info!(%shard, "running this replica's share of the load");
        plan = plan.with_shard(shard);
    }

    let runtime = build_runtime(cli.worker_threads)?;
    if let Some(Command::Once {
        probe,
        duration,
        output,
    }) = &cli.command
    {
        let once = runtime.block_on(loadprobe::once::run(plan, probe, *duration));
        if let Some(telemetry) = telemetry {
            telemetry.shutdown();
        }
        let once = once?;
        match output {
            Output::Text => print!("{}", loadprobe::once::render_text(&once)),
            Output::Json => println!("{}", serde_json::to_string_pretty(&once)?),
        }
        std::process::exit(if once.report.success { 0 } else { 1 });
    }
    let served = runtime.block_on(serve(&cli, plan));
    // After the drain, so its iterations' spans are exported too.
    if let Some(telemetry) = telemetry {
        telemetry.shutdown();
    }
    served
}

async fn serve(cli: &Cli, plan: Plan) -> anyhow::Result<()> {
    if !cli.telemetry_path.starts_with('/') {
        bail!("--web.telemetry-path must start with `/`");
    }
    // Before binding, so a bad web config never opens a port.
    let web = web_config(cli)?;
    let mut listeners = Vec::new();
    for address in &cli.listen_addresses {
        // `:10180` means every interface, as in the Go exporters.
        let address = if address.starts_with(':') {
            format!("0.0.0.0{address}")
        } else {
            address.clone()
        };
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        tracing::info!(address = %listener.local_addr()?, "listening");
        listeners.push(listener);
    }
    let (control, commands) = Control::channel(8);
    let (path, shard) = (cli.config_file.clone(), cli.shard);
    let source: PlanSource = Arc::new(move || {
        let plan = load_plan(&path).map_err(|e| ReloadError::Invalid(format!("{e:#}")))?;
        Ok(match shard {
            Some(shard) => plan.with_shard(shard),
            None => plan,
        })
    });
    // Installed before the first probe starts: SIGHUP's default action would kill us.
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot install the SIGHUP handler")?;
    tokio::spawn(reload_on_hangup(hangup, control.clone()));
    let serve = ServeOptions {
        telemetry_path: cli.telemetry_path.clone(),
        web: WebOptions {
            config: web,
            enable_lifecycle: cli.enable_lifecycle,
            enable_run: cli.enable_run,
        },
    };
    let options = RunOptions {
        source: Some(source),
        control: (control, commands),
        ..RunOptions::new(serve)
    };
    loadprobe::run(plan, listeners, options, shutdown_signal()).await?;
    Ok(())
}

/// The async runtime: `threads` workers, by default 2 or the CPUs the process may use if
/// fewer. With one, a single-threaded runtime: two threads taking turns on one CPU would
/// wake each other for every batch of responses, which costs more than it brings.
fn build_runtime(threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = threads.unwrap_or(usable.min(2)).max(1);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
}

/// Reads and validates the configuration file into a plan.
fn load_plan(path: &Path) -> anyhow::Result<Plan> {
    let config =
        Config::load(path).with_context(|| format!("invalid config {}", path.display()))?;
    Plan::try_from(config).with_context(|| format!("invalid config {}", path.display()))
}

/// Reloads the configuration on every SIGHUP, like every Prometheus exporter; the engine
/// logs the outcome (and keeps the running configuration when the new one is invalid).
async fn reload_on_hangup(mut hangup: tokio::signal::unix::Signal, control: Control) {
    while hangup.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading the configuration");
        let _ = control.reload().await;
    }
}

/// The `--web.config.file`, or plain HTTP without auth when it is not given.
fn web_config(cli: &Cli) -> anyhow::Result<WebConfig> {
    let Some(path) = &cli.web_config_file else {
        return Ok(WebConfig::default());
    };
    let config =
        WebConfig::load(path).with_context(|| format!("invalid web config {}", path.display()))?;
    tracing::info!(
        file = %path.display(),
        tls = config.tls.is_some(),
        basic_auth = !config.users.is_empty(),
        "web config loaded"
    );
    Ok(config)
}

fn init_logging(
    level: LogLevel,
    format: LogFormat,
    telemetry: Option<&loadprobe::telemetry::TelemetryGuard>,
) {
    let level = format!("{level:?}").to_lowercase();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // loadprobe's own `tracing` spans go to the collector too when tracing is on.
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(telemetry.and_then(|t| t.layer()));
    match format {
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

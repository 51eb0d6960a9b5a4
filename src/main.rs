//! The `loadprobe` binary: flags, logging, config, listeners; then `loadprobe::run` until
//! SIGTERM or SIGINT.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use loadprobe::config::Config;
use loadprobe::plan::{Plan, Shard};
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
    /// Threads of the async runtime (load generation and serving share them).
    #[arg(long = "runtime.worker-threads", default_value_t = 2, global = true)]
    worker_threads: usize,
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
    let config = Config::load(&cli.config_file)
        .with_context(|| format!("invalid config {}", cli.config_file.display()));
    let plan = config.and_then(|c| {
        Plan::try_from(c).with_context(|| format!("invalid config {}", cli.config_file.display()))
    });
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.worker_threads.max(1))
        .enable_all()
        .build()?;
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
    loadprobe::run(plan, listeners, &cli.telemetry_path, shutdown_signal()).await?;
    Ok(())
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
    // Exporters reload on SIGHUP; until reload exists, SIGHUP must not kill the process
    // (its default action), so it is caught and the running config is kept.
    let mut hangup = signal(SignalKind::hangup()).expect("SIGHUP handler installs");
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = terminate.recv() => return,
            _ = hangup.recv() => tracing::warn!("SIGHUP received: configuration reload is not supported yet; keeping the running configuration"),
        }
    }
}

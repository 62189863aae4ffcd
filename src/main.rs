//! The `warren` binary: reads the configuration, starts the broker, stops it on
//! SIGTERM/SIGINT, reloads its TLS certificates on SIGHUP. `warren ctl ...` is the management tool instead.

use clap::Parser;
use warren::config::{Cli, Config};

/// Without `RUST_LOG`: info, but not raft-log's line for every flush of the metadata log.
const DEFAULT_LOG_FILTER: &str = "info,raft_log::raft_log::state_machine::payload_cache=warn";

fn main() -> std::process::ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "ctl") {
        return warren::ctl::main(std::env::args_os().skip(1));
    }
    let cli = Cli::parse();
    let config = match Config::load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warren: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if cli.print_config {
        print!("{}", config.to_toml());
        return std::process::ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warren: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warren: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Handlers first: a SIGTERM right after "AMQP listening" is logged is a clean stop too.
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let server = warren::Server::start(config).await?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = interrupt.recv() => break,
            // SIGHUP: new TLS handshakes use the certificate and key files as they are now.
            _ = hangup.recv() => match server.reload_tls() {
                Ok(n) => tracing::info!("SIGHUP: reloaded {n} TLS listener(s)"),
                Err(e) => tracing::error!("SIGHUP: TLS reload failed, keeping the old certificates: {e}"),
            },
        }
    }
    tracing::info!("shutting down");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

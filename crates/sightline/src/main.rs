//! `sightline`: the one binary of the Sightline video management system.
//!
//! Subcommands: `serve` runs the recorder and HTTP API; `camera`, `export` and
//! `audit list` talk to a running server over HTTP with an API token; `user`, `token`
//! and `audit verify` administer a data directory offline; `sim` serves simulated RTSP
//! cameras; `demo` runs a server and four simulated cameras together; `bench` measures. Settings come from flags, then `SIGHTLINE_*`
//! environment variables, then a TOML file (`--config`), then built-in defaults.

mod client;
mod cmd;
mod settings;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sightline",
    version,
    about = "Sightline video management system"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record cameras and serve the API (SQLite + local media under --data).
    Serve(cmd::serve::ServeArgs),
    /// Manage cameras on a running server.
    #[command(subcommand)]
    Camera(cmd::camera::CameraCommand),
    /// Export a camera's recording of a time range as an MP4.
    Export(cmd::export::ExportArgs),
    /// Serve simulated RTSP cameras.
    Sim(cmd::sim::SimArgs),
    /// Run a server with four simulated cameras registered and recording.
    Demo(cmd::demo::DemoArgs),
    /// Administer user accounts (offline, on the data directory).
    #[command(subcommand)]
    User(cmd::user::UserCommand),
    /// Administer API tokens (offline, on the data directory).
    #[command(subcommand)]
    Token(cmd::token::TokenCommand),
    /// Verify the audit chain (offline) or read the trail (from a server).
    #[command(subcommand)]
    Audit(cmd::audit::AuditCommand),
    /// Benchmarks, reported as ratios against a baseline run side by side.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SIGHTLINE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx=warn,retina=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("starting the async runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => cmd::serve::run(args).await,
            Command::Camera(c) => cmd::camera::run(c).await,
            Command::Export(args) => cmd::export::run(args).await,
            Command::Sim(args) => cmd::sim::run(args).await,
            Command::Demo(args) => cmd::demo::run(args).await,
            Command::User(c) => cmd::user::run(c).await,
            Command::Token(c) => cmd::token::run(c).await,
            Command::Audit(c) => cmd::audit::run(c).await,
            Command::Bench(c) => cmd::bench::run(c).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

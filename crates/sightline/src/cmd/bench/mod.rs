//! `sightline bench ...`: measurements made by the project itself, each reported against
//! a baseline run side by side or as exact counts (this kind of machine is shared and
//! noisy, so no figure here is a timed assertion in a test).

mod export;
mod ingest;
mod ncnd;
mod rig;

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Time answers for a covert camera against answers for a missing one.
    Ncnd {
        /// Requests of each kind per route.
        #[arg(long, default_value_t = 2000)]
        requests: u32,
    },
    /// Record N simulated cameras for S seconds, the simulator and the recorder in
    /// separate processes, and count every frame sent against every frame recorded.
    Ingest(ingest::IngestArgs),
    /// Export a long recording over the API against reading its segment files from disk.
    Export(export::ExportArgs),
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ncnd { requests } => ncnd::run(requests).await,
        BenchCommand::Ingest(args) => ingest::run(args).await,
        BenchCommand::Export(args) => export::run(args).await,
    }
}

//! `sightline export`: download a camera's recording of a time range as an MP4, with a
//! progress bar on a terminal.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use futures::StreamExt;
use reqwest::Method;
use sightline_core::Timestamp;

use crate::client::ServerArg;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[arg(long)]
    camera: i64,
    /// Start, RFC 3339 (e.g. 2026-11-25T14:00:00Z).
    #[arg(long)]
    from: Timestamp,
    /// End, RFC 3339.
    #[arg(long)]
    to: Timestamp,
    /// Where to write the MP4.
    #[arg(long)]
    output: PathBuf,
    #[command(flatten)]
    server: ServerArg,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let path = format!(
        "/api/cameras/{}/export.mp4?from={}&to={}",
        args.camera,
        urlencode(&args.from.to_rfc3339()),
        urlencode(&args.to.to_rfc3339())
    );
    let resp = args.server.client()?.send(Method::GET, &path, None).await?;
    let total = resp.content_length();
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template"),
        );
        Some(bar)
    } else {
        None
    };
    // Write to a temporary name and rename, so a failed download never looks complete.
    let partial = args.output.with_extension("mp4.part");
    let mut file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut written = 0u64;
    let mut body = resp.bytes_stream();
    while let Some(piece) = body.next().await {
        let piece = piece.context("downloading the export")?;
        file.write_all(&piece)
            .with_context(|| format!("writing {}", partial.display()))?;
        written += piece.len() as u64;
        if let Some(b) = &bar {
            b.set_position(written);
        }
    }
    if let Some(t) = total {
        anyhow::ensure!(written == t, "the server sent {written} of {t} bytes");
    }
    file.sync_all()?;
    std::fs::rename(&partial, &args.output)
        .with_context(|| format!("renaming to {}", args.output.display()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    println!("wrote {} ({written} bytes)", args.output.display());
    Ok(())
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

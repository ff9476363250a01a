//! What the local commands (`user`, `token`, `audit verify`, and `demo`'s setup) share:
//! opening the data directory directly, and auditing what they change.
//!
//! They work on the store without a server (the first account must come from
//! somewhere, and automation needs no running server); SQLite lets them run beside
//! one. Their audit entries name the actor `cli` and the operating-system user.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use sightline_core::Sensitivity;
use sightline_store::audit::{AuditRecord, Outcome};
use sightline_store::Store;

use crate::settings::DEFAULT_DATA;

/// The data directory of the store to administer.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArg {
    /// Data directory. Default ./sightline-data.
    #[arg(long, env = "SIGHTLINE_DATA", default_value = DEFAULT_DATA)]
    pub data: PathBuf,
}

impl DataArg {
    /// Opens the store, refusing to create one where none exists (a typo in --data
    /// must not silently make a new, empty system).
    pub async fn open(&self) -> anyhow::Result<Store> {
        anyhow::ensure!(
            self.data.join("sightline.db").exists(),
            "no Sightline data in {} (create the first account with `sightline user add`, \
             or start `sightline serve --data {}`, or check --data)",
            self.data.display(),
            self.data.display()
        );
        self.open_or_create().await
    }

    /// Opens the store, creating it if needed: for provisioning the first account
    /// before the first start, which then prints no one-time secret.
    pub async fn open_or_create(&self) -> anyhow::Result<Store> {
        Store::open(&self.data)
            .await
            .with_context(|| format!("opening the store in {}", self.data.display()))
    }
}

/// Writes an audit entry for a change made by a local command (not through the API).
/// A target `camera:ID` also files the entry under that camera.
pub async fn audit(
    store: &Store,
    action: &str,
    target: &str,
    detail: String,
) -> anyhow::Result<()> {
    let os_user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    store
        .audit(&AuditRecord {
            actor: "cli".into(),
            source: "local".into(),
            action: action.into(),
            target: target.into(),
            camera: target
                .strip_prefix("camera:")
                .and_then(|id| id.parse().ok())
                .map(sightline_core::CameraId),
            outcome: Outcome::Ok,
            detail: format!("{detail}; os user {os_user}"),
            sensitivity: Sensitivity::default(),
        })
        .await
        .context("writing the audit entry")?;
    Ok(())
}

/// Reads a secret from standard input (one line; the newline is dropped).
pub fn read_stdin_secret(what: &str) -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .with_context(|| format!("reading the {what} from standard input"))?;
    Ok(s.trim_end_matches(['\r', '\n']).to_owned())
}

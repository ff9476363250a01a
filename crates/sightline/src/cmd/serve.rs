//! `sightline serve`: recover the store, start recording, serve the API.
//!
//! Secure by default: there is no default account. On the first start with no users,
//! an administrator `admin` is created with a one-time secret printed once on standard
//! output, which must be changed at first sign-in.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use sightline_core::camera::DEFAULT_ORG;
use sightline_core::{Clearance, Role};
use sightline_recorder::Recorder;
use sightline_server::AppState;
use sightline_store::audit::{AuditRecord, Outcome};
use sightline_store::users::NewUser;
use sightline_store::Store;
use tokio::sync::oneshot;

use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// TOML settings file.
    #[arg(long, env = "SIGHTLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (database, media, keys). Default ./sightline-data.
    #[arg(long, env = "SIGHTLINE_DATA")]
    pub data: Option<PathBuf>,
    /// Address to listen on. Default 127.0.0.1:8080.
    #[arg(long, env = "SIGHTLINE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Global cap on stored media in bytes; oldest recordings are deleted first.
    #[arg(long, env = "SIGHTLINE_DISK_QUOTA_BYTES")]
    pub disk_quota_bytes: Option<u64>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "SIGHTLINE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "SIGHTLINE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// A running server.
pub struct Running {
    /// `http` or `https`.
    pub scheme: &'static str,
    pub addr: SocketAddr,
    pub state: AppState,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting requests, then stops recording cleanly (every run is closed).
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.server
            .await
            .context("server task")?
            .context("serving HTTP")?;
        self.state.recorder.shutdown().await;
        self.state.store.close().await;
        Ok(())
    }
}

pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let tls = match &settings.tls {
        Some((cert, key)) => Some(sightline_server::load_tls(cert, key).await?),
        None => None,
    };
    let mut auth = settings.auth.clone();
    auth.secure_cookie |= tls.is_some();
    let store = Store::open(&settings.data)
        .await
        .with_context(|| format!("opening the store in {}", settings.data.display()))?;
    let recorder = Recorder::start(store.clone(), settings.recorder.clone())
        .await
        .context("starting the recorder")?;
    bootstrap_admin(&store).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let state = AppState::new(store, recorder, auth);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(sightline_server::serve(
        listener,
        state.clone(),
        async move {
            let _ = stopped.await;
        },
        tls,
    ));
    tracing::info!(%addr, data = %settings.data.display(), "Sightline is serving");
    Ok(Running {
        scheme: if settings.tls.is_some() {
            "https"
        } else {
            "http"
        },
        addr,
        state,
        stop,
        server,
    })
}

/// The user the first start creates.
pub const BOOTSTRAP_USER: &str = "admin";

/// With no accounts at all, creates `admin` (fully cleared, so it can set up the
/// whole estate) with a one-time secret that must be changed at first sign-in.
async fn bootstrap_admin(store: &Store) -> anyhow::Result<()> {
    if store.user_count().await? > 0 {
        return Ok(());
    }
    let secret = sightline_store::credentials::new_secret("")[..24].to_owned();
    store
        .add_user(NewUser {
            name: BOOTSTRAP_USER.into(),
            org: DEFAULT_ORG.into(),
            role: Role::Administrator,
            clearance: Clearance::FULL,
            password: secret.clone(),
            must_change_password: true,
        })
        .await
        .context("creating the first administrator")?;
    store
        .audit(&AuditRecord {
            actor: "system".into(),
            source: "local".into(),
            action: "user.bootstrap".into(),
            target: format!("user:{BOOTSTRAP_USER}"),
            camera: None,
            outcome: Outcome::Ok,
            detail: "first start: one-time secret printed".into(),
            sensitivity: Default::default(),
        })
        .await?;
    println!("No accounts exist yet. Sign in as {BOOTSTRAP_USER:?} with this one-time secret,");
    println!("which must be changed at first sign-in (it is not shown again):");
    println!("  bootstrap-secret: {secret}");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = Settings::resolve(
        args.config.as_deref(),
        args.data,
        args.listen,
        args.disk_quota_bytes,
    )?;
    settings.tls = args.tls_cert.zip(args.tls_key).or(settings.tls);
    let running = start(settings).await?;
    println!(
        "Sightline listening on {}://{}",
        running.scheme, running.addr
    );
    shutdown_signal().await;
    eprintln!("stopping: closing recordings");
    running.stop().await
}

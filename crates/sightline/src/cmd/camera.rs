//! `sightline camera ...`: the camera registry of a running server.

use std::io::Read;

use anyhow::Context;
use reqwest::Method;
use serde_json::json;
use sightline_server::api::CameraView;

use crate::client::{Client, DEFAULT_SERVER};

#[derive(clap::Args, Debug, Clone)]
pub struct ServerArg {
    /// The Sightline server.
    #[arg(long, env = "SIGHTLINE_SERVER", default_value = DEFAULT_SERVER, global = true)]
    pub server: String,
}

#[derive(clap::Subcommand, Debug)]
pub enum CameraCommand {
    /// Register a camera; prints its id alone on the last line.
    Add {
        #[arg(long)]
        name: String,
        /// RTSP URL (credentials in it are moved to encrypted storage).
        #[arg(long)]
        url: String,
        #[arg(long)]
        user: Option<String>,
        /// Read the camera password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// tcp (default) or udp.
        #[arg(long)]
        transport: Option<String>,
        /// Maximum age of recordings in days (default 31).
        #[arg(long)]
        retention_days: Option<u32>,
        /// Register without recording.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List cameras with their recording status.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Show one camera as JSON.
    Show {
        id: i64,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Change a camera's settings.
    Update {
        id: i64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        transport: Option<String>,
        #[arg(long)]
        retention_days: Option<u32>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Remove a camera and delete its recordings.
    Remove {
        id: i64,
        #[command(flatten)]
        server: ServerArg,
    },
}

fn read_password(wanted: bool) -> anyhow::Result<Option<String>> {
    if !wanted {
        return Ok(None);
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading the password from standard input")?;
    Ok(Some(s.trim_end_matches(['\r', '\n']).to_owned()))
}

pub async fn run(command: CameraCommand) -> anyhow::Result<()> {
    match command {
        CameraCommand::Add {
            name,
            url,
            user,
            password_stdin,
            transport,
            retention_days,
            disabled,
            server,
        } => {
            let body = json!({
                "name": name, "url": url, "username": user, "password": read_password(password_stdin)?,
                "transport": transport, "retention_days": retention_days, "enabled": !disabled,
            });
            let cam: CameraView = Client::new(&server.server)
                .json(Method::POST, "/api/cameras", Some(body))
                .await?;
            println!("added camera {:?}", cam.name);
            println!("{}", cam.id);
        }
        CameraCommand::List { json, server } => {
            let cams: Vec<CameraView> = Client::new(&server.server)
                .json(Method::GET, "/api/cameras", None)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&cams)?);
            } else {
                print_table(&cams);
            }
        }
        CameraCommand::Show { id, server } => {
            let cam: CameraView = Client::new(&server.server)
                .json(Method::GET, &format!("/api/cameras/{id}"), None)
                .await?;
            println!("{}", serde_json::to_string_pretty(&cam)?);
        }
        CameraCommand::Update {
            id,
            name,
            url,
            user,
            password_stdin,
            transport,
            retention_days,
            enable,
            disable,
            server,
        } => {
            let mut body = serde_json::Map::new();
            let mut set = |k: &str, v: serde_json::Value| {
                if !v.is_null() {
                    body.insert(k.to_owned(), v);
                }
            };
            set("name", json!(name));
            set("url", json!(url));
            set("username", json!(user));
            set("password", json!(read_password(password_stdin)?));
            set("transport", json!(transport));
            set("retention_days", json!(retention_days));
            set(
                "enabled",
                if enable {
                    json!(true)
                } else if disable {
                    json!(false)
                } else {
                    json!(null)
                },
            );
            let cam: CameraView = Client::new(&server.server)
                .json(
                    Method::PATCH,
                    &format!("/api/cameras/{id}"),
                    Some(body.into()),
                )
                .await?;
            println!("updated camera {} ({:?})", cam.id, cam.name);
        }
        CameraCommand::Remove { id, server } => {
            Client::new(&server.server)
                .send(Method::DELETE, &format!("/api/cameras/{id}"), None)
                .await?;
            println!("removed camera {id}");
        }
    }
    Ok(())
}

fn print_table(cams: &[CameraView]) {
    println!(
        "{:>4}  {:<20} {:<10} {:>5} {:>9}  {:<25} ERROR",
        "ID", "NAME", "STATE", "FPS", "KBIT/S", "LAST FRAME"
    );
    for c in cams {
        let s = &c.status;
        println!(
            "{:>4}  {:<20} {:<10} {:>5.1} {:>9.0}  {:<25} {}",
            c.id,
            c.name,
            s.state,
            s.fps,
            s.bitrate_bps / 1000.0,
            s.last_frame_at.as_deref().unwrap_or("-"),
            s.last_error.as_deref().unwrap_or("")
        );
    }
}

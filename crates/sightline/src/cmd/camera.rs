//! `sightline camera ...`: the camera registry of a running server.

use std::io::Read;

use anyhow::Context;
use reqwest::Method;
use serde_json::json;
use sightline_server::api::CameraView;

use crate::client::ServerArg;

/// Settings shared by `camera add` and `camera update`.
#[derive(clap::Args, Debug)]
pub struct CameraFields {
    /// Camera username.
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
    /// Owning organisation (default: yours).
    #[arg(long)]
    owner: Option<String>,
    /// Camera group that grants refer to (default: the owner).
    #[arg(long)]
    group: Option<String>,
    /// OFFICIAL (default), OFFICIAL-SENSITIVE or SECRET.
    #[arg(long)]
    classification: Option<String>,
    /// A covert asset: invisible to anyone not cleared for covert capability.
    #[arg(long)]
    covert: bool,
    /// static (default), ptz, deployable or body-worn.
    #[arg(long)]
    kind: Option<String>,
    /// owned (default), partner, temporary or body-worn.
    #[arg(long)]
    control: Option<String>,
    /// Latitude, WGS84 degrees (with --lon); the borough follows from the position.
    #[arg(long, requires = "lon", allow_hyphen_values = true)]
    lat: Option<f64>,
    /// Longitude, WGS84 degrees (with --lat).
    #[arg(long, requires = "lat", allow_hyphen_values = true)]
    lon: Option<f64>,
}

impl CameraFields {
    /// The fields that were given, as a JSON object for the API.
    fn into_json(self) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
        let password = if self.password_stdin {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the password from standard input")?;
            Some(s.trim_end_matches(['\r', '\n']).to_owned())
        } else {
            None
        };
        let all = json!({
            "username": self.user, "password": password,
            "transport": self.transport, "retention_days": self.retention_days,
            "owner": self.owner, "group": self.group,
            "classification": self.classification, "covert": self.covert.then_some(true),
            "kind": self.kind, "control": self.control, "lat": self.lat, "lon": self.lon,
        });
        Ok(all
            .as_object()
            .expect("an object")
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
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
        /// Register without recording.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        fields: CameraFields,
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
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        #[command(flatten)]
        fields: CameraFields,
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

pub async fn run(command: CameraCommand) -> anyhow::Result<()> {
    match command {
        CameraCommand::Add {
            name,
            url,
            disabled,
            fields,
            server,
        } => {
            let mut body = fields.into_json()?;
            body.insert("name".into(), json!(name));
            body.insert("url".into(), json!(url));
            body.insert("enabled".into(), json!(!disabled));
            let cam: CameraView = server
                .client()?
                .json(Method::POST, "/api/cameras", Some(body.into()))
                .await?;
            println!("added camera {:?}", cam.name);
            println!("{}", cam.id);
        }
        CameraCommand::List { json, server } => {
            let cams: Vec<CameraView> = server
                .client()?
                .json(Method::GET, "/api/cameras", None)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&cams)?);
            } else {
                print_table(&cams);
            }
        }
        CameraCommand::Show { id, server } => {
            let cam: CameraView = server
                .client()?
                .json(Method::GET, &format!("/api/cameras/{id}"), None)
                .await?;
            println!("{}", serde_json::to_string_pretty(&cam)?);
        }
        CameraCommand::Update {
            id,
            name,
            url,
            enable,
            disable,
            fields,
            server,
        } => {
            let mut body = fields.into_json()?;
            for (key, value) in [("name", name), ("url", url)] {
                if let Some(v) = value {
                    body.insert(key.into(), json!(v));
                }
            }
            if enable || disable {
                body.insert("enabled".into(), json!(enable));
            }
            let cam: CameraView = server
                .client()?
                .json(
                    Method::PATCH,
                    &format!("/api/cameras/{id}"),
                    Some(body.into()),
                )
                .await?;
            println!("updated camera {} ({:?})", cam.id, cam.name);
        }
        CameraCommand::Remove { id, server } => {
            server
                .client()?
                .send(Method::DELETE, &format!("/api/cameras/{id}"), None)
                .await?;
            println!("removed camera {id}");
        }
    }
    Ok(())
}

fn print_table(cams: &[CameraView]) {
    println!(
        "{:>4}  {:<20} {:<16} {:<10} {:<22} {:<10} {:>5} {:>9}  {:<25} ERROR",
        "ID", "NAME", "OWNER", "KIND", "BOROUGH", "STATE", "FPS", "KBIT/S", "LAST FRAME"
    );
    for c in cams {
        let s = &c.status;
        println!(
            "{:>4}  {:<20} {:<16} {:<10} {:<22} {:<10} {:>5.1} {:>9.0}  {:<25} {}",
            c.id,
            c.name,
            c.owner,
            c.kind,
            c.borough.as_deref().unwrap_or("-"),
            s.state,
            s.fps,
            s.bitrate_bps / 1000.0,
            s.last_frame_at.as_deref().unwrap_or("-"),
            s.last_error.as_deref().unwrap_or("")
        );
    }
}

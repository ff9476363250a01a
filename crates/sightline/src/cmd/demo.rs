//! `sightline demo`: the simulated London estate and a server, registered and recording,
//! in one command. Stops cleanly on Ctrl-C.
//!
//! Every streamed camera of the estate is registered with its owner, kind, control
//! class and position (so its borough): the two force units' cameras, the temporary
//! deployments, the covert observation posts, and the feeds the partner councils share
//! (view only, granted to the borough command). A subset records, as many as a laptop
//! carries. One account per role is made on the first run, with a random password
//! printed once; running the demo again reuses the data directory as it is.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use sightline_core::{
    CameraConfig, CameraKind, Classification, Clearance, ControlClass, Grant, Rights, Role,
    Sensitivity, Visibility,
};
use sightline_sim::estate::{self, Control, EstateCamera, Kind};
use sightline_sim::{Estate, SimConfig, SimServer};
use sightline_store::cameras::CameraUpdate;
use sightline_store::users::NewUser;
use sightline_store::Store;

use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Data directory. Default ./sightline-data.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Address for the HTTP server. Default 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address for the simulated cameras.
    #[arg(long, default_value = "127.0.0.1:0")]
    sim_listen: SocketAddr,
    /// How many of the force's own cameras record (the rest are registered, not recording).
    #[arg(long, default_value_t = 12)]
    recording: usize,
    /// The estate's seed: the same seed gives the same city.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The demo's accounts: name, role, clearance. All in the borough command unit.
const ACCOUNTS: &[(&str, Role, Clearance)] = &[
    ("operator", Role::Operator, UNCLEARED),
    ("supervisor", Role::Supervisor, UNCLEARED),
    ("evidence-officer", Role::EvidenceOfficer, UNCLEARED),
    ("disclosure-officer", Role::DisclosureOfficer, UNCLEARED),
    ("auditor", Role::Auditor, UNCLEARED),
    ("administrator", Role::Administrator, Clearance::FULL),
    ("covert-supervisor", Role::Supervisor, Clearance::FULL),
];

const UNCLEARED: Clearance = Clearance {
    level: Classification::OfficialSensitive,
    covert: false,
};

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(None, args.data, args.listen, None)?;
    let estate = Estate::london(args.seed);
    let plan = estate.stream_plan();

    let sim = SimServer::start(SimConfig {
        listen: args.sim_listen,
        ..plan.config.clone()
    })
    .await
    .context("starting the simulated estate")?;

    // Accounts and cameras go in before the server starts: no one-time secret to change,
    // and the recorder starts on cameras already pointing at this run's simulator.
    let store = Store::open(&settings.data)
        .await
        .with_context(|| format!("opening {}", settings.data.display()))?;
    provision_accounts(&store).await?;
    let everything = Visibility::everything();
    let mut existing: std::collections::HashMap<String, sightline_core::CameraId> = store
        .cameras(&everything)
        .await?
        .into_iter()
        .map(|c| (c.name, c.id))
        .collect();
    // The first owned cameras record, and one covert observation post (seen only by
    // those cleared for it); everything else is registered without recording.
    let (mut overt_recording, mut covert_recording, mut registered) = (0, 0, 0);
    for (index, main, _sub) in &plan.streams {
        let camera = &estate.cameras[*index];
        let owned = camera.control == Control::Owned;
        let record = owned
            && if camera.covert {
                covert_recording < 1
            } else {
                overt_recording < args.recording
            };
        let known = existing.remove(&camera.name);
        register(&store, camera, known, sim.camera_url(*main), record).await?;
        if record {
            *if camera.covert {
                &mut covert_recording
            } else {
                &mut overt_recording
            } += 1;
        }
        registered += 1;
    }
    let recording = overt_recording + covert_recording;
    // Cameras from another seed or an older demo: keep their recordings, stop recording.
    for (_, id) in existing {
        let stop = CameraUpdate {
            enabled: Some(false),
            ..Default::default()
        };
        store.update_camera(&everything, id, stop).await?;
    }
    // The borough command sees the security zone's cameras and the councils' shared feeds.
    for (group, rights) in std::iter::once((
        estate::SECURITY_ZONE.to_owned(),
        Rights::LIVE.union(Rights::PLAYBACK),
    ))
    .chain(
        estate
            .councils
            .iter()
            .map(|c| (c.slug.clone(), Rights::LIVE)),
    ) {
        store
            .put_grant(&Grant {
                org: estate::BOROUGH_COMMAND.into(),
                camera_group: group,
                rights,
                ptz_priority: 0,
            })
            .await?;
    }
    store.close().await;
    let running = super::serve::start(settings).await?;

    let base = format!("{}://{}", running.scheme, running.addr);
    let partner: u32 = estate.councils.iter().map(|c| c.cameras).sum();
    println!("Sightline demo running: the simulated London estate.");
    println!(
        "  cameras:  {registered} registered, {recording} recording; {} partner councils ({partner} cameras, their shared feeds view-only); {} body-worn devices",
        estate.councils.len(),
        estate.bwv.len()
    );
    println!("  API:      {base}/api/cameras   OpenAPI: {base}/api/openapi.json");
    println!("  sign in:  POST {base}/api/session with a demo account (see above; `sightline user reset-password` if lost)");
    let data = running.state.store.root().display().to_string();
    println!("  CLI:      export SIGHTLINE_TOKEN=$(sightline token create --data {data} --user supervisor | tail -n 1)");
    println!("            sightline camera list --server {base}");
    println!("Press Ctrl-C to stop.");
    super::serve::shutdown_signal().await;
    eprintln!("stopping the demo");
    running.stop().await?;
    sim.shutdown().await;
    Ok(())
}

/// Creates the demo's accounts that do not exist yet and prints each new one's
/// password at once (it is shown only this once, so before anything else can fail).
async fn provision_accounts(store: &Store) -> anyhow::Result<()> {
    let mut first = true;
    for (name, role, clearance) in ACCOUNTS {
        if store.user(name).await.is_ok() {
            continue;
        }
        let password = sightline_store::credentials::new_secret("")[..20].to_owned();
        store
            .add_user(NewUser {
                name: (*name).into(),
                org: estate::BOROUGH_COMMAND.into(),
                role: *role,
                clearance: *clearance,
                password: password.clone(),
                must_change_password: false,
            })
            .await?;
        super::offline::audit(
            store,
            "user.add",
            &format!("user:{name}"),
            format!("demo account, {role}"),
        )
        .await?;
        if std::mem::take(&mut first) {
            println!("Demo accounts (passwords shown once):");
        }
        println!("    login: {name} / {password}");
    }
    Ok(())
}

/// Registers one estate camera, or on a later run (`known`) points it at this run's
/// simulator and sets whether it records.
async fn register(
    store: &Store,
    camera: &EstateCamera,
    known: Option<sightline_core::CameraId>,
    url: String,
    record: bool,
) -> anyhow::Result<()> {
    let everything = Visibility::everything();
    let (action, id) = match known {
        Some(id) => {
            let update = CameraUpdate {
                url: Some(url.clone()),
                enabled: Some(record),
                owner_org: Some(camera.owner_org.clone()),
                kind: Some(kind_of(camera)),
                control: Some(control_of(camera)),
                position: Some(Some(camera.position)),
                sensitivity: Some(sensitivity_of(camera)),
                ..Default::default()
            };
            (
                "camera.update",
                store.update_camera(&everything, id, update).await?.id,
            )
        }
        None => {
            let mut config = CameraConfig::new(camera.name.clone(), url.clone());
            config.owner_org = camera.owner_org.clone();
            config.enabled = record;
            config.kind = kind_of(camera);
            config.control = control_of(camera);
            config.position = Some(camera.position);
            config.sensitivity = sensitivity_of(camera);
            (
                "camera.add",
                store.add_camera(&everything, config).await?.id,
            )
        }
    };
    super::offline::audit(
        store,
        action,
        &format!("camera:{id}"),
        format!("demo setup, {}", camera.key),
    )
    .await?;
    Ok(())
}

fn kind_of(camera: &EstateCamera) -> CameraKind {
    match camera.kind {
        Kind::Static => CameraKind::Static,
        Kind::Ptz => CameraKind::Ptz,
        Kind::Deployable => CameraKind::Deployable,
    }
}

fn control_of(camera: &EstateCamera) -> ControlClass {
    match camera.control {
        Control::Owned => ControlClass::Owned,
        Control::Partner => ControlClass::Partner,
        Control::Temporary => ControlClass::Temporary,
    }
}

/// Covert posts are SECRET and covert; everything else OFFICIAL.
fn sensitivity_of(camera: &EstateCamera) -> Sensitivity {
    Sensitivity {
        classification: if camera.covert {
            Classification::Secret
        } else {
            Classification::Official
        },
        covert: camera.covert,
    }
}

//! The simulated London estate: what a large metropolitan force actually runs.
//!
//! - about 300 owned cameras (static and PTZ) inside Westminster, run by two units: the
//!   borough command and the government security zone team, whose cameras cluster
//!   around Whitehall and Parliament;
//! - 31 partner council systems, one per metropolitan borough but Westminster, each
//!   with its own cameras inside its own borough, a few of which it shares view-only;
//! - a few temporary cameras deployed for short operations, each with a window;
//! - a handful of covert cameras, to exercise never-confirm-nor-deny;
//! - a registry of 26,500 body-worn video devices.
//!
//! The estate is a pure function of a seed, so tests, the demo and benchmarks all see
//! the same city. Positions are drawn uniformly inside each borough's real boundary
//! (rejection sampling in its bounding box), so the breakdown by borough is known.

use sightline_geo::boroughs::{self, Borough, LatLon};

/// The borough whose command runs cameras directly.
pub const HOME_BOROUGH: &str = "Westminster";
/// The org slug of the borough command unit.
pub const BOROUGH_COMMAND: &str = "westminster-bcu";
/// The org slug of the government security zone team.
pub const SECURITY_ZONE: &str = "gsz";
/// Body-worn video devices in the registry.
pub const BWV_DEVICES: u32 = 26_500;

/// The government security zone: Whitehall, Downing Street and Parliament.
const SECURITY_ZONE_BOX: (LatLon, LatLon) = (
    LatLon {
        lat: 51.4985,
        lon: -0.1320,
    },
    LatLon {
        lat: 51.5075,
        lon: -0.1225,
    },
);

/// Who controls a camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Control {
    /// Owned and operated by the force: recorded, live, PTZ.
    Owned,
    /// A partner council's: view only, if and while shared.
    Partner,
    /// Deployed for a short operation, inside its window only.
    Temporary,
}

/// What a camera physically is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Static,
    Ptz,
    Deployable,
}

/// The picture a camera streams: its main stream's profile (every streamed camera also
/// has a 640×360 sub-stream for small tiles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// 1920×1080 at about 4 Mbit/s.
    Hd1080,
    /// 1280×720 at about 2 Mbit/s.
    Hd720,
}

/// A temporary deployment's window, in seconds from the estate's start.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    pub operation: String,
    pub authorised_by: String,
    pub starts_after_s: u64,
    pub lasts_s: u64,
}

/// One camera of the estate.
#[derive(Clone, Debug, PartialEq)]
pub struct EstateCamera {
    /// Stable identifier, also its RTSP path under `/estate/`, e.g. `gsz/ptz-007`.
    pub key: String,
    pub name: String,
    pub owner_org: String,
    pub control: Control,
    pub kind: Kind,
    pub position: LatLon,
    /// The borough the position lies in (by the embedded boundaries).
    pub borough: &'static str,
    pub covert: bool,
    /// `None` for a partner camera its council does not share: no stream reaches the force.
    pub profile: Option<Profile>,
    pub deployment: Option<Deployment>,
}

/// A partner council's system.
#[derive(Clone, Debug, PartialEq)]
pub struct Council {
    /// Org slug, e.g. `camden`.
    pub slug: String,
    pub borough: &'static str,
    pub cameras: u32,
    /// Feeds the council makes viewable to the force.
    pub shared: u32,
}

/// A body-worn video device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BwvDevice {
    pub serial: String,
    /// The borough command the device is issued to (by org slug).
    pub issued_to: String,
}

/// The whole simulated estate.
#[derive(Clone, Debug)]
pub struct Estate {
    pub cameras: Vec<EstateCamera>,
    pub councils: Vec<Council>,
    pub bwv: Vec<BwvDevice>,
}

/// SplitMix64: a small, well-mixed, seedable generator, so the estate is a pure
/// function of its seed without a random-number crate for one loop.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }

    /// A uniform point inside `area` and the box (which must overlap it).
    fn point_in(&mut self, area: &Borough, within: (LatLon, LatLon)) -> LatLon {
        let (sw, ne) = within;
        loop {
            let p = LatLon {
                lat: sw.lat + self.unit() * (ne.lat - sw.lat),
                lon: sw.lon + self.unit() * (ne.lon - sw.lon),
            };
            if area.contains(p) {
                return p;
            }
        }
    }
}

impl Estate {
    /// The London estate for `seed`.
    pub fn london(seed: u64) -> Estate {
        let mut rng = Mix(seed);
        let home = boroughs::by_name(HOME_BOROUGH).expect("Westminster is in the boundary set");
        let mut cameras = Vec::new();

        // Owned: the security zone's cluster, then the borough command across Westminster.
        for (org, count, area) in [
            (SECURITY_ZONE, 80, SECURITY_ZONE_BOX),
            (BOROUGH_COMMAND, 220, home.bounds()),
        ] {
            for n in 1..=count {
                let kind = if rng.unit() < 0.3 {
                    Kind::Ptz
                } else {
                    Kind::Static
                };
                let prefix = if kind == Kind::Ptz { "ptz" } else { "cam" };
                let position = rng.point_in(home, area);
                cameras.push(EstateCamera {
                    key: format!("{org}/{prefix}-{n:03}"),
                    name: format!("{} {prefix} {n:03}", org.to_uppercase()),
                    owner_org: org.into(),
                    control: Control::Owned,
                    kind,
                    position,
                    borough: &home.name,
                    covert: false,
                    profile: Some(if kind == Kind::Ptz || rng.unit() < 0.4 {
                        Profile::Hd1080
                    } else {
                        Profile::Hd720
                    }),
                    deployment: None,
                });
            }
        }

        // Partner councils: every metropolitan borough but Westminster.
        let mut councils = Vec::new();
        for area in boroughs::all()
            .iter()
            .filter(|b| b.metropolitan() && b.name != HOME_BOROUGH)
        {
            let count = rng.between(40, 160);
            let shared = rng.between(2, 8).min(count);
            for n in 1..=count {
                cameras.push(EstateCamera {
                    key: format!("{}/cam-{n:03}", area.slug),
                    name: format!("{} {n:03}", area.name),
                    owner_org: area.slug.clone(),
                    control: Control::Partner,
                    kind: if rng.unit() < 0.2 {
                        Kind::Ptz
                    } else {
                        Kind::Static
                    },
                    position: rng.point_in(area, area.bounds()),
                    borough: &area.name,
                    covert: false,
                    profile: (n <= shared).then_some(Profile::Hd720),
                    deployment: None,
                });
            }
            councils.push(Council {
                slug: area.slug.clone(),
                borough: &area.name,
                cameras: count,
                shared,
            });
        }

        // Temporary deployments, in a few boroughs, for hours to days.
        for (n, borough, operation) in [
            (1, "Brent", "Operation Wembley Arch"),
            (2, "Southwark", "Operation Borough Market"),
            (3, "Newham", "Operation Stratford"),
            (4, "Westminster", "Operation Notting Carnival"),
            (5, "Lambeth", "Operation South Bank"),
        ] {
            let area = boroughs::by_name(borough).expect("a borough in the boundary set");
            cameras.push(EstateCamera {
                key: format!("temporary/dep-{n:02}"),
                name: format!("Deployable {n:02} ({operation})"),
                owner_org: BOROUGH_COMMAND.into(),
                control: Control::Temporary,
                kind: Kind::Deployable,
                position: rng.point_in(area, area.bounds()),
                borough: &area.name,
                covert: false,
                profile: Some(Profile::Hd720),
                deployment: Some(Deployment {
                    operation: operation.into(),
                    authorised_by: format!(
                        "Supt. {}",
                        ["Adeyemi", "Clarke", "Novak", "Shah", "Walsh"][n - 1]
                    ),
                    starts_after_s: u64::from(rng.between(0, 3600)),
                    lasts_s: u64::from(rng.between(6, 72)) * 3600,
                }),
            });
        }

        // Covert assets: owned, streamed, and never to be confirmed.
        for n in 1..=6 {
            cameras.push(EstateCamera {
                key: format!("{BOROUGH_COMMAND}/obs-{n:02}"),
                name: format!("Observation post {n:02}"),
                owner_org: BOROUGH_COMMAND.into(),
                control: Control::Owned,
                kind: Kind::Static,
                position: rng.point_in(home, home.bounds()),
                borough: &home.name,
                covert: true,
                profile: Some(Profile::Hd1080),
                deployment: None,
            });
        }

        // Body-worn video: issued across the 32 borough commands.
        let commands: Vec<&Borough> = boroughs::all()
            .iter()
            .filter(|b| b.metropolitan())
            .collect();
        let bwv = (1..=BWV_DEVICES)
            .map(|n| BwvDevice {
                serial: format!("BWV-{n:06}"),
                issued_to: format!(
                    "{}-bcu",
                    commands[(rng.next() % commands.len() as u64) as usize].slug
                ),
            })
            .collect();

        Estate {
            cameras,
            councils,
            bwv,
        }
    }

    /// The cameras that stream (owned, temporary, covert, and partners' shared feeds).
    pub fn streamed(&self) -> impl Iterator<Item = &EstateCamera> {
        self.cameras.iter().filter(|c| c.profile.is_some())
    }
}

/// How an estate is served by one [`crate::SimServer`]: which simulator camera number
/// carries each streamed camera's main and sub-stream.
#[derive(Clone, Debug)]
pub struct StreamPlan {
    /// The simulator configuration (scenes and each number's scene), to finish with a
    /// listen address.
    pub config: crate::SimConfig,
    /// `(index into Estate::cameras, main stream number, sub-stream number)`.
    pub streams: Vec<(usize, u32, u32)>,
}

/// Scene numbers in a [`StreamPlan`]'s configuration.
const SUB_SCENE: u8 = 0;
const HD720_SCENE: u8 = 1;
const HD1080_SCENE: u8 = 2;

impl Estate {
    /// Serves every streamed camera as two simulator cameras: its main stream at its
    /// profile's size and bitrate, and a 640×360 sub-stream at 0.5 Mbit/s.
    pub fn stream_plan(&self) -> StreamPlan {
        let mut camera_scenes = Vec::new();
        let mut streams = Vec::new();
        for (index, camera) in self.cameras.iter().enumerate() {
            let Some(profile) = camera.profile else {
                continue;
            };
            let main = camera_scenes.len() as u32 + 1;
            camera_scenes.push(match profile {
                Profile::Hd1080 => HD1080_SCENE,
                Profile::Hd720 => HD720_SCENE,
            });
            camera_scenes.push(SUB_SCENE);
            streams.push((index, main, main + 1));
        }
        let config = crate::SimConfig {
            cameras: camera_scenes.len() as u32,
            width: 640,
            height: 360,
            bitrate_bps: Some(500_000),
            extra_scenes: vec![
                crate::SceneSpec {
                    width: 1280,
                    height: 720,
                    bitrate_bps: Some(2_000_000),
                },
                crate::SceneSpec {
                    width: 1920,
                    height: 1080,
                    bitrate_bps: Some(4_000_000),
                },
            ],
            camera_scenes,
            // Two-second loops: distinct enough, and quick to generate at start-up.
            clip_seconds: 2,
            ..crate::SimConfig::default()
        };
        StreamPlan { config, streams }
    }
}

impl Control {
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Owned => "owned",
            Control::Partner => "partner",
            Control::Temporary => "temporary",
        }
    }
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Static => "static",
            Kind::Ptz => "ptz",
            Kind::Deployable => "deployable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estate_has_the_forces_shape() {
        let e = Estate::london(7);
        let owned: Vec<_> = e
            .cameras
            .iter()
            .filter(|c| c.control == Control::Owned && !c.covert)
            .collect();
        assert_eq!(owned.len(), 300);
        let ptz = owned.iter().filter(|c| c.kind == Kind::Ptz).count();
        assert!((60..=120).contains(&ptz), "{ptz} PTZ cameras");
        assert!(owned.iter().all(|c| c.borough == HOME_BOROUGH));
        assert_eq!(e.councils.len(), 31);
        assert!(e
            .councils
            .iter()
            .all(|c| c.borough != HOME_BOROUGH && c.borough != boroughs::CITY_OF_LONDON));
        assert!(e.cameras.iter().any(|c| c.covert));
        assert_eq!(
            e.cameras
                .iter()
                .filter(|c| c.control == Control::Temporary)
                .count(),
            5
        );
        assert_eq!(e.bwv.len(), BWV_DEVICES as usize);
        // Keys are unique: they are RTSP paths.
        let keys: std::collections::HashSet<_> = e.cameras.iter().map(|c| &c.key).collect();
        assert_eq!(keys.len(), e.cameras.len());
        // The same seed gives the same city.
        assert_eq!(Estate::london(7).cameras, e.cameras);
    }

    #[test]
    fn every_streamed_camera_has_a_main_and_a_sub_stream() {
        let e = Estate::london(7);
        let plan = e.stream_plan();
        assert_eq!(plan.streams.len(), e.streamed().count());
        assert_eq!(plan.config.cameras as usize, 2 * plan.streams.len());
        for (index, main, sub) in &plan.streams {
            let scene = |n: u32| plan.config.camera_scenes[n as usize - 1];
            let want = match e.cameras[*index].profile.unwrap() {
                Profile::Hd1080 => HD1080_SCENE,
                Profile::Hd720 => HD720_SCENE,
            };
            assert_eq!((scene(*main), scene(*sub)), (want, SUB_SCENE));
        }
    }

    #[test]
    fn every_camera_lies_in_its_borough_and_partner_cameras_in_their_councils() {
        let e = Estate::london(7);
        for c in &e.cameras {
            let found = boroughs::containing(c.position).map(|b| b.name.as_str());
            assert_eq!(found, Some(c.borough), "{} at {:?}", c.key, c.position);
            if c.control == Control::Partner {
                let council = boroughs::by_name(&c.owner_org).expect("a council is a borough");
                assert!(
                    council.contains(c.position),
                    "{} outside {}",
                    c.key,
                    council.name
                );
            }
        }
        let zone = e.cameras.iter().filter(|c| c.owner_org == SECURITY_ZONE);
        let (sw, ne) = SECURITY_ZONE_BOX;
        for c in zone {
            let p = c.position;
            assert!(p.lat >= sw.lat && p.lat <= ne.lat && p.lon >= sw.lon && p.lon <= ne.lon);
        }
        for council in &e.councils {
            let mine = e.cameras.iter().filter(|c| c.owner_org == council.slug);
            assert_eq!(mine.clone().count() as u32, council.cameras);
            assert_eq!(
                mine.filter(|c| c.profile.is_some()).count() as u32,
                council.shared
            );
        }
    }
}

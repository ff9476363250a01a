//! Who may know of and do what: roles, clearance, camera labels, grants, and the one
//! decision function every route goes through.
//!
//! Three rules from the domain shape this module:
//! - access is role-based and restricted to what a job needs (Surveillance Camera Code,
//!   principle 7): each [`Role`] has a fixed set of [`Action`]s in [`ROLE_ACTIONS`];
//! - covert or over-classified assets are never confirmed nor denied: to a principal not
//!   cleared for an asset, it is [`Decision::Hidden`], which every caller turns into the
//!   exact answer a non-existent id gets;
//! - video rights on a camera come from owning it (the principal's org is the camera's
//!   owner) or from a [`Grant`] of its camera group to the principal's org.
//!
//! The store's SQL visibility predicate mirrors [`Principal::can_know`]; a store test
//! checks the two agree on every combination.

use serde::{Deserialize, Serialize};

/// The value whose name is `input`, ignoring case, surrounding space, and `_` for `-`.
fn by_name<T: Copy>(all: &[T], name: fn(T) -> &'static str, input: &str) -> Option<T> {
    let wanted = input.trim().replace('_', "-");
    all.iter()
        .copied()
        .find(|v| name(*v).eq_ignore_ascii_case(&wanted))
}

/// Protective marking of an asset, and the clearance level of a person (UK Government
/// Security Classifications). Ordered: a principal may know of assets at or below their level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Classification {
    #[default]
    Official,
    OfficialSensitive,
    Secret,
}

impl Classification {
    pub const ALL: [Classification; 3] = [
        Classification::Official,
        Classification::OfficialSensitive,
        Classification::Secret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Official => "OFFICIAL",
            Classification::OfficialSensitive => "OFFICIAL-SENSITIVE",
            Classification::Secret => "SECRET",
        }
    }

    /// The rank stored in the database (0, 1, 2), so SQL can compare levels.
    pub fn rank(self) -> i64 {
        self as i64
    }

    pub fn from_rank(rank: i64) -> Option<Classification> {
        Classification::ALL
            .get(usize::try_from(rank).ok()?)
            .copied()
    }
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Classification {
    type Err = AccessError;
    /// Accepts `OFFICIAL`, `OFFICIAL-SENSITIVE`, `SECRET` in any case, `_` for `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name(&Classification::ALL, Classification::as_str, s)
            .ok_or_else(|| AccessError::Classification(s.to_owned()))
    }
}

impl Serialize for Classification {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Classification {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A person's job in the control room; each has a fixed set of actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Watches live video and steers PTZ cameras at normal priority.
    Operator,
    /// An operator who also exports evidence and takes PTZ control over operators.
    Supervisor,
    /// Reviews recordings and exports them as evidence; no live view, no PTZ.
    EvidenceOfficer,
    /// Answers subject-access and freedom-of-information requests from recordings.
    DisclosureOfficer,
    /// Reads the audit trail; sees no video.
    Auditor,
    /// Configures cameras, users and grants; sees no video.
    Administrator,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Operator,
        Role::Supervisor,
        Role::EvidenceOfficer,
        Role::DisclosureOfficer,
        Role::Auditor,
        Role::Administrator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
            Role::EvidenceOfficer => "evidence-officer",
            Role::DisclosureOfficer => "disclosure-officer",
            Role::Auditor => "auditor",
            Role::Administrator => "administrator",
        }
    }

    /// Oversight roles work across the whole estate (within their clearance): an
    /// administrator configures any camera, an auditor follows any camera's trail.
    pub fn estate_wide(self) -> bool {
        matches!(self, Role::Auditor | Role::Administrator)
    }

    /// PTZ priority that comes with the role on cameras the principal's org owns.
    pub fn ptz_priority(self) -> u8 {
        match self {
            Role::Supervisor => 50,
            Role::Operator => 10,
            _ => 0,
        }
    }

    /// Whether the role includes `action` (the [`ROLE_ACTIONS`] table).
    pub fn allows(self, action: Action) -> bool {
        ROLE_ACTIONS
            .iter()
            .any(|(role, actions)| *role == self && actions.contains(&action))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = AccessError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name(&Role::ALL, Role::as_str, s).ok_or_else(|| AccessError::Role(s.to_owned()))
    }
}

/// Everything a principal can ask to do. Camera actions need a camera the principal
/// may know of; the others act on the system as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// List cameras (filtered to what the principal may know of).
    ListCameras,
    /// Register a camera.
    AddCamera,
    /// Manage user accounts and their sessions and tokens.
    ManageUsers,
    /// Share camera groups with other organisations.
    ManageGrants,
    /// Read and export the audit trail.
    ReadAudit,
    /// Read operational metrics.
    ReadMetrics,
    /// Show one camera's registry entry and status.
    ShowCamera,
    /// Change or remove a camera.
    ConfigureCamera,
    /// Watch a camera live.
    ViewLive,
    /// See what was recorded and play it back.
    PlayBack,
    /// Export a recording.
    Export,
    /// Steer a PTZ camera.
    Ptz,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ListCameras => "list-cameras",
            Action::AddCamera => "add-camera",
            Action::ManageUsers => "manage-users",
            Action::ManageGrants => "manage-grants",
            Action::ReadAudit => "read-audit",
            Action::ReadMetrics => "read-metrics",
            Action::ShowCamera => "show-camera",
            Action::ConfigureCamera => "configure-camera",
            Action::ViewLive => "view-live",
            Action::PlayBack => "play-back",
            Action::Export => "export",
            Action::Ptz => "ptz",
        }
    }

    /// The grant right a camera action needs when the camera is not the principal's
    /// org's own; `None` for actions no grant can give.
    pub fn right(self) -> Option<Rights> {
        match self {
            Action::ViewLive => Some(Rights::LIVE),
            Action::PlayBack => Some(Rights::PLAYBACK),
            Action::Export => Some(Rights::EXPORT),
            Action::Ptz => Some(Rights::PTZ),
            // Any grant lets a principal see the camera's registry entry.
            Action::ShowCamera => Some(Rights::NONE),
            _ => None,
        }
    }
}

/// The policy table: what each role may do. Least privilege: oversight roles see no
/// video, viewers change no configuration.
pub const ROLE_ACTIONS: &[(Role, &[Action])] = &[
    (
        Role::Operator,
        &[
            Action::ListCameras,
            Action::ShowCamera,
            Action::ViewLive,
            Action::PlayBack,
            Action::Ptz,
        ],
    ),
    (
        Role::Supervisor,
        &[
            Action::ListCameras,
            Action::ShowCamera,
            Action::ViewLive,
            Action::PlayBack,
            Action::Export,
            Action::Ptz,
        ],
    ),
    (
        Role::EvidenceOfficer,
        &[
            Action::ListCameras,
            Action::ShowCamera,
            Action::PlayBack,
            Action::Export,
        ],
    ),
    (
        Role::DisclosureOfficer,
        &[
            Action::ListCameras,
            Action::ShowCamera,
            Action::PlayBack,
            Action::Export,
        ],
    ),
    (
        Role::Auditor,
        &[Action::ListCameras, Action::ShowCamera, Action::ReadAudit],
    ),
    (
        Role::Administrator,
        &[
            Action::ListCameras,
            Action::ShowCamera,
            Action::AddCamera,
            Action::ConfigureCamera,
            Action::ManageUsers,
            Action::ManageGrants,
            Action::ReadMetrics,
        ],
    ),
];

/// Video rights a grant gives on a camera group: a small bit set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Rights(u8);

impl Rights {
    pub const NONE: Rights = Rights(0);
    pub const LIVE: Rights = Rights(1);
    pub const PLAYBACK: Rights = Rights(2);
    pub const EXPORT: Rights = Rights(4);
    pub const PTZ: Rights = Rights(8);
    pub const ALL: Rights = Rights(15);
    const NAMES: [(Rights, &'static str); 4] = [
        (Rights::LIVE, "live"),
        (Rights::PLAYBACK, "playback"),
        (Rights::EXPORT, "export"),
        (Rights::PTZ, "ptz"),
    ];

    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn from_bits(bits: i64) -> Rights {
        Rights((bits & 15) as u8)
    }
}

impl std::fmt::Display for Rights {
    /// Comma-separated names, e.g. `live,playback`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = Rights::NAMES
            .iter()
            .filter(|(r, _)| self.contains(*r))
            .map(|(_, n)| *n)
            .collect();
        f.write_str(&names.join(","))
    }
}

impl std::str::FromStr for Rights {
    type Err = AccessError;
    /// Comma-separated names out of `live`, `playback`, `export`, `ptz`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .try_fold(Rights::NONE, |acc, part| {
                Rights::NAMES
                    .iter()
                    .find(|(_, n)| n.eq_ignore_ascii_case(part))
                    .map(|(r, _)| acc.union(*r))
                    .ok_or_else(|| AccessError::Right(part.to_owned()))
            })
    }
}

impl Serialize for Rights {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Rights {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What a person is cleared to know of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Clearance {
    pub level: Classification,
    /// Indoctrinated into covert capability. Without it, covert assets do not exist.
    pub covert: bool,
}

impl Clearance {
    /// Cleared for everything: the recorder and offline maintenance.
    pub const FULL: Clearance = Clearance {
        level: Classification::Secret,
        covert: true,
    };

    /// Whether an asset with this label may be known to exist.
    pub fn covers(self, label: &Sensitivity) -> bool {
        label.classification <= self.level && (!label.covert || self.covert)
    }
}

/// How sensitive an asset's existence is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sensitivity {
    pub classification: Classification,
    pub covert: bool,
}

/// A share of a camera group with an organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The organisation whose members receive the rights.
    pub org: String,
    /// Cameras whose `group` is this.
    pub camera_group: String,
    pub rights: Rights,
    /// PTZ priority for members of `org` on these cameras.
    pub ptz_priority: u8,
}

/// What the policy needs to know about a camera.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraLabel {
    pub owner_org: String,
    pub group: String,
    pub sensitivity: Sensitivity,
}

/// Who is asking: a signed-in user or an API token acting as one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: i64,
    pub name: String,
    pub org: String,
    pub role: Role,
    pub clearance: Clearance,
    /// Grants to the principal's org, loaded with the principal.
    pub grants: Vec<Grant>,
}

/// The outcome of asking whether a principal may do something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The principal may know the target exists but not do this; the reason is shown.
    Forbidden(String),
    /// The principal may not know the target exists: answer exactly as for a missing id.
    Hidden,
}

/// Which cameras a principal may know of, in the form the store's queries take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visibility {
    pub clearance: Clearance,
    /// `None`: the whole estate (within the clearance).
    pub org: Option<String>,
    /// Camera groups granted to `org`.
    pub groups: Vec<String>,
}

impl Visibility {
    /// Everything: for the recorder and offline maintenance, never for a request.
    pub fn everything() -> Visibility {
        Visibility {
            clearance: Clearance::FULL,
            org: None,
            groups: vec![],
        }
    }

    /// Whether a camera with this label may be known to exist.
    pub fn can_know(&self, camera: &CameraLabel) -> bool {
        self.clearance.covers(&camera.sensitivity)
            && match &self.org {
                None => true,
                Some(org) => *org == camera.owner_org || self.groups.contains(&camera.group),
            }
    }
}

impl Principal {
    /// What the principal may know of: cleared for the label, and in scope (own org,
    /// granted to the org, or anything for an estate-wide role).
    pub fn visibility(&self) -> Visibility {
        Visibility {
            clearance: self.clearance,
            org: (!self.role.estate_wide()).then(|| self.org.clone()),
            groups: self
                .grants
                .iter()
                .filter(|g| g.org == self.org)
                .map(|g| g.camera_group.clone())
                .collect(),
        }
    }

    /// Whether the principal may know that the camera exists.
    pub fn can_know(&self, camera: &CameraLabel) -> bool {
        self.visibility().can_know(camera)
    }

    /// Rights (and the highest PTZ priority) granted to the principal's org on the camera.
    fn grants_on(&self, camera: &CameraLabel) -> Option<(Rights, u8)> {
        self.grants
            .iter()
            .filter(|g| g.org == self.org && g.camera_group == camera.group)
            .map(|g| (g.rights, g.ptz_priority))
            .reduce(|(r1, p1), (r2, p2)| (r1.union(r2), p1.max(p2)))
    }

    /// Decides a system-wide action (no camera involved).
    pub fn decide(&self, action: Action) -> Decision {
        if self.role.allows(action) {
            Decision::Allow
        } else {
            Decision::Forbidden(format!(
                "the {} role does not include {}",
                self.role,
                action.as_str()
            ))
        }
    }

    /// Decides a camera action. `None` is a camera that does not exist; it gets the same
    /// [`Decision::Hidden`] as one the principal may not know of.
    pub fn decide_on(&self, action: Action, camera: Option<&CameraLabel>) -> Decision {
        let Some(camera) = camera.filter(|c| self.can_know(c)) else {
            return Decision::Hidden;
        };
        if let Decision::Forbidden(why) = self.decide(action) {
            return Decision::Forbidden(why);
        }
        if camera.owner_org == self.org {
            return Decision::Allow;
        }
        let granted = self.grants_on(camera);
        match (action.right(), granted) {
            (Some(needed), Some((rights, _))) if rights.contains(needed) => Decision::Allow,
            // Estate-wide roles act on any camera they may know of, for the actions
            // their role includes (none of which is video).
            (None, _) if self.role.estate_wide() => Decision::Allow,
            (Some(Rights::NONE), _) => Decision::Allow,
            _ => Decision::Forbidden(format!(
                "camera is owned by {} and {} is not granted to {}",
                camera.owner_org,
                action.as_str(),
                self.org
            )),
        }
    }

    /// PTZ priority on a camera: the role's on own cameras, the grant's on shared ones.
    pub fn ptz_priority_on(&self, camera: &CameraLabel) -> u8 {
        if camera.owner_org == self.org {
            self.role.ptz_priority()
        } else {
            self.grants_on(camera)
                .map_or(0, |(_, p)| p.min(self.role.ptz_priority()))
        }
    }

    /// Whether the principal may give an asset this label: nobody may mark an asset
    /// above their own clearance (it would vanish from their own view).
    pub fn may_label(&self, sensitivity: &Sensitivity) -> Decision {
        if self.clearance.covers(sensitivity) {
            Decision::Allow
        } else {
            Decision::Forbidden(format!(
                "you may not label an asset {}{} above your own clearance",
                sensitivity.classification,
                if sensitivity.covert { " (covert)" } else { "" }
            ))
        }
    }
}

/// Names of organisations and camera groups: short lowercase slugs, e.g. `westminster`.
pub fn validate_slug(what: &str, value: &str) -> Result<(), AccessError> {
    let ok = (1..=48).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(AccessError::Slug {
            what: what.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// Why an access-control value was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    #[error("role {0:?} is not one of operator, supervisor, evidence-officer, disclosure-officer, auditor, administrator")]
    Role(String),
    #[error("classification {0:?} is not one of OFFICIAL, OFFICIAL-SENSITIVE, SECRET")]
    Classification(String),
    #[error("right {0:?} is not one of live, playback, export, ptz")]
    Right(String),
    #[error("{what} {value:?} must be 1 to 48 characters of a-z, 0-9 and '-'")]
    Slug { what: String, value: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(owner: &str, classification: Classification, covert: bool) -> CameraLabel {
        CameraLabel {
            owner_org: owner.into(),
            group: owner.into(),
            sensitivity: Sensitivity {
                classification,
                covert,
            },
        }
    }

    fn user(role: Role, level: Classification, covert: bool) -> Principal {
        Principal {
            user_id: 1,
            name: "u".into(),
            org: "unit-a".into(),
            role,
            clearance: Clearance { level, covert },
            grants: vec![],
        }
    }

    #[test]
    fn names_round_trip_and_bad_ones_say_what() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert_eq!(
            "official_sensitive".parse::<Classification>().unwrap(),
            Classification::OfficialSensitive
        );
        assert!("TOP SECRET"
            .parse::<Classification>()
            .unwrap_err()
            .to_string()
            .contains("TOP SECRET"));
        let r: Rights = "live, export".parse().unwrap();
        assert_eq!(r.to_string(), "live,export");
        assert_eq!(
            "live,fly".parse::<Rights>(),
            Err(AccessError::Right("fly".into()))
        );
        assert!(validate_slug("org", "Unit A").is_err());
        assert!(validate_slug("org", "unit-a").is_ok());
    }

    #[test]
    fn covert_and_over_classified_cameras_are_hidden_like_missing_ones() {
        let op = user(Role::Operator, Classification::OfficialSensitive, false);
        let covert = camera("unit-a", Classification::Official, true);
        let secret = camera("unit-a", Classification::Secret, false);
        assert_eq!(
            op.decide_on(Action::ViewLive, Some(&covert)),
            Decision::Hidden
        );
        assert_eq!(
            op.decide_on(Action::ViewLive, Some(&secret)),
            Decision::Hidden
        );
        assert_eq!(op.decide_on(Action::ViewLive, None), Decision::Hidden);
        // Hidden wins over a role that lacks the action: no difference to learn from.
        assert_eq!(
            op.decide_on(Action::Export, Some(&covert)),
            Decision::Hidden
        );
        let cleared = user(Role::Operator, Classification::Secret, true);
        assert_eq!(
            cleared.decide_on(Action::ViewLive, Some(&covert)),
            Decision::Allow
        );
        assert_eq!(
            cleared.decide_on(Action::ViewLive, Some(&secret)),
            Decision::Allow
        );
    }

    #[test]
    fn other_orgs_cameras_need_a_grant_and_oversight_roles_see_no_video() {
        let mut op = user(Role::Operator, Classification::Official, false);
        let theirs = camera("borough-b", Classification::Official, false);
        assert_eq!(
            op.decide_on(Action::ShowCamera, Some(&theirs)),
            Decision::Hidden
        );
        op.grants.push(Grant {
            org: "unit-a".into(),
            camera_group: "borough-b".into(),
            rights: Rights::LIVE,
            ptz_priority: 99,
        });
        assert_eq!(
            op.decide_on(Action::ViewLive, Some(&theirs)),
            Decision::Allow
        );
        assert_eq!(
            op.decide_on(Action::ShowCamera, Some(&theirs)),
            Decision::Allow
        );
        assert!(matches!(
            op.decide_on(Action::PlayBack, Some(&theirs)),
            Decision::Forbidden(_)
        ));
        // A grant's priority never exceeds what the role carries.
        assert_eq!(op.ptz_priority_on(&theirs), Role::Operator.ptz_priority());

        let admin = user(Role::Administrator, Classification::Official, false);
        assert_eq!(
            admin.decide_on(Action::ConfigureCamera, Some(&theirs)),
            Decision::Allow
        );
        assert!(matches!(
            admin.decide_on(Action::ViewLive, Some(&theirs)),
            Decision::Forbidden(_)
        ));
        let auditor = user(Role::Auditor, Classification::Official, false);
        assert_eq!(auditor.decide(Action::ReadAudit), Decision::Allow);
        assert!(matches!(
            auditor.decide_on(
                Action::PlayBack,
                Some(&camera("unit-a", Classification::Official, false))
            ),
            Decision::Forbidden(_)
        ));
    }

    #[test]
    fn nobody_labels_above_their_clearance() {
        let admin = user(
            Role::Administrator,
            Classification::OfficialSensitive,
            false,
        );
        let covert = Sensitivity {
            classification: Classification::Official,
            covert: true,
        };
        assert!(matches!(admin.may_label(&covert), Decision::Forbidden(_)));
        assert_eq!(admin.may_label(&Sensitivity::default()), Decision::Allow);
    }
}

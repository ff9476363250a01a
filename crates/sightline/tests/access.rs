//! Access control end to end, generated from the policy itself:
//! - the authorization matrix: every route × every role × (own camera, another org's
//!   camera, a camera shared by grant, a covert camera, a classified camera), with the
//!   expected outcome computed from `sightline_core`'s policy and the server's route table;
//! - never-confirm-nor-deny: a covert or classified camera and an id that never existed
//!   get byte-identical answers on every camera route, and lists do not change when
//!   covert cameras are added;
//! - every request of the matrix, allowed or refused, is in the audit trail.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use sightline_core::{
    CameraLabel, Classification, Clearance, Decision, Grant, Principal, Rights, Role, Sensitivity,
};
use sightline_server::access::{Access, RouteRule, ROUTES};

const ORG: &str = "unit-a";
/// The matrix users' clearance: above OFFICIAL, below SECRET, not covert.
const MATRIX_CLEARANCE: Clearance = Clearance {
    level: Classification::OfficialSensitive,
    covert: false,
};
const NEVER_EXISTED: i64 = 987_654_321;
const CHANGED_PASSWORD: &str = "changed password 12345";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Own,
    OtherOrg,
    Shared,
    Covert,
    Classified,
}

const KINDS: [Kind; 5] = [
    Kind::Own,
    Kind::OtherOrg,
    Kind::Shared,
    Kind::Covert,
    Kind::Classified,
];

impl Kind {
    fn label(self) -> CameraLabel {
        let (owner, classification, covert) = match self {
            Kind::Own => (ORG, Classification::Official, false),
            Kind::OtherOrg => ("borough-b", Classification::Official, false),
            Kind::Shared => ("borough-c", Classification::Official, false),
            Kind::Covert => (ORG, Classification::Official, true),
            Kind::Classified => (ORG, Classification::Secret, false),
        };
        CameraLabel {
            owner_org: owner.into(),
            group: owner.into(),
            sensitivity: Sensitivity {
                classification,
                covert,
            },
        }
    }
}

/// The grant the matrix users' org holds: playback (only) on borough-c's cameras.
fn shared_grant() -> Grant {
    Grant {
        org: ORG.into(),
        camera_group: "borough-c".into(),
        rights: Rights::PLAYBACK,
        ptz_priority: 0,
    }
}

fn matrix_user(role: Role) -> String {
    format!("m-{role}")
}

fn principal(role: Role) -> Principal {
    Principal {
        user_id: 0,
        name: matrix_user(role),
        org: ORG.into(),
        role,
        clearance: MATRIX_CLEARANCE,
        grants: vec![shared_grant()],
    }
}

/// Success (any 2xx), or the refusal status the policy calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Success,
    Status(u16),
}

fn expected(rule: &RouteRule, role: Role, kind: Kind) -> Expect {
    let p = principal(role);
    let decision = match rule.access {
        Access::Public | Access::Session | Access::Any => Decision::Allow,
        Access::Do(a) => p.decide(a),
        Access::Camera(a) => p.decide_on(a, Some(&kind.label())),
    };
    match decision {
        Decision::Allow => Expect::Success,
        Decision::Forbidden(_) => Expect::Status(403),
        Decision::Hidden => Expect::Status(404),
    }
}

fn audit_outcome(e: Expect) -> &'static str {
    match e {
        Expect::Success => "ok",
        Expect::Status(403) => "denied",
        Expect::Status(404) => "not-found",
        Expect::Status(_) => "invalid",
    }
}

struct World {
    server: Server,
    tokens: HashMap<String, String>,
    cameras: HashMap<Kind, i64>,
    sim_port: u16,
    window: String,
    serial: std::cell::Cell<u32>,
}

impl World {
    fn token(&self, user: &str) -> &str {
        &self.tokens[user]
    }

    fn unique(&self, prefix: &str) -> String {
        self.serial.set(self.serial.get() + 1);
        format!("{prefix}-{}", self.serial.get())
    }

    async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.server.request(method, path, token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    /// Registers a camera of `kind` as the fully cleared administrator.
    async fn add_camera(&self, kind: Kind, n: u32, enabled: bool) -> i64 {
        let label = kind.label();
        let body = json!({
            "name": self.unique(&format!("{kind:?}")),
            "url": format!("rtsp://127.0.0.1:{}/cam/{n}", self.sim_port),
            "owner": label.owner_org,
            "classification": label.sensitivity.classification.as_str(),
            "covert": label.sensitivity.covert,
            "enabled": enabled,
        });
        let resp = self
            .send(&self.server.admin, Method::POST, "/api/cameras", Some(body))
            .await;
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
        resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    /// The request that exercises `rule` as `user` on a camera of `kind`: a valid,
    /// harmless request, so that the only reason for a refusal is access control.
    async fn request_for(
        &self,
        rule: &RouteRule,
        user: &str,
        kind: Kind,
    ) -> (String, Option<Value>) {
        let camera = match (rule.method.as_str(), rule.path) {
            // Removal is destructive: each attempt gets a fresh camera of the kind.
            ("DELETE", "/api/cameras/{id}") => self.add_camera(kind, 1, false).await,
            _ => self.cameras[&kind],
        };
        let path = rule.path.replace("{id}", &camera.to_string());
        match (rule.method.as_str(), rule.path) {
            ("GET", "/api/health")
            | ("GET", "/api/session")
            | ("DELETE", "/api/session")
            | ("GET", "/api/openapi.json")
            | ("GET", "/api/cameras")
            | ("GET", "/api/cameras/{id}")
            | ("GET", "/metrics")
            | ("GET", "/api/audit")
            | ("GET", "/api/audit.csv")
            | ("GET", "/api/users")
            | ("GET", "/api/tokens")
            | ("GET", "/api/grants")
            | ("DELETE", "/api/cameras/{id}") => (path, None),
            ("POST", "/api/session") => (
                path,
                Some(json!({ "username": user, "password": TEST_PASSWORD })),
            ),
            ("POST", "/api/session/password") => (
                path,
                Some(json!({ "current_password": TEST_PASSWORD, "new_password": CHANGED_PASSWORD })),
            ),
            ("POST", "/api/cameras") => (
                path,
                Some(json!({ "name": self.unique("new"), "url": "rtsp://127.0.0.1:9/none", "enabled": false })),
            ),
            ("PATCH", "/api/cameras/{id}") => (path, Some(json!({}))),
            ("GET", "/api/cameras/{id}/recordings") | ("GET", "/api/cameras/{id}/export.mp4") => {
                (format!("{path}?{}", self.window), None)
            }
            ("POST", "/api/users") => (
                path,
                Some(json!({ "name": self.unique("u"), "role": "operator", "password": TEST_PASSWORD })),
            ),
            ("PATCH", "/api/users/{name}") => ("/api/users/m-target".into(), Some(json!({ "disabled": false }))),
            ("POST", "/api/tokens") => (path, Some(json!({ "label": "matrix" }))),
            ("DELETE", "/api/tokens/{id}") => {
                // The caller's own new token (any signed-in user may revoke their own).
                let resp = self
                    .send(self.token(user), Method::POST, "/api/tokens", Some(json!({ "label": "to revoke" })))
                    .await;
                assert_eq!(resp.status(), 201);
                let id = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
                (format!("/api/tokens/{id}"), None)
            }
            ("POST", "/api/grants") => (
                path,
                Some(json!({ "org": "unit-z", "camera_group": self.unique("g"), "rights": "live" })),
            ),
            ("DELETE", "/api/grants/{id}") => {
                let resp = self
                    .send(
                        &self.server.admin,
                        Method::POST,
                        "/api/grants",
                        Some(json!({ "org": "unit-z", "camera_group": self.unique("g"), "rights": "live" })),
                    )
                    .await;
                assert_eq!(resp.status(), 201);
                let id = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
                (format!("/api/grants/{id}"), None)
            }
            (m, p) => panic!(
                "no request template for {m} {p}: add one to tests/access.rs so the matrix covers the new route"
            ),
        }
    }
}

/// What a user sees of the registry, without the live status (which moves on its own).
async fn registry_as(world: &World, user: &str) -> Vec<Value> {
    let resp = world
        .send(world.token(user), Method::GET, "/api/cameras", None)
        .await;
    assert_eq!(resp.status(), 200);
    let mut list: Vec<Value> = resp.json().await.unwrap();
    for c in &mut list {
        c.as_object_mut().unwrap().remove("status");
    }
    list
}

/// Camera ids that appear in the metrics.
async fn metric_cameras(world: &World, user: &str) -> BTreeSet<String> {
    let text = world
        .send(world.token(user), Method::GET, "/metrics", None)
        .await
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| l.split("camera=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

async fn audit_as(world: &World, user: &str, query: &str) -> Vec<Value> {
    let resp = world
        .send(
            world.token(user),
            Method::GET,
            &format!("/api/audit?{query}"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_policy_holds_on_every_route_for_every_role() {
    let dir = TempDir::new("access");
    let sim_port = free_port();
    let _sim = spawn_sim(&dir, sim_port, 5, None);
    let data = dir.path("data");
    let server = Server::start(&data).await;

    // The matrix users (one per role), an account for user routes to act on, and a
    // fully cleared auditor to read the whole trail.
    let mut tokens = HashMap::new();
    for role in Role::ALL {
        let name = matrix_user(role);
        let token = add_user_with_token(
            &data,
            &name,
            role.as_str(),
            ORG,
            &["--clearance", "OFFICIAL-SENSITIVE"],
        );
        tokens.insert(name, token);
    }
    add_user_with_token(&data, "m-target", "operator", ORG, &[]);
    let full = ["--clearance", "SECRET", "--covert"];
    tokens.insert(
        "full-auditor".into(),
        add_user_with_token(&data, "full-auditor", "auditor", ORG, &full),
    );
    let now = sightline_core::Timestamp::now();
    let window = format!(
        "from={}&to={}",
        now.add_micros(-600_000_000).to_rfc3339(),
        now.add_micros(3_600_000_000).to_rfc3339()
    );
    let mut world = World {
        server,
        tokens,
        cameras: HashMap::new(),
        sim_port,
        window,
        serial: Default::default(),
    };
    let grant = shared_grant();
    let resp = world
        .send(
            &world.server.admin,
            Method::POST,
            "/api/grants",
            Some(json!({ "org": grant.org, "camera_group": grant.camera_group, "rights": grant.rights.to_string() })),
        )
        .await;
    assert_eq!(resp.status(), 201);

    // Overt cameras first; what every user sees of them is the baseline.
    for (n, kind) in [(1, Kind::Own), (2, Kind::OtherOrg), (3, Kind::Shared)] {
        let id = world.add_camera(kind, n, true).await;
        world.cameras.insert(kind, id);
    }
    let admin_name = matrix_user(Role::Administrator);
    let auditor_name = matrix_user(Role::Auditor);
    let mut before = vec![];
    for role in Role::ALL {
        before.push(registry_as(&world, &matrix_user(role)).await);
    }
    let metrics_before = metric_cameras(&world, &admin_name).await;
    let trail_before = audit_as(&world, &auditor_name, "user=test-admin").await;

    // Covert and classified cameras appear: nothing any uncleared user sees may change.
    for (n, kind) in [(4, Kind::Covert), (5, Kind::Classified)] {
        let id = world.add_camera(kind, n, true).await;
        world.cameras.insert(kind, id);
    }
    for (role, earlier) in Role::ALL.into_iter().zip(&before) {
        assert_eq!(
            &registry_as(&world, &matrix_user(role)).await,
            earlier,
            "the camera list of {role} changed when covert cameras were added"
        );
    }
    assert_eq!(metric_cameras(&world, &admin_name).await, metrics_before);
    assert_eq!(
        audit_as(&world, &auditor_name, "user=test-admin").await,
        trail_before,
        "an uncleared auditor saw entries about covert cameras"
    );
    let full_trail = audit_as(&world, "full-auditor", "user=test-admin").await;
    assert!(
        full_trail.len() >= trail_before.len() + 2,
        "the cleared auditor sees the covert additions"
    );
    // The next overt camera's id follows the last overt one's: no gap betrays the
    // hidden cameras registered in between.
    let next = world.add_camera(Kind::Own, 1, false).await;
    assert_eq!(next, world.cameras[&Kind::Shared] + 1);
    let resp = world
        .send(
            &world.server.admin,
            Method::DELETE,
            &format!("/api/cameras/{next}"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);

    // Every camera is recording and has flushed at least once, so an allowed export
    // is a 200 (the cleared administrator sees every camera's status).
    for (kind, id) in &world.cameras {
        world
            .server
            .wait_for(
                &format!("{kind:?} recording"),
                std::time::Duration::from_secs(30),
                || async {
                    (world.server.camera(*id).await["status"]["state"] == "recording").then_some(())
                },
            )
            .await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    // The matrix.
    let mut failures = vec![];
    let mut done: Vec<(String, &'static str, String, &'static str)> = vec![];
    for rule in ROUTES {
        let camera_route = matches!(rule.access, Access::Camera(_));
        let kinds: &[Kind] = if camera_route { &KINDS } else { &KINDS[..1] };
        for role in Role::ALL {
            let user = matrix_user(role);
            for &kind in kinds {
                let want = expected(rule, role, kind);
                let (path, body) = world.request_for(rule, &user, kind).await;
                let resp = world
                    .send(world.token(&user), rule.method.clone(), &path, body)
                    .await;
                let status = resp.status().as_u16();
                let ok = match want {
                    Expect::Success => (200..300).contains(&status),
                    Expect::Status(s) => status == s,
                };
                if !ok {
                    failures.push(format!(
                        "{} {} as {role} on {kind:?}: expected {want:?}, got {status} {}",
                        rule.method,
                        rule.path,
                        resp.text().await.unwrap_or_default()
                    ));
                }
                if !rule.audit.is_empty() {
                    let target = if camera_route {
                        format!("camera:{}", path.split('/').nth(3).unwrap())
                    } else {
                        String::new()
                    };
                    done.push((user.clone(), rule.audit, target, audit_outcome(want)));
                }
                // Put the password back for the requests that sign in.
                if rule.path == "/api/session/password" {
                    let back = json!({ "current_password": CHANGED_PASSWORD, "new_password": TEST_PASSWORD });
                    let resp = world
                        .send(world.token(&user), Method::POST, &path, Some(back))
                        .await;
                    assert_eq!(resp.status(), 204);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Every request of the matrix is in the trail, with its outcome.
    let trail = audit_as(&world, "full-auditor", "limit=10000").await;
    let mut missing = vec![];
    for (actor, action, target, outcome) in &done {
        let found = trail.iter().any(|e| {
            e["actor"] == actor.as_str()
                && e["action"] == *action
                && e["outcome"] == *outcome
                && (target.is_empty() || e["target"] == target.as_str())
        });
        if !found {
            missing.push(format!("{actor} {action} {target} {outcome}"));
        }
    }
    assert!(
        missing.is_empty(),
        "not in the audit trail:\n{}",
        missing.join("\n")
    );

    // Never confirm nor deny: on every camera route, for every uncleared role, a covert
    // or classified camera and a never-existing id give byte-identical answers.
    for rule in ROUTES
        .iter()
        .filter(|r| matches!(r.access, Access::Camera(_)))
    {
        for role in Role::ALL {
            let token = world.token(&matrix_user(role)).to_owned();
            let mut answers = vec![];
            for id in [
                world.cameras[&Kind::Covert],
                world.cameras[&Kind::Classified],
                NEVER_EXISTED,
            ] {
                let mut path = rule.path.replace("{id}", &id.to_string());
                if rule.path.ends_with("/recordings") || rule.path.ends_with(".mp4") {
                    path = format!("{path}?{}", world.window);
                }
                let body = (rule.method == Method::PATCH).then(|| json!({}));
                let resp = world.send(&token, rule.method.clone(), &path, body).await;
                let mut headers: Vec<(String, String)> = resp
                    .headers()
                    .iter()
                    .filter(|(k, _)| *k != "date")
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                    .collect();
                headers.sort();
                answers.push((resp.status().as_u16(), headers, resp.bytes().await.unwrap()));
            }
            assert_eq!(answers[0].0, 404, "{} {} as {role}", rule.method, rule.path);
            assert_eq!(
                answers[0], answers[2],
                "covert vs missing: {} {} as {role}",
                rule.method, rule.path
            );
            assert_eq!(
                answers[1], answers[2],
                "classified vs missing: {} {} as {role}",
                rule.method, rule.path
            );
        }
    }
    // A refusal on a camera the caller may know of names a real camera, so its entry
    // carries the camera's label: an uncleared auditor does not see it. Nor do they see
    // a cleared auditor's query about that camera.
    let insider = add_user_with_token(&data, "covert-operator", "operator", ORG, &full);
    let covert = world.cameras[&Kind::Covert];
    let export = format!("/api/cameras/{covert}/export.mp4?{}", world.window);
    let resp = world.send(&insider, Method::GET, &export, None).await;
    assert_eq!(resp.status(), 403);
    let resp = world
        .send(
            world.token("full-auditor"),
            Method::GET,
            &format!("/api/audit?camera={covert}"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let cleared_view = audit_as(&world, "full-auditor", "user=covert-operator").await;
    assert!(cleared_view.iter().any(|e| e["outcome"] == "denied"));
    assert_eq!(
        audit_as(&world, &auditor_name, "user=covert-operator").await,
        Vec::<Value>::new()
    );
    let leaked: Vec<Value> = audit_as(&world, &auditor_name, "user=full-auditor")
        .await
        .into_iter()
        .filter(|e| e.to_string().contains(&covert.to_string()))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");

    // The same for the audit trail filtered by camera.
    let mut answers = vec![];
    for id in [world.cameras[&Kind::Covert], NEVER_EXISTED] {
        let resp = world
            .send(
                world.token(&auditor_name),
                Method::GET,
                &format!("/api/audit?camera={id}"),
                None,
            )
            .await;
        answers.push((resp.status().as_u16(), resp.bytes().await.unwrap()));
    }
    assert_eq!(answers[0].0, 404);
    assert_eq!(
        answers[0], answers[1],
        "audit query by covert camera vs missing camera"
    );
}

/// Every route the server describes has a policy entry, and every policy entry is a
/// route: adding a route without a policy fails here (and the guard refuses it).
#[tokio::test(flavor = "multi_thread")]
async fn every_route_has_a_policy_entry() {
    let spec = serde_json::to_value(sightline_server::openapi()).unwrap();
    let mut described = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            described.insert((method.to_uppercase(), path.clone()));
        }
    }
    described.insert(("GET".into(), "/api/openapi.json".into()));
    let table: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    let unguarded: Vec<_> = described.difference(&table).collect();
    assert!(
        unguarded.is_empty(),
        "routes without a policy entry: {unguarded:?}"
    );
    let stale: Vec<_> = table.difference(&described).collect();
    assert!(
        stale.is_empty(),
        "policy entries for routes that do not exist: {stale:?}"
    );

    // The description says how to sign in and, per route, who may call it.
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["name"], "sightline_session");
    let export = &spec["paths"]["/api/cameras/{id}/export.mp4"]["get"];
    let text = export["description"].as_str().unwrap();
    assert!(
        text.contains("Access: supervisor, evidence-officer, disclosure-officer (export)"),
        "{text}"
    );
    let login = &spec["paths"]["/api/session"]["post"];
    assert_eq!(
        login["security"],
        serde_json::json!([{}]),
        "signing in needs no credentials"
    );
}

/// The timing side of never-confirm-nor-deny is measured by `sightline bench ncnd`
/// (figures in docs/access.md); here it only has to run and report both routes.
#[test]
fn the_ncnd_timing_benchmark_runs() {
    let out = std::process::Command::new(BIN)
        .args(["bench", "ncnd", "--requests", "20"])
        .env("SIGHTLINE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    for route in ["`/api/cameras/{id}`", "`/api/cameras/{id}/export.mp4`"] {
        let row = table
            .lines()
            .find(|l| l.contains(route))
            .unwrap_or_else(|| panic!("{table}"));
        let ratio: f64 = row.split('|').nth(4).unwrap().trim().parse().unwrap();
        assert!(ratio > 0.0, "{row}");
    }
}

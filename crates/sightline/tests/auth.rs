//! Signing in and staying signed in: 401 without credentials, CSRF on cookie sessions,
//! the sign-in throttle, token revocation, session expiry, the first-start secret, HTTPS,
//! and what administrators may not do to accounts.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sightline_server::access::{Access, ROUTES};

/// The status of listing cameras with a session cookie.
async fn list_with_cookie(server: &Server, cookie: &str) -> StatusCode {
    with_cookie(server, Method::GET, "/api/cameras", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

fn with_cookie(
    server: &Server,
    method: Method,
    path: &str,
    cookie: &str,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", server.base))
        .header("cookie", cookie)
}

#[tokio::test(flavor = "multi_thread")]
async fn without_credentials_only_sign_in_and_health_answer() {
    let dir = TempDir::new("auth-401");
    let server = Server::start(&dir.path("data")).await;
    let http = reqwest::Client::new();
    for rule in ROUTES {
        let path = rule
            .path
            .replace("{id}", "1")
            .replace("{name}", "test-admin");
        let url = format!("{}{path}", server.base);
        let anonymous = http
            .request(rule.method.clone(), &url)
            .send()
            .await
            .unwrap();
        let forged = http
            .request(rule.method.clone(), &url)
            .bearer_auth("slt_0000000000000000000000000000000000000000000000000000000000000000")
            .send()
            .await
            .unwrap();
        if rule.access == Access::Public {
            continue;
        }
        assert_eq!(
            anonymous.status(),
            401,
            "{} {path} without credentials",
            rule.method
        );
        assert!(anonymous.headers().contains_key("www-authenticate"));
        assert_eq!(
            forged.status(),
            401,
            "{} {path} with a forged token",
            rule.method
        );
    }
    assert_eq!(
        http.get(format!("{}/api/health", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (cookie, _) = sign_in(&server.base, "test-viewer", TEST_PASSWORD).await;
    assert!(cookie.starts_with("sightline_session="));
}

#[tokio::test(flavor = "multi_thread")]
async fn cookie_sessions_need_the_csrf_token_and_end_on_sign_out() {
    let dir = TempDir::new("auth-csrf");
    let server = Server::start(&dir.path("data")).await;
    let (cookie, csrf) = sign_in(&server.base, "test-viewer", TEST_PASSWORD).await;

    // Reading needs only the cookie.
    assert_eq!(list_with_cookie(&server, &cookie).await, 200);
    // Changing state without the CSRF token, or with a wrong one, is refused.
    for header in [None, Some("not-the-token")] {
        let mut req = with_cookie(&server, Method::POST, "/api/tokens", &cookie)
            .json(&json!({ "label": "x" }));
        if let Some(h) = header {
            req = req.header("x-csrf-token", h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 403);
        assert!(resp.text().await.unwrap().contains("CSRF"));
    }
    let resp = with_cookie(&server, Method::POST, "/api/tokens", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({ "label": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    // Signing out ends the session server-side: the old cookie no longer works.
    let resp = with_cookie(&server, Method::DELETE, "/api/session", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = with_cookie(&server, Method::GET, "/api/cameras", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // The browser is told to drop the dead cookie, and it does not stand in the way of
    // signing in again.
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let resp = with_cookie(&server, Method::POST, "/api/session", &cookie)
        .json(&json!({ "username": "test-viewer", "password": TEST_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // An administrator ends someone's sessions.
    let (cookie, _) = sign_in(&server.base, "test-viewer", TEST_PASSWORD).await;
    let resp = server
        .request(Method::PATCH, "/api/users/test-viewer", &server.admin)
        .json(&json!({ "end_sessions": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(list_with_cookie(&server, &cookie).await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_expire() {
    let dir = TempDir::new("auth-idle");
    let server =
        Server::start_with_settings(&dir.path("data"), "[auth]\nsession_idle_seconds = 2\n").await;
    let (cookie, _) = sign_in(&server.base, "test-viewer", TEST_PASSWORD).await;
    // Use keeps it alive past the idle limit...
    for _ in 0..4 {
        assert_eq!(list_with_cookie(&server, &cookie).await, 200);
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    // ...and idleness ends it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resp = with_cookie(&server, Method::GET, "/api/cameras", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.text().await.unwrap().contains("session has ended"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_brute_force_is_slowed_and_logged() {
    let dir = TempDir::new("auth-brute");
    let data = dir.path("data");
    let server = Server::start(&data).await;
    let http = reqwest::Client::new();
    let attempt = |password: String| {
        let http = http.clone();
        let url = format!("{}/api/session", server.base);
        async move {
            http.post(url)
                .json(&json!({ "username": "test-viewer", "password": password }))
                .send()
                .await
                .unwrap()
        }
    };
    // Half the guesses at once (parallel requests must not share one opening), the
    // rest one by one.
    let burst = (0..25).map(|n| attempt(format!("wrong guess {n:04}")));
    let mut statuses: Vec<StatusCode> = futures::future::join_all(burst)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    for n in 25..50 {
        statuses.push(attempt(format!("wrong guess {n:04}")).await.status());
    }
    let rejected = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        rejected, 5,
        "five free failures, then the throttle: {statuses:?}"
    );
    assert_eq!(throttled, 45);
    // While throttled, even the right password is not checked.
    let resp = attempt(TEST_PASSWORD.into()).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);

    // Every attempt is in the trail.
    let auditor = add_user_with_token(&data, "brute-auditor", "auditor", "force", &[]);
    let trail: Value = server
        .get_as(&auditor, "/api/audit?user=test-viewer")
        .await
        .json()
        .await
        .unwrap();
    let logins: Vec<&Value> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "session.login")
        .collect();
    let count = |outcome: &str| logins.iter().filter(|e| e["outcome"] == outcome).count();
    assert_eq!(count("denied"), 5, "{logins:?}");
    assert_eq!(count("throttled"), 46);
    assert!(logins.iter().all(|e| e["source"] == "127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_can_be_revoked() {
    let dir = TempDir::new("auth-revoke");
    let data = dir.path("data");
    let server = Server::start(&data).await;
    let resp = server
        .request(Method::POST, "/api/tokens", &server.viewer)
        .json(&json!({ "label": "script", "expires_days": 30 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("slt_"));
    assert_eq!(server.get_as(&token, "/api/cameras").await.status(), 200);
    // The secret is never listed again.
    let listed = server
        .get_as(&token, "/api/tokens")
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&token));

    // Revoked over the API: refused from the next request on.
    let id = created["id"].as_i64().unwrap();
    let resp = server
        .request(Method::DELETE, &format!("/api/tokens/{id}"), &server.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.get_as(&token, "/api/cameras").await.status(), 401);

    // Someone else's token is not yours to revoke (and is not even listed to you).
    let other = server
        .request(Method::POST, "/api/tokens", &server.admin)
        .json(&json!({ "label": "admin script" }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let other_id = other["id"].as_i64().unwrap();
    let resp = server
        .request(
            Method::DELETE,
            &format!("/api/tokens/{other_id}"),
            &server.viewer,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Revoked offline, with the server running.
    let out = offline(
        &data,
        &["token", "revoke", "--id", &other_id.to_string()],
        "",
    );
    assert!(out.contains("revoked"), "{out}");
    let other_token = other["token"].as_str().unwrap();
    assert_eq!(
        server.get_as(other_token, "/api/cameras").await.status(),
        401
    );
}

/// Starts `sightline serve` and returns it with what it printed up to "listening".
fn serve_printing(data: &std::path::Path, port: u16, extra: &[&str]) -> (Proc, Vec<String>) {
    let mut child = Command::new(BIN)
        .args(["serve", "--data", data.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = vec![];
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.starts_with("Sightline listening");
        printed.push(line);
        if done {
            break;
        }
    }
    (Proc(child), printed)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_start_prints_a_one_time_secret_that_must_be_changed() {
    let dir = TempDir::new("auth-bootstrap");
    let data = dir.path("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (_proc, printed) = serve_printing(&data, port, &[]);
    let secret = printed
        .iter()
        .find_map(|l| l.trim().strip_prefix("bootstrap-secret: "))
        .map(str::to_owned);
    let secret = secret.expect("a bootstrap secret on the first start");
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/api/session"))
        .json(&json!({ "username": "admin", "password": secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let session: Value = resp.json().await.unwrap();
    assert_eq!(session["must_change_password"], true);
    let csrf = session["csrf_token"].as_str().unwrap();

    // Nothing but the password change until it is done.
    let resp = http
        .get(format!("{base}/api/cameras"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("new password"));
    let change = |current: &str, new: &str| {
        http.post(format!("{base}/api/session/password"))
            .header("cookie", &cookie)
            .header("x-csrf-token", csrf)
            .json(&json!({ "current_password": current, "new_password": new }))
    };
    let resp = change(&secret, "short").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("12 characters"));
    assert_eq!(
        change(&secret, "the control room 2026")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let resp = http
        .get(format!("{base}/api/cameras"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The secret is spent.
    let resp = http
        .post(format!("{base}/api/session"))
        .json(&json!({ "username": "admin", "password": secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Provisioned offline before the first start: no secret is made or printed.
    let provisioned = dir.path("provisioned");
    offline(
        &provisioned,
        &[
            "user",
            "add",
            "--name",
            "ops",
            "--role",
            "administrator",
            "--password-stdin",
        ],
        TEST_PASSWORD,
    );
    let (_proc, printed) = serve_printing(&provisioned, free_port(), &[]);
    assert!(
        !printed.iter().any(|l| l.contains("bootstrap-secret")),
        "{printed:?}"
    );
    // And commands that only read refuse a directory that holds no data.
    let out = Command::new(BIN)
        .args(["token", "list", "--data"])
        .arg(dir.path("typo"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Sightline data"));
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_a_secure_cookie_and_the_cli_trusting_a_private_ca() {
    let dir = TempDir::new("auth-tls");
    // A private CA, and a server certificate it signed for 127.0.0.1.
    let (ca, cert, key) = (
        dir.path("ca.pem"),
        dir.path("cert.pem"),
        dir.path("key.pem"),
    );
    std::fs::write(
        dir.path("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let p = |name: &str| dir.path(name).to_str().unwrap().to_owned();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let steps: [Vec<String>; 3] = [
        ["req", "-x509", "-days", "1", "-subj", "/CN=test-ca"]
            .iter()
            .chain(&ec)
            .map(|s| s.to_string())
            .chain(["-keyout".into(), p("ca.key"), "-out".into(), p("ca.pem")])
            .collect(),
        ["req", "-subj", "/CN=sightline"]
            .iter()
            .chain(&ec)
            .map(|s| s.to_string())
            .chain(["-keyout".into(), p("key.pem"), "-out".into(), p("leaf.csr")])
            .collect(),
        vec![
            "x509".into(),
            "-req".into(),
            "-days".into(),
            "1".into(),
            "-CAcreateserial".into(),
            "-in".into(),
            p("leaf.csr"),
            "-CA".into(),
            p("ca.pem"),
            "-CAkey".into(),
            p("ca.key"),
            "-extfile".into(),
            p("leaf.ext"),
            "-out".into(),
            p("cert.pem"),
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(&args)
            .output()
            .expect("running openssl (scripts/install-test-deps.sh installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let data = dir.path("data");
    let port = free_port();
    let tls = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let (_proc, printed) = serve_printing(&data, port, &tls);
    let listening = printed.last().unwrap();
    let base = format!("https://127.0.0.1:{port}");
    assert!(listening.ends_with(&base), "{listening}");
    let token = add_user_with_token(&data, "tls-viewer", "supervisor", "force", &[]);

    let pem = std::fs::read(&ca).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let resp = https
        .post(format!("{base}/api/session"))
        .json(&json!({ "username": "tls-viewer", "password": TEST_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("; Secure"));
    // Plain HTTP to the TLS port gets no answer from the API.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/health"))
        .send()
        .await;
    assert!(plain.map_or(true, |r| !r.status().is_success()));

    let cli = |extra: &[&str]| {
        Command::new(BIN)
            .args(["camera", "list", "--server", &base])
            .args(extra)
            .env("SIGHTLINE_TOKEN", &token)
            .output()
            .unwrap()
    };
    let trusted = cli(&["--ca-cert", ca.to_str().unwrap()]);
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let untrusted = cli(&[]);
    assert!(
        !untrusted.status.success(),
        "an unknown certificate must not be trusted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn administrators_manage_neither_auditors_nor_themselves_nor_anyone_above_them() {
    let dir = TempDir::new("auth-duties");
    let data = dir.path("data");
    let server = Server::start(&data).await;
    let admin = add_user_with_token(&data, "plain-admin", "administrator", "force", &[]);
    let operator = add_user_with_token(&data, "plain-operator", "operator", "force", &[]);
    add_user_with_token(&data, "an-auditor", "auditor", "force", &[]);
    let send = |method: Method, path: &str, body: Value| {
        server.request(method, path, &admin).json(&body).send()
    };
    let new_auditor = json!({ "name": "inside-man", "role": "auditor", "password": TEST_PASSWORD });
    let resp = send(Method::POST, "/api/users", new_auditor).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("offline"));
    for (path, body) in [
        (
            "/api/users/an-auditor",
            json!({ "password": TEST_PASSWORD }),
        ),
        ("/api/users/plain-operator", json!({ "role": "auditor" })),
        ("/api/users/plain-admin", json!({ "role": "supervisor" })),
    ] {
        let resp = send(Method::PATCH, path, body).await.unwrap();
        assert_eq!(resp.status(), 403, "PATCH {path}");
    }

    // Accounts cleared above the administrator do not exist for them.
    let listed: Vec<Value> = server
        .get_as(&admin, "/api/users")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed.iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert!(
        !names.contains(&"test-viewer"),
        "a covert-cleared account was listed: {names:?}"
    );
    assert!(names.contains(&"plain-operator"));
    for name in ["test-viewer", "nobody-at-all"] {
        let resp = send(
            Method::PATCH,
            &format!("/api/users/{name}"),
            json!({ "disabled": true }),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 404);
        assert_eq!(
            resp.text().await.unwrap(),
            format!("{{\"error\":\"no user named \\\"{name}\\\"\"}}")
        );
    }

    // A refused change writes nothing: a weak password keeps the role as it was.
    let resp = send(
        Method::PATCH,
        "/api/users/plain-operator",
        json!({ "role": "supervisor", "password": "short" }),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    let operator_now = listed_user(&server, &admin, "plain-operator").await;
    assert_eq!(operator_now["role"], "operator");

    // A password reset ends sessions and revokes tokens at once.
    assert_eq!(server.get_as(&operator, "/api/cameras").await.status(), 200);
    let resp = send(
        Method::PATCH,
        "/api/users/plain-operator",
        json!({ "password": "a temporary one 42" }),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.get_as(&operator, "/api/cameras").await.status(), 401);
}

async fn listed_user(server: &Server, token: &str, name: &str) -> Value {
    let listed: Vec<Value> = server
        .get_as(token, "/api/users")
        .await
        .json()
        .await
        .unwrap();
    listed.into_iter().find(|u| u["name"] == name).unwrap()
}

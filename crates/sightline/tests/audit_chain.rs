//! `sightline audit verify` against a tampered trail: every kind of change to the
//! database behind Sightline's back is caught and the entry named.

mod common;

use std::process::Command;

use common::*;

/// Ten entries written through the store, in a fresh data directory.
async fn trail_of_ten(dir: &TempDir, name: &str) -> std::path::PathBuf {
    use sightline_store::audit::{AuditRecord, Outcome};
    let data = dir.path(name);
    let store = sightline_store::Store::open(&data).await.unwrap();
    for n in 1..=10 {
        store
            .audit(&AuditRecord {
                actor: "alice".into(),
                source: "10.0.0.1".into(),
                action: "camera.export".into(),
                target: format!("camera:{n}"),
                camera: Some(sightline_core::CameraId(n)),
                outcome: Outcome::Ok,
                detail: format!("entry {n}"),
                sensitivity: Default::default(),
            })
            .await
            .unwrap();
    }
    store.close().await;
    data
}

/// Opens the database behind Sightline's back, as a tamperer would.
async fn tamper(data: &std::path::Path, statements: &[&str]) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let url = format!("sqlite://{}", data.join("sightline.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await?;
    for sql in statements {
        sqlx::query(sql).execute(&mut db).await?;
    }
    db.close().await
}

fn verify(data: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["audit", "verify", "--data"])
        .arg(data)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_verify_names_the_entry_that_was_changed_deleted_or_inserted() {
    let dir = TempDir::new("audit-chain");
    let data = trail_of_ten(&dir, "intact").await;
    let (ok, out) = verify(&data, &[]);
    assert!(ok && out.contains("intact: 10 entries"), "{out}");

    // Sightline itself refuses to change or delete entries.
    let err = tamper(&data, &["UPDATE audit SET detail = 'x' WHERE seq = 4"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = tamper(&data, &["DELETE FROM audit WHERE seq = 4"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");

    let unlock = "DROP TRIGGER audit_no_update";
    let unlock_delete = "DROP TRIGGER audit_no_delete";
    let forged = "INSERT INTO audit (seq, at_us, actor, source, action, target, camera_id, outcome, detail, classification, covert, prev_sha256, sha256)
                  SELECT 11, at_us + 1, actor, source, action, target, camera_id, outcome, 'forged', 0, 0, sha256, sha256 FROM audit WHERE seq = 10";
    let cases: [(&str, Vec<&str>, &str); 6] = [
        ("edited", vec![unlock, "UPDATE audit SET detail = 'nothing to see' WHERE seq = 4"], "entry 4"),
        ("relabelled", vec![unlock, "UPDATE audit SET covert = 1 WHERE seq = 7"], "entry 7"),
        ("deleted", vec![unlock_delete, "DELETE FROM audit WHERE seq = 6"], "entry 6"),
        ("newest deleted", vec![unlock_delete, "DELETE FROM audit WHERE seq = 10"], "entry 10"),
        ("appended", vec![forged], "entry 11"),
        (
            "inserted",
            vec![
                unlock,
                "UPDATE audit SET seq = seq + 100 WHERE seq > 5",
                "UPDATE audit SET seq = seq - 99 WHERE seq > 100",
                "INSERT INTO audit (seq, at_us, actor, source, action, target, camera_id, outcome, detail, classification, covert, prev_sha256, sha256)
                 SELECT 6, at_us, actor, source, action, target, camera_id, outcome, 'inserted', 0, 0, sha256, sha256 FROM audit WHERE seq = 5",
            ],
            "entry 6",
        ),
    ];
    for (what, statements, names) in cases {
        let data = trail_of_ten(&dir, what).await;
        tamper(&data, &statements).await.unwrap();
        let (ok, out) = verify(&data, &[]);
        assert!(!ok, "{what}: verify passed:\n{out}");
        assert!(
            out.contains(&format!("broken at {names}")),
            "{what}: expected the report to name {names}:\n{out}"
        );
    }

    // Cut short with the head rewritten to match: the chain alone still looks whole,
    // but not against an anchor recorded earlier.
    let data = trail_of_ten(&dir, "truncated").await;
    let (ok, out) = verify(&data, &[]);
    assert!(ok);
    let anchor = out.lines().last().unwrap().trim().to_owned();
    assert!(
        anchor.starts_with("10:") && anchor.len() == 3 + 64,
        "{anchor}"
    );
    assert!(verify(&data, &["--expect-head", &anchor]).0);
    tamper(
        &data,
        &[
            unlock_delete,
            "DELETE FROM audit WHERE seq > 8",
            "UPDATE audit_head SET seq = 8, sha256 = (SELECT sha256 FROM audit WHERE seq = 8)",
        ],
    )
    .await
    .unwrap();
    assert!(
        verify(&data, &[]).0,
        "without an anchor the rewrite is consistent"
    );
    let (ok, out) = verify(&data, &["--expect-head", &anchor]);
    assert!(
        !ok && out.contains("broken at entry 10") && out.contains("anchor"),
        "{out}"
    );
    let (ok, out) = verify(&data, &["--expect-head", "10:abc"]);
    assert!(!ok && out.contains("SEQ:SHA256"), "{out}");
}

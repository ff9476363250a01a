//! The store's half of never-confirm-nor-deny: one SQL predicate that limits every
//! camera query to what a principal may know of, and one for audit entries.
//!
//! [`VISIBLE_CAMERA`] is the SQL form of [`Visibility::can_know`]; a test below checks
//! the two agree on every combination of clearance, scope and label. Because the same
//! query runs whether an id is missing or hidden, both paths do the same work.

use sightline_core::Visibility;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Encode, Sqlite, Type};

/// Cameras (aliased `c`) the principal may know of; bind with [`camera_args`].
pub(crate) const VISIBLE_CAMERA: &str = "(c.classification <= ? AND (c.covert = 0 OR ?) \
     AND (? OR c.owner_org = ? OR c.camera_group IN (SELECT value FROM json_each(?))))";

/// Audit entries (aliased `a`) the principal may read; bind with [`label_args`].
pub(crate) const VISIBLE_ENTRY: &str = "(a.classification <= ? AND (a.covert = 0 OR ?))";

/// Adds one bound value. Binding a plain integer, boolean or string cannot fail.
pub(crate) fn bind<'q, T: Encode<'q, Sqlite> + Type<Sqlite> + 'q>(
    args: &mut SqliteArguments<'q>,
    value: T,
) {
    args.add(value).expect("binding a plain value");
}

/// The values [`VISIBLE_CAMERA`] takes, in order; further values may be bound after.
pub(crate) fn camera_args<'q>(v: &Visibility) -> SqliteArguments<'q> {
    let mut args = label_args(v);
    bind(&mut args, v.org.is_none());
    bind(&mut args, v.org.clone().unwrap_or_default());
    bind(
        &mut args,
        serde_json::to_string(&v.groups).expect("strings serialize"),
    );
    args
}

/// The values [`VISIBLE_ENTRY`] takes, in order.
pub(crate) fn label_args<'q>(v: &Visibility) -> SqliteArguments<'q> {
    let mut args = SqliteArguments::default();
    bind(&mut args, v.clearance.level.rank());
    bind(&mut args, v.clearance.covert);
    args
}

#[cfg(test)]
mod tests {
    use sightline_core::{CameraConfig, Classification, Clearance, Sensitivity, Visibility};

    use crate::Store;

    /// Every label × every clearance × every scope: SQL and the pure policy agree.
    #[tokio::test]
    async fn sql_predicate_matches_the_policy() {
        let dir = std::env::temp_dir().join(format!("sightline-vis-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).await.unwrap();
        let all = Visibility::everything();
        let mut labels = vec![];
        for owner in ["unit-a", "borough-b"] {
            for classification in Classification::ALL {
                for covert in [false, true] {
                    let mut c = CameraConfig::new(
                        format!("{owner}-{classification}-{covert}"),
                        "rtsp://h/",
                    );
                    c.owner_org = owner.into();
                    c.enabled = false;
                    c.sensitivity = Sensitivity {
                        classification,
                        covert,
                    };
                    let cam = store.add_camera(&all, c).await.unwrap();
                    labels.push((cam.id, cam.label()));
                }
            }
        }
        labels.sort_by_key(|(id, _)| *id);
        for level in Classification::ALL {
            for covert in [false, true] {
                for (org, groups) in [
                    (None, vec![]),
                    (Some("unit-a"), vec![]),
                    (Some("unit-a"), vec!["borough-b".to_owned()]),
                    (Some("elsewhere"), vec![]),
                ] {
                    let v = Visibility {
                        clearance: Clearance { level, covert },
                        org: org.map(str::to_owned),
                        groups,
                    };
                    let listed: Vec<_> = store
                        .cameras(&v)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|c| c.id)
                        .collect();
                    let expected: Vec<_> = labels
                        .iter()
                        .filter(|(_, l)| v.can_know(l))
                        .map(|(id, _)| *id)
                        .collect();
                    assert_eq!(listed, expected, "{v:?}");
                    for (id, label) in &labels {
                        assert_eq!(
                            store.camera(&v, *id).await.is_ok(),
                            v.can_know(label),
                            "camera {id} for {v:?}"
                        );
                    }
                }
            }
        }
        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The storage conformance suite: every backend runs these.

use serde_json::json;

use super::{Change, Condition, Quota, Storage, StorageError};

fn change(key: &str, value: serde_json::Value, condition: Condition) -> Change {
    Change {
        key: key.into(),
        value,
        condition,
    }
}

/// Runs every check against `storage`, which must start empty.
pub fn conformance(storage: &dyn Storage) {
    let q = Quota::default();
    let ns = "bot-a";
    let k = |s: &str| vec![s.to_string()];

    // A new key is written without an eTag and gets one.
    let etags = storage
        .write(ns, &[change("x", json!({"n": 1}), Condition::Any)], &q)
        .unwrap();
    let first = etags["x"].clone();
    let read = storage.read(ns, &k("x")).unwrap();
    assert_eq!(read["x"].value, json!({"n": 1}));
    assert_eq!(read["x"].etag, first);

    // The current eTag writes; the stale one then conflicts.
    let second = storage
        .write(
            ns,
            &[change(
                "x",
                json!({"n": 2}),
                Condition::Match(first.clone()),
            )],
            &q,
        )
        .unwrap()["x"]
        .clone();
    assert_ne!(first, second, "every write changes the eTag");
    assert_eq!(
        storage.write(
            ns,
            &[change(
                "x",
                json!({"n": 3}),
                Condition::Match(first.clone())
            )],
            &q
        ),
        Err(StorageError::Conflict("x".into()))
    );
    assert_eq!(
        storage.read(ns, &k("x")).unwrap()["x"].value,
        json!({"n": 2})
    );

    // `*` always wins.
    storage
        .write(ns, &[change("x", json!({"n": 4}), Condition::Any)], &q)
        .unwrap();
    assert_eq!(
        storage.read(ns, &k("x")).unwrap()["x"].value,
        json!({"n": 4})
    );

    // A new key with an eTag condition succeeds (botbuilder's contract);
    // create-only conflicts once the key exists.
    storage
        .write(
            ns,
            &[change("y", json!(1), Condition::Match("old".into()))],
            &q,
        )
        .unwrap();
    storage
        .write(ns, &[change("z", json!(1), Condition::Absent)], &q)
        .unwrap();
    assert_eq!(
        storage.write(ns, &[change("z", json!(2), Condition::Absent)], &q),
        Err(StorageError::Conflict("z".into()))
    );

    // A write is atomic: a conflict on one key writes none.
    let before = storage.read(ns, &k("y")).unwrap()["y"].clone();
    assert!(
        storage
            .write(
                ns,
                &[
                    change("y", json!(99), Condition::Any),
                    change("z", json!(3), Condition::Absent)
                ],
                &q
            )
            .is_err()
    );
    assert_eq!(storage.read(ns, &k("y")).unwrap()["y"], before);

    // Delete, and a deleted key's old eTag never matches a new item.
    storage.delete(ns, &k("x")).unwrap();
    assert!(storage.read(ns, &k("x")).unwrap().is_empty());
    let recreated = storage
        .write(ns, &[change("x", json!(0), Condition::Absent)], &q)
        .unwrap();
    assert_ne!(recreated["x"], second);

    // Namespaces are separate.
    assert!(storage.read("bot-b", &k("y")).unwrap().is_empty());

    // Quotas: a large value, and a namespace total.
    let small = Quota {
        max_value_bytes: 100,
        max_total_bytes: 250,
    };
    let big = json!("v".repeat(200));
    assert!(matches!(
        storage.write("bot-c", &[change("big", big, Condition::Any)], &small),
        Err(StorageError::ValueTooLarge { .. })
    ));
    for n in 0..2 {
        storage
            .write(
                "bot-c",
                &[change(
                    &format!("k{n}"),
                    json!("v".repeat(90)),
                    Condition::Any,
                )],
                &small,
            )
            .unwrap();
    }
    assert!(matches!(
        storage.write(
            "bot-c",
            &[change("k2", json!("v".repeat(90)), Condition::Any)],
            &small
        ),
        Err(StorageError::QuotaExceeded { .. })
    ));
    assert!(storage.read("bot-c", &k("k2")).unwrap().is_empty());
    assert!(storage.total_bytes("bot-c").unwrap() <= 250);
}

#[test]
fn sqlite_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let storage = super::SqliteStorage::open(&dir.path().join("state.db")).unwrap();
    conformance(&storage);
    drop(storage);
    // Durable: a reopened database still has the data.
    let reopened = super::SqliteStorage::open(&dir.path().join("state.db")).unwrap();
    assert!(
        !reopened
            .read("bot-a", &["y".to_string()])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn in_memory_sqlite_passes_the_suite() {
    conformance(&super::SqliteStorage::in_memory().unwrap());
}

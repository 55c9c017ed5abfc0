//! The conformance of the uploaded files' store (`storage::uploads`), run
//! by every backend with the rest of `storage_suite.rs`: files stored all
//! or none, read back by bot and id until they expire, the bot's quota
//! checked with the insert (also under concurrent uploads), expired files
//! swept, failed uploads' files deleted.

use turnbox::storage::uploads::{NewFile, UploadBatch};
use turnbox::storage::{Database, StorageError};

fn file(name: &str, size: usize) -> NewFile {
    NewFile {
        name: name.into(),
        content_type: "text/plain".into(),
        bytes: vec![b'x'; size],
    }
}

fn batch<'a>(bot: &'a str, files: &'a [NewFile], now: i64, quota: u64) -> UploadBatch<'a> {
    UploadBatch {
        bot,
        conversation: "c1",
        files,
        now,
        expires_at: now + 1_000,
        max_total_bytes: quota,
    }
}

pub fn uploads_conformance(db: &dyn Database) {
    let two = [file("a.txt", 5), file("b.png", 7)];
    let stored = db.store_files(&batch("ub", &two, 1_000, 100)).unwrap();
    assert_eq!(stored.len(), 2);
    assert_ne!(stored[0].id, stored[1].id);
    let (record, bytes) = db.file("ub", &stored[1].id, 1_500).unwrap().unwrap();
    assert_eq!(record, stored[1]);
    assert_eq!(
        (
            record.name.as_str(),
            record.size,
            record.conversation.as_str()
        ),
        ("b.png", 7, "c1")
    );
    assert_eq!(bytes, vec![b'x'; 7]);
    assert!(
        db.file("other", &stored[1].id, 1_500).unwrap().is_none(),
        "keyed by bot"
    );
    assert!(db.file("ub", "nope", 1_500).unwrap().is_none());
    assert_eq!(db.stored_bytes("ub", 1_500).unwrap(), 12);

    // Over the quota: nothing of the batch is stored.
    let big = [file("c", 50), file("d", 39)];
    assert_eq!(
        db.store_files(&batch("ub", &big, 1_500, 100)),
        Err(StorageError::QuotaExceeded {
            size: 101,
            limit: 100
        })
    );
    assert_eq!(db.stored_bytes("ub", 1_500).unwrap(), 12);
    // Exactly at the quota fits.
    let fits = [file("e", 88)];
    let last = db.store_files(&batch("ub", &fits, 1_500, 100)).unwrap();
    assert_eq!(db.stored_bytes("ub", 1_500).unwrap(), 100);

    // Concurrent uploads: at most one of two fits the quota.
    let half = [file("h", 60)];
    let outcomes: Vec<bool> = std::thread::scope(|s| {
        let uploads: Vec<_> = (0..2)
            .map(|_| s.spawn(|| db.store_files(&batch("uc", &half, 1_000, 100)).is_ok()))
            .collect();
        uploads.into_iter().map(|u| u.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{outcomes:?}");
    assert_eq!(db.stored_bytes("uc", 1_000).unwrap(), 60);

    // Expired files are not read, not counted, and swept.
    assert!(db.file("ub", &stored[0].id, 2_000).unwrap().is_none());
    assert_eq!(db.stored_bytes("ub", 2_000).unwrap(), 88);
    assert_eq!(db.sweep_files(2_000).unwrap(), 3, "ub's first two, uc's");
    assert!(db.file("ub", &last[0].id, 2_400).unwrap().is_some());
    assert_eq!(db.stored_bytes("ub", 1_000).unwrap(), 88, "swept for good");

    // A failed upload's files are deleted.
    db.delete_files("ub", &[last[0].id.clone()]).unwrap();
    assert!(db.file("ub", &last[0].id, 2_400).unwrap().is_none());
    assert_eq!(db.sweep_files(i64::MAX / 2).unwrap(), 0);
}

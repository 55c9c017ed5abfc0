//! The storage conformance suite: every backend runs these (SQLite here,
//! PostgreSQL in `postgres.rs`); it panics on the first failed check.

use serde_json::json;

use turnbox::storage::dedup::Answer;
use turnbox::storage::directline::{DirectLineConversation, DirectLineStore};
use turnbox::storage::timers::Timer;
use turnbox::storage::transcripts::TranscriptEntry;
use turnbox::storage::{Change, Condition, Database, Quota, Storage, StorageError};

fn change(key: &str, value: serde_json::Value, condition: Condition) -> Change {
    Change {
        key: key.into(),
        value,
        condition,
    }
}

/// Runs every check against `database`, which must start empty.
pub fn conformance(database: &dyn Database) {
    state_conformance(database);
    timers_conformance(database);
    dedup_conformance(database);
    transcripts_and_references_conformance(database);
    directline_conformance(database);
    crate::commit_suite::commit_conformance(database);
    accepted_conformance(database);
    crate::api_conversations_suite::api_conversations_conformance(database);
    crate::uploads_suite::uploads_conformance(database);
    skill_conversations_conformance(database);
    append_keeping_conformance(database);
}

/// A user's activity appended with its turn kept: the kept row carries the
/// id the log gave it, and an append that fails keeps nothing.
pub fn append_keeping_conformance(db: &dyn Database) {
    use turnbox::storage::directline::KeepTurn;
    use turnbox::storage::outbox::Route;
    db.create_conversation(&DirectLineConversation {
        id: "dl-kept".into(),
        bot: "kb".into(),
        user: "u".into(),
    })
    .unwrap();
    let keep = || KeepTurn {
        bot: "kb".into(),
        turn: json!({"type": "message", "text": "as the turn gets it"}),
        route: Route::Internal,
        owner: "host-a".into(),
        until: 0,
    };
    let logged = json!({"type": "message", "text": "as the log keeps it"});
    let id = db.append_keeping("dl-kept", logged, keep()).unwrap();
    assert_eq!(id, "dl-kept|0000000");
    let (log, _) = db.activities_since("dl-kept", 0).unwrap();
    assert_eq!(log[0]["text"], "as the log keeps it");
    assert!(
        db.append_keeping("dl-missing", json!({"type": "message"}), keep())
            .is_err()
    );
    let now = turnbox::support::clock::now_millis();
    let claimed = db
        .claim_accepted(now, now + 60_000, "host-b", 1000)
        .unwrap();
    let kept: Vec<_> = claimed.iter().filter(|c| c.turn.bot == "kb").collect();
    assert_eq!(kept.len(), 1, "one kept turn, none for the failed append");
    let turn = &kept[0].turn;
    assert_eq!(
        (turn.conversation.as_str(), turn.activity_id.as_str()),
        ("dl-kept", id.as_str())
    );
    assert_eq!(turn.route, Route::Internal);
    let activity: serde_json::Value = serde_json::from_str(&turn.activity).unwrap();
    assert_eq!(activity["id"], id.as_str());
    assert_eq!(activity["text"], "as the turn gets it");
    db.finish_turn("kb", "dl-kept", &id).unwrap();
}

/// The skill conversation id factory: random ids, one per bot, skill and
/// original conversation (its reference updated), forgotten on delete.
pub fn skill_conversations_conformance(db: &dyn Database) {
    let first = serde_json::json!({"conversation": {"id": "sc-1"}, "activityId": "a1"});
    let later = serde_json::json!({"conversation": {"id": "sc-1"}, "activityId": "a2"});
    let id = db.mint_skill_conversation("sb", "echo", &first).unwrap();
    assert!(id.starts_with("skc-") && id.len() >= 36, "{id}");
    assert_eq!(
        db.mint_skill_conversation("sb", "echo", &later).unwrap(),
        id
    );
    let stored = db.skill_conversation(&id).unwrap().unwrap();
    assert_eq!((stored.bot.as_str(), stored.skill.as_str()), ("sb", "echo"));
    assert_eq!(stored.reference, later);
    let other = db.mint_skill_conversation("sb", "other", &first).unwrap();
    assert_ne!(other, id);
    db.delete_skill_conversation(&id).unwrap();
    assert_eq!(db.skill_conversation(&id).unwrap(), None);
    assert!(db.skill_conversation(&other).unwrap().is_some());
    assert_ne!(
        db.mint_skill_conversation("sb", "echo", &first).unwrap(),
        id
    );
}

/// Turns accepted before they ended: kept by an owner until a lease, then
/// claimable by one other owner at a time, oldest first; replaced by a
/// second accept; forgotten once finished.
pub fn accepted_conformance(db: &dyn Database) {
    use turnbox::storage::accepted::AcceptedTurn;
    use turnbox::storage::outbox::Route;
    let kept = |id: &str, route: Route| AcceptedTurn {
        bot: "ab".into(),
        conversation: "c".into(),
        activity_id: id.into(),
        activity: format!("{{\"id\":\"{id}\"}}"),
        route,
    };
    // What a claim finds: the turns, each with when it was accepted.
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let turns = |claimed: Vec<turnbox::storage::accepted::ClaimedTurn>| -> Vec<AcceptedTurn> {
        for c in &claimed {
            assert!(
                (started - 1_000..started + 60_000).contains(&c.accepted_at),
                "accepted at {} (the suite started at {started})",
                c.accepted_at
            );
        }
        claimed.into_iter().map(|c| c.turn).collect()
    };
    db.accept_turn(&kept("t1", Route::Dev), "h1", 1_000)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    db.accept_turn(&kept("t2", Route::Internal), "h1", 5_000)
        .unwrap();
    // Held until its lease: nothing to claim before.
    assert!(db.claim_accepted(999, 10_000, "h2", 10).unwrap().is_empty());
    // Lapsed: claimed once, by one owner.
    assert_eq!(
        turns(db.claim_accepted(1_000, 10_000, "h2", 10).unwrap()),
        vec![kept("t1", Route::Dev)]
    );
    assert!(
        db.claim_accepted(1_000, 10_000, "h3", 10)
            .unwrap()
            .is_empty()
    );
    // Both lapsed: oldest first, at most n.
    let claimed = db.claim_accepted(20_000, 30_000, "h3", 1).unwrap();
    assert_eq!(turns(claimed), vec![kept("t1", Route::Dev)]);
    let claimed = db.claim_accepted(20_000, 30_000, "h3", 10).unwrap();
    let t2_accepted_at = claimed.first().map(|c| c.accepted_at);
    assert_eq!(turns(claimed), vec![kept("t2", Route::Internal)]);
    // Accepting again replaces the claim (a resumed run extends its own)
    // and keeps when the turn was first accepted.
    std::thread::sleep(std::time::Duration::from_millis(5));
    db.accept_turn(&kept("t2", Route::Internal), "h4", 40_000)
        .unwrap();
    assert_eq!(
        turns(db.claim_accepted(35_000, 50_000, "h5", 10).unwrap()),
        vec![kept("t1", Route::Dev)],
        "t2 is held again; t1's claim lapsed"
    );
    let claimed = db.claim_accepted(45_000, 60_000, "h5", 10).unwrap();
    assert_eq!(claimed.first().map(|c| c.accepted_at), t2_accepted_at);
    assert_eq!(turns(claimed), vec![kept("t2", Route::Internal)]);
    // Finished: gone for good.
    db.finish_turn("ab", "c", "t1").unwrap();
    db.finish_turn("ab", "c", "t2").unwrap();
    assert!(
        db.claim_accepted(i64::MAX / 2, i64::MAX / 2, "h6", 10)
            .unwrap()
            .is_empty()
    );
    // Finishing what is not kept is no error.
    db.finish_turn("ab", "c", "none").unwrap();
}

/// State: eTags, conditions, atomic writes, deletes, namespaces, quotas.
pub fn state_conformance(storage: &dyn Storage) {
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

    // Forgetting: only the namespace's items last written before the cutoff.
    let write = |ns: &str, key: &str| {
        storage
            .write(ns, &[change(key, json!(1), Condition::Any)], &q)
            .unwrap();
    };
    let millis = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    write("bot-d", "old");
    write("bot-d", "rewritten");
    write("bot-e", "old");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let cutoff = millis();
    std::thread::sleep(std::time::Duration::from_millis(5));
    write("bot-d", "new");
    write("bot-d", "rewritten");
    assert_eq!(storage.forget_older("bot-d", cutoff).unwrap(), 1);
    let left = storage
        .read("bot-d", &["old".into(), "rewritten".into(), "new".into()])
        .unwrap();
    let mut left: Vec<&str> = left.keys().map(String::as_str).collect();
    left.sort_unstable();
    assert_eq!(left, ["new", "rewritten"]);
    assert_eq!(storage.read("bot-e", &k("old")).unwrap().len(), 1);
    assert_eq!(storage.forget_older("bot-d", cutoff).unwrap(), 0);
}

/// Timers: due order, exclusive claims, cancel, release, complete. Times
/// are within the last ten seconds, so a backend with claim leases (of more
/// than ten seconds) holds every claim made here.
pub fn timers_conformance(store: &dyn Database) {
    let base = turnbox::support::clock::now_millis() - 10_000;
    let timer = |id: &str, due| Timer {
        id: id.into(),
        bot: "b".into(),
        due: base + due,
        name: "n".into(),
        value: Some(json!({"k": 1})),
        reference: json!({"conversation": {"id": "c"}}),
    };
    store.schedule(&timer("early", 100)).unwrap();
    store.schedule(&timer("late", 200)).unwrap();
    store.schedule(&timer("gone", 150)).unwrap();
    assert!(store.exists("b", "late").unwrap());
    assert!(!store.exists("other-bot", "late").unwrap());
    assert!(store.cancel("b", "gone").unwrap());
    assert!(
        !store.cancel("other-bot", "late").unwrap(),
        "bots cancel only their own"
    );
    assert!(store.claim_due(base + 50, 10).unwrap().is_empty());
    let claimed = store.claim_due(base + 150, 10).unwrap();
    assert_eq!(claimed, vec![timer("early", 100)]);
    assert!(
        store.claim_due(base + 150, 10).unwrap().is_empty(),
        "a claim is exclusive"
    );
    store.complete("early").unwrap();
    let late = store.claim_due(base + 1000, 10).unwrap();
    assert_eq!(late, vec![timer("late", 200)]);
    assert!(
        !store.exists("b", "late").unwrap(),
        "a claimed timer is firing"
    );
    assert!(
        !store.cancel("b", "late").unwrap(),
        "a claimed timer is firing"
    );
    store.release("late", base + 300).unwrap();
    assert_eq!(store.claim_due(base + 250, 10).unwrap(), vec![]);
    assert_eq!(
        store.claim_due(base + 300, 10).unwrap(),
        vec![timer("late", 300)],
        "a released timer is due again at its new time"
    );
    store.complete("late").unwrap();
    assert!(store.claim_due(base + 60_000, 10).unwrap().is_empty());
}

/// De-duplication records: per bot, conversation and activity, in a window.
pub fn dedup_conformance(db: &dyn Database) {
    let answer = Answer {
        status: 200,
        body: Some(json!({"activities": [{"text": "Count: 1"}]}).to_string()),
    };
    db.record("bot", "c", "a1", &answer).unwrap();
    assert_eq!(
        db.answered("bot", "c", "a1", 0).unwrap(),
        Some(answer.clone())
    );
    assert_eq!(db.answered("bot", "c", "a2", 0).unwrap(), None);
    assert_eq!(db.answered("other", "c", "a1", 0).unwrap(), None);
    assert_eq!(db.answered("bot", "c2", "a1", 0).unwrap(), None);
    let later = turnbox::support::clock::now_millis() + 60_000;
    assert_eq!(db.answered("bot", "c", "a1", later).unwrap(), None);
    let failed = Answer {
        status: 500,
        body: None,
    };
    db.record("bot", "c", "a1", &failed).unwrap();
    assert_eq!(db.answered("bot", "c", "a1", 0).unwrap(), Some(failed));
    assert_eq!(db.expire(later).unwrap(), 1);
    assert_eq!(db.answered("bot", "c", "a1", 0).unwrap(), None);
    // Expiry forgets only what is older than the window, all of it.
    for id in ["b1", "b2", "b3"] {
        db.record("bot", "c", id, &answer).unwrap();
    }
    assert_eq!(
        db.expire(turnbox::support::clock::now_millis() - 60_000)
            .unwrap(),
        0
    );
    for id in ["b1", "b2", "b3"] {
        assert!(db.answered("bot", "c", id, 0).unwrap().is_some());
    }
    assert_eq!(db.expire(later).unwrap(), 3);
    assert_eq!(db.expire(later).unwrap(), 0);
    assert_eq!(db.answered("bot", "c", "b3", 0).unwrap(), None);
}

/// Transcripts (paged, in order, lossless) and conversation references.
pub fn transcripts_and_references_conformance(db: &dyn Database) {
    let entry = |conversation: &str, text: &str| TranscriptEntry {
        channel: "test".into(),
        conversation: conversation.into(),
        activity: turnbox::schema::activity::Activity::from_json_bytes(
            json!({
                "type": "message",
                "text": text,
                "timestamp": "2026-11-22T10:00:00Z",
                "unknownField": {"kept": [1, 2.5, "x"]},
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap(),
    };
    db.append("bot", &[entry("c1", "one"), entry("c2", "two")])
        .unwrap();
    db.append("bot", &[entry("c1", "three")]).unwrap();
    db.append("other", &[entry("c1", "elsewhere")]).unwrap();

    let first = db.conversations("bot", 1, None).unwrap();
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.items[0].id, "c1", "newest first");
    assert_eq!(first.items[0].activity_count, 2);
    let second = db
        .conversations("bot", 1, first.continuation_token.as_deref())
        .unwrap();
    assert_eq!(second.items[0].id, "c2");
    assert_eq!(second.continuation_token, None);

    let page = db.activities("bot", "c1", 1, None).unwrap();
    assert_eq!(page.items[0]["text"], "one");
    assert_eq!(
        page.items[0]["unknownField"],
        json!({"kept": [1, 2.5, "x"]})
    );
    let rest = db
        .activities("bot", "c1", 10, page.continuation_token.as_deref())
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0]["text"], "three");
    assert!(db.activities("bot", "c1", 10, Some("nonsense")).is_err());

    let reference = json!({"conversation": {"id": "c1"}, "serviceUrl": "http://x/"});
    assert_eq!(db.reference("bot", "c1").unwrap(), None);
    db.save_reference("bot", "c1", &reference).unwrap();
    assert_eq!(db.reference("bot", "c1").unwrap(), Some(reference.clone()));
    let moved = json!({"conversation": {"id": "c1"}, "serviceUrl": "http://y/"});
    db.save_reference("bot", "c1", &moved).unwrap();
    assert_eq!(db.reference("bot", "c1").unwrap(), Some(moved));
    assert_eq!(db.reference("other", "c1").unwrap(), None);
}

/// Direct Line conversations: creation, the started flag, dense positions
/// under concurrent appends, ids, reading from a watermark, one channel key.
pub fn directline_conformance(store: &dyn DirectLineStore) {
    let conversation = DirectLineConversation {
        id: "dl-1".into(),
        bot: "echo".into(),
        user: "u-1".into(),
    };
    store.create_conversation(&conversation).unwrap();
    assert!(
        store.create_conversation(&conversation).is_err(),
        "an id is taken once"
    );
    assert_eq!(store.conversation("dl-1").unwrap(), Some(conversation));
    assert_eq!(store.conversation("dl-2").unwrap(), None);
    assert!(store.start_conversation("dl-1").unwrap());
    assert!(!store.start_conversation("dl-1").unwrap(), "started once");

    assert_eq!(store.activities_since("dl-1", 0).unwrap(), (vec![], 0));
    let first = store
        .append_activity("dl-1", json!({"type": "message", "text": "a"}))
        .unwrap();
    assert_eq!(first, "dl-1|0000000");
    let given = store
        .append_activity("dl-1", json!({"type": "message", "id": "given"}))
        .unwrap();
    assert_eq!(given, "given");
    assert!(
        store
            .append_activity("dl-2", json!({"type": "message"}))
            .is_err(),
        "no log without its conversation"
    );

    // Appends from many threads at once: every position taken once, none
    // skipped; several appended together take adjacent positions.
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for n in (0..10).step_by(2) {
                let pair = [n, n + 1].map(|n| json!({"type": "message", "text": format!("3-{n}")}));
                let ids = store.append_activities("dl-1", pair.to_vec()).unwrap();
                let [a, b] = ids.as_slice() else {
                    panic!("two ids: {ids:?}")
                };
                let position = |id: &str| id.trim_start_matches("dl-1|").parse::<u64>().unwrap();
                assert_eq!(position(a) + 1, position(b), "{ids:?}");
            }
        });
        for thread in 0..3 {
            scope.spawn(move || {
                for n in 0..10 {
                    store
                        .append_activity(
                            "dl-1",
                            json!({"type": "message", "text": format!("{thread}-{n}")}),
                        )
                        .unwrap();
                }
            });
        }
    });
    let (all, next) = store.activities_since("dl-1", 0).unwrap();
    assert_eq!(next, 42);
    assert_eq!(all.len(), 42);
    assert_eq!(all[0]["text"], "a");
    assert_eq!(all[1]["id"], "given");
    let mut ids: Vec<&str> = all[2..].iter().map(|a| a["id"].as_str().unwrap()).collect();
    let expected: Vec<String> = (2..42).map(|p| format!("dl-1|{p:07}")).collect();
    ids.sort_unstable();
    assert_eq!(ids, expected);
    for n in (0..10).step_by(2) {
        let at = |text: String| all.iter().position(|a| a["text"] == text).unwrap();
        assert_eq!(at(format!("3-{n}")) + 1, at(format!("3-{}", n + 1)));
        let logged = &all[at(format!("3-{n}"))]["id"];
        assert_eq!(logged, &format!("dl-1|{:07}", at(format!("3-{n}"))));
    }
    let (tail, same) = store.activities_since("dl-1", 40).unwrap();
    assert_eq!((tail.len(), same), (2, 42));
    assert_eq!(store.activities_since("dl-1", 99).unwrap(), (vec![], 42));
    assert_eq!(store.activities_since("dl-2", 0).unwrap(), (vec![], 0));
    assert!(
        store
            .append_activities("dl-2", vec![json!({"type": "message"}); 2])
            .is_err(),
        "no log without its conversation"
    );
    // A given id is kept in a batch too; a non-object fails the whole batch.
    let ids = store
        .append_activities(
            "dl-1",
            vec![
                json!({"type": "message", "id": "mine"}),
                json!({"type": "message"}),
            ],
        )
        .unwrap();
    assert_eq!(ids, ["mine", "dl-1|0000043"]);
    assert!(
        store
            .append_activities("dl-1", vec![json!({"type": "message"}), json!("text")])
            .is_err()
    );
    assert_eq!(
        store.activities_since("dl-1", 0).unwrap().1,
        44,
        "nothing of it logged"
    );
    // A history again (one a connector sent twice): an activity whose
    // own id the log holds is not logged again; one without an id always is.
    let again = store
        .append_history(
            "dl-1",
            vec![
                json!({"type": "message", "id": "mine", "text": "again"}),
                json!({"type": "message", "id": "theirs"}),
                json!({"type": "message"}),
            ],
        )
        .unwrap();
    assert_eq!(again, ["mine", "theirs", "dl-1|0000045"]);
    let (all, next) = store.activities_since("dl-1", 0).unwrap();
    assert_eq!(next, 46);
    let mine: Vec<&serde_json::Value> = all.iter().filter(|a| a["id"] == "mine").collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].get("text"), None, "the first one logged stays");
    assert_eq!(all[44]["id"], "theirs");
    let known = store
        .append_history("dl-1", vec![json!({"type": "message", "id": "theirs"})])
        .unwrap();
    assert_eq!(known, ["theirs"]);
    assert_eq!(
        store.activities_since("dl-1", 0).unwrap().1,
        46,
        "nothing new"
    );
    // One id twice in a history is logged once; an id in the log's own
    // namespace that it does not hold is replaced by the log's (it would
    // collide with an id the log gives later).
    let ids = store
        .append_history(
            "dl-1",
            vec![
                json!({"type": "message", "id": "twice"}),
                json!({"type": "message", "id": "twice"}),
                json!({"type": "message", "id": "dl-1|0000099"}),
            ],
        )
        .unwrap();
    assert_eq!(ids, ["twice", "twice", "dl-1|0000047"]);
    assert_eq!(store.activities_since("dl-1", 0).unwrap().1, 48);
    // Any other append keeps a given id as it is (an update logged again).
    let update = store
        .append_activities("dl-1", vec![json!({"type": "message", "id": "theirs"})])
        .unwrap();
    assert_eq!(update, ["theirs"]);
    assert_eq!(store.activities_since("dl-1", 0).unwrap().1, 49);
    // A logged NUL (`\u0000` in the JSON) does not stop a later history's
    // look at the log's ids (PostgreSQL's `jsonb` refuses it).
    store
        .append_activity("dl-1", json!({"type": "message", "text": "nul \u{0}"}))
        .unwrap();
    let ids = store
        .append_history("dl-1", vec![json!({"type": "message", "id": "after-nul"})])
        .unwrap();
    assert_eq!(ids, ["after-nul"]);
    assert_eq!(store.activities_since("dl-1", 0).unwrap().1, 51);

    let key = store.channel_key().unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(store.channel_key().unwrap(), key, "made once");

    // Idle conversations are forgotten with their logs; fresh ones stay.
    let fresh = DirectLineConversation {
        id: "dl-fresh".into(),
        bot: "echo".into(),
        user: "u-2".into(),
    };
    let cutoff = turnbox::support::clock::now_millis() + 1;
    std::thread::sleep(std::time::Duration::from_millis(5));
    store.create_conversation(&fresh).unwrap();
    store
        .append_activity("dl-fresh", json!({"type": "message"}))
        .unwrap();
    assert_eq!(store.forget_idle_conversations(cutoff).unwrap(), 1);
    assert_eq!(store.conversation("dl-1").unwrap(), None);
    assert_eq!(store.activities_since("dl-1", 0).unwrap(), (vec![], 0));
    assert!(
        store
            .append_activity("dl-1", json!({"type": "message"}))
            .is_err(),
        "a forgotten conversation takes no more activities"
    );
    assert_eq!(store.activities_since("dl-fresh", 0).unwrap().1, 1);
    assert_eq!(store.forget_idle_conversations(cutoff).unwrap(), 0);
}

#[test]
fn sqlite_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let storage = turnbox::storage::SqliteStorage::open(&dir.path().join("state.db")).unwrap();
    // A file database answers de-duplication lookups through read-only
    // connections of its own: the suite checks they see every commit.
    assert!(storage.quick_reads());
    conformance(&storage);
    drop(storage);
    // Durable: a reopened database still has the data.
    let reopened = turnbox::storage::SqliteStorage::open(&dir.path().join("state.db")).unwrap();
    assert!(
        !reopened
            .read("bot-a", &["y".to_string()])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn in_memory_sqlite_passes_the_suite() {
    let storage = turnbox::storage::SqliteStorage::in_memory().unwrap();
    assert!(!storage.quick_reads(), "no other connection sees it");
    conformance(&storage);
}

//! The storage conformance suite's part for a turn's commit (every backend
//! runs it through `storage_suite::conformance`): several turns in one
//! batch with a conflict failing only its own turn, the refusal of a
//! delivery answered already or of a timer gone (`ClaimLost`), claims, and
//! the outbox: post-now or behind earlier rows, claims by owner, renewals,
//! releases, and removal once posted.

use serde_json::json;

use turnbox::storage::commit::DeliveryRecord;
use turnbox::storage::dedup::{Answer, Claim};
use turnbox::storage::outbox::{OutboxRow, Route};
use turnbox::storage::timers::{Timer, TimerOp};
use turnbox::storage::{Change, Condition, Database, StorageError, TurnCommit, TurnRecord};

fn answer(n: u32) -> Answer {
    Answer {
        status: 200,
        body: Some(format!("{{\"n\":{n}}}")),
    }
}

/// A turn of bot `cb` in conversation `c` answering activity `id`, with a
/// state write under `condition`, a timer and `sends` outbox rows.
fn turn(id: &str, condition: Condition, sends: u32, owner: &str) -> TurnRecord {
    TurnRecord::Turn(Box::new(TurnCommit {
        bot: "cb".into(),
        state: vec![Change {
            key: "k".into(),
            value: json!(id),
            condition,
        }],
        timers: vec![TimerOp::Schedule(Timer {
            id: format!("timer-{id}"),
            bot: "cb".into(),
            due: i64::MAX / 2,
            name: "t".into(),
            value: None,
            reference: json!({}),
        })],
        delivery: Some(DeliveryRecord {
            conversation: "c".into(),
            activity_id: id.into(),
            owner: owner.into(),
            since: 0,
            answer: answer(1),
        }),
        reference: Some(("c".into(), json!({"activityId": id}))),
        outbox: (0..sends)
            .map(|n| OutboxRow {
                conversation: "c".into(),
                activity: json!({"id": format!("{id}-{n}"), "text": n}).to_string(),
                route: Route::Dev,
            })
            .collect(),
        outbox_lease_until: i64::MAX / 2,
        outbox_owner: owner.into(),
        ..Default::default()
    }))
}

pub fn commit_conformance(db: &dyn Database) {
    // A batch: the second turn expects an eTag the key does not have.
    let outcomes = db
        .commit_records(&[
            turn("a1", Condition::Any, 2, "o1"),
            turn("a2", Condition::Match("stale".into()), 1, "o2"),
        ])
        .unwrap();
    let first = outcomes[0].clone().unwrap();
    assert!(first.post_now, "no earlier row: the committer posts");
    assert_eq!(first.outbox.len(), 2);
    assert!(first.outbox[0] < first.outbox[1], "rows in order");
    assert!(matches!(outcomes[1], Err(StorageError::Conflict(_))));
    // The conflicting turn left nothing: no answer, no timer, no row.
    assert!(db.answered("cb", "c", "a2", 0).unwrap().is_none());
    assert!(!db.exists("cb", "timer-a2").unwrap());
    assert!(db.exists("cb", "timer-a1").unwrap());
    assert_eq!(db.answered("cb", "c", "a1", 0).unwrap(), Some(answer(1)));
    assert_eq!(
        db.reference("cb", "c").unwrap(),
        Some(json!({"activityId": "a1"}))
    );
    assert_eq!(
        db.claim("cb", "c", "a1", "o9", i64::MAX / 2, 0).unwrap(),
        Claim::Answered(answer(1))
    );

    // The same delivery again: applied already, this one must not be.
    let again = db
        .commit_records(&[turn("a1", Condition::Any, 0, "o3")])
        .unwrap();
    assert!(
        matches!(again[0], Err(StorageError::ClaimLost)),
        "{again:?}"
    );
    // A timer's turn whose timer is gone.
    let gone = TurnRecord::Turn(Box::new(TurnCommit {
        bot: "cb".into(),
        fired_timer: Some("no-such-timer".into()),
        ..Default::default()
    }));
    assert!(matches!(
        db.commit_records(&[gone]).unwrap()[0],
        Err(StorageError::ClaimLost)
    ));

    // A later turn of the conversation waits behind the unposted rows.
    let later = db
        .commit_records(&[turn("a3", Condition::Any, 1, "o4")])
        .unwrap()[0]
        .clone()
        .unwrap();
    assert!(!later.post_now, "earlier rows wait: the relay posts it");
    // The head is claimed (o1's lease): nothing is free for the relay.
    let now = turnbox::support::clock::now_millis();
    assert!(
        db.claim_unsent(now, now + 60_000, "relay", 16)
            .unwrap()
            .is_empty()
    );
    // Only the owner renews or frees its rows.
    assert!(!db.renew_unsent(&first.outbox, "someone", now + 1).unwrap());
    assert!(db.renew_unsent(&first.outbox, "o1", i64::MAX / 2).unwrap());
    db.release_unsent(&first.outbox, "someone", 0, false)
        .unwrap();
    assert!(
        db.claim_unsent(now, now + 60_000, "relay", 16)
            .unwrap()
            .is_empty()
    );
    db.release_unsent(&first.outbox, "o1", 0, true).unwrap();
    // Now the relay gets the conversation's rows, in order, a failure
    // counted on the released ones.
    let rows = db.claim_unsent(now, now + 60_000, "relay", 16).unwrap();
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [first.outbox.clone(), later.outbox.clone()].concat());
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[2].attempts, 0);
    assert!(
        rows.iter()
            .all(|r| r.route == Some(Route::Dev) && r.bot == "cb")
    );
    assert!(rows[0].activity.contains("a1-0"));
    // Posted: gone, and a new turn posts at once again.
    db.commit_records(&[TurnRecord::Posted {
        bot: "cb".into(),
        conversation: "c".into(),
        seqs,
    }])
    .unwrap();
    let fresh = db
        .commit_records(&[turn("a4", Condition::Any, 1, "o5")])
        .unwrap()[0]
        .clone()
        .unwrap();
    assert!(fresh.post_now);
}

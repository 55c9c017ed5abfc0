//! Storage conformance for the conversations API's records
//! (`storage::api_conversations`), run by `storage_suite::conformance` on
//! every backend: created with their Direct Line conversation, listed
//! newest first by pages and bot, updated, the receive cursor moved by
//! compare-and-set, the outbox counted, deleted with the log, and never
//! forgotten as idle.

use serde_json::json;

use turnbox::storage::Database;
use turnbox::storage::api_conversations::{ApiConversation, ListCursor};

fn conversation(id: &str, bot: &str, created_at: i64) -> ApiConversation {
    ApiConversation {
        id: id.into(),
        bot: bot.into(),
        user: format!("user-{id}"),
        name: Some(format!("name {id}")),
        description: None,
        meta: Some(json!({"n": created_at})),
        created_at,
        updated_at: created_at,
        receive_cursor: 0,
    }
}

pub fn api_conversations_conformance(db: &dyn Database) {
    let first = conversation("api-1", "echo", 1_000);
    db.create_api_conversation(&first).unwrap();
    assert!(
        db.create_api_conversation(&first).is_err(),
        "an id is taken once"
    );
    assert_eq!(db.api_conversation("api-1").unwrap(), Some(first.clone()));
    assert_eq!(db.api_conversation("api-none").unwrap(), None);
    // Its Direct Line conversation came with it.
    let dl = db.conversation("api-1").unwrap().unwrap();
    assert_eq!((dl.bot.as_str(), dl.user.as_str()), ("echo", "user-api-1"));
    db.append_activity("api-1", json!({"type": "message", "text": "a"}))
        .unwrap();

    for (id, bot, at) in [
        ("api-2", "echo", 2_000),
        ("api-3", "other", 2_000),
        ("api-4", "echo", 3_000),
    ] {
        db.create_api_conversation(&conversation(id, bot, at))
            .unwrap();
    }
    let ids = |page: Vec<ApiConversation>| page.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(db.list_api_conversations(None, None, 10).unwrap()),
        ["api-4", "api-3", "api-2", "api-1"],
        "newest first, ties by id"
    );
    let page = db.list_api_conversations(None, None, 2).unwrap();
    let after = ListCursor {
        created_at: page[1].created_at,
        id: page[1].id.clone(),
    };
    assert_eq!(ListCursor::decode(&after.encode()), Some(after.clone()));
    assert_eq!(
        ids(db.list_api_conversations(None, Some(&after), 10).unwrap()),
        ["api-2", "api-1"]
    );
    assert_eq!(
        ids(db.list_api_conversations(Some("echo"), None, 10).unwrap()),
        ["api-4", "api-2", "api-1"]
    );

    let mut changed = first.clone();
    changed.name = None;
    changed.meta = Some(json!({"plan": "pro"}));
    changed.updated_at = 5_000;
    assert!(db.update_api_conversation(&changed).unwrap());
    assert_eq!(db.api_conversation("api-1").unwrap(), Some(changed));
    assert!(
        !db.update_api_conversation(&conversation("api-none", "echo", 1))
            .unwrap()
    );

    assert!(db.move_receive_cursor("api-1", 0, 1).unwrap());
    assert!(
        !db.move_receive_cursor("api-1", 0, 1).unwrap(),
        "it moved already"
    );
    assert_eq!(
        db.api_conversation("api-1")
            .unwrap()
            .unwrap()
            .receive_cursor,
        1
    );

    assert_eq!(db.unsent_replies("echo", "api-1").unwrap(), 0);

    // Never forgotten for being idle, unlike a plain Direct Line one.
    db.forget_idle_conversations(i64::MAX / 2).unwrap();
    assert!(db.conversation("api-1").unwrap().is_some());
    assert_eq!(db.activities_since("api-1", 0).unwrap().1, 1);

    assert!(db.delete_api_conversation("api-1").unwrap());
    assert!(!db.delete_api_conversation("api-1").unwrap());
    assert_eq!(db.api_conversation("api-1").unwrap(), None);
    assert_eq!(db.conversation("api-1").unwrap(), None);
    assert_eq!(db.activities_since("api-1", 0).unwrap(), (vec![], 0));
    for id in ["api-2", "api-3", "api-4"] {
        assert!(db.delete_api_conversation(id).unwrap());
    }
}

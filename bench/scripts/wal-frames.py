#!/usr/bin/env python3
"""WAL frames (and bytes) one Rust-echo turn writes to SQLite, counted offline
with Python's sqlite3 on the same schema as host/src/storage/sqlite/dedup.rs
and references.rs: a delivery row (with its `expectReplies` answer) and the
conversation's reference upserted per turn, 256 conversations, as
bench/wrk/activity.lua sends them. The turn-per-commit rows are the 4
connections of the tail script; variants show what a schema change would
save. Usage: python3 bench/scripts/wal-frames.py (docs/PERFORMANCE.md,
"Issue #23, fifth round" and "tenth round"). Since the tenth round the
host's table has no `created` index: the "no created (now)" row; "no
created, no refs" is what the fifteenth round's reference experiment
would save."""
import json, os, shutil, sqlite3, tempfile
def run(label, page=4096, without_rowid=False, created_index=True, refs=True, n=20000, per_commit=1):
    d=tempfile.mkdtemp(); p=os.path.join(d,'t.db')
    c=sqlite3.connect(p, isolation_level=None)
    c.execute(f"PRAGMA page_size={page}")
    c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=NORMAL"); c.execute("PRAGMA wal_autocheckpoint=0")
    wr = " WITHOUT ROWID" if without_rowid else ""
    c.execute(f"CREATE TABLE delivered (bot TEXT NOT NULL, conversation TEXT NOT NULL, activity_id TEXT NOT NULL, status INTEGER NOT NULL, body TEXT, created INTEGER NOT NULL, PRIMARY KEY (bot, conversation, activity_id)){wr}")
    if created_index: c.execute("CREATE INDEX delivered_created ON delivered (created)")
    c.execute("CREATE TABLE conversation_refs (bot TEXT NOT NULL, conversation TEXT NOT NULL, reference TEXT NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (bot, conversation))")
    body=json.dumps({"activities":[{"type":"message","text":"Echo: hi","speak":"Echo: hi","inputHint":"acceptingInput","from":{"id":"bot"},"recipient":{"id":"user-1"},"conversation":{"id":"conv-1-17"},"replyToId":"1764518400-123456789-1-12345","channelId":"bench","serviceUrl":"http://127.0.0.1:1/","id":"0"}]})
    run_id="1764518400-123456789"
    def turn(i):
        conv=f"conv-1-{i%256}"; aid=f"{run_id}-1-{i}"
        c.execute("INSERT INTO delivered VALUES ('bot',?,?,200,?,?) ON CONFLICT DO NOTHING",(conv,aid,body,1764518400000+i))
        if refs:
            ref=json.dumps({"activityId":aid,"user":{"id":"user-1"},"bot":{"id":"bot"},"conversation":{"id":conv},"channelId":"bench","serviceUrl":"http://127.0.0.1:1/"})
            c.execute("INSERT INTO conversation_refs VALUES ('bot',?,?,?) ON CONFLICT (bot,conversation) DO UPDATE SET reference=excluded.reference, updated=excluded.updated",(conv,ref,i))
    for i in range(n):
        if i%per_commit==0: c.execute("BEGIN IMMEDIATE")
        turn(i)
        if i%per_commit==per_commit-1: c.execute("COMMIT")
    # Count only the second half: the tables are already grown.
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    start=n
    for i in range(start,start+n):
        if i%per_commit==0: c.execute("BEGIN IMMEDIATE")
        turn(i)
        if i%per_commit==per_commit-1: c.execute("COMMIT")
    frames=(os.path.getsize(p+'-wal')-32)//(page+24)
    c.close(); shutil.rmtree(d)
    print(f"{label:28s} frames/turn {frames/n:.2f}  bytes/turn {frames*(page+24)/n:.0f}")
for pc in (1,2,4):
    print("turns per commit:", pc)
    run("4k rowid", per_commit=pc)
    run("4k rowid no created (now)", created_index=False, per_commit=pc)
    run("4k without rowid", without_rowid=True, per_commit=pc)
    run("4k without rowid no created", without_rowid=True, created_index=False, per_commit=pc)
    run("4k no refs", refs=False, per_commit=pc)
    run("4k no created, no refs", created_index=False, refs=False, per_commit=pc)
    run("2k rowid", page=2048, per_commit=pc)
    run("2k without rowid", page=2048, without_rowid=True, per_commit=pc)
    run("1k without rowid", page=1024, without_rowid=True, per_commit=pc)

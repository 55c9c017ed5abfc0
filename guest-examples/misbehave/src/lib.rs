//! A test bot that misbehaves on request, to prove the host contains it.
//!
//! The text of a `message` picks the misbehaviour:
//! - `trap`: panics, which traps the instance;
//! - `loop`: spins forever, until the host's deadline interrupts it;
//! - `oom`: allocates and touches memory without bound;
//! - `recurse`: recurses without bound, overflowing the stack;
//! - `fail`: returns a bot error;
//! - `sleep N`: sleeps N milliseconds, then replies `ok: sleep N`;
//! - `naps N MS`: sleeps MS milliseconds N times (each a host call that
//!   waits across epoch ticks), then replies `ok: naps N MS`;
//! - `spam N`: sends N activities, failing the turn if a send fails;
//! - `state set SCOPE KEY JSON`, `state get SCOPE KEY`, `state del SCOPE KEY`:
//!   use state (`SCOPE` is `conversation`, `user` or `private`) and reply
//!   with the outcome;
//! - `state setfail SCOPE KEY JSON`: sets a value, then fails the turn;
//! - `incr SCOPE KEY [MS]`: adds one to a number in state, pausing MS
//!   milliseconds between reading and writing it, and replies `KEY=N`;
//! - `tally KEY N`: adds one to the conversation's number `KEY`, then
//!   sends N replies `KEY=N part I/N` (held back for the commit);
//! - `timer NAME MS`: schedules a timer; `timer2 NAME1 MS1 NAME2 MS2`
//!   schedules two and cancels the second; both reply with what they did;
//! - an `event` activity (a timer, a proactive turn): replies
//!   `event NAME value=VALUE`;
//! - `newconv`: starts a conversation with the user, says `hello new` in
//!   it, and replies `created ID`;
//! - `callerid`: replies with the `callerId` the host set on the activity;
//! - `config KEY`: replies `config KEY=VALUE` from its manifest (`-` when unset);
//! - `edit`: sends `draft`, replaces it with `final`, then deletes it, to
//!   exercise `update` and `delete`;
//! - `json activity`: replies with the incoming activity as JSON text
//!   (`activity-json`);
//! - `json send JSON`: sends JSON with `send-json` and replies `json sent
//!   ID` or `json refused CODE: MESSAGE`;
//! - `json big N`: `json send` with N bytes of text that is not JSON;
//! - `json edit`: `edit` through `send-json` and `update-json`, the draft
//!   with a field the record does not model (`note`);
//! - `bad record`: sends, updates, then sends to another conversation a
//!   record whose `channel-data` is not JSON text, and replies `bad record:
//!   send=CODE update=CODE send-to-conversation=CODE` (`ok` where the host
//!   took it);
//! - `escape ADDR`: tries to read an env var, a file and the preopened
//!   directories, and to connect to ADDR, and reports what it got;
//! - `big N`: sends one message whose text is N bytes long;
//! - `httpflood URL N`: makes N outbound `wasi:http` GETs to URL, one after
//!   another, and replies `flood: ok=A failed=B` (the host's per-turn
//!   limits refuse most of them);
//! - `chatty N`: writes N lines of 1 KiB through `logging.log`, stdout and
//!   stderr (a third each), then replies `ok: chatty N`;
//! - `conn WHAT [ARGS]`: calls the Bot Connector's member, history and
//!   attachment APIs and replies with what came back (`connector_calls.rs`);
//! - `turns`: replies `turns=N`, the turns this instance has served (always
//!   1 under the fresh-instance policy; counts up under the pooled one);
//! - a message with attachments (files uploaded through Direct Line):
//!   replies `received N attachment(s): NAME (TYPE), …`, plus ` text=TEXT`
//!   when it has text, whatever the text;
//! - anything else: replies `ok: {text}`, proving the bot still works.

wit_bindgen::generate!({
    path: "../../wit",
    world: "bot",
});

mod connector_calls;

use exports::turnbox::bot::handler::Guest;
use turnbox::bot::context::TurnContext;
use turnbox::bot::state::{self, Scope};
use turnbox::bot::timers;
use turnbox::bot::types::{BotError, InvokeResponse};

struct Misbehave;

/// Turns this instance has served: guest memory, which only a warm
/// (pooled) instance keeps between turns.
static TURNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Guest for Misbehave {
    fn on_turn(ctx: &TurnContext) -> Result<Option<InvokeResponse>, BotError> {
        let mut incoming = ctx.activity();
        let turns = TURNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if incoming.type_ == "event" {
            let name = incoming.name.clone().unwrap_or_default();
            let value = incoming.value.clone().unwrap_or_else(|| "-".to_string());
            if name == "nap" {
                // A timer's turn that takes a while.
                std::thread::sleep(std::time::Duration::from_millis(1000));
            }
            return reply(ctx, &mut incoming, format!("event {name} value={value}"));
        }
        let text = incoming.text.clone().unwrap_or_default();
        if text == "json activity" {
            let json = ctx.activity_json();
            incoming.attachments = None;
            incoming.channel_data = None;
            return reply(ctx, &mut incoming, json);
        }
        if let Some(attachments) = incoming.attachments.as_ref().filter(|a| !a.is_empty()) {
            let listed: Vec<String> = attachments
                .iter()
                .map(|a| format!("{} ({})", a.name.as_deref().unwrap_or("-"), a.content_type))
                .collect();
            let mut answer = format!(
                "received {} attachment(s): {}",
                listed.len(),
                listed.join(", ")
            );
            if !text.is_empty() {
                answer.push_str(&format!(" text={text}"));
            }
            incoming.attachments = None;
            // Not the user's channel data: Web Chat would take a reply with
            // the user's clientActivityID for the user's own activity.
            incoming.channel_data = None;
            return reply(ctx, &mut incoming, answer);
        }
        match text.as_str() {
            "trap" => panic!("misbehave: asked to trap"),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    // Touch every page so nothing can be optimised away.
                    hoard.push(vec![0xA5; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => {
                let depth = recurse(std::hint::black_box(1));
                Err(BotError {
                    code: "Unreachable".to_string(),
                    message: format!("recursion ended at {depth}"),
                })
            }
            "fail" => Err(BotError {
                code: "AskedToFail".to_string(),
                message: "the bot was asked to fail".to_string(),
            }),
            "edit" => {
                let call = |e: turnbox::bot::types::CallError| BotError {
                    code: e.code,
                    message: e.message,
                };
                let mut draft = incoming.clone();
                draft.type_ = "message".to_string();
                draft.text = Some("draft".to_string());
                draft.extra = "{}".to_string();
                let sent = ctx.send(&draft).map_err(call)?;
                let mut fin = draft;
                fin.id = Some(sent.id.clone());
                fin.text = Some("final".to_string());
                ctx.update(&fin).map_err(call)?;
                ctx.delete(&sent.id).map_err(call)?;
                Ok(None)
            }
            _ if text.starts_with("json send ") || text.starts_with("json big ") => {
                let sent = match text.strip_prefix("json big ") {
                    Some(n) => "x".repeat(n.trim().parse().unwrap_or(0)),
                    None => text["json send ".len()..].to_string(),
                };
                let answer = match ctx.send_json(&sent) {
                    Ok(sent) => format!("json sent {}", sent.id),
                    Err(e) => format!("json refused {}: {}", e.code, e.message),
                };
                reply(ctx, &mut incoming, answer)
            }
            "json edit" => {
                let call = |e: turnbox::bot::types::CallError| BotError {
                    code: e.code,
                    message: e.message,
                };
                let draft = r#"{"type":"message","text":"draft","note":"kept"}"#;
                let sent = ctx.send_json(draft).map_err(call)?;
                let fin = serde_json::json!({"type": "message", "id": sent.id, "text": "final"});
                ctx.update_json(&fin.to_string()).map_err(call)?;
                Ok(None)
            }
            "bad record" => {
                let mut bad = incoming.clone();
                bad.type_ = "message".to_string();
                bad.text = Some("never sent".to_string());
                bad.channel_data = Some("{not json".to_string());
                let send = ctx.send(&bad).map_or_else(|e| e.code, |_| "ok".to_string());
                bad.id = Some("any".to_string());
                let update = ctx
                    .update(&bad)
                    .map_or_else(|e| e.code, |_| "ok".to_string());
                let elsewhere = ctx
                    .send_to_conversation("elsewhere", &bad)
                    .map_or_else(|e| e.code, |_| "ok".to_string());
                let answer = format!(
                    "bad record: send={send} update={update} send-to-conversation={elsewhere}"
                );
                reply(ctx, &mut incoming, answer)
            }
            _ if text.starts_with("escape ") => reply(
                ctx,
                &mut incoming,
                escape_attempts(&text["escape ".len()..]),
            ),
            _ if text.starts_with("sleep ") => {
                let ms: u64 = text["sleep ".len()..].trim().parse().unwrap_or(0);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                reply(ctx, &mut incoming, format!("ok: {text}"))
            }
            _ if text.starts_with("naps ") => {
                let words: Vec<&str> = text.split(' ').collect();
                let (n, ms) = match words.as_slice() {
                    [_, n, ms] => (
                        n.parse::<u32>().unwrap_or(1),
                        ms.parse::<u64>().unwrap_or(0),
                    ),
                    _ => (1, 0),
                };
                for _ in 0..n {
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                }
                reply(ctx, &mut incoming, format!("ok: {text}"))
            }
            _ if text.starts_with("httpflood ") => {
                let words: Vec<&str> = text.split(' ').collect();
                let (url, n) = match words.as_slice() {
                    [_, url, n] => (*url, n.parse::<u32>().unwrap_or(1)),
                    _ => ("http://127.0.0.1:9/", 1),
                };
                let (ok, failed) = http_flood(url, n);
                reply(
                    ctx,
                    &mut incoming,
                    format!("flood: ok={ok} failed={failed}"),
                )
            }
            _ if text.starts_with("big ") => {
                let n: usize = text["big ".len()..].trim().parse().unwrap_or(0);
                reply(ctx, &mut incoming, "x".repeat(n))
            }
            _ if text.starts_with("chatty ") => {
                let n: u32 = text["chatty ".len()..].trim().parse().unwrap_or(0);
                let line = "y".repeat(1023);
                for i in 0..n {
                    match i % 3 {
                        0 => turnbox::bot::logging::log(turnbox::bot::logging::Level::Info, &line),
                        1 => println!("{line}"),
                        _ => eprintln!("{line}"),
                    }
                }
                reply(ctx, &mut incoming, format!("ok: {text}"))
            }
            _ if text.starts_with("spam ") => {
                let n: u32 = text["spam ".len()..].trim().parse().unwrap_or(0);
                for i in 0..n {
                    reply(ctx, &mut incoming, format!("spam {i}"))?;
                }
                Ok(None)
            }
            _ if text.starts_with("tally ") => {
                let (key, parts) = match text.split(' ').collect::<Vec<_>>().as_slice() {
                    [_, key, n] => (key.to_string(), n.parse::<u32>().unwrap_or(1)),
                    _ => (String::from("n"), 1),
                };
                let counted = state_command(&format!("incr conversation {key}"))?;
                for part in 1..=parts {
                    reply(ctx, &mut incoming, format!("{counted} part {part}/{parts}"))?;
                }
                Ok(None)
            }
            _ if text.starts_with("state ") || text.starts_with("incr ") => {
                let answer = state_command(&text)?;
                reply(ctx, &mut incoming, answer)
            }
            _ if text.starts_with("timer ") || text.starts_with("timer2 ") => {
                let answer = timer_command(&text)?;
                reply(ctx, &mut incoming, answer)
            }
            "newconv" => {
                let user = incoming
                    .from
                    .as_ref()
                    .map(|f| f.id.clone())
                    .unwrap_or_default();
                let parameters = format!(r#"{{"isGroup":false,"members":[{{"id":"{user}"}}]}}"#);
                let created = ctx.create_conversation(&parameters).map_err(state_failed)?;
                let mut hello = incoming.clone();
                hello.text = Some("hello new".to_string());
                hello.extra = "{}".to_string();
                ctx.send_to_conversation(&created.id, &hello)
                    .map_err(state_failed)?;
                reply(ctx, &mut incoming, format!("created {}", created.id))
            }
            "turns" => reply(ctx, &mut incoming, format!("turns={turns}")),
            "callerid" => {
                let caller = caller_id(&incoming.extra).unwrap_or_else(|| "-".to_string());
                reply(ctx, &mut incoming, format!("callerId={caller}"))
            }
            _ if text.starts_with("conn ") => {
                let words: Vec<&str> = text.split(' ').skip(1).collect();
                let answer = connector_calls::run(&words, &incoming);
                reply(ctx, &mut incoming, answer)
            }
            _ if text.starts_with("config ") => {
                let key = &text["config ".len()..];
                let value = turnbox::bot::config::get(key).unwrap_or_else(|| "-".to_string());
                reply(ctx, &mut incoming, format!("config {key}={value}"))
            }
            // Reuse the incoming record as the reply; the host rewrites the
            // routing fields and strips the id.
            _ => reply(ctx, &mut incoming, format!("ok: {text}")),
        }
    }
}

fn scope_named(name: &str) -> Result<Scope, BotError> {
    match name {
        "conversation" => Ok(Scope::Conversation),
        "user" => Ok(Scope::User),
        "private" => Ok(Scope::PrivateConversation),
        other => Err(BotError {
            code: "BadCommand".to_string(),
            message: format!("unknown scope {other}"),
        }),
    }
}

fn state_failed(e: turnbox::bot::types::CallError) -> BotError {
    BotError {
        code: e.code,
        message: e.message,
    }
}

/// Runs a `state …` or `incr …` command; returns the reply text.
fn state_command(text: &str) -> Result<String, BotError> {
    let words: Vec<&str> = text.splitn(5, ' ').collect();
    match words.as_slice() {
        ["state", "set", scope, key, value] => {
            state::set(scope_named(scope)?, key, value).map_err(state_failed)?;
            Ok(format!("set {key}"))
        }
        ["state", "setfail", scope, key, value] => {
            state::set(scope_named(scope)?, key, value).map_err(state_failed)?;
            Err(BotError {
                code: "FailedAfterSet".to_string(),
                message: "set a value, then failed the turn".to_string(),
            })
        }
        ["state", "get", scope, key] => Ok(state::get(scope_named(scope)?, key)
            .map_err(state_failed)?
            .unwrap_or_else(|| "-".to_string())),
        ["state", "del", scope, key] => {
            state::delete(scope_named(scope)?, key).map_err(state_failed)?;
            Ok(format!("deleted {key}"))
        }
        ["incr", scope, key, rest @ ..] => {
            let scope = scope_named(scope)?;
            let current: u64 = state::get(scope, key)
                .map_err(state_failed)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if let Some(ms) = rest.first().and_then(|ms| ms.parse().ok()) {
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
            let next = current + 1;
            state::set(scope, key, &next.to_string()).map_err(state_failed)?;
            Ok(format!("{key}={next}"))
        }
        _ => Err(BotError {
            code: "BadCommand".to_string(),
            message: format!("cannot parse `{text}`"),
        }),
    }
}

/// Runs a `timer …` or `timer2 …` command; returns the reply text.
fn timer_command(text: &str) -> Result<String, BotError> {
    let words: Vec<&str> = text.split(' ').collect();
    let delay = |ms: &str| ms.parse::<u64>().unwrap_or(0);
    match words.as_slice() {
        ["timer", name, ms] => {
            timers::schedule(delay(ms), name, Some(&format!("\"{name}\"")))
                .map_err(state_failed)?;
            Ok(format!("scheduled {name}"))
        }
        ["timer2", first, first_ms, second, second_ms] => {
            timers::schedule(delay(first_ms), first, None).map_err(state_failed)?;
            let id = timers::schedule(delay(second_ms), second, None).map_err(state_failed)?;
            let cancelled = timers::cancel(&id).map_err(state_failed)?;
            Ok(format!(
                "scheduled {first}, cancelled {second}: {cancelled}"
            ))
        }
        _ => Err(BotError {
            code: "BadCommand".to_string(),
            message: format!("cannot parse `{text}`"),
        }),
    }
}

/// The `callerId` among an activity's unmodelled fields.
fn caller_id(extra: &str) -> Option<String> {
    let extra: serde_json::Value = serde_json::from_str(extra).ok()?;
    extra.get("callerId")?.as_str().map(str::to_owned)
}

/// Sends `text` as a message reusing the incoming record.
fn reply(
    ctx: &TurnContext,
    incoming: &mut turnbox::bot::types::Activity,
    text: String,
) -> Result<Option<InvokeResponse>, BotError> {
    incoming.type_ = "message".to_string();
    incoming.text = Some(text);
    incoming.extra = "{}".to_string();
    ctx.send(incoming).map_err(|e| BotError {
        code: e.code,
        message: e.message,
    })?;
    Ok(None)
}

/// Recurses until the stack overflows (the guard is never true at run
/// time); the frame is kept alive so the recursion cannot become a loop.
fn recurse(n: u64) -> u64 {
    let frame = std::hint::black_box([n; 64]);
    if frame[0] == u64::MAX {
        return 0;
    }
    recurse(frame[0] + 1) + frame[63]
}

/// Tries to reach outside the sandbox through WASI; reports each outcome.
fn escape_attempts(addr: &str) -> String {
    let env = match std::env::vars().count() {
        0 => "none".to_string(),
        n => format!("{n} vars"),
    };
    let file = match std::fs::read("/etc/passwd") {
        Ok(_) => "read",
        Err(_) => "denied",
    };
    let dir = match std::fs::read_dir("/") {
        Ok(_) => "listed",
        Err(_) => "denied",
    };
    let net = match std::net::TcpStream::connect(addr) {
        Ok(_) => "connected",
        Err(_) => "denied",
    };
    format!("env={env} file={file} dir={dir} net={net}")
}

export!(Misbehave);

/// `n` GETs of `url` (`http://host:port/path`) through `wasi:http`, one
/// after another; how many got a response and how many failed.
fn http_flood(url: &str, n: u32) -> (u32, u32) {
    use wasip2::http::outgoing_handler::handle;
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};
    let rest = url.trim_start_matches("http://");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..n {
        let request = OutgoingRequest::new(Fields::new());
        let _ = request.set_scheme(Some(&Scheme::Http));
        let _ = request.set_authority(Some(authority));
        let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
        match handle(request, None) {
            Ok(pending) => {
                pending.subscribe().block();
                match pending.get() {
                    Some(Ok(Ok(_))) => ok += 1,
                    _ => failed += 1,
                }
            }
            Err(_) => failed += 1,
        }
    }
    (ok, failed)
}

//! The `conn …` commands: the Bot Connector member, history and attachment
//! calls of `turnbox:bot/connector`, each answered with a one-line summary
//! (or `error CODE STATUS` when the host or the channel refused).

use crate::turnbox::bot::connector::{self, AttachmentData};
use crate::turnbox::bot::types::{Activity, CallError, ChannelAccount};

fn failed(e: CallError) -> String {
    let status = e
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "-".into());
    format!("error {} {status}", e.code)
}

fn ids(members: &[ChannelAccount]) -> String {
    members
        .iter()
        .map(|m| m.id.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `conn WHAT [ARGS]`; returns the reply text.
pub fn run(words: &[&str], incoming: &Activity) -> String {
    let result = match words {
        ["members"] => {
            connector::get_conversation_members().map(|m| format!("members={}", ids(&m)))
        }
        ["paged", size] => paged(size.parse().ok()),
        ["member", id] => connector::get_conversation_member(id)
            .map(|m| format!("member {} name={}", m.id, m.name.unwrap_or_default())),
        ["activitymembers"] => {
            connector::get_activity_members(None).map(|m| format!("activity members={}", ids(&m)))
        }
        ["delmember", id] => {
            connector::delete_conversation_member(id).map(|()| format!("deleted {id}"))
        }
        ["history"] => {
            // Each with an id of its own, as a transcript's are: the same
            // history sent again is not logged twice.
            let past = |text: &str| {
                let mut a = incoming.clone();
                a.id = Some(format!("history-{}", text.replace(' ', "-")));
                a.type_ = "message".into();
                a.text = Some(text.into());
                a.extra = "{}".into();
                a
            };
            connector::send_conversation_history(&[past("old one"), past("old two")])
                .map(|r| format!("history id={}", r.id))
        }
        ["upload", name] => connector::upload_attachment(&AttachmentData {
            type_: "text/plain".into(),
            name: name.to_string(),
            original: b"hello attachment".to_vec(),
            thumbnail: None,
        })
        .map(|r| format!("uploaded id={}", r.id)),
        ["info", id] => connector::get_attachment_info(id).map(|i| {
            let views: Vec<String> = i
                .views
                .iter()
                .map(|v| format!("{}:{}", v.view_id, v.size.unwrap_or(0)))
                .collect();
            format!("info {} {} views={}", i.name, i.type_, views.join(","))
        }),
        ["get", id, view] => connector::get_attachment(id, view).map(|c| {
            format!(
                "got {} bytes {} {}",
                c.body.len(),
                c.content_type.unwrap_or_default(),
                String::from_utf8_lossy(&c.body[..c.body.len().min(40)])
            )
        }),
        _ => return format!("unknown conn command {words:?}"),
    };
    result.unwrap_or_else(failed)
}

/// Reads every page of the members, `size` at a time.
fn paged(size: Option<u32>) -> Result<String, CallError> {
    let mut token = None;
    let mut pages = 0;
    let mut all = Vec::new();
    loop {
        let page = connector::get_paged_members(size, token.as_deref())?;
        pages += 1;
        all.extend(page.members);
        match page.continuation_token {
            Some(next) if pages < 10 => token = Some(next),
            _ => break,
        }
    }
    Ok(format!("pages={pages} members={}", ids(&all)))
}

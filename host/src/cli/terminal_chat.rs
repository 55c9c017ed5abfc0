//! `turnbox chat [BOT] [--url URL]`: chat with a bot of a running host from
//! the terminal, over its Direct Line channel. Bot replies are printed as
//! they stream in; `/quit` (or end of input) leaves.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Why the chat could not go on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChatError(String);

fn failed(context: &str) -> impl Fn(reqwest::Error) -> ChatError + '_ {
    move |e| ChatError(format!("{context}: {e}"))
}

/// How one bot activity reads in a terminal; `None` for what is not shown.
pub fn render(activity: &Value) -> Option<String> {
    if activity["from"]["role"] == "user" || activity["type"] != "message" {
        return None;
    }
    let mut out = format!("bot> {}", activity["text"].as_str().unwrap_or(""));
    for attachment in activity["attachments"].as_array().into_iter().flatten() {
        let title = attachment["content"]["title"].as_str().unwrap_or("");
        let kind = attachment["contentType"].as_str().unwrap_or("attachment");
        out.push_str(&format!("\n     [{kind}] {title}"));
    }
    let actions: Vec<&str> = activity["suggestedActions"]["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["title"].as_str())
        .collect();
    if !actions.is_empty() {
        out.push_str(&format!("\n     ({})", actions.join(" | ")));
    }
    Some(out)
}

/// Prints each activity not printed before.
fn print_new(printed: &Mutex<HashSet<String>>, activities: &[Value]) {
    let mut printed = printed.lock().unwrap_or_else(|p| p.into_inner());
    for activity in activities {
        let id = activity["id"].as_str().unwrap_or("").to_owned();
        if !id.is_empty() && !printed.insert(id) {
            continue;
        }
        if let Some(line) = render(activity) {
            println!("{line}");
        }
    }
}

/// Runs the chat until `/quit` or the end of input.
pub async fn chat(url: &str, bot: Option<&str>, secret: Option<&str>) -> Result<(), ChatError> {
    let url = url.trim_end_matches('/');
    let base = match bot {
        Some(bot) => format!("{url}/bots/{bot}/v3/directline"),
        None => format!("{url}/v3/directline"),
    };
    let http = reqwest::Client::new();
    let mut start = http.post(format!("{base}/conversations"));
    if let Some(secret) = secret {
        start = start.bearer_auth(secret);
    }
    let started = start
        .send()
        .await
        .map_err(failed("cannot reach the host"))?;
    if !started.status().is_success() {
        let status = started.status();
        let body = started.text().await.unwrap_or_default();
        return Err(ChatError(format!(
            "the host refused the conversation ({status}): {body}"
        )));
    }
    let session: Value = started
        .json()
        .await
        .map_err(failed("an unreadable answer"))?;
    let conversation = session["conversationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = session["token"].as_str().unwrap_or_default().to_owned();
    let stream_url = session["streamUrl"].as_str().unwrap_or_default().to_owned();
    println!(
        "Chatting with {}. Type /quit to leave.",
        bot.unwrap_or("the default bot")
    );

    let printed = Arc::new(Mutex::new(HashSet::new()));
    let stream_printed = printed.clone();
    let streaming = tokio::spawn(async move {
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(&stream_url).await else {
            return;
        };
        while let Some(Ok(frame)) = socket.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = frame
                && let Ok(set) = serde_json::from_str::<Value>(&text)
            {
                print_new(
                    &stream_printed,
                    set["activities"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                );
            }
        }
    });

    let activities = format!("{base}/conversations/{conversation}/activities");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let text = line.trim();
        if text == "/quit" {
            break;
        }
        if text.is_empty() {
            continue;
        }
        let posted = http
            .post(&activities)
            .bearer_auth(&token)
            .json(&json!({"type": "message", "text": text}))
            .send()
            .await
            .map_err(failed("cannot reach the host"))?;
        if !posted.status().is_success() {
            let body: Value = posted.json().await.unwrap_or_default();
            println!(
                "!! {}",
                body["error"]["message"]
                    .as_str()
                    .unwrap_or("the message was not delivered")
            );
            continue;
        }
        // The turn is over: whatever the stream has not shown yet is in the log.
        if let Ok(response) = http.get(&activities).bearer_auth(&token).send().await
            && let Ok(set) = response.json::<Value>().await
        {
            print_new(
                &printed,
                set["activities"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
            );
        }
    }
    streaming.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_read_well_in_a_terminal() {
        let card = json!({"type": "message", "from": {"role": "bot"}, "text": "Here",
            "attachments": [{"contentType": "application/vnd.microsoft.card.hero", "content": {"title": "T"}}],
            "suggestedActions": {"actions": [{"title": "Red"}, {"title": "Blue"}]}});
        assert_eq!(
            render(&card).unwrap(),
            "bot> Here\n     [application/vnd.microsoft.card.hero] T\n     (Red | Blue)"
        );
        assert_eq!(
            render(&json!({"type": "message", "from": {"role": "user"}, "text": "x"})),
            None
        );
        assert_eq!(render(&json!({"type": "typing"})), None);
    }
}

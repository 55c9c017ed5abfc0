//! The conversation so far, as chat messages, kept within a budget of
//! characters: the oldest exchanges are dropped first.

use serde::{Deserialize, Serialize};

/// One chat message: `role` is `system`, `user` or `assistant`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Message {
            role: role.to_owned(),
            content: content.to_owned(),
        }
    }
}

/// Drops the oldest messages until the contents of `history` hold at most
/// `budget` characters, and never leaves an answer without its question.
pub fn trim(history: &mut Vec<Message>, budget: usize) {
    let mut total: usize = history.iter().map(|m| m.content.chars().count()).sum();
    let mut drop = 0;
    for message in history.iter() {
        let within = total <= budget;
        if within && message.role != "assistant" {
            break;
        }
        total -= message.content.chars().count();
        drop += 1;
    }
    history.drain(..drop);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(question: &str, answer: &str) -> [Message; 2] {
        [
            Message::new("user", question),
            Message::new("assistant", answer),
        ]
    }

    #[test]
    fn the_oldest_exchanges_go_first() {
        let mut history: Vec<Message> = [exchange("aaaa", "bbbb"), exchange("cc", "dd")].concat();
        trim(&mut history, 100);
        assert_eq!(history.len(), 4);
        trim(&mut history, 7);
        assert_eq!(history, exchange("cc", "dd"));
        trim(&mut history, 3);
        assert!(history.is_empty(), "{history:?}");
    }

    #[test]
    fn characters_are_counted_not_bytes() {
        let mut history = exchange("ééé", "ééé").to_vec();
        trim(&mut history, 6);
        assert_eq!(history.len(), 2);
    }
}

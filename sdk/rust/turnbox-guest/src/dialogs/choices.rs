//! Choices for prompts: [`Choice`], how they are shown ([`ListStyle`],
//! [`ChoiceFactory`]: suggested actions, an inline or numbered list, a hero
//! card), and what the user picked ([`FoundChoice`]).

use serde::{Deserialize, Serialize};

use crate::bindings::turnbox::bot::types::Activity;
use crate::factory::{CardAction, CardFactory, HeroCard, MessageFactory};

/// One choice: its `value`, what it shows, and other words for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Choice {
    pub value: String,
    /// The button's title (the value when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Other words that pick this choice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synonyms: Vec<String>,
}

impl Choice {
    pub fn new(value: impl Into<String>) -> Self {
        Choice {
            value: value.into(),
            ..Choice::default()
        }
    }

    pub fn with_synonyms(mut self, synonyms: &[&str]) -> Self {
        self.synonyms = synonyms.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// What the choice shows.
    pub fn display(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.value)
    }

    /// Choices from plain values (`ChoiceFactory.toChoices`).
    pub fn from_values(values: &[&str]) -> Vec<Choice> {
        values.iter().map(|v| Choice::new(*v)).collect()
    }
}

/// The choice the user picked (`FoundChoice`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundChoice {
    /// The choice's value.
    pub value: String,
    /// Its position in the list, from 0.
    pub index: usize,
    /// How well it matched, 0 to 1.
    pub score: f64,
    /// The word that matched (value, title, synonym or number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synonym: Option<String>,
}

/// How a prompt shows its choices (`ListStyle`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ListStyle {
    /// Not at all.
    None,
    /// What suits the channel (botbuilder's `ChoiceFactory.forChannel`).
    #[default]
    Auto,
    /// `text (1) a, (2) b, or (3) c`.
    Inline,
    /// A numbered list under the text.
    List,
    /// Buttons the channel shows until the user answers.
    SuggestedAction,
    /// A hero card with a button per choice.
    HeroCard,
}

/// Renders choices (botbuilder's `ChoiceFactory`).
pub struct ChoiceFactory;

impl ChoiceFactory {
    /// `text` with `choices` in `style`; `channel_id` decides `Auto`.
    pub fn for_style(
        style: ListStyle,
        channel_id: &str,
        choices: &[Choice],
        text: &str,
        locale: &str,
    ) -> Activity {
        match style {
            ListStyle::None => MessageFactory::text(text),
            ListStyle::Auto => Self::for_channel(channel_id, choices, text, locale),
            ListStyle::Inline => Self::inline(choices, text, locale),
            ListStyle::List => Self::list(choices, text),
            ListStyle::SuggestedAction => Self::suggested_action(choices, text),
            ListStyle::HeroCard => Self::hero_card(choices, text),
        }
    }

    /// Suggested actions where the channel has enough of them; otherwise
    /// an inline list for up to three short choices, else a numbered list.
    pub fn for_channel(channel_id: &str, choices: &[Choice], text: &str, locale: &str) -> Activity {
        if choices.len() <= max_suggested_actions(channel_id) {
            return Self::suggested_action(choices, text);
        }
        let longest = choices.iter().map(|c| c.display().chars().count()).max();
        if choices.len() <= 3 && longest.unwrap_or(0) <= 20 {
            Self::inline(choices, text, locale)
        } else {
            Self::list(choices, text)
        }
    }

    /// `text (1) a, (2) b, or (3) c`; `(1) a or (2) b` for two.
    pub fn inline(choices: &[Choice], text: &str, locale: &str) -> Activity {
        let (separator, or, or_more) = inline_words(locale);
        let mut line = text.to_owned();
        let mut connector = " ";
        for (n, choice) in choices.iter().enumerate() {
            line.push_str(connector);
            line.push_str(&format!("({}) {}", n + 1, choice.display()));
            connector = if n + 2 == choices.len() {
                if choices.len() == 2 { or } else { or_more }
            } else {
                separator
            };
        }
        MessageFactory::text(line.trim_start().to_owned())
    }

    /// `text`, then `   1. a` per choice.
    pub fn list(choices: &[Choice], text: &str) -> Activity {
        let mut body = text.to_owned();
        let mut connector = "\n\n   ";
        for (n, choice) in choices.iter().enumerate() {
            body.push_str(connector);
            body.push_str(&format!("{}. {}", n + 1, choice.display()));
            connector = "\n   ";
        }
        MessageFactory::text(body.trim_start().to_owned())
    }

    /// `text` with an `imBack` suggested action per choice.
    pub fn suggested_action(choices: &[Choice], text: &str) -> Activity {
        MessageFactory::suggested_actions(Self::actions(choices), text)
    }

    /// A hero card with `text` and an `imBack` button per choice.
    pub fn hero_card(choices: &[Choice], text: &str) -> Activity {
        let mut card = HeroCard::default().text(text);
        for action in Self::actions(choices) {
            card = card.button(action);
        }
        MessageFactory::attachment(CardFactory::hero_card(card))
    }

    fn actions(choices: &[Choice]) -> Vec<CardAction> {
        choices
            .iter()
            .map(|c| CardAction::im_back(c.display(), c.value.clone()))
            .collect()
    }
}

/// How many suggested actions a channel shows (botbuilder's `Channel`);
/// 0 where it shows none.
fn max_suggested_actions(channel_id: &str) -> usize {
    match channel_id {
        "facebook" | "skype" => 10,
        "line" => 13,
        "kik" => 20,
        "telegram" | "emulator" | "directline" | "directlinespeech" | "webchat" | "test" => 100,
        "msteams" => 3,
        _ => 0,
    }
}

/// The inline list's separator, "or" for two, and "or" for more.
fn inline_words(locale: &str) -> (&'static str, &'static str, &'static str) {
    match locale
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_lowercase()
        .as_str()
    {
        "de" => (", ", " oder ", ", oder "),
        "fr" => (", ", " ou ", ", ou "),
        "es" => (", ", " o ", ", o "),
        "nl" => (", ", " of ", ", of "),
        "pt" => (", ", " ou ", ", ou "),
        _ => (", ", " or ", ", or "),
    }
}

//! Building replies, as botbuilder's `MessageFactory` and `CardFactory` do:
//! text, suggested actions, attachment lists and carousels, hero cards,
//! adaptive cards and the typing indicator.

use serde::Serialize;
use serde_json::{Value, json};

use crate::bindings::turnbox::bot::types::{Activity, Attachment};

/// Makes outgoing message activities.
pub struct MessageFactory;

impl MessageFactory {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Activity {
        Activity {
            text: Some(text.into()),
            ..Activity::new("message")
        }
    }

    /// A message with suggested actions (buttons the channel shows until
    /// the user answers), and text if not empty.
    pub fn suggested_actions(
        actions: impl IntoIterator<Item = CardAction>,
        text: impl Into<String>,
    ) -> Activity {
        let text = text.into();
        let actions: Vec<CardAction> = actions.into_iter().collect();
        Activity {
            text: (!text.is_empty()).then_some(text),
            suggested_actions: Some(json!({ "actions": actions }).to_string()),
            ..Activity::new("message")
        }
    }

    /// A message with one attachment.
    pub fn attachment(attachment: Attachment) -> Activity {
        Self::list(vec![attachment])
    }

    /// A message with attachments shown as a list.
    pub fn list(attachments: Vec<Attachment>) -> Activity {
        Activity {
            attachment_layout: Some("list".into()),
            attachments: Some(attachments),
            ..Activity::new("message")
        }
    }

    /// A message with attachments shown as a carousel.
    pub fn carousel(attachments: Vec<Attachment>) -> Activity {
        Activity {
            attachment_layout: Some("carousel".into()),
            ..Self::list(attachments)
        }
    }

    /// A typing indicator.
    pub fn typing() -> Activity {
        Activity::new("typing")
    }
}

/// A button: `imBack`, `postBack`, `openUrl`, `messageBack`, … (`CardAction`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub value: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl CardAction {
    /// A button of type `kind`.
    pub fn new(kind: &str, title: impl Into<String>, value: Value) -> Self {
        CardAction {
            kind: kind.into(),
            title: title.into(),
            value,
            text: None,
            display_text: None,
            image: None,
        }
    }

    /// Sends `value` as a message from the user, shown in the chat.
    pub fn im_back(title: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new("imBack", title, Value::String(value.into()))
    }

    /// Sends `value` to the bot without showing it.
    pub fn post_back(title: impl Into<String>, value: Value) -> Self {
        Self::new("postBack", title, value)
    }

    /// Opens `url`.
    pub fn open_url(title: impl Into<String>, url: impl Into<String>) -> Self {
        Self::new("openUrl", title, Value::String(url.into()))
    }

    /// Sends `value` with `text` and shows `display_text` in the chat.
    pub fn message_back(
        title: impl Into<String>,
        text: impl Into<String>,
        display_text: impl Into<String>,
        value: Value,
    ) -> Self {
        CardAction {
            text: Some(text.into()),
            display_text: Some(display_text.into()),
            ..Self::new("messageBack", title, value)
        }
    }
}

/// An image on a card (`CardImage`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CardImage {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

/// A hero card: a large image, title, text and buttons. Build it with the
/// methods, then make it an attachment with [`CardFactory::hero_card`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HeroCard {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subtitle: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<CardImage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<CardAction>,
}

impl HeroCard {
    pub fn new(title: impl Into<String>) -> Self {
        HeroCard {
            title: title.into(),
            ..HeroCard::default()
        }
    }

    pub fn subtitle(mut self, subtitle: impl Into<String>) -> Self {
        self.subtitle = subtitle.into();
        self
    }

    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    pub fn image(mut self, url: impl Into<String>) -> Self {
        self.images.push(CardImage {
            url: url.into(),
            alt: None,
        });
        self
    }

    pub fn button(mut self, action: CardAction) -> Self {
        self.buttons.push(action);
        self
    }
}

/// Makes card attachments.
pub struct CardFactory;

impl CardFactory {
    /// The content type of a hero card.
    pub const HERO: &'static str = "application/vnd.microsoft.card.hero";
    /// The content type of an adaptive card.
    pub const ADAPTIVE: &'static str = "application/vnd.microsoft.card.adaptive";

    /// A hero card attachment.
    pub fn hero_card(card: HeroCard) -> Attachment {
        Self::card(Self::HERO, &json!(card))
    }

    /// An adaptive card attachment from the card's JSON (`{"type":
    /// "AdaptiveCard", "version": …, "body": […]}`).
    pub fn adaptive_card(card: &Value) -> Attachment {
        Self::card(Self::ADAPTIVE, card)
    }

    /// An attachment of `content_type` with inline JSON `content`.
    pub fn card(content_type: &str, content: &Value) -> Attachment {
        Attachment {
            content_type: content_type.into(),
            content_url: None,
            content: Some(content.to_string()),
            name: None,
            thumbnail_url: None,
            extra: None,
        }
    }
}

//! Conveniences on the WIT `Activity` record: an empty activity to fill in,
//! JSON-typed accessors for its JSON fields, and its unmodelled fields.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::bindings::turnbox::bot::types::{Activity, Attachment};
use crate::error::Result;

impl Activity {
    /// An empty activity of type `kind` (`message`, `typing`, `event`, …).
    /// The host fills in the routing fields when it is sent.
    pub fn new(kind: impl Into<String>) -> Activity {
        Activity {
            type_: kind.into(),
            id: None,
            timestamp: None,
            local_timestamp: None,
            local_timezone: None,
            channel_id: None,
            service_url: None,
            from: None,
            recipient: None,
            conversation: None,
            reply_to_id: None,
            text: None,
            text_format: None,
            speak: None,
            locale: None,
            input_hint: None,
            summary: None,
            attachment_layout: None,
            attachments: None,
            suggested_actions: None,
            entities: None,
            channel_data: None,
            members_added: None,
            members_removed: None,
            action: None,
            name: None,
            value: None,
            value_type: None,
            relates_to: None,
            delivery_mode: None,
            code: None,
            expiration: None,
            importance: None,
            extra: "{}".into(),
        }
    }

    /// `value`, deserialised; `None` when the activity has none.
    pub fn value_as<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        Ok(self
            .value
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?)
    }

    /// The fields of the activity that the record does not model, e.g. a
    /// channel's own fields or `reactionsAdded`.
    pub fn extra_fields(&self) -> Map<String, Value> {
        match serde_json::from_str(&self.extra) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// One unmodelled field, deserialised; `None` when absent or unfit.
    pub fn extra_field<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        self.extra_fields()
            .remove(name)
            .and_then(|v| serde_json::from_value(v).ok())
    }

    /// Sets an unmodelled field, sent on as it is.
    pub fn set_extra_field(&mut self, name: &str, value: Value) {
        let mut fields = self.extra_fields();
        fields.insert(name.to_owned(), value);
        self.extra = Value::Object(fields).to_string();
    }

    /// Adds an attachment.
    pub fn attach(&mut self, attachment: Attachment) {
        self.attachments
            .get_or_insert_with(Vec::new)
            .push(attachment);
    }
}

impl From<&str> for Activity {
    /// A text message.
    fn from(text: &str) -> Activity {
        crate::MessageFactory::text(text)
    }
}

impl From<String> for Activity {
    /// A text message.
    fn from(text: String) -> Activity {
        crate::MessageFactory::text(text)
    }
}

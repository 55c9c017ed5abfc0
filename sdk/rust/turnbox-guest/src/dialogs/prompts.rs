//! botbuilder's prompts: a [`Prompt`] asks (`prompt`), asks again
//! (`retry_prompt`) until its recognizer and validator accept the answer,
//! then ends with the recognized value. The kinds: [`TextPrompt`],
//! [`NumberPrompt`], [`ChoicePrompt`], [`ConfirmPrompt`],
//! [`DateTimePrompt`], [`AttachmentPrompt`].

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::choices::{Choice, ChoiceFactory, ListStyle};
use super::datetime::{recognize_datetime, today};
use super::recognizers::{recognize_boolean, recognize_choices, recognize_number};
use super::{Dialog, DialogContext, DialogInstance, DialogReason, DialogTurnResult, result_as};
use crate::context::TurnContext;
use crate::error::Result;
use crate::factory::MessageFactory;

/// What a prompt says and offers (`PromptOptions`). Kept in the prompt's
/// state between turns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptOptions {
    /// The question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The question after an answer was not accepted (else `prompt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_prompt: Option<String>,
    /// The choices of a `ChoicePrompt`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// How to show the choices, overriding the prompt's style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<ListStyle>,
    /// Anything for the validator (e.g. bounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validations: Option<Value>,
}

impl PromptOptions {
    /// Options asking `prompt`.
    pub fn text(prompt: impl Into<String>) -> Self {
        PromptOptions {
            prompt: Some(prompt.into()),
            ..PromptOptions::default()
        }
    }

    pub fn retry(mut self, retry_prompt: impl Into<String>) -> Self {
        self.retry_prompt = Some(retry_prompt.into());
        self
    }

    pub fn choices(mut self, choices: Vec<Choice>) -> Self {
        self.choices = choices;
        self
    }

    pub fn style(mut self, style: ListStyle) -> Self {
        self.style = Some(style);
        self
    }
}

/// What a recognizer made of the answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptRecognizerResult {
    pub succeeded: bool,
    pub value: Option<Value>,
}

impl PromptRecognizerResult {
    fn found(value: Value) -> Self {
        PromptRecognizerResult {
            succeeded: true,
            value: Some(value),
        }
    }
}

/// What a validator sees.
pub struct PromptValidatorContext<'c> {
    pub context: &'c TurnContext<'c>,
    pub recognized: PromptRecognizerResult,
    pub options: &'c PromptOptions,
    /// How many answers this prompt has had, this one included.
    pub attempt_count: u64,
}

impl PromptValidatorContext<'_> {
    /// The recognized value, deserialised; `None` when nothing was
    /// recognized or it is of another type.
    pub fn value<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        if !self.recognized.succeeded {
            return None;
        }
        result_as(self.recognized.value.as_ref()).ok().flatten()
    }
}

/// Accepts (`true`) or rejects an answer; it may send its own message,
/// which replaces the retry prompt.
pub type PromptValidator = Box<dyn Fn(&PromptValidatorContext) -> Result<bool>>;

/// What a kind of prompt recognizes, and the choices it shows.
pub trait PromptKind {
    /// The list style when neither the prompt nor its options set one.
    fn default_style(&self) -> ListStyle {
        ListStyle::None
    }

    /// The choices to show.
    fn choices(&self, options: &PromptOptions, _locale: &str) -> Vec<Choice> {
        options.choices.clone()
    }

    /// Reads the answer in `context`.
    fn recognize(
        &self,
        context: &TurnContext,
        options: &PromptOptions,
        locale: &str,
    ) -> Result<PromptRecognizerResult>;
}

/// A prompt of kind `K`: register it in a `DialogSet` under its id and begin
/// it with `dc.prompt(id, options)`.
pub struct Prompt<K> {
    id: String,
    kind: K,
    validator: Option<PromptValidator>,
    style: Option<ListStyle>,
    default_locale: Option<String>,
}

impl<K: PromptKind + Default> Prompt<K> {
    pub fn new(id: impl Into<String>) -> Self {
        Prompt {
            id: id.into(),
            kind: K::default(),
            validator: None,
            style: None,
            default_locale: None,
        }
    }
}

impl<K: PromptKind> Prompt<K> {
    /// Adds a validator: only answers it accepts end the prompt.
    pub fn with_validator(
        mut self,
        validator: impl Fn(&PromptValidatorContext) -> Result<bool> + 'static,
    ) -> Self {
        self.validator = Some(Box::new(validator));
        self
    }

    /// How choices are shown (`style`).
    pub fn with_style(mut self, style: ListStyle) -> Self {
        self.style = Some(style);
        self
    }

    /// The locale for activities that name none (else `en-US`).
    pub fn with_default_locale(mut self, locale: impl Into<String>) -> Self {
        self.default_locale = Some(locale.into());
        self
    }

    fn locale(&self, context: &TurnContext) -> String {
        context
            .activity()
            .locale
            .clone()
            .filter(|l| !l.is_empty())
            .or_else(|| self.default_locale.clone())
            .unwrap_or_else(|| "en-US".into())
    }

    fn on_prompt(
        &self,
        context: &TurnContext,
        options: &PromptOptions,
        is_retry: bool,
    ) -> Result<()> {
        let text = match (is_retry, &options.retry_prompt) {
            (true, Some(retry)) => Some(retry),
            _ => options.prompt.as_ref(),
        };
        let Some(text) = text else {
            return Ok(());
        };
        let locale = self.locale(context);
        let choices = self.kind.choices(options, &locale);
        let activity = if choices.is_empty() {
            MessageFactory::text(text.clone())
        } else {
            let style = options
                .style
                .or(self.style)
                .unwrap_or_else(|| self.kind.default_style());
            let channel = context.activity().channel_id.as_deref().unwrap_or_default();
            ChoiceFactory::for_style(style, channel, &choices, text, &locale)
        };
        let mut activity = activity;
        activity.input_hint = Some("expectingInput".into());
        context.send(activity)?;
        Ok(())
    }
}

fn options_of(instance: &DialogInstance) -> Result<PromptOptions> {
    Ok(result_as(instance.state.get("options"))?.unwrap_or_default())
}

impl<K: PromptKind> Dialog for Prompt<K> {
    fn id(&self) -> &str {
        &self.id
    }

    fn begin_dialog(
        &self,
        dc: &mut DialogContext,
        options: Option<Value>,
    ) -> Result<DialogTurnResult> {
        let options: PromptOptions = result_as(options.as_ref())?.unwrap_or_default();
        if let Some(instance) = dc.active_dialog_mut() {
            instance
                .state
                .insert("options".into(), serde_json::to_value(&options)?);
            instance.state.insert("attemptCount".into(), json!(0));
        }
        self.on_prompt(dc.context, &options, false)?;
        Ok(DialogTurnResult::end_of_turn())
    }

    fn continue_dialog(&self, dc: &mut DialogContext) -> Result<DialogTurnResult> {
        let context = dc.context;
        if context.activity().type_ != "message" {
            return Ok(DialogTurnResult::end_of_turn());
        }
        let Some(instance) = dc.active_dialog_mut() else {
            return Ok(DialogTurnResult::end_of_turn());
        };
        let options = options_of(instance)?;
        let attempt_count = instance
            .state
            .get("attemptCount")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            + 1;
        instance
            .state
            .insert("attemptCount".into(), json!(attempt_count));
        let locale = self.locale(context);
        let recognized = self.kind.recognize(context, &options, &locale)?;
        let valid = match &self.validator {
            Some(validator) => validator(&PromptValidatorContext {
                context,
                recognized: recognized.clone(),
                options: &options,
                attempt_count,
            })?,
            None => recognized.succeeded,
        };
        if valid {
            return dc.end_dialog(recognized.value);
        }
        if !context.responded() {
            self.on_prompt(context, &options, true)?;
        }
        Ok(DialogTurnResult::end_of_turn())
    }

    fn resume_dialog(
        &self,
        dc: &mut DialogContext,
        _reason: DialogReason,
        _result: Option<Value>,
    ) -> Result<DialogTurnResult> {
        let context = dc.context;
        if let Some(instance) = dc.active_dialog_mut() {
            self.reprompt_dialog(context, instance)?;
        }
        Ok(DialogTurnResult::end_of_turn())
    }

    fn reprompt_dialog(&self, context: &TurnContext, instance: &mut DialogInstance) -> Result<()> {
        self.on_prompt(context, &options_of(instance)?, false)
    }
}

/// The kinds of prompt.
pub mod kinds {
    use super::*;

    /// Any text (`TextPrompt`): the message's text.
    #[derive(Default)]
    pub struct Text;

    impl PromptKind for Text {
        fn recognize(
            &self,
            context: &TurnContext,
            _: &PromptOptions,
            _: &str,
        ) -> Result<PromptRecognizerResult> {
            Ok(match &context.activity().text {
                Some(text) if !text.is_empty() => PromptRecognizerResult::found(json!(text)),
                _ => PromptRecognizerResult::default(),
            })
        }
    }

    /// A number in the activity's locale (`NumberPrompt`): a JSON integer
    /// when whole, else a float.
    #[derive(Default)]
    pub struct Number;

    impl PromptKind for Number {
        fn recognize(
            &self,
            context: &TurnContext,
            _: &PromptOptions,
            locale: &str,
        ) -> Result<PromptRecognizerResult> {
            Ok(match recognize_number(context.text(), locale) {
                Some(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                    PromptRecognizerResult::found(json!(n as i64))
                }
                Some(n) => PromptRecognizerResult::found(json!(n)),
                None => PromptRecognizerResult::default(),
            })
        }
    }

    /// One of the options' choices (`ChoicePrompt`): a `FoundChoice`.
    #[derive(Default)]
    pub struct Choices;

    impl PromptKind for Choices {
        fn default_style(&self) -> ListStyle {
            ListStyle::Auto
        }

        fn recognize(
            &self,
            context: &TurnContext,
            options: &PromptOptions,
            locale: &str,
        ) -> Result<PromptRecognizerResult> {
            Ok(
                match recognize_choices(context.text(), &options.choices, locale) {
                    Some(found) => PromptRecognizerResult::found(serde_json::to_value(found)?),
                    None => PromptRecognizerResult::default(),
                },
            )
        }
    }

    /// Yes or no (`ConfirmPrompt`): a bool. Offers the locale's Yes/No
    /// choices, which (by name or number) also answer it.
    #[derive(Default)]
    pub struct Confirm;

    fn yes_no(locale: &str) -> [&'static str; 2] {
        match locale
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_lowercase()
            .as_str()
        {
            "de" => ["Ja", "Nein"],
            "fr" => ["Oui", "Non"],
            "es" => ["Sí", "No"],
            "nl" => ["Ja", "Nee"],
            "pt" => ["Sim", "Não"],
            "it" => ["Sì", "No"],
            _ => ["Yes", "No"],
        }
    }

    impl PromptKind for Confirm {
        fn default_style(&self) -> ListStyle {
            ListStyle::Auto
        }

        fn choices(&self, options: &PromptOptions, locale: &str) -> Vec<Choice> {
            if options.choices.is_empty() {
                Choice::from_values(&yes_no(locale))
            } else {
                options.choices.clone()
            }
        }

        fn recognize(
            &self,
            context: &TurnContext,
            options: &PromptOptions,
            locale: &str,
        ) -> Result<PromptRecognizerResult> {
            let text = context.text();
            if let Some(answer) = recognize_boolean(text, locale) {
                return Ok(PromptRecognizerResult::found(json!(answer)));
            }
            let choices = self.choices(options, locale);
            Ok(match recognize_choices(text, &choices, locale) {
                Some(found) => PromptRecognizerResult::found(json!(found.index == 0)),
                None => PromptRecognizerResult::default(),
            })
        }
    }

    /// A date or time (`DateTimePrompt`): a list of `DateTimeResolution`s
    /// (see `datetime.rs` for what is recognised).
    #[derive(Default)]
    pub struct DateTime;

    impl PromptKind for DateTime {
        fn recognize(
            &self,
            context: &TurnContext,
            _: &PromptOptions,
            locale: &str,
        ) -> Result<PromptRecognizerResult> {
            let activity = context.activity();
            let today = today(
                activity.local_timestamp.as_deref(),
                activity.timestamp.as_deref(),
            );
            let found = recognize_datetime(context.text(), today, locale);
            Ok(if found.is_empty() {
                PromptRecognizerResult::default()
            } else {
                PromptRecognizerResult::found(serde_json::to_value(found)?)
            })
        }
    }

    /// Attachments (`AttachmentPrompt`): a list of `{contentType,
    /// contentUrl, content, name}` objects, `content` as JSON.
    #[derive(Default)]
    pub struct Attachments;

    impl PromptKind for Attachments {
        fn recognize(
            &self,
            context: &TurnContext,
            _: &PromptOptions,
            _: &str,
        ) -> Result<PromptRecognizerResult> {
            let attachments = context.activity().attachments.clone().unwrap_or_default();
            if attachments.is_empty() {
                return Ok(PromptRecognizerResult::default());
            }
            let list: Vec<Value> = attachments
                .iter()
                .map(|a| {
                    let content = a.content.as_deref().map(|c| {
                        serde_json::from_str(c).unwrap_or_else(|_| Value::String(c.to_owned()))
                    });
                    json!({
                        "contentType": a.content_type,
                        "contentUrl": a.content_url,
                        "content": content,
                        "name": a.name,
                    })
                })
                .collect();
            Ok(PromptRecognizerResult::found(Value::Array(list)))
        }
    }
}

pub type TextPrompt = Prompt<kinds::Text>;
pub type NumberPrompt = Prompt<kinds::Number>;
pub type ChoicePrompt = Prompt<kinds::Choices>;
pub type ConfirmPrompt = Prompt<kinds::Confirm>;
pub type DateTimePrompt = Prompt<kinds::DateTime>;
pub type AttachmentPrompt = Prompt<kinds::Attachments>;

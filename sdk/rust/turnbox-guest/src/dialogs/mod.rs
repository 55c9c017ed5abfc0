//! botbuilder's dialogs: a [`DialogSet`] of [`Dialog`]s and the
//! [`DialogContext`] that runs them on a stack kept in conversation state
//! ([`DialogState`] under a property such as `dialogState`), so the stack is
//! committed with the turn like any other state, and a turn the host re-runs
//! after a state conflict resumes the same step.
//!
//! ```ignore
//! const DIALOG_STATE: StateProperty<DialogState> = StateProperty::conversation("dialogState");
//!
//! let mut dialogs = DialogSet::new(DIALOG_STATE);
//! dialogs.add(TextPrompt::new("name"));
//! dialogs.add(WaterfallDialog::new("main", vec![
//!     Box::new(|step| step.prompt("name", PromptOptions::text("What is your name?"))),
//!     Box::new(|step| {
//!         step.context.send_text(format!("Hello, {}", step.result_as::<String>()?.unwrap_or_default()))?;
//!         step.end_dialog(None)
//!     }),
//! ]));
//! let mut dc = dialogs.create_context(ctx)?;
//! if dc.continue_dialog()?.status == DialogTurnStatus::Empty {
//!     dc.begin_dialog("main", None)?;
//! }
//! ```
//!
//! Results and options travel as JSON ([`serde_json::Value`]), as they do
//! in botbuilder-js; [`DialogTurnResult::result_as`] deserialises them.
//!
//! The prompts: [`TextPrompt`], [`NumberPrompt`], [`ChoicePrompt`],
//! [`ConfirmPrompt`], [`DateTimePrompt`], [`AttachmentPrompt`] (prompts.rs),
//! and [`OAuthPrompt`], which signs the user in (oauth.rs).

mod choices;
mod component;
mod context;
mod datetime;
mod number;
mod oauth;
mod prompts;
mod recognizers;
mod waterfall;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::context::TurnContext;
use crate::error::{Error, Result};
use crate::state::StateProperty;

pub use choices::{Choice, ChoiceFactory, FoundChoice, ListStyle};
pub use component::ComponentDialog;
pub use context::DialogContext;
pub use datetime::DateTimeResolution;
pub use oauth::OAuthPrompt;
pub use prompts::{
    AttachmentPrompt, ChoicePrompt, ConfirmPrompt, DateTimePrompt, NumberPrompt, Prompt,
    PromptKind, PromptOptions, PromptRecognizerResult, PromptValidator, PromptValidatorContext,
    TextPrompt,
};
pub use recognizers::{recognize_boolean, recognize_choices, recognize_number};
pub use waterfall::{WaterfallDialog, WaterfallStep, WaterfallStepContext};

/// The sign-in prompt's settings and result, from the `oauth` module.
pub use crate::oauth::{OAuthPromptSettings, TokenResponse};

/// The dialog stack, as stored in state (botbuilder's `DialogState`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DialogState {
    #[serde(default)]
    pub dialog_stack: Vec<DialogInstance>,
}

/// One running dialog on the stack: its id and its own state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DialogInstance {
    pub id: String,
    #[serde(default)]
    pub state: Map<String, Value>,
}

/// What a dialog turn came to (`DialogTurnStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogTurnStatus {
    /// No dialog was running.
    Empty,
    /// The active dialog waits for the user.
    Waiting,
    /// The last dialog on the stack ended; see the result.
    Complete,
    /// The dialogs were cancelled.
    Cancelled,
}

/// The status of a dialog turn and, when complete, its result.
#[derive(Debug, Clone, PartialEq)]
pub struct DialogTurnResult {
    pub status: DialogTurnStatus,
    pub result: Option<Value>,
}

impl DialogTurnResult {
    /// Waiting for the user: what a step or dialog returns to end the turn
    /// (botbuilder's `Dialog.EndOfTurn`).
    pub fn end_of_turn() -> Self {
        Self::of(DialogTurnStatus::Waiting)
    }

    pub fn of(status: DialogTurnStatus) -> Self {
        DialogTurnResult {
            status,
            result: None,
        }
    }

    /// The result, deserialised; `None` when there is none.
    pub fn result_as<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        result_as(self.result.as_ref())
    }
}

/// Why a dialog is resumed or ended (`DialogReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogReason {
    BeginCalled,
    ContinueCalled,
    EndCalled,
    ReplaceCalled,
    CancelCalled,
    NextCalled,
}

/// A dialog: registered in a [`DialogSet`] under its id and run by a
/// [`DialogContext`]. Its per-run data lives in the state of its
/// [`DialogInstance`] (`dc.active_dialog_mut()`), never in `self`: a dialog
/// is shared by every conversation and every run.
pub trait Dialog {
    /// The id it is registered and begun under.
    fn id(&self) -> &str;

    /// Starts the dialog; it is the active dialog on the stack.
    fn begin_dialog(
        &self,
        dc: &mut DialogContext,
        options: Option<Value>,
    ) -> Result<DialogTurnResult>;

    /// The user answered while this dialog was active. By default the
    /// dialog ends.
    fn continue_dialog(&self, dc: &mut DialogContext) -> Result<DialogTurnResult> {
        dc.end_dialog(None)
    }

    /// A dialog this one began ended with `result`. By default this one
    /// ends with the same result.
    fn resume_dialog(
        &self,
        dc: &mut DialogContext,
        _reason: DialogReason,
        result: Option<Value>,
    ) -> Result<DialogTurnResult> {
        dc.end_dialog(result)
    }

    /// Asks the user again (`repromptDialog`).
    fn reprompt_dialog(
        &self,
        _context: &TurnContext,
        _instance: &mut DialogInstance,
    ) -> Result<()> {
        Ok(())
    }

    /// The dialog is leaving the stack, for `reason`: clean up.
    fn end_dialog(
        &self,
        _context: &TurnContext,
        _instance: &mut DialogInstance,
        _reason: DialogReason,
    ) -> Result<()> {
        Ok(())
    }
}

/// The dialogs a bot (or a [`ComponentDialog`]) can begin, by id, and the
/// state property their stack is kept in.
#[derive(Default)]
pub struct DialogSet {
    dialogs: Vec<Box<dyn Dialog>>,
    state: Option<StateProperty<DialogState>>,
}

impl DialogSet {
    /// A set whose stack lives in `state`, e.g.
    /// `StateProperty::conversation("dialogState")`.
    pub fn new(state: StateProperty<DialogState>) -> Self {
        DialogSet {
            dialogs: Vec::new(),
            state: Some(state),
        }
    }

    /// Adds a dialog; a dialog already registered under its id is replaced.
    pub fn add(&mut self, dialog: impl Dialog + 'static) -> &mut Self {
        self.dialogs.retain(|d| d.id() != dialog.id());
        self.dialogs.push(Box::new(dialog));
        self
    }

    /// The dialog registered under `id`.
    pub fn find(&self, id: &str) -> Option<&dyn Dialog> {
        self.dialogs.iter().find(|d| d.id() == id).map(|d| &**d)
    }

    /// A context for this turn, with the stack loaded from state. Fails
    /// for a set made with `DialogSet::default()` (no state property).
    pub fn create_context<'a>(&'a self, context: &'a TurnContext<'a>) -> Result<DialogContext<'a>> {
        let Some(property) = &self.state else {
            return Err(Error::new(
                "DialogSetWithoutState",
                "DialogSet::create_context needs a set made with DialogSet::new(state property)",
            ));
        };
        let stack = property.get()?.unwrap_or_default().dialog_stack;
        Ok(DialogContext::new(self, context, stack, Some(property)))
    }
}

/// `value`, deserialised; `None` when absent or null.
pub(crate) fn result_as<T: DeserializeOwned>(value: Option<&Value>) -> Result<Option<T>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Ok(Some(T::deserialize(v)?)),
    }
}

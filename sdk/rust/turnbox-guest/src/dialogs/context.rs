//! [`DialogContext`]: runs the dialogs of a [`DialogSet`] on a stack for one
//! turn (botbuilder's `DialogContext`), saving the stack to state after
//! every change.

use serde_json::{Map, Value};

use super::prompts::PromptOptions;
use super::{
    Dialog, DialogInstance, DialogReason, DialogSet, DialogState, DialogTurnResult,
    DialogTurnStatus,
};
use crate::context::TurnContext;
use crate::error::{Error, Result};
use crate::state::StateProperty;

/// One turn of a dialog stack.
pub struct DialogContext<'a> {
    /// The turn.
    pub context: &'a TurnContext<'a>,
    dialogs: &'a DialogSet,
    stack: Vec<DialogInstance>,
    property: Option<&'a StateProperty<DialogState>>,
}

impl<'a> DialogContext<'a> {
    /// A context over `stack`; with a `property`, every change is saved to
    /// it. [`DialogSet::create_context`] is the usual way to get one;
    /// [`ComponentDialog`](super::ComponentDialog) makes inner ones.
    pub fn new(
        dialogs: &'a DialogSet,
        context: &'a TurnContext<'a>,
        stack: Vec<DialogInstance>,
        property: Option<&'a StateProperty<DialogState>>,
    ) -> Self {
        DialogContext {
            context,
            dialogs,
            stack,
            property,
        }
    }

    /// The dialogs this context can begin.
    pub fn dialogs(&self) -> &'a DialogSet {
        self.dialogs
    }

    /// The stack, top last.
    pub fn stack(&self) -> &[DialogInstance] {
        &self.stack
    }

    /// Takes the stack out (for a component saving its inner stack).
    pub fn into_stack(self) -> Vec<DialogInstance> {
        self.stack
    }

    /// The dialog on top of the stack.
    pub fn active_dialog(&self) -> Option<&DialogInstance> {
        self.stack.last()
    }

    pub fn active_dialog_mut(&mut self) -> Option<&mut DialogInstance> {
        self.stack.last_mut()
    }

    /// The instance at `depth` (0 = bottom), for a dialog that keeps state
    /// while a child runs above it.
    pub fn instance_mut(&mut self, depth: usize) -> Option<&mut DialogInstance> {
        self.stack.get_mut(depth)
    }

    fn find(&self, id: &str) -> Result<&'a dyn Dialog> {
        self.dialogs.find(id).ok_or_else(|| {
            Error::new(
                "DialogNotFound",
                format!("no dialog with id {id:?} in this DialogSet"),
            )
        })
    }

    fn save(&self) -> Result<()> {
        match self.property {
            Some(property) => property.set(&DialogState {
                dialog_stack: self.stack.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Pushes dialog `id` and begins it with `options`.
    pub fn begin_dialog(&mut self, id: &str, options: Option<Value>) -> Result<DialogTurnResult> {
        let dialog = self.find(id)?;
        self.stack.push(DialogInstance {
            id: id.to_owned(),
            state: Map::new(),
        });
        let result = dialog.begin_dialog(self, options)?;
        self.save()?;
        Ok(result)
    }

    /// Begins the prompt `id` with `options`.
    pub fn prompt(&mut self, id: &str, options: PromptOptions) -> Result<DialogTurnResult> {
        let options = serde_json::to_value(options)?;
        self.begin_dialog(id, Some(options))
    }

    /// Passes the turn to the active dialog; `Empty` when there is none.
    pub fn continue_dialog(&mut self) -> Result<DialogTurnResult> {
        let Some(active) = self.active_dialog() else {
            return Ok(DialogTurnResult::of(DialogTurnStatus::Empty));
        };
        let dialog = self.find(&active.id.clone())?;
        let result = dialog.continue_dialog(self)?;
        self.save()?;
        Ok(result)
    }

    /// Ends the active dialog with `result` and resumes the one below it;
    /// `Complete` with the result when the stack is then empty.
    pub fn end_dialog(&mut self, result: Option<Value>) -> Result<DialogTurnResult> {
        self.end_active(DialogReason::EndCalled)?;
        let outcome = match self.active_dialog() {
            Some(parent) => {
                let dialog = self.find(&parent.id.clone())?;
                dialog.resume_dialog(self, DialogReason::EndCalled, result)?
            }
            None => DialogTurnResult {
                status: DialogTurnStatus::Complete,
                result,
            },
        };
        self.save()?;
        Ok(outcome)
    }

    /// Ends every dialog on the stack: `Cancelled`, or `Empty` when none ran.
    pub fn cancel_all_dialogs(&mut self) -> Result<DialogTurnResult> {
        if self.stack.is_empty() {
            return Ok(DialogTurnResult::of(DialogTurnStatus::Empty));
        }
        while !self.stack.is_empty() {
            self.end_active(DialogReason::CancelCalled)?;
        }
        self.save()?;
        Ok(DialogTurnResult::of(DialogTurnStatus::Cancelled))
    }

    /// Ends the active dialog and begins `id` in its place.
    pub fn replace_dialog(&mut self, id: &str, options: Option<Value>) -> Result<DialogTurnResult> {
        self.find(id)?;
        self.end_active(DialogReason::ReplaceCalled)?;
        self.begin_dialog(id, options)
    }

    /// Asks the active dialog to prompt again.
    pub fn reprompt_dialog(&mut self) -> Result<()> {
        let context = self.context;
        let Some(active) = self.stack.last_mut() else {
            return Ok(());
        };
        let dialog = self.dialogs.find(&active.id).ok_or_else(|| {
            Error::new(
                "DialogNotFound",
                format!("no dialog with id {:?}", active.id),
            )
        })?;
        dialog.reprompt_dialog(context, active)
    }

    fn end_active(&mut self, reason: DialogReason) -> Result<()> {
        let Some(mut instance) = self.stack.pop() else {
            return Ok(());
        };
        // A stack saved by an older bot may name a dialog this one lacks:
        // it is dropped all the same.
        if let Some(dialog) = self.dialogs.find(&instance.id) {
            dialog.end_dialog(self.context, &mut instance, reason)?;
        }
        Ok(())
    }
}

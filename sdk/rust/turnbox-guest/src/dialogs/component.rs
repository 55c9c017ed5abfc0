//! [`ComponentDialog`]: a dialog made of dialogs, with its own inner
//! `DialogSet` and stack (kept in its instance's state under `dialogs`),
//! ending when its initial dialog ends (botbuilder's `ComponentDialog`).

use serde_json::Value;

use super::{
    Dialog, DialogContext, DialogInstance, DialogReason, DialogSet, DialogTurnResult,
    DialogTurnStatus, result_as,
};
use crate::context::TurnContext;
use crate::error::Result;

/// A reusable dialog of dialogs.
pub struct ComponentDialog {
    id: String,
    dialogs: DialogSet,
    initial_dialog_id: Option<String>,
}

impl ComponentDialog {
    pub fn new(id: impl Into<String>) -> Self {
        ComponentDialog {
            id: id.into(),
            dialogs: DialogSet::default(),
            initial_dialog_id: None,
        }
    }

    /// Adds an inner dialog; the first added is the initial one unless
    /// [`with_initial_dialog`](Self::with_initial_dialog) says otherwise.
    pub fn add_dialog(mut self, dialog: impl Dialog + 'static) -> Self {
        if self.initial_dialog_id.is_none() {
            self.initial_dialog_id = Some(dialog.id().to_owned());
        }
        self.dialogs.add(dialog);
        self
    }

    pub fn with_initial_dialog(mut self, id: impl Into<String>) -> Self {
        self.initial_dialog_id = Some(id.into());
        self
    }

    /// Runs `run` on the inner stack of the active instance and stores the
    /// stack back.
    fn inner(
        &self,
        dc: &mut DialogContext,
        run: impl FnOnce(&mut DialogContext) -> Result<DialogTurnResult>,
    ) -> Result<DialogTurnResult> {
        let stack = dc
            .active_dialog()
            .map(inner_stack)
            .transpose()?
            .unwrap_or_default();
        let mut inner = DialogContext::new(&self.dialogs, dc.context, stack, None);
        let result = run(&mut inner)?;
        let stack = serde_json::to_value(inner.into_stack())?;
        if let Some(instance) = dc.active_dialog_mut() {
            instance.state.insert("dialogs".into(), stack);
        }
        Ok(result)
    }

    /// Ends the component when its inner dialogs are done.
    fn finish(&self, dc: &mut DialogContext, turn: DialogTurnResult) -> Result<DialogTurnResult> {
        if turn.status == DialogTurnStatus::Waiting {
            Ok(turn)
        } else {
            dc.end_dialog(turn.result)
        }
    }
}

fn inner_stack(instance: &DialogInstance) -> Result<Vec<DialogInstance>> {
    Ok(result_as(instance.state.get("dialogs"))?.unwrap_or_default())
}

impl Dialog for ComponentDialog {
    fn id(&self) -> &str {
        &self.id
    }

    fn begin_dialog(
        &self,
        dc: &mut DialogContext,
        options: Option<Value>,
    ) -> Result<DialogTurnResult> {
        let initial = self.initial_dialog_id.clone().unwrap_or_default();
        let turn = self.inner(dc, |inner| inner.begin_dialog(&initial, options))?;
        self.finish(dc, turn)
    }

    fn continue_dialog(&self, dc: &mut DialogContext) -> Result<DialogTurnResult> {
        let turn = self.inner(dc, |inner| inner.continue_dialog())?;
        self.finish(dc, turn)
    }

    /// A dialog begun on the outer stack above this one ended: the inner
    /// active dialog asks again.
    fn resume_dialog(
        &self,
        dc: &mut DialogContext,
        _: DialogReason,
        _: Option<Value>,
    ) -> Result<DialogTurnResult> {
        self.inner(dc, |inner| {
            inner.reprompt_dialog()?;
            Ok(DialogTurnResult::end_of_turn())
        })
    }

    fn reprompt_dialog(&self, context: &TurnContext, instance: &mut DialogInstance) -> Result<()> {
        let mut inner = DialogContext::new(&self.dialogs, context, inner_stack(instance)?, None);
        inner.reprompt_dialog()
    }

    /// Cancelled: the inner dialogs are cancelled too.
    fn end_dialog(
        &self,
        context: &TurnContext,
        instance: &mut DialogInstance,
        reason: DialogReason,
    ) -> Result<()> {
        if reason == DialogReason::CancelCalled {
            let mut inner =
                DialogContext::new(&self.dialogs, context, inner_stack(instance)?, None);
            inner.cancel_all_dialogs()?;
        }
        Ok(())
    }
}

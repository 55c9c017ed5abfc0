//! [`WaterfallDialog`]: a dialog of steps run one per turn, each receiving
//! the previous step's result (botbuilder's `WaterfallDialog` and
//! `WaterfallStepContext`).

use std::ops::{Deref, DerefMut};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::{Dialog, DialogContext, DialogReason, DialogTurnResult, result_as};
use crate::error::{Error, Result};

/// One step: a closure or fn taking the step context. It returns what a
/// `DialogContext` call returned (`step.prompt(…)`, `step.begin_dialog(…)`,
/// `step.end_dialog(…)`, `step.next(…)`), or
/// [`DialogTurnResult::end_of_turn`] to wait for the user.
pub type WaterfallStep = Box<dyn Fn(&mut WaterfallStepContext) -> Result<DialogTurnResult>>;

/// A sequence of steps.
pub struct WaterfallDialog {
    id: String,
    steps: Vec<WaterfallStep>,
}

impl WaterfallDialog {
    pub fn new(id: impl Into<String>, steps: Vec<WaterfallStep>) -> Self {
        WaterfallDialog {
            id: id.into(),
            steps,
        }
    }

    /// Appends a step.
    pub fn add_step(
        mut self,
        step: impl Fn(&mut WaterfallStepContext) -> Result<DialogTurnResult> + 'static,
    ) -> Self {
        self.steps.push(Box::new(step));
        self
    }

    fn run_step(
        &self,
        dc: &mut DialogContext,
        index: usize,
        reason: DialogReason,
        result: Option<Value>,
    ) -> Result<DialogTurnResult> {
        let Some(step) = self.steps.get(index) else {
            // Past the last step: the waterfall ends with the last result.
            return dc.end_dialog(result);
        };
        let depth = dc.stack().len().saturating_sub(1);
        let instance = dc
            .active_dialog_mut()
            .ok_or_else(|| Error::new("DialogStackEmpty", "a waterfall step ran with no stack"))?;
        instance.state.insert("stepIndex".into(), json!(index));
        let options = instance
            .state
            .get("options")
            .cloned()
            .unwrap_or(Value::Null);
        let mut step_context = WaterfallStepContext {
            dc,
            waterfall: self,
            index,
            depth,
            options,
            reason,
            result,
            next_called: false,
        };
        step(&mut step_context)
    }
}

impl Dialog for WaterfallDialog {
    fn id(&self) -> &str {
        &self.id
    }

    fn begin_dialog(
        &self,
        dc: &mut DialogContext,
        options: Option<Value>,
    ) -> Result<DialogTurnResult> {
        if let Some(instance) = dc.active_dialog_mut() {
            instance
                .state
                .insert("options".into(), options.unwrap_or(Value::Null));
            instance.state.insert("values".into(), json!({}));
        }
        self.run_step(dc, 0, DialogReason::BeginCalled, None)
    }

    /// Only a message moves a waterfall on; the step after the one that
    /// waited gets the message's text.
    fn continue_dialog(&self, dc: &mut DialogContext) -> Result<DialogTurnResult> {
        if dc.context.activity().type_ != "message" {
            return Ok(DialogTurnResult::end_of_turn());
        }
        let text = dc.context.activity().text.clone().map(Value::String);
        self.resume_dialog(dc, DialogReason::ContinueCalled, text)
    }

    fn resume_dialog(
        &self,
        dc: &mut DialogContext,
        reason: DialogReason,
        result: Option<Value>,
    ) -> Result<DialogTurnResult> {
        let index = dc
            .active_dialog()
            .and_then(|i| i.state.get("stepIndex"))
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        self.run_step(dc, index + 1, reason, result)
    }
}

/// What a step gets: the dialog context (it derefs to [`DialogContext`]),
/// the previous step's result, the waterfall's options and values.
pub struct WaterfallStepContext<'s, 'a> {
    dc: &'s mut DialogContext<'a>,
    waterfall: &'s WaterfallDialog,
    /// The step's index, from 0.
    pub index: usize,
    depth: usize,
    /// The options the waterfall was begun with.
    pub options: Value,
    /// Why the step runs.
    pub reason: DialogReason,
    /// The previous step's result (a prompt's answer, a child's result, or
    /// the text of the message that moved the waterfall on).
    pub result: Option<Value>,
    next_called: bool,
}

impl WaterfallStepContext<'_, '_> {
    /// The result, deserialised; `None` when there is none.
    pub fn result_as<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        result_as(self.result.as_ref())
    }

    /// Runs the next step now, with `result`, without waiting for the user.
    pub fn next(&mut self, result: Option<Value>) -> Result<DialogTurnResult> {
        if self.next_called {
            return Err(Error::new(
                "WaterfallNextCalledTwice",
                format!(
                    "step {} of {:?} called next() twice",
                    self.index, self.waterfall.id
                ),
            ));
        }
        self.next_called = true;
        self.waterfall
            .run_step(self.dc, self.index + 1, DialogReason::NextCalled, result)
    }

    /// The values the waterfall's steps share (kept in its state).
    pub fn values(&mut self) -> Map<String, Value> {
        self.values_mut()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
    }

    /// One shared value, deserialised.
    pub fn value<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>> {
        result_as(self.values().get(key))
    }

    /// Sets a shared value, for the later steps.
    pub fn set_value(&mut self, key: &str, value: Value) -> Result<()> {
        let values = self.values_mut().ok_or_else(|| {
            Error::new(
                "WaterfallEnded",
                "set_value after the waterfall left the stack",
            )
        })?;
        if !values.is_object() {
            *values = json!({});
        }
        if let Some(map) = values.as_object_mut() {
            map.insert(key.to_owned(), value);
        }
        Ok(())
    }

    fn values_mut(&mut self) -> Option<&mut Value> {
        let id = self.waterfall.id.clone();
        let instance = self.dc.instance_mut(self.depth)?;
        (instance.id == id).then(|| instance.state.entry("values").or_insert(json!({})))
    }
}

impl<'a> Deref for WaterfallStepContext<'_, 'a> {
    type Target = DialogContext<'a>;

    fn deref(&self) -> &Self::Target {
        self.dc
    }
}

impl DerefMut for WaterfallStepContext<'_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.dc
    }
}

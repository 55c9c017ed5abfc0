//! The dialog scenario of `guest-examples/README.md`: the component dialog
//! `form` asks a name, an age (a whole number from 0 to 150) and a
//! confirmation; `cancel` ends it. Its stack lives in conversation state
//! under `dialogState`.

use serde_json::json;
use turnbox_guest::dialogs::{
    ComponentDialog, ConfirmPrompt, DialogSet, DialogState, ListStyle, NumberPrompt, PromptOptions,
    TextPrompt, WaterfallDialog,
};
use turnbox_guest::{Result, StateProperty, TurnContext};

const DIALOG_STATE: StateProperty<DialogState> = StateProperty::conversation("dialogState");

fn form() -> ComponentDialog {
    let steps = WaterfallDialog::new("form-steps", vec![])
        .add_step(|step| step.prompt("name", PromptOptions::text("What is your name?")))
        .add_step(|step| {
            let name: String = step.result_as()?.unwrap_or_default();
            step.set_value("name", json!(name))?;
            step.prompt(
                "age",
                PromptOptions::text("How old are you?")
                    .retry("Please enter your age as a number between 0 and 150."),
            )
        })
        .add_step(|step| {
            let age: i64 = step.result_as()?.unwrap_or_default();
            step.set_value("age", json!(age))?;
            let name: String = step.value("name")?.unwrap_or_default();
            step.prompt(
                "confirm",
                PromptOptions::text(format!("Is this right: {name}, {age}?")),
            )
        })
        .add_step(|step| {
            let name: String = step.value("name")?.unwrap_or_default();
            let age: i64 = step.value("age")?.unwrap_or_default();
            let reply = if step.result_as::<bool>()?.unwrap_or(false) {
                format!("Saved: {name}, {age}.")
            } else {
                "Not saved.".to_owned()
            };
            step.context.send_text(reply)?;
            step.end_dialog(None)
        });
    ComponentDialog::new("form")
        .add_dialog(steps)
        .add_dialog(TextPrompt::new("name"))
        .add_dialog(
            NumberPrompt::new("age").with_validator(|v| {
                Ok(v.value::<i64>().is_some_and(|age| (0..=150).contains(&age)))
            }),
        )
        .add_dialog(ConfirmPrompt::new("confirm").with_style(ListStyle::SuggestedAction))
}

/// Runs the form for this message: `true` when the form took it (it was
/// running, or the message was `form`).
pub fn on_message(ctx: &TurnContext) -> Result<bool> {
    let mut dialogs = DialogSet::new(DIALOG_STATE);
    dialogs.add(form());
    let mut dc = dialogs.create_context(ctx)?;
    if dc.active_dialog().is_some() {
        if ctx.text().trim().eq_ignore_ascii_case("cancel") {
            dc.cancel_all_dialogs()?;
            ctx.send_text("Cancelled.")?;
        } else {
            dc.continue_dialog()?;
        }
        return Ok(true);
    }
    if ctx.text() == "form" {
        dc.begin_dialog("form", None)?;
        return Ok(true);
    }
    Ok(false)
}

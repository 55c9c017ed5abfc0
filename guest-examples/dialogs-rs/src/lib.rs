//! A test bot for the Rust SDK's dialogs: it plays the scenario of one of
//! botbuilder-dotnet's dialog transcripts (`tests/fixtures/dialogs/`),
//! chosen by its manifest's `[config] scenario` (`Waterfall`,
//! `WaterfallPrompt`, `WaterfallNested`, `TextPrompt`, `NumberPrompt`,
//! `ChoicePrompt`, `ConfirmPrompt`, `DateTimePrompt`, `AttachmentPrompt`),
//! as botbuilder-dotnet's `DialogsTests` do, so that `turnbox test` can
//! replay the transcript against it (`tests/e2e/dialogs_rust.rs`).

use serde_json::Value;
use turnbox_guest::dialogs::{
    AttachmentPrompt, Choice, ChoicePrompt, ConfirmPrompt, DateTimePrompt, DateTimeResolution,
    DialogSet, DialogState, DialogTurnResult, DialogTurnStatus, FoundChoice, ListStyle,
    NumberPrompt, PromptOptions, TextPrompt, WaterfallDialog, WaterfallStepContext,
};
use turnbox_guest::{ActivityHandler, Error, Result, StateProperty, TurnContext, config};

const DIALOG_STATE: StateProperty<DialogState> = StateProperty::conversation("dialogState");

#[derive(Default)]
struct DialogsBot;

/// A step that says `text` and waits.
fn say(text: &'static str) -> impl Fn(&mut WaterfallStepContext) -> Result<DialogTurnResult> {
    move |step| {
        step.context.send_text(text)?;
        Ok(DialogTurnResult::end_of_turn())
    }
}

/// A step that thanks for the number the previous prompt got, says
/// `text` and asks for another number.
fn thank_and_ask(
    text: &'static str,
) -> impl Fn(&mut WaterfallStepContext) -> Result<DialogTurnResult> {
    move |step| {
        if let Some(n) = step.result_as::<i64>()? {
            step.context.send_text(format!("Thanks for '{n}'"))?;
        }
        step.context.send_text(text)?;
        step.prompt(
            "number",
            PromptOptions::text("Enter a number.").retry("It must be a number"),
        )
    }
}

/// The dialogs of `scenario`, the dialog to begin, and its options.
fn dialogs(scenario: &str) -> Result<(DialogSet, &'static str, Option<PromptOptions>)> {
    let mut set = DialogSet::new(DIALOG_STATE);
    let prompt = |text: &str, retry: &str| Some(PromptOptions::text(text).retry(retry));
    let begin =
        match scenario {
            "Waterfall" => {
                set.add(
                    WaterfallDialog::new("test", vec![])
                        .add_step(say("step1"))
                        .add_step(say("step2"))
                        .add_step(say("step3")),
                );
                ("test", None)
            }
            "WaterfallPrompt" => {
                set.add(NumberPrompt::new("number"));
                set.add(
                    WaterfallDialog::new("test-waterfall", vec![])
                        .add_step(|step| {
                            step.context.send_text("step1")?;
                            step.prompt(
                                "number",
                                PromptOptions::text("Enter a number.").retry("It must be a number"),
                            )
                        })
                        .add_step(thank_and_ask("step2"))
                        .add_step(|step| {
                            if let Some(n) = step.result_as::<i64>()? {
                                step.context.send_text(format!("Thanks for '{n}'"))?;
                            }
                            step.context.send_text("step3")?;
                            step.end_dialog(Some(serde_json::json!({"Value": "All Done!"})))
                        }),
                );
                ("test-waterfall", None)
            }
            "WaterfallNested" => {
                set.add(
                    WaterfallDialog::new("test-waterfall-a", vec![])
                        .add_step(|step| {
                            step.context.send_text("step1")?;
                            step.begin_dialog("test-waterfall-b", None)
                        })
                        .add_step(|step| {
                            step.context.send_text("step2")?;
                            step.begin_dialog("test-waterfall-c", None)
                        }),
                );
                set.add(
                    WaterfallDialog::new("test-waterfall-b", vec![])
                        .add_step(say("step1.1"))
                        .add_step(say("step1.2")),
                );
                set.add(
                    WaterfallDialog::new("test-waterfall-c", vec![])
                        .add_step(say("step2.1"))
                        .add_step(say("step2.2")),
                );
                ("test-waterfall-a", None)
            }
            "TextPrompt" => {
                set.add(TextPrompt::new("prompt").with_validator(|v| {
                    Ok(v.value::<String>().is_some_and(|t| t.chars().count() > 3))
                }));
                (
                    "prompt",
                    prompt(
                        "Enter some text.",
                        "Make sure the text is greater than three characters.",
                    ),
                )
            }
            "NumberPrompt" => {
                set.add(NumberPrompt::new("prompt").with_validator(|v| {
                    Ok(v.value::<i64>().is_some_and(|n| (0..=100).contains(&n)))
                }));
                (
                    "prompt",
                    prompt(
                        "Enter a number.",
                        "You must enter a valid positive number less than 100.",
                    ),
                )
            }
            "ChoicePrompt" => {
                set.add(ChoicePrompt::new("test-prompt").with_style(ListStyle::Inline));
                set.add(
                    WaterfallDialog::new("test", vec![])
                        .add_step(|step| {
                            step.prompt(
                                "test-prompt",
                                PromptOptions::text("favorite color?")
                                    .retry("I didn't catch that. Select a color from the list.")
                                    .choices(Choice::from_values(&["red", "green", "blue"])),
                            )
                        })
                        .add_step(|step| {
                            let choice: Option<FoundChoice> = step.result_as()?;
                            let value = choice.map(|c| c.value).unwrap_or_default();
                            step.context
                                .send_text(format!("Bot received the choice '{value}'."))?;
                            step.end_dialog(None)
                        }),
                );
                ("test", None)
            }
            "ConfirmPrompt" => {
                set.add(ConfirmPrompt::new("prompt").with_style(ListStyle::None));
                (
                    "prompt",
                    prompt(
                        "Please confirm.",
                        "Please confirm, say 'yes' or 'no' or something like that.",
                    ),
                )
            }
            "DateTimePrompt" => {
                set.add(DateTimePrompt::new("prompt"));
                (
                    "prompt",
                    prompt(
                        "What date would you like?",
                        "Sorry, but that is not a date. What date would you like?",
                    ),
                )
            }
            "AttachmentPrompt" => {
                set.add(AttachmentPrompt::new("prompt"));
                (
                    "prompt",
                    Some(PromptOptions::text("please add an attachment.")),
                )
            }
            other => {
                return Err(Error::new(
                    "UnknownScenario",
                    format!("[config] scenario {other:?} is not one this bot plays"),
                ));
            }
        };
    Ok((set, begin.0, begin.1))
}

/// What the scenario says when its dialog completes with `result`.
fn completed(scenario: &str, result: Option<&Value>) -> Option<String> {
    let result = result?;
    Some(match scenario {
        "TextPrompt" => format!("Bot received the text '{}'.", result.as_str()?),
        "NumberPrompt" => format!("Bot received the number '{result}'."),
        "ConfirmPrompt" => (if result.as_bool()? {
            "Confirmed."
        } else {
            "Not confirmed."
        })
        .to_owned(),
        "DateTimePrompt" => {
            let resolutions: Vec<DateTimeResolution> =
                serde_json::from_value(result.clone()).ok()?;
            let first = resolutions.first()?;
            format!("Timex:'{}' Value:'{}'", first.timex, first.value)
        }
        "AttachmentPrompt" => result.get(0)?.get("content")?.as_str()?.to_owned(),
        _ => return None,
    })
}

impl ActivityHandler for DialogsBot {
    fn on_message(&self, ctx: &TurnContext) -> Result<()> {
        let scenario = config::get("scenario").unwrap_or_default();
        let (set, begin, options) = dialogs(&scenario)?;
        let mut dc = set.create_context(ctx)?;
        let turn = dc.continue_dialog()?;
        match turn.status {
            DialogTurnStatus::Empty => {
                let options = options.map(serde_json::to_value).transpose()?;
                dc.begin_dialog(begin, options)?;
            }
            DialogTurnStatus::Complete => {
                if let Some(reply) = completed(&scenario, turn.result.as_ref()) {
                    ctx.send_text(reply)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

turnbox_guest::export_bot!(DialogsBot);

// The dialog scenario of guest-examples/README.md: a component dialog that
// asks for a name, an age (a whole number from 0 to 150) and a
// confirmation, with "cancel" ending it at any step.

import { ComponentDialog, WaterfallDialog } from './dialogs.js';
import { ConfirmPrompt, NumberPrompt, TextPrompt } from './prompts.js';
import { ListStyle } from './choices.js';

const AGE_RETRY = 'Please enter your age as a number between 0 and 150.';

/** The `form` dialog. */
export class FormDialog extends ComponentDialog {
  constructor() {
    super('form');
    this.addDialog(new WaterfallDialog('form-steps', [
      (step) => step.prompt('name', 'What is your name?'),
      (step) => {
        step.values.name = step.result;
        return step.prompt('age', { prompt: 'How old are you?', retryPrompt: AGE_RETRY });
      },
      (step) => {
        step.values.age = step.result;
        return step.prompt('confirm', {
          prompt: `Is this right: ${step.values.name}, ${step.values.age}?`,
          style: ListStyle.suggestedAction,
        });
      },
      async (step) => {
        const { name, age } = step.values;
        await step.context.sendActivity(step.result ? `Saved: ${name}, ${age}.` : 'Not saved.');
        return step.endDialog();
      },
    ]));
    this.addDialog(new TextPrompt('name'));
    this.addDialog(new NumberPrompt('age', (pc) => {
      const age = pc.recognized.value;
      return pc.recognized.succeeded && Number.isInteger(age) && age >= 0 && age <= 150;
    }));
    this.addDialog(new ConfirmPrompt('confirm'));
  }

  /** "cancel" interrupts any step (botbuilder's CancelAndHelpDialog). */
  async onContinueDialog(innerDc) {
    const text = String(innerDc.context.activity.text ?? '').trim().toLowerCase();
    if (innerDc.context.activity.type === 'message' && text === 'cancel') {
      await innerDc.context.sendActivity('Cancelled.');
      return innerDc.cancelAllDialogs();
    }
    return super.onContinueDialog(innerDc);
  }
}

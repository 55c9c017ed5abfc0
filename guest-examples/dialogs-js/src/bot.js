// The dialog test bot: one bot for every botbuilder-dotnet dialog
// transcript in tests/fixtures/dialogs/, on the JavaScript SDK's dialogs
// (sdk/js/dialogs.js, prompts.js). The manifest's `[config] scenario` names
// the transcript (`Waterfall`, `NumberPrompt`, …); each scenario is the
// dotnet test that recorded it (botbuilder-dotnet
// tests/Microsoft.Bot.Builder.Dialogs.Tests/), written with this SDK.
// tests/e2e/dialogs_js.rs replays them all with `turnbox test`.

import { ActivityHandler, config, conversationState } from './turnbox.js';
import { Dialog, DialogSet, DialogTurnStatus, WaterfallDialog } from './dialogs.js';
import {
  AttachmentPrompt, ChoicePrompt, ConfirmPrompt, DateTimePrompt, NumberPrompt, TextPrompt,
} from './prompts.js';
import { ListStyle } from './choices.js';

const dialogState = conversationState.createProperty('dialogState');

/** A DialogSet of `dialogs`, bound to the conversation's dialog state. */
function set(...dialogs) {
  const s = new DialogSet(dialogState);
  for (const d of dialogs) s.add(d);
  return s;
}

/** Sends `text` and waits for the next message. */
const say = (text) => async (step) => {
  await step.context.sendActivity(text);
  return Dialog.EndOfTurn;
};

// WaterfallTests.Waterfall and WaterfallPrompt: continue the stack, and
// start the waterfall when nothing answered.
const waterfall = set(new WaterfallDialog('test', [say('step1'), say('step2'), async (step) => {
  await step.context.sendActivity('step3');
  return step.endDialog();
}]));

const numberOptions = { prompt: 'Enter a number.', retryPrompt: 'It must be a number' };
const thanks = async (step) => step.context.sendActivity(`Thanks for '${step.result}'`);
const waterfallPrompt = set(
  new WaterfallDialog('test', [
    async (step) => {
      await step.context.sendActivity('step1');
      return step.prompt('number', numberOptions);
    },
    async (step) => {
      await thanks(step);
      await step.context.sendActivity('step2');
      return step.prompt('number', numberOptions);
    },
    async (step) => {
      await thanks(step);
      await step.context.sendActivity('step3');
      return step.endDialog({ value: 'All Done!' });
    },
  ]),
  new NumberPrompt('number', undefined, 'en-us'),
);

// WaterfallTests.WaterfallNested: a starts b, then c.
const waterfallNested = set(
  new WaterfallDialog('test', [
    async (step) => {
      await step.context.sendActivity('step1');
      return step.beginDialog('b');
    },
    async (step) => {
      await step.context.sendActivity('step2');
      return step.beginDialog('c');
    },
  ]),
  new WaterfallDialog('b', [say('step1.1'), say('step1.2')]),
  new WaterfallDialog('c', [say('step2.1'), async (step) => {
    await step.context.sendActivity('step2.2');
    return step.endDialog();
  }]),
);

/** A prompt scenario: prompt when the stack is empty, `done(ctx, result)`
 * when the prompt completes. */
function promptScenario(prompt, options, done) {
  return { dialogs: set(prompt), options, done };
}

const prompts = {
  TextPrompt: promptScenario(
    new TextPrompt('prompt', async (pc) => {
      if (pc.recognized.value.length <= 3) {
        await pc.context.sendActivity('Make sure the text is greater than three characters.');
        return false;
      }
      return true;
    }),
    { prompt: 'Enter some text.' },
    (ctx, text) => ctx.sendActivity(`Bot received the text '${text}'.`),
  ),
  NumberPrompt: promptScenario(
    new NumberPrompt('prompt', async (pc) => pc.recognized.succeeded && pc.recognized.value > 0 && pc.recognized.value < 100),
    { prompt: 'Enter a number.', retryPrompt: 'You must enter a valid positive number less than 100.' },
    (ctx, n) => ctx.sendActivity(`Bot received the number '${n}'.`),
  ),
  ChoicePrompt: promptScenario(
    new ChoicePrompt('prompt'),
    {
      prompt: 'favorite color?',
      retryPrompt: "I didn't catch that. Select a color from the list.",
      choices: ['red', 'green', 'blue'],
    },
    (ctx, found) => ctx.sendActivity(`Bot received the choice '${found.value}'.`),
  ),
  ConfirmPrompt: promptScenario(
    new ConfirmPrompt('prompt'),
    {
      prompt: 'Please confirm.',
      retryPrompt: "Please confirm, say 'yes' or 'no' or something like that.",
      style: ListStyle.none,
    },
    (ctx, yes) => ctx.sendActivity(yes ? 'Confirmed.' : 'Not confirmed.'),
  ),
  DateTimePrompt: promptScenario(
    new DateTimePrompt('prompt'),
    { prompt: 'What date would you like?', retryPrompt: 'Sorry, but that is not a date. What date would you like?' },
    (ctx, [first]) => ctx.sendActivity(`Timex:'${first.timex}' Value:'${first.value}'`),
  ),
  AttachmentPrompt: promptScenario(
    new AttachmentPrompt('prompt'),
    { prompt: 'please add an attachment.' },
    (ctx, attachments) => ctx.sendActivity(String(attachments[0].content)),
  ),
};

const waterfalls = { Waterfall: waterfall, WaterfallPrompt: waterfallPrompt, WaterfallNested: waterfallNested };

const bot = new ActivityHandler();

bot.onMessage(async (ctx) => {
  // Read per turn: module code runs when the component is built.
  const scenario = config('scenario') ?? '';
  if (waterfalls[scenario]) {
    const dc = await waterfalls[scenario].createContext(ctx);
    await dc.continueDialog();
    if (!ctx.responded) await dc.beginDialog('test');
    return;
  }
  const chosen = prompts[scenario];
  if (!chosen) {
    ctx.sendActivity(`Unknown scenario '${scenario}': set [config] scenario to one of `
      + `${[...Object.keys(waterfalls), ...Object.keys(prompts)].join(', ')}.`);
    return;
  }
  const dc = await chosen.dialogs.createContext(ctx);
  const result = await dc.continueDialog();
  if (result.status === DialogTurnStatus.empty) await dc.prompt('prompt', chosen.options);
  else if (result.status === DialogTurnStatus.complete) await chosen.done(ctx, result.result);
});

export const handler = bot.handler();

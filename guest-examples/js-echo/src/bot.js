// The echo bot in JavaScript, on the JavaScript SDK, built with
// componentize-js. `./turnbox.js` is sdk/js/turnbox.js: build.sh stages it
// beside this file, since componentize-js reads modules only from the
// source's own folder.
//
// It implements the behaviour every example bot shares, whatever its
// language: guest-examples/README.md is the spec, tests/e2e/languages.rs
// holds every language to it.

import {
  CardAction, CardFactory, MessageFactory, connector, conversationState,
} from './turnbox.js';
import { DialogSet } from './dialogs.js';
import { TeamsActivityHandler } from './teams.js';
import { FormDialog } from './form.js';
import { registerTeams } from './teams-scenario.js';

const count = conversationState.createProperty('count');
const dialogs = new DialogSet(conversationState.createProperty('dialogState')).add(new FormDialog());
const bot = new TeamsActivityHandler();
// Kept in the instance's memory, not in state: what `instance` shows.
let instanceAnswers = 0;

// While the form runs, every message goes to it; `form` starts it. `edit`
// alone skips the check: reading the dialog state would make the host hold
// the draft back until the commit (docs/STATE-AND-MESSAGING.md), and the
// spec wants the draft posted and then replaced through the connector.
bot.onMessage(async (ctx) => {
  if (ctx.activity.text === 'edit') return reply(ctx);
  const dc = await dialogs.createContext(ctx);
  if (dc.activeDialog) return dc.continueDialog();
  if (ctx.activity.text === 'form') return dc.beginDialog('form');
  return reply(ctx);
});

/** The answers of the spec's table. */
function reply(ctx) {
  const text = ctx.activity.text ?? '';
  if (text === 'count') {
    const n = count.get(0) + 1;
    count.set(n);
    ctx.sendActivity(`Count: ${n}`);
  } else if (text === 'instance') {
    instanceAnswers += 1;
    ctx.sendActivity(`Instance: ${instanceAnswers}`);
  } else if (text === 'card') {
    const reply = MessageFactory.suggestedActions(
      [CardAction.imBack('Red', 'red'), CardAction.imBack('Blue', 'blue')],
      'Here is a card',
    );
    reply.attachments = [
      CardFactory.heroCard('turnbox', 'A bot in any WebAssembly language', [], [
        CardAction.openUrl('Docs', 'https://example.org/turnbox'),
      ]),
    ];
    ctx.sendActivity(reply);
  } else if (text === 'adaptive') {
    ctx.sendActivity(MessageFactory.attachment(CardFactory.adaptiveCard({
      type: 'AdaptiveCard',
      version: '1.5',
      body: [{ type: 'TextBlock', text: 'Hello from turnbox' }],
    })));
  } else if (text === 'typing') {
    ctx.sendActivity(MessageFactory.typing());
    ctx.sendActivity('Done typing');
  } else if (text === 'edit') {
    const { id } = ctx.sendActivity('draft');
    ctx.updateActivity({ ...MessageFactory.text('final'), id });
  } else if (text === 'members') {
    try {
      const names = connector.getConversationMembers().map((m) => m.name ?? m.id);
      ctx.sendActivity(`Members: ${names.join(', ')}`);
    } catch (e) {
      ctx.sendActivity(`members failed: ${e.message}`);
    }
  } else if (text === 'upload') {
    try {
      const original = new TextEncoder().encode('hello');
      const { id } = connector.uploadAttachment({ type: 'text/plain', name: 'hello.txt', original });
      const view = connector.getAttachment(id, 'original');
      ctx.sendActivity(`Uploaded ${id}: ${new TextDecoder().decode(view.body)}`);
    } catch (e) {
      ctx.sendActivity(`upload failed: ${e.message}`);
    }
  } else if (text.startsWith('fetch ')) {
    // Outbound HTTP (the manifest's [http] allowed_hosts): an async
    // handler, awaited by the SDK.
    return fetchReply(ctx, text.slice('fetch '.length).trim());
  } else {
    ctx.sendActivity(`Echo: ${text}`);
  }
  return undefined;
}

async function fetchReply(ctx, url) {
  let reply;
  try {
    const response = await fetch(url);
    const body = await response.text();
    reply = `fetched ${response.status}: ${body.slice(0, 64)}`;
  } catch (e) {
    reply = `fetch failed: ${e?.message ?? e}`;
  }
  ctx.sendActivity(reply);
}

bot.onMembersAdded((ctx, members) => {
  for (const m of members) ctx.sendActivity(`Welcome, ${m.name ?? m.id}!`);
});

bot.onMembersRemoved((ctx, members) => {
  for (const m of members) ctx.sendActivity(`Goodbye, ${m.name ?? m.id}!`);
});

bot.onReactionsAdded((ctx, reactions) => {
  for (const r of reactions) ctx.sendActivity(`Thanks for the ${r.type}`);
});

bot.onEvent('greet', (ctx, value) => ctx.sendActivity(`Hello, ${value?.name ?? 'stranger'}!`));

bot.onInvoke('echo/ping', () => ({ status: 200, body: { pong: true } }));

bot.onEndOfConversation((ctx) => ctx.sendActivity(`Ended: ${ctx.activity.code ?? 'none'}`));

bot.onUnrecognizedActivityType((ctx) => ctx.sendActivity(`Unrecognized: ${ctx.activity.type}`));

registerTeams(bot);

export const handler = bot.handler();

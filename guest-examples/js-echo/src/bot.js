// The echo bot in JavaScript, built with componentize-js.
//
// It implements the behaviour every example bot shares, whatever its
// language (tests/e2e/languages.rs holds them all to it):
// - message `count`: adds one to `count` in conversation state, replies `Count: N`;
// - message `card`: replies `Here is a card` with a hero card and two suggested actions;
// - any other message: replies `Echo: {text}`;
// - conversationUpdate: welcomes every added member other than the bot;
// - invoke `echo/ping`: answers 200 {"pong": true}.

import { get, set } from 'turnbox:bot/state@0.1.0';

const HERO_CARD = {
  title: 'turnbox',
  text: 'A bot in any WebAssembly language',
  buttons: [{ type: 'openUrl', title: 'Docs', value: 'https://example.org/turnbox' }],
};
const SUGGESTED_ACTIONS = {
  actions: [
    { type: 'imBack', title: 'Red', value: 'red' },
    { type: 'imBack', title: 'Blue', value: 'blue' },
  ],
};

/** An outgoing message; the host fills in the routing. */
function message(text) {
  return { type: 'message', text, extra: '{}' };
}

function send(ctx, activity) {
  try {
    ctx.send(activity);
  } catch (e) {
    const cause = e.payload ?? { code: 'SendFailed', message: String(e) };
    throw { code: 'SendFailed', message: `${cause.code}: ${cause.message}` };
  }
}

export const handler = {
  onTurn(ctx) {
    const incoming = ctx.activity();
    if (incoming.type === 'message') {
      const text = incoming.text ?? '';
      if (text === 'count') {
        const count = Number(get('conversation', 'count') ?? '0') + 1;
        set('conversation', 'count', JSON.stringify(count));
        send(ctx, message(`Count: ${count}`));
      } else if (text === 'card') {
        send(ctx, {
          ...message('Here is a card'),
          attachments: [
            { contentType: 'application/vnd.microsoft.card.hero', content: JSON.stringify(HERO_CARD) },
          ],
          suggestedActions: JSON.stringify(SUGGESTED_ACTIONS),
        });
      } else {
        send(ctx, message(`Echo: ${text}`));
      }
    } else if (incoming.type === 'conversationUpdate') {
      const botId = incoming.recipient?.id;
      for (const member of incoming.membersAdded ?? []) {
        if (member.id !== botId) {
          send(ctx, message(`Welcome, ${member.name ?? member.id}!`));
        }
      }
    } else if (incoming.type === 'invoke' && incoming.name === 'echo/ping') {
      return { status: 200, body: JSON.stringify({ pong: true }) };
    }
    return undefined;
  },
};

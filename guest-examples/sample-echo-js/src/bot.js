// The Bot Framework SDK's echo sample (botbuilder's `02.echo-bot`) on the
// JavaScript SDK: it echoes each message (text and speak) and welcomes
// members who join, and keeps no state. The benchmarks set it beside the
// same sample on botbuilder-js (docs/PERFORMANCE.md); the shared example
// bot, js-echo, does much more on every message. build.sh stages
// sdk/js/turnbox.js beside this file.

import { ActivityHandler, MessageFactory } from './turnbox.js';

const bot = new ActivityHandler();

bot.onMessage((ctx) => {
  const text = `Echo: ${ctx.activity.text ?? ''}`;
  ctx.sendActivity(MessageFactory.text(text, text));
});

bot.onMembersAdded((ctx, members) => {
  for (const _ of members) ctx.sendActivity('Hello and welcome!');
});

export const handler = bot.handler();

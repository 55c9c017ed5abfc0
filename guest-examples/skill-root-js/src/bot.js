// skill-root-js: skill-root-rs's bot on the JavaScript SDK (skills.js), a
// root bot and a skill in one; which one comes from its manifest's
// `[config] role` (`root`, the default, or `skill`).
//
// As the root, it forwards every user message to the skill named by
// `[config] skill` (declared in `[skills.NAME]`; "@NAME text" sends "text"
// to the skill NAME instead) and, when the skill ends the conversation,
// says so: "the skill ended: <code>". A call that fails is reported: "the
// skill call failed: <code>"; a skill's error status: "the skill answered
// <status>".
//
// As the skill, it answers "skill heard: <text>", "callerid" with "skill
// callerId=<callerId>", and on "bye" says goodbye and ends the conversation
// (`endOfConversation`, code `completedSuccessfully`). "count" counts in
// the conversation's state and answers "skill count: <n>" (a reply the
// host holds back for the turn's commit and posts from its outbox);
// "later" answers "skill: later" and sets a timer of 100 ms, whose turn
// (proactive, from the stored conversation reference) says "skill: the
// timer fired". tests/e2e/skills.rs runs it.

import { ActivityHandler, config, conversationState, timers } from './turnbox.js';
import { forwardToSkill, isSuccessStatusCode } from './skills.js';

const isSkill = () => config('role') === 'skill';

/** How many "count" messages the skill got in this conversation. */
const count = conversationState.createProperty('count');

function skillMessage(ctx) {
  const text = ctx.activity.text ?? '';
  if (text === 'bye') {
    ctx.sendActivity('skill: goodbye');
    ctx.sendActivity({ type: 'endOfConversation', code: 'completedSuccessfully' });
  } else if (text === 'count') {
    const n = count.get(0) + 1;
    count.set(n);
    ctx.sendActivity(`skill count: ${n}`);
  } else if (text === 'later') {
    timers.schedule(100, 'later');
    ctx.sendActivity('skill: later');
  } else if (text === 'callerid') {
    ctx.sendActivity(`skill callerId=${ctx.activity.callerId ?? ''}`);
  } else {
    ctx.sendActivity(`skill heard: ${text}`);
  }
}

const bot = new ActivityHandler();

bot.onMessage((ctx) => {
  if (isSkill()) return skillMessage(ctx);
  const text = ctx.activity.text ?? '';
  const addressed = /^@(\S+) (.*)$/s.exec(text);
  const skill = addressed ? addressed[1] : (config('skill') ?? 'echo');
  const activity = addressed ? { ...ctx.activity, text: addressed[2] } : ctx.activity;
  try {
    const answer = forwardToSkill(ctx, skill, activity);
    if (!isSuccessStatusCode(answer)) ctx.sendActivity(`the skill answered ${answer.status}`);
  } catch (e) {
    if (!e.code) throw e;
    ctx.sendActivity(`the skill call failed: ${e.code}`);
  }
  return undefined;
});

bot.onEvent('later', (ctx) => {
  if (isSkill()) ctx.sendActivity('skill: the timer fired');
});

bot.onEndOfConversation((ctx) => {
  if (!isSkill()) ctx.sendActivity(`the skill ended: ${ctx.activity.code ?? 'none'}`);
});

export const handler = bot.handler();

// An LLM chat bot: each message goes, with the conversation so far and the
// manifest's backstory as the system prompt, to an OpenAI-compatible model,
// and the answer is livestreamed back as it is produced (the SDK's
// StreamingResponse). `/reset` forgets the conversation. A model that fails
// (401, 429, 5xx, a timeout, a garbled stream) gets a polite reply, and the
// failed exchange is not kept. README.md shows the manifest.

import { ActivityHandler, StreamingResponse, config, conversationState, log } from './turnbox.js';
import { ModelError, streamChat } from './model.js';

const DEFAULT_HISTORY_CHARS = 8000;

const SORRY = {
  config: 'I have no language model configured yet: set base_url in my manifest.',
  auth: 'Sorry, the language model did not accept my credentials, so I cannot answer right now.',
  busy: 'Sorry, the language model is busy right now. Please try again in a moment.',
  server: 'Sorry, the language model ran into a problem. Please try again.',
  refused: 'Sorry, the language model refused that request.',
  timeout: 'Sorry, the language model took too long to answer. Please try again.',
  unreachable: 'Sorry, I cannot reach the language model right now. Please try again later.',
  malformed: 'Sorry, the answer from the language model came back garbled. Please try again.',
  empty: 'Sorry, the language model gave no answer. Please try again.',
};

/** The conversation so far: `{role: 'user' | 'assistant', content}`. */
const history = conversationState.createProperty('history');

function settings() {
  const budget = Number.parseInt(config('history_chars') ?? '', 10);
  return {
    baseUrl: config('base_url'),
    model: config('model') ?? 'default',
    apiKey: config('api_key'),
    backstory: config('backstory'),
    historyChars: Number.isFinite(budget) && budget >= 0 ? budget : DEFAULT_HISTORY_CHARS,
  };
}

/** The stored history, or none when it is not what this bot wrote. */
function pastMessages() {
  const past = history.get([]);
  const valid = Array.isArray(past) && past.every((m) => (m?.role === 'user' || m?.role === 'assistant')
    && typeof m.content === 'string');
  return valid ? past : [];
}

/** The newest messages within `budget` characters, dropping whole
 * exchanges (a user message and the answers after it), oldest first. */
function bounded(messages, budget) {
  let total = messages.reduce((sum, m) => sum + m.content.length, 0);
  let start = 0;
  while (total > budget && start < messages.length) {
    do {
      total -= messages[start].content.length;
      start += 1;
    } while (start < messages.length && messages[start].role !== 'user');
  }
  return messages.slice(start);
}

async function answer(ctx, text) {
  const stream = new StreamingResponse(ctx);
  // Before the state is read: the status line need not wait for the state.
  stream.queueInformativeUpdate('Thinking…');
  const s = settings();
  if (!s.baseUrl) {
    stream.endStream({ text: SORRY.config });
    return;
  }
  const past = pastMessages();
  const asked = { role: 'user', content: text };
  const messages = [...(s.backstory ? [{ role: 'system', content: s.backstory }] : []), ...past, asked];
  let reply;
  try {
    reply = await streamChat({ ...s, messages }, (piece) => stream.queueTextChunk(piece));
    if (!reply.trim()) throw new ModelError('empty', 'no text in the answer');
  } catch (e) {
    if (!(e instanceof ModelError)) throw e;
    log('warn', `the model gave no answer: ${e.message}`);
    stream.endStream({ text: SORRY[e.kind] ?? SORRY.server });
    return;
  }
  history.set(bounded([...past, asked, { role: 'assistant', content: reply }], s.historyChars));
  stream.endStream();
}

const bot = new ActivityHandler();

bot.onMessage((ctx) => {
  const text = (ctx.activity.text ?? '').trim();
  if (text === '/reset') {
    history.delete();
    ctx.sendActivity('Done: I have forgotten our conversation.');
    return undefined;
  }
  return text ? answer(ctx, text) : undefined;
});

export const handler = bot.handler();

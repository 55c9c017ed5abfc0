// turnbox guest SDK for JavaScript: botbuilder's ActivityHandler,
// TurnContext, MessageFactory, CardFactory and state property accessors, and
// the Agents SDK's StreamingResponse, over the turnbox:bot WIT world. Build
// with componentize-js (see docs/LANGUAGES.md; StreamingResponse needs the
// `clocks` feature); import it with a relative path:
//
//   import { ActivityHandler } from './turnbox.js';
//   const bot = new ActivityHandler();
//   bot.onMessage((ctx) => ctx.sendActivity(`Echo: ${ctx.activity.text}`));
//   export const handler = bot.handler();
//
// Activities are plain Bot Framework JSON, as in botbuilder-js: JSON fields
// are objects, and fields the WIT record does not model sit at the top level.
// Everything here is synchronous: host calls block until they are done.

import * as state from 'turnbox:bot/state@0.1.0';
import * as logging from 'turnbox:bot/logging@0.1.0';
import * as hostConfig from 'turnbox:bot/config@0.1.0';
import * as hostTimers from 'turnbox:bot/timers@0.1.0';
import * as hostConnector from 'turnbox:bot/connector@0.1.0';

// componentize-js runs its export glue (the code that calls
// `handler.onTurn`) in StarlingMonkey's initializer global, not the bot's,
// and SpiderMonkey makes a global's standard classes on first use: every
// fresh instance made Promise, String, the iterators and more on its first
// turn, about a third of a fresh turn (docs/PERFORMANCE.md). A host
// import's `constructor` is that global's `Function`: this script uses them
// there while the module loads, inside the build's snapshot, so fresh
// instances start with them made. Where the glue shares the bot's global,
// it only warms that one.
const WARM_INITIALIZER_GLOBAL = `
  for (const name of ['Object', 'Function', 'Array', 'Boolean', 'Symbol', 'Number', 'String',
    'BigInt', 'Math', 'JSON', 'Reflect', 'Proxy', 'Promise', 'Error', 'TypeError', 'RangeError',
    'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'AggregateError', 'ArrayBuffer',
    'SharedArrayBuffer', 'DataView', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray',
    'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array',
    'BigInt64Array', 'BigUint64Array', 'Map', 'Set', 'WeakMap', 'WeakSet', 'WeakRef',
    'FinalizationRegistry', 'Date', 'RegExp', 'Intl', 'Atomics', 'TextEncoder', 'TextDecoder']) {
    const c = globalThis[name];
    if (c && c.prototype) Object.getOwnPropertyNames(c.prototype);
  }
  void new Error('warm').stack;
  for (const _ of [1]) {}
  for (const _ of new Map([[1, 1]])) {}
  for (const _ of 'a') {}
  new DataView(new ArrayBuffer(8)).setInt8(0, 0, true);
  (async () => { await null; for (const _ of [1]) {} })();
  (function* () { yield 1; })().next();
  if (typeof TextEncoder === 'function') new TextDecoder().decode(new TextEncoder().encode('x'));
`;
try {
  new logging.log.constructor(WARM_INITIALIZER_GLOBAL)();
} catch {
  // Nothing to warm (another build of the glue): fresh turns are slower.
}

// The modelled fields of each WIT record; anything else travels in `extra`.
const ACCOUNT = ['id', 'name', 'aadObjectId', 'role'];
const CONVERSATION = ['id', 'name', 'isGroup', 'conversationType', 'tenantId'];
const ATTACHMENT = ['contentType', 'contentUrl', 'content', 'name', 'thumbnailUrl'];
const ACTIVITY = [
  'type', 'id', 'timestamp', 'localTimestamp', 'localTimezone', 'channelId', 'serviceUrl',
  'from', 'recipient', 'conversation', 'replyToId', 'text', 'textFormat', 'speak', 'locale',
  'inputHint', 'summary', 'attachmentLayout', 'attachments', 'suggestedActions', 'entities',
  'channelData', 'membersAdded', 'membersRemoved', 'action', 'name', 'value', 'valueType',
  'relatesTo', 'deliveryMode', 'code', 'expiration', 'importance',
];
// Activity fields that are JSON text in the WIT record.
const JSON_FIELDS = ['suggestedActions', 'entities', 'channelData', 'value', 'relatesTo'];
const ACCOUNT_FIELDS = ['from', 'recipient'];
const ACCOUNT_LISTS = ['membersAdded', 'membersRemoved'];

const present = (v) => v !== undefined && v !== null;

/** A WIT record to plain JSON: its present fields, `extra` spread in.
 * `fields` lists the record's fields, `convert` maps some to converters.
 * Indexed loops over the field lists and plain objects of converters:
 * the engine interprets this for every record, and this form cost
 * StarlingMonkey about a quarter of what `Object.keys`, `for…of` and `Map`
 * lookups did (docs/PERFORMANCE.md). Turns no longer read their activity
 * through it (`activity-json`); `activityToJson` stays for bots that hold
 * WIT activity records. */
function recordToJson(record, fields, convert) {
  const out = {};
  for (let i = 0; i < fields.length; i++) {
    const key = fields[i];
    const v = record[key];
    if (v === undefined || v === null) continue;
    const f = convert === undefined ? undefined : convert[key];
    out[key] = f === undefined ? v : f(v);
  }
  const extra = record.extra;
  if (extra !== undefined && extra !== null && extra !== '{}') Object.assign(out, JSON.parse(extra));
  return out;
}

/** Plain JSON to a WIT record: known fields, the rest as `extra` text. */
function recordFromJson(json, known, convert, extraRequired = false) {
  const out = {};
  let extra;
  const keys = Object.keys(json);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const v = json[key];
    if (v === undefined || v === null) continue;
    if (known.has(key)) {
      const f = convert === undefined ? undefined : convert[key];
      out[key] = f === undefined ? v : f(v);
    } else {
      (extra ??= {})[key] = v;
    }
  }
  if (extra) out.extra = JSON.stringify(extra);
  else if (extraRequired) out.extra = '{}';
  return out;
}

// The modelled fields as sets (for JSON's keys), and the converters.
const ACCOUNT_SET = new Set(ACCOUNT);
const CONVERSATION_SET = new Set(CONVERSATION);
const ATTACHMENT_SET = new Set(ATTACHMENT);
const ACTIVITY_SET = new Set(ACTIVITY);
const parsed = (text) => JSON.parse(text);
const text = (v) => (typeof v === 'string' ? v : JSON.stringify(v));
const ATTACHMENT_TO_JSON = { __proto__: null, content: parsed };
const ATTACHMENT_FROM_JSON = { __proto__: null, content: text };
const accountToJson = (a) => recordToJson(a, ACCOUNT);
const accountFromJson = (a) => recordFromJson(a, ACCOUNT_SET);
const mapList = (list, f) => {
  const out = new Array(list.length);
  for (let i = 0; i < list.length; i++) out[i] = f(list[i]);
  return out;
};
const TO_JSON = { __proto__: null };
const FROM_JSON = { __proto__: null };
TO_JSON.conversation = (c) => recordToJson(c, CONVERSATION);
FROM_JSON.conversation = (c) => recordFromJson(c, CONVERSATION_SET);
TO_JSON.attachments = (list) => mapList(list, (a) => recordToJson(a, ATTACHMENT, ATTACHMENT_TO_JSON));
FROM_JSON.attachments = (list) => mapList(list, (a) => recordFromJson(a, ATTACHMENT_SET, ATTACHMENT_FROM_JSON));
for (const key of JSON_FIELDS) {
  TO_JSON[key] = parsed;
  FROM_JSON[key] = (v) => JSON.stringify(v);
}
for (const key of ACCOUNT_FIELDS) {
  TO_JSON[key] = accountToJson;
  FROM_JSON[key] = accountFromJson;
}
for (const key of ACCOUNT_LISTS) {
  TO_JSON[key] = (list) => mapList(list, accountToJson);
  FROM_JSON[key] = (list) => mapList(list, accountFromJson);
}

/** The incoming WIT activity as Bot Framework JSON. */
export function activityToJson(wit) {
  return recordToJson(wit, ACTIVITY, TO_JSON);
}

/** Bot Framework JSON (or a string: a text message) as a WIT activity. */
export function activityFromJson(activity) {
  const json = typeof activity === 'string' ? { type: 'message', text: activity } : activity;
  const wit = recordFromJson(json, ACTIVITY_SET, FROM_JSON, true);
  if (!present(wit.type)) wit.type = 'message';
  return wit;
}

/** An activity to send (Bot Framework JSON, or a string: a text message) as
 * the JSON text `send-json` and `update-json` take: no type means a
 * message, as in `activityFromJson`. */
function activityText(activity) {
  if (typeof activity === 'string') return JSON.stringify({ type: 'message', text: activity });
  return JSON.stringify(present(activity.type) ? activity : { ...activity, type: 'message' });
}

/** A failed host call: `code` as in the WIT `call-error`. */
export class TurnboxError extends Error {
  constructor(code, message, status) {
    super(`${code}: ${message}`);
    this.code = code;
    this.status = status;
  }
}

/** Runs a host call; a WIT `err` becomes a thrown TurnboxError. */
export function call(f) {
  try {
    return f();
  } catch (e) {
    const p = e?.payload;
    if (p && typeof p.code === 'string') throw new TurnboxError(p.code, p.message, p.status);
    throw e;
  }
}

/** One turn: the incoming activity and the ways to answer it. */
export class TurnContext {
  constructor(raw) {
    this.raw = raw;
    // The activity as JSON text, parsed here: JSON.parse is native code,
    // while lifting the WIT record makes each of its ~35 fields a JS value
    // in the engine's glue, which costs QuickJS several times as much
    // (docs/PERFORMANCE.md). Sends go as JSON text for the same reason.
    this.activity = JSON.parse(raw.activityJson());
    /** Whether the bot has replied this turn (a trace does not count). */
    this.responded = false;
    /** The invoke answer set this turn (`setInvokeResponse`), if any. */
    this.invokeResponse = undefined;
  }

  /** Answers the turn's invoke with `{status, body}` from wherever the turn
   * is (botbuilder sends an `invokeResponse` activity): how a dialog such
   * as prompts.js's OAuthPrompt answers `signin/verifyState`. The last
   * answer set wins, also over what the onInvoke handler returns
   * (botbuilder's order). */
  setInvokeResponse(response) {
    this.invokeResponse = response;
  }

  /** Sends an activity, or a text message from a string; returns `{id}`. */
  sendActivity(activityOrText) {
    const sent = call(() => this.raw.sendJson(activityText(activityOrText)));
    if (typeof activityOrText === 'string' || activityOrText.type !== 'trace') this.responded = true;
    return sent;
  }

  sendActivities(activities) {
    return activities.map((a) => this.sendActivity(a));
  }

  /** Replaces an activity the bot sent; `activity.id` names it. */
  updateActivity(activity) {
    return call(() => this.raw.updateJson(activityText(activity)));
  }

  deleteActivity(activityId) {
    call(() => this.raw.delete(activityId));
  }

  /** Starts a conversation (`ConversationParameters`). */
  createConversation(parameters) {
    return call(() => this.raw.createConversation(JSON.stringify(parameters)));
  }

  sendToConversation(conversationId, activityOrText) {
    return call(() => this.raw.sendToConversation(conversationId, activityFromJson(activityOrText)));
  }
}

/** Makes outgoing message activities. */
export const MessageFactory = {
  text(text, speak, inputHint) {
    const a = { type: 'message', text };
    if (speak) a.speak = speak;
    if (inputHint) a.inputHint = inputHint;
    return a;
  },
  /** Actions are CardAction objects, or strings (imBack buttons). */
  suggestedActions(actions, text) {
    const a = { type: 'message', suggestedActions: { actions: CardFactory.actions(actions) } };
    if (text) a.text = text;
    return a;
  },
  attachment(attachment, text) {
    return MessageFactory.list([attachment], text);
  },
  list(attachments, text) {
    const a = { type: 'message', attachmentLayout: 'list', attachments };
    if (text) a.text = text;
    return a;
  },
  carousel(attachments, text) {
    return { ...MessageFactory.list(attachments, text), attachmentLayout: 'carousel' };
  },
  typing() {
    return { type: 'typing' };
  },
};

// Channels that render livestreamed replies, with their interval between
// text updates: Direct Line (Web Chat over Azure's Direct Line is `webchat`)
// and Teams, which allows about one update a second.
const STREAMING_CHANNELS = new Map([['directline', 500], ['webchat', 500], ['msteams', 1500]]);

const clock = () => (typeof performance === 'object' ? performance.now() : Date.now());

/** Livestreams one reply, as the Microsoft 365 Agents SDK's
 * `StreamingResponse` (and the Rust SDK's): `queueInformativeUpdate('Thinking…')`,
 * then `queueTextChunk(piece)` as the text arrives, then `endStream()`.
 *
 * On a streaming channel (Direct Line, Teams; never under `expectReplies`)
 * each update is a `typing` activity with `channelData` `{streamType:
 * 'informative' | 'streaming', streamSequence: 1, 2, …, streamId}`
 * (`streamId`, from the second update on, is the id the channel gave the
 * first) and the same fields in a Teams `streaminfo` entity; a streaming
 * update's text is the whole text so far. An informative update goes at
 * once, and so does the first text; then at most one text update per
 * `intervalMs` (500 ms on Direct Line, 1.5 s on Teams): text queued in
 * between goes with the next update, which a timer sends when the interval
 * is over (while an async handler awaits), or with the final message.
 * `endStream(extra)` sends the final `message` (`streamType: 'final'`, the
 * same `streamId`, the whole text); `extra` adds fields such as
 * `attachments` and `entities`, or a `text` that replaces the streamed one.
 *
 * On any other channel the SDK drops the interim updates itself and
 * `endStream` sends a plain message with the whole text. An update the
 * channel refuses is logged and the stream goes on. Needs a clock: build
 * with componentize-js's `clocks` feature (`-d stdio random fetch-event`). */
export class StreamingResponse {
  constructor(ctx, { intervalMs } = {}) {
    const channel = String(ctx.activity.channelId ?? '').toLowerCase();
    const expectReplies = String(ctx.activity.deliveryMode ?? '').toLowerCase() === 'expectreplies';
    this.ctx = ctx;
    this.isStreamingChannel = STREAMING_CHANNELS.has(channel) && !expectReplies;
    /** The least time between two text updates. */
    this.intervalMs = intervalMs ?? STREAMING_CHANNELS.get(channel) ?? 500;
    /** The text so far. */
    this.message = '';
    this.attachments = undefined;
    /** The id the channel gave the stream's first update. */
    this.streamId = undefined;
    /** The interim updates the channel accepted. */
    this.updatesSent = 0;
    this.sequence = 0;
    this.chunksSent = 0;
    this.lastSentAt = -Infinity;
    this.timer = undefined;
    this.ended = false;
  }

  /** Sends a status line ("Searching your documents…") at once; it is not
   * part of the message. */
  queueInformativeUpdate(text) {
    this.checkOpen();
    if (this.isStreamingChannel) this.sendUpdate('informative', text);
  }

  /** Adds `text` to the message; sends the whole so far unless an update
   * went out less than an interval ago. */
  queueTextChunk(text) {
    this.checkOpen();
    if (!text) return;
    this.message += text;
    if (!this.isStreamingChannel || this.timer !== undefined) return;
    const wait = this.lastSentAt + this.intervalMs - clock();
    if (this.chunksSent === 0 || wait <= 0) this.sendText();
    else if (typeof setTimeout === 'function') this.timer = setTimeout(() => this.sendText(), wait);
  }

  /** Attachments for the final message. */
  setAttachments(attachments) {
    this.attachments = attachments;
  }

  /** Ends the stream with the final message; returns its `{id}`, or
   * undefined when there was nothing at all to send. */
  endStream(extra = {}) {
    this.checkOpen();
    this.ended = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const text = extra.text ?? this.message;
    const attachments = extra.attachments ?? this.attachments;
    if (!this.streamId) {
      if (!text && !attachments?.length) return undefined;
      return this.ctx.sendActivity({ ...extra, type: 'message', text, attachments });
    }
    // Nothing to say after a started stream: a final `typing` withdraws it.
    const withdraw = !text && !attachments?.length;
    const final = { ...extra, type: withdraw ? 'typing' : 'message', text: text || undefined, attachments };
    return this.ctx.sendActivity(this.marked(final, { streamType: 'final' }));
  }

  checkOpen() {
    if (this.ended) throw new Error('the stream has ended');
  }

  sendText() {
    this.timer = undefined;
    if (this.ended) return;
    this.chunksSent += 1;
    this.sendUpdate('streaming', this.message);
  }

  /** Sends one interim update; a refusal is logged, not thrown. */
  sendUpdate(streamType, text) {
    this.sequence += 1;
    this.lastSentAt = clock();
    const update = this.marked({ type: 'typing', text }, { streamType, streamSequence: this.sequence });
    try {
      const { id } = this.ctx.sendActivity(update);
      this.updatesSent += 1;
      if (!this.streamId && id) this.streamId = id;
    } catch (e) {
      log('warn', `a stream update (${streamType}) was refused: ${e?.message ?? e}`);
    }
  }

  /** `activity` with the stream fields in channelData and, first among its
   * entities, a streaminfo entity. */
  marked(activity, fields) {
    const info = this.streamId ? { ...fields, streamId: this.streamId } : fields;
    return {
      ...activity,
      channelData: { ...activity.channelData, ...info },
      entities: [{ type: 'streaminfo', ...info }, ...(activity.entities ?? [])],
    };
  }
}

/** Makes cards and card actions. */
export const CardFactory = {
  contentTypes: {
    heroCard: 'application/vnd.microsoft.card.hero',
    adaptiveCard: 'application/vnd.microsoft.card.adaptive',
  },
  heroCard(title, text, images = [], buttons = [], other = {}) {
    const content = { ...other };
    if (title) content.title = title;
    if (text) content.text = text;
    if (images.length) content.images = images.map((url) => (typeof url === 'string' ? { url } : url));
    if (buttons.length) content.buttons = CardFactory.actions(buttons);
    return { contentType: CardFactory.contentTypes.heroCard, content };
  },
  adaptiveCard(card) {
    return { contentType: CardFactory.contentTypes.adaptiveCard, content: card };
  },
  actions(actions) {
    return actions.map((a) => (typeof a === 'string' ? { type: 'imBack', title: a, value: a } : a));
  },
};

/** Card actions: `CardAction.imBack('Red', 'red')`. */
export const CardAction = {
  imBack: (title, value) => ({ type: 'imBack', title, value }),
  postBack: (title, value) => ({ type: 'postBack', title, value }),
  openUrl: (title, value) => ({ type: 'openUrl', title, value }),
  messageBack: (title, text, displayText, value) => ({ type: 'messageBack', title, text, displayText, value }),
};

/** One JSON value in the bot's state, loaded on first use and saved when
 * the turn ends well. */
export class StatePropertyAccessor {
  constructor(scope, key) {
    this.scope = scope;
    this.key = key;
  }

  get(defaultValue) {
    const json = call(() => state.get(this.scope, this.key));
    return present(json) ? JSON.parse(json) : defaultValue;
  }

  set(value) {
    call(() => state.set(this.scope, this.key, JSON.stringify(value)));
  }

  delete() {
    call(() => state.delete(this.scope, this.key));
  }
}

/** A state scope, as botbuilder's ConversationState and UserState. */
export class BotState {
  constructor(scope) {
    this.scope = scope;
  }

  createProperty(key) {
    return new StatePropertyAccessor(this.scope, key);
  }
}

export const conversationState = new BotState('conversation');
export const userState = new BotState('user');
export const privateConversationState = new BotState('private-conversation');

/** Writes to the host log: level is trace, debug, info, warn or error. */
export function log(level, message) {
  logging.log(level, message);
}

/** The Bot Connector's member, history and attachment calls for the turn's
 * conversation, as botbuilder's `ConnectorClient.conversations` and
 * `.attachments`; the host makes them with the bot's token. */
export const connector = {
  getConversationMembers() {
    return call(() => hostConnector.getConversationMembers()).map(accountToJson);
  },
  /** One page: `{members, continuationToken}` (no token on the last page). */
  getConversationPagedMembers(pageSize, continuationToken) {
    const page = call(() => hostConnector.getPagedMembers(pageSize ?? undefined, continuationToken ?? undefined));
    const out = { members: page.members.map(accountToJson) };
    if (present(page.continuationToken)) out.continuationToken = page.continuationToken;
    return out;
  },
  getConversationMember(memberId) {
    return accountToJson(call(() => hostConnector.getConversationMember(memberId)));
  },
  /** The members an activity went to; the incoming activity's by default. */
  getActivityMembers(activityId) {
    return call(() => hostConnector.getActivityMembers(activityId ?? undefined)).map(accountToJson);
  },
  deleteConversationMember(memberId) {
    call(() => hostConnector.deleteConversationMember(memberId));
  },
  /** Uploads past activities (`Transcript`): `{activities}` or an array. */
  sendConversationHistory(transcript) {
    const list = Array.isArray(transcript) ? transcript : transcript.activities;
    return call(() => hostConnector.sendConversationHistory(list.map(activityFromJson)));
  },
  /** `AttachmentData`: `{type, name, originalBase64 | original, thumbnailBase64 | thumbnail}`;
   * returns `{id}`. */
  uploadAttachment(data) {
    const bytes = (raw, b64) => (present(raw) ? Uint8Array.from(raw) : present(b64) ? base64Bytes(b64) : undefined);
    return call(() => hostConnector.uploadAttachment({
      type: data.type,
      name: data.name,
      original: bytes(data.original, data.originalBase64) ?? new Uint8Array(),
      thumbnail: bytes(data.thumbnail, data.thumbnailBase64),
    }));
  },
  /** `{name, type, views: [{viewId, size}]}`. */
  getAttachmentInfo(attachmentId) {
    const info = call(() => hostConnector.getAttachmentInfo(attachmentId));
    return {
      name: info.name,
      type: info.type,
      views: info.views.map((v) => (present(v.size) ? { viewId: v.viewId, size: Number(v.size) } : { viewId: v.viewId })),
    };
  },
  /** One view's bytes: `{contentType, body: Uint8Array}`. */
  getAttachment(attachmentId, viewId) {
    return call(() => hostConnector.getAttachment(attachmentId, viewId));
  },
};

/** Base64 text to bytes. */
function base64Bytes(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** A value from the `[config]` table of the bot's manifest. */
export function config(key) {
  return hostConfig.get(key) ?? undefined;
}

/** Durable timers: a timer fires an `event` named `name` with `value`. */
export const timers = {
  schedule(delayMs, name, value) {
    const json = present(value) ? JSON.stringify(value) : undefined;
    return call(() => hostTimers.schedule(BigInt(delayMs), name, json));
  },
  cancel(timerId) {
    return call(() => hostTimers.cancel(timerId));
  },
};

function isPromise(value) {
  return value !== null && typeof value === 'object' && typeof value.then === 'function';
}

/** Runs `steps` (functions) in order. A step that returns a promise makes
 * the rest wait for it, and a promise of the whole is returned; all
 * synchronous, nothing is. */
function sequence(steps, from = 0) {
  for (let i = from; i < steps.length; i++) {
    const result = steps[i]();
    if (isPromise(result)) return result.then(() => sequence(steps, i + 1));
  }
  return undefined;
}

/** A handler's `{status, body}` as the WIT `invoke-response` (the body as
 * JSON text); undefined for none. */
function witInvokeResponse(r) {
  return present(r)
    ? { status: r.status ?? 200, body: present(r.body) ? JSON.stringify(r.body) : undefined }
    : undefined;
}

/** A bot: register handlers for the activities it handles, then export
 * `bot.handler()` as `handler`. Handlers of one kind run in the order they
 * were registered. */
export class ActivityHandler {
  constructor() {
    this.handlers = {};
  }

  on(kind, handler) {
    (this.handlers[kind] ??= []).push(handler);
    return this;
  }

  /** Runs the handlers of `kind` in order; when one is async (returns a
   * promise), the rest wait for it and a promise of them all is returned. */
  emit(kind, ...args) {
    return sequence((this.handlers[kind] ?? []).map((handler) => () => handler(...args)));
  }

  /** Every activity, before the handlers for its type: (ctx). */
  onTurn(handler) { return this.on('turn', handler); }
  /** (ctx) */
  onMessage(handler) { return this.on('message', handler); }
  /** (ctx), before onMembersAdded and onMembersRemoved. */
  onConversationUpdate(handler) { return this.on('conversationUpdate', handler); }
  /** (ctx, members): the members other than the bot. */
  onMembersAdded(handler) { return this.on('membersAdded', handler); }
  /** (ctx, members): the members other than the bot. */
  onMembersRemoved(handler) { return this.on('membersRemoved', handler); }
  /** (ctx), before onReactionsAdded and onReactionsRemoved. */
  onMessageReaction(handler) { return this.on('messageReaction', handler); }
  /** (ctx, reactions) */
  onReactionsAdded(handler) { return this.on('reactionsAdded', handler); }
  /** (ctx, reactions) */
  onReactionsRemoved(handler) { return this.on('reactionsRemoved', handler); }
  /** onEvent((ctx, name, value) => …) for every event, or
   * onEvent(name, (ctx, value) => …) for one name. */
  onEvent(nameOrHandler, handler) {
    if (typeof nameOrHandler === 'function') return this.on('event', nameOrHandler);
    return this.on(`event:${nameOrHandler}`, handler);
  }
  /** onInvoke(name, (ctx, value) => response) answers one invoke name;
   * onInvoke((ctx, name, value) => response) the others. A response is
   * `{status, body}`; none makes the host answer 501. */
  onInvoke(nameOrHandler, handler) {
    if (typeof nameOrHandler === 'function') return this.on('invoke', nameOrHandler);
    return this.on(`invoke:${nameOrHandler}`, handler);
  }
  /** (ctx) */
  onEndOfConversation(handler) { return this.on('endOfConversation', handler); }
  /** (ctx) */
  onTyping(handler) { return this.on('typing', handler); }
  /** (ctx) */
  onInstallationUpdate(handler) { return this.on('installationUpdate', handler); }
  /** (ctx): any other activity type. */
  onUnrecognizedActivityType(handler) { return this.on('unrecognized', handler); }

  /** Runs one turn; returns the invoke response, if any (a promise of it
   * when a handler is async). */
  run(ctx) {
    const a = ctx.activity;
    const steps = [() => this.emit('turn', ctx)];
    const then = (kind, ...args) => steps.push(() => this.emit(kind, ...args));
    switch (a.type) {
      case 'message':
        then('message', ctx);
        break;
      case 'conversationUpdate': {
        then('conversationUpdate', ctx);
        const others = (list) => (list ?? []).filter((m) => m.id !== a.recipient?.id);
        const added = others(a.membersAdded);
        if (added.length) then('membersAdded', ctx, added);
        const removed = others(a.membersRemoved);
        if (removed.length) then('membersRemoved', ctx, removed);
        break;
      }
      case 'messageReaction':
        then('messageReaction', ctx);
        if (a.reactionsAdded?.length) then('reactionsAdded', ctx, a.reactionsAdded);
        if (a.reactionsRemoved?.length) then('reactionsRemoved', ctx, a.reactionsRemoved);
        break;
      case 'event':
        then(`event:${a.name}`, ctx, a.value);
        then('event', ctx, a.name, a.value);
        break;
      case 'invoke': {
        let response;
        steps.push(() => {
          const r = this.invoke(ctx, a.name, a.value);
          if (isPromise(r)) return r.then((v) => { response = v; });
          response = r;
          return undefined;
        });
        // An answer set on the context wins over the handler's.
        const answer = () => (present(ctx.invokeResponse) ? witInvokeResponse(ctx.invokeResponse) : response);
        const done = sequence(steps);
        return isPromise(done) ? done.then(answer) : answer();
      }
      case 'endOfConversation':
      case 'typing':
      case 'installationUpdate':
        then(a.type, ctx);
        break;
      default:
        then('unrecognized', ctx);
    }
    return sequence(steps);
  }

  invoke(ctx, name, value) {
    const named = this.handlers[`invoke:${name}`];
    const response = named
      ? named[0](ctx, value)
      : this.handlers.invoke?.[0]?.(ctx, name, value);
    return isPromise(response) ? response.then(witInvokeResponse) : witInvokeResponse(response);
  }

  /** The `handler` export of the bot world. */
  handler() {
    return {
      onTurn: (raw) => {
        // A WIT `bot-error`: the turn fails and the caller gets 500.
        const fail = (e) => {
          throw { code: e?.code ?? 'BotError', message: String(e?.message ?? e) };
        };
        try {
          const result = this.run(new TurnContext(raw));
          // An async handler: componentize-js runs the event loop (fetch,
          // timers) until the promise settles.
          return isPromise(result) ? result.catch(fail) : result;
        } catch (e) {
          return fail(e);
        }
      },
    };
  }
}

/** A `handler` export (`{onTurn}`) as the bot-owned world's `owned-handler`:
 * the turn's context is the guest's there, and is dropped once the turn is
 * done. componentize-qjs builds use it (docs/LANGUAGES.md): its runtime keeps
 * a lent context until after the call, which the component model refuses;
 * `guest-examples/build.sh`'s `qjs_bot` exports `asOwnedHandler(handler)`
 * from the bot's own `handler`. Its synchronous runtime (`--sync`) cannot
 * wait for a promise, so an async handler fails its turn with
 * `AsyncHandlerUnsupported`. */
export function asOwnedHandler(handler) {
  return {
    onTurn: (ctx) => {
      let result;
      try {
        result = handler.onTurn(ctx);
      } finally {
        ctx[Symbol.dispose]?.();
      }
      // componentize-qjs's synchronous runtime cannot wait for a promise:
      // say so instead of trapping on it.
      if (isPromise(result)) {
        throw {
          code: 'AsyncHandlerUnsupported',
          message: 'this QuickJS build runs synchronous handlers only, and a handler returned a promise: '
            + 'build async bots (await, fetch, dialogs) with componentize-js (docs/LANGUAGES.md)',
        };
      }
      return result;
    },
  };
}

// turnbox guest SDK for JavaScript: choices, as botbuilder-dialogs'
// `choices` module — ListStyle, ChoiceFactory (how a list of choices is
// shown) and recognizeChoices (which choice a reply names: by value, title
// or synonym, or by its number, case-insensitive).

import { CardFactory, MessageFactory } from './turnbox.js';
import { recognizeNumber } from './recognizers.js';

/** How a prompt shows its choices (botbuilder's numbering). */
export const ListStyle = Object.freeze({
  /** Not at all: the prompt's text alone. */
  none: 0,
  /** Suggested actions where the channel has them, else inline or a list. */
  auto: 1,
  /** "text (1) red, (2) green, or (3) blue". */
  inline: 2,
  /** One numbered line per choice. */
  list: 3,
  /** Suggested actions (imBack buttons). */
  suggestedAction: 4,
  /** A hero card with a button per choice. */
  heroCard: 5,
});

/** The longest action title a channel shows in full. */
const MAX_ACTION_TITLE = 20;

/** How many suggested actions a channel shows (0: none), as botbuilder's
 * `Channel.supportsSuggestedActions`. */
function suggestedActionLimit(channelId) {
  switch (String(channelId ?? '').toLowerCase()) {
    case 'facebook': case 'skype': return 10;
    case 'line': return 13;
    case 'kik': return 20;
    case 'telegram': case 'emulator': case 'directline': case 'directlinespeech': case 'webchat': return 100;
    default: return 0;
  }
}

/** How many card buttons a channel shows (0: none), as botbuilder's
 * `Channel.supportsCardActions`. */
function cardActionLimit(channelId) {
  switch (String(channelId ?? '').toLowerCase()) {
    case 'facebook': case 'skype': return 3;
    case 'msteams': return 50;
    case 'line': return 99;
    case 'slack': case 'telegram': case 'emulator': case 'directline': case 'directlinespeech': case 'webchat':
      return 100;
    default: return 0;
  }
}

/** Choices from strings or Choice objects (`{value, action, synonyms}`). */
export function toChoices(choices) {
  if (!Array.isArray(choices)) return [];
  return choices
    .map((c) => (typeof c === 'string' ? { value: c } : c))
    .filter((c) => c && typeof c.value === 'string');
}

const titleOf = (choice) => choice.action?.title ?? choice.value;

/** Makes the activity that shows a prompt's choices. */
export const ChoiceFactory = {
  /** The style that suits the channel, as botbuilder's `forChannel`. */
  forChannel(channelId, choices, text, speak, options = {}) {
    const list = toChoices(choices);
    const longTitles = list.some((c) => titleOf(c).length > MAX_ACTION_TITLE);
    if (!longTitles && list.length <= suggestedActionLimit(channelId)) {
      return ChoiceFactory.suggestedAction(list, text, speak);
    }
    if (!longTitles && list.length <= cardActionLimit(channelId)) return ChoiceFactory.heroCard(list, text, speak);
    if (!longTitles && list.length <= 3) return ChoiceFactory.inline(list, text, speak, options);
    return ChoiceFactory.list(list, text, speak, options);
  },

  /** "text (1) red, (2) green, or (3) blue". Options: `inlineSeparator`,
   * `inlineOr`, `inlineOrMore`, `includeNumbers`. */
  inline(choices, text, speak, options = {}) {
    const o = { inlineSeparator: ', ', inlineOr: ' or ', inlineOrMore: ', or ', includeNumbers: true, ...options };
    const list = toChoices(choices);
    let out = `${text ?? ''} `;
    let connector = '';
    list.forEach((choice, index) => {
      out += connector + (o.includeNumbers ? `(${index + 1}) ` : '') + titleOf(choice);
      if (index === list.length - 2) connector = index === 0 ? o.inlineOr : o.inlineOrMore;
      else connector = o.inlineSeparator;
    });
    return ChoiceFactory.withSpeak(MessageFactory.text(out.trim()), speak);
  },

  /** text, then one line per choice: "   1. red" (or "   - red"). */
  list(choices, text, speak, options = {}) {
    const includeNumbers = options.includeNumbers ?? true;
    const lines = toChoices(choices).map((c, i) => `   ${includeNumbers ? `${i + 1}.` : '-'} ${titleOf(c)}`);
    return ChoiceFactory.withSpeak(MessageFactory.text(`${text ?? ''}\n\n${lines.join('\n')}`), speak);
  },

  /** text with a suggested action (imBack) per choice. */
  suggestedAction(choices, text, speak) {
    return ChoiceFactory.withSpeak(MessageFactory.suggestedActions(ChoiceFactory.toActions(choices), text), speak);
  },

  /** A hero card with text and a button (imBack) per choice. */
  heroCard(choices, text, speak) {
    const card = CardFactory.heroCard(undefined, text, [], ChoiceFactory.toActions(choices));
    return ChoiceFactory.withSpeak(MessageFactory.attachment(card), speak);
  },

  /** The choices as card actions: a choice's own `action`, or imBack. */
  toActions(choices) {
    return toChoices(choices).map((c) => c.action ?? { type: 'imBack', title: c.value, value: c.value });
  },

  withSpeak(activity, speak) {
    if (speak) activity.speak = speak;
    return activity;
  },
};

/** Lower-case words, any script: the text split at spaces and
 * punctuation (componentize-js's engine has no Unicode property escapes). */
function tokens(text) {
  return String(text ?? '').toLowerCase().split(WORD_BREAK).filter(Boolean);
}

/** Where `phrase` occurs in `words` as a run, or -1. */
function findRun(words, phrase) {
  if (!phrase.length) return -1;
  for (let start = 0; start + phrase.length <= words.length; start++) {
    if (phrase.every((w, i) => words[start + i] === w)) return start;
  }
  return -1;
}

export const WORD_BREAK = /[\s.,;:!?¿¡'"`()[\]{}<>/\\*&^%$#@~|+=_\u2013\u2014\u2018\u2019\u201c\u201d-]+/;

const ORDINALS = ['first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth'];

/** Which choice `utterance` names: `{value, index, score, synonym}`
 * (botbuilder's FoundChoice), or undefined. A choice's value, its action's
 * title or a synonym, found as whole words anywhere in the utterance
 * (case-insensitive; the longest match wins, then the earliest), else the
 * choice's number ("2", "the second" in English). */
export function recognizeChoices(utterance, choices, locale, options = {}) {
  const list = toChoices(choices);
  const words = tokens(utterance);
  let best;
  list.forEach((choice, index) => {
    const phrases = [choice.value, choice.action?.title, ...(choice.synonyms ?? [])];
    for (const phrase of phrases) {
      if (typeof phrase !== 'string') continue;
      const run = tokens(phrase);
      const at = findRun(words, run);
      if (at < 0) continue;
      if (!best || run.length > best.length || (run.length === best.length && at < best.at)) {
        best = { at, length: run.length, found: { value: choice.value, index, score: run.length / words.length, synonym: phrase } };
      }
    }
  });
  if (best) return best.found;
  if (options.recognizeNumbers === false) return undefined;
  const ordinal = ORDINALS.findIndex((o) => words.includes(o));
  const number = ordinal >= 0 ? ordinal + 1 : recognizeNumber(utterance, locale);
  if (Number.isInteger(number) && number >= 1 && number <= list.length) {
    return { value: list[number - 1].value, index: number - 1, score: 1, synonym: String(utterance).trim() };
  }
  return undefined;
}

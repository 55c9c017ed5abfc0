// turnbox guest SDK for JavaScript: prompts, in botbuilder-dialogs' shape —
// TextPrompt, NumberPrompt, ConfirmPrompt, ChoicePrompt, DateTimePrompt,
// AttachmentPrompt and OAuthPrompt, each with `prompt`, `retryPrompt` and a
// validator.
//
//   dialogs.add(new NumberPrompt('age', async (pc) => pc.recognized.succeeded && pc.recognized.value >= 0));
//   return step.prompt('age', { prompt: 'How old are you?', retryPrompt: 'A number, please.' });
//
// A prompt's state (its options, the attempt count) is in its dialog
// instance, in the dialog stack in conversation state. OAuthPrompt, the
// sign-in prompt as a dialog, is here too (its card and recognition are
// oauth.js's).

import { MessageFactory } from './turnbox.js';
import { Dialog } from './dialogs.js';
import {
  UserTokenClient, oauthPromptSettings, recognizeToken, sendOAuthCard,
} from './oauth.js';
import { ChoiceFactory, ListStyle, recognizeChoices, toChoices } from './choices.js';
import {
  CONFIRM_CHOICES, language, recognizeBoolean, recognizeDateTime, recognizeNumber,
} from './recognizers.js';

/** A string or an activity as a message activity (a copy). */
function asActivity(promptOrText) {
  if (promptOrText === undefined || promptOrText === null) return undefined;
  if (typeof promptOrText === 'string') return MessageFactory.text(promptOrText);
  return { type: 'message', ...promptOrText };
}

/** The base of every prompt. A validator `(promptContext) => boolean`
 * (or a promise of one) gets `{context, recognized: {succeeded, value},
 * options, state, attemptCount}`; without one a prompt accepts what it
 * recognised. On a failed attempt the prompt sends `retryPrompt` (else
 * `prompt` again) unless the validator already replied. */
export class Prompt extends Dialog {
  /** @param {string} dialogId @param {Function} [validator] */
  constructor(dialogId, validator) {
    super(dialogId);
    if (validator !== undefined && typeof validator !== 'function') {
      throw new TypeError(`${this.constructor.name} '${dialogId}': the validator must be a function`);
    }
    this.validator = validator;
  }

  async beginDialog(dc, options = {}) {
    if (!options || typeof options !== 'object') throw new TypeError(`${this.constructor.name}: prompt options must be an object`);
    const state = dc.activeDialog.state;
    state.options = options;
    state.state = { attemptCount: 0 };
    await this.onPrompt(dc.context, state.state, state.options, false);
    return Dialog.EndOfTurn;
  }

  async continueDialog(dc) {
    if (dc.context.activity.type !== 'message') return Dialog.EndOfTurn;
    const { state, options } = dc.activeDialog.state;
    const recognized = await this.onRecognize(dc.context, state, options);
    state.attemptCount = (state.attemptCount ?? 0) + 1;
    let valid = recognized.succeeded;
    if (this.validator) {
      valid = Boolean(await this.validator({
        context: dc.context, recognized, options, state, attemptCount: state.attemptCount,
      }));
    }
    if (valid) return dc.endDialog(recognized.value);
    if (!dc.context.responded) await this.onPrompt(dc.context, state, options, true);
    return Dialog.EndOfTurn;
  }

  async resumeDialog(dc) {
    await this.repromptDialog(dc.context, dc.activeDialog);
    return Dialog.EndOfTurn;
  }

  async repromptDialog(context, instance) {
    const { state, options } = instance.state;
    await this.onPrompt(context, state, options, false);
  }

  /** Sends the prompt (or, on a retry, the retry prompt). */
  async onPrompt(context, state, options, isRetry) {
    const activity = asActivity(isRetry && options.retryPrompt ? options.retryPrompt : options.prompt);
    if (activity) context.sendActivity({ inputHint: 'expectingInput', ...activity });
  }

  /** What the user's message means: `{succeeded, value}`. @abstract */
  // eslint-disable-next-line no-unused-vars
  async onRecognize(context, state, options) {
    return { succeeded: false };
  }

  /** `prompt` with `choices` shown in `style`, as botbuilder's appendChoices. */
  appendChoices(prompt, channelId, choices, style, choiceOptions) {
    const base = asActivity(prompt) ?? { type: 'message' };
    const text = base.text ?? '';
    let shown;
    switch (style) {
      case ListStyle.inline: shown = ChoiceFactory.inline(choices, text, undefined, choiceOptions); break;
      case ListStyle.list: shown = ChoiceFactory.list(choices, text, undefined, choiceOptions); break;
      case ListStyle.suggestedAction: shown = ChoiceFactory.suggestedAction(choices, text); break;
      case ListStyle.heroCard: shown = ChoiceFactory.heroCard(choices, text); break;
      case ListStyle.none: shown = MessageFactory.text(text); break;
      default: shown = ChoiceFactory.forChannel(channelId, choices, text, undefined, choiceOptions);
    }
    const out = { ...base, text: shown.text };
    if (shown.suggestedActions) out.suggestedActions = shown.suggestedActions;
    if (shown.attachments) {
      out.attachments = [...(base.attachments ?? []), ...shown.attachments];
      if (style === ListStyle.heroCard) delete out.text;
    }
    return out;
  }
}

/** The prompt's locale: the activity's, else the prompt's default, else en-US. */
function localeOf(context, defaultLocale) {
  return context.activity.locale || defaultLocale || 'en-US';
}

/** Any text. */
export class TextPrompt extends Prompt {
  async onRecognize(context) {
    const { text } = context.activity;
    return typeof text === 'string' ? { succeeded: true, value: text } : { succeeded: false };
  }
}

/** A number, read in the activity's locale ("1,234.5" in en-US, "1.234,5"
 * in de-DE); the value is a JavaScript number. */
export class NumberPrompt extends Prompt {
  constructor(dialogId, validator, defaultLocale) {
    super(dialogId, validator);
    this.defaultLocale = defaultLocale;
  }

  async onRecognize(context) {
    const value = recognizeNumber(context.activity.text, localeOf(context, this.defaultLocale));
    return value === undefined || Number.isNaN(value) ? { succeeded: false } : { succeeded: true, value };
  }
}

/** Choices picked by number, value, title or synonym; the value is
 * `{value, index, score, synonym}`. `style` (a ListStyle, default auto)
 * and `choiceOptions` say how the choices are shown; options may override
 * both. */
export class ChoicePrompt extends Prompt {
  constructor(dialogId, validator, defaultLocale) {
    super(dialogId, validator);
    this.defaultLocale = defaultLocale;
    this.style = ListStyle.auto;
    this.choiceOptions = undefined;
    this.recognizerOptions = undefined;
  }

  async onPrompt(context, state, options, isRetry) {
    const choices = toChoices(options.choices);
    const style = options.style ?? this.style;
    const source = isRetry && options.retryPrompt ? options.retryPrompt : options.prompt;
    const activity = this.appendChoices(source, context.activity.channelId, choices, style, this.choiceOptions);
    context.sendActivity({ inputHint: 'expectingInput', ...activity });
  }

  async onRecognize(context, state, options) {
    const { text } = context.activity;
    if (typeof text !== 'string') return { succeeded: false };
    const found = recognizeChoices(text, options.choices, localeOf(context, this.defaultLocale), this.recognizerOptions);
    return found ? { succeeded: true, value: found } : { succeeded: false };
  }
}

/** Yes or no, in the activity's language (English, German, French,
 * Spanish, Portuguese, Italian, Dutch), or the number of the Yes/No
 * choice; the value is a boolean. The choices are shown in `style`
 * (default auto); `confirmChoices` replaces the locale's labels. */
export class ConfirmPrompt extends Prompt {
  constructor(dialogId, validator, defaultLocale) {
    super(dialogId, validator);
    this.defaultLocale = defaultLocale;
    this.style = ListStyle.auto;
    this.choiceOptions = { includeNumbers: true };
    this.confirmChoices = undefined;
  }

  choicesFor(context) {
    const labels = this.confirmChoices ?? CONFIRM_CHOICES[language(localeOf(context, this.defaultLocale))]
      ?? CONFIRM_CHOICES.en;
    return toChoices(labels);
  }

  async onPrompt(context, state, options, isRetry) {
    const style = options.style ?? this.style;
    const source = isRetry && options.retryPrompt ? options.retryPrompt : options.prompt;
    const activity = this.appendChoices(source, context.activity.channelId, this.choicesFor(context), style, this.choiceOptions);
    context.sendActivity({ inputHint: 'expectingInput', ...activity });
  }

  async onRecognize(context) {
    const { text } = context.activity;
    if (typeof text !== 'string') return { succeeded: false };
    const locale = localeOf(context, this.defaultLocale);
    const value = recognizeBoolean(text, locale);
    if (value !== undefined) return { succeeded: true, value };
    // The choices themselves: "Yes"/"No" labels, or their numbers.
    const found = recognizeChoices(text, this.choicesFor(context), locale, {
      recognizeNumbers: this.choiceOptions?.includeNumbers !== false,
    });
    return found ? { succeeded: true, value: found.index === 0 } : { succeeded: false };
  }
}

/** Dates and times (the subset recognizers.js lists); the value is a list
 * of `{timex, value}` resolutions, as botbuilder's DateTimeResolution.
 * "today" is the user's day: the activity's localTimestamp, else its
 * timestamp, else the clock. */
export class DateTimePrompt extends Prompt {
  constructor(dialogId, validator, defaultLocale) {
    super(dialogId, validator);
    this.defaultLocale = defaultLocale;
  }

  async onRecognize(context) {
    const { text, localTimestamp, timestamp } = context.activity;
    if (typeof text !== 'string') return { succeeded: false };
    const values = recognizeDateTime(text, localTimestamp ?? timestamp);
    return values.length ? { succeeded: true, value: values } : { succeeded: false };
  }
}

/** One or more attachments; the value is the activity's attachments. */
export class AttachmentPrompt extends Prompt {
  async onRecognize(context) {
    const { attachments } = context.activity;
    return Array.isArray(attachments) && attachments.length
      ? { succeeded: true, value: attachments }
      : { succeeded: false };
  }
}

/** Whether `activity` is one the sign-in prompt recognises (a message, a
 * `tokens/response` event, a `signin/verifyState` or `signin/tokenExchange`
 * invoke): only these end a prompt that timed out. */
function isSignInAnswer(activity) {
  const { type, name } = activity;
  return type === 'message'
    || (type === 'event' && name === 'tokens/response')
    || (type === 'invoke' && (name === 'signin/verifyState' || name === 'signin/tokenExchange'));
}

/** botbuilder's OAuthPrompt as a dialog: signs the user in from a waterfall
 * step and ends with the user's `TokenResponse` (`{connectionName, token,
 * expiration, channelId}`), or with no result when it timed out (or, with
 * `endOnInvalidMessage`, when a message did not sign the user in). Settings
 * as oauth.js's `oauthPromptSettings`; `options.prompt` is the card
 * message (its text, or an activity), `options.retryPrompt` what an
 * invalid message gets. The validator sees the token as
 * `recognized.value`. Invokes reach it only when the bot passes them to
 * the stack too (`onInvoke`: `dc.continueDialog()`); their answer is set
 * on the context (`ctx.setInvokeResponse`), which the SDK returns. */
export class OAuthPrompt extends Dialog {
  /** @param {string} dialogId @param {object} settings @param {Function} [validator] */
  constructor(dialogId, settings, validator) {
    super(dialogId);
    if (validator !== undefined && typeof validator !== 'function') {
      throw new TypeError(`OAuthPrompt '${dialogId}': the validator must be a function`);
    }
    this.settings = oauthPromptSettings(settings);
    this.validator = validator;
  }

  /** Records the options, the attempt count and when the prompt stops
   * waiting; ends at once with the token when the user has one, else sends
   * the card and waits. */
  async beginDialog(dc, options = {}) {
    if (!options || typeof options !== 'object') throw new TypeError('OAuthPrompt: prompt options must be an object');
    const state = dc.activeDialog.state;
    state.options = options;
    state.state = { attemptCount: 0 };
    state.expires = Date.now() + this.settings.timeout;
    const token = this.getUserToken(dc.context);
    if (token) return dc.endDialog(token);
    sendOAuthCard(this.settings, dc.context, options.prompt);
    return Dialog.EndOfTurn;
  }

  /** Timed out: ends with no result. Else recognises the answer (and
   * answers an invoke), ends with the token when there is one (and the
   * validator accepts it); an invalid message ends the prompt with no
   * result under `endOnInvalidMessage`, else gets the retry prompt. */
  async continueDialog(dc) {
    const { context } = dc;
    const state = dc.activeDialog.state;
    const expired = !Number.isFinite(state.expires) || Date.now() > state.expires;
    if (isSignInAnswer(context.activity) && expired) return dc.endDialog();
    const options = state.options ?? {};
    const promptState = (state.state ??= { attemptCount: 0 });
    const { token, invokeResponse } = recognizeToken(this.settings, context);
    if (invokeResponse) context.setInvokeResponse(invokeResponse);
    const recognized = token ? { succeeded: true, value: token } : { succeeded: false };
    promptState.attemptCount = (promptState.attemptCount ?? 0) + 1;
    let valid = recognized.succeeded;
    if (this.validator) {
      valid = Boolean(await this.validator({
        context, recognized, options, state: promptState, attemptCount: promptState.attemptCount,
      }));
    }
    if (valid) return dc.endDialog(recognized.value);
    const isMessage = context.activity.type === 'message';
    if (isMessage && this.settings.endOnInvalidMessage) return dc.endDialog();
    const retry = asActivity(options.retryPrompt);
    if (isMessage && !context.responded && retry) context.sendActivity({ inputHint: 'acceptingInput', ...retry });
    return Dialog.EndOfTurn;
  }

  /** The user's token now, if signed in. */
  getUserToken(context) { // eslint-disable-line no-unused-vars
    return UserTokenClient.getUserToken(this.settings.connectionName);
  }

  /** Signs the user out of the prompt's connection. */
  signOutUser(context) { // eslint-disable-line no-unused-vars
    UserTokenClient.signOutUser(this.settings.connectionName);
  }
}

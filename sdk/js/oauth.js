// turnbox guest SDK for JavaScript, user sign-in: botbuilder's
// `UserTokenClient` over `turnbox:bot/user-token` (the host calls the Bot
// Framework Token Service for the turn's user on the turn's channel), the
// sign-in card and the recognition of what comes back (`sendOAuthCard`,
// `recognizeToken`: a 6-digit magic code, a `signin/verifyState` or
// `signin/tokenExchange` invoke, a `tokens/response` event), and an
// `OAuthPrompt` without dialogs built on them, as the Rust SDK's. The
// prompt as a dialog, for a DialogSet, is prompts.js's `OAuthPrompt`, built
// on the same two functions. The connections a bot names must be listed in
// its manifest (`[oauth] connections`). Staged beside turnbox.js; import it
// as './oauth.js':
//
//   const prompt = new OAuthPrompt({ connectionName: 'graph', title: 'Sign in' });
//   bot.onMessage((ctx) => {
//     const turn = prompt.continuePrompt(ctx);
//     if (turn.status === PromptStatus.SignedIn) ctx.sendActivity('Signed in');
//     else if (turn.status === PromptStatus.NotWaiting && ctx.activity.text === 'login') prompt.begin(ctx);
//   });
//   bot.onInvoke((ctx) => prompt.continuePrompt(ctx).invokeResponse);

import * as userToken from 'turnbox:bot/user-token@0.1.0';
import { MessageFactory, call, privateConversationState } from './turnbox.js';

const present = (v) => v !== undefined && v !== null;

/** `{...}` without its undefined and null fields. */
function compact(object) {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => present(v)));
}

/** The WIT `token-response` as botbuilder's `TokenResponse`
 * `{connectionName, token, expiration, channelId}`. */
function tokenResponse(raw) {
  return present(raw) ? compact({ ...raw }) : undefined;
}

/** The Token Service, for the turn's user on the turn's channel
 * (botbuilder's `UserTokenClient`). Failures throw a `TurnboxError` whose
 * `code` is the WIT `call-error` code (`ConnectionNotAllowed`,
 * `NotSupported`, `TokenServiceError`, `Unreachable`, …). */
export const UserTokenClient = {
  /** The user's `TokenResponse`, redeeming `magicCode` first when given;
   * undefined when the user is not signed in (or the code is wrong). */
  getUserToken(connectionName, magicCode) {
    return tokenResponse(call(() => userToken.getToken(connectionName, magicCode ?? undefined)));
  },

  /** `SignInResource {signInLink, tokenExchangeResource: {id, uri,
   * providerId}, tokenPostResource: {sasUrl}}` for a card. */
  getSignInResource(connectionName, finalRedirect) {
    const raw = call(() => userToken.getSignInResource(connectionName, finalRedirect ?? undefined));
    const resource = { signInLink: raw.signInLink };
    if (present(raw.tokenExchangeResource)) resource.tokenExchangeResource = compact({ ...raw.tokenExchangeResource });
    if (present(raw.tokenPostSasUrl)) resource.tokenPostResource = { sasUrl: raw.tokenPostSasUrl };
    return resource;
  },

  /** Signs the user out of `connectionName`, or, without one, of every
   * connection the manifest lists. */
  signOutUser(connectionName) {
    call(() => userToken.signOut(connectionName ?? undefined));
  },

  /** Exchanges a channel's SSO token (`{token}` or the token itself) for
   * the user's `TokenResponse`; undefined when the service cannot. */
  exchangeToken(connectionName, request) {
    const token = typeof request === 'string' ? request : request?.token;
    return tokenResponse(call(() => userToken.exchangeToken(connectionName, token ?? '')));
  },

  /** Entra ID tokens by resource URL: `{[url]: TokenResponse}`. */
  getAadTokens(connectionName, resourceUrls) {
    const pairs = call(() => userToken.getAadTokens(connectionName, resourceUrls));
    return Object.fromEntries(pairs.map(([url, token]) => [url, tokenResponse(token)]));
  },

  /** `[{connectionName, hasToken, serviceProviderDisplayName}]` for
   * `connectionNames`, or every connection the manifest lists. */
  getTokenStatus(connectionNames) {
    return call(() => userToken.getTokenStatus(connectionNames ?? undefined)).map((s) => compact({ ...s }));
  },
};

/** How long a prompt waits by default: 15 minutes, as botbuilder's. */
export const DEFAULT_TIMEOUT_MS = 15 * 60 * 1000;

/** Where a prompt stands after a turn. */
export const PromptStatus = Object.freeze({
  /** The user is signed in: the turn's `token`. */
  SignedIn: 'signedIn',
  /** The prompt waits for the user (the card is out). */
  Waiting: 'waiting',
  /** No prompt of this connection waits in this conversation. */
  NotWaiting: 'notWaiting',
  /** The prompt waited longer than its timeout and stopped waiting. */
  TimedOut: 'timedOut',
});

/** The first run of 6 digits in `text` (botbuilder's `/(\d{6})/`). */
export function magicCode(text) {
  return /[0-9]{6}/.exec(text ?? '')?.[0];
}

/** Whether the channel shows OAuthCards (botbuilder's
 * `channelSupportsOAuthCard`): all but Cortana, Skype and Skype for
 * Business, which get a SigninCard. */
export function channelSupportsOAuthCard(channelId) {
  return !['cortana', 'skype', 'skypeforbusiness'].includes(channelId);
}

const FAILED_EXCHANGE = 'The bot is unable to exchange token. Proceed with regular login.';

/** Settings as botbuilder's `OAuthPromptSettings`, defaults filled in:
 * `connectionName`, `title` (the button's, default 'Sign in'), `text`,
 * `timeout` (ms, default 15 minutes), `endOnInvalidMessage` (the dialog
 * only: a message that does not sign in ends it with no result). */
export function oauthPromptSettings(settings) {
  if (!settings?.connectionName) throw new TypeError('OAuthPrompt needs a connectionName');
  return { title: 'Sign in', timeout: DEFAULT_TIMEOUT_MS, endOnInvalidMessage: false, ...settings };
}

/** The OAuthCard, or a SigninCard where the channel has no OAuthCard.
 * The sign-in link is always on the button. */
function card(settings, channelId, resource) {
  const { connectionName, title, text } = settings;
  const buttons = [{ type: 'signin', title, value: resource.signInLink }];
  if (!channelSupportsOAuthCard(channelId)) {
    return { contentType: 'application/vnd.microsoft.card.signin', content: compact({ text, buttons }) };
  }
  const content = compact({
    text,
    connectionName,
    tokenExchangeResource: resource.tokenExchangeResource,
    tokenPostResource: resource.tokenPostResource,
    buttons,
  });
  return { contentType: 'application/vnd.microsoft.card.oauth', content };
}

/** Sends the sign-in card for `settings` (botbuilder's `sendOAuthCard`):
 * attached to `prompt` (a message activity, or its text) when given,
 * accepting input unless the prompt says otherwise. */
export function sendOAuthCard(settings, ctx, prompt) {
  const resource = UserTokenClient.getSignInResource(settings.connectionName);
  const attachment = card(settings, ctx.activity.channelId ?? '', resource);
  const message = prompt && typeof prompt === 'object'
    ? { type: 'message', ...prompt, attachments: [...(prompt.attachments ?? []), attachment] }
    : MessageFactory.attachment(attachment, prompt);
  message.inputHint ??= 'acceptingInput';
  ctx.sendActivity(message);
}

/** Recognises the user's answer to the card (botbuilder's
 * `recognizeToken`): a message with a 6-digit magic code,
 * `signin/verifyState` (200; 404 for a wrong or expired code; 500 when the
 * call failed), `signin/tokenExchange` (200; 412 when the token cannot be
 * exchanged; 400 for a bad request) or a `tokens/response` event (checked
 * with the Token Service, never trusted as sent). Returns `{token,
 * invokeResponse}`, either undefined. */
export function recognizeToken(settings, ctx) {
  const { connectionName } = settings;
  const a = ctx.activity;
  const value = a.value && typeof a.value === 'object' ? a.value : {};
  if (a.type === 'message') {
    const code = magicCode(a.text);
    return { token: code ? UserTokenClient.getUserToken(connectionName, code) : undefined };
  }
  if (a.type === 'invoke' && a.name === 'signin/verifyState') {
    const state = typeof value.state === 'string' ? value.state : undefined;
    try {
      const token = state ? UserTokenClient.getUserToken(connectionName, state) : undefined;
      return { token, invokeResponse: { status: token ? 200 : 404 } };
    } catch {
      return { invokeResponse: { status: 500 } };
    }
  }
  if (a.type === 'invoke' && a.name === 'signin/tokenExchange') return exchange(settings, value);
  if (a.type === 'event' && a.name === 'tokens/response') {
    return { token: UserTokenClient.getUserToken(connectionName) };
  }
  return {};
}

/** `signin/tokenExchange`, answered as botbuilder's prompt does. */
function exchange(settings, value) {
  const { connectionName } = settings;
  const field = (name) => (typeof value[name] === 'string' ? value[name] : '');
  if (!field('token')) {
    const body = 'The bot received an InvokeActivity that is missing a TokenExchangeInvokeRequest value.';
    return { invokeResponse: { status: 400, body } };
  }
  if (field('connectionName') !== connectionName) {
    const body = "The TokenExchangeInvokeRequest names another ConnectionName than the prompt's.";
    return { invokeResponse: { status: 400, body } };
  }
  const id = field('id');
  let token;
  try {
    token = UserTokenClient.exchangeToken(connectionName, field('token'));
  } catch {
    token = undefined;
  }
  if (token) return { token, invokeResponse: { status: 200, body: { id, connectionName } } };
  return { invokeResponse: { status: 412, body: { id, connectionName, failureDetail: FAILED_EXCHANGE } } };
}

/** botbuilder's `OAuthPrompt`, without dialogs (inside a DialogSet, use
 * prompts.js's `OAuthPrompt`). Settings: see `oauthPromptSettings`.
 * `begin(ctx)` signs the user in (at once when there is a token, else with
 * a card); `continuePrompt(ctx)` recognises the answer on the turns after
 * and returns `{status, token, invokeResponse}`: return `invokeResponse`
 * from `onInvoke`. */
export class OAuthPrompt {
  constructor(settings) {
    this.settings = oauthPromptSettings(settings);
    // The marker kept in private conversation state while the prompt
    // waits, saved with the turn: `{expires_at_ms}`, as the Rust SDK's.
    this.waiting = privateConversationState.createProperty(`turnbox.oauthPrompt.${this.settings.connectionName}`);
  }

  /** The user's token now (`code`: a magic code to redeem first). */
  getUserToken(ctx, code) {
    return UserTokenClient.getUserToken(this.settings.connectionName, code);
  }

  /** Starts signing in: `{status: SignedIn, token}` at once when the user
   * has a token; else sends the card, records that the prompt waits and
   * returns `{status: Waiting}`. */
  begin(ctx) {
    const token = this.getUserToken(ctx);
    if (token) {
      this.waiting.delete();
      return { status: PromptStatus.SignedIn, token };
    }
    sendOAuthCard(this.settings, ctx);
    this.waiting.set({ expires_at_ms: Date.now() + this.settings.timeout });
    return { status: PromptStatus.Waiting };
  }

  /** Recognises the user's answer while the prompt waits, as
   * `recognizeToken` does. Signed in or timed out, the prompt stops
   * waiting. */
  continuePrompt(ctx) {
    const waiting = this.waiting.get();
    if (!Number.isFinite(waiting?.expires_at_ms)) return { status: PromptStatus.NotWaiting };
    if (Date.now() > waiting.expires_at_ms) {
      this.waiting.delete();
      return { status: PromptStatus.TimedOut };
    }
    const { token, invokeResponse } = recognizeToken(this.settings, ctx);
    if (token) {
      this.waiting.delete();
      return { status: PromptStatus.SignedIn, token, invokeResponse };
    }
    return { status: PromptStatus.Waiting, invokeResponse };
  }

  /** Signs the user out of this prompt's connection, and stops waiting. */
  signOutUser() {
    this.waiting.delete();
    UserTokenClient.signOutUser(this.settings.connectionName);
  }
}

// signin-js: signin-rs's bot on the JavaScript SDK (oauth.js). It signs its
// users in through the Bot Framework Token Service (`[oauth] connections =
// ["graph"]` in its manifest): "login" signs the user in (at once when
// signed in already, else with an OAuthCard whose magic code, verifyState or
// SSO token exchange comes back on a later turn), "logout" signs out,
// "status" lists the connections, "aad URL" asks for a Microsoft Entra ID
// token for a resource, "token <connection>" asks for any
// connection (the manifest decides). It shows only a token's last four
// characters. "profile" signs in from a waterfall with the dialog form of the
// prompt instead (profile.js); while that dialog runs, every turn goes to
// it. tests/e2e/signin.rs and oauth_dialog.rs run it.

import { ActivityHandler } from './turnbox.js';
import { OAuthPrompt, PromptStatus, UserTokenClient } from './oauth.js';
import { beginProfile, continueProfile } from './profile.js';

/** The connection the bot signs users in with (its manifest lists it). */
const CONNECTION = 'graph';
const prompt = new OAuthPrompt({ connectionName: CONNECTION, title: 'Sign in' });

const signedIn = (ctx, token) => ctx.sendActivity(`You are signed in; your token ends in ${token.token.slice(-4)}`);

/** What the prompt recognised on this turn, said to the user. */
function afterPrompt(ctx, turn) {
  if (turn.status === PromptStatus.SignedIn) signedIn(ctx, turn.token);
  else if (turn.status === PromptStatus.TimedOut) ctx.sendActivity('The sign-in timed out; say "login" to try again.');
}

const bot = new ActivityHandler();

/** The commands, and the sign-in prompt without dialogs: "login" and what
 * answers it. */
function commands(ctx) {
  const text = (ctx.activity.text ?? '').trim().toLowerCase();
  if (text === 'login') {
    const turn = prompt.begin(ctx);
    if (turn.status === PromptStatus.SignedIn) signedIn(ctx, turn.token);
  } else if (text === 'logout') {
    prompt.signOutUser(ctx);
    ctx.sendActivity('You are signed out.');
  } else if (text === 'status') {
    const listed = UserTokenClient.getTokenStatus().map((s) => `${s.connectionName}=${s.hasToken}`);
    ctx.sendActivity(`status: ${listed.join(', ')}`);
  } else if (text.startsWith('aad ')) {
    // The URL as written: only the command is lower-cased.
    const url = (ctx.activity.text ?? '').trim().slice('aad '.length).trim();
    const tokens = UserTokenClient.getAadTokens('graph', [url]);
    const listed = Object.entries(tokens).map(([url, t]) => `${url} ends in ${t.token.slice(-4)}`);
    ctx.sendActivity(`aad: ${listed.length ? listed.join(', ') : 'none'}`);
  } else if (text.startsWith('token ')) {
    try {
      const token = UserTokenClient.getUserToken(text.slice('token '.length).trim());
      if (token) signedIn(ctx, token);
      else ctx.sendActivity('not signed in');
    } catch (e) {
      ctx.sendActivity(`error: ${e.code ?? e.message}`);
    }
  } else {
    const turn = prompt.continuePrompt(ctx);
    if (turn.status === PromptStatus.NotWaiting) ctx.sendActivity('Say "login" to sign in, "logout" to sign out.');
    else afterPrompt(ctx, turn);
  }
}

/** The profile commands and the sign-in prompt each begins with. */
const PROFILES = new Map([['profile', 'oauth'], ['profile quick', 'oauth-quick'], ['profile strict', 'oauth-strict']]);

bot.onMessage(async (ctx) => {
  if (await continueProfile(ctx)) return;
  const profile = PROFILES.get((ctx.activity.text ?? '').trim().toLowerCase());
  if (profile) await beginProfile(ctx, profile);
  else commands(ctx);
});

bot.onEvent(async (ctx) => {
  if (await continueProfile(ctx)) return;
  afterPrompt(ctx, prompt.continuePrompt(ctx));
});

// The dialog's answer is set on the context.
bot.onInvoke(async (ctx) => {
  if (await continueProfile(ctx)) return undefined;
  const turn = prompt.continuePrompt(ctx);
  afterPrompt(ctx, turn);
  return turn.invokeResponse;
});

export const handler = bot.handler();

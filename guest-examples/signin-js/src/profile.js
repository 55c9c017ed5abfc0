// The profile dialog of signin-js, as signin-rs's profile.rs: signing in
// from a waterfall with prompts.js's OAuthPrompt. "profile" begins it: the
// prompt sends the card (a magic code, `signin/verifyState` or
// `signin/tokenExchange` answers it; another message gets the retry
// prompt), then the bot says whose token it got and asks "Show your
// token?"; yes begins the prompt again, which ends at once with the token,
// and the bot shows its tail and expiry. "profile quick" signs in with a
// prompt that waits one second, "profile strict" with one that ends on a
// message that does not sign in. "logout" while the dialog runs signs out
// through the prompt and cancels the dialog.

import { conversationState } from './turnbox.js';
import { DialogSet, WaterfallDialog } from './dialogs.js';
import { ConfirmPrompt, OAuthPrompt } from './prompts.js';
import { ListStyle } from './choices.js';

const SIGN_IN = { connectionName: 'graph', title: 'Sign in' };

const tail = (token) => token.slice(-4);

const oauth = new OAuthPrompt('oauth', SIGN_IN);
const confirm = new ConfirmPrompt('confirm');
confirm.style = ListStyle.none;

const dialogs = new DialogSet(conversationState.createProperty('dialogState'))
  .add(oauth)
  .add(new OAuthPrompt('oauth-quick', { ...SIGN_IN, timeout: 1000 }))
  .add(new OAuthPrompt('oauth-strict', { ...SIGN_IN, endOnInvalidMessage: true }))
  .add(confirm)
  .add(new WaterfallDialog('profile', [
    // Signs in with the prompt the options name.
    async (step) => step.prompt(step.options.prompt ?? 'oauth', {
      prompt: 'Please sign in to see your profile.',
      retryPrompt: 'That is not a valid code; paste the 6-digit code from the sign-in page.',
    }),
    // The prompt's result: the token, or none (timed out, or given up).
    async (step) => {
      const token = step.result;
      if (!token) {
        step.context.sendActivity('Sign-in did not complete.');
        return step.endDialog();
      }
      step.context.sendActivity(`Signed in to ${token.connectionName}; your token ends in ${tail(token.token)}`);
      return step.prompt('confirm', 'Show your token?');
    },
    async (step) => {
      // Signed in: the prompt ends at once with the token, without a card.
      if (step.result === true) return step.beginDialog('oauth');
      step.context.sendActivity('OK, not showing it.');
      return step.endDialog();
    },
    async (step) => {
      const token = step.result;
      if (token) step.context.sendActivity(`Your token ends in ${tail(token.token)}; it expires ${token.expiration ?? 'never'}`);
      return step.endDialog();
    },
  ]));

/** Begins the profile dialog, signing in with the prompt `prompt`. */
export async function beginProfile(ctx, prompt) {
  const dc = await dialogs.createContext(ctx);
  await dc.beginDialog('profile', { prompt });
}

/** Passes the turn (a message, event or invoke) to the running dialog:
 * whether one ran. An invoke's answer is on `ctx`. */
export async function continueProfile(ctx) {
  const dc = await dialogs.createContext(ctx);
  if (!dc.activeDialog) return false;
  const { type, text } = ctx.activity;
  if (type === 'message' && (text ?? '').trim().toLowerCase() === 'logout') {
    oauth.signOutUser(ctx);
    await dc.cancelAllDialogs();
    ctx.sendActivity('You are signed out.');
    return true;
  }
  await dc.continueDialog();
  return true;
}

// turnbox guest SDK for JavaScript, calling skills (other bots) from a root
// bot: `SkillClient` over `turnbox:bot/skills`, as botbuilder's
// `SkillHttpClient`, and `forwardToSkill` for the usual case of handing the
// user's activity on. A skill is named as in the manifest's `[skills.NAME]`;
// the host addresses the activity, mints the skill conversation id and adds
// the token. The skill's replies reach the user's conversation on their
// own; its `endOfConversation` reaches the bot as a turn
// (`onEndOfConversation`). Staged beside turnbox.js; import './skills.js':
//
//   bot.onMessage((ctx) => forwardToSkill(ctx, 'echo'));
//   bot.onEndOfConversation((ctx) => ctx.sendActivity(`ended: ${ctx.activity.code}`));

import * as hostSkills from 'turnbox:bot/skills@0.1.0';
import { activityFromJson, call } from './turnbox.js';

/** Forwards activities to the skills of this bot's manifest. */
export class SkillClient {
  /** Posts `activity` (Bot Framework JSON) to the skill named `skill` in
   * the manifest; fields it lacks (type, channel, sender, conversation,
   * locale) come from the turn's activity. Returns the skill's answer as
   * botbuilder's `InvokeResponse`: `{status, body}`, `body` parsed (an
   * invoke's answer, or `{activities}` under `expectReplies`), undefined
   * when there is none. Throws a `TurnboxError` when the skill never
   * answered: `UnknownSkill`, `NotSupported` (no app id), `TokenError`,
   * `Unreachable`, `BadArgument`, `StorageError`. */
  postActivity(skill, activity) {
    const answer = call(() => hostSkills.forward(skill, activityFromJson(activity)));
    let body;
    if (answer.body !== undefined && answer.body !== null) {
      try {
        body = JSON.parse(answer.body);
      } catch {
        body = answer.body;
      }
    }
    return { status: answer.status, body };
  }
}

/** Whether a skill's answer has a 2xx status. */
export function isSuccessStatusCode(response) {
  return response.status >= 200 && response.status < 300;
}

/** Forwards `activity` (the turn's own by default) to the skill named
 * `skill` in the manifest; returns `{status, body}`. */
export function forwardToSkill(ctx, skill, activity = ctx.activity) {
  return new SkillClient().postActivity(skill, activity);
}

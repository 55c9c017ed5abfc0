// The Teams scenario of guest-examples/README.md: the echo bot's answers
// to Teams invokes (adaptive card refresh, task module, messaging
// extension, file consent) and channel/team events.

import { CardFactory } from './turnbox.js';
import {
  adaptiveCardInvokeResponse, messagingExtensionAttachment, messagingExtensionMessage,
  messagingExtensionResult, taskModuleContinue, taskModuleMessage, teamsGetTeamInfo,
} from './teams.js';

const card = (...texts) => ({
  type: 'AdaptiveCard',
  version: '1.5',
  body: texts.map((text) => ({ type: 'TextBlock', text })),
});

/** Registers the Teams answers on `bot`, a TeamsActivityHandler. */
export function registerTeams(bot) {
  bot.onAdaptiveCardInvoke((ctx, value) => {
    if (value.action.verb === 'refresh') {
      return adaptiveCardInvokeResponse(card(`Refreshed by ${ctx.activity.from?.name ?? ctx.activity.from?.id}`));
    }
    return {
      statusCode: 400,
      type: 'application/vnd.microsoft.error',
      value: { code: 'NotSupported', message: `unknown verb: ${value.action.verb}` },
    };
  });

  bot.onTeamsTaskModuleFetch(() => taskModuleContinue({
    title: 'Form',
    height: 200,
    width: 400,
    card: CardFactory.adaptiveCard({
      ...card('Your name?'),
      body: [{ type: 'Input.Text', id: 'name' }],
      actions: [{ type: 'Action.Submit', title: 'Send' }],
    }),
  }));

  bot.onTeamsTaskModuleSubmit((ctx, request) => taskModuleMessage(`Thanks, ${request.data?.name}`));

  bot.onTeamsMessagingExtensionQuery((ctx, query) => {
    if (query.commandId !== 'search') return messagingExtensionMessage(`Unknown command: ${query.commandId}`);
    const q = String((query.parameters ?? []).find((p) => p.name === 'query')?.value ?? '');
    const hero = CardFactory.heroCard(q);
    return messagingExtensionResult([messagingExtensionAttachment(hero, CardFactory.heroCard(q))]);
  });

  bot.onTeamsMessagingExtensionSubmitAction((ctx, action) => {
    if (action.commandId !== 'create') return messagingExtensionMessage(`Unknown command: ${action.commandId}`);
    return messagingExtensionResult([CardFactory.heroCard(String(action.data?.title ?? ''))]);
  });

  bot.onTeamsFileConsentAccept((ctx, response) => ctx.sendActivity(`File accepted: ${response.uploadInfo?.name}`));
  bot.onTeamsFileConsentDecline((ctx, response) => ctx.sendActivity(`File declined: ${response.context?.filename}`));

  bot.onTeamsChannelCreated((ctx, channel) => ctx.sendActivity(`Channel created: ${channel.name}`));
  bot.onTeamsChannelRenamed((ctx, channel) => ctx.sendActivity(`Channel renamed: ${channel.name}`));
  bot.onTeamsChannelDeleted((ctx, channel) => ctx.sendActivity(`Channel deleted: ${channel.name}`));
  bot.onTeamsTeamRenamed((ctx) => ctx.sendActivity(`Team renamed: ${teamsGetTeamInfo(ctx.activity)?.name}`));
}

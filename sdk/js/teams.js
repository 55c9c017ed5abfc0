// turnbox guest SDK for JavaScript: Microsoft Teams, in botbuilder-js'
// shape — TeamsActivityHandler (Teams invokes and channel/team events),
// teamsGet* helpers over the activity's channelData, and the invoke
// responses Teams expects.
//
//   const bot = new TeamsActivityHandler();
//   bot.onTeamsTaskModuleFetch((ctx, request) => taskModuleContinue({ title: 'Form', card }));
//   bot.onTeamsChannelCreated((ctx, channel, team) => ctx.sendActivity(`New: ${channel.name}`));
//
// A Teams invoke handler returns the response body (botbuilder's
// TaskModuleResponse, MessagingExtensionResponse, AdaptiveCardInvokeResponse);
// the handler answers 200 with it. An invoke nobody handles gets the host's
// 501, as botbuilder's NotImplemented.

import { ActivityHandler, CardFactory } from './turnbox.js';

const isPromise = (v) => v !== null && typeof v === 'object' && typeof v.then === 'function';

/** Runs `steps` in order, waiting for any that returns a promise. */
function chain(steps, from = 0) {
  for (let i = from; i < steps.length; i++) {
    const result = steps[i]();
    if (isPromise(result)) return result.then(() => chain(steps, i + 1));
  }
  return undefined;
}

/** The activity's Teams channelData (an empty object when there is none). */
export function teamsGetChannelData(activity) {
  const data = activity?.channelData;
  return data && typeof data === 'object' ? data : {};
}

/** The channel's id (`channelData.channel.id`), or null. */
export function teamsGetChannelId(activity) {
  return teamsGetChannelData(activity).channel?.id ?? null;
}

/** The team (`{id, name, aadGroupId}`), or null outside a team. */
export function teamsGetTeamInfo(activity) {
  return teamsGetChannelData(activity).team ?? null;
}

/** The team's id, or null. */
export function teamsGetTeamId(activity) {
  return teamsGetTeamInfo(activity)?.id ?? null;
}

/** The tenant (`{id}`), or null. */
export function teamsGetTenant(activity) {
  return teamsGetChannelData(activity).tenant ?? null;
}

/** The meeting (`{id}`), or null outside a meeting. */
export function teamsGetTeamMeetingInfo(activity) {
  return teamsGetChannelData(activity).meeting ?? null;
}

/** The channel picked when the app was installed, or null. */
export function teamsGetSelectedChannelId(activity) {
  return teamsGetChannelData(activity).settings?.selectedChannel?.id ?? null;
}

/** Marks an outgoing activity to notify the user (a Teams alert). */
export function teamsNotifyUser(activity, alertInMeeting = false, externalResourceUrl = undefined) {
  const notification = { alert: true };
  if (alertInMeeting) notification.alertInMeeting = true;
  if (externalResourceUrl) notification.externalResourceUrl = externalResourceUrl;
  activity.channelData = { ...activity.channelData, notification };
  return activity;
}

/** A task module to show: `{title, height, width, card | url}` (`card`:
 * an adaptive card attachment). */
export function taskModuleContinue(taskInfo) {
  return { task: { type: 'continue', value: taskInfo } };
}

/** A task module's closing message. */
export function taskModuleMessage(text) {
  return { task: { type: 'message', value: text } };
}

/** A messaging extension's result list (`attachmentLayout` list or grid). */
export function messagingExtensionResult(attachments, attachmentLayout = 'list') {
  return { composeExtension: { type: 'result', attachmentLayout, attachments } };
}

/** A messaging extension's plain message. */
export function messagingExtensionMessage(text) {
  return { composeExtension: { type: 'message', text } };
}

/** A messaging extension result item: `attachment` with the card shown in
 * the result list (`preview`; by default the attachment itself). */
export function messagingExtensionAttachment(attachment, preview = attachment) {
  return { ...attachment, preview };
}

/** An `adaptiveCard/action` response that replaces the card with `card`
 * (the content of an adaptive card). */
export function adaptiveCardInvokeResponse(card) {
  return { statusCode: 200, type: CardFactory.contentTypes.adaptiveCard, value: card };
}

/** An `adaptiveCard/action` response that shows a message instead. */
export function adaptiveCardMessageResponse(text) {
  return { statusCode: 200, type: 'application/vnd.microsoft.activity.message', value: text };
}

/** An invoke answered 400 with botbuilder's error body. */
function badRequest(message) {
  return {
    status: 400,
    body: { statusCode: 400, type: 'application/vnd.microsoft.error', value: { code: 'BadRequest', message } },
  };
}

// Teams invoke names and the handler kind each goes to.
const INVOKES = new Map([
  ['task/fetch', 'teams:taskModuleFetch'],
  ['task/submit', 'teams:taskModuleSubmit'],
  ['composeExtension/query', 'teams:messagingExtensionQuery'],
  ['composeExtension/queryLink', 'teams:appBasedLinkQuery'],
  ['composeExtension/selectItem', 'teams:messagingExtensionSelectItem'],
  ['composeExtension/fetchTask', 'teams:messagingExtensionFetchTask'],
  ['composeExtension/querySettingUrl', 'teams:messagingExtensionConfigurationQuerySettingUrl'],
  ['tab/fetch', 'teams:tabFetch'],
  ['tab/submit', 'teams:tabSubmit'],
]);

// conversationUpdate eventTypes: the handler kind, and whether the
// handler gets the channel first.
const EVENTS = new Map([
  ['channelCreated', ['teams:channelCreated', true]],
  ['channelRenamed', ['teams:channelRenamed', true]],
  ['channelDeleted', ['teams:channelDeleted', true]],
  ['channelRestored', ['teams:channelRestored', true]],
  ['teamRenamed', ['teams:teamRenamed', false]],
  ['teamArchived', ['teams:teamArchived', false]],
  ['teamUnarchived', ['teams:teamUnarchived', false]],
  ['teamDeleted', ['teams:teamDeleted', false]],
  ['teamHardDeleted', ['teams:teamHardDeleted', false]],
  ['teamRestored', ['teams:teamRestored', false]],
]);

/** An ActivityHandler that also dispatches Teams' invokes and channel/team
 * events (botbuilder-js' TeamsActivityHandler). Handlers registered with
 * `onInvoke(name, …)` still come first for their name. */
export class TeamsActivityHandler extends ActivityHandler {
  /** (ctx, value) → AdaptiveCardInvokeResponse, for `Action.Execute`. */
  onAdaptiveCardInvoke(handler) { return this.on('teams:adaptiveCardInvoke', handler); }
  /** (ctx, taskModuleRequest) → TaskModuleResponse */
  onTeamsTaskModuleFetch(handler) { return this.on('teams:taskModuleFetch', handler); }
  /** (ctx, taskModuleRequest) → TaskModuleResponse */
  onTeamsTaskModuleSubmit(handler) { return this.on('teams:taskModuleSubmit', handler); }
  /** (ctx, query) → MessagingExtensionResponse */
  onTeamsMessagingExtensionQuery(handler) { return this.on('teams:messagingExtensionQuery', handler); }
  /** (ctx, query) → MessagingExtensionResponse */
  onTeamsAppBasedLinkQuery(handler) { return this.on('teams:appBasedLinkQuery', handler); }
  /** (ctx, item) → MessagingExtensionResponse */
  onTeamsMessagingExtensionSelectItem(handler) { return this.on('teams:messagingExtensionSelectItem', handler); }
  /** (ctx, action) → MessagingExtensionActionResponse */
  onTeamsMessagingExtensionFetchTask(handler) { return this.on('teams:messagingExtensionFetchTask', handler); }
  /** (ctx, query) → MessagingExtensionResponse */
  onTeamsMessagingExtensionConfigurationQuerySettingUrl(handler) {
    return this.on('teams:messagingExtensionConfigurationQuerySettingUrl', handler);
  }
  /** (ctx, action) → MessagingExtensionActionResponse */
  onTeamsMessagingExtensionSubmitAction(handler) { return this.on('teams:messagingExtensionSubmitAction', handler); }
  /** (ctx, action): `botMessagePreviewAction` "edit". */
  onTeamsMessagingExtensionBotMessagePreviewEdit(handler) { return this.on('teams:botMessagePreviewEdit', handler); }
  /** (ctx, action): `botMessagePreviewAction` "send". */
  onTeamsMessagingExtensionBotMessagePreviewSend(handler) { return this.on('teams:botMessagePreviewSend', handler); }
  /** (ctx, tabRequest) → TabResponse */
  onTeamsTabFetch(handler) { return this.on('teams:tabFetch', handler); }
  /** (ctx, tabSubmit) → TabResponse */
  onTeamsTabSubmit(handler) { return this.on('teams:tabSubmit', handler); }
  /** (ctx, fileConsentCardResponse): the user accepted an upload. */
  onTeamsFileConsentAccept(handler) { return this.on('teams:fileConsentAccept', handler); }
  /** (ctx, fileConsentCardResponse): the user declined an upload. */
  onTeamsFileConsentDecline(handler) { return this.on('teams:fileConsentDecline', handler); }

  /** (ctx, channelInfo, teamInfo) */
  onTeamsChannelCreated(handler) { return this.on('teams:channelCreated', handler); }
  /** (ctx, channelInfo, teamInfo) */
  onTeamsChannelRenamed(handler) { return this.on('teams:channelRenamed', handler); }
  /** (ctx, channelInfo, teamInfo) */
  onTeamsChannelDeleted(handler) { return this.on('teams:channelDeleted', handler); }
  /** (ctx, channelInfo, teamInfo) */
  onTeamsChannelRestored(handler) { return this.on('teams:channelRestored', handler); }
  /** (ctx, teamInfo) */
  onTeamsTeamRenamed(handler) { return this.on('teams:teamRenamed', handler); }
  /** (ctx, teamInfo) */
  onTeamsTeamArchived(handler) { return this.on('teams:teamArchived', handler); }
  /** (ctx, teamInfo) */
  onTeamsTeamUnarchived(handler) { return this.on('teams:teamUnarchived', handler); }
  /** (ctx, teamInfo) */
  onTeamsTeamDeleted(handler) { return this.on('teams:teamDeleted', handler); }
  /** (ctx, teamInfo) */
  onTeamsTeamHardDeleted(handler) { return this.on('teams:teamHardDeleted', handler); }
  /** (ctx, teamInfo) */
  onTeamsTeamRestored(handler) { return this.on('teams:teamRestored', handler); }

  /** Teams channel and team events go to their handlers (after the
   * `onTurn` and `onConversationUpdate` ones); everything else as in
   * ActivityHandler, members added and removed included. */
  run(ctx) {
    const a = ctx.activity;
    const event = a.type === 'conversationUpdate' && String(a.channelId).toLowerCase() === 'msteams'
      ? EVENTS.get(teamsGetChannelData(a).eventType)
      : undefined;
    if (!event) return super.run(ctx);
    const [kind, withChannel] = event;
    const data = teamsGetChannelData(a);
    const args = withChannel ? [data.channel ?? {}, data.team ?? {}] : [data.team ?? {}];
    return chain([
      () => this.emit('turn', ctx),
      () => this.emit('conversationUpdate', ctx),
      () => this.emit(kind, ctx, ...args),
    ]);
  }

  invoke(ctx, name, value) {
    if (this.handlers[`invoke:${name}`]) return super.invoke(ctx, name, value);
    const teams = this.teamsInvoke(ctx, name, value ?? {});
    if (teams === undefined) return super.invoke(ctx, name, value);
    const answer = (r) => ({ status: r.status ?? 200, body: r.body === undefined ? undefined : JSON.stringify(r.body) });
    return isPromise(teams) ? teams.then(answer) : answer(teams);
  }

  /** The `{status, body}` of a Teams invoke (or a promise of it); undefined
   * when no handler takes it. */
  teamsInvoke(ctx, name, value) {
    const first = (kind) => this.handlers[kind]?.[0];
    const ok = (handler, ...args) => {
      const body = handler(ctx, ...args);
      return isPromise(body) ? body.then((b) => ({ status: 200, body: b })) : { status: 200, body };
    };
    if (name === 'adaptiveCard/action') {
      const handler = first('teams:adaptiveCardInvoke');
      if (!handler) return undefined;
      if (value.action?.type !== 'Action.Execute') {
        return badRequest(`adaptiveCard/action: the action's type must be Action.Execute, not ${value.action?.type}`);
      }
      return ok(handler, value);
    }
    if (name === 'fileConsent/invoke') {
      const kind = { accept: 'teams:fileConsentAccept', decline: 'teams:fileConsentDecline' }[value.action];
      if (!kind) return badRequest(`fileConsent/invoke: the action must be accept or decline, not ${value.action}`);
      const handler = first(kind);
      if (!handler) return undefined;
      const done = handler(ctx, value);
      return isPromise(done) ? done.then(() => ({ status: 200 })) : { status: 200 };
    }
    if (name === 'composeExtension/submitAction') {
      const preview = value.botMessagePreviewAction;
      const kind = preview === 'edit' ? 'teams:botMessagePreviewEdit'
        : preview === 'send' ? 'teams:botMessagePreviewSend' : 'teams:messagingExtensionSubmitAction';
      const handler = first(kind);
      return handler ? ok(handler, value) : undefined;
    }
    const handler = INVOKES.has(name) ? first(INVOKES.get(name)) : undefined;
    return handler ? ok(handler, value) : undefined;
  }
}

"""Microsoft Teams for turnbox bots, in botbuilder-python's shape
(`botbuilder.core.teams`): `TeamsActivityHandler`, which routes Teams'
invokes (adaptive card actions, task modules, messaging extensions, file
consent) and channel/team events to methods of their own; the typed
`TeamsChannelData`; and the invoke response bodies Teams expects.

As everywhere in the turnbox SDK, the turn context is each handler's first
argument (botbuilder-python passes it last). A handler returns the body of
the invoke response (a dict, made with the helpers here); the handler
answers 200 with it. A Teams invoke whose handler is not overridden gets
501, as in botbuilder.
"""

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import turnbox
from turnbox import CardFactory, InvokeResponse, TurnContext


@dataclass
class TeamInfo:
    id: Optional[str] = None
    name: Optional[str] = None
    aad_group_id: Optional[str] = None


@dataclass
class ChannelInfo:
    id: Optional[str] = None
    name: Optional[str] = None


@dataclass
class TenantInfo:
    id: Optional[str] = None


@dataclass
class TeamsMeetingInfo:
    id: Optional[str] = None


@dataclass
class TeamsChannelData:
    """An activity's `channelData` from Teams: `team`, `channel`,
    `tenant`, `meeting`, `event_type` (on conversationUpdate), and the rest
    as `raw`."""

    team: Optional[TeamInfo] = None
    channel: Optional[ChannelInfo] = None
    tenant: Optional[TenantInfo] = None
    meeting: Optional[TeamsMeetingInfo] = None
    event_type: Optional[str] = None
    raw: Optional[Dict[str, Any]] = None

    @staticmethod
    def from_activity(activity: Any) -> "TeamsChannelData":
        """The typed channelData of `activity` (empty when it has none or
        it is not a JSON object)."""
        try:
            data = json.loads(activity.channel_data) if activity.channel_data else {}
        except ValueError:
            data = {}
        return TeamsChannelData.from_json(data if isinstance(data, dict) else {})

    @staticmethod
    def from_json(data: Dict[str, Any]) -> "TeamsChannelData":
        def part(key: str) -> Dict[str, Any]:
            value = data.get(key)
            return value if isinstance(value, dict) else {}

        team, channel, tenant, meeting = part("team"), part("channel"), part("tenant"), part("meeting")
        return TeamsChannelData(
            team=TeamInfo(team.get("id"), team.get("name"), team.get("aadGroupId")) if team else None,
            channel=ChannelInfo(channel.get("id"), channel.get("name")) if channel else None,
            tenant=TenantInfo(tenant.get("id")) if tenant else None,
            meeting=TeamsMeetingInfo(meeting.get("id")) if meeting else None,
            event_type=data.get("eventType") if isinstance(data.get("eventType"), str) else None,
            raw=data,
        )


def teams_get_channel_data(ctx: TurnContext) -> TeamsChannelData:
    return TeamsChannelData.from_activity(ctx.activity)


def _attachment_json(attachment: Any) -> Dict[str, Any]:
    """An attachment (a turnbox Attachment or a dict) as Teams' JSON."""
    if isinstance(attachment, dict):
        return attachment
    out: Dict[str, Any] = {"contentType": attachment.content_type}
    if attachment.content is not None:
        out["content"] = json.loads(attachment.content)
    if attachment.content_url is not None:
        out["contentUrl"] = attachment.content_url
    if attachment.name is not None:
        out["name"] = attachment.name
    return out


def adaptive_card_response(card: Dict[str, Any]) -> Dict[str, Any]:
    """An `adaptiveCard/action` answer that replaces the card with `card`."""
    return {"statusCode": 200, "type": CardFactory.ADAPTIVE, "value": card}


def adaptive_card_message(message: str) -> Dict[str, Any]:
    """An `adaptiveCard/action` answer that shows `message`."""
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": message}


def task_module_continue(card: Optional[Any] = None, title: Optional[str] = None,
                         height: Any = None, width: Any = None, url: Optional[str] = None) -> Dict[str, Any]:
    """A task module response that opens (or keeps) a dialog showing `card`
    (an Attachment or card JSON) or `url`."""
    value: Dict[str, Any] = {}
    for key, item in (("title", title), ("height", height), ("width", width), ("url", url)):
        if item is not None:
            value[key] = item
    if card is not None:
        value["card"] = _attachment_json(card) if not isinstance(card, dict) or "contentType" in card \
            else _attachment_json(CardFactory.adaptive_card(card))
    return {"task": {"type": "continue", "value": value}}


def task_module_message(text: str) -> Dict[str, Any]:
    """A task module response that closes with `text` shown."""
    return {"task": {"type": "message", "value": text}}


def messaging_extension_result(attachments: List[Any], attachment_layout: str = "list",
                               previews: Optional[List[Any]] = None) -> Dict[str, Any]:
    """A messaging extension's result: `attachments` (each with the
    matching entry of `previews` as its preview, when given)."""
    items = []
    for n, attachment in enumerate(attachments):
        item = _attachment_json(attachment)
        if previews and n < len(previews) and previews[n] is not None:
            item["preview"] = _attachment_json(previews[n])
        items.append(item)
    return {"composeExtension": {"type": "result", "attachmentLayout": attachment_layout,
                                 "attachments": items}}


def messaging_extension_message(text: str) -> Dict[str, Any]:
    return {"composeExtension": {"type": "message", "text": text}}


_EVENTS = {
    "channelCreated": "on_teams_channel_created", "channelDeleted": "on_teams_channel_deleted",
    "channelRenamed": "on_teams_channel_renamed", "channelRestored": "on_teams_channel_restored",
}
_TEAM_EVENTS = {
    "teamArchived": "on_teams_team_archived", "teamDeleted": "on_teams_team_deleted",
    "teamHardDeleted": "on_teams_team_hard_deleted", "teamRenamed": "on_teams_team_renamed",
    "teamRestored": "on_teams_team_restored", "teamUnarchived": "on_teams_team_unarchived",
}


class TeamsActivityHandler(turnbox.ActivityHandler):
    """An ActivityHandler for Teams: override the `on_teams_*` methods and
    `on_adaptive_card_invoke`. Other invokes go to `on_invoke_other`."""

    def on_invoke(self, ctx: TurnContext, name: str, value: Any) -> Optional[InvokeResponse]:
        value = value if isinstance(value, dict) else {}
        if name == "adaptiveCard/action":
            return self._answer(self.on_adaptive_card_invoke(ctx, value))
        if name == "task/fetch":
            return self._answer(self.on_teams_task_module_fetch(ctx, value))
        if name == "task/submit":
            return self._answer(self.on_teams_task_module_submit(ctx, value))
        if name == "composeExtension/query":
            return self._answer(self.on_teams_messaging_extension_query(ctx, value))
        if name == "composeExtension/submitAction":
            return self._answer(self.on_teams_messaging_extension_submit_action(ctx, value))
        if name == "composeExtension/fetchTask":
            return self._answer(self.on_teams_messaging_extension_fetch_task(ctx, value))
        if name == "fileConsent/invoke":
            action = value.get("action")
            if action == "accept":
                return self._answer(self.on_teams_file_consent_accept(ctx, value))
            if action == "decline":
                return self._answer(self.on_teams_file_consent_decline(ctx, value))
            return turnbox.invoke_response(400, {"error": f"fileConsent action {action!r} is neither accept nor decline"})
        return turnbox._settle(self.on_invoke_other(ctx, name, value))

    @staticmethod
    def _answer(body: Any) -> Optional[InvokeResponse]:
        body = turnbox._settle(body)
        if isinstance(body, InvokeResponse):
            return body
        if body is _NOT_IMPLEMENTED:
            return turnbox.invoke_response(501)
        return turnbox.invoke_response(200, body)

    def on_invoke_other(self, ctx: TurnContext, name: str, value: Any) -> Optional[InvokeResponse]:
        """An invoke that is not Teams': None answers 501."""
        return None

    def on_adaptive_card_invoke(self, ctx: TurnContext, value: Dict[str, Any]) -> Any:
        """`adaptiveCard/action`: `value["action"]` holds `verb` and
        `data`; return adaptive_card_response(...) or adaptive_card_message(...)."""
        return _NOT_IMPLEMENTED

    def on_teams_task_module_fetch(self, ctx: TurnContext, request: Dict[str, Any]) -> Any:
        """`task/fetch`: return task_module_continue(...)."""
        return _NOT_IMPLEMENTED

    def on_teams_task_module_submit(self, ctx: TurnContext, request: Dict[str, Any]) -> Any:
        """`task/submit` with `request["data"]`: return task_module_message(...) or _continue."""
        return _NOT_IMPLEMENTED

    def on_teams_messaging_extension_query(self, ctx: TurnContext, query: Dict[str, Any]) -> Any:
        """`composeExtension/query`: `query["commandId"]`, `query["parameters"]`
        (name/value pairs); return messaging_extension_result(...)."""
        return _NOT_IMPLEMENTED

    def on_teams_messaging_extension_submit_action(self, ctx: TurnContext, action: Dict[str, Any]) -> Any:
        """`composeExtension/submitAction`: `action["commandId"]`, `action["data"]`."""
        return _NOT_IMPLEMENTED

    def on_teams_messaging_extension_fetch_task(self, ctx: TurnContext, action: Dict[str, Any]) -> Any:
        return _NOT_IMPLEMENTED

    def on_teams_file_consent_accept(self, ctx: TurnContext, response: Dict[str, Any]) -> Any:
        """The user accepted a file: `response["uploadInfo"]` says where to
        upload it. Answered 200 (with what this returns, if anything)."""
        return _NOT_IMPLEMENTED

    def on_teams_file_consent_decline(self, ctx: TurnContext, response: Dict[str, Any]) -> Any:
        """The user declined a file: `response["context"]` is what the
        consent card carried."""
        return _NOT_IMPLEMENTED

    def on_conversation_update(self, ctx: TurnContext) -> None:
        """On Teams, dispatches `channelData.eventType`; members added and
        removed go to on_members_added/removed as usual."""
        if (ctx.activity.channel_id or "").lower() != "msteams":
            return super().on_conversation_update(ctx)
        data = TeamsChannelData.from_activity(ctx.activity)
        event = data.event_type
        if event in _EVENTS:
            turnbox._settle(getattr(self, _EVENTS[event])(ctx, data.channel or ChannelInfo(),
                                                          data.team or TeamInfo()))
        elif event in _TEAM_EVENTS:
            turnbox._settle(getattr(self, _TEAM_EVENTS[event])(ctx, data.team or TeamInfo()))
        else:
            turnbox._settle(super().on_conversation_update(ctx))

    def on_teams_channel_created(self, ctx: TurnContext, channel: ChannelInfo, team: TeamInfo) -> None:
        pass

    def on_teams_channel_deleted(self, ctx: TurnContext, channel: ChannelInfo, team: TeamInfo) -> None:
        pass

    def on_teams_channel_renamed(self, ctx: TurnContext, channel: ChannelInfo, team: TeamInfo) -> None:
        pass

    def on_teams_channel_restored(self, ctx: TurnContext, channel: ChannelInfo, team: TeamInfo) -> None:
        pass

    def on_teams_team_archived(self, ctx: TurnContext, team: TeamInfo) -> None:
        pass

    def on_teams_team_deleted(self, ctx: TurnContext, team: TeamInfo) -> None:
        pass

    def on_teams_team_hard_deleted(self, ctx: TurnContext, team: TeamInfo) -> None:
        pass

    def on_teams_team_renamed(self, ctx: TurnContext, team: TeamInfo) -> None:
        pass

    def on_teams_team_restored(self, ctx: TurnContext, team: TeamInfo) -> None:
        pass

    def on_teams_team_unarchived(self, ctx: TurnContext, team: TeamInfo) -> None:
        pass


class _NotImplemented:
    """What an invoke handler returns when not overridden (answered 501)."""


_NOT_IMPLEMENTED = _NotImplemented()

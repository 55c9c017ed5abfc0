"""The Teams scenario of guest-examples/README.md: what the echo bot
answers to Teams' invokes and channel/team events, on the SDK's
turnbox_teams."""

from turnbox import CardFactory, HeroCard
from turnbox_teams import (TeamsActivityHandler, adaptive_card_response, messaging_extension_result,
                           task_module_continue, task_module_message)


def _card(text):
    return {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": text}]}


class TeamsScenario(TeamsActivityHandler):
    def on_adaptive_card_invoke(self, ctx, value):
        if (value.get("action") or {}).get("verb") == "refresh":
            name = ctx.activity.from_.name if ctx.activity.from_ else None
            return adaptive_card_response(_card(f"Refreshed by {name or 'someone'}"))
        return super().on_adaptive_card_invoke(ctx, value)

    def on_teams_task_module_fetch(self, ctx, request):
        card_json = _card("Your name?")
        card_json["body"].append({"type": "Input.Text", "id": "name"})
        card_json["actions"] = [{"type": "Action.Submit", "title": "Send"}]
        card = CardFactory.adaptive_card(card_json)
        return task_module_continue(card=card, title="Form", height=200, width=400)

    def on_teams_task_module_submit(self, ctx, request):
        data = request.get("data") or {}
        return task_module_message(f"Thanks, {data.get('name', 'stranger')}")

    def on_teams_messaging_extension_query(self, ctx, query):
        if query.get("commandId") != "search":
            return super().on_teams_messaging_extension_query(ctx, query)
        params = {p.get("name"): p.get("value") for p in query.get("parameters") or []}
        q = str(params.get("query") or "")
        return messaging_extension_result([CardFactory.hero_card(HeroCard(title=q))],
                                          previews=[CardFactory.hero_card(HeroCard(title=q))])

    def on_teams_messaging_extension_submit_action(self, ctx, action):
        if action.get("commandId") != "create":
            return super().on_teams_messaging_extension_submit_action(ctx, action)
        title = str((action.get("data") or {}).get("title") or "")
        return messaging_extension_result([CardFactory.hero_card(HeroCard(title=title))])

    def on_teams_file_consent_accept(self, ctx, response):
        ctx.send_activity(f"File accepted: {(response.get('uploadInfo') or {}).get('name')}")

    def on_teams_file_consent_decline(self, ctx, response):
        ctx.send_activity(f"File declined: {(response.get('context') or {}).get('filename')}")

    def on_teams_channel_created(self, ctx, channel, team):
        ctx.send_activity(f"Channel created: {channel.name}")

    def on_teams_channel_renamed(self, ctx, channel, team):
        ctx.send_activity(f"Channel renamed: {channel.name}")

    def on_teams_channel_deleted(self, ctx, channel, team):
        ctx.send_activity(f"Channel deleted: {channel.name}")

    def on_teams_team_renamed(self, ctx, team):
        ctx.send_activity(f"Team renamed: {team.name}")

# The Bot Framework SDK's echo bot (botbuilder-python 4.17 on aiohttp), for
# bench-suite's comparison (docs/PERFORMANCE.md). It uses
# BotFrameworkAdapter, as the SDK's samples did before CloudAdapter: 4.17's
# CloudAdapter fails every expectReplies request (it hands a dict to msrest's
# serializer: microsoft/botbuilder-python#2156), and the comparison runs
# expectReplies. No MicrosoftAppId: the SDK's own dev mode, no token either
# way, as turnbox's bots in the same run. PORT sets the port (3978).
import os
import sys

from aiohttp import web
from aiohttp.web import Request, Response, json_response
from botbuilder.core import (
    ActivityHandler,
    BotFrameworkAdapter,
    BotFrameworkAdapterSettings,
    MessageFactory,
    TurnContext,
)
from botbuilder.core.integration import aiohttp_error_middleware
from botbuilder.schema import Activity

ADAPTER = BotFrameworkAdapter(BotFrameworkAdapterSettings("", ""))


async def on_error(context: TurnContext, error: Exception):
    print(f"turn failed: {error}", file=sys.stderr)


ADAPTER.on_turn_error = on_error


class EchoBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext):
        text = turn_context.activity.text or ""
        await turn_context.send_activity(MessageFactory.text(f"Echo: {text}", f"Echo: {text}"))


BOT = EchoBot()


async def messages(req: Request) -> Response:
    if "application/json" not in req.headers.get("Content-Type", ""):
        return Response(status=415)
    activity = Activity().deserialize(await req.json())
    auth_header = req.headers.get("Authorization", "")
    response = await ADAPTER.process_activity(activity, auth_header, BOT.on_turn)
    if response:
        return json_response(data=response.body, status=response.status)
    return Response(status=201)


async def healthz(req: Request) -> Response:
    return Response(status=200)


APP = web.Application(middlewares=[aiohttp_error_middleware])
APP.router.add_post("/api/messages", messages)
APP.router.add_get("/healthz", healthz)

if __name__ == "__main__":
    web.run_app(APP, host="127.0.0.1", port=int(os.environ.get("PORT", "3978")), print=None)

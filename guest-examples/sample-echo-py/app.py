"""The Bot Framework SDK's echo sample (botbuilder's `02.echo-bot`) on the
Python SDK: it echoes each message (text and speak) and welcomes members who
join, and keeps no state. The benchmarks set it beside the same sample on
botbuilder-python (docs/PERFORMANCE.md); the shared example bot,
python-echo, does much more on every message."""

import turnbox
from turnbox import MessageFactory


class SampleEcho(turnbox.ActivityHandler):
    def on_message(self, ctx):
        text = f"Echo: {ctx.activity.text or ''}"
        ctx.send_activity(MessageFactory.text(text, text))

    def on_members_added(self, ctx, members):
        for _ in members:
            ctx.send_activity("Hello and welcome!")


Handler = turnbox.export(SampleEcho)

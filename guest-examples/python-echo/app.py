"""The echo bot in Python, on the Python SDK (sdk/python/turnbox.py), built
with componentize-py.

It implements the behaviour every example bot shares, whatever its language:
guest-examples/README.md is the spec, tests/e2e/languages.rs holds every
language to it; its dialog and Teams scenarios (form.py, teams.py) are
checked by tests/e2e/dialogs_python.rs.
"""

import turnbox
from form import run_form
from teams import TeamsScenario
from turnbox import CardAction, CardFactory, HeroCard, MessageFactory

COUNT = turnbox.ConversationState.create_property("count")
# Kept in the instance's memory, not in state: what `instance` shows.
INSTANCE_ANSWERS = [0]


async def fetch_reply(url):
    """The reply to `fetch URL`: an async helper, awaited by the async
    handler below (the SDK runs async handlers to their end)."""
    try:
        response = turnbox.http.get(url)
        return f"fetched {response.status}: {response.text[:64]}"
    except turnbox.HttpError as e:
        return f"fetch failed: {e}"


class EchoBot(TeamsScenario):
    """The table's behaviour; Teams' invokes and events come from
    TeamsScenario (teams.py), the `form` dialog from form.py."""

    async def on_message(self, ctx):
        text = ctx.activity.text or ""
        # `edit` never touches state, so its draft goes out before the
        # update (guest-examples/README.md): it is answered before the form.
        if text != "edit" and await run_form(ctx):
            return
        if text == "count":
            count = COUNT.get(0) + 1
            COUNT.set(count)
            ctx.send_activity(f"Count: {count}")
        elif text == "instance":
            INSTANCE_ANSWERS[0] += 1
            ctx.send_activity(f"Instance: {INSTANCE_ANSWERS[0]}")
        elif text == "card":
            reply = MessageFactory.suggested_actions(
                [CardAction.im_back("Red", "red"), CardAction.im_back("Blue", "blue")],
                "Here is a card",
            )
            reply.attachments = [CardFactory.hero_card(HeroCard(
                title="turnbox",
                text="A bot in any WebAssembly language",
                buttons=[CardAction.open_url("Docs", "https://example.org/turnbox")],
            ))]
            ctx.send_activity(reply)
        elif text == "adaptive":
            ctx.send_activity(MessageFactory.attachment(CardFactory.adaptive_card({
                "type": "AdaptiveCard",
                "version": "1.5",
                "body": [{"type": "TextBlock", "text": "Hello from turnbox"}],
            })))
        elif text == "typing":
            ctx.send_activity(MessageFactory.typing())
            ctx.send_activity("Done typing")
        elif text == "edit":
            sent = ctx.send_activity("draft")
            final = MessageFactory.text("final")
            final.id = sent.id
            ctx.update_activity(final)
        elif text == "members":
            try:
                names = [m.name or m.id for m in turnbox.connector.get_conversation_members()]
                ctx.send_activity(f"Members: {', '.join(names)}")
            except turnbox.TurnboxError as e:
                ctx.send_activity(f"members failed: {e}")
        elif text == "upload":
            try:
                stored = turnbox.connector.upload_attachment("text/plain", "hello.txt", b"hello")
                view = turnbox.connector.get_attachment(stored.id, "original")
                ctx.send_activity(f"Uploaded {stored.id}: {bytes(view.body).decode()}")
            except turnbox.TurnboxError as e:
                ctx.send_activity(f"upload failed: {e}")
        elif text.startswith("fetch "):
            # Outbound HTTP: only to the manifest's [http] allowed_hosts.
            ctx.send_activity(await fetch_reply(text[len("fetch "):].strip()))
        elif text.startswith("stream ") and text[len("stream "):].strip().isdigit():
            stream_words(ctx, int(text[len("stream "):]))
        else:
            ctx.send_activity(f"Echo: {text}")

    def on_members_added(self, ctx, members):
        for member in members:
            ctx.send_activity(f"Welcome, {member.name or member.id}!")

    def on_members_removed(self, ctx, members):
        for member in members:
            ctx.send_activity(f"Goodbye, {member.name or member.id}!")

    def on_reactions_added(self, ctx, reactions):
        for reaction in reactions:
            ctx.send_activity(f"Thanks for the {reaction['type']}")

    def on_event(self, ctx, name, value):
        if name == "greet":
            ctx.send_activity(f"Hello, {(value or {}).get('name', 'stranger')}!")

    def on_invoke_other(self, ctx, name, value):
        if name == "echo/ping":
            return turnbox.invoke_response(200, {"pong": True})
        return None

    def on_end_of_conversation(self, ctx):
        ctx.send_activity(f"Ended: {ctx.activity.code or 'none'}")

    def on_unrecognized(self, ctx):
        ctx.send_activity(f"Unrecognized: {ctx.activity.type}")


def stream_words(ctx, count):
    """A livestreamed reply: an informative update, then the chunks
    "word1 ", "word2 ", ... each sent as an update (no throttling, so every
    one shows), then the final message with the whole text. Outside
    Direct Line, Web Chat and Teams, or under expectReplies, only the final
    message goes out."""
    stream = ctx.streaming_response()
    stream.set_interval(0)
    stream.queue_informative_update("Thinking...")
    for n in range(1, min(count, 50) + 1):
        stream.queue_text_chunk(f"word{n} ")
    stream.end_stream()


Handler = turnbox.export(EchoBot)

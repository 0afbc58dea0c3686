"""Local channels: the terminal chat and the JSONL replier, through the same Assistant."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TextIO

from .. import outbox
from ..assistant import Assistant
from ..messages import Incoming, Reply

BUTTON_HINT = "  (tapez le numéro d'un bouton, /aide, ou /quitter)"


def parse_line(line: str, channel: str, user_id: str, first_name: str = "") -> Incoming:
    text = line.strip()
    if text.startswith("/"):
        command, _, args = text[1:].partition(" ")
        return Incoming(
            channel, user_id, "command", command.split("@")[0], args.strip(), first_name=first_name
        )
    return Incoming(channel, user_id, "text", text, first_name=first_name)


def render(reply: Reply, out: TextIO) -> list[str]:
    """Print a reply; return the callback data of its numbered buttons."""
    out.write(reply.plain().strip() + "\n")
    numbered: list[str] = []
    for button in (b for row in reply.buttons for b in row):
        if button.data:
            numbered.append(button.data)
            out.write(f"  [{len(numbered)}] {button.label}\n")
        else:
            out.write(f"  ↗ {button.label} : {button.url}\n")
    if reply.attachment is not None:
        out.write(f"  📎 {reply.attachment.filename} ({len(reply.attachment.content)} octets)\n")
    return numbered


def chat(
    assistant: Assistant,
    lines: Iterable[str] = sys.stdin,
    out: TextIO = sys.stdout,
    user_id: str = "local",
) -> None:
    """A conversation in the terminal; numbers press the buttons of the last answer."""
    out.write("Comptoir, conversation locale." + BUTTON_HINT + "\n\n")
    buttons: list[str] = []
    for reply in assistant.handle(Incoming("terminal", user_id, "command", "start")):
        buttons = render(reply, out) or buttons
    out.write("\n> ")
    out.flush()
    for line in lines:
        text = line.strip()
        if text in ("/quitter", "/exit", "/quit"):
            break
        if text.isdigit() and 1 <= int(text) <= len(buttons):
            incoming = Incoming("terminal", user_id, "button", buttons[int(text) - 1])
        else:
            incoming = parse_line(text, "terminal", user_id)
        new_buttons: list[str] = []
        for reply in assistant.handle(incoming):
            new_buttons += render(reply, out)
        buttons = new_buttons or buttons
        deliver_outbox(assistant, user_id, out)
        out.write("\n> ")
        out.flush()
    out.write("\nÀ bientôt !\n")


def deliver_outbox(assistant: Assistant, user_id: str, out: TextIO) -> None:
    """Replies staff wrote in the back office (the local chat shows them after each turn)."""
    with assistant.services.db.session() as session:
        for item in outbox.claim(session, "terminal", user_id):
            render(item.reply, out)
            outbox.record(session, item.outbox_id, True, item.reply)


def reply_jsonl(
    assistant: Assistant, lines: Iterable[str] = sys.stdin, out: TextIO = sys.stdout
) -> None:
    """`{"user", "text"}` lines in, `{"user","text","intent","replies"}` lines out.

    A line may carry `"button": "<data>"` instead of text to press a button.
    """
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            payload = json.loads(line)
            user = str(payload["user"])
            text = str(payload.get("text", ""))
            button = payload.get("button")
        except (ValueError, KeyError, TypeError):
            out.write(
                json.dumps(
                    {"line": line_no, "error": 'ligne JSON {"user", "text"} attendue'},
                    ensure_ascii=False,
                )
                + "\n"
            )
            continue
        if button:
            incoming = Incoming("jsonl", user, "button", str(button))
        else:
            incoming = parse_line(text, "jsonl", user)
        outcome = assistant.process(incoming)
        assistant.mark_delivered(outcome.reply_ids)
        out.write(
            json.dumps(
                {
                    "user": payload["user"],
                    "text": text,
                    "intent": outcome.intent,
                    "replies": [
                        {"text": r.plain(), "buttons": r.button_list()} for r in outcome.replies
                    ],
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        out.flush()

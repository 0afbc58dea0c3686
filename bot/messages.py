"""What goes into and out of the assistant, whatever the channel.

`Reply.html` is Telegram-flavoured HTML (`<b>`, `<i>`, `<a>`): every piece of text that
comes from a merchant or from content is escaped where the reply is composed, never later.
Button data is short (Telegram allows 64 bytes) and always re-validated when it comes back,
since a client can forge it.

A reply marked `replaces_pressed` is the next step of the message whose button was pressed
(the diagnostic's next question, the next checklist step, a menu swapped for its outcome):
Telegram edits that message in place instead of sending a new one; other channels print it.
Only the first reply of a turn can replace.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from typing import Literal

Kind = Literal["text", "command", "button", "unsupported", "edited"]
MAX_CALLBACK_BYTES = 64
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Incoming:
    channel: str  # telegram | terminal | jsonl | test
    user_id: str
    kind: Kind
    text: str = ""  # the message, the command (without "/"), or the button data
    args: str = ""  # text after a command
    first_name: str = ""
    language: str = "fr"  # from the client (Telegram's language_code)
    update_id: int | None = None
    media: str = ""  # for unsupported: sticker | photo | voice | document | ...


@dataclass(frozen=True)
class Button:
    label: str
    data: str = ""  # callback data
    url: str = ""

    def __post_init__(self) -> None:
        if bool(self.data) == bool(self.url):
            raise ValueError("a button has either callback data or a URL")
        if len(self.data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data too long: {self.data!r}")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/json"


@dataclass(frozen=True)
class Reply:
    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    attachment: Attachment | None = None
    replaces_pressed: bool = False

    def replacing(self) -> Reply:
        """The same reply, shown in place of the pressed message where the channel can."""
        return replace(self, replaces_pressed=True)

    def plain(self) -> str:
        """Text without markup, for the terminal and JSONL outputs."""
        text = self.html.replace("<br>", "\n")
        return html.unescape(_TAG.sub("", text))

    def button_list(self) -> list[dict[str, str]]:
        return [_button_dict(b) for row in self.buttons for b in row]

    def button_rows(self) -> list[list[dict[str, str]]]:
        return [[_button_dict(b) for b in row] for row in self.buttons]

    @classmethod
    def from_stored(cls, html_text: str, button_rows: list[list[dict[str, str]]]) -> Reply:
        """Rebuild a reply saved in the database (for delivery after a restart)."""
        return cls(
            html_text,
            tuple(
                tuple(Button(b["label"], b.get("data", ""), b.get("url", "")) for b in row)
                for row in button_rows
            ),
        )


def in_place(replies: list[Reply]) -> list[Reply]:
    """A press's outcome shown in place of the pressed message: its first reply replaces."""
    if not replies:
        return replies
    return [replies[0].replacing(), *replies[1:]]


def _button_dict(button: Button) -> dict[str, str]:
    target = {"data": button.data} if button.data else {"url": button.url}
    return {"label": button.label, **target}


def short(label: str, limit: int = 60) -> str:
    """A button label that fits, cut at a word boundary."""
    if len(label) <= limit:
        return label
    cut = label[: limit - 1].rsplit(" ", 1)[0].rstrip(" :,;–-")
    return cut + "…"


def esc(value: object) -> str:
    """Escape anything dynamic before it goes into a reply."""
    return html.escape(str(value), quote=False)


def rows(*buttons: Button, per_row: int = 1) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row))

"""A campaign shown as Telegram shows it: the HTML subset Telegram renders, re-emitted tag by
tag from a parse, everything else escaped. A campaign text is written by staff, yet the back
office must not run what it contains (a `<script>` shows as text, an `onclick` is dropped).
"""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

from markupsafe import Markup

# Telegram's tag -> the tag shown here (synonyms shown once).
SHOWN = {
    "b": "b", "strong": "b", "i": "i", "em": "i", "u": "u", "ins": "u",
    "s": "s", "strike": "s", "del": "s", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "a": "a", "tg-spoiler": "span", "span": "span",
}  # fmt: skip
LINK_SCHEMES = ("http", "https", "tg")


class _Renderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []  # the tags emitted, to close them in order

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        shown = SHOWN.get(tag)
        if shown is None or (tag == "span" and values.get("class") != "tg-spoiler"):
            self.out.append(escape(self.get_starttag_text() or ""))
            return
        if shown == "a":
            href = values.get("href", "")
            if urlsplit(href).scheme not in LINK_SCHEMES:
                href = ""
            link = f'<a href="{escape(href)}" rel="noopener noreferrer">' if href else "<a>"
            self.out.append(link)
        elif shown == "span":
            self.out.append('<span class="tg-spoiler">')
        else:
            self.out.append(f"<{shown}>")
        self.open.append(shown)

    def handle_endtag(self, tag: str) -> None:
        shown = SHOWN.get(tag)
        if shown is not None and self.open and self.open[-1] == shown:
            self.out.append(f"</{self.open.pop()}>")
        else:
            self.out.append(escape(f"</{tag}>"))

    def handle_data(self, data: str) -> None:
        self.out.append(escape(data))

    def handle_comment(self, data: str) -> None:
        self.out.append(escape(f"<!--{data}-->"))

    def handle_decl(self, decl: str) -> None:
        self.out.append(escape(f"<!{decl}>"))

    def handle_pi(self, data: str) -> None:
        self.out.append(escape(f"<?{data}>"))

    def unknown_decl(self, data: str) -> None:
        self.out.append(escape(f"<![{data}]>"))


def telegram_html(text: str) -> Markup:
    """Safe HTML for the preview bubble: only Telegram's tags, links only to http(s) or tg."""
    renderer = _Renderer()
    renderer.feed(text)
    renderer.close()
    closing = "".join(f"</{tag}>" for tag in reversed(renderer.open))
    return Markup("".join(renderer.out) + closing)  # every piece escaped or built above

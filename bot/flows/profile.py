"""The optional two-question profile after /start: trade, and whether they sell online; its
last step asks whether the merchant wants the adviser's news (off unless they say yes)."""

from __future__ import annotations

from ..context import Turn
from ..messages import Button, Reply, esc
from . import news

TRADES = {
    "alim": "Commerce alimentaire",
    "resto": "Restaurant, café, hôtel",
    "boutique": "Boutique (mode, déco…)",
    "beaute": "Coiffure, beauté",
    "artisan": "Artisan, bâtiment",
    "services": "Services, conseil",
    "autre": "Autre",
}
ONLINE = {"oui": "Oui", "non": "Non", "bientot": "Pas encore, j'y pense"}


def welcome(turn: Turn) -> list[Reply]:
    name = f" {esc(turn.merchant.first_name)}" if turn.merchant.first_name else ""
    turn.set_flow("profile", step="trade")
    buttons = tuple((Button(label, f"pf:t:{key}"),) for key, label in TRADES.items())
    buttons += ((Button("Passer", "pf:skip"),),)
    return [Reply(turn.t("welcome", name=name)), Reply(turn.t("profile_trade"), buttons)]


def on_button(turn: Turn, field: str, value: str) -> list[Reply]:
    """Each answer takes the place of the question (Telegram edits it), the trade recalled."""
    if field == "skip":
        turn.set_flow(None)
        return [Reply(turn.t("profile_skipped")).replacing()]
    if field == "t" and value in TRADES:
        turn.set_merchant(trade=value)
        turn.set_flow("profile", step="online")
        buttons = tuple((Button(label, f"pf:o:{key}"),) for key, label in ONLINE.items())
        text = turn.t("profile_trade_noted", trade=esc(TRADES[value]))
        text += "\n\n" + turn.t("profile_online")
        return [Reply(text, (*buttons, (Button("Passer", "pf:skip"),))).replacing()]
    if field == "o" and value in ONLINE:
        turn.set_merchant(sells_online=value)
        turn.set_flow(None)
        text = turn.t("profile_done") + "\n\n" + turn.t("news_question")
        return [Reply(text, news.question_buttons(turn)).replacing()]
    return [Reply(turn.t("stale_button")), Reply(turn.t("profile_skipped"))]

"""The merchant's consent to the adviser's news (campaigns): /actus, the question at the end
of the /start profile, and the "Ne plus recevoir" button under every campaign message.

Off until the merchant says yes; the date of the last change is kept (shown by /actus and
/mesdonnees, erased by /oublier)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from .. import campaigns
from ..context import Turn
from ..messages import Button, Reply
from ..store.models import as_utc, utcnow
from . import campaign_buttons

PARIS = ZoneInfo("Europe/Paris")
YES = {"oui", "o", "on", "yes", "y"}
NO = {"non", "n", "off", "no", "stop"}


def set_consent(turn: Turn, on: bool) -> None:
    """Record the choice; the date changes only when the choice does (or was never made)."""
    merchant = turn.merchant
    if merchant.news_consent != on or merchant.news_consent_at is None:
        merchant.news_consent = on
        merchant.news_consent_at = utcnow()


def question_buttons(turn: Turn) -> tuple[tuple[Button, ...], ...]:
    return ((Button(turn.t("news_yes"), "nw:on"), Button(turn.t("news_no"), "nw:off")),)


def command(turn: Turn, args: str) -> list[Reply]:
    """/actus oui, /actus non, or /actus alone: the state and a button to switch."""
    word = args.strip().lower()
    if word in YES:
        set_consent(turn, True)
        return [Reply(turn.t("news_on"))]
    if word in NO:
        set_consent(turn, False)
        return [Reply(turn.t("news_off"))]
    merchant = turn.merchant
    if merchant.news_consent:
        since = as_utc(merchant.news_consent_at or utcnow())
        date = since.astimezone(PARIS).strftime("%d/%m/%Y")
        switch = Button(turn.t("news_switch_off"), "nw:off")
        return [Reply(turn.t("news_state_on", date=date), ((switch,),))]
    switch = Button(turn.t("news_switch_on"), "nw:on")
    return [Reply(turn.t("news_state_off"), ((switch,),))]


def on_button(turn: Turn, parts: list[str]) -> list[Reply]:
    """nw:on / nw:off (the profile's question, /actus); nw:stop[:<campaign>] (under a
    campaign message: plain nw:stop from messages sent before campaigns were named); and
    nw:go:<campaign>:<row>:<col>, a campaign's content button (`campaign_buttons`). The
    reply comes as a new message: the pressed one (a campaign's text, the profile's last
    step) stays in view, its keyboard removed."""
    value = parts[0] if parts else ""
    if value == "go" and len(parts) == 4 and all(p.isdigit() for p in parts[1:]):
        return campaign_buttons.press(turn, int(parts[1]), int(parts[2]), int(parts[3]))
    if len(parts) == 1 and value == "on":
        set_consent(turn, True)
        return [Reply(turn.t("news_on"))]
    if len(parts) == 1 and value in ("off", "stop"):
        set_consent(turn, False)
        return [Reply(turn.t("news_off"))]
    if len(parts) == 2 and value == "stop" and parts[1].isdigit():
        set_consent(turn, False)
        campaigns.mark_stopped(turn.session, int(parts[1]), turn.merchant.id, utcnow())
        return [Reply(turn.t("news_off"))]
    return [Reply(turn.t("stale_button"))]

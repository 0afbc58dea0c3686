"""The conversation core: `Assistant.handle(incoming) -> list[Reply]`, knowing no channel.

One merchant message is one unit of work: load the merchant, route (command, button, flow,
or free text through the NLU and the knowledge base), and store the message, what was
understood, the hits shown and the replies, in one transaction. The message is encoded at
most once, and only when something needs its vector: the intent model's n-gram cascade
decides "bonjour", "merci" or "je veux parler à quelqu'un" without it, and a route that
searches nothing never asks for it. When a search runs, the intent model and the search
share the same vector.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import numpy as np
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge_base.content_model import KnowledgeBase
from knowledge_base.lexical import tokens
from nlu.intents import ASK_INTENTS, CONTROL_INTENTS, TOPIC_LABELS
from nlu.model import ParseResult

from . import answers, flood
from .context import Services, Turn
from .flows import checklists, clarify, data_rights, diagnostic, handoff, news, profile
from .messages import Button, Incoming, Reply, esc, in_place
from .question_shape import asks_something, shape
from .store import rows, turns
from .store.database import StoreUnavailable, WriterBusy
from .store.models import Merchant, Message, utcnow
from .texts import text

log = logging.getLogger(__name__)

MAX_STORED_TEXT = 4000  # characters kept of one message
MAX_UNDERSTOOD_TEXT = 1000  # characters given to the NLU and the search
# Content words (stopwords aside) from which a "yes", "no" or "thanks" that asks is a question.
QUESTION_WORDS_MIN = 3
# The free-text routes of `Assistant._answer` that search nothing (so never read the vector):
# every control intent but these two, which search the knowledge base.
NO_SEARCH_INTENTS = frozenset(CONTROL_INTENTS) - {"start_checklist", "out_of_scope"}
# Small talk: replies that need no knowledge base, unless the message asks about a tool
# and the intent model is not all but certain of the small talk (or of "off topic"). Measured
# on 404 questions on the catalogue's tools ("c'est quoi Qonto ?", "Qonto c'est européen ?"):
# 115 read as small talk, at 0.933 at most; "combien coûte Zelty ?", "vous connaissez
# Dolibarr ?" (404 more): 118 read as off topic, at 0.965 at most; "t'es chatgpt ?" and the
# other bot challenges naming a tool in the intent data read at 0.998 or more.
SMALL_TALK = frozenset({"greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge"})
OFF_TOPIC_OR_SMALL_TALK = SMALL_TALK | {"out_of_scope"}
CERTAIN_OF_THE_READ = 0.99
# Presses that step through a flow (a diagnostic answer, a checklist step, a profile or
# reminder choice): a few indexed statements, no search, no encoding, no erasure.
QUICK_PRESSES = frozenset({"dg", "ck", "pf", "rm"})


def quick_press(incoming: Incoming) -> bool:
    return incoming.kind == "button" and incoming.text.partition(":")[0] in QUICK_PRESSES


class LazyVector:
    """A turn's vector, computed on first use only: routes that search nothing never pay it."""

    def __init__(self, compute: Callable[[], np.ndarray]) -> None:
        self._compute = compute
        self._value: np.ndarray | None = None

    def get(self) -> np.ndarray:
        if self._value is None:
            self._value = self._compute()
        return self._value

    @property
    def computed(self) -> bool:
        return self._value is not None


@dataclass(frozen=True)
class Understanding:
    """A text message understood once: its vector, if computed, feeds both the intent model
    and search.

    The vector and the intent are the question's without the merchant's introduction
    (`focus`): "je suis fleuriste à Nantes" must not steer retrieval nor the topic it is
    ranked under; the entities are read in the introduction too (a tool named there)."""

    text: str
    lazy_vector: LazyVector
    parse: ParseResult
    focus: str = ""
    other: str = ""  # a second question asked in the same message
    catalogue: KnowledgeBase | None = None  # the tools a message may name

    @property
    def vector(self) -> np.ndarray:
        """Encodes the focus on first use (once per turn)."""
        return self.lazy_vector.get()

    @property
    def encoded(self) -> bool:
        return self.lazy_vector.computed

    @cached_property
    def asks_while_closing(self) -> bool:
        """A closing word for the intent model, but the message asks something: "ouvrir le
        dimanche j'ai le droit" reads like "bon dimanche", "je suis pas obligé de l'imprimer
        non ?" like a "non". A yes, a no or a thanks asks only with words of a question of its
        own ("non ?", "ah bon ?" stay replies). Read once, for the choice to encode and for
        the route."""
        intent = self.parse.intent
        if intent == "goodbye":
            return asks_something(self.text)
        if intent in ("affirm", "deny", "thanks"):
            return asks_something(self.text) and len(tokens(self.text)) >= QUESTION_WORDS_MIN
        return False

    @cached_property
    def asks_about_a_tool(self) -> bool:
        """ "c'est quoi Qonto ?" reads like "c'est quoi toi ?" (a question to the bot), "c'est
        quoi elloha ?" like a hello, "combien coûte Zelty ?" like an off-topic question: such
        a message that names a tool and asks something asks about that tool, and is searched
        as an unsure turn (the tool's card if the ranker is sure of it, else choices). Read
        once, for the choice to encode and for the route."""
        parse = self.parse
        if parse.intent not in OFF_TOPIC_OR_SMALL_TALK:
            return False
        if parse.confidence >= CERTAIN_OF_THE_READ or not asks_something(self.text):
            return False
        # A name read exactly, not a typo-tolerant guess ("ça vaa ?" is no Canva); off
        # topic, only a tool of the catalogue ("combien coûte Zelty ?", not an Uber ride).
        exact = any(e.entity == "tool" and e.extractor != "fuzzy" for e in parse.entities)
        if exact and parse.intent in SMALL_TALK:
            return True
        return self.catalogue is not None and bool(self.catalogue.tools_named_in(self.text))

    @cached_property
    def asks_beyond_the_diagnostic(self) -> bool:
        """Read as the diagnostic, but with words of another subject ("tester le niveau
        informatique de ma secrétaire"): searched before the diagnostic starts. Read once,
        for the choice to encode and for the route."""
        return self.parse.intent == "start_diagnostic" and not diagnostic.asks_for_it_only(
            self.text
        )

    @cached_property
    def asks_for_the_checklists(self) -> bool:
        """ "checklist", "mes checklists": the list, no search (so no encoding). Read once,
        for the choice to encode and for the route."""
        return self.parse.intent == "start_checklist" and checklists.asks_for_none_in_particular(
            self.text
        )


@dataclass(frozen=True)
class Outcome:
    """What one turn produced: the replies and, for channels, the stored reply ids."""

    replies: list[Reply]
    reply_ids: list[int]
    merchant_id: int | None
    intent: str | None = None
    # False when the database could not record the message: a webhook answers 503 so that
    # Telegram delivers the update again later.
    stored: bool = True
    # A text turn: whether its vector was computed (None: no text was understood).
    encoded: bool | None = None


class _NotQuick(Exception):
    """A quick press that needs the ORM turn: its transaction is rolled back."""


class Assistant:
    def __init__(self, services: Services, clock: Callable[[], datetime] = utcnow) -> None:
        """`clock` gives a message's arrival time (flood windows); tests pass their own."""
        self.services = services
        self.clock = clock

    # -- entry points -------------------------------------------------------------------
    def handle(self, incoming: Incoming) -> list[Reply]:
        return self.process(incoming).replies

    def process_now(self, incoming: Incoming) -> Outcome | None:
        """The turn of a quick press, in the caller's thread when it need not wait: on SQLite,
        with this process's write turn free. None otherwise: run `process` in a thread.

        For the Telegram channel's event loop. Handing a turn of about a millisecond to a
        thread and back cost more CPU than the turn: the two threads trade the GIL
        (benchmarks/RESULTS.md, issue 12), and a turn that is Python all along holds the GIL
        in a thread too, so other chats gain nothing from the thread. On PostgreSQL a turn
        waits on the network, on the chat's lock and on its commit's WAL flush (several
        milliseconds under load, measured: benchmarks/RESULTS.md), which would hold every
        other chat up: it always goes to a thread."""
        if self.services.db.shared_by_workers or not quick_press(incoming):
            return None
        try:
            return self.process(incoming, wait=False)
        except WriterBusy:
            return None

    def process(self, incoming: Incoming, wait: bool = True) -> Outcome:
        """Handle one message; replies are stored as undelivered until `mark_delivered`.
        `wait=False` (SQLite): `WriterBusy` instead of queueing behind another writer."""
        language = "en" if incoming.language.lower().startswith("en") else "fr"
        now = self.clock()
        limit = flood.FloodLimit.from_settings(self.services.settings)
        db = self.services.db
        try:
            if quick_press(incoming):
                outcome = self._press(incoming, language, now, limit, wait)
                if outcome is not None:
                    return outcome
            if not db.shared_by_workers:
                # A flooding chat is found by one cheap read, before anything costly: for a
                # text, before it is understood (encoding, intent, entities: most of a
                # turn's time), which needs no database, so it happens before the
                # transaction: SQLite holds its write lock for the rest of the turn, and
                # other merchants' turns wait on it. Other kinds are counted inside it.
                early = limit is not None and incoming.kind == "text"
                held = early and self._over_limit(limit, incoming, now)  # type: ignore[arg-type]
                understood = None if held else self._understand(incoming)
                if understood is not None and self._searches(understood):
                    understood.vector  # noqa: B018 - encoded now, not under the write lock
                with db.writing(wait) as session:
                    if early:
                        merchant = turns.find_merchant(
                            session, incoming.channel, incoming.user_id, lock=held
                        )
                    else:
                        merchant, held = self._merchant_counted(session, incoming, limit, now)
                    flooding = limit if held else None
                    outcome = self._turn(
                        session, merchant, incoming, language, understood, now, flooding
                    )
            else:
                with db.writing() as session:
                    # Workers share PostgreSQL: one chat's turns run one after the other, in
                    # the order they took this lock, whichever worker received them. The
                    # flood count is read under it, in the same transaction, before anything
                    # costly.
                    db.lock_for_transaction(session, f"chat:{incoming.channel}:{incoming.user_id}")
                    merchant, held = self._merchant_counted(session, incoming, limit, now)
                    understood = None if held else self._understand(incoming)
                    flooding = limit if held else None
                    outcome = self._turn(
                        session, merchant, incoming, language, understood, now, flooding
                    )
            if understood is None:
                return outcome
            self.services.understanding.count(understood.encoded)
            return dataclasses.replace(outcome, encoded=understood.encoded)
        except StoreUnavailable:
            log.exception("database unavailable")
            return Outcome([Reply(text(language, "store_down"))], [], None, stored=False)
        except IntegrityError:
            # Two workers raced on the same update_id: the other one answers it.
            return Outcome([], [], None)

    def mark_delivered(self, reply_ids: list[int], wait: bool = True) -> bool:
        """Record that these replies reached the merchant. `wait=False` (the Telegram
        channel's event loop): only on SQLite with this process's write turn free, one
        indexed UPDATE; False means nothing was done, call it again in a thread (see
        `process_now`)."""
        if not reply_ids:
            return True
        if not wait and self.services.db.shared_by_workers:
            return False
        try:
            with self.services.db.connection(wait=wait, pipelined=True) as connection:
                turns.mark(connection, reply_ids, delivered=True, driver=self.services.db.driver)
        except WriterBusy:
            return False
        return True

    def release(self, reply_ids: list[int]) -> None:
        """Telegram refused these replies: any worker's delivery job may retry them now."""
        if reply_ids:
            with self.services.db.connection() as connection:
                turns.mark(connection, reply_ids, delivered=False, driver=self.services.db.driver)

    # -- one turn -----------------------------------------------------------------------
    def _over_limit(self, limit: flood.FloodLimit, incoming: Incoming, now: datetime) -> bool:
        """Before the turn's transaction, on a bare connection."""
        with self.services.db.connection(write=False) as connection:
            return limit.over(connection, incoming.channel, incoming.user_id, now)

    @staticmethod
    def _merchant_counted(
        session: Session, incoming: Incoming, limit: flood.FloodLimit | None, now: datetime
    ) -> tuple[Merchant | None, bool]:
        """The chat's merchant (None: a new one) and whether the chat is over the flood
        limit, in the turn's transaction: one statement (the count is a subquery of the
        merchant's read). Over the limit, the row is read again locked: the chat's turns
        queue on it (PostgreSQL; SQLite has one writer), so two workers cannot both send
        the notice."""
        channel, user = incoming.channel, incoming.user_id
        if limit is None:
            return turns.find_merchant(session, channel, user, lock=False), False
        merchant, over = limit.merchant_and_over(session, channel, user, now)
        if over:
            merchant = turns.find_merchant(session, channel, user, lock=True)
        return merchant, over

    def _understand(self, incoming: Incoming) -> Understanding | None:
        if incoming.kind != "text":
            return None
        message = incoming.text.strip()[:MAX_UNDERSTOOD_TEXT]
        if not message:
            return None
        asked = shape(message)
        vector = LazyVector(lambda: self.services.query_vectors.vector(asked.focus))
        # The intent model asks for the vector only when its n-gram cascade is unsure. It
        # reads the question without the introduction, the entities the whole of it.
        parse = self.services.nlu.parse(asked.asked, encode=vector.get, intent_text=asked.focus)
        return Understanding(message, vector, parse, asked.focus, asked.other, self.services.kb)

    def _searches(self, understood: Understanding) -> bool:
        """Whether `_answer` will search for this message (unsure, a question, a checklist
        named, off topic, a "goodbye" that asks): the only routes that need its vector."""
        parse = understood.parse
        unsure = parse.confidence < self.services.settings.nlu_fallback_threshold
        if unsure or understood.asks_while_closing or understood.asks_beyond_the_diagnostic:
            return True
        if understood.asks_about_a_tool:
            return True
        if understood.asks_for_the_checklists:
            return False
        return parse.intent not in NO_SEARCH_INTENTS

    def _turn(  # type: ignore[no-untyped-def]
        self,
        session,
        merchant: Merchant | None,
        incoming: Incoming,
        language: str,
        understood: Understanding | None,
        now: datetime,
        flooding: flood.FloodLimit | None = None,
    ) -> Outcome:
        """`merchant`: the chat's, read in this transaction (None: a new one). `flooding`:
        the chat is over its limit (the limit, to decide what still goes)."""
        if merchant is None:
            values = dict(
                channel=incoming.channel,
                external_id=incoming.user_id,
                first_name=incoming.first_name[:128],
                language=language,
            )
            merchant = turns.add_merchant(session, values, self.services.db.driver)
        if incoming.update_id is not None and not turns.record_update(
            session, incoming.update_id, merchant.id, self.services.db.driver
        ):
            return Outcome([], [], merchant.id)  # already answered (re-delivery)
        if merchant.language != language:
            # Set only when it changed: any set marks the merchant dirty, and the next
            # query's autoflush would then run a unit of work that writes nothing.
            merchant.language = language
        if merchant.unreachable_at is not None:
            merchant.unreachable_at = None  # they write to the bot: it is not blocked any more

        notice = answer = False
        if flooding is not None:  # read before this message is stored
            notice = not merchant.handoff_active and flood.notice_due(session, merchant.id)
            answer = flooding.let_through(session, merchant.id, incoming, now)
        stored_text = self._stored_text(incoming)
        message = Message(
            merchant_id=merchant.id,
            direction="in",
            author="merchant",
            kind=incoming.kind,
            text=stored_text[:MAX_STORED_TEXT],
            flooded=flooding is not None,
            created_at=now,
        )
        turn = Turn(self.services, session, merchant, incoming=message)
        turn.understood = understood

        # Over the limit: stored for staff, not answered (but for a priority request).
        replies = self._route(turn, incoming) if flooding is None or answer else []
        if turn.log.pop("erased", False):
            return Outcome(replies, [], None)  # nothing about the merchant may remain
        if notice:
            replies.append(Reply(turn.t("flood")))
        return self._close(turn, replies, now)

    def _press(
        self,
        incoming: Incoming,
        language: str,
        now: datetime,
        limit: flood.FloodLimit | None,
        wait: bool,
    ) -> Outcome | None:
        """A quick press's turn on a bare connection: the merchant and what the flows read
        as plain rows, every write a Core statement, no ORM session (its objects, the session
        and its commit were half of such a turn's CPU: benchmarks/RESULTS.md, issue 12).
        None when the ORM turn must run instead, having written nothing: a merchant not
        known yet, a chat over the flood limit, a language to change, a merchant who had
        blocked the bot."""
        try:
            # PostgreSQL: in pipeline mode, every statement run on the driver
            # (`Database.connection`).
            with self.services.db.connection(wait=wait, pipelined=True) as connection:
                return self._press_turn(connection, incoming, language, now, limit)
        except _NotQuick:
            return None  # rolled back

    def _press_turn(
        self,
        connection: Connection,
        incoming: Incoming,
        language: str,
        now: datetime,
        limit: flood.FloodLimit | None,
    ) -> Outcome | None:
        """`_press` in its transaction."""
        db, driver = self.services.db, self.services.db.driver
        channel, user = incoming.channel, incoming.user_id
        if db.shared_by_workers:
            db.lock_for_transaction(connection, f"chat:{channel}:{user}")
        # PostgreSQL: the update recorded by a statement queued with the merchant's read,
        # after the lock (one round trip for the three); undone below if the ORM turn runs.
        recorded = (
            turns.start_recording(connection, incoming.update_id, channel, user, driver)
            if incoming.update_id is not None
            else None
        )
        if limit is None:
            merchant, over = rows.find_merchant(connection, driver, channel, user), False
        else:
            merchant, over = limit.merchant_row_and_over(connection, driver, channel, user, now)
        if (
            merchant is None
            or over
            or merchant.language != language
            or merchant.unreachable_at is not None
        ):
            raise _NotQuick
        if recorded is not None:
            fresh = recorded()
        else:
            fresh = incoming.update_id is None or turns.record_update(
                connection, incoming.update_id, merchant.id, driver
            )
        if not fresh:
            return Outcome([], [], merchant.id)  # already answered (re-delivery)
        message = Message(
            merchant_id=merchant.id,
            direction="in",
            author="merchant",
            kind=incoming.kind,
            text=self._stored_text(incoming)[:MAX_STORED_TEXT],
            flooded=False,
            created_at=now,
        )
        turn = Turn(self.services, None, merchant, incoming=message, bare=connection)
        return self._close(turn, self._route(turn, incoming), now)

    def _close(self, turn: Turn, replies: list[Reply], now: datetime) -> Outcome:
        """The end of a turn: the merchant, its message and the replies written."""
        merchant = turn.merchant
        # Written after routing (when the merchant was seen, and its flow if a flow moved
        # on: one Core UPDATE), and only what the turn learnt: a button press leaves its
        # message row as inserted.
        turn.save(now)
        unstored = turn.unstored_incoming()
        sent_by = now + self.services.settings.delivery_lease
        stored = [
            dict(
                merchant_id=merchant.id,
                direction="out",
                author="bot",
                kind="text",
                text=reply.plain()[:MAX_STORED_TEXT],
                html=reply.html,
                buttons=reply.button_rows(),
                # A file is not stored for re-sending: the merchant can ask again.
                delivered=reply.attachment is not None,
                # The worker answering sends it; other workers' delivery jobs leave it alone
                # unless this one dies before confirming.
                claimed_until=sent_by,
                created_at=now,
            )
            for reply in replies
        ]
        # One flush (the merchant's update, the flows' changes), then the message (if not
        # stored yet) and the replies in one insert, in order (ids ascending: the
        # conversation's order). A quick press writes the replies as rows (no ORM object:
        # nothing reads them back).
        driver = self.services.db.driver
        new: list[Message | dict[str, object]] = [turns.message_row(v) for v in stored]
        if unstored is not None:
            new.insert(0, unstored)
        if turn.session is not None:
            ids = turns.insert_messages(turn.session, new, driver)
        else:
            ids = turns.insert_rows(turn.connection, new, driver) if new else []
        intent = turn.incoming.intent if turn.incoming is not None else None
        return Outcome(replies, ids[len(new) - len(stored) :], merchant.id, intent)

    @staticmethod
    def _stored_text(incoming: Incoming) -> str:
        if incoming.kind == "command":
            return f"/{incoming.text} {incoming.args}".strip()
        if incoming.kind == "unsupported":
            return f"[{incoming.media or 'pièce jointe'}]"
        return incoming.text

    def _route(self, turn: Turn, incoming: Incoming) -> list[Reply]:
        if incoming.kind == "command":
            return self._command(turn, incoming.text.lower(), incoming.args)
        if incoming.kind == "button":
            return self._button(turn, incoming.text)
        if turn.merchant.handoff_active:
            return []  # a human has the conversation; the message is stored for them
        if incoming.kind == "unsupported":
            return [Reply(turn.t("unsupported"))]
        if incoming.kind == "edited":
            return [Reply(turn.t("edited"))]
        return self._text(turn, incoming.text)

    def _command(self, turn: Turn, command: str, args: str) -> list[Reply]:
        if command in ("mesdonnees",):
            return data_rights.export_reply(turn)
        if command == "oublier":
            return data_rights.confirm_forget(turn)
        if command == "actus":  # consent is the merchant's to change, even during a hand-off
            return news.command(turn, args)
        if turn.merchant.handoff_active and command != "humain":
            return []
        if command == "start":
            return profile.welcome(turn)
        if command in ("aide", "help"):
            return [Reply(turn.t("help"))]
        if command == "diagnostic":
            return diagnostic.start(turn)
        if command == "checklists":
            return checklists.list_checklists(turn)
        if command == "progression":
            return checklists.progress(turn)
        if command == "humain":
            return handoff.request(turn, args)
        return [Reply(turn.t("unknown_command"))]

    def _button(self, turn: Turn, data: str) -> list[Reply]:
        """Button data is untrusted: every branch validates what it reads.

        Where the outcome is the next step of the pressed message (a yes/no question
        answered, a menu's choice, the next question or step: the flows decide), it replaces
        that message (`Reply.replaces_pressed`); information asked from an answer (a guide,
        feedback, a second question) comes as a new message and leaves the answer in view."""
        parts = data.split(":")
        head = parts[0]
        if head == "fg" and len(parts) == 2:
            if parts[1] == "yes":
                data_rights.erase(turn.session, turn.merchant)
                turn.log["erased"] = True
                return [Reply(turn.t("forget_done")).replacing()]
            return [Reply(turn.t("forget_cancelled")).replacing()]
        if head == "nw":  # consent (even during a hand-off) and campaign buttons
            return news.on_button(turn, parts[1:])
        if head == "hf" and len(parts) == 2:
            if parts[1] == "cancel" and turn.merchant.handoff_active:
                return in_place(handoff.cancel(turn))
            if parts[1] == "start":
                return in_place(handoff.request(turn, turn.flow_value("pending_question", "")))
            if parts[1] == "no" and not turn.merchant.handoff_active:
                turn.set_flow(None)
                return [Reply(turn.t("handoff_declined")).replacing()]
        if turn.merchant.handoff_active:
            return []
        if head == "fb" and len(parts) == 3 and parts[1].isdigit() and parts[2] in "+-":
            return self._feedback(turn, int(parts[1]), 1 if parts[2] == "+" else -1)
        if head == "ck" and len(parts) == 3 and parts[1] in ("o", "m"):
            return checklists.open_checklist(turn, parts[2], from_menu=parts[1] == "m")
        if head == "ck" and len(parts) == 4:
            return checklists.on_button(turn, parts[1], parts[2], parts[3])
        if head == "rm" and len(parts) == 2:
            return checklists.set_reminder(turn, parts[1])
        if head == "dg" and len(parts) == 4 and parts[1] == "a":
            return diagnostic.answer(turn, parts[2], parts[3])
        if head == "pf" and len(parts) in (2, 3):
            return profile.on_button(turn, parts[1], parts[2] if len(parts) == 3 else "")
        if head == "q2" and len(parts) == 2 and parts[1].isdigit():
            return self._second_question(turn, int(parts[1]))
        if head == "cl" and len(parts) == 2 and parts[1].isdigit():
            return clarify.choose(turn, int(parts[1]))
        if head == "fq" and len(parts) == 2 and parts[1] in turn.kb.faq:
            return [answers.faq_reply(turn, turn.kb.faq[parts[1]])]
        if head == "gd" and len(parts) == 2 and parts[1] in turn.kb.guides:
            return [answers.guide_reply(turn, turn.kb.guides[parts[1]])]
        if head == "tp" and len(parts) == 2 and parts[1] in ASK_INTENTS:
            question = turn.flow_value("pending_question")
            if question:
                turn.set_flow(None)  # the "Vouliez-vous dire…" menu gives way to the answer
                return in_place(self._answer(turn, question, topic=parts[1]))
            return [Reply(f"{TOPIC_LABELS[parts[1]]} : quelle est votre question ?").replacing()]
        return [Reply(turn.t("stale_button")), Reply(turn.t("help"))]

    def _feedback(self, turn: Turn, message_id: int, value: int) -> list[Reply]:
        message = turn.session.get(Message, message_id)
        if message is None or message.merchant_id != turn.merchant.id:
            return [Reply(turn.t("stale_button"))]
        message.feedback = value
        return [Reply(turn.t("feedback_thanks_up" if value > 0 else "feedback_thanks_down"))]

    def _text(self, turn: Turn, raw: str) -> list[Reply]:
        replies: list[Reply] = []
        message = raw.strip()
        if not message:
            return [Reply(turn.t("help"))]
        if len(message) > MAX_UNDERSTOOD_TEXT:
            message = message[:MAX_UNDERSTOOD_TEXT]
            replies.append(Reply(turn.t("too_long")))
        return replies + self._answer(turn, message)

    def _answer(self, turn: Turn, message: str, topic: str | None = None) -> list[Reply]:
        understood = turn.understood
        if understood is None or understood.text != message:  # e.g. a topic button's question
            understood = self._understand(Incoming("", "", "text", message))
            assert understood is not None
        parse = understood.parse
        turn.log.update(
            intent=parse.intent,
            confidence=parse.confidence,
            entities=[e.to_dict() for e in parse.entities],
        )
        intent = topic or parse.intent
        threshold = self.services.settings.nlu_fallback_threshold
        # Only the routes that search read `understood.vector` (and so encode the message).
        if topic is None and parse.confidence < threshold:
            return clarify.unsure(turn, understood.focus, understood.vector, parse)
        if intent in ASK_INTENTS:
            replies = answers.answer_question(
                turn, understood.focus, understood.vector, parse, topic=intent, doubt=topic is None
            )
            return replies + self._offer_other_question(turn, understood)
        if intent == "human_handoff":
            return clarify.confirm_handoff(turn, message)
        if intent == "start_diagnostic":
            if topic is None and understood.asks_beyond_the_diagnostic:
                return self._answer_or_diagnostic(turn, understood)
            return diagnostic.start(turn)
        if intent == "start_checklist":
            if understood.asks_for_the_checklists:
                return checklists.list_checklists(turn)
            return self._checklist_from_text(turn, understood)
        if topic is None and understood.asks_about_a_tool:
            return clarify.unsure(turn, understood.focus, understood.vector, parse)
        name = f" {turn.merchant.first_name}" if turn.merchant.first_name else ""
        if intent == "greet":
            return [Reply(turn.t("greet", name=esc(name)))]
        if intent == "out_of_scope":
            return self._off_topic(turn, understood)
        if topic is None and understood.asks_while_closing:
            # "ouvrir le dimanche j'ai le droit" read as "bon dimanche": a question is no
            # leave nor a reply; the unsure turn answers it if the ranker is sure, else offers
            # choices.
            return clarify.unsure(turn, understood.focus, understood.vector, parse)
        if intent in ("goodbye", "thanks", "affirm", "deny", "bot_challenge"):
            return [Reply(turn.t(intent))]
        return clarify.unsure(turn, understood.focus, understood.vector, parse)

    def _off_topic(self, turn: Turn, understood: Understanding) -> list[Reply]:
        """ "Off topic" for the intent model, unless the knowledge base is very sure."""
        sure = self._sure_item(turn, understood, answers.SURE_WHEN_OUT_OF_SCOPE)
        return sure or [Reply(turn.t("out_of_scope"))]

    def _answer_or_diagnostic(self, turn: Turn, understood: Understanding) -> list[Reply]:
        """The knowledge base's item if the ranker is sure of it (with the way to the
        diagnostic in one line), else the diagnostic, as asked."""
        sure = self._sure_item(turn, understood, answers.SURE_WHEN_INTENT_UNSURE)
        return [*sure, Reply(turn.t("diagnostic_hint"))] if sure else diagnostic.start(turn)

    def _sure_item(self, turn: Turn, understood: Understanding, threshold: float) -> list[Reply]:
        """The best item as the answer if the ranker rates it `threshold` or more (its search
        logged, what it serves first), else nothing and no hits logged: the route's own
        answer (off topic, the diagnostic) is what the merchant gets."""
        hits = self.services.search.search(
            understood.focus,
            understood.vector,
            topic=None,
            k=3,
            intents=understood.parse.intent_scores(),
        )
        answers.log_hits(turn, hits)  # first: the answer moves what it serves to the head
        named = understood.parse.entity_values("tool")
        sure = answers.sure_answer(
            turn, understood.focus, understood.vector, hits, threshold, named
        )
        if not sure:
            answers.log_hits(turn, [])
        return sure

    def _offer_other_question(self, turn: Turn, understood: Understanding) -> list[Reply]:
        """Two questions in one message: the second is one press away."""
        if not understood.other or turn.incoming_message_id is None:
            return []
        button = Button(turn.t("other_question_button"), f"q2:{turn.incoming_message_id}")
        return [Reply(turn.t("other_question", question=esc(understood.other)), ((button,),))]

    def _second_question(self, turn: Turn, message_id: int) -> list[Reply]:
        message = turn.session.get(Message, message_id)
        if message is None or message.merchant_id != turn.merchant.id:
            return [Reply(turn.t("stale_button"))]
        other = shape(message.text[:MAX_UNDERSTOOD_TEXT]).other
        if not other:
            return [Reply(turn.t("stale_button"))]
        turn.understood = None
        return self._answer(turn, other)

    def _checklist_from_text(self, turn: Turn, understood: Understanding) -> list[Reply]:
        """ "checklist rgpd" opens that one; a checklist nothing names lists them. An opened
        checklist is the answer the merchant got: the search is logged with it, as a
        question's hits are (the back office shows it, `kb eval` scores it); a menu answers
        nothing."""
        message = understood.text
        hits = self.services.search.search(
            message,
            understood.vector,
            topic="start_checklist",
            k=3,
            intents=understood.parse.intent_scores(),
        )
        named_id = checklists.named_in(message, self.services.kb.checklists.values())
        if named_id is None:
            named_id = checklists.searched(hits)  # "une lettre d'info, étape par étape"
        if named_id is None:
            return checklists.list_checklists(turn)
        answers.log_hits(turn, hits)
        answers.log_served(turn, "checklist", [named_id])
        return checklists.open_checklist(turn, named_id)

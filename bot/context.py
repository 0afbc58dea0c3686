"""The services a turn needs, and the turn itself (one merchant message, one transaction)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from knowledge_base.content_model import KnowledgeBase
from knowledge_base.search import KnowledgeSearch
from nlu.encoder import Encoder
from nlu.model import Parser
from nlu.query_cache import QueryCache

from .config import Settings
from .store import turns
from .store.database import Database
from .store.models import Merchant, Message
from .store.rows import MerchantRow
from .texts import text


@dataclass
class UnderstandingCounts:
    """This process's text turns, and how many needed the message's vector (/metrics): the
    others were understood by the n-gram cascade and searched nothing."""

    text_turns: int = 0
    encoded_turns: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, encoded: bool) -> None:
        with self._lock:
            self.text_turns += 1
            self.encoded_turns += encoded

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.text_turns, self.encoded_turns


@dataclass
class Services:
    """Built once at start (bot.services.build_services) and passed in: no globals."""

    settings: Settings
    db: Database
    encoder: Encoder
    nlu: Parser
    kb: KnowledgeBase
    search: KnowledgeSearch
    # A turn's vector goes through this cache (COMPTOIR_VECTOR_CACHE_SIZE entries). Built
    # here from the settings, never passed: every Services has the configured one.
    query_vectors: QueryCache = field(init=False)
    # Text turns and how many needed the message's vector (bot.assistant, /metrics).
    understanding: UnderstandingCounts = field(init=False)

    def __post_init__(self) -> None:
        self.query_vectors = QueryCache(self.encoder, self.settings.vector_cache_size)
        self.understanding = UnderstandingCounts()


# What a turn learns that is kept on the merchant's message row.
LOGGED_FIELDS = ("intent", "confidence", "entities", "hits", "answered")


@dataclass
class Turn:
    """One merchant message's turn. Most turns hold an ORM session and the `Merchant`; a
    quick press (`bot.assistant.QUICK_PRESSES`) holds a bare connection and a `MerchantRow`
    (`session` None): the flows it reaches read and write through `connection` only."""

    services: Services
    session: Session | None
    merchant: Merchant | MerchantRow
    # The merchant's message, added to the session only when something needs its row (a
    # reply's buttons carry its id) or at the end of the turn: then it is inserted once,
    # with what the turn learnt, alongside the replies.
    incoming: Message | None = None
    understood: Any = None  # bot.assistant.Understanding of a text message, if any
    log: dict[str, Any] = field(default_factory=dict)  # what the turn learned (intent, hits...)
    # The flow was changed (`set_flow`): `save` writes it. Whoever runs a turn that may
    # change the flow calls `save` before committing (the assistant's `_turn` does).
    flow_changed: bool = False
    # A quick press's connection (and transaction), where `session` is None.
    bare: Connection | None = None

    @property
    def connection(self) -> Connection:
        """The turn's connection, in its transaction: for Core statements."""
        if self.bare is not None:
            return self.bare
        assert self.session is not None
        return self.session.connection()

    @property
    def incoming_message_id(self) -> int | None:
        """The merchant's message id (it is stored now if it was not yet)."""
        if self.incoming is None:
            return None
        if self.incoming.id is None and self.session is None:
            self._log_into(self.incoming)
            [self.incoming.id] = turns.insert_rows(
                self.connection, [self.incoming], self.services.db.driver
            )
        elif self.incoming.id is None:
            if inspect(self.incoming).transient:
                self._log_into(self.incoming)
                turns.insert_now(self.session, self.incoming, self.services.db.driver)
            else:
                self.store_incoming()
                self.session.flush()
        return self.incoming.id

    def store_incoming(self) -> None:
        """Add the merchant's message to the session with what the turn learnt so far (the
        intent, hits...); again at the end, only what changed is written."""
        message = self.incoming
        if message is None:
            return
        self._log_into(message)
        assert self.session is not None
        self.session.add(message)

    def unstored_incoming(self) -> Message | None:
        """The merchant's message with what the turn learnt, if nothing added it to the
        session yet (the turn's end inserts it with the replies, in one statement); None if
        it is there already (what it learnt since is written at the next flush)."""
        message = self.incoming
        if self.session is None:  # a quick press: stored already, or now with the replies
            if message is None or message.id is not None:
                return None
            self._log_into(message)
            return message
        if message is None or not inspect(message).transient:
            self.store_incoming()
            return None
        self._log_into(message)
        return message

    def _log_into(self, message: Message) -> None:
        """What the turn learnt, onto its message. Only values that differ are set: a stored
        message set again to the same values is still "dirty" for the ORM, whose flush then
        compares every column for nothing (0.4 ms a turn that stored it early, for its
        buttons)."""
        for name in LOGGED_FIELDS:
            value = self.log.get(name)
            if value is not None and value != [] and getattr(message, name) != value:
                setattr(message, name, value)

    @property
    def kb(self) -> KnowledgeBase:
        return self.services.kb

    @property
    def language(self) -> str:
        return self.merchant.language

    def t(self, key: str, **values: object) -> str:
        return text(self.merchant.language, key, **values)

    def set_flow(self, name: str | None, **state: Any) -> None:
        """The merchant's flow, written by `save` at the end of the turn (not by the ORM's
        unit of work: see `bot.store.turns.save_merchant`)."""
        flow_state = dict(state) if name else {}
        if isinstance(self.merchant, MerchantRow):
            self.merchant.flow, self.merchant.flow_state = name, flow_state
        else:
            set_committed_value(self.merchant, "flow", name)
            set_committed_value(self.merchant, "flow_state", flow_state)
        self.flow_changed = True

    def set_merchant(self, **values: Any) -> None:
        """Set the merchant's profile columns (trade, sells_online, reminders): on a
        `MerchantRow` written by `save`'s UPDATE, on the ORM object by its unit of work."""
        if isinstance(self.merchant, MerchantRow):
            self.merchant.changes.update(values)
            return
        for name, value in values.items():
            setattr(self.merchant, name, value)

    def save(self, now: datetime) -> None:
        """End of the turn: the merchant was seen now, in its flow (one UPDATE)."""
        turns.save_merchant(
            self.connection if self.session is None else self.session,
            self.merchant,
            now,
            flow=self.flow_changed,
            driver=self.services.db.driver,
        )

    def flow_value(self, key: str, default: Any = None) -> Any:
        return (self.merchant.flow_state or {}).get(key, default)

"""Telegram channel: python-telegram-bot 22, thin. Updates in, `Assistant.process`, replies out.

- Each chat's updates are handled in order, different chats concurrently (`PerChatProcessor`);
  the assistant's work (database, encoder) runs in a worker thread.
- Replies are stored undelivered by the assistant and marked delivered after Telegram
  accepted them; at start, anything left undelivered by a crash is sent. Update ids are
  recorded, so a re-delivered update is never answered twice.
- Staff messages (outbox) and checklist reminders are sent by repeating jobs that read the
  database, so they survive restarts without any in-memory schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from .. import outbox
from ..assistant import Assistant
from ..config import Settings
from ..context import Turn
from ..flows import checklists
from ..messages import Incoming, Reply
from ..reload import refresh
from ..store import retention
from ..store.models import Merchant, Message
from ..texts import text

log = logging.getLogger(__name__)

MAX_MESSAGE = 4096
COMMANDS = [
    ("start", "Présentation et profil"),
    ("aide", "Ce que Comptoir sait faire"),
    ("diagnostic", "Faire le point sur votre numérique"),
    ("checklists", "Avancer étape par étape"),
    ("progression", "Où vous en êtes"),
    ("humain", "Parler à un conseiller"),
    ("mesdonnees", "Recevoir vos données"),
    ("oublier", "Effacer toutes vos données"),
]
OUTBOX_INTERVAL = 5.0  # seconds
CONCURRENT_UPDATES = 32
TYPING_AFTER = 0.4  # seconds before showing "typing…"
RETRY_AFTER = 15.0  # undelivered replies older than this are sent again by the job
REMINDER_INTERVAL = 600.0
UNSUPPORTED = (
    filters.Sticker.ALL
    | filters.PHOTO
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.Document.ALL
    | filters.LOCATION
    | filters.CONTACT
    | filters.ANIMATION
    | filters.POLL
    | filters.Dice.ALL
)


# PTB's own limit, taken before `do_process_update`: only a bound on waiting updates, since
# the real limit (`max_concurrent_updates`) is taken once an update's chat is free.
WAITING_UPDATES = 100_000


class PerChatProcessor(BaseUpdateProcessor):
    """Concurrent across chats, sequential within a chat (a merchant's turns stay ordered).

    An update first waits for its chat's previous one, then for one of the
    `max_concurrent_updates` slots: a chat with fifty queued messages holds one slot, not all
    of them, so other merchants do not queue behind a flood."""

    def __init__(self, max_concurrent_updates: int = 32) -> None:
        super().__init__(WAITING_UPDATES)
        self._running = asyncio.BoundedSemaphore(max_concurrent_updates)
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            async with self._running:
                await coroutine
            return
        lock = self._locks[chat.id]
        async with lock, self._running:
            await coroutine
        if not lock.locked() and not lock._waiters:
            self._locks.pop(chat.id, None)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def split_message(html_text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut under Telegram's limit at paragraph, then line, then character boundaries (tags
    stay balanced because replies only use inline tags within a paragraph)."""
    return _pack(html_text, ["\n\n", "\n", ""], limit)


def _pack(text: str, separators: list[str], limit: int) -> list[str]:
    """Greedily join pieces split on the first separator; oversized pieces are split on the
    next one."""
    if len(text) <= limit:
        return [text]
    separator, finer = separators[0], separators[1:]
    if not separator:
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    parts: list[str] = []
    current = ""
    for piece in (p for chunk in text.split(separator) for p in _pack(chunk, finer, limit)):
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.label, url=b.url)
                if b.url
                else InlineKeyboardButton(b.label, callback_data=b.data)
                for b in row
            ]
            for row in reply.buttons
        ]
    )


class TelegramChannel:
    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.settings: Settings = assistant.services.settings
        self._application: Application | None = None

    # -- building ---------------------------------------------------------------------
    def build(self) -> Application:
        settings = self.settings
        builder = (
            Application.builder()
            .token(settings.telegram_token)
            .base_url(settings.telegram_base_url)
            .base_file_url(settings.telegram_base_file_url)
            .concurrent_updates(PerChatProcessor(CONCURRENT_UPDATES))
            # One HTTP connection (the default) would serialise every send of every chat.
            .connection_pool_size(CONCURRENT_UPDATES)
            .post_init(self.on_start)
        )
        if settings.telegram_max_rate > 0:
            # Spreads sends under Telegram's limits and retries after a 429 (retry_after).
            builder = builder.rate_limiter(
                AIORateLimiter(overall_max_rate=settings.telegram_max_rate, max_retries=3)
            )
        application = builder.build()
        for name, _ in COMMANDS:
            application.add_handler(CommandHandler(name, self.on_command))
        application.add_handler(CommandHandler("help", self.on_command))
        application.add_handler(MessageHandler(filters.COMMAND, self.on_command))
        application.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, self.on_edited))
        application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        application.add_handler(MessageHandler(UNSUPPORTED, self.on_unsupported))
        application.add_handler(CallbackQueryHandler(self.on_button))
        application.add_error_handler(self.on_error)
        self._application = application
        return application

    async def on_start(self, application: Application) -> None:
        """Commands menu, anything left undelivered by a crash, the repeating jobs."""
        await application.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        await self.deliver_pending(application)
        if application.job_queue is not None:
            application.job_queue.run_repeating(self._outbox_job, OUTBOX_INTERVAL, first=1.0)
            application.job_queue.run_repeating(self._reminder_job, REMINDER_INTERVAL, first=5.0)
            application.job_queue.run_repeating(self._purge_job, timedelta(days=1), first=60.0)

    # -- handlers ---------------------------------------------------------------------
    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or update.effective_chat is None:
            return
        await self._process(
            update, context, self._incoming(update, "text", message.text or ""), typing=True
        )

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        command, _, args = message.text[1:].partition(" ")
        incoming = self._incoming(update, "command", command.split("@")[0].lower(), args.strip())
        await self._process(update, context, incoming)

    async def on_edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._process(update, context, self._incoming(update, "edited", ""))

    async def on_unsupported(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        media = "pièce jointe"
        if message is not None:
            for kind in (
                "sticker",
                "photo",
                "voice",
                "audio",
                "video",
                "document",
                "location",
                "contact",
                "animation",
                "poll",
                "dice",
                "video_note",
            ):
                if getattr(message, kind, None):
                    media = kind
                    break
        await self._process(update, context, self._incoming(update, "unsupported", "", media=media))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        await query.answer()
        if query.message is not None:
            # Pressed buttons disappear: no double presses, no stale choices.
            with contextlib.suppress(BadRequest):
                await query.edit_message_reply_markup(reply_markup=None)
        await self._process(update, context, self._incoming(update, "button", query.data or ""))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("error while handling an update", exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            language = self._language(update)
            with contextlib.suppress(TelegramError):
                await context.bot.send_message(update.effective_chat.id, text(language, "error"))

    # -- plumbing ---------------------------------------------------------------------
    @staticmethod
    def _language(update: Update) -> str:
        user = update.effective_user
        return (user.language_code or "fr") if user is not None else "fr"

    def _incoming(
        self, update: Update, kind: str, content: str, args: str = "", media: str = ""
    ) -> Incoming:
        user = update.effective_user
        chat = update.effective_chat
        return Incoming(
            channel="telegram",
            user_id=str(chat.id if chat is not None else user.id if user else 0),
            kind=kind,  # type: ignore[arg-type]
            text=content,
            args=args,
            first_name=(user.first_name or "") if user is not None else "",
            language=self._language(update),
            update_id=update.update_id,
            media=media,
        )

    async def _process(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        incoming: Incoming,
        typing: bool = False,
    ) -> None:
        chat = update.effective_chat
        work = asyncio.ensure_future(asyncio.to_thread(self.assistant.process, incoming))
        if typing and chat is not None:
            # "Comptoir écrit…" only when the answer is not immediate: most take milliseconds,
            # and every call counts against Telegram's rate limit.
            done, _ = await asyncio.wait({work}, timeout=TYPING_AFTER)
            if not done:
                with contextlib.suppress(TelegramError):
                    await context.bot.send_chat_action(chat.id, ChatAction.TYPING)
        outcome = await work
        if chat is None:
            return
        delivered = await self.send(context.application, chat.id, outcome.replies)
        if delivered:
            await asyncio.to_thread(self.assistant.mark_delivered, outcome.reply_ids)

    async def send(
        self, application: Application, chat_id: int | str, replies: list[Reply]
    ) -> bool:
        """Send replies in order; False if Telegram refused (they stay undelivered)."""
        try:
            for reply in replies:
                if reply.attachment is not None:
                    await application.bot.send_document(
                        chat_id,
                        InputFile(reply.attachment.content, filename=reply.attachment.filename),
                        caption=reply.html[:1024],
                        parse_mode=ParseMode.HTML,
                    )
                    continue
                chunks = split_message(reply.html)
                for i, chunk in enumerate(chunks):
                    await application.bot.send_message(
                        chat_id,
                        chunk,
                        parse_mode=ParseMode.HTML,
                        reply_markup=keyboard(reply) if i == len(chunks) - 1 else None,
                        link_preview_options=LinkPreviewOptions(is_disabled=True),
                    )
        except Forbidden:
            log.info("chat %s blocked the bot", chat_id)
            return False
        except TelegramError:
            log.exception("could not deliver to chat %s", chat_id)
            return False
        return True

    async def deliver_pending(self, application: Application) -> None:
        """Replies stored but never confirmed sent (a crash between the two): send them."""

        def pending() -> list[tuple[str, list[int], list[Reply]]]:
            with self.assistant.services.db.session() as session:
                rows = session.execute(
                    select(Message, Merchant.external_id)
                    .join(Merchant)
                    .where(
                        Message.direction == "out",
                        Message.delivered.is_(False),
                        Merchant.channel == "telegram",
                    )
                    .order_by(Message.id)
                ).all()
                grouped: dict[str, tuple[list[int], list[Reply]]] = {}
                for message, chat_id in rows:
                    ids, replies = grouped.setdefault(chat_id, ([], []))
                    ids.append(message.id)
                    replies.append(
                        Reply.from_stored(message.html or message.text, message.buttons or [])
                    )
                return [(chat, ids, replies) for chat, (ids, replies) in grouped.items()]

        for chat_id, ids, replies in await asyncio.to_thread(pending):
            if await self.send(application, chat_id, replies):
                await asyncio.to_thread(self.assistant.mark_delivered, ids)

    async def _outbox_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        changed = await asyncio.to_thread(refresh, self.assistant.services)
        if changed:
            log.info("reloaded from disk: %s", ", ".join(changed))
        await self.deliver_outbox(context.application)
        await self.deliver_pending(context.application, min_age=RETRY_AFTER)

    async def deliver_outbox(self, application: Application) -> None:
        """Messages staff wrote in the back office, marked as coming from an adviser."""

        def pending() -> list[outbox.Pending]:
            with self.assistant.services.db.session() as session:
                return outbox.pending(session, "telegram")

        def record(item: outbox.Pending, ok: bool) -> None:
            with self.assistant.services.db.session() as session:
                outbox.record(session, item.outbox_id, ok, item.reply)

        for item in await asyncio.to_thread(pending):
            ok = await self.send(application, item.chat_id, [item.reply])
            await asyncio.to_thread(record, item, ok)

    async def _reminder_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        def due() -> list[tuple[str, Reply]]:
            services = self.assistant.services
            with services.db.session() as session:
                out = []
                for merchant_id, checklist_id in checklists.due_reminders(session):
                    merchant = session.get(Merchant, merchant_id)
                    if merchant is None or merchant.channel != "telegram" or not merchant.reminders:
                        continue
                    reply = checklists.reminder_reply(
                        Turn(services, session, merchant), checklist_id
                    )
                    if reply is not None:
                        out.append((merchant.external_id, reply))
                return out

        for chat_id, reply in await asyncio.to_thread(due):
            await self.send(context.application, chat_id, [reply])

    async def _purge_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        def purge() -> dict[str, int]:
            with self.assistant.services.db.session() as session:
                return retention.purge_as_configured(session, self.settings.retention_days)

        log.info("retention purge: %s", await asyncio.to_thread(purge))


def run_telegram(assistant: Assistant) -> None:
    """Polling by default; webhook mode when COMPTOIR_WEBHOOK_URL is set."""
    settings = assistant.services.settings
    application = TelegramChannel(assistant).build()
    if settings.webhook_url:
        from urllib.parse import urlparse

        path = urlparse(settings.webhook_url).path.lstrip("/") or "telegram"
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=path,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret or None,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(
            allowed_updates=Update.ALL_TYPES,
            poll_interval=0.0,
            timeout=timedelta(seconds=10).seconds,
        )

"""Telegram channel: python-telegram-bot 22, thin. Updates in, `Assistant.process`, replies out.

- Each chat's updates are handled in order, different chats concurrently (`PerChatProcessor`
  in a process; a PostgreSQL advisory lock per chat across workers, in the assistant); the
  assistant's work (database, encoder) runs in a worker thread, but for a press that steps
  through a flow on SQLite, run on the event loop when the writer is free
  (`Assistant.process_now`): the hand-off to a thread cost more than that turn.
- Polling serves one process; webhook mode (`bot/channels/webhook.py`) serves any number of
  workers behind a load balancer, sharing only PostgreSQL.
- Replies are stored undelivered by the assistant, held by the worker that answers, and
  marked delivered after Telegram accepted them; replies a crashed worker never confirmed
  are sent by any worker's delivery job. Update ids are recorded, so a re-delivered update
  is never answered twice.
- Staff messages and checklist reminders go through the outbox; the repeating jobs that
  send them claim rows in the database (`bot/jobs.py`), so N workers send each one once and
  a restart loses nothing.
- A button press costs two calls when its first reply is the next step of the pressed
  message (`Reply.replaces_pressed`): answerCallbackQuery and editMessageText of that
  message, once the turn is done. Otherwise the pressed keyboard is removed
  (pressed choices must not stay pressable) and the replies are sent. A failed edit falls
  back to sending: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import warnings
from collections import defaultdict
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    MaybeInaccessibleMessage,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
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
from telegram.warnings import PTBDeprecationWarning

from .. import campaigns, jobs, nudges, outbox, send_budget
from ..assistant import Assistant, Outcome
from ..config import Settings
from ..messages import Incoming, Reply
from ..reload import refresh
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
    ("actus", "Les actualités de votre conseiller"),
    ("mesdonnees", "Recevoir vos données"),
    ("oublier", "Effacer toutes vos données"),
]
OUTBOX_INTERVAL = 5.0  # seconds
CONCURRENT_UPDATES = 32
TYPING_AFTER = 0.4  # seconds before showing "typing…"
REMINDER_INTERVAL = 600.0
PURGE_CHECK_INTERVAL = 3600.0  # each worker asks hourly; one of them purges once a day
CAMPAIGN_IDLE = 1.0  # seconds between looks for campaign work when there is none
BUDGET_INTERVAL = 1.0  # seconds between adding this worker's answers to the send budget
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
        # Updates whose message the database could not record (webhook answers 503).
        self.unrecorded: set[int] = set()
        # This worker's campaign slots in the bot-wide send budget (COMPTOIR_CAMPAIGN_RATE
        # for all workers together), and its messages sent outside it since the last tick.
        self._pacer = send_budget.Pacer()
        self.sent_outside_budget = 0

    # -- building ---------------------------------------------------------------------
    def build(self, webhook: bool = False) -> Application:
        """The application; with `webhook`, no updater: updates arrive through
        `bot.channels.webhook` and the webhook is set there."""
        settings = self.settings
        builder = Application.builder()
        if webhook:
            builder = builder.updater(None)
        builder = (
            builder.token(settings.telegram_token)
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
        # Presses first: no other handler takes a callback query, and each one checked
        # before it (ten command handlers, four message filters) was work on every press.
        application.add_handler(CallbackQueryHandler(self.on_button))
        for name, _ in COMMANDS:
            application.add_handler(CommandHandler(name, self.on_command))
        application.add_handler(CommandHandler("help", self.on_command))
        application.add_handler(MessageHandler(filters.COMMAND, self.on_command))
        application.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, self.on_edited))
        application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        application.add_handler(MessageHandler(UNSUPPORTED, self.on_unsupported))
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
            application.job_queue.run_repeating(self._purge_job, PURGE_CHECK_INTERVAL, first=60.0)
            application.job_queue.run_repeating(
                self._budget_job, BUDGET_INTERVAL, first=BUDGET_INTERVAL
            )
            if self.settings.campaign_rate > 0:
                application.job_queue.run_once(self._campaign_job, CAMPAIGN_IDLE)

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
        incoming = self._incoming(update, "button", query.data or "")
        try:
            # A flow's next step runs here when it need not wait (SQLite); otherwise, and
            # for every other press, in a thread.
            outcome = self.assistant.process_now(incoming)
            if outcome is None:
                outcome = await asyncio.to_thread(self.assistant.process, incoming)
        except Exception:
            await self._acknowledge(query)  # the client's spinner stops whatever happened
            raise
        # Acknowledged once the turn is done, just before its reply. While the turn worked,
        # the acknowledgement's response was read as the turn's thread ran: the two threads
        # traded the GIL, ~0.5 ms of CPU a press (benchmarks/RESULTS.md, issue 12). What it
        # costs: the spinner stops a turn later (milliseconds for a press).
        await self._acknowledge(query)
        await self._show_press_outcome(update, context, outcome)

    async def _show_press_outcome(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, outcome: Outcome
    ) -> None:
        """The turn's replies: the first in place of the pressed message when it is its next
        step, otherwise the pressed keyboard removed and the replies sent; then settled."""
        query, chat = update.callback_query, update.effective_chat
        if query is None or chat is None:
            return
        replies, shown = outcome.replies, 0
        pressed = query.message
        if pressed is not None:
            first = replies[0] if replies else None
            if first is not None and first.replaces_pressed:
                shown = int(await self._replace(context.bot, pressed, first))
                self.sent_outside_budget += shown  # an edit: a message Telegram counts
            if not shown:
                # Pressed buttons disappear: no double presses, no stale choices.
                with contextlib.suppress(BadRequest):
                    await context.bot.edit_message_reply_markup(
                        chat_id=pressed.chat.id, message_id=pressed.message_id, reply_markup=None
                    )
        shown += await self._deliver(context.application, chat.id, replies[shown:])
        if not outcome.stored:
            self.unrecorded.add(update.update_id)
        await self._settle(outcome.reply_ids, shown)

    @staticmethod
    async def _acknowledge(query: CallbackQuery) -> None:
        # A press replayed after downtime may be too old to answer: the turn goes on.
        with contextlib.suppress(TelegramError):
            await query.answer()

    @staticmethod
    async def _replace(bot: Bot, pressed: MaybeInaccessibleMessage, reply: Reply) -> bool:
        """Show `reply` in place of the pressed message; False: send it as a new one."""
        if reply.attachment is not None or len(reply.html) > MAX_MESSAGE:
            return False
        try:
            await bot.edit_message_text(
                reply.html,
                chat_id=pressed.chat.id,
                message_id=pressed.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(reply),  # none: the pressed keyboard goes
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except BadRequest as error:
            if "not modified" in error.message.lower():
                # It already shows exactly this reply (a double tap): the merchant has it.
                return True
            log.info("pressed message not edited (%s): sending the reply", error.message)
            return False
        except TelegramError:
            log.warning("pressed message not edited: sending the reply", exc_info=True)
            return False
        return True

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
        if not outcome.stored:
            self.unrecorded.add(update.update_id)
        if chat is None:
            return
        sent = await self._deliver(context.application, chat.id, outcome.replies)
        await self._settle(outcome.reply_ids, sent)

    async def _settle(self, reply_ids: list[int], sent: int) -> None:
        """The first `sent` stored replies reached the merchant (ids pair with the replies,
        in order); the others are released for any worker's delivery job to retry."""
        delivered = reply_ids[:sent]
        if delivered and not self.assistant.mark_delivered(delivered, wait=False):
            await asyncio.to_thread(self.assistant.mark_delivered, delivered)
        if reply_ids[sent:]:
            await asyncio.to_thread(self.assistant.release, reply_ids[sent:])

    async def send(
        self, application: Application, chat_id: int | str, replies: list[Reply]
    ) -> bool:
        """Send replies in order; False if Telegram refused one (it and the rest are not sent)."""
        return await self._deliver(application, chat_id, replies) == len(replies)

    async def _deliver(
        self, application: Application, chat_id: int | str, replies: list[Reply]
    ) -> int:
        """Send replies in order as new messages; how many Telegram accepted, from the first
        (a refused one stops the rest: their order matters)."""
        delivered = 0
        try:
            for reply in replies:
                if reply.attachment is not None:
                    await application.bot.send_document(
                        chat_id,
                        InputFile(reply.attachment.content, filename=reply.attachment.filename),
                        caption=reply.html[:1024],
                        parse_mode=ParseMode.HTML,
                    )
                    self.sent_outside_budget += 1
                else:
                    chunks = split_message(reply.html)
                    for i, chunk in enumerate(chunks):
                        await application.bot.send_message(
                            chat_id,
                            chunk,
                            parse_mode=ParseMode.HTML,
                            reply_markup=keyboard(reply) if i == len(chunks) - 1 else None,
                            link_preview_options=LinkPreviewOptions(is_disabled=True),
                        )
                        self.sent_outside_budget += 1
                delivered += 1
        except Forbidden:
            log.info("chat %s blocked the bot", chat_id)
        except TelegramError:
            log.exception("could not deliver to chat %s", chat_id)
        return delivered

    async def deliver_pending(self, application: Application) -> None:
        """Replies stored but never confirmed sent (a worker crashed between the two, or
        Telegram refused them): claimed by this worker, then sent as new messages, even one
        meant to replace a pressed message."""

        def claim() -> list[jobs.Undelivered]:
            with self.assistant.services.db.session() as session:
                return jobs.claim_undelivered(session, "telegram", self.settings.delivery_lease)

        def renew(group: jobs.Undelivered) -> jobs.Undelivered | None:
            with self.assistant.services.db.session() as session:
                return jobs.renew_undelivered(session, group, self.settings.delivery_lease)

        for claimed in await asyncio.to_thread(claim):
            group = await asyncio.to_thread(renew, claimed)
            if group is None:
                continue  # held too long behind the batch: another worker sends these
            sent = await self._deliver(application, group.chat_id, group.replies)
            await self._settle(group.message_ids, sent)

    async def _outbox_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        changed = await asyncio.to_thread(refresh, self.assistant.services)
        if changed:
            log.info("reloaded from disk: %s", ", ".join(changed))
        await self.deliver_outbox(context.application)
        await self.deliver_pending(context.application)

    async def deliver_outbox(self, application: Application) -> None:
        """Staff messages, hand-back notices and reminders, claimed by this worker."""

        def claim() -> list[outbox.Pending]:
            with self.assistant.services.db.session() as session:
                return outbox.claim(session, "telegram", lease=self.settings.delivery_lease)

        def renew(item: outbox.Pending) -> outbox.Pending | None:
            with self.assistant.services.db.session() as session:
                return outbox.renew(session, item, lease=self.settings.delivery_lease)

        def record(item: outbox.Pending, ok: bool) -> None:
            with self.assistant.services.db.session() as session:
                outbox.record(session, item.outbox_id, ok, item.reply)

        for claimed in await asyncio.to_thread(claim):
            item = await asyncio.to_thread(renew, claimed)
            if item is None:  # held too long behind the batch's earlier rows: another
                continue  # worker took it over and sends it
            ok = await self.send(application, item.chat_id, [item.reply])
            await asyncio.to_thread(record, item, ok)

    async def _reminder_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        queued = await asyncio.to_thread(jobs.queue_due_reminders, self.assistant.services)
        if queued:
            await self.deliver_outbox(context.application)

    async def _purge_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        purged = await asyncio.to_thread(jobs.purge_if_due, self.assistant.services)
        if purged is not None:
            log.info("retention purge: %s", purged)

    # -- campaigns --------------------------------------------------------------------
    async def _campaign_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Send while there is work, then the next run is scheduled: at once if it sent, after
        CAMPAIGN_IDLE otherwise (runs never overlap; stopping the job queue waits for the
        batch in progress, whose unsent rest is released)."""
        claimed = 0
        try:
            claimed = await self.deliver_campaigns(context.application)
        finally:
            if context.job_queue is not None and context.application.running:
                context.job_queue.run_once(self._campaign_job, 0.0 if claimed else CAMPAIGN_IDLE)

    async def deliver_campaigns(self, application: Application) -> int:
        """Start due campaigns, then claim and send batches (one second's worth at
        COMPTOIR_CAMPAIGN_RATE each), each message in a slot of the bot-wide send budget;
        how many deliveries were claimed.

        The next batch is claimed while the last message of a full one goes out: claiming
        takes a few round trips, and slots that pass meanwhile are lost (the budget does
        not let a late worker catch up in a burst). A batch is given up (released) once
        half its lease has passed, so no other worker can take rows still being sent."""
        rate = self.settings.campaign_rate
        if rate <= 0:
            return 0
        db = self.assistant.services.db
        lease = self.settings.delivery_lease.total_seconds()
        loop = asyncio.get_running_loop()

        def claim() -> list[campaigns.Pending]:
            with db.session() as session:
                nudges.fire_if_due(session)  # the rules' deliveries, every few minutes
                campaigns.start_due(session)
                return campaigns.claim(
                    session, "telegram", limit=rate, lease=self.settings.delivery_lease
                )

        def record(item: campaigns.Pending, outcome: str) -> None:
            with db.writing() as session:
                # The copy composed at claim time joins the transcript: not composed again.
                campaigns.record(session, item.delivery_id, outcome, message=item.reply)

        def settle(unsent: list[int]) -> None:
            with db.session() as session:
                campaigns.release(session, unsent)
                campaigns.finish_sent(session)

        claimed = 0
        batch = await asyncio.to_thread(claim)
        while batch:
            claimed += len(batch)
            held_until = loop.time() + lease / 2
            full = len(batch) == rate  # more is likely waiting
            upcoming: asyncio.Future[list[campaigns.Pending]] | None = None
            recording: list[asyncio.Future[None]] = []
            unsent: list[int] = []
            for index, item in enumerate(batch):
                if full and index == len(batch) - 1:
                    upcoming = asyncio.ensure_future(asyncio.to_thread(claim))
                if application.running:
                    await self._campaign_slot(application, rate if full else len(batch) - index)
                if not application.running or loop.time() > held_until:
                    # Stopping, or held too long: the rest goes back to the queue.
                    unsent = [pending.delivery_id for pending in batch[index:]]
                    break
                outcome = await self._send_campaign(application, item)
                # Recorded while the next slot comes: a slow write does not lose it.
                recording.append(asyncio.ensure_future(asyncio.to_thread(record, item, outcome)))
            await asyncio.gather(*recording)
            batch = await upcoming if upcoming is not None else []
            if not application.running:
                unsent += [pending.delivery_id for pending in batch]
                batch = []
            await asyncio.to_thread(settle, unsent)
        return claimed

    async def _campaign_slot(self, application: Application, remaining: int) -> None:
        """Wait for this worker's next slot in the bot-wide send budget (taking a few more
        when none is held); returns early if the application is stopping."""
        pacer, rate = self._pacer, self.settings.campaign_rate

        def take(want: int) -> send_budget.Grant:
            with self.assistant.services.db.writing() as session:
                # Wall-clock time: the clock every worker shares.
                return send_budget.take(session, "telegram", time.time(), want, rate)

        while application.running:
            wait = pacer.wait(time.time())
            if wait is None:
                grant = await asyncio.to_thread(take, pacer.want(remaining))
                pacer.hold(grant)
                if not grant.count:  # answers are using the whole rate: wait a little
                    await asyncio.sleep(send_budget.RETRY)
                continue
            if wait > 0:
                await asyncio.sleep(wait)  # the slot's time, not a race
            pacer.spend()
            return

    async def _budget_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Once a second: the messages this worker sent outside the budget (answers, staff
        messages, reminders) count into it, in one statement (none if it sent nothing)."""
        count, self.sent_outside_budget = self.sent_outside_budget, 0
        rate = self.settings.campaign_rate
        if not count or rate <= 0:
            return

        def write() -> None:
            with self.assistant.services.db.writing() as session:
                send_budget.add(session, "telegram", time.time(), count, rate)

        await asyncio.to_thread(write)

    async def _send_campaign(self, application: Application, item: campaigns.Pending) -> str:
        """Send one campaign message; the outcome for `campaigns.record`."""
        try:
            await application.bot.send_message(
                item.chat_id,
                item.reply.html,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(item.reply),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except Forbidden:
            log.info("chat %s blocked the bot: unreachable for campaigns", item.chat_id)
            return "unreachable"
        except RetryAfter as error:
            # The rate limiter already retried: Telegram still asks to wait. Wait, then the
            # message is claimed again (no attempt counted).
            with warnings.catch_warnings():  # an int in PTB 22, a timedelta later: either
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                delay = error.retry_after
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            await asyncio.sleep(seconds)
            return "later"
        except TelegramError as error:
            log.warning("campaign message to %s not sent: %s", item.chat_id, error)
            return "retry"
        return "sent"


def freeze_startup_heap() -> None:
    """Move what startup built (models, index, imported modules: ~160,000 objects) out of
    the cyclic garbage collector's reach. Every full collection walked all of them: 60–80 ms
    of CPU, a pause for every chat, every few hundred button presses (press_bench: 13 ms
    after). They live as long as the process; reference counting still frees any that a
    reload drops, and cycles created later are still collected."""
    gc.collect()
    gc.freeze()


def run_telegram(assistant: Assistant) -> None:
    """Polling by default (one process); webhook mode when COMPTOIR_WEBHOOK_URL is set (any
    number of workers)."""
    settings = assistant.services.settings
    freeze_startup_heap()
    if settings.webhook_url:
        from .webhook import serve_webhook

        asyncio.run(serve_webhook(TelegramChannel(assistant)))
        return
    application = TelegramChannel(assistant).build()
    application.run_polling(
        allowed_updates=Update.ALL_TYPES,
        poll_interval=0.0,
        timeout=timedelta(seconds=10).seconds,
    )

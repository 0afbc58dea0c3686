"""A Bot API server on loopback that speaks Telegram's documented HTTP protocol.

The real python-telegram-bot stack talks to it through `base_url`. It keeps a queue of
updates for getUpdates (long polling, offsets acknowledge), records what the bot sends
(sendMessage, editMessageText, editMessageReplyMarkup, sendDocument, answerCallbackQuery,
setMyCommands, setWebhook, sendChatAction, ...) and can inject faults: 429 with
`retry_after`, 5xx, slow answers, and chats whose merchant blocked the bot (403).

It also keeps what each chat shows (`view`): the bot's messages with their latest text and
keyboard. Edits follow Telegram's rules: editMessageText without `reply_markup` removes the
keyboard; an edit of an unknown message, of a document's text, or one that changes nothing
is refused with a 400, as Telegram does ("message is not modified").
"""

from __future__ import annotations

import contextlib
import email
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

BOT_ID = 777000111
ROOT = Path(__file__).resolve().parents[2]  # the checkout these tests belong to
VIA = "_via"  # the params key carrying the client's tag


@dataclass
class Sent:
    method: str
    chat_id: int
    text: str
    params: dict[str, Any]
    message_id: int
    at: float = field(default_factory=time.monotonic)
    via: str = ""  # which client sent it, when its base URL was from `base_url_for`

    @property
    def buttons(self) -> list[dict[str, str]]:
        markup = self.params.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    def button(self, label_part: str) -> dict[str, str]:
        for button in self.buttons:
            if label_part in button["text"]:
                return button
        raise LookupError(f"no button containing {label_part!r} in {self.buttons}")


class FakeBotAPI:
    def __init__(self, token: str = "123456:TEST-TOKEN") -> None:
        self.token = token
        self._mutex = threading.RLock()
        self._lock = threading.Condition(self._mutex)
        # One condition per chat on the same lock: a client waiting for its own chat is not
        # woken by every message of the others (hundreds of simulated merchants in bot_bench).
        self._chat_changed: dict[int, threading.Condition] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1000
        self._next_message_id = 1
        self.sent: list[Sent] = []
        self._sent_by_chat: dict[int, list[Sent]] = {}
        # chat -> message id -> the message as shown now (insertion order: sending order)
        self._shown: dict[int, dict[int, Sent]] = {}
        self._activity: dict[int, list[Sent]] = {}  # chat -> every message sent or edited
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.callback_answers: list[str] = []
        self.commands: list[dict[str, str]] = []
        self.webhook: dict[str, Any] = {}
        self.faults: dict[str, list[dict[str, Any]]] = {}
        self.blocked: set[int] = set()  # chats that blocked the bot: sends get a 403
        self.update_times: dict[int, float] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle --------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def start(self) -> FakeBotAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what a merchant does ---------------------------------------------------------
    def _push(self, payload: dict[str, Any]) -> int:
        update = self._new_update(payload)
        with self._lock:
            self._updates.append(update)
            self._lock.notify_all()
        return int(update["update_id"])

    def _new_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            update_id = self._next_update_id
            self._next_update_id += 1
            self.update_times[update_id] = time.monotonic()
        return {"update_id": update_id, **payload}

    def text_update(self, chat_id: int, text: str) -> dict[str, Any]:
        """An update carrying a text message, not queued: for POSTing to a webhook."""
        return self._new_update({"message": self._text_message(chat_id, text, "fr")})

    @staticmethod
    def _user(chat_id: int, language: str = "fr") -> dict[str, Any]:
        return {
            "id": chat_id,
            "is_bot": False,
            "first_name": f"Client{chat_id}",
            "language_code": language,
        }

    def _message(self, chat_id: int, language: str, **content: Any) -> dict[str, Any]:
        with self._lock:
            message_id = self._next_message_id
            self._next_message_id += 1
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": f"Client{chat_id}"},
            "from": self._user(chat_id, language),
            **content,
        }

    def _text_message(self, chat_id: int, text: str, language: str) -> dict[str, Any]:
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._message(
            chat_id, language, text=text, **({"entities": entities} if entities else {})
        )

    def push_text(self, chat_id: int, text: str, language: str = "fr") -> int:
        return self._push({"message": self._text_message(chat_id, text, language)})

    def push_edited(self, chat_id: int, text: str) -> int:
        message = self._message(chat_id, "fr", text=text, edit_date=int(time.time()))
        return self._push({"edited_message": message})

    def push_sticker(self, chat_id: int) -> int:
        sticker = {
            "file_id": "s1",
            "file_unique_id": "u1",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
        return self._push({"message": self._message(chat_id, "fr", sticker=sticker)})

    def push_photo(self, chat_id: int) -> int:
        photo = [{"file_id": "p1", "file_unique_id": "pu1", "width": 90, "height": 90}]
        return self._push({"message": self._message(chat_id, "fr", photo=photo)})

    def push_voice(self, chat_id: int) -> int:
        voice = {"file_id": "v1", "file_unique_id": "vu1", "duration": 3}
        return self._push({"message": self._message(chat_id, "fr", voice=voice)})

    def push_callback(self, chat_id: int, data: str, message_id: int = 1) -> int:
        return self._push(self._callback_payload(chat_id, data, message_id))

    def callback_update(self, chat_id: int, data: str, message_id: int) -> dict[str, Any]:
        """An update carrying a button press, not queued: for POSTing to a webhook."""
        return self._new_update(self._callback_payload(chat_id, data, message_id))

    def _callback_payload(self, chat_id: int, data: str, message_id: int) -> dict[str, Any]:
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": "…",
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Comptoir"},
        }
        query = {
            "id": f"cb{time.monotonic_ns()}",
            "from": self._user(chat_id),
            "chat_instance": str(chat_id),
            "data": data,
            "message": message,
        }
        return {"callback_query": query}

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """The merchant deletes one of the bot's messages (allowed in a private chat)."""
        with self._lock:
            self._shown.get(chat_id, {}).pop(message_id, None)

    def press(self, sent: Sent, label_part: str) -> int:
        return self.push_callback(
            sent.chat_id, sent.button(label_part)["callback_data"], sent.message_id
        )

    # -- what the tests read ----------------------------------------------------------
    def messages_to(self, chat_id: int) -> list[Sent]:
        """Messages and documents sent to a chat, in order (kept per chat: O(1) to count)."""
        with self._lock:
            return list(self._sent_by_chat.get(chat_id, []))

    def count_to(self, chat_id: int) -> int:
        with self._lock:
            return len(self._sent_by_chat.get(chat_id, []))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the bot did not do what was expected in time")
                self._lock.wait(min(remaining, 0.2))

    def wait_messages(self, chat_id: int, count: int, timeout: float = 30.0) -> list[Sent]:
        deadline = time.monotonic() + timeout
        with self._lock:
            changed = self._chat_changed.setdefault(chat_id, threading.Condition(self._mutex))
            while self.count_to(chat_id) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"chat {chat_id}: fewer than {count} messages in time")
                changed.wait(min(remaining, 0.2))
        return self.messages_to(chat_id)

    def view(self, chat_id: int) -> list[Sent]:
        """What the chat shows now: the bot's messages, in order, as last edited."""
        with self._lock:
            return list(self._shown.get(chat_id, {}).values())

    def activity(self, chat_id: int) -> list[Sent]:
        """Every message sent to or edited in a chat, in order (each changed what it shows)."""
        with self._lock:
            return list(self._activity.get(chat_id, []))

    def changes(self, chat_id: int) -> int:
        with self._lock:
            return len(self._activity.get(chat_id, []))

    def wait_changes(self, chat_id: int, count: int, timeout: float = 30.0) -> list[Sent]:
        """Wait until `count` messages were sent or edited in the chat; return its view."""
        deadline = time.monotonic() + timeout
        with self._lock:
            changed = self._chat_changed.setdefault(chat_id, threading.Condition(self._mutex))
            while self.changes(chat_id) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"chat {chat_id}: fewer than {count} changes in time")
                changed.wait(min(remaining, 0.2))
        return self.view(chat_id)

    def wait_view(
        self, chat_id: int, predicate: Callable[[list[Sent]], bool], timeout: float = 30.0
    ) -> list[Sent]:
        """Wait until the chat's view satisfies `predicate` (woken by that chat's changes)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            changed = self._chat_changed.setdefault(chat_id, threading.Condition(self._mutex))
            while not predicate(self.view(chat_id)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"chat {chat_id}: not shown in time")
                changed.wait(min(remaining, 0.2))
            return self.view(chat_id)

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._updates)

    def inject(self, method: str, *faults: dict[str, Any]) -> None:
        """Next calls of `method` fail: {"status": 429, "retry_after": 1}, {"status": 502},
        {"delay": 2.0} (answer late, then succeed)."""
        with self._lock:
            self.faults.setdefault(method, []).extend(faults)

    def block(self, *chat_ids: int) -> None:
        """These merchants block the bot: anything sent to them is refused with a 403."""
        with self._lock:
            self.blocked.update(chat_ids)

    # -- the HTTP side ----------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm and
            # delayed ACKs add ~40 ms to every call on loopback.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                path = urlparse(self.path).path
                via = ""
                if path.startswith("/via/"):  # a base URL of .../via/<client>/bot tags a client
                    via, _, rest = path[len("/via/") :].partition("/")
                    path = "/" + rest
                prefix = f"/bot{api.token}/"
                if not path.startswith(prefix):
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                method = path[len(prefix) :]
                params = self._params()
                status, payload = api.dispatch(method, params, via)
                self._reply(status, payload)

            def _params(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type", "")
                params: dict[str, Any] = {}
                if content_type.startswith("application/json") and body:
                    params = json.loads(body)
                elif content_type.startswith("multipart/form-data"):
                    message = email.message_from_bytes(
                        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
                    )
                    for part in message.get_payload():
                        name = part.get_param("name", header="content-disposition")
                        filename = part.get_filename()
                        data = part.get_payload(decode=True)
                        params[name] = (
                            {"filename": filename, "content": data} if filename else data.decode()
                        )
                elif body:
                    params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                query = urlparse(self.path).query
                params.update({k: v[0] for k, v in parse_qs(query).items()})
                for key, value in list(params.items()):
                    if isinstance(value, str) and value[:1] in "{[":
                        with contextlib.suppress(ValueError):
                            params[key] = json.loads(value)
                return params

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # A client stopped while long polling has hung up: nothing to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def base_url_for(self, client: str) -> str:
        """A base URL that tags every call of one client (a worker) in `Sent.via`."""
        return f"http://127.0.0.1:{self.port}/via/{client}/bot"

    def dispatch(
        self, method: str, params: dict[str, Any], via: str = ""
    ) -> tuple[int, dict[str, Any]]:
        if via:
            params = {**params, VIA: via}
        with self._lock:
            self.calls.append((method, params))
            fault = self.faults.get(method, []).pop(0) if self.faults.get(method) else None
        if fault is not None:
            if "delay" in fault:
                time.sleep(float(fault["delay"]))
            elif fault.get("status") == 429:
                retry = int(fault.get("retry_after", 1))
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry}",
                    "parameters": {"retry_after": retry},
                }
            else:
                code = int(fault.get("status", 500))
                return code, {"ok": False, "error_code": code, "description": "Bad Gateway"}
        chat = params.get("chat_id")
        if method.startswith(("send", "edit")) and str(chat).lstrip("-").isdigit():
            with self._lock:
                blocked = int(chat) in self.blocked
            if blocked:
                return 403, {
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user",
                }
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return 200, {"ok": True, "result": True}
        try:
            return 200, {"ok": True, "result": handler(params)}
        except (ValueError, KeyError) as exc:
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}

    def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Comptoir",
            "username": "comptoir_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 2.0)
        deadline = time.monotonic() + timeout
        with self._lock:
            # An offset acknowledges every update before it, as documented.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            limit = int(params.get("limit") or 100)
            return list(self._updates[:limit])

    def _record(
        self, method: str, params: dict[str, Any], text: str, message_id: int | None = None
    ) -> dict[str, Any]:
        """A message sent (a new id) or edited (`message_id`), shown in its chat."""
        with self._lock:
            if message_id is None:
                message_id = self._next_message_id
                self._next_message_id += 1
            chat_id = int(params["chat_id"])
            sent = Sent(method, chat_id, text, params, message_id, via=params.get(VIA, ""))
            self.sent.append(sent)
            if method in ("sendMessage", "sendDocument"):
                self._sent_by_chat.setdefault(chat_id, []).append(sent)
            self._shown.setdefault(chat_id, {})[message_id] = sent
            self._activity.setdefault(chat_id, []).append(sent)
            if chat_id in self._chat_changed:
                self._chat_changed[chat_id].notify_all()
            self._lock.notify_all()
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": text,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Comptoir"},
        }

    def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text", ""))
        if not text or len(text) > 4096:
            raise ValueError("message text is empty or too long")
        return self._record("sendMessage", params, text)

    def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        result = self._record("sendDocument", params, str(params.get("caption", "")))
        document = params.get("document") or {}
        result["document"] = {
            "file_id": "d1",
            "file_unique_id": "du1",
            "file_name": document.get("filename", ""),
        }
        return result

    def _shown_message(self, params: dict[str, Any]) -> Sent:
        """The bot's message an edit targets (Telegram refuses edits of anything else)."""
        shown = self._shown.get(int(params["chat_id"]), {}).get(int(params["message_id"]))
        if shown is None:
            raise ValueError("message to edit not found")
        return shown

    def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text", ""))
        with self._lock:
            shown = self._shown_message(params)
            if "document" in shown.params:
                raise ValueError("there is no text in the message to edit")
            if not text or len(text) > 4096:
                raise ValueError("MESSAGE_TOO_LONG")
            markup = params.get("reply_markup") or None  # none given: the keyboard goes
            if text == shown.text and markup == (shown.params.get("reply_markup") or None):
                raise ValueError(
                    "message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and "
                    "reply markup of the message"
                )
            return self._record("editMessageText", params, text, shown.message_id)

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            shown = self._shown_message(params)
            markup = params.get("reply_markup") or None
            if markup == (shown.params.get("reply_markup") or None):
                raise ValueError("message is not modified")
            # The text stays: the new markup on the shown message's parameters.
            kept = {**shown.params, **params, "reply_markup": markup}
            return self._record("editMessageReplyMarkup", kept, shown.text, shown.message_id)

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        with self._lock:
            self.callback_answers.append(str(params.get("callback_query_id")))
        return True

    def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        self.commands = list(params.get("commands") or [])
        return True

    def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }


def start_comptoir(
    api: FakeBotAPI, data_dir: Path, db_url: str, cwd: Path, **extra_env: str
) -> subprocess.Popen[bytes]:
    """`comptoir run` as a real process, talking to `api` instead of Telegram."""
    env = {
        **os.environ,
        "COMPTOIR_TELEGRAM_TOKEN": api.token,
        "COMPTOIR_TELEGRAM_BASE_URL": api.base_url,
        "COMPTOIR_TELEGRAM_BASE_FILE_URL": api.base_file_url,
        "COMPTOIR_DATA_DIR": str(data_dir),
        "COMPTOIR_DATABASE_URL": db_url,
        "COMPTOIR_ADMIN_PORT": "0",  # no back office unless a test asks for one
        # This checkout's code: the virtualenv's editable install may point at another one
        # (a git worktree), and `cwd` is not on the path.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **extra_env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

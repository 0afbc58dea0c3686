"""The optional Rasa backend against a loopback server that speaks Rasa's HTTP API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nlu.rasa_backend import RasaBackendError, RasaParser
from tests.nlu.test_cli import comptoir


class FakeRasa(BaseHTTPRequestHandler):
    """`POST /model/parse` as documented for Rasa 3.x (rasa run --enable-api)."""

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/model/parse":
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["text"]
        if text == "boom":
            self.send_error(500, "model not loaded")
            return
        start = text.find("gmail")
        # A greeting when the message opens with one, as a model reading every word would.
        intent = "greet" if text.startswith("bonjour") else "find_alternative"
        answer = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.91},
            "entities": (
                [
                    {
                        "entity": "tool",
                        "start": start,
                        "end": start + 5,
                        "value": "Gmail",
                        "confidence_entity": 0.99,
                        "extractor": "DIETClassifier",
                    }
                ]
                if start >= 0
                else []
            ),
            "intent_ranking": [
                {"name": intent, "confidence": 0.91},
                {"name": "ask_website", "confidence": 0.05},
            ],
            "text_tokens": [],
        }
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def rasa_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRasa)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_parse_maps_rasa_answer(rasa_url: str) -> None:
    result = RasaParser(rasa_url).parse("une alternative a gmail")
    assert (result.intent, result.confidence) == ("find_alternative", 0.91)
    assert [(r.intent, r.confidence) for r in result.ranking] == [
        ("find_alternative", 0.91),
        ("ask_website", 0.05),
    ]
    [entity] = result.entities
    assert (entity.entity, entity.value, entity.text, entity.extractor) == (
        "tool",
        "Gmail",
        "gmail",
        "rasa:DIETClassifier",
    )


def test_the_intent_is_read_without_the_introduction_and_the_entities_in_all_of_it(
    rasa_url: str,
) -> None:
    message = "bonjour, j'ai gmail, une alternative ?"
    result = RasaParser(rasa_url).parse(message, intent_text="une alternative ?")
    assert (result.text, result.intent) == (message, "find_alternative")
    [entity] = result.entities
    assert (entity.value, entity.start) == ("Gmail", message.index("gmail"))
    assert RasaParser(rasa_url).parse(message).intent == "greet"


def test_server_error_is_explained(rasa_url: str) -> None:
    with pytest.raises(RasaBackendError, match="500"):
        RasaParser(rasa_url).parse("boom")


def test_unreachable_server_is_explained() -> None:
    with pytest.raises(RasaBackendError, match="COMPTOIR_RASA_URL"):
        RasaParser("http://127.0.0.1:9", timeout=1).parse("bonjour")


def test_cli_uses_the_rasa_backend_when_configured(rasa_url: str, tmp_path: Path) -> None:
    result = comptoir(
        "nlu",
        "parse",
        "--jsonl",
        stdin='{"text": "remplacer gmail"}\n',
        data_dir=tmp_path,
        COMPTOIR_NLU_BACKEND="rasa",
        COMPTOIR_RASA_URL=rasa_url,
    )
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["intent"] == "find_alternative"
    assert row["entities"][0]["value"] == "Gmail"

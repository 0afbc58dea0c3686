"""Optional backend: a running Rasa server does the parsing (`COMPTOIR_NLU_BACKEND=rasa`).

Rasa needs Python < 3.11 and old libraries, so it is never imported: Comptoir calls its HTTP
API, `POST /model/parse {"text": ...}`, and maps the answer to a `ParseResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import httpx
import numpy as np

from .classifier import IntentScore
from .entities import Entity
from .model import ParseResult


class RasaBackendError(RuntimeError):
    """The Rasa server did not answer usefully; the message says what to check."""


class RasaParser:
    def __init__(self, url: str, timeout: float = 5.0, token: str | None = None) -> None:
        self._url = url.rstrip("/")
        params = {"token": token} if token else None
        self._client = httpx.Client(base_url=self._url, timeout=timeout, params=params)

    def close(self) -> None:
        self._client.close()

    def parse(
        self,
        text: str,
        vector: np.ndarray | None = None,
        *,
        encode: Callable[[], np.ndarray] | None = None,
        intent_text: str | None = None,
    ) -> ParseResult:
        # The vector is ignored and never asked for: Rasa runs its own featurisation.
        result = parse_rasa_answer(text, self._post(text))
        if intent_text is None or intent_text == text:
            return result
        # The intent of the question alone; the entities of the whole message.
        read = parse_rasa_answer(intent_text, self._post(intent_text))
        return replace(read, text=text, entities=result.entities)

    def _post(self, text: str) -> dict:  # type: ignore[type-arg]
        try:
            response = self._client.post("/model/parse", json={"text": text})
        except httpx.HTTPError as exc:
            raise RasaBackendError(
                f"Serveur Rasa injoignable à {self._url} ({exc.__class__.__name__}). Vérifiez "
                "qu'il tourne (`rasa run --enable-api`) et COMPTOIR_RASA_URL."
            ) from exc
        if response.status_code != 200:
            raise RasaBackendError(
                f"Le serveur Rasa a répondu {response.status_code} : {response.text[:200]}"
            )
        try:
            return response.json()  # type: ignore[no-any-return]
        except ValueError as exc:
            raise RasaBackendError("Réponse du serveur Rasa illisible (JSON attendu).") from exc


def parse_rasa_answer(text: str, payload: dict) -> ParseResult:  # type: ignore[type-arg]
    intent = payload.get("intent") or {}
    name = intent.get("name") or "nlu_fallback"
    confidence = float(intent.get("confidence") or 0.0)
    ranking = [
        IntentScore(str(item.get("name")), round(float(item.get("confidence") or 0.0), 4))
        for item in payload.get("intent_ranking") or []
        if item.get("name")
    ] or [IntentScore(name, round(confidence, 4))]
    entities = []
    for item in payload.get("entities") or []:
        start, end = int(item.get("start", 0)), int(item.get("end", 0))
        entities.append(
            Entity(
                entity=str(item.get("entity")),
                value=str(item.get("value", text[start:end])),
                text=text[start:end],
                start=start,
                end=end,
                confidence=float(item.get("confidence_entity", item.get("confidence", 1.0)) or 1.0),
                extractor=f"rasa:{item.get('extractor', '?')}",
            )
        )
    return ParseResult(text, name, round(confidence, 4), entities, ranking)

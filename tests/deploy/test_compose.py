"""The production stack's contract (deploy/compose.yaml, its Caddyfile, deploy/.env.example):
what lets bot workers run side by side behind the proxy, and no setting name that Comptoir
would silently ignore."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTING_NAME = re.compile(r"\bCOMPTOIR_[A-Z0-9_]+\b")
# ${NAME}, ${NAME:-default}, ${NAME:?message}; "$${" is an escaped dollar for the shell.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?")


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def service(stack: dict[str, Any], name: str) -> dict[str, Any]:
    return stack["services"][name]


def environment(svc: dict[str, Any]) -> dict[str, str]:
    """A service's environment (compose allows a mapping or a list of NAME=value)."""
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: str(value) for name, value in env.items()}


def command(svc: dict[str, Any]) -> list[str]:
    cmd = svc["command"]
    return cmd.split() if isinstance(cmd, str) else [str(part) for part in cmd]


def read_by_comptoir(name: str) -> bool:
    """Whether `Settings.from_env` reads this variable: giving it a value changes the settings
    ("7" parses as every kind of setting and is no setting's default)."""
    nothing = Settings.from_env({}, env_file=None)
    return Settings.from_env({name: "7"}, env_file=None) != nothing


def test_the_setting_check_catches_a_misspelt_name() -> None:
    assert read_by_comptoir("COMPTOIR_WEBHOOK_LISTEN")
    assert not read_by_comptoir("COMPTOIR_WEBHOOK_LISTENN")
    assert not read_by_comptoir("COMPTOIR_ADMIN_PORTS")


def test_every_comptoir_variable_of_the_stack_is_a_setting() -> None:
    files = [DEPLOY / "compose.yaml", DEPLOY / ".env.example", ROOT / "Dockerfile"]
    names = {name for path in files for name in SETTING_NAME.findall(path.read_text("utf-8"))}
    assert {"COMPTOIR_WEBHOOK_LISTEN", "COMPTOIR_ADMIN_PORT", "COMPTOIR_DATABASE_URL"} <= names
    assert sorted(name for name in names if not read_by_comptoir(name)) == []


def test_bot_workers_can_be_scaled_behind_the_proxy(stack: dict[str, Any]) -> None:
    bot = service(stack, "bot")
    env = environment(bot)
    assert command(bot) == ["comptoir", "run"]
    assert env["COMPTOIR_ADMIN_PORT"] == "0"  # the back office is its own service
    assert env["COMPTOIR_WEBHOOK_LISTEN"] == "0.0.0.0"
    assert env["COMPTOIR_WEBHOOK_URL"].startswith("https://${BOT_DOMAIN")
    assert "/telegram/" in env["COMPTOIR_WEBHOOK_URL"]
    assert env["COMPTOIR_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["COMPTOIR_DATABASE_URL"]
    assert env["COMPTOIR_DATA_DIR"] == "/data"
    assert bot["deploy"]["replicas"] >= 2
    # Fixed names and host ports would stop `--scale bot=N`.
    assert "container_name" not in bot and "ports" not in bot
    # Each worker's own data folder: no named volume or bind mount (both would be shared).
    for volume in bot.get("volumes", []):
        assert isinstance(volume, str) and ":" not in volume, f"shared volume {volume!r}"
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    probe = " ".join(bot["healthcheck"]["test"])
    assert f"127.0.0.1:{env['COMPTOIR_WEBHOOK_PORT']}/healthz" in probe


def test_postgres_is_private_checked_and_kept_on_a_volume(stack: dict[str, Any]) -> None:
    postgres = service(stack, "postgres")
    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    source, target = postgres["volumes"][0].split(":")[:2]
    assert target == "/var/lib/postgresql/data" and source in stack["volumes"]
    assert "ports" not in postgres


def test_the_schema_is_migrated_once_before_workers_and_back_office(stack: dict[str, Any]) -> None:
    from bot.cli import app

    migrate = service(stack, "migrate")
    assert command(migrate) == ["comptoir", "migrate"]
    assert str(migrate["restart"]) == "no"
    assert "migrate" in {c.name or c.callback.__name__ for c in app.registered_commands}
    for name in ("bot", "admin"):
        condition = service(stack, name)["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
    urls = {environment(service(stack, n))["COMPTOIR_DATABASE_URL"] for n in ("bot", "admin")}
    assert urls == {environment(migrate)["COMPTOIR_DATABASE_URL"]}


def test_back_office_serves_alone_on_the_same_image(stack: dict[str, Any]) -> None:
    admin, bot = service(stack, "admin"), service(stack, "bot")
    env = environment(admin)
    assert command(admin) == ["comptoir", "admin", "serve"]
    assert env["COMPTOIR_ADMIN_HOST"] == "0.0.0.0" and env["COMPTOIR_ADMIN_PORT"] == "8080"
    assert admin["image"] == bot["image"] and admin["build"] == bot["build"]
    # It believes X-Forwarded-* from anyone on the stack's network: only if no port is published.
    assert env["COMPTOIR_ADMIN_TRUSTED_PROXIES"] == "*" and "ports" not in admin
    assert "127.0.0.1:8080/healthz" in " ".join(admin["healthcheck"]["test"])


def test_only_the_proxy_is_published(stack: dict[str, Any]) -> None:
    published = {name for name, svc in stack["services"].items() if "ports" in svc}
    assert published == {"proxy", "prometheus"}
    assert set(service(stack, "proxy")["ports"]) >= {"80:80", "443:443"}
    assert all(p.startswith("127.0.0.1:") for p in service(stack, "prometheus")["ports"])


@dataclass
class Block:
    """One Caddyfile line: its words, and the lines of its { } block if it opens one."""

    words: list[str]
    body: list[Block] = field(default_factory=list)

    def find(self, *words: str) -> list[Block]:
        """Every line below this one (at any depth) that starts with these words."""
        found = [b for b in self.body if b.words[: len(words)] == list(words)]
        return found + [hit for b in self.body for hit in b.find(*words)]


def parse_caddyfile(text: str) -> Block:
    root = Block([])
    stack = [root]
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line == "}":
            stack.pop()
        elif line.endswith("{"):
            block = Block(line[:-1].split())
            stack[-1].body.append(block)
            stack.append(block)
        elif line:
            stack[-1].body.append(Block(line.split()))
    assert stack == [root], "unbalanced braces"
    return root


def test_proxy_routes_the_webhook_to_every_worker(stack: dict[str, Any]) -> None:
    proxy = service(stack, "proxy")
    assert proxy["image"].startswith("caddy:")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in proxy["volumes"]}
    caddyfile = (DEPLOY / mounts["/etc/caddy/Caddyfile"]).read_text(encoding="utf-8")
    assert set(re.findall(r"\{\$([A-Z_]+)\}", caddyfile)) <= set(environment(proxy))
    caddy = parse_caddyfile(caddyfile)
    bot_env = environment(service(stack, "bot"))

    (bot_site,) = caddy.find("{$BOT_DOMAIN}")
    (matcher,) = bot_site.find("@webhook")
    assert ["method", "POST"] in [b.words for b in matcher.body]
    (path,) = matcher.find("path")
    assert path.words[1] == "/telegram/*"
    webhook_path = bot_env["COMPTOIR_WEBHOOK_URL"].split("}", 1)[1]  # after ${BOT_DOMAIN...}
    assert webhook_path.startswith(path.words[1].rstrip("*"))
    (proxied,) = bot_site.find("reverse_proxy")  # the workers' /healthz, /metrics stay private
    assert proxied in bot_site.find("handle", "@webhook")[0].body
    (upstreams,) = proxied.find("dynamic", "a")
    settings = {b.words[0]: b.words[1:] for b in upstreams.body}
    assert settings["name"] == ["bot"] and settings["port"] == [bot_env["COMPTOIR_WEBHOOK_PORT"]]
    assert proxied.find("lb_policy", "round_robin")
    # Without the body kept, a webhook retried on another worker reaches it empty (a 502).
    assert proxied.find("request_buffers")
    assert proxied.find("fail_duration") and proxied.find("unhealthy_status", "5xx")

    (admin_site,) = caddy.find("{$ADMIN_DOMAIN}")
    assert admin_site.find("reverse_proxy", "admin:8080")
    (private,) = admin_site.find("@private")
    assert set(private.words[2:]) == {"/healthz", "/metrics"}
    assert admin_site.find("respond", "@private", "404")


def test_env_example_names_every_variable_the_stack_needs() -> None:
    compose_text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    set_lines = dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", example, re.MULTILINE))
    mentioned = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", example, re.MULTILINE))
    used = INTERPOLATION.findall(compose_text)
    assert {name for name, _ in used} <= mentioned
    required = {name for name, kind in used if kind == ":?"}
    assert required <= set(set_lines)
    for name in required & {"POSTGRES_PASSWORD", "COMPTOIR_WEBHOOK_SECRET", "WEBHOOK_PATH_TOKEN"}:
        assert set_lines[name] == "remplacez-moi"  # a placeholder, never a secret


def test_the_image_carries_the_postgres_driver() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"
    ]
    assert any(dep.startswith("psycopg") for dep in extras["postgres"])
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    assert re.search(r'pip install "\.\[[^]]*\bpostgres\b', dockerfile)

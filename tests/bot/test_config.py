"""Settings from the environment: the vector cache's size."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings


def test_vector_cache_size_default_value_and_off() -> None:
    assert Settings.from_env({}, env_file=None).vector_cache_size == 1024
    size = Settings.from_env({"COMPTOIR_VECTOR_CACHE_SIZE": "64"}, env_file=None)
    assert size.vector_cache_size == 64
    off = Settings.from_env({"COMPTOIR_VECTOR_CACHE_SIZE": "0"}, env_file=None)
    assert off.vector_cache_size == 0


@pytest.mark.parametrize("value", ["-1", "beaucoup"])
def test_a_bad_vector_cache_size_says_which_setting(value: str) -> None:
    with pytest.raises(ConfigError, match="COMPTOIR_VECTOR_CACHE_SIZE"):
        Settings.from_env({"COMPTOIR_VECTOR_CACHE_SIZE": value}, env_file=None)

"""`comptoir kb train-ranker --objective`: an unknown objective is refused before any model
or index is loaded (the objectives themselves are tested in tests/kb/test_ranker.py)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from knowledge_base.ranker import OBJECTIVES


def test_an_unknown_objective_is_refused_and_the_known_ones_are_named(tmp_path: Path) -> None:
    env = {"COMPTOIR_DATA_DIR": str(tmp_path)}
    done = CliRunner().invoke(
        app,
        ["--env-file", str(tmp_path / "none"), "kb", "train-ranker", "--objective", "listwise"],
        env=env,
    )
    assert done.exit_code == 1
    assert "listwise" in done.output
    assert all(name in done.output for name in OBJECTIVES)
    assert not (tmp_path / "models" / "ranker.json").exists()

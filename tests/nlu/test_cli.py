"""The command-line contract (shared/DESIGN.md), run as a merchant's operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES


def comptoir(
    *args: str, data_dir: Path, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COMPTOIR_DATA_DIR": str(data_dir), **env}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )


def test_help_lists_commands(tmp_path: Path) -> None:
    result = comptoir("--help", data_dir=tmp_path)
    assert result.returncode == 0
    assert "nlu" in result.stdout
    nlu_help = comptoir("nlu", "--help", data_dir=tmp_path)
    for command in ("train", "test", "parse"):
        assert command in nlu_help.stdout


def test_train_test_parse_on_any_rasa_file(tmp_path: Path) -> None:
    data = FIXTURES / "rasa_moodbot_nlu.yml"
    model = tmp_path / "model"
    trained = comptoir("nlu", "train", "--data", str(data), "--out", str(model), data_dir=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert (model / "nlu-model.json").is_file()

    report_dir = tmp_path / "report"
    tested = comptoir(
        "nlu",
        "test",
        "--data",
        str(data),
        "--model",
        str(model),
        "--report",
        str(report_dir),
        "--json",
        data_dir=tmp_path,
    )
    assert tested.returncode == 0, tested.stderr
    report = json.loads(tested.stdout)
    assert report["accuracy"] > 0.9  # evaluated on its own training data
    assert set(report["per_intent"]) >= {"greet", "mood_unhappy"}
    assert (report_dir / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"

    lines = '{"text": "hello there"}\n{"text": "I am so sad today"}\nnot json\n'
    parsed = comptoir(
        "nlu", "parse", "--model", str(model), "--jsonl", stdin=lines, data_dir=tmp_path
    )
    assert parsed.returncode == 0, parsed.stderr
    rows = [json.loads(line) for line in parsed.stdout.splitlines()]
    assert [r.get("intent") for r in rows[:2]] == ["greet", "mood_unhappy"]
    assert set(rows[0]) == {"text", "intent", "confidence", "entities"}
    assert "error" in rows[2]


def test_cross_validation_report(tmp_path: Path) -> None:
    result = comptoir(
        "nlu",
        "test",
        "--data",
        str(FIXTURES / "rasa_moodbot_nlu.yml"),
        "--cross-validation",
        "--folds",
        "3",
        "--report",
        str(tmp_path / "cv"),
        "--json",
        data_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["folds"] == 3
    assert report["n"] == 68
    assert 0.5 < report["accuracy"] <= 1.0


def test_human_readable_parse_with_the_default_model(session_data_dir: Path) -> None:
    # Shares the data folder (model + vector cache) of the shipped-model tests.
    result = comptoir(
        "nlu", "parse", "une alternative a gmal pour ma boulangerie", data_dir=session_data_dir
    )
    assert result.returncode == 0, result.stderr
    assert "find_alternative" in result.stdout
    assert "Gmail" in result.stdout and "boulangerie" in result.stdout


def test_broken_data_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "version: '3.1'\nnlu:\n- intent: greet\n  examples: |\n    - [oups\n", encoding="utf-8"
    )
    result = comptoir(
        "nlu", "train", "--data", str(broken), "--out", str(tmp_path / "m"), data_dir=tmp_path
    )
    assert result.returncode == 1
    assert "broken.yml:5" in result.stderr
    assert "Traceback" not in result.stderr

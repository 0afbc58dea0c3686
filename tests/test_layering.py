"""Layers point down: bot/ uses nlu/ and knowledge_base/, never the reverse.

Read from the source with `ast` (imports inside functions count too), so a forbidden import
fails here even if no test happens to execute it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOWER_PACKAGES = ("nlu", "knowledge_base")
FORBIDDEN = "bot"


def imported_modules(source: str, package: str) -> list[str]:
    """Absolute names of every module `source` (a module of `package`) imports."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:  # relative: from the module's package, `level` - 1 packages up
                parts = package.split(".")
                parent = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parent + ([node.module] if node.module else []))
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names if base]
    return names


def upward_imports(source: str, package: str) -> list[str]:
    return sorted(
        {
            name
            for name in imported_modules(source, package)
            if name == FORBIDDEN or name.startswith(FORBIDDEN + ".")
        }
    )


def test_the_check_sees_every_form_of_import() -> None:
    source = (
        "import bot.config\n"
        "from bot.config import Settings\n"
        "from bot import services\n"
        "def later():\n"
        "    import bot.cli as cli\n"
        "from nlu.encoder import Encoder\n"
        "import botanique\n"
    )
    assert upward_imports(source, "nlu") == [
        "bot",
        "bot.cli",
        "bot.config",
        "bot.config.Settings",
        "bot.services",
    ]
    assert upward_imports("from .encoder import Encoder", "nlu") == []


@pytest.mark.parametrize("package", LOWER_PACKAGES)
def test_lower_layers_never_import_bot(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no module found under {package}/"
    offenders = {}
    for path in files:
        relative = path.relative_to(ROOT)
        module_package = ".".join(relative.parent.parts)
        found = upward_imports(path.read_text(encoding="utf-8"), module_package)
        if found:
            offenders[str(relative)] = found
    assert offenders == {}, f"{package}/ must not import bot/ (pass plain values instead)"

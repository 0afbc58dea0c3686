#!/usr/bin/env bash
# Create benchmarks/rasa/.venv310 (Python 3.10) with rasa 3.6.21. Safe to re-run.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv310"
PY310="${PY310:-/root/.pyenv/versions/3.10.13/bin/python}"
RASA_VERSION="3.6.21"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY310" -m venv "$VENV"
fi
if "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('rasa') != '$RASA_VERSION')" 2>/dev/null; then
    echo "rasa $RASA_VERSION already installed in $VENV"
    exit 0
fi
"$VENV/bin/python" -m pip install --upgrade "pip<25" wheel
"$VENV/bin/python" -m pip install "rasa==$RASA_VERSION"
"$VENV/bin/python" -c "import rasa, sys; print('rasa', rasa.__version__, 'python', sys.version.split()[0])"

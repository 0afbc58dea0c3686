#!/usr/bin/env bash
# Create .venv and install Comptoir with what the tests need. Idempotent.
# Usage: scripts/setup.sh [--with-st]   (--with-st adds the sentence-transformers backend)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
extras="dev"
if [ "${1:-}" = "--with-st" ]; then
  # torch==2.13.0 is pinned: its CPU wheel is what these machines cache; any other spec pulls
  # a multi-GB CUDA build.
  extras="dev,st"
fi
.venv/bin/python -m pip install --quiet -e ".[${extras}]"

#!/usr/bin/env bash
# Set up (if needed) and run Comptoir with the embedded defaults: SQLite, local chat when no
# Telegram token is configured. Extra arguments go to `comptoir run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh  # idempotent: also brings an older checkout's .venv up to date
exec .venv/bin/comptoir run "$@"

#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: lint, content validation, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-st
scripts/install-browser.sh
.venv/bin/ruff check .
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when nothing was collected: that is a failure for us, not a pass.
if [ "$status" -eq 5 ]; then
  echo "pytest: no test collected" >&2
  exit 1
fi
exit "$status"

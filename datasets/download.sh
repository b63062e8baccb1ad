#!/usr/bin/env bash
# Shared launcher of the download scripts: datasets/download.sh CATALOG [NAME] [flags...] runs
# datasets/download.py with $PYTHON (default: python, else python3), this checkout first on the module path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if command -v python >/dev/null 2>&1; then PYTHON=python; else PYTHON=python3; fi
fi
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m datasets.download "$@"

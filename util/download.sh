#!/usr/bin/env bash
# Shared launcher of the download scripts: util/download.sh CATALOG [NAME] [flags...] runs util.download.cli
# with $PYTHON (default: python, else python3) and this repository on sys.path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if command -v python >/dev/null 2>&1; then PYTHON=python; else PYTHON=python3; fi
fi
exec "$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv.pop(1)); from util.download import cli; cli()' "$root" "$@"

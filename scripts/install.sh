#!/usr/bin/env bash
# Create ./.venv (if needed) and install the project's requirements into it. Idempotent and quick when up to date.
#   scripts/install.sh          core requirements
#   scripts/install.sh --dev    core + test/optional extras (requirements-dev.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q -U pip
fi
files=(requirements.txt)
[ "${1:-}" = "--dev" ] && files+=(requirements-dev.txt)
stamp=".venv/.installed-$(cat "${files[@]}" pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  # visdom only ships as source and its build needs pkg_resources, gone from setuptools >= 81
  constraint=$(mktemp)
  echo 'setuptools<81' > "$constraint"
  args=()
  for f in "${files[@]}"; do args+=(-r "$f"); done
  # the project itself, editable (compat mode puts the checkout on sys.path, so new packages need no reinstall)
  .venv/bin/python -m pip install -q --build-constraint "$constraint" "${args[@]}" \
    -e . --config-settings editable_mode=compat
  rm -f "$constraint"
  touch "$stamp"
fi

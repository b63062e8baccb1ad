#!/usr/bin/env bash
# Install everything the tests need (venv, requirements, headless Chromium) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
if [ -x .ci/install_browser.sh ]; then .ci/install_browser.sh; fi
# one test worker per core, at most 4 (each test's training subprocesses use one thread); PYTEST_WORKERS overrides
workers=${PYTEST_WORKERS:-$(( $(nproc) < 4 ? $(nproc) : 4 ))}
exec .venv/bin/python -m pytest -q -n "$workers" "$@" tests

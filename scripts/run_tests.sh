#!/usr/bin/env bash
# Install everything the tests need (venv, requirements, headless Chromium) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
if [ -x .ci/install_browser.sh ]; then .ci/install_browser.sh; fi
exec .venv/bin/python -m pytest -q "$@" tests

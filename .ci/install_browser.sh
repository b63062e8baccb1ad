#!/usr/bin/env bash
# Install Debian's Chromium (headless, for the page tests in tests/test_visualizer.py and tests/test_html.py)
# when /usr/bin/chromium is missing. The tests drive it through its DevTools port, so no driver is needed.
# Needs root (CI runs as root) or sudo; fails loudly rather than letting the browser tests skip unnoticed.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install_browser.sh: /usr/bin/chromium is missing and this user cannot run apt-get (not root, no sudo)" >&2
    exit 1
fi
echo "install_browser.sh: installing chromium and fonts with apt-get"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core fonts-liberation >/dev/null
test -x /usr/bin/chromium

#!/usr/bin/env bash
# Make sure the system Chromium that the browser tests (tests/web/test_browser.py) drive exists.
# Never fails: without Chromium those tests skip with a reason that points back here.
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

warn() {
    echo "!!! WARNING: $CHROMIUM is missing and $1." >&2
    echo "!!! The browser tests (pytest -m browser) will be SKIPPED. Install the 'chromium' package by hand." >&2
    exit 0
}

if [ "$(id -u)" != "0" ]; then
    warn "this script is not running as root, so it cannot install it"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    warn "apt-get is not available here"
fi

echo "ensure-chromium: installing the system 'chromium' package with apt-get (for the browser tests)..."
log=$(mktemp)
if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    warn "'apt-get install chromium' failed (output above)"
fi
rm -f "$log"
if [ ! -x "$CHROMIUM" ]; then
    warn "the chromium package did not provide it"
fi

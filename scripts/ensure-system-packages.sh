#!/usr/bin/env bash
# Make sure the Debian packages the tests and benchmarks drive exist:
#   chromium        browser tests (tests/web/test_browser.py and other `-m browser` tests)
#   clamav-daemon   virus scanning tests (tests/catalog/test_virus.py) against a real clamd
#   nginx-light     X-Accel-Redirect tests (tests/core/test_accel_redirect.py) and bench/file_download.py
#   b3sum           the baseline of bench/file_hashing.py
# Never fails: without a package, the tests that need it skip with a reason that points back here.
set -u

# package -> the program it provides
declare -A PROGRAMS=(
    [chromium]=/usr/bin/chromium
    [clamav-daemon]=/usr/sbin/clamd
    [nginx-light]=/usr/sbin/nginx
    [b3sum]=/usr/bin/b3sum
)

missing=()
for package in "${!PROGRAMS[@]}"; do
    if [ ! -x "${PROGRAMS[$package]}" ]; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

warn() {
    echo "!!! WARNING: missing system packages: ${missing[*]}; $1." >&2
    echo "!!! The tests and benchmarks that need them will be SKIPPED. Install them by hand:" >&2
    echo "!!!     apt-get install ${missing[*]}" >&2
    exit 0
}

if [ "$(id -u)" != "0" ]; then
    warn "this script is not running as root, so it cannot install them"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    warn "apt-get is not available here"
fi

echo "ensure-system-packages: installing ${missing[*]} with apt-get (for the tests and benchmarks)..."
log=$(mktemp)
if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
        >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    warn "'apt-get install' failed (output above)"
fi
rm -f "$log"
still=()
for package in "${missing[@]}"; do
    if [ ! -x "${PROGRAMS[$package]}" ]; then
        still+=("$package")
    fi
done
if [ "${#still[@]}" -gt 0 ]; then
    missing=("${still[@]}")
    warn "the packages did not provide the programs"
fi

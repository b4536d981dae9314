#!/bin/sh
# The dashboard's browser tests drive the distribution's Chromium. `make test` runs this when
# no Chromium is on PATH: it installs Debian's (or Ubuntu's) package, as root or with sudo.
set -eu
for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$name" >/dev/null 2>&1; then exit 0; fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no Chromium and no apt-get: install Chromium to run the dashboard's browser tests" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then as_root=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; else
    echo "no Chromium, and installing it needs root: sudo apt-get install chromium" >&2
    exit 0
fi
echo "installing the distribution's Chromium for the dashboard's browser tests..." >&2
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || {
    $as_root apt-get update -q >/dev/null
    $as_root apt-get install -y -q --no-install-recommends chromium >/dev/null
}

#!/bin/sh
# What the tests drive besides Python: the distribution's Chromium (the dashboard's browser
# tests) and restic (backups handed to restic). `make test` runs this; each tool missing from
# PATH is installed from Debian's (or Ubuntu's) packages, as root or with sudo.
set -eu
missing=""
have_chromium=""
for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$name" >/dev/null 2>&1; then have_chromium=yes; fi
done
[ -n "$have_chromium" ] || missing=" chromium"
command -v restic >/dev/null 2>&1 || missing="$missing restic"
[ -n "$missing" ] || exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get to install$missing: install them to run the tests that need them" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then as_root=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; else
    echo "installing$missing needs root: sudo apt-get install$missing" >&2
    exit 0
fi
echo "installing the distribution's$missing for the tests..." >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
$as_root apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 || {
    $as_root apt-get update -q >/dev/null
    $as_root apt-get install -y -q --no-install-recommends $missing >/dev/null
}

#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the console's browser test
# (console/tests/test_browser.py drives it with Playwright; no browser is ever downloaded).
# Idempotent: does nothing when it is already there. Under CI=true a failed install fails the
# run; elsewhere it is reported loudly and the browser test skips itself with the reason.
set -uo pipefail
CHROMIUM=${WEGENT_CHROMIUM:-/usr/bin/chromium}

if [ -x "$CHROMIUM" ]; then
  echo "browser: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi

install_chromium() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || return 1
    sudo="sudo -n"
  fi
  echo "browser: installing Debian's chromium package"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium
}

if install_chromium && [ -x "$CHROMIUM" ]; then
  echo "browser: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "ERROR: could not install Chromium at $CHROMIUM (CI requires the browser test)"
  exit 1
fi
echo "!!! WARNING: no Chromium at $CHROMIUM and it could not be installed: the browser test will be SKIPPED."
exit 0

#!/usr/bin/env bash
# Makes sure the tools the test tiers need are on this machine before `npm test`
# runs them: Debian's Chromium (installed here when we are root with apt-get)
# and moto's server (which cannot be installed from here: it says how).
set -euo pipefail

chromium_bin="${CHROMIUM_PATH:-}"
if [ -z "$chromium_bin" ]; then
  for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -x "$candidate" ]; then chromium_bin="$candidate"; break; fi
  done
fi
if [ -z "$chromium_bin" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-test-tools: installing Debian's chromium for the e2e tier…"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  else
    echo "ensure-test-tools: the e2e tier needs Chromium. Install it with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y chromium" >&2
    echo "  (or set CHROMIUM_PATH to a Chromium binary)." >&2
    exit 1
  fi
fi

moto="${MOTO_SERVER:-moto_server}"
if ! command -v "$moto" >/dev/null 2>&1; then
  echo "ensure-test-tools: the aws tier needs moto's server. Install it with:" >&2
  echo "    pip install 'moto[server]==5.2.1'   (or set MOTO_SERVER to its path)" >&2
  exit 1
fi

#!/usr/bin/env bash
# Makes sure the tools the test tiers need are on this machine before `npm test`
# runs them: Debian's Chromium (installed here when we are root with apt-get),
# Node 22 for the aws and infra tiers (Lambda's runtime, from the npm registry),
# and moto's server and cfn-lint (which cannot be installed from here: it says how).
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

cfn_lint="${CFN_LINT:-cfn-lint}"
# cfn-lint's package has no __main__ (python3 -m cfnlint fails): its runner is the fallback.
if ! command -v "$cfn_lint" >/dev/null 2>&1 &&
  ! python3 -c 'import sys; from cfnlint.runner import main; sys.argv = ["cfn-lint", "--version"]; main()' >/dev/null 2>&1; then
  echo "ensure-test-tools: the infra tier lints the templates with cfn-lint. Install it with:" >&2
  echo "    pip install cfn-lint   (or set CFN_LINT to its path)" >&2
  exit 1
fi

# The aws and infra tiers run on Lambda's Node 22 (installed once into .cache/node22).
node22="$(bash "$(dirname "$0")/node22.sh" --print)"
echo "ensure-test-tools: Node 22 for the aws and infra tiers: $node22 ($("$node22" --version))"

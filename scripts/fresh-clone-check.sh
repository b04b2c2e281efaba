#!/usr/bin/env bash
# What a newcomer gets: the repo's HEAD cloned alone into an empty folder (no
# team folder beside it, no node_modules, no .data), installed with `npm ci`,
# then the typecheck and the unit tier run there. Run by the e2e tier
# (test/e2e/fresh-clone.test.ts); by hand: bash scripts/fresh-clone-check.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
head="$(git -C "$repo" rev-parse HEAD)"
work="$(mktemp -d "${TMPDIR:-/tmp}/fresh-clone-XXXXXX")"
trap 'rm -rf "$work"' EXIT
git clone --quiet --no-hardlinks "$repo" "$work/repo"
cd "$work/repo"
git -c advice.detachedHead=false checkout --quiet "$head"
echo "fresh-clone: $head in $work/repo, alone: $(ls -A "$work")"
start=$(date +%s)
npm ci --no-audit --no-fund --prefer-offline --loglevel=error
echo "fresh-clone: npm ci took $(( $(date +%s) - start )) s"
npm run --silent typecheck
npx jest --selectProjects unit --ci
echo "fresh-clone: passed"

#!/bin/sh
# The hash of the canvas' sources: sha256 of `sha256sum`'s listing of src/**, package.json,
# package-lock.json, tsconfig.json and vite.config.ts, sorted by path (LC_ALL=C).
# tests/test_canvas_build.py computes the same in Python; the Makefile rebuilds dist/ when it
# differs from dist/SOURCE_HASH. With --write, the hash is stored in dist/SOURCE_HASH.
set -eu
cd "$(dirname "$0")/.."
if command -v sha256sum >/dev/null 2>&1; then sum() { sha256sum "$@"; }; else sum() { shasum -a 256 "$@"; }; fi
hash=$(find src package.json package-lock.json tsconfig.json vite.config.ts -type f -print \
  | LC_ALL=C sort | while IFS= read -r f; do sum "$f"; done | sum | cut -d' ' -f1)
if [ "${1:-}" = "--write" ]; then
  mkdir -p dist
  printf '%s\n' "$hash" > dist/SOURCE_HASH
fi
printf '%s\n' "$hash"

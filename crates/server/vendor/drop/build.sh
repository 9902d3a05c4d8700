#!/bin/sh
# Reproduce drop-vendor.js from entry.js + package.json + package-lock.json.
# Usage: ./build.sh            (builds in a fresh temp dir, writes ./drop-vendor.js next to this script)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp "$HERE/package.json" "$HERE/package-lock.json" "$HERE/entry.js" "$WORK/"
cd "$WORK"
# Lockfile-exact install. Install scripts are not needed: esbuild's native
# binary comes from the optional dependency @esbuild/<platform> in the lockfile.
npm ci --ignore-scripts --no-audit --no-fund
./node_modules/.bin/esbuild entry.js --bundle --format=iife --minify --target=es2020 \
  --legal-comments=eof --outfile=drop-vendor.js
cp drop-vendor.js "$HERE/drop-vendor.js"
wc -c < "$HERE/drop-vendor.js"
sha256sum "$HERE/drop-vendor.js" 2>/dev/null || shasum -a 256 "$HERE/drop-vendor.js"

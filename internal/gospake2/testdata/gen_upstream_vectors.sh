#!/bin/sh
# Runs upstream/main.go against Debian's copy of the original gospake2
# (package golang-debian-vasudev-gospake2-dev), renamed to a module path of
# its own so that it can sit beside this package, which takes its name.
# Usage: gen_upstream_vectors.sh N [all] > upstream_vectors.json
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=/usr/share/gocode/src/salsa.debian.org/vasudev/gospake2
[ -d "$src" ] || { echo "gen_upstream_vectors: $src is missing (apt install golang-debian-vasudev-gospake2-dev)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/orig" "$tmp/gen"
cp -R "$src"/. "$tmp/orig"
find "$tmp/orig" -name '*.go' -exec sed -i 's#salsa.debian.org/vasudev/gospake2#upstream.invalid/gospake2#g' {} +
xcrypto=$(sed -n 's/^[[:space:]]*golang.org\/x\/crypto \(v[^ ]*\).*/\1/p' "$here/../go.mod")
cat >"$tmp/orig/go.mod" <<MOD
module upstream.invalid/gospake2

go 1.21

require golang.org/x/crypto $xcrypto
MOD
grep -v "^//go:build ignore" "$here/upstream/main.go" >"$tmp/gen/main.go"
cat >"$tmp/gen/go.mod" <<MOD
module gen

go 1.26.0

require (
	salsa.debian.org/vasudev/gospake2 v0.0.0
	upstream.invalid/gospake2 v0.0.0
)

replace salsa.debian.org/vasudev/gospake2 => $here/..

replace upstream.invalid/gospake2 => ../orig
MOD
cd "$tmp/gen"
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod go mod tidy
GOFLAGS=-mod=mod go run . "$@"

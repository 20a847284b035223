#!/usr/bin/env bash
# Rebuild the committed WebAssembly modules from their C sources (packages/core/wasm/*.c).
# Needs clang and lld (Debian: apt-get install clang lld). `--check` rebuilds into a scratch
# directory and fails if a committed module differs from its source's build.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang >/dev/null && command -v wasm-ld >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang lld >/dev/null
}
out=packages/core/wasm
if [ "${1:-}" = --check ]; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
for source in packages/core/wasm/*.c; do
  name=$(basename "$source" .c)
  # No libc, no start function; memory exported (the default) and grown by the caller.
  clang --target=wasm32 -O3 -mbulk-memory -msimd128 -nostdlib -Wl,--no-entry -Wl,--export=__heap_base \
    -Wl,--initial-memory=131072 -Wl,-z,stack-size=8192 -o "$out/$name.wasm" "$source"
  if [ "${1:-}" = --check ] && ! cmp -s "$out/$name.wasm" "packages/core/wasm/$name.wasm"; then
    echo "build-wasm: packages/core/wasm/$name.wasm is not what $source builds to: run bash scripts/build-wasm.sh" >&2
    exit 1
  fi
done

#!/usr/bin/env bash
# Rebuild core's committed C builds from their sources:
# - the lz4 block codec (packages/core/wasm/lz4-block.c) as WebAssembly (wasm/lz4-block.wasm, for
#   every platform) and as a Node-API module for linux-x64 (native/lz4-block.linux-x64.node, with
#   native/lz4-block-napi.c; see there);
# - sha256 on libuv's thread pool (native/sha256-napi.c) as native/sha256.linux-x64.node.
# Needs clang and lld (Debian: apt-get install clang lld), and an x86-64 Linux machine for the
# native builds. `--check` rebuilds into a scratch directory and fails if a committed file differs
# from what its source builds to.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang >/dev/null && command -v wasm-ld >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang lld >/dev/null
}
check=false
[ "${1:-}" = --check ] && check=true
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# No libc, no start function; memory exported (the default) and grown by the caller.
clang --target=wasm32 -O3 -mbulk-memory -msimd128 -nostdlib -Wl,--no-entry -Wl,--export=__heap_base \
  -Wl,--initial-memory=131072 -Wl,-z,stack-size=8192 -o "$out/lz4-block.wasm" packages/core/wasm/lz4-block.c
# Any x86-64 (no -march), no libc and no build id: the same bytes from the same clang. Node-API's
# functions, and the few of libc's and OpenSSL's they call, are resolved from node itself as it
# loads the module (-z now: a symbol node lacks fails the load, not a later call).
native() {
  clang --target=x86_64-linux-gnu -O3 -fPIC -shared -nostdlib -fno-stack-protector -fvisibility=hidden \
    -Wl,--build-id=none -Wl,-z,now -Wl,--strip-all -o "$out/$1" "$2"
}
native lz4-block.linux-x64.node packages/core/native/lz4-block-napi.c
native sha256.linux-x64.node packages/core/native/sha256-napi.c
for built in wasm/lz4-block.wasm native/lz4-block.linux-x64.node native/sha256.linux-x64.node; do
  committed=packages/core/$built
  if ! $check; then
    cp "$out/$(basename "$built")" "$committed"
  elif ! cmp -s "$out/$(basename "$built")" "$committed"; then
    echo "build-native: $committed is not what its C source builds to: run bash scripts/build-native.sh" >&2
    exit 1
  fi
done

#!/usr/bin/env bash
# Install what dogestry needs on Debian (as root), then build it. Idempotent: installs only what is missing.
#
#   scripts/setup.sh          Node.js + npm packages + build; Docker engine (docker.io) only if none is reachable
#   scripts/setup.sh --all    also everything the test suite and benchmark run against:
#                             docker.io, podman, skopeo, nginx, Ceph radosgw (mon + osd), curl, lz4 and zstd (format interop tests),
#                             tmux (progress on a real terminal), socat (the engine on tcp://[::1]),
#                             openssh-server (the engine over ssh://), apache2 (a second WebDAV server),
#                             docker-registry (the peer of the registry face in the bench).
#                             Packages' own services are not started (policy-rc.d): the tests start their own.
set -euo pipefail
cd "$(dirname "$0")/.."
all=false
[ "${1:-}" = "--all" ] && all=true

need=()
have() { command -v "$1" >/dev/null 2>&1; }
node_ok() { have node && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 18 ]; } # enough to run npm; dogestry's own Node comes from scripts/node.sh
engine_reachable() {
  [ -n "${DOCKER_HOST:-}" ] && return 0
  [ -S /var/run/docker.sock ] && have curl && curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1
}

node_ok || need+=(nodejs)
have npm || need+=(npm)
have curl || need+=(curl)
have git || need+=(git)
if $all || ! engine_reachable; then have dockerd || need+=(docker.io); fi
if $all; then
  have podman || need+=(podman)
  have skopeo || need+=(skopeo)
  have nginx || need+=(nginx)
  have radosgw || need+=(radosgw)
  have ceph-mon || need+=(ceph-mon)
  have ceph-osd || need+=(ceph-osd)
  have ceph || need+=(ceph-common)
  have lz4 || need+=(lz4)
  have zstd || need+=(zstd)
  have docker-registry || need+=(docker-registry)
  have tmux || need+=(tmux)
  have socat || need+=(socat)
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  [ -x /usr/sbin/apache2 ] || need+=(apache2)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # For the test suite's servers, where systemd runs: installing sshd or apache2 would start
  # them on every interface. Forbid service starts during this install (unless the machine
  # already has a policy); the tests start their own, on 127.0.0.1.
  policy=/usr/sbin/policy-rc.d
  own_policy=false
  if $all && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=true
    trap '$own_policy && rm -f "$policy"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if $own_policy; then rm -f "$policy"; own_policy=false; fi
fi

# dogestry runs on Node 22.19+ and 24 (undici 8, zstd in node:zlib): Debian's is older.
PATH="$(bash scripts/node.sh 24):$PATH"
export PATH

if [ ! -d node_modules/typescript ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  # The lockfile lists every platform's optional packages (biome's binaries): keep it so, or this fails.
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: building" >&2
npm run --silent build

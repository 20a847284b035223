#!/usr/bin/env bash
# The main job on embedded defaults: install, then push an image to a local directory remote,
# list it, remove it from the engine, pull it back and verify the remote. Uses the engine at
# DOCKER_HOST or /var/run/docker.sock when one answers, else a throwaway dockerd it starts
# (and stops) itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PATH="$(bash scripts/node.sh 24):$PATH"
export PATH
demo="$PWD/.tmp/demo"
rm -rf "$demo" && mkdir -p "$demo"
export DOGESTRY_CONFIG="$demo/dogestry.cfg" XDG_CACHE_HOME="$demo/cache" DOCKER_API_VERSION=1.41
started=""
if [ -z "${DOCKER_HOST:-}" ]; then
  if curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; then
    export DOCKER_HOST=unix:///var/run/docker.sock
  else
    echo "demo: no Docker engine reachable; starting a throwaway dockerd in $demo/engine"
    DOCKER_HOST=$(scripts/dockerd.sh start "$demo/engine")
    export DOCKER_HOST
    started="$demo/engine"
  fi
fi
cleanup() { [ -n "$started" ] && scripts/dockerd.sh stop "$started"; }
trap cleanup EXIT

echo "demo: building a synthetic 3-layer image dogestry-demo/hello:1.0"
node --import tsx scripts/make-image.ts "$demo/build" dogestry-demo/hello:1.0 >"$demo/image.tar.path"
docker load -i "$(cat "$demo/image.tar.path")" >/dev/null

set -x
npx dogestry remote add central "$demo/remote"
npx dogestry push central dogestry-demo/hello:1.0
npx dogestry push central dogestry-demo/hello:1.0
npx dogestry images central
npx dogestry tags central dogestry-demo/hello
docker rmi dogestry-demo/hello:1.0
npx dogestry pull central dogestry-demo/hello:1.0
npx dogestry verify central
docker image inspect -f '{{.Id}} {{.RepoTags}}' dogestry-demo/hello:1.0

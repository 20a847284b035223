#!/usr/bin/env bash
# A throwaway Docker engine on a private socket, with fresh directories, stopped by PID.
#
#   scripts/dockerd.sh start DIR [vfs|overlay2]   prints the DOCKER_HOST to use (unix://DIR/docker.sock)
#   scripts/dockerd.sh stop DIR                   SIGTERM our dockerd, wait, unmount what it left
#
# Never touches a dockerd it did not start: it only signals the PID in DIR/pid.
set -euo pipefail
cmd=${1:?usage: dockerd.sh start|stop DIR [vfs|overlay2]}
dir=${2:?usage: dockerd.sh start|stop DIR [vfs|overlay2]}
driver=${3:-${DOGESTRY_STORAGE_DRIVER:-vfs}}

stop() {
  local pid
  pid=$(cat "$dir/pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
      # A zombie (state Z) has exited: treat it as gone.
      state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
      [ -z "$state" ] || [[ "$state" == Z* ]] && break
      sleep 0.1
    done
  fi
  rm -f "$dir/pid"
  for m in $(awk -v d="$dir" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

start() {
  command -v dockerd >/dev/null || { echo "dockerd not found: apt-get install -y --no-install-recommends docker.io" >&2; exit 1; }
  mkdir -p "$dir/root" "$dir/exec"
  [ -S "$dir/docker.sock" ] && rm -f "$dir/docker.sock"
  dockerd --storage-driver="$driver" --iptables=false --ip6tables=false --bridge=none \
    --host "unix://$dir/docker.sock" --data-root "$dir/root" --exec-root "$dir/exec" \
    --pidfile "$dir/dockerd.pid" >"$dir/dockerd.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/pid"
  for _ in $(seq 1 300); do
    if curl -sf --unix-socket "$dir/docker.sock" http://localhost/_ping 2>/dev/null | grep -q OK; then
      echo "unix://$dir/docker.sock"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "dockerd exited; see $dir/dockerd.log:" >&2; tail -20 "$dir/dockerd.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "dockerd did not answer /_ping in 30 s; see $dir/dockerd.log" >&2
  stop
  exit 1
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: dockerd.sh start|stop DIR [vfs|overlay2]" >&2; exit 2 ;;
esac

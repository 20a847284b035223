#!/usr/bin/env bash
# A throwaway S3 server: Ceph's RADOS Gateway over a one-mon, one-OSD (memstore) cluster,
# everything on 127.0.0.1 under DIR, stopped by PID.
#
#   scripts/radosgw.sh start DIR [RGW_PORT] [MEMSTORE_MIB]   prints: ENDPOINT ACCESS_KEY SECRET_KEY
#   scripts/radosgw.sh stop DIR
#
# The mon listens on 3300/6789 and the OSD on 6800-6807 (Ceph's defaults), so one cluster
# runs per machine at a time.
#
# tcp_nodelay=1: without it, beast holds back a small response body until the client ACKs
# the headers, which Linux delays by 40 ms on a reused connection; every GET of a small
# object took ~42 ms instead of ~1 (as on AWS). Operators should set it too (README).
set -euo pipefail
cmd=${1:?usage: radosgw.sh start|stop DIR [PORT] [MEMSTORE_MIB]}
dir=${2:?usage: radosgw.sh start|stop DIR [PORT] [MEMSTORE_MIB]}
port=${3:-7480}
mib=${4:-4096}
access=DOGESTRYTESTKEY00001
secret=dogestry-test-secret-key-0000000000000001

stop_pid() { # name
  local f="$dir/$1.pid" pid state
  pid=$(cat "$f" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    { [ -z "$state" ] || [[ "$state" == Z* ]]; } && break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

stop() {
  # radosgw first: it hangs on SIGTERM once mon/osd are gone.
  stop_pid client.rgw.dogestry
  stop_pid osd.0
  stop_pid mon.a
}

start() {
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool ceph-authtool; do
    command -v "$b" >/dev/null || { echo "$b not found: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common" >&2; exit 1; }
  done
  rm -rf "$dir" && mkdir -p "$dir"/{mon,osd,run,log}
  local fsid conf="$dir/ceph.conf" keyring="$dir/keyring"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = 127.0.0.1
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/\$name.pid
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
ms bind ipv6 = false
[mon]
mon data = $dir/mon/\$cluster-\$id
paxos propose interval = 0.01
paxos min wait = 0.001
[osd]
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $((mib * 1024 * 1024))
osd max object size = 134217728
[client.rgw.dogestry]
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $dir/rgw
rgw dns name = localhost
rgw thread pool size = 64
CONF
  ceph-authtool --create-keyring "$keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
  ceph-authtool "$keyring" --gen-key -n client.rgw.dogestry --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$keyring"
  ceph-mon -c "$conf" -i a 2>>"$dir/log/daemons.err"
  local osd_uuid
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  ceph -c "$conf" --connect-timeout 30 osd new "$osd_uuid" 0 >/dev/null
  mkdir -p "$dir/osd/ceph-0"
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/log/osd-mkfs.out" 2>&1 || { echo "ceph-osd --mkfs failed; see $dir/log" >&2; stop; exit 1; }
  ceph-osd -c "$conf" -i 0 2>>"$dir/log/daemons.err"
  for _ in $(seq 1 300); do
    ceph -c "$conf" osd stat 2>/dev/null | grep -q "1 up" && break
    sleep 0.1
  done
  ceph -c "$conf" osd stat | grep -q "1 up" || { echo "osd.0 did not come up; see $dir/log" >&2; stop; exit 1; }
  radosgw -c "$conf" -n client.rgw.dogestry 2>>"$dir/log/daemons.err"
  for _ in $(seq 1 600); do
    curl -s "http://127.0.0.1:$port/" 2>/dev/null | grep -q ListAllMyBucketsResult && break
    sleep 0.1
  done
  curl -s "http://127.0.0.1:$port/" | grep -q ListAllMyBucketsResult || { echo "radosgw did not answer on :$port; see $dir/log" >&2; stop; exit 1; }
  radosgw-admin -c "$conf" user create --uid dogestry --display-name dogestry --access-key "$access" --secret-key "$secret" >/dev/null
  echo "http://127.0.0.1:$port $access $secret"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: radosgw.sh start|stop DIR [PORT] [MEMSTORE_MIB]" >&2; exit 2 ;;
esac

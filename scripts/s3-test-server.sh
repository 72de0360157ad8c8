#!/usr/bin/env bash
# A throw-away S3 server for the S3Store tests: a real Ceph RADOS Gateway (Debian 12 packages,
# Ceph 16.2) as a single-node cluster on 127.0.0.1, with 1 mon, 1 OSD on the in-memory
# `memstore` backend and no cephx. It is the one real S3 server installable here that enforces
# create-only and if-match puts (the npm fakes accept overwrites, so a fencing test would pass
# against them without testing anything).
#
#   bash scripts/s3-test-server.sh install   # apt-get the packages (about 30 s the first time)
#   eval "$(bash scripts/s3-test-server.sh start)"   # start (about 3 s), export the env
#   bash scripts/s3-test-server.sh env       # print the export lines again
#   bash scripts/s3-test-server.sh status    # exit 0 when the gateway answers
#   bash scripts/s3-test-server.sh stop      # stop every daemon, remove the directory
#
# Only the `export` lines go to stdout; progress goes to stderr and daemon output to files under
# $S3_DIR/log, so `eval "$(... start)"` neither hangs nor swallows a log. Data lives in RAM
# (at most 1 GiB); $S3_DIR holds config, logs, pid files and the mon store (a few MB).
# Settings: S3_DIR (default /tmp/durastream-s3), S3_PORT (7480), MON_PORT (16789, msgr v2),
# MON_V1_PORT (13789). The keys below are fixed test keys for a loopback-only server.
set -euo pipefail

S3_DIR=${S3_DIR:-/tmp/durastream-s3}
S3_PORT=${S3_PORT:-7480}
MON_PORT=${MON_PORT:-16789}
MON_V1_PORT=${MON_V1_PORT:-13789}
TEST_ACCESS_KEY=DURASTREAMTESTKEY001
TEST_SECRET_KEY=durastream-test-secret-not-a-real-secret
PACKAGES=(radosgw ceph-mon ceph-osd curl)
# Start order; stop runs it backwards (gateway first, mon last).
DAEMONS=(mon osd rgw)
export CEPH_CONF="$S3_DIR/ceph.conf"

log() { echo "s3-test-server: $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- install ---------------------------------------------------------------------------------

cmd_install() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "already installed: ${PACKAGES[*]}"
    return
  fi
  log "installing ${missing[*]} (apt-get; about 30 s on a fresh machine)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# ---- daemons and pid files -------------------------------------------------------------------

pid_file() { echo "$S3_DIR/run/$1.pid"; }

# A zombie counts as exited: PID 1 on these machines reaps orphans only every few seconds.
is_alive() {
  local pid=$1 state
  [ -r "/proc/$pid/stat" ] || return 1
  state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != "Z" ] && [ "$state" != "X" ]
}

daemon_pid() {
  local file
  file=$(pid_file "$1")
  [ -s "$file" ] && cat "$file"
}

daemon_alive() {
  local pid
  pid=$(daemon_pid "$1") || return 1
  is_alive "$pid"
}

# Starts one daemon in its own session, so that it outlives this script and no terminal signal
# reaches it; stdin, stdout and stderr are detached from the caller (the `eval "$(...)"` pipe).
spawn() {
  local name=$1
  shift
  setsid "$@" </dev/null >"$S3_DIR/log/$name.out" 2>&1 &
  echo $! >"$(pid_file "$name")"
}

# wait_until SECONDS DESCRIPTION DAEMON COMMAND...: polls COMMAND every 0.2 s; fails early if the
# daemon died, and with a pointer to its log when the time is up.
wait_until() {
  local limit_s=$1 what=$2 daemon=$3
  shift 3
  local deadline=$((SECONDS + limit_s))
  until "$@" >/dev/null 2>&1; do
    daemon_alive "$daemon" || die "$daemon exited while waiting for $what; the log tails follow"
    [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${limit_s}s waiting for $what; the log tails follow"
    sleep 0.2
  done
}

stop_daemon() {
  local name=$1 pid i
  pid=$(daemon_pid "$name") || return 0
  if is_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do # 10 s
      is_alive "$pid" || break
      sleep 0.1
    done
    if is_alive "$pid"; then
      log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$(pid_file "$name")"
}

cmd_stop() {
  local i
  if [ -d "$S3_DIR/run" ]; then
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do stop_daemon "${DAEMONS[i]}"; done
  fi
  rm -rf "$S3_DIR"
  log "stopped ($S3_DIR removed)"
}

# ---- start -----------------------------------------------------------------------------------

write_conf() {
  local fsid=$1
  # \$name, \$cluster and \$id are expanded by Ceph, not by the shell.
  cat >"$CEPH_CONF" <<EOF
[global]
fsid = $fsid
mon initial members = a
mon host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
# Without these two, radosgw fails with "get_initial_auth_request returned -13" under auth none.
ms mon client mode = crc secure
ms client mode = crc secure
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# Start takes 13 s with the default interval and about 2 s with this one.
paxos propose interval = 0.05
run dir = $S3_DIR/run
admin socket = $S3_DIR/run/\$name.asok
log file = $S3_DIR/log/\$name.log
keyring = $S3_DIR/keyring
mon data = $S3_DIR/mon/\$cluster-\$id
osd data = $S3_DIR/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = 1073741824

[client.rgw]
# tcp_nodelay: without it every GET and LIST waits about 40 ms (Nagle against delayed ACKs).
rgw frontends = beast endpoint=127.0.0.1:$S3_PORT tcp_nodelay=1
rgw data = $S3_DIR/rgw
EOF
}

start_mon() {
  local fsid=$1
  ceph-authtool --create-keyring "$S3_DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >&2
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]" \
    "$S3_DIR/monmap" >&2
  mkdir -p "$S3_DIR/mon/ceph-a"
  ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$S3_DIR/monmap" --keyring "$S3_DIR/keyring" >&2
  spawn mon ceph-mon -c "$CEPH_CONF" -i a -f
  wait_until 30 "the mon to answer" mon timeout 5 ceph -c "$CEPH_CONF" --connect-timeout 4 -s
  # The ports were free a moment ago; make sure the mon that answers is really ours before the
  # OSD joins it (joining another cluster's mon would hand that cluster's data to our OSD).
  [ "$(timeout 10 ceph -c "$CEPH_CONF" --connect-timeout 4 fsid)" = "$fsid" ] ||
    die "the mon on port $MON_PORT belongs to another cluster; set MON_PORT and MON_V1_PORT"
}

osd_up() { timeout 5 ceph -c "$CEPH_CONF" --connect-timeout 4 osd stat -f json | grep -q '"num_up_osds":1'; }

start_osd() {
  local uuid id
  uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(timeout 20 ceph -c "$CEPH_CONF" --connect-timeout 10 osd new "$uuid")
  # memstore's --mkfs asserts unless the data directory exists first.
  mkdir -p "$S3_DIR/osd/ceph-$id"
  ceph-osd -c "$CEPH_CONF" -i "$id" --mkfs --osd-uuid "$uuid" >"$S3_DIR/log/osd-mkfs.out" 2>&1 ||
    die "ceph-osd --mkfs failed; the log tails follow"
  spawn osd ceph-osd -c "$CEPH_CONF" -i "$id" -f
  wait_until 60 "the OSD to come up" osd osd_up
}

start_rgw() {
  spawn rgw radosgw -c "$CEPH_CONF" -n client.rgw -f
  wait_until 90 "the gateway on port $S3_PORT" rgw curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$S3_PORT/"
  timeout 60 radosgw-admin -c "$CEPH_CONF" user create --uid=durastream-test --display-name=durastream-test \
    --access-key="$TEST_ACCESS_KEY" --secret-key="$TEST_SECRET_KEY" >"$S3_DIR/log/user-create.out" 2>&1 ||
    die "radosgw-admin user create failed; the log tails follow"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

gateway_answers() { curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$S3_PORT/"; }

all_alive() {
  local name
  for name in "${DAEMONS[@]}"; do daemon_alive "$name" || return 1; done
}

cmd_start() {
  local started=$SECONDS fsid
  command -v radosgw >/dev/null || die "radosgw is not installed: run 'bash $0 install' first"
  if all_alive 2>/dev/null && gateway_answers && [ -s "$S3_DIR/user-created" ]; then
    log "already running from $S3_DIR: reusing it (stop it first for a fresh one)"
    cmd_env
    return
  fi
  [ -e "$S3_DIR" ] && { log "cleaning up a previous, unhealthy run in $S3_DIR"; cmd_stop; }
  local port
  for port in "$S3_PORT" "$MON_PORT" "$MON_V1_PORT"; do
    port_in_use "$port" && die "port $port on 127.0.0.1 is in use (another test server?); stop it or set S3_PORT, MON_PORT, MON_V1_PORT"
  done
  # From here on, any failure stops what was started and removes the directory.
  trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed; cleaning up"; show_logs; cmd_stop; fi' EXIT
  mkdir -p "$S3_DIR/run" "$S3_DIR/log" "$S3_DIR/rgw"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"
  start_mon "$fsid"
  start_osd
  start_rgw
  echo "$TEST_ACCESS_KEY" >"$S3_DIR/user-created"
  trap - EXIT
  log "running on http://127.0.0.1:$S3_PORT (started in $((SECONDS - started)) s; data in RAM, logs in $S3_DIR/log)"
  cmd_env
}

# On a failed start, the last lines of each log go to stderr (CI shows nothing else).
show_logs() {
  local file
  for file in "$S3_DIR"/log/*; do
    [ -s "$file" ] || continue
    echo "---- $file (last 15 lines)" >&2
    tail -n 15 "$file" >&2
  done
}

cmd_env() {
  cat <<EOF
export S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export AWS_ACCESS_KEY_ID=$TEST_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$TEST_SECRET_KEY
export AWS_REGION=us-east-1
export S3_FORCE_PATH_STYLE=true
EOF
}

cmd_status() {
  if all_alive && gateway_answers; then
    log "running on http://127.0.0.1:$S3_PORT from $S3_DIR"
  else
    log "not running (or unhealthy) in $S3_DIR"
    return 1
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) cmd_env ;;
  status) cmd_status ;;
  *)
    echo "usage: bash $0 install|start|stop|env|status" >&2
    exit 2
    ;;
esac

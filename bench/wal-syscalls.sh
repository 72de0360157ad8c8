#!/usr/bin/env bash
# Syscalls of the WAL flush path (issue 11; not a test): runs bench/wal-syscalls.ts under strace
# for the local serial, batch100 and conc64 shapes (1 KiB records, default options) and counts,
# between the workload's two marker files, the group commits, fdatasync calls and fsync calls
# (directory fsyncs are fsync on a directory fd). Expect fdatasync = group commits (+ a few for
# segments prepared in the background) and no directory fsync on the flush path.
#
# Usage: bash bench/wal-syscalls.sh [seconds per shape, default 3] [objects|segments, default segments]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v strace >/dev/null || { echo "strace is missing: apt-get install -y strace" >&2; exit 1; }
seconds="${1:-3}"
mode="${2:-segments}"
trace="$(mktemp)"
trap 'rm -f "$trace"' EXIT
printf "%-9s %-9s %10s %9s %10s %12s %11s %s\n" shape wal rec/s commits fdatasync "fsync(file)" "fsync(dir)" "fdatasync/commit"
for shape in serial batch100 conc64; do
  result="$(strace -f -qq -y -e trace=openat,fdatasync,fsync -o "$trace" node --import tsx bench/wal-syscalls.ts "$shape" "$seconds" "$mode")"
  # Keep the lines between the markers; -y prints each fd's path, so a directory fsync shows the directory.
  phase="$(awk '/MARK-flush-path-start/{on=1;next} /MARK-flush-path-end/{on=0} on' "$trace")"
  fdatasyncs="$(grep -c 'fdatasync(' <<<"$phase" || true)"
  # A file's basename is a segment/seal/ack file, a temp file or a 20-digit object id; anything else is a directory.
  fsyncs_all="$(grep -cE '[^a]fsync\(' <<<"$phase" || true)"
  fsyncs_file="$(grep -E '[^a]fsync\(' <<<"$phase" | grep -cE 'fsync\([0-9]+<[^>]*/((seg|spare|seal|ack)-[0-9]+|[^/>]*\.tmp|[0-9]{20})>' || true)"
  fsyncs_dir=$((fsyncs_all - fsyncs_file))
  commits="$(node -e 'console.log(JSON.parse(process.argv[1]).groupCommits)' "$result")"
  rate="$(node -e 'console.log(JSON.parse(process.argv[1]).recordsPerSec)' "$result")"
  printf "%-9s %-9s %10s %9s %10s %12s %11s %s\n" "$shape" "$mode" "$rate" "$commits" "$fdatasyncs" "$fsyncs_file" "$fsyncs_dir" "$(node -e "console.log(($fdatasyncs/Math.max(1,$commits)).toFixed(2))")"
done
echo
echo "whole run of the last shape, strace -c (fdatasync, fsync):"
strace -f -qq -c -e trace=fdatasync,fsync node --import tsx bench/wal-syscalls.ts conc64 "$seconds" "$mode" 2>&1 >/dev/null | sed -n '1,12p'

#!/bin/bash
# icount.sh WHICH BIN MODE N [TOOL]  -> prints total Ir of the daemon for the run
# WHICH: chanfs|bare ; kind via env KIND (queue), FRAMING (lines)
set -u
which=$1 bin=$2 mode=$3 n=$4
kind=${KIND:-queue} framing=${FRAMING:-lines}
mnt=$(mktemp -d)
out=$(mktemp)
if [ "$which" = chanfs ]; then
  valgrind --tool=callgrind --callgrind-out-file=$out $bin $mnt -f -o log_level=warn -o poll_us=${POLL:-0} 2>${TMPDIR:-/tmp}/icount-vg.log &
else
  valgrind --tool=callgrind --callgrind-out-file=$out $bin $mnt ${POLL:-0} 2>${TMPDIR:-/tmp}/icount-vg.log &
fi
vpid=$!
for i in $(seq 1 300); do mountpoint -q $mnt && break; sleep 0.1; done
if [ "$which" = chanfs ]; then
  f=$mnt/c; touch $f; setfattr -n user.chanfs.kind -v $kind $f; setfattr -n user.chanfs.framing -v $framing $f
  setfattr -n user.chanfs.capacity -v 4M $f
  [ "$framing" != bytes ] && setfattr -n user.chanfs.max_message -v 4M $f
else
  f=$mnt/0
fi
${CLIENT:-$(dirname "$0")/msgclient} $mode $f $n
kill -TERM $vpid; for i in $(seq 1 100); do kill -0 $vpid 2>/dev/null || break; sleep 0.2; [ $i = 25 ] && fusermount3 -u -z $mnt; done; wait $vpid
fusermount3 -u -z $mnt 2>/dev/null; rmdir $mnt
grep -E '^(summary|totals):' $out | head -1 | awk '{print $2}'
[ -n "${KEEP:-}" ] && cp $out $KEEP
rm -f $out

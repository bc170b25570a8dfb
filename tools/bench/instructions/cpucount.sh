#!/bin/bash
# cpucount.sh WHICH BIN MODE N -> daemon CPU ns per message (schedstat, all threads) and ctx switches/msg
set -u
which=$1 bin=$2 mode=$3 n=$4
kind=${KIND:-queue} framing=${FRAMING:-lines}
mnt=$(mktemp -d)
if [ "$which" = chanfs ]; then
  $bin $mnt -f -o log_level=warn -o poll_us=${POLL:-0} &
else
  $bin $mnt ${POLL:-0} &
fi
dpid=$!
for i in $(seq 1 300); do mountpoint -q $mnt && break; sleep 0.05; done
if [ "$which" = chanfs ]; then
  f=$mnt/c; touch $f; setfattr -n user.chanfs.kind -v $kind $f; setfattr -n user.chanfs.framing -v $framing $f
  setfattr -n user.chanfs.capacity -v 4M $f
  [ "$framing" != bytes ] && setfattr -n user.chanfs.max_message -v 4M $f
else
  f=$mnt/0
fi
snap() { local t=0 c=0; for d in /proc/$dpid/task/*; do read a b x < $d/schedstat; t=$((t+a)); c=$((c+$(awk '/^voluntary_ctxt_switches|^nonvoluntary_ctxt_switches/{s+=$2} END{print s}' $d/status))); done; echo $t $c; }
read t0 c0 <<< "$(snap)"
s0=$(date +%s%N)
${CLIENT:-$(dirname "$0")/msgclient} $mode $f $n 2>/dev/null
s1=$(date +%s%N)
read t1 c1 <<< "$(snap)"
kill -TERM $dpid; wait $dpid 2>/dev/null
fusermount3 -u -z $mnt 2>/dev/null; rmdir $mnt
awk -v t=$((t1-t0)) -v c=$((c1-c0)) -v w=$((s1-s0)) -v n=$n 'BEGIN{printf "cpu_ns/msg %.0f  ctxsw/msg %.2f  wall_ns/msg %.0f\n", t/n, c/n, w/n}'

#!/bin/sh
# Runs libFuzzer targets built by `make fuzz`: for each target, first replays
# tests/fuzz/regress/TARGET/* (inputs that once crashed; any failure stops
# here), then fuzzes for SECONDS starting from the checked-in seed corpus
# tests/fuzz/corpus/TARGET plus what earlier runs found (kept in
# FUZZ_DIR/corpus/TARGET), with tests/fuzz/TARGET.dict when there is one.
# Prints one line per target with libFuzzer's final
# executions and coverage; the full log is FUZZ_DIR/TARGET.log, a crashing
# input lands in FUZZ_DIR/crashes/. Exit 1 when any target failed.
#
# usage: tests/fuzz/run.sh FUZZ_DIR SECONDS TARGET...
set -u
dir=$1
secs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
failed=""

for t in "$@"; do
	bin=$dir/$t
	log=$dir/$t.log
	work=$dir/corpus/$t
	mkdir -p "$work" "$dir/crashes"
	: >"$log"
	regress=$(find "$here/regress/$t" -type f 2>/dev/null | sort)
	if [ -n "$regress" ]; then
		# shellcheck disable=SC2086 # one argument per file
		if ! "$bin" -runs=1 $regress >>"$log" 2>&1; then
			echo "$t: a regression input fails again (see $log)"
			tail -40 "$log"
			failed="$failed $t"
			continue
		fi
	fi
	# stderr (-close_fd_mask=2) is the daemon's own logging; libFuzzer and
	# the sanitizers keep reporting through their own descriptor.
	dict=""
	[ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
	# shellcheck disable=SC2086 # no dictionary: no argument
	"$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
	    -close_fd_mask=2 -artifact_prefix="$dir/crashes/$t-" $dict \
	    "$work" "$here/corpus/$t" >>"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9/a-zA-Z]*' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	echo "$t: ${execs:-?} executions (${rate:-?}/s) in ${secs}s, ${cov:-no coverage line}"
	if [ $rc -ne 0 ]; then
		echo "$t: FAILED (exit $rc); see $log"
		grep -A30 -m1 'ERROR: \|runtime error\|==ERROR\|deadly signal' \
		    "$log" | head -40
		ls "$dir/crashes/$t-"* 2>/dev/null
		failed="$failed $t"
	fi
done
[ -z "$failed" ] || { echo "fuzz: failing:$failed"; exit 1; }

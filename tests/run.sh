#!/bin/sh
# Runs the unit tests (cmocka) and/or the end-to-end tests and prints one
# closing line "N passed, N failed" over all of them. Exit 1 on any failure.
#
# usage: tests/run.sh unit|e2e|all BUILD_DIR
set -u
mode=${1:-all}
build=${2:-build}
passed=0
failed=0
suites_failed=""

# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)...".
count() {
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$1" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$1" | tail -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

if [ "$mode" = unit ] || [ "$mode" = all ]; then
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		echo "== $(basename "$t")"
		"$t" >"$log" 2>&1
		rc=$?
		cat "$log"
		count "$log"
		if [ $rc -ne 0 ]; then
			suites_failed="$suites_failed $(basename "$t")"
			grep -q '^\[  FAILED  \]' "$log" || failed=$((failed + 1))
		fi
	done
fi

if [ "$mode" = e2e ] || [ "$mode" = all ]; then
	echo "== end-to-end (real softnetd, kernels in network namespaces)"
	SOFTNET_BUILD=$(cd "$build" && pwd) /usr/bin/python3 tests/e2e/run.py \
	    ${E2E:-} >"$log" 2>&1
	rc=$?
	cat "$log"
	line=$(grep '^e2e: ' "$log" | tail -1)
	p=$(echo "$line" | sed -n 's/^e2e: \([0-9]*\) passed.*/\1/p')
	f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ $rc -ne 0 ]; then
		suites_failed="$suites_failed e2e"
		[ -n "$line" ] || failed=$((failed + 1))
	fi
fi

echo
[ -n "$suites_failed" ] && echo "failing:$suites_failed"
echo "$passed passed, $failed failed"
[ -z "$suites_failed" ]

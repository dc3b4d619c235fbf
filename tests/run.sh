#!/bin/sh
# Runs the unit tests (cmocka) and/or the end-to-end tests and prints one
# closing line "N passed, N failed" over all of them. Exit 1 on any failure.
#
# usage: tests/run.sh unit|e2e|vmnet|all BUILD_DIR
#
# vmnet: the end-to-end suites that matter for an uplink (VMNET_E2E) over
# the PLATFORM=fakevmnet build in BUILD_DIR/vmnet (make test-vmnet builds
# it), tools from BUILD_DIR; "all" runs it too when that build exists.
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

# e2e_run NAME CMD...: runs CMD tests/e2e/run.py (CMD: env with the
# suite's environment), adds its "e2e: N passed, N failed" to the totals;
# NAME is the suite's name in "failing:".
e2e_run() {
	name=$1
	shift
	"$@" /usr/bin/python3 tests/e2e/run.py $E2E_NAMES >"$log" 2>&1
	rc=$?
	cat "$log"
	line=$(grep '^e2e: ' "$log" | tail -1)
	p=$(echo "$line" | sed -n 's/^e2e: \([0-9]*\) passed.*/\1/p')
	f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ $rc -ne 0 ]; then
		suites_failed="$suites_failed $name"
		[ -n "$line" ] || failed=$((failed + 1))
	fi
}

VMNET_E2E=${VMNET_E2E:-test_leases test_isolation test_dataplane test_vmnet test_capture}
if [ "$mode" = vmnet ] || { [ "$mode" = all ] && [ -x "$build/vmnet/softnetd" ]; }; then
	echo "== end-to-end over the fake vmnet.framework (make test-vmnet)"
	if [ ! -x "$build/vmnet/softnetd" ]; then
		echo "no $build/vmnet/softnetd: run make test-vmnet"
		suites_failed="$suites_failed vmnet"
		failed=$((failed + 1))
	else
		E2E_NAMES=${E2E:-$VMNET_E2E}
		e2e_run vmnet-e2e env SOFTNET_UPLINK=vmnet \
		    SOFTNET_BUILD="$(cd "$build/vmnet" && pwd)" \
		    SOFTNET_TOOLS_BUILD="$(cd "$build" && pwd)"
	fi
fi

echo
[ -n "$suites_failed" ] && echo "failing:$suites_failed"
echo "$passed passed, $failed failed"
[ -z "$suites_failed" ]

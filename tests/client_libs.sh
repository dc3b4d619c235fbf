#!/bin/sh
# usage: tests/client_libs.sh BUILD_DIR
#
# The clients know only the protocol (issue #15): softnet and softnetctl
# link jansson and libc, never libevent, sqlite or a daemon module. Checks
# the shared libraries each binary asks for (readelf's NEEDED on Linux,
# otool -L on macOS) and the symbols it leaves for them to resolve, so a
# library linked statically or by a daemon object shows too.
set -u
build=$1
fail=0
for prog in softnet softnetctl; do
	bin=$build/$prog
	if [ ! -x "$bin" ]; then
		echo "client_libs: no $bin: build it first"
		exit 1
	fi
	if command -v readelf >/dev/null 2>&1; then
		libs=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	else
		libs=$(otool -L "$bin" | tail -n +2 | awk '{print $1}')
	fi
	case $libs in
	*jansson*) ;;
	*)
		echo "client_libs: $prog: no jansson among its libraries:" $libs
		fail=1
		;;
	esac
	bad=$(printf '%s\n' $libs | grep -E 'libevent|sqlite')
	if [ -n "$bad" ]; then
		echo "client_libs: $prog links" $bad
		fail=1
	fi
	# Undefined or defined: any libevent, sqlite or daemon-only symbol.
	syms=$(nm "$bin" 2>/dev/null | awk '{print $NF}' |
	    grep -E '^_?(event_|evbuffer_|bufferevent_|evutil_|sqlite3_|osdep_|log_warn|fatal)' |
	    sort -u | head -5)
	if [ -n "$syms" ]; then
		echo "client_libs: $prog has daemon-side symbols:" $syms
		fail=1
	fi
done
[ $fail -eq 0 ] && echo "client_libs: softnet and softnetctl link jansson, no libevent, sqlite or daemon code"
exit $fail

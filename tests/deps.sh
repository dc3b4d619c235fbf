#!/bin/sh
# Installs what softnet needs when it is missing: "build" for the binaries,
# "test" for the binaries plus everything the test suite runs, "fuzz" for the
# binaries plus clang and libFuzzer (make fuzz), "bench" for the test set
# plus the userspace-networking peers make bench compares against. Quiet
# when everything is already there, so make can call it on every run.
set -eu
mode=${1:-build}

if [ "$(uname -s)" = Darwin ]; then
	need=""
	brews="pkg-config libevent jansson sqlite cmocka"
	# Apple's clang has no libFuzzer; Homebrew's llvm does.
	[ "$mode" = fuzz ] && brews="$brews llvm"
	for f in $brews; do
		brew list --versions "$f" >/dev/null 2>&1 || need="$need $f"
	done
	[ -z "$need" ] && exit 0
	echo "deps: brew install$need"
	exec brew install $need
fi

pkgs="gcc make pkg-config libevent-dev libjansson-dev libsqlite3-dev"
if [ "$mode" = test ] || [ "$mode" = bench ]; then
	# python3 here is Debian's /usr/bin/python3, which scapy installs into.
	pkgs="$pkgs libcmocka-dev busybox udhcpc iproute2 iputils-ping iperf3"
	pkgs="$pkgs tcpdump python3 python3-scapy sqlite3 procps util-linux systemd"
	pkgs="$pkgs clang clang-format"
fi
if [ "$mode" = bench ]; then
	pkgs="$pkgs passt slirp4netns"
fi
if [ "$mode" = fuzz ]; then
	# clang 14 (Debian 12); libFuzzer ships in the compiler-rt package.
	pkgs="$pkgs clang libclang-rt-14-dev"
fi

if ! command -v dpkg >/dev/null 2>&1; then
	echo "deps: not a Debian system; install by hand: $pkgs" >&2
	exit 0
fi
need=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
	    need="$need $p"
done
[ -z "$need" ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=sudo
	else
		echo "deps: missing:$need (run make deps as root)" >&2
		exit 1
	fi
fi
echo "deps: installing$need"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends $need

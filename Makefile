# vsc — virtual serial concentrator.
#   make run    install missing packages, build, start vscd in the foreground
#   make test   install missing packages, unit + API tests under ASan+UBSan
#   make fuzz   libFuzzer targets (tests/fuzz), each for FUZZ_SECONDS (60); not part of test
#   make valgrind  unit tests and a set of API tests under valgrind's memcheck (CI runs it)
#   make install / make deb / make deb-systemd-test   (docs/packaging.md)
# Everything lands in build/; state of `make run` in var/.

CC      ?= cc
BUILD   := build
PKGS    := libmicrohttpd jansson sqlite3 gnutls libcrypt libusbgx liburing
PYTHON  := /usr/bin/python3

# Deferred (=) so pkg-config runs only after the deps step installed the packages.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -lwslay -lpthread
# vsc-console, the terminal client (client/): libwebsockets' client API and Jansson.
CLIENT_PKGS := libwebsockets jansson
CLIENT_CFLAGS = $(shell pkg-config --cflags $(CLIENT_PKGS))
CLIENT_LIBS   = $(shell pkg-config --libs $(CLIENT_PKGS))
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral -Wvla
COMMON  = -std=c17 -D_GNU_SOURCE -g -Iservice -Igadget -Iclient $(WARN) $(PKG_CFLAGS) -MMD -MP
REL_CFLAGS = $(COMMON) -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2
SAN_FLAGS  = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS = $(COMMON) -O1 $(SAN_FLAGS) -DVSC_TEST_BUILD
# For valgrind: the test build without sanitizers (they cannot run under it).
VG_CFLAGS  = $(COMMON) -O1 -DVSC_TEST_BUILD

SERVICE_SRC := $(sort $(wildcard service/*.c gadget/*.c))
LIB_SRC     := $(filter-out service/main.c,$(SERVICE_SRC))
UNIT_SRC    := $(sort $(wildcard tests/unit/*.c))
CLIENT_SRC  := $(sort $(wildcard client/*.c))
# The client's pure modules, also linked into the unit tests.
CLIENT_PURE := client/escape.c client/control.c
EMBEDDED    := $(sort $(wildcard db/migrations/*.sql)) db/schema.sql \
               $(sort $(wildcard schemas/redfish/*.json schemas/redfish/*.xml))

# The web dashboard (web/, docs/dashboard.md): `npm ci` from the lockfile once, then esbuild
# bundles xterm.js and the page's code into three files that embed.S compiles into vscd.
# Node is needed to build only; vscd serves the files from its binary.
WEB_SRC   := $(sort $(wildcard web/src/*)) web/build.mjs
WEB_OUT   := $(BUILD)/web/index.html $(BUILD)/web/app.js $(BUILD)/web/app.css
NPM_STAMP := web/node_modules/.package-lock.json

REL_OBJ  := $(patsubst %.c,$(BUILD)/rel/%.o,$(SERVICE_SRC)) $(BUILD)/rel/service/embed.o
SAN_LIB  := $(patsubst %.c,$(BUILD)/san/%.o,$(LIB_SRC)) $(BUILD)/san/service/embed.o
SAN_OBJ  := $(SAN_LIB) $(BUILD)/san/service/main.o
UNIT_OBJ := $(patsubst %.c,$(BUILD)/san/%.o,$(UNIT_SRC) $(CLIENT_PURE))
VG_LIB   := $(patsubst %.c,$(BUILD)/vg/%.o,$(LIB_SRC)) $(BUILD)/vg/service/embed.o
VG_UNIT_OBJ := $(patsubst %.c,$(BUILD)/vg/%.o,$(UNIT_SRC) $(CLIENT_PURE))
CLIENT_REL_OBJ := $(patsubst %.c,$(BUILD)/rel/%.o,$(CLIENT_SRC))
CLIENT_SAN_OBJ := $(patsubst %.c,$(BUILD)/san/%.o,$(CLIENT_SRC))

.PHONY: all deps deps-test deps-bench build run test unit api format format-check bench \
	bench-fanout bench-detect bench-soak bench-send-cost bench-echo bench-viewer-rss bench-loop-stall clean vm-image e2e demo fuzz fuzz-build fuzz-replay \
	install uninstall deb deb-systemd-test valgrind

all: deps
	@$(MAKE) --no-print-directory build

deps:
	@scripts/deps build
deps-test:
	@scripts/deps test
deps-bench:
	@scripts/deps bench

build: $(BUILD)/vscd $(BUILD)/vsc-console

$(BUILD)/vscd: $(REL_OBJ)
	$(CC) $(REL_CFLAGS) -pie -Wl,-z,relro,-z,now -o $@ $^ $(PKG_LIBS)

$(BUILD)/san/vscd: $(SAN_OBJ)
	$(CC) $(SAN_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/vsc-console: $(CLIENT_REL_OBJ)
	$(CC) $(REL_CFLAGS) -pie -Wl,-z,relro,-z,now -o $@ $^ $(CLIENT_LIBS)

$(BUILD)/san/vsc-console: $(CLIENT_SAN_OBJ)
	$(CC) $(SAN_CFLAGS) -o $@ $^ $(CLIENT_LIBS)

$(CLIENT_REL_OBJ) $(CLIENT_SAN_OBJ): EXTRA_CFLAGS = $(CLIENT_CFLAGS)

$(BUILD)/san/unit_tests: $(SAN_LIB) $(UNIT_OBJ)
	$(CC) $(SAN_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/vg/vscd: $(VG_LIB) $(BUILD)/vg/service/main.o
	$(CC) $(VG_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/vg/unit_tests: $(VG_LIB) $(VG_UNIT_OBJ)
	$(CC) $(VG_CFLAGS) -o $@ $^ $(PKG_LIBS)

# The fake configfs (tests/fakeconfigfs): an LD_PRELOAD shim that makes a folder behave
# as the kernel's USB gadget configfs does, for the gadget tests on machines without a UDC.
# A read-only state directory on demand (tests/faultfs): an LD_PRELOAD shim for the fault
# tests, since a filesystem with files open for writing cannot be remounted read-only;
# and a slow disk for one file (slowsync.so), to show who waits for its syncs.
$(BUILD)/readonlyfs.so: tests/faultfs/readonlyfs.c
	@mkdir -p $(@D)
	$(CC) -std=c17 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -fPIC -shared -o $@ $^ -ldl

$(BUILD)/slowsync.so: tests/faultfs/slowsync.c
	@mkdir -p $(@D)
	$(CC) -std=c17 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -fPIC -shared -o $@ $^ -ldl

$(BUILD)/fakeconfigfs.so: $(wildcard tests/fakeconfigfs/*.c)
	@mkdir -p $(@D)
	$(CC) -std=c17 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -fPIC -shared -o $@ $^ -ldl

# The ipmi_sim plugin (contrib/ipmi_sim, docs/ipmi-oem.md): a real IPMI client's path to
# vscd's IPMI socket, for the API tests. Its ipmi_sim symbols resolve when ipmi_sim loads it.
IPMI_SIM_SO := $(BUILD)/ipmi_sim/vsc_ipmi_sim.so
$(IPMI_SIM_SO): contrib/ipmi_sim/vsc_ipmi_sim.c
	@mkdir -p $(@D)
	$(CC) -std=c17 -D_GNU_SOURCE -g -O2 $(WARN) -fPIC -shared -o $@ $<

$(BUILD)/rel/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(REL_CFLAGS) $(EXTRA_CFLAGS) -fPIE -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(EXTRA_CFLAGS) -c -o $@ $<

$(BUILD)/vg/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(VG_CFLAGS) $(EXTRA_CFLAGS) -c -o $@ $<

# Schemas and migrations are compiled into the binary (.incbin), so vscd needs no data dir.
$(BUILD)/rel/service/embed.o $(BUILD)/san/service/embed.o $(BUILD)/vg/service/embed.o: service/embed.S $(EMBEDDED) $(WEB_OUT)
	@mkdir -p $(@D)
	$(CC) -Wa,-I$(BUILD)/web -c -o $@ $<

$(NPM_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

$(WEB_OUT) &: $(WEB_SRC) $(NPM_STAMP)
	@mkdir -p $(BUILD)/web
	node web/build.mjs $(BUILD)/web

# The tiny test VM's initramfs (busybox; tests/vm, docs/tiny-vm.md). The kernel is Debian's
# /boot/vmlinuz-*. Rebuilt only when the script or busybox changes.
vm-image: $(BUILD)/vm/initramfs.cpio.gz
$(BUILD)/vm/initramfs.cpio.gz: tests/vm/mkinitramfs.sh $(wildcard /bin/busybox)
	@mkdir -p $(@D)
	tests/vm/mkinitramfs.sh $@

run: all
	$(BUILD)/vscd $(ARGS)

# A demo anyone can start (scripts/demo.py): vscd and three tiny VMs, one of which panics;
# prints the dashboard's address and credentials; Ctrl-C stops everything.
demo:
	@scripts/deps demo
	@$(MAKE) --no-print-directory build vm-image
	$(PYTHON) scripts/demo.py $(ARGS)

# Unit tests, then the API tests against the sanitizer build of the real daemon.
test: deps-test
	@$(MAKE) --no-print-directory $(BUILD)/san/vscd $(BUILD)/san/vsc-console \
		$(BUILD)/san/unit_tests vm-image \
		$(if $(wildcard tests/fakeconfigfs/*.c),$(BUILD)/fakeconfigfs.so) $(BUILD)/readonlyfs.so \
		$(BUILD)/slowsync.so $(IPMI_SIM_SO)
	@$(MAKE) --no-print-directory unit api

unit:
	ASAN_OPTIONS=detect_leaks=1 $(BUILD)/san/unit_tests

# API tests, then the end-to-end tests with real VMs (tests/e2e, docs/e2e.md), in one pytest
# run so that its summary covers both. TESTS= narrows it (e.g. TESTS=test_ports.py).
TESTS ?= . ../e2e
api:
	cd tests/api && VSCD=$(CURDIR)/$(BUILD)/san/vscd \
		VSC_CONSOLE=$(CURDIR)/$(BUILD)/san/vsc-console VSC_IPMI_SIM_SO=$(CURDIR)/$(IPMI_SIM_SO) \
		$(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) $(TESTS)

# The unit tests, then API tests against the daemon, under valgrind's memcheck: any error,
# a definite or indirect leak included, fails the run (tests/api/conftest.py reads the
# markers from vscd's log). VG_TESTS chooses the API tests: ones that hold at valgrind's
# speed, about a thirtieth of the native one.
VALGRIND  = valgrind -q --vgdb=no --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
            --error-markers=VALGRIND-ERROR-BEGIN,VALGRIND-ERROR-END --trace-children=yes \
            --suppressions=$(CURDIR)/tests/valgrind.supp
VG_TESTS ?= test_smoke.py test_console_ws.py test_console_modes.py test_ports.py \
            test_console_history.py test_tls_front.py
valgrind: deps-test
	@$(MAKE) --no-print-directory $(BUILD)/vg/vscd $(BUILD)/vg/unit_tests \
		$(if $(wildcard tests/fakeconfigfs/*.c),$(BUILD)/fakeconfigfs.so)
	$(VALGRIND) $(BUILD)/vg/unit_tests
	cd tests/api && VSCD=$(CURDIR)/$(BUILD)/vg/vscd VSCD_PREFIX="$(VALGRIND)" \
		$(PYTHON) -m pytest -q -p no:cacheprovider -m "not native" $(PYTEST_ARGS) $(VG_TESTS)

# Only the end-to-end tests (a minute or so): `make e2e`.
e2e: deps-test
	@$(MAKE) --no-print-directory $(BUILD)/san/vscd vm-image $(IPMI_SIM_SO)
	@$(MAKE) --no-print-directory api TESTS=../e2e

# Generated files (service/base_registry.*) keep the generator's layout.
FORMATTED = $(filter-out service/base_registry.%,$(wildcard service/*.c service/*.h)) \
            $(wildcard tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h gadget/*.c \
                       gadget/*.h bench/*.c) \
            $(wildcard client/*.c client/*.h tests/faultfs/*.c contrib/ipmi_sim/*.c)

format:
	clang-format -i $(FORMATTED)

format-check: deps-test
	clang-format --dry-run --Werror $(FORMATTED)

bench: deps-bench build
	bench/rest.sh

# Console fan-out: vscd, conserver, ConMan and a floor server (docs/BENCHMARKS.md). ARGS=--quick.
BENCH_CFLAGS = -std=c17 -D_GNU_SOURCE -O2 -g $(WARN)
$(BUILD)/bench/fanout_src: bench/fanout_src.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lutil
$(BUILD)/bench/fanout_view: bench/fanout_view.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lgnutls -lm
$(BUILD)/bench/fanout_floor: bench/fanout_floor.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -luring

bench-fanout: deps-bench build $(BUILD)/bench/fanout_src $(BUILD)/bench/fanout_view \
              $(BUILD)/bench/fanout_floor
	$(PYTHON) bench/fanout.py $(ARGS)

# One small send's cost to the sender: send() against io_uring batches (docs/BENCHMARKS.md).
$(BUILD)/bench/send_cost: bench/send_cost.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -luring -lpthread

bench-send-cost: deps $(BUILD)/bench/send_cost
	$(BUILD)/bench/send_cost $(ARGS)

# The console state detector's throughput beside grep -E (docs/BENCHMARKS.md). ARGS=-m 16.
DETECT_SRC = service/state_detect.c service/state_rules.c
$(BUILD)/bench/detect: bench/detect.c $(DETECT_SRC) service/state_detect.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -Iservice -o $@ bench/detect.c $(DETECT_SRC)

# Typing echo latency while the console prints, beside conserver and ConMan (docs/BENCHMARKS.md).
bench-echo: deps-bench build
	$(PYTHON) bench/echo.py $(ARGS)

# Memory per console viewer, beside conserver and ConMan (docs/BENCHMARKS.md).
bench-viewer-rss: deps-bench build $(BUILD)/bench/fanout_src $(BUILD)/bench/fanout_view \
                  $(BUILD)/bench/fanout_floor
	$(PYTHON) bench/viewer_rss.py $(ARGS)

# How long a big request (a whole transcript, the audit listing) holds up a console beside it
# (docs/BENCHMARKS.md): ARGS="--vscd OLD/build/vscd" measures another build.
bench-loop-stall: deps-test build
	$(PYTHON) bench/loop_stall.py $(ARGS)

# Hours of mixed load shortened to minutes (docs/BENCHMARKS.md): ARGS="--minutes 5".
bench-soak: deps-test build
	$(PYTHON) bench/soak.py $(ARGS)

bench-detect: $(BUILD)/bench/detect
	$(BUILD)/bench/detect $(ARGS)

# Fuzzing (tests/fuzz/README.md, docs/SECURITY.md): libFuzzer targets built with clang
# against the service's own objects (all of service/ but main.c, in one archive so each
# target links only what it uses). `make fuzz` runs every target for FUZZ_SECONDS with the
# seed corpus of tests/fuzz/corpus/<name>; new inputs go to build/fuzz/corpus-<name>,
# crashes to build/fuzz/artifacts. FUZZ_TARGETS="router dispatch" runs some only.
# `make fuzz-replay` runs each target once over the seeds and tests/fuzz/regressions.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  = $(COMMON) -O1 $(FUZZ_SAN) -DVSC_TEST_BUILD
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_LIB_OBJ := $(patsubst %.c,$(BUILD)/fuzz/%.o,$(LIB_SRC)) $(BUILD)/fuzz/service/embed.o

$(BUILD)/fuzz/libvsc.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/service/embed.o: service/embed.S $(EMBEDDED) $(WEB_OUT)
	@mkdir -p $(@D)
	$(FUZZ_CC) -Wa,-I$(BUILD)/web -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/fuzz/libvsc.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/fuzz/libvsc.a $(PKG_LIBS)

fuzz-build:
	@scripts/deps fuzz
	@$(MAKE) --no-print-directory $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_TARGETS))

fuzz: fuzz-build
	scripts/fuzz.sh run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-replay: fuzz-build
	scripts/fuzz.sh replay 0 $(FUZZ_TARGETS)

# Installing (docs/packaging.md). PREFIX and DESTDIR as usual; the config goes to
# SYSCONFDIR (/etc for PREFIX=/usr), never over one that is there already. The unit runs
# vscd as the system user vsc with its state in /var/lib/vsc (StateDirectory=vsc), so the
# installed vscd.conf is the sample with that state_dir and the package's listen address.
# The version is VSC_VERSION in service/app.h, nowhere else.
VERSION       := $(shell sed -n 's/^\#define VSC_VERSION "\(.*\)"/\1/p' service/app.h)
PREFIX        ?= /usr/local
SYSCONFDIR    ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
SBINDIR       ?= $(PREFIX)/sbin
BINDIR        ?= $(PREFIX)/bin
MANDIR        ?= $(PREFIX)/share/man
DOCDIR        ?= $(PREFIX)/share/doc/vsc
UNITDIR       ?= $(PREFIX)/lib/systemd/system
STATE_DIR     := /var/lib/vsc
PACKAGE_LISTEN ?= 127.0.0.1:9443
INSTALL       ?= install

install: build
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/vsc
	$(INSTALL) -m 0755 $(BUILD)/vscd $(DESTDIR)$(SBINDIR)/vscd
	$(INSTALL) -m 0755 $(BUILD)/vsc-console $(DESTDIR)$(BINDIR)/vsc-console
	$(INSTALL) -m 0644 docs/vscd.8 $(DESTDIR)$(MANDIR)/man8/vscd.8
	$(INSTALL) -m 0644 docs/vsc-console.1 $(DESTDIR)$(MANDIR)/man1/vsc-console.1
	$(INSTALL) -m 0644 docs/vscd.conf.sample docs/packaging.md $(DESTDIR)$(DOCDIR)/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		packaging/vscd.service.in > $(DESTDIR)$(UNITDIR)/vscd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/vscd.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/vsc/vscd.conf ]; then \
		echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/vsc/vscd.conf"; \
	else \
		sed -e '1i# Installed by `make install`: the sample (share/doc/vsc/vscd.conf.sample) with\n# the listen address and state_dir of the vscd.service unit (docs/packaging.md).\n#' \
		    -e 's|^listen = .*|listen = $(PACKAGE_LISTEN)|' \
		    -e 's|^state_dir = .*|state_dir = $(STATE_DIR)|' docs/vscd.conf.sample \
		    > $(DESTDIR)$(SYSCONFDIR)/vsc/vscd.conf && \
		chmod 0644 $(DESTDIR)$(SYSCONFDIR)/vsc/vscd.conf; \
	fi

# Removes what install put there, but the config (it may hold local changes) and state.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/vscd $(DESTDIR)$(BINDIR)/vsc-console \
		$(DESTDIR)$(MANDIR)/man8/vscd.8 $(DESTDIR)$(MANDIR)/man1/vsc-console.1 \
		$(DESTDIR)$(DOCDIR)/vscd.conf.sample $(DESTDIR)$(DOCDIR)/packaging.md \
		$(DESTDIR)$(UNITDIR)/vscd.service
	-rmdir $(DESTDIR)$(DOCDIR)

# build/vsc_<version>_<arch>.deb from a staged install (PREFIX=/usr), packaging/debian/.
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB      := $(BUILD)/vsc_$(VERSION)_$(DEB_ARCH).deb
DEB_ROOT := $(BUILD)/deb/root

deb: all
	rm -rf $(DEB_ROOT)
	@$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(DEB_ROOT) PREFIX=/usr \
		UNITDIR=/lib/systemd/system
	scripts/mkdeb.sh $(DEB_ROOT) $(VERSION) $(DEB)

# The package on a Debian 12 booted by systemd-nspawn: installed, started and checked by the
# real systemd, then purged (root; the rootfs is cached in build/systemd-test; docs/packaging.md).
deb-systemd-test: deb
	scripts/test-deb-systemd.sh $(DEB)

clean:
	rm -rf $(BUILD)

# Dependency files only: build/systemd-test holds a Debian rootfs whose /etc/*.d are folders.
-include $(shell find $(BUILD) -path $(BUILD)/systemd-test -prune -o -name '*.d' -type f -print 2>/dev/null)

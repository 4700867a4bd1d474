# wsgate — one non-recursive Makefile (the house style, docs/architecture.md).
#
#   make                 build build/wsgate
#   make run             install missing build dependencies (scripts/install-deps
#                        run), build, serve examples/hello.py on http://127.0.0.1:8000
#   make test            install missing test dependencies (install-deps test), then
#                        every suite: unit (criterion, incl. the HTTP corpus),
#                        integration (pytest), the same again
#                        under AddressSanitizer + UBSan and under ThreadSanitizer, a
#                        short fuzz run (clang) and the benchmark smoke run (what CI
#                        runs; 25-40 minutes on 2 CPUs)
#   make check           day-to-day: the unit suites, one integration pass of the plain
#                        build without the tests marked slow (pytest -m "not slow"),
#                        check-format and check-includes; a few minutes
#   make fuzz            longer libFuzzer run of the parser harnesses
#   make bench           the benchmark against peer servers (bench/; ~30 min; needs 2
#                        CPUs): writes docs/benchmarks.md and docs/benchmarks.png
#   make bench-smoke     the same harness, 1 s per run, into $(BUILD)/bench-smoke; fails
#                        when a server does not start or a run has errors (part of test)
#   make install         install to $(DESTDIR)$(PREFIX) (default /usr/local): the binary,
#                        man page, bash completion, systemd units, docs; make uninstall
#   make deb             the Debian package, $(BUILD)/wsgate_VERSION_ARCH.deb (debian/)
#   make format | check-format | check-includes | clean
#
# Variables: PYTHON (default /usr/bin/python3, Debian's), CC, SANITIZER
# (e.g. address,undefined or thread), BUILD (output folder), V=1 for full commands.

SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
PREFIX ?= /usr/local
CC ?= cc
BUILD ?= build
SANITIZER ?=
FUZZ_SECONDS ?= 20

PY_CFLAGS := $(shell $(PYTHON)-config --includes 2>/dev/null)
PY_LDLIBS := $(shell $(PYTHON)-config --ldflags --embed 2>/dev/null)

NGHTTP2_CFLAGS := $(shell pkg-config --cflags libnghttp2 2>/dev/null)
NGHTTP2_LIBS := $(shell pkg-config --libs libnghttp2 2>/dev/null)
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -fno-common
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -I. -MMD -MP -pthread $(NGHTTP2_CFLAGS)
LDLIBS := -lev -lssl -lcrypto -lpthread $(NGHTTP2_LIBS)
ifneq ($(SANITIZER),)
ALL_CFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZER)
endif

ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = @printf '  %-7s %s\n' $(1) $(2);
endif

# The layers, bottom up (docs/architecture.md): gateway/ the request core (a library:
# $(BUILD)/libwsgate.a), protocols/ the front-ends, python/ the app side, process/ the
# program around them (main, prefork master, reload, systemd glue, metrics responder).
GATEWAY_SRC := $(sort $(wildcard gateway/*.c))
PROTOCOLS_SRC := protocols/http.c protocols/http_body.c protocols/http_parse.c \
                 protocols/http_response.c \
                 protocols/fastcgi.c protocols/fastcgi_parse.c protocols/fastcgi_write.c \
                 protocols/cgi.c protocols/cgi_conn.c \
                 protocols/cgi_response.c protocols/scgi.c protocols/scgi_parse.c \
                 protocols/uwsgi.c protocols/uwsgi_parse.c \
                 protocols/proxy.c protocols/proxy_parse.c protocols/forwarded.c \
                 protocols/lex.c \
                 protocols/h2.c protocols/h2_request.c protocols/h2_response.c \
                 protocols/h2_session.c protocols/h2_upgrade.c
PYTHON_SRC := $(sort $(wildcard python/*.c))
PROCESS_SRC := $(sort $(wildcard process/*.c))

WSGATE_SRC := $(PROCESS_SRC) $(GATEWAY_SRC) $(PROTOCOLS_SRC) $(PYTHON_SRC)
WSGATE_OBJ := $(WSGATE_SRC:%.c=$(BUILD)/obj/%.o)
GATEWAY_OBJ := $(GATEWAY_SRC:%.c=$(BUILD)/obj/%.o)

# Unit tests: each binary lists the sources it needs.
UNIT_TESTS := $(BUILD)/tests/test_http_parse $(BUILD)/tests/test_http_corpus
UNIT_http_parse := tests/unit/protocols/test_http_parse.c protocols/http_parse.c protocols/lex.c
UNIT_http_corpus := tests/unit/protocols/test_http_corpus.c protocols/http_parse.c protocols/lex.c
UNIT_TESTS += $(BUILD)/tests/test_fastcgi_parse $(BUILD)/tests/test_cgi
UNIT_fastcgi_parse := tests/unit/protocols/test_fastcgi_parse.c protocols/fastcgi_parse.c
UNIT_cgi := tests/unit/protocols/test_cgi.c protocols/cgi.c protocols/lex.c
UNIT_TESTS += $(BUILD)/tests/test_lex
UNIT_lex := tests/unit/protocols/test_lex.c protocols/lex.c
UNIT_TESTS += $(BUILD)/tests/test_output
UNIT_output := tests/unit/gateway/test_output.c $(BUILD)/libwsgate.a
UNIT_TESTS += $(BUILD)/tests/test_spool
UNIT_spool := tests/unit/gateway/test_spool.c $(BUILD)/libwsgate.a
UNIT_TESTS += $(BUILD)/tests/test_stats
UNIT_stats := tests/unit/gateway/test_stats.c process/stats_http.c $(BUILD)/libwsgate.a
ifneq ($(wildcard tests/unit/protocols/test_scgi_parse.c),)
UNIT_TESTS += $(BUILD)/tests/test_options
UNIT_options := tests/unit/gateway/test_options.c $(BUILD)/libwsgate.a
UNIT_TESTS += $(BUILD)/tests/test_scgi_parse
UNIT_scgi_parse := tests/unit/protocols/test_scgi_parse.c protocols/scgi_parse.c protocols/lex.c
endif
UNIT_TESTS += $(BUILD)/tests/test_uwsgi_parse
UNIT_uwsgi_parse := tests/unit/protocols/test_uwsgi_parse.c protocols/uwsgi_parse.c protocols/lex.c
UNIT_TESTS += $(BUILD)/tests/test_proxy_parse
UNIT_proxy_parse := tests/unit/protocols/test_proxy_parse.c protocols/proxy_parse.c
UNIT_TESTS += $(BUILD)/tests/test_forwarded
UNIT_forwarded := tests/unit/protocols/test_forwarded.c protocols/forwarded.c gateway/cidr.c
# The request core alone (docs/architecture.md), against the fakes of
# tests/unit/gateway/fake_conn.h, linked with nothing but gateway/ (libwsgate.a): no
# protocols/, python/ or process/. The thread tests among them also build as programs
# of their own under ThreadSanitizer (TSAN_UNIT_TESTS, run by test-tsan), where
# criterion cannot start (tests/unit/gateway/check.h).
UNIT_TESTS += $(BUILD)/tests/test_pool $(BUILD)/tests/test_request $(BUILD)/tests/test_carry
UNIT_pool := tests/unit/gateway/test_pool.c $(BUILD)/libwsgate.a
UNIT_request := tests/unit/gateway/test_request.c $(BUILD)/libwsgate.a
UNIT_carry := tests/unit/gateway/test_carry.c $(BUILD)/libwsgate.a
TSAN_UNIT_TESTS := pool request
# The response encoders, through the core's gw_request_* over a recording transport
# (tests/unit/gateway/fake_wire.h): each front-end's files, with libwsgate.a.
UNIT_TESTS += $(BUILD)/tests/test_http_response
UNIT_http_response := tests/unit/protocols/test_http_response.c protocols/http.c \
                      protocols/http_body.c protocols/http_parse.c protocols/http_response.c \
                      protocols/lex.c protocols/h2.c protocols/h2_request.c \
                      protocols/h2_response.c protocols/h2_session.c protocols/h2_upgrade.c \
                      protocols/forwarded.c \
                      $(BUILD)/libwsgate.a
UNIT_TESTS += $(BUILD)/tests/test_cgi_response
UNIT_cgi_response := tests/unit/protocols/test_cgi_response.c protocols/cgi_response.c \
                     protocols/cgi_conn.c protocols/scgi.c protocols/scgi_parse.c protocols/cgi.c protocols/lex.c \
                     $(BUILD)/libwsgate.a
# The connection's buffers and its blocking I/O on socketpairs.
UNIT_TESTS += $(BUILD)/tests/test_conn
UNIT_conn := tests/unit/gateway/test_conn.c $(BUILD)/libwsgate.a
# The TLS transport against an OpenSSL client on a socketpair.
UNIT_TESTS += $(BUILD)/tests/test_tls
UNIT_tls := tests/unit/gateway/test_tls.c $(BUILD)/libwsgate.a
UNIT_TESTS += $(BUILD)/tests/test_activation
UNIT_activation := tests/unit/process/test_activation.c process/activation.c gateway/util.c
ifneq ($(wildcard tests/unit/python/test_wsgi.c),)
UNIT_TESTS += $(BUILD)/tests/test_wsgi
UNIT_wsgi := tests/unit/python/test_wsgi.c $(PYTHON_SRC) gateway/util.c
endif

.PHONY: all run test check unit integration readme-options test-asan test-tsan fuzz fuzz-short install \
        uninstall deb \
        format check-includes check-format deps deps-run deps-bench deps-deb clean bench \
        bench-smoke

all: $(BUILD)/wsgate $(BUILD)/libwsgate.a

$(BUILD)/wsgate: $(WSGATE_OBJ)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PY_LDLIBS) $(LDLIBS)

# The request core alone: it must build and link without protocols/, python/ and
# process/ (make check-includes enforces the include side).
$(BUILD)/libwsgate.a: $(GATEWAY_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/python/%.o: python/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(PY_CFLAGS) -DGW_PYTHON_EXE='"$(PYTHON)"' -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

.SECONDEXPANSION:
# Each test binary is built from several sources in one gcc call (whose -MMD output
# keeps only the last one), so it depends on every header explicitly.
TEST_HEADERS := tests/unit/support.h $(wildcard tests/unit/*/*.h gateway/*.h protocols/*.h \
                python/*.h process/*.h)
$(UNIT_TESTS): $(BUILD)/tests/test_%: $$(UNIT_$$*) $(TEST_HEADERS)
	@mkdir -p $(dir $@)
	$(call say,TEST-CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(PY_CFLAGS) -Wno-missing-prototypes -o $@ $(UNIT_$*) \
	    $(PY_LDLIBS) -lcriterion $(LDLIBS) $(LDFLAGS)

# Each target installs only the packages of its own purpose (scripts/install-deps):
# run = build and run, bench = run + the peers of bench/, deb = run + debhelper,
# test = all of them (make test runs bench-smoke and builds the package) + the tests'.
deps:
	$(Q)scripts/install-deps test

deps-run deps-bench deps-deb: deps-%:
	$(Q)scripts/install-deps $*

unit: deps $(UNIT_TESTS)
	$(Q)set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t --jobs 2; done

integration: deps $(BUILD)/wsgate
	$(Q)WSGATE_BIN=$(abspath $(BUILD)/wsgate) $(PYTHON) -m pytest -q tests/integration

test-asan: deps
	$(Q)LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	    $(MAKE) --no-print-directory BUILD=build/asan SANITIZER=address,undefined \
	    CFLAGS="-O1 -g" unit
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan SANITIZER=address,undefined \
	    CFLAGS="-O1 -g" build/asan/wsgate
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	    WSGATE_TEST_TIMEOUT_SCALE=3 WSGATE_BIN=$(abspath build/asan/wsgate) \
	    $(PYTHON) -m pytest -q tests/integration

# The worker pool, hand-offs and the GIL dance under ThreadSanitizer: the thread unit
# tests, then the whole integration suite (CPython itself is not instrumented).
test-tsan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/tsan SANITIZER=thread CFLAGS="-O1 -g" \
	    build/tsan/wsgate $(TSAN_UNIT_TESTS:%=build/tsan/tests/test_%)
	$(Q)set -e; for t in $(TSAN_UNIT_TESTS:%=build/tsan/tests/test_%); do echo "== $$t"; \
	    TSAN_OPTIONS=halt_on_error=1 $$t; done
	$(Q)TSAN_OPTIONS=halt_on_error=0 WSGATE_TEST_TIMEOUT_SCALE=3 \
	    WSGATE_BIN=$(abspath build/tsan/wsgate) $(PYTHON) -m pytest -q tests/integration

# One libFuzzer harness per parser, each with its seed corpus in tests/fuzz/corpus/NAME;
# new inputs the fuzzer finds go to $(BUILD)/fuzz/work-NAME, never into the tree.
FUZZERS := http fastcgi $(if $(wildcard tests/fuzz/fuzz_scgi_parse.c),scgi) uwsgi proxy
FUZZ_SRC_http := tests/fuzz/fuzz_http_parse.c protocols/http_parse.c protocols/lex.c
FUZZ_SRC_fastcgi := tests/fuzz/fuzz_fastcgi_parse.c protocols/fastcgi_parse.c
FUZZ_SRC_scgi := tests/fuzz/fuzz_scgi_parse.c protocols/scgi_parse.c protocols/lex.c
FUZZ_SRC_uwsgi := tests/fuzz/fuzz_uwsgi_parse.c protocols/uwsgi_parse.c protocols/lex.c
FUZZ_SRC_proxy := tests/fuzz/fuzz_proxy_parse.c protocols/proxy_parse.c

$(BUILD)/fuzz/fuzz_%: $$(FUZZ_SRC_$$*)
	@mkdir -p $(dir $@)
	$(call say,FUZZ-CC,$@)
	$(Q)clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	    -o $@ $^

fuzz: $(FUZZERS:%=$(BUILD)/fuzz/fuzz_%)
	$(Q)set -e; for f in $(FUZZERS); do \
	    mkdir -p $(BUILD)/fuzz/work-$$f; \
	    echo "== fuzz $$f ($(or $(FUZZ_TIME),300)s)"; \
	    if ! $(BUILD)/fuzz/fuzz_$$f -max_total_time=$(or $(FUZZ_TIME),300) \
	        -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$f- \
	        $(BUILD)/fuzz/work-$$f tests/fuzz/corpus/$$f \
	        > $(BUILD)/fuzz/$$f.log 2>&1; then \
	        tail -n 60 $(BUILD)/fuzz/$$f.log; echo "fuzz $$f: FAILED"; exit 1; fi; \
	    grep -E 'stat::number_of_executed_units' $(BUILD)/fuzz/$$f.log; \
	done

fuzz-short:
	$(Q)if command -v clang >/dev/null 2>&1; then \
	    $(MAKE) --no-print-directory fuzz FUZZ_TIME=$(FUZZ_SECONDS); \
	else echo "fuzz: clang not found, skipping the short fuzz run"; fi

# The quick loop for development (make test stays what CI runs). The integration tests
# marked slow (several seconds each: timeouts, loads, reloads) are left out; every
# front-end and feature keeps quick tests in the pass.
check: deps
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory $(BUILD)/wsgate
	$(Q)WSGATE_BIN=$(abspath $(BUILD)/wsgate) $(PYTHON) -m pytest -q -m "not slow" \
	    tests/integration
	$(Q)$(MAKE) --no-print-directory check-includes
	$(Q)$(MAKE) --no-print-directory check-format

test: deps
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory integration
	$(Q)$(MAKE) --no-print-directory test-asan
	$(Q)$(MAKE) --no-print-directory test-tsan
	$(Q)$(MAKE) --no-print-directory fuzz-short
	$(Q)$(MAKE) --no-print-directory bench-smoke
	$(Q)$(MAKE) --no-print-directory check-includes
	$(Q)$(MAKE) --no-print-directory check-format

# bench/run.py: wsgate and the peer servers (uWSGI, gunicorn, waitress, Tornado, and
# behind nginx; over HTTPS: gunicorn --certfile and nginx terminating TLS) on the same
# apps, wsgate pinned to CPU 0 and wrk (or openssl s_time) to CPU 1. Logs and
# results.json go to $(BUILD)/bench*/; the full run rewrites the page in docs/.
bench: deps-bench $(BUILD)/wsgate
	$(Q)WSGATE_BIN=$(abspath $(BUILD)/wsgate) $(PYTHON) bench/run.py \
	    --out docs --work $(BUILD)/bench

bench-smoke: deps-bench $(BUILD)/wsgate
	$(Q)WSGATE_BIN=$(abspath $(BUILD)/wsgate) $(PYTHON) bench/run.py --smoke \
	    --out $(BUILD)/bench-smoke --work $(BUILD)/bench-smoke

# As root (a development container), with --allow-root: wsgate refuses to run an app as
# root without it (docs/operations.md, "Privileges"); this one is examples/hello.py.
run: deps-run $(BUILD)/wsgate
	$(BUILD)/wsgate $(if $(filter 0,$(shell id -u)),--allow-root) --pythonpath examples \
	    --http 127.0.0.1:8000 --access-log - hello

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary; the man page wsgate(1) and
# the bash completion, both generated from wsgate --help (scripts/help2doc.py, with the
# sections of docs/wsgate.1.extra); the units of docs/systemd with the installed
# binary's path (not enabled); the docs, with the examples and the example
# /etc/wsgate/wsgate.ini the service reads. make uninstall removes exactly these files
# (and the folder share/doc/wsgate), never a folder that others may share.
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/wsgate
UNITDIR ?= $(PREFIX)/lib/systemd/system
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
INSTALL_DOCS := README.md $(sort $(wildcard docs/*.md)) docs/benchmarks.png
INSTALL_EXAMPLES := examples/README.md $(sort $(wildcard examples/*.py)) \
                    docs/systemd/wsgate.ini
INSTALL_UNITS := $(notdir $(sort $(wildcard docs/systemd/*.service docs/systemd/*.socket)))
INSTALLED := $(BINDIR)/wsgate $(MANDIR)/man1/wsgate.1 $(COMPLETIONDIR)/wsgate \
             $(INSTALL_UNITS:%=$(UNITDIR)/%) $(addprefix $(DOCDIR)/,$(notdir $(INSTALL_DOCS))) \
             $(addprefix $(DOCDIR)/examples/,$(notdir $(INSTALL_EXAMPLES)))

$(BUILD)/wsgate.1: $(BUILD)/wsgate scripts/help2doc.py docs/wsgate.1.extra
	$(call say,GEN,$@)
	$(Q)$(PYTHON) scripts/help2doc.py man $(BUILD)/wsgate docs/wsgate.1.extra > $@.tmp
	$(Q)mv $@.tmp $@

$(BUILD)/wsgate.bash: $(BUILD)/wsgate scripts/help2doc.py
	$(call say,GEN,$@)
	$(Q)$(PYTHON) scripts/help2doc.py completion $(BUILD)/wsgate > $@.tmp
	$(Q)mv $@.tmp $@

install: $(BUILD)/wsgate $(BUILD)/wsgate.1 $(BUILD)/wsgate.bash
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPLETIONDIR) \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 755 $(BUILD)/wsgate $(DESTDIR)$(BINDIR)/wsgate
	install -m 644 $(BUILD)/wsgate.1 $(DESTDIR)$(MANDIR)/man1/wsgate.1
	install -m 644 $(BUILD)/wsgate.bash $(DESTDIR)$(COMPLETIONDIR)/wsgate
	set -e; for u in $(INSTALL_UNITS); do \
	    sed 's|/usr/local/bin/wsgate|$(BINDIR)/wsgate|g' docs/systemd/$$u > $(BUILD)/$$u; \
	    install -m 644 $(BUILD)/$$u $(DESTDIR)$(UNITDIR)/$$u; done
	install -m 644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)
	install -m 644 $(INSTALL_EXAMPLES) $(DESTDIR)$(DOCDIR)/examples

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR)

# make deb: the Debian package of debian/ (debhelper), built by dpkg-buildpackage in a
# copy of the tree under $(BUILD)/deb (the repository stays clean), then checked by
# lintian (errors fail, warnings are shown): $(BUILD)/wsgate_VERSION_ARCH.deb.
DEB_VERSION = $(shell dpkg-parsechangelog -l debian/changelog -S Version)
DEB_ARCH = $(shell dpkg --print-architecture)
DEB := $(BUILD)/wsgate_$(DEB_VERSION)_$(DEB_ARCH).deb

deb: deps-deb
	$(Q)rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/wsgate-$(DEB_VERSION)
	$(Q)tar -c --exclude=./build --exclude=./$(BUILD) --exclude=.git --exclude=__pycache__ \
	    --exclude=.pytest_cache -f - . | tar -x -C $(BUILD)/deb/wsgate-$(DEB_VERSION) -f -
	$(Q)cd $(BUILD)/deb/wsgate-$(DEB_VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    dpkg-buildpackage -us -uc -b \
	    > ../dpkg-buildpackage.log 2>&1 || { tail -n 40 ../dpkg-buildpackage.log; exit 1; }
	$(Q)mv $(BUILD)/deb/wsgate_$(DEB_VERSION)_$(DEB_ARCH).deb $(DEB)
	$(Q)lintian --fail-on error --info $(DEB)
	@echo "deb: $(DEB)"

FORMATTED = $(wildcard gateway/*.[ch] protocols/*.[ch] python/*.[ch] process/*.[ch] tests/unit/*.h \
              tests/unit/*/*.[ch] tests/fuzz/*.c)

# README's option table comes from gateway/options.c: regenerate it after changing an
# option (the unit test test_options fails while README holds an older table).
$(BUILD)/options-md: scripts/options_md.c $(BUILD)/libwsgate.a
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS) $(LDFLAGS)

readme-options: $(BUILD)/options-md
	$(Q)$(PYTHON) -c 'import re, subprocess, sys; t = subprocess.run([sys.argv[1]], \
	    check=True, capture_output=True, text=True).stdout; s = open("README.md").read(); \
	    a = s.index("<!-- options -->\n") + 17; b = s.index("<!-- end of options -->"); \
	    open("README.md", "w").write(s[:a] + t + s[b:])' $(BUILD)/options-md

format:
	clang-format -i $(FORMATTED)

# The house style (docs/architecture.md): the tree is as clang-format leaves it
# (make test runs this).
check-format:
	$(Q)clang-format --dry-run -Werror $(FORMATTED) || \
	    { echo "check-format: run make format"; exit 1; }
	@echo "check-format: ok"

# The one-way include rule (docs/architecture.md): only python/ includes Python.h;
# only gateway/tls.c includes OpenSSL's headers; gateway/ includes none of protocols/,
# python/, process/; protocols/ and python/ only gateway/ (and their own folder);
# process/ may include everything. The worker pool, the watchdog and the keep-alive
# carry never call back up into the server; only the server's own files
# (gateway/server*.c) include its private header.
check-includes:
	$(Q)if grep -l 'include.*Python\.h' gateway/* protocols/* process/*; then \
	    echo "check-includes: Python.h outside python/"; exit 1; fi
	$(Q)if grep -lE '#include *<openssl/' gateway/* protocols/* python/* process/* | \
	    grep -v '^gateway/tls\.c$$'; then \
	    echo "check-includes: OpenSSL headers outside gateway/tls.c"; exit 1; fi
	$(Q)if grep -lE '#include *"(protocols|python|process)/' gateway/*; then \
	    echo "check-includes: gateway/ includes protocols/, python/ or process/"; exit 1; fi
	$(Q)if grep -lE '#include *"(python|process)/' protocols/*; then \
	    echo "check-includes: protocols/ includes python/ or process/"; exit 1; fi
	$(Q)if grep -lE '#include *"(protocols|process)/' python/*; then \
	    echo "check-includes: python/ includes protocols/ or process/"; exit 1; fi
	$(Q)if grep -l '#include *"gateway/server.h"' gateway/pool.c gateway/watchdog.c \
	    gateway/carry.c protocols/* python/*; then \
	    echo "check-includes: the pool, the watchdog, the carry and the front-ends must"; \
	    echo "  not call into the server (they get hooks and gw_conn_host instead)"; exit 1; fi
	$(Q)if grep -l '#include *"gateway/server_internal.h"' gateway/* protocols/* python/* \
	    process/* | grep -vE '^gateway/server(_[a-z]+)?\.c$$'; then \
	    echo "check-includes: gateway/server_internal.h is the server's own files' only"; \
	    exit 1; fi
	@echo "check-includes: ok"

clean:
	rm -rf build

-include $(WSGATE_OBJ:.o=.d)

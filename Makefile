# haboot — build, test, demo.  `make check` and `make demo` work on a fresh
# Debian 12 machine: both install what they need first (scripts/install-deps.sh).

PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)

CC      ?= cc
PKGS     = libcurl json-c yaml-0.1 expat zlib
WARN     = -Wall -Wextra -Werror -Wformat-security -Wvla -Wshadow
CFLAGS  ?= -O2 -g
# Includes name their layer: "aws/imds.h", "manifest/cfg.h", "volume/device.h".
# -iquote, not -I: bootstrap/poll.h must not hide <poll.h>.
CPPFLAGS += -D_GNU_SOURCE -DHABOOT_VERSION='"$(VERSION)"' -iquote bootstrap -iquote modules
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(CPPFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS     = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

B        = build
# The manifest schema, compiled in (gzipped) for `haboot help MODULE`;
# only main.c refers to it, so unit tests and the fuzzer need not link it.
GEN_SRCS = $(B)/gen/schema_json.c
SRCS     = $(wildcard bootstrap/*.c bootstrap/*/*.c modules/*.c modules/*/*.c)
LIB_SRCS = $(filter-out bootstrap/main.c,$(SRCS))
HDRS     = $(wildcard bootstrap/*.h bootstrap/*/*.h modules/*.h modules/*/*.h)
OBJS     = $(SRCS:%.c=$(B)/obj/%.o) $(GEN_SRCS:%.c=$(B)/obj/%.o)

# Unit tests: clang with AddressSanitizer and UndefinedBehaviorSanitizer.
SAN_CC     = clang
SAN_FLAGS  = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g
UNIT_SRCS  = $(wildcard tests/unit/test_*.c)
UNIT_BINS  = $(UNIT_SRCS:tests/unit/%.c=$(B)/unit/%)
SAN_OBJS   = $(LIB_SRCS:%.c=$(B)/san/%.o)

PY      = /usr/bin/python3
# check runs the integration test files side by side (pytest-xdist), each file
# whole in one worker (--dist loadfile): a file's tests share its module-scoped
# fixtures (one sim per worker process), and most wait on sims, servers and
# timers rather than on the CPU.  TEST_JOBS=1 runs them one after another.
TEST_JOBS ?= 2
PYTEST_JOBS = $(shell [ "$(TEST_JOBS)" -gt 1 ] 2>/dev/null && $(PY) -c 'import xdist' 2>/dev/null && \
	echo "-n $(TEST_JOBS) --dist loadfile")

FUZZ_SECONDS ?= 60

# Keep every object: the sanitizer objects are otherwise "intermediate" to make.
.SECONDARY:

.PHONY: all static install install-static clean check unit schema-test integration demo deps deps-build \
	fuzz bench drill

all: $(B)/haboot

deps:
	@scripts/install-deps.sh all
deps-build:
	@scripts/install-deps.sh build

$(B)/gen/schema_json.c: schemas/haboot.schema.json
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	@{ echo "/* Generated from $< by make: do not edit. */"; \
	  echo "const unsigned char haboot_schema_gz[] = {"; \
	  gzip -9n -c $< | od -An -v -tx1 | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo "};"; \
	  echo "const unsigned long haboot_schema_gz_len = sizeof(haboot_schema_gz);"; } > $@.tmp
	@mv $@.tmp $@

$(B)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/haboot: $(OBJS)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $(OBJS) $(LIBS)

# Fully static binary: a minimal libcurl from Debian's own source (HTTP/HTTPS,
# mbed TLS) because Debian's libcurl.a needs libraries that ship no .a, and
# OpenSSL 3 would be two thirds of the binary (scripts/build-static-curl.sh).
# One section per function, and the link drops the ones nothing calls.
CURL_PREFIX = $(CURDIR)/$(B)/curl-min
STATIC_LIBS = $(CURL_PREFIX)/lib/libcurl.a -lmbedtls -lmbedx509 -lmbedcrypto \
	$(shell pkg-config --static --libs json-c yaml-0.1 expat 2>/dev/null) -lz -pthread
STATIC_OBJS = $(SRCS:%.c=$(B)/static/%.o) $(GEN_SRCS:%.c=$(B)/static/%.o)
STATIC_CFLAGS = -ffunction-sections -fdata-sections

$(CURL_PREFIX)/lib/libcurl.a:
	scripts/build-static-curl.sh $(CURL_PREFIX)

$(B)/static/%.o: %.c $(HDRS) $(CURL_PREFIX)/lib/libcurl.a
	@mkdir -p $(dir $@)
	@echo "  CC      $< (static)"
	@$(CC) -std=c11 $(WARN) $(CFLAGS) $(STATIC_CFLAGS) $(CPPFLAGS) -I$(CURL_PREFIX)/include -DCURL_STATICLIB -c -o $@ $<

$(B)/haboot-static: $(STATIC_OBJS)
	@# glibc warns that getaddrinfo & co. need NSS at run time: IP literals,
	@# localhost and /etc/hosts resolve without it, so the warnings are filtered.
	@$(CC) -static -Wl,--gc-sections -o $@ $(STATIC_OBJS) $(STATIC_LIBS) > $(B)/static-link.log 2>&1 || \
	    { cat $(B)/static-link.log; rm -f $@; exit 1; }
	@grep -v -e 'statically linked applications requires at runtime' -e 'in function' \
	    $(B)/static-link.log || true
	@ldd $@ 2>&1 | grep -q 'not a dynamic executable' || { echo "haboot-static is not static" >&2; exit 1; }
	@echo "built $@ ($$(stat -c %s $@) bytes, static)"

static: $(B)/haboot-static

install: $(B)/haboot
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(B)/haboot $(DESTDIR)$(SBINDIR)/haboot
	install -m 0644 man/haboot.8 $(DESTDIR)$(MANDIR)/man8/haboot.8
	install -m 0644 man/haboot.yaml.5 $(DESTDIR)$(MANDIR)/man5/haboot.yaml.5

# What goes into an AMI: the static binary, which runs on Amazon Linux,
# Debian and Ubuntu alike, with no library to match.
install-static: $(B)/haboot-static
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(B)/haboot-static $(DESTDIR)$(SBINDIR)/haboot
	install -m 0644 man/haboot.8 $(DESTDIR)$(MANDIR)/man8/haboot.8
	install -m 0644 man/haboot.yaml.5 $(DESTDIR)$(MANDIR)/man5/haboot.yaml.5

# ---- tests -------------------------------------------------------------

$(B)/san/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $< (asan+ubsan)"
	@$(SAN_CC) -std=c11 $(WARN) $(SAN_FLAGS) $(CPPFLAGS) $(shell pkg-config --cflags $(PKGS)) -c -o $@ $<

$(B)/unit/%: tests/unit/%.c $(SAN_OBJS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	@$(SAN_CC) -std=c11 $(WARN) $(SAN_FLAGS) $(CPPFLAGS) $(shell pkg-config --cflags $(PKGS) cmocka) \
	    -o $@ $< $(SAN_OBJS) $(LIBS) $(shell pkg-config --libs cmocka)

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t || fail=1; \
	done; exit $$fail

schema-test: $(B)/haboot
	HABOOT=$(CURDIR)/$(B)/haboot $(PY) -m pytest -q tests/integration/test_schema_agreement.py

integration: $(B)/haboot
	HABOOT=$(CURDIR)/$(B)/haboot $(PY) -m pytest -q -p no:cacheprovider tests/integration

# haboot itself under AddressSanitizer, UndefinedBehaviorSanitizer and
# LeakSanitizer: the integration tests run it, so every path they drive
# (failures included) is checked for memory errors and leaks.
$(B)/haboot-asan: $(SAN_OBJS) $(B)/san/bootstrap/main.o $(GEN_SRCS:%.c=$(B)/san/%.o)
	@echo "  LD      $@"
	@$(SAN_CC) $(SAN_FLAGS) -o $@ $^ $(LIBS)

# Sanitizer reports go to files, not to the stderr the tests read; any file
# there afterwards fails check.
SAN_LOG = $(CURDIR)/$(B)/sanitizer-log
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:exitcode=86:log_path=$(SAN_LOG)/asan \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(SAN_LOG)/ubsan

check: deps
	$(MAKE) all static $(B)/haboot-asan
	$(MAKE) unit
	tests/fuzz/run.sh 10
	rm -rf $(SAN_LOG) && mkdir -p $(SAN_LOG)
	$(SAN_ENV) HABOOT=$(CURDIR)/$(B)/haboot-asan HABOOT_STATIC=$(CURDIR)/$(B)/haboot-static \
	    $(PY) -m pytest -p no:cacheprovider -q $(PYTEST_JOBS) tests/integration
	@if [ -n "$$(ls -A $(SAN_LOG))" ]; then \
	    echo "sanitizer reports from haboot during the integration tests:"; \
	    cat $(SAN_LOG)/*; exit 1; fi

# The whole reference setup for real against the simulator: a loop device as
# the EBS volume, ganesha as the NFS server, a real NFS client.  Needs root.
# The terminal gets the story in a screenful; the details go to
# build/demo/demo.log (make demo V=1 prints them too).  The compiler's lines
# go to build/demo/build.log; the static libcurl's stages (the long first
# build) stay on the terminal with their elapsed times.
demo: deps
	@mkdir -p $(B)/demo
	@echo "demo: building haboot's static binary (log: $(B)/demo/build.log)"
	@$(MAKE) --no-print-directory $(CURL_PREFIX)/lib/libcurl.a
	@$(MAKE) --no-print-directory all static >$(B)/demo/build.log 2>&1 || \
	    { tail -n 30 $(B)/demo/build.log; exit 1; }
	@$(PY) demo/run.py $(if $(V),-v)

# Coverage-guided fuzzing of the manifest parser (libFuzzer, ASan, UBSan).
fuzz:
	tests/fuzz/run.sh $(FUZZ_SECONDS)

# Two instances, one volume, a client: A dies, B takes over, nothing is lost.
# Needs root (network and mount namespaces, loop devices); check runs it too.
drill: all static
	HABOOT_STATIC=$(CURDIR)/$(B)/haboot-static tests/drill/run

# Side-by-side with the reference script and cloud-init; needs root.
bench: all static
	$(PY) bench/run.py

clean:
	rm -rf $(B)/obj $(B)/san $(B)/unit $(B)/static $(B)/haboot $(B)/haboot-static $(B)/fuzz \
	    $(B)/haboot-asan $(B)/sanitizer-log $(B)/gen

# ==== shipping (issue 16): the Debian package and the CloudFormation stack ====
# make deb     build/haboot_<version>_amd64.deb (scripts/mkdeb.sh; version from
#              git describe, scripts/deb-version.sh), then lintian when present
# make stack   regenerate deploy/nfs-stack.yaml from examples/ (deploy/mkstack.py)
#              and validate it (cfn-lint from npm, see deploy/validate/)
# check runs all of it through tests/integration/test_{deb,stack,iam_policy}.py.
NPM_DIR = $(CURDIR)/$(B)/npm
.PHONY: deb stack
deb: $(B)/haboot-static
	@deb=$$(scripts/mkdeb.sh $(B)/haboot-static $(B)) && echo "built $$deb" && \
	if command -v lintian >/dev/null; then lintian --fail-on error,warning $$deb; fi
stack:
	$(PY) deploy/mkstack.py
	@scripts/install-deps.sh test
	NODE_PATH=$(NPM_DIR)/node_modules node deploy/validate/validate.js deploy/nfs-stack.yaml \
	    ImageId=ami-0123456789abcdef0

# fexsim: plain GNU make.  `make` builds build/{fabricd,agentd,fexctl};
# `make test` runs every test; `make check` runs them again built with
# AddressSanitizer + UndefinedBehaviorSanitizer (leaks fatal) under
# build/san; `make bench` runs the benchmarks; `make fuzz` builds the
# libFuzzer targets with clang under build/fuzz and runs each for
# FUZZ_SECONDS (docs/FUZZING.md).

BUILD ?= build
SAN ?= 0
CC ?= cc

PKGS := libevent libprotobuf-c libvirt sqlite3 json-c libxml-2.0 libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
CMOCKA_LIBS := $(shell pkg-config --libs cmocka)

GEN := $(BUILD)/gen
# -Wno-format-truncation: snprintf into fixed buffers is how we bound
# messages and names on purpose; truncation there is the intended result.
CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O2 -MMD -MP \
          -Wno-format-truncation $(PKG_CFLAGS)
# The project's header folders an object may include.  Each layer sees
# its own and those below it, none above, so that the compiler enforces
# DESIGN.md's layering: fexctl knows the daemons only through proto/ (the
# API and its limits, fx_limits.h), and neither the migration engine nor
# the agent includes anything of fabricd.  fabricd and the tests see all.
INC := -Ilib -Iproto -Imigrate -Ifabric -Iagent -Icli -I$(GEN)
$(BUILD)/obj/lib/%.o: INC := -Ilib
$(BUILD)/obj/proto/%.o: INC := -Ilib -Iproto -I$(GEN)
$(BUILD)/obj/migrate/%.o: INC := -Ilib -Iproto -Imigrate -I$(GEN)
$(BUILD)/obj/agent/%.o: INC := -Ilib -Iproto -Imigrate -Iagent -I$(GEN)
$(BUILD)/obj/cli/%.o: INC := -Ilib -Iproto -Icli -I$(GEN)
LDLIBS := $(PKG_LIBS) -lm
ifeq ($(SAN),1)
CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
          -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
# The fuzzing build (make fuzz): clang, every object instrumented for
# libFuzzer's coverage and checked by ASan + UBSan; the targets link
# libFuzzer's main.  clang has no -Wformat-truncation to turn off.
ifeq ($(FUZZ),1)
CFLAGS := $(filter-out -Wno-format-truncation,$(CFLAGS)) -O1 \
          -fsanitize=fuzzer-no-link,address,undefined \
          -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

PROTOS := $(wildcard proto/*.proto)
PB_SRC := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
PB_HDR := $(PB_SRC:.c=.h)
# The Python client's modules (python/fexsim), generated, not committed.
PY_PB := $(patsubst proto/%.proto,$(BUILD)/python/%_pb2.py,$(PROTOS))
PYTHON := /usr/bin/python3

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

COMMON_SRC := $(wildcard lib/*.c proto/*.c)
COMMON_OBJ := $(call obj,$(COMMON_SRC)) $(PB_SRC:.c=.o)
MIGRATE_OBJ := $(call obj,$(wildcard migrate/*.c))
FABRIC_OBJ := $(call obj,$(filter-out fabric/main.c,$(wildcard fabric/*.c fabric/*/*.c)))
AGENT_OBJ := $(call obj,$(filter-out agent/main.c,$(wildcard agent/*.c)))
CLI_OBJ := $(call obj,$(filter-out cli/main.c,$(wildcard cli/*.c cli/*/*.c)))

PROGS := $(BUILD)/fabricd $(BUILD)/agentd $(BUILD)/fexctl
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
BENCHES := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/bench_*.c))
# Tests that drive a browser or a Python client; they print cmocka's lines.
PYTESTS := $(wildcard tests/test_*.py)

.PHONY: all test check bench demo clean fuzz fuzz-run fuzz-corpus guest
.SECONDARY:

all: $(PROGS) $(PY_PB)

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Iproto $<

# One at a time, so that the folder exists before protoc writes it.
$(BUILD)/python/%_pb2.py: proto/%.proto
	@mkdir -p $(dir $@)
	protoc --python_out=$(BUILD)/python -Iproto $<

# The topology page, one file served by fabricd (fabric/web/web.h), as a
# C array: page_html[] and page_html_len.
$(GEN)/page_html.h: fabric/web/page.html
	@mkdir -p $(GEN)
	@echo "  GEN   $@"
	@{ echo 'static const unsigned char page_html[] = {'; \
	   od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   echo '};'; \
	   echo 'static const size_t page_html_len = sizeof page_html;'; \
	 } > $@.tmp && mv $@.tmp $@

# Every object may include generated headers: make them first.
$(BUILD)/obj/%.o: %.c | $(PB_HDR) $(GEN)/page_html.h
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) $(INC) -c $< -o $@

$(GEN)/%.pb-c.o: $(GEN)/%.pb-c.c $(PB_HDR)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) $(INC) -c $< -o $@

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/libmigrate.a: $(MIGRATE_OBJ)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/libfabric.a: $(FABRIC_OBJ)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/libagent.a: $(AGENT_OBJ)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/libcli.a: $(CLI_OBJ)
	rm -f $@ && ar rcs $@ $^

LIBS_ALL := $(BUILD)/libfabric.a $(BUILD)/libagent.a $(BUILD)/libcli.a \
            $(BUILD)/libmigrate.a $(BUILD)/libcommon.a

$(BUILD)/fabricd: $(call obj,fabric/main.c) $(BUILD)/libfabric.a \
                  $(BUILD)/libmigrate.a $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/agentd: $(call obj,agent/main.c) $(BUILD)/libagent.a \
                 $(BUILD)/libmigrate.a $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/fexctl: $(call obj,cli/main.c) $(BUILD)/libcli.a \
                 $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(call obj,tests/%.c) $(call obj,tests/harness.c) \
                  $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(call obj,tests/harness.c) $(LIBS_ALL) \
	    $(LDLIBS) $(CMOCKA_LIBS) -o $@

# The QEMU guest (docs/LABS.md): Debian's cloud kernel and an initramfs
# of busybox, the virtio modules and guest/fexguest.c, from packages
# fetched with apt-get download and unpacked, never installed.  One for
# every build flavour: `lab up --hypervisor qemu` finds build/guest.
GUEST := build/guest
guest: $(GUEST)/initrd.img
$(GUEST)/initrd.img: guest/fexguest.c guest/init scripts/mkguest
	scripts/mkguest $(GUEST) $(CC)

# Tests find the programs through FEXSIM_BIN; each test makes its own
# temp dir and free ports, so two runs can share a machine.
# The layout's rules (docs/DESIGN.md) are checked first: a new include
# cycle, private header or unprefixed export fails the tests.
# The Python tests (tests/test_*.py) run with Debian's python3; the
# client's (test_python.py) need its generated modules.
test: $(PROGS) $(TESTS) $(PY_PB) $(GUEST)/initrd.img
	@scripts/check-structure --objects $(BUILD)/obj
	@FEXSIM_BIN=$(abspath $(BUILD)) FEXSIM_SCENARIOS=$(abspath tests/scenarios) \
	    ASAN_OPTIONS=detect_leaks=1 \
	    LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    tests/run-tests $(TESTS) $(PYTESTS)

check:
	$(MAKE) BUILD=build/san SAN=1 test

bench: $(PROGS) $(BENCHES)
	@for b in $(BENCHES); do FEXSIM_BIN=$(abspath $(BUILD)) $$b || exit 1; \
	done

demo: $(PROGS)
	scripts/demo

# ---- Fuzzing (docs/FUZZING.md) ----
# One libFuzzer target per decoder of bytes from outside,
# tests/fuzz/fuzz_NAME.c, each with a seed corpus in
# tests/fuzz/corpus/fuzz_NAME/.  `make fuzz` builds them all with clang
# under build/fuzz (the gcc build is not touched) and runs each for
# FUZZ_SECONDS on a copy of its corpus; it fails on any crash, leak,
# undefined behaviour or hang.  FUZZ_TARGETS=fuzz_rpc runs only that one.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_ALL := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
# What the targets share: feeding bytes to a socket the code reads.
FUZZ_HELPERS := $(call obj,tests/fuzz/feed.c)

fuzz:
	@$(MAKE) --no-print-directory BUILD=build/fuzz FUZZ=1 CC=$(FUZZ_CC) \
	    FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz-run

fuzz-run: $(patsubst %,$(BUILD)/%,$(FUZZ_TARGETS))
	@LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
	    tests/fuzz/run $(FUZZ_SECONDS) $(BUILD) $(FUZZ_TARGETS)

$(BUILD)/fuzz_%: $(call obj,tests/fuzz/fuzz_%.c) $(FUZZ_HELPERS) \
                 $(LIBS_ALL)
	@echo "  LD    $@"
	@$(CC) $(LDFLAGS) -fsanitize=fuzzer $< $(FUZZ_HELPERS) $(LIBS_ALL) \
	    $(LDLIBS) -o $@

# Writes the seed corpora again with the real encoders (commit the
# result): tests/fuzz/seeds.c.
fuzz-corpus:
	@$(MAKE) --no-print-directory BUILD=build/fuzz FUZZ=1 CC=$(FUZZ_CC) \
	    build/fuzz/seeds
	build/fuzz/seeds tests/fuzz/corpus

$(BUILD)/seeds: $(call obj,tests/fuzz/seeds.c) $(FUZZ_HELPERS) $(LIBS_ALL)
	@echo "  LD    $@"
	@$(CC) $(LDFLAGS) $< $(FUZZ_HELPERS) $(LIBS_ALL) $(LDLIBS) -o $@

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

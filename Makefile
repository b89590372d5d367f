# kvscope — one non-recursive Makefile.
#
#   make run          set up, build, open the window on the shipped model
#   make test         set up, build, run the whole suite (plain, then ASan+UBSan), then every
#                     fuzz target for 15 s (when clang has libFuzzer)
#   make bench        kvscope bench (engine and render figures)
#   make model        rebuild the shipped model from the repository (corpus -> BPE -> training)
#   make fuzz         libFuzzer over every target (FUZZ_SECONDS each, FUZZ_TARGETS)
#   make SANITIZE=1   a build with AddressSanitizer and UndefinedBehaviorSanitizer (in build/san)
#   make install      PREFIX=/usr/local DESTDIR=
#
# Layers (enforced by what each part links): core = src/engine + src/sim (libm only);
# view = src/view + src/export + src/lesson (cairo, pango); app = src/app (SDL2);
# train = src/train (core + cairo for the loss curve, OpenMP).
# Two files make the program: the kvscope executable (the core and the commands that only
# compute, APP_CORE_SRC: libc, libm, pthread) and kvscope-ui.so beside it (installed in
# PREFIX/lib/kvscope), the drawing half with SDL2, cairo, pango and FFmpeg, which the executable
# loads on the first command that draws (src/app/app.h, "The drawing half").

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc

ifeq ($(SANITIZE),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1
# line tables only: a sanitizer's report names every frame's function, file and line all the same,
# and the build compiles a fifth faster than with full debug information
SANDEBUG := -g1
else
BUILD   := build
SANFLAGS :=
OPT     := -O2
endif

PKGS      := cairo pangocairo libavformat libavcodec libavfilter libswscale libavutil
SDL_PKG   := sdl2
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) $(SDL_PKG) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SDL_LIBS   = $(shell pkg-config --libs $(SDL_PKG) 2>/dev/null)

CFLAGS  ?=
CFLAGS  += -std=c11 $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter -MMD -MP \
           -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc $(SANFLAGS) \
           -DKVSCOPE_DATADIR='"$(PREFIX)/share/kvscope"' -DKVSCOPE_LIBDIR='"$(PREFIX)/lib/kvscope"' \
           $(SANDEBUG)
LDFLAGS += $(SANFLAGS)
OMPFLAGS := -fopenmp

CORE_SRC  := $(wildcard src/engine/*.c src/sim/*.c)
VIEW_SRC  := $(wildcard src/view/*.c src/export/*.c src/lesson/*.c)
APP_SRC   := $(filter-out src/app/main.c,$(wildcard src/app/*.c))
APP_CORE_SRC := $(addprefix src/app/,cli.c cmd_generate.c cmd_info.c cmd_bench.c cmd_serve.c \
                  bench_serve.c ui_module.c)
APP_UI_SRC   := $(filter-out $(APP_CORE_SRC),$(APP_SRC))
TRAIN_SRC := $(filter-out src/train/train_main.c,$(wildcard src/train/*.c))
TEST_SRC  := $(wildcard tests/test_*.c) $(wildcard tests/util/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
CORE_OBJ  := $(call obj,$(CORE_SRC))
VIEW_OBJ  := $(call obj,$(VIEW_SRC))
APP_OBJ   := $(call obj,$(APP_SRC))
APP_CORE_OBJ := $(call obj,$(APP_CORE_SRC))
APP_UI_OBJ   := $(call obj,$(APP_UI_SRC))
TRAIN_OBJ := $(call obj,$(TRAIN_SRC))
TEST_OBJ  := $(call obj,$(TEST_SRC))

KVSCOPE := $(BUILD)/kvscope
UI_MODULE := $(BUILD)/kvscope-ui.so
KVTRAIN := $(BUILD)/kvtrain
TESTBIN := $(BUILD)/kvscope-tests

# The trainer is built where its sources are present.
ALL_BINS := $(KVSCOPE) $(UI_MODULE) $(if $(wildcard src/train/train_main.c),$(KVTRAIN))

.PHONY: all run test check layers format-check bench model clean install setup format fuzz
all: $(ALL_BINS)

setup:
	@bash scripts/setup.sh

$(BUILD)/libkvcore.a: $(CORE_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^
$(BUILD)/libkvview.a: $(VIEW_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

# The executable holds the whole core and exports it (-rdynamic) for the module, which binds its
# own symbols to itself (-Bsymbolic: its commands are not the executable's forwarders).
$(KVSCOPE): $(call obj,src/app/main.c) $(APP_CORE_OBJ) $(BUILD)/libkvcore.a
	$(CC) $(LDFLAGS) -rdynamic -o $@ $(filter %.o,$^) \
	    -Wl,--whole-archive $(BUILD)/libkvcore.a -Wl,--no-whole-archive -lm -lpthread -ldl
$(UI_MODULE): $(APP_UI_OBJ) $(BUILD)/libkvview.a
	$(CC) $(LDFLAGS) -shared -Wl,-Bsymbolic -o $@ $^ $(PKG_LIBS) $(SDL_LIBS) -lm -lpthread
$(VIEW_OBJ) $(APP_UI_OBJ): CFLAGS += -fPIC

$(KVTRAIN): $(call obj,src/train/train_main.c) $(TRAIN_OBJ) $(BUILD)/libkvview.a $(BUILD)/libkvcore.a
	$(CC) $(LDFLAGS) $(OMPFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(TESTBIN): $(TEST_OBJ) $(APP_OBJ) $(TRAIN_OBJ) $(BUILD)/libkvview.a $(BUILD)/libkvcore.a
	$(CC) $(LDFLAGS) $(OMPFLAGS) -o $@ $^ $(PKG_LIBS) $(SDL_LIBS) -lcriterion -lm -lpthread

# Only the trainer (and the tests that drive it) use OpenMP; the engine stays single-threaded.
$(BUILD)/src/train/%.o: src/train/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(OMPFLAGS) -O3 $(PKG_CFLAGS) -c -o $@ $<
$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

run: setup $(KVSCOPE) $(UI_MODULE)
	./$(KVSCOPE)

# The suite, then the same suite under ASan + UBSan. Tests find the binaries through KVSCOPE_BIN.
test: setup
	@$(MAKE) --no-print-directory -j2 check
	@$(MAKE) --no-print-directory -j2 check SANITIZE=1
	@if $(HAVE_LIBFUZZER); then $(MAKE) --no-print-directory -j2 fuzz FUZZ_SECONDS=15; \
	else echo "make test: clang with libFuzzer not found: the short fuzz run is skipped"; fi

# The layers, checked by the link: an empty program linked against every object of a layer (whole
# archive) and only the libraries that layer may use fails to link when an object needs more.
# scripts/check_layers.sh checks the includes the same way.
LAYER_MAIN := tests/layers/main.c
layers: $(BUILD)/libkvcore.a $(BUILD)/libkvview.a $(KVSCOPE)
	@bash scripts/check_layers.sh $(APP_CORE_SRC)
	@$(CC) $(LDFLAGS) -o $(BUILD)/layer-core $(LAYER_MAIN) \
	    -Wl,--whole-archive $(BUILD)/libkvcore.a -Wl,--no-whole-archive -lm \
	    || { echo "kvscope: layers: src/engine and src/sim need more than libc and libm" >&2; exit 1; }
	@$(CC) $(LDFLAGS) -o $(BUILD)/layer-view $(LAYER_MAIN) \
	    -Wl,--whole-archive $(BUILD)/libkvview.a -Wl,--no-whole-archive $(BUILD)/libkvcore.a \
	    $(PKG_LIBS) -lm \
	    || { echo "kvscope: layers: src/view, src/export or src/lesson need SDL or more" >&2; exit 1; }
	@if readelf -d $(KVSCOPE) | grep -E 'NEEDED.*(SDL|cairo|pango|glib|av[a-z]*\.so|swscale)'; then \
	    echo "kvscope: layers: $(KVSCOPE) links a drawing library (only $(UI_MODULE) may)" >&2; \
	    exit 1; fi
	@echo "layers: engine+sim link with libc and libm alone; view+export+lesson without SDL;" \
	    "kvscope without any drawing library"

# OMP_WAIT_POLICY=passive: the trainer's OpenMP threads (in the tests that train and in kvtrain)
# sleep at the end of a parallel region instead of spinning; with two test workers on two cores,
# spinning threads took most of the CPU from the threads with work (the trainer suite ran three
# times longer).
check: $(ALL_BINS) $(TESTBIN) layers format-check
	KVSCOPE_BIN=$(abspath $(KVSCOPE)) KVTRAIN_BIN=$(abspath $(KVTRAIN)) OMP_WAIT_POLICY=passive \
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1 \
	./$(TESTBIN) --jobs 2

bench: setup $(KVSCOPE) $(UI_MODULE)
	./$(KVSCOPE) bench

model: setup $(KVTRAIN)
	bash scripts/make_model.sh $(abspath $(KVTRAIN))

# libFuzzer over the loaders, parsers, a fuzzed model through the sampler and the lesson
# player (tests/fuzz). Undefined behaviour is fatal, like every sanitizer report. `make fuzz`
# runs every target for FUZZ_SECONDS each (FUZZ_TARGETS picks some; -j2, two at a time); a
# target's corpus grows in build/fuzz/corpus/NAME from the committed seeds in
# tests/fuzz/corpus/NAME. FUZZ_TIMEOUT is the budget of one input, in seconds.
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 10
FUZZ_TARGETS ?= model tokenizer prompt lesson run player
FUZZ_BIN := build/fuzz/kvscope-fuzz
# true when clang can link a libFuzzer binary (checked only by the recipes that need it)
HAVE_LIBFUZZER = echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' | \
    clang -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1

# (one object per source, so a parallel make compiles them side by side)
FUZZ_SRC := tests/fuzz/fuzz_main.c $(filter-out tests/util/main.c,$(wildcard tests/util/*.c)) \
            $(CORE_SRC) $(VIEW_SRC)
FUZZ_OBJ := $(patsubst %.c,build/fuzz/obj/%.o,$(FUZZ_SRC))
FUZZ_CFLAGS := -std=c11 -gline-tables-only -O1 -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=all -Isrc -Itests -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -MMD -MP
build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<
# The SIMD kernels (three ISA copies of kernels_dot.h) are arithmetic over buffers the fuzzers do
# not shape: they keep ASan and every UBSan check but neither the fuzzer's coverage counters nor
# -O1, under which clang's pointer-overflow checks over the inlined intrinsics took 110 CPU s to
# compile this one file (79 without coverage, 4.6 at -O0).
FUZZ_NOCOV_SRC := src/engine/kernels.c
$(patsubst %.c,build/fuzz/obj/%.o,$(FUZZ_NOCOV_SRC)): build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(filter-out -fsanitize=fuzzer% -O1,$(FUZZ_CFLAGS)) -O0 -fsanitize=address,undefined \
	    $(PKG_CFLAGS) -c -o $@ $<

$(FUZZ_BIN): $(FUZZ_OBJ)
	@mkdir -p $(@D)
	clang -fsanitize=fuzzer,address,undefined -o $@ $(FUZZ_OBJ) $(PKG_LIBS) -lm -lpthread

# One target a rule (fuzz-NAME), so `make -j2 fuzz` runs two at a time, each on its own core for
# its FUZZ_SECONDS; its output goes to build/fuzz/NAME.log, of which the final stats are shown
# (the whole tail when it fails).
FUZZ_RUNS := $(addprefix fuzz-,$(FUZZ_TARGETS))
.PHONY: $(FUZZ_RUNS)
fuzz: $(FUZZ_RUNS)
$(FUZZ_RUNS): fuzz-%: $(FUZZ_BIN)
	@mkdir -p build/fuzz/corpus/$* build/fuzz/artifacts/$*
	@echo "fuzz $*: $(FUZZ_SECONDS) s"
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	./$(FUZZ_BIN) --target=$* -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
	    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/$*/ \
	    build/fuzz/corpus/$* tests/fuzz/corpus/$* >build/fuzz/$*.log 2>&1 \
	    || { tail -n 60 build/fuzz/$*.log; echo "kvscope: fuzz $*: failed (build/fuzz/$*.log)" >&2; \
	         exit 1; }
	@grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
	    build/fuzz/$*.log | sed 's/^/fuzz $*: /'

install: $(KVSCOPE) $(UI_MODULE)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/kvscope/models \
	    $(DESTDIR)$(PREFIX)/share/kvscope/lessons $(DESTDIR)$(PREFIX)/lib/kvscope
	install -m 755 $(KVSCOPE) $(DESTDIR)$(PREFIX)/bin/kvscope
	install -m 755 $(UI_MODULE) $(DESTDIR)$(PREFIX)/lib/kvscope/kvscope-ui.so
	install -m 644 assets/models/* $(DESTDIR)$(PREFIX)/share/kvscope/models/
	install -m 644 lessons/* $(DESTDIR)$(PREFIX)/share/kvscope/lessons/
	install -m 644 assets/glossary.txt $(DESTDIR)$(PREFIX)/share/kvscope/

# Every C file of the project in the committed .clang-format's style; `make check` fails when
# clang-format would change one (scripts/setup.sh installs clang-format).
FORMAT_FILES = $(wildcard src/*/*.c src/*/*.h tests/*.c tests/util/*.[ch] tests/fuzz/*.c \
                 tests/layers/*.c)
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES) 2>&1 | head -20; \
	if ! clang-format --dry-run -Werror $(FORMAT_FILES) >/dev/null 2>&1; then \
	    echo "kvscope: format: clang-format would change the files above (make format)" >&2; \
	    exit 1; fi
	@echo "format: every C file as clang-format writes it"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

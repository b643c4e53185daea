# fuzz.mk (included by the Makefile): the reliability targets (issue 8). make valgrind runs
# tests/test_valgrind.sh (also part of make test) on a NO_CUDA build in VG_BUILD (build-vg).
# make fuzz: libFuzzer targets for what reads untrusted input, built
# with clang (Debian's clang-14 and libclang-rt-14-dev) under ASan + UBSan + LeakSanitizer:
#   tests/fuzz/fuzz_image.c  image decode wrapper + resize, from memory (data/image.c)
#   tests/fuzz/fuzz_cfg.c    model file parser (nn/cfg.c), with a model_config JSON round trip
#   tests/fuzz/fuzz_h5.c     HDF5 model loader (nn/h5.c, nn/keras_json.c)
#   make fuzz                 builds them and runs each for FUZZ_SECONDS (default 60) from the
#                             committed seed corpus tests/fuzz/corpus/NAME/ (the inputs it finds
#                             go to build-fuzz/corpus/NAME/, crashes to build-fuzz/artifacts/NAME/)
#   make fuzz-build           builds only; FUZZ_TARGETS="cfg" runs a subset
# The library is compiled again with clang into FUZZ_BUILD (C path, CUDA stubs), with coverage
# instrumentation (-fsanitize=fuzzer-no-link); see tests/README.md for the figures.
FUZZ_CC      ?= $(shell command -v clang-14 2>/dev/null || command -v clang 2>/dev/null)
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= image cfg h5
FUZZ_CFLAGS  := -O1 -g -std=c11 -D_GNU_SOURCE -fopenmp -fno-omit-frame-pointer \
                -fsanitize=address,undefined \
                -Wno-pass-failed   # (omp simd loops clang leaves scalar at -O1: not a problem)
FUZZ_CPPFLAGS := $(filter-out -DNN_HAVE_CUDA=1,$(CPPFLAGS))
FUZZ_LIB_SRC := $(filter-out $(CUDA_STUBS),$(wildcard nn/*.c layers/*.c data/*.c run/*.c)) $(CUDA_STUBS)
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-replay valgrind
fuzz-build: $(FUZZ_BINS)

VG_BUILD ?= build-vg
valgrind:
	@$(MAKE) --no-print-directory NO_CUDA=1 BUILD=$(VG_BUILD) BIN=$(VG_BUILD)/bin $(VG_BUILD)/bin/nn
	@NN=$(VG_BUILD)/bin/nn bash tests/test_valgrind.sh

# fuzz-replay (CI): every committed seed and regression input once through each target, with
# the same sanitizers and invariants: deterministic, unlike a timed run, so CI never fails on a
# new finding of the day; timed runs (make fuzz) are for finding new inputs.
fuzz-replay: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	    dirs="tests/fuzz/corpus/$$t"; [ -d tests/fuzz/regressions/$$t ] && dirs="$$dirs tests/fuzz/regressions/$$t"; \
	    [ $$t = h5 ] && dirs="$$dirs tests/fixtures"; \
	    ASAN_OPTIONS="suppressions=$(CURDIR)/tests/suppressions/asan.supp:detect_leaks=1:allocator_may_return_null=1" \
	    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$(CURDIR)/tests/suppressions/ubsan.supp" \
	    $(FUZZ_BUILD)/fuzz_$$t -runs=0 -rss_limit_mb=3072 -malloc_limit_mb=1024 $$dirs > $(FUZZ_BUILD)/replay_$$t.log 2>&1 \
	        && echo "fuzz-replay $$t: $$(ls $$dirs | wc -l) inputs, no crash" \
	        || { echo "fuzz-replay $$t: FAILED (see $(FUZZ_BUILD)/replay_$$t.log)"; tail -20 $(FUZZ_BUILD)/replay_$$t.log; exit 1; }; \
	done

fuzz: $(FUZZ_BINS)
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

$(FUZZ_BUILD)/%.o: %.c
	@test -n "$(FUZZ_CC)" || { echo "make fuzz needs clang: apt-get install clang libclang-rt-14-dev libomp-dev (make deps)"; exit 1; }
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libnn.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libnn.a
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libnn.a $(LDLIBS)

-include $(FUZZ_LIB_OBJ:.o=.d)

# One build: the C library and the `nn` command always; the CUDA objects under cuda/ when nvcc
# is found (NO_CUDA=1 skips them, CUDA_ARCH=sm_90 picks the GPU target).
#   make            build bin/nn (the folder nn/ holds the engine's sources, so the command
#                   cannot be ./nn)
#   make test       every C-path test (any machine), ends with "N passed, N failed"
#   make test-cuda  CPU-vs-GPU tests (needs an NVIDIA GPU)
#   make bench      benchmarks (see bench/)
#   make deps       install the Debian packages the build needs
#   NO_MPI=1        leave out the MPI plugin (bin/nn-mpi.so: `mpirun -np N bin/nn train`)
#   SANITIZE=1      build with AddressSanitizer and UndefinedBehaviorSanitizer (into build-san/)
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each (fuzz.mk, tests/fuzz/)
#   make valgrind   a short train + predict under valgrind on a NO_CUDA build (fuzz.mk)

CC       ?= gcc
BUILD    ?= build
BIN      ?= bin
CUDA_ARCH ?= sm_90
NVCC     ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)

# Portable code (no -march): the hot kernels pick AVX-512 / AVX2+FMA at run time.
CFLAGS   ?= -O3 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -fopenmp -MMD -MP
CPPFLAGS += $(shell pkg-config --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial)
CPPFLAGS += -I/usr/include/stb
HDF5_LIBS := $(shell pkg-config --libs hdf5 2>/dev/null || echo -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5)
LDLIBS   += $(HDF5_LIBS) -ljpeg -lcjson -lm -lpthread -ldl -fopenmp
# The nn command links libhdf5 statically where its archive is installed (Debian's libhdf5-dev
# has it): the shared library pulls in some thirty others (libcurl for its S3 driver, gnutls,
# krb5, ldap...) whose loading took 3.5 ms of every start of nn, and of `nn predict`'s 30 ms
# budget (bench/RESULTS.md). HDF5_STATIC=0 links the shared one; so do the tests, and the
# sanitized and fuzz builds (tests/suppressions/asan.supp names libhdf5_serial.so).
HDF5_A   := $(if $(filter 0,$(HDF5_STATIC)),,$(wildcard $(patsubst -L%,%,$(filter -L%,$(HDF5_LIBS)))/libhdf5.a))

# SANITIZE=1 builds into its own folders (BUILD-san, and the command in BUILD-san/bin, so a
# sanitized bin/nn never replaces the normal one) and implies NO_CUDA=1: ASan reserves most of
# the address space for its shadow memory and the CUDA runtime's fixed mappings collide with it,
# so the sanitized build is the C path with the CUDA stubs. ASan reports go to stderr and fail
# the test that caused them; UBSan's are fatal too (halt_on_error=1 below: it is left recoverable
# at compile time only so that tests/suppressions/ubsan.supp can name stb's one benign case).
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
override BUILD := $(BUILD)-san
override BIN   := $(BUILD)/bin
override NO_CUDA := 1
override HDF5_A :=
# Third-party findings only (libhdf5 on corrupt files: see the file); leaks fail a test too.
SAN_ENV := ASAN_OPTIONS=suppressions=$(CURDIR)/tests/suppressions/asan.supp:detect_leaks=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(CURDIR)/tests/suppressions/ubsan.supp
endif

# MPI (Debian's Open MPI, libopenmpi-dev) for data-parallel training: found through pkg-config's
# ompi-c or mpicc, it builds the plugin $(BIN)/nn-mpi.so from nn/mpi/dist_mpi.c (a folder of its
# own, so no wildcard of nn/*.c compiles it without mpi.h), which nn loads only when mpirun
# started it (nn/dist.h says why nn does not link libmpi). NN_HAVE_MPI tells nn/dist.c that a
# plugin was built; without one, nn under mpirun says how to get it.
ifeq ($(NO_MPI),)
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null || mpicc --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null || mpicc --showme:link 2>/dev/null)
endif
ifneq ($(strip $(MPI_LIBS)),)
MPI_PLUGIN := $(BIN)/nn-mpi.so
CPPFLAGS += -DNN_HAVE_MPI=1
endif

# The tiers (docs/TOUR.md): the engine (nn/, layers/, cuda/), the data pipeline (data/, its
# GPU side in data/*.cu), run/ joining the two, the command in tools/. CUDA_STUBS stand in for
# the .cu files of a build without CUDA.
CUDA_STUBS := nn/cuda_stub.c data/images_cuda_stub.c
LIB_SRC  := $(filter-out $(CUDA_STUBS),$(wildcard nn/*.c layers/*.c data/*.c run/*.c))
TOOL_SRC := $(wildcard tools/*.c)
CU_SRC   := $(wildcard cuda/*.cu data/*.cu)
TEST_SRC := $(wildcard tests/test_*.c)
CUTEST_SRC := $(wildcard tests/cuda/test_*.c tests/cuda/test_*.cu)
ifneq ($(NO_CUDA)$(if $(CU_SRC),,none),)
NVCC :=
endif

ifneq ($(NVCC),)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NVFLAGS  ?= -O3 -lineinfo
NVFLAGS  += -arch=$(CUDA_ARCH) -std=c++17 -Xcompiler -Wall,-Wextra,-fopenmp --expt-relaxed-constexpr -MMD -MP
CUDA_OBJ := $(CU_SRC:%.cu=$(BUILD)/%.o)
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lstdc++
CPPFLAGS += -DNN_HAVE_CUDA=1
# NCCL (the all-reduce between GPUs) is compiled against the CUDA install's nccl.h and loaded at
# run time (cuda/nccl_cuda.cu): nn does not link the 200 MB libnccl.so.2.
ifneq ($(wildcard $(CUDA_HOME)/include/nccl.h),)
NVFLAGS  += -DNN_HAVE_NCCL=1
endif
else
LIB_SRC  += $(CUDA_STUBS)
CUDA_OBJ :=
CUDA_LIBS :=
endif

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CUDA_OBJ)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB      := $(BUILD)/libnn.a

.PHONY: all test test-cuda bench deps clean fuzz
all: $(BIN)/nn $(MPI_PLUGIN)

$(BIN)/nn: $(TOOL_OBJ) $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(LIB) $(if $(HDF5_A),$(HDF5_A) -lsz -lz -ldl $(filter-out $(HDF5_LIBS),$(LDLIBS)),$(LDLIBS)) $(CUDA_LIBS)

# The MPI plugin: position-independent, linked against libmpi (and nothing of nn's).
$(BIN)/nn-mpi.so: $(BUILD)/mpi/dist_mpi.o
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -shared -o $@ $< $(MPI_LIBS)

$(BUILD)/mpi/dist_mpi.o: nn/mpi/dist_mpi.c nn/dist.h nn/common.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(MPI_CFLAGS) $(CFLAGS) -fPIC -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(CPPFLAGS) $(NVFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(LIB) tests/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(CUDA_LIBS)

test: $(BIN)/nn $(MPI_PLUGIN) $(TEST_BIN)
	@$(SAN_ENV) NN=$(BIN)/nn NN_BUILD=$(BUILD) tests/run.sh $(TEST_BIN)

include fuzz.mk
-include bench/bench.mk
-include tests/cuda/cuda.mk

deps:
	@tools/deps.sh

clean:
	rm -rf build build-san build-fuzz build-vg bin

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d)
-include bench/demo.mk
-include bench/data.mk
-include bench/gpu_models.mk

# cuda.mk (included by the Makefile): make test-cuda, every CPU-vs-GPU comparison. Needs a GPU;
# on a machine without one each test prints SKIP with the reason.
#   tests/cuda/test_cuda_ops.c       each kernel against its C twin over a table of shapes,
#                                    the SGEMM against cuBLAS (loaded at run time, oracle only)
#   tests/cuda/test_cuda_model.c     whole models: forward, 50 training steps GPU vs C path,
#                                    the device epoch (graph replay) against host-built batches
#   tests/cuda/test_cuda_classes.c   more than two classes: the CCE kernel (2 to 64 classes) and
#                                    softmax models trained on both paths, the device epoch
#   tests/cuda/test_cuda_catsdogs.c  the article's CNN trained on the photos on both paths
#   tests/cuda/test_cuda_tf32.c      the TF32 tensor-core SGEMM (NN_TF32=1) against the C sgemm,
#                                    50 training steps TF32 vs FP32 on the GPU
#   tests/cuda/test_cuda_bn_dropout.c  batchnorm and dropout kernels against the C path (dropout's
#                                    masks bit for bit, t read from device memory under graph
#                                    replay), catdog_bn.cfg trained GPU vs C and as a device epoch
# make test-cuda-build builds them only (the device run carries the binaries);
# NN_TEST_QUICK=1 shrinks the shapes for compute-sanitizer (tests/cuda/device_run.sh).
CUDA_TESTS := $(patsubst tests/cuda/%.c,$(BUILD)/tests/cuda/%,$(wildcard tests/cuda/test_cuda_*.c))

$(BUILD)/tests/cuda/test_cuda_%: tests/cuda/test_cuda_%.c tests/cuda/cuda_test_util.h $(LIB) tests/test.h cuda/kernels.h data/images_cuda.h run/train_gpu.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(if $(CUDA_HOME),-I$(CUDA_HOME)/include) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(CUDA_LIBS) -ldl

.PHONY: test-cuda-kernels test-cuda-build
test-cuda: test-cuda-kernels
ifneq ($(NVCC),)
test-cuda-build: $(BIN)/nn $(CUDA_TESTS)
test-cuda-kernels: test-cuda-build
	@NN=$(BIN)/nn tests/cuda/run_cuda.sh $(CUDA_TESTS) tests/cuda/oom_check.sh
else
test-cuda-build test-cuda-kernels:
	@echo "SKIP test-cuda: this build has no CUDA (nvcc not found, or NO_CUDA=1)"
endif
-include tests/cuda/demo.mk

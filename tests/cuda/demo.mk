# demo.mk (included at the end of tests/cuda/cuda.mk): the demos' GPU tests, run by make test-cuda.
#   tests/cuda/test_demo_cuda.c   grid_map and ew_apply: CUDA against the C path, every pixel/element
#   tests/cuda/test_demo_cuda.sh  nn demo add / mandelbrot --device both agree, nn gpuinfo describes the GPU
DEMO_CUTEST := $(BUILD)/tests/cuda/demo/test_demo_cuda

$(DEMO_CUTEST): tests/cuda/test_demo_cuda.c $(LIB) tests/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(if $(CUDA_HOME),-I$(CUDA_HOME)/include) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(CUDA_LIBS)

.PHONY: test-cuda-demo
test-cuda: test-cuda-demo
test-cuda-demo: $(BIN)/nn
ifneq ($(NVCC),)
test-cuda-demo: $(DEMO_CUTEST)
	@$(DEMO_CUTEST) && NN=$(BIN)/nn bash tests/cuda/test_demo_cuda.sh
else
	@echo "SKIP test-cuda-demo: this build has no CUDA (nvcc not found, or NO_CUDA=1)"
endif

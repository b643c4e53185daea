# make test-cuda: CPU-vs-GPU tests (filled in by the CUDA backend work)
test-cuda: $(BIN)/nn
	@echo "no CUDA tests yet"
-include tests/cuda/demo.mk

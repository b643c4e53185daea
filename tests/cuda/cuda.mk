# make test-cuda: CPU-vs-GPU tests (filled in by the CUDA backend work)
test-cuda: bin/nn
	@echo "no CUDA tests yet"

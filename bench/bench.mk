# make bench: every benchmark this machine can run; make bench-cpu: the C path beside Debian's
# PyTorch on the same cores (bench/cpu_vs_torch.sh); figures go into bench/RESULTS.md.
.PHONY: bench bench-cpu
bench: bench-cpu

bench-cpu: $(BIN)/nn
	@NN=$(BIN)/nn bench/cpu_vs_torch.sh

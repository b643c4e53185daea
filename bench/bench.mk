# make bench
bench: bin/nn
	@echo "no benchmarks yet"

# make bench
bench: $(BIN)/nn
	@echo "no benchmarks yet"

# make bench-demo: the demos' GPU figures (bench/demo_bench.sh): Mandelbrot kernel time, int32
# vector add against the copy bandwidth, and the yardstick's CuPy kernel in the same run.
.PHONY: bench-demo
bench-demo: $(BIN)/nn
	@NN=$(BIN)/nn bash bench/demo_bench.sh

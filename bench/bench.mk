# make bench: every benchmark this machine can run; make bench-cpu: the C path beside Debian's
# PyTorch on the same cores (bench/cpu_vs_torch.sh), then beside Keras 3 on TensorFlow CPU
# (bench/cpu_vs_keras.sh; makes local/kerasvenv on first use); make bench-layers: where the C
# path's step goes. Figures go into bench/RESULTS.md.
.PHONY: bench bench-cpu
bench: bench-cpu

bench-cpu: $(BIN)/nn
	@NN=$(BIN)/nn bench/cpu_vs_torch.sh
	@NN=$(BIN)/nn bench/cpu_vs_keras.sh

# make bench-layers: the C path's step, layer by layer (bench/cpu_layers.c); BENCH_ARGS="CFG BATCH REPS"
.PHONY: bench-layers
$(BUILD)/bench/cpu_layers: bench/cpu_layers.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(CUDA_LIBS)

bench-layers: $(BUILD)/bench/cpu_layers
	@$(BUILD)/bench/cpu_layers $(BENCH_ARGS)

# make bench-gpu (added by the CUDA work): nn bench --device cuda at batch 32/256/1024 beside
# PyTorch eager and CUDA graph on the same card, the table with ratios, and the end-to-end
# training and prediction timings (bench/gpu_bench.sh). Needs an NVIDIA GPU.
.PHONY: bench-gpu
bench-gpu: $(BIN)/nn
	@NN=$(BIN)/nn bash bench/gpu_bench.sh

# bench/three_class.sh's helper: photos written upside down (the third class of its folder)
$(BUILD)/bench/flip_images: bench/flip_images.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(CUDA_LIBS)

# make bench-three-class: a three-class run end to end on a folder built from the shared photos
# (cats, dogs, and the same kind of photos upside down): train, evaluate, predict.
.PHONY: bench-three-class
bench-three-class: $(BIN)/nn $(BUILD)/bench/flip_images
	@NN=$(BIN)/nn FLIP=$(BUILD)/bench/flip_images bash bench/three_class.sh

# make bench-data: decode + resize throughput of the data pipeline beside Pillow doing Keras's
# load_img work on the same files in the same run (bench/data_bench.sh); needs the shared photos.
.PHONY: bench-data
DATA_BENCH := $(BUILD)/bench/data_bench

$(DATA_BENCH): bench/data_bench.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(CUDA_LIBS)

bench-data: $(DATA_BENCH)
	@DATA_BENCH=$(DATA_BENCH) bash bench/data_bench.sh

# The data tests share tests/test_data.h, which the generic test rule does not know about.
$(BUILD)/tests/test_data $(BUILD)/tests/test_data_augment $(BUILD)/tests/test_data_jpeg $(BUILD)/tests/test_data_jpeg_fast: tests/test_data.h
$(BUILD)/tests/test_data_jpeg $(BUILD)/tests/test_data_jpeg_fast: tests/test_jpeg_write.h

# make bench-models: nn bench --device cuda beside PyTorch (eager and CUDA graph, FP32) on the
# same card for catdog.cfg, catdog2.cfg, catdog3.cfg and catdog_bn.cfg, and the table against each model's
# target (bench/gpu_models.sh; MODELS, STEPS, WARM, OUT as there). Needs an NVIDIA GPU; build
# with the card's CUDA_ARCH (default sm_90).
.PHONY: bench-models
bench-models: $(BIN)/nn
	@NN=$(BIN)/nn bash bench/gpu_models.sh

# make bench-accuracy: test accuracy of nn and PyTorch + torchvision on the same model files,
# trained the same way in one run (bench/accuracy.sh; DATA, MODELS, EPOCHS, BATCH as there).
.PHONY: bench-accuracy
bench-accuracy: $(BIN)/nn
	@NN=$(BIN)/nn bash bench/accuracy.sh

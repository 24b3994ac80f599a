# Two entry points (see README): `make demo` and `make test`. Both create and reuse .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LOCK := requirements.lock

.PHONY: demo test fuzz lint bench clean browser lock

# Installs exactly the locked versions (requirements.lock), then the project itself without resolving again.
$(STAMP): pyproject.toml $(LOCK)
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet "$$(grep '^pip==' $(LOCK))"
	# torch==2.13.0+cpu in the lock is the local CPU build; an unpinned torch pulls GBs of CUDA wheels
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $(STAMP)

# Re-resolves pyproject.toml's dependencies (newest allowed versions) in a throw-away environment and writes
# requirements.lock. Commit the result; tests/test_lock.py fails while the two disagree.
lock:
	rm -rf .lock-venv && $(PY) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet torch==2.13.0
	.lock-venv/bin/pip install --quiet '.[test,torch]'
	$(PY) scripts/lock.py --python .lock-venv/bin/python
	rm -rf .lock-venv

demo: $(STAMP)
	$(BIN)/accelscope demo --out report
	$(BIN)/accelscope hw list
	$(BIN)/accelscope estimate gemm --m 8192 --n 8192 --k 8192 --dtype bf16 --hw h100-sxm --level analytical --explain
	$(BIN)/accelscope llm infer llama-3.1-70b --hw h100-sxm --tp 8 --batch 64 --input-len 2048 --output-len 256 --level analytical

# Debian's chromium + chromedriver for the report's browser test (skipped with a message if they cannot be had)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
	   >/dev/null) || echo "chromium not installed: the browser test will be skipped"

test: $(STAMP) browser
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n 2 tests

# Generated bad inputs (specs, CLI arguments, sweep points) by the thousand: 0 tracebacks, 0 accepted nonsense.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -n 2 -m fuzz -p no:cacheprovider tests

bench: $(STAMP)
	for f in benchmarks/*.py; do $(BIN)/python $$f; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info

# Two commands do all set-up on a fresh machine (README):
#   make run    the whole chain on the bundled QCD sample  -> out/run/summary.md
#   make test   the test suite, the slow tests and csim of the reference models over 1 M jets (what CI runs)
# Both create .venv with the pinned stack (constraints.txt) when it is missing; fast when present.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REFERENCE_MODELS := jet4 jet10
IMPORTED := out/imported
DEBIAN_TOOLS := yosys verilator iverilog

.PHONY: run test test-fast test-slow csim-reference tools venv lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[generate,rtl,scan,storage,dev]"
	touch $(STAMP)

venv: $(STAMP)

# The open RTL path needs Debian's yosys and verilator; install them when missing and we may (root + apt-get).
tools:
	@missing=""; for t in $(DEBIAN_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "WARNING: cannot install$$missing (needs root and apt-get): the RTL tests will be SKIPPED"; \
	  fi; \
	fi

run: venv
	$(BIN)/trigcomp run --out out/run --force

test-fast: venv tools
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: venv tools
	$(BIN)/python -m pytest -m slow -q

csim-reference: venv
	@for m in $(REFERENCE_MODELS); do \
	  $(BIN)/trigcomp hls --model models/$$m --board vu13p --out hls_projects/$$m --force --json > /dev/null && \
	  $(BIN)/trigcomp csim hls_projects/$$m --jets 1000000 || exit 1; \
	done
	@# an imported QKeras encoder (README "Bring your own model"): the ECON-T-shaped Conv2D example
	@mkdir -p $(IMPORTED)
	$(BIN)/python examples/econ_t_encoder.py --kind conv --out $(IMPORTED)/econ_t_conv.h5
	$(BIN)/python examples/econ_t_encoder.py --cells 100000 --out $(IMPORTED)/cells.npy
	$(BIN)/trigcomp import --keras $(IMPORTED)/econ_t_conv.h5 --out $(IMPORTED)/econ_t_conv --force
	$(BIN)/trigcomp hls --model $(IMPORTED)/econ_t_conv --board vu13p --data $(IMPORTED)/cells.npy \
	  --out hls_projects/econ_t_conv --force --json > /dev/null
	$(BIN)/trigcomp csim hls_projects/econ_t_conv --data $(IMPORTED)/cells.npy --jets 1000000

test: test-fast test-slow csim-reference

lint: venv
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf out hls_projects/*/ .pytest_cache

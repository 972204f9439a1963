# Two commands do all set-up on a fresh machine (README):
#   make run    the whole chain on the bundled QCD sample  -> out/run/summary.md
#   make test   the test suite, the slow tests and csim of the reference models and codecs over 1 M inputs (what CI runs)
# Both create .venv with the pinned stack (constraints.txt) when it is missing; fast when present.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REFERENCE_MODELS := jet4 jet10
IMPORTED := out/imported
# The reference codec: fitted on four processes, Z' left out of the fit (checked on all its jets).
JET10_L1_FIT := data/qcd.root data/ttbar.root data/qcd-highpt.root data/wjets.root
JET10_L1_LEFT_OUT := data/zprime.root
DEBIAN_TOOLS := yosys verilator iverilog
TOWERS8_DATA := data/towers/wjets.root
TOWERS8_CSIM_IMAGES := 1000000

.PHONY: run test test-fast test-slow csim-reference reference-codec rtl-reference-codec tools venv lint clean

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
	$(BIN)/python -m pytest -m "slow and not exhaustive" -q

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
	$(BIN)/trigcomp hls --codec configs/jet10-l1.toml --board vu13p --out hls_projects/jet10-l1 --force --json > /dev/null
	$(BIN)/trigcomp csim hls_projects/jet10-l1 --data $(JET10_L1_LEFT_OUT) --jets 1000000
	@# the tower-image reference model on W+jets images, a process it was not trained on
	$(BIN)/trigcomp hls --model models/towers8 --board vu13p --data $(TOWERS8_DATA) --out hls_projects/towers8 \
	  --force --json > /dev/null
	$(BIN)/trigcomp csim hls_projects/towers8 --data $(TOWERS8_DATA) --jets $(TOWERS8_CSIM_IMAGES)

# The open RTL path of the reference codec: Verilator against Python on 100k jets, Yosys (~3 min).
rtl-reference-codec: venv tools
	$(BIN)/trigcomp rtl --codec configs/jet10-l1.toml --out hls_projects/jet10-l1-rtl --data $(JET10_L1_LEFT_OUT) \
	  --force --json > models/jet10-l1/rtl.json

# Remakes the reference codec models/jet10-l1 (its config configs/jet10-l1.toml and the recommendation files).
reference-codec: venv
	mkdir -p models/jet10-l1
	$(BIN)/trigcomp recommend --targets l1-jets --data $(JET10_L1_FIT) --left-out $(JET10_L1_LEFT_OUT) \
	  --write-config configs/jet10-l1.toml --force --json > models/jet10-l1/recommendation.json
	$(BIN)/trigcomp recommend --targets l1-jets --data $(JET10_L1_FIT) --left-out $(JET10_L1_LEFT_OUT) \
	  > models/jet10-l1/recommendation.txt

test: test-fast test-slow csim-reference

lint: venv
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf out hls_projects/*/ .pytest_cache

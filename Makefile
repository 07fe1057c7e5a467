# lco-reduce: `make demo` reduces a simulated night, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := packages/lco-core packages/lco-instruments packages/lco-stages packages/lco-cli
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck pytest bench demo docs clean

$(STAMP): $(foreach p,$(PACKAGES),$(p)/pyproject.toml) requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lco-reduce needs Python >= 3.11")'
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON) ..."; $(PYTHON) -m venv $(VENV); }
	@echo "installing the four lco-reduce packages (editable) and the test tools into $(VENV)" \
		"(about a minute; pip's own output is kept quiet) ..."
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e "packages/lco-core[testing]" \
		$(foreach p,$(filter-out packages/lco-core,$(PACKAGES)),-e $(p))
	@touch $(STAMP)
	@echo "installed: $(BIN)/lco-reduce"

install: $(STAMP)
	@echo "$(VENV) is up to date ($(BIN)/lco-reduce --help lists the commands)"

lint: $(STAMP)
	$(BIN)/ruff check packages tests bench
	$(BIN)/ruff format --check packages tests bench

typecheck: $(STAMP)
	$(BIN)/mypy packages/lco-core/src packages/lco-instruments/src packages/lco-stages/src packages/lco-cli/src tests bench

pytest: $(STAMP)
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt
	$(BIN)/python bench/run.py
	$(BIN)/python bench/night.py
	$(BIN)/python bench/masked_photometry.py
	$(BIN)/python bench/orientations.py
	$(BIN)/python bench/real_data.py
	$(BIN)/python bench/product_size.py
	$(BIN)/python bench/depth.py
	$(BIN)/python bench/photon_transfer.py
	$(BIN)/python bench/quality_rates.py
	$(BIN)/python bench/stack.py

demo: $(STAMP)
	@echo "simulating a night into demo-night/raw and reducing it into demo-night/reduced (about half a minute) ..."
	$(BIN)/lco-reduce demo --out demo-night

# The documentation, built from scratch each time so every figure and example runs against the
# code as it is: warnings, broken cross-references and failing examples are errors.
docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-docs.txt
	rm -rf docs/_build docs/api
	$(BIN)/sphinx-build -W --keep-going -n -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

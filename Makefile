# genotile: the two entry points a fresh machine needs.
#   make demo   sets up .venv and runs the main job on the bundled demo (config/demo.yaml: tiny model, CPU), then the
#               fine-tuning demo (config/finetune_demo.yaml: train, evaluate on held-out data, predict and score with
#               the fine-tuned model; its report is results/finetune_demo/report.html);
#               a lock left by a killed demo run is removed first (genotile unlock-stale); it also builds the report's
#               figures (target report_figures) and ends by writing the Snakemake report, results/demo/report.html
#   make test   sets up .venv and runs the whole test suite
#   make venv   the locked environment, byte-compiled: every Snakemake job is a new Python process, and where
#               PYTHONDONTWRITEBYTECODE is set (as in CI's image) each one would otherwise compile jax, pandas and
#               snakemake from source again (about 16 s of CPU per snakemake process, 7 s per model job on 2 cores)
#   make lint   ruff (pyflakes, pycodestyle, import order), snakefmt --check and snakemake --lint; CI runs it before the tests
SHELL := /bin/bash
PYTHON := $(shell scripts/find-python.sh)
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(HOME)/.local/bin/uv
endif
VENV := .venv
PYTEST_ARGS ?= -n 2 --dist loadgroup --durations=30

.PHONY: demo test lint venv clean

$(UV):
	python3 -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet --user uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra cloud --compile-bytecode --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q src
	touch $@

venv: $(VENV)/.synced

demo: venv
	$(VENV)/bin/genotile unlock-stale
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" snakemake all report_figures --profile workflow/profiles/default --configfile config/demo.yaml
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" snakemake report_figures --report results/demo/report.html --profile workflow/profiles/default --configfile config/demo.yaml
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" snakemake all report_figures --profile workflow/profiles/default --configfile config/finetune_demo.yaml
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" snakemake report_figures --report results/finetune_demo/report.html --profile workflow/profiles/default --configfile config/finetune_demo.yaml
	@echo "main job done: outputs in results/demo/ -- tracks.zarr (genotile.open_tracks), bigwig/, junctions.parquet/.bed, contact_maps.zarr, storage_report.txt, variants/demo/ (scores, summaries, figures), ism/demo/ (in-silico mutagenesis: ism.zarr, strongest.parquet, ism_logo.png)"
	@echo "report: results/demo/report.html (open it in a browser: one self-contained file)"
	@echo "fine-tune: results/finetune_demo/ -- train/ (model, learning_curve.tsv, evaluation.parquet), tracks.zarr with the fine-tuned track, variants/demo/ scored in the fine-tuned model; report: results/finetune_demo/report.html"

test: venv
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check src scripts tests benchmarks
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" snakemake --lint --configfile config/demo.yaml

clean:
	rm -rf $(VENV) results/demo
